/* HTTP/1.x message parser: a raw-head scanner and validator in front of llhttp.
 *
 * How a message flows:
 *  1. head_scan() copies the head bytes into hbuf as they arrive, byte by byte, enforcing
 *     CRLF line endings and the limits, until the empty line. Because every decision is
 *     made on a byte at its position in the stream, the verdict cannot depend on how the
 *     bytes were split across px_h1_feed calls.
 *  2. px_h1_head_parse() (http1_validate.c) validates the complete head and fills
 *     struct px_h1_head with pointers into hbuf, so no span ever needs re-assembly.
 *  3. llhttp (strict mode, reset for every message) parses the same head bytes from hbuf;
 *     on_headers_complete cross-checks its view of version, method/status and framing
 *     against ours, then hands the head to the user.
 *     An extension method (any token llhttp does not know, RFC 9110 9.1) is fed to
 *     llhttp as "GET": llhttp 8.1 refuses methods outside its list, and for a request
 *     the method plays no part in framing (RFC 9112 6.3) except CONNECT, refused earlier.
 *  4. Body bytes go straight from the caller's buffer through llhttp to on_body (no copy).
 *     Chunk lines are the exception: chunked_feed() scans them itself (http1_chunk.c,
 *     RFC 9112 7.1.1 extensions llhttp refuses) and gives llhttp a canonical "<hex>\r\n"
 *     for each. llhttp pauses at the end of the message, or at the last chunk, after which
 *     trailer_scan() reads the trailer section with the same line rules as the head.
 *
 * Memory: hbuf holds at most max_head bytes, the header array max_headers entries, the
 * trailer line buffer max_head bytes (a px_buf, a PX_VEC and a px_buf); all are kept across
 * messages, so a connection allocates nothing per request once warm.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "http1_int.h"
#include "px_vec.h"

#define EXT_MAX 4096 /* chunk extension bytes per message */

/* Empty lines tolerated after an interim response (aiohttp sends one after 100 Continue). */
#define INTERIM_BLANK_MAX 8

/* The parser's one state. head_done, msg_done and last_chunk are not states of their own:
 * they are llhttp's callbacks reporting inside S_HEAD and S_BODY, read once llhttp returns. */
enum state {
    S_HEAD,     /* scanning a head (or idle) */
    S_BODY,     /* llhttp is parsing the body */
    S_TRAILER,  /* after the last chunk: scanning trailers */
    S_DONE,     /* message complete, waiting for px_h1_resume */
    S_UPGRADED, /* head of an upgrade done; the rest is not HTTP */
    S_ERROR,    /* final: px_h1_error_status tells why */
    S_ABORTED,  /* final: a callback asked to stop */
};

#define B(s) (1u << (s))
/* The states each state may move to; S_ERROR and S_ABORTED are final. */
static const unsigned next_ok[] = {
    [S_HEAD] = B(S_HEAD) | B(S_BODY) | B(S_UPGRADED) | B(S_DONE) | B(S_ERROR) | B(S_ABORTED),
    [S_BODY] = B(S_TRAILER) | B(S_DONE) | B(S_ERROR) | B(S_ABORTED),
    [S_TRAILER] = B(S_DONE) | B(S_ERROR) | B(S_ABORTED),
    [S_DONE] = B(S_HEAD),
    [S_UPGRADED] = B(S_HEAD),
    [S_ERROR] = 0,
    [S_ABORTED] = 0,
};

