#!/usr/bin/env python3
"""The outage, replayed with a real ACME CA (pebble) and a real ACME client (certbot 2.x),
offline on loopback.

One name, acme.test, has two certbot lineages: site-rsa (RSA-2048) and site-ecdsa (ECDSA
P-256). twofold serves both straight from certbot's live/ directory (cert_dir), and every
lineage's deploy hook is conf/certbot-deploy-hook.sh, which runs `twofold reload -c`.
The tests run in order and share one pebble, one certbot and one twofold:
  1. issuance: both lineages are served, each to the clients that need it;
  2. renewal of both lineages under client load: the new certificates are served (the
     fingerprints change for both key types), no request fails, the hook reports 0;
  3. the outage: `certbot renew --cert-name site-rsa --key-type ecdsa` (certbot 2.x
     swaps the lineage to ECDSA without asking). twofold refuses that change and keeps
     serving the previous RSA certificate to RSA-only clients (TLS 1.2 and TLS 1.3
     RSA-PSS); the hook's `twofold reload` exits 2 and says RSA would be removed; certbot
     still exits 0; /certs and /metrics show the refusal;
  4. a restart at that point has nothing to compare with: `require = rsa ecdsa` makes
     `twofold check` (and startup) fail instead of serving ECDSA only.
The file watcher may reload before the hook does; both see the same files, so both must
refuse, and the assertions hold in either order.
"""

import json
import os
import re
import shutil
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import acme  # noqa: E402
from lib import harness as h  # noqa: E402
from lib import load as ld  # noqa: E402

