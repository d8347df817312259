/* The HTTP/2 session (px_session_h2, px_session.h): HTTP/2 on a client transport after
 * ALPN chose "h2". libnghttp2 does the framing, HPACK, flow control and the RFC 9113
 * message checks; this file owns the policy: limits, each stream an exchange with the
 * site's HTTP/1.1 upstream (exchange.c), windows opened only as the upstream takes the
 * bytes, responses rendered as HEADERS / DATA / trailers, accounting.
 *
 * nghttp2 is driven from memory: client plaintext goes in with nghttp2_session_mem_recv
 * and frames come out with nghttp2_session_mem_send into the transport's plaintext, at
 * most OUT_SLICE per turn while the client queue is above its watermark. No nghttp2
 * call is made from inside an nghttp2 callback except the submit functions (allowed);
 * output is produced after the receive returns (`busy`).
 */
#include "px_access_log.h"
#include "px_conn_internal.h"
#include "px_exchange.h"
#include "px_gen.h"
#include "px_h2_stream.h"
#include "px_log.h"
#include "px_route.h"
#include "px_worker.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define PX_H2S_MAGIC      0x48325353u /* "H2SS" */
#define MAX_STREAMS       100         /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define MAX_HEADER_LIST   (64 * 1024) /* SETTINGS_MAX_HEADER_LIST_SIZE, enforced per stream */
#define MAX_FIELDS        256         /* regular fields of one request */
#define OUT_SLICE         (64 * 1024) /* frames serialised per turn */
#define STREAM_WATERMARK  (64 * 1024) /* response bytes buffered per stream before pausing */
#define RESET_BURST       200         /* client resets tolerated in a burst (CVE-2023-44487) */
#define RESET_RATE        33          /* ... refilled per second */
#define NG_RESET_BURST    (4 * RESET_BURST) /* nghttp2's own limit: a backstop behind ours */
#define MAX_CONTINUATIONS 8                 /* CONTINUATION frames per header block */

/* The session's state (h2s_set asserts the transitions):
 *   OPEN     serving streams;
 *   GOAWAY   GOAWAY sent (drain, idle, an error): streams in flight finish, no new ones;
 *            the connection closes once nghttp2 wants neither to read nor to write. */
enum px_h2s_state {
    H2S_OPEN,
    H2S_GOAWAY,
};

struct px_h2s {
    PX_MAGIC_FIELD;
    enum px_h2s_state state;
    struct px_conn *c;
    nghttp2_session *ng;
    struct px_list streams;
    size_t n_streams;
    bool busy;           /* inside nghttp2_session_mem_recv or _mem_send: produce no output */
    bool dead;           /* a connection error: GOAWAY queued, nothing more is read */
    double reset_tokens; /* client resets allowed now (a token bucket, CVE-2023-44487) */
    uint64_t reset_ms;   /* when the bucket was last refilled */
};

static const struct px_xchg_cb xchg_cb;

static void h2s_flush(struct px_h2s *s);

static struct px_h2s *h2s_of(void *p)
{
    struct px_h2s *s;
    PX_CAST(s, (struct px_h2s *)p, PX_H2S_MAGIC);
    return s;
}

static struct px_h2_stream *stream_of(void *p)
{
    struct px_h2_stream *st;
    PX_CAST(st, (struct px_h2_stream *)p, PX_H2ST_MAGIC);
    return st;
}

static void h2s_set(struct px_h2s *s, enum px_h2s_state to)
{
    assert(to == H2S_GOAWAY && s->state == H2S_OPEN);
    s->state = to;
}

static void stream_set(struct px_h2_stream *st, enum px_h2_stream_state to)
{
    switch (to) {
    case H2ST_HEADERS:
        assert(0 && "a stream begins in HEADERS");
        break;
    case H2ST_UPSTREAM:
        assert(st->state == H2ST_HEADERS);
        break;
    case H2ST_RESPONSE:
        assert(st->state == H2ST_UPSTREAM);
        break;
    case H2ST_DONE:
        assert(st->state != H2ST_DONE);
        break;
    }
    st->state = to;
}

/* ---- streams ---- */

static struct px_h2_stream *stream_new(struct px_h2s *s, int32_t id)
{
    struct px_h2_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->magic = PX_H2ST_MAGIC;
    st->state = H2ST_HEADERS;
    st->s = s;
    st->id = id;
    px_list_push_front(&s->streams, &st->link);
    s->n_streams++;
    s->c->w->stats.h2_streams_active++;
    return st;
}

