/* Fuzz target: chunked body decoding (px_http1.h), requests and responses.
 *
 * Input: one selector byte (bit 0: response instead of request), then the bytes that
 * follow a fixed chunked head. Properties (a broken one aborts):
 *  1. Split independence: fed whole, split at two input-derived points, and (short inputs)
 *     byte by byte, the decoded body, the end offset and the verdict are the same.
 *  2. A reference decoder for plain chunked bodies (no extensions, no trailers) agrees:
 *     a body it accepts is accepted with the same bytes and end offset, one it rejects is
 *     refused, a valid prefix leaves the parser waiting for more.
 *  3. Every accepted body, re-chunked with px_h1_chunk_begin/_end/_last, decodes to the
 *     same bytes.
 */
#include <string.h>

#include "fuzz_common.h"
#include "px_http1.h"

#define BYTEWISE_MAX 1024

static const char req_head[] = "POST /up HTTP/1.1\r\nHost: a.example\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";
static const char resp_head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
static const struct px_h1_limits limits = {
    .max_request_line = 512, .max_head = 1024, .max_headers = 16};

struct run {
    struct px_buf body;
    int heads, ends;
};

static int on_head(void *ud, const struct px_h1_head *h)
{
    FUZZ_CHECK(h->body == PX_H1_BODY_CHUNKED);
    ((struct run *)ud)->heads++;
    return 0;
}

static int on_body(void *ud, const char *p, size_t n)
{
    FUZZ_CHECK(px_buf_append(&((struct run *)ud)->body, p, n) == 0);
    return 0;
}

static int on_end(void *ud)
{
    ((struct run *)ud)->ends++;
    return 0;
}

struct verdict {
    int rc;     /* PX_H1_PAUSED (accepted), PX_H1_OK (wants more) or PX_H1_ERROR */
    size_t end; /* accepted: offset just after the message */
    int status;
};

/* Feeds msg[0..n) in the pieces between cuts; stops at the end of the first message. */
static struct verdict feed(bool response, const char *msg, size_t n, const size_t *cuts,
                           size_t ncuts, struct run *r)
{
    const struct px_h1_callbacks cb = {on_head, on_body, on_end, NULL};
    struct px_h1_parser *p =
        px_h1_parser_new(response ? PX_H1_RESPONSE : PX_H1_REQUEST, &limits, &cb, r);
    FUZZ_CHECK(p != NULL);
    struct verdict v = {PX_H1_OK, 0, 0};
    size_t start = 0;
    for (size_t k = 0; k <= ncuts && v.rc == PX_H1_OK; k++) {
        size_t end = k < ncuts ? cuts[k] : n, used = 0;
        v.rc = px_h1_feed(p, msg + start, end - start, &used);
        FUZZ_CHECK(v.rc == PX_H1_OK ? used == end - start : used <= end - start);
        v.end = start + used;
        start = end;
    }
    FUZZ_CHECK(v.rc == PX_H1_OK || v.rc == PX_H1_PAUSED || v.rc == PX_H1_ERROR);
    v.status = px_h1_error_status(p);
    if (v.rc != PX_H1_PAUSED)
        v.end = 0; /* where an error is noticed may depend on the split */
    FUZZ_CHECK(r->ends == (v.rc == PX_H1_PAUSED));
    px_h1_parser_free(p);
    return v;
}

/* ---- the reference decoder ---- */

enum ref { REF_ACCEPT, REF_REJECT, REF_MORE, REF_UNKNOWN };

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes RFC 9112 chunked framing without extensions or trailers: anything that needs
 * them (or a size over 15 hex digits) is REF_UNKNOWN. *end: bytes used when accepted. */
static enum ref ref_decode(const uint8_t *d, size_t n, struct px_buf *out, size_t *end)
{
    size_t i = 0;
    for (;;) {
        uint64_t size = 0;
        size_t digits = 0;
        for (; i < n && hexval(d[i]) >= 0; i++, digits++) {
            if (digits == 15)
                return REF_UNKNOWN;
            size = size * 16 + (uint64_t)hexval(d[i]);
        }
        if (i == n)
            return REF_MORE;
        if (d[i] == ';' || d[i] == ' ' || d[i] == '\t')
            return REF_UNKNOWN; /* extensions, or whitespace before them */
        if (digits == 0 || d[i] != '\r')
            return REF_REJECT;
        if (++i == n)
            return REF_MORE;
        if (d[i++] != '\n')
            return REF_REJECT;
        if (size == 0)
            break;
        if (n - i < size)
            return REF_MORE;
        FUZZ_CHECK(px_buf_append(out, d + i, (size_t)size) == 0);
        i += (size_t)size;
        if (i == n)
            return REF_MORE;
        if (d[i++] != '\r')
            return REF_REJECT;
        if (i == n)
            return REF_MORE;
        if (d[i++] != '\n')
            return REF_REJECT;
    }
    if (i == n)
        return REF_MORE;
    if (d[i] != '\r')
        return REF_UNKNOWN; /* a trailer section */
    if (++i == n)
        return REF_MORE;
    if (d[i++] != '\n')
        return REF_REJECT;
    *end = i;
    return REF_ACCEPT;
}

