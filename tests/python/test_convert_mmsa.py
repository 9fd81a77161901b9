"""python -m mird.convert_mmsa on small pickles in MMSA's layout: the HDF5 it
writes (read back with h5py), its errors, and -- when MIRD_LIBRARY names
libmird.so -- the same files through libmird's own reader."""

import ctypes
import os
import pickle
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

BINDINGS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "..", "bindings", "python"))
T_L, D_L, T_A, D_A, T_V, D_V = 6, 8, 7, 3, 9, 4
SIZES = {"train": 6, "valid": 4, "test": 5}


def make_split(rng, name, n):
    """One split as MMSA pickles it, plus what the converter must make of it:
    `truth` holds the lengths the *_lengths keys give, `from_frames` those the
    frames alone imply."""
    text_lengths = rng.integers(2, T_L + 1, n)
    audio_lengths = rng.integers(3, T_A + 1, n)
    vision_lengths = rng.integers(2, T_V + 1, n)
    audio_lengths[0], vision_lengths[1] = 0, T_V  # a missing modality, a full sequence
    bert = np.zeros((n, 3, T_L), np.int64)
    audio = np.zeros((n, T_A, D_A), np.float32)
    vision = np.zeros((n, T_V, D_V), np.float32)
    for i in range(n):
        bert[i, 0, :text_lengths[i]] = rng.integers(999, 30000, text_lengths[i])
        bert[i, 0, 0] = 101
        bert[i, 1, :text_lengths[i]] = 1
        audio[i, :audio_lengths[i]] = rng.standard_normal((audio_lengths[i], D_A))
        vision[i, :vision_lengths[i]] = rng.standard_normal((vision_lengths[i], D_V))
    audio_from_frames = audio_lengths.copy()
    audio[1, 1] = 0.0                            # silence inside a clip stays in it
    audio[1, 2, 1] = -np.inf                     # COVAREP's -inf
    audio[2, audio_lengths[2] - 1] = -np.inf     # a last frame of -inf still counts
    audio[3, audio_lengths[3] - 1] = 0.0         # a last frame of zeros looks like padding
    audio_from_frames[3] -= 1
    split = {
        "raw_text": [f"words of clip {i}" for i in range(n)],
        "audio": audio,
        "vision": vision,
        "id": [f"{name}vidé{i}$_${i + 1}" for i in range(n)],
        "text": rng.standard_normal((n, T_L, D_L)).astype(np.float32),
        "text_bert": bert,
        "annotations": ["Neutral"] * n,
        "classification_labels": np.zeros(n),
        "regression_labels": (rng.integers(-6, 7, n) / 2.0).astype(np.float32),
        "audio_lengths": audio_lengths,
        "vision_lengths": list(vision_lengths),
    }
    truth = {"audio_lengths": audio_lengths, "vision_lengths": vision_lengths,
             "text_lengths": text_lengths}
    from_frames = dict(truth, audio_lengths=audio_from_frames)
    return split, truth, from_frames


