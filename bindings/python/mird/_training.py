"""Training runs, evaluation and metrics: mird_fit, mird_fit_seeds,
mird_evaluate and mird_metrics_compute.

A progress callback is any callable taking one :class:`Progress`.  It is
called after every step and every epoch (with the epoch's validation
metrics).  Returning a true value stops the run: :func:`fit` then raises
:class:`mird.CancelledError` whose ``report`` covers the epochs done, and the
model holds the best parameters so far.  An exception raised by the callback
also stops the run, and propagates unchanged out of :func:`fit`.

Ctrl-C stops a run after the current step and raises KeyboardInterrupt
once the library has returned, with or without a progress callable: during a
run called from the main thread, the binding's own SIGINT handler (in place of
Python's default one) marks the run for stopping, and a callback it always
hands C acts on the mark.  (Python's default handler would raise at whatever
line the callback runs, and ctypes cannot pass an exception through C.)
"""

import ctypes
import signal
import threading

from . import _capi, _names
from ._arrays import FLOAT32, FLOAT64, UINT64, as_input, output
from ._dataset import as_dataset
from ._errors import CancelledError, check
from ._handles import Report


class Progress:
    """A snapshot of a run's state at one progress event.

    event: "step" or "epoch"; epoch (from 1); step (steps done in this run)
    and total_steps; run (the seed's index under fit_seeds); improved (epoch
    events: best so far); terms {name: value} (the step's, or the epoch's
    means); metrics {name: value} (epoch events with validation; else NaN).
    """

    __slots__ = ("event", "epoch", "step", "total_steps", "run", "improved", "terms", "metrics")

    def __init__(self, pointer):
        lib = _capi.lib()
        self.event = _names.EVENTS[lib.mird_progress_event(pointer)]
        self.epoch = lib.mird_progress_epoch(pointer)
        self.step = lib.mird_progress_step(pointer)
        self.total_steps = lib.mird_progress_total_steps(pointer)
        self.run = lib.mird_progress_run(pointer)
        self.improved = bool(lib.mird_progress_improved(pointer))
        self.terms = {name: lib.mird_progress_term(pointer, index)
                      for index, name in enumerate(_names.term_names())}
        self.metrics = {name: lib.mird_progress_metric(pointer, index)
                        for index, name in enumerate(_names.metric_names())}

    def __repr__(self):
        return "<mird.Progress %s epoch=%d step=%d/%d total=%g>" % (
            self.event, self.epoch, self.step, self.total_steps, self.terms.get("total"))


class _Callback:
    """A Python progress callable (or None) as a C mird_progress_fn.

    The C function object lives as long as this object, which the caller
    keeps for the duration of the C call that uses it.  An exception the
    callable raises, or the KeyboardInterrupt of a Ctrl-C while the object
    is entered (``with``), is kept in ``raised`` and stops the run."""

    def __init__(self, progress):
        self.raised = None
        self.function = _capi.mird_progress_fn(self._call)
        self._progress = progress
        self._previous_handler = None

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous_handler = signal.signal(signal.SIGINT, self._interrupt)
        return self

    def __exit__(self, *exc_info):
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def _interrupt(self, signum, frame):
        if self.raised is None:
            self.raised = KeyboardInterrupt()

    def _call(self, pointer, user_data):
        try:
            if self.raised is None and self._progress is not None:
                if self._progress(Progress(pointer)):
                    return 1
            return 0 if self.raised is None else 1
        except BaseException as error:  # must not unwind through C
            self.raised = error
            return 1

    def reraise(self):
        if self.raised is not None:
            error, self.raised = self.raised, None
            raise error


def _pointer(dataset):
    return None if dataset is None else dataset._live()


class _Datasets:
    """Datasets for a call from any "data", closing those made here."""

    def __init__(self, config):
        self._config, self._owned = config, []

    def get(self, data, split):
        if data is None:
            return None
        dataset, owned = as_dataset(data, self._config, split)
        if owned:
            self._owned.append(dataset)
        return dataset

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        for dataset in self._owned:
            dataset.close()


