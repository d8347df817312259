/* Fuzz target: the response path parse -> validate -> re-serialise (px_http1.h).
 *
 * Input: one control byte (bit 0: the request was HEAD, else GET; bit 1: HTTP/1.0 client;
 * bit 2: the proxy closes after this response), then the upstream's bytes.
 *
 * Properties (a broken one aborts):
 *  1. Split independence: fed whole, split at two input-derived points and (short inputs)
 *     byte by byte, the transcript is the same: every head (interim ones too), every body,
 *     every trailer field, pause / upgrade offsets, the verdict and the verdict at end of
 *     input (EOF bodies).
 *  2. For every final response (fed whole), px_h1_response_head_write's output carries at
 *     most one framing field, never both, and the one px_h1_response_framing() announces;
 *     re-parsed with its body re-framed that way, it gives the same status, the same
 *     end-to-end fields and the same body.
 */
#include <string.h>

#include <llhttp.h>

#include "fuzz_common.h"
#include "fuzz_h1.h"

#define BYTEWISE_MAX 512

static const struct px_h1_limits limits = {
    .max_request_line = 512, .max_head = 2048, .max_headers = 32};
static const struct px_h1_limits relimits = {
    .max_request_line = 4096, .max_head = 8192, .max_headers = 64};

struct ctl {
    int method;
    int client_minor;
    bool close;
};

struct run {
    struct ctl ctl;
    struct px_buf log, body;
    const struct px_h1_head *head;
    bool check;
};

/* ---- the re-serialisation oracle ---- */