struct px_h1_parser {
    llhttp_t ll;
    enum px_h1_kind kind;
    enum state state;
    struct px_h1_limits lim;
    struct px_h1_callbacks cb;
    void *ud;
    int req_method; /* responses: the method of the request answered */
    /* head (and trailer) line scanner */
    size_t line_len;    /* content bytes of the current line */
    unsigned n_lines;   /* complete non-empty lines in this section */
    bool cr;            /* the previous byte was CR */
    bool past_1xx;      /* an interim response came first: empty lines are skipped */
    unsigned blanks;    /* empty lines skipped so far */
    struct px_buf hbuf; /* the raw head; len <= lim.max_head */
    PX_VEC(struct px_h1_header) hdrs;
    struct px_h1_head head;
    /* body */
    bool head_done, msg_done, last_chunk;
    size_t ext_bytes;
    /* chunked bodies: the chunk line scanner, then the data and CRLF bytes still due */
    struct px_h1_chunk_scan cs;
    uint64_t chunk_left;
    unsigned chunk_crlf;
    /* trailers: only the current line is kept */
    struct px_buf tbuf; /* len <= lim.max_head */
    size_t t_total;
    int err_status;
    const char *err_reason;
};

static void set_state(struct px_h1_parser *p, enum state to)
{
    (void)next_ok; /* read by the assert only */
    assert(next_ok[p->state] & B(to));
    p->state = to;
}

static int fail(struct px_h1_parser *p, int status, const char *reason)
{
    set_state(p, S_ERROR);
    p->err_status = p->kind == PX_H1_RESPONSE ? 502 : status;
    p->err_reason = reason;
    return -1;
}

static int stop(struct px_h1_parser *p)
{
    set_state(p, S_ABORTED);
    return -1;
}

static int hdrs_reserve(struct px_h1_parser *p, unsigned n)
{
    if (n > p->lim.max_headers)
        return fail(p, 431, "too many header fields");
    if (px_vec_reserve(&p->hdrs, n) != 0)
        return fail(p, 500, "out of memory");
    return 0;
}

static void new_message(struct px_h1_parser *p)
{
    llhttp_reset(&p->ll);
    set_state(p, S_HEAD);
    p->line_len = 0;
    p->n_lines = 0;
    p->cr = false;
    p->blanks = 0;
    p->past_1xx = false;
    p->hbuf.len = 0;
    memset(&p->head, 0, sizeof(p->head));
    p->head_done = p->msg_done = p->last_chunk = false;
    p->ext_bytes = 0;
    px_h1_chunk_scan_reset(&p->cs);
    p->chunk_left = 0;
    p->chunk_crlf = 0;
    p->tbuf.len = 0;
    p->t_total = 0;
}

/* ---- llhttp callbacks ---- */

/* Our framing facts as the raw fields declare them, for the cross-check with llhttp. */
static void declared_framing(const struct px_h1_head *h, bool *te, bool *cl)
{
    *te = *cl = false;
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (PX_H1_IS(f->name, f->name_len, "transfer-encoding"))
            *te = true;
        else if (PX_H1_IS(f->name, f->name_len, "content-length"))
            *cl = true;
    }
}

/* The method llhttp was given for h (see ll_head). */
static int ll_method(const struct px_h1_head *h)
{
    return h->method_id == PX_H1_METHOD_EXTENSION ? HTTP_GET : h->method_id;
}

/* Returns 0 (proceed), 1 (no body), 2 (upgrade: no body, stop) or -1. */
static int ll_headers_complete(llhttp_t *ll)
{
    struct px_h1_parser *p = ll->data;
    const struct px_h1_head *h = &p->head;
    bool te, cl;
    declared_framing(h, &te, &cl);
    p->head_done = true;
    if (ll->http_major != h->http_major || ll->http_minor != h->http_minor ||
        (p->kind == PX_H1_REQUEST && ll->method != ll_method(h)) ||
        (p->kind == PX_H1_RESPONSE && ll->status_code != h->status) ||
        te != ((ll->flags & F_CHUNKED) != 0) || cl != ((ll->flags & F_CONTENT_LENGTH) != 0) ||
        (cl && ll->content_length != h->content_length))
        return fail(p, 400, "llhttp disagrees with the head validation");
    if (p->cb.on_head && p->cb.on_head(p->ud, h) != 0)
        return stop(p);
    if (h->upgrade)
        return 2;
    /* Whether the message upgrades is our decision, not llhttp's (which would also pause
     * after an upgrade request that carries a body). */
    ll->upgrade = 0;
    return h->body == PX_H1_BODY_NONE ? 1 : 0;
}

