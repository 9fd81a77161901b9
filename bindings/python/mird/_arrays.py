"""Arrays in and out of libmird, with numpy when it is there and without it.

Inputs.  An array that already has the C layout libmird reads (C-contiguous
float32 values, int32 lengths or token ids, uint8 masks) is handed to C as
it is, without a copy (MIRD_BORROW); the :class:`Input` returned keeps a
reference to it, and the handle that borrowed it keeps the Input, so the
memory outlives the borrow.  Anything else is converted once into a private
array of that layout, which is then borrowed the same way.  With numpy, any
array-like is accepted (shaped as documented, or flat with the right number
of elements); without numpy, any buffer-protocol object (array.array,
memoryview, a writable buffer) of the right size, or a flat or nested list.

Outputs are numpy arrays when numpy can be imported, else flat
``array.array`` objects (``"f"``, ``"d"`` or ``"B"``) in row-major order.

numpy is imported on first need, never at import of :mod:`mird`.
"""

import array
import ctypes
import math

from ._errors import ShapeError

_numpy = None
_numpy_checked = False


def numpy():
    """The numpy module, or None when it cannot be imported."""
    global _numpy, _numpy_checked
    if not _numpy_checked:
        try:
            import numpy as np
        except ImportError:
            np = None
        _numpy, _numpy_checked = np, True
    return _numpy


class Kind:
    """An element type libmird reads: its ctypes type, array.array code and
    numpy dtype name."""

    def __init__(self, ctype, code, dtype, integral):
        self.ctype, self.code, self.dtype, self.integral = ctype, code, dtype, integral


FLOAT32 = Kind(ctypes.c_float, "f", "float32", False)
INT32 = Kind(ctypes.c_int32, "i", "int32", True)
UINT8 = Kind(ctypes.c_uint8, "B", "uint8", True)
FLOAT64 = Kind(ctypes.c_double, "d", "float64", False)
INT64 = Kind(ctypes.c_int64, "q", "int64", True)
UINT64 = Kind(ctypes.c_uint64, "Q", "uint64", True)


class Input:
    """One array on its way into C.

    ``pointer`` is what is passed; ``keep`` is the object whose memory it
    points into; ``borrowed`` is True when that is the caller's own object
    (no copy was made)."""

    def __init__(self, pointer, keep, borrowed):
        self.pointer, self.keep, self.borrowed = pointer, keep, borrowed


def _describe(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def as_input(value, kind, shape, name):
    """An :class:`Input` for ``value`` as ``kind`` elements in ``shape``.

    Raises ShapeError when the size or shape differs, TypeError or ValueError
    when the values cannot be represented (a fractional length, ...)."""
    np = numpy()
    if np is not None:
        return _numpy_input(np, value, kind, tuple(shape), name)
    return _buffer_input(value, kind, tuple(shape), name)


def _numpy_input(np, value, kind, shape, name):
    source = np.asarray(value)
    count = math.prod(shape)
    if source.shape != shape and not (source.ndim == 1 and source.size == count):
        raise ShapeError("%s has shape %s, expected %s" % (name, _describe(source.shape),
                                                          _describe(shape)))
    if source.dtype.kind not in "biuf":
        raise TypeError("%s has dtype %s, expected numbers" % (name, source.dtype))
    converted = np.ascontiguousarray(source, dtype=kind.dtype)
    if kind.integral and converted is not source and not np.array_equal(converted, source):
        raise ValueError("%s holds values that are not %s" % (name, kind.dtype))
    # The caller's memory: their ndarray, or a buffer np.asarray wrapped
    # without copying (a list, by contrast, became a new array).
    callers = isinstance(value, np.ndarray) or not source.flags.owndata
    borrowed = callers and converted.ctypes.data == source.ctypes.data
    pointer = converted.ctypes.data_as(ctypes.POINTER(kind.ctype))
    return Input(pointer, converted, borrowed)


def _buffer_input(value, kind, shape, name):
    count = math.prod(shape)
    try:
        view = memoryview(value)
    except TypeError:
        view = None
    if view is not None and _native_format(view, kind) and view.c_contiguous:
        if view.nbytes != count * view.itemsize:
            raise ShapeError("%s holds %d values, expected %s = %d"
                             % (name, view.nbytes // view.itemsize, _describe(shape), count))
        if not view.readonly:
            buffer = (kind.ctype * count).from_buffer(view)
            return Input(ctypes.cast(buffer, ctypes.POINTER(kind.ctype)), buffer, True)
    values = _flatten(view if view is not None else value, name)
    if len(values) != count:
        raise ShapeError("%s holds %d values, expected %s = %d"
                         % (name, len(values), _describe(shape), count))
    if kind.integral and any(v != int(v) for v in values):
        raise ValueError("%s holds values that are not %s" % (name, kind.dtype))
    try:
        converted = array.array(kind.code, [int(v) if kind.integral else v for v in values])
    except OverflowError:
        raise ValueError("%s holds values that are not %s" % (name, kind.dtype)) from None
    buffer = (kind.ctype * count).from_buffer(converted)
    return Input(ctypes.cast(buffer, ctypes.POINTER(kind.ctype)), (converted, buffer), False)


def _native_format(view, kind):
    fmt = view.format.lstrip("@=")
    if kind.integral:
        signed = kind is INT32 or kind is INT64
        codes = "bhilq" if signed else "BHILQ?"
        return fmt in codes and view.itemsize == ctypes.sizeof(kind.ctype)
    return fmt == kind.code


def _flatten(value, name):
    flat = []
    stack = [value.tolist() if isinstance(value, memoryview) else value]
    while stack:
        item = stack.pop()
        if isinstance(item, (int, float)):
            flat.append(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif hasattr(item, "__iter__") and not isinstance(item, (str, bytes)):
            stack.extend(reversed(list(item)))
        else:
            raise TypeError("%s: cannot read %s as numbers" % (name, type(item).__name__))
    return flat


def output(kind, shape):
    """A new uninitialised result of ``shape``: (the object, a pointer to it)."""
    np = numpy()
    if np is not None:
        result = np.empty(shape, dtype=kind.dtype)
        return result, result.ctypes.data_as(ctypes.POINTER(kind.ctype))
    count = math.prod(shape)
    result = array.array(kind.code, bytes(count * ctypes.sizeof(kind.ctype)))
    buffer = (kind.ctype * count).from_buffer(result)
    return result, ctypes.cast(buffer, ctypes.POINTER(kind.ctype))

