#!/usr/bin/env python3
"""The command line: config errors (every one, as file:line: message, exit 1), --version,
--help, usage errors (exit 2), sidecar mode serving a certificate directory, `twofold
check`'s exit 3 for client profiles a site loses without declaring it (require,
accept_profiles_lost), `twofold explain` from --cert-dir alone, and the exit codes and
example config path the README and the help texts promise."""

import json
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

    def test_missing_sidecar_flags_exit_2(self):
        """A sidecar command line without a flag it needs is a usage error (README: exit
        2), and the message names what is missing; it is not a configuration error."""
        d = self.tmp
        cases = [
            (["--listen", "127.0.0.1:1"], ["--upstream", "--cert-dir"]),
            (["--listen", "127.0.0.1:1", "--cert-dir", d], ["--upstream"]),
            (["check", "--upstream", "127.0.0.1:1", "--cert-dir", d], ["--listen"]),
            (["explain", "--listen", "127.0.0.1:1", "--profile", "modern-tls13"],
             ["--cert-dir"]),
        ]
        for argv, missing in cases:
            r = h.run_twofold(argv)
            out = output(r)
            self.assertEqual(r.returncode, 2, "%s: %s" % (argv, out))
            for flag in missing:
                self.assertIn(flag, out, "%s: message does not name %s" % (argv, flag))
            self.assertNotIn("configuration error", out, argv)

    def test_help_points_at_example_config(self):
        """--help names the installed annotated example and `twofold help config`; the
        README's install steps put conf/twofold.ini exactly there."""
        out = h.run_twofold(["--help"]).stdout.decode()
        self.assertIn("twofold help config", out)
        m = re.search(r"annotated example:\s+(/\S+\.ini)", out)
        self.assertIsNotNone(m, "--help names no installed example config:\n" + out)
        path = m.group(1)
        self.assertIn(path, h.run_twofold(["help", "config"]).stdout.decode())
        with open(os.path.join(h.SRC, "README.md")) as f:
            installs = [ln.strip() for ln in f if re.match(r"^\s+install .*conf/twofold\.ini ",
                                                           ln)]
        self.assertTrue(any(ln.split()[-1] == path for ln in installs),
                        "README does not install conf/twofold.ini to %s: %s" % (path, installs))

    def test_exit_codes_documented(self):
        """0/1/2/3 in `twofold help check` and in the README's Exit codes table."""
        out = h.run_twofold(["help", "check"]).stdout.decode()
        for code in "0123":
            self.assertRegex(out, r"(?m)^\s+%s\s+\S" % code, "help check lacks exit %s" % code)
        self.assertIn("accept_profiles_lost", out)
        self.assertIn("tls12-rsa-only", out)  # the profiles a site may name
        with open(os.path.join(h.SRC, "README.md")) as f:
            readme = f.read()
        table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
        self.assertRegex(table, r"\| Command \| 0 \| 1 \| 2 \| 3 \|")
        row = [ln for ln in table.splitlines() if ln.startswith("| `twofold check`")]
        self.assertTrue(row, table)
        self.assertRegex(row[0].split("|")[5], r"profile", row[0])


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

    def test_explain_from_cert_dir_alone(self):
        r = h.run_twofold(["explain", "--cert-dir", self.certs.dir, "--sni", "side.test",
                           "--profile", "tls12-rsa-only"], timeout=60)
        self.assertEqual(r.returncode, 0, output(r))
        self.assertRegex(output(r), r"(?m)^result: RSA-2048")
        r = h.run_twofold(["explain", "--cert-dir", self.certs.dir, "--profile",
                           "tls13-ecdsa-only"], timeout=60)
        self.assertEqual(r.returncode, 0, output(r))
        self.assertRegex(output(r), r"(?m)^result: ECDSA P-256")

    def test_sidecar_bad_listen(self):
        r = h.run_twofold(["--listen", "not-an-address", "--upstream", "127.0.0.1:1",
                   "--cert-dir", self.certs.dir], timeout=30)
        self.assertEqual(r.returncode, 1, output(r))
        self.assertTrue(re.search(r"--listen", output(r)), output(r))


