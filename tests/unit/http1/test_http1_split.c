/* px_h1 parser: tables of valid and invalid messages, each parsed whole (events and
 * verdict compared with the expected ones) and again split at every point into two
 * pieces and fed one byte at a time: the event log must be identical for every split. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>

#include <llhttp.h>

#include "px_http1.h"
#include "tt.h"

/* ---- event recorder ---- */

struct rec {
    char log[16384];
    size_t len;
    bool in_body;
};

static void logf_(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct rec *r, const char *fmt, ...)
{
    if (r->in_body) {
        r->in_body = false;
        logf_(r, "\n");
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->log + r->len, sizeof(r->log) - r->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        r->len += (size_t)n < sizeof(r->log) - r->len ? (size_t)n : sizeof(r->log) - r->len - 1;
}

static int on_head(void *ud, const struct px_h1_head *h)
{
    struct rec *r = ud;
    if (h->method)
        logf_(r, "REQ %.*s(%d) %.*s", (int)h->method_len, h->method, h->method_id,
              (int)h->target_len, h->target);
    else
        logf_(r, "RES %d '%.*s' m=%d", h->status, (int)h->reason_len, h->reason, h->method_id);
    logf_(r, " %d.%d body=%d cl=%" PRIu64 " ka=%d up=%d ec=%d", h->http_major, h->http_minor,
          (int)h->body, h->content_length, h->keep_alive, h->upgrade, h->expect_continue);
    if (h->host)
        logf_(r, " host=%.*s", (int)h->host_len, h->host);
    if (h->has_max_forwards)
        logf_(r, " mf=%" PRIu64, h->max_forwards);
    logf_(r, " {");
    for (unsigned i = 0; i < h->n_headers; i++)
        logf_(r, "%s%.*s=%.*s", i ? "|" : "", (int)h->headers[i].name_len, h->headers[i].name,
              (int)h->headers[i].value_len, h->headers[i].value);
    logf_(r, "}\n");
    return 0;
}

static int on_body(void *ud, const char *p, size_t n)
{
    struct rec *r = ud;
    if (!r->in_body) {
        logf_(r, "B:");
        r->in_body = true;
    }
    if (n < sizeof(r->log) - r->len) {
        memcpy(r->log + r->len, p, n);
        r->len += n;
        r->log[r->len] = '\0';
    }
    return 0;
}

static int on_end(void *ud)
{
    logf_(ud, "END\n");
    return 0;
}

static const struct px_h1_callbacks cbs = {on_head, on_body, on_end, NULL};
static const struct px_h1_limits lim = {
    .max_request_line = 256, .max_head = 1024, .max_headers = 16};

/* Feeds in[0..len) in pieces ending at cuts[0..ncuts) (then the rest), resuming after every
 * pause, and logs every return with its absolute offset. Stops at the first upgrade, error
 * or abort; calls px_h1_finish at the end of input. */
static void run(struct rec *r, enum px_h1_kind kind, int method, const char *in, size_t len,
                const size_t *cuts, size_t ncuts)
{
    memset(r, 0, sizeof(*r));
    struct px_h1_parser *p = px_h1_parser_new(kind, &lim, &cbs, r);
    if (kind == PX_H1_RESPONSE)
        px_h1_expect_response_to(p, method);
    size_t pos = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : len;
        while (pos < end) {
            size_t used = 0;
            int rc = px_h1_feed(p, in + pos, end - pos, &used);
            pos += used;
            if (rc == PX_H1_OK)
                continue;
            if (rc == PX_H1_PAUSED) {
                logf_(r, "PAUSED@%zu\n", pos);
                px_h1_resume(p);
                continue;
            }
            if (rc == PX_H1_UPGRADED)
                logf_(r, "UPGRADED@%zu\n", pos);
            else if (rc == PX_H1_ERROR)
                logf_(r, "ERROR %d (%s)\n", px_h1_error_status(p), px_h1_error_reason(p));
            else
                logf_(r, "RC %d\n", rc);
            px_h1_parser_free(p);
            return;
        }
    }
    int rc = px_h1_finish(p);
    logf_(r, "FINISH %d", rc);
    if (rc == PX_H1_ERROR)
        logf_(r, " %d", px_h1_error_status(p));
    logf_(r, "\n");
    px_h1_parser_free(p);
}

