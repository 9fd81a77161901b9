"""Process-wide settings and queries: version, threads, logging, checkpoint
metadata.

The log callback receives (level, message) with level one of
:data:`LOG_LEVELS`; it may be called from any thread that is inside a
libmird call, so it should be quick.  An exception it raises cannot reach the
caller (it is reported through ``sys.unraisablehook``, as ctypes does).
"""

import ctypes

from . import _capi, _names
from ._errors import ShapeError, check

LOG_LEVELS = ("error", "warning", "info", "debug")

# The C function object of the installed log callback: libmird holds it
# until it is replaced, so it must live here until then.
_log_function = None


def version():
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return _capi.lib().mird_version_string().decode()


def version_number():
    """The loaded library's version as MAJOR * 10000 + MINOR * 100 + PATCH."""
    return _capi.lib().mird_version_number()


def set_num_threads(count):
    """Threads libmird's compute uses (1..1024; 0 restores the default)."""
    check(_capi.lib().mird_set_num_threads(count))


def get_num_threads():
    """Threads libmird's compute uses now."""
    return _capi.lib().mird_get_num_threads()


def set_log_callback(callback, max_level="info"):
    """Sends libmird's diagnostics up to `max_level` to callback(level,
    message); None removes it."""
    global _log_function
    level = _names.index_of(max_level, LOG_LEVELS, "log level")
    function = _capi.mird_log_fn()  # NULL: no callback
    if callback is not None:
        def deliver(level, message, user_data):
            name = LOG_LEVELS[level] if 0 <= level < len(LOG_LEVELS) else level
            callback(name, message.decode(errors="replace"))
        function = _capi.mird_log_fn(deliver)
    check(_capi.lib().mird_set_log_callback(function, level, None))
    _log_function = function


def checkpoint_metadata(path, key):
    """One metadata value of a safetensors file ("mird.version", "mird.config.hidden", ...)."""
    needed = ctypes.c_size_t()
    path, key = _names.path_bytes(path), key.encode()
    buffer = ctypes.create_string_buffer(256)
    while True:
        try:
            check(_capi.lib().mird_checkpoint_metadata(path, key, buffer, len(buffer),
                                                       ctypes.byref(needed)))
            return buffer.value.decode()
        except ShapeError:
            if needed.value <= len(buffer):
                raise
            buffer = ctypes.create_string_buffer(needed.value)
