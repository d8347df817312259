/* px_h1 parser: limits at exactly the limit and one over (at every split point), chunk
 * extension and trailer bounds, and the API contract (pause/resume, idle, abort, finish,
 * interim and upgrade events, zero-copy bodies, buffer reuse across messages). */
#include <stdlib.h>

#include <llhttp.h>

#include "px_http1.h"
#include "tt.h"

static const struct px_h1_limits small = {
    .max_request_line = 32, .max_head = 128, .max_headers = 4};

/* Feeds in[] in two pieces cut at cut (0: whole), resuming after every pause; returns 0
 * when everything parsed and px_h1_finish succeeded, else the error status. */
static int verdict(enum px_h1_kind kind, const struct px_h1_limits *lim, const char *in, size_t len,
                   size_t cut)
{
    struct px_h1_parser *p = px_h1_parser_new(kind, lim, NULL, NULL);
    size_t pos = 0, ends[2] = {cut ? cut : len, len};
    int status = 0;
    for (int k = 0; k < 2 && status == 0; k++) {
        while (pos < ends[k]) {
            size_t used = 0;
            int rc = px_h1_feed(p, in + pos, ends[k] - pos, &used);
            pos += used;
            if (rc == PX_H1_PAUSED) {
                px_h1_resume(p);
            } else if (rc != PX_H1_OK) {
                status = rc == PX_H1_ERROR ? px_h1_error_status(p) : -1;
                break;
            }
        }
    }
    if (status == 0 && px_h1_finish(p) != PX_H1_OK)
        status = px_h1_error_status(p);
    px_h1_parser_free(p);
    return status;
}

static void expect_verdict(enum px_h1_kind kind, const struct px_h1_limits *lim, const char *in,
                           size_t len, int want, int line)
{
    int got = verdict(kind, lim, in, len, 0);
    if (got != want)
        fprintf(stderr, "line %d: verdict %d, want %d\n", line, got, want);
    CHECK_INT(got, want);
    int bad = 0;
    for (size_t k = 1; k < len; k++)
        bad += verdict(kind, lim, in, len, k) != want;
    CHECK_INT(bad, 0);
}

#define EXPECT(kind, lim, buf, want) expect_verdict(kind, lim, (buf), strlen(buf), want, __LINE__)

/* "GET /aaa... HTTP/1.1" with a request line of exactly n bytes. */
static void request_line_of(char *out, size_t n)
{
    size_t k = n - 14;
    strcpy(out, "GET /");
    memset(out + 5, 'a', k);
    strcpy(out + 5 + k, " HTTP/1.1\r\nHost: h\r\n\r\n");
}

/* A request whose head is exactly n bytes (n >= 32). */
static void head_of(char *out, size_t n)
{
    const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    size_t k = n - strlen(pre) - 4;
    strcpy(out, pre);
    memset(out + strlen(pre), 'v', k);
    strcpy(out + strlen(pre) + k, "\r\n\r\n");
}

