"""Integration-test harness: the real twofold binary, real clients, loopback only.

Environment (set by ctest, see tests/CMakeLists.txt; defaults suit a manual run from a
build directory named build/):
  TWOFOLD_BIN    the twofold binary
  TWOFOLD_SRC    the source tree (for tests/fixtures/gen_certs.sh, tests/upstream/)
  TWOFOLD_BUILD  the build tree
  TWOFOLD_KEEP=1 keep the temp directories (printed) for a post-mortem

Contracts:
  - every process started here is a Proc and is stopped by pid (SIGTERM, wait, SIGKILL);
    TestCase stops them in tearDown even when the test failed, and prints the tail of
    their stderr files when it did;
  - every wait is bounded in time; nothing binds or connects beyond 127.0.0.1;
  - certificates are generated at test time by tests/fixtures/gen_certs.sh.
Run a test file's tests with main(): prints "N passed, N failed[, N skipped]" last and
exits 1 on any failure or error.
"""

import atexit
import collections
import hashlib
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("TWOFOLD_SRC") or os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BUILD = os.environ.get("TWOFOLD_BUILD") or os.path.join(SRC, "build")
BIN = os.environ.get("TWOFOLD_BIN") or os.path.join(BUILD, "proxy", "twofold")
GEN_CERTS = os.path.join(SRC, "tests", "fixtures", "gen_certs.sh")
UPSTREAM_PY = os.path.join(SRC, "tests", "upstream", "upstream.py")
KEEP = os.environ.get("TWOFOLD_KEEP") == "1"

sys.path.insert(0, os.path.dirname(UPSTREAM_PY))
# Re-exported for the tests (h.pattern, h.ws_frame, h.WS_GUID): one definition, shared
# with the upstream program.
from upstream import WS_GUID, pattern, ws_frame  # noqa: E402,F401


# ---------------------------------------------------------------- ports and processes

