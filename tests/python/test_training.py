"""Training through the binding: mird.fit with reports, progress callbacks
(per step and epoch, cancelling, raising, kept alive), fit_seeds, and the
MIRDRegressor estimator."""

import gc
import math
import os
import shutil
import signal
import tempfile
import threading
import unittest

import mird
from binding_support import Closing, needs_numpy, np, random_arrays, tiny


class FitTest(Closing, unittest.TestCase):
    def setUp(self):
        self.cfg = self.closing(tiny(epochs=4, batch_size=8, patience=0, learning_rate=1e-2))
        self.train = self.closing(mird.synthetic(self.cfg, "train", size=40, seed=1))
        self.valid = self.closing(mird.synthetic(self.cfg, "valid", size=16, seed=1))
        self.model = self.closing(mird.Model(self.cfg))
        self.optimizer = self.closing(self.model.optimizer())

    def test_the_loss_goes_down_and_the_report_tells_the_run(self):
        report = self.closing(mird.fit(self.model, self.optimizer, self.train, self.valid))
        self.assertEqual((report.epochs, report.stop), (4, "epochs"))
        self.assertTrue(1 <= report.best_epoch <= 4)
        losses = report.losses()
        self.assertLess(losses[-1], losses[0])
        self.assertLess(report.term(4, "task"), 0.8 * report.term(1, "task"))
        history = report.history()
        self.assertEqual(history[0]["terms"]["total"], losses[0])
        self.assertFalse(math.isnan(history[report.best_epoch - 1]["metrics"]["mae"]))
        self.assertTrue(math.isnan(report.metric(99, "mae")))
        self.assertEqual(self.optimizer.step_count, 4 * 5)
        # The model holds the best epoch's parameters.
        self.assertAlmostEqual(self.model.evaluate(self.valid)["mae"],
                               report.metric(report.best_epoch, "mae"), places=5)

    def test_progress_is_called_after_every_step_and_epoch(self):
        events = []

        def progress(state):
            gc.collect()  # the C callback must stay alive through this
            events.append(state)
        report = self.closing(mird.fit(self.model, self.optimizer, self.train, self.valid,
                                       progress=progress))
        steps = [e for e in events if e.event == "step"]
        epochs = [e for e in events if e.event == "epoch"]
        self.assertEqual([e.step for e in steps], list(range(1, 21)))
        self.assertEqual([e.epoch for e in epochs], [1, 2, 3, 4])
        self.assertEqual({e.total_steps for e in events}, {20})
        self.assertTrue(all(math.isnan(e.metrics["mae"]) for e in steps))
        self.assertEqual(epochs[2].metrics["mae"], report.metric(3, "mae"))
        self.assertEqual(epochs[2].terms["total"], report.term(3, "total"))
        self.assertTrue(epochs[0].improved, "the first epoch is the best so far")

    def test_returning_true_cancels_with_the_report_of_the_epochs_done(self):
        def stop_at_step_7(state):
            return state.event == "step" and state.step == 7
        with self.assertRaises(mird.CancelledError) as raised:
            mird.fit(self.model, self.optimizer, self.train, self.valid, progress=stop_at_step_7)
        error = raised.exception
        self.assertIn("after 7 of 20 steps", error.message)
        with error.report as report:
            self.assertEqual((report.stop, report.epochs), ("cancelled", 1))
        self.assertEqual(self.optimizer.step_count, 7)

    def test_an_exception_in_the_callback_stops_the_run_and_propagates(self):
        class Stop(Exception):
            pass
        calls = []

        def failing(state):
            calls.append(state)
            if len(calls) == 3:
                raise Stop("from the callback")
        with self.assertRaises(Stop):
            mird.fit(self.model, self.optimizer, self.train, progress=failing)
        self.assertEqual(len(calls), 3)

    def test_ctrl_c_stops_a_run_without_a_progress_callable(self):
        # Python's own handler, whatever the test runner's parent set.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        self.addCleanup(signal.signal, signal.SIGINT, previous)
        with mird.Config("tiny", epochs=400, batch_size=8) as cfg:
            model = self.closing(mird.Model(cfg))
        optimizer = self.closing(model.optimizer())
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        self.addCleanup(timer.cancel)
        with self.assertRaises(KeyboardInterrupt):
            mird.fit(model, optimizer, self.train)
        self.assertGreater(optimizer.step_count, 0)
        self.assertLess(optimizer.step_count, 400 * 5, "the run stopped early")
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_training_errors_raise_and_leave_the_model_as_it_was(self):
        unlabeled = self.closing(mird.synthetic(self.cfg, size=8, options="labels=none"))
        before = self.model.predict(self.valid)
        with self.assertRaises(mird.StateError) as raised:
            mird.fit(self.model, self.optimizer, unlabeled)
        self.assertIn("label", raised.exception.message)
        self.assertEqual(list(self.model.predict(self.valid)), list(before))
        other = self.closing(mird.Model(self.cfg))
        with self.assertRaises(mird.InvalidArgumentError):
            mird.fit(other, self.optimizer, self.train)

    def test_fit_seeds_reports_each_run_and_their_mean(self):
        with mird.Config("tiny", epochs=1, batch_size=20) as cfg:
            runs = []
            result = mird.fit_seeds(cfg, [1, 2], self.train, self.valid,
                                    progress=lambda state: runs.append(state.run))
        self.assertEqual(len(result["per_run"]), 2)
        self.assertEqual(sorted(set(runs)), [0, 1])
        mean = (result["per_run"][0]["mae"] + result["per_run"][1]["mae"]) / 2
        self.assertAlmostEqual(result["mean"]["mae"], mean)
        self.assertNotEqual(result["per_run"][0]["mae"], result["per_run"][1]["mae"])