static void test_limits(void)
{
    char buf[1024];
    request_line_of(buf, 32);
    CHECK_INT(strcspn(buf, "\r"), 32);
    EXPECT(PX_H1_REQUEST, &small, buf, 0);
    request_line_of(buf, 33);
    EXPECT(PX_H1_REQUEST, &small, buf, 414);

    head_of(buf, 128);
    CHECK_INT(strlen(buf), 128);
    EXPECT(PX_H1_REQUEST, &small, buf, 0);
    head_of(buf, 129);
    EXPECT(PX_H1_REQUEST, &small, buf, 431);

    /* A field value running across max_head. */
    head_of(buf, 200);
    EXPECT(PX_H1_REQUEST, &small, buf, 431);

    EXPECT(PX_H1_REQUEST, &small, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 0);
    EXPECT(PX_H1_REQUEST, &small,
           "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431);
    /* Responses: the same limits, answered with 502. */
    EXPECT(PX_H1_RESPONSE, &small, "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 0);
    EXPECT(PX_H1_RESPONSE, &small,
           "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", 502);
    EXPECT(PX_H1_RESPONSE, &small, "HTTP/1.1 200 OK, and a rather long reason\r\n\r\n", 502);

    /* Trailers: at most max_headers lines and max_head bytes. */
    const char *chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    snprintf(buf, sizeof(buf), "%sA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", chunked);
    EXPECT(PX_H1_REQUEST, &small, buf, 0);
    snprintf(buf, sizeof(buf), "%sA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", chunked);
    EXPECT(PX_H1_REQUEST, &small, buf, 431);
    /* Trailer section of exactly 128 bytes: "T: " + 121 + CRLF CRLF. */
    size_t n = (size_t)snprintf(buf, sizeof(buf), "%sT: ", chunked);
    memset(buf + n, 't', 121);
    strcpy(buf + n + 121, "\r\n\r\n");
    EXPECT(PX_H1_REQUEST, &small, buf, 0);
    memset(buf + n, 't', 122);
    strcpy(buf + n + 122, "\r\n\r\n");
    EXPECT(PX_H1_REQUEST, &small, buf, 431);
}

/* Chunk extensions: 4096 bytes per message pass, 4097 do not (every chunk-line byte but the
 * size digits and the CRLF counts: ";", "=", BWS, names, values). */
static void test_chunk_extensions(void)
{
    static const struct px_h1_limits lim = {256, 1024, 16};
    static char buf[16384];
    const char *head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (size_t total = 4096; total <= 4097; total++) {
        /* one extension: "1;" name(total-3) "=v" */
        size_t n = (size_t)snprintf(buf, sizeof(buf), "%s1;", head);
        memset(buf + n, 'e', total - 3);
        n += total - 3;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "=v\r\nx\r\n0\r\n\r\n");
        CHECK_INT(verdict(PX_H1_REQUEST, &lim, buf, n, 0), total == 4096 ? 0 : 400);
        CHECK_INT(verdict(PX_H1_REQUEST, &lim, buf, n, n - 20), total == 4096 ? 0 : 400);
        /* spread over two chunks: the count is per message */
        n = (size_t)snprintf(buf, sizeof(buf), "%s1;", head);
        memset(buf + n, 'e', 2047);
        n += 2047;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\nx\r\n1;");
        memset(buf + n, 'f', total - 2049);
        n += total - 2049;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\ny\r\n0\r\n\r\n");
        CHECK_INT(verdict(PX_H1_REQUEST, &lim, buf, n, 0), total == 4096 ? 0 : 400);
    }
}

/* ---- API contract ---- */

struct ctx {
    int heads, ends, stop_at_head, stop_at_body, stop_at_end;
    char body[256];
    size_t body_len;
    const char *fed_lo, *fed_hi; /* the buffer being fed, for the zero-copy check */
    int body_outside;
    const struct px_h1_header *headers[4];
    const char *method[4];
    int status[4];
    char host[4][32];
};

static int c_head(void *ud, const struct px_h1_head *h)
{
    struct ctx *c = ud;
    if (c->heads < 4) {
        c->headers[c->heads] = h->headers;
        c->method[c->heads] = h->method;
        c->status[c->heads] = h->status;
        snprintf(c->host[c->heads], sizeof(c->host[0]), "%.*s", (int)h->host_len,
                 h->host ? h->host : "");
    }
    c->heads++;
    return c->stop_at_head && c->heads == c->stop_at_head;
}

static int c_body(void *ud, const char *p, size_t n)
{
    struct ctx *c = ud;
    if (p < c->fed_lo || p + n > c->fed_hi)
        c->body_outside++;
    if (c->body_len + n < sizeof(c->body)) {
        memcpy(c->body + c->body_len, p, n);
        c->body_len += n;
    }
    return c->stop_at_body;
}

static int c_end(void *ud)
{
    struct ctx *c = ud;
    c->ends++;
    return c->stop_at_end;
}

static const struct px_h1_callbacks ccb = {c_head, c_body, c_end, NULL};
static const struct px_h1_limits lim = {1024, 4096, 32};

static int feed_str(struct px_h1_parser *p, struct ctx *c, const char *s, size_t *used)
{
    c->fed_lo = s;
    c->fed_hi = s + strlen(s);
    return px_h1_feed(p, s, strlen(s), used);
}

static void test_pause_resume_idle(void)
{
    struct ctx c = {0};
    struct px_h1_parser *p = px_h1_parser_new(PX_H1_REQUEST, &lim, &ccb, &c);
    CHECK(px_h1_idle(p));
    const char *first = "POST /a HTTP/1.1\r\nHost: one\r\nContent-Length: 3\r\n\r\nxyz";
    char two[256];
    snprintf(two, sizeof(two), "%sGET /b HTTP/1.1\r\nHost: two\r\n\r\n", first);
    size_t used = 0;
    CHECK_INT(feed_str(p, &c, two, &used), PX_H1_PAUSED);
    CHECK_INT(used, strlen(first));
    CHECK_INT(c.heads, 1);
    CHECK_INT(c.ends, 1);
    CHECK_STR(c.host[0], "one");
    CHECK_INT(c.body_len, 3);
    CHECK(memcmp(c.body, "xyz", 3) == 0);
    CHECK_INT(c.body_outside, 0);
    CHECK(px_h1_idle(p));
    /* Without resume nothing more is parsed. */
    size_t used2 = 99;
    CHECK_INT(px_h1_feed(p, two + used, strlen(two) - used, &used2), PX_H1_PAUSED);
    CHECK_INT(used2, 0);
    CHECK_INT(c.heads, 1);
    px_h1_resume(p);
    CHECK(px_h1_idle(p));
    CHECK_INT(px_h1_feed(p, two + used, 5, &used2), PX_H1_OK);
    CHECK_INT(used2, 5);
    CHECK(!px_h1_idle(p));
    CHECK_INT(px_h1_finish(p), PX_H1_ERROR);
    CHECK_INT(px_h1_error_status(p), 400);
    CHECK(strlen(px_h1_error_reason(p)) > 0);
    /* Errors are sticky. */
    CHECK_INT(px_h1_feed(p, two + used + 5, strlen(two) - used - 5, &used2), PX_H1_ERROR);
    px_h1_parser_free(p);
    px_h1_parser_free(NULL);
}

/* A bad start line is answered as soon as its CRLF arrives, without waiting for a head
 * end that an HTTP/0.9 client never sends. */
static void test_early_start_line(void)
{
    static const struct {
        enum px_h1_kind kind;
        const char *line;
        int status;
    } cases[] = {
        {PX_H1_REQUEST, "GET /\r\n", 400},
        {PX_H1_REQUEST, "GET / HTTP/2.0\r\n", 505},
        {PX_H1_REQUEST, "CONNECT h:443 HTTP/1.1\r\n", 501},
        {PX_H1_RESPONSE, "HTTP/1.1 20 OK\r\n", 502},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ctx c = {0};
        struct px_h1_parser *p = px_h1_parser_new(cases[i].kind, &lim, &ccb, &c);
        size_t used;
        CHECK_INT(feed_str(p, &c, cases[i].line, &used), PX_H1_ERROR);
        CHECK_INT(px_h1_error_status(p), cases[i].status);
        px_h1_parser_free(p);
    }
    /* A good start line alone waits for the rest. */
    struct ctx c = {0};
    struct px_h1_parser *p = px_h1_parser_new(PX_H1_REQUEST, &lim, &ccb, &c);
    size_t used;
    CHECK_INT(feed_str(p, &c, "GET / HTTP/1.1\r\n", &used), PX_H1_OK);
    px_h1_parser_free(p);
}

/* The head buffer and the header array are reused: a second message of the same size
 * gets the same storage (no allocation per request in steady state). */
static void test_reuse(void)
{
    struct ctx c = {0};
    struct px_h1_parser *p = px_h1_parser_new(PX_H1_REQUEST, &lim, &ccb, &c);
    const char *req = "GET /x HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        size_t used;
        CHECK_INT(feed_str(p, &c, req, &used), PX_H1_PAUSED);
        CHECK_INT(used, strlen(req));
        px_h1_resume(p);
    }
    CHECK_INT(c.heads, 3);
    CHECK(c.headers[1] == c.headers[0] && c.headers[2] == c.headers[0]);
    CHECK(c.method[1] == c.method[0] && c.method[2] == c.method[0]);
    px_h1_parser_free(p);
}