/* Accounts for the stream (stats, access log line); once. */
static void stream_log(struct px_h2_stream *st)
{
    struct px_conn *c = st->s->c;
    struct px_worker *w = c->w;
    if (st->state == H2ST_DONE || st->state == H2ST_HEADERS)
        return;
    stream_set(st, H2ST_DONE);
    if (st->status >= 100 && st->status < 600)
        w->stats.responses_by_class[st->status / 100]++;
    if (!w->access_log)
        return;
    char cert[64];
    const char *server = st->x ? px_xchg_server(st->x) : "";
    struct px_access_entry e = {
        .start = st->wall,
        .method = st->method[0] ? st->method : NULL,
        .path = st->path,
        .path_len = st->path_len,
        .proto = "HTTP/2",
        .status = st->status,
        .bytes = st->bytes_out,
        .upstream = server[0] ? server : NULL,
        .duration_ms = uv_now(&w->loop) - st->start_ms,
    };
    px_access_conn(&e, c, cert, sizeof cert);
    px_access_log_write(w->access_log, &e);
}

static void stream_free(struct px_h2_stream *st)
{
    struct px_h2s *s = st->s;
    stream_log(st);
    if (st->x)
        px_xchg_destroy(st->x);
    px_list_remove(&st->link);
    s->n_streams--;
    s->c->w->stats.h2_streams_active--;
    px_buf_free(&st->text);
    px_vec_free(&st->fields);
    px_buf_free(&st->pend);
    px_buf_free(&st->trailers);
    st->magic = 0;
    free(st);
}

/* ---- responses towards the client ---- */

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud);

/* Submits a response head (interim or final) with the data provider for a final one. */
static int submit_head(struct px_h2_stream *st, const struct px_h1_head *h, bool final)
{
    nghttp2_nv nv[MAX_FIELDS + 1];
    struct px_buf names = {0};
    char status[4];
    int n = px_h2_response_nv(h, nv, MAX_FIELDS + 1, &names, status);
    int rc = -1;
    if (n > 0 && final) {
        nghttp2_data_provider prd = {.source.ptr = st, .read_callback = data_read};
        rc = nghttp2_submit_response(st->s->ng, st->id, nv, (size_t)n, &prd);
    } else if (n > 0) {
        rc =
            nghttp2_submit_headers(st->s->ng, NGHTTP2_FLAG_NONE, st->id, NULL, nv, (size_t)n, NULL);
    }
    px_buf_free(&names);
    return rc == 0 ? 0 : -1;
}

/* The same answer as HTTP/1's error responses: status, text/plain "<status> <text>\n". */
static void submit_error(struct px_h2_stream *st, int status)
{
    char len[24];
    struct px_buf *b = &st->pend;
    b->len = st->pend_off = 0;
    if (px_buf_printf(b, "%d %s\n", status, px_h1_status_text(status)) < 0) {
        nghttp2_submit_rst_stream(st->s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    snprintf(len, sizeof len, "%zu", b->len);
    char code[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), '\0'};
    nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-length", (uint8_t *)len, 14, strlen(len), NGHTTP2_NV_FLAG_NONE},
    };
    st->ended = true;
    st->status = status;
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = data_read};
    if (nghttp2_submit_response(st->s->ng, st->id, nv, 3, &prd) != 0)
        nghttp2_submit_rst_stream(st->s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

/* Answers status when no response began, else resets the stream; accounted either way. */
static void stream_fail(struct px_h2_stream *st, int status)
{
    if (st->x)
        px_xchg_drop(st->x);
    if (st->state == H2ST_RESPONSE || status == 0) {
        nghttp2_submit_rst_stream(st->s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        stream_log(st);
        return;
    }
    if (st->state == H2ST_HEADERS)
        stream_set(st, H2ST_UPSTREAM);
    submit_error(st, status);
    stream_set(st, H2ST_RESPONSE);
}

/* nghttp2 pulls DATA: the buffered response bytes, then the end (with trailers). */
static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)ng, (void)id, (void)ud;
    struct px_h2_stream *st = stream_of(src->ptr);
    size_t avail = st->pend.len - st->pend_off;
    size_t n = avail < len ? avail : len;
    if (n)
        memcpy(buf, st->pend.data + st->pend_off, n);
    st->pend_off += n;
    st->bytes_out += n;
    if (st->pend_off == st->pend.len)
        st->pend.len = st->pend_off = 0;
    if (st->pend.len == 0 && st->ended) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->n_trailers)
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    } else if (n == 0) {
        return NGHTTP2_ERR_DEFERRED;
    }
    if (st->x && st->pend.len - st->pend_off < STREAM_WATERMARK)
        px_xchg_resume(st->x); /* starts reading only: no callback runs now */
    return (ssize_t)n;
}

