/* The exchange: one request/response with its upstream connection, on behalf of the
 * HTTP/1 session (session_h1.c): acquiring the upstream connection (pooled or new), the
 * request bytes out through the upstream write queue, the response parsed, rewritten and
 * re-framed back into the client's plaintext, interim 1xx, trailers, WebSocket tunnels,
 * the upstream response timer, and one retry of an idempotent request on a stale pooled
 * connection. It reports to the session through px_h1s_error / px_h1s_log / px_h1s_end
 * and the session's on_plaintext operation.
 */
#include "px_conn_internal.h"
#include "px_exchange.h"
#include "px_gen.h"
#include "px_log.h"
#include "px_upstream.h"
#include "px_worker.h"

#include <assert.h>
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

static int on_resp_head(void *ud, const struct px_h1_head *h);
static int on_resp_body(void *ud, const char *p, size_t n);
static int on_resp_end(void *ud);
static int on_resp_trailer(void *ud, const struct px_h1_header *f);

static const struct px_h1_callbacks resp_cb = {on_resp_head, on_resp_body, on_resp_end,
                                               on_resp_trailer};

static void up_timeout(uv_timer_t *t);
static void up_write_done(struct px_conn *c, int status);

/* The exchange's transitions (see enum px_xchg_state). */
void px_xchg_set(struct px_conn *c, enum px_xchg_state to)
{
    switch (to) {
    case PX_XS_REQUEST:
        assert(c->xs == PX_XS_IDLE);
        break;
    case PX_XS_RESPONSE:
        assert(c->xs == PX_XS_REQUEST);
        break;
    case PX_XS_TUNNEL:
        assert(c->xs == PX_XS_RESPONSE);
        break;
    case PX_XS_LOGGED:
        assert(c->xs == PX_XS_REQUEST || c->xs == PX_XS_RESPONSE);
        break;
    case PX_XS_IDLE: /* request_reset, from any state */
        break;
    }
    c->xs = to;
}

void px_xchg_reading(struct px_conn *c)
{
    px_conn_update_reading(c);
    px_xchg_resume(c);
}

void px_xchg_free(struct px_conn *c)
{
    px_h1_parser_free(c->resp_parser);
    c->resp_parser = NULL;
    px_buf_free(&c->req_head);
}

/* Responses are held to their own limits; the status line only to the head size. */
static void response_limits_of(const struct px_conn *c, struct px_h1_limits *lim)
{
    const struct px_limits *l = &c->gen->cfg->limits;
    lim->max_request_line = l->max_resp_head;
    lim->max_head = l->max_resp_head;
    lim->max_headers = l->max_resp_headers;
}

/* ---- the upstream side ---- */

static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Starts or stops reading the upstream: only while the client's queue is below the
 * watermark. A pooled connection arrives with its watcher armed; registering our reader
 * then costs no system call. */
void px_xchg_resume(struct px_conn *c)
{
    if (!px_xchg_attached(c))
        return;
    bool want = !px_conn_closing(c) && !px_conn_cli_blocked(c);
    if (want && !c->up_reading)
        c->up_reading = px_upconn_read_start(c->uc, on_up_read) == 0;
    else if (!want) { /* also disarms a pooled connection's watcher before our first read */
        px_upconn_read_stop(c->uc);
        c->up_reading = false;
    }
}

/* The response timeout counts time without progress: it restarts on every upstream read,
 * every completed upstream write and every completed client write (a slow client that
 * holds the upstream back by backpressure is progress, not an upstream stall). */
void px_xchg_progress(struct px_conn *c)
{
    unsigned ms = c->gen->cfg->timeouts.upstream_response_ms;
    if (ms && !px_xchg_tunnel(c) && !px_conn_closed(c))
        uv_timer_start(&c->up_timer, up_timeout, ms, 0);
}

/* Gives the upstream connection back (to the pool when reusable) or cancels a connect. */
static void up_release(struct px_conn *c, bool reusable)
{
    if (c->uc_state == PX_UC_NONE)
        return;
    if (c->uc_state == PX_UC_CONNECTING) {
        px_upconn_cancel(c->uc);
    } else {
        px_upconn_release(c->uc, reusable); /* detaches our reader */
    }
    c->uc = NULL;
    c->uc_state = PX_UC_NONE;
    c->up_reading = false;
    c->up.pending.len = 0;
    if (!px_conn_closed(c))
        uv_timer_stop(&c->up_timer);
}

