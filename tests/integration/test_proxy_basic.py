#!/usr/bin/env python3
"""The HTTP relay through the real binary: bodies both ways, keep-alive, pipelining,
forwarding headers, Expect, HEAD/204/304, WebSocket."""

import base64
import hashlib
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402

MIB = 1024 * 1024
SIZES = (0, 1024, 10 * MIB)


class ProxyBasic(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        tmp = cls.class_tmp()
        cls.certs = h.Certs(os.path.join(tmp, "certs"))
        a = cls.certs.gen(["a.test", "www.a.test"])
        cls.up = cls.class_upstream()
        cls.port = h.free_port()
        conf = h.config(cls.port, [h.site("a", ["a.test", "www.a.test"], [a["rsa"], a["ecdsa"]],
                                          "up")], {"up": [cls.up.addr]})
        cls.tf = cls.class_twofold(conf, port=cls.port, name="a.test")
        cls.host = "a.test:%d" % cls.port

    def conn(self, timeout=30.0):
        return h.HttpConn(self.port, "a.test", self.certs.ca, timeout=timeout)

    def echo_headers(self, c, headers=(), host=None):
        r = c.request("GET", "/echo-headers", host or self.host, headers=headers)
        self.assertEqual(r.status, 200, r)
        return json.loads(r.body)

    # ---- bodies
    def test_upload_content_length(self):
        with self.conn() as c:
            for n in SIZES:
                body = os.urandom(n)
                r = c.request("POST", "/echo", self.host, body=body)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("X-Body-Length"), str(n))
                self.assertEqual(r.header("X-Framing"), "content-length")
                self.assertEqual(h.sha256(r.body), h.sha256(body), "size %d" % n)

    def test_upload_chunked(self):
        with self.conn() as c:
            for n in SIZES:
                body = os.urandom(n)
                r = c.request("POST", "/echo?chunked=1", self.host, body=body, chunked=True)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("X-Body-Sha256"), h.sha256(body), "size %d" % n)
                self.assertEqual(h.sha256(r.body), h.sha256(body), "size %d" % n)
                self.assertIn(r.header("X-Framing"), ("chunked", "content-length"))

    def test_download(self):
        with self.conn() as c:
            for route in ("/bytes", "/chunked"):
                for n in SIZES:
                    r = c.request("GET", "%s?n=%d" % (route, n), self.host)
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(len(r.body), n, route)
                    self.assertEqual(h.sha256(r.body), h.sha256(h.pattern(n)), (route, n))

    def test_download_eof_delimited(self):
        for n in (0, 1024, 10 * MIB):
            with self.conn() as c:
                c.send(h.request_bytes("GET", "/eof?n=%d" % n, self.host))
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertEqual(h.sha256(r.body), h.sha256(h.pattern(n)), n)

    def test_stream(self):
        with self.conn() as c:
            r = c.request("GET", "/stream?seconds=1&interval=0.2", self.host)
            self.assertEqual(r.status, 200, r)
            lines = r.body.decode().splitlines()
            self.assertGreaterEqual(len(lines), 2)
            self.assertEqual(lines, ["piece %d" % i for i in range(len(lines))])

    def test_chunk_extensions_and_trailers(self):
        raw = (b"POST /echo HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
        with self.conn() as c:
            c.send(raw)
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"hello world"))
            # the connection is still in sync
            self.assertEqual(c.request("GET", "/bytes?n=3", self.host).body, h.pattern(3))

    def test_eof_delimited_response_keeps_client_alive(self):
        with self.conn() as c:
            c.send(h.request_bytes("GET", "/eof?n=3000", self.host))
            r = c.read_response()
            self.assertEqual(r.body, h.pattern(3000))
            self.assertFalse(c.eof, "an EOF-delimited upstream body should be re-framed")
            self.assertEqual(c.request("GET", "/bytes?n=3", self.host).body, h.pattern(3))

    def test_client_connection_close(self):
        with self.conn() as c:
            r = c.request("GET", "/bytes?n=10", self.host, headers=[("Connection", "close")])
            self.assertEqual((r.status, r.body), (200, h.pattern(10)))
            self.assertIn("close", r.tokens("connection"))
            self.assertTrue(c.closed_by_peer(10))

    def test_websocket_refused_is_a_normal_response(self):
        head = ("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\n\r\n" % self.host).encode()  # no key: refused
        with self.conn() as c:
            c.send(head)
            r = c.read_response()
        self.assertEqual((r.status, r.body), (400, b"not a websocket request\n"))

    def test_http10_client(self):
        with self.conn() as c:
            c.send(b"GET /bytes?n=100 HTTP/1.0\r\nHost: a.test\r\n\r\n")
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, h.pattern(100)))
            self.assertTrue(c.eof or c.closed_by_peer(10), "HTTP/1.0 connection left open")

    # ---- bounded memory (backpressure): the proxy must not buffer a whole body
    def rss(self):
        with open("/proc/%d/status" % self.tf.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def skip_if_sanitized(self):
        r = h.run(["ldd", h.BIN])
        if b"libasan" in r.stdout or b"libtsan" in r.stdout:
            self.skipTest("memory bound not measurable under a sanitizer")

    def test_download_backpressure(self):
        self.skip_if_sanitized()
        n = 64 * MIB
        with self.conn(timeout=60) as c:
            base = self.rss()
            c.send(h.request_bytes("GET", "/bytes?n=%d" % n, self.host))
            head = c.read_head()
            self.assertEqual(head.status, 200, head)
            time.sleep(1.5)  # not reading: the upstream pushes what the proxy accepts
            grown = self.rss() - base
            body = c.read_exact(n)
        self.assertEqual(h.sha256(body), h.sha256(h.pattern(n)))
        self.assertLess(grown, 24 * MIB, "proxy buffered %d MiB for a stalled client"
                        % (grown // MIB))

    def test_upload_backpressure(self):
        self.skip_if_sanitized()
        n = 64 * MIB
        body = h.pattern(n)
        with self.conn(timeout=60) as c:
            base = self.rss()
            c.send(("POST /slowread?ms=2000 HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
                    % (self.host, n)).encode())
            sender = threading.Thread(target=c.send, args=(body,))
            sender.start()
            time.sleep(1.5)  # the upstream is not reading yet
            grown = self.rss() - base
            sender.join(120)
            self.assertFalse(sender.is_alive())
            r = c.read_response()
        self.assertEqual((r.status, r.header("X-Body-Sha256")), (200, h.sha256(body)))
        self.assertLess(grown, 24 * MIB, "proxy buffered %d MiB of a request body"
                        % (grown // MIB))

    # ---- connections
    def test_keepalive_reuse(self):
        before = self.up.conns()
        with self.conn() as c:
            ids = [self.echo_headers(c)["conn"] for _ in range(6)]
        after = self.up.conns()
        proxied = after - before - 1  # minus our own direct /conns probe
        self.assertGreaterEqual(proxied, 0)
        self.assertLess(proxied, 6, "every request opened an upstream connection")
        self.assertLess(len(set(ids)), 6, ids)

    def test_keepalive_pool_across_clients(self):
        with self.conn() as c:
            first = self.echo_headers(c)["conn"]
        with self.conn() as c:
            second = self.echo_headers(c)["conn"]
        self.assertEqual(first, second, "the pooled upstream connection was not reused")

    def test_pipelining(self):
        body = os.urandom(5000)
        reqs = (h.request_bytes("GET", "/delay?ms=300", self.host)
                + h.request_bytes("POST", "/echo", self.host, body=body)
                + h.request_bytes("GET", "/bytes?n=70000", self.host))
        with self.conn() as c:
            c.send(reqs)  # all three in one write
            r1 = c.read_response()
            r2 = c.read_response()
            r3 = c.read_response()
        self.assertEqual(r1.body, b"delayed 300 ms\n")
        self.assertEqual(r2.body, body)
        self.assertEqual(r3.body, h.pattern(70000))

    def test_split_send(self):
        req = h.request_bytes("POST", "/echo", self.host, body=b"hello, split world")
        with self.conn() as c:
            for i in range(len(req)):
                c.send(req[i:i + 1])
            r = c.read_response()
        self.assertEqual((r.status, r.body), (200, b"hello, split world"))

    # ---- headers
    def test_forwarding_headers(self):
        with self.conn() as c:
            doc = self.echo_headers(c, [("X-Forwarded-For", "203.0.113.7")])
        hdrs = doc["headers"]

        def values(name):
            return [v for k, v in hdrs if k.lower() == name.lower()]

        self.assertEqual(values("Host"), [self.host])
        xff = ", ".join(values("X-Forwarded-For"))
        self.assertEqual([t.strip() for t in xff.split(",")], ["203.0.113.7", "127.0.0.1"])
        self.assertEqual(values("X-Forwarded-Proto"), ["https"])
        self.assertEqual(values("X-Forwarded-Host"), [self.host])

    def test_forwarded_proto_not_spoofable(self):
        with self.conn() as c:
            doc = self.echo_headers(c, [("X-Forwarded-Proto", "http")])
        vals = [v for k, v in doc["headers"] if k.lower() == "x-forwarded-proto"]
        self.assertEqual(vals, ["https"])

    def test_hop_by_hop_removed(self):
        sent = [("Connection", "keep-alive, X-Hop"), ("X-Hop", "secret"),
                ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
                ("X-End-To-End", "kept")]
        with self.conn() as c:
            doc = self.echo_headers(c, sent)
        names = [k.lower() for k, v in doc["headers"]]
        self.assertNotIn("x-hop", names)
        self.assertNotIn("keep-alive", names)
        self.assertNotIn("proxy-connection", names)
        for k, v in doc["headers"]:
            if k.lower() == "connection":
                self.assertNotIn("x-hop", v.lower())
        self.assertIn(["X-End-To-End", "kept"], doc["headers"])

    # ---- Expect, HEAD, 204, 304
    def test_expect_100_continue(self):
        body = os.urandom(100000)
        head = ("POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n"
                "Expect: 100-continue\r\n\r\n" % (self.host, len(body))).encode()
        with self.conn() as c:
            c.send(head)
            interim = c.read_response(interim=True)
            self.assertEqual(interim.status, 100, interim)
            c.send(body)
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, body)

    def test_expect_final_status_without_body(self):
        head = ("POST /echo?expect=417 HTTP/1.1\r\nHost: %s\r\nContent-Length: 10\r\n"
                "Expect: 100-continue\r\n\r\n" % self.host).encode()
        with self.conn() as c:
            c.send(head)
            r = c.read_response(interim=True)
        self.assertEqual(r.status, 417, r)

    def test_head_204_304_have_no_body(self):
        with self.conn() as c:
            r = c.request("HEAD", "/bytes?n=1000", self.host)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("Content-Length"), "1000")
            r = c.request("GET", "/status?code=204", self.host)
            self.assertEqual(r.status, 204, r)
            r = c.request("GET", "/status?code=304", self.host)
            self.assertEqual(r.status, 304, r)
            r = c.request("HEAD", "/chunked?n=5000", self.host)
            self.assertEqual(r.status, 200, r)
            # had any of them carried body bytes, this response would not parse
            r = c.request("GET", "/bytes?n=10", self.host)
            self.assertEqual((r.status, r.body), (200, h.pattern(10)))
            self.assertEqual(c.buf, bytearray())

    def test_404_passes_through(self):
        with self.conn() as c:
            r = c.request("GET", "/status?code=404", self.host)
        self.assertEqual((r.status, r.body), (404, b"status 404\n"))

    # ---- WebSocket
    def test_websocket_echo(self):
        key = base64.b64encode(os.urandom(16)).decode()
        head = ("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                % (self.host, key)).encode()
        with self.conn() as c:
            c.send(head)
            r = c.read_response()
            self.assertEqual(r.status, 101, r)
            want = base64.b64encode(hashlib.sha1(key.encode() + h.WS_GUID).digest()).decode()
            self.assertEqual(r.header("Sec-WebSocket-Accept"), want)
            mask = os.urandom(4)
            for opcode, payload in ((0x1, b"hello websocket"), (0x2, os.urandom(70000)),
                                    (0x9, b"ping!")):
                c.send(h.ws_frame(opcode, payload, mask))
                got_op, got = ws_read(c)
                self.assertEqual(got_op, 0xA if opcode == 0x9 else opcode)
                self.assertEqual(got, payload)
            c.send(h.ws_frame(0x8, b"\x03\xe8", mask))
            got_op, got = ws_read(c)
            self.assertEqual((got_op, got), (0x8, b"\x03\xe8"))
            self.assertTrue(c.closed_by_peer(10))


class Routing(h.TestCase):
    """Two sites with their own upstreams, a two-server round-robin pool, two workers,
    a JSON access log."""

    @classmethod
    def setUpEnv(cls):
        tmp = cls.class_tmp()
        cls.certs = h.Certs(os.path.join(tmp, "certs"))
        a = cls.certs.gen(["a.test"])
        b = cls.certs.gen(["*.b.test"])
        c = cls.certs.gen(["c.test"])
        cls.ua = cls.class_upstream(name="ua")
        cls.ub = cls.class_upstream(name="ub")
        cls.p1 = cls.class_upstream(name="p1")
        cls.p2 = cls.class_upstream(name="p2")
        cls.port = h.free_port()
        cls.log = os.path.join(tmp, "access.log")
        sites = [h.site("a", ["a.test"], [a["rsa"], a["ecdsa"]], "ua"),
                 h.site("b", ["*.b.test"], [b["rsa"], b["ecdsa"]], "ub"),
                 h.site("c", ["c.test"], [c["rsa"], c["ecdsa"]], "pool")]
        ups = {"ua": [cls.ua.addr], "ub": [cls.ub.addr],
               "pool": ([cls.p1.addr, cls.p2.addr], {"balance": "round_robin"})}
        conf = h.config(cls.port, sites, ups, {"workers": "2", "access_log": "json",
                                               "access_log_file": cls.log,
                                               "default_site": "a"})
        cls.tf = cls.class_twofold(conf, port=cls.port, name="a.test")

    def upstream_for(self, sni, host):
        with h.HttpConn(self.port, sni, self.certs.ca) as c:
            r = c.request("GET", "/bytes?n=1", host)
        self.assertEqual(r.status, 200, r)
        return r.header("X-Upstream")

    def test_sni_picks_site_upstream(self):
        self.assertEqual(self.upstream_for("a.test", "a.test"), "ua")
        self.assertEqual(self.upstream_for("x.b.test", "x.b.test:%d" % self.port), "ub")

    def test_unknown_host_uses_handshake_site(self):
        self.assertEqual(self.upstream_for("x.b.test", "unknown.test"), "ub")
        self.assertEqual(self.upstream_for("a.test", "unknown.test"), "ua")

    def test_round_robin_uses_both_servers(self):
        seen = [self.upstream_for("c.test", "c.test") for _ in range(8)]
        self.assertEqual(set(seen), {"p1", "p2"}, seen)

    def test_concurrent_clients(self):
        errors = []

        def client(i):
            try:
                with h.HttpConn(self.port, "a.test", self.certs.ca, timeout=60) as c:
                    for j in range(8):
                        body = os.urandom(1000 * (i + 1) + j)
                        r = c.request("POST", "/echo", "a.test", body=body, chunked=j % 2 == 1)
                        if r.status != 200 or r.body != body:
                            errors.append("client %d request %d: %r" % (i, j, r))
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append("client %d: %r" % (i, e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), "clients still running")
        self.assertEqual(errors, [])

    def test_access_log_json(self):
        path = "/bytes?n=7&tag=%d" % time.monotonic_ns()
        with h.HttpConn(self.port, "a.test", self.certs.ca) as c:
            self.assertEqual(c.request("GET", path, "a.test").status, 200)
        deadline = time.monotonic() + 10
        lines = []
        while time.monotonic() < deadline:
            with open(self.log) as f:
                lines = [ln for ln in f.read().splitlines() if path.split("&")[1] in ln]
            if lines:
                break
            time.sleep(0.05)
        self.assertEqual(len(lines), 1, "access log has no (or several) lines for %s" % path)
        doc = json.loads(lines[0])
        values = [str(v) for v in doc.values()]
        self.assertIn("200", values, doc)
        self.assertTrue(any(path in v for v in values), doc)
        self.assertTrue(any("ECDSA" in v or "RSA" in v for v in values), doc)


def ws_read(c):
    b0, b1 = c.read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(c.read_exact(2), "big")
    elif n == 127:
        n = int.from_bytes(c.read_exact(8), "big")
    if b1 & 0x80:
        raise AssertionError("server frames must not be masked")
    return b0 & 0x0F, c.read_exact(n)


if __name__ == "__main__":
    socket.setdefaulttimeout(60)
    h.main()
