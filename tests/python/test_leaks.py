"""Repeatedly creating and freeing handles does not grow the process.

Growth is measured as the bytes malloc has handed out (glibc's mallinfo2),
not the resident size: freed memory stays resident and absorbs small leaks
without a trace in RSS.  Where mallinfo2 is missing, the resident size from
/proc/self/statm stands in.  The bound is ten times what one round's
smallest handle holds, measured here, so leaking it every round (200 rounds)
would exceed the bound twenty times over."""

import ctypes
import gc
import os
import unittest

import mird


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _heap_meter():
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        mallinfo2 = None
    if mallinfo2 is not None:
        mallinfo2.restype = _MallInfo2

        def heap_bytes():
            info = mallinfo2()
            return info.uordblks + info.hblkhd  # small chunks in use + mmapped chunks
        return heap_bytes
    if os.path.exists("/proc/self/statm"):
        def resident_bytes():
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return resident_bytes
    return None


in_use = _heap_meter()


@unittest.skipUnless(in_use, "no way to measure memory in use here")
class LeakTest(unittest.TestCase):
    # oneDNN keeps recently built primitives in a bounded cache (1024 by
    # default), and every new model adds some until it is full: the first
    # rounds grow the heap by megabytes, then it stays flat.
    warm_up_rounds = 100

    def held_by(self, make, count=10):
        """Bytes one handle made by make() holds."""
        before = in_use()
        handles = [make() for _ in range(count)]
        held = (in_use() - before) / count
        for handle in handles:
            handle.close()
        self.assertGreater(held, 0, "the calibration measured nothing")
        return held

    def assert_bounded(self, one_round, smallest, rounds=200):
        for _ in range(self.warm_up_rounds):
            one_round()
        gc.collect()
        before = in_use()
        for _ in range(rounds):
            one_round()
        gc.collect()
        growth = in_use() - before
        self.assertLess(growth, 10 * smallest, "%.1f kB over %d rounds; the bound is %.1f kB"
                        % (growth / 1e3, rounds, 10 * smallest / 1e3))

    def test_models_and_datasets_closed(self):
        def one_round():
            with mird.Config("demo") as cfg, mird.Model(cfg) as model:
                with model.optimizer(), mird.synthetic(cfg, size=64) as data:
                    model.predict(data)
        with mird.Config("demo") as cfg:
            dataset = self.held_by(lambda: mird.synthetic(cfg, size=64))
        self.assert_bounded(one_round, dataset)

    def test_handles_left_to_the_garbage_collector(self):
        def one_round():
            model = mird.Model(mird.Config("demo"))
            mird.Optimizer(model)
            model.predict(mird.synthetic(model, size=64))
        with mird.Config("demo") as cfg:
            dataset = self.held_by(lambda: mird.synthetic(cfg, size=64))
        self.assert_bounded(one_round, dataset)

    def test_configs_and_batches(self):
        def one_round():
            with mird.Config("demo") as cfg, cfg.copy() as copy, mird.Batch(copy, 4) as batch:
                batch.size
        config = self.held_by(lambda: mird.Config("demo"), count=100)
        self.assert_bounded(one_round, config, rounds=2000)


if __name__ == "__main__":
    unittest.main()