/* Sends the trailers collected for st ("name\0value\0" pairs). */
static void submit_trailers(struct px_h2_stream *st)
{
    nghttp2_nv nv[MAX_FIELDS];
    size_t n = 0;
    const char *p = st->trailers.data, *end = p + st->trailers.len;
    while (p < end && n < MAX_FIELDS) {
        size_t nl = strlen(p);
        const char *v = p + nl + 1;
        size_t vl = strlen(v);
        nv[n++] = (nghttp2_nv){(uint8_t *)p, (uint8_t *)v, nl, vl, NGHTTP2_NV_FLAG_NONE};
        p = v + vl + 1;
    }
    if (nghttp2_submit_trailer(st->s->ng, st->id, nv, n) != 0)
        nghttp2_submit_rst_stream(st->s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

/* ---- the exchange's callbacks ---- */

static int x_head(void *owner, const struct px_h1_head *h)
{
    struct px_h2_stream *st = stream_of(owner);
    bool final = h->status >= 200;
    if (h->status == 101)
        return -1; /* no upgrade is asked for over HTTP/2 */
    if (final) {
        st->status = h->status;
        stream_set(st, H2ST_RESPONSE);
    }
    return submit_head(st, h, final);
}

static int x_body(void *owner, const char *p, size_t n)
{
    struct px_h2_stream *st = stream_of(owner);
    if (px_buf_append(&st->pend, p, n) < 0)
        return -1;
    nghttp2_session_resume_data(st->s->ng, st->id);
    return 0;
}

static int x_trailer(void *owner, const struct px_h1_header *f)
{
    struct px_h2_stream *st = stream_of(owner);
    struct px_h1_header lf = *f;
    if (lf.name_len == 0 || st->n_trailers >= MAX_FIELDS)
        return 0;
    size_t mark = st->trailers.len;
    for (size_t i = 0; i < lf.name_len; i++) {
        char ch = lf.name[i];
        ch = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
        if (px_buf_append(&st->trailers, &ch, 1) < 0)
            return -1;
    }
    if (px_buf_append(&st->trailers, "", 1) < 0 ||
        px_buf_append(&st->trailers, lf.value, lf.value_len) < 0 ||
        px_buf_append(&st->trailers, "", 1) < 0) {
        st->trailers.len = mark;
        return -1;
    }
    st->n_trailers++;
    return 0;
}

static void x_flush(void *owner)
{
    h2s_flush(stream_of(owner)->s);
}

static void x_end(void *owner)
{
    struct px_h2_stream *st = stream_of(owner);
    st->ended = true;
    if (st->n_trailers)
        submit_trailers(st);
    nghttp2_session_resume_data(st->s->ng, st->id);
    h2s_flush(st->s);
}

static void x_error(void *owner, int status)
{
    struct px_h2_stream *st = stream_of(owner);
    stream_fail(st, status);
    h2s_flush(st->s);
}

static void x_tunnel(void *owner, const char *rest, size_t n)
{
    (void)rest, (void)n;
    x_error(owner, 0); /* never asked for (x_head refuses a 101) */
}

/* The upstream took the request bytes: reopen the windows they used. */
static void x_sent(void *owner)
{
    struct px_h2_stream *st = stream_of(owner);
    if (st->unconsumed) {
        nghttp2_session_consume(st->s->ng, st->id, st->unconsumed);
        st->unconsumed = 0;
        h2s_flush(st->s);
    }
}

static bool x_can_take(void *owner)
{
    struct px_h2_stream *st = stream_of(owner);
    struct px_conn *c = st->s->c;
    return !px_conn_closing(c) && st->pend.len - st->pend_off < STREAM_WATERMARK;
}

static const struct px_xchg_cb xchg_cb = {
    .on_head = x_head,
    .on_body = x_body,
    .on_trailer = x_trailer,
    .on_flush = x_flush,
    .on_end = x_end,
    .on_error = x_error,
    .on_tunnel = x_tunnel,
    .on_sent = x_sent,
    .can_take = x_can_take,
};

/* ---- requests from the client ---- */

/* The request's header block is complete: route it and hand it to a new exchange. */
static void request_begin(struct px_h2_stream *st, bool end_stream)
{
    struct px_conn *c = st->s->c;
    struct px_h1_header hdr[MAX_FIELDS + 1];
    struct px_h1_head h;
    struct px_buf cookie = {0}, head = {0};
    c->w->stats.requests++;
    c->w->stats.h2_streams++;
    clock_gettime(CLOCK_REALTIME, &st->wall);
    st->start_ms = uv_now(&c->w->loop);
    st->req_done = end_stream;
    int status =
        st->bad ? 431 : px_h2_request_head(st, end_stream, &h, hdr, MAX_FIELDS + 1, &cookie);
    if (!status) {
        size_t ml = h.method_len < sizeof st->method - 1 ? h.method_len : sizeof st->method - 1;
        memcpy(st->method, h.method, ml);
        st->path_len = h.target_len < sizeof st->path ? h.target_len : sizeof st->path;
        memcpy(st->path, h.target, st->path_len);
    }
    int idx = status ? -1 : px_route(c, h.host, h.host_len);
    if (!status && idx < 0)
        status = 502;
    struct px_h1_forward fwd = {.client_addr = c->peer,
                                .proto = "https",
                                .host = px_route_default_host(c),
                                .via = c->gen->cfg->via};
    if (!status && px_h1_request_head_write(&h, &fwd, &head) < 0)
        status = 500;
    if (!status && !(st->x = px_xchg_new(c->w, c->gen, &xchg_cb, st, c->peer)))
        status = 500;
    stream_set(st, H2ST_UPSTREAM);
    if (!status) {
        struct px_xchg_req r = {.upstream = (size_t)idx, .method_id = h.method_id};
        status = px_xchg_begin(st->x, &r, head.data, head.len);
    }
    if (!status && end_stream && st->req_chunked)
        status = px_xchg_send(st->x, "0\r\n\r\n", 5, false) < 0 ? 500 : 0;
    if (!status && end_stream)
        px_xchg_request_done(st->x);
    if (!status)
        px_xchg_flush(st->x);
    px_buf_free(&cookie);
    px_buf_free(&head);
    if (status)
        stream_fail(st, status);
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    struct px_h2s *s = h2s_of(ud);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (s->state != H2S_OPEN)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM, as nghttp2 does past GOAWAY */
    struct px_h2_stream *st = stream_new(s, frame->hd.stream_id);
    if (!st)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    (void)flags, (void)ud;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers from the client are read and dropped */
    void *p = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (!p)
        return 0;
    struct px_h2_stream *st = stream_of(p);
    if (!st->bad && px_h2_field_add(st, name, nlen, value, vlen, MAX_HEADER_LIST) < 0)
        st->bad = true; /* answered 431 once the block ends; decoding still bounded by
                           nghttp2's own header-block limits */
    return 0;
}

/* A connection error: GOAWAY with code, then nothing more is read. */
static void h2s_kill(struct px_h2s *s, uint32_t code, const char *why)
{
    if (s->dead)
        return;
    px_debug("conn %s: h2: %s, GOAWAY %s", s->c->peer, why, nghttp2_http2_strerror(code));
    s->dead = true;
    if (s->state == H2S_OPEN)
        h2s_set(s, H2S_GOAWAY);
    nghttp2_session_terminate_session(s->ng, code);
}

/* Rapid reset (CVE-2023-44487): streams the client opens and resets cost work upstream
 * and nothing for it. A token bucket of RESET_BURST, refilled RESET_RATE per second. */
static int note_reset(struct px_h2s *s)
{
    s->c->w->stats.h2_resets_received++;
    uint64_t now = uv_now(&s->c->w->loop);
    s->reset_tokens += (double)(now - s->reset_ms) * RESET_RATE / 1000.0;
    if (s->reset_tokens > RESET_BURST)
        s->reset_tokens = RESET_BURST;
    s->reset_ms = now;
    if (s->reset_tokens >= 1.0) {
        s->reset_tokens -= 1.0;
        return 0;
    }
    h2s_kill(s, NGHTTP2_ENHANCE_YOUR_CALM, "client resets streams too fast");
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    if (frame->hd.type == NGHTTP2_RST_STREAM)
        return note_reset(h2s_of(ud));
    void *p = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (!p)
        return 0;
    struct px_h2_stream *st = stream_of(p);
    bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        request_begin(st, end);
        return 0;
    }
    if (!end || st->req_done ||
        (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS))
        return 0;
    st->req_done = true; /* END_STREAM on DATA or on trailers */
    if (st->x && px_xchg_busy(px_xchg_state(st->x))) {
        if (st->req_chunked && px_xchg_send(st->x, "0\r\n\r\n", 5, false) < 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        px_xchg_request_done(st->x);
        px_xchg_flush(st->x);
    }
    return 0;
}

/* Request body bytes go upstream as they come; their window reopens once written. */
static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    (void)flags, (void)ud;
    void *p = nghttp2_session_get_stream_user_data(ng, id);
    if (!p)
        return 0;
    struct px_h2_stream *st = stream_of(p);
    if (!st->x || !px_xchg_busy(px_xchg_state(st->x))) {
        nghttp2_session_consume(ng, id, len); /* nobody wants them: keep the window open */
        return 0;
    }
    char hdr[24];
    int r = 0;
    if (st->req_chunked) {
        int hn = snprintf(hdr, sizeof hdr, "%zx\r\n", len);
        r = px_xchg_send(st->x, hdr, (size_t)hn, false) < 0 ||
            px_xchg_send(st->x, (const char *)data, len, true) < 0 ||
            px_xchg_send(st->x, "\r\n", 2, false) < 0;
    } else {
        r = px_xchg_send(st->x, (const char *)data, len, true) < 0;
    }
    if (r)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    st->unconsumed += len;
    px_xchg_flush(st->x);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *ud)
{
    (void)error_code, (void)ud;
    void *p = nghttp2_session_get_stream_user_data(ng, id);
    if (p) {
        nghttp2_session_set_stream_user_data(ng, id, NULL);
        stream_free(stream_of(p));
    }
    return 0;
}

/* ---- the session's I/O ---- */

/* Serialises frames into the transport's plaintext, a slice per turn while the client
 * queue is full; closes once nghttp2 is done with the connection. */
static void h2s_flush(struct px_h2s *s)
{
    struct px_conn *c = s->c;
    if (s->busy || px_conn_closing(c))
        return;
    s->busy = true;
    size_t taken = 0;
    while (taken < OUT_SLICE || !px_conn_cli_blocked(c)) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(s->ng, &data);
        if (n <= 0) {
            if (n < 0)
                px_debug("conn %s: h2 send: %s", c->peer, nghttp2_strerror((int)n));
            break;
        }
        if (px_buf_append(&c->out, data, (size_t)n) < 0)
            break;
        taken += (size_t)n;
        if (c->out.len >= OUT_SLICE) {
            px_conn_cli_commit(c);
            if (px_conn_closing(c))
                break;
        }
    }
    s->busy = false;
    px_conn_cli_commit(c);
    if (px_conn_closing(c))
        return;
    if (!nghttp2_session_want_read(s->ng) && !nghttp2_session_want_write(s->ng))
        px_conn_close(c, true);
    else
        px_conn_session_timer(c, s->n_streams ? 0 : c->gen->cfg->timeouts.idle_ms);
}