static void test_abort(void)
{
    struct ctx c = {.stop_at_head = 1};
    struct px_h1_parser *p = px_h1_parser_new(PX_H1_REQUEST, &lim, &ccb, &c);
    size_t used;
    CHECK_INT(feed_str(p, &c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", &used), PX_H1_ABORTED);
    CHECK_INT(c.ends, 0);
    CHECK_INT(feed_str(p, &c, "GET / HTTP/1.1\r\n", &used), PX_H1_ABORTED);
    CHECK_INT(px_h1_finish(p), PX_H1_ABORTED);
    px_h1_parser_free(p);

    /* on_end asking to stop: ABORTED instead of PAUSED. */
    struct ctx e = {.stop_at_end = 1};
    p = px_h1_parser_new(PX_H1_REQUEST, &lim, &ccb, &e);
    CHECK_INT(feed_str(p, &e, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", &used), PX_H1_ABORTED);
    CHECK_INT(e.ends, 1);
    px_h1_parser_free(p);

    struct ctx d = {.stop_at_body = 1};
    p = px_h1_parser_new(PX_H1_RESPONSE, &lim, &ccb, &d);
    CHECK_INT(feed_str(p, &d, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd", &used),
              PX_H1_ABORTED);
    CHECK_INT(d.ends, 0);
    px_h1_parser_free(p);
}

static void test_responses(void)
{
    struct ctx c = {0};
    struct px_h1_parser *p = px_h1_parser_new(PX_H1_RESPONSE, &lim, &ccb, &c);
    size_t used;
    /* EOF-delimited: completed by finish. */
    CHECK_INT(feed_str(p, &c, "HTTP/1.1 200 OK\r\n\r\nsome", &used), PX_H1_OK);
    CHECK_INT(feed_str(p, &c, " more", &used), PX_H1_OK);
    CHECK_INT(c.ends, 0);
    CHECK_INT(px_h1_finish(p), PX_H1_OK);
    CHECK_INT(c.ends, 1);
    CHECK_INT(c.body_len, 9);
    CHECK(memcmp(c.body, "some more", 9) == 0);
    CHECK_INT(c.body_outside, 0);
    px_h1_parser_free(p);

    /* HEAD answers: the method is sticky until changed. */
    memset(&c, 0, sizeof(c));
    p = px_h1_parser_new(PX_H1_RESPONSE, &lim, &ccb, &c);
    px_h1_expect_response_to(p, HTTP_HEAD);
    CHECK_INT(feed_str(p, &c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", &used),
              PX_H1_PAUSED);
    px_h1_resume(p);
    CHECK_INT(feed_str(p, &c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", &used),
              PX_H1_PAUSED);
    px_h1_resume(p);
    px_h1_expect_response_to(p, HTTP_GET);
    CHECK_INT(feed_str(p, &c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &used),
              PX_H1_PAUSED);
    CHECK_INT(c.ends, 3);
    CHECK_INT(c.body_len, 2);
    px_h1_parser_free(p);

    /* 100 Continue: its own head, no end event, then the final response. */
    memset(&c, 0, sizeof(c));
    p = px_h1_parser_new(PX_H1_RESPONSE, &lim, &ccb, &c);
    CHECK_INT(feed_str(p, &c, "HTTP/1.1 100 Continue\r\n\r\n", &used), PX_H1_OK);
    CHECK_INT(c.heads, 1);
    CHECK_INT(c.status[0], 100);
    CHECK_INT(c.ends, 0);
    CHECK(px_h1_idle(p)); /* nothing of the final response seen yet */
    CHECK_INT(feed_str(p, &c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &used), PX_H1_PAUSED);
    CHECK_INT(c.heads, 2);
    CHECK_INT(c.status[1], 200);
    CHECK_INT(c.ends, 1);
    px_h1_parser_free(p);
}

/* After an upgrade the parser stops; resume allows a next message when the upstream
 * refused the upgrade. */
static void test_upgrade_resume(void)
{
    struct ctx c = {0};
    struct px_h1_parser *p = px_h1_parser_new(PX_H1_REQUEST, &lim, &ccb, &c);
    const char *up = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: ws\r\n\r\n";
    size_t used;
    CHECK_INT(feed_str(p, &c, up, &used), PX_H1_UPGRADED);
    CHECK_INT(used, strlen(up));
    CHECK_INT(c.ends, 0);
    CHECK_INT(feed_str(p, &c, "tunnel", &used), PX_H1_UPGRADED);
    CHECK_INT(used, 0);
    px_h1_resume(p);
    CHECK_INT(feed_str(p, &c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", &used), PX_H1_PAUSED);
    CHECK_INT(c.heads, 2);
    CHECK_INT(c.ends, 1);
    px_h1_parser_free(p);

    /* An upgrade request that carries a body is forwarded as a plain request. */
    memset(&c, 0, sizeof(c));
    p = px_h1_parser_new(PX_H1_REQUEST, &lim, &ccb, &c);
    CHECK_INT(feed_str(p, &c,
                       "POST / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
                       "Content-Length: 2\r\n\r\nhi",
                       &used),
              PX_H1_PAUSED);
    CHECK_INT(c.ends, 1);
    CHECK_INT(c.body_len, 2);
    px_h1_parser_free(p);
}

int main(void)
{
    CHECK(px_h1_parser_new(PX_H1_REQUEST, NULL, NULL, NULL) == NULL);
    test_limits();
    test_chunk_extensions();
    test_pause_resume_idle();
    test_early_start_line();
    test_reuse();
    test_abort();
    test_responses();
    test_upgrade_resume();
    return tt_done();
}
