/* Fuzz target: the request path parse -> validate -> re-serialise (px_http1.h).
 *
 * Properties (a broken one aborts, which libFuzzer records as a crash):
 *  1. Split independence: the input fed whole, split at two points derived from the input,
 *     and (short inputs) byte by byte gives the same transcript: every head, every body,
 *     the pause / upgrade offsets and the final verdict (accepted, or the same status).
 *  2. For every accepted message (fed whole), px_h1_request_head_write's output
 *     a. carries at most one framing field, never both Content-Length and
 *        Transfer-Encoding;
 *     b. re-parses (with the body re-framed as announced) to the same method, target,
 *        version-independent fields and body, modulo the documented rewrites: hop-by-hop
 *        fields dropped (HTTP2-Settings and h2c / h2 upgrades too), Host kept or added,
 *        an absolute-form target sent as origin-form with its authority as Host,
 *        Max-Forwards of OPTIONS / TRACE decremented, X-Forwarded-* set, Via appended,
 *        framing canonical.
 *
 * Pipelined input is parsed message by message (resume after each pause), so one input
 * exercises several requests on one parser.
 */
#include <string.h>

#include <llhttp.h>

#include "fuzz_common.h"
#include "fuzz_h1.h"

#define BYTEWISE_MAX 512 /* inputs up to this size are also fed one byte at a time */

static const struct px_h1_limits limits = {
    .max_request_line = 512, .max_head = 2048, .max_headers = 32};
/* The re-serialised head adds at most a handful of fields. */
static const struct px_h1_limits relimits = {
    .max_request_line = 512, .max_head = 8192, .max_headers = 64};
/* fwd.host is set, as the HTTP/1 session (proxy/worker/session_h1.c) sets it to the SNI name:
 * without it an HTTP/1.0 request without Host would go out as an HTTP/1.1 request without
 * Host, which the re-parse (and any upstream) refuses. */
static const struct px_h1_forward fwd = {
    .client_addr = "192.0.2.7", .proto = "https", .host = "fallback.example", .via = "twofold"};

struct run {
    struct px_buf log;  /* the transcript compared between feedings */
    struct px_buf body; /* the current message's body */
    const struct px_h1_head *head;
    bool check; /* check the re-serialisation of every accepted message */
};

/* ---- transcript ---- */

static void log_head(struct px_buf *b, const struct px_h1_head *h)
{
    fuzz_h1_log_span(b, h->method, h->method_len);
    fuzz_h1_log_span(b, h->target, h->target_len);
    FUZZ_CHECK(px_buf_printf(b, "H%d.%d m%d b%d cl%llu ka%d up%d ex%d n%u ", h->http_major,
                             h->http_minor, h->method_id, (int)h->body,
                             (unsigned long long)h->content_length, h->keep_alive, h->upgrade,
                             h->expect_continue, h->n_headers) == 0);
    for (unsigned i = 0; i < h->n_headers; i++) {
        fuzz_h1_log_span(b, h->headers[i].name, h->headers[i].name_len);
        fuzz_h1_log_span(b, h->headers[i].value, h->headers[i].value_len);
    }
    if (h->host)
        fuzz_h1_log_span(b, h->host, h->host_len);
    if (h->has_max_forwards)
        FUZZ_CHECK(px_buf_printf(b, " mf%llu", (unsigned long long)h->max_forwards) == 0);
}

/* ---- the re-serialisation oracle ---- */

/* Fields the proxy sets itself or never forwards as received (documented in
 * px_h1_request_head_write). */
