"""Run by test_no_numpy in a child interpreter where numpy cannot be
imported: trains, predicts and evaluates with array.array inputs, and prints
one JSON line of what it saw for the parent to check."""

import array
import json
import random
import sys


class BlockNumpy:
    """A meta path finder that makes every import of numpy fail."""

    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ImportError("numpy is blocked in this test")
        return None


sys.meta_path.insert(0, BlockNumpy())

import mird  # noqa: E402
from mird import _capi  # noqa: E402


def main():
    rng = random.Random(5)
    size = 24
    with mird.Config("tiny", epochs=2, batch_size=8) as cfg:
        s = cfg.shapes
        arrays = {}
        for name, length, dim in (("text", s.text_length, s.text_dim),
                                  ("audio", s.audio_length, s.audio_dim),
                                  ("vision", s.vision_length, s.vision_dim)):
            arrays[name] = array.array("f", (rng.gauss(0, 1) for _ in range(size * length * dim)))
            arrays[name + "_lengths"] = array.array("i", (rng.randint(1, length)
                                                          for _ in range(size)))
        arrays["labels"] = [rng.uniform(-3, 3) for _ in range(size)]  # a list: converted
        with _capi.trace_calls() as calls:
            train = mird.Dataset.from_arrays(arrays, config=cfg)
        audio_call = [args for name, args in calls if name == "mird_dataset_set_audio"][0]
        borrowed = _capi.address(audio_call[1]) == arrays["audio"].buffer_info()[0]
        with train, mird.Model(cfg) as model, model.optimizer() as optimizer:
            with mird.fit(model, optimizer, train) as report:
                epochs = report.epochs
            predictions = model.predict(train)
            codes = model.codes(train)
            labels, labeled = train.labels()
            metrics = mird.metrics(predictions, labels)
            try:
                cfg["audio_dim"] = "many"
                error = None
            except mird.InvalidArgumentError as caught:
                error = caught.message
        result = {
            "numpy_loaded": "numpy" in sys.modules,
            "borrowed": borrowed,
            "epochs": epochs,
            "predictions": [type(predictions).__name__, predictions.typecode, len(predictions)],
            "codes": [type(codes).__name__, len(codes), 4 * cfg["latent_dim"] * size],
            "labeled": list(labeled),
            "mae": metrics["mae"],
            "mae_check": sum(abs(p - y) for p, y in zip(predictions, labels)) / size,
            "error": error,
        }
    print(json.dumps(result))


main()
