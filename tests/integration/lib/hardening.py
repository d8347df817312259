"""Helpers for the hardening tests (smuggling corpus, slow clients, TLS policy): raw TLS
connections with controlled write boundaries, reading to the peer's close with a
deadline, strict parsing of what the proxy answered, and /proc readings of a process.

Contracts: every wait is bounded by a deadline; every socket is closed by its caller
(the functions here close only what they open); everything targets 127.0.0.1.
"""

import os
import random
import resource
import socket
import ssl
import time


# ---------------------------------------------------------------- connections

def tls_context(alpn=("http/1.1",)):
    """An unverifying TLS client context (the tests judge HTTP, not the chain)."""
    ctx = ssl._create_unverified_context()
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_connect(port, name="a.test", timeout=10.0, ctx=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s = (ctx or tls_context()).wrap_socket(raw, server_hostname=name)
    except BaseException:
        raw.close()
        raise
    s.settimeout(timeout)
    return s


def poll_answer(sock):
    """Plaintext the peer already sent, without blocking: b"" when none (a TLS 1.3
    session ticket alone is not an answer), None at EOF or reset."""
    sock.setblocking(False)
    try:
        data = sock.recv(65536)
        return data if data else None
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return b""
    except (ssl.SSLError, OSError):
        return None
    finally:
        sock.setblocking(True)


def send_pieces(sock, pieces, timeout):
    """Sends pieces in separate writes (so separate TLS records). Between pieces it looks
    for an answer and stops sending once one came: bytes written to a socket the peer has
    closed draw a reset that would discard the answer. Returns (bytes already received,
    send error or None)."""
    got = bytearray()
    for i, piece in enumerate(pieces):
        try:
            sock.settimeout(timeout)
            sock.sendall(piece)
        except (OSError, ssl.SSLError) as e:
            return bytes(got), e
        if i + 1 < len(pieces):
            ans = poll_answer(sock)
            sock.settimeout(timeout)
            if ans is None:
                return bytes(got), None
            if ans:
                got += ans
                return bytes(got), None
    return bytes(got), None


def read_to_close(sock, timeout):
    """Reads until the peer closes (close_notify, EOF or reset) or timeout seconds pass.
    Returns (data, how): how is "eof", "reset" or "timeout"."""
    deadline = time.monotonic() + timeout
    out = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(out), "timeout"
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except ssl.SSLZeroReturnError:
            return bytes(out), "eof"
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return bytes(out), "reset"
        if not data:
            return bytes(out), "eof"
        out += data


def read_answer(sock, timeout, initial=b""):
    """Reads until one whole response has arrived (counting the initial bytes already
    read), the peer closes, or timeout seconds pass. Returns (list of Parsed, all bytes
    read, how: "answer", "eof", "reset" or "timeout")."""
    deadline = time.monotonic() + timeout
    data = bytearray(initial)
    while True:
        answers, _ = parse_responses(data)
        if answers:
            return answers, bytes(data), "answer"
        left = deadline - time.monotonic()
        if left <= 0:
            return answers, bytes(data), "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except ssl.SSLZeroReturnError:
            chunk = b""
        except (ConnectionError, ssl.SSLError, OSError):
            return parse_responses(data)[0], bytes(data), "reset"
        if not chunk:
            return parse_responses(data)[0], bytes(data), "eof"
        data += chunk


def split_points(n, rng, count):
    """count distinct cut offsets in 1..n-1 (fewer when n is small), sorted."""
    if n < 2:
        return []
    return sorted(rng.sample(range(1, n), min(count, n - 1)))


def cut(data, points):
    edges = [0] + list(points) + [len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:]) if b > a]


def seeded_rng():
    """A Random seeded from TWOFOLD_SEED or the clock; the seed is printed so that a
    failure can be replayed."""
    seed = int(os.environ.get("TWOFOLD_SEED") or time.time_ns() % 1000000007)
    print("hardening: random seed %d (replay with TWOFOLD_SEED=%d)" % (seed, seed), flush=True)
    return random.Random(seed), seed


# ---------------------------------------------------------------- parsing answers

