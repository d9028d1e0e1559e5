#!/usr/bin/env bash
# From a fresh checkout to a sandbox: install what the library and the
# quickstart need (scripts/deps.sh, no test packages), build the shared
# library and examples/quickstart.c in Release mode into build-quickstart/
# (no tests, tools, benchmarks or reference manual), and run the quickstart
# against the in-process local backend (no server needed). Arguments go to
# the quickstart: a NoxRunner URL instead of local:.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
cmake -S . -B build-quickstart -DCMAKE_BUILD_TYPE=Release \
  -DNOX_BUILD_TESTS=OFF -DNOX_BUILD_TOOLS=OFF -DNOX_BUILD_EXAMPLES=ON \
  -DNOX_BUILD_DOCS=OFF
cmake --build build-quickstart -j2 --target quickstart
exec build-quickstart/bin/quickstart "$@"
