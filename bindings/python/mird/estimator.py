"""MIRDRegressor: MIRD as a scikit-learn style estimator (scikit-learn is
not needed, but get_params/set_params make it clone-able and usable in its
model-selection tools).

::

    reg = mird.MIRDRegressor("demo", epochs=10, lambda_=3)   # or **{"lambda": 3}
    reg.fit(train, valid=valid)
    predictions = reg.predict(test)       # [N]
    codes = reg.transform(test)           # [N, 4, latent_dim]: z^S, z^L, z^A, z^V
    reg.score(test)                       # -MAE (greater is better)
    reg.evaluate(test)                    # every MMSA metric, by name

Data ("train", "test", ...) is a :class:`mird.Dataset`, a dict of arrays
(``{"text", "text_lengths", "audio", ..., "labels"}``), a path (an MMSA HDF5
file, or a directory of MFN files) or a (path, split) pair; a path alone is
read at the split of its role: "train" for fit's train and unlabeled,
"valid" for valid, "test" otherwise.

``score`` returns one float, as scikit-learn expects: by default the
negative mean absolute error, or the metric named by ``scoring`` --
"neg_mae", "neg_mse", or one of the greater-is-better metrics "corr",
"acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc5", "acc7".
"""

from ._dataset import as_dataset
from ._errors import CancelledError
from ._handles import Config, Optimizer
from ._model import Model
from ._training import evaluate, fit

_NEGATED = {"neg_mae": "mae", "neg_mse": "mse"}
_GREATER_IS_BETTER = ("corr", "acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc5", "acc7")


class NotFittedError(ValueError, AttributeError):
    """The estimator was used before fit() (or load())."""


class MIRDRegressor:
    """A MIRD model trained by fit(), with predict/transform/score.

    preset: a mird_config_preset name ("demo", "tiny", "mosi", ...) or None
    for the defaults; scoring: what score() returns (module docstring);
    settings: any mird_config_set names and values, applied over the preset
    (a trailing underscore is dropped, so ``lambda_=3`` means "lambda").
    The padded shapes always come from the training data.

    After fit: ``model_`` (a :class:`mird.Model`), ``history_`` (one dict per
    epoch: mean training terms and validation metrics), ``best_epoch_`` and
    ``stop_`` ("epochs", "patience" or "cancelled")."""

    def __init__(self, preset="demo", scoring="neg_mae", **settings):
        self.preset = preset
        self.scoring = scoring
        self.settings = {name.rstrip("_"): value for name, value in settings.items()}
        self.model_ = None

    # -- scikit-learn's parameter protocol ---------------------------------
    def get_params(self, deep=True):
        """The constructor's arguments, settings flattened in."""
        return dict(preset=self.preset, scoring=self.scoring, **self.settings)

    def set_params(self, **params):
        """Changes constructor arguments (takes effect at the next fit)."""
        for name, value in params.items():
            if name in ("preset", "scoring"):
                setattr(self, name, value)
            else:
                self.settings[name.rstrip("_")] = value
        return self

    def __repr__(self):
        arguments = ", ".join("%s=%r" % item for item in self.get_params().items())
        return "MIRDRegressor(%s)" % arguments

    def _config(self):
        config = Config(self.preset)
        try:
            config.update(self.settings)
        except BaseException:
            config.close()
            raise
        return config

    # -- training and use ---------------------------------------------------
    def fit(self, train, valid=None, unlabeled=None, progress=None):
        """Trains a new model (mird_fit); returns self.

        progress: a callable taking a :class:`mird.Progress` after every
        step and epoch.  Returning True stops training early: the model keeps
        the best parameters so far and ``stop_`` is "cancelled" (no error).
        An exception it raises propagates."""
        self.close()
        with self._config() as config:
            owned = []

            def read(data, split):
                if data is None:
                    return None
                dataset, is_owned = as_dataset(data, config, split)
                if is_owned:
                    owned.append(dataset)
                return dataset
            try:
                train = read(train, "train")
                train.apply_shapes(config)
                valid, unlabeled = read(valid, "valid"), read(unlabeled, "train")
                self.model_ = Model(config)
                self._train(train, valid, unlabeled, progress)
            finally:
                for dataset in owned:
                    dataset.close()
        return self

    def _train(self, train, valid, unlabeled, progress):
        with Optimizer(self.model_) as optimizer:
            try:
                report = fit(self.model_, optimizer, train, valid, unlabeled, progress)
            except CancelledError as error:
                report = error.report
            with report:
                self.history_ = report.history()
                self.best_epoch_, self.stop_ = report.best_epoch, report.stop

    def _fitted(self):
        if self.model_ is None or self.model_.closed:
            raise NotFittedError("this MIRDRegressor is not fitted yet: call fit() or load()")
        return self.model_

    def predict(self, data):
        """Predictions [N] for every sample of `data`."""
        return self._fitted().predict(data)

    def transform(self, data):
        """The codes [N, 4, latent_dim] (z^S, z^L, z^A, z^V) of every sample."""
        return self._fitted().codes(data)

    def fit_transform(self, train, **fit_arguments):
        """fit(train, ...), then transform(train)."""
        return self.fit(train, **fit_arguments).transform(train)

    def evaluate(self, data):
        """Every MMSA metric on the labeled samples of `data`: {name: value}."""
        return evaluate(self._fitted(), data)

    def score(self, data):
        """One number, greater is better: -MAE by default, see `scoring`."""
        metrics = self.evaluate(data)
        if self.scoring in _NEGATED:
            return -metrics[_NEGATED[self.scoring]]
        if self.scoring in _GREATER_IS_BETTER:
            return metrics[self.scoring]
        raise ValueError("unknown scoring %r (%s)" % (
            self.scoring, ", ".join(tuple(_NEGATED) + _GREATER_IS_BETTER)))

    # -- persistence --------------------------------------------------------
    def save(self, path):
        """Writes the fitted model as a checkpoint (its configuration included)."""
        self._fitted().save(path)

    @classmethod
    def load(cls, path, scoring="neg_mae"):
        """An estimator holding the checkpoint's model; its settings are the
        checkpoint's whole configuration, so a refit starts from the same."""
        model = Model.load(path)
        with model.config as config:
            estimator = cls(preset=None, scoring=scoring, **config.to_dict())
        estimator.model_ = model
        return estimator

    def close(self):
        """Frees the fitted model now (the estimator can be fitted again)."""
        if self.model_ is not None:
            self.model_.close()
            self.model_ = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
