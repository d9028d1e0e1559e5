#!/usr/bin/env python3
"""noxrc, driven as a subprocess, against noxd, the local backend and faultd.

Every check runs the built binary (never its functions): exit codes, stdout
and stderr bytes, --json objects, files on disk, and the interactive shell
through a pseudo-terminal. Prints one line per check and a closing
"N passed, M failed" line; exits 1 if any failed.

usage: noxrc_cli.py NOXRC NOXD FAULTD_PY
"""
import base64
import io
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOXRC, NOXD, FAULTD = (os.path.abspath(a) for a in sys.argv[1:4])
WORK = tempfile.mkdtemp(prefix="noxrc-test-")
ENV = dict(os.environ)
ENV.pop("NOXRUNNER_BASE_URL", None)
ENV.pop("NOXRUNNER_TOKEN", None)
ENV["TMPDIR"] = WORK
ENV["HOME"] = WORK
ENV.pop("NO_COLOR", None)

passed = 0
failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   %s" % name)
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))
    sys.stdout.flush()


def run(base, *args, env=None, stdin=None, timeout=120):
    """Runs noxrc; returns (exit code, stdout bytes, stderr bytes)."""
    argv = [NOXRC] + (["--base-url", base] if base else []) + list(args)
    p = subprocess.run(argv, capture_output=True, env=env or ENV,
                       stdin=stdin if stdin is not None else subprocess.DEVNULL,
                       timeout=timeout)
    err = p.stderr
    # Without a usable bubblewrap (or pids cgroup) the local backend warns
    # once per process.
    while err.startswith(b"noxrunner: warning: "):
        err = err[err.index(b"\n") + 1:]
    return p.returncode, p.stdout, err


def run_json(base, *args, **kw):
    code, out, err = run(base, "--json", *args, **kw)
    try:
        obj = json.loads(out.decode("utf-8"))
    except ValueError:
        obj = None
    lines = out.count(b"\n")
    return code, obj, err, lines


def start_server(argv):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=ENV)
    line = p.stdout.readline().decode()
    url = line.strip().split(" ")[-1]
    assert url.startswith("http://127.0.0.1:"), line
    return p, url