void px_xchg_drop(struct px_conn *c)
{
    up_release(c, false);
}

static void on_up_write(uv_write_t *req, int status)
{
    struct px_conn *c;
    PX_CAST(c, (struct px_conn *)req->data, PX_CONN_MAGIC);
    uv_stream_t *to = c->up.inflight_to;
    c->up.busy = false;
    c->up.inflight.len = 0;
    c->up.inflight_to = NULL;
    /* a write to an upstream connection we already dropped is of no interest */
    bool current = px_xchg_attached(c) && to == px_upconn_stream(c->uc);
    if (!px_conn_closing(c))
        up_write_done(c, current ? status : 0);
    px_conn_unref(c);
}

/* Writes the queued request bytes to the attached upstream connection. */
static void up_flush(struct px_conn *c)
{
    int r = px_wq_flush(c, &c->up, px_upconn_stream(c->uc), on_up_write);
    if (r < 0)
        up_write_done(c, r);
}

void px_xchg_flush(struct px_conn *c)
{
    if (px_xchg_attached(c))
        up_flush(c);
}

static void up_attach(struct px_conn *c, struct px_upconn *uc)
{
    PX_TRANSITION(c, uc_state, PX_UC_NONE, PX_UC_ATTACHED);
    c->uc = uc;
    px_upconn_set_owner(uc, c);
    snprintf(c->upstream_name, sizeof c->upstream_name, "%s", px_upconn_server(uc));
    if (c->resp_parser_dirty || !c->resp_parser) {
        struct px_h1_limits lim;
        response_limits_of(c, &lim);
        px_h1_parser_free(c->resp_parser);
        c->resp_parser = px_h1_parser_new(PX_H1_RESPONSE, &lim, &resp_cb, c);
        c->resp_parser_dirty = false;
        if (!c->resp_parser) {
            px_h1s_error(c, 502);
            return;
        }
    }
    px_h1_expect_response_to(c->resp_parser, c->req_method_id);
    px_xchg_progress(c);
    px_xchg_resume(c);
    up_flush(c);
}

static void on_up_ready(void *ud, struct px_upconn *uc, int status)
{
    struct px_conn *c = px_conn_of(ud);
    PX_TRANSITION(c, uc_state, PX_UC_CONNECTING, PX_UC_NONE); /* the attempt is over */
    c->uc = NULL;
    if (status < 0) {
        px_h1s_error(c, 502);
        return;
    }
    up_attach(c, uc);
}

/* Returns 0, or the status to answer with. */
int px_xchg_acquire(struct px_conn *c, unsigned flags)
{
    struct px_upconn *uc = NULL;
    int r = px_upstream_acquire(c->gen->upstreams, c->upstream_idx, flags, on_up_ready, c, &uc);
    if (r == PX_UP_READY) {
        up_attach(c, uc);
    } else if (r == PX_UP_PENDING) {
        PX_TRANSITION(c, uc_state, PX_UC_NONE, PX_UC_CONNECTING);
        c->uc = uc;
    } else {
        return r == PX_UP_UNAVAILABLE ? 503 : 502;
    }
    return 0;
}

/* RFC 9110 9.2.2: the methods whose repetition has the effect of one request. Extension
 * methods are not known to be idempotent. */
static bool idempotent(int method_id)
{
    switch (method_id) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
    case HTTP_PUT:
    case HTTP_DELETE:
        return true;
    default:
        return false;
    }
}

/* A stale pooled connection failed before any response byte: try once more on a fresh
 * one when the request can be replayed. The request may have reached the origin (the
 * connection died under it, not before it), so only an idempotent request without a
 * consumed body is sent again (RFC 9110 9.2.2: a proxy MUST NOT retry non-idempotent
 * requests automatically); any other gets 502 from the caller, counted. Returns true
 * when the retry took over (it answers its own errors). */