static bool proxy_owned(const struct px_h1_header *f)
{
    static const char *const names[] = {"connection",
                                        "keep-alive",
                                        "proxy-connection",
                                        "te",
                                        "trailer",
                                        "transfer-encoding",
                                        "content-length",
                                        "upgrade",
                                        "x-forwarded-for",
                                        "x-forwarded-proto",
                                        "x-forwarded-host",
                                        "http2-settings",
                                        "via"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (fuzz_h1_name_is(f, names[i]))
            return true;
    return false;
}

/* An absolute-form target: neither "/..." nor "*" (the validator accepted nothing else). */
static bool absolute_form(const struct px_h1_head *h)
{
    return h->target[0] != '/' && h->target[0] != '*';
}

static bool forwarded_as_is(const struct px_h1_head *h, const struct px_h1_header *f)
{
    if (fuzz_h1_name_is(f, "host"))
        return !absolute_form(h); /* replaced by the authority (RFC 9112 3.2.2) */
    if (h->has_max_forwards && fuzz_h1_name_is(f, "max-forwards"))
        return false; /* decremented: check_max_forwards */
    if (h->http_minor == 0 && fuzz_h1_name_is(f, "expect"))
        return false; /* an HTTP/1.0 client's Expect is dropped, not upgraded to 1.1 */
    return !proxy_owned(f) && !fuzz_h1_named_by_connection(h, f);
}

static const struct px_h1_header *only_field(const struct px_h1_head *h, const char *lower)
{
    const struct px_h1_header *found = NULL;
    for (unsigned i = 0; i < h->n_headers; i++) {
        if (fuzz_h1_name_is(&h->headers[i], lower)) {
            FUZZ_CHECK(found == NULL); /* the proxy emits each of its fields once */
            found = &h->headers[i];
        }
    }
    return found;
}

static bool has_field(const struct px_h1_head *h, const char *lower)
{
    for (unsigned i = 0; i < h->n_headers; i++)
        if (fuzz_h1_name_is(&h->headers[i], lower))
            return true;
    return false;
}

/* A field of the rewritten head that the proxy set or rewrote. */
static bool rewritten(const struct px_h1_head *h, const struct px_h1_header *g)
{
    return proxy_owned(g) || (h->has_max_forwards && fuzz_h1_name_is(g, "max-forwards"));
}

/* The received fields, in order, must be the re-parsed ones that are not the proxy's,
 * except a Host the writer added in front. */
static void check_fields(const struct px_h1_head *h, const struct px_h1_head *h2)
{
    unsigned j = 0;
    if ((!has_field(h, "host") || absolute_form(h)) && h2->n_headers > 0 &&
        fuzz_h1_name_is(&h2->headers[0], "host"))
        j = 1;
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (!forwarded_as_is(h, f))
            continue;
        while (j < h2->n_headers && rewritten(h, &h2->headers[j]))
            j++;
        FUZZ_CHECK(j < h2->n_headers);
        const struct px_h1_header *g = &h2->headers[j++];
        FUZZ_CHECK(fuzz_h1_span_eq(f->name, f->name_len, g->name, g->name_len));
        FUZZ_CHECK(fuzz_h1_span_eq(f->value, f->value_len, g->value, g->value_len));
    }
    for (; j < h2->n_headers; j++)
        FUZZ_CHECK(rewritten(h, &h2->headers[j]));
}

/* Via: the received values joined (unless Connection names Via), then ours. */
static void check_via(const struct px_h1_head *h, const struct px_h1_head *h2)
{
    struct px_buf want = {0};
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (!fuzz_h1_name_is(f, "via") || f->value_len == 0 || fuzz_h1_named_by_connection(h, f))
            continue;
        FUZZ_CHECK(px_buf_append(&want, f->value, f->value_len) == 0);
        FUZZ_CHECK(px_buf_append(&want, ", ", 2) == 0);
    }
    FUZZ_CHECK(px_buf_printf(&want, "1.%d %s", h->http_minor, fwd.via) == 0);
    const struct px_h1_header *x = only_field(h2, "via");
    FUZZ_CHECK(x && fuzz_h1_span_eq(x->value, x->value_len, want.data, want.len));
    px_buf_free(&want);
}

/* The target upstream: origin-form as received; absolute-form as what follows the
 * authority, "/" when that is empty or does not start with "/", "*" for a bare OPTIONS. */
static void check_target(const struct px_h1_head *h, const struct px_h1_head *h2)
{
    const char *t = h->target, *end = t + h->target_len;
    if (!absolute_form(h)) {
        FUZZ_CHECK(fuzz_h1_span_eq(t, h->target_len, h2->target, h2->target_len));
        return;
    }
    const char *p = (const char *)memchr(t, ':', h->target_len) + 3;
    while (p < end && *p != '/' && *p != '?' && *p != '#')
        p++;
    size_t rest = (size_t)(end - p);
    if (rest == 0) {
        const char *want = h->method_id == HTTP_OPTIONS ? "*" : "/";
        FUZZ_CHECK(fuzz_h1_span_eq(want, 1, h2->target, h2->target_len));
    } else if (*p == '/') {
        FUZZ_CHECK(fuzz_h1_span_eq(p, rest, h2->target, h2->target_len));
    } else {
        FUZZ_CHECK(h2->target_len == rest + 1 && h2->target[0] == '/' &&
                   memcmp(h2->target + 1, p, rest) == 0);
    }
}

