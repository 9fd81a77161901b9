"""The C API of libmird as ctypes sees it, and the loading of the library.

Every function of ``include/mird/mird.h`` is declared once, in
:data:`PROTOTYPES` (name, result type, argument types), with the C types
spelled exactly: opaque handles are distinct pointer types, so handing a
model where a configuration is expected fails in ctypes rather than in C.
The binding's own test parses the header and checks that this table names
every ``MIRD_API`` function with matching types, and nothing else.

The library is loaded on first use, not at import, from the first of:

1. the path in the environment variable ``MIRD_LIBRARY``;
2. ``libmird.so*`` next to this module (a wheel or an in-tree copy);
3. the system's search path (``ctypes.util.find_library("mird")``, then
   ``libmird.so.0``, the SONAME of this major version).

For tests, :func:`trace_calls` records every call made through :func:`lib`
with its arguments, which shows for instance that a borrowed array reaches C
as the caller's own pointer.
"""

import contextlib
import ctypes
import ctypes.util
import glob
import os
import threading
from ctypes import (CFUNCTYPE, POINTER, c_char, c_char_p, c_double, c_float, c_int, c_int32,
                    c_int64, c_longlong, c_size_t, c_uint, c_uint8, c_uint64, c_void_p)

#: The major version this binding speaks (the library's SONAME suffix).
ABI_MAJOR = 0


class mird_config(ctypes.Structure):
    """Opaque ``mird_config``."""


class mird_model(ctypes.Structure):
    """Opaque ``mird_model``."""


class mird_optimizer(ctypes.Structure):
    """Opaque ``mird_optimizer``."""


class mird_batch(ctypes.Structure):
    """Opaque ``mird_batch``."""


class mird_dataset(ctypes.Structure):
    """Opaque ``mird_dataset``."""


class mird_progress(ctypes.Structure):
    """Opaque ``mird_progress`` (valid only during a progress callback)."""


class mird_report(ctypes.Structure):
    """Opaque ``mird_report``."""


# Enumerations are passed as C ints.
mird_status = mird_param = mird_split = mird_metric = mird_term = c_int
mird_event = mird_stop = mird_ownership = mird_log_level = c_int

Config_p, Model_p, Optimizer_p = POINTER(mird_config), POINTER(mird_model), POINTER(mird_optimizer)
Batch_p, Dataset_p, Progress_p = POINTER(mird_batch), POINTER(mird_dataset), POINTER(mird_progress)
Report_p = POINTER(mird_report)

mird_log_fn = CFUNCTYPE(None, mird_log_level, c_char_p, c_void_p)
mird_progress_fn = CFUNCTYPE(c_int, Progress_p, c_void_p)

_floats, _doubles, _i32 = POINTER(c_float), POINTER(c_double), POINTER(c_int32)
_i64, _u8 = POINTER(c_int64), POINTER(c_uint8)
_str = c_char_p

