"""The binding without numpy: a child interpreter that cannot import numpy
trains and predicts with array.array inputs and gets array.array results."""

import json
import os
import unittest

from binding_support import HERE, run_python


class NoNumpyTest(unittest.TestCase):
    def test_training_and_prediction_with_array_array(self):
        with open(os.path.join(HERE, "no_numpy_child.py")) as child:
            result = run_python(child.read())
        self.assertEqual(result.returncode, 0, result.stderr)
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        self.assertFalse(seen["numpy_loaded"])
        self.assertTrue(seen["borrowed"], "array.array float32 data reaches C uncopied")
        self.assertEqual(seen["epochs"], 2)
        self.assertEqual(seen["predictions"], ["array", "f", 24])
        self.assertEqual(seen["codes"][0], "array")
        self.assertEqual(seen["codes"][1], seen["codes"][2])
        self.assertEqual(seen["labeled"], [1] * 24)
        self.assertAlmostEqual(seen["mae"], seen["mae_check"], places=5)
        self.assertIn("audio_dim", seen["error"])


if __name__ == "__main__":
    unittest.main()
