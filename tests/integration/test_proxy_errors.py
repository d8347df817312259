#!/usr/bin/env python3
"""Errors the proxy answers itself: 502/503/504 for upstream trouble, 408/414/431/400 for
bad or slow clients (and then nothing reaches the upstream)."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402


class Base(h.TestCase):
    @classmethod
    def make_certs(cls):
        cls.certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        cls.pair = cls.certs.gen(["a.test"])

    @classmethod
    def conf(cls, port, servers, proxy=None, upstream_opts=None):
        s = h.site("a", ["a.test"], [cls.pair["rsa"], cls.pair["ecdsa"]], "up")
        return h.config(port, [s], {"up": (servers, upstream_opts or {})}, proxy)

    def conn(self, port, timeout=20.0):
        return h.HttpConn(port, "a.test", self.certs.ca, timeout=timeout)


class UpstreamFailures(Base):
    """Each test starts its own twofold: the upstream's state is the subject."""

    @classmethod
    def setUpEnv(cls):
        cls.make_certs()

    def get(self, port, path):
        with self.conn(port) as c:
            return c.request("GET", path, "a.test")

    def test_upstream_down_502(self):
        port = h.free_port()
        self.start_twofold(self.conf(port, ["127.0.0.1:%d" % h.free_port()]), port=port,
                           name="a.test")
        r = self.get(port, "/echo")
        self.assertEqual(r.status, 502, r)

    def test_all_servers_cooling_off_503(self):
        # Both servers refuse connections. max_fails = 1: the first request tries both and
        # gets 502; both are then cooling off for 60 s, so the next one finds no server.
        port = h.free_port()
        down = ["127.0.0.1:%d" % h.free_port(), "127.0.0.1:%d" % h.free_port()]
        conf = self.conf(port, down, upstream_opts={"max_fails": "1", "fail_timeout": "60s"})
        self.start_twofold(conf, port=port, name="a.test")
        self.assertEqual(self.get(port, "/echo").status, 502)
        self.assertEqual(self.get(port, "/echo").status, 503)

    def test_cooled_off_server_comes_back(self):
        port = h.free_port()
        dead = h.free_port()
        conf = self.conf(port, ["127.0.0.1:%d" % dead],
                         upstream_opts={"max_fails": "1", "fail_timeout": "1s"})
        self.start_twofold(conf, port=port, name="a.test")
        self.assertEqual(self.get(port, "/echo").status, 502)
        self.start_upstream(port=dead)
        # once the 1 s cool-off has passed, the server is tried again (bounded polling)
        deadline = time.monotonic() + 15
        statuses = []
        while time.monotonic() < deadline:
            statuses.append(self.get(port, "/bytes?n=2").status)
            if statuses[-1] == 200:
                break
            time.sleep(0.2)
        self.assertEqual(statuses[-1], 200, statuses)
        self.assertTrue(set(statuses) <= {200, 502, 503}, statuses)

    def test_least_conn_avoids_busy_server(self):
        ups = {"u1": self.start_upstream(name="u1", record=True),
               "u2": self.start_upstream(name="u2", record=True)}
        port = h.free_port()
        conf = self.conf(port, [ups["u1"].addr, ups["u2"].addr],
                         upstream_opts={"balance": "least_conn"})
        self.start_twofold(conf, port=port, name="a.test")
        with self.conn(port) as slow:
            slow.send(h.request_bytes("GET", "/delay?ms=2000", "a.test"))
            # wait until the slow request is at an upstream: that server is now busy
            deadline = time.monotonic() + 10
            busy = []
            while not busy and time.monotonic() < deadline:
                busy = [n for n, u in ups.items() if b"/delay" in u.recorded()]
                time.sleep(0.02)
            self.assertEqual(len(busy), 1, busy)
            for _ in range(3):
                r = self.get(port, "/bytes?n=1")
                self.assertNotEqual(r.header("X-Upstream"), busy[0], r)
            self.assertEqual(slow.read_response().header("X-Upstream"), busy[0])

    def test_failover_to_live_server(self):
        up = self.start_upstream()
        port = h.free_port()
        conf = self.conf(port, ["127.0.0.1:%d" % h.free_port(), up.addr],
                         upstream_opts={"max_fails": "1", "fail_timeout": "60s"})
        self.start_twofold(conf, port=port, name="a.test")
        for _ in range(4):
            r = self.get(port, "/bytes?n=10")
            self.assertEqual((r.status, r.body), (200, h.pattern(10)))

    def test_slow_upstream_504(self):
        up = self.start_upstream()
        port = h.free_port()
        conf = self.conf(port, [up.addr], {"upstream_response_timeout": "1s"})
        self.start_twofold(conf, port=port, name="a.test")
        r = self.get(port, "/delay?ms=4000")
        self.assertEqual(r.status, 504, r)
        # a fast request still works afterwards
        self.assertEqual(self.get(port, "/delay?ms=10").status, 200)

    def test_invalid_framing_from_upstream_502(self):
        up = self.start_upstream()
        port = h.free_port()
        self.start_twofold(self.conf(port, [up.addr]), port=port, name="a.test")
        self.assertEqual(self.get(port, "/badframing").status, 502)

    def test_stale_pooled_connection_retried(self):
        # The pooled upstream connection dies (the upstream restarts on the same port)
        # while idle; the next request must be retried on a fresh connection, not fail.
        up = self.start_upstream()
        port = h.free_port()
        self.start_twofold(self.conf(port, [up.addr]), port=port, name="a.test")
        with self.conn(port) as c:
            self.assertEqual(c.request("GET", "/bytes?n=5", "a.test").status, 200)
            up.stop()
            up2 = self.start_upstream(port=up.port)
            for path in ("/bytes?n=5", "/echo"):
                r = c.request("GET", path, "a.test")
                self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(up2.conns(), 2)

    def test_truncated_response_closes_client(self):
        # The upstream dies after the head: the client must see its connection closed
        # (a short body), never a second response glued after the first.
        up = self.start_upstream()
        port = h.free_port()
        self.start_twofold(self.conf(port, [up.addr]), port=port, name="a.test")
        with self.conn(port) as c:
            c.send(h.request_bytes("GET", "/truncated?n=100000", "a.test"))
            head = c.read_head()
            self.assertEqual(head.status, 200, head)
            got = c.read_to_eof()
            self.assertLess(len(got), 100000)
            self.assertNotIn(b"HTTP/1.1 50", got)
        # and the proxy carries on
        self.assertEqual(self.get(port, "/bytes?n=3").body, h.pattern(3))

    def test_stalled_body_closes_client(self):
        # upstream_response_timeout also bounds the time between reads: after the head
        # went out, a stalled upstream body ends the client connection (no second status)
        up = self.start_upstream()
        port = h.free_port()
        conf = self.conf(port, [up.addr], {"upstream_response_timeout": "1s"})
        self.start_twofold(conf, port=port, name="a.test")
        with self.conn(port) as c:
            c.send(h.request_bytes("GET", "/stream?seconds=8&interval=4", "a.test"))
            head = c.read_head()
            self.assertEqual(head.status, 200, head)
            rest = c.read_to_eof()  # bounded by the connection's 20 s read timeout
            self.assertIn(b"piece 0", rest)
            self.assertNotIn(b"piece 1", rest)
            self.assertNotIn(b"HTTP/1.1", rest)

    def test_invalid_response_502(self):
        up = self.start_upstream()
        port = h.free_port()
        self.start_twofold(self.conf(port, [up.addr]), port=port, name="a.test")
        self.assertEqual(self.get(port, "/invalid").status, 502)
        self.assertEqual(self.get(port, "/close").status, 502)
        self.assertEqual(self.get(port, "/bytes?n=3").body, h.pattern(3))


