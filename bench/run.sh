#!/usr/bin/env bash
# bench/run.sh -- libmird against the PyTorch reference port, same model, batch and threads.
#
#   bench/run.sh [--threads "1 2"] [--quick] [--step-repeats N] [--skip-mird] [--skip-torch]
#
# Builds libmird (Release) and bench/mird_bench, runs both sides at each thread count, every
# measurement in a fresh process, and prints the table of bench/report.py. Results and logs go
# to bench/build/ (MIRD_BENCH_BUILD overrides); MIRD_BENCH_BIN names a mird_bench built elsewhere
# (no build then). See bench/README.md.
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root_dir=$(dirname "$bench_dir")
build_dir=${MIRD_BENCH_BUILD:-$bench_dir/build}
torch_python=${MIRD_BENCH_PYTHON:-/usr/bin/python3}   # Debian's, which has python3-torch

threads="1 2"
quick=()
step_repeats=()
run_mird=1
run_torch=1
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads=$2; shift 2 ;;
        --quick) quick=(--quick); shift ;;
        --step-repeats) step_repeats=(--step-repeats "$2"); shift 2 ;;
        --skip-mird) run_mird=0; shift ;;
        --skip-torch) run_torch=0; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

started=$SECONDS
mkdir -p "$build_dir"
results="$build_dir/results-$(date +%Y%m%d-%H%M%S).txt"
: > "$results"

# --- build -----------------------------------------------------------------------------------
# The bench target exists in the root build once the root CMakeLists.txt adds bench/ under
# MIRD_BUILD_BENCH; until then mird_bench is built on its own against an installed copy.
build_mird_bench() {
    local lib_build="$build_dir/libmird" log="$build_dir/build.log"
    : > "$log"
    cmake -S "$root_dir" -B "$lib_build" -DCMAKE_BUILD_TYPE=Release -DMIRD_BUILD_BENCH=ON \
        -DMIRD_BUILD_TESTS=OFF -DMIRD_BUILD_EXAMPLES=OFF >> "$log" 2>&1 || return 1
    if cmake --build "$lib_build" --target help 2>/dev/null | grep -q '\bmird_bench\b'; then
        cmake --build "$lib_build" -j2 --target mird_bench >> "$log" 2>&1 || return 1
        mird_bench="$lib_build/bench/mird_bench"
    else
        cmake --build "$lib_build" -j2 --target mird >> "$log" 2>&1 || return 1
        cmake --install "$lib_build" --prefix "$build_dir/prefix" >> "$log" 2>&1 || return 1
        cmake -S "$bench_dir" -B "$build_dir/standalone" -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_PREFIX_PATH="$build_dir/prefix" >> "$log" 2>&1 || return 1
        cmake --build "$build_dir/standalone" -j2 >> "$log" 2>&1 || return 1
        mird_bench="$build_dir/standalone/mird_bench"
    fi
}

mird_bench=""
if [ "$run_mird" = 1 ] && [ -n "${MIRD_BENCH_BIN:-}" ]; then
    mird_bench=$MIRD_BENCH_BIN
elif [ "$run_mird" = 1 ]; then
    echo "== building libmird and mird_bench (Release) =="
    if build_mird_bench; then
        echo "built $mird_bench"
    else
        mird_bench=""
        echo "libmird: not available yet (mird_bench did not build; see $build_dir/build.log)"
        grep -m 5 -E 'undefined reference|error:' "$build_dir/build.log" | sed 's/^/    /' || true
    fi
fi

# --- measure ---------------------------------------------------------------------------------
status=0
if [ -n "$mird_bench" ]; then
    echo "== libmird =="
    # libmird runs with the machine's environment as a user would: no OpenBLAS tuning.
    "$mird_bench" --threads "${threads// /,}" "${quick[@]}" "${step_repeats[@]}" \
        | tee -a "$results" || status=1
fi
if [ "$run_torch" = 1 ]; then
    echo "== PyTorch =="
    if "$torch_python" -c 'import torch' 2>/dev/null; then
        "$torch_python" "$bench_dir/torch_bench.py" check || status=1
        # shellcheck disable=SC2086 # the thread list is meant to split
        "$torch_python" "$bench_dir/torch_bench.py" sweep --threads $threads "${quick[@]}" \
            "${step_repeats[@]}" --out "$results" > /dev/null || status=1
    else
        echo "PyTorch: $torch_python cannot import torch (apt-get install python3-torch)"
        status=1
    fi
fi

# --- report ----------------------------------------------------------------------------------
echo
echo "== results ($results) =="
"$torch_python" "$bench_dir/report.py" "$results" || status=1
elapsed=$((SECONDS - started))
printf '\nrun.sh took %dm%02ds\n' $((elapsed / 60)) $((elapsed % 60))
exit $status
