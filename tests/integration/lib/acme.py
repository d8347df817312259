"""A private ACME CA (Debian's pebble) and certbot against it, offline on loopback.

Pebble(logdir) starts pebble on free 127.0.0.1 ports with its own JSON config and a
server certificate made here (the package ships none). Validation is switched off
(PEBBLE_VA_ALWAYS_VALID=1), so no challenge server is needed. Issued certificates are
valid for VALIDITY_S, well inside certbot's 30-day renewal window, so they are due.
.root is the issuing root (from the management port's /roots/0): the CA clients trust.

Certbot(pebble, base) runs certbot non-interactively with private config/work/logs
directories under base; .live is the live/ directory twofold serves from.

Both raise unittest.SkipTest when their binary is not installed (Debian packages
`pebble` and `certbot`).
"""

import os
import shutil
import ssl
import time
import unittest
import urllib.request

from . import harness as h

VALIDITY_S = 7 * 24 * 3600

PEBBLE_ENV = {
    "PEBBLE_VA_ALWAYS_VALID": "1",  # no HTTP-01 server: every challenge passes
    "PEBBLE_VA_NOSLEEP": "1",  # no random validation delays
    "PEBBLE_WFE_NONCEREJECT": "0",  # no random badNonce rejections
    "PEBBLE_AUTHZREUSE": "0",  # every order gets fresh authorizations
}


def need(binary):
    if not shutil.which(binary):
        raise unittest.SkipTest("%s not installed (apt-get install -y %s)" % (binary, binary))


class Pebble:
    def __init__(self, logdir):
        need("pebble")
        self.dir = os.path.join(logdir, "pebble")
        os.makedirs(self.dir, exist_ok=True)
        self.server_cert = os.path.join(self.dir, "server.crt")
        self.server_key = os.path.join(self.dir, "server.key")
        self._make_server_cert()
        self.port = h.free_port()
        self.mgmt_port = h.free_port()
        conf = os.path.join(self.dir, "pebble.json")
        with open(conf, "w") as f:
            f.write(self._config())
        env = dict(os.environ)
        env.update(PEBBLE_ENV)
        self.proc = h.Proc("pebble", ["pebble", "-config", conf], self.dir, env=env)
        self.dir_url = "https://127.0.0.1:%d/dir" % self.port
        try:
            self.root = os.path.join(self.dir, "root.pem")
            with open(self.root, "wb") as f:
                f.write(self._wait_root(20.0))
        except BaseException:
            self.proc.stop()
            raise

    def _make_server_cert(self):
        r = h.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=pebble",
                   "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                   "-addext", "basicConstraints=critical,CA:true",
                   "-keyout", self.server_key, "-out", self.server_cert])
        if r.returncode != 0:
            raise RuntimeError("pebble server cert: %s" % r.stderr.decode())

    def _config(self):
        return """{"pebble": {
  "listenAddress": "127.0.0.1:%d",
  "managementListenAddress": "127.0.0.1:%d",
  "certificate": "%s",
  "privateKey": "%s",
  "httpPort": %d,
  "tlsPort": %d,
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false,
  "certificateValidityPeriod": %d
}}
""" % (self.port, self.mgmt_port, self.server_cert, self.server_key, h.free_port(),
       h.free_port(), VALIDITY_S)

    def _wait_root(self, timeout):
        ctx = ssl.create_default_context(cafile=self.server_cert)
        url = "https://127.0.0.1:%d/roots/0" % self.mgmt_port
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise RuntimeError("pebble exited:\n%s" % self.proc.stderr_text())
            try:
                with urllib.request.urlopen(url, context=ctx, timeout=2) as r:
                    return r.read()
            except OSError as e:
                last = e
                time.sleep(0.1)
        raise RuntimeError("pebble not ready after %.0fs: %s" % (timeout, last))


class Certbot:
    def __init__(self, pebble, base, hook_env=None):
        """hook_env: extra environment for certbot and so for its deploy hooks."""
        need("certbot")
        self.pebble = pebble
        self.config_dir = os.path.join(base, "config")
        self.work_dir = os.path.join(base, "work")
        self.logs_dir = os.path.join(base, "logs")
        self.live = os.path.join(self.config_dir, "live")
        self.env = dict(os.environ)
        self.env["REQUESTS_CA_BUNDLE"] = pebble.server_cert
        self.env.update(hook_env or {})

    def run(self, args, timeout=120):
        """certbot ARGS with the common flags; CompletedProcess (bytes output)."""
        argv = ["certbot"] + list(args) + [
            "-n", "--config-dir", self.config_dir, "--work-dir", self.work_dir,
            "--logs-dir", self.logs_dir, "--server", self.pebble.dir_url]
        return h.run(argv, timeout=timeout, env=self.env)

    def certonly(self, cert_name, domains, key_args, deploy_hook):
        args = ["certonly", "--cert-name", cert_name, "--manual",
                "--manual-auth-hook", "/bin/true", "--preferred-challenges", "http",
                "--agree-tos", "--register-unsafely-without-email",
                "--deploy-hook", deploy_hook] + list(key_args)
        for d in domains:
            args += ["-d", d]
        return self.run(args)

    def renew(self, extra=()):
        return self.run(["renew", "--force-renewal", "--no-random-sleep-on-renew"] + list(extra))

    def fullchain(self, cert_name):
        return os.path.join(self.live, cert_name, "fullchain.pem")
