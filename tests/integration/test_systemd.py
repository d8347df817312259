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
- ServiceUser: the README's systemd steps, extracted from README.md and run as written
  (paths under a temp root; the user and group `twofold` are an existing unprivileged
  user and its group, since `useradd` would change this machine), then the unit's
  ExecStart as that user: it serves HTTPS and has read the ticket key file (a session
  from before a restart resumes after it). With the modes the README used to give
  (/etc/twofold root:root 0750, a key file 0600) it fails at once, naming the file it
  cannot read. Needs root (skipped with a notice otherwise), as the README's steps do.
"""

import grp
import os
import pwd
import re
import shlex
import shutil
import subprocess
import signal
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402
from lib import readme_util as ru  # noqa: E402

UNIT = os.path.join(h.SRC, "conf", "twofold.service")
NAME = "a.test"
README = os.path.join(h.SRC, "README.md")
# Stands for the README's user and group `twofold` (Debian's unprivileged user).
SERVICE_USER, SERVICE_GROUP = "nobody", "nogroup"


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


def readme_steps():
    """The README systemd section's commands, in order (its logrotate file aside)."""
    with open(README) as f:
        sections = ru.parse(f.read(), is_commands=lambda b: not re.match(
            r"^/\S+ \{$", b.lines[0][1].strip()))
    sec = [s for s in sections if s.title == "systemd"]
    assert sec, "README.md has no systemd section"
    return sec[0].commands()


def as_service_user(text):
    """A README command with user/group `twofold` replaced by SERVICE_USER/GROUP."""
    text = re.sub(r"(?<=-g )twofold\b|(?<=:)twofold\b", SERVICE_GROUP, text)
    return re.sub(r"(?<=-u )twofold\b|(?<=-o )twofold\b", SERVICE_USER, text)