static bool up_retry(struct px_conn *c)
{
    if (c->retried || !px_xchg_attached(c) || !px_upconn_reused(c->uc) || c->resp_any ||
        c->req_upgrade)
        return false;
    if (!idempotent(c->req_method_id) || c->req_body_seen > 0) {
        c->w->stats.upstream_retries_refused++;
        px_debug("conn %s: pooled connection to %s failed under %s, not retried", c->peer,
                 c->upstream_name, c->method);
        return false;
    }
    px_debug("conn %s: stale pooled connection to %s, retrying", c->peer, c->upstream_name);
    c->w->stats.upstream_retries++;
    c->retried = true;
    up_release(c, false);
    if (px_buf_append(&c->up.pending, c->req_head.data, c->req_head.len) < 0 ||
        (c->req_done && c->req_body == PX_H1_BODY_CHUNKED && px_h1_chunk_last(&c->up.pending) < 0))
        return false;
    int st = px_xchg_acquire(c, PX_UP_FRESH);
    if (st)
        px_h1s_error(c, st);
    return true;
}

static void up_write_done(struct px_conn *c, int status)
{
    if (status < 0) {
        if (c->resp_any) {
            c->resp_keep_alive = false; /* let the response finish; never reuse */
            return;
        }
        if (!up_retry(c))
            px_h1s_error(c, 502);
        return;
    }
    if (px_xchg_attached(c)) {
        px_xchg_progress(c);
        up_flush(c);
    }
    if (!px_conn_up_blocked(c))
        c->ops->on_plaintext(c);
}

static void up_timeout(uv_timer_t *t)
{
    struct px_conn *c;
    PX_CAST(c, (struct px_conn *)t->data, PX_CONN_MAGIC);
    px_debug("conn %s: upstream %s timed out", c->peer, c->upstream_name);
    if (px_xchg_responded(c))
        px_conn_close(c, false);
    else
        px_h1s_error(c, 504);
}

/* ---- the response side ---- */

static int on_resp_head(void *ud, const struct px_h1_head *h)
{
    struct px_conn *c = px_conn_of(ud);
    if (h->status >= 100 && h->status < 200 && h->status != 101) {
        /* 1xx: relayed whole (103's Link fields) to HTTP/1.1 clients (RFC 9110 15.2: none
         * to HTTP/1.0), then the final one */
        c->resp_interim = true;
        if (c->req_minor >= 1 && px_h1_response_head_write(h, false, c->req_minor, &c->out) < 0)
            return px_conn_fail(c, 502);
        return 0;
    }
    c->resp_interim = false;
    if (h->status == 101 && !c->req_upgrade)
        return px_conn_fail(c, 502);
    c->resp_status = h->status;
    c->resp_keep_alive = h->keep_alive;
    bool chunked_body = h->body == PX_H1_BODY_CHUNKED || h->body == PX_H1_BODY_EOF;
    c->resp_chunked = chunked_body && c->req_minor >= 1;
    /* an unfinished request body, a refused upgrade or an HTTP/1.0 client without a
     * length for the body cannot be followed by another request on this connection */
    if (c->draining || c->w->draining || !c->req_done || (c->req_upgrade && h->status != 101) ||
        (chunked_body && c->req_minor == 0))
        c->close_after = true;
    if (px_h1_response_head_write(h, c->close_after, c->req_minor, &c->out) < 0)
        return px_conn_fail(c, 502);
    px_xchg_set(c, PX_XS_RESPONSE);
    return 0;
}

static int on_resp_body(void *ud, const char *p, size_t n)
{
    struct px_conn *c = px_conn_of(ud);
    struct px_buf *b = &c->out;
    if (c->resp_interim)
        return 0;
    int r;
    if (c->resp_chunked)
        r = px_h1_chunk_begin(b, n) < 0 || px_buf_append(b, p, n) < 0 || px_h1_chunk_end(b) < 0;
    else
        r = px_buf_append(b, p, n) < 0;
    return r ? px_conn_fail(c, 502) : 0;
}

/* Trailers go to a client that offered "TE: trailers" when its body is chunked from the
 * upstream too; to any other client they are dropped (RFC 9110 6.5.1 allows discarding). */
static int on_resp_trailer(void *ud, const struct px_h1_header *f)
{
    struct px_conn *c = px_conn_of(ud);
    if (!c->resp_chunked || !c->req_te_trailers || c->resp_interim)
        return 0;
    if (!c->resp_trailers && px_h1_chunk_last_open(&c->out) < 0)
        return px_conn_fail(c, 502);
    c->resp_trailers = true;
    return px_h1_trailer_write(&c->out, f) < 0 ? px_conn_fail(c, 502) : 0;
}

