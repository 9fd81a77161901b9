"""Shared helpers of the binding's tests: optional numpy, small data, and
running a child Python with the same environment."""

import os
import subprocess
import sys
import unittest

import mird

try:
    import numpy as np
except ImportError:  # the binding works without numpy; these tests skip
    np = None

needs_numpy = unittest.skipUnless(np is not None, "numpy is not installed for %s"
                                  % sys.executable)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
HEADER = os.path.join(SOURCE_DIR, "include", "mird", "mird.h")


def random_arrays(shapes, size, seed=0):
    """A dict of arrays in `shapes` (mird.Shapes) whose labels follow the
    mean of the text features, so that a model can learn them."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, length, dim in (("text", shapes.text_length, shapes.text_dim),
                              ("audio", shapes.audio_length, shapes.audio_dim),
                              ("vision", shapes.vision_length, shapes.vision_dim)):
        arrays[name] = rng.standard_normal((size, length, dim)).astype(np.float32)
        lengths = rng.integers(1, length + 1, size).astype(np.int32)
        for i, n in enumerate(lengths):
            arrays[name][i, n:] = 0
        arrays[name + "_lengths"] = lengths
    arrays["labels"] = np.clip(10 * arrays["text"].mean(axis=(1, 2)), -3, 3).astype(np.float32)
    return arrays


def run_python(code, env=None):
    """Runs `code` in a child interpreter (this one) with the test's
    environment plus `env`; returns the CompletedProcess."""
    child_env = dict(os.environ)
    child_env.update(env or {})
    return subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True,
                          text=True, timeout=300)


class Closing:
    """Mixin: self.closing(handle) closes it at the test's end."""

    def closing(self, handle):
        self.addCleanup(handle.close)
        return handle


def tiny(**settings):
    """A tiny-preset Config with settings, closed by the caller."""
    return mird.Config("tiny", **settings)