def free_port():
    """A port that was free a moment ago on 127.0.0.1 (bind 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


_LIVE = []  # every Proc not yet stopped: stopped at exit, whatever ends the test run


def _stop_all():
    for p in reversed(list(_LIVE)):
        try:
            p.stop(grace=2.0)
        except Exception:  # noqa: BLE001 (best effort at exit)
            pass


atexit.register(_stop_all)


class Proc:
    """A started process with stderr (and optionally stdout) in files under logdir."""

    def __init__(self, name, argv, logdir, stdout_pipe=False, env=None, group=False):
        """group=True: signals go to the process group this process leads (it is started
        in a new session), for scripts whose children must stop with them."""
        self.name = name
        self.group = group
        self.argv = argv
        self.err_path = os.path.join(logdir, "%s.%d.stderr" % (name, time.monotonic_ns()))
        self.err = open(self.err_path, "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE if stdout_pipe else self.err,
                                  stderr=self.err, env=env, start_new_session=True)
        self.pid = self.p.pid
        self.returncode = None
        self.test_signalled = False  # the test sent signals itself
        self.killed = False  # stop() needed SIGKILL
        self.check = False  # problems() applies: exit 0 on SIGTERM, no sanitizer report
        self.allow_leaks = False  # e.g. after an immediate exit on a second signal
        _LIVE.append(self)

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        """Sends sig (a test doing so takes over judging the exit code)."""
        self.test_signalled = True
        self._send(sig)

    def _send(self, sig):
        if self.group:
            try:
                os.killpg(self.pid, sig)  # our own session: pgid == pid
            except ProcessLookupError:
                pass
        elif self.p.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Exit code, or None when still running after timeout seconds."""
        try:
            self.returncode = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, grace=5.0):
        """SIGTERM, wait up to grace seconds, then SIGKILL. Returns the exit code."""
        if self.p.poll() is None:
            self._send(signal.SIGTERM)
            if self.wait(grace) is None:
                self.killed = True
                self._send(signal.SIGKILL)
                self.wait(5)
        if self.group:  # children may outlive the leader
            self._send(signal.SIGKILL)
        if self in _LIVE:
            _LIVE.remove(self)
        self.returncode = self.p.returncode
        if self.p.stdout:
            self.p.stdout.close()
        self.err.close()
        return self.returncode

    def problems(self):
        """After stop(): what went wrong for a checked process (twofold): a sanitizer
        report in its stderr, SIGKILL needed, or a non-zero exit after our SIGTERM."""
        if not self.check:
            return []
        out = []
        text = self.stderr_text()
        for marker in SANITIZER_MARKERS:
            if marker == "ERROR: LeakSanitizer" and self.allow_leaks:
                continue
            if marker in text:
                out.append("%s (pid %d) stderr has %r" % (self.name, self.pid, marker))
        if self.killed:
            out.append("%s (pid %d) ignored SIGTERM: needed SIGKILL" % (self.name, self.pid))
        elif not self.test_signalled and self.returncode not in (0, None):
            out.append("%s (pid %d) exited %s after SIGTERM" % (self.name, self.pid,
                                                                self.returncode))
        return out

    def stderr_text(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def read_line(self, timeout):
        """One stdout line (needs stdout_pipe), or None after timeout / at EOF."""
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            c = os.read(fd, 1)
            if not c:
                break
            if c == b"\n":
                return buf.decode()
            buf += c
        return None


def run(argv, timeout=30, input_bytes=None, env=None):
    """Runs a command to completion (bounded): CompletedProcess with bytes stdout/stderr."""
    return subprocess.run(argv, input=input_bytes if input_bytes is not None else b"",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, env=env)


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")


def run_twofold(args, timeout=60):
    """Runs `twofold ARGS` to completion (check, explain, config errors, --help...).
    Raises AssertionError when its stderr holds a sanitizer report."""
    r = run([BIN] + list(args), timeout=timeout)
    err = r.stderr.decode("utf-8", "replace")
    for marker in SANITIZER_MARKERS:
        if marker in err:
            raise AssertionError("twofold %s: sanitizer report:\n%s" % (" ".join(args), err))
    return r


# ---------------------------------------------------------------- certificates

class Certs:
    """Certificates from gen_certs.sh in one directory (a usable twofold cert_dir).

    gen(["a.test", "www.a.test"], **env) -> {"rsa": (crt, key), "ecdsa": (crt, key)}
    env: RSA_BITS, EC_CURVE, KEYS, START, END, STEM, EXT, FORCE (see gen_certs.sh)."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca = os.path.join(directory, "ca.crt")

    def gen(self, names, **env):
        e = dict(os.environ)
        e.update({k: str(v) for k, v in env.items()})
        r = run(["sh", GEN_CERTS, self.dir] + list(names), timeout=60, env=e)
        if r.returncode != 0:
            raise RuntimeError("gen_certs.sh failed: %s" % r.stderr.decode())
        stem = env.get("STEM") or re.sub(r"^\*\.", "wildcard.", names[0])
        out = {}
        for kind in env.get("KEYS", "rsa ecdsa").split():
            base = os.path.join(self.dir, "%s-%s" % (stem, kind))
            out[kind] = (base + "." + env.get("EXT", "crt"), base + ".key")
        return out


def cert_fingerprint(path):
    """SHA-256 fingerprint of the first certificate in a PEM file: lower-case hex."""
    r = run(["openssl", "x509", "-in", path, "-noout", "-fingerprint", "-sha256"])
    if r.returncode != 0:
        raise RuntimeError("openssl x509 %s: %s" % (path, r.stderr.decode()))
    return parse_fingerprint(r.stdout.decode())


def parse_fingerprint(text):
    m = re.search(r"Fingerprint=([0-9A-Fa-f:]+)", text)
    return m.group(1).replace(":", "").lower() if m else None


# ---------------------------------------------------------------- clients

def s_client(port, servername=None, args=(), timeout=15, input_bytes=b""):
    """openssl s_client -showcerts against 127.0.0.1:port. servername None: -noservername.
    input_bytes go to its stdin (with -ign_eof it then reads until the server closes).
    Returns (returncode, stdout text, stderr text)."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-showcerts"]
    argv += ["-servername", servername] if servername else ["-noservername"]
    argv += list(args)
    r = run(argv, timeout=timeout, input_bytes=input_bytes)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def served_fingerprint(port, servername=None, args=()):
    """(fingerprint of the leaf the server sent or None, s_client stdout+stderr)."""
    rc, out, err = s_client(port, servername, args)
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    if not m:
        return None, out + err
    r = run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
            input_bytes=m.group(0).encode())
    return parse_fingerprint(r.stdout.decode()), out + err


CurlResult = collections.namedtuple("CurlResult", "rc status body err ssl_version")