/* X-Forwarded-For: the received values joined, then the client address. */
static void check_xff(const struct px_h1_head *h, const struct px_h1_head *h2)
{
    struct px_buf want = {0};
    for (unsigned i = 0; i < h->n_headers; i++) {
        if (!fuzz_h1_name_is(&h->headers[i], "x-forwarded-for"))
            continue;
        FUZZ_CHECK(px_buf_append(&want, h->headers[i].value, h->headers[i].value_len) == 0);
        FUZZ_CHECK(px_buf_append(&want, ", ", 2) == 0);
    }
    FUZZ_CHECK(px_buf_append(&want, fwd.client_addr, strlen(fwd.client_addr)) == 0);
    const struct px_h1_header *x = only_field(h2, "x-forwarded-for");
    FUZZ_CHECK(x && fuzz_h1_span_eq(x->value, x->value_len, want.data, want.len));
    px_buf_free(&want);
    x = only_field(h2, "x-forwarded-proto");
    FUZZ_CHECK(x && fuzz_h1_span_eq(x->value, x->value_len, fwd.proto, strlen(fwd.proto)));
    x = only_field(h2, "x-forwarded-host");
    FUZZ_CHECK(h->host ? x && fuzz_h1_span_eq(x->value, x->value_len, h->host, h->host_len) : !x);
}

static void check_head(const struct px_h1_head *h, const struct px_h1_head *h2)
{
    FUZZ_CHECK(fuzz_h1_span_eq(h->method, h->method_len, h2->method, h2->method_len));
    FUZZ_CHECK(h->method_id == h2->method_id);
    check_target(h, h2);
    FUZZ_CHECK(h->has_max_forwards == h2->has_max_forwards);
    if (h->has_max_forwards)
        FUZZ_CHECK(h2->max_forwards == (h->max_forwards ? h->max_forwards - 1 : 0));
    FUZZ_CHECK(h2->http_major == 1 && h2->http_minor == 1 && h2->keep_alive);
    FUZZ_CHECK(h->body == h2->body && h->upgrade == h2->upgrade);
    if (h->body == PX_H1_BODY_LENGTH)
        FUZZ_CHECK(h->content_length == h2->content_length);
    /* HTTP/1.0 ignores Expect: 100-continue, but the field is forwarded as HTTP/1.1. */
    if (h->http_minor == 1)
        FUZZ_CHECK(h->expect_continue == h2->expect_continue);
    if (h->host)
        FUZZ_CHECK(h2->host && fuzz_h1_span_eq(h->host, h->host_len, h2->host, h2->host_len));
    else
        FUZZ_CHECK(h2->host && fuzz_h1_span_eq(fwd.host, strlen(fwd.host), h2->host, h2->host_len));
    check_fields(h, h2);
    check_xff(h, h2);
    check_via(h, h2);
}

struct reparse {
    struct px_buf body;
    const struct px_h1_head *head;
    int ends;
};

static int re_head(void *ud, const struct px_h1_head *h)
{
    ((struct reparse *)ud)->head = h;
    return 0;
}

static int re_body(void *ud, const char *p, size_t n)
{
    FUZZ_CHECK(px_buf_append(&((struct reparse *)ud)->body, p, n) == 0);
    return 0;
}

static int re_end(void *ud)
{
    ((struct reparse *)ud)->ends++;
    return 0;
}

static void check_rewrite(const struct px_h1_head *h, const char *body, size_t blen)
{
    struct px_buf out = {0};
    FUZZ_CHECK(px_h1_request_head_write(h, &fwd, &out) == 0);
    FUZZ_CHECK(out.len >= 4 && memcmp(out.data + out.len - 4, "\r\n\r\n", 4) == 0);
    int cl, te;
    fuzz_h1_framing_fields(out.data, out.len - 2, &cl, &te);
    FUZZ_CHECK(cl <= 1 && te <= 1 && !(cl && te));
    size_t head_len = out.len;
    if (h->body == PX_H1_BODY_CHUNKED) {
        if (blen > 0)
            FUZZ_CHECK(px_h1_chunk_begin(&out, blen) == 0 && px_buf_append(&out, body, blen) == 0 &&
                       px_h1_chunk_end(&out) == 0);
        FUZZ_CHECK(px_h1_chunk_last(&out) == 0);
    } else if (h->body == PX_H1_BODY_LENGTH) {
        FUZZ_CHECK(blen == h->content_length);
        FUZZ_CHECK(px_buf_append(&out, body, blen) == 0);
    } else {
        FUZZ_CHECK(blen == 0);
    }
    struct reparse rp = {0};
    const struct px_h1_callbacks cb = {re_head, re_body, re_end, NULL};
    struct px_h1_parser *p = px_h1_parser_new(PX_H1_REQUEST, &relimits, &cb, &rp);
    FUZZ_CHECK(p != NULL);
    size_t used = 0;
    int rc = px_h1_feed(p, out.data, out.len, &used);
    if (rc == PX_H1_ERROR)
        fprintf(stderr, "re-parse refused (%d %s):\n%s\n", px_h1_error_status(p),
                px_h1_error_reason(p), out.data);
    FUZZ_CHECK(rc == (h->upgrade ? PX_H1_UPGRADED : PX_H1_PAUSED));
    FUZZ_CHECK(used == (h->upgrade ? head_len : out.len));
    FUZZ_CHECK(rp.head != NULL && rp.ends == (h->upgrade ? 0 : 1));
    check_head(h, rp.head);
    FUZZ_CHECK(fuzz_h1_span_eq(body, blen, rp.body.data, rp.body.len));
    px_h1_parser_free(p);
    px_buf_free(&rp.body);
    px_buf_free(&out);
}

