"""Helpers for the hot-reload tests (test_reload*.py): two certificate generations swapped
in by rename, the admin endpoint (/certs, /metrics, POST /reload), reload triggers that
wait for their outcome, served fingerprints per key type, twofold-bench runs in the
background, and /proc figures.

Slowness: sanitizer() tells whether the binary is ASan/TSan-built (ldd, as
hardening.sanitized does); scaled(n, slow) picks a smaller count there. Setting
TWOFOLD_RELOAD_FULL=1 keeps the full counts under a sanitizer; assertions never change.
"""

import collections
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time

from . import harness as h

RSA_TLS12 = ("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")  # RSA-only client
ECDSA_TLS13 = ("-tls1_3", "-sigalgs", "ecdsa_secp256r1_sha256")  # ECDSA-only client
KINDS = ("rsa", "ecdsa")
BENCH = os.path.join(h.BUILD, "bench", "twofold-bench")

_SANITIZER = []


def sanitizer():
    """"address", "thread" or None: the sanitizer runtime h.BIN is linked with."""
    if not _SANITIZER:
        kind = None
        try:
            out = subprocess.run(["ldd", h.BIN], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=30).stdout
            kind = "address" if b"libasan" in out else "thread" if b"libtsan" in out else None
        except (OSError, subprocess.SubprocessError):
            pass
        _SANITIZER.append(kind)
    return _SANITIZER[0]


def scaled(n, slow, kinds=("address", "thread")):
    """n in a plain build; slow under a sanitizer among kinds ("address": ~3x slower,
    "thread": ~10x) unless TWOFOLD_RELOAD_FULL=1."""
    if sanitizer() in kinds and os.environ.get("TWOFOLD_RELOAD_FULL") != "1":
        return slow
    return n


def wait_until(fn, timeout, interval=0.05):
    """fn()'s first truthy value within timeout seconds, else None (bounded poll)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


# ---------------------------------------------------------------- certificate generations

class Generations:
    """Certificate generations for one site, all from one CA, plus the live files the
    config names. gens[i] = {"rsa": (crt, key), "ecdsa": (crt, key)}; fp[i] = {kind: sha256}.
    install(i) swaps generation i in by rename (key first, then certificate: each rename
    is atomic, the pair is not, as with real renewal tools)."""

    def __init__(self, root, names, n=2, stem="site"):
        self.names = list(names)
        self.stem = stem
        self.live_dir = os.path.join(root, "live")
        base = h.Certs(os.path.join(root, "gen0"))
        self.gens = [base.gen(self.names, STEM=stem)]
        self.ca = base.ca
        for i in range(1, n):
            self.gens.append(self.generate(os.path.join(root, "gen%d" % i)))
        self.fp = [{k: h.cert_fingerprint(g[k][0]) for k in KINDS} for g in self.gens]
        os.makedirs(self.live_dir, exist_ok=True)
        self.live = {k: tuple(os.path.join(self.live_dir, os.path.basename(p))
                              for p in self.gens[0][k]) for k in KINDS}
        self.install(0)
        self.current = 0

    def generate(self, directory, names=None, **env):
        """Another leaf pair from the same CA (gen_certs.sh knobs in env)."""
        src = os.path.dirname(self.ca)
        os.makedirs(directory, exist_ok=True)
        shutil.copy(self.ca, os.path.join(directory, "ca.crt"))
        if not os.path.isdir(os.path.join(directory, "private")):
            shutil.copytree(os.path.join(src, "private"), os.path.join(directory, "private"))
        env.setdefault("STEM", self.stem)
        env.setdefault("FORCE", "1")
        return h.Certs(directory).gen(names or self.names, **env)

    def cert_lines(self):
        return [self.live["rsa"], self.live["ecdsa"]]

    def put(self, src, dst):
        """Copies src over dst by rename (a reader never sees a partly written file)."""
        tmp = dst + ".tmp"
        shutil.copyfile(src, tmp)
        os.rename(tmp, dst)

    def install(self, i):
        for k in KINDS:
            self.put(self.gens[i][k][1], self.live[k][1])
            self.put(self.gens[i][k][0], self.live[k][0])
        self.current = i

    def install_pair(self, kind, crt, key):
        """Puts crt and key (any files) at the live paths of kind."""
        self.put(key, self.live[kind][1])
        self.put(crt, self.live[kind][0])


# ---------------------------------------------------------------- the admin endpoint

class Admin:
    def __init__(self, port):
        self.port = port

    def request(self, method, path, timeout=120):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, r.read().decode("utf-8", "replace")
        finally:
            c.close()

    def certs(self):
        status, body = self.request("GET", "/certs")
        if status != 200:
            raise AssertionError("GET /certs: %d %s" % (status, body))
        return json.loads(body)

    def metrics(self):
        """{(name, ((label, value), ...)): float} from GET /metrics."""
        status, body = self.request("GET", "/metrics")
        if status != 200:
            raise AssertionError("GET /metrics: %d %s" % (status, body))
        return parse_metrics(body)

    def reload(self):
        """POST /reload (answered when the reload is finished): (status, JSON dict)."""
        status, body = self.request("POST", "/reload")
        try:
            return status, json.loads(body)
        except ValueError:
            raise AssertionError("POST /reload: %d, not JSON: %r" % (status, body))

    def last_reload(self):
        return self.certs().get("last_reload") or {}

    def served_sha256(self, site):
        """The sha256 of every certificate /certs lists for site, as a set."""
        for s in self.certs()["sites"]:
            if s["site"] == site:
                return {c["sha256"] for c in s["certificates"]}
        raise AssertionError("site %s not in /certs" % site)


_METRIC = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        m = _METRIC.match(line.strip())
        if not m or line.startswith("#"):
            continue
        labels = tuple(sorted(_LABEL.findall(m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric_sum(metrics, name, **match):
    """Sum of every sample of name whose labels include match."""
    total = 0.0
    for (n, labels), v in metrics.items():
        d = dict(labels)
        if n == name and all(d.get(k) == v2 for k, v2 in match.items()):
            total += v
    return total


def site_report(last_reload, site):
    for s in last_reload.get("sites", []):
        if s["site"] == site:
            return s
    return None


def sighup(tf):
    """SIGHUP by pid (os.kill rather than Proc.signal: the harness keeps judging the exit
    code after its SIGTERM, which a SIGHUP does not change)."""
    if not tf.proc.alive():
        raise AssertionError("twofold (pid %d) is not running" % tf.pid)
    os.kill(tf.pid, signal.SIGHUP)


def sighup_and_wait(tf, admin, timeout=60):
    """SIGHUP, then waits (bounded) for a SIGHUP-triggered reload to finish after it:
    returns /certs last_reload. Meant for a quiet instance (no build running, watch off):
    then the first SIGHUP build to finish is the one this signal started."""
    before = admin.last_reload().get("seq", 0)
    sighup(tf)

    def done():
        lr = admin.last_reload()
        return lr if lr.get("seq", 0) > before and lr.get("trigger") == "SIGHUP" else None
    lr = wait_until(done, timeout, 0.02)
    if lr is None:
        raise AssertionError("no SIGHUP reload finished within %ds" % timeout)
    return lr


def cli_reload(conf_path, timeout=150):
    """`twofold reload -c conf`: (exit code, stdout + stderr)."""
    r = h.run_twofold(["reload", "-c", conf_path], timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")


# ---------------------------------------------------------------- clients

def served(port, sni):
    """{kind: leaf sha256} for an RSA-only (TLS 1.2 ECDHE-RSA) and an ECDSA-only (TLS 1.3,
    ECDSA sigalg) openssl s_client; None for a kind that got no certificate."""
    out = {}
    for kind, args in (("rsa", RSA_TLS12), ("ecdsa", ECDSA_TLS13)):
        fp, _ = h.served_fingerprint(port, sni, args)
        out[kind] = fp
    return out


def py_context(kind, cafile):
    """A verifying Python client that can only use kind certificates (TLS 1.2 suites)."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers({"rsa": "ECDHE-RSA-AES128-GCM-SHA256",
                     "ecdsa": "ECDHE-ECDSA-AES128-GCM-SHA256"}[kind])
    return ctx


