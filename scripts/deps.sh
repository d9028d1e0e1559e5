#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages libnoxrunner needs, with apt-get.
#
#   bash scripts/deps.sh          what building the library and running the
#                                 quickstart need (scripts/quickstart.sh)
#   bash scripts/deps.sh --test   that, and what the tools, the tests, the
#                                 fuzzers, the benchmarks and the reference
#                                 manual need (scripts/test.sh)
#
# Does nothing when they are all present already, so reruns are fast.
set -euo pipefail

# The compiler, CMake, pkg-config and the four libraries the library links
# (the quickstart links only the library). bubblewrap is what the local
# backend isolates commands with; without it they run unisolated, with a
# warning.
packages=(
  build-essential cmake pkg-config
  libuv1-dev libcurl4-openssl-dev libyajl-dev libarchive-dev
  bubblewrap
)

case "${1:-}" in
  "") ;;
  --test)
    # noxd (libmicrohttpd) and noxrc (libedit); clang and its sanitizer and
    # libFuzzer runtimes (scripts/fuzz.sh); nginx, openssl, curl and python3
    # for the integration tests; time; doxygen and man for the docs tests;
    # binutils (nm, readelf) for the ABI test.
    packages+=(
      libmicrohttpd-dev libedit-dev
      clang libclang-rt-14-dev
      nginx-light openssl curl python3 time
      doxygen man-db groff-base binutils
    )
    ;;
  *)
    echo "usage: $0 [--test]" >&2
    exit 2
    ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg -s "$p" >/dev/null 2>&1; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