static void h2_on_plaintext(struct px_conn *c)
{
    struct px_h2s *s = h2s_of(c->session);
    size_t avail = c->in.len - c->in_off;
    if (avail && !s->dead) {
        s->busy = true;
        ssize_t r = nghttp2_session_mem_recv(s->ng, (const uint8_t *)c->in.data + c->in_off, avail);
        s->busy = false;
        if (r == NGHTTP2_ERR_FLOODED)
            h2s_kill(s, NGHTTP2_ENHANCE_YOUR_CALM, "flood of frames that need an answer");
        else if (r < 0)
            h2s_kill(s, NGHTTP2_PROTOCOL_ERROR, nghttp2_strerror((int)r));
    }
    c->in.len = c->in_off = 0;
    h2s_flush(s);
    if (s->dead)
        px_conn_close(c, true);
}

static void h2_on_drained(struct px_conn *c)
{
    struct px_h2s *s = h2s_of(c->session);
    h2s_flush(s);
    struct px_list *l, *nx;
    px_list_foreach_safe(l, nx, &s->streams)
    {
        struct px_h2_stream *st = stream_of(px_list_entry(l, struct px_h2_stream, link));
        if (st->x)
            px_xchg_progress(st->x);
    }
}

static bool h2_wants_input(struct px_conn *c)
{
    (void)c;
    return true; /* flow control bounds what the client may send */
}