def curl(port, name, path, cacert, args=(), timeout=30):
    """curl https://name:port/path resolved to 127.0.0.1, verifying against cacert.
    Returns CurlResult(rc, status (0 when none), body bytes, stderr text, ssl_version
    such as "TLSv1.3"): the status from -w, the version from -v's "SSL connection using"
    line (curl 7.88 has no -w variable for it). -v is always on; it only adds to stderr."""
    marker = b"\n@@TWOFOLD@@"
    argv = ["curl", "-sS", "-v", "--cacert", cacert,
            "--resolve", "%s:%d:127.0.0.1" % (name, port), "-w", marker.decode() + "%{http_code}",
            "https://%s:%d%s" % (name, port, path)] + list(args)
    r = run(argv, timeout=timeout)
    body, _, trailer = r.stdout.rpartition(marker)
    fields = trailer.decode(errors="replace").split()
    status = int(fields[0]) if fields and fields[0].isdigit() else 0
    err = r.stderr.decode("utf-8", "replace")
    m = re.search(r"SSL connection using (TLSv[0-9.]+)", err)
    return CurlResult(r.returncode, status, body, err, m.group(1) if m else "")


def client_context(cafile=None):
    """A TLS client context: verification against cafile (none when cafile is None)."""
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class Response:
    def __init__(self, status, reason, headers, body, version):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value), in order
        self.body = body
        self.version = version

    def header(self, name):
        vals = self.header_all(name)
        return vals[0] if vals else None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def tokens(self, name):
        return [t.strip().lower() for v in self.header_all(name) for t in v.split(",")
                if t.strip()]

    def __repr__(self):
        return "Response(%d %s, %r, %d body bytes)" % (self.status, self.reason,
                                                       self.headers, len(self.body))


class HttpConn:
    """Raw HTTP/1.1 over TLS (or plain TCP with tls=False) for tests that need control of
    every byte: pipelining, split sends, Expect, upgrades. Every read has a deadline."""

    def __init__(self, port, name="localhost", cafile=None, timeout=10.0, tls=True,
                 ctx=None):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = ctx or client_context(cafile)
            self.sock = ctx.wrap_socket(raw, server_hostname=name)
        else:
            self.sock = raw
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLZeroReturnError, ConnectionResetError):
            data = b""
        if not data:
            self.eof = True
            raise EOFError("connection closed by peer")
        self.buf += data

    def read_line(self):
        while b"\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\n")
        line = bytes(self.buf[: i + 1])
        del self.buf[: i + 1]
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_to_eof(self):
        try:
            while True:
                self._fill()
        except (EOFError, ssl.SSLError, OSError):
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def closed_by_peer(self, timeout=5.0):
        """True when the peer closes (EOF or reset) within timeout with no more data."""
        self.sock.settimeout(timeout)
        try:
            self._fill()
        except (EOFError, ssl.SSLError, ConnectionError):
            return True
        except socket.timeout:
            return False
        return False

    def read_head(self):
        line = self.read_line().decode("latin-1").rstrip("\r\n")
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ValueError("not an HTTP/1.x status line: %r" % line)
        headers = []
        while True:
            h = self.read_line()
            if h in (b"\r\n", b"\n"):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers.append((k.strip(), v.strip()))
        return Response(int(code), reason, headers, b"", version)

    def read_response(self, method="GET", interim=False):
        """The next response. interim=True returns a 1xx head as it comes; else 1xx heads
        are skipped. Bodies by the HTTP/1.1 rules (HEAD/1xx/204/304: none)."""
        while True:
            r = self.read_head()
            if 100 <= r.status < 200 and r.status != 101:
                if interim:
                    return r
                continue
            break
        if method == "HEAD" or r.status in (101, 204, 304):
            return r
        if "chunked" in r.tokens("transfer-encoding"):
            r.body = self._read_chunked()
        elif r.header("content-length") is not None:
            r.body = self.read_exact(int(r.header("content-length")))
        else:
            r.body = self.read_to_eof()
        return r

    def _read_chunked(self):
        out = []
        while True:
            n = int(self.read_line().split(b";")[0].strip(), 16)
            if n == 0:
                while self.read_line() not in (b"\r\n", b"\n"):
                    pass
                return b"".join(out)
            out.append(self.read_exact(n))
            self.read_exact(2)

    def request(self, method, path, host, body=None, headers=(), chunked=False):
        """Sends one request and reads its response."""
        self.send(request_bytes(method, path, host, body, headers, chunked))
        return self.read_response(method)


def request_bytes(method, path, host, body=None, headers=(), chunked=False):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    lines += ["%s: %s" % (k, v) for k, v in headers]
    data = b""
    if body is not None:
        if chunked:
            lines.append("Transfer-Encoding: chunked")
            data = chunk_encode(body)
        else:
            lines.append("Content-Length: %d" % len(body))
            data = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


def chunk_encode(body, size=65536):
    out = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
           for i in range(0, len(body), size)]
    return b"".join(out) + b"0\r\n\r\n"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- twofold and upstreams

