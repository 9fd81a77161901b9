#!/usr/bin/python3
"""The PyTorch side of bench/: MIRD's mosi preset in the reference port, timed as mird_bench times
libmird.

The model is tests/reference/mird_torch.py's, imported as it is; only its decoders' recurrence is
switched between two variants (see FoldedLstmDecoder):
  cell  the reference Decoder unchanged: an explicit LSTM-cell loop, the released code's style
  lstm  every recurrence through nn.LSTM's kernel (the encoders already use nn.LSTM)

  torch_bench.py sweep [--threads 1 2] [--quick] [--out FILE]   everything, one fresh process each
  torch_bench.py one --measure step --estimator cached --variant lstm --threads 2 --blas-threads 1
  torch_bench.py check                                          the two variants agree (tiny preset)

Run it with Debian's /usr/bin/python3 (python3-torch 1.13, CPU). Every measurement prints one line
    RESULT side=torch measure=step estimator=cached variant=lstm batch=144 ... median_ms=...
(key=value, no spaces inside values); bench/report.py turns these into the table.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REFERENCE_DIR = BENCH_DIR.parent / "tests" / "reference"

# The measured batch: the mosi preset at full padded length, 48 labeled and 96 unlabeled.
STEP_BATCH = 144
STEP_LABELED = 48
INFER_BATCHES = (1, 64)
VARIANTS = ("lstm", "cell")
ESTIMATOR_INPUTS = ("recompute", "cached")
SEED = 1

# (warm-up, repeats) per measurement; a mosi step takes seconds in PyTorch, so its count is small.
REPEATS = {"step": (1, 3), "infer1": (3, 15), "infer64": (1, 5)}
QUICK_REPEATS = {"step": (1, 1), "infer1": (1, 3), "infer64": (1, 1)}

# Debian's OpenBLAS 0.3.21 takes these cores for an older type; Cooperlake selects its AVX-512
# kernels (DESIGN.md section 6).
DEFAULT_CORETYPE = "Cooperlake"


# ---------------------------------------------------------------------------------------------
# The model and batch (imported lazily: the sweep driver itself never loads torch)
# ---------------------------------------------------------------------------------------------
def load_reference():
    sys.path.insert(0, str(REFERENCE_DIR))
    import mird_torch
    return mird_torch


def folded_lstm_decoder_class(mird_torch):
    import torch

    class FoldedLstmDecoder(mird_torch.Decoder):
        """The decoder recurrence x_0 = u, x_t = h_{t-1} as one call of nn.LSTM's kernel.

        nn.LSTM over the inputs [u, 0, 0, ...] with W_hh replaced by W_ih + W_hh computes, at
        t = 0, W_ih u + (W_ih + W_hh) 0 and, at t >= 1, W_ih 0 + (W_ih + W_hh) h_{t-1}: exactly
        the reference's gates. The sum is formed on every call, so gradients reach both
        matrices and the parameters (and their names) stay the reference's.
        """

        def hidden_states(self, u, steps):
            lstm = self.lstm
            batch, width = u.shape
            inputs = torch.cat([u.unsqueeze(1), u.new_zeros(batch, steps - 1, width)], dim=1)
            initial = u.new_zeros(1, batch, width)
            weights = [lstm.weight_ih_l0, lstm.weight_ih_l0 + lstm.weight_hh_l0,
                       lstm.bias_ih_l0, lstm.bias_hh_l0]
            # the positional arguments nn.LSTM.forward passes: has_biases, num_layers,
            # dropout, train, bidirectional, batch_first
            output, _, _ = torch.lstm(inputs, (initial, initial), weights,
                                      True, 1, 0.0, self.training, False, True)
            return output

    return FoldedLstmDecoder


def build_model(mird_torch, cfg, variant):
    """The reference's build_model, with the decoders of `variant`."""
    if variant == "cell":
        return mird_torch.build_model(cfg, SEED)
    reference_decoder = mird_torch.Decoder
    # Decoders() looks the class up in the module at construction time.
    mird_torch.Decoder = folded_lstm_decoder_class(mird_torch)
    try:
        return mird_torch.build_model(cfg, SEED)
    finally:
        mird_torch.Decoder = reference_decoder


