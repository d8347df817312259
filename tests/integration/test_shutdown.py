#!/usr/bin/env python3
"""Orderly shutdown: SIGTERM stops accepting, finishes in-flight requests with
Connection: close and exits 0 within drain_timeout; a second signal exits at once."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402


class Shutdown(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        cls.certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        cls.pair = cls.certs.gen(["a.test"])

    def start(self, drain, workers="1"):
        self.up = self.start_upstream(record=True)
        self.port = h.free_port()
        s = h.site("a", ["a.test"], [self.pair["rsa"], self.pair["ecdsa"]], "up")
        conf = h.config(self.port, [s], {"up": [self.up.addr]},
                        {"drain_timeout": drain, "workers": workers})
        self.tf = self.start_twofold(conf, port=self.port, name="a.test")

    def conn(self):
        return h.HttpConn(self.port, "a.test", self.certs.ca, timeout=30)

    def wait_recorded(self, needle, timeout=10.0):
        """Until the upstream has received needle (so the request is really in flight)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.up.recorded():
                return
            time.sleep(0.02)
        self.fail("upstream never received %r" % needle)

    def wait_refused(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not h.port_accepts(self.port, 0.2):
                return True
            time.sleep(0.05)
        return False

    def test_graceful_drain(self):
        self.start("10s")
        idle = self.conn()  # a keep-alive connection with nothing in flight
        self.assertEqual(idle.request("GET", "/bytes?n=5", "a.test").status, 200)
        busy = self.conn()
        busy.send(h.request_bytes("GET", "/delay?ms=3000", "a.test"))
        self.wait_recorded(b"/delay?ms=3000")
        self.tf.proc.signal(signal.SIGTERM)
        # the listener closes while the request is still in flight
        self.assertTrue(self.wait_refused(), "still accepting connections after SIGTERM")
        self.assertTrue(self.tf.proc.alive(), "exited before finishing the in-flight request")
        # the idle connection is closed without waiting for the busy one
        self.assertTrue(idle.closed_by_peer(5), "idle keep-alive connection not closed")
        idle.close()
        r = busy.read_response()
        self.assertEqual((r.status, r.body), (200, b"delayed 3000 ms\n"))
        self.assertIn("close", r.tokens("connection"))
        self.assertTrue(busy.closed_by_peer(5))
        busy.close()
        self.assertEqual(self.tf.proc.wait(15), 0, self.tf.proc.stderr_text())

    def test_drain_timeout_bounds_exit(self):
        self.start("1s")
        busy = self.conn()
        busy.send(h.request_bytes("GET", "/delay?ms=30000", "a.test"))
        self.wait_recorded(b"/delay?ms=30000")
        self.tf.proc.signal(signal.SIGTERM)
        # drain_timeout is 1 s; the request would take 30 s. Bounded generously.
        self.assertEqual(self.tf.proc.wait(15), 0, self.tf.proc.stderr_text())
        self.assertTrue(busy.closed_by_peer(5))
        busy.close()

    def test_second_signal_exits_at_once(self):
        self.start("60s")
        busy = self.conn()
        busy.send(h.request_bytes("GET", "/delay?ms=30000", "a.test"))
        self.wait_recorded(b"/delay?ms=30000")
        self.tf.proc.signal(signal.SIGTERM)
        self.assertTrue(self.wait_refused(), "still accepting connections after SIGTERM")
        self.assertTrue(self.tf.proc.alive(), "a 60 s drain ended early")
        self.tf.proc.allow_leaks = True  # exiting "at once" may skip freeing
        self.tf.proc.signal(signal.SIGINT)
        # "at once": well before the 60 s drain or the 30 s request
        self.assertIsNotNone(self.tf.proc.wait(10), "second signal did not end the process")
        busy.close()

    def test_sigterm_idle_exits_zero(self):
        for workers in ("1", "2"):
            with self.subTest(workers=workers):
                self.start("30s", workers)
                with self.conn() as c:
                    self.assertEqual(c.request("GET", "/bytes?n=1", "a.test").status, 200)
                self.tf.proc.signal(signal.SIGTERM)
                self.assertEqual(self.tf.proc.wait(15), 0, self.tf.proc.stderr_text())

    def test_graceful_drain_two_workers(self):
        self.start("10s", "2")
        conns = [self.conn() for _ in range(4)]
        for i, c in enumerate(conns):
            c.send(h.request_bytes("GET", "/delay?ms=%d" % (1500 + i), "a.test"))
        for i in range(4):
            self.wait_recorded(b"/delay?ms=%d" % (1500 + i))
        self.tf.proc.signal(signal.SIGTERM)
        for i, c in enumerate(conns):
            r = c.read_response()
            self.assertEqual(r.body, b"delayed %d ms\n" % (1500 + i))
            self.assertIn("close", r.tokens("connection"))
            c.close()
        self.assertEqual(self.tf.proc.wait(15), 0, self.tf.proc.stderr_text())


if __name__ == "__main__":
    h.main()
