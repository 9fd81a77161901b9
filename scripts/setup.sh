#!/usr/bin/env bash
# Installs the Debian packages libmird needs to build, test and run its demo,
# then configures and builds it in ./build.  Safe to run again: packages that
# are already installed are not fetched twice, and the build is incremental.
#
#   scripts/setup.sh            packages + release build (./build)
#   scripts/setup.sh --no-build packages only
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake make gcc g++ pkg-config   # toolchain
  libdnnl-dev                     # oneDNN 2.6: every heavy op
  libopenblas-dev                 # cblas for small host-side products
  libjson-c-dev                   # JSON headers of safetensors files
  libhdf5-dev                     # HDF5 datasets (MMSA layout, MFN files, CMU-SDK .csd)
  check                           # the unit-test framework
  valgrind                        # memcheck stage of scripts/test.sh
  locales                         # localedef, for the locale-independence tests
  python3-numpy                   # the Python binding's arrays (optional to it) and its tests
  python3-h5py                    # the MMSA pickle converter writes HDF5; binding tests read it
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" != "--no-build" ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)"
fi
