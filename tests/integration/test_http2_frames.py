#!/usr/bin/env python3
"""HTTP/2 as RFC 9113 and the known attacks require, with raw frames (hpack from Debian's
python3-h2 for header blocks): each case asserts the frame twofold answers with, and
that a normal client (curl --http2) is served right after.

  - malformed requests are stream errors (RST_STREAM PROTOCOL_ERROR, RFC 9113 8.1.1):
    an uppercase field name, a connection-specific field (8.2.2), "te" other than
    "trailers", a missing :path, a pseudo-header after a regular field, DATA beyond the
    content-length;
  - CONNECT is answered 501 (no tunnels over HTTP/2), a header list over the limit 431;
  - a client opening more streams than SETTINGS_MAX_CONCURRENT_STREAMS (100) gets
    REFUSED_STREAM for the excess;
  - rapid reset (CVE-2023-44487), a CONTINUATION flood (CVE-2024-27316 class) and
    SETTINGS / PING floods end in GOAWAY and a closed connection.

nginx 1.22 and HAProxy 2.6 answer the same malformed cases with RST_STREAM
PROTOCOL_ERROR as well (nghttp2 is not involved there: both have their own codecs)."""

import os
import socket
import ssl
import struct
import subprocess
import sys
import time

try:
    import hpack
except ImportError:  # a python3 without Debian's python3-hpack: use the system one
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402

DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
PROTOCOL_ERROR, REFUSED_STREAM, ENHANCE_YOUR_CALM = 0x1, 0x7, 0xb
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


class Client:
    """A TLS connection speaking h2 frame by frame."""

    def __init__(self, port, cafile):
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s = ctx.wrap_socket(raw, server_hostname="a.test")
        assert self.s.selected_alpn_protocol() == "h2"
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.broken = False
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, data):
        """Sends data; a connection the server already closed (a flood cut short) ends
        the sending quietly: what it answered is still read by frames()."""
        if self.broken:
            return
        try:
            for i in range(0, len(data), 16384):
                self.s.sendall(data[i:i + 16384])
        except OSError:
            self.broken = True

    def block(self, fields):
        return self.enc.encode(fields, huffman=False)

    def get(self, stream, path="/bytes?n=3", extra=(), end=True):
        fields = [(":method", "GET"), (":scheme", "https"), (":authority", "a.test"),
                  (":path", path)] + list(extra)
        self.send(frame(HEADERS, END_HEADERS | (END_STREAM if end else 0), stream,
                        self.block(fields)))

    def frames(self, until, timeout=10.0):
        """Reads frames (type, flags, stream, payload) until until(frame) is true, the
        connection closes or timeout; returns them all."""
        got, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            while len(self.buf) >= 9:
                n = struct.unpack(">I", b"\0" + self.buf[:3])[0]
                if len(self.buf) < 9 + n:
                    break
                f = (self.buf[3], self.buf[4], struct.unpack(">I", self.buf[5:9])[0] & 0x7fffffff,
                     self.buf[9:9 + n])
                self.buf = self.buf[9 + n:]
                if f[0] == SETTINGS and not f[1] & ACK:
                    self.send(frame(SETTINGS, ACK, 0))
                got.append(f)
                if until(f):
                    return got
            try:
                self.s.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = self.s.recv(65536)
            except (socket.timeout, ssl.SSLError, OSError):
                break
            if not chunk:
                got.append(("closed",))
                return got
            self.buf += chunk
        return got

    def rst_of(self, stream):
        fs = self.frames(lambda f: f[0] in (RST, HEADERS, GOAWAY) and f[2] in (stream, 0))
        for f in fs:
            if f[0] == RST and f[2] == stream:
                return struct.unpack(">I", f[3])[0]
        return None

    def status_of(self, stream):
        fs = self.frames(lambda f: f[0] == HEADERS and f[2] == stream)
        for f in fs:
            if f[0] == HEADERS and f[2] == stream:
                return dict(self.dec.decode(f[3])).get(":status")
        return None

    def goaway(self, timeout=15.0):
        fs = self.frames(lambda f: f[0] == GOAWAY, timeout)
        for f in fs:
            if f[0] == GOAWAY:
                return struct.unpack(">I", f[3][4:8])[0]
        return None

    def close(self):
        self.s.close()


