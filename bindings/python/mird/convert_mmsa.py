"""Convert MMSA's unaligned_50.pkl into the HDF5 file libmird reads.

    python -m mird.convert_mmsa unaligned_50.pkl out.h5
    python -m mird.convert_mmsa unaligned_50.pkl out.h5 --splits train,test --no-text-features

Then, in C: mird_dataset_read_hdf5("out.h5", MIRD_SPLIT_TRAIN, "nonfinite=zero", &ds).

SECURITY: a pickle is a program.  Loading one runs whatever code its author
put in it, with your rights.  Convert only pickles you trust (MMSA's
published files, or ones you made yourself); this tool does nothing to make
an untrusted pickle safe.

Input: a pickled dict {"train" | "valid" | "test": split}, each split a dict
holding "text" [N, T_l, d_l] (BERT features, position 0 the [CLS] vector),
"text_bert" [N, 3, T_l] (token ids, attention mask, segment ids), "audio"
[N, T_a, d_a], "vision" [N, T_v, d_v], "id" [N] ("video$_$clip"),
"regression_labels" [N] and, in newer MMSA releases, "audio_lengths" and
"vision_lengths" [N].  Other keys (raw_text, annotations,
classification_labels) are ignored.

Output, per split: /<split>/{text float32, text_bert int32, audio float32,
vision float32, audio_lengths int32, vision_lengths int32, regression_labels
float32, id variable-length UTF-8}, the layout of mird_dataset_read_hdf5.
Ids are kept as MMSA spells them.  The file is written under a temporary
name and renamed at the end, so a failed run leaves no partial output.

Lengths.  A pickle without *_lengths keys (older MMSA releases) gets them
from the frames: MMSA pads every sequence at its end with all-zero frames, so
a sequence's length is the position after its last frame holding any nonzero
value.  An all-zero frame inside a sequence (silence, a lost face) stays part
of it, and a frame of -inf or NaN counts as holding a value.  Lengths are
computed before --zero-nonfinite applies.

Non-finite values.  COVAREP audio holds -inf.  It is written as it is, and
libmird's reader turns it into 0 under nonfinite=zero (as MMSA's own loader
does); --zero-nonfinite writes 0 instead, so that the default nonfinite=error
accepts the file.

Text.  libmird takes a text length from the attention mask of text_bert.
--no-text-features leaves out the BERT features (about 150 KB per sample of
MOSI), keeping the token ids only: the reader then gives token-mode datasets
for a model with its own embedding (text_mode = tokens).
"""

import argparse
import importlib
import os
import pickle
import sys
import tempfile

import h5py
import numpy as np

SPLITS = ("train", "valid", "test")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class LayoutError(ValueError):
    """The input is not a pickle in MMSA's layout, or holds values libmird cannot take."""


class _Unpickler(pickle.Unpickler):
    # numpy 2 pickles name numpy._core where numpy 1 has numpy.core; both
    # hold the same classes, so a pickle re-saved with numpy 2 still loads.
    def find_class(self, module, name):
        if module == "numpy._core" or module.startswith("numpy._core."):
            try:
                importlib.import_module(module)
            except ModuleNotFoundError:
                module = "numpy.core" + module[len("numpy._core"):]
        return super().find_class(module, name)


def load_pickle(path):
    """Unpickles `path`.  This RUNS CODE the pickle carries: trusted files only."""
    try:
        with open(path, "rb") as f:
            return _Unpickler(f).load()
    except OSError as e:
        raise LayoutError(f"{path}: cannot read ({e.strerror})") from e
    except ModuleNotFoundError as e:
        raise LayoutError(f"{path}: the pickle needs the Python module {e.name!r}, "
                          "which is not installed") from e
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError) as e:
        raise LayoutError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from e


BLOCK = 256  # samples per step where a whole-array mask would be large


def frame_lengths(frames):
    """[N, T, D] -> int32 [N]: the position after each sequence's last frame
    holding a nonzero (or non-finite) value; 0 for an all-zero sequence."""
    steps = frames.shape[1]
    lengths = np.empty(len(frames), np.int32)
    for first in range(0, len(frames), BLOCK):
        holds_value = (frames[first:first + BLOCK] != 0).any(axis=2)
        last_from_end = np.argmax(holds_value[:, ::-1], axis=1)
        lengths[first:first + BLOCK] = np.where(holds_value.any(axis=1),
                                                steps - last_from_end, 0)
    return lengths