class Parsed:
    """One HTTP/1.x response parsed strictly from bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def values(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def tokens(self, name):
        return [t.strip().lower() for v in self.values(name) for t in v.split(",") if t.strip()]

    def __repr__(self):
        return "Parsed(%d, %r, %r)" % (self.status, self.headers, self.body[:80])


def parse_responses(data):
    """Splits data into responses framed by Content-Length or chunked (the proxy's own
    error answers use Content-Length). Returns (list of Parsed, leftover bytes)."""
    out = []
    rest = bytes(data)
    while rest:
        end = rest.find(b"\r\n\r\n")
        if end < 0:
            break
        lines = rest[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            break
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        r = Parsed(int(parts[1]), headers, b"")
        body_at = end + 4
        if "chunked" in r.tokens("transfer-encoding"):
            body, used = dechunk(rest[body_at:])
            if body is None:
                break
            r.body = body
            rest = rest[body_at + used:]
        else:
            n = int((r.values("content-length") or ["0"])[0])
            if len(rest) - body_at < n:
                break
            r.body = rest[body_at:body_at + n]
            rest = rest[body_at + n:]
        out.append(r)
    return out, rest


def dechunk(data, strict=False):
    """Decodes a chunked body at the start of data. Returns (body, bytes used) or
    (None, 0) when incomplete or malformed. strict: only the canonical form the proxy
    writes is accepted (lower-case hex sizes without leading zeros or extensions, no
    trailers, no empty chunk before the last)."""
    pos = 0
    body = bytearray()
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None, 0
        line = data[pos:eol]
        size_txt = line if strict else line.split(b";")[0].strip()
        try:
            n = int(size_txt, 16)
        except ValueError:
            return None, 0
        if strict and (size_txt != b"%x" % n):
            return None, 0
        pos = eol + 2
        if n == 0:
            if strict:
                return (bytes(body), pos + 2) if data[pos:pos + 2] == b"\r\n" else (None, 0)
            while True:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    return None, 0
                line, pos = data[pos:eol], eol + 2
                if not line:
                    return bytes(body), pos
        if len(data) < pos + n + 2 or data[pos + n:pos + n + 2] != b"\r\n":
            return None, 0
        body += data[pos:pos + n]
        pos += n + 2


# ---------------------------------------------------------------- process readings

def proc_status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def rss_bytes(pid):
    return proc_status_kb(pid, "VmRSS") * 1024


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_seconds(pid):
    """User + system CPU time the process used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def raise_nofile(want):
    """Raises this process's soft RLIMIT_NOFILE toward want (up to the hard limit);
    returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def sanitized(binary):
    """True when binary is linked with a sanitizer runtime (memory figures then mean
    little, and everything is ~3x slower)."""
    import subprocess
    r = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       timeout=30)
    return b"libasan" in r.stdout or b"libtsan" in r.stdout


# ---------------------------------------------------------------- certificates for testssl

_REVOCABLE_EXT = """[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:{name}
authorityInfoAccess = OCSP;URI:http://127.0.0.1:9/ocsp, caIssuers;URI:http://127.0.0.1:9/ca.crt
crlDistributionPoints = URI:http://127.0.0.1:9/ca.crl
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
"""


def gen_revocable_certs(directory, name):
    """An RSA-2048 and an ECDSA P-256 leaf for name, signed by a fresh RSA root, each with
    an OCSP and a CRL URI (as public CAs issue them; gen_certs.sh's test leaves have none,
    which testssl rates HIGH). The URIs point at a closed local port: testssl does not
    fetch them without --phone-out. Returns (ca path, [(crt, key), ...])."""
    import subprocess

    os.makedirs(directory, exist_ok=True)
    p = lambda f: os.path.join(directory, f)  # noqa: E731
    with open(p("ext.cnf"), "w") as f:
        f.write(_REVOCABLE_EXT.format(name=name))

    def ossl(*args):
        r = subprocess.run(("openssl",) + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca.key.pem"),
         "-out", p("ca.pem"), "-days", "400", "-subj", "/CN=twofold hardening test CA",
         "-extensions", "ca", "-config", p("ext.cnf"))
    out = []
    for kind, algo in (("rsa", ["-newkey", "rsa:2048"]),
                       ("ecdsa", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])):
        key, csr, crt = p("%s-%s.key" % (name, kind)), p("%s.csr" % kind), \
            p("%s-%s.crt" % (name, kind))
        ossl("req", "-new", *algo, "-nodes", "-keyout", key, "-out", csr, "-subj",
             "/CN=%s" % name)
        ossl("x509", "-req", "-in", csr, "-CA", p("ca.pem"), "-CAkey", p("ca.key.pem"),
             "-CAcreateserial", "-days", "365", "-sha256", "-extfile", p("ext.cnf"),
             "-extensions", "leaf", "-out", crt)
        out.append((crt, key))
    return p("ca.pem"), out


# ---------------------------------------------------------------- raw ClientHellos

def client_hello(name="a.test"):
    """A real ClientHello record (Python's ssl over memory BIOs, TLS 1.2-1.3)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tls_context().wrap_bio(inc, out, server_hostname=name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def hello_parts(record):
    """Splits a single-record ClientHello into (fields before the extensions, [(type,
    data)])."""
    body = record[5 + 4:]  # record header, handshake header
    pos = 2 + 32
    pos += 1 + body[pos]  # session id
    pos += 2 + int.from_bytes(body[pos:pos + 2], "big")  # cipher suites
    pos += 1 + body[pos]  # compression methods
    fixed = body[:pos]
    exts, ext_end = [], pos + 2 + int.from_bytes(body[pos:pos + 2], "big")
    pos += 2
    while pos < ext_end:
        t = int.from_bytes(body[pos:pos + 2], "big")
        n = int.from_bytes(body[pos + 2:pos + 4], "big")
        exts.append((t, body[pos + 4:pos + 4 + n]))
        pos += 4 + n
    return fixed, exts


def hello_build(fixed, exts, record_size=16384):
    """A ClientHello handshake message from parts, in records of at most record_size."""
    ext_bytes = b"".join(t.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d for t, d in exts)
    body = fixed + len(ext_bytes).to_bytes(2, "big") + ext_bytes
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"".join(b"\x16\x03\x01" + len(msg[i:i + record_size]).to_bytes(2, "big")
                    + msg[i:i + record_size] for i in range(0, len(msg), record_size))


def sni_ext(host_bytes):
    entry = b"\x00" + len(host_bytes).to_bytes(2, "big") + host_bytes
    return (0, len(entry).to_bytes(2, "big") + entry)


def hello_with_sni(host_bytes):
    fixed, exts = hello_parts(client_hello())
    return hello_build(fixed, [sni_ext(host_bytes) if t == 0 else (t, d) for t, d in exts])
