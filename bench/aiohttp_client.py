#!/usr/bin/python3
"""The exec scenario of nox-bench, written the way a Python user would:
asyncio + aiohttp, C coroutines in a closed loop on one connection pool of C.

Prints one JSON object: count, errors, wall_s, rps, cpu_s, peak_rss_kib.
"""
import argparse
import asyncio
import json
import resource
import time

import aiohttp


async def worker(session, url, body, deadline, stats):
    while time.monotonic() < deadline:
        try:
            async with session.post(url, data=body, headers={
                    "Content-Type": "application/json"}) as resp:
                doc = await resp.json(content_type=None)
                if resp.status != 200 or doc.get("exitCode") != 0:
                    stats["errors"] += 1
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            stats["errors"] += 1
        stats["count"] += 1


async def run(args):
    url = "%s/v1/sandboxes/%s/exec" % (args.base_url.rstrip("/"), args.id)
    body = json.dumps({"cmd": ["true"], "workdir": "/workspace",
                       "timeoutSeconds": 30}).encode()
    stats = {"count": 0, "errors": 0}
    conn = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        start = time.monotonic()
        deadline = start + args.duration
        await asyncio.gather(*(worker(s, url, body, deadline, stats)
                               for _ in range(args.concurrency)))
        wall = time.monotonic() - start
    return stats, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--id", default="py-0")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--duration", type=float, default=3.0)
    args = ap.parse_args()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    stats, wall = asyncio.run(run(args))
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({
        "count": stats["count"], "errors": stats["errors"],
        "wall_s": round(wall, 3), "rps": round(stats["count"] / wall, 1),
        "cpu_s": round(cpu, 3), "peak_rss_kib": r1.ru_maxrss}))


if __name__ == "__main__":
    main()
