#!/usr/bin/env bash
# The whole test suite, from a fresh checkout:
#   1. set up and build (scripts/setup.sh), run every Check suite with ctest;
#   2. rebuild with AddressSanitizer + UndefinedBehaviorSanitizer and run them
#      all again, except the long suites (label `long`: whole training runs,
#      whose code the short suites cover) and the Python binding's tests
#      (label `python`: the interpreter is not built with the sanitizers);
#   3. run every short suite under valgrind's memcheck (release build, no fork);
#   4. install to a temporary prefix, build the C example and a consumer
#      through pkg-config and the C++ example through find_package(mird),
#      and run them against the installed library.
#   scripts/test.sh --quick   step 1 only
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/setup.sh
echo "== tests (release build)"
(cd build && ctest --output-on-failure -j"$jobs")

if [[ "${1:-}" == "--quick" ]]; then exit 0; fi

echo "== tests (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DMIRD_WERROR=ON -DMIRD_SANITIZE=address,undefined >/dev/null
cmake --build build-sanitize -j"$jobs"
# oneDNN and OpenMP allocate per-thread state that lives until exit; leaks in
# them are not ours, and the suppressions name them alone.
(cd build-sanitize && \
  ASAN_OPTIONS=detect_leaks=1 \
  LSAN_OPTIONS=suppressions=$PWD/../tests/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j"$jobs" -LE "long|python")

echo "== tests (valgrind memcheck)"
tests/run_valgrind.sh build

echo "== install and consume"
tests/install/check_install.sh build
