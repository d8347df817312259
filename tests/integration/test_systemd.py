#!/usr/bin/env python3
"""systemd integration: conf/twofold.service and the notify protocol, without systemd.

- test_unit_file: the unit has the settings operations rely on (Type=notify, the
  ExecStart/ExecReload lines, the sandbox, the capability, TimeoutStopSec longer than
  the drain_timeout default that `twofold help config` reports), and `systemd-analyze
  verify` accepts it with the binary path pointed at this build (skipped with a notice
  when systemd-analyze cannot run here).
- test_notify_protocol: twofold with NOTIFY_SOCKET set to a datagram socket this test
  binds: READY=1 once the port completes TLS handshakes, a STATUS= line; on SIGHUP
  RELOADING=1 (with MONOTONIC_USEC) then READY=1; on SIGTERM STOPPING=1 and exit 0.
- test_sigusr1_reopens_access_log: the access log is renamed away (as logrotate does),
  SIGUSR1 makes twofold create the file anew, and later requests are logged there.
"""

import os
import re
import shutil
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402

UNIT = os.path.join(h.SRC, "conf", "twofold.service")
NAME = "a.test"


def unit_settings(path):
    """{(section, key): [values]} of a unit file (keys may repeat)."""
    out = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            k, _, v = line.partition("=")
            out.setdefault((section, k.strip()), []).append(v.strip())
    return out