def fit(model, optimizer, train, valid=None, unlabeled=None, progress=None):
    """Trains `model` with `optimizer` (mird_fit) and returns the :class:`Report`.

    train, valid and unlabeled are datasets (or any "data", see
    :func:`mird.as_dataset`; a path is read at its split "train", "valid" or
    "train").  See the module docstring for `progress`."""
    callback = _Callback(progress)
    report = _capi.Report_p()
    with _Datasets(model) as datasets, callback:
        train = datasets.get(train, "train")
        valid, unlabeled = datasets.get(valid, "valid"), datasets.get(unlabeled, "train")
        status = _capi.lib().mird_fit(model._live(), optimizer._live(), train._live(),
                                      _pointer(unlabeled), _pointer(valid), callback.function,
                                      None, ctypes.byref(report))
    result = Report._adopt(report) if report else None
    try:
        callback.reraise()
        check(status)
    except CancelledError as error:
        error.report = result
        raise
    except BaseException:
        if result is not None:
            result.close()
        raise
    return result


def fit_seeds(config, seeds, train, test, valid=None, unlabeled=None, progress=None):
    """One model per seed, trained and evaluated on `test` (mird_fit_seeds).

    Returns {"per_run": [{metric: value}, ...], "mean": {...}, "stddev": {...}}
    (population standard deviation, as MMSA prints it)."""
    seeds = list(seeds)
    names = _names.metric_names()
    callback = _Callback(progress)
    seed_array = as_input(seeds, UINT64, (len(seeds),), "seeds")
    per_run, per_run_pointer = output(FLOAT64, (len(seeds), len(names)))
    mean, mean_pointer = output(FLOAT64, (len(names),))
    stddev, stddev_pointer = output(FLOAT64, (len(names),))
    with _Datasets(config) as datasets, callback:
        train, test = datasets.get(train, "train"), datasets.get(test, "test")
        valid, unlabeled = datasets.get(valid, "valid"), datasets.get(unlabeled, "train")
        status = _capi.lib().mird_fit_seeds(
            config._live(), seed_array.pointer, len(seeds), train._live(), _pointer(unlabeled),
            _pointer(valid), test._live(), callback.function, None, per_run_pointer,
            mean_pointer, stddev_pointer)
    callback.reraise()
    check(status)
    flat = per_run.ravel().tolist() if hasattr(per_run, "ravel") else per_run.tolist()
    width = len(names)
    return {"per_run": [dict(zip(names, flat[r * width:(r + 1) * width]))
                        for r in range(len(seeds))],
            "mean": dict(zip(names, mean)), "stddev": dict(zip(names, stddev))}


def evaluate(model, data, predictions=False):
    """The MMSA metrics of `model` on the labeled samples of `data`
    (mird_evaluate) as {name: float}; with predictions=True, a pair
    (metrics, predictions [N] for every sample)."""
    names = _names.metric_names()
    metrics = (ctypes.c_double * len(names))()
    with _Datasets(model) as datasets:
        dataset = datasets.get(data, "test")
        result, pointer = output(FLOAT32, (len(dataset),)) if predictions else (None, None)
        check(_capi.lib().mird_evaluate(model._live(), dataset._live(), metrics, len(names),
                                        pointer))
    values = dict(zip(names, metrics))
    return (values, result) if predictions else values


def predict(model, data):
    """Predictions [N] of `model` for every sample of `data`, labeled or not."""
    with _Datasets(model) as datasets:
        dataset = datasets.get(data, "test")
        result, pointer = output(FLOAT32, (len(dataset),))
        check(_capi.lib().mird_evaluate(model._live(), dataset._live(), None, 0, pointer))
    return result


def metrics(predictions, labels):
    """The MMSA metrics of predictions against labels (mird_metrics_compute)."""
    count = len(labels)
    names = _names.metric_names()
    values = (ctypes.c_double * len(names))()
    predictions = as_input(predictions, FLOAT32, (count,), "predictions")
    labels = as_input(labels, FLOAT32, (count,), "labels")
    check(_capi.lib().mird_metrics_compute(predictions.pointer, labels.pointer, count, values,
                                           len(names)))
    return dict(zip(names, values))