class ServiceUser(h.TestCase):
    API = "api.example.com"

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            print("NOTICE: not root: the README's systemd steps (chown) cannot run; skipped")
            self.skipTest("needs root")
        try:
            pwd.getpwnam(SERVICE_USER)
            grp.getgrnam(SERVICE_GROUP)
        except KeyError:
            self.skipTest("no %s:%s on this machine" % (SERVICE_USER, SERVICE_GROUP))
        if not shutil.which("setpriv"):
            self.skipTest("setpriv not installed")
        os.chmod(self.tmp, 0o755)  # the service user must reach the tree below
        self.work = os.path.join(self.tmp, "work")
        os.makedirs(self.work)
        self.sub = ru.Subst(os.path.join(self.tmp, "root"), h.SRC, h.BUILD, h.BIN,
                            h.free_port)
        self.up = self.start_upstream()
        self.port = h.free_port()
        self.inputs()

    def inputs(self):
        """What the section installs from the working directory: twofold.ini and the
        api-*.pem/.key pairs it names, made by this test (the README leaves them to you)."""
        self.certs = h.Certs(os.path.join(self.tmp, "gen"))
        pair = self.certs.gen([self.API], STEM="api", EXT="pem")
        for kind, (crt, key) in pair.items():
            shutil.copy(crt, os.path.join(self.work, "api-%s.pem" % kind))
            shutil.copy(key, os.path.join(self.work, "api-%s.key" % kind))
        d = self.sub.path("/etc/twofold/certs")
        certs = [(os.path.join(d, "api-%s.pem" % k), os.path.join(d, "api-%s.key" % k))
                 for k in ("rsa", "ecdsa")]
        conf = h.config(self.port, [h.site("api", [self.API], certs, "api")],
                        {"api": [self.up.addr]},
                        {"ticket_key_file": self.sub.path("/etc/twofold/ticket.keys"),
                         "tls13_tickets": "1"})
        with open(os.path.join(self.work, "twofold.ini"), "w") as f:
            f.write(conf)

    def install(self):
        """Runs the section's commands as written, but useradd (the user exists) and
        systemctl (no systemd here: the unit's ExecStart is started by the test)."""
        ran = []
        for cmd in readme_steps():
            if re.match(r"^(useradd|systemctl) ", cmd.text):
                continue
            text = self.sub.command(as_service_user(cmd.text))
            r = subprocess.run(["bash", "-c", "set -o pipefail\n" + text], cwd=self.work,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(r.returncode, 0, "README.md:%d: `%s`\nran as: %s\n%s"
                             % (cmd.line, cmd.text, text, r.stdout.decode()))
            ran.append(cmd.text)
        # the steps this test exists for are still there
        self.assertTrue(any("/etc/twofold/ticket.keys" in c for c in ran), ran)
        self.assertTrue(any(c.startswith("install -d ") and " /etc/twofold" in c for c in ran),
                        ran)
        etc = self.sub.path("/etc/twofold")
        gid = grp.getgrnam(SERVICE_GROUP).gr_gid
        for path, mode in ((etc, 0o750), (os.path.join(etc, "ticket.keys"), 0o640),
                           (os.path.join(etc, "twofold.ini"), 0o640),
                           (os.path.join(etc, "certs", "api-rsa.key"), 0o640)):
            st = os.stat(path)
            self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o777), (0, gid, mode), path)

    def exec_start(self):
        """The unit's ExecStart as its User=/Group= (the service user here), via setpriv."""
        u = unit_settings(UNIT)
        self.assertEqual(u[("Service", "User")], ["twofold"])
        self.assertEqual(u[("Service", "Group")], ["twofold"])
        argv = shlex.split(self.sub.command(u[("Service", "ExecStart")][0]))
        p = h.Proc("twofold", ["setpriv", "--reuid", SERVICE_USER, "--regid", SERVICE_GROUP,
                               "--init-groups"] + argv, self.tmp,
                   env={k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"})
        return self.track(p)

    def wait_serving(self, proc, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assertTrue(proc.alive(), "twofold exited %s:\n%s"
                            % (proc.p.poll(), proc.stderr_text()))
            if h.tls_answers(self.port, self.API):
                return
            time.sleep(0.05)
        self.fail("twofold not serving:\n" + proc.stderr_text())

    def s_client(self, args):
        req = ("GET /bytes?n=1 HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
               % self.API).encode()
        r = h.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.port,
                   "-servername", self.API, "-ign_eof", "-tls1_2"] + args, input_bytes=req)
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, out + r.stderr.decode())
        self.assertIn("HTTP/1.1 200", out)
        return out

    def test_readme_install_as_service_user(self):
        self.install()
        p = self.exec_start()
        self.wait_serving(p)
        self.assertEqual(pwd.getpwuid(os.stat("/proc/%d" % p.pid).st_uid).pw_name, SERVICE_USER)
        res = h.curl(self.port, self.API, "/echo-headers", self.certs.ca)
        self.assertEqual((res.rc, res.status), (0, 200), res.err)
        # The ticket keys came from the file: a session ticket issued before a restart
        # still resumes after it (keys made up at startup would differ).
        sess = os.path.join(self.tmp, "sess.pem")
        self.assertIn("New, ", self.s_client(["-sess_out", sess]))
        p.signal(signal.SIGTERM)
        self.assertEqual(p.wait(15), 0, p.stderr_text())
        p = self.exec_start()
        self.wait_serving(p)
        self.assertIn("Reused, ", self.s_client(["-sess_in", sess]),
                      "a session from before the restart did not resume")
        p.signal(signal.SIGTERM)
        self.assertEqual(p.wait(15), 0, p.stderr_text())

    def start_fails(self, *words):
        p = self.exec_start()
        rc = p.wait(15)
        err = p.stderr_text()
        print("as %s: %s" % (SERVICE_USER, err.strip()))
        self.assertEqual(rc, 1, "twofold did not refuse to start:\n" + err)
        for w in words:
            self.assertIn(w, err)
        return err

    def test_wrong_modes_fail_clearly(self):
        self.install()
        etc = self.sub.path("/etc/twofold")
        keys = os.path.join(etc, "ticket.keys")
        # the key file readable by root alone: the config check names it
        os.chmod(keys, 0o600)
        err = self.start_fails(keys, "not readable", "Permission denied")
        self.assertRegex(err, r"twofold\.ini:\d+: .*ticket_key_file")
        os.chmod(keys, 0o640)
        # the directory as the README once made it (install -d -m 0750: root:root)
        os.chown(etc, 0, 0)
        self.start_fails(os.path.join(etc, "twofold.ini"), "Permission denied")


if __name__ == "__main__":
    h.main()
