#!/usr/bin/env python3
"""twofold's test upstream: a small HTTP/1.1 server with routes that exercise a proxy.

    python3 upstream.py --listen 127.0.0.1:PORT [--record FILE] [--name NAME]

Prints "READY <port>" on stdout once listening (PORT 0 picks a free port and prints it)
and exits 0 on SIGTERM or SIGINT. One thread per connection; keep-alive and pipelined
requests are answered in order. Python 3 standard library only.

Routes (any method unless said otherwise; HEAD on any route gives the head without body):
  /echo             200, body = the request body; headers X-Body-Sha256, X-Body-Length,
                    X-Framing (content-length | chunked | none) describe what arrived.
                    ?chunked=1 answers with chunked framing instead of Content-Length.
  /echo-headers     200, JSON body: method, target, path, version, headers (list of
                    [name, value] as received, in order), framing, body_length, conn (the
                    upstream's connection number), peer.
  /bytes?n=N        N bytes of pattern(N) with Content-Length (+ X-Body-Sha256)
  /chunked?n=N      the same bytes, chunked in pieces of varying size
  /eof?n=N          the same bytes, no framing: the connection closes after them
  /stream?seconds=S&interval=I   chunked, one line every I seconds for S seconds
  /delay?ms=M       200 "delayed M ms" after M ms
  /close            closes the connection without answering
  /invalid          answers bytes that are not HTTP, then closes
  /truncated?n=N    a head announcing N body bytes, then N/2 bytes, then closes
  /badframing       a response with both Content-Length and Transfer-Encoding (invalid)
  /slowread?ms=M    waits M ms BEFORE reading the request body, then answers like /echo
                    with an empty body (X-Body-Sha256 tells what arrived): backpressure
  /status?code=C    answers status C (204 and 304 without body, 1xx refused)
  /conns            200, body = number of TCP connections accepted so far
  /ws               WebSocket (RFC 6455): 101 handshake, then echoes text/binary frames,
                    answers ping with pong and close with close
  /interim?codes=102,103&blank=1
                    raw interim responses before a 200 "final\n": one per code, in order
                    (102 "Processing", 103 "Early Hints" with two Link fields, 100
                    "Continue", any other "Interim"); blank=1 sends an empty line after
                    each (aiohttp does so after 100 Continue)
  /fields?n=N&size=S&name=Set-Cookie
                    200 with N fields called name (default Set-Cookie), values
                    "cN=" padded to S bytes (default 16)
  /trailers         chunked 200 whose body is the JSON of /echo-headers, followed by
                    the trailer fields "X-Checksum: abc123" and "X-Done: yes"
Expect: 100-continue gets "100 Continue" before the body is read (?expect=417 on any route
answers 417 instead and does not read the body).

--name NAME adds "X-Upstream: NAME" to every response (tests with several upstreams).

--answers N answers N requests per connection (without "Connection: close"), then reads
the next request's head (recorded) and closes without answering: a pooled connection that
dies under the next request, as a restarting or idle-timing-out origin does.

--record FILE appends every raw byte received to FILE as it arrives (one write per recv,
so concurrent connections interleave only at recv boundaries): a test can assert exactly
what reached the upstream, or that nothing did.

pattern(n) is bytes(i % 251 for i in range(n)): 251 is prime, so a lost, duplicated or
reordered piece shows in the hash whatever the chunk sizes.
"""

import argparse
import base64
import hashlib
import json
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEAD = 256 * 1024
_PATTERN = bytes(i % 251 for i in range(251)) * 64  # 16064 bytes, a multiple of 251


def pattern(n):
    """n bytes of the test pattern: bytes(i % 251 for i in range(n))."""
    reps = n // len(_PATTERN) + 1
    return (_PATTERN * reps)[:n]


class Closed(Exception):
    """The peer closed the connection (or a framing error ended it)."""


class Conn:
    """Buffered reads over a socket, recording every received byte when asked."""

    def __init__(self, sock, recorder):
        self.sock = sock
        self.buf = bytearray()
        self.recorder = recorder

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        if self.recorder:
            self.recorder(data)
        self.buf += data

    def read_line(self, limit=MAX_HEAD):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[: i + 1])
                del self.buf[: i + 1]
                return line
            if len(self.buf) > limit:
                raise Closed()
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_some(self):
        if not self.buf:
            self._fill()
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def send(self, data):
        self.sock.sendall(data)


