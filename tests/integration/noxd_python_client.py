#!/usr/bin/env python3
"""noxd against the calls the Python `noxrunner` client makes.

The PyPI package cannot be installed here, so this script issues the same
requests its HTTP backend issues (urllib, ids not percent-encoded, JSON
bodies, a gzip tar for uploads, `dest`/`src` urlencoded) and applies the same
success tests to the answers: health needs 200 and b"OK" in the body, touch
and upload need exactly 200, delete 200 or 204, exec and create a JSON object.

usage: noxd_python_client.py PATH/TO/noxd
"""
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request


def request(base, method, path, data=None, content_type=None):
    headers = {}
    body = None
    if isinstance(data, dict):
        body = json.dumps(data).encode("utf-8")
        headers["Content-Type"] = content_type or "application/json"
    elif isinstance(data, bytes):
        body = data
        headers["Content-Type"] = content_type or "application/octet-stream"
    req = urllib.request.Request(base + path, data=body, headers=headers,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.getcode(), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def json_call(base, method, path, data=None):
    status, body = request(base, method, path, data)
    assert 200 <= status < 300, (method, path, status, body)
    return json.loads(body.decode("utf-8")) if body else {}


def make_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            raw = content.encode("utf-8") if isinstance(content, str) else content
            info = tarfile.TarInfo(name=name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def check(base):
    status, body = request(base, "GET", "/healthz")
    assert status == 200 and b"OK" in body, (status, body)

    sid = "py-session_1"
    made = json_call(base, "PUT", f"/v1/sandboxes/{sid}",
                     {"ttlSeconds": 600, "image": "python:3.11-slim",
                      "cpuLimit": "1", "memoryLimit": "1Gi",
                      "ephemeralStorageLimit": "2Gi"})
    assert isinstance(made.get("podName"), str) and made["podName"], made
    assert made.get("expiresAt", "").endswith("Z"), made

    status, _ = request(base, "POST", f"/v1/sandboxes/{sid}/touch")
    assert status == 200, status

    res = json_call(base, "POST", f"/v1/sandboxes/{sid}/exec",
                    {"cmd": ["sh", "-c", "echo $MY_VAR; echo e >&2; exit 2"],
                     "workdir": "/workspace", "timeoutSeconds": 30,
                     "env": {"MY_VAR": "test_value"}})
    assert res["exitCode"] == 2, res
    assert res["stdout"] == "test_value\n", res
    assert res["stderr"] == "e\n", res
    assert isinstance(res["durationMs"], int), res

    # wait_for_pod_ready: exec of echo ready, 5 s timeout, stdout stripped.
    res = json_call(base, "POST", f"/v1/sandboxes/{sid}/exec",
                    {"cmd": ["echo", "ready"], "workdir": "/workspace",
                     "timeoutSeconds": 5})
    assert res["stdout"].strip() == "ready", res

    tar = make_tar({"script.py": "print('Hello')", "data/d.bin": b"\x00\x01\xff"})
    q = urllib.parse.urlencode({"dest": "/workspace"})
    status, _ = request(base, "POST", f"/v1/sandboxes/{sid}/files/upload?{q}",
                        data=tar, content_type="application/x-tar")
    assert status == 200, status
    q = urllib.parse.urlencode({"dest": "/workspace/sub dir"})
    status, _ = request(base, "POST", f"/v1/sandboxes/{sid}/files/upload?{q}",
                        data=tar, content_type="application/x-tar")
    assert status == 200, status

    q = urllib.parse.urlencode({"src": "/workspace"})
    status, body = request(base, "GET", f"/v1/sandboxes/{sid}/files/download?{q}")
    assert 200 <= status < 300 and body, status
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as t:
        names = {m.name.lstrip("./"): m for m in t.getmembers() if m.isfile()}
        assert "script.py" in names, sorted(names)
        assert t.extractfile(names["script.py"]).read() == b"print('Hello')"
        assert t.extractfile(names["data/d.bin"]).read() == b"\x00\x01\xff"
        assert "sub dir/script.py" in names, sorted(names)

    # Errors come back as HTTP errors with a body the client can show.
    status, body = request(base, "POST", f"/v1/sandboxes/{sid}/exec",
                           {"cmd": [], "workdir": "/workspace",
                            "timeoutSeconds": 30})
    assert status == 400 and json.loads(body)["error"], (status, body)

    status, _ = request(base, "DELETE", f"/v1/sandboxes/{sid}")
    assert status in (200, 204), status
    status, _ = request(base, "POST", f"/v1/sandboxes/{sid}/touch")
    assert status == 404, status
    # Over HTTP an exec of a deleted (or never made) sandbox is a 404 the
    # client raises, never a fresh sandbox: only its local mode makes one.
    status, body = request(base, "POST", f"/v1/sandboxes/{sid}/exec",
                           {"cmd": ["echo", "hi"], "workdir": "/workspace",
                            "timeoutSeconds": 30})
    assert status == 404 and sid in json.loads(body)["error"], (status, body)
    status, _ = request(base, "POST", f"/v1/sandboxes/{sid}/touch")
    assert status == 404, status


def main():
    root = tempfile.mkdtemp(prefix="noxd-py-")
    proc = subprocess.Popen([sys.argv[1], "--listen", "127.0.0.1:0",
                             "--root", root, "--isolation", "none"],
                            stdout=subprocess.PIPE)
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("noxd listening on http://"), line
        check(line.split(" on ", 1)[1].strip())
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
    assert code == 0, code
    print("noxd_python_client: ok")


if __name__ == "__main__":
    main()
