#!/usr/bin/env bash
# Runs every Check suite of a build under valgrind's memcheck.  Check's fork
# mode is turned off so valgrind sees the tests themselves.  Invalid reads or
# writes, uses of uninitialised values and definite leaks fail the run;
# "possibly lost" blocks are OpenMP's thread stacks and are not ours.
# valgrind's CPU has no AVX-512, so oneDNN runs its AVX2 kernels here; their
# JIT code comes in blocks larger than valgrind translates by default, hence
# the smaller superblocks.
set -euo pipefail
build=$(cd "$1" && pwd)
status=0
for test in "$build"/tests/test_*; do
  [[ -x "$test" ]] || continue
  name=$(basename "$test")
  log=$(mktemp)
  start=$SECONDS
  if CK_FORK=no OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive LOCPATH="$build/locale" \
       valgrind --error-exitcode=99 --leak-check=full --vex-guest-max-insns=25 \
       --suppressions="$(dirname "$0")/valgrind.supp" \
       --errors-for-leak-kinds=definite --show-leak-kinds=definite --quiet \
       "$test" >"$log" 2>&1; then
    echo "valgrind: $name passed ($((SECONDS - start)) s)"
  else
    echo "valgrind: $name FAILED"; cat "$log"; status=1
  fi
  rm -f "$log"
done
exit $status