/* ---- properties ---- */

static bool same(const struct run *a, const struct verdict *va, const struct run *b,
                 const struct verdict *vb)
{
    return va->rc == vb->rc && va->end == vb->end && va->status == vb->status &&
           a->heads == b->heads && a->body.len == b->body.len &&
           (a->body.len == 0 || memcmp(a->body.data, b->body.data, a->body.len) == 0);
}

static void check_reference(const uint8_t *d, size_t n, size_t head_len, const struct run *r,
                            const struct verdict *v)
{
    struct px_buf want = {0};
    size_t end = 0;
    enum ref ref = ref_decode(d, n, &want, &end);
    if (ref == REF_ACCEPT) {
        FUZZ_CHECK(v->rc == PX_H1_PAUSED && v->end == head_len + end);
        FUZZ_CHECK(want.len == r->body.len &&
                   (want.len == 0 || memcmp(want.data, r->body.data, want.len) == 0));
    } else if (ref == REF_REJECT) {
        FUZZ_CHECK(v->rc == PX_H1_ERROR);
    } else if (ref == REF_MORE) {
        FUZZ_CHECK(v->rc == PX_H1_OK);
    }
    px_buf_free(&want);
}

/* Re-chunks the decoded body (in two pieces when it has two bytes or more) and decodes
 * it again. */
static void check_rechunk(bool response, const char *head, size_t head_len, const struct run *r)
{
    struct px_buf msg = {0};
    size_t half = r->body.len / 2;
    FUZZ_CHECK(px_buf_append(&msg, head, head_len) == 0);
    if (half > 0)
        FUZZ_CHECK(px_h1_chunk_begin(&msg, half) == 0 &&
                   px_buf_append(&msg, r->body.data, half) == 0 && px_h1_chunk_end(&msg) == 0);
    if (r->body.len > half)
        FUZZ_CHECK(px_h1_chunk_begin(&msg, r->body.len - half) == 0 &&
                   px_buf_append(&msg, r->body.data + half, r->body.len - half) == 0 &&
                   px_h1_chunk_end(&msg) == 0);
    FUZZ_CHECK(px_h1_chunk_last(&msg) == 0);
    struct run again = {0};
    struct verdict v = feed(response, msg.data, msg.len, NULL, 0, &again);
    FUZZ_CHECK(v.rc == PX_H1_PAUSED && v.end == msg.len);
    FUZZ_CHECK(again.body.len == r->body.len &&
               (r->body.len == 0 || memcmp(again.body.data, r->body.data, r->body.len) == 0));
    px_buf_free(&again.body);
    px_buf_free(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool response = data[0] & 1;
    const char *head = response ? resp_head : req_head;
    size_t head_len = strlen(head), n = size - 1;
    struct px_buf msg = {0};
    FUZZ_CHECK(px_buf_append(&msg, head, head_len) == 0 && px_buf_append(&msg, data + 1, n) == 0);

    struct run whole = {0}, split = {0};
    struct verdict vw = feed(response, msg.data, msg.len, NULL, 0, &whole);
    size_t cuts[2];
    fuzz_cuts(data, size, cuts); /* cuts inside the head are fine: same verdict expected */
    struct verdict vs = feed(response, msg.data, msg.len, cuts, 2, &split);
    FUZZ_CHECK(same(&whole, &vw, &split, &vs));
    if (msg.len <= BYTEWISE_MAX) {
        struct run bytes = {0};
        size_t every[BYTEWISE_MAX];
        for (size_t i = 0; i < msg.len; i++)
            every[i] = i + 1;
        struct verdict vb = feed(response, msg.data, msg.len, every, msg.len, &bytes);
        FUZZ_CHECK(same(&whole, &vw, &bytes, &vb));
        px_buf_free(&bytes.body);
    }
    check_reference(data + 1, n, head_len, &whole, &vw);
    if (vw.rc == PX_H1_PAUSED)
        check_rechunk(response, head, head_len, &whole);
    px_buf_free(&whole.body);
    px_buf_free(&split.body);
    px_buf_free(&msg);
    return 0;
}
