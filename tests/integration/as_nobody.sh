#!/bin/sh
# Runs a test binary as nobody (uid/gid 65534, no supplementary groups).
# Only root can drop to another user: anyone else skips (exit 77).
if [ "$(id -u)" != 0 ]; then
  echo "skipped: only root can run this test as nobody (running as uid $(id -u))"
  exit 77
fi
if ! command -v setpriv >/dev/null 2>&1; then
  echo "skipped: setpriv (util-linux) is not installed"
  exit 77
fi
# The scratch directories go under a TMPDIR nobody can write to.
TMPDIR=/tmp
export TMPDIR
exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