#: (name, restype, argtypes) of every function of mird.h, in header order.
PROTOTYPES = (
    ("mird_version_number", c_uint, ()),
    ("mird_version_string", _str, ()),
    ("mird_status_string", _str, (mird_status,)),
    ("mird_last_error_message", _str, ()),
    ("mird_set_num_threads", mird_status, (c_int,)),
    ("mird_get_num_threads", c_int, ()),
    ("mird_set_log_callback", mird_status, (mird_log_fn, mird_log_level, c_void_p)),
    # configuration
    ("mird_config_create", mird_status, (POINTER(Config_p),)),
    ("mird_config_copy", mird_status, (Config_p, POINTER(Config_p))),
    ("mird_config_destroy", None, (Config_p,)),
    ("mird_config_preset", mird_status, (Config_p, _str)),
    ("mird_config_set_int", mird_status, (Config_p, mird_param, c_longlong)),
    ("mird_config_set_real", mird_status, (Config_p, mird_param, c_double)),
    ("mird_config_get_int", c_longlong, (Config_p, mird_param)),
    ("mird_config_get_real", c_double, (Config_p, mird_param)),
    ("mird_config_set", mird_status, (Config_p, _str, _str)),
    ("mird_param_name", _str, (mird_param,)),
    ("mird_param_from_name", mird_status, (_str, POINTER(mird_param))),
    ("mird_config_get_text", mird_status, (Config_p, mird_param, POINTER(c_char), c_size_t)),
    ("mird_config_error_message", _str, (Config_p,)),
    # batches
    ("mird_batch_create", mird_status, (Config_p, c_int64, POINTER(Batch_p))),
    ("mird_batch_destroy", None, (Batch_p,)),
    ("mird_batch_size", c_int64, (Batch_p,)),
    ("mird_batch_set_text", mird_status, (Batch_p, _floats, _i32, mird_ownership)),
    ("mird_batch_set_tokens", mird_status, (Batch_p, _i32, _i32, mird_ownership)),
    ("mird_batch_set_audio", mird_status, (Batch_p, _floats, _i32, mird_ownership)),
    ("mird_batch_set_vision", mird_status, (Batch_p, _floats, _i32, mird_ownership)),
    ("mird_batch_set_labels", mird_status, (Batch_p, _floats, _u8, mird_ownership)),
    ("mird_batch_error_message", _str, (Batch_p,)),
    # models, optimizers, steps, inference
    ("mird_model_create", mird_status, (Config_p, POINTER(Model_p))),
    ("mird_model_destroy", None, (Model_p,)),
    ("mird_model_error_message", _str, (Model_p,)),
    ("mird_model_get_config", mird_status, (Model_p, POINTER(Config_p))),
    ("mird_model_parameter_count", c_int64, (Model_p,)),
    ("mird_optimizer_create", mird_status, (Model_p, POINTER(Optimizer_p))),
    ("mird_optimizer_destroy", None, (Optimizer_p,)),
    ("mird_optimizer_set_total_steps", mird_status, (Optimizer_p, c_int64)),
    ("mird_optimizer_step_count", c_int64, (Optimizer_p,)),
    ("mird_term_name", _str, (mird_term,)),
    ("mird_step", mird_status, (Model_p, Optimizer_p, Batch_p, _doubles, c_size_t)),
    ("mird_infer", mird_status, (Model_p, Batch_p, _floats, _floats)),
    # datasets
    ("mird_split_name", _str, (mird_split,)),
    ("mird_dataset_create", mird_status, (Config_p, c_int64, _str, POINTER(Dataset_p))),
    ("mird_dataset_set_text", mird_status, (Dataset_p, _floats, _i32, mird_ownership)),
    ("mird_dataset_set_tokens", mird_status, (Dataset_p, _i32, _i32, mird_ownership)),
    ("mird_dataset_set_audio", mird_status, (Dataset_p, _floats, _i32, mird_ownership)),
    ("mird_dataset_set_vision", mird_status, (Dataset_p, _floats, _i32, mird_ownership)),
    ("mird_dataset_set_labels", mird_status, (Dataset_p, _floats, _u8, mird_ownership)),
    ("mird_dataset_set_ids", mird_status, (Dataset_p, POINTER(c_char_p))),
    ("mird_dataset_destroy", None, (Dataset_p,)),
    ("mird_dataset_size", c_int64, (Dataset_p,)),
    ("mird_dataset_error_message", _str, (Dataset_p,)),
    ("mird_dataset_apply_shapes", mird_status, (Dataset_p, Config_p)),
    ("mird_dataset_get_labels", mird_status, (Dataset_p, _floats, _u8)),
    ("mird_dataset_id", _str, (Dataset_p, c_int64)),
    ("mird_dataset_subset", mird_status, (Dataset_p, _i64, c_int64, POINTER(Dataset_p))),
    ("mird_dataset_fill_batch", mird_status, (Dataset_p, c_int64, c_int64, Batch_p)),
    ("mird_dataset_read_hdf5", mird_status, (_str, mird_split, _str, POINTER(Dataset_p))),
    ("mird_dataset_read_mfn", mird_status, (_str, mird_split, _str, POINTER(Dataset_p))),
    ("mird_dataset_read_csd", mird_status, (_str, _str, _str, _str, _str, POINTER(Dataset_p))),
    ("mird_dataset_synthetic", mird_status,
     (Config_p, mird_split, c_int64, c_uint64, _str, POINTER(Dataset_p))),
    ("mird_dataset_get_factors", mird_status, (Dataset_p, _floats)),
    # metrics and evaluation
    ("mird_metric_name", _str, (mird_metric,)),
    ("mird_metrics_compute", mird_status, (_floats, _floats, c_int64, _doubles, c_size_t)),
    ("mird_evaluate", mird_status, (Model_p, Dataset_p, _doubles, c_size_t, _floats)),
    # training loop
    ("mird_progress_event", mird_event, (Progress_p,)),
    ("mird_progress_epoch", c_int64, (Progress_p,)),
    ("mird_progress_step", c_int64, (Progress_p,)),
    ("mird_progress_total_steps", c_int64, (Progress_p,)),
    ("mird_progress_term", c_double, (Progress_p, mird_term)),
    ("mird_progress_metric", c_double, (Progress_p, mird_metric)),
    ("mird_progress_improved", c_int, (Progress_p,)),
    ("mird_progress_run", c_int64, (Progress_p,)),
    ("mird_report_destroy", None, (Report_p,)),
    ("mird_report_epochs", c_int64, (Report_p,)),
    ("mird_report_best_epoch", c_int64, (Report_p,)),
    ("mird_report_stop", mird_stop, (Report_p,)),
    ("mird_report_term", c_double, (Report_p, c_int64, mird_term)),
    ("mird_report_metric", c_double, (Report_p, c_int64, mird_metric)),
    ("mird_fit", mird_status,
     (Model_p, Optimizer_p, Dataset_p, Dataset_p, Dataset_p, mird_progress_fn, c_void_p,
      POINTER(Report_p))),
    ("mird_fit_seeds", mird_status,
     (Config_p, POINTER(c_uint64), c_size_t, Dataset_p, Dataset_p, Dataset_p, Dataset_p,
      mird_progress_fn, c_void_p, _doubles, _doubles, _doubles)),
    # checkpoints
    ("mird_model_save", mird_status, (Model_p, Optimizer_p, _str)),
    ("mird_model_load", mird_status, (_str, POINTER(Model_p))),
    ("mird_optimizer_load", mird_status, (Optimizer_p, _str)),
    ("mird_model_load_weights", mird_status, (Model_p, _str, _str, _str, _i64)),
    ("mird_checkpoint_metadata", mird_status,
     (_str, _str, POINTER(c_char), c_size_t, POINTER(c_size_t))),
)