static int ll_body(llhttp_t *ll, const char *at, size_t n)
{
    struct px_h1_parser *p = ll->data;
    if (p->cb.on_body && p->cb.on_body(p->ud, at, n) != 0)
        return stop(p);
    return 0;
}

static int ll_message_complete(llhttp_t *ll)
{
    struct px_h1_parser *p = ll->data;
    p->msg_done = true;
    return HPE_PAUSED;
}

/* The last chunk hands over to trailer_scan(); llhttp is reset before the next message. */
static int ll_chunk_header(llhttp_t *ll)
{
    struct px_h1_parser *p = ll->data;
    if (ll->content_length != 0)
        return 0;
    p->last_chunk = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t ll_settings = {
    .on_headers_complete = ll_headers_complete,
    .on_body = ll_body,
    .on_message_complete = ll_message_complete,
    .on_chunk_header = ll_chunk_header,
};

/* ---- scanning ---- */

/* Appends d[*start..end) to hbuf and moves *start to end. */
static int head_copy(struct px_h1_parser *p, const char *d, size_t *start, size_t end)
{
    size_t take = end - *start;
    if (take == 0)
        return 0;
    assert(p->hbuf.len + take <= p->lim.max_head); /* head_scan checked every byte */
    if (px_buf_append(&p->hbuf, d + *start, take) != 0)
        return fail(p, 500, "out of memory");
    *start = end;
    return 0;
}

/* The start line is checked as soon as it is complete, so that an HTTP/0.9-style "GET /"
 * or a wrong version is answered at once rather than after a head that never comes. */
static int start_line_end(struct px_h1_parser *p)
{
    const char *reason = "";
    int st = px_h1_start_line_check(p->kind, p->hbuf.data, p->hbuf.len - 2, &reason);
    return st ? fail(p, st, reason) : 0;
}

/* Handles the LF that ends a head line; hbuf holds the head up to and including it.
 * Returns 0 to go on, 1 when the head is complete, 2 when an empty line before a request
 * line (RFC 9112 2.2) or after an interim response was skipped, -1 on error. An empty
 * line before a first status line is not tolerated: nothing legitimate sends it, and the
 * bytes might be a previous message's leftovers. */
static int head_line_end(struct px_h1_parser *p)
{
    if (p->line_len > 0) {
        p->n_lines++;
        p->line_len = 0;
        return p->n_lines > 1 ? hdrs_reserve(p, p->n_lines - 1) : start_line_end(p);
    }
    if (p->n_lines > 0)
        return 1;
    if (p->kind == PX_H1_RESPONSE && !p->past_1xx)
        return fail(p, 502, "empty line before the status line");
    if (p->kind == PX_H1_RESPONSE && ++p->blanks > INTERIM_BLANK_MAX)
        return fail(p, 502, "too many empty lines after an interim response");
    return 2;
}

/* The LF of a CRLF, at d[i]. */
static int head_lf(struct px_h1_parser *p, const char *d, size_t *start, size_t i)
{
    /* The start line is checked from hbuf, so it goes there first. */
    if (p->n_lines == 0 && head_copy(p, d, start, i + 1) != 0)
        return -1;
    int rc = head_line_end(p);
    if (rc == 2) {
        p->hbuf.len = 0; /* skip the empty line */
        rc = 0;
    }
    return rc;
}

/* Length of the run of bytes other than CR and LF at the start of d[0..n). */
static size_t plain_run(const char *d, size_t n)
{
    const char *lf = memchr(d, '\n', n);
    size_t k = lf ? (size_t)(lf - d) : n;
    const char *cr = memchr(d, '\r', k);
    return cr ? (size_t)(cr - d) : k;
}

/* Scans d[0..n) for the end of the head; copies what belongs to the head into hbuf.
 * Returns 1 when the head is complete (*used up to and including its last LF), 0 when
 * all of d was consumed and more is needed, -1 on error. */
static int head_scan(struct px_h1_parser *p, const char *d, size_t n, size_t *used)
{
    size_t start = 0, i;
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)d[i];
        if (p->hbuf.len + (i - start) + 1 > p->lim.max_head) {
            rc = fail(p, 431, "head too large");
        } else if (p->cr) {
            p->cr = false;
            rc = c == '\n' ? head_lf(p, d, &start, i) : fail(p, 400, "bare CR in head");
        } else if (c == '\r') {
            p->cr = true;
        } else if (c == '\n') {
            rc = fail(p, 400, "bare LF in head");
        } else {
            /* An ordinary byte: take its whole run at once. The run stays within max_head
             * (checked above for this byte), so the request-line limit is the only check
             * left, and the verdict is the one a byte-by-byte scan would give. */
            size_t room = p->lim.max_head - (p->hbuf.len + (i - start));
            size_t k = plain_run(d + i, n - i < room ? n - i : room);
            if (p->n_lines == 0 && p->line_len + k > p->lim.max_request_line)
                rc = fail(p, 414, "request line too long");
            p->line_len += k;
            i += k - 1;
        }
    }
    if (rc < 0 || head_copy(p, d, &start, i) != 0)
        return -1;
    *used = i;
    return rc;
}

