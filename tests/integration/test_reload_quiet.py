#!/usr/bin/env python3
"""Reloads that happen only for changes that matter, and say which certificate they mean,
through the real binary with the watcher on.

- test_unrelated_files_no_reload: cert_dir = T/srv/certs with the access log in T/srv (the
  directory above the cert_dir, which the watcher watches for a rename of the cert_dir;
  the README's quick start has /tmp there) and 10 requests, then an access log, an
  editor's swap, backup and probe files written in the cert_dir itself: no reload at all
  (twofold_reloads_total stays 0, no reload line in the log). Then the certificate is
  touched (a change event, no new content): twofold reloads, but that reload publishes
  nothing (twofold_snapshot_generation and /certs' generation unchanged) and logs at debug
  only (the test runs at log_level = debug to see it). Then a real renewal (new files
  renamed in) reloads: a new generation, and the new leaf is served.
- test_certbot_names_lineage: a certbot layout (live/NAME/{fullchain,privkey}.pem
  symlinks into archive/NAME/) with two lineages, cert_dir = live/. After a renewal of
  one lineage the reload's log lines and /certs' last_reload name the certificate as
  live/NAME/fullchain.pem, not a bare fullchain.pem that every lineage has.

The quiet period after the unrelated writes is several debounce intervals plus the
polling interval: it bounds how long a reload that should not happen is waited for; no
timing is asserted.
"""

import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402
from lib import reload_util as ru  # noqa: E402

DEBOUNCE_MS = 100
POLL_MS = 300
QUIET_S = (6 * DEBOUNCE_MS + 3 * POLL_MS) / 1000.0


