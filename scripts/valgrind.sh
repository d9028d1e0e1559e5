#!/usr/bin/env bash
# Runs every CTest test of a build tree under Valgrind memcheck (the test
# process itself; servers it starts run natively). A test fails on any
# memcheck error or definite leak. Slow: about 10x the normal suite.
#   scripts/valgrind.sh [BUILD_DIR] [CTEST_LABEL_REGEX]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
label=${2:-}
args=(--test-dir "$dir" -N --show-only=json-v1)
[ -n "$label" ] && args+=(-L "$label")
ctest "${args[@]}" >"$dir/tests.json"
python3 - "$dir/tests.json" <<'PY'
import json, os, subprocess, sys, time
tests = json.load(open(sys.argv[1]))["tests"]
vg = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
      "--errors-for-leak-kinds=definite", "--track-fds=no"]
passed = failed = skipped = 0
for t in tests:
    cmd = t.get("command") or []
    props = {p["name"]: p["value"] for p in t.get("properties", [])}
    if not cmd or not os.path.basename(cmd[0]).startswith(("test_", "fuzz_")):
        skipped += 1  # compiler, shell and Python driven checks: no C process of ours
        continue
    env = dict(os.environ)
    for kv in props.get("ENVIRONMENT", []):
        k, _, v = kv.partition("=")
        env[k] = v
    cwd = props.get("WORKING_DIRECTORY", os.getcwd())
    start = time.time()
    r = subprocess.run(vg + cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=1800)
    ok = r.returncode == 0 or (r.returncode == 77 and props.get("SKIP_RETURN_CODE") == 77)
    print(f"{'ok  ' if ok else 'FAIL'} {t['name']} ({time.time() - start:.0f} s)", flush=True)
    if ok:
        passed += 1
    else:
        failed += 1
        print(r.stdout.decode(errors="replace")[-3000:])
print(f"valgrind: {passed} passed, {failed} failed ({skipped} not C tests)")
sys.exit(1 if failed else 0)
PY