/* llhttp's reason for its last error (static strings), never NULL. */
static const char *ll_reason(const struct px_h1_parser *p)
{
    const char *r = llhttp_get_error_reason(&p->ll);
    return r && *r ? r : "llhttp did not complete the message";
}

static void message_end(struct px_h1_parser *p)
{
    if (p->cb.on_end && p->cb.on_end(p->ud) != 0)
        set_state(p, S_ABORTED);
    else
        set_state(p, S_DONE);
}

/* Runs llhttp over the head in hbuf; an extension method goes in as "GET" (see the top). */
static llhttp_errno_t ll_head(struct px_h1_parser *p)
{
    size_t ml = p->head.method_len;
    if (p->kind != PX_H1_REQUEST || p->head.method_id != PX_H1_METHOD_EXTENSION)
        return llhttp_execute(&p->ll, p->hbuf.data, p->hbuf.len);
    llhttp_errno_t e = llhttp_execute(&p->ll, "GET", 3);
    return e != HPE_OK ? e : llhttp_execute(&p->ll, p->hbuf.data + ml, p->hbuf.len - ml);
}

/* The head in hbuf is complete: validate, run llhttp over it, deliver it. */
static void head_complete(struct px_h1_parser *p)
{
    const char *reason = "";
    int st = px_h1_head_parse(p->kind, p->hbuf.data, p->hbuf.len, p->req_method, p->hdrs.v,
                              &p->head, &reason);
    if (st != 0) {
        fail(p, st, reason);
        return;
    }
    llhttp_errno_t e = ll_head(p);
    if (p->state != S_HEAD)
        return; /* a callback failed or stopped */
    if (!p->head_done || (e != HPE_OK && !p->msg_done)) {
        fail(p, 400, ll_reason(p));
        return;
    }
    if (p->msg_done && llhttp_get_error_pos(&p->ll) != p->hbuf.data + p->hbuf.len) {
        fail(p, 400, "llhttp ended the message inside the head");
        return;
    }
    if (p->head.upgrade)
        set_state(p, S_UPGRADED);
    else if (!p->msg_done)
        set_state(p, S_BODY);
    else if (p->kind == PX_H1_RESPONSE && p->head.status < 200) {
        new_message(p); /* interim response: on with the final one */
        p->past_1xx = true;
    } else
        message_end(p);
}

/* Takes up to avail bytes of chunk data and the CRLF after it; returns how many. */
static size_t chunk_data_take(struct px_h1_parser *p, size_t avail)
{
    if (p->chunk_left >= avail) {
        p->chunk_left -= avail;
        return avail;
    }
    size_t k = (size_t)p->chunk_left, crlf = avail - k < p->chunk_crlf ? avail - k : p->chunk_crlf;
    p->chunk_left = 0;
    p->chunk_crlf -= (unsigned)crlf;
    return k + crlf;
}