def synthetic_batch(cfg, batch_size, labeled_count, seed):
    """N(0, 1) features, every length the padded length, the first `labeled_count` labeled."""
    import torch
    gen = torch.Generator().manual_seed(seed)

    def full_lengths(steps):
        return torch.full((batch_size,), steps, dtype=torch.int32)

    labeled = (torch.arange(batch_size) < labeled_count).to(torch.int32)
    labels = torch.rand(batch_size, generator=gen) * 6 - 3
    return {"text": torch.randn(batch_size, cfg.T_l, cfg.d_l, generator=gen),
            "text_lengths": full_lengths(cfg.T_l),
            "audio": torch.randn(batch_size, cfg.T_a, cfg.d_a, generator=gen),
            "audio_lengths": full_lengths(cfg.T_a),
            "vision": torch.randn(batch_size, cfg.T_v, cfg.d_v, generator=gen),
            "vision_lengths": full_lengths(cfg.T_v),
            "labels": torch.where(labeled > 0, labels, torch.zeros_like(labels)),
            "labeled": labeled}


def openblas_state():
    """The kernel family and thread count of the OpenBLAS torch's GEMMs run in."""
    import ctypes
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode(), lib.openblas_get_num_threads()
    except (OSError, AttributeError):
        return "unknown", -1


# ---------------------------------------------------------------------------------------------
# One measurement in this process
# ---------------------------------------------------------------------------------------------
def peak_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def timed_runs(work, warmup, repeats):
    """Wall and CPU milliseconds of each timed run, after `warmup` untimed ones."""
    for _ in range(warmup):
        work()
    wall, cpu = [], []
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        work()
        wall.append((time.perf_counter() - wall_start) * 1e3)
        cpu.append((time.process_time() - cpu_start) * 1e3)
    return wall, cpu


def measure_one(args):
    import torch
    torch.set_num_threads(args.threads)
    mird_torch = load_reference()
    cfg = mird_torch.preset("mosi", estimator_inputs=args.estimator)
    model = build_model(mird_torch, cfg, args.variant)

    if args.measure == "step":
        batch = synthetic_batch(cfg, args.batch, args.labeled, SEED)
        opt, est_opt = mird_torch.make_optimizers(model)

        def work():
            mird_torch.mird_step(model, model.club, opt, est_opt, batch)
    else:
        batch = synthetic_batch(cfg, args.batch, 0, SEED)
        model.eval()

        def work():
            with torch.no_grad():
                codes = model.encode(batch)
                model.regressor(torch.cat([codes[k] for k in ("s", "l", "a", "v")], dim=-1))

    base_rss = peak_rss_kb()
    wall, cpu = timed_runs(work, args.warmup, args.repeats)
    corename, blas_threads = openblas_state()
    fields = {
        "side": "torch", "measure": args.measure,
        "estimator": args.estimator if args.measure == "step" else "-",
        "variant": args.variant if args.measure == "step" else "-",
        "batch": args.batch, "labeled": args.labeled if args.measure == "step" else 0,
        "threads": torch.get_num_threads(), "blas_threads": blas_threads, "corename": corename,
        "warmup": args.warmup, "repeats": args.repeats,
        "median_ms": "%.3f" % statistics.median(wall), "min_ms": "%.3f" % min(wall),
        "max_ms": "%.3f" % max(wall), "cpu_median_ms": "%.3f" % statistics.median(cpu),
        "base_rss_kb": base_rss, "peak_rss_kb": peak_rss_kb(),
    }
    print("RESULT " + " ".join("%s=%s" % kv for kv in fields.items()), flush=True)