/* No stream for idle_ms: GOAWAY, then close. */
static void h2_on_timeout(struct px_conn *c)
{
    struct px_h2s *s = h2s_of(c->session);
    if (s->n_streams)
        return;
    if (s->state == H2S_OPEN)
        h2s_set(s, H2S_GOAWAY);
    nghttp2_session_terminate_session(s->ng, NGHTTP2_NO_ERROR);
    h2s_flush(s);
    px_conn_close(c, true);
}

static void drop_all(struct px_h2s *s, bool destroy)
{
    struct px_list *l, *nx;
    px_list_foreach_safe(l, nx, &s->streams)
    {
        struct px_h2_stream *st = stream_of(px_list_entry(l, struct px_h2_stream, link));
        stream_log(st);
        if (st->x && destroy) {
            px_xchg_destroy(st->x);
            st->x = NULL;
        } else if (st->x) {
            px_xchg_drop(st->x);
        }
    }
}

static void h2_on_close(struct px_conn *c, enum px_session_close how)
{
    struct px_h2s *s = h2s_of(c->session);
    switch (how) {
    case PX_SESSION_DRAIN: /* GOAWAY: streams in flight finish, then the connection closes */
        if (s->state == H2S_OPEN) {
            h2s_set(s, H2S_GOAWAY);
            nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(s->ng), NGHTTP2_NO_ERROR,
                                  NULL, 0);
        }
        h2s_flush(s);
        break;
    case PX_SESSION_CLOSING:
        drop_all(s, false);
        break;
    case PX_SESSION_CLOSED:
        drop_all(s, true);
        break;
    }
}

