#!/usr/bin/env python3
"""The README demo, non-interactively: scripts/demo.sh with DEMO_SECONDS set, then every
curl line it prints, run as printed from the repository root (exit 0), and its request
on its own answering 200. Skipped (with a notice) when scripts/demo.sh is absent or its
fixed ports (8443, 8080, 9901) are taken. The script builds the tree into build/."""

import os
import re
import shlex
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402

DEMO = os.path.join(h.SRC, "scripts", "demo.sh")
PORTS = (8443, 8080, 9901)
DEMO_SECONDS = 40  # how long the demo serves before stopping itself
BUILD_BOUND = 480  # the script may build the whole tree first


class Demo(h.TestCase):
    def setUp(self):
        super().setUp()
        if not os.path.exists(DEMO):
            print("NOTICE: scripts/demo.sh not found; demo test skipped")
            self.skipTest("scripts/demo.sh absent")
        busy = [p for p in PORTS if h.port_accepts(p, 0.2)]
        if busy:
            print("NOTICE: demo ports %s in use; demo test skipped" % busy)
            self.skipTest("demo ports in use")

    def test_demo_flow(self):
        env = dict(os.environ, DEMO_SECONDS=str(DEMO_SECONDS))
        proc = self.track(h.Proc("demo", ["bash", DEMO], self.tmp, env=env, group=True))
        deadline = time.monotonic() + BUILD_BOUND
        while time.monotonic() < deadline and proc.alive():
            if h.tls_answers(8443, "demo.test"):
                break
            time.sleep(0.2)
        self.assertTrue(proc.alive(), "demo.sh ended early:\n" + proc.stderr_text())
        self.assertTrue(h.tls_answers(8443, "demo.test"), "demo never listened on 8443")
        ca = os.path.join(h.SRC, "demo", "certs", "ca.crt")
        r = h.curl(8443, "demo.test", "/echo-headers", ca)
        self.assertEqual((r.rc, r.status), (0, 200), r.err)
        self.assertIn(b"X-Forwarded-For", r.body)
        r = h.curl(8443, "demo.test", "/", ca,
                   ["-v", "--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256"])
        self.assertEqual((r.rc, r.ssl_version), (0, "TLSv1.2"), r.err)
        self.assertTrue(re.search(r"SSL connection using TLSv1\.2 / ECDHE-RSA-AES128-GCM-SHA256",
                                  r.err), r.err)
        self.check_printed_curls(proc.stderr_text())
        # The demo stops itself after DEMO_SECONDS; bounded wait, then stop it by pid.
        rc = proc.wait(DEMO_SECONDS + 30)
        if rc is None:
            proc.signal(signal.SIGINT)
            rc = proc.wait(10)
        self.assertEqual(rc, 0, proc.stderr_text())
        self.assertFalse(h.port_accepts(8080, 0.2), "demo upstream left running")

    def check_printed_curls(self, out):
        """Each `curl ...` line the demo prints works as printed, and its request (the
        part before any pipe) answers 200."""
        lines = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("curl ")]
        self.assertGreaterEqual(len(lines), 2, "the demo printed no curl lines:\n" + out)
        for line in lines:
            r = subprocess.run(["bash", "-c", "set -o pipefail\n" + line], cwd=h.SRC,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            self.assertEqual(r.returncode, 0, "%s:\n%s" % (line, r.stdout.decode()))
            argv = [a for a in shlex.split(line.split(" | ")[0]) if a not in ("2>&1", "-v")]
            r = subprocess.run(argv + ["-s", "-o", "/dev/null", "-w", "%{http_code}"],
                               cwd=h.SRC, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=30)
            self.assertEqual(r.stdout.decode(), "200", "%s: %s" % (line, r.stderr.decode()))


if __name__ == "__main__":
    h.main()
