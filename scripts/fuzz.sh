#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan + coverage) in
# build-fuzz/ and runs each for a fixed time on its seed corpus (default 20 s;
# FUZZ_SECONDS=600 for a longer session). New inputs go to a scratch corpus
# under build-fuzz/; a crash leaves its reproducer in build-fuzz/ and fails
# the run: copy it into tests/fuzz/corpus/<target>/ as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNOX_SANITIZE=ON -DNOX_BUILD_FUZZERS=ON -DNOX_WERROR=ON >/dev/null
cmake --build build-fuzz -j2 --target fuzz_json fuzz_url fuzz_noxd fuzz_extract >/dev/null

status=0
for t in json url noxd extract; do
  scratch=build-fuzz/corpus-$t
  mkdir -p "$scratch"
  if (cd build-fuzz && "./fuzz/fuzz_$t" -max_total_time="$seconds" \
        -print_final_stats=1 "corpus-$t" "../tests/fuzz/corpus/$t" \
        >"fuzz-$t.log" 2>&1); then
    echo "fuzz_$t: $(grep -E '^stat::number_of_executed_units' build-fuzz/fuzz-$t.log | awk '{print $2}') runs in ${seconds}s, no crash"
  else
    echo "fuzz_$t: FAILED (see build-fuzz/fuzz-$t.log)"
    tail -n 30 "build-fuzz/fuzz-$t.log"
    status=1
  fi
done
exit "$status"
