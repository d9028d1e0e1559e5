#!/usr/bin/python3
"""Turns compare.sh's raw measurements into the "nox-bench vs peers" section
of bench/RESULTS.md: medians over the runs with their ranges, and the goals
as ratios taken within each run (peers measured minutes apart on a shared
machine are not comparable; peers measured in the same run are).

usage: summarize.py results.tsv machine.txt RESULTS.md
"""
import collections
import statistics
import sys

BEGIN = "<!-- nox-bench-compare:begin -->"
END = "<!-- nox-bench-compare:end -->"
FIELDS = ["backend", "scenario", "conc", "client", "run", "count", "errors",
          "rps", "cpu_us", "rss_kib", "server_us"]


def load(path):
    rows = []
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != len(FIELDS):
            continue
        r = dict(zip(FIELDS, parts))
        for k in ("conc", "run", "count", "errors", "rss_kib"):
            r[k] = int(float(r[k]))
        for k in ("rps", "cpu_us", "server_us"):
            r[k] = float(r[k])
        rows.append(r)
    return rows


def med(values):
    return statistics.median(values) if values else float("nan")


def fmt(values, digits=0):
    if not values:
        return "-"
    m = med(values)
    if len(values) == 1:
        return "%.*f" % (digits, m)
    return "%.*f (%.*f–%.*f)" % (digits, m, digits, min(values), digits,
                                 max(values))


def table(rows, backend):
    groups = collections.OrderedDict()
    for r in rows:
        if r["backend"] == backend:
            groups.setdefault((r["scenario"], r["conc"], r["client"]),
                              []).append(r)
    out = ["| scenario | C | client | req/s | client CPU µs/req | "
           "peak RSS KiB | server CPU µs/req | errors |",
           "|---|---:|---|---:|---:|---:|---:|---:|"]
    for (scen, conc, client), rs in groups.items():
        out.append("| %s | %d | %s | %s | %s | %s | %s | %d |" % (
            scen, conc, client, fmt([r["rps"] for r in rs]),
            fmt([r["cpu_us"] for r in rs], 1),
            fmt([r["rss_kib"] for r in rs]),
            fmt([r["server_us"] for r in rs], 1),
            sum(r["errors"] for r in rs)))
    return "\n".join(out)


def per_run(rows, backend, scen, conc, client):
    return {r["run"]: r for r in rows if r["backend"] == backend and
            r["scenario"] == scen and r["conc"] == conc and
            r["client"] == client}


def goals(rows):
    nox = per_run(rows, "nginx", "exec", 64, "nox-bench")
    wrk = per_run(rows, "nginx", "exec", 64, "wrk")
    aio = per_run(rows, "nginx", "exec", 64, "aiohttp")
    nox1 = per_run(rows, "nginx", "exec", 1, "nox-bench")
    nox512 = per_run(rows, "nginx", "exec", 512, "nox-bench")
    k10 = per_run(rows, "nginx", "exec-10k", 10000, "nox-bench")
    runs = sorted(nox)

    def ratio(a, b, key):
        return [a[i][key] / b[i][key] for i in runs if i in a and i in b
                and b[i][key] > 0]

    rps_wrk = ratio(nox, wrk, "rps")
    rps_aio = ratio(nox, aio, "rps")
    cpu_wrk = ratio(nox, wrk, "cpu_us")
    rss_per = [(nox512[i]["rss_kib"] - nox1[i]["rss_kib"]) / 511.0
               for i in runs if i in nox512 and i in nox1]
    k10_ok = [k10[i]["errors"] == 0 and k10[i]["count"] == 30000
              for i in sorted(k10)]
    k10_rss = [k10[i]["rss_kib"] for i in sorted(k10)]

    def verdict(ok):
        return "**met**" if ok else "**missed**"

    lines = ["| goal | measured (median, range over runs) | verdict |",
             "|---|---|---|"]
    if rps_wrk:
        lines.append("| exec req/s at C=64 ≥ 0.6 × wrk | %s × | %s |" % (
            fmt(rps_wrk, 2), verdict(med(rps_wrk) >= 0.6)))
    if rps_aio:
        lines.append("| exec req/s at C=64 ≥ 10 × aiohttp | %s × | %s |" % (
            fmt(rps_aio, 1), verdict(med(rps_aio) >= 10)))
    if cpu_wrk:
        lines.append("| client CPU/request at C=64 ≤ 2.5 × wrk | %s × | %s |"
                     % (fmt(cpu_wrk, 2), verdict(med(cpu_wrk) <= 2.5)))
    if rss_per:
        lines.append("| peak RSS per in-flight request at C=512 ≤ 16 KiB "
                     "(RSS(C=512) − RSS(C=1)) / 511 | %s KiB | %s |" % (
                         fmt(rss_per, 1), verdict(med(rss_per) <= 16)))
    if k10_ok:
        lines.append("| C=10,000 through 256 connections: all 30,000 "
                     "complete, peak RSS < 64 MiB | %d/%d runs complete, "
                     "peak RSS %s KiB | %s |" % (
                         sum(k10_ok), len(k10_ok), fmt(k10_rss),
                         verdict(all(k10_ok) and max(k10_rss) < 65536)))
    return "\n".join(lines)


