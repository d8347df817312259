#!/usr/bin/env python3
"""The response side of HTTP/1.1 as RFC 9110/9112 and the peers expect it:

  - a request that met a dead pooled upstream connection is replayed only when that is
    safe: idempotent method (RFC 9110 9.2.2) and no body consumed; else 502, counted;
  - interim responses are relayed whole (103 Early Hints with its Link fields, 102 with
    its reason, several in a row) and an empty line after one (aiohttp) is tolerated;
  - upstream responses have their own limits (max_response_head_size,
    max_response_headers), apart from the request limits (431);
  - response trailers reach a client that sent "TE: trailers" and no other.

The peers were run on the same cases (HAProxy 2.6, nginx 1.22, see PeerComparison and
the notes at each test)."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402


class Base(h.TestCase):
    @classmethod
    def make_certs(cls):
        cls.certs = h.Certs(os.path.join(cls.class_tmp(), "certs"))
        cls.pair = cls.certs.gen(["a.test"])

    @classmethod
    def conf(cls, port, servers, proxy=None):
        s = h.site("a", ["a.test"], [cls.pair["rsa"], cls.pair["ecdsa"]], "up")
        return h.config(port, [s], {"up": servers}, proxy)

    def conn(self, port, timeout=20.0):
        return h.HttpConn(port, "a.test", self.certs.ca, timeout=timeout)


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


class NoReplay(Base):
    """The upstream answers one request per connection and closes under the next one
    (upstream.py --answers 1): the request after a pooled response meets a dead
    connection after it was written. The upstream reads (and records) that request before
    it closes, as an origin that processed it and died would: the record shows how many
    times the origin saw it. Each test starts its own pair: the pool is the subject.
    (nginx agrees: proxy_next_upstream passes no non-idempotent request on unless told
    non_idempotent; HAProxy retries only failed connects by default.)"""

    @classmethod
    def setUpEnv(cls):
        cls.make_certs()

    def setup_pair(self):
        self.up = self.start_upstream(record=True, args=["--answers", "1"])
        self.port = h.free_port()
        self.admin_port = h.free_port()
        conf = self.conf(self.port, [self.up.addr],
                         {"admin": "127.0.0.1:%d" % self.admin_port})
        self.start_twofold(conf, port=self.port, name="a.test")

    def metrics(self):
        url = "http://127.0.0.1:%d/metrics" % self.admin_port
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.read().decode()

    def second_request(self, method, path, body=None, headers=()):
        """A first GET pools the upstream connection; then method path on the same client
        connection. Returns the second response."""
        self.setup_pair()
        with self.conn(self.port) as c:
            self.assertEqual(c.request("GET", "/bytes?n=3", "a.test").status, 200)
            return c.request(method, path, "a.test", body=body, headers=headers)

    def recorded_count(self, line):
        return self.up.recorded().count(line)

    def test_post_empty_body_not_replayed(self):
        # Before the fix the POST went out twice (once on the dead connection, once on a
        # fresh one) and the client got 200: the origin had processed it twice.
        r = self.second_request("POST", "/echo", body=b"")
        self.assertEqual(r.status, 502, r)
        self.assertEqual(self.recorded_count(b"POST /echo HTTP/1.1\r\n"), 1)
        m = self.metrics()
        self.assertEqual(metric(m, "twofold_upstream_retries_refused_total"), 1, m)
        self.assertEqual(metric(m, "twofold_upstream_retries_total"), 0, m)

    def test_patch_without_body_not_replayed(self):
        r = self.second_request("PATCH", "/echo")
        self.assertEqual(r.status, 502, r)
        self.assertEqual(self.recorded_count(b"PATCH /echo HTTP/1.1\r\n"), 1)

    def test_put_with_consumed_body_not_replayed(self):
        # PUT is idempotent, but its body was consumed: it cannot be sent again.
        r = self.second_request("PUT", "/echo", body=b"x" * 100)
        self.assertEqual(r.status, 502, r)
        self.assertEqual(self.recorded_count(b"PUT /echo HTTP/1.1\r\n"), 1)
        self.assertEqual(metric(self.metrics(), "twofold_upstream_retries_refused_total"), 1)

    def test_get_retried(self):
        r = self.second_request("GET", "/bytes?n=7")
        self.assertEqual((r.status, r.body), (200, h.pattern(7)), r)
        self.assertEqual(self.recorded_count(b"GET /bytes?n=7 HTTP/1.1\r\n"), 2)
        m = self.metrics()
        self.assertEqual(metric(m, "twofold_upstream_retries_total"), 1, m)
        self.assertEqual(metric(m, "twofold_upstream_retries_refused_total"), 0, m)

    def test_delete_retried(self):
        r = self.second_request("DELETE", "/echo")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.recorded_count(b"DELETE /echo HTTP/1.1\r\n"), 2)


class Interim(Base):
    """Interim (1xx) responses sent as raw bytes by upstream.py /interim."""

    @classmethod
    def setUpEnv(cls):
        cls.make_certs()
        cls.up = cls.class_upstream()
        cls.port = h.free_port()
        cls.tf = cls.class_twofold(cls.conf(cls.port, [cls.up.addr]), port=cls.port,
                                   name="a.test")

    def heads(self, path, client_version="HTTP/1.1"):
        """Every head the client receives for GET path, then the final body."""
        with self.conn(self.port) as c:
            c.send(("GET %s %s\r\nHost: a.test\r\n\r\n" % (path, client_version)).encode())
            heads = []
            while True:
                r = c.read_head()
                heads.append(r)
                if r.status >= 200:
                    break
            body = c.read_exact(int(r.header("Content-Length")))
        return heads, body

    LINKS = ["</style.css>; rel=preload; as=style", "</app.js>; rel=preload; as=script"]

    def test_early_hints_with_link_fields(self):
        # Before: "HTTP/1.1 103 Early Hints" without a single field (RFC 8297: the Link
        # fields are the point of 103).
        heads, body = self.heads("/interim?codes=103")
        self.assertEqual([(r.status, r.reason) for r in heads],
                         [(103, "Early Hints"), (200, "OK")])
        self.assertEqual(heads[0].header_all("Link"), self.LINKS)
        self.assertEqual(body, b"final\n")

    def test_processing_and_several_interims(self):
        # Before: "102 Unknown".
        heads, body = self.heads("/interim?codes=102,103,100")
        self.assertEqual([(r.status, r.reason) for r in heads],
                         [(102, "Processing"), (103, "Early Hints"), (100, "Continue"),
                          (200, "OK")])
        self.assertEqual(heads[1].header_all("Link"), self.LINKS)
        self.assertEqual(body, b"final\n")

    def test_empty_line_after_interim_tolerated(self):
        # aiohttp writes an empty line after "100 Continue". Before: 502. HAProxy 2.6
        # tolerates it too (PeerComparison).
        heads, body = self.heads("/interim?codes=100,103&blank=1")
        self.assertEqual([r.status for r in heads], [100, 103, 200])
        self.assertEqual(body, b"final\n")

    def test_http10_client_gets_no_interim(self):
        # RFC 9110 15.2: no 1xx to an HTTP/1.0 client.
        heads, body = self.heads("/interim?codes=102,103", "HTTP/1.0")
        self.assertEqual([r.status for r in heads], [200])
        self.assertEqual(body, b"final\n")

    def test_curl_shows_early_hints(self):
        r = h.curl(self.port, "a.test", "/interim?codes=103", self.certs.ca)
        self.assertEqual((r.rc, r.status), (0, 200), r.err)
        err = r.err
        self.assertIn("< HTTP/1.1 103 Early Hints", err)
        for link in self.LINKS:
            self.assertIn("< Link: %s" % link, err)
        self.assertEqual(r.body, b"final\n")


def read_chunked_with_trailers(c):
    """(body, [(name, value)] trailers) of a chunked body on HttpConn c."""
    out = []
    while True:
        n = int(c.read_line().split(b";")[0].strip(), 16)
        if n == 0:
            break
        out.append(c.read_exact(n))
        c.read_exact(2)
    trailers = []
    while True:
        line = c.read_line()
        if line == b"\r\n":
            return b"".join(out), trailers
        k, _, v = line.decode("latin-1").partition(":")
        trailers.append((k.strip(), v.strip()))


class ResponseLimits(Base):
    """max_response_headers / max_response_head_size, and trailers."""

    @classmethod
    def setUpEnv(cls):
        cls.make_certs()
        cls.up = cls.class_upstream()
        cls.port = h.free_port()
        # request limits set low on purpose: they must not apply to responses;
        # max_response_head_size keeps its default (64k), max_response_headers is set
        conf = cls.conf(cls.port, [cls.up.addr], {"max_headers": "50", "max_head_size": "8k",
                                                   "max_response_headers": "150"})
        cls.tf = cls.class_twofold(conf, port=cls.port, name="a.test")

    def get(self, path, headers=()):
        with self.conn(self.port) as c:
            return c.request("GET", path, "a.test", headers=headers)

    def test_120_set_cookie_fields(self):
        # Before: 502 (the response was held to max_headers = 100, a request limit).
        # HAProxy 2.6 answers 502 here too (tune.http.maxhdr 101); nginx 1.22 passes it
        # (its limit is proxy_buffer_size bytes): twofold sides with the application.
        r = self.get("/fields?n=120")
        self.assertEqual(r.status, 200, r)
        cookies = r.header_all("Set-Cookie")
        self.assertEqual(len(cookies), 120)
        self.assertEqual(cookies[119], "c119=".ljust(16, "x"))

    def test_response_head_of_60k(self):
        # 140 fields of 430 bytes: ~61 KiB, under the 64 KiB default.
        r = self.get("/fields?n=140&size=430&name=X-Big")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.header_all("X-Big")), 140)

    def test_over_max_response_headers_502(self):
        # n fields plus the upstream's Content-Length: 150 fields pass, 151 do not
        self.assertEqual(self.get("/fields?n=149").status, 200)
        self.assertEqual(self.get("/fields?n=150").status, 502)

    def test_over_max_response_head_size_502(self):
        # 140 fields of 480 bytes: ~68 KiB
        self.assertEqual(self.get("/fields?n=140&size=480&name=X-Big").status, 502)

    def test_request_limits_unchanged(self):
        hdrs = [("X-F%d" % i, "v") for i in range(51)]
        self.assertEqual(self.get("/bytes?n=1", hdrs).status, 431)

    def trailers(self, te):
        headers = [("TE", te)] if te else []
        with self.conn(self.port) as c:
            c.send(h.request_bytes("GET", "/trailers", "a.test", headers=headers))
            r = c.read_head()
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.tokens("transfer-encoding"), ["chunked"])
            body, trailers = read_chunked_with_trailers(c)
            # the connection stays usable after the trailer section
            self.assertEqual(c.request("GET", "/bytes?n=2", "a.test").body, h.pattern(2))
        return r, json.loads(body), trailers

    def test_trailers_relayed_when_client_sent_te_trailers(self):
        # Before: trailers dropped, and TE never reached the upstream. TE is hop-by-hop,
        # but "trailers" says "I do not discard trailers", which holds for twofold exactly
        # when it holds for its client: so it is forwarded as "TE: trailers" then, and only
        # then (HAProxy 2.6 does the same; nginx 1.22 drops TE and trailers alike).
        r, doc, trailers = self.trailers("trailers")
        self.assertEqual(trailers, [("X-Checksum", "abc123"), ("X-Done", "yes")])
        te = [v for k, v in doc["headers"] if k.lower() == "te"]
        self.assertEqual(te, ["trailers"])

    def test_te_other_codings_not_forwarded(self):
        # Only the "trailers" member goes on; transfer codings offered by the client are
        # between the client and twofold.
        r, doc, trailers = self.trailers("gzip;q=0.5, trailers")
        self.assertEqual([v for k, v in doc["headers"] if k.lower() == "te"], ["trailers"])
        self.assertEqual(len(trailers), 2)

    def test_trailers_dropped_without_te(self):
        # RFC 9110 6.5.1: trailers may be discarded; without "TE: trailers" the client did
        # not say it would process them. (HAProxy relays them regardless.)
        r, doc, trailers = self.trailers(None)
        self.assertEqual(trailers, [])
        self.assertEqual([v for k, v in doc["headers"] if k.lower() == "te"], [])

    def test_http10_client_gets_no_trailers(self):
        with self.conn(self.port) as c:
            c.send(b"GET /trailers HTTP/1.0\r\nHost: a.test\r\nTE: trailers\r\n\r\n")
            data = c.read_to_eof()
        self.assertIn(b"\r\n\r\n{", data)
        self.assertNotIn(b"X-Checksum", data)


class PeerComparison(Base):
    """HAProxy 2.6 on the cases where the behaviour is an RFC reading: the empty line after
    an interim response and TE: trailers. (nginx 1.22 relays no 1xx at all and strips TE,
    so it is no reference here.)"""

    @classmethod
    def setUpEnv(cls):
        cls.make_certs()

    def start_haproxy(self, upstream):
        port = h.free_port()
        path = os.path.join(self.tmp, "haproxy.cfg")
        with open(path, "w") as f:
            f.write("defaults\n  mode http\n  timeout connect 5s\n  timeout client 10s\n"
                    "  timeout server 10s\nfrontend f\n  bind 127.0.0.1:%d\n"
                    "  default_backend b\nbackend b\n  server s1 %s\n" % (port, upstream.addr))
        self.track(h.Proc("haproxy", ["haproxy", "-db", "-f", path], self.tmp))
        deadline = time.monotonic() + 10
        while not h.port_accepts(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        return port

    def test_haproxy_agrees(self):
        if subprocess.run(["which", "haproxy"], capture_output=True).returncode != 0:
            self.skipTest("haproxy not installed")
        up = self.start_upstream()
        port = self.start_haproxy(up)
        with h.HttpConn(port, tls=False) as c:
            c.send(b"GET /interim?codes=100,103&blank=1 HTTP/1.1\r\nHost: a.test\r\n\r\n")
            statuses = [c.read_head().status for _ in range(3)]
            self.assertEqual(statuses, [100, 103, 200])
            c.read_exact(6)
            c.send(h.request_bytes("GET", "/trailers", "a.test", headers=[("TE", "trailers")]))
            c.read_head()
            body, trailers = read_chunked_with_trailers(c)
        te = [v for k, v in json.loads(body)["headers"] if k.lower() == "te"]
        self.assertEqual(te, ["trailers"])
        self.assertEqual([k.lower() for k, v in trailers], ["x-checksum", "x-done"])


if __name__ == "__main__":
    h.main()