def duration_s(text):
    m = re.fullmatch(r"(\d+)\s*(ms|s|min|m|h)?", text)
    return int(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "min": 60, "m": 60,
                              "h": 3600}[m.group(2)]


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's notification socket."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.got = []

    def next(self, timeout=10.0):
        """The next message as {key: value} (bounded), or None."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            return None
        msg = dict(line.partition("=")[::2] for line in data.split("\n") if line)
        self.got.append(msg)
        return msg

    def wait_for(self, key, timeout=10.0):
        """Messages until one has key (bounded): (that message, the ones before it)."""
        deadline = time.monotonic() + timeout
        before = []
        while time.monotonic() < deadline:
            m = self.next(max(0.01, deadline - time.monotonic()))
            if m is None:
                break
            if key in m:
                return m, before
            before.append(m)
        raise AssertionError("no %s within %.0fs; got %r" % (key, timeout, self.got))

    def close(self):
        self.sock.close()


class Systemd(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        cls.certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        cls.pair = cls.certs.gen([NAME])

    def start(self, proxy=None, env=None):
        """twofold on a free port (upstream, one site) with env; not waited for."""
        self.up = self.start_upstream()
        self.port = h.free_port()
        s = h.site("a", [NAME], [self.pair["rsa"], self.pair["ecdsa"]], "up")
        conf = h.config(self.port, [s], {"up": [self.up.addr]}, proxy)
        self.conf_path = os.path.join(self.tmp, "twofold.ini")
        with open(self.conf_path, "w") as f:
            f.write(conf)
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)  # never the real systemd's, if the suite runs under one
        e.update(env or {})
        p = h.Proc("twofold", [h.BIN, "-c", self.conf_path], self.tmp, env=e)
        p.check = True
        return self.track(p)

    def wait_ready(self, proc, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assertTrue(proc.alive(), "twofold exited:\n%s" % proc.stderr_text())
            if h.tls_answers(self.port, NAME):
                return
            time.sleep(0.05)
        self.fail("twofold not ready")

    def get(self, path):
        res = h.curl(self.port, NAME, path, self.certs.ca)
        self.assertEqual((res.rc, res.status), (0, 200), res.err)

    # ------------------------------------------------------------ the unit file

    def test_unit_file(self):
        u = unit_settings(UNIT)
        want = {
            "Type": "notify",
            "ExecStart": "/usr/local/bin/twofold -c /etc/twofold/twofold.ini",
            "ExecReload": "/bin/kill -HUP $MAINPID",
            "User": "twofold",
            "NoNewPrivileges": "yes",
            "ProtectSystem": "strict",
            "ProtectHome": "yes",
            "PrivateTmp": "yes",
            "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
            "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
            "LimitNOFILE": "65536",
            "Restart": "on-failure",
        }
        for k, v in want.items():
            self.assertEqual(u.get(("Service", k)), [v], "Service.%s" % k)
        ro = u[("Service", "ReadOnlyPaths")][0].split()
        self.assertIn("/etc/twofold", ro)
        self.assertTrue({"/etc/letsencrypt", "-/etc/letsencrypt"} & set(ro), ro)
        # TimeoutStopSec must outlast the drain, or systemd SIGKILLs a draining proxy
        helptext = h.run_twofold(["help", "config"]).stdout.decode()
        m = re.search(r"drain_timeout\s.*\n.*\(default: (\S+)\)", helptext)
        self.assertIsNotNone(m, "drain_timeout default not in `twofold help config`")
        drain = duration_s(m.group(1))
        self.assertGreater(duration_s(u[("Service", "TimeoutStopSec")][0]), drain)
        self.assertEqual(u.get(("Install", "WantedBy")), ["multi-user.target"])

    def test_unit_verifies(self):
        tool = shutil.which("systemd-analyze")
        if not tool:
            print("notice: systemd-analyze not installed: unit not verified")
            raise unittest.SkipTest("systemd-analyze not installed")
        control = os.path.join(self.tmp, "control.service")
        with open(control, "w") as f:
            f.write("[Service]\nType=oneshot\nExecStart=/bin/true\n")
        r = h.run([tool, "verify", control], timeout=60)
        if r.returncode != 0:
            print("notice: systemd-analyze verify does not work here (%s): unit not verified"
                  % r.stderr.decode().strip()[:200])
            raise unittest.SkipTest("systemd-analyze verify unusable here")
        unit = os.path.join(self.tmp, "twofold.service")
        with open(UNIT) as f:
            text = f.read()
        with open(unit, "w") as f:  # verify checks that the binary exists
            f.write(text.replace("/usr/local/bin/twofold", os.path.abspath(h.BIN)))
        r = h.run([tool, "verify", unit], timeout=60)
        out = (r.stdout + r.stderr).decode()
        self.assertEqual(r.returncode, 0, out)
        self.assertEqual(out.strip(), "", "systemd-analyze verify complains")

    # ------------------------------------------------------------ notify protocol

    def test_notify_protocol(self):
        ns = NotifySocket(os.path.join(self.tmp, "notify.sock"))
        try:
            p = self.start(env={"NOTIFY_SOCKET": ns.path})
            ready, before = ns.wait_for("READY")
            self.assertEqual(ready["READY"], "1")
            self.assertNotIn("STOPPING", str(before))
            # READY means serving: the port completes a TLS handshake right now
            self.assertTrue(h.tls_answers(self.port, NAME), "READY=1 before the port serves")
            self.get("/bytes?n=3")
            status, _ = ns.wait_for("STATUS")
            self.assertTrue(status["STATUS"], "empty STATUS=")

            p.signal(signal.SIGHUP)
            reloading, _ = ns.wait_for("RELOADING")
            self.assertEqual(reloading["RELOADING"], "1")
            self.assertRegex(reloading.get("MONOTONIC_USEC", ""), r"^\d+$")
            usec = int(reloading["MONOTONIC_USEC"])
            self.assertLessEqual(usec, time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
            ready, _ = ns.wait_for("READY")
            self.assertEqual(ready["READY"], "1")
            status, _ = ns.wait_for("STATUS")
            self.assertIn("reload", status["STATUS"])
            self.get("/bytes?n=3")

            p.signal(signal.SIGTERM)
            stopping, _ = ns.wait_for("STOPPING")
            self.assertEqual(stopping["STOPPING"], "1")
            self.assertEqual(p.wait(15), 0, p.stderr_text())
        finally:
            ns.close()

    def test_no_notify_socket_is_fine(self):
        """Outside systemd (NOTIFY_SOCKET unset) nothing changes."""
        p = self.start()
        self.wait_ready(p)
        p.signal(signal.SIGHUP)
        self.get("/bytes?n=3")
        p.signal(signal.SIGTERM)
        self.assertEqual(p.wait(15), 0, p.stderr_text())

    # ------------------------------------------------------------ logrotate

    def test_sigusr1_reopens_access_log(self):
        log = os.path.join(self.tmp, "access.log")
        rotated = log + ".1"
        p = self.start({"access_log": "text", "access_log_file": log})
        self.wait_ready(p)
        self.get("/bytes?n=1&first")
        self.assertTrue(self.wait_file_has(log, "first"), "first request not logged")
        os.rename(log, rotated)  # logrotate's default: rename, then signal
        p.signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not os.path.exists(log) and time.monotonic() < deadline and p.alive():
            time.sleep(0.05)
        self.assertTrue(p.alive(), "SIGUSR1 killed twofold:\n%s" % p.stderr_text())
        self.assertTrue(os.path.exists(log), "SIGUSR1 did not create a new access log")
        self.get("/bytes?n=1&second")
        self.assertTrue(self.wait_file_has(log, "second"), "second request not in the new log")
        with open(rotated) as f:
            old = f.read()
        self.assertIn("first", old)
        self.assertNotIn("second", old)
        p.signal(signal.SIGTERM)
        self.assertEqual(p.wait(15), 0, p.stderr_text())

    @staticmethod
    def wait_file_has(path, needle, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(path) as f:
                    if needle in f.read():
                        return True
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        return False


if __name__ == "__main__":
    h.main()