/* ---- lifetime ---- */

/* Counts the GOAWAYs that leave, nghttp2's own included. */
static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *ud)
{
    (void)ng;
    if (frame->hd.type != NGHTTP2_GOAWAY)
        return 0;
    struct px_h2s *s = h2s_of(ud);
    uint32_t code = frame->goaway.error_code;
    enum px_h2_goaway_kind k = code == NGHTTP2_NO_ERROR            ? PX_H2_GOAWAY_NO_ERROR
                               : code == NGHTTP2_PROTOCOL_ERROR    ? PX_H2_GOAWAY_PROTOCOL_ERROR
                               : code == NGHTTP2_ENHANCE_YOUR_CALM ? PX_H2_GOAWAY_ENHANCE_YOUR_CALM
                                                                   : PX_H2_GOAWAY_OTHER;
    s->c->w->stats.h2_goaways[k]++;
    return 0;
}

static ssize_t no_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)ng, (void)data, (void)len, (void)flags, (void)ud;
    return NGHTTP2_ERR_CALLBACK_FAILURE; /* output goes through nghttp2_session_mem_send */
}

static int session_new(struct px_h2s *s)
{
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return -1;
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        return -1;
    }
    nghttp2_session_callbacks_set_send_callback(cb, no_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_send_header_block_length(opt, MAX_HEADER_LIST);
    nghttp2_option_set_stream_reset_rate_limit(opt, NG_RESET_BURST, RESET_RATE);
    nghttp2_option_set_max_continuations(opt, MAX_CONTINUATIONS);
    int r = nghttp2_session_server_new2(&s->ng, cb, s, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (r != 0)
        return -1;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    return nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, 3) == 0 ? 0 : -1;
}

static int h2_open(struct px_conn *c)
{
    struct px_h2s *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->magic = PX_H2S_MAGIC;
    s->state = H2S_OPEN;
    s->c = c;
    s->reset_tokens = RESET_BURST;
    s->reset_ms = uv_now(&c->w->loop);
    px_list_init(&s->streams);
    c->session = s;
    if (session_new(s) < 0)
        return -1;
    c->w->stats.h2_connections++;
    h2s_flush(s); /* the server's SETTINGS */
    return 0;
}

static void h2_free(struct px_conn *c)
{
    struct px_h2s *s = h2s_of(c->session);
    nghttp2_session_del(s->ng); /* closes every stream: on_stream_close frees them */
    s->ng = NULL;
    struct px_list *l, *next;
    px_list_foreach_safe(l, next, &s->streams)
        stream_free(stream_of(px_list_entry(l, struct px_h2_stream, link)));
    s->magic = 0;
    free(s);
    c->session = NULL;
}

const struct px_session_ops px_session_h2 = {
    .name = "h2",
    .open = h2_open,
    .free = h2_free,
    .on_plaintext = h2_on_plaintext,
    .on_drained = h2_on_drained,
    .wants_input = h2_wants_input,
    .on_timeout = h2_on_timeout,
    .on_close = h2_on_close,
};