def run_converter(*args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [BINDINGS, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "mird.convert_mmsa", *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=120)


class Fixture:
    """The pickles every test converts, made once for the module."""
    tmp = data = truth = from_frames = new_pickle = old_pickle = None


def write_pickle(name, obj):
    path = os.path.join(Fixture.tmp.name, name)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    return path


def setUpModule():
    Fixture.tmp = tempfile.TemporaryDirectory()
    rng = np.random.default_rng(5)
    Fixture.data, Fixture.truth, Fixture.from_frames = {}, {}, {}
    for name, n in SIZES.items():
        Fixture.data[name], Fixture.truth[name], Fixture.from_frames[name] = \
            make_split(rng, name, n)
    Fixture.new_pickle = write_pickle("new.pkl", Fixture.data)
    # Older MMSA releases: no *_lengths keys, token ids stored as floats.
    old = {name: {k: v for k, v in split.items() if not k.endswith("_lengths")}
           for name, split in Fixture.data.items()}
    for split in old.values():
        split["text_bert"] = split["text_bert"].astype(np.float64)
    Fixture.old_pickle = write_pickle("old.pkl", old)


def tearDownModule():
    Fixture.tmp.cleanup()


def convert(testcase, source, name, *options):
    out = os.path.join(Fixture.tmp.name, name)
    result = run_converter(source, out, *options)
    testcase.assertEqual(result.returncode, 0, result.stderr)
    return out


class ConverterTest(unittest.TestCase):
    def check_split(self, group, name, lengths):
        src = Fixture.data[name]
        n = SIZES[name]
        self.assertEqual(group["text"].dtype, np.float32)
        np.testing.assert_array_equal(group["text"][()], src["text"])
        self.assertEqual(group["text_bert"].dtype, np.int32)
        np.testing.assert_array_equal(group["text_bert"][()], src["text_bert"])
        for key in ("audio", "vision"):
            self.assertEqual(group[key].dtype, np.float32)
            np.testing.assert_array_equal(group[key][()], src[key])  # -inf kept as it is
            self.assertEqual(group[key + "_lengths"].dtype, np.int32)
            np.testing.assert_array_equal(group[key + "_lengths"][()], lengths[key + "_lengths"])
        self.assertEqual(group["regression_labels"].dtype, np.float32)
        np.testing.assert_array_equal(group["regression_labels"][()], src["regression_labels"])
        string_type = h5py.check_string_dtype(group["id"].dtype)
        self.assertIsNotNone(string_type)
        self.assertEqual(string_type.encoding, "utf-8")
        self.assertIsNone(string_type.length)  # variable length
        self.assertEqual([s.decode("utf-8") for s in group["id"][()]], src["id"])
        self.assertEqual(group["id"].shape, (n,))

    def test_writes_the_layout_of_the_reader(self):
        out = convert(self, Fixture.new_pickle, "new.h5")
        with h5py.File(out, "r") as f:
            self.assertEqual(set(f), set(SIZES))
            for name in SIZES:
                self.assertEqual(set(f[name]), {"text", "text_bert", "audio", "vision",
                                                "audio_lengths", "vision_lengths",
                                                "regression_labels", "id"})
                self.check_split(f[name], name, Fixture.truth[name])
            self.assertTrue(np.isneginf(f["train/audio"][1, 2, 1]))

    def test_lengths_without_keys_come_from_the_frames(self):
        out = convert(self, Fixture.old_pickle, "old.h5")
        with h5py.File(out, "r") as f:
            for name in SIZES:
                self.check_split(f[name], name, Fixture.from_frames[name])
        # The fixture must make the two rules differ, or this proves nothing.
        self.assertFalse(np.array_equal(Fixture.truth["train"]["audio_lengths"],
                                        Fixture.from_frames["train"]["audio_lengths"]))

    def test_zero_nonfinite(self):
        out = convert(self, Fixture.new_pickle, "zeroed.h5", "--zero-nonfinite")
        with h5py.File(out, "r") as f:
            for name in SIZES:
                audio, src = f[name]["audio"][()], Fixture.data[name]["audio"]
                self.assertTrue(np.isfinite(audio).all())
                finite = np.isfinite(src)
                np.testing.assert_array_equal(audio[finite], src[finite])
                self.assertTrue((audio[~finite] == 0).all())
                np.testing.assert_array_equal(f[name]["audio_lengths"][()],
                                              Fixture.truth[name]["audio_lengths"])
            self.assertEqual(f["train/audio"][1, 2, 1], 0.0)

    def test_token_ids_only_and_chosen_splits(self):
        out = convert(self, Fixture.new_pickle, "tokens.h5", "--no-text-features",
                           "--splits", "test,train")
        with h5py.File(out, "r") as f:
            self.assertEqual(set(f), {"train", "test"})
            self.assertNotIn("text", f["train"])
            np.testing.assert_array_equal(f["test/text_bert"][()],
                                          Fixture.data["test"]["text_bert"])

    def expect_failure(self, source, message, *options):
        out = os.path.join(Fixture.tmp.name, "failed.h5")
        with open(out, "wb") as f:
            f.write(b"previous contents")
        result = run_converter(source, out, *options)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(message, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"previous contents")
        self.assertEqual([e for e in os.listdir(Fixture.tmp.name) if e.endswith(".tmp")], [])

    def broken(self, name, change):
        data = {split: dict(fields) for split, fields in Fixture.data.items()}
        change(data)
        return write_pickle(name, data)

    def test_rejects_input_not_in_the_layout(self):
        self.expect_failure(write_pickle("list.pkl", [1, 2]), "holds a list, expected")
        not_pickle = os.path.join(Fixture.tmp.name, "garbage.pkl")
        with open(not_pickle, "wb") as f:
            f.write(b"\x00not a pickle at all")
        self.expect_failure(not_pickle, "not a readable pickle")
        self.expect_failure(os.path.join(Fixture.tmp.name, "absent.pkl"), "cannot read")
        self.expect_failure(self.broken("nosplit.pkl", lambda d: d.pop("valid")),
                            "no split 'valid'")
        self.expect_failure(self.broken("nokey.pkl", lambda d: d["test"].pop("vision")),
                            "split 'test' has no key 'vision'")
        self.expect_failure(
            self.broken("rank.pkl", lambda d: d["train"].update(audio=np.zeros((6, 7)))),
            "'audio' has shape (6, 7), expected rank 3")
        self.expect_failure(
            self.broken("count.pkl",
                        lambda d: d["train"].update(vision=d["train"]["vision"][:5])),
            "'vision' has 5 samples")
        self.expect_failure(
            self.broken("long.pkl",
                        lambda d: d["valid"].update(audio_lengths=np.array([1, T_A + 1, 2, 2]))),
            f"audio_lengths[1] = {T_A + 1} is outside 0..{T_A}")

        def fractional_id(d):
            bert = d["train"]["text_bert"].astype(np.float64)
            bert[2, 0, 1] = 17.5
            d["train"]["text_bert"] = bert
        self.expect_failure(self.broken("frac.pkl", fractional_id),
                            "text_bert[2, 0, 1] = 17.5 is not a whole number")

        def nan_label(d):
            labels = d["test"]["regression_labels"].copy()
            labels[4] = np.nan
            d["test"]["regression_labels"] = labels
        self.expect_failure(self.broken("nan.pkl", nan_label),
                            "regression_labels[4] = nan is not finite")
        self.expect_failure(Fixture.new_pickle, "unknown split 'dev'", "--splits", "train,dev")

    def test_help_warns_that_pickles_run_code(self):
        result = run_converter("--help")
        self.assertEqual(result.returncode, 0)
        self.assertIn("runs code", " ".join(result.stdout.split()))


# The few libmird calls the reader test needs, declared here so the test
# depends on nothing but the shared library.
MIRD_OK, MIRD_ERR_NONFINITE = 0, 4
MIRD_SPLIT = {"train": 0, "valid": 1, "test": 2}
MIRD_PARAM = {"text_mode": 0, "text_length": 1, "text_dim": 2, "audio_length": 5,
              "audio_dim": 6, "vision_length": 7, "vision_dim": 8}
MIRD_TEXT_FEATURES, MIRD_TEXT_TOKENS = 0, 1


def load_library(path):
    lib = ctypes.CDLL(path)
    handle_out = ctypes.POINTER(ctypes.c_void_p)
    signatures = {
        "mird_dataset_read_hdf5": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_int,
                                                  ctypes.c_char_p, handle_out]),
        "mird_dataset_destroy": (None, [ctypes.c_void_p]),
        "mird_dataset_size": (ctypes.c_int64, [ctypes.c_void_p]),
        "mird_dataset_get_labels": (ctypes.c_int, [ctypes.c_void_p,
                                                   ctypes.POINTER(ctypes.c_float),
                                                   ctypes.POINTER(ctypes.c_uint8)]),
        "mird_dataset_id": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_int64]),
        "mird_dataset_apply_shapes": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p]),
        "mird_config_create": (ctypes.c_int, [handle_out]),
        "mird_config_destroy": (None, [ctypes.c_void_p]),
        "mird_config_get_int": (ctypes.c_longlong, [ctypes.c_void_p, ctypes.c_int]),
        "mird_last_error_message": (ctypes.c_char_p, []),
    }
    for name, (result, arguments) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = result, arguments
    return lib


