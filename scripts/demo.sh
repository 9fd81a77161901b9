#!/usr/bin/env bash
# One command from a fresh checkout to the main job: set up, build, run the
# `mird` demo.  Arguments are passed on to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/examples/mird "$@"
