"""Batches (mird_batch), and the array setters batches and datasets share.

A setter hands C the caller's array when it already has libmird's layout
(C-contiguous float32 values, int32 lengths and ids): C borrows it, and the
handle keeps a reference to it until the field is set again or the handle is
closed, so the array cannot vanish under C.  Do not write into an array a
handle borrows.  Other arrays are converted once into a private array that
is borrowed the same way; ``copy=True`` makes C take its own copy instead
and keeps no reference.
"""

import contextlib
import ctypes

from . import _capi
from ._arrays import FLOAT32, INT32, UINT8, as_input
from ._errors import check
from ._handles import Config, Handle, error_message_property

MIRD_BORROW, MIRD_COPY = 0, 1

#: The keys from_arrays reads, besides "ids" for datasets.
ARRAY_KEYS = ("text", "tokens", "text_lengths", "audio", "audio_lengths", "vision",
              "vision_lengths", "labels", "labeled")


class Fields:
    """The setters of a handle whose samples are padded arrays (mixed into
    Batch and Dataset, which set ``_prefix``, ``_shapes`` and ``_size``)."""

    _prefix = None
    _kept = None

    def _init_fields(self, shapes, size):
        self._shapes, self._size, self._kept = shapes, size, {}

    def close(self):
        """Frees the library object, then lets go of the arrays it borrowed."""
        super().close()
        self._kept = {}

    def _set(self, function, field, inputs, copy):
        function = getattr(_capi.lib(), self._prefix + function)
        check(function(self._live(), *(item.pointer if item else None for item in inputs),
                       MIRD_COPY if copy else MIRD_BORROW))
        # Only a successful setter replaces what C points to.
        if copy:
            self._kept.pop(field, None)
        else:
            self._kept[field] = inputs

    def _sequence(self, name, values, lengths, length, dim, copy):
        n = self._size
        self._set("set_" + name, name, (as_input(values, FLOAT32, (n, length, dim), name),
                                        as_input(lengths, INT32, (n,), name + "_lengths")), copy)

    def set_text(self, features, lengths, copy=False):
        """Text features [N, text_length, text_dim] and lengths [N] (features mode)."""
        s = self._shapes
        self._sequence("text", features, lengths, s.text_length, s.text_dim, copy)

    def set_tokens(self, ids, lengths, copy=False):
        """Token ids [N, text_length], [CLS] first, and lengths [N] (tokens mode)."""
        n = self._size
        self._set("set_tokens", "text", (as_input(ids, INT32, (n, self._shapes.text_length),
                                                  "tokens"),
                                         as_input(lengths, INT32, (n,), "text_lengths")), copy)

    def set_audio(self, audio, lengths, copy=False):
        """Acoustic frames [N, audio_length, audio_dim] and lengths [N]."""
        s = self._shapes
        self._sequence("audio", audio, lengths, s.audio_length, s.audio_dim, copy)

    def set_vision(self, vision, lengths, copy=False):
        """Visual frames [N, vision_length, vision_dim] and lengths [N]."""
        s = self._shapes
        self._sequence("vision", vision, lengths, s.vision_length, s.vision_dim, copy)

    def set_labels(self, labels, labeled=None, copy=False):
        """Labels [N] and an optional 0/1 mask [N] of which samples carry one
        (None: all do; NaN is fine where the mask is 0)."""
        n = self._size
        mask = None if labeled is None else as_input(labeled, UINT8, (n,), "labeled")
        self._set("set_labels", "labels", (as_input(labels, FLOAT32, (n,), "labels"), mask), copy)

    def _fill(self, arrays, copy):
        unknown = set(arrays) - set(ARRAY_KEYS) - {"ids"}
        if unknown:
            raise KeyError("unknown array keys: %s (expected %s)"
                           % (", ".join(sorted(unknown)), ", ".join(ARRAY_KEYS)))
        if arrays.get("tokens") is not None:
            self.set_tokens(arrays["tokens"], arrays["text_lengths"], copy)
        else:
            self.set_text(arrays["text"], arrays["text_lengths"], copy)
        self.set_audio(arrays["audio"], arrays["audio_lengths"], copy)
        self.set_vision(arrays["vision"], arrays["vision_lengths"], copy)
        if arrays.get("labels") is not None:
            self.set_labels(arrays["labels"], arrays.get("labeled"), copy)

    @property
    def shapes(self):
        """The padded shapes of this handle's arrays (:class:`mird.Shapes`)."""
        return self._shapes

    @property
    def size(self):
        """The number of samples, as the library counts them."""
        return getattr(_capi.lib(), self._prefix + "size")(self._live())

    def __len__(self):
        return self._size


@contextlib.contextmanager
def config_for(source):
    """A Config for the block: `source` itself, or, closed at the end, a copy
    of a Model's configuration or a new Config of a preset name."""
    if isinstance(source, Config):
        yield source
        return
    config = Config(source) if isinstance(source, str) else source.config
    try:
        yield config
    finally:
        config.close()


class Batch(Fields, Handle):
    """B padded samples for mird_step and mird_infer (mird_batch).

    ::

        batch = mird.Batch(cfg, 8)
        batch.set_text(text, text_lengths)          # borrowed when float32/int32
        batch.set_audio(audio, audio_lengths)
        batch.set_vision(vision, vision_lengths)
        batch.set_labels(labels)
    """

    _destroy = "mird_batch_destroy"
    _prefix = "mird_batch_"

    def __init__(self, config, size):
        """An empty batch of `size` samples shaped by `config` (a Config,
        Model or preset name)."""
        with config_for(config) as config:
            pointer = _capi.Batch_p()
            check(_capi.lib().mird_batch_create(config._live(), size, ctypes.byref(pointer)))
            Handle.__init__(self, pointer)
            self._init_fields(config.shapes, size)

    @classmethod
    def from_arrays(cls, config, arrays, copy=False):
        """A batch filled from a dict with the keys text (or tokens),
        text_lengths, audio, audio_lengths, vision, vision_lengths and
        optionally labels and labeled; its size is len(text_lengths)."""
        batch = cls(config, len(arrays["text_lengths"]))
        try:
            batch._fill(arrays, copy)
        except BaseException:
            batch.close()
            raise
        return batch

    error_message = error_message_property("mird_batch_error_message")

    def __repr__(self):
        return "<mird.Batch %s>" % ("closed" if self.closed else "of %d" % self._size)
