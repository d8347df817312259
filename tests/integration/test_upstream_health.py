#!/usr/bin/env python3
"""Passive upstream health as an operator sees it.

One twofold (one worker, admin on) in front of one upstream server with max_fails = 1 and
fail_timeout = 1s. The server is stopped (connects are refused), then started again on
the same port:

- twofold_upstream_server_up is 1 while the server answers, 0 from the failed connect on,
  still 0 after the cool-off has run out while nothing has tried the server again, still
  0 after a retry that failed, and 1 once a request has been served by it again;
- the log has exactly one "down" line and one "up" line for the server, however many
  requests failed in between (not one line per failed connect).

The wait past the cool-off is the configured fail_timeout plus a margin, not a
performance bound: the point is the state after the cool-off, whenever it ended.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402
from lib import reload_util as ru  # noqa: E402

COOLOFF_S = 1.0


class UpstreamHealth(h.TestCase):
    def get(self, path):
        with h.HttpConn(self.port, "a.test", self.certs.ca, timeout=20) as c:
            return c.request("GET", path, "a.test").status

    def up_metric(self):
        m = self.admin.metrics()
        key = ("twofold_upstream_server_up",
               (("server", self.server), ("upstream", "up")))
        self.assertIn(key, m, sorted(k for k in m if k[0] == key[0]))
        return m[key]

    def test_down_until_retried_logged_once(self):
        self.certs = h.Certs(os.path.join(self.tmp, "certs"))
        pair = self.certs.gen(["a.test"])
        up = self.start_upstream()
        self.server = up.addr
        self.port, admin_port = h.free_port(), h.free_port()
        s = h.site("a", ["a.test"], [pair["rsa"], pair["ecdsa"]], "up")
        conf = h.config(self.port, [s],
                        {"up": ([up.addr], {"max_fails": "1",
                                            "fail_timeout": "%dms" % (COOLOFF_S * 1000)})},
                        {"admin": "127.0.0.1:%d" % admin_port})
        tf = self.start_twofold(conf, port=self.port, name="a.test")
        self.admin = ru.Admin(admin_port)

        self.assertEqual(self.get("/bytes?n=2"), 200)
        self.assertEqual(self.up_metric(), 1)

        up.stop()  # connects are refused from now on
        self.assertEqual(self.get("/bytes?n=2"), 502)
        self.assertEqual(self.up_metric(), 0, "in cool-off")

        time.sleep(COOLOFF_S + 0.5)  # the cool-off is over; nothing has tried the server
        self.assertEqual(self.up_metric(), 0, "cool-off over but not tried again")

        # retries that fail: still down, and no further down line
        for _ in range(3):
            self.assertIn(self.get("/bytes?n=2"), (502, 503))
            self.assertEqual(self.up_metric(), 0, "after a failed retry")
            time.sleep(COOLOFF_S + 0.2)

        self.start_upstream(port=int(self.server.rsplit(":", 1)[1]))
        statuses = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            statuses.append(self.get("/bytes?n=2"))
            if statuses[-1] == 200:
                break
            time.sleep(0.2)
        self.assertEqual(statuses[-1], 200, statuses)
        self.assertEqual(self.up_metric(), 1, "served again")
        self.assertEqual(self.get("/bytes?n=2"), 200)

        log = tf.proc.stderr_text()
        srv = re.escape(self.server)
        down = re.findall(r"(?m)^.*upstream up: server %s down\b.*$" % srv, log)
        upl = re.findall(r"(?m)^.*upstream up: server %s up again\b.*$" % srv, log)
        self.assertEqual(len(down), 1, "down lines: %r\n%s" % (down, log))
        self.assertEqual(len(upl), 1, "up lines: %r\n%s" % (upl, log))


if __name__ == "__main__":
    h.main()
