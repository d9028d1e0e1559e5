#!/usr/bin/env bash
# The whole test suite, twice: a normal build in build/, then an
# AddressSanitizer + UBSan build in build-asan/; then a warning check of an
# optimised sanitizer build (build-relsan/) and the fuzzers. Exits non-zero
# if anything fails, and ends with a "N passed, M failed" line.
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

# GCC's optimiser with the sanitizers finds warnings neither build above
# sees (-Wformat-overflow, -Wstringop-overread): compile every target so, with
# -Werror, in build-relsan/ (built, not run: build-asan ran the tests).
echo "=== build-relsan"
if cmake -S . -B build-relsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOX_SANITIZE=ON \
    -DNOX_WERROR=ON "${all_on[@]}" >/dev/null && cmake --build build-relsan -j2 >/dev/null; then
  echo "=== build-relsan: every target built without a warning"
  passed=$((passed + 1))
else
  echo "=== build-relsan: build failed"
  cmake --build build-relsan -j1 2>&1 | grep -E "error|warning" | head -n 20
  failed=$((failed + 1))
  status=1
fi

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