class LibraryNotFoundError(OSError):
    """libmird could not be found or does not match this binding."""


def candidate_paths():
    """The places the library is looked for, in order (see the module docstring)."""
    paths = []
    explicit = os.environ.get("MIRD_LIBRARY")
    if explicit:
        paths.append(explicit)
    here = os.path.dirname(os.path.abspath(__file__))
    paths.extend(sorted(glob.glob(os.path.join(here, "libmird.so*"))))
    found = ctypes.util.find_library("mird")
    if found:
        paths.append(found)
    paths.append("libmird.so.%d" % ABI_MAJOR)
    return paths


def _declare(cdll):
    for name, restype, argtypes in PROTOTYPES:
        try:
            function = getattr(cdll, name)
        except AttributeError:
            raise LibraryNotFoundError(
                "%s lacks %s: it is older than this binding" % (cdll._name, name)) from None
        function.restype = restype
        function.argtypes = argtypes
    return cdll


def _open():
    explicit = os.environ.get("MIRD_LIBRARY")
    errors = []
    for path in candidate_paths():
        try:
            cdll = ctypes.CDLL(path)
        except OSError as error:
            if path == explicit:
                raise LibraryNotFoundError("MIRD_LIBRARY=%s cannot be loaded: %s"
                                           % (path, error)) from None
            errors.append(str(error))
            continue
        _declare(cdll)
        major = cdll.mird_version_number() // 10000
        if major != ABI_MAJOR:
            raise LibraryNotFoundError("%s is libmird %s; this binding needs major version %d"
                                       % (path, cdll.mird_version_string().decode(), ABI_MAJOR))
        return cdll
    raise LibraryNotFoundError("libmird not found (set MIRD_LIBRARY to its path); tried: "
                               + "; ".join(errors))


_lock = threading.Lock()
_library = None
_tracer = None


def lib():
    """The loaded library with every prototype declared (loaded on first call)."""
    global _library
    if _tracer is not None:
        return _tracer
    if _library is None:
        with _lock:
            if _library is None:
                _library = _open()
    return _library


class _Tracer:
    """Stands in for the library while tracing: records (name, args) per call."""

    def __init__(self, cdll, calls):
        self._cdll, self._calls = cdll, calls

    def __getattr__(self, name):
        function = getattr(self._cdll, name)

        def traced(*args):
            self._calls.append((name, args))
            return function(*args)
        return traced


@contextlib.contextmanager
def trace_calls():
    """For tests: yields a list that receives (function name, arguments) of
    every libmird call the binding makes inside the ``with`` block."""
    global _tracer
    cdll = lib()
    calls = []
    previous, _tracer = _tracer, _Tracer(cdll, calls)
    try:
        yield calls
    finally:
        _tracer = previous


def address(argument):
    """The address a pointer argument carries (for traced calls), or None."""
    if argument is None:
        return None
    return ctypes.cast(argument, c_void_p).value
