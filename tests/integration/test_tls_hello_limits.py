#!/usr/bin/env python3
"""ClientHellos at the protocol's limits and the alerts of refused ones, against the real
binary and, on the same certificates and policy, `openssl s_server` (OpenSSL deciding
alone) as the reference.

- No truncation: sslscan's TLS 1.2 probe (hundreds of suites), 200 unassigned suites before
  TLS_AES_128_GCM_SHA256, 17 unknown versions before TLS 1.3, 221 unknown groups before a
  known one, 32,700 sigalgs, a 65,534-byte cipher list and the largest ClientHello the
  protocol allows (131,396 bytes, which is also OpenSSL's CLIENT_HELLO_MAX_LENGTH) split
  over 9 records: each served by twofold as by s_server.
- Alerts: for each refused hello the alert byte twofold sends equals s_server's (RFC 8446
  6.2 / RFC 7507 / RFC 5246 7.2: protocol_version, inappropriate_fallback, decode_error,
  handshake_failure only when no certificate fits), and
  twofold_handshake_failures_total counts it under its real reason.
- Prediction: a TLS 1.2 hello without supported_groups (every enabled suite is ECDHE) is
  refused by both with handshake_failure, and `twofold explain` predicts that failure.

s_server differs from twofold in one point on purpose: twofold's default site answers
every name, s_server has no SNI rules; the cases here send the configured name.
HAProxy agrees with both on every case but two: to a cipher list of odd length it answers
unrecognized_name (its own ClientHello callback gives up on the hello), where twofold
follows OpenSSL and RFC 8446 6.2 (decode_error: "the length of the message was
incorrect"); and it refuses the largest TLS 1.3 hello, which OpenSSL serves.
"""

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402

NAME = "a.test"
CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
           "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
           "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")  # twofold's default
GROUPS = "X25519:P-256:P-384"  # twofold's default
HELLO_MAX = 131396  # OpenSSL 3.0 CLIENT_HELLO_MAX_LENGTH, also the protocol's maximum

ALERTS = {40: "handshake_failure", 47: "illegal_parameter", 50: "decode_error",
          70: "protocol_version", 86: "inappropriate_fallback", 109: "missing_extension",
          112: "unrecognized_name"}


# ---------------------------------------------------------------- ClientHello bytes

def u16s(values):
    return b"".join(struct.pack(">H", v) for v in values)


def vec(data, width):
    return len(data).to_bytes(width, "big") + data


def ext(kind, body):
    return struct.pack(">HH", kind, len(body)) + body


def unknown(n):
    """n code points no registry assigns (never GREASE)."""
    out = []
    for i in range(n):
        v = 0xe000 + i % 0x1f00
        if v & 0x0f0f == 0x0a0a:
            v ^= 0x0100
        out.append(v)
    return out


def hello(legacy=0x0303, versions=None, ciphers=(0x1301, 0xc02b, 0xc02f),
          sigalgs=(0x0403, 0x0804, 0x0401), groups=(29, 23, 24), key_share=True,
          sni=NAME, sid=b"", comp=b"\x00", odd_ciphers=False, pad=0, total=None):
    """A ClientHello handshake message. versions: supported_versions (None: absent);
    sigalgs/groups None: absent; total: pad the extensions so the body is this long."""
    def build(pad):
        exts = b""
        if sni is not None:
            name = sni.encode()
            exts += ext(0, vec(b"\x00" + vec(name, 2), 2))
        if groups is not None:
            exts += ext(10, vec(u16s(groups), 2))
        exts += ext(11, b"\x01\x00")
        if sigalgs is not None:
            exts += ext(13, vec(u16s(sigalgs), 2))
        if versions is not None:
            exts += ext(43, vec(u16s(versions), 1))
        if key_share and versions is not None:
            exts += ext(51, vec(struct.pack(">HH", 29, 32) + bytes(range(64, 96)), 2))
        if pad:
            exts += ext(21, bytes(pad - 4))
        cs = u16s(ciphers) + (b"\x13" if odd_ciphers else b"")
        body = (struct.pack(">H", legacy) + bytes(range(32)) + vec(sid, 1) + vec(cs, 2) +
                vec(comp, 1) + vec(exts, 2))
        return body
    body = build(pad)
    if total is not None:
        body = build(total - len(body))
        assert len(body) == total, (len(body), total)
    return b"\x01" + vec(body, 3)


def records(msg):
    out = b""
    for off in range(0, len(msg), 16384):
        frag = msg[off:off + 16384]
        out += b"\x16\x03\x01" + vec(frag, 2)
    return out