/* Whole, every two-piece split, and byte by byte must all give the same log. */
static void check_splits(enum px_h1_kind kind, int method, const char *in, size_t len,
                         const char *want, int line)
{
    static struct rec whole, part;
    run(&whole, kind, method, in, len, NULL, 0);
    if (strcmp(whole.log, want) != 0)
        fprintf(stderr, "case at line %d:\n--- got\n%s--- want\n%s", line, whole.log, want);
    CHECK_STR(whole.log, want);
    int bad = 0;
    for (size_t k = 1; k < len; k++) {
        run(&part, kind, method, in, len, &k, 1);
        if (strcmp(part.log, whole.log) != 0 && bad++ == 0)
            fprintf(stderr, "case at line %d split at %zu:\n%s", line, k, part.log);
    }
    size_t *cuts = calloc(len + 1, sizeof(*cuts));
    for (size_t k = 0; k < len; k++)
        cuts[k] = k + 1;
    run(&part, kind, method, in, len, cuts, len);
    free(cuts);
    if (strcmp(part.log, whole.log) != 0 && bad++ == 0)
        fprintf(stderr, "case at line %d byte by byte:\n%s", line, part.log);
    CHECK_INT(bad, 0);
}

#define Q      PX_H1_REQUEST
#define R      PX_H1_RESPONSE
#define S(lit) lit, sizeof(lit) - 1

struct valid_case {
    enum px_h1_kind kind;
    int method; /* responses: the request method answered */
    const char *in;
    size_t len;
    const char *want;
    int line;
};

#define V(kind, method, lit, want)                                                                 \
    {                                                                                              \
        kind, method, S(lit), want, __LINE__                                                       \
    }