class Upstream:
    """tests/upstream/upstream.py on a free port (or port). record=True: .record_path gets
    every byte it receives. name: every response carries "X-Upstream: name". args: more
    upstream.py options (e.g. ["--answers", "1"])."""

    def __init__(self, logdir, record=False, name=None, port=0, args=()):
        tag = name or "upstream"
        self.record_path = os.path.join(logdir, "%s.%d.rec" % (tag, time.monotonic_ns()))
        argv = [sys.executable, UPSTREAM_PY, "--listen", "127.0.0.1:%d" % port]
        if record:
            argv += ["--record", self.record_path]
            open(self.record_path, "wb").close()
        if name:
            argv += ["--name", name]
        argv += list(args)
        self.proc = Proc(tag, argv, logdir, stdout_pipe=True)
        line = self.proc.read_line(10)
        if not line or not line.startswith("READY "):
            self.proc.stop()
            raise RuntimeError("upstream did not start: %r\n%s" % (line, self.proc.stderr_text()))
        self.port = int(line.split()[1])
        self.addr = "127.0.0.1:%d" % self.port

    def recorded(self):
        with open(self.record_path, "rb") as f:
            return f.read()

    def conns(self):
        """The upstream's count of accepted connections, asked directly (not via twofold)."""
        with HttpConn(self.port, tls=False) as c:
            return int(c.request("GET", "/conns", "upstream").body)

    def stop(self):
        return self.proc.stop()


def site(name, names, certs, upstream=None, extra=()):
    """A [site] section. certs: list of (crt, key); extra: list of 'key = value' lines."""
    lines = ["[site %s]" % name]
    if names:
        lines.append("names = %s" % " ".join(names))
    lines += ["cert = %s %s" % c for c in certs]
    if upstream:
        lines.append("upstream = %s" % upstream)
    return "\n".join(lines + list(extra)) + "\n"


def config(listen_port, sites, upstreams, proxy=None):
    """A whole config text. upstreams: {name: [addr, ...] or (addrs, {key: value})};
    proxy: extra [proxy] keys (defaults: workers 1, admin off, short timeouts)."""
    p = {"workers": "1", "admin": "off", "log_level": "info", "handshake_timeout": "5s",
         "drain_timeout": "5s"}
    p.update(proxy or {})
    out = ["[proxy]"] + ["%s = %s" % kv for kv in p.items()]
    out += ["", "[listener main]", "bind = 127.0.0.1:%d" % listen_port, ""]
    out += sites
    for name, spec in upstreams.items():
        addrs, opts = (spec if isinstance(spec, tuple) else (spec, {}))
        out.append("[upstream %s]" % name)
        out += ["server = %s" % a for a in addrs]
        out += ["%s = %s" % kv for kv in opts.items()]
        out.append("")
    return "\n".join(out) + "\n"


class Twofold:
    """The twofold binary started with a config file (or argv), ready when its listener
    completes TLS handshakes (bounded)."""

    def __init__(self, logdir, conf_text=None, argv=None, port=None, name="localhost",
                 ready_timeout=10.0):
        self.port = port
        self.conf_path = None
        if conf_text is not None:
            self.conf_path = os.path.join(logdir, "twofold.%d.ini" % time.monotonic_ns())
            with open(self.conf_path, "w") as f:
                f.write(conf_text)
            argv = [BIN, "-c", self.conf_path]
        self.proc = Proc("twofold", argv, logdir)
        self.proc.check = True
        self.pid = self.proc.pid
        try:
            self.wait_ready(name, ready_timeout)
        except BaseException:
            self.proc.stop()
            raise

    def wait_ready(self, name, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise RuntimeError("twofold exited with %s before listening:\n%s"
                                   % (self.proc.p.returncode, self.proc.stderr_text()))
            if tls_answers(self.port, name):
                return
            time.sleep(0.05)
        raise RuntimeError("twofold not ready on port %d after %.0fs:\n%s"
                           % (self.port, timeout, self.proc.stderr_text()))

    def stop(self, grace=10.0):
        return self.proc.stop(grace)


def tls_answers(port, name):
    """True when something on port speaks TLS (a completed handshake or a TLS alert)."""
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=1.0)
    except OSError:
        return False
    try:
        with client_context().wrap_socket(raw, server_hostname=name):
            return True
    except ssl.SSLError:
        return True  # a TLS alert: the listener is up (e.g. strict_sni)
    except OSError:
        return False
    finally:
        raw.close()


# ---------------------------------------------------------------- test case and runner

