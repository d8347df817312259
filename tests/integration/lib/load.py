"""Client load that runs until stopped, for certificate swaps under traffic.

Load(port, name, cafile) starts threads that each verify the chain against cafile and
the host name, and request GET /bytes?n=64 until stop():
  - "handshake" threads: a new connection and a full handshake per request, alternating
    a TLS 1.2 RSA-only client (ECDHE-RSA suites) and a TLS 1.2 ECDSA-only client
    (ECDHE-ECDSA suites), so both key types are exercised on every certificate swap;
  - "keepalive" threads: one connection kept open for many requests (a reconnect after
    the server closes it between requests is fine; a failed request is not).
Every failure is recorded (kind, error text); .seen maps the leaf fingerprint of every
completed handshake to how often it was served, per key type.

BenchLoop runs twofold-bench (client profiles from certstore's corpus) the same way.
"""

import collections
import hashlib
import json
import os
import ssl
import threading
import time

from . import harness as h

PATH = "/bytes?n=64"

SUITES = {
    "rsa": "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
    "ecdsa": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
}


def tls12_context(cafile, kind):
    """A verifying TLS 1.2 client that can only use kind ("rsa" / "ecdsa") certificates."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(SUITES[kind])
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def leaf_fingerprint(sock):
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


class Load:
    def __init__(self, port, name, cafile, handshake_threads=2, keepalive_threads=2):
        self.port = port
        self.name = name
        self.ctx = {k: tls12_context(cafile, k) for k in SUITES}
        self.ctx["any"] = h.client_context(cafile)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.ok = collections.Counter()
        self.failures = []
        self.seen = {"rsa": collections.Counter(), "ecdsa": collections.Counter()}
        self.keepalive_conns = 0  # connections the keep-alive threads had to open
        self.n_handshake, self.n_keepalive = handshake_threads, keepalive_threads
        self.threads = [threading.Thread(target=self._handshakes, daemon=True)
                        for _ in range(handshake_threads)]
        self.threads += [threading.Thread(target=self._keepalive, daemon=True)
                         for _ in range(keepalive_threads)]
        for t in self.threads:
            t.start()

    def _fail(self, kind, err):
        with self._lock:
            self.failures.append("%s: %s: %r" % (kind, type(err).__name__, err))

    def _note(self, kind, fp):
        with self._lock:
            self.ok[kind] += 1
            if fp and kind in self.seen:
                self.seen[kind][fp] += 1

    def _one_request(self, conn):
        r = conn.request("GET", PATH, self.name)
        if r.status != 200 or len(r.body) != 64:
            raise RuntimeError("status %d, %d body bytes" % (r.status, len(r.body)))

    def _handshakes(self):
        i = 0
        while not self._stop.is_set():
            kind = ("rsa", "ecdsa")[i % 2]
            i += 1
            try:
                with h.HttpConn(self.port, self.name, ctx=self.ctx[kind]) as c:
                    fp = leaf_fingerprint(c.sock)
                    self._one_request(c)
                self._note(kind, fp)
            except Exception as e:  # noqa: BLE001 (every failure is a finding)
                self._fail(kind, e)
                time.sleep(0.05)

    def _keepalive(self):
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = h.HttpConn(self.port, self.name, ctx=self.ctx["any"])
                    with self._lock:
                        self.keepalive_conns += 1
                conn.send(h.request_bytes("GET", PATH, self.name))
            except (OSError, ssl.SSLError) as e:
                self._fail("keepalive-connect", e)
                conn = self._drop(conn)
                time.sleep(0.05)
                continue
            try:
                r = conn.read_response()
                if r.status != 200 or len(r.body) != 64:
                    raise RuntimeError("status %d, %d body bytes" % (r.status, len(r.body)))
                self._note("keepalive", None)
                if "close" in r.tokens("connection"):
                    conn = self._drop(conn)
            except EOFError:
                # closed between requests: only a failure if the request got no answer
                self._fail("keepalive", EOFError("closed with a request in flight"))
                conn = self._drop(conn)
            except Exception as e:  # noqa: BLE001
                self._fail("keepalive", e)
                conn = self._drop(conn)
        self._drop(conn)

    @staticmethod
    def _drop(conn):
        if conn is not None:
            conn.close()
        return None

    def wait_requests(self, n, timeout=30.0):
        """Until n more requests have completed (bounded): proof the load is running."""
        with self._lock:
            target = sum(self.ok.values()) + n
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if sum(self.ok.values()) >= target:
                    return True
            time.sleep(0.05)
        return False

    def wait_each(self, n, timeout=30.0):
        """Until every kind of client running ("rsa", "ecdsa", "keepalive") has completed
        n more requests (bounded)."""
        kinds = (["rsa", "ecdsa"] if self.n_handshake else []) + (
            ["keepalive"] if self.n_keepalive else [])
        with self._lock:
            target = {k: self.ok[k] + n for k in kinds}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(self.ok[k] >= target[k] for k in kinds):
                    return True
            time.sleep(0.05)
        return False

    def stop(self):
        self._stop.set()
        for t in self.threads:
            t.join(30)
        return self


BENCH = os.path.join(h.BUILD, "bench", "twofold-bench")


class BenchLoop:
    """twofold-bench run back to back (--duration 1 each, --json) until stop(), so its
    client profiles keep connecting across a certificate swap of unknown length.
    .runs holds every run's JSON report; errors() sums their error counters and
    .fingerprints merges the leaf fingerprints served. Needs $TWOFOLD_BUILD/bench."""

    def __init__(self, port, name, mode, mix, extra=()):
        self.argv = [BENCH, "--target", "127.0.0.1:%d" % port, "--sni", name,
                     "--path", PATH, "--mode", mode, "--mix", mix, "--duration", "1",
                     "--json"] + list(extra)
        self.runs = []
        self.problems = []  # runs that did not produce a report
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @staticmethod
    def available():
        return os.access(BENCH, os.X_OK)

    def _loop(self):
        while not self._stop.is_set():
            r = h.run(self.argv, timeout=60)
            try:
                self.runs.append(json.loads(r.stdout.decode()))
            except ValueError:
                self.problems.append("exit %d: %s" % (r.returncode, r.stderr.decode()[-500:]))

    def wait_runs(self, n, timeout=30.0):
        target = len(self.runs) + n
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.runs) < target:
            time.sleep(0.05)
        return len(self.runs) >= target

    def stop(self):
        self._stop.set()
        self.thread.join(90)
        return self

    def errors(self):
        out = collections.Counter()
        for run in self.runs:
            out.update({k: v for k, v in run["errors"].items() if v})
        return dict(out)

    def first_errors(self):
        return [run.get("first_error") for run in self.runs if run.get("first_error")]

    @property
    def fingerprints(self):
        out = collections.Counter()
        for run in self.runs:
            out.update(run.get("fingerprints", {}))
        return out

    def requests(self):
        return sum(run.get("requests", 0) for run in self.runs)
