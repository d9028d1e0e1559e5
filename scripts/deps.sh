#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages needed to build and test libnoxrunner.
# Does nothing when they are all present already, so reruns are fast.
set -euo pipefail

packages=(
  doxygen man-db groff-base binutils curl
  build-essential cmake pkg-config
  libuv1-dev libcurl4-openssl-dev libyajl-dev libarchive-dev libmicrohttpd-dev
  bubblewrap python3 clang libclang-rt-14-dev nginx-light openssl time libedit-dev
)

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