def answer(port, wire, timeout=10.0):
    """Sends the bytes; returns ("served", None), ("alert", description) or ("closed", None)
    from the server's first record."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(wire)
        head = b""
        deadline = time.monotonic() + timeout
        while len(head) < 7 and time.monotonic() < deadline:
            try:
                chunk = s.recv(7 - len(head))
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            head += chunk
    if len(head) >= 6 and head[0] == 22 and head[5] == 2:
        return ("served", None)
    if len(head) >= 7 and head[0] == 21:
        return ("alert", head[6])
    return ("closed", None)


# ---------------------------------------------------------------- the test

class TlsHelloLimits(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        pairs = certs.gen([NAME])
        cls.pairs = pairs
        cls.up = cls.class_upstream()
        cls.port = h.free_port()
        cls.admin_port = h.free_port()
        conf = h.config(cls.port, [h.site("a", [NAME], [pairs["rsa"], pairs["ecdsa"]], "up")],
                        {"up": [cls.up.addr]},
                        {"admin": "127.0.0.1:%d" % cls.admin_port, "handshake_timeout": "5s"})
        cls.conf_text = conf
        cls.tf = cls.class_twofold(conf, port=cls.port, name=NAME)
        cls.ref_port = h.free_port()
        argv = ["openssl", "s_server", "-accept", "127.0.0.1:%d" % cls.ref_port, "-www",
                "-quiet", "-cert", pairs["rsa"][0], "-key", pairs["rsa"][1],
                "-dcert", pairs["ecdsa"][0], "-dkey", pairs["ecdsa"][1],
                "-min_protocol", "TLSv1.2", "-cipher", CIPHERS, "-groups", GROUPS]
        cls.ref = cls.class_track(h.Proc("s_server", argv, cls.class_tmp()))
        cls.hap_port = cls.start_haproxy(pairs) if shutil.which("haproxy") else None
        deadline = time.monotonic() + 10
        for port in (cls.ref_port, cls.hap_port):
            while port and not h.port_accepts(port) and time.monotonic() < deadline:
                time.sleep(0.05)

    @classmethod
    def start_haproxy(cls, pairs):
        """HAProxy with the same certificates (one PEM per key type in a directory, as
        bench/lib/templates/haproxy.cfg) and twofold's default policy."""
        d = os.path.join(cls.class_tmp(), "haproxy")
        os.makedirs(d)
        for kind, (crt, key) in pairs.items():
            with open(os.path.join(d, "%s-%s.pem" % (NAME, kind)), "w") as out:
                for path in (crt, key):
                    with open(path) as f:
                        out.write(f.read())
        port = h.free_port()
        cfg = os.path.join(cls.class_tmp(), "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("global\n    nbthread 1\n    ssl-default-bind-options ssl-min-ver TLSv1.2\n"
                    "    ssl-default-bind-ciphers %s\n    ssl-default-bind-curves %s\n"
                    "defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n"
                    "    timeout server 5s\nfrontend f\n    bind 127.0.0.1:%d ssl crt %s/\n"
                    "    http-request return status 200\n" % (CIPHERS, GROUPS, port, d))
        cls.class_track(h.Proc("haproxy", ["haproxy", "-db", "-f", cfg], cls.class_tmp()))
        return port

    def failures(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.admin_port,
                                    timeout=10) as r:
            text = r.read().decode()
        return {m.group(1): int(m.group(2)) for m in re.finditer(
            r'^twofold_handshake_failures_total\{reason="([a-z_]+)"\} (\d+)$', text, re.M)}

    def both(self, wire):
        return answer(self.port, wire), answer(self.ref_port, wire)

    def haproxy(self, wire):
        return answer(self.hap_port, wire) if self.hap_port else None

    def assert_served(self, label, msg, haproxy=("served", None)):
        tf, ref = self.both(records(msg))
        self.assertEqual(ref, ("served", None), "s_server refuses %s" % label)
        if self.hap_port:
            self.assertEqual(self.haproxy(records(msg)), haproxy, "HAProxy: " + label)
        self.assertEqual(tf, ("served", None), label)

    # ---- no truncation
    def test_sslscan_tls12(self):
        """sslscan's TLS 1.2 probe offers hundreds of suites in one hello."""
        outs = []
        for port in (self.port, self.ref_port):
            r = h.run(["sslscan", "--no-colour", "--tls12", "127.0.0.1:%d" % port],
                      timeout=120)
            outs.append(r.stdout.decode("utf-8", "replace"))
        self.assertRegex(outs[1], r"TLSv1\.2\s+enabled", "reference: " + outs[1])
        self.assertRegex(outs[0], r"TLSv1\.2\s+enabled", outs[0])
        self.assertIn("ECDHE-ECDSA-AES128-GCM-SHA256", outs[0])
        self.assertIn("ECDHE-RSA-AES128-GCM-SHA256", outs[0])

    def test_late_usable_entries(self):
        self.assert_served("200 unassigned suites before TLS_AES_128_GCM_SHA256",
                           hello(versions=[0x0304], ciphers=unknown(200) + [0x1301]))
        self.assert_served("17 unknown versions before TLS 1.3",
                           hello(versions=[0x7f00 + i for i in range(17)] + [0x0304]))
        self.assert_served("221 unknown groups before X25519",
                           hello(versions=[0x0304], groups=unknown(221) + [29]))
        self.assert_served("32700 sigalgs, the usable one last",
                           hello(versions=[0x0304], sigalgs=unknown(32699) + [0x0403]))
        self.assert_served("65534-byte cipher list, TLS 1.2 suite last",
                           hello(ciphers=unknown(32766) + [0xc02f]))

    def test_largest_hello(self):
        msg = hello(ciphers=unknown(32766) + [0xc02f], sigalgs=unknown(32699) + [0x0401],
                    sid=bytes(32), comp=bytes(range(255)), total=HELLO_MAX)
        self.assertEqual(len(msg), 4 + HELLO_MAX)
        self.assertEqual(len(records(msg)), len(msg) + 5 * 9)  # 9 records
        self.assert_served("the largest ClientHello (TLS 1.2)", msg)
        msg13 = hello(versions=[0x0304], ciphers=unknown(32766) + [0x1301],
                      sigalgs=unknown(32699) + [0x0403], sid=bytes(32), total=HELLO_MAX - 254)
        # HAProxy 2.6 refuses this one (handshake_failure from its own ClientHello callback),
        # although it serves 32,700 sigalgs and 32,767 suites each alone: OpenSSL alone and
        # twofold serve it.
        self.assert_served("the largest TLS 1.3 ClientHello", msg13, haproxy=("alert", 40))

    # ---- alerts
    def test_alerts(self):
        c10 = (0xc009, 0xc013, 0x002f)
        cases = [
            ("TLS 1.0 only", hello(legacy=0x0301, ciphers=c10), 70, "protocol_version"),
            ("TLS 1.1 only", hello(legacy=0x0302, ciphers=c10), 70, "protocol_version"),
            # SSL 3.0 has no protocol_version alert (RFC 6101 5.4.2): handshake_failure
            ("SSL 3.0", hello(legacy=0x0300, ciphers=c10), 40, "protocol_version"),
            ("supported_versions with unknown values only",
             hello(versions=[0x7f1c, 0x1234]), 70, "protocol_version"),
            ("legacy_version 0x0000", hello(legacy=0x0000), 70, "protocol_version"),
            ("TLS_FALLBACK_SCSV from a TLS 1.2 client",
             hello(ciphers=(0xc02b, 0xc02f, 0x5600)), 86, "inappropriate_fallback"),
            ("empty signature_algorithms", hello(sigalgs=()), 50, "decode_error"),
            ("cipher list of odd length", hello(odd_ciphers=True), 50, "decode_error"),
            ("TLS 1.3, no certificate fits the only sigalg",
             hello(versions=[0x0304], sigalgs=(0x0603,)), 40, "no_usable_cert"),
            ("TLS 1.2 without supported_groups (only ECDHE enabled)",
             hello(groups=None), 40, "no_usable_cert"),
        ]
        for label, msg, alert, reason in cases:
            with self.subTest(label):
                before = self.failures()
                tf, ref = self.both(records(msg))
                self.assertEqual(ref, ("alert", alert), "s_server: " + label)
                if self.hap_port:  # HAProxy: see the top of this file for its one difference
                    self.assertEqual(self.haproxy(records(msg)),
                                     ("alert", 112 if "odd length" in label else alert),
                                     "HAProxy: " + label)
                self.assertEqual(tf, ("alert", alert), label)
                after = self.failures()
                grown = {k for k in after if after[k] != before.get(k, 0)}
                self.assertEqual(grown, {reason}, "%s: %s -> %s" % (label, before, after))
        # a cipher list whose length runs past the message: OpenSSL refuses it before the
        # ClientHello callback; still counted as decode_error
        msg = bytearray(hello(ciphers=(0xc02f,)))
        msg[4 + 2 + 32 + 1:4 + 2 + 32 + 1 + 2] = b"\xff\xfe"
        before = self.failures()
        tf, ref = self.both(records(bytes(msg)))
        self.assertEqual((tf, ref), (("alert", 50), ("alert", 50)))
        after = self.failures()
        self.assertEqual(after["decode_error"], before.get("decode_error", 0) + 1)

    # ---- explain agrees
    def test_explain_no_groups(self):
        msg = hello(groups=None)
        r = h.run_twofold(["explain", "-c", self.tf.conf_path, "--sni", NAME,
                           "--clienthello", records(msg).hex()], timeout=60)
        out = r.stdout.decode() + r.stderr.decode()
        self.assertIn("FAIL(no_usable_cert)", out)
        self.assertIn("supported_groups", out)
        self.assertEqual(answer(self.port, records(msg)), ("alert", 40))

    def test_explain_split_hello(self):
        """A hello over two records (10,000 unknown suites before ECDHE-RSA): explain joins
        the records and predicts what the server does."""
        wire = records(hello(ciphers=unknown(10000) + [0xc02f]))
        self.assertEqual(wire.count(b"\x16\x03\x01"), 2)
        r = h.run_twofold(["explain", "-c", self.tf.conf_path, "--clienthello", wire.hex()],
                          timeout=60)
        out = r.stdout.decode() + r.stderr.decode()
        self.assertEqual(r.returncode, 0, out)
        self.assertRegex(out, r"result: RSA-2048", out)
        self.assertIn("10001 offered", out)
        self.assertEqual(answer(self.port, wire), ("served", None))


if __name__ == "__main__":
    h.main()