# ---------------------------------------------------------------------------------------------
# The sweep: every measurement in a fresh process, so peak RSS is per measurement
# ---------------------------------------------------------------------------------------------
def child_environment(threads, blas_threads, coretype):
    env = dict(os.environ)
    # The machine may pin an older core type (and its cache size) for other programs' sake;
    # only this benchmark's children drop both.
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    env["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def sweep_plan(threads_list, repeats):
    """(description, arguments of `one`, (torch threads, OpenBLAS threads)) per measurement."""
    plan = []
    for threads in threads_list:
        for blas_threads in sorted({1, threads}):
            layout = (threads, blas_threads)
            for batch in INFER_BATCHES:
                warmup, count = repeats["infer%d" % batch]
                plan.append(("infer batch %d" % batch,
                             ["--measure", "infer", "--batch", str(batch)], layout, warmup, count))
            warmup, count = repeats["step"]
            for variant in VARIANTS:
                for estimator in ESTIMATOR_INPUTS:
                    plan.append(("step %s %s" % (variant, estimator),
                                 ["--measure", "step", "--variant", variant,
                                  "--estimator", estimator], layout, warmup, count))
    return plan


def sweep(args):
    repeats = dict(QUICK_REPEATS if args.quick else REPEATS)
    if args.step_repeats:
        repeats["step"] = (repeats["step"][0], args.step_repeats)
    plan = sweep_plan(args.threads, repeats)
    out = open(args.out, "a") if args.out else None
    failures = 0
    for index, (what, extra, (threads, blas_threads), warmup, count) in enumerate(plan, 1):
        command = [sys.executable, str(Path(__file__).resolve()), "one",
                   "--threads", str(threads), "--warmup", str(warmup),
                   "--repeats", str(count)] + extra
        started = time.perf_counter()
        print("torch [%d/%d] %s, torch threads %d, OpenBLAS threads %d ..."
              % (index, len(plan), what, threads, blas_threads), file=sys.stderr, flush=True)
        done = subprocess.run(command, env=child_environment(threads, blas_threads,
                                                             args.coretype),
                              stdout=subprocess.PIPE, text=True)
        lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            failures += 1
            print("torch: %s failed (exit %d)" % (what, done.returncode), file=sys.stderr)
            continue
        for line in lines:
            print(line, flush=True)
            if out:
                out.write(line + "\n")
                out.flush()
        print("    %.0f s" % (time.perf_counter() - started), file=sys.stderr, flush=True)
    if out:
        out.close()
    return 1 if failures else 0


# ---------------------------------------------------------------------------------------------
# Check: the two decoder variants compute the same losses and gradients
# ---------------------------------------------------------------------------------------------
def check(args):
    import torch
    torch.set_num_threads(1)
    mird_torch = load_reference()
    cfg = mird_torch.preset("tiny", p_h=0.0, p_wsa=0.0, p_proj=0.0, p_reg=0.0)
    batch = synthetic_batch(cfg, 6, 3, SEED)
    batch["audio_lengths"][1] = 3          # a short and a missing modality, as a real batch has
    batch["vision_lengths"][2] = 0
    results = {}
    for variant in VARIANTS:
        model = build_model(mird_torch, cfg, variant).double()
        double_batch = {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}
        out = mird_torch.forward_losses(model, double_batch)
        out["total"].backward()
        results[variant] = (out["total"].item(),
                            {n: p.grad.clone() for n, p in model.model_named_parameters()
                             if p.grad is not None})
    (total_lstm, grads_lstm), (total_cell, grads_cell) = results["lstm"], results["cell"]
    worst = max((grads_lstm[n] - grads_cell[n]).abs().max().item() for n in grads_cell)
    same_names = set(grads_lstm) == set(grads_cell)
    ok = same_names and abs(total_lstm - total_cell) < 1e-10 and worst < 1e-10
    print("check: total %.12g vs %.12g, largest gradient difference %.3g over %d tensors: %s"
          % (total_lstm, total_cell, worst, len(grads_cell), "ok" if ok else "MISMATCH"))
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    one = sub.add_parser("one", help="one measurement in this process")
    one.add_argument("--measure", choices=("step", "infer"), required=True)
    one.add_argument("--estimator", choices=ESTIMATOR_INPUTS, default="recompute")
    one.add_argument("--variant", choices=VARIANTS, default="cell")
    one.add_argument("--batch", type=int)
    one.add_argument("--labeled", type=int, default=STEP_LABELED)
    one.add_argument("--threads", type=int, default=1)
    one.add_argument("--warmup", type=int, default=1)
    one.add_argument("--repeats", type=int, default=3)

    every = sub.add_parser("sweep", help="every measurement, each in a fresh process")
    every.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    every.add_argument("--quick", action="store_true", help="one timed run per measurement")
    every.add_argument("--step-repeats", type=int, help="timed training steps per measurement")
    every.add_argument("--coretype", default=DEFAULT_CORETYPE,
                       help="OPENBLAS_CORETYPE for the children ('' leaves OpenBLAS to detect)")
    every.add_argument("--out", help="append the RESULT lines to this file too")

    sub.add_parser("check", help="the lstm and cell decoders agree on the tiny preset")

    args = parser.parse_args()
    if args.command == "one":
        if args.batch is None:
            args.batch = STEP_BATCH if args.measure == "step" else 1
        if args.repeats < 1 or args.warmup < 0:
            parser.error("--repeats must be >= 1 and --warmup >= 0")
        measure_one(args)
        return 0
    if args.command == "sweep":
        return sweep(args)
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