def py_fingerprint(port, sni, ctx, timeout=5.0):
    """The leaf sha256 of one new handshake (Python ssl: fast enough to poll), or None."""
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=sni) as s:
                return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
    except (OSError, ssl.SSLError):
        return None


# ---------------------------------------------------------------- twofold-bench

class BenchLoop:
    """twofold-bench run back to back (segments of `segment` seconds, since it reports
    only at its end) until stop(); the JSON reports are summed. args: bench options."""

    def __init__(self, logdir, port, args, segment=8):
        self.logdir = logdir
        self.argv = [BENCH, "--target", "127.0.0.1:%d" % port, "--json",
                     "--duration", str(segment)] + list(args)
        self.segment = segment
        self.reports = []
        self.problems = []
        self._stop = threading.Event()
        self._proc = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            p = h.Proc("bench", self.argv, self.logdir, stdout_pipe=True)
            self._proc = p
            try:
                out, _ = p.p.communicate(timeout=self.segment + 60)
                p.stop()
                err = p.stderr_text()
                self.problems += ["twofold-bench: sanitizer report:\n" + err[-4000:]
                                  for m in h.SANITIZER_MARKERS if m in err][:1]
                self.reports.append(json.loads(out.decode()))
            except (subprocess.TimeoutExpired, ValueError) as e:
                p.stop()
                self.problems.append("twofold-bench: %r\n%s" % (e, p.stderr_text()[-2000:]))
                return

    def stop(self):
        """Ends after the running segment (bounded); returns the summed report."""
        self._stop.set()
        self._thread.join(self.segment + 90)
        if self._thread.is_alive() and self._proc:
            self._proc.stop()
        return self.total()

    def total(self):
        t = {"requests": 0, "handshakes": 0, "errors": collections.Counter(),
             "fingerprints": collections.Counter(), "key_types": collections.Counter(),
             "first_errors": [], "runs": len(self.reports)}
        for r in self.reports:
            t["requests"] += r["requests"]
            t["handshakes"] += r["handshakes"]
            t["errors"].update(r["errors"])
            t["fingerprints"].update(r["fingerprints"])
            t["key_types"].update(r["key_types"])
            if r.get("first_error"):
                t["first_errors"].append(r["first_error"])
        return t


# ---------------------------------------------------------------- /proc

def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1))
