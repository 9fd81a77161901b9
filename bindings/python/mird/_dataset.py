"""Datasets (mird_dataset): from arrays, from files, or synthetic.

::

    train = mird.Dataset.read_hdf5("mosi.h5", "train")
    demo = mird.Dataset.synthetic("demo", "train", size=512, seed=1)
    mine = mird.Dataset.from_arrays({"text": t, "text_lengths": tl, "audio": a, ...})

A dataset made from arrays borrows them as a batch does (see
:mod:`mird._batch`); one read from a file owns its memory.  Wherever the
binding takes "data" (Model.predict, the estimator, ...), a Dataset, a dict
of arrays, a path or a (path, split) pair will do; see :func:`as_dataset`.
"""

import contextlib
import ctypes
import os

from . import _capi, _names
from ._arrays import FLOAT32, INT64, UINT8, as_input, numpy, output
from ._batch import Batch, Fields, config_for
from ._errors import check
from ._handles import Config, Handle, error_message_property, new_handle


class Dataset(Fields, Handle):
    """N samples in padded shapes, with optional ids and planted factors."""

    _destroy = "mird_dataset_destroy"
    _prefix = "mird_dataset_"

    def __init__(self, config, size, options=None):
        """An empty dataset of `size` samples shaped by `config` (a Config or
        Model), to fill with the set_* methods.  options: "key=value,..." or
        a dict (nonfinite=error|zero, labels=yes|none)."""
        with config_for(config) as config:
            pointer = _capi.Dataset_p()
            check(_capi.lib().mird_dataset_create(config._live(), size,
                                                  _names.options_text(options),
                                                  ctypes.byref(pointer)))
            Handle.__init__(self, pointer)
            self._init_fields(config.shapes, size)

    @classmethod
    def _adopt(cls, pointer):
        dataset = super()._adopt(pointer)
        try:
            with Config() as config:
                dataset.apply_shapes(config)
                shapes = config.shapes
        except BaseException:
            dataset.close()
            raise
        dataset._init_fields(shapes, _capi.lib().mird_dataset_size(pointer))
        return dataset

    @classmethod
    def from_arrays(cls, arrays, config=None, options=None, copy=False):
        """A dataset from a dict of arrays: text (or tokens), text_lengths,
        audio, audio_lengths, vision, vision_lengths, and optionally labels,
        labeled (0/1 mask) and ids (strings).  The padded shapes are read from
        the arrays when they are shaped (numpy); flat buffers take them from
        `config` (a Config or Model), which is then required."""
        with _shaped_config(arrays, config) as shaped:
            dataset = cls(shaped, len(arrays["text_lengths"]), options)
        try:
            dataset._fill(arrays, copy)
            if arrays.get("ids") is not None:
                dataset.set_ids(arrays["ids"])
        except BaseException:
            dataset.close()
            raise
        return dataset

    @classmethod
    def read_hdf5(cls, path, split="train", options=None):
        """One split of an HDF5 file in the MMSA layout (see mird.h)."""
        return new_handle(cls, _capi.Dataset_p, "mird_dataset_read_hdf5", _names.path_bytes(path),
                          _split(split), _names.options_text(options))

    @classmethod
    def read_mfn(cls, directory, split="train", options=None):
        """One split of the Memory Fusion Network's word-aligned HDF5 files."""
        return new_handle(cls, _capi.Dataset_p, "mird_dataset_read_mfn",
                          _names.path_bytes(directory), _split(split),
                          _names.options_text(options))

    @classmethod
    def read_csd(cls, labels_path, text_path=None, audio_path=None, vision_path=None,
                 options=None):
        """CMU-MultimodalSDK computational sequences; a modality without a
        file is missing (length 0).  options may hold folds= and split=."""
        return new_handle(cls, _capi.Dataset_p, "mird_dataset_read_csd",
                          *map(_names.path_bytes, (labels_path, text_path, audio_path,
                                                   vision_path)),
                          _names.options_text(options))

    @classmethod
    def synthetic(cls, config="demo", split="train", size=256, seed=1, options=None):
        """Seeded synthetic samples with planted shared and private factors,
        in the shapes of `config` (a Config, Model or preset name)."""
        with config_for(config) as config:
            return new_handle(cls, _capi.Dataset_p, "mird_dataset_synthetic", config._live(),
                              _split(split), size, seed, _names.options_text(options))

    def set_ids(self, ids):
        """A string id per sample (copied)."""
        encoded = [str(i).encode() for i in ids]
        check(_capi.lib().mird_dataset_set_ids(self._live(), (ctypes.c_char_p * len(encoded))(
            *encoded)))

    error_message = error_message_property("mird_dataset_error_message")

    def apply_shapes(self, config):
        """Writes this dataset's shapes into `config` so a model made from it accepts it."""
        check(_capi.lib().mird_dataset_apply_shapes(self._live(), config._live()))

    def labels(self):
        """(labels [N] with NaN where unlabeled, labeled mask [N] of 0/1)."""
        labels, labels_pointer = output(FLOAT32, (self._size,))
        labeled, labeled_pointer = output(UINT8, (self._size,))
        check(_capi.lib().mird_dataset_get_labels(self._live(), labels_pointer, labeled_pointer))
        return labels, labeled

    def id(self, index):
        """Sample `index`'s id, or None."""
        text = _capi.lib().mird_dataset_id(self._live(), index)
        return None if text is None else text.decode()

    def ids(self):
        """Every sample's id as a list, or None when the dataset has none."""
        if self._size == 0 or self.id(0) is None:
            return None
        return [self.id(i) for i in range(self._size)]

    def factors(self):
        """The planted factors [N, 4] (shared, language, acoustic, visual) of synthetic data."""
        factors, pointer = output(FLOAT32, (self._size, 4))
        check(_capi.lib().mird_dataset_get_factors(self._live(), pointer))
        return factors

    def subset(self, indices):
        """A new dataset holding copies of the samples at `indices`, in order."""
        if not hasattr(indices, "__len__"):
            indices = list(indices)
        count = len(indices)
        items = as_input(indices, INT64, (count,), "indices")
        return new_handle(Dataset, _capi.Dataset_p, "mird_dataset_subset", self._live(),
                          items.pointer, count)

    def fill_batch(self, batch, first=0):
        """Copies samples [first, first + len(batch)) into `batch`."""
        check(_capi.lib().mird_dataset_fill_batch(self._live(), first, len(batch), batch._live()))

    def batches(self, config, batch_size=256):
        """Yields (first, Batch) over the dataset in order; each batch is
        closed when the next is made.  config: a Config or Model."""
        with config_for(config) as config:
            yield from self._batches(config, batch_size)

    def _batches(self, config, batch_size):
        batch = None
        try:
            for first in range(0, self._size, batch_size):
                count = min(batch_size, self._size - first)
                if batch is None or len(batch) != count:
                    if batch is not None:
                        batch.close()
                    batch = Batch(config, count)
                self.fill_batch(batch, first)
                yield first, batch
        finally:
            if batch is not None:
                batch.close()

    def __repr__(self):
        return "<mird.Dataset %s>" % ("closed" if self.closed else "of %d" % self._size)