@needs_numpy
class EstimatorTest(Closing, unittest.TestCase):
    def setUp(self):
        self.shapes = mird.Shapes("features", 5, 6, 7, 3, 4, 2)
        self.train = random_arrays(self.shapes, 48, seed=1)
        self.test = random_arrays(self.shapes, 16, seed=2)

    def fitted(self, **settings):
        settings = dict(dict(epochs=4, batch_size=16, learning_rate=3e-3), **settings)
        regressor = mird.MIRDRegressor("tiny", **settings)
        self.addCleanup(regressor.close)
        return regressor.fit(self.train, valid=self.test)

    def test_fit_predict_transform_score(self):
        regressor = self.fitted()
        with regressor.model_.config as config:
            self.assertEqual((config["audio_length"], config["audio_dim"]), (7, 3),
                             "shapes come from the data")
            self.assertEqual(config["epochs"], 4)
        self.assertEqual(len(regressor.history_), 4)
        self.assertEqual(regressor.stop_, "epochs")
        predictions = regressor.predict(self.test)
        self.assertEqual(predictions.shape, (16,))
        codes = regressor.transform(self.test)
        self.assertEqual(codes.shape, (16, 4, 8))
        metrics = regressor.evaluate(self.test)
        self.assertAlmostEqual(metrics["mae"],
                               float(np.mean(np.abs(predictions - self.test["labels"]))), 5)
        self.assertEqual(regressor.score(self.test), -metrics["mae"])
        regressor.set_params(scoring="corr")
        self.assertEqual(regressor.score(self.test), metrics["corr"])
        regressor.set_params(scoring="r2")
        with self.assertRaises(ValueError):
            regressor.score(self.test)

    def test_parameters_follow_the_sklearn_protocol(self):
        regressor = mird.MIRDRegressor("tiny", epochs=3, lambda_=0.5)
        params = regressor.get_params()
        self.assertEqual(params, {"preset": "tiny", "scoring": "neg_mae", "epochs": 3,
                                  "lambda": 0.5})
        clone = type(regressor)(**params)
        self.assertEqual(clone.get_params(), params)
        with self.assertRaises(mird.NotFittedError):
            clone.predict(self.test)
        clone.set_params(no_such_setting=1)
        with self.assertRaises(mird.InvalidArgumentError):
            clone.fit(self.train)

    def test_save_and_load(self):
        regressor = self.fitted()
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory)
        path = os.path.join(directory, "regressor.safetensors")
        regressor.save(path)
        with mird.MIRDRegressor.load(path) as loaded:
            np.testing.assert_array_equal(loaded.predict(self.test), regressor.predict(self.test))
            self.assertEqual(loaded.get_params()["audio_dim"], 3)
            self.assertIsNone(loaded.get_params()["preset"])

    def test_a_callback_returning_true_stops_early_without_an_error(self):
        regressor = mird.MIRDRegressor("tiny", epochs=10, batch_size=16)
        self.addCleanup(regressor.close)
        regressor.fit(self.train, valid=self.test,
                      progress=lambda state: state.event == "epoch" and state.epoch == 2)
        self.assertEqual((regressor.stop_, len(regressor.history_)), ("cancelled", 2))
        self.assertEqual(regressor.predict(self.test).shape, (16,))

    def test_data_may_be_a_dataset_or_a_path(self):
        with mird.Config("tiny") as cfg, mird.synthetic(cfg, size=32) as train:
            regressor = mird.MIRDRegressor("tiny", epochs=1, batch_size=16).fit(train)
            self.addCleanup(regressor.close)
            self.assertEqual(regressor.predict(train).shape, (32,))
        with self.assertRaises(mird.MirdIOError):
            regressor.predict(("/nonexistent/data.h5", "test"))
        with self.assertRaises(TypeError):
            regressor.predict(42)


if __name__ == "__main__":
    unittest.main()