class Frames(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        cls.certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        cls.pair = cls.certs.gen(["a.test"])
        cls.up = cls.class_upstream()
        cls.port = h.free_port()
        s = h.site("a", ["a.test"], [cls.pair["rsa"], cls.pair["ecdsa"]], "up")
        cls.admin_port = h.free_port()
        conf = h.config(cls.port, [s], {"up": [cls.up.addr]},
                        {"admin": "127.0.0.1:%d" % cls.admin_port})
        conf = conf.replace("bind = 127.0.0.1:%d\n" % cls.port,
                            "bind = 127.0.0.1:%d\nalpn = h2 http/1.1\n" % cls.port)
        cls.class_twofold(conf, port=cls.port, name="a.test")

    def client(self):
        c = Client(self.port, self.certs.ca)
        self.addCleanup(c.close)
        return c

    def tearDown(self):
        r = h.curl(self.port, "a.test", "/bytes?n=7", self.certs.ca, ["--http2"])
        self.assertEqual(r.status, 200, "a normal client after the case: " + r.err)
        self.assertEqual(len(r.body), 7)
        super().tearDown()

    def test_baseline(self):
        c = self.client()
        c.get(1)
        self.assertEqual(c.status_of(1), "200")

    def assert_malformed(self, extra=(), fields=None):
        c = self.client()
        if fields is None:
            c.get(1, extra=extra)
        else:
            c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block(fields)))
        self.assertEqual(c.rst_of(1), PROTOCOL_ERROR)
        c.get(3)  # the connection itself still serves
        self.assertEqual(c.status_of(3), "200")

    def test_uppercase_name(self):
        self.assert_malformed([("X-Upper", "1")])

    def test_connection_specific(self):
        self.assert_malformed([("connection", "keep-alive")])
        self.assert_malformed([("transfer-encoding", "chunked")])
        self.assert_malformed([("upgrade", "websocket")])

    def test_te_not_trailers(self):
        self.assert_malformed([("te", "gzip")])

    def test_missing_path(self):
        self.assert_malformed(fields=[(":method", "GET"), (":scheme", "https"),
                                      (":authority", "a.test")])

    def test_pseudo_after_regular(self):
        self.assert_malformed(fields=[(":method", "GET"), (":scheme", "https"),
                                      ("x-a", "1"), (":path", "/"), (":authority", "a.test")])

    def test_data_beyond_content_length(self):
        c = self.client()
        c.send(frame(HEADERS, END_HEADERS, 1, c.block(
            [(":method", "POST"), (":scheme", "https"), (":authority", "a.test"),
             (":path", "/echo"), ("content-length", "2")])))
        c.send(frame(DATA, END_STREAM, 1, b"hello"))
        self.assertEqual(c.rst_of(1), PROTOCOL_ERROR)

    def test_connect_501(self):
        c = self.client()
        c.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, c.block(
            [(":method", "CONNECT"), (":authority", "a.test:443")])))
        self.assertEqual(c.status_of(1), "501")

    def test_header_list_too_large(self):
        c = self.client()
        big = [("x-f%d" % i, "v" * 1000) for i in range(80)]  # ~82 KB > 64 KiB
        block = c.block([(":method", "GET"), (":scheme", "https"), (":authority", "a.test"),
                         (":path", "/")] + big)
        first, rest = block[:16000], block[16000:]
        c.send(frame(HEADERS, END_STREAM, 1, first))
        while rest:
            part, rest = rest[:16000], rest[16000:]
            c.send(frame(CONTINUATION, 0 if rest else END_HEADERS, 1, part))
        fs = c.frames(lambda f: f[0] in (HEADERS, RST, GOAWAY) and f[2] in (1, 0))
        codes = [f for f in fs if f[0] in (HEADERS, RST, GOAWAY)]
        self.assertTrue(codes, fs)
        f = codes[0]
        if f[0] == HEADERS:
            self.assertEqual(dict(c.dec.decode(f[3])).get(":status"), "431")

    def test_max_concurrent_streams(self):
        c = self.client()
        c.frames(lambda f: f[0] == SETTINGS and f[1] & ACK, 5)  # our SETTINGS acknowledged
        for i in range(101):
            c.get(1 + 2 * i, "/delay?ms=1500")
        # nghttp2 answers a stream beyond the acknowledged limit with GOAWAY
        # PROTOCOL_ERROR (a connection error; RFC 9113 5.1.2 asks for a stream error, and
        # REFUSED_STREAM is what it sends before the SETTINGS are acknowledged)
        fs = c.frames(lambda f: (f[0] == RST and f[2] == 201) or f[0] == GOAWAY)
        last = fs[-1] if fs else None
        self.assertTrue(last and last[0] in (RST, GOAWAY), fs)
        code = struct.unpack(">I", last[3][:4] if last[0] == RST else last[3][4:8])[0]
        self.assertIn((last[0], code), [(RST, REFUSED_STREAM), (GOAWAY, PROTOCOL_ERROR)])

    def test_rapid_reset(self):
        c = self.client()
        burst = b""
        for i in range(1000):
            sid = 1 + 2 * i
            burst += frame(HEADERS, END_HEADERS | END_STREAM, sid, c.block(
                [(":method", "GET"), (":scheme", "https"), (":authority", "a.test"),
                 (":path", "/delay?ms=100")]))
            burst += frame(RST, 0, sid, struct.pack(">I", 0x8))  # CANCEL
        try:
            c.send(burst)
        except OSError:
            pass
        self.assertEqual(c.goaway(), ENHANCE_YOUR_CALM)

    def test_continuation_flood(self):
        c = self.client()
        c.send(frame(HEADERS, 0, 1, c.block([(":method", "GET"), (":scheme", "https")])))
        try:
            for _ in range(100):
                c.send(frame(CONTINUATION, 0, 1, c.block([("x-a", "1")])))
        except OSError:
            pass
        self.assertIsNotNone(c.goaway())

    def test_settings_flood(self):
        c = self.client()
        try:
            c.send(frame(SETTINGS, 0, 0) * 20000)
        except OSError:
            pass
        self.assertEqual(c.goaway(), ENHANCE_YOUR_CALM)

    def metric(self, line):
        import re
        import urllib.request
        url = "http://127.0.0.1:%d/metrics" % self.admin_port
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
        m = re.search(r"^%s (\d+)$" % re.escape(line), text, re.M)
        self.assertIsNotNone(m, line)
        return int(m.group(1))

    def test_metrics(self):
        calm = 'twofold_http2_goaways_total{code="ENHANCE_YOUR_CALM"}'
        before = (self.metric(calm), self.metric("twofold_http2_streams_total"),
                  self.metric("twofold_http2_connections_total"))
        c = self.client()
        c.get(1)
        self.assertEqual(c.status_of(1), "200")
        c.send(frame(PING, 0, 0, b"12345678") * 20000)
        self.assertEqual(c.goaway(), ENHANCE_YOUR_CALM)
        self.assertEqual(self.metric(calm) - before[0], 1)
        self.assertGreaterEqual(self.metric("twofold_http2_streams_total") - before[1], 1)
        self.assertGreaterEqual(self.metric("twofold_http2_connections_total") - before[2], 1)
        deadline = time.monotonic() + 10
        while self.metric("twofold_http2_streams_active") and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.metric("twofold_http2_streams_active"), 0)

    def test_ping_flood(self):
        c = self.client()
        try:
            c.send(frame(PING, 0, 0, b"12345678") * 20000)
        except OSError:
            pass
        self.assertEqual(c.goaway(), ENHANCE_YOUR_CALM)