class Request:
    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # list of (name, value) as received
        parsed = urllib.parse.urlsplit(target)
        self.path = parsed.path
        self.query = dict(urllib.parse.parse_qsl(parsed.query))
        self.body = b""
        self.framing = "none"

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_list(self, name):
        name = name.lower()
        out = []
        for k, v in self.headers:
            if k.lower() == name:
                out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def keep_alive(self):
        tokens = self.header_list("connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


def read_head(conn):
    """Returns a Request without its body, or None at a clean EOF between requests."""
    try:
        line = conn.read_line()
    except Closed:
        return None
    while line in (b"\r\n", b"\n"):  # tolerated empty lines before a request
        line = conn.read_line()
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3:
        raise Closed()
    headers = []
    size = len(line)
    while True:
        h = conn.read_line()
        size += len(h)
        if size > MAX_HEAD:
            raise Closed()
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers.append((name, value.strip()))
    return Request(parts[0], parts[1], parts[2], headers)


def read_body(conn, req):
    te = req.header_list("transfer-encoding")
    if te:
        req.framing = "chunked"
        chunks = []
        while True:
            size_line = conn.read_line().split(b";")[0].strip()
            n = int(size_line, 16)
            if n == 0:
                while conn.read_line() not in (b"\r\n", b"\n"):
                    pass  # trailers
                break
            chunks.append(conn.read_exact(n))
            conn.read_exact(2)
        req.body = b"".join(chunks)
    elif req.header("content-length") is not None:
        req.framing = "content-length"
        req.body = conn.read_exact(int(req.header("content-length")))


def head_bytes(status, reason, headers):
    lines = ["HTTP/1.1 %d %s" % (status, reason)]
    lines += ["%s: %s" % (k, v) for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


REASONS = {100: "Continue", 102: "Processing", 103: "Early Hints", 200: "OK", 101: "Switching Protocols", 204: "No Content", 304: "Not Modified",
           400: "Bad Request", 404: "Not Found", 417: "Expectation Failed",
           500: "Internal Server Error", 503: "Service Unavailable"}


class Handler(socketserver.BaseRequestHandler):
    """One client connection: requests in order until close."""

    def handle(self):
        srv = self.server
        with srv.lock:
            srv.conns += 1
            self.conn_no = srv.conns
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(self.request, srv.record)
        answered = 0
        try:
            while True:
                req = read_head(conn)
                if req is None or answered == srv.answers:
                    return  # (--answers: the head was read and recorded; no answer)
                if not self.serve(conn, req):
                    return
                answered += 1
        except (Closed, OSError, ValueError):
            return

    def respond(self, conn, req, status, body=b"", headers=(), chunked=False, close=False):
        close = close or not req.keep_alive()
        hdrs = list(headers) + self.server.extra_headers
        no_body = req.method == "HEAD" or status in (204, 304)
        if chunked:
            hdrs.append(("Transfer-Encoding", "chunked"))
        elif status not in (204, 304):
            hdrs.append(("Content-Length", str(len(body))))
        if close:
            hdrs.append(("Connection", "close"))
        out = head_bytes(status, REASONS.get(status, "Status"), hdrs)
        if not no_body:
            out += chunk_encode(body) if chunked else body
        conn.send(out)
        return not close

    def serve(self, conn, req):
        """Answers one request; returns False when the connection must close."""
        if "100-continue" in req.header_list("expect"):
            if req.query.get("expect") == "417":
                return self.respond(conn, req, 417, b"no thanks\n", close=True)
            conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if req.path == "/ws":
            return self.websocket(conn, req)
        if req.path == "/slowread":
            time.sleep(int(req.query.get("ms", "0")) / 1000.0)
        read_body(conn, req)
        route = ROUTES.get(req.path)
        if route is None:
            return self.respond(conn, req, 404, b"no such route\n")
        return route(self, conn, req)

    def r_echo(self, conn, req):
        hdrs = [("X-Body-Sha256", hashlib.sha256(req.body).hexdigest()),
                ("X-Body-Length", str(len(req.body))), ("X-Framing", req.framing),
                ("Content-Type", "application/octet-stream")]
        return self.respond(conn, req, 200, req.body, hdrs, chunked=req.query.get("chunked") == "1")

    def headers_doc(self, req):
        return {"method": req.method, "target": req.target, "path": req.path,
                "version": req.version, "headers": req.headers, "framing": req.framing,
                "body_length": len(req.body), "conn": self.conn_no,
                "peer": "%s:%d" % self.client_address[:2]}

    def r_interim(self, conn, req):
        codes = [int(c) for c in req.query.get("codes", "103").split(",") if c]
        out = b""
        for code in codes:
            hdrs = [("Link", "</style.css>; rel=preload; as=style"),
                    ("Link", "</app.js>; rel=preload; as=script")] if code == 103 else []
            out += head_bytes(code, REASONS.get(code, "Interim"), hdrs)
            if req.query.get("blank") == "1":
                out += b"\r\n"
        conn.send(out)
        return self.respond(conn, req, 200, b"final\n")

    def r_fields(self, conn, req):
        n = int(req.query.get("n", "1"))
        size = int(req.query.get("size", "16"))
        name = req.query.get("name", "Set-Cookie")
        hdrs = [(name, ("c%d=" % i).ljust(size, "x")) for i in range(n)]
        return self.respond(conn, req, 200, b"fields\n", hdrs)

    def r_trailers(self, conn, req):
        body = json.dumps(self.headers_doc(req)).encode()
        hdrs = [("Content-Type", "application/json"), ("Trailer", "X-Checksum, X-Done"),
                ("Transfer-Encoding", "chunked")] + self.server.extra_headers
        conn.send(head_bytes(200, "OK", hdrs) + b"%x\r\n%s\r\n" % (len(body), body)
                  + b"0\r\nX-Checksum: abc123\r\nX-Done: yes\r\n\r\n")
        return req.keep_alive()

    def r_echo_headers(self, conn, req):
        body = json.dumps(self.headers_doc(req)).encode()
        return self.respond(conn, req, 200, body, [("Content-Type", "application/json")])

    def r_bytes(self, conn, req):
        body = pattern(int(req.query.get("n", "0")))
        return self.respond(conn, req, 200, body, sha_header(body))

    def r_chunked(self, conn, req):
        body = pattern(int(req.query.get("n", "0")))
        return self.respond(conn, req, 200, body, sha_header(body), chunked=True)

    def r_eof(self, conn, req):
        body = pattern(int(req.query.get("n", "0")))
        out = head_bytes(200, "OK", sha_header(body) + [("Connection", "close")])
        conn.send(out if req.method == "HEAD" else out + body)
        return False

    def r_stream(self, conn, req):
        seconds = float(req.query.get("seconds", "1"))
        interval = float(req.query.get("interval", "0.2"))
        conn.send(head_bytes(200, "OK", [("Transfer-Encoding", "chunked")]))
        if req.method == "HEAD":
            return req.keep_alive()
        end = time.monotonic() + seconds
        i = 0
        while True:
            piece = ("piece %d\n" % i).encode()
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            i += 1
            if time.monotonic() + interval > end:
                break
            time.sleep(interval)
        conn.send(b"0\r\n\r\n")
        return req.keep_alive()

    def r_delay(self, conn, req):
        ms = int(req.query.get("ms", "0"))
        time.sleep(ms / 1000.0)
        return self.respond(conn, req, 200, b"delayed %d ms\n" % ms)

    def r_close(self, conn, req):
        return False

    def r_invalid(self, conn, req):
        conn.send(b"THIS IS NOT HTTP\r\n\r\n")
        return False

    def r_truncated(self, conn, req):
        n = int(req.query.get("n", "1000"))
        out = head_bytes(200, "OK", [("Content-Length", str(n))] + self.server.extra_headers)
        conn.send(out + pattern(n // 2))
        return False

    def r_badframing(self, conn, req):
        conn.send(head_bytes(200, "OK", [("Content-Length", "5"),
                                         ("Transfer-Encoding", "chunked")])
                  + b"5\r\nhello\r\n0\r\n\r\n")
        return False

    def r_slowread(self, conn, req):
        hdrs = [("X-Body-Sha256", hashlib.sha256(req.body).hexdigest()),
                ("X-Body-Length", str(len(req.body)))]
        return self.respond(conn, req, 200, b"", hdrs)

    def r_status(self, conn, req):
        code = int(req.query.get("code", "200"))
        if code < 200 or code > 599:
            return self.respond(conn, req, 400, b"bad code\n")
        body = b"" if code in (204, 304) else b"status %d\n" % code
        hdrs = [("ETag", '"v1"')] if code == 304 else []
        return self.respond(conn, req, code, body, hdrs)

    def r_conns(self, conn, req):
        with self.server.lock:
            n = self.server.conns
        return self.respond(conn, req, 200, b"%d" % n)

    def websocket(self, conn, req):
        key = req.header("sec-websocket-key")
        if "websocket" not in req.header_list("upgrade") or not key:
            return self.respond(conn, req, 400, b"not a websocket request\n", close=True)
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
        conn.send(head_bytes(101, "Switching Protocols",
                             [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                              ("Sec-WebSocket-Accept", accept)]))
        while True:
            opcode, payload = ws_read(conn)
            if opcode == 0x8:
                conn.send(ws_frame(0x8, payload[:2]))
                return False
            if opcode == 0x9:
                conn.send(ws_frame(0xA, payload))
            elif opcode in (0x1, 0x2):
                conn.send(ws_frame(opcode, payload))


ROUTES = {"/echo": Handler.r_echo, "/echo-headers": Handler.r_echo_headers,
          "/bytes": Handler.r_bytes, "/chunked": Handler.r_chunked, "/eof": Handler.r_eof,
          "/stream": Handler.r_stream, "/delay": Handler.r_delay, "/close": Handler.r_close,
          "/invalid": Handler.r_invalid, "/truncated": Handler.r_truncated,
          "/badframing": Handler.r_badframing, "/slowread": Handler.r_slowread,
          "/status": Handler.r_status, "/interim": Handler.r_interim,
          "/fields": Handler.r_fields, "/trailers": Handler.r_trailers,
          "/conns": Handler.r_conns}


def sha_header(body):
    return [("X-Body-Sha256", hashlib.sha256(body).hexdigest())]


def chunk_encode(body):
    """Chunked framing with varying chunk sizes (1, 10, 100, ... then 16 KiB pieces)."""
    out, i, size = [], 0, 1
    while i < len(body):
        piece = body[i:i + size]
        out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        i += len(piece)
        size = min(size * 10, 16384)
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def ws_read(conn):
    """One WebSocket frame (fragments are returned as they come). -> (opcode, payload)."""
    b0, b1 = conn.read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", conn.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", conn.read_exact(8))[0]
    mask = conn.read_exact(4) if b1 & 0x80 else None
    payload = conn.read_exact(n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return b0 & 0x0F, payload


def ws_frame(opcode, payload, mask=None):
    """A final frame; mask (4 bytes) for client-to-server frames."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if mask:
        head += mask
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + payload


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, record_path, name=None, answers=None):
        super().__init__(addr, Handler)
        self.answers = answers
        self.extra_headers = [("X-Upstream", name)] if name else []
        self.lock = threading.Lock()
        self.conns = 0
        self.record = None
        if record_path:
            f = open(record_path, "ab", buffering=0)
            rlock = threading.Lock()

            def record(data):
                with rlock:
                    f.write(data)

            self.record = record


def main():
    ap = argparse.ArgumentParser(description="twofold test upstream")
    ap.add_argument("--listen", required=True, help="HOST:PORT (port 0: any free port)")
    ap.add_argument("--record", help="append every received byte to this file")
    ap.add_argument("--name", help='add "X-Upstream: NAME" to every response')
    ap.add_argument("--answers", type=int,
                    help="answer N requests per connection, then close under the next")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    srv = Server((host, int(port)), args.record, args.name, args.answers)

    def stop(signum, frame):
        # shutdown() waits for serve_forever to return: run it off the main thread.
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("READY %d" % srv.server_address[1], flush=True)
    srv.serve_forever(poll_interval=0.1)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
