/* px_h1 serialisation: exact bytes of rewritten request and response heads (hop-by-hop
 * removal, forwarding fields, canonical framing), chunk framing, error responses, px_buf;
 * and re-parsing what was written gives the same message. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <llhttp.h>

#include "px_http1.h"
#include "tt.h"

struct cap {
    struct px_h1_head head;
    int heads, ends;
    struct px_buf body;
};

static int cap_head(void *ud, const struct px_h1_head *h)
{
    struct cap *c = ud;
    c->head = *h; /* pointers stay valid until the parser resumes or is freed */
    c->heads++;
    return 0;
}

static int cap_body(void *ud, const char *p, size_t n)
{
    return px_buf_append(&((struct cap *)ud)->body, p, n);
}

static int cap_end(void *ud)
{
    ((struct cap *)ud)->ends++;
    return 0;
}

static const struct px_h1_callbacks cb = {cap_head, cap_body, cap_end, NULL};

/* Trailer fields re-written the way the relay does (into the cap's body buffer). */
static int cap_trailer(void *ud, const struct px_h1_header *f)
{
    struct cap *c = ud;
    if (c->ends++ == 0 && px_h1_chunk_last_open(&c->body) != 0)
        return -1;
    return px_h1_trailer_write(&c->body, f);
}
static const struct px_h1_limits lim = {1024, 8192, 64};

/* Parses one message (in[0..len)); the caller frees the parser after using c->head. */
static struct px_h1_parser *parse(enum px_h1_kind kind, int method, const char *in, size_t len,
                                  struct cap *c)
{
    memset(c, 0, sizeof(*c));
    struct px_h1_parser *p = px_h1_parser_new(kind, &lim, &cb, c);
    if (kind == PX_H1_RESPONSE)
        px_h1_expect_response_to(p, method);
    size_t used = 0;
    int rc = px_h1_feed(p, in, len, &used);
    if (rc == PX_H1_OK)
        rc = px_h1_finish(p);
    if (rc < 0)
        fprintf(stderr, "parse failed: %d %s\n", px_h1_error_status(p), px_h1_error_reason(p));
    CHECK(rc >= 0);
    CHECK_INT(c->heads, 1);
    return p;
}

static const struct px_h1_forward fwd = {.client_addr = "192.0.2.7", .proto = "https"};

static void expect_request(const char *in, const struct px_h1_forward *f, const char *want,
                           int line)
{
    struct cap c;
    struct px_h1_parser *p = parse(PX_H1_REQUEST, 0, in, strlen(in), &c);
    struct px_buf out = {0};
    CHECK_INT(px_h1_request_head_write(&c.head, f, &out), 0);
    if (!out.data || strcmp(out.data, want) != 0)
        fprintf(stderr, "request case at line %d\n", line);
    CHECK_STR(out.data, want);
    CHECK_INT(out.len, strlen(want));
    px_buf_free(&out);
    px_buf_free(&c.body);
    px_h1_parser_free(p);
}