class _Split:
    """One split's fields, fetched and checked against MMSA's layout."""

    def __init__(self, source, name, fields):
        self.where = f"{source}: split {name!r}"
        self.fields = fields
        self.count = None

    def numeric(self, key, rank, what):
        if key not in self.fields:
            raise LayoutError(f"{self.where} has no key {key!r} (it has "
                              f"{', '.join(sorted(map(repr, self.fields)))})")
        try:
            array = np.asarray(self.fields[key])
        except (ValueError, TypeError) as e:
            raise LayoutError(f"{self.where}: {key!r} is not an array ({e})") from e
        if array.dtype.kind not in "biuf":
            raise LayoutError(f"{self.where}: {key!r} holds {array.dtype} values, "
                              "expected numbers")
        if rank == 1 and array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != rank:
            raise LayoutError(f"{self.where}: {key!r} has shape {array.shape}, "
                              f"expected rank {rank} {what}")
        if len(array) == 0:
            raise LayoutError(f"{self.where}: {key!r} has no samples")
        if 0 in array.shape:
            raise LayoutError(f"{self.where}: {key!r} has shape {array.shape}, "
                              "with an empty dimension")
        self._check_count(key, len(array))
        return array

    def _check_count(self, key, count):
        if self.count is None:
            self.count = count
        elif count != self.count:
            raise LayoutError(f"{self.where}: {key!r} has {count} samples, "
                              f"the fields before it {self.count}")

    def whole_int32(self, key, array, low=INT32_MIN, high=INT32_MAX):
        """The array as int32, when every value is a whole number in low..high."""
        if array.dtype.kind == "f":
            bad = ~np.isfinite(array) | (array != np.round(array))
            if bad.any():
                index = tuple(int(i) for i in np.argwhere(bad)[0])
                raise LayoutError(f"{self.where}: {key}{list(index)} = {array[index]} "
                                  "is not a whole number")
        outside = (array < low) | (array > high)
        if outside.any():
            index = tuple(int(i) for i in np.argwhere(outside)[0])
            raise LayoutError(f"{self.where}: {key}{list(index)} = {array[index]} "
                              f"is outside {low}..{high}")
        return array.astype(np.int32)

    def lengths(self, key, frames):
        if key not in self.fields:
            return frame_lengths(frames)
        lengths = self.numeric(key, 1, "[N]")
        return self.whole_int32(key, lengths, 0, frames.shape[1])

    def ids(self):
        if "id" not in self.fields:
            raise LayoutError(f"{self.where} has no key 'id'")
        raw = self.fields["id"]
        try:
            raw = list(np.asarray(raw, dtype=object).reshape(-1))
        except (ValueError, TypeError) as e:
            raise LayoutError(f"{self.where}: 'id' is not a list of strings ({e})") from e
        self._check_count("id", len(raw))
        ids = []
        for i, value in enumerate(raw):
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise LayoutError(f"{self.where}: id[{i}] is not UTF-8 ({e})") from e
            if not isinstance(value, str):
                raise LayoutError(f"{self.where}: id[{i}] is a {type(value).__name__}, "
                                  "expected a string")
            if "\0" in value:
                raise LayoutError(f"{self.where}: id[{i}] = {value!r} holds a NUL character")
            ids.append(value)
        return ids


def read_split(source, data, name, text_features=True):
    """The arrays of one split as written to HDF5 (a dict of numpy arrays and
    the "id" list).  Raises LayoutError naming what does not fit."""
    if name not in data:
        raise LayoutError(f"{source}: no split {name!r} (it has "
                          f"{', '.join(sorted(map(repr, data)))})")
    if not isinstance(data[name], dict):
        raise LayoutError(f"{source}: split {name!r} is a {type(data[name]).__name__}, "
                          "expected a dict of arrays")
    split = _Split(source, name, data[name])
    out = {}
    audio = split.numeric("audio", 3, "[N, frames, features]")
    vision = split.numeric("vision", 3, "[N, frames, features]")
    out["audio"] = audio.astype(np.float32, copy=False)
    out["vision"] = vision.astype(np.float32, copy=False)
    out["audio_lengths"] = split.lengths("audio_lengths", audio)
    out["vision_lengths"] = split.lengths("vision_lengths", vision)
    if text_features:
        out["text"] = split.numeric("text", 3, "[N, positions, features]").astype(
            np.float32, copy=False)
    if "text_bert" in split.fields or not text_features:
        bert = split.numeric("text_bert", 3, "[N, 3, positions]")
        if bert.shape[1] != 3:
            raise LayoutError(f"{split.where}: 'text_bert' has shape {bert.shape}, expected "
                              "[N, 3, positions] (token ids, attention mask, segment ids)")
        if text_features and bert.shape[2] != out["text"].shape[1]:
            raise LayoutError(f"{split.where}: 'text_bert' has {bert.shape[2]} positions, "
                              f"'text' {out['text'].shape[1]}")
        out["text_bert"] = split.whole_int32("text_bert", bert)
    labels = split.numeric("regression_labels", 1, "[N]").astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(labels))
    if bad.size:
        raise LayoutError(f"{split.where}: regression_labels[{bad[0]}] = {labels[bad[0]]} "
                          "is not finite")
    out["regression_labels"] = labels
    out["id"] = split.ids()
    return out


