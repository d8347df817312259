#!/usr/bin/env python3
"""Hot reload through the real binary (the hot-reload issue's tests b, d, h, i, j).

Every test starts its own twofold (admin endpoint on a free loopback port) with one site
"a" (a.test www.a.test, RSA-2048 + ECDSA P-256, files named in the config) whose
certificates come in generations from one CA (lib/reload_util.Generations: generation 0
is live at start, later ones are swapped in by rename).

- test_keepalive_survives_and_watch_latency (b): a keep-alive connection opened before
  10 reloads still serves requests after them; with the watcher on (watch_debounce =
  200ms) a new connection gets the renewed certificate within 1 s + the debounce of the
  rename, measured three times by polling a new handshake every 100 ms. The bound is the
  issue's functional requirement ("within 1 s"), plus the configured debounce, not a
  performance figure.
- test_bad_renewals_keep_old_certificate (d): mismatched key, truncated PEM, deleted
  file, expired certificate, RSA replaced by ECDSA, ECDSA replaced by RSA, SAN losing a
  name: each leaves the old leaves served (openssl s_client, RSA-only and ECDSA-only) and
  reports the reason (`twofold reload` output and exit code, /certs last_reload); then a
  good renewal applies. The two half-written cases are retried by twofold for 30 s: the
  mismatch is waited out, the truncated file is completed during the retries.
- test_sighup_storm_coalesces (h): 100 SIGHUPs in one burst (< 1 s) with the files
  changed between some of them: the last files on disk are served, the process lives,
  and far fewer than 100 reloads ran.
- test_resumption_across_reload (i): TLS 1.2 and 1.3 sessions resume after a reload that
  changed the certificates.
- test_invalid_config_on_sighup (j): a broken config written over the file and SIGHUP:
  the old config keeps serving and the log names file:line; the fixed config (with a new
  site) applies on the next SIGHUP.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402
from lib import reload_util as ru  # noqa: E402

NAMES = ["a.test", "www.a.test"]
DEBOUNCE_S = 0.2
# (b): the "within 1 s of the change", plus the configured debounce
WATCH_BOUND_S = 1.0 + DEBOUNCE_S
REQ = b"GET /bytes?n=1 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"


class Reload(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        cls.up = cls.class_upstream()

    def start(self, gens, watch=False):
        self.admin_port = h.free_port()
        self.port = h.free_port()
        p = {"admin": "127.0.0.1:%d" % self.admin_port, "watch": "on" if watch else "off",
             "watch_debounce": "%dms" % int(DEBOUNCE_S * 1000), "default_site": "a"}
        sites = [h.site("a", NAMES, gens.cert_lines(), "up")]
        self.conf_text = h.config(self.port, sites, {"up": [self.up.addr]}, p)
        self.tf = self.start_twofold(self.conf_text, port=self.port, name="a.test")
        self.admin = ru.Admin(self.admin_port)
        return self.tf

    def assertServed(self, fps, msg=""):
        got = ru.served(self.port, "a.test")
        self.assertEqual(got, fps, "%s: served %r, expected %r" % (msg, got, fps))

    def assertRequestOK(self, conn, msg=""):
        r = conn.request("GET", "/bytes?n=100", "a.test")
        self.assertEqual((r.status, r.body), (200, h.pattern(100)), msg)

    # ------------------------------------------------------------------ (b)

    def test_keepalive_survives_and_watch_latency(self):
        gens = ru.Generations(os.path.join(self.tmp, "certs"), NAMES, n=2)
        self.start(gens, watch=True)
        with h.HttpConn(self.port, "a.test", cafile=gens.ca) as ka:
            self.assertRequestOK(ka, "before the reloads")
            for i in range(10):
                gens.install((i + 1) % 2)
                status, rep = self.admin.reload()
                self.assertEqual((status, rep["outcome"]), (200, "applied"), rep)
                self.assertRequestOK(ka, "keep-alive request after reload %d" % (i + 1))
            # generation 0 is live again after 10 swaps; the connection is the same one
            self.assertFalse(ka.eof)
        self.assertServed(gens.fp[0], "after 10 reloads")

        # watcher latency: rename, then a new handshake every 100 ms until the new leaf
        ctx = {k: ru.py_context(k, gens.ca) for k in ru.KINDS}
        delays = []
        for target in (1, 0, 1):
            time.sleep(DEBOUNCE_S * 2)  # let the previous change's reload settle
            gens.install(target)
            t0 = time.monotonic()
            seen = {}

            def poll():
                for k in ru.KINDS:
                    if k not in seen and ru.py_fingerprint(self.port, "a.test",
                                                           ctx[k]) == gens.fp[target][k]:
                        seen[k] = time.monotonic() - t0
                return len(seen) == 2
            ok = ru.wait_until(poll, 10.0, interval=0.1)
            self.assertTrue(ok, "generation %d not served within 10 s of the rename "
                            "(seen: %r)" % (target, seen))
            delays.append(max(seen.values()))
        print("watch: new certificate served %s s after the rename"
              % ", ".join("%.2f" % d for d in delays))
        self.assertLess(max(delays), WATCH_BOUND_S,
                        "renewal took longer than 1 s + debounce: %r" % delays)
        lr = self.admin.last_reload()
        self.assertEqual(lr["trigger"], "watch", lr)

    # ------------------------------------------------------------------ (d)

    def bad_case(self, gens, name, status, words, rc_want=2):
        """Reload with `twofold reload`: rc 2, the reason in its output and in /certs,
        generation 0 still served to both kinds of client."""
        rc, out = ru.cli_reload(self.tf.conf_path)
        self.assertEqual(rc, rc_want, "%s: twofold reload exit %d:\n%s" % (name, rc, out))
        sr = ru.site_report(self.admin.last_reload(), "a")
        self.assertIsNotNone(sr, name)
        self.assertEqual(sr["status"], status, "%s: %r" % (name, sr))
        for w in words:
            self.assertIn(w, out, "%s: reason %r not in twofold reload's output:\n%s"
                          % (name, w, out))
            self.assertIn(w, sr["diff"], "%s: reason %r not in /certs: %r" % (name, w, sr))
        self.assertServed(gens.fp[0], name)
        self.assertEqual(self.admin.served_sha256("a"), set(gens.fp[0].values()), name)
        return out

    def test_bad_renewals_keep_old_certificate(self):
        root = os.path.join(self.tmp, "certs")
        gens = ru.Generations(root, NAMES, n=2)
        self.start(gens)
        expired = gens.generate(os.path.join(root, "expired"), START="20200101000000Z",
                                END="20210101000000Z")
        narrow = gens.generate(os.path.join(root, "narrow"), names=["a.test"])
        live_rsa, live_ecdsa = gens.live["rsa"], gens.live["ecdsa"]
        self.assertServed(gens.fp[0], "at start")

        cases = [  # (name, break the live files, expected status, reason words)
            ("RSA key replaced by an ECDSA key",
             lambda: gens.install_pair("rsa", *gens.gens[1]["ecdsa"]), "refused",
             ["RSA would be removed", "now holds an ECDSA P-256 key", "tls12-rsa-only"]),
            ("ECDSA key replaced by an RSA key",
             lambda: gens.install_pair("ecdsa", *gens.gens[1]["rsa"]), "refused",
             ["ECDSA would be removed"]),
            ("SAN no longer covers www.a.test",
             lambda: [gens.install_pair(k, *narrow[k]) for k in ru.KINDS], "refused",
             ["www.a.test"]),
            ("expired certificate", lambda: gens.install_pair("rsa", *expired["rsa"]), "kept",
             ["expired"]),
            # cs_reload's contract: a deleted certificate file keeps the site's certificates
            ("deleted certificate file", lambda: os.unlink(live_ecdsa[0]), "kept",
             [os.path.basename(live_ecdsa[0])]),
            # half-written: twofold retries for 30 s, `twofold reload` waits for the outcome
            ("mismatched key (waited out)",
             lambda: gens.put(gens.gens[1]["rsa"][1], live_rsa[1]), "pending",
             ["key does not match certificate"]),
        ]
        for name, breakit, status, words in cases:
            with self.subTest(name):
                try:
                    breakit()
                    self.bad_case(gens, name, status, words)
                finally:
                    gens.install(0)
        with self.subTest("truncated PEM, then the renewal completes"):
            with open(gens.gens[1]["rsa"][0], "rb") as f:
                pem = f.read()
            with open(live_rsa[0], "wb") as f:  # a writer in the middle of the file
                f.write(pem[: len(pem) // 3])
            seq = self.admin.last_reload()["seq"]
            cli = self.track(h.Proc("reload-cli", [h.BIN, "reload", "-c", self.tf.conf_path],
                                    self.tmp, stdout_pipe=True))

            def pending():
                lr = self.admin.last_reload()
                sr = ru.site_report(lr, "a") if lr["seq"] > seq else None
                return sr if sr and sr["status"] == "pending" else None
            sr = ru.wait_until(pending, 30)
            self.assertIsNotNone(sr, "truncated PEM not reported pending: %r"
                                 % self.admin.last_reload())
            self.assertIn("truncated", sr["diff"], sr)
            self.assertServed(gens.fp[0], "truncated")
            gens.install(1)  # the renewal is complete now: a retry applies it
            rc = cli.wait(60)
            out = cli.p.stdout.read().decode(errors="replace") + cli.stderr_text()
            cli.stop()
            self.assertEqual(rc, 0, "twofold reload after the completed renewal:\n" + out)
            self.assertTrue(out.startswith("reload applied"), out)
            self.assertServed(gens.fp[1], "good renewal")
            self.assertEqual(self.admin.served_sha256("a"), set(gens.fp[1].values()))
            self.assertEqual(ru.site_report(self.admin.last_reload(), "a")["status"],
                             "updated")
        log = self.tf.proc.stderr_text()
        self.assertRegex(log, r"reload: a: refused: RSA would be removed")
        self.assertRegex(log, r"reload: a: kept previous certificates: .*expired")

    # ------------------------------------------------------------------ (h)

    def test_sighup_storm_coalesces(self):
        gens = ru.Generations(os.path.join(self.tmp, "certs"), NAMES, n=4)
        self.start(gens)
        before = ru.metric_sum(self.admin.metrics(), "twofold_reloads_total")
        # SIGHUP index -> generation put in before it; the last one is new at 95, so serving
        # it proves a build read the files after the last change
        installs = {10: 1, 40: 2, 70: 1, 95: 3}
        t0 = time.monotonic()
        for i in range(100):
            if i in installs:
                gens.install(installs[i])
            ru.sighup(self.tf)
        burst = time.monotonic() - t0
        self.assertLess(burst, 1.0, "the test could not send 100 SIGHUPs within 1 s")
        last = installs[95]

        def settled():  # the last files served, the last reload applied, nothing pending
            lr = self.admin.last_reload()
            if lr.get("outcome") != "applied":
                return None
            if self.admin.served_sha256("a") != set(gens.fp[last].values()):
                return None
            return lr
        lr = ru.wait_until(settled, 45, 0.1)
        self.assertIsNotNone(lr, "did not settle on generation %d: %r"
                             % (last, self.admin.last_reload()))
        # a little longer: no build left queued that could change the outcome
        time.sleep(1.0)
        self.assertTrue(self.tf.proc.alive())
        self.assertServed(gens.fp[last], "after the SIGHUP storm")
        after = ru.metric_sum(self.admin.metrics(), "twofold_reloads_total")
        reloads = after - before
        print("100 SIGHUPs in %.3f s -> %d reload(s)" % (burst, reloads))
        self.assertGreaterEqual(reloads, 1)
        self.assertLess(reloads, 20, "SIGHUPs did not coalesce: %d reloads" % reloads)

    # ------------------------------------------------------------------ (i)

    def test_resumption_across_reload(self):
        gens = ru.Generations(os.path.join(self.tmp, "certs"), NAMES, n=2)
        self.start(gens)
        for n, version in enumerate(("-tls1_3", "-tls1_2")):
            with self.subTest(version):
                sess = os.path.join(self.tmp, "sess%s.pem" % version)
                rc, out, err = h.s_client(self.port, "a.test",
                                          [version, "-sess_out", sess, "-ign_eof"],
                                          input_bytes=REQ)
                self.assertIn("New, TLSv1.", out, out + err)
                self.assertIn("HTTP/1.1 200", out, out + err)
                gens.install((n + 1) % 2)
                status, rep = self.admin.reload()
                self.assertEqual((status, rep["outcome"]), (200, "applied"), rep)
                self.assertEqual(ru.site_report(rep, "a")["status"], "updated", rep)
                rc, out, err = h.s_client(self.port, "a.test",
                                          [version, "-sess_in", sess, "-ign_eof"],
                                          input_bytes=REQ)
                self.assertIn("Reused, TLSv1.%s" % version[-1], out, out + err)
                self.assertIn("HTTP/1.1 200", out, out + err)

    # ------------------------------------------------------------------ (j)

    def test_listeners_on_sighup(self):
        """A SIGHUP that adds a listener binds it (its objects prepared before the reload is
        published, started by each worker), a kept listener keeps its socket and takes its
        new ALPN list, and a removed one stops accepting."""
        root = os.path.join(self.tmp, "certs")
        gens = ru.Generations(root, NAMES, n=1)
        self.start(gens)
        conf = self.tf.conf_path
        port2 = h.free_port()
        two = self.conf_text.replace(
            "[listener main]\nbind = 127.0.0.1:%d\n" % self.port,
            "[listener main]\nbind = 127.0.0.1:%d\nalpn = h2 http/1.1\n\n"
            "[listener second]\nbind = 127.0.0.1:%d\n" % (self.port, port2))
        self.assertNotEqual(two, self.conf_text)
        with h.HttpConn(self.port, "a.test", cafile=gens.ca) as kept:
            self.assertRequestOK(kept, "before")
            with open(conf, "w") as f:
                f.write(two)
            ru.sighup(self.tf)
            self.assertTrue(ru.wait_until(lambda: h.port_accepts(port2), 15),
                            "the added listener does not accept")
            self.assertRequestOK(kept, "a connection of the kept listener, after")
        with h.HttpConn(port2, "a.test", cafile=gens.ca) as c:
            self.assertRequestOK(c, "the added listener")
        _, out, _ = h.s_client(self.port, "a.test", ["-alpn", "h2"])
        self.assertIn("ALPN protocol: h2", out)  # the kept listener's new list
        with open(conf, "w") as f:
            f.write(self.conf_text)
        ru.sighup(self.tf)
        self.assertTrue(ru.wait_until(lambda: not h.port_accepts(port2), 15),
                        "the removed listener still accepts")
        with h.HttpConn(self.port, "a.test", cafile=gens.ca) as c:
            self.assertRequestOK(c, "the first listener after the removal")

    def test_invalid_config_on_sighup(self):
        root = os.path.join(self.tmp, "certs")
        gens = ru.Generations(root, NAMES, n=1)
        b = gens.generate(os.path.join(root, "b"), names=["b.test"], STEM="b")
        b_fp = h.cert_fingerprint(b["ecdsa"][0])
        self.start(gens)
        conf = self.tf.conf_path
        broken = self.conf_text.replace("workers = 1", "workers = banana\nno_such_key = 1")
        with open(conf, "w") as f:
            f.write(broken)
        bad_lines = [i + 1 for i, line in enumerate(broken.splitlines())
                     if line.startswith(("workers = banana", "no_such_key"))]
        mark = len(self.tf.proc.stderr_text())
        ru.sighup(self.tf)

        def logged():
            text = self.tf.proc.stderr_text()[mark:]
            return all("%s:%d" % (os.path.basename(conf), n) in text for n in bad_lines)
        self.assertTrue(ru.wait_until(logged, 15),
                        "the log does not name %s:%r:\n%s"
                        % (conf, bad_lines, self.tf.proc.stderr_text()[mark:]))
        self.assertTrue(self.tf.proc.alive())
        with h.HttpConn(self.port, "a.test", cafile=gens.ca) as c:
            self.assertRequestOK(c, "old config after the broken one")
        self.assertServed(gens.fp[0], "old config")

        # fixed: the original config plus a new site b; it applies on the next SIGHUP
        fixed = self.conf_text.replace("[upstream up]", h.site("b", ["b.test"], [b["rsa"],
                                                                       b["ecdsa"]], "up")
                                       + "\n[upstream up]")
        with open(conf, "w") as f:
            f.write(fixed)
        ru.sighup(self.tf)

        def b_served():
            fp, _ = h.served_fingerprint(self.port, "b.test", ru.ECDSA_TLS13)
            return fp == b_fp
        self.assertTrue(ru.wait_until(b_served, 20, 0.2),
                        "the fixed config (new site b) was not applied on SIGHUP:\n%s"
                        % self.tf.proc.stderr_text()[mark:])
        self.assertServed(gens.fp[0], "site a after the config reload")
        with h.HttpConn(self.port, "b.test", cafile=gens.ca) as c:
            r = c.request("GET", "/bytes?n=10", "b.test")
            self.assertEqual((r.status, r.body), (200, h.pattern(10)))


if __name__ == "__main__":
    h.main()
