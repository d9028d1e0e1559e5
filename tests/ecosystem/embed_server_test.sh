#!/usr/bin/env bash
# embed_server_test.sh EMBED_SERVER
#
# Runs examples/embed_server on a free port over a fresh local:// root and
# proves it serves requests concurrently: request A starts, marks that it
# runs, and waits for a file that only request B creates, and B waits for
# A's mark. A server that ran one script at a time would time both out.
# Then checks exit codes, stdout and stderr in the JSON answer, and the
# answers to wrong methods and paths, and stops the server by PID.
set -euo pipefail

bin=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/nox-embed.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "embed_server_test: $*" >&2
  exit 1
}

mkfifo "$work/out"
"$bin" 0 "local://$work/root" >"$work/out" 2>"$work/err" &
pid=$!
exec 3<"$work/out"
if ! IFS= read -r -t 120 first <&3; then
  cat "$work/err" >&2
  fail "no address printed"
fi
cat <&3 >/dev/null &
exec 3<&-
url=${first#embed_server listening on }
case $url in
http://127.0.0.1:*) ;;
*) fail "unexpected first line: $first" ;;
esac

# post SCRIPT OUTFILE: POST /run; the body goes to OUTFILE, the status is
# printed.
post() {
  curl -sS --max-time 300 -o "$2" -w '%{http_code}' -X POST \
    -H 'Content-Type: text/plain' --data-binary "$1" "$url/run"
}

# check FILE EXIT STDOUT STDERR: the JSON answer holds exactly these.
check() {
  python3 - "$@" <<'PY'
import json, sys
path, code, out, err = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(path, encoding="utf-8") as f:
    got = json.load(f)
want = {"exitCode": code, "stdout": out, "stderr": err}
if got != want:
    sys.exit(f"{path}: got {got!r}, want {want!r}")
PY
}

# Both loops are bounded (100 s) below the server's 120 s script limit.
a_script='touch a-started
i=0
while [ ! -e go ] && [ "$i" -lt 1000 ]; do sleep 0.1; i=$((i + 1)); done
[ -e go ] && echo released'
b_script='i=0
while [ ! -e a-started ] && [ "$i" -lt 1000 ]; do sleep 0.1; i=$((i + 1)); done
[ -e a-started ] && touch go && echo "saw A running"'

post "$a_script" "$work/a.json" >"$work/a.status" &
a_pid=$!
b_status=$(post "$b_script" "$work/b.json")
wait "$a_pid" || fail "request A failed"
[ "$b_status" = 200 ] || fail "B answered $b_status: $(cat "$work/b.json")"
[ "$(cat "$work/a.status")" = 200 ] ||
  fail "A answered $(cat "$work/a.status"): $(cat "$work/a.json")"
check "$work/b.json" 0 $'saw A running\n' ''
check "$work/a.json" 0 $'released\n' ''

status=$(post 'echo out; echo err >&2; exit 3' "$work/c.json")
[ "$status" = 200 ] || fail "C answered $status"
check "$work/c.json" 3 $'out\n' $'err\n'

status=$(curl -sS -o /dev/null -w '%{http_code}' "$url/run")
[ "$status" = 405 ] || fail "GET /run answered $status"
status=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data-binary x \
  "$url/elsewhere")
[ "$status" = 404 ] || fail "POST /elsewhere answered $status"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[ "$rc" -eq 0 ] || {
  cat "$work/err" >&2
  fail "embed_server exited with $rc after SIGTERM"
}
echo "embed_server_test: concurrent requests, exit codes and errors all right"
