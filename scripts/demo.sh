#!/usr/bin/env bash
# One command from a fresh checkout to the main job: set up, build, run the
# `mird train` demo.  Arguments are passed on to `mird train`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/examples/mird train "$@"