NAME = "acme.test"
HOOK = os.path.join(h.SRC, "conf", "certbot-deploy-hook.sh")
RSA_TLS12 = ("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
RSA_TLS13 = ("-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256")
ECDSA_TLS13 = ("-tls1_3", "-sigalgs", "ecdsa_secp256r1_sha256")
# twofold-bench profiles during the renewal: RSA-only at 1.2 and 1.3, and ECDSA takers
BENCH_MIX = "tls12-rsa-only:1,tls13-rsa-pss-only:1,modern-tls13:1,java-8:1"


@unittest.skipUnless(shutil.which("pebble") and shutil.which("certbot"),
                     "needs Debian's pebble and certbot (apt-get install -y pebble certbot)")
class AcmeOutage(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        tmp = cls.class_tmp()
        cls.pebble = acme.Pebble(tmp)
        cls.class_track(cls.pebble.proc)
        cls.port, cls.admin_port = h.free_port(), h.free_port()
        cls.hook_log = os.path.join(tmp, "hook.log")
        cls.conf_path = os.path.join(tmp, "twofold.ini")
        cls.certbot = acme.Certbot(cls.pebble, os.path.join(tmp, "certbot"), hook_env={
            "TWOFOLD_BIN": h.BIN, "TWOFOLD_CONFIG": cls.conf_path,
            "TWOFOLD_HOOK_LOG": cls.hook_log})
        # Issue before twofold starts (the hook's reload finds nobody: exit 1, logged).
        for lineage, key_args in (("site-rsa", ["--key-type", "rsa", "--rsa-key-size", "2048"]),
                                  ("site-ecdsa", ["--key-type", "ecdsa",
                                                  "--elliptic-curve", "secp256r1"])):
            r = cls.certbot.certonly(lineage, [NAME], key_args, HOOK)
            if r.returncode != 0:
                raise RuntimeError("certbot certonly %s: %s%s" % (lineage, r.stdout.decode(),
                                                                  r.stderr.decode()))
        cls.up = cls.class_upstream()
        s = h.site("acme", [NAME], [], "up", ["cert_dir = %s" % cls.certbot.live])
        conf = h.config(cls.port, [s], {"up": [cls.up.addr]},
                        {"workers": "2", "admin": "127.0.0.1:%d" % cls.admin_port,
                         "warn_days": "1", "watch_debounce": "300ms"})
        with open(cls.conf_path, "w") as f:
            f.write(conf)
        cls.tf = cls.class_twofold(argv=[h.BIN, "-c", cls.conf_path], port=cls.port, name=NAME)

    # ------------------------------------------------------------ helpers

    def lineage_fp(self, lineage):
        return h.cert_fingerprint(self.certbot.fullchain(lineage))

    def served(self, args):
        fp, out = h.served_fingerprint(self.port, NAME, args)
        self.assertIsNotNone(fp, "no certificate served to %s:\n%s" % (" ".join(args), out))
        return fp

    def admin_get(self, path):
        url = "http://127.0.0.1:%d%s" % (self.admin_port, path)
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()

    def hook_runs(self):
        """[(lineage, exit code, output lines)] from the hook log, oldest first."""
        if not os.path.exists(self.hook_log):
            return []
        runs = []
        with open(self.hook_log) as f:
            for line in f:
                m = re.search(r"twofold deploy hook: lineage=(\S+) .* exit=(\d+)", line)
                if m:
                    runs.append((os.path.basename(m.group(1)), int(m.group(2)), []))
                elif runs:
                    runs[-1][2].append(line.rstrip("\n"))
        return runs

    def reload_once(self):
        """`twofold reload -c` now: (exit code, output)."""
        r = h.run_twofold(["reload", "-c", self.conf_path])
        return r.returncode, r.stdout.decode() + r.stderr.decode()

    def reloads_total(self, outcome):
        m = re.search(r'^twofold_reloads_total\{outcome="%s"\} (\d+)$' % outcome,
                      self.admin_get("/metrics"), re.M)
        self.assertIsNotNone(m, "no twofold_reloads_total{outcome=%r}" % outcome)
        return int(m.group(1))

    def assert_ok(self, r, what):
        self.assertEqual(r.returncode, 0, "%s failed:\n%s%s" % (what, r.stdout.decode(),
                                                                r.stderr.decode()))

    # ------------------------------------------------------------ tests, in order

    def test_1_issued_lineages_served(self):
        rsa, ecdsa = self.lineage_fp("site-rsa"), self.lineage_fp("site-ecdsa")
        self.assertNotEqual(rsa, ecdsa)
        self.assertEqual(self.served(RSA_TLS12), rsa)
        self.assertEqual(self.served(RSA_TLS13), rsa)
        self.assertEqual(self.served(ECDSA_TLS13), ecdsa)
        # a real client verifying pebble's chain up to its root
        res = h.curl(self.port, NAME, "/bytes?n=5", self.pebble.root)
        self.assertEqual((res.rc, res.status), (0, 200), res.err)
        rc, out = self.reload_once()
        self.assertEqual(rc, 0, out)
        self.assertIn("reload applied", out)

    def test_2_renewal_under_load(self):
        old = {k: self.lineage_fp("site-" + k) for k in ("rsa", "ecdsa")}
        runs_before = len(self.hook_runs())
        load = ld.Load(self.port, NAME, self.pebble.root)
        benches = []
        if ld.BenchLoop.available():
            # real client profiles, new connections and keep-alive, rate-limited so that
            # certbot keeps its share of the 2 cores
            benches = [ld.BenchLoop(self.port, NAME, "handshake", BENCH_MIX,
                                    ["--connections", "2", "--rate", "100"]),
                       ld.BenchLoop(self.port, NAME, "keepalive", "openssl3-default:1",
                                    ["--connections", "2", "--rate", "200"])]
        else:
            print("notice: %s not built: Python clients only" % ld.BENCH)
        try:
            self.assertTrue(load.wait_each(10), "client load is not running")
            for b in benches:
                self.assertTrue(b.wait_runs(1), "twofold-bench is not running")
            r = self.certbot.renew(["--cert-name", "site-rsa"])
            self.assert_ok(r, "certbot renew site-rsa")
            r = self.certbot.renew(["--cert-name", "site-ecdsa"])
            self.assert_ok(r, "certbot renew site-ecdsa")
            new = {k: self.lineage_fp("site-" + k) for k in ("rsa", "ecdsa")}
            for k in new:
                self.assertNotEqual(new[k], old[k], "certbot did not renew site-" + k)
            # the hook's reload has returned, so the new certificates are live now
            self.assertEqual(self.served(RSA_TLS12), new["rsa"])
            self.assertEqual(self.served(RSA_TLS13), new["rsa"])
            self.assertEqual(self.served(ECDSA_TLS13), new["ecdsa"])
            self.assertTrue(load.wait_each(10), "client load stalled after the renewal")
            for b in benches:  # a whole run that started after the swap
                self.assertTrue(b.wait_runs(2), "twofold-bench stalled after the renewal")
        finally:
            load.stop()
            for b in benches:
                b.stop()
        self.assertEqual(load.failures, [], "requests failed during the renewal")
        # live connections are not touched by a reload: no keep-alive client reconnected
        self.assertEqual(load.keepalive_conns, load.n_keepalive)
        for k in ("rsa", "ecdsa"):
            self.assertIn(old[k], load.seen[k], "%s clients never saw the old cert" % k)
            self.assertIn(new[k], load.seen[k], "%s clients never saw the new cert" % k)
            self.assertEqual(set(load.seen[k]), {old[k], new[k]}, "unexpected %s cert" % k)
        for b in benches:
            self.assertEqual(b.problems, [])
            self.assertEqual(b.errors(), {}, "twofold-bench errors: %s" % b.first_errors())
            self.assertGreater(b.requests(), 0)
            self.assertLessEqual(set(b.fingerprints), set(old.values()) | set(new.values()))
        if benches:
            self.assertLessEqual(set(new.values()), set(benches[0].fingerprints),
                                 "the bench's profiles never got the new certificates")
        runs = self.hook_runs()[runs_before:]
        self.assertEqual(sorted(r[0] for r in runs), ["site-ecdsa", "site-rsa"], runs)
        for lineage, code, lines in runs:
            self.assertEqual(code, 0, "hook for %s: %s" % (lineage, "\n".join(lines)))

    def test_3_outage_replayed_is_refused(self):
        rsa_before = self.lineage_fp("site-rsa")
        ecdsa_before = self.lineage_fp("site-ecdsa")
        partial_before = self.reloads_total("partial")
        runs_before = len(self.hook_runs())
        r = self.certbot.renew(["--cert-name", "site-rsa", "--key-type", "ecdsa"])
        # certbot itself is content: it got its certificate
        self.assert_ok(r, "certbot renew --key-type ecdsa")
        out = r.stdout.decode() + r.stderr.decode()
        self.assertIn("error code 2", out, "certbot did not log the hook's exit status")
        swapped = self.lineage_fp("site-rsa")
        self.assertNotEqual(swapped, rsa_before)
        text = h.run(["openssl", "x509", "-in", self.certbot.fullchain("site-rsa"), "-noout",
                      "-text"]).stdout.decode()
        self.assertIn("id-ecPublicKey", text, "certbot did not swap the lineage to ECDSA")

        # the deploy hook: twofold reload exited 2 and printed the refusal
        runs = self.hook_runs()[runs_before:]
        self.assertEqual([(x[0], x[1]) for x in runs], [("site-rsa", 2)], runs)
        hook_out = "\n".join(runs[0][2])
        self.assertIn("reload partial", hook_out)
        self.assertRegex(hook_out, r"(?i)rsa.*(removed|remove|lose|loses)|(removed|remove).*rsa")

        # RSA-only clients still get the previous RSA certificate
        self.assertEqual(self.served(RSA_TLS12), rsa_before)
        self.assertEqual(self.served(RSA_TLS13), rsa_before)
        self.assertEqual(self.served(ECDSA_TLS13), ecdsa_before)
        load = ld.Load(self.port, NAME, self.pebble.root, handshake_threads=1,
                       keepalive_threads=0)
        self.assertTrue(load.wait_each(5), "RSA and ECDSA clients cannot connect")
        load.stop()
        self.assertEqual(load.failures, [])
        self.assertEqual(set(load.seen["rsa"]), {rsa_before})

        # a reload now (whatever the watcher did first) refuses the same change again
        rc, again = self.reload_once()
        self.assertEqual(rc, 2, again)
        self.assertRegex(again, r"(?i)rsa")

        # the admin view and the metrics
        certs = json.loads(self.admin_get("/certs"))
        last = certs["last_reload"]
        self.assertEqual(last["outcome"], "partial", last)
        self.assertRegex(json.dumps(last), r"(?i)rsa", last)
        served_fps = {c["sha256"] for s in certs["sites"] for c in s["certificates"]}
        self.assertIn(rsa_before, served_fps)
        self.assertNotIn(swapped, served_fps)
        # at least the hook's refusal and ours (the watcher may add one more)
        self.assertGreaterEqual(self.reloads_total("partial"), partial_before + 2)

    def test_4_restart_after_outage_needs_require(self):
        """The guard compares with what is serving; a fresh start has nothing to compare
        with. After the outage, live/ holds two ECDSA lineages: `require = rsa ecdsa`
        is what stops a restarted instance from quietly serving ECDSA only."""
        with open(self.conf_path) as f:
            conf = f.read()
        strict = os.path.join(self.class_tmp(), "require.ini")
        with open(strict, "w") as f:
            f.write(conf.replace("[site acme]\n", "[site acme]\nrequire = rsa ecdsa\n"))
        r = h.run_twofold(["check", "-c", strict])
        out = r.stdout.decode() + r.stderr.decode()
        self.assertEqual(r.returncode, 1, out)
        self.assertRegex(out, r"require = rsa ecdsa but no usable (rsa|RSA)")
        r = h.run_twofold(["check", "-c", strict, "--json"])
        self.assertEqual(r.returncode, 1)
        self.assertFalse(json.loads(r.stdout.decode())["ok"])


if __name__ == "__main__":
    h.main()
