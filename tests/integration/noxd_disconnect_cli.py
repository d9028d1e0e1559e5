#!/usr/bin/env python3
"""Ctrl-C on `noxrc exec` against noxd kills the command in the sandbox.

Starts noxd (--isolation none, so the command's pids are host pids) on a
free loopback port, runs `noxrc exec ID -- sh -c SCRIPT` as a subprocess,
where the script records its pid and its background child's in the
workspace, sends noxrc SIGINT once both are there, and checks: noxrc exits
130, both processes are gone, and noxd logs the exec as "(client went
away)". The time from SIGINT to the processes being gone is printed, not
asserted; the bounds are hang guards only.

usage: noxd_disconnect_cli.py NOXRC NOXD
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

NOXRC, NOXD = (os.path.abspath(a) for a in sys.argv[1:3])
GUARD_S = 20.0
SCRIPT = "echo $$ > pids; sleep 60 & echo $! >> pids; wait"


def gone(pid):
    """Dead: reaped, or a zombie that nothing runs in any more."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def wait_for(cond, what):
    deadline = time.monotonic() + GUARD_S
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("hang guard: " + what)
        time.sleep(0.005)


def read_pids(path):
    try:
        with open(path) as f:
            pids = [int(x) for x in f.read().split()]
    except (OSError, ValueError):
        return None
    return pids if len(pids) == 2 else None


def main():
    work = tempfile.mkdtemp(prefix="noxd-disconnect-")
    root = os.path.join(work, "root")
    os.mkdir(root)
    log_path = os.path.join(work, "noxd.log")
    env = dict(os.environ)
    env.pop("NOXRUNNER_BASE_URL", None)
    env.pop("NOXRUNNER_TOKEN", None)
    with open(log_path, "wb") as log:
        noxd = subprocess.Popen(
            [NOXD, "--listen", "127.0.0.1:0", "--root", root,
             "--isolation", "none"],
            stdout=subprocess.PIPE, stderr=log, env=env)
    try:
        line = noxd.stdout.readline().decode()
        url = line.strip().split(" ")[-1]
        assert url.startswith("http://127.0.0.1:"), line

        req = urllib.request.Request(url + "/v1/sandboxes/sigint", data=b"{}",
                                     method="PUT")
        with urllib.request.urlopen(req, timeout=GUARD_S) as r:
            assert r.status == 200, r.status

        rc = subprocess.Popen(
            [NOXRC, "--base-url", url, "exec", "sigint", "--", "sh", "-c",
             SCRIPT],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env)
        pidfile = os.path.join(root, "sb-sigint", "workspace", "pids")
        wait_for(lambda: read_pids(pidfile) is not None, "pidfile")
        pids = read_pids(pidfile)
        assert not gone(pids[0]) and not gone(pids[1]), pids

        t0 = time.monotonic()
        rc.send_signal(signal.SIGINT)
        wait_for(lambda: gone(pids[0]) and gone(pids[1]), "processes gone")
        ms = (time.monotonic() - t0) * 1000.0
        code = rc.wait(timeout=GUARD_S)
        print("noxrc SIGINT: shell %d and child %d gone %.0f ms after the "
              "signal" % (pids[0], pids[1], ms))
        assert code == 130, "noxrc exited %d, not 130" % code
    finally:
        noxd.send_signal(signal.SIGTERM)
        noxd.wait(timeout=GUARD_S)
        noxd.stdout.close()
    with open(log_path) as f:
        log = f.read()
    sys.stderr.write(log)
    lines = [ln for ln in log.splitlines()
             if "POST /v1/sandboxes/sigint/exec" in ln]
    assert len(lines) == 1 and "(client went away)" in lines[0], lines
    assert noxd.returncode == 0, noxd.returncode
    shutil.rmtree(work)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
