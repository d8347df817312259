#!/usr/bin/env python3
"""Writes the committed seed corpora of tests/fuzz/corpus/<target>/ from valid examples.

Usage: python3 tests/fuzz/gen_corpus.py   (rewrites the seed-* files; fuzzer-found
inputs added by hand keep their own names)

- http1_request, http1_response, chunked: hand-written messages and bodies, valid and
  slightly broken;
- config: conf/*.ini of this repo (comments stripped) and small variants;
- clienthello: real ClientHellos from testssl.sh's client-simulation.txt (Debian package
  testssl.sh), every 4th client plus bare-handshake and SSLv2 forms; and limit-* seeds:
  lists at the protocol's limits (a 65,534-byte cipher list, the 131,396-byte maximum
  hello) and the hellos OpenSSL refuses with its own alerts (see limit_seeds);
- h2_session: HTTP/2 frame sequences after the preface (SETTINGS, requests with and
  without bodies, cookies, CONTINUATION, RST_STREAM, PING, WINDOW_UPDATE, GOAWAY); the
  first byte is the harness's slice size; header blocks use HPACK literals without
  indexing (written here, no library needed);
- pem: only key-free seeds. tests/fuzz/run.sh generates the certificate and key seeds at
  run time, so no private key is ever committed.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SIM = "/etc/testssl/client-simulation.txt"

CRLF = "\r\n"


def req(*lines, body=""):
    return (CRLF.join(lines) + CRLF + CRLF + body).encode()


HTTP1 = [
    req("GET / HTTP/1.1", "Host: a.example"),
    req("GET /p?q=1 HTTP/1.1", "Host: a.example:8443", "User-Agent: t/1", "Accept: */*",
        "Connection: keep-alive"),
    req("POST /up HTTP/1.1", "Host: a.example", "Content-Length: 5", body="hello"),
    req("POST /up HTTP/1.1", "Host: a.example", "Transfer-Encoding: chunked",
        body="5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n"),
    req("PUT http://a.example/x HTTP/1.0", "Content-Length: 3", "Expect: 100-continue",
        body="abc"),
    req("GET /x HTTP/1.0"),
    req("OPTIONS * HTTP/1.1", "Host: a.example"),
    req("GET /chat HTTP/1.1", "Host: a.example", "Upgrade: websocket",
        "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        body="tunnel bytes"),
    req("GET / HTTP/1.1", "Host: a.example", "Connection: close, X-Drop", "X-Drop: 1",
        "TE: trailers", "Keep-Alive: 5", "Proxy-Connection: x", "X-Forwarded-For: 10.0.0.1",
        "X-Forwarded-For: 10.0.0.2", "X-Forwarded-Proto: http", "X-Forwarded-Host: evil"),
    req("GET / HTTP/1.1", "Host: a.example") + req("HEAD /2 HTTP/1.1", "Host: a.example") +
    req("DELETE /3 HTTP/1.1", "Host: a.example", "Content-Length: 0"),
    # refused forms: smuggling attempts, bad lines, bad versions
    req("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Transfer-Encoding: chunked",
        body="0\r\n\r\n"),
    req("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Content-Length: 3", body="abc"),
    req("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked", body="0\r\n\r\n"),
    req("POST / HTTP/1.0", "Host: a", "Transfer-Encoding: chunked", body="0\r\n\r\n"),
    req("GET / HTTP/1.1", "Host: a", " folded"),
    req("GET / HTTP/1.1", "Host: a", "Host: b"),
    req("GET http://b/ HTTP/1.1", "Host: a"),
    req("GET / HTTP/2.0", "Host: a"),
    req("get / HTTP/1.1", "Host: a"),
    req("CONNECT a:443 HTTP/1.1", "Host: a:443"),
    b"GET / HTTP/1.1\nHost: a\n\n",
    b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nExpect: nope\r\n\r\n",
    # gateway duties and extension methods
    req("QUERY /q HTTP/1.1", "Host: a", "Via: 1.0 edge", "Content-Length: 2", body="ab"),
    req("OPTIONS http://b HTTP/1.1", "Host: a", "Max-Forwards: 3") +
    req("TRACE /t HTTP/1.1", "Host: a", "Max-Forwards: 0", "Cookie: c=1"),
    req("GET / HTTP/1.1", "Host: a", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
        "HTTP2-Settings: AAMAAABk"),
    req("BAN / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked",
        body="5;a=b;c=\"d e\"\r\nhello\r\n0 ; x = \"\\\"\"\r\n\r\n"),
]

def resp(ctl, *lines, body=""):
    return bytes([ctl]) + (CRLF.join(lines) + CRLF + CRLF + body).encode()


# First byte: bit 0 HEAD request, bit 1 HTTP/1.0 client, bit 2 close after the response.
HTTP1_RESPONSE = [
    resp(0, "HTTP/1.1 200 OK", "Content-Length: 5", "Content-Type: text/plain", body="hello"),
    resp(0, "HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Trailer: X-Sum",
         body="5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n"),
    resp(2, "HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body="3\r\nabc\r\n0\r\n\r\n"),
    resp(0, "HTTP/1.0 200 OK", "Server: old", body="until the connection closes"),
    resp(6, "HTTP/1.1 200 OK", body="eof body to an HTTP/1.0 client"),
    resp(1, "HTTP/1.1 200 OK", "Content-Length: 1234"),
    resp(0, "HTTP/1.1 204 No Content", "Content-Length: 3"),
    resp(0, "HTTP/1.1 304 Not Modified", "ETag: \"x\""),
    resp(0, "HTTP/1.1 100 Continue") + resp(0, "HTTP/1.1 201 Created", "Content-Length: 0")[1:],
    resp(0, "HTTP/1.1 103 Early Hints", "Link: </s.css>; rel=preload") +
    resp(0, "HTTP/1.1 200 OK", "Content-Length: 2", body="ok")[1:],
    resp(0, "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
         body="tunnel"),
    resp(4, "HTTP/1.1 200 OK", "Connection: close, X-Hop", "X-Hop: 1", "Keep-Alive: timeout=5",
         "Content-Length: 0"),
    resp(0, "HTTP/1.1 200 OK", "Content-Length: 1", body="a") +
    resp(0, "HTTP/1.1 404 Not Found", "Content-Length: 0")[1:],
    resp(0, "HTTP/1.1 200 OK", "Content-Length: 2", "Transfer-Encoding: chunked",
         body="0\r\n\r\n"),
    resp(0, "HTTP/1.1 200 OK", "Content-Length: 2", "Content-Length: 2", body="ok"),
    resp(0, "HTTP/1.1 999 Odd"),
    resp(0, "HTTP/1.1 200 OK", " folded: x"),
    resp(0, "\r\nHTTP/1.1 200 OK"),
]

CHUNKED = [
    b"\x005\r\nhello\r\n0\r\n\r\n",
    b"\x01a\r\n0123456789\r\n3\r\nabc\r\n0\r\n\r\n",
    b"\x00A;name=value\r\n0123456789\r\n0\r\nTrailer-A: 1\r\n\r\n",
    b'\x015;n="q v"\r\nhello\r\n0\r\n\r\n',
    b"\x000\r\n\r\n",
    b"\x00000005\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
    b"\x00fffffffffffffffff\r\n",
    b"\x005\r\nhelloXX0\r\n\r\n",
    b"\x00 5\r\nhello\r\n0\r\n\r\n",
    b"\x005\nhello\n0\n\n",
    b"\x000\r\nContent-Length: 5\r\n\r\n",
    b'\x005;a=b;c="d e"\r\nhello\r\n3 ; x ; y = z\t;q="\\"\\\\"\r\nabc\r\n0;a\r\n\r\n',
    b"\x015;a=b c\r\nhello\r\n0\r\n\r\n",
]

PEM = [
    b"",
    b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"
    b"\n#key\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END EC PRIVATE KEY-----\n",
]


def config_seeds():
    out = []
    for name in sorted(os.listdir(os.path.join(ROOT, "conf"))):
        if not name.endswith(".ini"):
            continue
        with open(os.path.join(ROOT, "conf", name)) as f:
            lines = [l.rstrip("\n") for l in f]
        kept = [l for l in lines if l.strip() and not l.lstrip().startswith((";", "#"))]
        out.append(("\n".join(kept) + "\n").encode())
    out.append(b"[proxy]\nworkers = 2\n[listener a]\nbind = 127.0.0.1:8443\n"
               b"[upstream u]\nserver = 127.0.0.1:8080\n"
               b"[site s]\ncert = a.crt a.key\nnames = a.example, *.b.example\n")
    out.append(b"[site  s ]\n  cert = " + b"x" * 300 + b"\n[bad\nkey\n=v\n")
    return out


def clienthello_seeds():
    if not os.path.exists(SIM):
        sys.exit(f"{SIM} missing: apt-get install testssl.sh")
    with open(SIM) as f:
        hexes = re.findall(r'handshakebytes\+=\("([0-9a-fA-F]+)"\)', f.read())
    out = []
    for i, h in enumerate(hexes):
        if i % 4:
            continue
        b = bytes.fromhex(h)
        out.append(b)
        if i % 8 == 0 and b[0] == 22:
            out.append(b[5:])  # the bare handshake message
    # An SSLv2-format CLIENT-HELLO: length, type 1, version, spec/sid/challenge lengths.
    specs = bytes.fromhex("010080" "0000ff" "00002f")
    body = b"\x01\x03\x01" + len(specs).to_bytes(2, "big") + b"\x00\x00\x00\x10" + specs
    body += b"C" * 16
    out.append(bytes([0x80 | (len(body) >> 8), len(body) & 0xff]) + body)
    return out


def _u16s(values):
    return b"".join(v.to_bytes(2, "big") for v in values)


def _vec(data, width):
    return len(data).to_bytes(width, "big") + data


def _ext(kind, body):
    return kind.to_bytes(2, "big") + _vec(body, 2)


def _unknown(n):
    """n unassigned code points (never GREASE)."""
    return [v ^ 0x0100 if v & 0x0f0f == 0x0a0a else v for v in
            (0xe000 + i % 0x1f00 for i in range(n))]


def _hello(legacy=0x0303, versions=None, ciphers=(0x1301, 0xc02b, 0xc02f),
           sigalgs=(0x0403, 0x0804, 0x0401), groups=(29, 23, 24), sid=b"", comp=b"\x00",
           odd=False, total=None):
    """A bare ClientHello message; total pads the extensions to that body length."""
    def build(pad):
        exts = _ext(0, _vec(b"\x00" + _vec(b"a.example", 2), 2))
        if groups is not None:
            exts += _ext(10, _vec(_u16s(groups), 2))
        if sigalgs is not None:
            exts += _ext(13, _vec(_u16s(sigalgs), 2))
        if versions is not None:
            exts += _ext(43, _vec(_u16s(versions), 1))
            exts += _ext(51, _vec(_u16s([29, 32]) + bytes(range(32)), 2))
        if pad:
            exts += _ext(21, bytes(pad - 4))
        cs = _u16s(ciphers) + (b"\x13" if odd else b"")
        return (legacy.to_bytes(2, "big") + bytes(32) + _vec(sid, 1) + _vec(cs, 2) +
                _vec(comp, 1) + _vec(exts, 2))
    body = build(0)
    if total:
        body = build(total - len(body))
    return b"\x01" + _vec(body, 3)


def limit_seeds():
    """Hellos at the limits (bare messages: a record holds 16 KiB) and the refusals whose
    alert OpenSSL decides (TLS records)."""
    rec = lambda m: b"\x16\x03\x01" + _vec(m, 2)  # noqa: E731
    return [
        _hello(ciphers=_unknown(32766) + [0xc02f]),
        _hello(versions=[0x0304], ciphers=_unknown(32766) + [0x1301],
               sigalgs=_unknown(32699) + [0x0403], sid=bytes(32), total=131396 - 254),
        _hello(ciphers=_unknown(32766) + [0xc02f], sigalgs=_unknown(32699) + [0x0401],
               sid=bytes(32), comp=bytes(range(255)), total=131396),
        rec(_hello(versions=[0x7f00 + i for i in range(17)] + [0x0304])),
        rec(_hello(versions=[0x0304], groups=_unknown(221) + [29])),
        rec(_hello(legacy=0x0301, ciphers=(0xc009, 0xc013, 0x002f))),
        rec(_hello(legacy=0x0300)),
        rec(_hello(legacy=0x0000)),
        rec(_hello(versions=[0x7f1c, 0x1234])),
        rec(_hello(ciphers=(0xc02b, 0xc02f, 0x5600))),
        rec(_hello(sigalgs=())),
        rec(_hello(odd=True)),
        rec(_hello(groups=None)),
        rec(_hello(versions=[0x0304], sigalgs=None)),
        rec(_hello(versions=[0x0304], comp=b"\x00\x01")),
    ]


def _h2frame(ftype, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + \
        stream.to_bytes(4, "big") + payload


def _hpack(fields):
    """A header block of literal fields without indexing (RFC 7541 6.2.2), names new."""
    out = b""
    for name, value in fields:
        out += b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
    return out


def _h2get(stream, path=b"/", extra=(), end=True):
    fields = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a.example"),
              (b":path", path)] + list(extra)
    return _h2frame(1, 0x4 | (0x1 if end else 0), stream, _hpack(fields))


def h2_seeds():
    settings = _h2frame(4, 0, 0)
    post = _h2frame(1, 0x4, 3, _hpack([(b":method", b"POST"), (b":scheme", b"https"),
                                       (b":authority", b"a.example"), (b":path", b"/up"),
                                       (b"content-length", b"5")]))
    block = _hpack([(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a.example"),
                    (b":path", b"/c")])
    return [
        b"\x04" + settings + _h2get(1),
        b"\x00" + settings + _h2get(1, b"/a", [(b"cookie", b"a=1"), (b"cookie", b"b=2")]),
        b"\x10" + settings + post + _h2frame(0, 0, 3, b"hel") + _h2frame(0, 1, 3, b"lo"),
        b"\x02" + settings + _h2get(1, end=False) + _h2frame(3, 0, 1, b"\x00\x00\x00\x08"),
        b"\x08" + settings + _h2frame(1, 0x1, 5, block[:7]) + _h2frame(9, 0x4, 5, block[7:]),
        b"\x01" + settings + _h2frame(6, 0, 0, b"12345678") +
        _h2frame(8, 0, 0, b"\x00\x01\x00\x00") + _h2get(1, b"/x", [(b"te", b"trailers")]),
        b"\x20" + settings + _h2get(1) + _h2get(3, b"*") + _h2frame(7, 0, 0, b"\x00" * 8),
        b"\x03" + settings + _h2frame(1, 0x5, 1, _hpack([(b":method", b"CONNECT"),
                                                          (b":authority", b"x.example:443")])),
    ]


def write(target, seeds, prefix="seed"):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if name.startswith(prefix + "-"):
            os.unlink(os.path.join(d, name))
    for i, s in enumerate(seeds):
        with open(os.path.join(d, f"{prefix}-{i:03d}"), "wb") as f:
            f.write(s)
    print(f"{target}: {len(seeds)} {prefix} files")


def main():
    write("http1_request", HTTP1)
    write("http1_response", HTTP1_RESPONSE)
    write("chunked", CHUNKED)
    write("config", config_seeds())
    write("clienthello", clienthello_seeds())
    write("clienthello", limit_seeds(), "limit")
    write("pem", PEM)
    write("h2_session", h2_seeds())


if __name__ == "__main__":
    main()
