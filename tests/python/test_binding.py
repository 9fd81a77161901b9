"""The binding's handles, errors and arrays: configuration by name, typed
exceptions with the library's messages, borrowed (zero-copy) and converted
arrays, inference and codes, checkpoints, lifetimes, logging, and how the
package imports and finds the library."""

import array
import gc
import os
import shutil
import tempfile
import unittest
import weakref

import mird
from mird import _capi
from binding_support import Closing, needs_numpy, np, random_arrays, run_python, tiny


class ConfigTest(Closing, unittest.TestCase):
    def test_settings_by_name_round_trip(self):
        cfg = self.closing(mird.Config("tiny", epochs=7))
        cfg["lambda"] = 0.25
        cfg["constraint"] = "oc"
        cfg["mask_padding"] = False
        self.assertEqual((cfg["epochs"], cfg["lambda"], cfg["constraint"], cfg["mask_padding"]),
                         (7, 0.25, "oc", 0))
        self.assertEqual(cfg["hidden"], 16)          # from the preset
        self.assertEqual(len(cfg.to_dict()), len(mird.param_names()))
        copy = self.closing(cfg.copy())
        cfg["lambda"] = 2
        self.assertEqual(copy["lambda"], 0.25)
        self.assertEqual(cfg.shapes.audio_dim, 4)

    def test_names_come_from_the_library(self):
        self.assertEqual(mird.term_names()[0], "total")
        self.assertEqual(mird.metric_names()[:2], ("mae", "corr"))
        self.assertEqual(mird.split_names(), ("train", "valid", "test"))
        self.assertEqual(mird.version_number() // 10000, _capi.ABI_MAJOR)
        self.assertRegex(mird.version(), r"^\d+\.\d+\.\d+$")

    def test_unknown_name_and_bad_value_raise_with_the_library_message(self):
        cfg = self.closing(tiny())
        with self.assertRaises(mird.InvalidArgumentError) as raised:
            cfg["no_such_setting"] = 1
        error = raised.exception
        self.assertIn("no_such_setting", str(error))
        self.assertEqual((error.status, error.status_name), (2, "invalid argument"))
        self.assertIsInstance(error, ValueError)
        with self.assertRaises(mird.InvalidArgumentError) as raised:
            cfg["heads"] = 0
        self.assertIn("heads", raised.exception.message)
        self.assertEqual(cfg["heads"], 2, "a failing setter changes nothing")
        with self.assertRaises(KeyError):
            cfg["no_such_setting"]
        with self.assertRaises(mird.InvalidArgumentError):
            cfg.preset("no-such-preset")

    def test_contradicting_settings_fail_at_model_creation(self):
        with self.assertRaises(mird.InvalidArgumentError) as raised:
            mird.Model("tiny", hidden=15)
        self.assertIn("heads", raised.exception.message)


class HandleLifetimeTest(unittest.TestCase):
    def test_close_is_idempotent_and_closed_handles_refuse_use(self):
        cfg = tiny()
        with mird.Model(cfg) as model:
            self.assertGreater(model.parameter_count, 0)
        self.assertTrue(model.closed)
        model.close()
        with self.assertRaises(ValueError):
            model.parameter_count
        cfg.close()
        cfg.close()
        with self.assertRaises(ValueError):
            cfg["hidden"]

    def test_closing_a_model_closes_its_optimizers_first(self):
        model = mird.Model("tiny")
        optimizer = model.optimizer()
        self.assertIs(optimizer.model, model)
        model.close()
        self.assertTrue(optimizer.closed)

    def test_an_optimizer_keeps_its_model_alive(self):
        model = mird.Model("tiny")
        optimizer = mird.Optimizer(model)
        watch = weakref.ref(model)
        del model
        gc.collect()
        self.assertIsNotNone(watch())
        self.assertEqual(optimizer.step_count, 0)
        del optimizer
        gc.collect()
        self.assertIsNone(watch())


class ErrorTest(Closing, unittest.TestCase):
    def setUp(self):
        self.cfg = self.closing(tiny())
        self.shapes = self.cfg.shapes

    @needs_numpy
    def test_lengths_beyond_the_padding_are_a_shape_error(self):
        batch = self.closing(mird.Batch(self.cfg, 4))
        audio = np.zeros((4, self.shapes.audio_length, self.shapes.audio_dim), np.float32)
        lengths = np.array([1, 2, 3, 99], np.int32)
        with self.assertRaises(mird.ShapeError) as raised:
            batch.set_audio(audio, lengths)
        self.assertIn("lengths[3] = 99", raised.exception.message)
        self.assertNotIn("audio", batch._kept, "a failing setter keeps nothing")

    @needs_numpy
    def test_arrays_of_the_wrong_size_are_refused_before_c_reads_them(self):
        batch = self.closing(mird.Batch(self.cfg, 4))
        with self.assertRaises(mird.ShapeError) as raised:
            batch.set_vision(np.zeros((4, 3, 3), np.float32), np.ones(4, np.int32))
        self.assertIn("vision has shape [4, 3, 3], expected [4, 10, 6]", str(raised.exception))
        with self.assertRaises(ValueError):
            batch.set_vision(np.zeros((4, 10, 6)), np.full(4, 1.5))

    @needs_numpy
    def test_a_batch_of_other_shapes_is_a_shape_error_from_the_model(self):
        arrays = random_arrays(self.shapes, 3)
        other = self.closing(tiny(audio_dim=5))
        model = self.closing(mird.Model(other))
        batch = self.closing(mird.Batch.from_arrays(self.cfg, arrays))
        with self.assertRaises(mird.ShapeError) as raised:
            model.infer(batch)
        self.assertTrue(raised.exception.message)
        self.assertEqual(raised.exception.message, model.error_message)

    @needs_numpy
    def test_nan_input_is_a_nonfinite_error_naming_the_value(self):
        arrays = random_arrays(self.shapes, 3)
        arrays["text"][1, 0, 2] = np.nan
        with self.assertRaises(mird.NonFiniteError) as raised:
            mird.Batch.from_arrays(self.cfg, arrays)
        self.assertEqual(raised.exception.status, 4)
        self.assertIn("text", raised.exception.message)
        # Datasets may read NaN as 0, copying rather than writing the caller's array.
        with mird.Dataset.from_arrays(arrays, options={"nonfinite": "zero"}) as dataset:
            self.assertEqual(len(dataset), 3)
        self.assertTrue(np.isnan(arrays["text"][1, 0, 2]))

    def test_missing_files_raise_oserror_subclasses(self):
        missing = os.path.join(tempfile.gettempdir(), "mird-no-such-file.h5")
        with self.assertRaises(mird.MirdIOError) as raised:
            mird.read_hdf5(missing, "train")
        self.assertIsInstance(raised.exception, OSError)
        self.assertIn("mird-no-such-file.h5", raised.exception.message)
        with self.assertRaises(mird.MirdIOError):
            mird.Model.load(missing)
        with self.assertRaises(mird.MirdIOError):
            mird.read_mfn(missing + ".d", "test")

    def test_state_errors_name_the_missing_field(self):
        model = self.closing(mird.Model(self.cfg))
        batch = self.closing(mird.Batch(self.cfg, 2))
        with self.assertRaises(mird.StateError) as raised:
            model.infer(batch)
        self.assertIsInstance(raised.exception, RuntimeError)
        self.assertIn("text", raised.exception.message)


@needs_numpy
class ZeroCopyTest(Closing, unittest.TestCase):
    def setUp(self):
        self.cfg = self.closing(tiny())
        self.arrays = random_arrays(self.cfg.shapes, 5)

    def traced_setter(self, handle, setter, *arrays, **options):
        with _capi.trace_calls() as calls:
            getattr(handle, setter)(*arrays, **options)
        (name, args), = calls
        self.assertTrue(name.endswith(setter))
        return args

    def test_float32_arrays_reach_c_as_the_callers_pointers(self):
        batch = self.closing(mird.Batch(self.cfg, 5))
        text, lengths = self.arrays["text"], self.arrays["text_lengths"]
        args = self.traced_setter(batch, "set_text", text, lengths)
        self.assertEqual(_capi.address(args[1]), text.ctypes.data)
        self.assertEqual(_capi.address(args[2]), lengths.ctypes.data)
        self.assertEqual(args[3], 0, "MIRD_BORROW")

    def test_other_arrays_are_converted_once(self):
        batch = self.closing(mird.Batch(self.cfg, 5))
        audio = self.arrays["audio"].astype(np.float64)
        lengths = self.arrays["audio_lengths"].astype(np.int64)
        args = self.traced_setter(batch, "set_audio", audio, lengths)
        self.assertNotEqual(_capi.address(args[1]), audio.ctypes.data)
        self.assertNotEqual(_capi.address(args[2]), lengths.ctypes.data)
        fortran = np.asfortranarray(self.arrays["audio"])
        args = self.traced_setter(batch, "set_audio", fortran, self.arrays["audio_lengths"])
        self.assertNotEqual(_capi.address(args[1]), fortran.ctypes.data)
        args = self.traced_setter(batch, "set_audio", self.arrays["audio"],
                                  self.arrays["audio_lengths"], copy=True)
        self.assertEqual(args[3], 1, "MIRD_COPY")

    def test_a_dataset_borrows_too_and_keeps_the_array_alive(self):
        with _capi.trace_calls() as calls:
            dataset = mird.Dataset.from_arrays(self.arrays)
        pointers = {name: _capi.address(args[1]) for name, args in calls
                    if name.startswith("mird_dataset_set_")}
        self.assertEqual(pointers["mird_dataset_set_vision"], self.arrays["vision"].ctypes.data)
        self.assertEqual(pointers["mird_dataset_set_labels"], self.arrays["labels"].ctypes.data)
        watch = weakref.ref(self.arrays["vision"])
        del self.arrays["vision"], calls  # the trace holds the pointers too
        gc.collect()
        self.assertIsNotNone(watch(), "the dataset must keep the borrowed array")
        dataset.close()
        gc.collect()
        self.assertIsNone(watch(), "closing releases the borrowed array")

    def test_borrowed_and_copied_batches_predict_alike(self):
        model = self.closing(mird.Model(self.cfg))
        borrowed = self.closing(mird.Batch.from_arrays(self.cfg, self.arrays))
        copied = self.closing(mird.Batch.from_arrays(self.cfg, self.arrays, copy=True))
        np.testing.assert_array_equal(model.infer(borrowed)[0], model.infer(copied)[0])


@needs_numpy
class InferenceTest(Closing, unittest.TestCase):
    def setUp(self):
        self.cfg = self.closing(tiny())
        self.model = self.closing(mird.Model(self.cfg))
        self.data = self.closing(mird.synthetic(self.cfg, "test", size=21, seed=4))

    def test_codes_have_four_codes_per_sample_and_equal_infer(self):
        codes = self.model.codes(self.data, batch_size=8)
        latent = self.cfg["latent_dim"]
        self.assertEqual(codes.shape, (21, 4, latent))
        batch = self.closing(mird.Batch(self.cfg, 5))
        self.data.fill_batch(batch, 13)
        predictions, batch_codes = self.model.infer(batch)
        np.testing.assert_array_equal(batch_codes, codes[13:18])
        np.testing.assert_array_equal(predictions, self.model.predict(self.data)[13:18])
        self.assertFalse(np.array_equal(codes[:, 0], codes[:, 1]), "z^S and z^L differ")

    def test_evaluate_matches_metrics_of_the_predictions(self):
        metrics, predictions = mird.evaluate(self.model, self.data, predictions=True)
        labels, labeled = self.data.labels()
        self.assertTrue(labeled.all())
        self.assertAlmostEqual(metrics["mae"], float(np.mean(np.abs(predictions - labels))), 5)
        self.assertEqual(mird.metrics(predictions, labels), metrics)

    def test_a_step_changes_predictions_and_counts(self):
        optimizer = self.closing(self.model.optimizer())
        batch = self.closing(mird.Batch(self.cfg, 8))
        self.data.fill_batch(batch, 0)
        before = self.model.infer(batch)[0]
        terms = self.model.step(optimizer, batch)
        self.assertEqual(tuple(terms), mird.term_names())
        self.assertTrue(np.isfinite(terms["total"]))
        self.assertEqual(optimizer.step_count, 1)
        self.assertFalse(np.array_equal(before, self.model.infer(batch)[0]))

    def test_token_ids_shape_a_tokens_configuration(self):
        arrays = random_arrays(self.cfg.shapes, 4)
        del arrays["text"]
        arrays["tokens"] = np.arange(4 * 9, dtype=np.int32).reshape(4, 9) % 30
        arrays["text_lengths"] = np.full(4, 9, np.int32)
        cfg = self.closing(mird.Config("tiny", text_mode="tokens", vocab_size=64))
        dataset = self.closing(mird.Dataset.from_arrays(arrays, cfg))
        shaped = self.closing(mird.Config("tiny", vocab_size=64))
        dataset.apply_shapes(shaped)
        self.assertEqual((shaped["text_mode"], shaped["text_length"], shaped["vocab_size"]),
                         ("tokens", 9, 64), "the vocabulary is only ever raised")
        with mird.Model(shaped) as model:
            self.assertEqual(model.predict(dataset).shape, (4,))
        arrays["tokens"][2, 3] = 64
        with self.assertRaises(mird.InvalidArgumentError) as raised:
            mird.Batch.from_arrays(shaped, arrays)
        self.assertIn("64", raised.exception.message)

    def test_dataset_accessors(self):
        self.assertEqual(self.data.factors().shape, (21, 4))
        subset = self.closing(self.data.subset([3, 3, 0]))
        labels = self.data.labels()[0]
        np.testing.assert_array_equal(subset.labels()[0], labels[[3, 3, 0]])
        self.assertIsNone(self.data.ids())
        with mird.Dataset.from_arrays(dict(random_arrays(self.cfg.shapes, 2),
                                           ids=["a_1", "b_2"])) as named:
            self.assertEqual(named.ids(), ["a_1", "b_2"])


@needs_numpy
class CheckpointTest(Closing, unittest.TestCase):
    def test_save_and_load_round_trip(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        path = os.path.join(directory, "model.safetensors")
        cfg = self.closing(tiny(seed=9))
        data = self.closing(mird.synthetic(cfg, size=6))
        model = self.closing(mird.Model(cfg))
        optimizer = self.closing(model.optimizer())
        batch = self.closing(mird.Batch(cfg, 6))
        data.fill_batch(batch)
        model.step(optimizer, batch)
        model.save(path, optimizer)
        self.assertEqual(mird.checkpoint_metadata(path, "mird.version"), mird.version())
        self.assertEqual(mird.checkpoint_metadata(path, "mird.config.seed"), "9")
        with self.assertRaises(mird.InvalidArgumentError):
            mird.checkpoint_metadata(path, "no.such.key")
        loaded = self.closing(mird.Model.load(path))
        np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
        resumed = self.closing(loaded.optimizer())
        resumed.load(path)
        self.assertEqual(resumed.step_count, 1)


@needs_numpy
class Hdf5ReaderTest(Closing, unittest.TestCase):
    def test_reads_the_mmsa_layout(self):
        try:
            import h5py
        except ImportError:
            self.skipTest("h5py is not installed")
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        path = os.path.join(directory, "tiny.h5")
        arrays = random_arrays(mird.Shapes("features", 4, 3, 5, 2, 6, 2), 3, seed=2)
        arrays["text"][:, 0] += 1  # a non-zero first row: every text length >= 1
        with h5py.File(path, "w") as h5:
            group = h5.create_group("valid")
            for name in ("text", "audio", "vision", "audio_lengths", "vision_lengths"):
                group[name] = arrays[name]
            group["regression_labels"] = arrays["labels"].astype(np.float64)
            group["id"] = np.array([b"v_1", b"v_2", b"w_1"])
        dataset = self.closing(mird.read_hdf5(path, "valid"))
        self.assertEqual(dataset.shapes[1:], (4, 3, 5, 2, 6, 2))
        self.assertEqual(dataset.ids(), ["v_1", "v_2", "w_1"])
        np.testing.assert_array_equal(dataset.labels()[0], arrays["labels"])
        with self.assertRaises(mird.FormatError) as raised:
            mird.read_hdf5(path, "train")
        self.assertIn("train", raised.exception.message)


class LogCallbackTest(unittest.TestCase):
    def test_messages_arrive_until_the_callback_is_removed(self):
        received = []
        mird.set_log_callback(lambda level, message: received.append((level, message)), "debug")
        self.addCleanup(mird.set_log_callback, None)
        gc.collect()  # the C function object must survive this: the library holds it
        with mird.Model("tiny", hidden=24, heads=3) as model:  # new shapes: new primitives
            model.predict(mird.synthetic(model, size=2))
        self.assertTrue(received)
        self.assertTrue(all(level == "debug" and message for level, message in received))
        mird.set_log_callback(None)
        count = len(received)
        with mird.Model("tiny", hidden=20, heads=4) as model:
            model.predict(mird.synthetic(model, size=2))
        self.assertEqual(len(received), count)
        with self.assertRaises(ValueError):
            mird.set_log_callback(print, "loud")


class ImportAndLoadingTest(unittest.TestCase):
    def test_import_needs_neither_the_library_nor_numpy(self):
        result = run_python(
            "import sys, mird\n"
            "assert mird._capi._library is None\n"
            "assert 'numpy' not in sys.modules, 'numpy imported'\n"
            "try:\n"
            "    mird.version()\n"
            "except mird.LibraryNotFoundError as error:\n"
            "    print('refused:', error)\n",
            env={"MIRD_LIBRARY": "/nonexistent/libmird.so"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("refused: MIRD_LIBRARY=/nonexistent/libmird.so", result.stdout)

    def test_the_library_next_to_the_module_is_found(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        package = os.path.join(directory, "mird")
        shutil.copytree(os.path.dirname(mird.__file__), package,
                        ignore=shutil.ignore_patterns("__pycache__", "libmird.so*"))
        os.symlink(os.path.realpath(_capi.lib()._name), os.path.join(package, "libmird.so.0"))
        environment = {"PYTHONPATH": directory, "MIRD_LIBRARY": ""}
        result = run_python("import mird; print(mird.version(), mird._capi.lib()._name)",
                            env=environment)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.split(), [mird.version(),
                                                 os.path.join(package, "libmird.so.0")])


class BufferWithoutNumpyTest(Closing, unittest.TestCase):
    def test_array_array_inputs_are_borrowed(self):
        from mird import _arrays
        labels = array.array("f", [0.5, -1.0, 2.0])
        converted = _arrays._buffer_input(labels, _arrays.FLOAT32, (3,), "labels")
        self.assertTrue(converted.borrowed)
        self.assertEqual(_capi.address(converted.pointer), labels.buffer_info()[0])
        doubles = _arrays._buffer_input(array.array("d", [1, 2, 3]), _arrays.FLOAT32, (3,), "x")
        self.assertFalse(doubles.borrowed)
        with self.assertRaises(mird.ShapeError):
            _arrays._buffer_input(labels, _arrays.FLOAT32, (4,), "labels")
        with self.assertRaises(ValueError):
            _arrays._buffer_input([1, 2.5], _arrays.INT32, (2,), "lengths")


if __name__ == "__main__":
    unittest.main()