def stop_server(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    p.stdout.close()


def unused_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_tree(root):
    """A directory tree with text, binary, empty and nested files."""
    files = {
        "a.txt": b"hello\n",
        "bin/blob.bin": bytes(range(256)) * 64 + b"\xff\xfe\x00",
        "deep/er/still/x.txt": "ünïcode ✓\n".encode("utf-8"),
        "empty.txt": b"",
        "sp ace/na me.txt": b"spaces\n",
    }
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return files


def read_tree(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def fmt_bytes(n):
    """noxrc_format_bytes(): "512 B", "1.5 KiB"."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    u = 0
    n = float(n)
    while n >= 1024 and u + 1 < len(units):
        n /= 1024
        u += 1
    return "%.0f %s" % (n, units[u]) if u == 0 else "%.1f %s" % (n, units[u])


BAR_RE = re.compile(r"^(upload|download) \[([#.]{20})\] +(\d+)%  (.+?) / (.+?)"
                    r"  (.+?)/s  ETA (\S+)$")
PLAIN_RE = re.compile(r"^(upload|download) (\d+(?:\.\d)? [KMGT]?i?B)  (.+?)/s$")


def progress_frames(err):
    """The --progress frames on stderr (one per line off a terminal)."""
    return [l for l in err.decode("utf-8", "replace").split("\n")
            if BAR_RE.match(l) or PLAIN_RE.match(l)]


def check_bar(name, err, label, total):
    """Frames with a bar: percentages rising to 100% of total, once."""
    frames = [BAR_RE.match(l) for l in progress_frames(err)]
    ok = len(frames) >= 1 and all(m is not None for m in frames)
    if ok:
        pcts = [int(m.group(3)) for m in frames]
        last = frames[-1]
        ok = (all(m.group(1) == label for m in frames) and
              pcts == sorted(pcts) and all(p < 100 for p in pcts[:-1]) and
              last.group(2) == "#" * 20 and last.group(3) == "100" and
              last.group(4) == fmt_bytes(total) and
              all(m.group(5) == fmt_bytes(total) for m in frames) and
              last.group(7) == "0:00")
    check(name, ok, (err, fmt_bytes(total)))


def backend_suite(tag, base):
    sid = "cli-" + tag
    # health
    code, obj, err, lines = run_json(base, "health")
    check(tag + " health --json", code == 0 and obj and obj["ok"] and
          obj["healthy"] is True and lines == 1, (code, obj, err))
    code, out, err = run(base, "health")
    check(tag + " health human, plain when piped",
          code == 0 and b"healthy" in out and b"\x1b[" not in out, out)

    # create with every flag, before and after the id
    code, obj, err, _ = run_json(base, "create", "--ttl", "300", sid,
                                 "--image", "img:1", "--cpu", "1", "--mem",
                                 "256Mi", "--storage=1Gi")
    check(tag + " create --json", code == 0 and obj["ok"] and
          isinstance(obj["podName"], str) and obj["expiresAt"].endswith("Z"),
          (code, obj, err))
    code, obj, err, _ = run_json(base, "create", sid, "--wait",
                                 "--wait-timeout", "30")
    check(tag + " create --wait", code == 0 and obj["ready"] is True,
          (code, obj, err))
    code, out, err = run(base, "--quiet", "create", sid)
    check(tag + " --quiet prints nothing", code == 0 and out == b"" and
          err == b"", (out, err))
    code, out, err = run(base, "create", sid, "--verbose")
    check(tag + " --verbose says the backend", code == 0 and
          b"backend " in err and b"created" in out, err)

    # exit codes pass through
    for want in (0, 1, 3):
        code, out, err = run(base, "exec", sid, "sh", "-c", "exit %d" % want)
        check("%s exec exit %d" % (tag, want), code == want, (code, err))
    code, out, err = run(base, "exec", sid, "--timeout-seconds", "1", "--",
                         "sleep", "30")
    check(tag + " exec timeout exit 124", code == 124, (code, err))
    code, out, err = run(base, "exec", "--ignore-exit-code", sid, "sh", "-c",
                         "exit 3")
    check(tag + " --ignore-exit-code", code == 0, code)
    code, out, err = run(base, "exec", sid, "no-such-program-x")
    check(tag + " exec missing program 127", code == 127, code)

    # Output past the backend's 1 MiB cap: the first 1 MiB exactly, nothing
    # appended, a warning line on stderr, the flags in --json.
    big = "head -c 2000000 /dev/zero | tr '\\0' a"
    code, out, err = run(base, "exec", sid, "sh", "-c", big)
    check(tag + " exec truncated: first 1 MiB exactly", code == 0 and
          out == b"a" * 1048576, (code, len(out), out[1048576:][:80]))
    check(tag + " exec truncated: warning line",
          err == "\u26a0 stdout truncated after 1048576 bytes by the "
          "backend\n".encode(), err)
    code, out, err = run(base, "--quiet", "exec", sid, "sh", "-c", big)
    check(tag + " exec truncated: --quiet silences it", err == b"", err)
    code, obj, err, _ = run_json(base, "exec", sid, "sh", "-c", big)
    check(tag + " exec truncated --json", code == 0 and
          obj["stdoutTruncated"] is True and obj["stderrTruncated"] is False
          and len(obj["stdout"]) == 1048576, (code, err))
    code, obj, err, _ = run_json(base, "exec", sid, "sh", "-c",
                                 "head -c 1048576 /dev/zero | tr '\\0' b")
    check(tag + " exec exactly at the cap: not truncated", code == 0 and
          obj["stdoutTruncated"] is False and len(obj["stdout"]) == 1048576,
          (code, err))

    # byte-exact stdout and stderr: NUL, control and UTF-8 bytes always; bytes
    # that are not UTF-8 only locally (the HTTP protocol carries JSON
    # strings, so a backend hands them over as U+FFFD).
    script = ("printf 'a\\377\\000b\\001\\303\\251\\n'; "
              "printf 'e\\376\\200r' >&2; exit 5")
    raw = tag == "local"
    want_out = b"a\xff\x00b\x01\xc3\xa9\n" if raw else \
        b"a\xef\xbf\xbd\x00b\x01\xc3\xa9\n"
    want_err = b"e\xfe\x80r" if raw else b"e\xef\xbf\xbd\xef\xbf\xbdr"
    code, out, err = run(base, "exec", sid, "sh", "-c", script)
    check(tag + " exec stdout bytes", out == want_out, out)
    check(tag + " exec stderr bytes", err == want_err, err)
    check(tag + " exec exit 5 with output", code == 5, code)
    code, obj, err, lines = run_json(base, "exec", sid, "sh", "-c", script)
    check(tag + " exec --json", code == 5 and obj["exitCode"] == 5 and
          lines == 1 and isinstance(obj["durationMs"], int) and
          base64.b64decode(obj["stdoutBase64"]) == want_out and
          base64.b64decode(obj["stderrBase64"]) == want_err and
          obj["stdout"] == "a\ufffd\x00b\x01\u00e9\n" and
          obj["stderr"] == "e\ufffd\ufffdr", obj)
    big = run(base, "exec", sid, "sh", "-c", "head -c 300000 /dev/zero | tr '\\0' 'z'")
    check(tag + " exec 300 kB stdout", big[0] == 0 and
          big[1] == b"z" * 300000, len(big[1]))

    # flags and pass-through of the command's own flags
    run(base, "exec", sid, "mkdir", "-p", "/workspace/wd")
    code, out, err = run(base, "exec", sid, "--workdir", "/workspace/wd", "--env",
                         "A=1", "--env=B=two words", "--", "sh", "-c",
                         'echo "$PWD|$A|$B"')
    check(tag + " exec --workdir --env", out == b"/workspace/wd|1|two words\n",
          (out, err))
    code, out, err = run(base, "exec", sid, "sh", "-c", 'echo "$@"', "x",
                         "--workdir", "/y", "--json")
    check(tag + " exec passes flags after CMD through",
          out == b"--workdir /y --json\n", out)
    code, out, err = run(base, "exec", sid, "--", "sh", "-c", "echo $0",
                         "--help")
    check(tag + " exec -- keeps --help", out == b"--help\n", out)
    code, out, err = run(base, "exec", sid, "--env", "NOEQUALS", "true")
    check(tag + " exec --env without = is usage", code == 2 and
          b"NAME=VALUE" in err, err)

    # sh
    code, out, err = run(base, "sh", sid, 'echo "$0 $((6*7))"; exit 4')
    check(tag + " sh", code == 4 and out == b"sh 42\n", (code, out))
    code, out, err = run(base, "sh", "--bash", sid,
                         'echo ${BASH_VERSION:+bash}', "--workdir", "/workspace/wd")
    check(tag + " sh --bash", code == 0 and out == b"bash\n", (code, out, err))
    code, out, err = run(base, "sh", sid, "echo", "extra")
    check(tag + " sh with two scripts is usage", code == 2 and b"quote" in err,
          err)

    # upload a tree, download it back both ways
    src = os.path.join(WORK, tag + "-tree")
    files = make_tree(src)
    code, obj, err, _ = run_json(base, "upload", sid, "--dir", src, "--dest",
                                 "/workspace/up")
    check(tag + " upload --dir", code == 0 and obj["files"] == len(files) and
          obj["bytes"] == sum(len(v) for v in files.values()), (code, obj, err))
    # --progress off a terminal: a bar over the file content, 100% at the end
    total = sum(len(v) for v in files.values())
    code, out, err = run(base, "--progress", "upload", sid, "--dir", src,
                         "--dest", "/workspace/up-progress")
    check(tag + " upload --dir --progress ok", code == 0, (code, err))
    check_bar(tag + " upload --dir --progress: bar to 100% of the tree", err,
              "upload", total)
    code, out, err = run(base, "--progress", "upload", sid,
                         os.path.join(src, "a.txt"),
                         os.path.join(src, "bin"), "--dest", "/workspace/pf")
    check_bar(tag + " upload FILES --progress: bar to 100%", err, "upload",
              len(files["a.txt"]) + len(files["bin/blob.bin"]))
    for flag in ("--quiet", "--json"):
        code, out, err = run(base, "--progress", flag, "upload", sid, "--dir",
                             src, "--dest", "/workspace/up-progress")
        check(tag + " --progress " + flag + " draws nothing",
              code == 0 and progress_frames(err) == [], (code, err))
    code, out, err = run(base, "upload", sid, "--dir", src, "--dest",
                         "/workspace/up-progress")
    check(tag + " no progress off a terminal without --progress",
          code == 0 and progress_frames(err) == [], (code, err))
    code, out, err = run(base, "exec", sid, "cat", "/workspace/up/sp ace/na me.txt")
    check(tag + " uploaded file readable", out == b"spaces\n", (out, err))
    tgz = os.path.join(WORK, tag + "-dl.tar.gz")
    code, obj, err, _ = run_json(base, "download", sid, "--src",
                                 "/workspace/up", "--output", tgz)
    ok = code == 0 and obj["output"] == tgz and os.path.getsize(tgz) == obj["bytes"]
    got = {}
    if ok:
        with tarfile.open(tgz) as t:
            for m in t.getmembers():
                if m.isfile():
                    got[m.name.lstrip("./")] = t.extractfile(m).read()
    check(tag + " download --output round trip", ok and got == files,
          (code, obj, err, sorted(got)))
    check(tag + " download leaves no .part", not os.path.exists(tgz + ".part"))
    # The size is not announced here (chunked, or local): bytes and rate.
    code, out, err = run(base, "--progress", "download", sid, "--src",
                         "/workspace/up", "--output", tgz + "2")
    frames = progress_frames(err)
    check(tag + " download --progress without a size: bytes and rate",
          code == 0 and len(frames) >= 1 and
          all(PLAIN_RE.match(l) for l in frames) and
          PLAIN_RE.match(frames[-1]).group(2) ==
          fmt_bytes(os.path.getsize(tgz + "2")), (code, err))
    ex = os.path.join(WORK, tag + "-extract")
    code, out, err = run(base, "download", sid, "--src", "/workspace/up",
                         "--extract", ex)
    check(tag + " download --extract round trip",
          code == 0 and read_tree(ex) == files, (code, out, err))
    code, out, err = run(base, "download", sid, "--extract", ex)
    check(tag + " download --extract into a full dir is usage",
          code == 2 and b"must not exist or be empty" in err, err)
    p = subprocess.run([NOXRC, "--base-url", base, "download", sid, "--src",
                        "/workspace/up"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=ENV)
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        names = sorted(m.name.lstrip("./") for m in t.getmembers() if m.isfile())
    check(tag + " download to a stdout pipe", p.returncode == 0 and
          names == sorted(files), names)

    # upload FILES keeps relative paths; collisions and missing files fail
    cwd = os.getcwd()
    os.chdir(src)
    try:
        code, out, err = run(base, "upload", sid, "a.txt", "./deep/er",
                             "--dest", "/workspace/rel")
        check(tag + " upload FILES", code == 0 and b"uploaded 3 files" not in
              out and b"uploaded 2 files" in out, (code, out, err))
        code, out, err = run(base, "exec", sid, "find", "/workspace/rel",
                             "-type", "f")
        check(tag + " upload FILES keeps relative paths",
              sorted(out.split()) == [b"/workspace/rel/a.txt",
                                      b"/workspace/rel/deep/er/still/x.txt"],
              out)
        code, out, err = run(base, "upload", sid, "a.txt",
                             os.path.join(src, "a.txt"))
        check(tag + " upload collision is an error", code == 2 and
              b"would both be uploaded as 'a.txt'" in err, (code, err))
        code, out, err = run(base, "upload", sid, "missing.txt")
        check(tag + " upload missing file", code == 2 and
              b"cannot read 'missing.txt'" in err, (code, err))
    finally:
        os.chdir(cwd)

    # touch, delete
    code, obj, err, _ = run_json(base, "touch", sid)
    check(tag + " touch", code == 0 and obj["ok"], (code, obj, err))
    code, out, err = run(base, "delete", sid)
    check(tag + " delete", code == 0 and b"deleted" in out, (code, out, err))
    code, obj, err, _ = run_json(base, "delete", sid)
    check(tag + " delete again: not found, exit 1", code == 1 and
          obj["ok"] is False and obj["error"] == "NOX_ENOTFOUND", (code, obj))
    code, out, err = run(base, "touch", sid)
    check(tag + " touch a missing sandbox says what to try", code == 1 and
          b"noxrc create" in err, err)
    # exec and sh never make a missing sandbox: not found, exit 1, named.
    for verb, args in (("exec", ("echo", "hi")), ("sh", ("echo hi",))):
        code, out, err = run(base, verb, sid + "-never", *args)
        check(tag + " " + verb + " of a missing sandbox: exit 1, says what "
              "to try", code == 1 and out == b"" and
              ("no sandbox \"%s-never\"" % sid).encode() in err and
              b"noxrc create" in err, (code, out, err))
        code, obj, err, _ = run_json(base, verb, sid + "-never", *args)
        check(tag + " " + verb + " of a missing sandbox --json", code == 1 and
              obj["ok"] is False and obj["error"] == "NOX_ENOTFOUND",
              (code, obj, err))
    code, out, err = run(base, "touch", sid + "-never")
    check(tag + " exec made no sandbox", code == 1, (code, out, err))

    shell_suite(tag, base, sid + "-sh")


def pty_run(argv, script, timeout=60):
    """Runs argv on a pty; script is a list of (send bytes, wait-for bytes,
    seconds before sending). Returns (exit status, transcript per step)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, ENV)
    steps = []
    buf = b""

    def read_until(pat, t):
        nonlocal buf
        end = time.time() + t
        while pat not in buf and time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    d = os.read(fd, 4096)
                except OSError:
                    break
                if not d:
                    break
                buf += d
        return pat in buf

    for send, wait, delay in script:
        if delay:
            time.sleep(delay)
        if send is not None:
            os.write(fd, send)
        found = read_until(wait, timeout) if wait is not None else True
        steps.append((found, buf))
        buf = b""
    end = time.time() + timeout
    status = None
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                if not os.read(fd, 4096):
                    pass
            except OSError:
                pass
        wpid, st = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            status = st
            break
    if status is None:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    return status, steps


def shell_suite(tag, base, sid):
    run(base, "create", sid)
    run(base, "exec", sid, "mkdir", "-p", "/workspace/sub/dir")
    prompt = sid.encode() + b":"
    status, steps = pty_run(
        [NOXRC, "--base-url", base, "shell", sid],
        [(None, b"/workspace$ ", 0),
         (b"pwd\r", b"/workspace$ ", 0),
         (b"cd sub/dir\r", b"/workspace/sub/dir$ ", 0),
         (b"pwd\r", b"$ ", 0),
         (b"cd nowhere\r", b"$ ", 0),
         (b"echo out; echo err >&2; exit 3\r", b"$ ", 0),
         (b"touch made.txt && ls\r", b"$ ", 0),
         (b"touch\r", b"$ ", 0),
         (b"sleep 20\r", b"sleep 20\r\n", 0),
         (b"\x03", b"$ ", 0.5),
         (b"help\r", b"$ ", 0),
         (b"exit\r", None, 0)])
    text = [s[1].decode("utf-8", "replace") for s in steps]
    check(tag + " shell prompt shows session and dir",
          steps[0][0] and prompt in steps[0][1], text[0])
    check(tag + " shell pwd", "/workspace\r\n" in text[1], text[1])
    check(tag + " shell cd", steps[2][0], text[2])
    check(tag + " shell pwd after cd", "/workspace/sub/dir\r\n" in text[3],
          text[3])
    check(tag + " shell cd to a missing dir", "no such directory" in text[4]
          and text[4].endswith("/workspace/sub/dir$ "), text[4])
    check(tag + " shell failing command", "out\r\n" in text[5] and
          "err\r\n" in text[5] and "exit 3" in text[5], text[5])
    check(tag + " shell touch FILE runs the command", "made.txt" in text[6],
          text[6])
    check(tag + " shell touch resets the TTL", "TTL of" in text[7], text[7])
    check(tag + " shell Ctrl-C cancels the command", steps[9][0] and
          "interrupted" in text[9], text[9])
    check(tag + " shell help", "cd [DIR]" in text[10], text[10])
    check(tag + " shell exit status 0", os.WIFEXITED(status) and
          os.WEXITSTATUS(status) == 0, status)
    # Line editing: Ctrl-C drops the line being typed; Up recalls history.
    status, steps = pty_run(
        [NOXRC, "--base-url", base, "shell", sid],
        [(None, b"$ ", 0),
         (b"echo dropped", b"dropped", 0),
         (b"\x03", b"$ ", 0.3),
         (b"echo kept\r", b"$ ", 0),
         (b"\x1b[A\r", b"$ ", 0.3),
         (b"exit\r", None, 0)])
    check(tag + " shell Ctrl-C at the prompt drops the line",
          steps[2][0] and b"dropped" not in steps[3][1] and
          b"kept\r\n" in steps[3][1], steps)
    check(tag + " shell history recalls the last line",
          b"kept\r\n" in steps[4][1], steps[4])
    status, steps = pty_run([NOXRC, "--base-url", base, "shell", sid],
                            [(None, b"$ ", 0), (b"\x04", None, 0)])
    check(tag + " shell Ctrl-D exits 0", os.WIFEXITED(status) and
          os.WEXITSTATUS(status) == 0, status)
    status, steps = pty_run(
        [NOXRC, "--base-url", base, "shell", "--workdir", "/workspace/sub",
         sid, "--timeout-seconds", "1"],
        [(None, b"/workspace/sub$ ", 0),
         (b"sleep 10\r", b"/workspace/sub$ ", 0),
         (b"quit\r", None, 0)])
    check(tag + " shell --workdir --timeout-seconds", steps[0][0] and
          b"timed out after 1 s (exit 124)" in steps[1][1] and
          os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
          (status, steps))
    # A script piped in: no prompt, one line after the other.
    p = subprocess.run([NOXRC, "--base-url", base, "shell", sid],
                       input=b"cd sub\npwd\nsh -c 'exit 4'\necho last",
                       capture_output=True, env=ENV, timeout=120)
    check(tag + " shell with a piped script",
          p.returncode == 0 and p.stdout == b"/workspace/sub\nlast\n" and
          b"exit 4" in p.stderr, (p.returncode, p.stdout, p.stderr))
    # A progress bar on a terminal.
    status, steps = pty_run([NOXRC, "--base-url", base, "download", sid,
                             "--output", os.path.join(WORK, tag + "-pty.tgz")],
                            [(None, b"downloaded", 0)])
    check(tag + " progress and colour on a terminal", steps[0][0] and
          b"B/s" in steps[0][1] and b"\x1b[32m" in steps[0][1], steps[0][1])
    code, out, err = run(base, "delete", sid)


def usage_suite(base):
    code, out, err = run(None, "--help")
    check("--help", code == 0 and b"usage: noxrc" in out and b"shell ID" in out,
          out)
    for cmd in ("health", "create", "exec", "sh", "upload", "download",
                "touch", "delete", "shell"):
        code, out, err = run(None, cmd, "--help")
        check("%s --help" % cmd, code == 0 and
              ("usage: noxrc %s" % cmd).encode() in out, out)
    code, out, err = run(None, "--version")
    check("--version", code == 0 and out.startswith(b"noxrc "), out)
    code, out, err = run(None)
    check("no command is usage", code == 2 and b"usage" in err, err)
    code, out, err = run(base, "frobnicate")
    check("unknown command", code == 2 and b"unknown command 'frobnicate'" in err,
          err)
    code, out, err = run(base, "exec", "x", "--bogus", "true")
    check("unknown flag", code == 2 and b"unknown option '--bogus'" in err, err)
    for cmd in ("create", "exec", "sh", "upload", "download", "touch",
                "delete", "shell"):
        code, out, err = run(base, cmd)
        check("%s without id" % cmd, code == 2 and b"missing the session ID"
              in err, err)
    code, out, err = run(base, "exec", "x")
    check("exec without command", code == 2 and b"missing the command" in err,
          err)
    code, out, err = run(base, "create", "x", "--ttl", "soon")
    check("bad number", code == 2 and b"--ttl wants a positive" in err, err)
    code, out, err = run(base, "create", "x", "--ttl")
    check("missing value", code == 2 and b"--ttl needs a value" in err, err)
    code, out, err = run(base, "download", "x", "--output", "a", "--extract",
                         "b")
    check("download --output and --extract", code == 2, err)
    code, out, err = run("ftp://example.invalid", "health")
    check("unsupported base URL", code == 2 and b"cannot use base URL" in err,
          err)


def hostile_archive(abs_target):
    """A tar.gz with safe entries and every kind the extractor must refuse."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        def add(name, data=b"", kind=tarfile.REGTYPE, link="", mode=0o644):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = mode
            info.linkname = link
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            t.addfile(info, io.BytesIO(data) if info.size else None)
        add("safe.txt", b"safe\n")
        add("dir/ok.txt", b"ok\n")
        add("../escape.txt", b"escaped\n")
        add(abs_target, b"absolute\n")
        add("up", kind=tarfile.SYMTYPE, link="../../..")
        add("fifo", kind=tarfile.FIFOTYPE)
        # Kept, but never setuid/setgid on the host.
        add("sgid.dir", kind=tarfile.DIRTYPE, mode=0o2775)
        add("sgid.dir/in.txt", b"in\n")
        add("suid.bin", b"x\n", mode=0o4755)
        add("sgid.bin", b"x\n", mode=0o2755)
        add("suid-sgid.bin", b"x\n", mode=0o6777)
    return buf.getvalue()


def hostile_suite():
    """download --extract from a backend that sends a hostile archive."""
    abs_target = os.path.join(WORK, "abs-escape.txt")
    body = hostile_archive(abs_target)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/x-tar")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        base = "http://127.0.0.1:%d" % srv.server_address[1]
        parent = os.path.join(WORK, "hostile")
        os.makedirs(parent)
        ex = os.path.join(parent, "out")
        code, out, err = run(base, "download", "h", "--extract", ex)
        check("hostile archive: safe entries extracted", code == 0 and
              read_tree(ex) == {"safe.txt": b"safe\n",
                                os.path.join("dir", "ok.txt"): b"ok\n",
                                os.path.join("sgid.dir", "in.txt"): b"in\n",
                                "suid.bin": b"x\n", "sgid.bin": b"x\n",
                                "suid-sgid.bin": b"x\n"},
              (code, err, read_tree(ex) if os.path.isdir(ex) else None))
        modes = {n: os.lstat(os.path.join(ex, n)).st_mode & 0o7777
                 for n in ("sgid.dir", "suid.bin", "sgid.bin",
                           "suid-sgid.bin")}
        check("hostile archive: no setuid/setgid bit kept",
              modes == {"sgid.dir": 0o775, "suid.bin": 0o755,
                        "sgid.bin": 0o755, "suid-sgid.bin": 0o777}, modes)
        check("hostile archive: the stripped bits are reported",
              b"setuid/setgid bits of 4 entries" in err, err)
        check("hostile archive: nothing written outside",
              sorted(os.listdir(parent)) == ["out"] and
              not os.path.exists(abs_target), os.listdir(parent))
        # A Content-Length: the download shows a bar, 100% at the end.
        raw = os.path.join(WORK, "sized.tar")
        code, out, err = run(base, "--progress", "download", "h", "--output",
                             raw)
        check("download --progress with a Content-Length ok", code == 0 and
              os.path.getsize(raw) == len(body), (code, err))
        check_bar("download --progress with a Content-Length: bar to 100%",
                  err, "download", len(body))
        ex2 = os.path.join(WORK, "sized-extract")
        code, out, err = run(base, "--progress", "download", "h", "--extract",
                             ex2)
        check_bar("download --extract --progress: bar to 100%", err,
                  "download", len(body))
    finally:
        srv.shutdown()
        srv.server_close()


def contract_suite(furl):
    """--timeout bounds an exec; immediate errors say which argument."""
    # A backend that reads the request and never answers. The deadline is
    # --timeout-seconds plus --timeout (2 + 1 s); before, the grace was a
    # fixed 30 s whatever --timeout said. Only a generous upper bound is
    # asserted: a loaded machine may be slow, never 30 s slow.
    t0 = time.monotonic()
    code, out, err = run(furl + "/f/hang", "--timeout", "1", "exec", "x",
                         "--timeout-seconds", "2", "--", "true", timeout=60)
    took = time.monotonic() - t0
    check("--timeout bounds an exec (--timeout-seconds + --timeout)",
          code == 1 and b"timed out" in err and took < 20, (code, took, err))
    t0 = time.monotonic()
    code, out, err = run(furl + "/f/hang", "--timeout", "1", "sh", "x",
                         "--timeout-seconds", "2", "true", timeout=60)
    took = time.monotonic() - t0
    check("--timeout bounds sh", code == 1 and took < 20, (code, took, err))

    # Refused at once by the library: the message says which argument.
    code, out, err = run(furl, "exec", "x", "--", b"\xff")
    check("exec of non-UTF-8 argv names the argument", code == 2 and
          b"nox_exec: argv[0] is not valid UTF-8" in err, err)
    code, out, err = run(furl, "touch", "a" * 2000)
    check("an overlong session ID is named", code == 1 and
          b"nox_touch: session_id is 2000 bytes long" in err, err)
    code, obj, err, _ = run_json(furl, "delete", "a" * 2000)
    check("--json carries the detail", code == 1 and obj is not None and
          obj["error"] == "NOX_EINVAL" and
          obj["message"].startswith("nox_delete: session_id is 2000"), obj)


def main():
    root = os.path.join(WORK, "noxd-root")
    os.makedirs(root)
    noxd, url = start_server([NOXD, "--listen", "127.0.0.1:0", "--root", root])
    faultd, furl = start_server([sys.executable, FAULTD, "--port", "0"])
    tnoxd, turl = start_server([NOXD, "--listen", "127.0.0.1:0", "--root",
                                os.path.join(WORK, "tok-root"), "--token",
                                "s3cret"])
    try:
        usage_suite(url)
        backend_suite("noxd", url)
        backend_suite("local", "local://" + os.path.join(WORK, "local-root"))

        # Defaults and environment.
        code, obj, err, _ = run_json(None, "health",
                                     env=dict(ENV, NOXRUNNER_BASE_URL=url))
        check("NOXRUNNER_BASE_URL", code == 0 and obj["baseUrl"] == url, obj)
        code, out, err = run(None, "--local-test", "create", "lt")
        check("--local-test create", code == 0, (code, out, err))
        code, out, err = run(None, "--local-test", "exec", "lt", "echo", "hi")
        check("--local-test", code == 0 and out == b"hi\n", (code, out, err))
        code, out, err = run(None, "--local-test", "delete", "lt")
        check("--local-test delete", code == 0, (code, out, err))

        # Tokens.
        code, out, err = run(turl, "create", "t1")
        check("no token: refused with a hint", code == 1 and
              b"NOXRUNNER_TOKEN" in err, err)
        code, out, err = run(turl, "create", "t1", "--token", "s3cret")
        check("--token", code == 0, err)
        code, out, err = run(turl, "touch", "t1",
                             env=dict(ENV, NOXRUNNER_TOKEN="s3cret"))
        check("NOXRUNNER_TOKEN", code == 0, err)

        # Unreachable and misbehaving backends.
        dead = "http://127.0.0.1:%d" % unused_port()
        code, out, err = run(dead, "health")
        check("unreachable backend", code == 1 and
              ("cannot connect to %s: connection refused" % dead).encode()
              in err and b"try --base-url local:" in err, err)
        code, obj, err, _ = run_json(dead, "exec", "x", "true")
        check("unreachable --json", code == 1 and obj["ok"] is False and
              obj["error"] == "NOX_ECONNECT", obj)
        code, out, err = run(furl + "/f/badjson", "exec", "x", "true")
        check("garbage JSON from the backend", code == 1 and
              b"malformed response" in err, err)
        code, out, err = run(furl + "/f/wrongtype", "create", "x")
        check("wrong types from the backend", code == 1 and
              b"malformed response" in err, err)
        code, obj, err, _ = run_json(furl + "/f/s503x*", "health")
        check("unhealthy backend: health exits 1", code == 1 and
              obj["ok"] is False and obj["healthy"] is False and
              obj["error"] == "NOX_EUNAVAIL", (code, obj))
        code, out, err = run(furl + "/f/s500x*", "touch", "x")
        check("HTTP 500 from the backend", code == 1 and b"HTTP 500" in err,
              err)
        code, out, err = run(furl + "/f/delay3000", "--timeout", "1", "health")
        check("--timeout", code == 1 and b"timed out" in err, err)
        contract_suite(furl)
        code, out, err = run(furl, "download", "x", "--extract",
                             os.path.join(WORK, "not-a-tar"))
        check("download of a non-archive fails cleanly", code == 1 and
              not os.path.exists(os.path.join(WORK, "not-a-tar")), err)

        hostile_suite()

        # Ctrl-C (SIGINT) cancels a running exec: exit 130.
        # The command signals that it runs, so SIGINT reaches a noxrc
        # whose handler is in place (it is set before the request starts).
        run(url, "create", "sig")
        p = subprocess.Popen([NOXRC, "--base-url", url, "exec", "sig", "sh",
                              "-c", "touch /workspace/started; sleep 20"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=ENV)
        for _ in range(300):
            if run(url, "exec", "sig", "test", "-e",
                   "/workspace/started")[0] == 0:
                break
            time.sleep(0.1)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        check("SIGINT exits 130", p.returncode == 130 and
              b"interrupted" in err, (p.returncode, err))
    finally:
        for p in (noxd, faultd, tnoxd):
            stop_server(p)
        shutil.rmtree(WORK, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