class Drain(h.TestCase):
    """SIGTERM with an HTTP/2 stream in flight: GOAWAY NO_ERROR goes out at once (naming
    the last stream taken), the stream still completes with its response, then the
    connection closes and twofold exits 0."""

    def test_graceful_drain(self):
        import signal
        certs = h.Certs(os.path.join(self.tmp, "certs"))
        pair = certs.gen(["a.test"])
        up = self.start_upstream()
        port = h.free_port()
        s = h.site("a", ["a.test"], [pair["rsa"], pair["ecdsa"]], "up")
        conf = h.config(port, [s], {"up": [up.addr]}, {"drain_timeout": "10s"})
        conf = conf.replace("bind = 127.0.0.1:%d\n" % port,
                            "bind = 127.0.0.1:%d\nalpn = h2 http/1.1\n" % port)
        tf = self.start_twofold(conf, port=port, name="a.test")
        c = Client(port, certs.ca)
        self.addCleanup(c.close)
        c.get(1, "/delay?ms=1500")
        c.frames(lambda f: False, 0.5)  # the request reaches the upstream
        tf.proc.signal(signal.SIGTERM)
        fs = c.frames(lambda f: f[0] == DATA and f[2] == 1 and f[1] & END_STREAM, 15)
        kinds = [(f[0], f[2]) for f in fs if f[0] in (GOAWAY, HEADERS, DATA)]
        goaway = [f for f in fs if f[0] == GOAWAY]
        self.assertTrue(goaway, fs)
        last_id, code = struct.unpack(">II", goaway[0][3][:8])
        self.assertEqual((last_id & 0x7fffffff, code), (1, 0))  # NO_ERROR, stream 1 taken
        self.assertLess(kinds.index((GOAWAY, 0)), kinds.index((HEADERS, 1)))
        body = b"".join(f[3] for f in fs if f[0] == DATA and f[2] == 1)
        self.assertEqual(body, b"delayed 1500 ms\n")
        self.assertEqual(c.frames(lambda f: False, 5)[-1:], [("closed",)])
        self.assertEqual(tf.proc.wait(15), 0, tf.proc.stderr_text())


if __name__ == "__main__":
    h.main()
