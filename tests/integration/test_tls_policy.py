#!/usr/bin/env python3
"""TLS policy of the real binary: a testssl.sh scan (no HIGH or CRITICAL finding, nothing
below TLS 1.2 offered, an RSA and an EC key), client-initiated renegotiation refused, no
early data, ALPN offering only h2, and malformed ClientHellos (truncated, 255-byte and
invalid SNI, huge extension lists) answered with an alert or a close, never a crash.

The certificates carry OCSP and CRL URIs (lib/hardening.gen_revocable_certs) as public
CAs issue them; gen_certs.sh's test leaves have none, which testssl rates HIGH.
TWOFOLD_TESTSSL=0 skips the testssl scan (about 30 s here).
"""

import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402
from lib import hardening as hd  # noqa: E402

NAME = "a.test"
TESTSSL = "/usr/bin/testssl"


class TlsPolicy(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        cls.ca, pairs = hd.gen_revocable_certs(os.path.join(cls.class_tmp(), "certs"), NAME)
        cls.up = cls.class_upstream()
        cls.port = h.free_port()
        conf = h.config(cls.port, [h.site("a", [NAME], pairs, "up")], {"up": [cls.up.addr]},
                        {"handshake_timeout": "3s", "header_timeout": "3s"})
        cls.tf = cls.class_twofold(conf, port=cls.port, name=NAME)

    def assert_serves(self):
        self.assertTrue(self.tf.proc.alive(), "twofold died")
        with h.HttpConn(self.port, NAME, self.ca, timeout=15) as c:
            r = c.request("GET", "/bytes?n=10", NAME)
        self.assertEqual((r.status, r.body), (200, h.pattern(10)))

    def s_client(self, args, stdin_lines=(), pause=1.0, timeout=20):
        """openssl s_client with stdin fed line by line (pause seconds apart, then held
        open for pause more) so that its interactive commands ("R") are honoured."""
        argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.port,
                "-servername", NAME, "-CAfile", self.ca] + list(args)
        out_path = os.path.join(self.tmp, "s_client.%d.out" % time.monotonic_ns())
        with open(out_path, "wb") as out_f:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out_f,
                                 stderr=subprocess.STDOUT)
            try:
                time.sleep(pause)
                for line in stdin_lines:
                    try:
                        p.stdin.write(line)
                        p.stdin.flush()
                    except (BrokenPipeError, ValueError):
                        break
                    time.sleep(pause)
                try:
                    p.stdin.close()  # EOF: s_client ends the session
                except BrokenPipeError:
                    pass
                p.wait(timeout)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait(5)
        with open(out_path, "rb") as f:
            out = f.read()
        return p.returncode, out.decode("utf-8", "replace")

    # ---- testssl
    def test_testssl_scan(self):
        if os.environ.get("TWOFOLD_TESTSSL") == "0":
            self.skipTest("TWOFOLD_TESTSSL=0")
        if not os.path.exists(TESTSSL):
            self.skipTest("testssl.sh not installed")
        jpath = os.path.join(self.tmp, "testssl.json")
        argv = [TESTSSL, "--quiet", "--color", "0", "--warnings", "batch", "--jsonfile", jpath,
                "--ip", "127.0.0.1", "--add-ca", self.ca, "-p", "-S", "-U",
                "https://%s:%d/" % (NAME, self.port)]
        start = time.monotonic()
        r = h.run(argv, timeout=300)
        print("testssl took %.0fs" % (time.monotonic() - start))
        self.assertTrue(os.path.exists(jpath), r.stdout.decode(errors="replace")[-2000:])
        with open(jpath) as f:
            findings = json.load(f)
        by_id = {}
        for fd in findings:
            by_id.setdefault(fd["id"], []).append(fd)
        bad = ["%s %s: %s" % (fd["id"], fd["severity"], fd["finding"]) for fd in findings
               if fd["severity"] in ("HIGH", "CRITICAL")]
        self.assertEqual(bad, [], "testssl HIGH/CRITICAL findings")
        scan_errors = [fd for fd in findings if fd["id"] in ("scanProblem", "scanTime")
                       and fd["severity"] in ("WARN", "FATAL")]
        self.assertEqual(scan_errors, [])
        for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            self.assertIn(proto, by_id, "testssl did not check %s" % proto)
            self.assertEqual([fd["finding"] for fd in by_id[proto]], ["not offered"], proto)
        for proto in ("TLS1_2", "TLS1_3"):
            self.assertTrue(by_id[proto][0]["finding"].startswith("offered"), by_id[proto])
        keys = " ".join(fd["finding"] for fd in findings if fd["id"].startswith("cert_keySize"))
        self.assertIn("RSA", keys, keys)
        self.assertIn("EC", keys.replace("RSA", ""), keys)
        self.assert_serves()

    # ---- renegotiation, early data, ALPN
    def test_client_renegotiation_refused(self):
        req = b"GET /bytes?n=5 HTTP/1.1\r\nHost: a.test\r\n\r\n"
        rc, out = self.s_client(["-tls1_2"], [b"R\n", req])
        self.assertIn("RENEGOTIATING", out, out[-1500:])  # s_client did ask
        tail = out.split("RENEGOTIATING", 1)[1]
        self.assertNotIn("HTTP/1.1 200", tail, "served after a renegotiation:\n" + tail)
        self.assertTrue("no renegotiation" in tail or "alert" in tail, tail[-1500:])
        self.assert_serves()

    def test_early_data_not_accepted(self):
        sess = os.path.join(self.tmp, "sess.pem")
        early = os.path.join(self.tmp, "early.txt")
        with open(early, "wb") as f:
            f.write(b"GET /bytes?n=7 HTTP/1.1\r\nHost: a.test\r\n\r\n")
        rc, first = self.s_client(["-tls1_3", "-sess_out", sess])
        self.assertIn("Max Early Data: 0", first, "the server's tickets allow 0-RTT")
        rc, out = self.s_client(["-tls1_3", "-sess_in", sess, "-early_data", early])
        self.assertIn("Reused, TLSv1.3", out, "resumption did not happen: " + out[-1500:])
        self.assertNotIn("Early data was accepted", out)
        self.assertTrue("Early data was rejected" in out or "Early data was not sent" in out,
                        out[-1500:])
        self.assert_serves()

    def test_alpn_h2_only(self):
        rc, out = self.s_client(["-alpn", "h2"], [b"Q\n"])
        negotiated = "ALPN protocol: h2" in out
        self.assertFalse(negotiated, "h2 negotiated by an HTTP/1.1-only proxy")
        self.assertTrue("No ALPN negotiated" in out or "no application protocol" in out,
                        out[-1500:])
        self.assert_serves()

    # ---- malformed ClientHellos
    def send_raw(self, data, half_close=False):
        """Sends data, reads to the close (bounded). Returns (bytes, how)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
            return hd.read_to_close(s, 10)
        finally:
            s.close()

    def assert_refused(self, label, data, how):
        alert = data[:1] == b"\x15"
        self.assertTrue(alert or (not data and how in ("eof", "reset")),
                        "%s: want an alert or a close, got %r (%s)" % (label, data[:16], how))
        self.assertNotEqual(how, "timeout", "%s: connection left open" % label)

    def test_truncated_client_hello(self):
        hello = hd.client_hello()
        short = hello[5:5 + 4 + 38]  # handshake header + 38 bytes of a longer ClientHello
        cases = {
            "record cut, then EOF": (hello[:60], True),
            "record header only, then EOF": (hello[:5], True),
            # a consistent record whose ClientHello claims more bytes than follow
            "handshake longer than sent, then EOF": (
                b"\x16\x03\x01" + len(short).to_bytes(2, "big") + short, True),
            "handshake length 0": (b"\x16\x03\x01\x00\x04\x01\x00\x00\x00", False),
            "not TLS at all": (b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", False),
        }
        for label, (data, half) in cases.items():
            got, how = self.send_raw(data, half)
            self.assert_refused(label, got, how)
        self.assert_serves()

    def test_sni_255_bytes(self):
        host = (b"a" * 63 + b".") * 3 + b"b" * 58 + b".test"
        self.assertEqual(len(host), 255)  # the longest name a DNS name can be
        got, how = self.send_raw(hd.hello_with_sni(host))
        # A valid-length unknown name: the default site's certificate or an alert; the
        # proxy must answer either way and stay up.
        self.assertTrue(got[:1] in (b"\x15", b"\x16"), "%r (%s)" % (got[:16], how))
        self.assert_serves()

    def test_sni_invalid(self):
        # Not a host name (RFC 6066 3: ASCII, no empty labels, at most 255 bytes): an alert.
        cases = {
            "256-byte name": b"b" * 252 + b".tst",
            "NUL inside": b"a.te\x00st",
            "empty": b"",
            "control bytes": b"a\x01\x02.test",
            "non-ASCII bytes": b"\xff\xfe.test",
            "empty label": b"a..test",
        }
        problems = []
        for label, host in cases.items():
            got, how = self.send_raw(hd.hello_with_sni(host))
            if not (got[:1] == b"\x15" or (not got and how in ("eof", "reset"))):
                problems.append("%s %r: %r (%s)" % (label, host, got[:12], how))
        # Printable ASCII outside LDH (underscore is common in practice): the default
        # site's certificate or an alert.
        for host in (b"a_b!.test", b"-a-.test"):
            got, how = self.send_raw(hd.hello_with_sni(host))
            if not (got[:1] in (b"\x15", b"\x16") or how in ("eof", "reset")):
                problems.append("%r: %r (%s)" % (host, got[:12], how))
        self.assert_serves()
        self.assertEqual(problems, [], "invalid SNI not refused")

    def test_huge_extension_lists(self):
        fixed, exts = hd.hello_parts(hd.client_hello())
        junk = [(0x2000 + i, b"") for i in range(3000)]  # unknown, distinct, empty
        groups = [d for t, d in exts if t == 10]
        dup = [(10, groups[0])]  # supported_groups twice (RFC 8446 4.2: at most once)
        big = [(0x3000 + i, b"x" * 20) for i in range(2000)]  # ~48 KiB, several records
        for label, ext_list in (("3000 empty extensions", exts + junk),
                                ("duplicate extension", exts + dup),
                                ("48 KiB of extensions", exts + big)):
            got, how = self.send_raw(hd.hello_build(fixed, ext_list))
            self.assertTrue(got[:1] in (b"\x15", b"\x16") or how in ("eof", "reset"),
                            "%s: %r (%s)" % (label, got[:16], how))
            self.assertNotEqual(how, "timeout", label)
            if label == "duplicate extension":
                self.assert_refused(label, got, how)
        self.assert_serves()


if __name__ == "__main__":
    h.main()
