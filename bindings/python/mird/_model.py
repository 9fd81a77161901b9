"""Models (mird_model): training steps, inference, checkpoints.

::

    with mird.Model("tiny") as model, mird.Optimizer(model) as opt:
        terms = model.step(opt, batch)          # {"total": ..., "task": ..., ...}
        predictions, codes = model.infer(batch)  # [B], [B, 4, latent_dim]
        model.save("run.safetensors", opt)
"""

import ctypes
import weakref

from . import _capi, _names, _training
from ._arrays import FLOAT32, output
from ._dataset import as_dataset
from ._errors import check
from ._handles import Config, Handle, Optimizer, error_message_property, new_handle

#: Codes per sample: z^S (shared), z^L, z^A, z^V, in that order.
CODES = ("shared", "language", "acoustic", "visual")


class Model(Handle):
    """MIRD's parameters and workspaces.

    Model(config, **settings): `config` is a Config or a preset name, and
    settings (by mird_config_set name) are applied on top of it; the model
    keeps its own copy of the configuration."""

    _destroy = "mird_model_destroy"

    def __init__(self, config, **settings):
        owned = None
        if isinstance(config, str) or settings:
            owned = Config(config) if isinstance(config, str) else config.copy()
            config = owned
        try:
            if owned is not None:
                owned.update(settings)
            pointer = _capi.Model_p()
            check(_capi.lib().mird_model_create(config._live(), ctypes.byref(pointer)))
        finally:
            if owned is not None:
                owned.close()
        super().__init__(pointer)
        self._optimizers = weakref.WeakSet()

    @classmethod
    def _adopt(cls, pointer):
        model = super()._adopt(pointer)
        model._optimizers = weakref.WeakSet()
        return model

    @classmethod
    def load(cls, path):
        """A model with the configuration and parameters of a checkpoint."""
        return new_handle(cls, _capi.Model_p, "mird_model_load", _names.path_bytes(path))

    def close(self):
        """Closes the model's optimizers, then the model (again: nothing happens)."""
        for optimizer in list(getattr(self, "_optimizers", ())):
            optimizer.close()
        super().close()

    def optimizer(self):
        """A new :class:`Optimizer` for this model."""
        return Optimizer(self)

    @property
    def config(self):
        """A copy of the model's configuration (a new Config)."""
        return new_handle(Config, _capi.Config_p, "mird_model_get_config", self._live())

    @property
    def parameter_count(self):
        """Learnable values, estimators included."""
        return _capi.lib().mird_model_parameter_count(self._live())

    error_message = error_message_property("mird_model_error_message")

    def _latent_dim(self):
        with self.config as config:
            return config["latent_dim"]

    def step(self, optimizer, batch):
        """One training step on a batch; returns {term name: value} (NaN where
        a term does not apply)."""
        names = _names.term_names()
        terms = (ctypes.c_double * len(names))()
        check(_capi.lib().mird_step(self._live(), optimizer._live(), batch._live(), terms,
                                    len(names)))
        return dict(zip(names, terms))

    def infer(self, batch):
        """(predictions [B], codes [B, 4, latent_dim]) in inference mode; codes
        hold z^S, z^L, z^A, z^V per sample (flat when numpy is absent)."""
        size = len(batch)
        predictions, predictions_pointer = output(FLOAT32, (size,))
        codes, codes_pointer = output(FLOAT32, (size, len(CODES), self._latent_dim()))
        check(_capi.lib().mird_infer(self._live(), batch._live(), predictions_pointer,
                                     codes_pointer))
        return predictions, codes

    def predict(self, data):
        """Predictions [N] for every sample of `data` (a Dataset, a dict of
        arrays, a path, or a (path, split) pair; a path is read at "test")."""
        return _training.predict(self, data)

    def codes(self, data, batch_size=256):
        """The four codes [N, 4, latent_dim] of every sample of `data`."""
        dataset, owned = as_dataset(data, self, "test")
        try:
            return self._codes(dataset, batch_size)
        finally:
            if owned:
                dataset.close()

    def _codes(self, dataset, batch_size):
        width = len(CODES) * self._latent_dim()
        codes, codes_pointer = output(FLOAT32, (len(dataset), len(CODES), width // len(CODES)))
        base = _capi.address(codes_pointer)
        size_of = ctypes.sizeof(ctypes.c_float)
        with self.config as config:
            for first, batch in dataset.batches(config, batch_size):
                predictions, predictions_pointer = output(FLOAT32, (len(batch),))
                target = ctypes.cast(base + first * width * size_of, ctypes.POINTER(ctypes.c_float))
                check(_capi.lib().mird_infer(self._live(), batch._live(), predictions_pointer,
                                             target))
        return codes

    def evaluate(self, data):
        """The MMSA metrics on the labeled samples of `data`: {name: value}."""
        return _training.evaluate(self, data)

    def save(self, path, optimizer=None):
        """Writes a checkpoint (atomically); with an optimizer, its state too."""
        check(_capi.lib().mird_model_save(self._live(), None if optimizer is None
                                          else optimizer._live(), _names.path_bytes(path)))

    def load_weights(self, path, from_prefix="", to_prefix=""):
        """Loads pretrained tensors by name prefix (e.g. "bert." -> "agnostic.");
        returns how many loaded."""
        loaded = ctypes.c_int64()
        check(_capi.lib().mird_model_load_weights(self._live(), _names.path_bytes(path),
                                                  from_prefix.encode(), to_prefix.encode(),
                                                  ctypes.byref(loaded)))
        return loaded.value

    def __repr__(self):
        if self.closed:
            return "<mird.Model closed>"
        return "<mird.Model %d parameters>" % self.parameter_count
