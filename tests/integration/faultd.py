#!/usr/bin/env python3
"""faultd: a NoxRunner test server that misbehaves on request.

The contract (routes, fault tokens, control endpoints) is FAULTD.md beside
this file. The server sits on raw asyncio streams rather than an HTTP
framework so that it can break HTTP on purpose: lie about lengths, stall,
trickle, reset connections.
"""

import argparse
import asyncio
import json
import re
import signal
import socket
import string
import struct
import sys
import time
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

EXPIRES_AT = "2030-01-02T03:04:05Z"
MAX_HEAD = 64 * 1024
MAX_BODY = 256 * 1024 * 1024
DOWNLOAD_LEN = 4096
CHUNK_PAUSE_S = 0.002
RESET_PAUSE_S = 0.05
CONTROL_PATHS = ("/_log", "/_reset", "/_stats")

# Tokens without a number.
FLAGS = {"text", "badjson", "wrongtype", "empty", "truncate", "reset",
         "resetnow", "hang", "escapes", "nul", "unknown", "close", "lost",
         "files", "bignum", "bigexit", "truncflags"}
# Tokens of the form NAME<digits>.
NUMBERED = re.compile(r"(ra|trickle|delay|chunk|huge|dl)(\d+)")
STATUS = re.compile(r"s(\d{3})x(\d+|\*)")

# Exec stdout for `escapes` and `nul`, as raw JSON text: every escape form
# a parser must decode, including a surrogate pair.
ESCAPES_JSON = r'"q\"b\\s\/n\nt\tu\u00e9\ud83d\ude00z"'
NUL_JSON = r'"a\u0000b"'

# Extra fields for `unknown`: every JSON type, nested, with known names
# inside nested values that a parser must not pick up.
UNKNOWN_BEFORE = (
    '"aNull":null,"aTrue":true,"aFalse":false,"anInt":-42,'
    '"aFloat":-1.5e-3,"aString":"x\\"y\\u00e9",'
    '"anArray":[1,"two",[3,{"exitCode":99,"podName":"nested"}],null,{}],'
    '"anObject":{"stdout":"nested-stdout","expiresAt":"1999-01-01T00:00:00Z",'
    '"deep":{"deeper":[[[]]],"n":1e300}},'
)
UNKNOWN_AFTER = (
    ',"trailingObject":{"a":[true,false,null,{"b":{}}]},'
    '"trailingArray":[{"stderr":"nested-stderr"},[],""],"zLast":0'
)

# Extra fields for `bignum`: numbers that fit no C integer or double, at the
# top level and nested, before and after the known fields.
BIGNUM_BEFORE = (
    '"x":123456789012345678901234567890,"i64":9223372036854775808,'
    '"neg":-9223372036854775809,"huge":1e400,"nhuge":-1e400,"tiny":1e-400,'
    '"nest":[1e400,{"exitCode":123456789012345678901234567890,'
    '"deep":[9223372036854775808,[-1e999]]}],'
)
BIGNUM_AFTER = (
    ',"obj":{"durationMs":1e400,"podName":99999999999999999999999,'
    '"n":-123456789012345678901234567890.5e-7},"zLast":1e400'
)


def op_kind(method, target):
    """create, exec or transfer for those sandbox requests, else None."""
    path = target.partition("?")[0]
    if path.startswith("/f/"):
        path = "/" + path[3:].partition("/")[2]
    segs = path.split("/")
    if len(segs) < 4 or segs[:3] != ["", "v1", "sandboxes"]:
        return None
    tail = tuple(segs[4:])
    if tail == () and method == "PUT":
        return "create"
    if tail == ("exec",) and method == "POST":
        return "exec"
    if tail in (("files", "upload"), ("files", "download")):
        return "transfer"
    return None


class BadRequest(Exception):
    pass


class Request:
    __slots__ = ("method", "target", "version", "headers", "body")

    def __init__(self, method, target, version, headers, body):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # lowercased name -> value
        self.body = body

    def wants_close(self):
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" not in conn
        return "close" in conn


class Faults:
    """A parsed fault SPEC."""

    def __init__(self, spec):
        self.spec = spec
        self.statuses = []  # [(code, n or None for always)]
        self.flags = set()
        self.nums = {}
        self.error = None
        for tok in spec.split(","):
            if not tok or tok.startswith("tag"):
                continue
            m = STATUS.fullmatch(tok)
            if m:
                n = None if m.group(2) == "*" else int(m.group(2))
                self.statuses.append((int(m.group(1)), n))
                continue
            m = NUMBERED.fullmatch(tok)
            if m:
                self.nums[m.group(1)] = int(m.group(2))
                continue
            if tok in FLAGS:
                self.flags.add(tok)
                continue
            self.error = "unknown fault token %r" % tok
        if self.nums.get("chunk") == 0:
            self.error = "chunk0 is not a chunk size"

    def has(self, flag):
        return flag in self.flags

    def injected_status(self, nth):
        """The status to inject into the nth (0-based) matching request."""
        for code, n in self.statuses:
            if n is None or nth < n:
                return code
            nth -= n
        return None