def put(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def install(src, dst):
    """Copies src to dst through a temporary file renamed over dst (a renewal)."""
    shutil.copyfile(src, dst + ".tmp")
    os.rename(dst + ".tmp", dst)


class ReloadQuiet(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        cls.up = cls.class_upstream()

    def start(self, site_lines, proxy=()):
        self.port, admin_port = h.free_port(), h.free_port()
        p = {"admin": "127.0.0.1:%d" % admin_port, "watch": "on", "log_level": "debug",
             "watch_debounce": "%dms" % DEBOUNCE_MS, "watch_poll": "%dms" % POLL_MS}
        p.update(dict(proxy))
        s = h.site("a", ["a.test"], [], "up", site_lines)
        conf = h.config(self.port, [s], {"up": [self.up.addr]}, p)
        self.tf = self.start_twofold(conf, port=self.port, name="a.test")
        self.admin = ru.Admin(admin_port)

    def reloads(self):
        return ru.metric_sum(self.admin.metrics(), "twofold_reloads_total")

    def generation(self):
        m = ru.metric_sum(self.admin.metrics(), "twofold_snapshot_generation")
        self.assertEqual(m, self.admin.certs()["generation"])
        return m

    def reload_lines(self, log):
        return [ln for ln in log.splitlines()
                if re.search(r"\breload\b|certificate files changed", ln)]

    def test_unrelated_files_no_reload(self):
        gen = h.Certs(os.path.join(self.tmp, "gen"))
        v1 = gen.gen(["a.test"], KEYS="rsa", STEM="v1")
        v2 = gen.gen(["a.test"], KEYS="rsa", STEM="v2")
        srv = os.path.join(self.tmp, "srv")
        certs = os.path.join(srv, "certs")
        os.makedirs(certs)
        install(v1["rsa"][0], os.path.join(certs, "a.crt"))
        install(v1["rsa"][1], os.path.join(certs, "a.key"))
        self.start(["cert_dir = %s" % certs],
                   {"access_log": "text", "access_log_file": os.path.join(srv, "access.log")})
        g0 = self.generation()
        log0 = len(self.tf.proc.stderr_text())

        for i in range(10):
            with h.HttpConn(self.port, "a.test", gen.ca) as c:
                self.assertEqual(c.request("GET", "/bytes?n=%d" % (i + 1), "a.test").status,
                                 200)
        self.assertGreater(os.path.getsize(os.path.join(srv, "access.log")), 0)
        for i in range(10):  # an application's log inside the cert_dir
            put(os.path.join(certs, "app.log"), "line %d\n" % i)
        put(os.path.join(certs, ".a.crt.swp"), "vim swap")
        put(os.path.join(certs, "a.crt~"), "backup")
        put(os.path.join(certs, "4913"), "vim's probe")
        os.unlink(os.path.join(certs, "4913"))
        put(os.path.join(certs, "#a.key#"), "emacs autosave")
        os.unlink(os.path.join(certs, ".a.crt.swp"))
        put(os.path.join(srv, "notes.pem"), "beside the cert_dir, not in it")
        time.sleep(QUIET_S)
        self.assertEqual(self.reloads(), 0, self.tf.proc.stderr_text()[log0:])
        self.assertEqual(self.reload_lines(self.tf.proc.stderr_text()[log0:]), [])
        self.assertEqual(self.generation(), g0)

        # touched, not changed: a reload may run; it publishes nothing and says nothing
        os.utime(os.path.join(certs, "a.crt"))
        seen = ru.wait_until(lambda: self.reloads() > 0, 10.0)
        self.assertTrue(seen, "the touch was not seen (no reload within 10 s)")
        time.sleep(QUIET_S)
        self.assertEqual(self.generation(), g0, "a reload that changed nothing published")
        lr = self.admin.last_reload()
        self.assertEqual((lr.get("outcome"), lr.get("changed")), ("applied", False), lr)
        lines = self.reload_lines(self.tf.proc.stderr_text()[log0:])
        self.assertTrue(any("nothing changed" in ln for ln in lines), lines)
        self.assertEqual([ln for ln in lines if "[debug]" not in ln], [],
                         "a reload that changed nothing logs at debug only")
        log0 = len(self.tf.proc.stderr_text())

        # a real renewal still reloads
        install(v2["rsa"][1], os.path.join(certs, "a.key"))
        install(v2["rsa"][0], os.path.join(certs, "a.crt"))
        want = h.cert_fingerprint(v2["rsa"][0])
        ok = ru.wait_until(lambda: h.served_fingerprint(self.port, "a.test")[0] == want, 15.0,
                           interval=0.1)
        self.assertTrue(ok, "renewal not served within 15 s")
        self.assertGreater(self.generation(), g0)
        self.assertRegex(self.tf.proc.stderr_text()[log0:],
                         r"\[info\] reload applied \(watch\): generation \d+; 1 updated")

    def test_certbot_names_lineage(self):
        gen = h.Certs(os.path.join(self.tmp, "gen"))
        issued = {n: [gen.gen(["a.test"], KEYS=k, STEM="%s-%d" % (n, i))[k] for i in (1, 2)]
                  for n, k in (("site-rsa", "rsa"), ("site-ecdsa", "ecdsa"))}
        le = os.path.join(self.tmp, "letsencrypt")
        for name, versions in issued.items():
            os.makedirs(os.path.join(le, "archive", name))
            os.makedirs(os.path.join(le, "live", name))
            for i, (crt, key) in enumerate(versions, 1):
                shutil.copyfile(crt, os.path.join(le, "archive", name, "fullchain%d.pem" % i))
                shutil.copyfile(key, os.path.join(le, "archive", name, "privkey%d.pem" % i))
            for f in ("fullchain", "privkey"):
                os.symlink("../../archive/%s/%s1.pem" % (name, f),
                           os.path.join(le, "live", name, f + ".pem"))
        self.start(["cert_dir = %s" % os.path.join(le, "live")], {"watch": "off"})
        log0 = len(self.tf.proc.stderr_text())

        # certbot's renewal: relink live/site-rsa/ to the second archive version
        for f in ("privkey", "fullchain"):
            link = os.path.join(le, "live", "site-rsa", f + ".pem")
            os.symlink("../../archive/site-rsa/%s2.pem" % f, link + ".new")
            os.rename(link + ".new", link)
        status, rep = self.admin.reload()
        self.assertEqual((status, rep["outcome"]), (200, "applied"), rep)
        sr = ru.site_report(rep, "a")
        self.assertEqual(sr["status"], "updated", sr)
        self.assertRegex(sr["diff"], r"now serving live/site-rsa/fullchain\.pem \(RSA-2048, ")
        self.assertRegex(sr["diff"],
                         r"no longer serving live/site-rsa/fullchain\.pem \(RSA-2048, ")
        log = self.tf.proc.stderr_text()[log0:]
        self.assertRegex(log, r"reload: a: updated: now serving live/site-rsa/fullchain\.pem")
        self.assertNotRegex(log, r"(serving|, )fullchain\.pem", "a bare fullchain.pem")


if __name__ == "__main__":
    h.main()