/* Fields the proxy never forwards as received (hop-by-hop and framing). */
static bool proxy_owned(const struct px_h1_header *f)
{
    static const char *const names[] = {
        "connection", "keep-alive",        "proxy-connection", "te",
        "trailer",    "transfer-encoding", "content-length",   "upgrade"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (fuzz_h1_name_is(f, names[i]))
            return true;
    return false;
}

/* The end-to-end fields of h, in order, are those of h2 that are not the proxy's. */
static void check_fields(const struct px_h1_head *h, const struct px_h1_head *h2)
{
    unsigned j = 0;
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (proxy_owned(f) || fuzz_h1_named_by_connection(h, f))
            continue;
        while (j < h2->n_headers && proxy_owned(&h2->headers[j]))
            j++;
        FUZZ_CHECK(j < h2->n_headers);
        const struct px_h1_header *g = &h2->headers[j++];
        FUZZ_CHECK(fuzz_h1_span_eq(f->name, f->name_len, g->name, g->name_len));
        FUZZ_CHECK(fuzz_h1_span_eq(f->value, f->value_len, g->value, g->value_len));
    }
    for (; j < h2->n_headers; j++)
        FUZZ_CHECK(proxy_owned(&h2->headers[j]));
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

/* The announced framing is the only one in the head. */
static void check_framing(const struct px_h1_head *h, enum px_h1_body fr, const struct ctl *c,
                          const struct px_buf *out)
{
    int cl, te;
    fuzz_h1_framing_fields(out->data, out->len - 2, &cl, &te);
    FUZZ_CHECK(cl <= 1 && te <= 1 && !(cl && te));
    FUZZ_CHECK((fr == PX_H1_BODY_CHUNKED) == (te == 1));
    if (fr == PX_H1_BODY_LENGTH)
        FUZZ_CHECK(cl == 1);
    if (fr == PX_H1_BODY_EOF)
        FUZZ_CHECK(cl == 0 && c->client_minor == 0 && strstr(out->data, "Connection: close\r\n"));
    if (fr == PX_H1_BODY_CHUNKED)
        FUZZ_CHECK(c->client_minor >= 1);
}

/* Appends the body framed as fr announces. */
static void put_body(enum px_h1_body fr, const char *body, size_t blen, struct px_buf *out)
{
    if (fr == PX_H1_BODY_CHUNKED) {
        if (blen > 0)
            FUZZ_CHECK(px_h1_chunk_begin(out, blen) == 0 && px_buf_append(out, body, blen) == 0 &&
                       px_h1_chunk_end(out) == 0);
        FUZZ_CHECK(px_h1_chunk_last(out) == 0);
    } else if (fr != PX_H1_BODY_NONE) {
        FUZZ_CHECK(px_buf_append(out, body, blen) == 0);
    }
}

static void check_rewrite(const struct ctl *c, const struct px_h1_head *h, const char *body,
                          size_t blen)
{
    struct px_buf out = {0};
    FUZZ_CHECK(px_h1_response_head_write(h, c->close, c->client_minor, &out) == 0);
    FUZZ_CHECK(out.len >= 4 && memcmp(out.data + out.len - 4, "\r\n\r\n", 4) == 0);
    enum px_h1_body fr = px_h1_response_framing(h, c->client_minor);
    check_framing(h, fr, c, &out);
    if (fr == PX_H1_BODY_LENGTH)
        FUZZ_CHECK(blen == h->content_length);
    if (fr == PX_H1_BODY_NONE)
        FUZZ_CHECK(blen == 0);
    size_t head_len = out.len;
    put_body(fr, body, blen, &out);

    struct reparse rp = {0};
    const struct px_h1_callbacks cb = {re_head, re_body, re_end, NULL};
    struct px_h1_parser *p = px_h1_parser_new(PX_H1_RESPONSE, &relimits, &cb, &rp);
    FUZZ_CHECK(p != NULL);
    px_h1_expect_response_to(p, c->method);
    size_t used = 0;
    int rc = px_h1_feed(p, out.data, out.len, &used);
    if (rc == PX_H1_OK && fr == PX_H1_BODY_EOF)
        rc = px_h1_finish(p) == PX_H1_OK && rp.ends == 1 ? PX_H1_PAUSED : PX_H1_ERROR;
    if (rc == PX_H1_ERROR)
        fprintf(stderr, "re-parse refused (%s):\n%s\n", px_h1_error_reason(p), out.data);
    bool up = h->status == 101;
    FUZZ_CHECK(rc == (up ? PX_H1_UPGRADED : PX_H1_PAUSED));
    FUZZ_CHECK(used == (up ? head_len : out.len));
    FUZZ_CHECK(rp.head != NULL && rp.ends == (up ? 0 : 1));
    FUZZ_CHECK(rp.head->status == h->status && rp.head->http_minor == 1);
    check_fields(h, rp.head);
    FUZZ_CHECK(fuzz_h1_span_eq(body, blen, rp.body.data, rp.body.len));
    px_h1_parser_free(p);
    px_buf_free(&rp.body);
    px_buf_free(&out);
}

/* ---- feeding ---- */

static void log_head(struct px_buf *b, const struct px_h1_head *h)
{
    FUZZ_CHECK(px_buf_printf(b, "[head %d H%d.%d b%d cl%llu ka%d up%d n%u ", h->status,
                             h->http_major, h->http_minor, (int)h->body,
                             (unsigned long long)h->content_length, h->keep_alive, h->upgrade,
                             h->n_headers) == 0);
    fuzz_h1_log_span(b, h->reason, h->reason_len);
    for (unsigned i = 0; i < h->n_headers; i++) {
        fuzz_h1_log_span(b, h->headers[i].name, h->headers[i].name_len);
        fuzz_h1_log_span(b, h->headers[i].value, h->headers[i].value_len);
    }
}

static int on_head(void *ud, const struct px_h1_head *h)
{
    struct run *r = ud;
    log_head(&r->log, h);
    /* An interim head is only valid during this call. */
    r->head = h->status >= 200 || h->status == 101 ? h : NULL;
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

/* A trailer field comes after the body of a final response, already validated: it is
 * never a framing field, and the relay's writer gives it back as one field line. */
static int on_trailer(void *ud, const struct px_h1_header *f)
{
    struct run *r = ud;
    FUZZ_CHECK(r->head != NULL && r->head->body == PX_H1_BODY_CHUNKED);
    FUZZ_CHECK(f->name_len > 0);
    FUZZ_CHECK(!(f->name_len == 14 && strncasecmp(f->name, "content-length", 14) == 0));
    FUZZ_CHECK(!(f->name_len == 17 && strncasecmp(f->name, "transfer-encoding", 17) == 0));
    struct px_buf line = {0};
    FUZZ_CHECK(px_h1_trailer_write(&line, f) == 0);
    FUZZ_CHECK(line.len == 0 || (line.len == f->name_len + 2 + f->value_len + 2 &&
                                 memcmp(line.data + line.len - 2, "\r\n", 2) == 0));
    px_buf_free(&line);
    FUZZ_CHECK(px_buf_printf(&r->log, "[trailer ") == 0);
    fuzz_h1_log_span(&r->log, f->name, f->name_len);
    FUZZ_CHECK(px_buf_printf(&r->log, ": ") == 0);
    fuzz_h1_log_span(&r->log, f->value, f->value_len);
    FUZZ_CHECK(px_buf_printf(&r->log, "]") == 0);
    return 0;
}

static int on_end(void *ud)
{
    struct run *r = ud;
    FUZZ_CHECK(r->head != NULL);
    if (r->check)
        check_rewrite(&r->ctl, r->head, r->body.data, r->body.len);
    flush_body(r, "end");
    r->head = NULL;
    return 0;
}

/* One piece of input; returns false when parsing is over (upgrade or error). */
static bool feed_piece(struct run *r, struct px_h1_parser *p, const char *d, size_t end,
                       size_t *off)
{
    for (;;) {
        size_t used = 0;
        int rc = px_h1_feed(p, d + *off, end - *off, &used);
        FUZZ_CHECK(used <= end - *off);
        *off += used;
        if (rc == PX_H1_OK) {
            FUZZ_CHECK(*off == end);
            return true;
        }
        FUZZ_CHECK(px_buf_printf(&r->log, "[rc %d @%zu]", rc, rc == PX_H1_ERROR ? 0 : *off) == 0);
        if (rc == PX_H1_UPGRADED && r->check)
            check_rewrite(&r->ctl, r->head, r->body.data, r->body.len);
        if (rc != PX_H1_PAUSED)
            return false;
        px_h1_resume(p);
        px_h1_expect_response_to(p, r->ctl.method);
        if (*off == end)
            return true;
    }
}

static void run_feed(struct run *r, const char *d, size_t n, const size_t *cuts, size_t ncuts)
{
    const struct px_h1_callbacks cb = {on_head, on_body, on_end, on_trailer};
    struct px_h1_parser *p = px_h1_parser_new(PX_H1_RESPONSE, &limits, &cb, r);
    FUZZ_CHECK(p != NULL);
    px_h1_expect_response_to(p, r->ctl.method);
    size_t start = 0;
    bool going = true;
    for (size_t k = 0; k <= ncuts && going; k++) {
        size_t end = k < ncuts ? cuts[k] : n, off = start;
        going = feed_piece(r, p, d, end, &off);
        start = end;
    }
    if (going) { /* the upstream closed: completes an EOF body */
        int rc = px_h1_finish(p);
        FUZZ_CHECK(px_buf_printf(&r->log, "[finish %d]", rc) == 0);
    }
    if (r->head != NULL)
        flush_body(r, "partial");
    FUZZ_CHECK(px_buf_printf(&r->log, "[status %d]", px_h1_error_status(p)) == 0);
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
    if (size < 1)
        return 0;
    struct ctl ctl = {data[0] & 1 ? HTTP_HEAD : HTTP_GET, data[0] & 2 ? 0 : 1, data[0] & 4};
    const char *d = (const char *)data + 1;
    size_t n = size - 1;
    struct run whole = {.ctl = ctl, .check = true}, split = {.ctl = ctl};
    run_feed(&whole, d, n, NULL, 0);

    size_t cuts[2];
    fuzz_cuts(data + 1, n, cuts);
    run_feed(&split, d, n, cuts, 2);
    compare(&whole, &split, "split");
    run_free(&split);

    if (n <= BYTEWISE_MAX) {
        struct run bytes = {.ctl = ctl};
        size_t every[BYTEWISE_MAX];
        for (size_t i = 0; i < n; i++)
            every[i] = i + 1;
        run_feed(&bytes, d, n, every, n);
        compare(&whole, &bytes, "byte by byte");
        run_free(&bytes);
    }
    run_free(&whole);
    return 0;
}
