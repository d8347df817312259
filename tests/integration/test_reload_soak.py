#!/usr/bin/env python3
"""Many reloads in a row (the hot-reload issue's test f): POST /reload in a loop, the two
certificate generations swapped in by rename between reloads, every reload "applied"
with the site "updated" (so every reload builds and publishes a new snapshot and frees
an old one). Resources stay flat: the fd count (/proc/PID/fd) after WARMUP reloads
equals the count after all of them (within 2), VmRSS grows by less than 10 MB between
the two points, and at exit (SIGTERM) the harness fails the test on any sanitizer
report, so an ASan build checks for leaks (LeakSanitizer runs at exit).

RELOADS is 1000 in every build (about 70 s plain Debug, 150-210 s ASan on 2 cores); set
TWOFOLD_RELOAD_SOAK=N (at least 200) to change it. Under ASan the process gets a
small allocator quarantine (ASAN_OPTIONS quarantine_size_mb=2): by default ASan keeps up
to 256 MB of freed memory out of reuse, which would make RSS growth meaningless.
Every 100 reloads an RSA-only and an ECDSA-only client check the live certificates, and
the RSS is printed (a curve to look at when the bound fails).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402
from lib import reload_util as ru  # noqa: E402

NAMES = ["a.test", "www.a.test"]
RELOADS = max(int(os.environ.get("TWOFOLD_RELOAD_SOAK") or 1000), 200)
WARMUP = 100
RSS_GROWTH_KB = 10 * 1024
FD_SLACK = 2


class ReloadSoak(h.TestCase):
    def test_many_reloads_no_growth(self):
        gens = ru.Generations(os.path.join(self.tmp, "certs"), NAMES, n=2)
        up = self.start_upstream()
        admin_port, port = h.free_port(), h.free_port()
        p = {"admin": "127.0.0.1:%d" % admin_port, "watch": "off", "default_site": "a"}
        conf = h.config(port, [h.site("a", NAMES, gens.cert_lines(), "up")],
                        {"up": [up.addr]}, p)
        saved = os.environ.get("ASAN_OPTIONS")
        if ru.sanitizer() == "address":
            os.environ["ASAN_OPTIONS"] = ":".join(
                x for x in (saved, "quarantine_size_mb=2") if x)
        try:
            tf = self.start_twofold(conf, port=port, name="a.test")
        finally:
            if saved is None:
                os.environ.pop("ASAN_OPTIONS", None)
            else:
                os.environ["ASAN_OPTIONS"] = saved
        admin = ru.Admin(admin_port)
        marks = {}
        t0 = time.monotonic()
        for i in range(1, RELOADS + 1):
            gens.install(1 - gens.current)
            status, lr = admin.reload()
            sr = ru.site_report(lr, "a")
            if (status, lr.get("outcome"), sr and sr["status"]) != (200, "applied", "updated"):
                self.fail("reload %d: %d %r" % (i, status, lr))
            if i % 100 == 0:
                self.assertEqual(ru.served(port, "a.test"), gens.fp[gens.current],
                                 "after reload %d" % i)
            if i % 100 == 0 or i in (WARMUP, RELOADS):
                marks[i] = (ru.fd_count(tf.pid), ru.rss_kb(tf.pid))
        took = time.monotonic() - t0
        print("RSS kB every 100 reloads: %s"
              % " ".join("%d" % marks[k][1] for k in sorted(marks)))
        (fd0, rss0), (fd1, rss1) = marks[WARMUP], marks[RELOADS]
        print("%d reloads in %.1f s; after %d: %d fds, %d kB RSS; after %d: %d fds, %d kB RSS"
              % (RELOADS, took, WARMUP, fd0, rss0, RELOADS, fd1, rss1))
        self.assertLessEqual(abs(fd1 - fd0), FD_SLACK, "fd count changed: %d -> %d" % (fd0, fd1))
        self.assertLess(rss1 - rss0, RSS_GROWTH_KB, "RSS grew: %d -> %d kB" % (rss0, rss1))
        m = admin.metrics()
        self.assertEqual(ru.metric_sum(m, "twofold_reloads_total", outcome="applied"), RELOADS)
        self.assertEqual(ru.metric_sum(m, "twofold_snapshot_generation"), RELOADS + 1)


if __name__ == "__main__":
    h.main()
