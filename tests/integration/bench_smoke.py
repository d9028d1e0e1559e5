#!/usr/bin/env python3
"""Smoke test of nox-bench: every scenario against one backend (noxd on a
free port, or the in-process local backend), small N. Asserts the JSON
report's shape and that the counts add up, never timings.

usage: bench_smoke.py NOX_BENCH NOXD noxd|local
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

STEPS = {
    "health": ["health"],
    "exec": ["exec"],
    "create-delete": ["create", "delete"],
    "lifecycle": ["create", "upload", "exec", "download", "delete"],
    "upload": ["upload"],
    "download": ["download"],
}
TOP_KEYS = {"scenario": str, "concurrency": int, "requests": int,
            "iterations": int, "errors": int, "wall_s": float,
            "cpu_s": float, "cpu_us_per_request": float,
            "peak_rss_kib": int, "max_loop_lag_ms": float, "ops": dict}
OP_KEYS = ["count", "errors", "rps", "p50_ms", "p90_ms", "p99_ms",
           "p999_ms", "max_ms", "bytes", "errors_by_code"]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def unused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_noxd(noxd, root):
    proc = subprocess.Popen(
        [noxd, "--listen", "127.0.0.1:0", "--root", root, "--isolation",
         "none"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    line = proc.stdout.readline()  # noxd flushes this line first
    if "listening on" not in line:
        proc.kill()
        proc.wait()
        raise SystemExit("noxd did not start: %r" % line)
    return proc, line.split()[-1]


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(bench, tmp, base, scenario, extra, n, label):
    out = os.path.join(tmp, label + ".json")
    svg = os.path.join(tmp, label + ".svg")
    argv = [bench, "--base-url", base, "--scenario", scenario, "--json",
            out, "--svg", svg] + extra
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=240)
    check(p.returncode == 0, "%s: exit %d: %s" % (label, p.returncode,
                                                  p.stderr.strip()))
    if p.returncode != 0:
        return None
    check("client: cpu" in p.stdout, label + ": text report")
    d = json.load(open(out))
    for k, t in TOP_KEYS.items():
        check(isinstance(d.get(k), t) or (t is float and
                                           isinstance(d.get(k), int)),
              "%s: key %s is %r" % (label, k, d.get(k)))
    steps = STEPS[scenario]
    check(d["scenario"] == scenario, label + ": scenario")
    check(sorted(d["ops"]) == sorted(steps), "%s: ops %s" % (label,
                                                             list(d["ops"])))
    check(d["errors"] == 0, "%s: errors %d" % (label, d["errors"]))
    if n is not None:
        check(d["iterations"] == n, "%s: iterations %d != %d" % (
            label, d["iterations"], n))
    check(d["iterations"] > 0, label + ": no iteration ran")
    total = 0
    for op in steps:
        o = d["ops"][op]
        for k in OP_KEYS:
            check(k in o, "%s: %s lacks %s" % (label, op, k))
        total += o["count"]
        check(o["count"] == d["iterations"], "%s: %s count %d != %d" % (
            label, op, o["count"], d["iterations"]))
        check(o["errors"] == 0 and o["errors_by_code"] == {},
              "%s: %s errors %r, first: %s" % (label, op, o["errors_by_code"],
                                               o.get("first_error")))
        q = [o["p50_ms"], o["p90_ms"], o["p99_ms"], o["p999_ms"], o["max_ms"]]
        check(q == sorted(q), "%s: %s percentiles out of order %s" % (
            label, op, q))
    check(total == d["requests"], "%s: ops add up to %d, requests %d" % (
        label, total, d["requests"]))
    s = open(svg).read()
    check(s.startswith("<?xml") and "<svg" in s and s.rstrip().endswith(
        "</svg>"), label + ": svg document")
    check(s.count("<polyline") == len(steps), label + ": one curve per op")
    return d


def main():
    bench, noxd, kind = sys.argv[1:4]
    tmp = tempfile.mkdtemp(prefix="nox-bench-smoke-")
    proc = None
    try:
        if kind == "noxd":
            proc, base = start_noxd(noxd, os.path.join(tmp, "root"))
        else:
            os.mkdir(os.path.join(tmp, "root"))
            base = "local://" + os.path.join(tmp, "root")
        for scen in STEPS:
            d = run(bench, tmp, base, scen,
                    ["--requests", "12", "--concurrency", "4", "--size",
                     "3000"], 12, scen)
            if d and scen in ("upload", "lifecycle"):
                check(d["ops"]["upload"]["bytes"] == 12 * 3000,
                      scen + ": upload bytes")
            if d and scen in ("download", "lifecycle"):
                check(d["ops"]["download"]["bytes"] > 0,
                      scen + ": download bytes")
        # Open loop, several sandboxes, a shell command, a duration.
        run(bench, tmp, base, "exec",
            ["--rate", "200", "--requests", "20", "--sandboxes", "3",
             "--cmd", "echo hi"], 20, "exec-open")
        d = run(bench, tmp, base, "health", ["--duration", "0.3"], None,
                "health-duration")
        if d:
            check(d["mode"] == "closed" and d["concurrency"] == 64,
                  "defaults: closed loop at 64")
        # Failed requests: exit 1 and say so, unless --allow-errors.
        dead = "http://127.0.0.1:%d" % unused_port()
        argv = [bench, "--base-url", dead, "--scenario", "health",
                "--requests", "20", "--concurrency", "4"]
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        check(p.returncode == 1, "all requests failed: exit %d, not 1" %
              p.returncode)
        check("FAILED: 20 of 20 requests failed" in p.stdout,
              "failed run: the summary says so: %r" % p.stdout)
        check("--allow-errors" in p.stderr,
              "failed run: stderr names --allow-errors: %r" % p.stderr)
        p = subprocess.run([bench, "--base-url", base, "--scenario", "exec",
                            "--cmd", "exit 3", "--requests", "4",
                            "--concurrency", "2"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=240)
        check(p.returncode == 1 and "EXIT_NONZERO 4" in p.stdout,
              "execs exiting non-zero: exit %d: %r" % (p.returncode,
                                                       p.stdout))
        p = subprocess.run(argv + ["--allow-errors"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        check(p.returncode == 0, "--allow-errors: exit %d, not 0" %
              p.returncode)
        check("FAILED: 20 of 20 requests failed (allowed by --allow-errors)"
              in p.stdout, "--allow-errors: the summary still says so: %r" %
              p.stdout)
        p = subprocess.run([bench, "--scenario", "nope"],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        check(p.returncode == 2, "unknown scenario exits 2")
        p = subprocess.run([bench, "--rate", "5", "--concurrency", "2"],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        check(p.returncode == 2, "--rate with --concurrency exits 2")
    finally:
        if proc is not None:
            stop(proc)
            check(proc.returncode == 0, "noxd exit status %r" % proc.returncode)
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