@unittest.skipUnless(os.environ.get("MIRD_LIBRARY"),
                     "MIRD_LIBRARY does not name libmird.so (ctest sets it)")
class LibraryReaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lib = load_library(os.environ["MIRD_LIBRARY"])

    def read(self, path, split, options):
        handle = ctypes.c_void_p()
        status = self.lib.mird_dataset_read_hdf5(path.encode(), MIRD_SPLIT[split],
                                                 options.encode(), ctypes.byref(handle))
        if status == MIRD_OK:
            self.addCleanup(self.lib.mird_dataset_destroy, handle)
        return status, handle

    def shapes(self, handle):
        cfg = ctypes.c_void_p()
        self.assertEqual(self.lib.mird_config_create(ctypes.byref(cfg)), MIRD_OK)
        try:
            self.assertEqual(self.lib.mird_dataset_apply_shapes(handle, cfg), MIRD_OK)
            return {name: self.lib.mird_config_get_int(cfg, param)
                    for name, param in MIRD_PARAM.items()}
        finally:
            self.lib.mird_config_destroy(cfg)

    def check_samples(self, handle, name):
        n = SIZES[name]
        self.assertEqual(self.lib.mird_dataset_size(handle), n)
        labels = np.full(n, np.nan, np.float32)
        labeled = np.zeros(n, np.uint8)
        status = self.lib.mird_dataset_get_labels(
            handle, labels.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
            labeled.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
        self.assertEqual(status, MIRD_OK)
        np.testing.assert_array_equal(labels, Fixture.data[name]["regression_labels"])
        np.testing.assert_array_equal(labeled, np.ones(n, np.uint8))
        ids = [self.lib.mird_dataset_id(handle, i).decode("utf-8") for i in range(n)]
        self.assertEqual(ids, Fixture.data[name]["id"])

    def test_features_with_nonfinite_audio(self):
        path = convert(self, Fixture.new_pickle, "reader_new.h5")
        status, _ = self.read(path, "train", "nonfinite=error")
        self.assertEqual(status, MIRD_ERR_NONFINITE)
        self.assertIn(b"audio", self.lib.mird_last_error_message())
        for name in SIZES:
            status, handle = self.read(path, name, "nonfinite=zero")
            self.assertEqual(status, MIRD_OK, self.lib.mird_last_error_message())
            self.check_samples(handle, name)
            self.assertEqual(self.shapes(handle), {
                "text_mode": MIRD_TEXT_FEATURES, "text_length": T_L, "text_dim": D_L,
                "audio_length": T_A, "audio_dim": D_A, "vision_length": T_V, "vision_dim": D_V})

    def test_zeroed_file_passes_the_strict_reader(self):
        path = convert(self, Fixture.old_pickle, "reader_zeroed.h5",
                                  "--zero-nonfinite")
        for name in SIZES:
            status, handle = self.read(path, name, "nonfinite=error")
            self.assertEqual(status, MIRD_OK, self.lib.mird_last_error_message())
            self.check_samples(handle, name)

    def test_token_ids_only(self):
        path = convert(self, Fixture.new_pickle, "reader_tokens.h5",
                                  "--no-text-features", "--splits", "valid")
        status, handle = self.read(path, "valid", "nonfinite=zero")
        self.assertEqual(status, MIRD_OK, self.lib.mird_last_error_message())
        self.check_samples(handle, "valid")
        shapes = self.shapes(handle)
        self.assertEqual((shapes["text_mode"], shapes["text_length"]), (MIRD_TEXT_TOKENS, T_L))
        status, _ = self.read(path, "train", "nonfinite=zero")
        self.assertNotEqual(status, MIRD_OK)
        self.assertIn(b"train", self.lib.mird_last_error_message())


if __name__ == "__main__":
    unittest.main()