static void test_request_heads(void)
{
    expect_request("GET /p?q=1 HTTP/1.1\r\n"
                   "Host: app.example\r\n"
                   "Connection: keep-alive, X-Secret , close\r\n"
                   "Keep-Alive: timeout=5\r\n"
                   "X-Secret: s\r\n"
                   "Proxy-Connection: keep-alive\r\n"
                   "TE: gzip\r\n"
                   "Trailer: X-T\r\n"
                   "Upgrade: h2c\r\n"
                   "Accept: */*\r\n"
                   "X-Forwarded-For: 198.51.100.1\r\n"
                   "X-Forwarded-Proto: http\r\n"
                   "X-Forwarded-Host: evil.example\r\n"
                   "x-forwarded-for: 198.51.100.2, 198.51.100.3\r\n"
                   "\r\n",
                   &fwd,
                   "GET /p?q=1 HTTP/1.1\r\n"
                   "Host: app.example\r\n"
                   "Accept: */*\r\n"
                   "X-Forwarded-For: 198.51.100.1, 198.51.100.2, 198.51.100.3, 192.0.2.7\r\n"
                   "X-Forwarded-Proto: https\r\n"
                   "X-Forwarded-Host: app.example\r\n"
                   "Connection: keep-alive\r\n"
                   "\r\n",
                   __LINE__);
    /* Framing re-emitted canonically; HTTP/1.0 goes out as HTTP/1.1, so a 1.0 client's
     * (meaningless) Expect is dropped rather than turned on at the upstream. */
    expect_request(
        "PUT /u HTTP/1.0\r\nHost: h\r\ncontent-length: 007\r\nExpect: 100-continue\r\n\r\n"
        "1234567",
        &fwd,
        "PUT /u HTTP/1.1\r\nHost: h\r\n"
        "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
        "X-Forwarded-Host: h\r\nContent-Length: 7\r\nConnection: keep-alive\r\n\r\n",
        __LINE__);
    /* "TE: trailers" is offered upstream in the proxy's name, as a connection option (RFC
     * 9110 10.1.4); the client's transfer codings are not; HTTP/1.0 has no TE. */
    expect_request("GET /g HTTP/1.1\r\nHost: h\r\nTE: gzip;q=0.5, Trailers\r\n"
                   "Connection: TE\r\n\r\n",
                   &fwd,
                   "GET /g HTTP/1.1\r\nHost: h\r\n"
                   "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
                   "X-Forwarded-Host: h\r\nTE: trailers\r\nConnection: te, keep-alive\r\n\r\n",
                   __LINE__);
    expect_request("GET /g HTTP/1.0\r\nHost: h\r\nTE: trailers\r\n\r\n", &fwd,
                   "GET /g HTTP/1.1\r\nHost: h\r\n"
                   "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
                   "X-Forwarded-Host: h\r\nConnection: keep-alive\r\n\r\n",
                   __LINE__);
    /* Expect kept from an HTTP/1.1 client. */
    expect_request(
        "PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\nx", &fwd,
        "PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
        "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
        "X-Forwarded-Host: h\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n",
        __LINE__);
    expect_request("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\nX-A: 1\r\n\r\n"
                   "0\r\n\r\n",
                   &fwd,
                   "POST /c HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-Forwarded-For: 192.0.2.7\r\n"
                   "X-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\n"
                   "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
                   __LINE__);
    /* Upgrading: Upgrade kept, Connection: upgrade. */
    expect_request("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                   "Sec-WebSocket-Key: k==\r\n\r\n",
                   &fwd,
                   "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k==\r\n"
                   "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
                   "X-Forwarded-Host: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
                   __LINE__);
    /* HTTP/1.0 without Host: the absolute-form authority (the target goes upstream in
     * origin-form), else the configured fallback. */
    const struct px_h1_forward fb = {.client_addr = "192.0.2.7", .host = "backend"};
    expect_request("GET http://Origin.example/x HTTP/1.0\r\nA: 1\r\n\r\n", &fb,
                   "GET /x HTTP/1.1\r\nHost: Origin.example\r\nA: 1\r\n"
                   "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
                   "X-Forwarded-Host: Origin.example\r\nConnection: keep-alive\r\n\r\n",
                   __LINE__);
    expect_request("GET /x HTTP/1.0\r\nA: 1\r\n\r\n", &fb,
                   "GET /x HTTP/1.1\r\nHost: backend\r\nA: 1\r\n"
                   "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
                   "Connection: keep-alive\r\n\r\n",
                   __LINE__);
    /* "Connection: host" does not strip Host; no client address and no XFF: none sent. */
    const struct px_h1_forward nofwd = {0};
    expect_request("GET / HTTP/1.1\r\nHost: h\r\nConnection: host, x-forwarded-for\r\n\r\n", &nofwd,
                   "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\n"
                   "X-Forwarded-Host: h\r\nConnection: keep-alive\r\n\r\n",
                   __LINE__);
}

#define REQ(in, f, want) expect_request(in, f, want, __LINE__)
#define XF(host)                                                                                   \
    "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: " host "\r\n"
#define KA "Connection: keep-alive\r\n\r\n"

