#!/usr/bin/env bash
# From a fresh checkout to a sandbox: install the dependencies, build the
# library in Release mode into build/, and run the quickstart example
# against the in-process local backend (no server needed).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2
exec build/bin/quickstart "$@"