def _split(split):
    return _names.index_of(split, _names.split_names(), "split")


@contextlib.contextmanager
def _shaped_config(arrays, config):
    """A Config for the block in the shapes of the arrays (or of `config`
    for flat ones); as mird_dataset_apply_shapes does, vocab_size and
    max_positions are only ever raised."""
    inferred = _array_shapes(arrays)
    if config is None and inferred is None:
        raise ValueError("the arrays are flat: pass config= to give their padded shapes")
    if config is None:
        shaped = Config()
    else:
        with config_for(config) as source:
            shaped = source.copy()
    try:
        for name, value in (inferred or {}).items():
            shaped[name] = max(value, shaped[name]) if name in _RAISED_ONLY else value
        yield shaped
    finally:
        shaped.close()


_RAISED_ONLY = ("vocab_size", "max_positions")


def _array_shapes(arrays):
    """Settings implied by shaped arrays, or None when they are flat."""
    np = numpy()
    if np is None:
        return None
    shapes = {}
    for name in ("audio", "vision"):
        array = np.asarray(arrays[name])
        if array.ndim != 3:
            return None
        shapes[name + "_length"], shapes[name + "_dim"] = array.shape[1], array.shape[2]
    if arrays.get("tokens") is not None:
        tokens = np.asarray(arrays["tokens"])
        if tokens.ndim != 2:
            return None
        shapes.update(text_mode="tokens", text_length=tokens.shape[1],
                      max_positions=tokens.shape[1], vocab_size=int(tokens.max(initial=0)) + 1)
    else:
        text = np.asarray(arrays["text"])
        if text.ndim != 3:
            return None
        shapes.update(text_mode="features", text_length=text.shape[1], text_dim=text.shape[2])
    return shapes


def as_dataset(data, config=None, split="test"):
    """(Dataset, owned) for any "data": a Dataset (not owned); a dict of
    arrays (Dataset.from_arrays with `config` for flat ones); a directory
    (the MFN files) or a file (MMSA HDF5) path, read at `split`; or a
    (path, split) pair.  The caller closes an owned dataset."""
    if isinstance(data, Dataset):
        return data, False
    if isinstance(data, dict):
        return Dataset.from_arrays(data, config), True
    if isinstance(data, tuple) and len(data) == 2:
        data, split = data
    if isinstance(data, (str, bytes, os.PathLike)):
        reader = Dataset.read_mfn if os.path.isdir(data) else Dataset.read_hdf5
        return reader(data, split), True
    raise TypeError("cannot read %s as a dataset (a Dataset, a dict of arrays, a path or a "
                    "(path, split) pair)" % type(data).__name__)
