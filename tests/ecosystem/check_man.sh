#!/usr/bin/env bash
# check_man.sh PAGE...: each manual page renders with man -l, produces text,
# and makes groff and the mdoc macros emit no warning at all.
set -uo pipefail
status=0
for page in "$@"; do
  err=$(mktemp)
  out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=w -E UTF-8 -l "$page" 2>"$err")
  rc=$?
  if [ "$rc" -ne 0 ] || [ -s "$err" ]; then
    echo "check_man: $page (exit $rc):" >&2
    cat "$err" >&2
    status=1
  elif ! grep -q '^NAME' <<<"$out" || ! grep -q '^SYNOPSIS' <<<"$out"; then
    echo "check_man: $page rendered without NAME and SYNOPSIS" >&2
    status=1
  else
    echo "check_man: $page: $(wc -l <<<"$out") lines, no warnings"
  fi
  rm -f "$err"
done
exit "$status"