NO_FAULTS = Faults("")


class Conn:
    __slots__ = ("id", "epoch", "control", "seen")

    def __init__(self, cid):
        self.id = cid
        self.epoch = None  # the stats epoch this connection is counted in
        self.control = False  # its first request was a control request
        self.seen = False


def pattern_bytes(n):
    unit = bytes(range(251))
    return (unit * (n // 251 + 1))[:n]


def letters(n):
    unit = string.ascii_lowercase
    return (unit * (n // 26 + 1))[:n]


def json_bytes(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


class Faultd:
    def __init__(self):
        self.t0 = time.monotonic()
        self.next_conn = 1
        self.tasks = set()
        self.download = pattern_bytes(DOWNLOAD_LEN)
        self.reset()

    def reset(self):
        self.log = []
        self.counters = {}
        self.epoch = getattr(self, "epoch", 0) + 1
        self.conn_total = 0
        self.conn_open = 0
        self.conn_max_open = 0
        self.requests = 0
        self.inflight = {}
        self.inflight_max = {"create": 0, "exec": 0, "transfer": 0}

    # ---------------------------------------------------------------- I/O

    async def serve(self, reader, writer):
        task = asyncio.current_task()
        self.tasks.add(task)
        conn = Conn(self.next_conn)
        self.next_conn += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                try:
                    req = await self.read_request(reader, writer)
                except BadRequest as e:
                    await self.write_simple(writer, 400, str(e))
                    break
                if req is None:
                    break
                if not await self.dispatch(conn, req, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            if conn.epoch == self.epoch:
                self.conn_open -= 1
            if not writer.transport.is_closing():
                writer.close()
            self.tasks.discard(task)

    async def read_request(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if e.partial.strip():
                raise BadRequest("incomplete request head")
            return None
        except asyncio.LimitOverrunError:
            raise BadRequest("request head too large")
        lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest("bad request line")
        method, target, version = parts
        headers = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise BadRequest("bad header line")
            name = name.lower()
            value = value.strip()
            headers[name] = headers[name] + ", " + value if name in headers else value
        te = headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        has_body = "chunked" in te or (length is not None and length != "0")
        if has_body and headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        if "chunked" in te:
            body = await self.read_chunked(reader)
        elif length is not None:
            if not length.isdigit() or int(length) > MAX_BODY:
                raise BadRequest("bad content-length")
            body = await reader.readexactly(int(length))
        else:
            body = b""
        if target.startswith("http://") or target.startswith("https://"):
            slash = target.find("/", target.find("//") + 2)
            target = target[slash:] if slash >= 0 else "/"
        return Request(method, target, version, headers, body)

    async def read_chunked(self, reader):
        parts = []
        total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("bad chunk size")
            if size == 0:
                break
            total += size
            if total > MAX_BODY:
                raise BadRequest("body too large")
            parts.append(await reader.readexactly(size))
            if await reader.readexactly(2) != b"\r\n":
                raise BadRequest("bad chunk end")
        while (await reader.readuntil(b"\r\n")) != b"\r\n":
            pass  # trailers
        return b"".join(parts)

    @staticmethod
    def head_bytes(status, headers):
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Status"
        lines = ["HTTP/1.1 %d %s" % (status, reason), "Server: faultd"]
        lines += ["%s: %s" % kv for kv in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def write_simple(self, writer, status, text):
        body = json_bytes({"error": text})
        writer.write(self.head_bytes(status, [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close")]) + body)
        await writer.drain()

    # ----------------------------------------------------------- dispatch

    async def dispatch(self, conn, req, reader, writer):
        """Answers one request; returns whether the connection stays open.

        Counts the creates, execs and transfers being answered at once (from
        the request read to the answer sent), for admission-control tests.
        """
        kind = op_kind(req.method, req.target)
        if kind is None:
            return await self.dispatch_one(conn, req, reader, writer)
        self.inflight[kind] = self.inflight.get(kind, 0) + 1
        self.inflight_max[kind] = max(self.inflight_max[kind],
                                      self.inflight[kind])
        try:
            return await self.dispatch_one(conn, req, reader, writer)
        finally:
            self.inflight[kind] -= 1

    async def dispatch_one(self, conn, req, reader, writer):
        raw_path, _, raw_query = req.target.partition("?")
        first = not conn.seen
        conn.seen = True
        if raw_path in CONTROL_PATHS:
            conn.control = conn.control or first
            status, ctype, body = self.control(req.method, raw_path)
            return await self.respond(req, writer, NO_FAULTS, status, ctype,
                                      body, [])

        if not conn.control and conn.epoch != self.epoch:
            conn.epoch = self.epoch
            self.conn_total += 1
            self.conn_open += 1
            self.conn_max_open = max(self.conn_max_open, self.conn_open)
        self.requests += 1

        spec, rest = "", raw_path
        if raw_path.startswith("/f/"):
            spec_raw, slash, tail = raw_path[3:].partition("/")
            spec = unquote(spec_raw)
            rest = slash + tail if slash else "/"
        path = unquote(rest)
        keep_body = "files" not in spec.split(",")
        self.log.append({
            "conn": conn.id,
            "method": req.method,
            "target": req.target,
            "path": path,
            "query": dict(parse_qsl(raw_query, keep_blank_values=True)),
            "headers": req.headers,
            "body": req.body.decode("latin-1") if keep_body else "",
            "body_len": len(req.body),
            "spec": spec,
            "time": round(time.monotonic() - self.t0, 6),
        })

        faults = Faults(spec) if spec else NO_FAULTS
        if faults.error:
            return await self.respond(req, writer, NO_FAULTS, 400,
                                      "application/json",
                                      json_bytes({"error": faults.error}), [])
        if faults.has("resetnow"):
            self.rst(writer)
            return False
        if faults.has("hang"):
            while await reader.read(65536):
                pass
            return False
        if "delay" in faults.nums:
            await asyncio.sleep(faults.nums["delay"] / 1000)

        key = (spec, req.method, path)
        nth = self.counters.get(key, 0)
        self.counters[key] = nth + 1
        code = faults.injected_status(nth)
        extra = []
        if code is not None:
            if faults.has("text"):
                ctype, body = "text/plain", b"injected %d" % code
            else:
                ctype = "application/json"
                body = json_bytes({"error": "injected %d" % code})
            if "ra" in faults.nums:
                extra.append(("Retry-After", str(faults.nums["ra"])))
            status = code
        elif faults.has("lost") and op_kind(req.method, req.target) == "exec":
            status, ctype = 404, "application/json"
            body = json_bytes({"error": "no such sandbox"})
        elif faults.has("lost") and req.method == "POST" and \
                path.endswith("/touch"):
            status, ctype = 404, "application/json"
            body = json_bytes({"error": "no such sandbox"})
        else:
            status, ctype, body = self.route(req, rest, faults)
        return await self.respond(req, writer, faults, status, ctype, body,
                                  extra)

    def control(self, method, path):
        want = "POST" if path == "/_reset" else "GET"
        if method != want:
            return 405, "application/json", json_bytes(
                {"error": "use %s" % want})
        if path == "/_reset":
            self.reset()
            return 200, "application/json", b"{}"
        if path == "/_stats":
            return 200, "application/json", json_bytes({
                "connections_total": self.conn_total,
                "connections_open": self.conn_open,
                "connections_max_open": self.conn_max_open,
                "requests": self.requests,
                "max_concurrent_create": self.inflight_max["create"],
                "max_concurrent_exec": self.inflight_max["exec"],
                "max_concurrent_transfer": self.inflight_max["transfer"],
            })
        return 200, "application/json", json_bytes(self.log)

    def route(self, req, rest, f):
        """The normal answer, with content faults applied."""
        segs = [unquote(s) for s in rest.split("/")]
        m = req.method
        op = None
        if segs == ["", "healthz"] and m == "GET":
            op = "health"
        elif len(segs) >= 4 and segs[:3] == ["", "v1", "sandboxes"] and segs[3]:
            tail = segs[4:]
            op = {
                ((), "PUT"): "create",
                ((), "DELETE"): "delete",
                (("touch",), "POST"): "touch",
                (("exec",), "POST"): "exec",
                (("files", "upload"), "POST"): "upload",
                (("files", "download"), "GET"): "download",
            }.get((tuple(tail), m))
        if op is None:
            return 404, "application/json", json_bytes({"error": "no route"})

        if f.has("badjson"):
            return 200, "application/json", b'{"exitCode": 0, "stdout": "x'
        if f.has("empty"):
            return 200, "application/json", b""

        sid = segs[3] if op != "health" else None
        if op == "health":
            return 200, "text/plain", b"OK"
        if op == "create":
            pod = json.dumps("pod-" + sid)
            fields = '"podName":%s,"expiresAt":"%s"' % (
                "5" if f.has("wrongtype") else pod, EXPIRES_AT)
            return 200, "application/json", self.wrap(fields, f)
        if op == "touch":
            return 200, "application/json", b"{}"
        if op == "exec":
            return self.exec_answer(req, f)
        if op == "upload" and f.has("files"):
            query = dict(parse_qsl(req.target.partition("?")[2]))
            with open(query.get("dest", ""), "wb") as out:
                out.write(req.body)
            return 200, "application/json", b'{"ok":true}'
        if op == "download" and f.has("files"):
            query = dict(parse_qsl(req.target.partition("?")[2]))
            try:
                with open(query.get("src", ""), "rb") as src:
                    return 200, "application/x-tar", src.read()
            except OSError:
                return 404, "application/json", json_bytes(
                    {"error": "no such file"})
        if op == "upload":
            return 200, "application/json", b'{"ok":true}'
        if op == "download":
            n = f.nums.get("dl")
            body = self.download if n is None else pattern_bytes(n)
            return 200, "application/x-tar", body
        return 204, None, b""

    @staticmethod
    def wrap(fields, f):
        if f.has("bignum"):
            fields = BIGNUM_BEFORE + fields + BIGNUM_AFTER
        if f.has("unknown"):
            return ("{" + UNKNOWN_BEFORE + fields + UNKNOWN_AFTER + "}").encode()
        return ("{" + fields + "}").encode()

    def exec_answer(self, req, f):
        try:
            cmd = json.loads(req.body.decode("utf-8"))["cmd"]
            if not isinstance(cmd, list) or not all(
                    isinstance(a, str) for a in cmd):
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return 400, "application/json", json_bytes(
                {"error": "exec body needs a JSON cmd array of strings"})
        if f.has("escapes"):
            out = ESCAPES_JSON
        elif f.has("nul"):
            out = NUL_JSON
        elif "huge" in f.nums:
            out = json.dumps(letters(f.nums["huge"]))
        else:
            out = json.dumps(" ".join(cmd))
        code = '"0"' if f.has("wrongtype") else "0"
        if f.has("bigexit"):
            code = "99999999999999999999"
        fields = '"exitCode":%s,"stdout":%s,"stderr":"","durationMs":7' % (
            code, out)
        if f.has("truncflags"):
            fields += ',"stdoutTruncated":true,"stderrTruncated":false'
        return 200, "application/json", self.wrap(fields, f)

    # ------------------------------------------------------------ answers

    async def respond(self, req, writer, f, status, ctype, body, extra):
        bodyless = status in (204, 304) or status < 200
        chunked = "chunk" in f.nums and not bodyless
        keep = not (f.has("close") or req.wants_close() or f.has("truncate")
                    or f.has("reset"))
        headers = []
        if ctype and not bodyless:
            headers.append(("Content-Type", ctype))
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        elif not bodyless:
            headers.append(("Content-Length", str(len(body))))
        headers += extra
        headers.append(("Connection", "keep-alive" if keep else "close"))
        head = self.head_bytes(status, headers)
        if bodyless:
            body = b""

        cut = f.has("truncate") or f.has("reset")
        if cut:
            body = body[:len(body) // 2]
        pieces = [(head, 0.0)]
        if chunked:
            n = f.nums["chunk"]
            for i in range(0, len(body), n):
                c = body[i:i + n]
                pieces.append((b"%x\r\n%s\r\n" % (len(c), c), CHUNK_PAUSE_S))
            if not cut:
                pieces.append((b"0\r\n\r\n", CHUNK_PAUSE_S))
        elif body:
            if "trickle" in f.nums:
                pieces.append((body, 0.0))
            else:
                pieces[0] = (head + body, 0.0)

        trickle = f.nums.get("trickle")
        for data, pause in pieces:
            if trickle is not None:
                for i in range(len(data)):
                    await asyncio.sleep(trickle / 1000)
                    writer.write(data[i:i + 1])
                    await writer.drain()
                continue
            if pause:
                await asyncio.sleep(pause)
            writer.write(data)
            await writer.drain()

        if f.has("reset"):
            await asyncio.sleep(RESET_PAUSE_S)
            self.rst(writer)
        return keep

    @staticmethod
    def rst(writer):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        writer.transport.abort()


async def main():
    global MAX_BODY
    ap = argparse.ArgumentParser(description="fault-injecting NoxRunner test server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--max-body", type=int, default=MAX_BODY,
                    help="largest request body accepted, in bytes")
    args = ap.parse_args()
    MAX_BODY = args.max_body

    fd = Faultd()
    server = await asyncio.start_server(fd.serve, args.host, args.port,
                                        limit=MAX_HEAD, backlog=1024,
                                        reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    print("faultd listening on http://%s:%d" % (args.host, port), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    server.close()
    for t in list(fd.tasks):
        t.cancel()
    await asyncio.gather(*fd.tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
