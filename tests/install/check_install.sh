#!/usr/bin/env bash
# Installs the build in $1 to a temporary prefix and uses it as a user would,
# proving the installed package works alone:
#   - through pkg-config: consumer.c (header and library agree, errors reach
#     the caller) and examples/c/train_and_predict.c, which trains, saves a
#     checkpoint, loads it back and checks its predictions;
#   - through CMake's find_package(mird CONFIG): consumer.c again and
#     examples/cpp/infer.cpp, run on the checkpoint the C example wrote.
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
examples=$(cd "$here/../../examples" && pwd)
prefix=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -n1)
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=passive

export PKG_CONFIG_PATH="$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs mird)
cc -std=c11 -Wall -Wextra -Werror "$here/consumer.c" -o "$work/consumer_pc" $flags
cc -std=c11 -Wall -Wextra -Werror "$examples/c/train_and_predict.c" -o "$work/train_and_predict" $flags
"$work/consumer_pc"

cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer"

checkpoint="$work/model.safetensors"
(cd "$work" && ./train_and_predict "$checkpoint") >"$work/train.log" \
  || { cat "$work/train.log"; echo "install check: train_and_predict failed" >&2; exit 1; }
[[ -s "$checkpoint" ]] || { echo "install check: no checkpoint at $checkpoint" >&2; exit 1; }
"$work/cmake/infer" "$checkpoint" >"$work/infer.log" \
  || { cat "$work/infer.log"; echo "install check: infer failed" >&2; exit 1; }

soname=$(objdump -p "$libdir/libmird.so" | awk '/SONAME/ {print $2}')
echo "install check: pkg-config and find_package consumers and examples ran; SONAME $soname"
