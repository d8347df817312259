#!/usr/bin/env python3
"""The test infrastructure itself, without twofold: tests/fixtures/gen_certs.sh and
tests/upstream/upstream.py (so a broken fixture is not mistaken for a proxy bug)."""

import base64
import hashlib
import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402


def read(path):
    with open(path, "rb") as f:
        return f.read()


def x509_text(path):
    return h.run(["openssl", "x509", "-in", path, "-noout", "-text"]).stdout.decode()


class GenCerts(h.TestCase):
    def test_pairs_chain_and_sans(self):
        certs = h.Certs(os.path.join(self.tmp, "c"))
        pair = certs.gen(["a.test", "www.a.test"])
        for kind, marker in (("rsa", "Public-Key: (2048 bit)"), ("ecdsa", "NIST CURVE: P-256")):
            crt, key = pair[kind]
            text = x509_text(crt)
            self.assertIn(marker, text)
            self.assertIn("DNS:a.test, DNS:www.a.test", text)
            with open(crt) as f:
                self.assertEqual(f.read().count("BEGIN CERTIFICATE"), 2, "leaf + intermediate")
            r = h.run(["openssl", "verify", "-CAfile", certs.ca, "-untrusted", crt, crt])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            # the key belongs to the leaf
            pub_cert = h.run(["openssl", "x509", "-in", crt, "-noout", "-pubkey"]).stdout
            pub_key = h.run(["openssl", "pkey", "-in", key, "-pubout"]).stdout
            self.assertEqual(pub_cert, pub_key)
        # nothing in the directory pairs the CA with its key (it is a usable cert_dir)
        self.assertFalse(os.path.exists(os.path.join(certs.dir, "ca.key")))

    def test_idempotent(self):
        certs = h.Certs(os.path.join(self.tmp, "c"))
        pair = certs.gen(["a.test"])
        before = {p: read(p) for kp in pair.values() for p in kp}
        ca = read(certs.ca)
        pair = certs.gen(["a.test"])
        after = {p: read(p) for kp in pair.values() for p in kp}
        self.assertEqual(before, after)
        self.assertEqual(ca, read(certs.ca))
        # other SANs for the same stem: rewritten
        pair = certs.gen(["a.test", "b.test"], STEM="a.test")
        self.assertIn("DNS:b.test", x509_text(pair["rsa"][0]))

    def test_variants(self):
        certs = h.Certs(os.path.join(self.tmp, "c"))
        big = certs.gen(["big.test"], RSA_BITS=3072, EC_CURVE="P-384", STEM="big")
        self.assertIn("Public-Key: (3072 bit)", x509_text(big["rsa"][0]))
        self.assertIn("NIST CURVE: P-384", x509_text(big["ecdsa"][0]))
        old = certs.gen(["old.test"], STEM="old", KEYS="rsa", START="20200101000000Z",
                        END="20200201000000Z")
        self.assertEqual(list(old), ["rsa"])
        self.assertIn("Not After : Feb  1 00:00:00 2020 GMT", x509_text(old["rsa"][0]))
        wild = certs.gen(["*.w.test"], EXT="pem")
        self.assertTrue(wild["rsa"][0].endswith("wildcard.w.test-rsa.pem"))
        self.assertIn("DNS:*.w.test", x509_text(wild["ecdsa"][0]))

    def test_usage(self):
        r = h.run(["sh", h.GEN_CERTS, self.tmp])
        self.assertEqual(r.returncode, 2)


class UpstreamProgram(h.TestCase):
    def setUp(self):
        super().setUp()
        self.up = self.start_upstream(record=True, name="u1")

    def conn(self):
        return h.HttpConn(self.up.port, tls=False)

    def test_routes(self):
        with self.conn() as c:
            r = c.request("POST", "/echo", "x", body=b"abc", chunked=True)
            self.assertEqual((r.status, r.body, r.header("X-Framing")), (200, b"abc", "chunked"))
            self.assertEqual(r.header("X-Upstream"), "u1")
            r = c.request("GET", "/echo-headers", "x", headers=[("X-A", "1")])
            doc = json.loads(r.body)
            self.assertIn(["X-A", "1"], doc["headers"])
            self.assertEqual(doc["conn"], 1)
            for route in ("/bytes", "/chunked"):
                r = c.request("GET", route + "?n=100000", "x")
                self.assertEqual(r.body, h.pattern(100000))
            r = c.request("HEAD", "/bytes?n=10", "x")
            self.assertEqual((r.header("Content-Length"), r.body), ("10", b""))
            for code in (204, 304, 404):
                self.assertEqual(c.request("GET", "/status?code=%d" % code, "x").status, code)
            r = c.request("GET", "/stream?seconds=0.3&interval=0.1", "x")
            self.assertTrue(r.body.startswith(b"piece 0\npiece 1\n"), r.body)
            self.assertEqual(c.request("GET", "/conns", "x").body, b"1")
        with self.conn() as c:
            c.send(h.request_bytes("GET", "/eof?n=5000", "x"))
            self.assertEqual(c.read_response().body, h.pattern(5000))
        with self.conn() as c:
            c.send(h.request_bytes("GET", "/close", "x"))
            self.assertTrue(c.closed_by_peer(5))

    def test_pipelining_and_expect(self):
        with self.conn() as c:
            c.send(h.request_bytes("GET", "/delay?ms=100", "x")
                   + h.request_bytes("GET", "/bytes?n=3", "x"))
            self.assertEqual(c.read_response().body, b"delayed 100 ms\n")
            self.assertEqual(c.read_response().body, h.pattern(3))
            c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                   b"Expect: 100-continue\r\n\r\n")
            self.assertEqual(c.read_response(interim=True).status, 100)
            c.send(b"hi")
            self.assertEqual(c.read_response().body, b"hi")

    def test_websocket(self):
        key = base64.b64encode(os.urandom(16)).decode()
        with self.conn() as c:
            c.send(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
            r = c.read_response()
            self.assertEqual(r.status, 101)
            want = base64.b64encode(hashlib.sha1(key.encode() + h.WS_GUID).digest()).decode()
            self.assertEqual(r.header("Sec-WebSocket-Accept"), want)
            c.send(h.ws_frame(0x1, b"yo", b"abcd"))
            self.assertEqual(c.read_exact(4), b"\x81\x02yo")

    def test_record_and_sigterm(self):
        raw = h.request_bytes("GET", "/bytes?n=1", "x")
        with self.conn() as c:
            c.request("GET", "/bytes?n=1", "x")
        self.assertEqual(self.up.recorded(), raw)
        self.up.proc.signal(signal.SIGTERM)
        self.assertEqual(self.up.proc.wait(10), 0)

    def test_concurrent_connections(self):
        results = []

        def one():
            with self.conn() as c:
                results.append(c.request("GET", "/delay?ms=200", "x").status)

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(results, [200] * 8)


if __name__ == "__main__":
    h.main()