static const struct valid_case valid[] = {
    V(Q, 0, "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n",
      "REQ GET(1) /index.html?q=1 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=example.com "
      "{Host=example.com|User-Agent=t}\nEND\nPAUSED@66\nFINISH 0\n"),
    V(Q, 0, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
      "REQ POST(3) /p 1.1 body=1 cl=5 ka=1 up=0 ec=0 host=a {Host=a|Content-Length=5}\n"
      "B:hello\nEND\nPAUSED@53\nFINISH 0\n"),
    V(Q, 0,
      "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1A\r\n abcdefghijklmnopqrstuvwxy\r\n0;last=\"x y\"\r\n"
      "X-Trailer: t\r\nOther: o\r\n\r\n",
      "REQ POST(3) /c 1.1 body=2 cl=0 ka=1 up=0 ec=0 host=a "
      "{Host=a|Transfer-Encoding=chunked}\nB:hello abcdefghijklmnopqrstuvwxy\nEND\n"
      "PAUSED@145\nFINISH 0\n"),
    V(Q, 0,
      "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
      "\r\nokGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
      "REQ GET(1) /1 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=a {Host=a}\nEND\nPAUSED@28\n"
      "REQ POST(3) /2 1.1 body=1 cl=2 ka=1 up=0 ec=0 host=a {Host=a|Content-Length=2}\n"
      "B:ok\nEND\nPAUSED@78\n"
      "REQ GET(1) /3 1.1 body=0 cl=0 ka=0 up=0 ec=0 host=a {Host=a|Connection=close}\nEND\n"
      "PAUSED@125\nFINISH 0\n"),
    V(Q, 0, "GET / HTTP/1.0\r\n\r\n",
      "REQ GET(1) / 1.0 body=0 cl=0 ka=0 up=0 ec=0 {}\nEND\nPAUSED@18\nFINISH 0\n"),
    V(Q, 0, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: h\r\n\r\n",
      "REQ GET(1) / 1.0 body=0 cl=0 ka=1 up=0 ec=0 host=h {Connection=Keep-Alive|Host=h}\nEND\n"
      "PAUSED@51\nFINISH 0\n"),
    V(Q, 0, "GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\nFoo: 1\r\n\r\n",
      "REQ GET(1) / 1.1 body=0 cl=0 ka=0 up=0 ec=0 host=h "
      "{Host=h|Connection=foo, CLOSE|Foo=1}\nEND\nPAUSED@59\nFINISH 0\n"),
    V(Q, 0, "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive,,\r\n\r\n",
      "REQ GET(1) / 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=h {Host=h|Connection=keep-alive,,}\n"
      "END\nPAUSED@53\nFINISH 0\n"),
    V(Q, 0, "PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc",
      "REQ PUT(4) /u 1.1 body=1 cl=3 ka=1 up=0 ec=1 host=h "
      "{Host=h|Expect=100-Continue|Content-Length=3}\nB:abc\nEND\nPAUSED@72\nFINISH 0\n"),
    /* HTTP/1.0: a 100-continue expectation is ignored (RFC 9110 10.1.1). */
    V(Q, 0, "PUT /u HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
      "REQ PUT(4) /u 1.0 body=1 cl=1 ka=0 up=0 ec=0 {Expect=100-continue|Content-Length=1}\n"
      "B:x\nEND\nPAUSED@61\nFINISH 0\n"),
    V(Q, 0,
      "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
      "\x81\x05hello",
      "REQ GET(1) /ws 1.1 body=0 cl=0 ka=1 up=1 ec=0 host=h "
      "{Host=h|Upgrade=websocket|Connection=Upgrade}\nUPGRADED@70\n"),
    /* An Upgrade that the Connection field does not name is not an upgrade. */
    V(Q, 0, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
      "REQ GET(1) / 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=h {Host=h|Upgrade=websocket}\nEND\n"
      "PAUSED@47\nFINISH 0\n"),
    V(Q, 0, "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
      "REQ GET(1) / 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=h {Host=h}\nEND\nPAUSED@31\n"
      "FINISH 0\n"),
    V(Q, 0, "GET http://Example.com:8080/x HTTP/1.1\r\nHost: example.COM:8080\r\n\r\n",
      "REQ GET(1) http://Example.com:8080/x 1.1 body=0 cl=0 ka=1 up=0 ec=0 "
      "host=Example.com:8080 {Host=example.COM:8080}\nEND\nPAUSED@66\nFINISH 0\n"),
    /* RFC 9112 3.2.2: an absolute-form target's authority replaces a different Host. */
    V(Q, 0, "GET http://other/ HTTP/1.1\r\nHost: h\r\n\r\n",
      "REQ GET(1) http://other/ 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=other {Host=h}\nEND\n"
      "PAUSED@39\nFINISH 0\n"),
    /* Extension methods (RFC 9110 9.1: case-sensitive tokens, so "get" is one too). */
    V(Q, 0, "QUERY /q HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
      "REQ QUERY(-1) /q 1.1 body=1 cl=3 ka=1 up=0 ec=0 host=h {Host=h|Content-Length=3}\n"
      "B:abc\nEND\nPAUSED@52\nFINISH 0\n"),
    V(Q, 0, "get / HTTP/1.1\r\nHost: h\r\n\r\nVERSION-CONTROL /v HTTP/1.1\r\nHost: h\r\n\r\n",
      "REQ get(-1) / 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=h {Host=h}\nEND\nPAUSED@27\n"
      "REQ VERSION-CONTROL(-1) /v 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=h {Host=h}\nEND\n"
      "PAUSED@67\nFINISH 0\n"),
    V(Q, 0, "BAN /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      "REQ BAN(-1) /b 1.1 body=2 cl=0 ka=1 up=0 ec=0 host=h {Host=h|Transfer-Encoding=chunked}\n"
      "B:ok\nEND\nPAUSED@68\nFINISH 0\n"),
    /* RFC 9112 7.1.1 chunk extensions llhttp 8.1 refuses: several after a token value,
     * BWS around ";" and "=", quoted-pairs, obs-text; leading zeros in the size. */
    V(Q, 0,
      "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;a=b;c=\"d e\"\r\nhello\r\n003 ; x ; y = z\t;q=\"\\\"\\\\\xe9\"\r\nabc\r\n0;a=b;c\r\n\r\n",
      "REQ POST(3) /c 1.1 body=2 cl=0 ka=1 up=0 ec=0 host=a "
      "{Host=a|Transfer-Encoding=chunked}\nB:helloabc\nEND\nPAUSED@123\nFINISH 0\n"),
    /* Max-Forwards is read for OPTIONS and TRACE only. */
    V(Q, 0, "OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: 007\r\n\r\n",
      "REQ OPTIONS(6) * 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=h mf=7 {Host=h|Max-Forwards=007}\n"
      "END\nPAUSED@50\nFINISH 0\n"),
    V(Q, 0, "GET / HTTP/1.1\r\nHost: h\r\nMax-Forwards: x\r\nMax-Forwards: 0\r\n\r\n",
      "REQ GET(1) / 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=h {Host=h|Max-Forwards=x|"
      "Max-Forwards=0}\nEND\nPAUSED@61\nFINISH 0\n"),
    /* h2c over TLS is no upgrade (RFC 9113 3.1): a plain request. */
    V(Q, 0,
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABk\r\n\r\n",
      "REQ GET(1) / 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=h {Host=h|Connection=Upgrade, "
      "HTTP2-Settings|Upgrade=h2c|HTTP2-Settings=AAMAAABk}\nEND\nPAUSED@104\nFINISH 0\n"),
    V(Q, 0, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
      "REQ OPTIONS(6) * 1.1 body=0 cl=0 ka=1 up=0 ec=0 host=h {Host=h}\nEND\nPAUSED@31\n"
      "FINISH 0\n"),
    V(Q, 0, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nX:  \t spaced \t \r\n\r\n",
      "REQ POST(3) / 1.1 body=1 cl=0 ka=1 up=0 ec=0 host=h "
      "{Host=h|Content-Length=0|X=spaced}\nEND\nPAUSED@64\nFINISH 0\n"),
    /* Truncated message: finish reports the error. */
    V(Q, 0, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc",
      "REQ POST(3) / 1.1 body=1 cl=9 ka=1 up=0 ec=0 host=h {Host=h|Content-Length=9}\n"
      "B:abc\nFINISH -1 400\n"),
    /* responses */
    V(R, HTTP_GET, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: s\r\n\r\nabc",
      "RES 200 'OK' m=1 1.1 body=1 cl=3 ka=1 up=0 ec=0 {Content-Length=3|Server=s}\nB:abc\n"
      "END\nPAUSED@52\nFINISH 0\n"),
    V(R, HTTP_HEAD,
      "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
      "RES 200 'OK' m=2 1.1 body=0 cl=1234 ka=1 up=0 ec=0 {Content-Length=1234}\nEND\n"
      "PAUSED@41\nRES 204 'No Content' m=2 1.1 body=0 cl=0 ka=1 up=0 ec=0 {}\nEND\n"
      "PAUSED@68\nFINISH 0\n"),
    V(R, HTTP_GET,
      "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
      "RES 204 'No Content' m=1 1.1 body=0 cl=10 ka=1 up=0 ec=0 {Content-Length=10}\nEND\n"
      "PAUSED@47\nRES 304 'Not Modified' m=1 1.1 body=0 cl=0 ka=1 up=0 ec=0 "
      "{Transfer-Encoding=chunked}\nEND\nPAUSED@104\nFINISH 0\n"),
    V(R, HTTP_POST,
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      "RES 100 'Continue' m=3 1.1 body=0 cl=0 ka=1 up=0 ec=0 {}\n"
      "RES 103 'Early Hints' m=3 1.1 body=0 cl=0 ka=1 up=0 ec=0 {Link=</s>}\n"
      "RES 200 'OK' m=3 1.1 body=2 cl=0 ka=1 up=0 ec=0 {Transfer-Encoding=chunked}\nB:abc\n"
      "END\nPAUSED@125\nFINISH 0\n"),
    /* an empty line after an interim response (aiohttp after 100 Continue) is skipped */
    V(R, HTTP_POST,
      "HTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
      "RES 100 'Continue' m=3 1.1 body=0 cl=0 ka=1 up=0 ec=0 {}\n"
      "RES 102 'Processing' m=3 1.1 body=0 cl=0 ka=1 up=0 ec=0 {}\n"
      "RES 200 'OK' m=3 1.1 body=1 cl=2 ka=1 up=0 ec=0 {Content-Length=2}\nB:ok\n"
      "END\nPAUSED@98\nFINISH 0\n"),
    V(R, HTTP_GET, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
      "RES 200 'OK' m=1 1.1 body=3 cl=0 ka=0 up=0 ec=0 {Content-Type=text/plain}\n"
      "B:until the end\nEND\nFINISH 0\n"),
    V(R, HTTP_GET,
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\n\r\n\x81\x00",
      "RES 101 'Switching Protocols' m=1 1.1 body=0 cl=0 ka=1 up=1 ec=0 "
      "{Upgrade=websocket|Connection=Upgrade}\nUPGRADED@77\n"),
    V(R, HTTP_GET, "HTTP/1.0 200\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
      "RES 200 '' m=1 1.0 body=1 cl=0 ka=1 up=0 ec=0 "
      "{Connection=keep-alive|Content-Length=0}\nEND\nPAUSED@59\nFINISH 0\n"),
    /* A truncated chunked response. */
    V(R, HTTP_GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
      "RES 200 'OK' m=1 1.1 body=2 cl=0 ka=1 up=0 ec=0 {Transfer-Encoding=chunked}\nB:ab\n"
      "FINISH -1 502\n"),
};

