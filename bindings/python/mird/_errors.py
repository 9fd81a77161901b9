"""Exceptions: one class per mird_status, carrying the library's message.

Every failing libmird call raises the class of its status.  Each class also
derives from the nearest built-in exception, so ``except ValueError`` catches
a shape mismatch and ``except OSError`` an unreadable file::

    try:
        cfg["lambda"] = "-1"
    except mird.InvalidArgumentError as error:
        print(error.status, error.status_name, error.message)
"""

from . import _capi


class MirdError(Exception):
    """A libmird call failed.

    Attributes: ``status`` (the mird_status value), ``status_name`` (its
    static text, e.g. "shape mismatch") and ``message`` (the detailed text the
    library recorded, e.g. "audio lengths[3] = 412 is outside 0..375")."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    @property
    def status_name(self):
        return status_string(self.status) if self.status is not None else "error"


class NullArgumentError(MirdError, TypeError):
    """MIRD_ERR_NULL_ARGUMENT: a required pointer or handle was NULL (a closed handle)."""
    status = 1


class InvalidArgumentError(MirdError, ValueError):
    """MIRD_ERR_INVALID_ARGUMENT: a value is out of its documented range."""
    status = 2


class ShapeError(MirdError, ValueError):
    """MIRD_ERR_SHAPE: sizes, lengths or shapes do not agree."""
    status = 3


class NonFiniteError(MirdError, ValueError):
    """MIRD_ERR_NONFINITE: an input (or the loss) holds NaN or infinity."""
    status = 4


class OutOfMemoryError(MirdError, MemoryError):
    """MIRD_ERR_OUT_OF_MEMORY: an allocation failed."""
    status = 5


class MirdIOError(MirdError, OSError):
    """MIRD_ERR_IO: a file could not be read or written."""
    status = 6


class FormatError(MirdError, ValueError):
    """MIRD_ERR_FORMAT: a file's contents are malformed."""
    status = 7


class StateError(MirdError, RuntimeError):
    """MIRD_ERR_STATE: the call is not valid in the handle's state."""
    status = 8


class UnsupportedError(MirdError, NotImplementedError):
    """MIRD_ERR_UNSUPPORTED: valid, but not supported by this build."""
    status = 9


class BackendError(MirdError, RuntimeError):
    """MIRD_ERR_BACKEND: the compute backend (oneDNN) failed."""
    status = 10


class CancelledError(MirdError):
    """MIRD_ERR_CANCELLED: a progress callback asked to stop.

    ``report`` holds the history of the epochs done (a :class:`mird.Report`)
    when the cancelled call was a fit; the model keeps the best parameters so
    far."""
    status = 11
    report = None


class InternalError(MirdError, RuntimeError):
    """MIRD_ERR_INTERNAL: a bug in libmird; please report it."""
    status = 12


_BY_STATUS = {cls.status: cls for cls in (
    NullArgumentError, InvalidArgumentError, ShapeError, NonFiniteError, OutOfMemoryError,
    MirdIOError, FormatError, StateError, UnsupportedError, BackendError, CancelledError,
    InternalError)}


def error_for(status, message):
    """The exception for a status and message (MirdError for an unknown status)."""
    return _BY_STATUS.get(status, MirdError)(message, status)


def status_string(status):
    """The library's static text for a status ("invalid argument", ...)."""
    return _capi.lib().mird_status_string(status).decode()


def check(status):
    """Raises the exception of a failed call (with the thread's last message)."""
    if status != 0:
        message = _capi.lib().mird_last_error_message().decode(errors="replace")
        raise error_for(status, message or status_string(status))

