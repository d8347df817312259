#!/usr/bin/env python3
"""HTTP/2 to clients over TLS (ALPN h2), each stream an exchange with the HTTP/1.1
upstream, tested with real clients: curl --http2 (nghttp2 inside), nghttp and h2load
(Debian nghttp2-client).

  - ALPN: with `alpn = h2 http/1.1` a client offering h2 gets h2, one offering only
    http/1.1 (or nothing) gets HTTP/1.1 as before; with the default list h2 is not
    offered at all;
  - GET and POST bodies of 0 B, 1 KiB and 10 MiB both ways arrive intact (sha256 against
    the upstream's X-Body-Sha256), chunked upstream responses included;
  - the upstream sees an HTTP/1.1 request: Host from :authority, cookie crumbs joined;
  - an upstream that is down gives the same 502 body as HTTP/1;
  - many concurrent streams on few connections (h2load -m) all succeed."""

import hashlib
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402


def curl2(port, path, cacert, args=(), timeout=60):
    return h.curl(port, "a.test", path, cacert, ["--http2"] + list(args), timeout=timeout)


class Http2(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        cls.certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        cls.pair = cls.certs.gen(["a.test"])
        cls.up = cls.class_upstream(record=True)
        cls.port = h.free_port()
        s = h.site("a", ["a.test"], [cls.pair["rsa"], cls.pair["ecdsa"]], "up")
        cls.log = os.path.join(cls.class_tmp(), "access.log")
        conf = h.config(cls.port, [s], {"up": [cls.up.addr]},
                        {"access_log": "json", "access_log_file": cls.log})
        conf = conf.replace("bind = 127.0.0.1:%d\n" % cls.port,
                            "bind = 127.0.0.1:%d\nalpn = h2 http/1.1\n" % cls.port)
        cls.class_twofold(conf, port=cls.port, name="a.test")

    def test_access_log_protocol(self):
        import json
        import time
        tag = "tag%d" % time.monotonic_ns()
        self.assertEqual(curl2(self.port, "/bytes?n=1&" + tag, self.certs.ca).status, 200)
        r = h.curl(self.port, "a.test", "/bytes?n=1&" + tag, self.certs.ca, ["--http1.1"])
        self.assertEqual(r.status, 200)
        deadline, docs = time.monotonic() + 10, []
        while time.monotonic() < deadline and len(docs) < 2:
            with open(self.log) as f:
                docs = [json.loads(ln) for ln in f if tag in ln]
            time.sleep(0.05)
        self.assertEqual(sorted(d["proto"] for d in docs), ["HTTP/1.1", "HTTP/2"], docs)
        for d in docs:
            self.assertEqual(d["status"], 200)
            self.assertEqual(d["method"], "GET")
            self.assertEqual(d["upstream"], self.up.addr)

    def test_alpn(self):
        r = curl2(self.port, "/bytes?n=10", self.certs.ca)
        self.assertEqual(r.status, 200, r.err)
        self.assertIn("ALPN: server accepted h2", r.err)
        self.assertRegex(r.err, r"< HTTP/2 200")
        r = h.curl(self.port, "a.test", "/bytes?n=10", self.certs.ca, ["--http1.1"])
        self.assertEqual(r.status, 200, r.err)
        self.assertRegex(r.err, r"< HTTP/1.1 200")
        _, out, _ = h.s_client(self.port, "a.test", ["-alpn", "h2"])
        self.assertIn("ALPN protocol: h2", out)
        _, out, _ = h.s_client(self.port, "a.test", ["-alpn", "http/1.1,h2"])
        self.assertIn("ALPN protocol: h2", out)  # the server's preference
        _, out, _ = h.s_client(self.port, "a.test", ["-alpn", "spdy/3"])
        self.assertIn("No ALPN negotiated", out)
        _, out, _ = h.s_client(self.port, "a.test", [])
        self.assertIn("No ALPN negotiated", out)

    def test_get_sizes(self):
        for n in (0, 1024, 10 * 1024 * 1024):
            for route in ("bytes", "chunked"):
                r = curl2(self.port, "/%s?n=%d" % (route, n), self.certs.ca)
                self.assertEqual(r.status, 200, r.err)
                self.assertEqual(len(r.body), n, route)
                want = h.sha256(r.body)
                m = re.search(r"< x-body-sha256: ([0-9a-f]+)", r.err)
                if m:
                    self.assertEqual(m.group(1), want, route)

    def test_post_sizes(self):
        tmp = self.class_tmp()
        for n in (0, 1024, 10 * 1024 * 1024):
            body = os.urandom(n)
            path = os.path.join(tmp, "body.%d" % n)
            with open(path, "wb") as f:
                f.write(body)
            r = curl2(self.port, "/echo", self.certs.ca, ["--data-binary", "@" + path])
            self.assertEqual(r.status, 200, r.err)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(body).hexdigest())
            self.assertIn("x-body-length: %d" % n, r.err.lower())

    def test_upstream_sees_http11(self):
        r = curl2(self.port, "/echo-headers", self.certs.ca,
                  ["-H", "cookie: a=1", "-H", "cookie: b=2"])
        self.assertEqual(r.status, 200, r.err)
        import json
        doc = json.loads(r.body)
        self.assertEqual(doc["version"], "HTTP/1.1")
        names = {k.lower(): v for k, v in doc["headers"]}
        self.assertEqual(names.get("host"), "a.test:%d" % self.port)
        self.assertEqual(names.get("cookie"), "a=1; b=2")  # RFC 9113 8.2.3

    def test_nghttp_many_streams(self):
        if not shutil.which("nghttp"):
            self.skipTest("nghttp not installed")
        urls = ["https://a.test:%d/bytes?n=%d" % (self.port, 1000 + i) for i in range(20)]
        r = h.run(["nghttp", "-n", "-s", "--no-verify-peer"] +
                  ["--header=host: a.test"] + [u.replace("a.test", "127.0.0.1") for u in urls],
                  timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_h2load(self):
        if not shutil.which("h2load"):
            self.skipTest("h2load not installed")
        r = h.run(["h2load", "-n", "20000", "-c", "10", "-m", "20",
                   "https://127.0.0.1:%d/bytes?n=100" % self.port,
                   "--header=:authority: a.test"], timeout=180)
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, out)
        m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(int(m.group(3)), 20000, out)
        self.assertEqual(int(m.group(4)), 0, out)
        self.assertEqual(int(m.group(5)), 0, out)