def baseline_rows(rows, name):
    """This tree's nox-bench against the baseline's, run by run: client CPU
    per request and req/s, as ratios (this tree / baseline)."""
    base = "nox-bench@" + name
    lines = ["| scenario | C | backend | client CPU/req, this ÷ baseline | "
             "req/s, this ÷ baseline | verdict (CPU ≤ 1.05 × is noise) |",
             "|---|---:|---|---:|---:|---|"]
    seen = []
    for r in rows:
        key = (r["backend"], r["scenario"], r["conc"])
        if r["client"] == base and key not in seen:
            seen.append(key)
    for backend, scen, conc in seen:
        a = per_run(rows, backend, scen, conc, "nox-bench")
        b = per_run(rows, backend, scen, conc, base)
        runs = [i for i in sorted(a) if i in b]
        cpu = [a[i]["cpu_us"] / b[i]["cpu_us"] for i in runs
               if b[i]["cpu_us"] > 0]
        rps = [a[i]["rps"] / b[i]["rps"] for i in runs if b[i]["rps"] > 0]
        ok = cpu and med(cpu) <= 1.05
        lines.append("| %s | %d | %s | %s × | %s × | %s |" % (
            scen, conc, backend, fmt(cpu, 2), fmt(rps, 2),
            "no regression" if ok else "**regression**"))
    return "\n".join(lines)


def main():
    rows = load(sys.argv[1])
    machine = dict(line.rstrip("\n").split(": ", 1)
                   for line in open(sys.argv[2]) if ": " in line)
    md = sys.argv[3]
    sec = [BEGIN, "## nox-bench vs peers", "",
           "Written by `bench/compare.sh` (do not edit between the markers; "
           "rerun the script). Raw numbers: `bench/results-raw.tsv`.", "",
           "### Machine", "",
           "- %s cores (`nproc`), %s, %s" % (machine.get("nproc"),
                                              machine.get("cpu"),
                                              machine.get("kernel")),
           "- load average at start %s, at end %s (the machine is shared: "
           "absolute numbers move with the load, ratios within a run much "
           "less)" % (machine.get("loadavg_start"),
                      machine.get("loadavg_end")),
           "- nginx %s, wrk %s, Python %s with aiohttp %s, libcurl %s, "
           "libuv %s" % (machine.get("nginx"), machine.get("wrk"),
                         machine.get("python"), machine.get("aiohttp"),
                         machine.get("libcurl"), machine.get("libuv")),
           "- %s runs; each measurement %s s; medians with (min–max)" % (
               machine.get("runs"), machine.get("duration_s")), "",
           "### Goals (ratios taken within each run)", "", goals(rows), "",
           ] + ([
           "### Against the baseline `%s` (same runs)" % machine["baseline"],
           "", "`nox-bench@%s` is nox-bench built at that revision; both "
           "measured in every run, one after the other." % (
               machine["baseline"].split("(")[-1].rstrip(")")), "",
           baseline_rows(rows, machine["baseline"].split("(")[-1]
                         .rstrip(")")), ""]
           if "baseline" in machine else []) + [
           "### Canned backend (nginx, one worker)", "",
           "nox-bench's latency distribution at C=64 in the last run: "
           "[nox-bench-exec-c64.svg](nox-bench-exec-c64.svg).", "",
           table(rows, "nginx"), "",
           "### noxd (`--isolation none`, exec of `true`; lifecycle = "
           "create, upload 4 KiB, `wc -c`, download, delete)", "",
           table(rows, "noxd"), "",
           "Client CPU: wrk from `/usr/bin/time` (user+sys over its run); "
           "nox-bench and aiohttp from their own getrusage over the timed "
           "part. Peak RSS is ru_maxrss. Server CPU is the nginx worker's or "
           "noxd's utime+stime from /proc over the measurement, divided by "
           "the requests.", END]
    text = "\n".join(sec) + "\n"
    try:
        old = open(md).read()
    except FileNotFoundError:
        old = "# Benchmark results\n\n"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    open(md, "w").write(new)


if __name__ == "__main__":
    main()
