#!/usr/bin/env bash
# noxd --isolation bwrap where no bubblewrap can be found: noxd must exit 1
# at once with a message about bubblewrap (NOX_EISOLATION), not one about
# its root or its base URL. Usage: noxd_isolation_cli.sh NOXD
set -u
noxd=$1
root=$(mktemp -d)
err=$(mktemp)
trap 'rm -rf "$root" "$err"' EXIT

# No bwrap on this PATH (noxd itself is started by its full path).
to=$(command -v timeout)
PATH=/nonexistent-bin "$to" 60 "$noxd" --listen 127.0.0.1:0 --root "$root" \
  --isolation bwrap >/dev/null 2>"$err"
code=$?
if [ "$code" -ne 1 ]; then
  echo "FAIL: exit $code, want 1"; cat "$err"; exit 1
fi
if ! grep -q -- "--isolation bwrap: bubblewrap is missing or cannot run" "$err"; then
  echo "FAIL: stderr does not name bubblewrap:"; cat "$err"; exit 1
fi
if grep -q "base URL\|cannot open the sandbox root" "$err"; then
  echo "FAIL: stderr blames the root or the URL:"; cat "$err"; exit 1
fi
echo "ok: $(head -n 1 "$err")"