/* ---- feeding ---- */

static int on_head(void *ud, const struct px_h1_head *h)
{
    struct run *r = ud;
    FUZZ_CHECK(px_buf_append(&r->log, "[head ", 6) == 0);
    log_head(&r->log, h);
    r->head = h;
    r->body.len = 0;
    return 0;
}

static int on_body(void *ud, const char *p, size_t n)
{
    struct run *r = ud;
    FUZZ_CHECK(r->head != NULL);
    FUZZ_CHECK(px_buf_append(&r->body, p, n) == 0);
    return 0;
}

static void flush_body(struct run *r, const char *tag)
{
    FUZZ_CHECK(px_buf_printf(&r->log, "[%s ", tag) == 0);
    fuzz_h1_log_span(&r->log, r->body.data, r->body.len);
    r->body.len = 0;
}

static int on_end(void *ud)
{
    struct run *r = ud;
    FUZZ_CHECK(r->head != NULL);
    if (r->check)
        check_rewrite(r->head, r->body.data, r->body.len);
    flush_body(r, "end");
    r->head = NULL;
    return 0;
}

/* Feeds d[0..n) in the pieces [0,cuts[0]), [cuts[0],cuts[1]), ... [cuts[ncuts-1],n). */
static void run_feed(struct run *r, const char *d, size_t n, const size_t *cuts, size_t ncuts)
{
    const struct px_h1_callbacks cb = {on_head, on_body, on_end, NULL};
    struct px_h1_parser *p = px_h1_parser_new(PX_H1_REQUEST, &limits, &cb, r);
    FUZZ_CHECK(p != NULL);
    size_t start = 0;
    bool done = false;
    for (size_t k = 0; k <= ncuts && !done; k++) {
        size_t end = k < ncuts ? cuts[k] : n, off = start;
        while (!done) {
            size_t used = 0;
            int rc = px_h1_feed(p, d + off, end - off, &used);
            FUZZ_CHECK(used <= end - off);
            off += used;
            if (rc == PX_H1_OK) {
                FUZZ_CHECK(off == end);
                break;
            }
            /* Where an error was noticed may depend on the split; the status may not. */
            FUZZ_CHECK(px_buf_printf(&r->log, "[rc %d @%zu st %d]", rc, rc == PX_H1_ERROR ? 0 : off,
                                     px_h1_error_status(p)) == 0);
            if (rc == PX_H1_UPGRADED && r->check)
                check_rewrite(r->head, r->body.data, r->body.len);
            if (rc != PX_H1_PAUSED) {
                done = true;
            } else {
                px_h1_resume(p);
                if (off == end)
                    break;
            }
        }
        start = end;
    }
    if (r->head != NULL)
        flush_body(r, "partial");
    if (!done) {
        int rc = px_h1_finish(p);
        FUZZ_CHECK(px_buf_printf(&r->log, "[finish %d st %d]", rc, px_h1_error_status(p)) == 0);
    }
    px_h1_parser_free(p);
}

static void compare(const struct run *a, const struct run *b, const char *what)
{
    if (fuzz_h1_span_eq(a->log.data, a->log.len, b->log.data, b->log.len))
        return;
    fuzz_dump("whole", a->log.data, a->log.len);
    fuzz_dump(what, b->log.data, b->log.len);
    FUZZ_CHECK(!"transcript depends on how the input was split");
}

static void run_free(struct run *r)
{
    px_buf_free(&r->log);
    px_buf_free(&r->body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    struct run whole = {.check = true}, split = {0};
    run_feed(&whole, d, size, NULL, 0);

    size_t cuts[2];
    fuzz_cuts(data, size, cuts);
    run_feed(&split, d, size, cuts, 2);
    compare(&whole, &split, "split");
    run_free(&split);

    if (size <= BYTEWISE_MAX) {
        struct run bytes = {0};
        size_t every[BYTEWISE_MAX];
        for (size_t i = 0; i < size; i++)
            every[i] = i + 1;
        run_feed(&bytes, d, size, every, size);
        compare(&whole, &bytes, "byte by byte");
        run_free(&bytes);
    }
    run_free(&whole);
    return 0;
}
