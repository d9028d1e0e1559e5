#!/usr/bin/env bash
# The whole test suite, twice: a normal build in build/, then an
# AddressSanitizer + UBSan build in build-asan/. Exits non-zero if any test
# fails in either, and ends with a "N passed, M failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."

# Every package: the tools, tests, fuzzers and docs need more than the
# quickstart's scripts/deps.sh.
bash scripts/deps.sh --test || exit 1

passed=0
failed=0
status=0

# run_suite DIR [cmake args...]: configure, build and test one tree.
run_suite() {
  local dir=$1
  shift
  local log
  log=$(mktemp)
  echo "=== $dir"
  if ! cmake -S . -B "$dir" "$@" || ! cmake --build "$dir" -j2; then
    echo "=== $dir: build failed"
    status=1
    failed=$((failed + 1))
    rm -f "$log"
    return
  fi
  ctest --test-dir "$dir" --output-on-failure -j2 2>&1 | tee "$log"
  if [ "${PIPESTATUS[0]}" -ne 0 ]; then
    status=1
  fi
  # CTest's summary: "NN% tests passed, F tests failed out of T".
  local summary total nfail
  summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [ -n "$summary" ]; then
    nfail=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$summary")
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$summary")
    passed=$((passed + total - nfail))
    failed=$((failed + nfail))
  else
    echo "=== $dir: no test summary"
    status=1
  fi
  rm -f "$log"
}

# Everything on, whatever an earlier configure of these trees chose.
all_on=(-DNOX_BUILD_TESTS=ON -DNOX_BUILD_TOOLS=ON -DNOX_BUILD_EXAMPLES=ON
  -DNOX_BUILD_DOCS=ON)

run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOX_WERROR=ON "${all_on[@]}"

# Debug keeps assert() on; the sanitizers stop at the first error.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DNOX_SANITIZE=ON -DNOX_WERROR=ON \
  "${all_on[@]}"

# libFuzzer targets, briefly (clang build in build-fuzz/).
echo "=== fuzz"
if bash scripts/fuzz.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  status=1
fi

echo "$passed passed, $failed failed"
exit "$status"