class Http2Down(h.TestCase):
    """The upstream refuses connections: each stream gets the HTTP/1 502 body."""

    @classmethod
    def setUpEnv(cls):
        cls.certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        cls.pair = cls.certs.gen(["a.test"])
        cls.port = h.free_port()
        dead = "127.0.0.1:%d" % h.free_port()
        s = h.site("a", ["a.test"], [cls.pair["rsa"], cls.pair["ecdsa"]], "up")
        conf = h.config(cls.port, [s], {"up": [dead]})
        conf = conf.replace("bind = 127.0.0.1:%d\n" % cls.port,
                            "bind = 127.0.0.1:%d\nalpn = h2 http/1.1\n" % cls.port)
        cls.class_twofold(conf, port=cls.port, name="a.test")

    def test_502(self):
        r2 = curl2(self.port, "/", self.certs.ca)
        r1 = h.curl(self.port, "a.test", "/", self.certs.ca, ["--http1.1"])
        self.assertEqual(r2.status, 502, r2.err)
        self.assertEqual(r1.status, 502, r1.err)
        self.assertEqual(r2.body, r1.body)


class SidecarAlpn(h.TestCase):
    """Sidecar mode: --alpn "h2 http/1.1" offers HTTP/2 on the one listener."""

    @classmethod
    def setUpEnv(cls):
        cls.certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        cls.certs.gen(["a.test"])
        cls.up = cls.class_upstream()
        cls.port = h.free_port()
        argv = [h.BIN, "--listen", "127.0.0.1:%d" % cls.port, "--upstream", cls.up.addr,
                "--cert-dir", cls.certs.dir, "--workers", "1", "--alpn", "h2 http/1.1"]
        cls.class_twofold(argv=argv, port=cls.port, name="a.test")

    def test_h2(self):
        r = curl2(self.port, "/bytes?n=5", self.certs.ca)
        self.assertEqual(r.status, 200, r.err)
        self.assertRegex(r.err, r"< HTTP/2 200")

    def test_bad_alpn(self):
        r = h.run([h.BIN, "check", "--listen", "127.0.0.1:1", "--upstream", self.up.addr,
                   "--cert-dir", self.certs.dir, "--alpn", "h3"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--alpn", r.stderr.decode() + r.stdout.decode())


class DefaultAlpn(h.TestCase):
    """Without an alpn key, h2 is not offered: a client offering h2 and http/1.1 gets
    HTTP/1.1."""

    @classmethod
    def setUpEnv(cls):
        cls.certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        cls.pair = cls.certs.gen(["a.test"])
        cls.up = cls.class_upstream()
        cls.port = h.free_port()
        s = h.site("a", ["a.test"], [cls.pair["rsa"], cls.pair["ecdsa"]], "up")
        cls.class_twofold(h.config(cls.port, [s], {"up": [cls.up.addr]}), port=cls.port,
                          name="a.test")

    def test_http11(self):
        r = curl2(self.port, "/bytes?n=5", self.certs.ca)
        self.assertEqual(r.status, 200, r.err)
        self.assertRegex(r.err, r"< HTTP/1.1 200")
        _, out, _ = h.s_client(self.port, "a.test", ["-alpn", "h2"])
        self.assertIn("No ALPN negotiated", out)


if __name__ == "__main__":
    h.main()