/* A chunk line is complete: llhttp gets its canonical form. Returns 0 or -1. */
static int chunk_line_done(struct px_h1_parser *p)
{
    char line[24];
    size_t i = sizeof line;
    uint64_t v = p->cs.size;
    line[--i] = '\n';
    line[--i] = '\r';
    do {
        line[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    llhttp_errno_t e = llhttp_execute(&p->ll, line + i, sizeof line - i);
    if (p->state != S_BODY)
        return -1;
    if (p->cs.size == 0 ? e != HPE_PAUSED || !p->last_chunk : e != HPE_OK)
        return fail(p, 400, ll_reason(p));
    p->chunk_left = p->cs.size;
    p->chunk_crlf = p->cs.size ? 2 : 0;
    px_h1_chunk_scan_reset(&p->cs);
    return 0;
}

/* A chunked body up to the end of its last chunk line (see the top). */
static void chunked_feed(struct px_h1_parser *p, const char *d, size_t n, size_t *used)
{
    size_t off = 0;
    while (off < n && p->state == S_BODY && !p->last_chunk) {
        size_t u = 0;
        if (p->chunk_left > 0 || p->chunk_crlf > 0) {
            u = chunk_data_take(p, n - off);
            llhttp_errno_t e = llhttp_execute(&p->ll, d + off, u);
            off += u;
            if (p->state == S_BODY && e != HPE_OK)
                fail(p, 400, ll_reason(p));
            continue;
        }
        const char *reason = "";
        int rc =
            px_h1_chunk_line_scan(&p->cs, d + off, n - off, &u, &p->ext_bytes, EXT_MAX, &reason);
        off += u;
        if (rc == 1)
            chunk_line_done(p);
        else if (rc != 0)
            fail(p, rc, reason);
    }
    *used = off;
    if (p->state == S_BODY && p->last_chunk) {
        set_state(p, S_TRAILER);
        p->cr = false;
        p->n_lines = 0;
    }
}

static void body_feed(struct px_h1_parser *p, const char *d, size_t n, size_t *used)
{
    if (p->head.body == PX_H1_BODY_CHUNKED) {
        chunked_feed(p, d, n, used);
        return;
    }
    llhttp_errno_t e = llhttp_execute(&p->ll, d, n);
    *used = n;
    if (p->state != S_BODY)
        return;
    if (e == HPE_OK)
        return;
    if (e == HPE_PAUSED && (p->msg_done || p->last_chunk)) {
        *used = (size_t)(llhttp_get_error_pos(&p->ll) - d);
        if (p->msg_done) {
            message_end(p);
        } else {
            set_state(p, S_TRAILER);
            p->cr = false;
            p->n_lines = 0;
        }
        return;
    }
    fail(p, 400, ll_reason(p));
}

static int trailer_line_end(struct px_h1_parser *p)
{
    const char *reason = "";
    if (p->tbuf.len == 0) {
        message_end(p);
        return 1;
    }
    struct px_h1_header f;
    int st = px_h1_trailer_check(p->tbuf.data, p->tbuf.len, &f, &reason);
    if (st != 0)
        return fail(p, st, reason);
    if (++p->n_lines > p->lim.max_headers)
        return fail(p, 431, "too many trailer fields");
    p->tbuf.len = 0;
    if (p->cb.on_trailer && p->cb.on_trailer(p->ud, &f) != 0)
        return stop(p);
    return 0;
}

/* Trailer section after the last chunk, up to and including its empty line. */
static void trailer_scan(struct px_h1_parser *p, const char *d, size_t n, size_t *used)
{
    size_t i;
    int rc = 0;
    for (i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)d[i];
        if (++p->t_total > p->lim.max_head) {
            rc = fail(p, 431, "trailer section too large");
        } else if (p->cr) {
            p->cr = false;
            rc = c == '\n' ? trailer_line_end(p) : fail(p, 400, "bare CR in trailers");
        } else if (c == '\r') {
            p->cr = true;
        } else if (c == '\n') {
            rc = fail(p, 400, "bare LF in trailers");
        } else if (px_buf_append(&p->tbuf, &d[i], 1) != 0) {
            rc = fail(p, 500, "out of memory");
        }
    }
    *used = i;
}

/* ---- public ---- */

struct px_h1_parser *px_h1_parser_new(enum px_h1_kind kind, const struct px_h1_limits *lim,
                                      const struct px_h1_callbacks *cb, void *ud)
{
    if (lim == NULL || (kind != PX_H1_REQUEST && kind != PX_H1_RESPONSE))
        return NULL;
    struct px_h1_parser *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    llhttp_init(&p->ll, kind == PX_H1_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE, &ll_settings);
    p->ll.data = p;
    p->kind = kind;
    p->lim = *lim;
    if (cb)
        p->cb = *cb;
    p->ud = ud;
    p->req_method = HTTP_GET;
    new_message(p);
    return p;
}

void px_h1_parser_free(struct px_h1_parser *p)
{
    if (p == NULL)
        return;
    px_buf_free(&p->hbuf);
    px_vec_free(&p->hdrs);
    px_buf_free(&p->tbuf);
    free(p);
}

int px_h1_feed(struct px_h1_parser *p, const char *data, size_t len, size_t *consumed)
{
    size_t off = 0, used = 0;
    int rc;
    for (;;) {
        enum state s = p->state;
        if (s == S_DONE || s == S_UPGRADED || s == S_ERROR || s == S_ABORTED) {
            rc = s == S_DONE       ? PX_H1_PAUSED
                 : s == S_UPGRADED ? PX_H1_UPGRADED
                 : s == S_ERROR    ? PX_H1_ERROR
                                   : PX_H1_ABORTED;
            break;
        }
        if (off == len) {
            rc = PX_H1_OK;
            break;
        }
        if (s == S_HEAD) {
            if (head_scan(p, data + off, len - off, &used) == 1)
                head_complete(p);
        } else if (s == S_BODY) {
            body_feed(p, data + off, len - off, &used);
        } else {
            trailer_scan(p, data + off, len - off, &used);
        }
        off += used;
        used = 0;
    }
    if (consumed)
        *consumed = off;
    return rc;
}

void px_h1_resume(struct px_h1_parser *p)
{
    if (p->state == S_DONE || p->state == S_UPGRADED)
        new_message(p);
}

int px_h1_finish(struct px_h1_parser *p)
{
    switch (p->state) {
    case S_HEAD:
        if (p->hbuf.len == 0 && !p->cr)
            return PX_H1_OK;
        fail(p, 400, "connection closed inside a head");
        return PX_H1_ERROR;
    case S_BODY:
        if (p->head.body == PX_H1_BODY_EOF) {
            message_end(p);
            return p->state == S_ABORTED ? PX_H1_ABORTED : PX_H1_OK;
        }
        fail(p, 400, "connection closed inside a body");
        return PX_H1_ERROR;
    case S_TRAILER:
        fail(p, 400, "connection closed inside trailers");
        return PX_H1_ERROR;
    case S_ERROR:
        return PX_H1_ERROR;
    case S_ABORTED:
        return PX_H1_ABORTED;
    default:
        return PX_H1_OK;
    }
}

void px_h1_expect_response_to(struct px_h1_parser *p, int method_id)
{
    p->req_method = method_id;
}

bool px_h1_idle(const struct px_h1_parser *p)
{
    return (p->state == S_HEAD && p->hbuf.len == 0 && !p->cr) || p->state == S_DONE;
}

int px_h1_error_status(const struct px_h1_parser *p)
{
    return p->state == S_ERROR ? p->err_status : 0;
}

const char *px_h1_error_reason(const struct px_h1_parser *p)
{
    return p->state == S_ERROR ? p->err_reason : "";
}