struct invalid_case {
    enum px_h1_kind kind;
    const char *in;
    size_t len;
    int status;
    const char *reason; /* which check rejects it */
    int line;
};

#define X(kind, lit, status, reason)                                                               \
    {                                                                                              \
        kind, S(lit), status, reason, __LINE__                                                     \
    }
#define HOST "Host: h\r\n"

static const struct invalid_case invalid[] = {
    /* framing: Content-Length / Transfer-Encoding */
    X(Q, "POST / HTTP/1.1\r\n" HOST "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
      "both Content-Length and Transfer-Encoding"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400,
      "both Content-Length and Transfer-Encoding"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400,
      "more than one Content-Length"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400,
      "more than one Content-Length"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Content-Length: 3, 3\r\n\r\nabc", 400,
      "malformed Content-Length"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Content-Length: +3\r\n\r\nabc", 400,
      "malformed Content-Length"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Content-Length: -1\r\n\r\n", 400, "malformed Content-Length"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Content-Length: 1 2\r\n\r\n", 400, "malformed Content-Length"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Content-Length: 0x10\r\n\r\n", 400,
      "malformed Content-Length"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Content-Length:\r\n\r\n", 400, "malformed Content-Length"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Content-Length: 18446744073709551616\r\n\r\n", 400,
      "Content-Length overflow"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
      "unsupported transfer coding"),
    X(Q,
      "POST / HTTP/1.1\r\n" HOST
      "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n",
      501, "unsupported transfer coding"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: ,chunked\r\n\r\n", 400,
      "empty Transfer-Encoding element"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked,\r\n\r\n", 400,
      "empty Transfer-Encoding element"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, chunked\r\n\r\n", 400,
      "Transfer-Encoding does not end in exactly one chunked"),
    X(Q,
      "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      400, "Transfer-Encoding does not end in exactly one chunked"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, gzip\r\n\r\n", 400,
      "Transfer-Encoding does not end in exactly one chunked"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n\r\n", 400,
      "Transfer-Encoding does not end in exactly one chunked"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding:\r\n\r\n", 400,
      "empty Transfer-Encoding element"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: \"chunked\"\r\n\r\n", 400,
      "malformed Transfer-Encoding"),
    X(Q, "POST / HTTP/1.0\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
      "Transfer-Encoding in an HTTP/1.0 message"),
    /* line structure */
    X(Q, "GET / HTTP/1.1\r\n" HOST "X: a\r\n b\r\n\r\n", 400, "obsolete line folding"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X: a\r\n\tb\r\n\r\n", 400, "obsolete line folding"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X: a\r\n Y: b\r\n\r\n", 400, "obsolete line folding"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X: a\nY: b\r\n\r\n", 400, "bare LF in head"),
    X(Q, "GET / HTTP/1.1\n" HOST "\r\n", 400, "bare LF in head"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "\n", 400, "bare LF in head"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X: a\rY: b\r\n\r\n", 400, "bare CR in head"),
    X(Q, "GET / HTTP/1.1\r\r\n" HOST "\r\n", 400, "bare CR in head"),
    X(Q, "\nGET / HTTP/1.1\r\n" HOST "\r\n", 400, "bare LF in head"),
    /* header names and values */
    X(Q, "GET / HTTP/1.1\r\n" HOST ": empty\r\n\r\n", 400, "empty header name"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X : a\r\n\r\n", 400, "whitespace before colon"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X\t: a\r\n\r\n", 400, "whitespace before colon"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X(y): a\r\n\r\n", 400, "invalid character in header name"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X y: a\r\n\r\n", 400, "whitespace before colon"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "No colon here\r\n\r\n", 400, "header line without colon"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X: a\0b\r\n\r\n", 400, "control character in header value"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X: a\x01\r\n\r\n", 400, "control character in header value"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X: a\x7f\r\n\r\n", 400, "control character in header value"),
    X(Q, "GET / HTTP/1.1\r\n" HOST "X\0: a\r\n\r\n", 400, "invalid character in header name"),
    /* Host */
    X(Q, "GET / HTTP/1.1\r\n\r\n", 400, "missing Host"),
    X(Q, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "more than one Host"),
    X(Q, "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"),
    X(Q, "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, "invalid Host"),
    X(Q, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host"),
    X(Q, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid Host"),
    X(Q, "OPTIONS * HTTP/1.1\r\nHost: h\r\nMax-Forwards: 1\r\nMax-Forwards: 1\r\n\r\n", 400,
      "more than one Max-Forwards"),
    X(Q, "TRACE / HTTP/1.1\r\nHost: h\r\nMax-Forwards: -1\r\n\r\n", 400, "malformed Max-Forwards"),
    X(Q, "TRACE / HTTP/1.1\r\nHost: h\r\nMax-Forwards:\r\n\r\n", 400, "malformed Max-Forwards"),
    X(Q, "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400,
      "invalid authority in absolute-form target"),
    X(Q, "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400,
      "invalid authority in absolute-form target"),
    /* chunked bodies and trailers */
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
      "Invalid character in chunk size"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n-1\r\n", 400,
      "Invalid character in chunk size"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400,
      "Chunk size overflow"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n", 400,
      "Invalid character in chunk size"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n", 400,
      "invalid chunk extension"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5;a=b c\r\nhello\r\n", 400,
      "invalid chunk extension"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5;=b\r\nhello\r\n", 400,
      "invalid chunk extension"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n", 400,
      "invalid chunk extension"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5;a;\r\nhello\r\n", 400,
      "invalid chunk extension"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n", 400,
      "invalid chunk extension"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5;a=\"b\"c\r\nhello\r\n",
      400, "invalid chunk extension"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5;a=\"\0\"\r\nhello\r\n",
      400, "invalid chunk extension"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5;a\0\r\nhello\r\n", 400,
      "invalid chunk extension"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n", 400,
      "CR without LF in chunk line"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5;a\nhello\r\n", 400,
      "invalid chunk extension"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n", 400,
      "Invalid character in chunk size"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400,
      "Expected CRLF after chunk"),
    X(Q,
      "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 5\r\n\r\n",
      400, "framing or Host field in trailers"),
    X(Q,
      "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\ncontent-length: 0\r\n\r\n",
      400, "framing or Host field in trailers"),
    X(Q,
      "POST / HTTP/1.1\r\n" HOST
      "Transfer-Encoding: chunked\r\n\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
      400, "framing or Host field in trailers"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n",
      400, "obsolete line folding"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\n\n", 400,
      "bare LF in trailers"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\nY: b\r\n\r\n",
      400, "bare LF in trailers"),
    X(Q, "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n0\r\nX : a\r\n\r\n", 400,
      "whitespace before colon"),
    /* request line */
    X(Q, "CONNECT h:443 HTTP/1.1\r\n" HOST "\r\n", 501, "CONNECT is not supported"),
    X(Q, "G(T / HTTP/1.1\r\n" HOST "\r\n", 400, "invalid method"),
    X(Q, "GET / HTTP/2.0\r\n" HOST "\r\n", 505, "unsupported HTTP version"),
    X(Q, "GET / HTTP/1.2\r\n" HOST "\r\n", 505, "unsupported HTTP version"),
    X(Q, "GET / HTTP/0.9\r\n" HOST "\r\n", 505, "unsupported HTTP version"),
    X(Q, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "unsupported HTTP version"),
    X(Q, "GET / HTTP/1.10\r\n" HOST "\r\n", 400, "malformed HTTP version"),
    X(Q, "GET / http/1.1\r\n" HOST "\r\n", 400, "malformed HTTP version"),
    X(Q, "GET / HTTP/1\r\n" HOST "\r\n", 400, "malformed HTTP version"),
    X(Q, "GET /\r\n\r\n", 400, "request line without HTTP version"),
    X(Q, "GET\r\n\r\n", 400, "request line without target or version"),
    X(Q, "GET /a b HTTP/1.1\r\n" HOST "\r\n", 400, "whitespace or control byte in request target"),
    X(Q, "GET  / HTTP/1.1\r\n" HOST "\r\n", 400, "whitespace or control byte in request target"),
    X(Q, "GET / HTTP/1.1 \r\n" HOST "\r\n", 400, "whitespace or control byte in request target"),
    X(Q, "GET /\ta HTTP/1.1\r\n" HOST "\r\n", 400, "whitespace or control byte in request target"),
    X(Q, "GET /\x80 HTTP/1.1\r\n" HOST "\r\n", 400, "whitespace or control byte in request target"),
    X(Q, "GET  HTTP/1.1\r\n" HOST "\r\n", 400, "empty request target"),
    X(Q, "GET a/b HTTP/1.1\r\n" HOST "\r\n", 400, "target is not origin-form or absolute-form"),
    X(Q, "GET * HTTP/1.1\r\n" HOST "\r\n", 400, "asterisk target without OPTIONS"),
    X(Q, "GET ftp://h/ HTTP/1.1\r\n" HOST "\r\n", 400,
      "target is not origin-form or absolute-form"),
    /* Expect */
    X(Q, "PUT / HTTP/1.1\r\n" HOST "Expect: 200-ok\r\nContent-Length: 0\r\n\r\n", 417,
      "unsupported expectation"),
    X(Q, "PUT / HTTP/1.1\r\n" HOST "Expect:\r\n\r\n", 417, "unsupported expectation"),
    /* Connection syntax */
    X(Q, "GET / HTTP/1.1\r\n" HOST "Connection: close; x\r\n\r\n", 400,
      "malformed Connection header"),
    /* responses: every failure is 502 */
    X(R, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 502,
      "both Content-Length and Transfer-Encoding"),
    X(R, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 502,
      "more than one Content-Length"),
    X(R, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 502,
      "unsupported transfer coding"),
    X(R, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 502,
      "Transfer-Encoding does not end in exactly one chunked"),
    X(R, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 502,
      "Transfer-Encoding in an HTTP/1.0 message"),
    X(R, "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", 502, "obsolete line folding"),
    X(R, "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", 502, "bare LF in head"),
    X(R, "HTTP/1.1 200 OK\r\nX : a\r\n\r\n", 502, "whitespace before colon"),
    X(R, "HTTP/2.0 200 OK\r\n\r\n", 502, "malformed status line"),
    X(R, "HTTP/1.1 20 OK\r\n\r\n", 502, "malformed status line"),
    X(R, "HTTP/1.1 099 Low\r\n\r\n", 502, "malformed status line"),
    X(R, "HTTP/1.1 600 High\r\n\r\n", 502, "malformed status line"),
    X(R, "HTTP/1.1 200OK\r\n\r\n", 502, "malformed status line"),
    X(R, "HTTP/1.0 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 502,
      "101 in an HTTP/1.0 response"),
    X(R, "\r\nHTTP/1.1 200 OK\r\n\r\n", 502, "empty line before the status line"),
    /* the tolerance is for the interim response's own message only, and bounded */
    X(R, "HTTP/1.1 204 No Content\r\n\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 502,
      "empty line before the status line"),
    X(R,
      "HTTP/1.1 103 Early Hints\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
      "HTTP/1.1 200 OK\r\n\r\n",
      502, "too many empty lines after an interim response"),
    X(R, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nq\r\n", 502,
      "Invalid character in chunk size"),
};

/* Round trip: a head the parser accepted, once rewritten by the writer, is accepted again
 * with the same request line / status and Host. */
struct rt {
    struct px_buf out;
    int status, method_id, minor, heads;
    bool upgrade;
    char line[300];
};

static int rt_head(void *ud, const struct px_h1_head *h)
{
    struct rt *t = ud;
    if (t->heads++ > 0)
        return 1; /* only the first message */
    static const struct px_h1_forward f = {.client_addr = "192.0.2.1", .host = "fallback"};
    t->status = h->status;
    t->method_id = h->method_id;
    t->upgrade = h->upgrade;
    /* The writer sends an absolute-form target in origin-form (RFC 9112 3.2.1, 3.2.4). */
    const char *tg = h->target ? h->target : "", *tend = tg + h->target_len, *pre = "";
    if (tg < tend && tg[0] != '/' && tg[0] != '*') {
        tg = strstr(tg, "://") + 3;
        while (tg < tend && *tg != '/' && *tg != '?' && *tg != '#')
            tg++;
        pre = tg == tend ? (h->method_id == HTTP_OPTIONS ? "*" : "/") : *tg != '/' ? "/" : "";
    }
    snprintf(t->line, sizeof(t->line), "%.*s %s%.*s %d %.*s", (int)h->method_len,
             h->method ? h->method : "", pre, (int)(tend - tg), tg, h->status,
             h->host ? (int)h->host_len : 8, h->host ? h->host : "fallback");
    return h->method ? px_h1_request_head_write(h, &f, &t->out)
                     : px_h1_response_head_write(h, false, t->minor, &t->out);
}

static void roundtrip(enum px_h1_kind kind, int method, const char *in, size_t len, int minor)
{
    struct rt a = {.minor = minor}, b = {.minor = minor};
    const struct px_h1_callbacks cb = {.on_head = rt_head};
    struct px_h1_parser *p = px_h1_parser_new(kind, &lim, &cb, &a);
    px_h1_expect_response_to(p, method);
    size_t used;
    px_h1_feed(p, in, len, &used);
    px_h1_parser_free(p);
    if (a.heads == 0 || (a.status > 0 && a.status < 200)) {
        px_buf_free(&a.out);
        return; /* nothing accepted, or an interim head */
    }
    p = px_h1_parser_new(kind, &lim, &cb, &b);
    px_h1_expect_response_to(p, method);
    int rc = px_h1_feed(p, a.out.data, a.out.len, &used);
    if (rc < 0 && rc != PX_H1_ABORTED)
        fprintf(stderr, "rewritten head rejected (%s):\n%s", px_h1_error_reason(p), a.out.data);
    CHECK(rc >= 0);
    CHECK_INT(b.heads, 1);
    CHECK_STR(b.line, a.line);
    CHECK_INT(b.upgrade, a.upgrade);
    px_h1_parser_free(p);
    px_buf_free(&a.out);
    px_buf_free(&b.out);
}

/* Mutated valid inputs (bytes replaced, deleted or inserted; a fixed-seed generator, so
 * every run is the same): whatever the verdict, it must not depend on the split. */
static uint32_t rng_state = 2463534242u;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void test_mutations(void)
{
    static const char pick[] = {'\r', '\n', ' ', '\t', ':', ',', '0', '\0', 'a', ';', '\x80'};
    static char buf[1024];
    static struct rec whole;
    size_t n_valid = sizeof(valid) / sizeof(valid[0]);
    int verdicts[3] = {0};
    for (int round = 0; round < 2000; round++) {
        const struct valid_case *c = &valid[rng() % n_valid];
        size_t len = c->len;
        memcpy(buf, c->in, len);
        for (uint32_t e = 0, edits = 1 + rng() % 3; e < edits && len > 1; e++) {
            size_t pos = rng() % len;
            char ch = pick[rng() % sizeof(pick)];
            switch (rng() % 3) {
            case 0:
                buf[pos] = ch;
                break;
            case 1:
                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                len--;
                break;
            default:
                memmove(buf + pos + 1, buf + pos, len - pos);
                buf[pos] = ch;
                len++;
            }
        }
        run(&whole, c->kind, c->method, buf, len, NULL, 0);
        verdicts[strstr(whole.log, "ERROR") ? 0 : strstr(whole.log, "FINISH -1") ? 1 : 2]++;
        check_splits(c->kind, c->method, buf, len, whole.log, c->line);
        roundtrip(c->kind, c->method, buf, len, (int)(rng() % 2));
    }
    /* The mutations exercise both outcomes. */
    CHECK(verdicts[0] > 0 && verdicts[2] > 0);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const struct valid_case *c = &valid[i];
        check_splits(c->kind, c->method, c->in, c->len, c->want, c->line);
        roundtrip(c->kind, c->method, c->in, c->len, 1);
        roundtrip(c->kind, c->method, c->in, c->len, 0);
    }
    size_t n_invalid = sizeof(invalid) / sizeof(invalid[0]);
    CHECK(n_invalid >= 40);
    for (size_t i = 0; i < n_invalid; i++) {
        const struct invalid_case *c = &invalid[i];
        static struct rec whole;
        run(&whole, c->kind, HTTP_GET, c->in, c->len, NULL, 0);
        /* The verdict is the last event: "ERROR <status> (<reason>)". */
        char want[160];
        snprintf(want, sizeof(want), "ERROR %d (%s)\n", c->status, c->reason);
        const char *last = whole.len >= strlen(want) ? whole.log + whole.len - strlen(want) : "";
        if (strcmp(last, want) != 0)
            fprintf(stderr, "invalid case at line %d:\n%s", c->line, whole.log);
        CHECK_STR(last, want);
        check_splits(c->kind, HTTP_GET, c->in, c->len, whole.log, c->line);
    }
    test_mutations();
    return tt_done();
}