/* Gateway duties: Via (RFC 9110 7.6.3), Max-Forwards (7.6.2), absolute-form targets (RFC
 * 9112 3.2.2), h2c upgrades over TLS (RFC 9113 3.1), extension methods (RFC 9110 9.1). */
static void test_gateway(void)
{
    const struct px_h1_forward via = {
        .client_addr = "192.0.2.7", .proto = "https", .via = "twofold"};
    /* Via: appended to the received values, with the received version. */
    REQ("GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 a\r\nX: 1\r\nvia: 1.1 b (c)\r\n\r\n", &via,
        "GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\n" XF(
            "h") "Via: 1.0 a, 1.1 b (c), 1.1 twofold\r\n" KA);
    REQ("GET / HTTP/1.0\r\nHost: h\r\n\r\n", &via,
        "GET / HTTP/1.1\r\nHost: h\r\n" XF("h") "Via: 1.0 twofold\r\n" KA);
    /* No pseudonym (via = off): Via passes as received. */
    REQ("GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 a\r\n\r\n", &fwd,
        "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 a\r\n" XF("h") KA);
    /* Max-Forwards: decremented for OPTIONS and TRACE, in place; other methods: as is. */
    REQ("OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: 10\r\nX: 1\r\n\r\n", &fwd,
        "OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: 9\r\nX: 1\r\n" XF("h") KA);
    REQ("TRACE /t HTTP/1.1\r\nHost: h\r\nMax-Forwards: 1\r\n\r\n", &fwd,
        "TRACE /t HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n" XF("h") KA);
    REQ("TRACE /t HTTP/1.1\r\nHost: h\r\nMax-Forwards: 99999999999999999999999\r\n\r\n", &fwd,
        "TRACE /t HTTP/1.1\r\nHost: h\r\nMax-Forwards: 18446744073709551614\r\n" XF("h") KA);
    REQ("GET / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n", &fwd,
        "GET / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n" XF("h") KA);
    /* Absolute-form: the authority replaces Host; origin-form goes upstream. */
    REQ("GET http://B.test:8443/p?q=1 HTTP/1.1\r\nX: 1\r\nHost: a.test\r\n\r\n", &fwd,
        "GET /p?q=1 HTTP/1.1\r\nHost: B.test:8443\r\nX: 1\r\n" XF("B.test:8443") KA);
    REQ("GET https://b.test?q HTTP/1.1\r\nHost: b.test\r\n\r\n", &fwd,
        "GET /?q HTTP/1.1\r\nHost: b.test\r\n" XF("b.test") KA);
    REQ("GET http://b.test HTTP/1.1\r\nHost: b.test\r\n\r\n", &fwd,
        "GET / HTTP/1.1\r\nHost: b.test\r\n" XF("b.test") KA);
    REQ("OPTIONS http://b.test HTTP/1.1\r\nHost: a.test\r\n\r\n", &fwd,
        "OPTIONS * HTTP/1.1\r\nHost: b.test\r\n" XF("b.test") KA);
    REQ("OPTIONS http://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", &fwd,
        "OPTIONS / HTTP/1.1\r\nHost: b.test\r\n" XF("b.test") KA);
    /* h2c over TLS is no upgrade: Upgrade, HTTP2-Settings and their Connection tokens go;
     * the request is served as plain HTTP/1.1. Other offered protocols stay. */
    REQ("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        &fwd, "GET / HTTP/1.1\r\nHost: h\r\n" XF("h") KA);
    REQ("GET / HTTP/1.1\r\nHost: h\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", &fwd,
        "GET / HTTP/1.1\r\nHost: h\r\n" XF("h") KA);
    REQ("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c, websocket\r\n\r\n",
        &fwd,
        "GET /ws HTTP/1.1\r\nHost: h\r\n" XF(
            "h") "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    /* Extension methods go upstream as received, lower case included. */
    REQ("QUERY /q HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab", &fwd,
        "QUERY /q HTTP/1.1\r\nHost: h\r\n" XF("h") "Content-Length: 2\r\n" KA);
    REQ("get / HTTP/1.1\r\nHost: h\r\n\r\n", &fwd, "get / HTTP/1.1\r\nHost: h\r\n" XF("h") KA);
}

/* The proxy's own answers at Max-Forwards: 0. */
static void expect_local(const char *in, bool close, const char *want, int line)
{
    struct cap c;
    struct px_h1_parser *p = parse(PX_H1_REQUEST, 0, in, strlen(in), &c);
    CHECK(px_h1_local_answer(&c.head));
    struct px_buf out = {0};
    CHECK_INT(px_h1_local_answer_write(&c.head, close, &out), 0);
    if (!out.data || strcmp(out.data, want) != 0)
        fprintf(stderr, "local answer case at line %d\n", line);
    CHECK_STR(out.data, want);
    /* Content-Length is the body's length. */
    const char *cl = strstr(out.data, "Content-Length: "), *body = strstr(out.data, "\r\n\r\n");
    CHECK(cl && body && strtoul(cl + 16, NULL, 10) == strlen(body + 4));
    px_buf_free(&out);
    px_buf_free(&c.body);
    px_h1_parser_free(p);
}

static void test_local_answers(void)
{
    expect_local("OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n", false,
                 "HTTP/1.1 200 OK\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH\r\n"
                 "Content-Length: 0\r\n\r\n",
                 __LINE__);
    expect_local("OPTIONS /x HTTP/1.0\r\nMax-Forwards: 00\r\nConnection: keep-alive\r\n\r\n", false,
                 "HTTP/1.1 200 OK\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH\r\n"
                 "Content-Length: 0\r\nConnection: keep-alive\r\n\r\n",
                 __LINE__);
    /* TRACE echoes the head as received, without credentials (RFC 9110 9.3.8). */
    expect_local(
        "TRACE /t?x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\nAuthorization: Basic eA==\r\n"
        "X-A:  a b \r\nCookie: s=1\r\nproxy-authorization: x\r\nVia: 1.1 p\r\n\r\n",
        true,
        "HTTP/1.1 200 OK\r\nContent-Type: message/http\r\nContent-Length: 71\r\n"
        "Connection: close\r\n\r\n"
        "TRACE /t?x HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\nX-A: a b\r\nVia: 1.1 p\r\n\r\n",
        __LINE__);
    /* Not at 0, or not OPTIONS / TRACE: forwarded. */
    static const char *const fwd_cases[] = {
        "OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: 1\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nMax-Forwards: 0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof fwd_cases / sizeof fwd_cases[0]; i++) {
        struct cap c;
        struct px_h1_parser *p = parse(PX_H1_REQUEST, 0, fwd_cases[i], strlen(fwd_cases[i]), &c);
        CHECK(!px_h1_local_answer(&c.head));
        px_buf_free(&c.body);
        px_h1_parser_free(p);
    }
}

static void expect_response(int method, const char *in, bool close, int client_minor,
                            enum px_h1_body framing, const char *want, int line)
{
    struct cap c;
    struct px_h1_parser *p = parse(PX_H1_RESPONSE, method, in, strlen(in), &c);
    struct px_buf out = {0};
    CHECK_INT(px_h1_response_head_write(&c.head, close, client_minor, &out), 0);
    if (!out.data || strcmp(out.data, want) != 0)
        fprintf(stderr, "response case at line %d\n", line);
    CHECK_STR(out.data, want);
    CHECK_INT(px_h1_response_framing(&c.head, client_minor), framing);
    px_buf_free(&out);
    px_buf_free(&c.body);
    px_h1_parser_free(p);
}

#define RESP(m, in, close, minor, fr, want) expect_response(m, in, close, minor, fr, want, __LINE__)

static void test_response_heads(void)
{
    const char *hop = "Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\n"
                      "Proxy-Connection: x\r\nTrailer: X-T\r\nUpgrade: h2\r\n";
    char in[512];
    snprintf(in, sizeof(in), "HTTP/1.1 200 Fine\r\nServer: s\r\n%sContent-Length: 3\r\n\r\nabc",
             hop);
    RESP(HTTP_GET, in, false, 1, PX_H1_BODY_LENGTH,
         "HTTP/1.1 200 Fine\r\nServer: s\r\nContent-Length: 3\r\n\r\n");
    RESP(HTTP_GET, in, false, 0, PX_H1_BODY_LENGTH,
         "HTTP/1.1 200 Fine\r\nServer: s\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n");
    RESP(HTTP_GET, in, true, 1, PX_H1_BODY_LENGTH,
         "HTTP/1.1 200 Fine\r\nServer: s\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
    /* "Connection: close" names a field called "close" too (found by fuzzing). */
    RESP(HTTP_GET,
         "HTTP/1.1 200 OK\r\nConnection: close\r\nclose: 1\r\nX: 2\r\n"
         "Content-Length: 0\r\n\r\n",
         false, 1, PX_H1_BODY_LENGTH, "HTTP/1.1 200 OK\r\nX: 2\r\nContent-Length: 0\r\n\r\n");
    /* chunked and EOF bodies: chunked to HTTP/1.1 clients, unframed + close to 1.0 ones */
    const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: 1\r\n\r\n0\r\n\r\n";
    RESP(HTTP_GET, chunked, false, 1, PX_H1_BODY_CHUNKED,
         "HTTP/1.1 200 OK\r\nX: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
    RESP(HTTP_GET, chunked, false, 0, PX_H1_BODY_EOF,
         "HTTP/1.1 200 OK\r\nX: 1\r\nConnection: close\r\n\r\n");
    const char *eof = "HTTP/1.0 200 OK\r\nX: 1\r\n\r\nall of it";
    RESP(HTTP_GET, eof, false, 1, PX_H1_BODY_CHUNKED,
         "HTTP/1.1 200 OK\r\nX: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
    RESP(HTTP_GET, eof, false, 0, PX_H1_BODY_EOF,
         "HTTP/1.1 200 OK\r\nX: 1\r\nConnection: close\r\n\r\n");
    /* HEAD answer: the upstream's Content-Length passes through, nothing else added. */
    RESP(HTTP_HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: \"e\"\r\n\r\n", false, 1,
         PX_H1_BODY_NONE, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: \"e\"\r\n\r\n");
    RESP(HTTP_HEAD, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, 1,
         PX_H1_BODY_NONE, "HTTP/1.1 200 OK\r\n\r\n");
    /* 204 / 304: no framing at all. */
    RESP(HTTP_GET, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false, 1,
         PX_H1_BODY_NONE, "HTTP/1.1 204 No Content\r\n\r\n");
    RESP(HTTP_GET, "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 9\r\n\r\n", true, 1,
         PX_H1_BODY_NONE, "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nConnection: close\r\n\r\n");
    /* Empty reason: the standard text. Interim and 101. */
    RESP(HTTP_GET, "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", false, 1, PX_H1_BODY_LENGTH,
         "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    RESP(HTTP_POST, "HTTP/1.1 100 Continue\r\n\r\n", false, 1, PX_H1_BODY_NONE,
         "HTTP/1.1 100 Continue\r\n\r\n");
    /* Interim heads keep their fields (103's Link, RFC 8297), lose hop-by-hop ones, and get
     * no framing or Connection field; 102's text is "Processing". */
    RESP(HTTP_GET,
         "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nConnection: X-Hop\r\n"
         "X-Hop: 1\r\nLink: </b.js>; rel=preload\r\n\r\n",
         true, 1, PX_H1_BODY_NONE,
         "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"
         "Link: </b.js>; rel=preload\r\n\r\n");
    RESP(HTTP_GET, "HTTP/1.1 102 \r\n\r\n", false, 1, PX_H1_BODY_NONE,
         "HTTP/1.1 102 Processing\r\n\r\n");
    RESP(HTTP_GET,
         "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Accept: a=\r\n\r\n",
         false, 1, PX_H1_BODY_NONE,
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: a=\r\n"
         "Connection: upgrade\r\n\r\n");

    /* A hand-made bodiless 200 (not a HEAD answer) says Content-Length: 0. */
    struct px_h1_head h = {.status = 200,
                           .http_major = 1,
                           .http_minor = 1,
                           .body = PX_H1_BODY_NONE,
                           .method_id = HTTP_GET};
    struct px_buf out = {0};
    CHECK_INT(px_h1_response_head_write(&h, false, 1, &out), 0);
    CHECK_STR(out.data, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    px_buf_free(&out);
}

/* Re-chunk a decoded body the way the relay does. */
static void rechunk(struct px_buf *out, const char *p, size_t n, size_t piece)
{
    for (size_t off = 0; off < n; off += piece) {
        size_t k = n - off < piece ? n - off : piece;
        CHECK_INT(px_h1_chunk_begin(out, k), 0);
        CHECK_INT(px_buf_append(out, p + off, k), 0);
        CHECK_INT(px_h1_chunk_end(out), 0);
    }
    CHECK_INT(px_h1_chunk_last(out), 0);
}

/* What is written parses back to the same message. */
static void test_reparse(void)
{
    const char *in = "POST /up?x=1 HTTP/1.1\r\nHost: h.example\r\nTransfer-Encoding: chunked\r\n"
                     "Connection: X-Drop\r\nX-Drop: 1\r\nX-Keep: 2\r\n\r\n"
                     "4;a=b\r\nwiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\n";
    struct cap c, d;
    struct px_h1_parser *p = parse(PX_H1_REQUEST, 0, in, strlen(in), &c);
    CHECK_STR(c.body.data, "wikipedia in\r\n\r\nchunks.");
    struct px_buf out = {0};
    CHECK_INT(px_h1_request_head_write(&c.head, &fwd, &out), 0);
    rechunk(&out, c.body.data, c.body.len, 10);
    struct px_h1_parser *q = parse(PX_H1_REQUEST, 0, out.data, out.len, &d);
    CHECK_INT(d.ends, 1);
    CHECK_STR(d.body.data, c.body.data);
    CHECK_INT(d.head.body, PX_H1_BODY_CHUNKED);
    CHECK_INT(d.head.method_id, HTTP_POST);
    CHECK(d.head.target_len == c.head.target_len &&
          memcmp(d.head.target, c.head.target, c.head.target_len) == 0);
    CHECK(d.head.keep_alive);
    CHECK(d.head.host_len == 9 && memcmp(d.head.host, "h.example", 9) == 0);
    bool drop = false, keep = false;
    for (unsigned i = 0; i < d.head.n_headers; i++) {
        drop |= d.head.headers[i].name_len == 6 && memcmp(d.head.headers[i].name, "X-Drop", 6) == 0;
        keep |= d.head.headers[i].name_len == 6 && memcmp(d.head.headers[i].name, "X-Keep", 6) == 0;
    }
    CHECK(!drop && keep);
    px_h1_parser_free(q);
    px_h1_parser_free(p);
    px_buf_free(&out);
    px_buf_free(&c.body);
    px_buf_free(&d.body);

    /* An EOF-delimited response re-chunked for an HTTP/1.1 client. */
    const char *resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close";
    p = parse(PX_H1_RESPONSE, HTTP_GET, resp, strlen(resp), &c);
    CHECK_INT(c.head.body, PX_H1_BODY_EOF);
    CHECK_INT(px_h1_response_head_write(&c.head, false, 1, &out), 0);
    rechunk(&out, c.body.data, c.body.len, 4);
    q = parse(PX_H1_RESPONSE, HTTP_GET, out.data, out.len, &d);
    CHECK_INT(d.ends, 1);
    CHECK_INT(d.head.body, PX_H1_BODY_CHUNKED);
    CHECK(d.head.keep_alive);
    CHECK_STR(d.body.data, "until close");
    px_h1_parser_free(q);
    px_h1_parser_free(p);
    px_buf_free(&out);
    px_buf_free(&c.body);
    px_buf_free(&d.body);
}

static void test_chunks(void)
{
    struct px_buf b = {0};
    CHECK_INT(px_h1_chunk_begin(&b, 26), 0);
    CHECK_INT(px_h1_chunk_end(&b), 0);
    CHECK_INT(px_h1_chunk_begin(&b, 4096), 0);
    CHECK_INT(px_h1_chunk_last(&b), 0);
    CHECK_STR(b.data, "1a\r\n\r\n1000\r\n0\r\n\r\n");
    CHECK_INT(px_h1_chunk_begin(&b, 0), -EINVAL);
    CHECK_INT(b.len, strlen("1a\r\n\r\n1000\r\n0\r\n\r\n")); /* unchanged */
    px_buf_free(&b);
}

static void test_local_head(void)
{
    struct px_buf b = {0};
    CHECK_INT(px_h1_local_head_write(200, "application/json", 12, "Cache-Control: no-store\r\n",
                                     true, &b),
              0);
    CHECK_STR(b.data, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
                      "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
    b.len = 0;
    CHECK_INT(px_h1_local_head_write(204, NULL, 0, NULL, false, &b), 0);
    CHECK_STR(b.data, "HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n\r\n");
    /* what it writes parses back as the response it says */
    b.len = 0;
    CHECK_INT(px_h1_local_head_write(405, "text/plain", 3, "Allow: GET\r\n", true, &b), 0);
    CHECK_INT(px_buf_append(&b, "no\n", 3), 0);
    struct cap c;
    struct px_h1_parser *p = parse(PX_H1_RESPONSE, HTTP_GET, b.data, b.len, &c);
    CHECK_INT(c.head.status, 405);
    CHECK_INT(c.head.body, PX_H1_BODY_LENGTH);
    CHECK_INT(c.head.content_length, 3);
    CHECK(!c.head.keep_alive);
    CHECK_STR(c.body.data, "no\n");
    px_h1_parser_free(p);
    px_buf_free(&c.body);
    px_buf_free(&b);
}

static void test_errors(void)
{
    struct px_buf b = {0};
    CHECK_INT(px_h1_error_response_write(502, true, &b), 0);
    CHECK_STR(b.data,
              "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n"
              "Connection: close\r\n\r\n502 Bad Gateway\n");
    b.len = 0;
    CHECK_INT(px_h1_error_response_write(404, false, &b), 0);
    CHECK_STR(b.data, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n"
                      "\r\n404 Not Found\n");
    CHECK_INT(px_h1_error_response_write(200, true, &b), -EINVAL);
    /* Every status the proxy answers with parses back with a matching body. */
    static const int statuses[] = {400, 404, 408, 413, 414, 417, 431, 500, 501, 502, 503, 504, 505};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        b.len = 0;
        CHECK_INT(px_h1_error_response_write(statuses[i], true, &b), 0);
        CHECK(strcmp(px_h1_status_text(statuses[i]), "Unknown") != 0);
        struct cap c;
        struct px_h1_parser *p = parse(PX_H1_RESPONSE, HTTP_GET, b.data, b.len, &c);
        CHECK_INT(c.head.status, statuses[i]);
        CHECK_INT(c.head.body, PX_H1_BODY_LENGTH);
        CHECK_INT(c.head.content_length, c.body.len);
        CHECK(!c.head.keep_alive);
        char want[64];
        snprintf(want, sizeof(want), "%d %s\n", statuses[i], px_h1_status_text(statuses[i]));
        CHECK_STR(c.body.data, want);
        px_h1_parser_free(p);
        px_buf_free(&c.body);
    }
    px_buf_free(&b);
}

static void test_buf(void)
{
    struct px_buf b = {0};
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_INT(px_buf_append(&b, "ab", 2), 0);
    CHECK_INT(px_buf_printf(&b, "[%s]", big), 0);
    CHECK_INT(b.len, 2 + 2 + sizeof(big) - 1);
    CHECK(b.data[b.len] == '\0');
    CHECK(b.data[2] == '[' && b.data[b.len - 1] == ']');
    CHECK_INT(px_buf_printf(&b, "%d", 42), 0);
    CHECK(strcmp(b.data + b.len - 2, "42") == 0);
    CHECK_INT(px_buf_append(&b, NULL, 0), 0);
    char *before = b.data;
    b.len = 0;
    CHECK_INT(px_buf_append(&b, big, 100), 0);
    CHECK(b.data == before); /* reuse does not reallocate */
    px_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    px_buf_free(&b);
}

/* The integer formatting of the head writers (no printf on the hot path) gives the bytes
 * printf would: status "%03d", Content-Length "%llu", chunk size "%zx", at every digit
 * count boundary. */
static void test_numbers(void)
{
    static const unsigned long long vals[] = {1,
                                              9,
                                              10,
                                              15,
                                              16,
                                              99,
                                              100,
                                              255,
                                              256,
                                              4095,
                                              65536,
                                              1000000,
                                              4294967295ull,
                                              4294967296ull,
                                              1099511627776ull,
                                              10000000000000000000ull,
                                              UINT64_MAX};
    char want[256];
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        struct px_buf out = {0};
        struct px_h1_head h = {.status = 200,
                               .http_major = 1,
                               .http_minor = 1,
                               .body = PX_H1_BODY_LENGTH,
                               .content_length = vals[i],
                               .method_id = HTTP_GET};
        CHECK_INT(px_h1_response_head_write(&h, false, 1, &out), 0);
        snprintf(want, sizeof want, "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n", vals[i]);
        CHECK_STR(out.data, want);
        out.len = 0;
        if (vals[i] <= SIZE_MAX) {
            CHECK_INT(px_h1_chunk_begin(&out, (size_t)vals[i]), 0);
            snprintf(want, sizeof want, "%zx\r\n", (size_t)vals[i]);
            CHECK_STR(out.data, want);
        }
        px_buf_free(&out);
    }
    static const int statuses[] = {0, 7, 42, 101, 204, 599, 999, 1000, 12345, -5};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        struct px_buf out = {0};
        struct px_h1_head h = {.status = statuses[i],
                               .reason = "R",
                               .reason_len = 1,
                               .http_major = 1,
                               .http_minor = 1,
                               .body = PX_H1_BODY_LENGTH,
                               .content_length = 0,
                               .method_id = HTTP_GET};
        CHECK_INT(px_h1_response_head_write(&h, true, 1, &out), 0);
        snprintf(want, sizeof want, "HTTP/1.1 %03d R\r\n", statuses[i]);
        CHECK(out.data && strncmp(out.data, want, strlen(want)) == 0);
        px_buf_free(&out);
    }
}

/* A last-chunk with trailers: the fields in order, hop-by-hop ones left out. */
static void test_trailers(void)
{
    const char *in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
                     "X-Checksum: abc\r\nTE: trailers\r\nConnection: close\r\n"
                     "Keep-Alive: 1\r\nx-two:2\r\nTrailer: x\r\nUpgrade: h2c\r\n\r\n";
    const struct px_h1_callbacks tcb = {cap_head, NULL, NULL, cap_trailer};
    struct cap c;
    memset(&c, 0, sizeof c);
    struct px_h1_parser *p = px_h1_parser_new(PX_H1_RESPONSE, &lim, &tcb, &c);
    size_t used = 0;
    CHECK_INT(px_h1_feed(p, in, strlen(in), &used), PX_H1_PAUSED);
    CHECK_INT(used, strlen(in));
    CHECK_INT(c.ends, 7);
    CHECK_INT(px_h1_chunk_end(&c.body), 0);
    CHECK_STR(c.body.data, "0\r\nX-Checksum: abc\r\nx-two: 2\r\n\r\n");
    px_h1_parser_free(p);
    /* the same fed one byte at a time */
    struct cap d;
    memset(&d, 0, sizeof d);
    p = px_h1_parser_new(PX_H1_RESPONSE, &lim, &tcb, &d);
    int rc = PX_H1_OK;
    for (size_t i = 0; i < strlen(in) && rc == PX_H1_OK; i++)
        rc = px_h1_feed(p, in + i, 1, &used);
    CHECK_INT(rc, PX_H1_PAUSED);
    CHECK_INT(px_h1_chunk_end(&d.body), 0);
    CHECK_STR(d.body.data, c.body.data);
    px_buf_free(&c.body);
    px_buf_free(&d.body);
    px_h1_parser_free(p);
}

int main(void)
{
    test_gateway();
    test_local_answers();
    test_numbers();
    test_request_heads();
    test_response_heads();
    test_reparse();
    test_chunks();
    test_trailers();
    test_errors();
    test_local_head();
    test_buf();
    return tt_done();
}