class CheckCoverage(h.TestCase):
    """`twofold check` exits 3 when a built-in client profile cannot connect to a site and
    the site's configuration does not declare that gap; a deploy hook can gate on it."""

    @classmethod
    def setUpEnv(cls):
        cls.certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        cls.both = cls.certs.gen(["both.test"])
        cls.ec = cls.certs.gen(["ec.test"], KEYS="ecdsa")["ecdsa"]

    def check(self, *sites, json_out=False):
        path = os.path.join(self.tmp, "check-%d.ini" % len(os.listdir(self.tmp)))
        with open(path, "w") as f:
            f.write(h.config(h.free_port(), list(sites), {"up": ["127.0.0.1:1"]}))
        r = h.run_twofold(["check", "-c", path] + (["--json"] if json_out else []),
                          timeout=60)
        return r, path

    def ec_site(self, *extra):
        return h.site("ec", ["ec.test"], [self.ec], "up", list(extra))

    def both_site(self, *extra):
        return h.site("both", ["both.test"], [self.both["rsa"], self.both["ecdsa"]], "up",
                      list(extra))

    def lost_profiles(self):
        """The profiles an ECDSA P-256-only site loses, from check's own JSON."""
        r, _ = self.check(self.both_site(), self.ec_site(), json_out=True)
        self.assertEqual(r.returncode, 3, output(r))
        doc = json.loads(r.stdout.decode())
        self.assertIs(doc["ok"], False)
        rows = {s["site"]: s["profiles"] for s in doc["sites"]}
        self.assertTrue(all(p["ok"] for p in rows["both"]), rows["both"])
        lost = [p["profile"] for p in rows["ec"] if not p["ok"]]
        self.assertIn("tls12-rsa-only", lost)
        self.assertTrue(all(p["declared"] is None for p in rows["ec"]))
        return lost

    def test_full_coverage_exits_0_with_headings(self):
        r, _ = self.check(self.both_site(), self.ec_site("require = ecdsa"))
        self.assertEqual(r.returncode, 0, output(r))
        out = r.stdout.decode()
        self.assertRegex(out, r"(?m)^coverage ok: ")
        # every site's table starts with its column headings
        self.assertEqual(len(re.findall(r"(?m)^site .*\n  PROFILE +CERTIFICATE +TLS$", out)), 2,
                         out)
        self.assertRegex(out, r"(?m)^  modern-tls13 +ECDSA P-256 +1\.3$")

    def test_undeclared_loss_exits_3(self):
        lost = self.lost_profiles()
        r, _ = self.check(self.both_site(), self.ec_site())
        out = output(r)
        self.assertEqual(r.returncode, 3, out)
        self.assertRegex(out, r"(?m)^coverage incomplete: ")
        line = [ln for ln in r.stderr.decode().splitlines() if "site ec:" in ln]
        self.assertTrue(line, out)
        for p in lost:
            self.assertIn(p, line[0])
        self.assertNotIn("site both", r.stderr.decode())

    def test_require_ecdsa_declares_ecdsa_only_site(self):
        r, _ = self.check(self.both_site(), self.ec_site("require = ecdsa"))
        out = output(r)
        self.assertEqual(r.returncode, 0, out)
        self.assertRegex(out, r"(?m)^coverage ok: .* failed \(\d+ declared by the "
                              r"configuration, 0 not\)")
        self.assertRegex(out, r"tls12-rsa-only +FAIL\(no_usable_cert\), declared by "
                              r"require = ecdsa")
        r, _ = self.check(self.ec_site("require = ecdsa"), json_out=True)
        self.assertEqual(r.returncode, 0, output(r))
        self.assertIs(json.loads(r.stdout.decode())["ok"], True)

    def test_require_on_a_two_type_site_declares_nothing(self):
        """require = ecdsa on a site that also serves RSA is no ECDSA-only declaration;
        require = rsa ecdsa on an ECDSA-only site is an error (exit 1), not a gap."""
        r, _ = self.check(self.both_site("require = ecdsa"))
        self.assertEqual(r.returncode, 0, output(r))
        r, _ = self.check(self.ec_site("require = rsa ecdsa"))
        self.assertEqual(r.returncode, 1, output(r))
        self.assertIn("require = rsa ecdsa but no usable RSA", output(r))

    def test_accept_profiles_lost(self):
        lost = self.lost_profiles()
        r, _ = self.check(self.ec_site("accept_profiles_lost = %s" % " ".join(lost)))
        out = output(r)
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("declared by accept_profiles_lost", out)
        # one left out: exit 3, naming just that one
        r, _ = self.check(self.ec_site("accept_profiles_lost = %s" % " ".join(lost[:-1])))
        out = output(r)
        self.assertEqual(r.returncode, 3, out)
        line = [ln for ln in r.stderr.decode().splitlines() if "site ec:" in ln]
        self.assertTrue(line, out)
        self.assertIn(lost[-1], line[0])
        for p in lost[:-1]:
            self.assertNotIn(p, line[0])

    def test_accept_profiles_lost_unknown_name(self):
        site = self.ec_site("accept_profiles_lost = tls12-rsa-only no-such-client")
        r, path = self.check(site)
        out = output(r)
        self.assertEqual(r.returncode, 1, out)
        with open(path) as f:
            line = [i for i, ln in enumerate(f, 1) if ln.startswith("accept_profiles_lost")][0]
        self.assertRegex(out, r"%s:%d: .*\"no-such-client\" is not a client profile"
                         % (re.escape(path), line))
        # the server refuses the same file
        r = h.run_twofold(["-c", path], timeout=30)
        self.assertEqual(r.returncode, 1, output(r))
        self.assertIn("no-such-client", output(r))

    def test_errors_win_over_gaps(self):
        """An error-level finding exits 1 even when profiles are lost too."""
        expired = self.certs.gen(["old.test"], STEM="old", KEYS="ecdsa",
                                 START="20200101000000Z", END="20200201000000Z")["ecdsa"]
        r, _ = self.check(self.ec_site(), h.site("old", ["old.test"], [expired], "up"))
        self.assertEqual(r.returncode, 1, output(r))


if __name__ == "__main__":
    h.main()
