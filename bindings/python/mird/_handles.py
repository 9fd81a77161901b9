"""The handle base class, and the configuration, optimizer and report handles.

Every handle owns one libmird object.  ``close()`` frees it (again: nothing
happens), ``with`` closes it at the end of the block, and the garbage
collector closes what was forgotten.  A closed handle raises ValueError when
used, as a closed file does.
"""

import collections
import ctypes
import math

from . import _capi, _names
from ._errors import check


class Handle:
    """Owns one libmird object; see the module docstring."""

    _destroy = None  # the C destructor's name
    _ptr = None

    def __init__(self, pointer):
        self._ptr = pointer

    @classmethod
    def _adopt(cls, pointer):
        handle = cls.__new__(cls)
        Handle.__init__(handle, pointer)
        return handle

    @property
    def closed(self):
        """True once close() was called."""
        return self._ptr is None

    def close(self):
        """Frees the library object; calling it again does nothing."""
        pointer, self._ptr = self._ptr, None
        if pointer:
            getattr(_capi.lib(), self._destroy)(pointer)

    def _live(self):
        if self._ptr is None:
            raise ValueError("operation on a closed %s" % type(self).__name__)
        return self._ptr

    def __enter__(self):
        self._live()
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone
            pass


def error_message_property(function_name):
    """The ``error_message`` property of a handle whose C object keeps one."""
    def error_message(self):
        """The message of the last failing call on this handle, or ""."""
        text = getattr(_capi.lib(), function_name)(self._live())
        return text.decode(errors="replace") if text else ""
    return property(error_message)


def new_handle(cls, pointer_type, constructor, *args):
    """cls adopting the object a C constructor writes through its last argument."""
    pointer = pointer_type()
    check(getattr(_capi.lib(), constructor)(*args, ctypes.byref(pointer)))
    return cls._adopt(pointer)


#: A configuration's padded shapes: what arrays for it look like.
Shapes = collections.namedtuple(
    "Shapes", "text_mode text_length text_dim audio_length audio_dim vision_length vision_dim")


class Config(Handle):
    """Every setting of a model and its training (mird_config).

    Settings are read and written by name, as a mapping::

        cfg = mird.Config("tiny", epochs=3)
        cfg["lambda"] = 0.1              # numbers, bools and choice names
        cfg["constraint"]                # -> "mim"
        dict(cfg)                        # every setting

    Values read back are int, float or str, parsed from the library's text.
    """

    _destroy = "mird_config_destroy"

    def __init__(self, preset=None, **settings):
        pointer = _capi.Config_p()
        check(_capi.lib().mird_config_create(ctypes.byref(pointer)))
        super().__init__(pointer)
        if preset is not None:
            self.preset(preset)
        self.update(settings)

    def copy(self):
        """An independent Config with the same settings."""
        return new_handle(Config, _capi.Config_p, "mird_config_copy", self._live())

    def preset(self, name):
        """Resets every setting, then applies a preset ("tiny", "demo", "mosi", ...)."""
        check(_capi.lib().mird_config_preset(self._live(), name.encode()))

    def __setitem__(self, name, value):
        check(_capi.lib().mird_config_set(self._live(), name.encode(),
                                          _names.setting_text(value).encode()))

    def update(self, settings=(), **more):
        """Sets several settings; stops at the first invalid one (settings
        before it stay set)."""
        for name, value in dict(settings, **more).items():
            self[name] = value

    def __getitem__(self, name):
        param = ctypes.c_int()
        try:
            check(_capi.lib().mird_param_from_name(name.encode(), ctypes.byref(param)))
        except ValueError:
            raise KeyError(name) from None
        return _names.parse_setting(self.text(param.value))

    def text(self, param):
        """A setting (name or mird_param) as the library writes it."""
        param = _names.index_of(param, _names.param_names(), "setting")
        buffer = ctypes.create_string_buffer(256)
        check(_capi.lib().mird_config_get_text(self._live(), param, buffer, len(buffer)))
        return buffer.value.decode()

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def keys(self):
        return _names.param_names()

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def __contains__(self, name):
        return name in self.keys()

    def items(self):
        return [(name, self[name]) for name in self.keys()]

    def to_dict(self):
        """Every setting by name."""
        return dict(self.items())

    @property
    def shapes(self):
        """The padded shapes arrays for this configuration have (:class:`Shapes`)."""
        return Shapes(*(self[name] for name in Shapes._fields))

    error_message = error_message_property("mird_config_error_message")

    def __repr__(self):
        if self.closed:
            return "<mird.Config closed>"
        return "<mird.Config %s>" % " ".join("%s=%s" % kv for kv in self.items())


class Optimizer(Handle):
    """AdamW and the estimators' Adam bound to one model (mird_optimizer).

    The model stays alive while its optimizer does, and closing the model
    closes its optimizers first."""

    _destroy = "mird_optimizer_destroy"

    def __init__(self, model):
        pointer = _capi.Optimizer_p()
        check(_capi.lib().mird_optimizer_create(model._live(), ctypes.byref(pointer)))
        super().__init__(pointer)
        self.model = model
        model._optimizers.add(self)

    def set_total_steps(self, total_steps):
        """The number of steps the learning-rate schedule spans (>= 1)."""
        check(_capi.lib().mird_optimizer_set_total_steps(self._live(), total_steps))

    @property
    def step_count(self):
        """Completed training steps with this optimizer."""
        return _capi.lib().mird_optimizer_step_count(self._live())

    def load(self, path):
        """Restores moments and step counts from a checkpoint saved with an optimizer."""
        check(_capi.lib().mird_optimizer_load(self._live(), _names.path_bytes(path)))


class Report(Handle):
    """A training run's history (mird_report), made by :func:`mird.fit`."""

    _destroy = "mird_report_destroy"

    @property
    def epochs(self):
        """Epochs run."""
        return _capi.lib().mird_report_epochs(self._live())

    @property
    def best_epoch(self):
        """The epoch whose parameters the model holds (0: no validation set)."""
        return _capi.lib().mird_report_best_epoch(self._live())

    @property
    def stop(self):
        """How the run ended: "epochs", "patience" or "cancelled"."""
        return _names.STOPS[_capi.lib().mird_report_stop(self._live())]

    def term(self, epoch, term):
        """Mean training term (name or mird_term) of an epoch (from 1); NaN if none."""
        index = _names.index_of(term, _names.term_names(), "term")
        return _capi.lib().mird_report_term(self._live(), epoch, index)

    def metric(self, epoch, metric):
        """Validation metric (name or mird_metric) of an epoch; NaN without validation."""
        index = _names.index_of(metric, _names.metric_names(), "metric")
        return _capi.lib().mird_report_metric(self._live(), epoch, index)

    def history(self):
        """One dict per epoch: {"epoch", "terms": {name: value}, "metrics": {...}}."""
        return [{"epoch": epoch,
                 "terms": {name: self.term(epoch, name) for name in _names.term_names()},
                 "metrics": {name: self.metric(epoch, name) for name in _names.metric_names()}}
                for epoch in range(1, self.epochs + 1)]

    def losses(self):
        """The mean total loss of every epoch, in order."""
        return [self.term(epoch, "total") for epoch in range(1, self.epochs + 1)]

    def __repr__(self):
        if self.closed:
            return "<mird.Report closed>"
        best = self.best_epoch
        mae = self.metric(best, "mae") if best else math.nan
        return "<mird.Report epochs=%d best_epoch=%d stop=%s best_mae=%g>" % (
            self.epochs, best, self.stop, mae)