class TestCase(unittest.TestCase):
    """Gives each test a temp dir (self.tmp) and stops every process it started
    (self.start_upstream / self.start_twofold / self.track) in tearDown, printing their
    stderr when the test failed. Class-level processes: cls.class_track(proc) in
    setUpClass; they are stopped in tearDownClass."""

    _class_procs = None
    _class_tmp = None

    @classmethod
    def class_tmp(cls):
        if cls._class_tmp is None:
            cls._class_tmp = tempfile.mkdtemp(prefix="twofold-%s-" % cls.__name__)
            cls._class_procs = []
        return cls._class_tmp

    @classmethod
    def class_track(cls, proc):
        cls.class_tmp()
        cls._class_procs.append(proc)
        return proc

    @classmethod
    def setUpClass(cls):
        """Runs cls.setUpEnv() (a classmethod a test class may define to start shared
        processes); when it raises, what it started is stopped before the error goes on
        (unittest skips tearDownClass after a failed setUpClass)."""
        env = getattr(cls, "setUpEnv", None)
        if env is None:
            return
        try:
            env()
        except BaseException:
            for p in cls._class_procs or []:
                sys.stderr.write("---- %s stderr ----\n%s\n" % (p.name, p.stderr_text()))
            cls.tearDownClass()
            raise

    @classmethod
    def class_upstream(cls, record=False, name=None):
        up = Upstream(cls.class_tmp(), record=record, name=name)
        cls.class_track(up.proc)
        return up

    @classmethod
    def class_twofold(cls, conf_text=None, argv=None, port=None, name="localhost"):
        tf = Twofold(cls.class_tmp(), conf_text=conf_text, argv=argv, port=port, name=name)
        cls.class_track(tf.proc)
        return tf

    @classmethod
    def tearDownClass(cls):
        problems = []
        for p in reversed(cls._class_procs or []):
            p.stop()
            problems += p.problems()
        if problems:
            for p in cls._class_procs:
                sys.stderr.write("---- %s (pid %d) stderr ----\n%s\n"
                                 % (p.name, p.pid, p.stderr_text()))
        cls._class_procs = []
        if cls._class_tmp and not KEEP:
            shutil.rmtree(cls._class_tmp, ignore_errors=True)
        elif cls._class_tmp:
            print("kept %s" % cls._class_tmp)
        cls._class_tmp = None
        if problems:
            raise AssertionError("; ".join(problems))

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="twofold-%s-" % self._testMethodName)
        self._procs = []
        self._bad_before = self._bad_count()

    def _bad_count(self):
        res = getattr(getattr(self, "_outcome", None), "result", None)
        return len(res.failures) + len(res.errors) if res else 0

    def track(self, proc):
        self._procs.append(proc)
        return proc

    def start_upstream(self, record=False, name=None, port=0, args=()):
        up = Upstream(self.tmp, record=record, name=name, port=port, args=args)
        self.track(up.proc)
        return up

    def start_twofold(self, conf_text=None, argv=None, port=None, name="localhost"):
        tf = Twofold(self.tmp, conf_text=conf_text, argv=argv, port=port, name=name)
        self.track(tf.proc)
        return tf

    def tearDown(self):
        problems = []
        for p in reversed(self._procs):
            p.stop()
            problems += p.problems()
        failed = self._bad_count() > self._bad_before or self._outcome_failed()
        if failed or problems:
            self.dump_logs()
        if KEEP:
            print("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            self.fail("; ".join(problems))

    def _outcome_failed(self):
        # Python 3.11: failures are recorded on the result after tearDown; look at the
        # outcome's pending errors instead.
        outcome = getattr(self, "_outcome", None)
        return bool(outcome) and not getattr(outcome, "success", True)

    def dump_logs(self):
        procs = self._procs + (type(self)._class_procs or [])
        for p in procs:
            text = p.stderr_text()
            tail = "\n".join(text.splitlines()[-40:])
            sys.stderr.write("---- %s (pid %d) stderr, last lines ----\n%s\n"
                             % (p.name, p.pid, tail))


def main():
    """Runs the calling module's tests; prints the summary line; exits non-zero on failure."""
    # SIGTERM (e.g. a ctest timeout) and a closed stdout still stop every started process.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if not os.path.exists(BIN):
        print("twofold binary not found at %s (set TWOFOLD_BIN)" % BIN)
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, )
    res = runner.run(suite)
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    skipped = len(res.skipped)
    passed = res.testsRun - failed - skipped
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line, flush=True)
    sys.exit(1 if failed or res.testsRun == 0 else 0)