class ConnectionCap(Base):
    """max_connections = 2 with one worker: the third client waits for a free slot."""

    @classmethod
    def setUpEnv(cls):
        cls.make_certs()

    def test_accept_pauses_at_cap(self):
        up = self.start_upstream()
        port = h.free_port()
        self.start_twofold(self.conf(port, [up.addr], {"max_connections": "2"}), port=port,
                           name="a.test")
        first = [self.conn(port) for _ in range(2)]
        for c in first:
            self.assertEqual(c.request("GET", "/bytes?n=1", "a.test").status, 200)
        result = []

        def third():
            try:
                with self.conn(port, timeout=30) as c:
                    result.append(c.request("GET", "/bytes?n=1", "a.test").status)
            except Exception as e:  # noqa: BLE001 (reported below)
                result.append(repr(e))

        t = threading.Thread(target=third)
        t.start()
        t.join(1.5)
        self.assertTrue(t.is_alive() and not result, "served beyond max_connections: %r"
                        % result)
        first[0].close()
        t.join(30)
        self.assertEqual(result, [200])
        first[1].close()


class ClientLimits(Base):
    """One twofold with 1 s header, handshake and idle timeouts; the upstream records
    what reaches it."""

    @classmethod
    def setUpEnv(cls):
        cls.make_certs()
        cls.up = cls.class_upstream(record=True)
        cls.port = h.free_port()
        conf = cls.conf(cls.port, [cls.up.addr], {"header_timeout": "1s",
                                                   "handshake_timeout": "1s",
                                                   "idle_timeout": "1s"})
        cls.tf = cls.class_twofold(conf, port=cls.port, name="a.test")

    def rejected(self, raw, status):
        """Sends raw bytes, expects `status`, Connection: close, the connection closed,
        and not one byte at the upstream."""
        before = len(self.up.recorded())
        with self.conn(self.port) as c:
            c.send(raw)
            r = c.read_response()
            self.assertEqual(r.status, status, r)
            self.assertIn("close", r.tokens("connection"))
            self.assertTrue(c.closed_by_peer(10), "connection left open after %d" % status)
        time.sleep(0.2)  # let anything wrongly forwarded arrive before looking
        self.assertEqual(self.up.recorded()[before:], b"")

    def test_too_many_headers_431(self):
        hdrs = "".join("X-H%d: v\r\n" % i for i in range(101))
        self.rejected(("GET /echo HTTP/1.1\r\nHost: a.test\r\n%s\r\n" % hdrs).encode(), 431)

    def test_head_too_big_431(self):
        big = "X-Big: %s\r\n" % ("b" * 17 * 1024)
        self.rejected(("GET /echo HTTP/1.1\r\nHost: a.test\r\n%s\r\n" % big).encode(), 431)

    def test_request_line_too_long_414(self):
        path = "/echo?" + "q" * (9 * 1024)
        self.rejected(("GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n" % path).encode(), 414)

    def test_ambiguous_framing_400(self):
        raw = (b"POST /echo HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        self.rejected(raw, 400)

    def test_smuggling_vectors_400(self):
        vectors = {
            "two different Content-Length": b"POST /echo HTTP/1.1\r\nHost: a.test\r\n"
            b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "space before colon": b"POST /echo HTTP/1.1\r\nHost: a.test\r\n"
            b"Content-Length : 5\r\n\r\nhello",
            "obs-fold": b"GET /echo HTTP/1.1\r\nHost: a.test\r\nX-Folded: a\r\n b\r\n\r\n",
            "final coding not chunked": b"POST /echo HTTP/1.1\r\nHost: a.test\r\n"
            b"Transfer-Encoding: gzip\r\n\r\nhello",
            "bad chunk size": b"POST /echo HTTP/1.1\r\nHost: a.test\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        }
        for name, raw in vectors.items():
            with self.subTest(name):
                if name == "bad chunk size":  # the head is valid: it may be forwarded
                    with self.conn(self.port) as c:
                        c.send(raw)
                        r = c.read_response()
                        self.assertIn(r.status, (400, 502), r)
                        self.assertTrue(c.closed_by_peer(10))
                else:
                    self.rejected(raw, 400)

    def test_pipelined_reject_keeps_order(self):
        before = len(self.up.recorded())
        good = h.request_bytes("GET", "/bytes?n=4", "a.test")
        bad = ("GET /bytes?n=5 HTTP/1.1\r\nHost: a.test\r\n%s\r\n"
               % "".join("X-H%d: v\r\n" % i for i in range(101))).encode()
        with self.conn(self.port) as c:
            c.send(good + bad + good)
            r1 = c.read_response()
            r2 = c.read_response()
            self.assertEqual((r1.status, r1.body), (200, h.pattern(4)))
            self.assertEqual(r2.status, 431, r2)
            self.assertTrue(c.closed_by_peer(10))
        time.sleep(0.2)
        got = self.up.recorded()[before:]
        self.assertEqual(got.count(b"GET /bytes?n=4 "), 1, got)  # the third never went
        self.assertNotIn(b"/bytes?n=5", got)

    def test_header_count_boundary(self):
        # 100 header fields (Host + 99) is the limit itself: accepted
        hdrs = [("X-H%d" % i, "v") for i in range(99)]
        with self.conn(self.port) as c:
            r = c.request("GET", "/echo-headers", "a.test", headers=hdrs)
        self.assertEqual(r.status, 200, r)

    def test_head_timeout_408(self):
        before = len(self.up.recorded())
        with self.conn(self.port) as c:
            c.send(b"GET /echo HTTP/1.1\r\nHost: a.te")  # half a head, then silence
            r = c.read_response()
            self.assertEqual(r.status, 408, r)
            self.assertTrue(c.closed_by_peer(10))
        self.assertEqual(self.up.recorded()[before:], b"")

    def test_handshake_timeout_closes(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.settimeout(10)
            try:
                data = s.recv(100)  # silent client: the server gives up and closes
            except ConnectionResetError:
                data = b""
            self.assertEqual(data, b"")

    def test_idle_keepalive_closed(self):
        with self.conn(self.port) as c:
            self.assertEqual(c.request("GET", "/bytes?n=1", "a.test").status, 200)
            self.assertTrue(c.closed_by_peer(10), "idle connection kept past idle_timeout")

    def test_limits_leave_normal_requests_alone(self):
        hdrs = [("X-H%d" % i, "v") for i in range(90)]
        with self.conn(self.port) as c:
            r = c.request("GET", "/echo-headers", "a.test", headers=hdrs)
            self.assertEqual(r.status, 200, r)
            r = c.request("GET", "/echo?" + "q" * 7000, "a.test")
            self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    h.main()