static int on_resp_end(void *ud)
{
    struct px_conn *c = px_conn_of(ud);
    if (c->resp_interim) {
        c->resp_interim = false;
        return 0;
    }
    if (c->resp_chunked &&
        (c->resp_trailers ? px_h1_chunk_end(&c->out) : px_h1_chunk_last(&c->out)) < 0)
        return px_conn_fail(c, 502);
    c->resp_ended = true;
    return 0;
}

/* The response is complete: pool the upstream when clean, account, then go on with the
 * next pipelined request or wait idle. */
static void response_done(struct px_conn *c, size_t leftover)
{
    px_conn_cli_commit(c);
    if (px_conn_closing(c))
        return;
    bool reusable = c->resp_keep_alive && c->req_done && !c->req_upgrade && !c->up.busy &&
                    c->up.pending.len == 0 && leftover == 0;
    if (reusable) {
        px_h1_resume(c->resp_parser);
        c->resp_parser_dirty = false;
    }
    up_release(c, reusable);
    px_h1s_end(c);
}

static void tunnel_begin(struct px_conn *c, const char *rest, size_t n)
{
    px_xchg_set(c, PX_XS_TUNNEL);
    uv_timer_stop(&c->up_timer);
    px_conn_cli_commit(c); /* the 101 head, counted in the log line */
    if (px_conn_closing(c))
        return;
    px_h1s_log(c);
    if (n && px_buf_append(&c->out, rest, n) < 0) {
        px_conn_close(c, false);
        return;
    }
    px_conn_cli_commit(c);
    c->ops->on_plaintext(c); /* client bytes after the upgrade request */
}

/* The upstream closed: ends an EOF-delimited response, retries a stale pooled connection,
 * or answers 502 / closes. */
static void up_eof(struct px_conn *c)
{
    if (px_xchg_tunnel(c)) {
        px_conn_close(c, true);
        return;
    }
    if (c->resp_any && !c->resp_ended) {
        px_h1_finish(c->resp_parser);
        if (c->resp_ended) {
            c->resp_keep_alive = false;
            response_done(c, 0);
            return;
        }
    }
    if (!c->resp_any && up_retry(c))
        return;
    if (px_xchg_responded(c))
        px_conn_close(c, false); /* truncated: no second response */
    else
        px_h1s_error(c, 502);
}

static void feed_response(struct px_conn *c, const char *p, size_t n)
{
    size_t off = 0;
    while (off < n && !px_conn_closing(c)) {
        size_t used = 0;
        int r = px_h1_feed(c->resp_parser, p + off, n - off, &used);
        off += used > n - off ? n - off : used;
        if (r == PX_H1_OK && used == 0)
            break;
        if (r == PX_H1_PAUSED && !c->resp_ended) { /* end of a 1xx interim response */
            px_h1_resume(c->resp_parser);
            px_h1_expect_response_to(c->resp_parser, c->req_method_id);
            continue;
        }
        if (r == PX_H1_PAUSED) {
            response_done(c, n - off);
            return;
        }
        if (r == PX_H1_UPGRADED) {
            tunnel_begin(c, p + off, n - off);
            return;
        }
        if (r == PX_H1_ERROR || r == PX_H1_ABORTED) {
            px_warn("conn %s: invalid response from %s: %s", c->peer, c->upstream_name,
                    r == PX_H1_ERROR ? px_h1_error_reason(c->resp_parser) : "rejected");
            px_h1s_error(c, 502);
            return;
        }
    }
    px_conn_cli_commit(c);
    px_xchg_reading(c);
}

static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct px_conn *c = px_upconn_owner(s->data);
    if (c)
        PX_CHECK(c, PX_CONN_MAGIC);
    if (nread == 0 || !c || px_conn_closing(c))
        return;
    if (nread < 0) {
        up_eof(c);
        return;
    }
    px_xchg_progress(c);
    c->resp_any = true;
    c->resp_parser_dirty = true;
    if (px_xchg_tunnel(c)) {
        if (px_buf_append(&c->out, buf->base, (size_t)nread) < 0) {
            px_conn_close(c, false);
            return;
        }
        px_conn_cli_commit(c);
        px_xchg_reading(c);
        return;
    }
    feed_response(c, buf->base, (size_t)nread);
}