def count_nonfinite(array, zero=False):
    """How many NaN and infinities `array` holds; with zero, they are set to 0
    in place (in a copy when the array is read-only).  Returns (array, count).
    Works in blocks of samples: a mask of MOSEI's whole text would take a
    gigabyte."""
    count = 0
    for first in range(0, len(array), BLOCK):
        bad = ~np.isfinite(array[first:first + BLOCK])
        found = int(bad.sum())
        if found and zero:
            if not array.flags.writeable:
                array = array.copy()
            array[first:first + BLOCK][bad] = 0
        count += found
    return array, count


def write_hdf5(path, splits, source_name, zeroed):
    """Writes {split name: read_split() result} to `path`, all or nothing."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                                     suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        with h5py.File(temporary, "w") as f:
            f.attrs["mird.converter"] = "mird.convert_mmsa"
            f.attrs["mird.source"] = source_name
            f.attrs["mird.nonfinite"] = "zeroed" if zeroed else "kept"
            for name, arrays in splits.items():
                group = f.create_group(name)
                for key, value in arrays.items():
                    if key == "id":
                        group.create_dataset(key, data=np.array(value, dtype=object),
                                             dtype=h5py.string_dtype("utf-8"))
                    else:
                        group.create_dataset(key, data=value)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def convert(pickle_path, output_path, splits=SPLITS, zero_nonfinite_values=False,
            text_features=True, log=None):
    """Converts an MMSA pickle to libmird's HDF5 layout.  Loading the pickle
    RUNS CODE it carries: trusted files only.  Returns {split: sample count}."""
    data = load_pickle(pickle_path)
    if not isinstance(data, dict):
        raise LayoutError(f"{pickle_path}: holds a {type(data).__name__}, expected MMSA's dict "
                          "of splits {'train', 'valid', 'test'}")
    converted = {}
    for name in splits:
        arrays = read_split(pickle_path, data, name, text_features)
        nonfinite = {}
        for key in ("text", "audio", "vision"):
            if key in arrays:
                arrays[key], nonfinite[key] = count_nonfinite(arrays[key], zero_nonfinite_values)
        converted[name] = arrays
        if log:
            shapes = ", ".join(f"{key} {'x'.join(map(str, arrays[key].shape[1:]))}"
                               for key in ("text", "text_bert", "audio", "vision")
                               if key in arrays)
            notes = ", ".join(f"{count} non-finite in {key} "
                              f"{'zeroed' if zero_nonfinite_values else 'kept'}"
                              for key, count in nonfinite.items() if count)
            log(f"{name}: {len(arrays['id'])} samples ({shapes})" + (f"; {notes}" if notes else ""))
    write_hdf5(output_path, converted, os.path.basename(pickle_path), zero_nonfinite_values)
    return {name: len(arrays["id"]) for name, arrays in converted.items()}


def _split_list(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in SPLITS:
            raise argparse.ArgumentTypeError(f"unknown split {name!r} (train, valid, test)")
    if not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: give each split once, comma-separated")
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m mird.convert_mmsa",
        description="Convert MMSA's unaligned_50.pkl into the HDF5 layout libmird's "
                    "mird_dataset_read_hdf5 reads.",
        epilog="WARNING: loading a pickle runs code it carries. Convert only pickles you "
               "trust (MMSA's published files or your own).")
    parser.add_argument("pickle", help="MMSA's unaligned_50.pkl (a trusted file)")
    parser.add_argument("output", help="the HDF5 file to write (replaced if it exists)")
    parser.add_argument("--splits", type=_split_list, default=list(SPLITS),
                        help="comma-separated splits to convert (default: train,valid,test)")
    parser.add_argument("--zero-nonfinite", action="store_true",
                        help="write NaN and infinities (COVAREP's -inf) as 0; by default they "
                             "are kept, for the reader's nonfinite=zero")
    parser.add_argument("--no-text-features", action="store_true",
                        help="leave out the BERT features, keep the token ids (text_bert) only")
    args = parser.parse_args(argv)
    try:
        convert(args.pickle, args.output, args.splits, args.zero_nonfinite,
                not args.no_text_features, log=print)
    except (LayoutError, OSError) as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
