#!/usr/bin/env python3
"""The command line: config errors (every one, as file:line: message, exit 1), --version,
--help, usage errors (exit 2), sidecar mode serving a certificate directory."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402


def output(r):
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


class ConfigErrors(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        cls.certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        cls.pair = cls.certs.gen(["a.test", "www.a.test"])

    def write(self, text):
        path = os.path.join(self.tmp, "bad.ini")
        with open(path, "w") as f:
            f.write(text)
        return path

    def assertErrorLine(self, out, path, line, *words):
        """Some line is `path:line: ...` and holds every word (case-insensitive)."""
        prefix = "%s:%d:" % (path, line)
        lines = [ln for ln in out.splitlines() if prefix in ln]
        self.assertTrue(lines, "no message for line %d:\n%s" % (line, out))
        text = "\n".join(lines).lower()
        for w in words:
            self.assertIn(w.lower(), text, "line %d message lacks %r:\n%s" % (line, w, out))

    def test_every_error_reported(self):
        rsa, ecdsa = self.pair["rsa"], self.pair["ecdsa"]
        text = "\n".join([
            "[proxy]",                                   # 1
            "admin = off",                               # 2
            "bogus_key = 1",                             # 3  unknown key
            "workers = many",                            # 4  bad value
            "strict_sni = perhaps",                      # 5  bad boolean
            "[listener main]",                           # 6
            "bind = 127.0.0.1:%d" % h.free_port(),       # 7
            "[site a]",                                  # 8
            "names = a.test",                            # 9
            "cert = %s %s" % rsa,                        # 10
            "cert = /nonexistent/x.crt /nonexistent/x.key",  # 11 missing file
            "upstream = nope",                           # 12 undefined upstream
            "[site b]",                                  # 13
            "names = www.a.test",                        # 14
            "cert = %s %s" % ecdsa,                      # 15
            "upstream = up",                             # 16
            "[upstream up]",                             # 17
            "server = 127.0.0.1:1",                      # 18
            "balance = random",                          # 19 bad enum
            "",
        ])
        path = self.write(text)
        for argv in ([h.BIN, "-c", path], [h.BIN, "check", "-c", path]):
            r = h.run_twofold(argv[1:], timeout=30)
            out = output(r)
            self.assertEqual(r.returncode, 1, out)
            self.assertErrorLine(out, path, 3, "bogus_key")
            self.assertErrorLine(out, path, 4, "workers")
            self.assertErrorLine(out, path, 5, "strict_sni")
            self.assertErrorLine(out, path, 11, "/nonexistent/x.crt")
            self.assertErrorLine(out, path, 12, "nope")
            self.assertErrorLine(out, path, 19, "balance")

    def test_example_message_format(self):
        # the format documented by the config issue, word for word
        rsa = self.pair["rsa"]
        text = ("[proxy]\nadmin = off\n[listener main]\nbind = 127.0.0.1:%d\n[upstream up]\n"
                "server = 127.0.0.1:1\n[upstream other]\nserver = 127.0.0.1:2\n[site a]\n"
                "names = a.test\ncert = %s %s\nupstream = nope\n" % ((h.free_port(),) + rsa))
        path = self.write(text)
        r = h.run_twofold(["-c", path], timeout=30)
        self.assertEqual(r.returncode, 1, output(r))
        self.assertIn('%s:12: [site a] upstream "nope" is not defined' % path, output(r))

    def test_syntax_error_has_line(self):
        path = self.write("[proxy]\nadmin = off\n[listener main\nbind = 127.0.0.1:1\n")
        r = h.run_twofold(["-c", path], timeout=30)
        self.assertEqual(r.returncode, 1, output(r))
        self.assertIn("%s:3:" % path, output(r))

    def test_missing_listener_and_site(self):
        path = self.write("[proxy]\nadmin = off\n")
        r = h.run_twofold(["-c", path], timeout=30)
        out = output(r)
        self.assertEqual(r.returncode, 1, out)
        self.assertRegex(out.lower(), r"listener")
        self.assertRegex(out.lower(), r"site")

    def test_missing_config_file(self):
        r = h.run_twofold(["-c", os.path.join(self.tmp, "absent.ini")], timeout=30)
        self.assertEqual(r.returncode, 1, output(r))
        self.assertIn("absent.ini", output(r))


class CommandLine(h.TestCase):
    def test_version(self):
        r = h.run_twofold(["--version"])
        self.assertEqual(r.returncode, 0, output(r))
        self.assertRegex(r.stdout.decode(), r"^twofold \d+\.\d+\.\d+ \(OpenSSL [^,]+, libuv "
                                            r"[^,]+, llhttp [^)]+\)")

    def test_help(self):
        r = h.run_twofold(["--help"])
        self.assertEqual(r.returncode, 0, output(r))
        out = output(r)
        for word in ("check", "explain", "--cert-dir", "--listen", "--upstream", "-c"):
            self.assertIn(word, out)

    def test_usage_errors_exit_2(self):
        for argv in (["--no-such-flag"], ["frobnicate"], ["-c"], ["check", "--bogus"],
                     ["explain", "--sni"]):
            r = h.run_twofold(argv)
            self.assertEqual(r.returncode, 2, "%s: %s" % (argv, output(r)))
            self.assertTrue(output(r).strip(), "%s: no message" % argv)


class Sidecar(h.TestCase):
    def setUp(self):
        super().setUp()
        self.certs = h.Certs(os.path.join(self.tmp, "certs"))
        self.pair = self.certs.gen(["side.test", "www.side.test"])

    def argv(self, port, up):
        return [h.BIN, "--listen", "127.0.0.1:%d" % port, "--upstream", up.addr,
                "--cert-dir", self.certs.dir, "--default-name", "side.test", "--admin",
                "127.0.0.1:%d" % h.free_port(), "--workers", "1"]

    def test_sidecar_serves_cert_dir(self):
        up = self.start_upstream()
        port = h.free_port()
        self.start_twofold(argv=self.argv(port, up), port=port, name="side.test")
        r = h.curl(port, "www.side.test", "/bytes?n=100", self.certs.ca)
        self.assertEqual((r.rc, r.status), (0, 200), r.err)
        self.assertEqual(r.body, h.pattern(100))
        fp, out = h.served_fingerprint(port, "side.test", ["-tls1_3", "-sigalgs",
                                                            "rsa_pss_rsae_sha256"])
        self.assertEqual(fp, h.cert_fingerprint(self.pair["rsa"][0]), out)
        fp, out = h.served_fingerprint(port, None, ["-tls1_3"])
        self.assertEqual(fp, h.cert_fingerprint(self.pair["ecdsa"][0]), out)

    def test_sidecar_check(self):
        up = self.start_upstream()
        argv = self.argv(h.free_port(), up)
        r = h.run_twofold(["check"] + argv[1:], timeout=60)
        self.assertEqual(r.returncode, 0, output(r))
        self.assertIn("RSA-2048", output(r))
        self.assertIn("ECDSA P-256", output(r))

    def test_sidecar_bad_listen(self):
        r = h.run_twofold(["--listen", "not-an-address", "--upstream", "127.0.0.1:1",
                   "--cert-dir", self.certs.dir], timeout=30)
        self.assertEqual(r.returncode, 1, output(r))
        self.assertTrue(re.search(r"--listen", output(r)), output(r))


if __name__ == "__main__":
    h.main()
