#!/usr/bin/env python3
"""Certificate selection through the real binary: which leaf (by SHA-256) each client gets.

Sites: "a" (a.test www.a.test, RSA-2048 + ECDSA P-256, the default site), "b" (*.b.test,
RSA + ECDSA), "r" (r.test, prefer = rsa). Plus `twofold check` and `twofold explain`.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402

# gnutls priority strings that leave ECDSA out (gnutls 3.7.9): TLS 1.3 with RSA-PSS
# signatures only, and TLS 1.2 with the ECDHE-RSA key exchange only.
GNUTLS_NO_ECDSA_13 = ("NORMAL:-VERS-ALL:+VERS-TLS1.3:-SIGN-ALL:+SIGN-RSA-PSS-RSAE-SHA256:"
                      "+SIGN-RSA-PSS-RSAE-SHA384:+SIGN-RSA-PSS-RSAE-SHA512")
GNUTLS_NO_ECDSA_12 = ("NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA:-SIGN-ALL:"
                      "+SIGN-RSA-SHA256:+SIGN-RSA-PSS-RSAE-SHA256")


def profile_names():
    """The client profile names compiled into twofold, read from the corpus source."""
    path = os.path.join(h.SRC, "certstore", "cs_profiles.c")
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return []
    names = re.findall(r'\.name\s*=\s*"([^"]+)"', text)
    if not names:  # positional initialisers: the first string of each entry
        names = re.findall(r'\{\s*"([a-z0-9][a-z0-9.+_-]*)"\s*,', text)
    return names


class CertSelection(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        tmp = cls.class_tmp()
        cls.certs = h.Certs(os.path.join(tmp, "certs"))
        cls.a = cls.certs.gen(["a.test", "www.a.test"])
        cls.b = cls.certs.gen(["*.b.test"])
        cls.r = cls.certs.gen(["r.test"])
        cls.fp = {}
        for tag, pair in (("a", cls.a), ("b", cls.b), ("r", cls.r)):
            for kind in ("rsa", "ecdsa"):
                cls.fp[tag + "-" + kind] = h.cert_fingerprint(pair[kind][0])
        cls.up = cls.class_upstream()
        cls.port = h.free_port()
        cls.conf = cls.config_text(cls.port, {})
        cls.tf = cls.class_twofold(cls.conf, port=cls.port, name="a.test")

    @classmethod
    def config_text(cls, port, proxy):
        sites = [h.site("a", ["a.test", "www.a.test"], [cls.a["rsa"], cls.a["ecdsa"]], "up"),
                 h.site("b", ["*.b.test"], [cls.b["rsa"], cls.b["ecdsa"]], "up"),
                 h.site("r", ["r.test"], [cls.r["rsa"], cls.r["ecdsa"]], "up",
                        ["prefer = rsa"])]
        p = {"default_site": "a"}
        p.update(proxy)
        return h.config(port, sites, {"up": [cls.up.addr]}, p)

    def served(self, sni, args, port=None):
        fp, out = h.served_fingerprint(port or self.port, sni, args)
        self.assertIsNotNone(fp, "no certificate served:\n" + out)
        return fp

    def assertServed(self, want, sni, args=()):
        got = self.served(sni, args)
        names = {v: k for k, v in self.fp.items()}
        self.assertEqual(got, self.fp[want], "expected %s, got %s" % (want, names.get(got, got)))

    # ---- openssl s_client: TLS 1.3 by signature algorithms, TLS 1.2 by cipher suite
    def test_tls13_rsa_pss_gets_rsa(self):
        self.assertServed("a-rsa", "a.test", ["-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256"])

    def test_tls13_ecdsa_sigalg_gets_ecdsa(self):
        self.assertServed("a-ecdsa", "a.test", ["-tls1_3", "-sigalgs", "ecdsa_secp256r1_sha256"])

    def test_tls12_rsa_cipher_gets_rsa(self):
        self.assertServed("a-rsa", "a.test", ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"])

    def test_tls12_ecdsa_cipher_gets_ecdsa(self):
        self.assertServed("a-ecdsa", "www.a.test",
                          ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])

    def test_tls12_p384_only_gets_rsa(self):
        # The ECDSA cert is on P-256: a TLS 1.2 client that only supports P-384 cannot
        # verify it, so it must get the RSA cert even though it offers ECDSA suites.
        self.assertServed("a-rsa", "a.test", ["-tls1_2", "-groups", "P-384"])

    def test_full_client_gets_preferred_ecdsa(self):
        self.assertServed("a-ecdsa", "a.test", ["-tls1_3"])
        self.assertServed("a-ecdsa", "a.test", ["-tls1_2"])

    def test_prefer_rsa_site(self):
        self.assertServed("r-rsa", "r.test", ["-tls1_3"])
        self.assertServed("r-ecdsa", "r.test", ["-tls1_3", "-sigalgs", "ecdsa_secp256r1_sha256"])

    # ---- names
    def test_no_sni_gets_default_site(self):
        self.assertServed("a-ecdsa", None, ["-tls1_3"])
        self.assertServed("a-rsa", None, ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"])

    def test_unknown_sni_gets_default_site(self):
        self.assertServed("a-ecdsa", "unknown.test", [])

    def test_sni_case_insensitive(self):
        self.assertServed("a-rsa", "WWW.A.Test", ["-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256"])

    def test_wildcard_one_label(self):
        self.assertServed("b-ecdsa", "x.b.test", [])
        self.assertServed("b-rsa", "x.b.test",
                          ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"])
        # two labels below the wildcard and the bare suffix are not covered: default site
        self.assertServed("a-ecdsa", "x.y.b.test", [])
        self.assertServed("a-ecdsa", "b.test", [])

    def test_strict_sni_refuses_unknown_name(self):
        port = h.free_port()
        self.start_twofold(self.config_text(port, {"strict_sni": "on"}), port=port, name="a.test")
        fp, out = h.served_fingerprint(port, "unknown.test", [])
        self.assertIsNone(fp, out)
        self.assertRegex(out.lower(), r"unrecognized.name")
        fp, out = h.served_fingerprint(port, None, [])
        self.assertIsNone(fp, out)
        self.assertRegex(out.lower(), r"unrecognized.name")
        # known names still work
        fp, out = h.served_fingerprint(port, "x.b.test", ["-tls1_3"])
        self.assertEqual(fp, self.fp["b-ecdsa"], out)

    # ---- protocol policy
    def test_tls11_refused(self):
        fp, out = h.served_fingerprint(self.port, "a.test",
                                       ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
        self.assertIsNone(fp, out)

    def test_alpn_http11(self):
        rc, out, err = h.s_client(self.port, "a.test", ["-alpn", "h2,http/1.1"])
        self.assertIn("ALPN protocol: http/1.1", out, out + err)

    def test_session_resumption(self):
        # A whole request with Connection: close (and -ign_eof) so that s_client is still
        # reading when the TLS 1.3 ticket arrives, which follows the handshake.
        req = b"GET /bytes?n=1 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
        for version in ("-tls1_3", "-tls1_2"):
            with self.subTest(version):
                sess = os.path.join(self.tmp, "sess%s.pem" % version)
                rc, out, err = h.s_client(self.port, "a.test",
                                          [version, "-sess_out", sess, "-ign_eof"], input_bytes=req)
                self.assertIn("New, TLSv1.", out, out + err)
                self.assertIn("HTTP/1.1 200", out, out + err)
                rc, out, err = h.s_client(self.port, "a.test", [version, "-sess_in", sess])
                self.assertIn("Reused, TLSv1.", out, out + err)

    # ---- other clients
    def gnutls(self, priority, sni):
        pem = os.path.join(self.tmp, "gnutls.pem")
        r = h.run(["gnutls-cli", "--no-ca-verification", "--priority", priority,
                   "--sni-hostname", sni, "-p", str(self.port), "--save-cert", pem,
                   "127.0.0.1"], timeout=20)
        out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        self.assertTrue(os.path.exists(pem), "gnutls-cli saved no certificate:\n" + out)
        return h.cert_fingerprint(pem), out

    def test_gnutls_without_ecdsa_gets_rsa(self):
        fp, out = self.gnutls(GNUTLS_NO_ECDSA_13, "a.test")
        self.assertEqual(fp, self.fp["a-rsa"], out)
        self.assertIn("TLS1.3", out)
        fp, out = self.gnutls(GNUTLS_NO_ECDSA_12, "www.a.test")
        self.assertEqual(fp, self.fp["a-rsa"], out)
        self.assertIn("TLS1.2", out)

    def test_gnutls_default_gets_ecdsa(self):
        fp, out = self.gnutls("NORMAL", "a.test")
        self.assertEqual(fp, self.fp["a-ecdsa"], out)

    def test_curl_rsa_cipher(self):
        r = h.curl(self.port, "a.test", "/echo", self.certs.ca,
                   ["-v", "--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256"])
        self.assertEqual((r.rc, r.status, r.ssl_version), (0, 200, "TLSv1.2"), r.err)
        self.assertIn("SSL connection using TLSv1.2 / ECDHE-RSA-AES128-GCM-SHA256", r.err)
        self.assertRegex(r.err, r"subject: CN\s*=\s*a\.test")

    def test_curl_default_verifies_chain(self):
        r = h.curl(self.port, "www.a.test", "/echo", self.certs.ca, ["-v"])
        self.assertEqual((r.rc, r.status, r.ssl_version), (0, 200, "TLSv1.3"), r.err)
        self.assertIn("SSL certificate verify ok", r.err)

    # ---- twofold check / explain
    def test_check_clean(self):
        r = h.run_twofold(["check", "-c", self.tf.conf_path], timeout=60)
        out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 0, out)
        names = profile_names()
        self.assertGreaterEqual(len(names), 12, "profile corpus not found or too small")
        for n in names:
            self.assertIn(n, out, "profile %s missing from the check table" % n)
        self.assertIn("RSA-2048", out)
        self.assertIn("ECDSA P-256", out)

    def test_check_json(self):
        r = h.run_twofold(["check", "-c", self.tf.conf_path, "--json"], timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        doc = json.loads(r.stdout.decode())
        self.assertIs(doc["ok"], True)
        sites = {s["site"]: s for s in doc["sites"]}
        self.assertEqual(set(sites), {"a", "b", "r"})
        names = set(profile_names())
        for s in sites.values():
            self.assertEqual({p["profile"] for p in s["profiles"]}, names)
        fps = {p["sha256"] for s in sites.values() for p in s["profiles"] if p["ok"]}
        self.assertTrue(fps <= set(self.fp.values()), fps)
        self.assertIn(self.fp["a-rsa"], fps)
        self.assertIn(self.fp["a-ecdsa"], fps)

    def test_check_broken(self):
        bad = h.Certs(os.path.join(self.tmp, "bad"))
        old = bad.gen(["old.test"], STEM="old", START="20200101000000Z", END="20200201000000Z")
        mis = bad.gen(["mis.test"], STEM="mis")
        other = bad.gen(["other.test"], STEM="other")
        # the RSA certificate of mis.test with the RSA key of other.test
        sites = [h.site("old", ["old.test"], [old["rsa"], old["ecdsa"]], "up"),
                 h.site("mis", ["mis.test"], [(mis["rsa"][0], other["rsa"][1]), mis["ecdsa"]],
                        "up")]
        conf = os.path.join(self.tmp, "broken.ini")
        with open(conf, "w") as f:
            f.write(h.config(h.free_port(), sites, {"up": ["127.0.0.1:1"]}))
        r = h.run_twofold(["check", "-c", conf], timeout=60)
        out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 1, out)
        self.assertIn(old["rsa"][0], out)  # expired
        self.assertIn(old["ecdsa"][0], out)
        self.assertRegex(out.lower(), r"expire")
        self.assertTrue(mis["rsa"][0] in out or other["rsa"][1] in out, out)  # mismatch
        self.assertRegex(out.lower(), r"match")
        r = h.run_twofold(["check", "-c", conf, "--json"], timeout=60)
        self.assertEqual(r.returncode, 1)
        doc = json.loads(r.stdout.decode())
        self.assertIs(doc["ok"], False)
        errors = [f for f in doc["findings"] if f["level"] == "error"]
        self.assertTrue(any(f.get("file") == old["rsa"][0] for f in errors), errors)

    def explain(self, sni, profile):
        r = h.run_twofold(["explain", "-c", self.tf.conf_path, "--sni", sni, "--profile",
                           profile], timeout=60)
        out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 0, out)
        return out

    def chosen_line(self, out):
        """The explain view's verdict: its "result:" line (else lines saying chosen)."""
        lines = [ln for ln in out.splitlines() if re.match(r"\s*result\s*:", ln, re.I)]
        lines = lines or [ln for ln in out.splitlines() if re.search(r"chosen", ln, re.I)]
        self.assertTrue(lines, "no line names the chosen certificate:\n" + out)
        return "\n".join(lines)

    def names_cert(self, line, tag, crt):
        """line names the certificate: its path, or a prefix (>= 8 hex) of its SHA-256."""
        if crt in line:
            return True
        for run in re.findall(r"[0-9a-fA-F:]{8,}", line):
            hexrun = run.replace(":", "").lower()
            if len(hexrun) >= 8 and self.fp[tag].startswith(hexrun):
                return True
        return False

    def test_explain_names_chosen_cert(self):
        for profile, want in (("tls12-rsa-only", "a-rsa"), ("tls13-rsa-pss-only", "a-rsa"),
                              ("tls13-ecdsa-only", "a-ecdsa"), ("modern-tls13", "a-ecdsa")):
            out = self.explain("a.test", profile)
            line = self.chosen_line(out)
            kind = want.split("-")[1]
            other = "a-ecdsa" if kind == "rsa" else "a-rsa"
            other_kind = other.split("-")[1]
            self.assertTrue(self.names_cert(line, want, self.a[kind][0]),
                            "%s: the chosen line does not name %s:\n%s" % (profile, want, out))
            self.assertFalse(self.names_cert(line, other, self.a[other_kind][0]),
                             "%s: the chosen line names %s:\n%s" % (profile, other, out))

    def test_explain_unknown_profile(self):
        r = h.run_twofold(["explain", "-c", self.tf.conf_path, "--sni", "a.test", "--profile",
                           "no-such-profile"], timeout=60)
        out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, 1, out)
        self.assertIn("modern-tls13", out)


if __name__ == "__main__":
    h.main()
