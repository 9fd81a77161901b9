"""mird: Python binding of libmird, which trains and runs MIRD, a multimodal
sentiment model with one modality-agnostic and three modality-specific codes.

The binding is ctypes over libmird's public C API (include/mird/mird.h, whose
comments are the reference for every call).  Importing it needs neither the
library nor numpy: the library is loaded on first use (see :mod:`mird._capi`
for where it is looked for; ``MIRD_LIBRARY=/path/to/libmird.so`` overrides),
and numpy, when installed, is used for arrays in and out.

::

    import mird
    train = mird.synthetic("demo", "train", size=512)
    valid = mird.synthetic("demo", "valid", size=128)
    reg = mird.MIRDRegressor("demo", epochs=10).fit(train, valid=valid)
    print(reg.evaluate(valid))                # {"mae": ..., "corr": ..., ...}

Lower down, the handles mirror the C API: :class:`Config`, :class:`Model`,
:class:`Optimizer`, :class:`Batch`, :class:`Dataset`, :class:`Report`; each
has close() and works as a context manager.  Failures raise a subclass of
:class:`MirdError` per status, carrying the library's message.

``python -m mird.convert_mmsa unaligned_50.pkl out.h5`` converts MMSA's
pickles to the HDF5 layout :meth:`Dataset.read_hdf5` reads.
"""

from ._capi import LibraryNotFoundError
from ._errors import (BackendError, CancelledError, FormatError, InternalError,
                      InvalidArgumentError, MirdError, MirdIOError, NonFiniteError,
                      NullArgumentError, OutOfMemoryError, ShapeError, StateError,
                      UnsupportedError, status_string)
from ._handles import Config, Optimizer, Report, Shapes
from ._batch import Batch
from ._dataset import Dataset, as_dataset
from ._model import CODES, Model
from ._names import metric_names, param_names, split_names, term_names
from ._runtime import (LOG_LEVELS, checkpoint_metadata, get_num_threads, set_log_callback,
                       set_num_threads, version, version_number)
from ._training import Progress, evaluate, fit, fit_seeds, metrics, predict
from .estimator import MIRDRegressor, NotFittedError

#: Readers and the synthetic generator, also as plain functions.
read_hdf5 = Dataset.read_hdf5
read_mfn = Dataset.read_mfn
read_csd = Dataset.read_csd
synthetic = Dataset.synthetic

__all__ = [
    "BackendError", "Batch", "CODES", "CancelledError", "Config", "Dataset", "FormatError",
    "InternalError", "InvalidArgumentError", "LOG_LEVELS", "LibraryNotFoundError",
    "MIRDRegressor", "MirdError", "MirdIOError", "Model", "NonFiniteError", "NotFittedError",
    "NullArgumentError", "Optimizer", "OutOfMemoryError", "Progress", "Report", "Shapes",
    "ShapeError", "StateError", "UnsupportedError", "as_dataset", "checkpoint_metadata",
    "evaluate", "fit", "fit_seeds", "get_num_threads", "metric_names", "metrics",
    "param_names", "predict", "read_csd", "read_hdf5", "read_mfn", "set_log_callback",
    "set_num_threads", "split_names", "status_string", "synthetic", "term_names", "version",
    "version_number",
]
