#!/usr/bin/env python3
"""Turns the RESULT lines of mird_bench and torch_bench.py into bench/'s table.

  report.py RESULTS_FILE...

For every thread count and measurement: libmird's median, the fastest PyTorch configuration's
median (which decoder variant and which torch/OpenBLAS thread layout won), the speedup
PyTorch / libmird against the issue's target, and libmird's peak resident size against the
smallest PyTorch peak of that row (the stricter comparison: the variants' peaks differ).
Then every PyTorch configuration, so the layout choice can be checked.
Needs no torch: plain python3.
"""
import sys

# (measure, estimator, batch) rows in table order, with their speedup targets (None: report only)
ROWS = ((("step", "recompute", "144"), "step (recompute)", 3.0),
        (("step", "cached", "144"), "step (cached)", 3.0),
        (("infer", "-", "1"), "infer batch 1", 5.0),
        (("infer", "-", "64"), "infer batch 64", None))
MEMORY_TARGET = 1.0   # libmird's peak no higher than PyTorch's


def parse(paths):
    results = []
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.startswith("RESULT "):
                    results.append(dict(field.split("=", 1) for field in line.split()[1:]))
    return results


def row_key(result):
    return (result["measure"], result.get("estimator", "-"), result["batch"])


def layout(result):
    return "%s, torch %s / OpenBLAS %s" % (result["variant"] if result["variant"] != "-"
                                           else "any", result["threads"],
                                           result["blas_threads"])


def mib(kb):
    return float(kb) / 1024.0


def verdict(value, target, higher_is_better=True):
    if value is None or target is None:
        return ""
    met = value >= target if higher_is_better else value <= target
    return "ok" if met else "MISSED"


def main(paths):
    results = parse(paths)
    mird = [r for r in results if r["side"] == "mird"]
    torch = [r for r in results if r["side"] == "torch"]
    threads = sorted({int(r["threads"]) for r in results})
    if not mird:
        print("libmird: not available yet")
    if not torch:
        print("PyTorch: no results")
    if not results:
        return 1

    print("Medians in ms; speedup = PyTorch / libmird (its fastest configuration); memory =\n"
          "libmird / PyTorch peak RSS (its leanest configuration), each from a process of its own.")
    line = "%-7s %-16s %9s %9s %8s %-10s %8s %8s %6s %-7s  %s"
    header = line % ("threads", "measurement", "libmird", "PyTorch", "speedup", "target",
                     "mird MiB", "torchMiB", "memory", "target", "fastest PyTorch")
    print(header)
    print("-" * len(header))
    for count in threads:
        for key, label, target in ROWS:
            ours = [r for r in mird if int(r["threads"]) == count and row_key(r) == key]
            theirs = [r for r in torch if int(r["threads"]) == count and row_key(r) == key]
            best = min(theirs, key=lambda r: float(r["median_ms"])) if theirs else None
            leanest = min(theirs, key=lambda r: float(r["peak_rss_kb"])) if theirs else None
            mine = ours[0] if ours else None
            speedup = (float(best["median_ms"]) / float(mine["median_ms"])
                       if best and mine else None)
            memory = (mib(mine["peak_rss_kb"]) / mib(leanest["peak_rss_kb"])
                      if leanest and mine else None)
            print(line % (
                count, label,
                "%.1f" % float(mine["median_ms"]) if mine else "n/a",
                "%.1f" % float(best["median_ms"]) if best else "n/a",
                "%.2fx" % speedup if speedup else "n/a",
                (">=%gx %s" % (target, verdict(speedup, target))).strip() if target else "-",
                "%.0f" % mib(mine["peak_rss_kb"]) if mine else "n/a",
                "%.0f" % mib(leanest["peak_rss_kb"]) if leanest else "n/a",
                "%.2f" % memory if memory else "n/a",
                ("<=%g %s" % (MEMORY_TARGET,
                              verdict(memory, MEMORY_TARGET, higher_is_better=False))).strip(),
                layout(best) if best else ""))
    print()
    print("Every PyTorch configuration (wall median and min, CPU-time median in ms, peak MiB;"
          " * = fastest for its row):")
    for count in threads:
        for key, label, _ in ROWS:
            theirs = sorted((r for r in torch if int(r["threads"]) == count and row_key(r) == key),
                            key=lambda r: float(r["median_ms"]))
            for rank, r in enumerate(theirs):
                print("  %s threads %d %-17s %-32s %9.1f %9.1f %9.1f %6.0f  (OpenBLAS %s)" % (
                    "*" if rank == 0 else " ", count, label, layout(r), float(r["median_ms"]),
                    float(r["min_ms"]), float(r["cpu_median_ms"]), mib(r["peak_rss_kb"]),
                    r.get("corename", "?")))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
