#!/usr/bin/env bash
# Installs the build in $1 to a temporary prefix, then builds and runs a small
# consumer against it twice: once through pkg-config, once through CMake's
# find_package(mird CONFIG).  Proves the installed package is usable alone.
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -n1)

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c11 -Wall -Werror "$here/consumer.c" -o "$work/consumer_pc" $(pkg-config --cflags --libs mird)
LD_LIBRARY_PATH="$libdir" "$work/consumer_pc"

cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
LD_LIBRARY_PATH="$libdir" "$work/cmake/consumer"

soname=$(objdump -p "$libdir/libmird.so" | awk '/SONAME/ {print $2}')
echo "install check: pkg-config and find_package consumers ran; SONAME $soname"
