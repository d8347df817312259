/* The exchange (px_exchange.h): one request/response with its upstream connection.
 * Acquires the connection (pooled or new), writes the request through its own write
 * queue, parses the response (interim 1xx, trailers, a 101 and the tunnel after it) and
 * hands it to its owner through callbacks; its own timer bounds the upstream's silence;
 * an idempotent request that met a stale pooled connection is sent once more.
 */
#include "px_exchange.h"

#include "px_check.h"
#include "px_config.h"
#include "px_gen.h"
#include "px_log.h"
#include "px_upstream.h"
#include "px_worker.h"
#include "px_wq.h"

#include <assert.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PX_XCHG_MAGIC 0x58434847u /* "XCHG" */
#define TRIM_KEEP     1024        /* an idle exchange keeps buffers up to this size */

struct px_exchange {
    PX_MAGIC_FIELD;
    enum px_xchg_state state;
    int refs; /* the owner's (until destroy), the timer handle's, a write in flight */
    const struct px_xchg_cb *cb;
    void *owner; /* NULL once destroyed: no callback any more */
    struct px_worker *w;
    struct px_gen *gen; /* a reference until destroy */
    const char *peer;
    uv_timer_t timer; /* the upstream's silence */

    struct px_xchg_req req;
    struct px_wq up;      /* request bytes towards the upstream */
    struct px_buf replay; /* the head and framing queued before any body byte: a retry */
    bool body_sent;       /* request body bytes were queued: never retried */
    bool req_done;        /* the whole request was queued */
    bool retried;
    struct px_upconn *uc; /* CONNECTING: the attempt; SENDING..TUNNEL: the connection */
    bool reading;         /* our reader is registered on uc */
    char server[80];

    struct px_h1_parser *parser;
    bool parser_dirty; /* bytes of a response seen: a fresh parser unless reused cleanly */
    bool resp_any;     /* any response byte arrived */
    bool interim;      /* inside a 1xx interim response */
    bool ended;        /* the parser reported the end of the final response */
    bool keep_alive;
    int stop_status; /* a callback stopped the parser: fail with this (0: owner gone) */
};

static int on_resp_head(void *ud, const struct px_h1_head *h);
static int on_resp_body(void *ud, const char *p, size_t n);
static int on_resp_end(void *ud);
static int on_resp_trailer(void *ud, const struct px_h1_header *f);

static const struct px_h1_callbacks resp_cb = {on_resp_head, on_resp_body, on_resp_end,
                                               on_resp_trailer};

static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_timeout(uv_timer_t *t);
static void write_done(struct px_exchange *x, int status);

static struct px_exchange *xchg_of(void *ud)
{
    struct px_exchange *x;
    PX_CAST(x, (struct px_exchange *)ud, PX_XCHG_MAGIC);
    return x;
}

static bool gone(const struct px_exchange *x)
{
    return x->owner == NULL;
}

/* The transitions of enum px_xchg_state. */
static void xs_set(struct px_exchange *x, enum px_xchg_state to)
{
    switch (to) {
    case PX_XS_IDLE:
        assert(x->state == PX_XS_IDLE || x->state == PX_XS_DONE);
        break;
    case PX_XS_CONNECTING:
        assert(x->state == PX_XS_IDLE || x->state == PX_XS_SENDING);
        break;
    case PX_XS_SENDING:
        assert(x->state == PX_XS_CONNECTING);
        break;
    case PX_XS_RECEIVING:
        assert(x->state == PX_XS_SENDING);
        break;
    case PX_XS_TUNNEL:
        assert(x->state == PX_XS_RECEIVING);
        break;
    case PX_XS_DONE:
        assert(px_xchg_busy(x->state));
        break;
    }
    x->state = to;
}

static bool attached(const struct px_exchange *x)
{
    return x->state == PX_XS_SENDING || x->state == PX_XS_RECEIVING || x->state == PX_XS_TUNNEL;
}

enum px_xchg_state px_xchg_state(const struct px_exchange *x)
{
    return x->state;
}

const char *px_xchg_server(const struct px_exchange *x)
{
    return x->server;
}

/* ---- lifetime ---- */

static void xchg_free(struct px_exchange *x)
{
    px_wq_free(&x->up);
    px_buf_free(&x->replay);
    px_h1_parser_free(x->parser);
    x->magic = 0;
    free(x);
}

static void unref(struct px_exchange *x)
{
    assert(x->refs > 0);
    if (--x->refs == 0)
        xchg_free(x);
}

static void on_timer_closed(uv_handle_t *h)
{
    unref(xchg_of(h->data));
}

struct px_exchange *px_xchg_new(struct px_worker *w, struct px_gen *gen,
                                const struct px_xchg_cb *cb, void *owner, const char *peer)
{
    assert(owner && cb);
    struct px_exchange *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->magic = PX_XCHG_MAGIC;
    x->state = PX_XS_IDLE;
    x->refs = 2; /* the owner's and the timer's */
    x->cb = cb;
    x->owner = owner;
    x->w = w;
    x->gen = px_gen_ref(gen);
    x->peer = peer;
    uv_timer_init(&w->loop, &x->timer);
    x->timer.data = x;
    return x;
}

/* Gives the upstream connection back (to the pool when reusable) or cancels a connect. */
static void up_release(struct px_exchange *x, bool reusable)
{
    if (x->uc && x->state == PX_XS_CONNECTING)
        px_upconn_cancel(x->uc);
    else if (x->uc)
        px_upconn_release(x->uc, reusable); /* detaches our reader */
    x->uc = NULL;
    x->reading = false;
    x->up.pending.len = 0;
    if (!gone(x))
        uv_timer_stop(&x->timer);
}

/* Fails the exchange: the upstream is dropped and the owner told. */
static void fail(struct px_exchange *x, int status)
{
    up_release(x, false);
    xs_set(x, PX_XS_DONE);
    x->cb->on_error(x->owner, status);
}

void px_xchg_drop(struct px_exchange *x)
{
    PX_CHECK(x, PX_XCHG_MAGIC);
    if (!px_xchg_busy(x->state))
        return;
    up_release(x, false);
    xs_set(x, PX_XS_DONE);
}

void px_xchg_destroy(struct px_exchange *x)
{
    if (!x)
        return;
    PX_CHECK(x, PX_XCHG_MAGIC);
    assert(!gone(x));
    px_xchg_drop(x);
    uv_timer_stop(&x->timer);
    x->owner = NULL;
    px_gen_release(x->gen);
    x->gen = NULL;
    uv_close((uv_handle_t *)&x->timer, on_timer_closed);
    unref(x);
}

void px_xchg_reset(struct px_exchange *x)
{
    PX_CHECK(x, PX_XCHG_MAGIC);
    xs_set(x, PX_XS_IDLE);
    x->body_sent = x->req_done = x->retried = false;
    x->resp_any = x->interim = x->ended = x->keep_alive = false;
    x->stop_status = 0;
    x->server[0] = '\0';
    x->replay.len = 0;
    x->up.pending.len = 0;
    px_wq_trim(&x->up, TRIM_KEEP);
    if (x->replay.cap > TRIM_KEEP)
        px_buf_free(&x->replay);
}

/* ---- the request side ---- */

bool px_xchg_blocked(const struct px_exchange *x)
{
    return px_wq_queued(&x->up) >= x->gen->cfg->limits.write_watermark;
}

/* The response timeout counts time without progress: it restarts on every upstream read,
 * every completed upstream write and every completed client write. */
void px_xchg_progress(struct px_exchange *x)
{
    unsigned ms = x->gen->cfg->timeouts.upstream_response_ms;
    if (ms && (x->state == PX_XS_SENDING || x->state == PX_XS_RECEIVING))
        uv_timer_start(&x->timer, on_timeout, ms, 0);
}

/* Reads the upstream only while the owner takes bytes. A pooled connection arrives with
 * its watcher armed; registering our reader then costs no system call. */
void px_xchg_resume(struct px_exchange *x)
{
    if (!attached(x))
        return;
    bool want = x->cb->can_take(x->owner);
    if (want && !x->reading)
        x->reading = px_upconn_read_start(x->uc, on_up_read) == 0;
    else if (!want) { /* also disarms a pooled connection's watcher before our first read */
        px_upconn_read_stop(x->uc);
        x->reading = false;
    }
}

static void on_up_write(uv_write_t *req, int status)
{
    struct px_exchange *x = xchg_of(req->data);
    uv_stream_t *to = x->up.inflight_to;
    px_wq_done(&x->up);
    /* a write to an upstream connection we already dropped is of no interest */
    bool current = !gone(x) && attached(x) && to == px_upconn_stream(x->uc);
    if (!gone(x))
        write_done(x, current ? status : 0);
    unref(x);
}

static void flush(struct px_exchange *x)
{
    if (!attached(x))
        return;
    int r = px_wq_flush(&x->up, px_upconn_stream(x->uc), on_up_write, x);
    if (r > 0)
        x->refs++;
    else if (r < 0)
        write_done(x, r);
}

int px_xchg_send(struct px_exchange *x, const char *p, size_t n, bool body)
{
    PX_CHECK(x, PX_XCHG_MAGIC);
    if (body && n)
        x->body_sent = true;
    else if (!x->body_sent && px_buf_append(&x->replay, p, n) < 0)
        return -1;
    return px_buf_append(&x->up.pending, p, n) < 0 ? -1 : 0;
}

void px_xchg_flush(struct px_exchange *x)
{
    PX_CHECK(x, PX_XCHG_MAGIC);
    flush(x);
}

void px_xchg_request_done(struct px_exchange *x)
{
    x->req_done = true;
}

/* Responses are held to their own limits; the status line only to the head size. */
static struct px_h1_parser *response_parser(struct px_exchange *x)
{
    const struct px_limits *l = &x->gen->cfg->limits;
    struct px_h1_limits lim = {
        .max_request_line = l->max_resp_head,
        .max_head = l->max_resp_head,
        .max_headers = l->max_resp_headers,
    };
    return px_h1_parser_new(PX_H1_RESPONSE, &lim, &resp_cb, x);
}

static void attach(struct px_exchange *x, struct px_upconn *uc)
{
    xs_set(x, PX_XS_SENDING);
    x->uc = uc;
    px_upconn_set_owner(uc, x);
    snprintf(x->server, sizeof x->server, "%s", px_upconn_server(uc));
    if (x->parser_dirty || !x->parser) {
        px_h1_parser_free(x->parser);
        x->parser = response_parser(x);
        x->parser_dirty = false;
        if (!x->parser) {
            fail(x, 502);
            return;
        }
    }
    px_h1_expect_response_to(x->parser, x->req.method_id);
    px_xchg_progress(x);
    px_xchg_resume(x);
    flush(x);
}

static void on_up_ready(void *ud, struct px_upconn *uc, int status)
{
    struct px_exchange *x = xchg_of(ud);
    assert(x->state == PX_XS_CONNECTING);
    x->uc = NULL; /* the attempt is over */
    if (status < 0)
        fail(x, 502);
    else
        attach(x, uc);
}

/* From CONNECTING: 0 (ready or pending), or the status to answer (DONE). */
static int acquire(struct px_exchange *x, unsigned flags)
{
    struct px_upconn *uc = NULL;
    int r = px_upstream_acquire(x->gen->upstreams, x->req.upstream, flags, on_up_ready, x, &uc);
    if (r == PX_UP_READY) {
        attach(x, uc);
    } else if (r == PX_UP_PENDING) {
        x->uc = uc;
    } else {
        xs_set(x, PX_XS_DONE);
        return r == PX_UP_UNAVAILABLE ? 503 : 502;
    }
    return 0;
}

int px_xchg_begin(struct px_exchange *x, const struct px_xchg_req *r, const char *head, size_t n)
{
    PX_CHECK(x, PX_XCHG_MAGIC);
    xs_set(x, PX_XS_CONNECTING);
    x->req = *r;
    x->replay.len = 0;
    if (px_buf_append(&x->replay, head, n) < 0 || px_buf_append(&x->up.pending, head, n) < 0) {
        xs_set(x, PX_XS_DONE);
        return 500;
    }
    return acquire(x, 0);
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
 * connection died under it, not before it), so only an idempotent request whose body
 * was not sent goes again (RFC 9110 9.2.2: a proxy MUST NOT retry non-idempotent
 * requests automatically). Returns true when the retry took over (it reports its own
 * errors). */
static bool retry(struct px_exchange *x)
{
    if (x->retried || x->state != PX_XS_SENDING || !px_upconn_reused(x->uc) || x->resp_any ||
        x->req.upgrade)
        return false;
    if (!idempotent(x->req.method_id) || x->body_sent) {
        x->w->stats.upstream_retries_refused++;
        px_debug("conn %s: pooled connection to %s failed, request not retried", x->peer,
                 x->server);
        return false;
    }
    px_debug("conn %s: stale pooled connection to %s, retrying", x->peer, x->server);
    x->w->stats.upstream_retries++;
    x->retried = true;
    up_release(x, false);
    xs_set(x, PX_XS_CONNECTING);
    if (px_buf_append(&x->up.pending, x->replay.data, x->replay.len) < 0) {
        fail(x, 502);
        return true;
    }
    int st = acquire(x, PX_UP_FRESH);
    if (st)
        x->cb->on_error(x->owner, st);
    return true;
}

static void write_done(struct px_exchange *x, int status)
{
    if (status < 0) {
        if (x->resp_any) {
            x->keep_alive = false; /* let the response finish; never reuse */
            return;
        }
        if (!retry(x))
            fail(x, 502);
        return;
    }
    if (attached(x)) {
        px_xchg_progress(x);
        flush(x);
    }
    if (!gone(x) && !px_xchg_blocked(x))
        x->cb->on_sent(x->owner);
}

static void on_timeout(uv_timer_t *t)
{
    struct px_exchange *x = xchg_of(t->data);
    px_debug("conn %s: upstream %s timed out", x->peer, x->server);
    fail(x, 504);
}

/* ---- the response side ---- */

/* A callback stopped the parser: remembered for the feed loop. */
static int stop(struct px_exchange *x, int status)
{
    x->stop_status = status;
    return 1;
}

static int on_resp_head(void *ud, const struct px_h1_head *h)
{
    struct px_exchange *x = xchg_of(ud);
    bool interim = h->status >= 100 && h->status < 200 && h->status != 101;
    x->interim = interim;
    if (!interim) {
        if (h->status == 101 && !x->req.upgrade)
            return stop(x, 502);
        xs_set(x, PX_XS_RECEIVING);
        x->keep_alive = h->keep_alive;
    }
    if (x->cb->on_head(x->owner, h) < 0)
        return stop(x, 502);
    return gone(x) ? stop(x, 0) : 0;
}

static int on_resp_body(void *ud, const char *p, size_t n)
{
    struct px_exchange *x = xchg_of(ud);
    if (x->interim)
        return 0;
    if (x->cb->on_body(x->owner, p, n) < 0)
        return stop(x, 502);
    return gone(x) ? stop(x, 0) : 0;
}

static int on_resp_trailer(void *ud, const struct px_h1_header *f)
{
    struct px_exchange *x = xchg_of(ud);
    if (x->interim)
        return 0;
    if (x->cb->on_trailer(x->owner, f) < 0)
        return stop(x, 502);
    return gone(x) ? stop(x, 0) : 0;
}

static int on_resp_end(void *ud)
{
    struct px_exchange *x = xchg_of(ud);
    if (x->interim)
        x->interim = false;
    else
        x->ended = true;
    return 0;
}

/* The response is complete: pool the upstream connection when clean, then tell the
 * owner. */
static void response_done(struct px_exchange *x, size_t leftover)
{
    bool reusable = x->keep_alive && x->req_done && !x->req.upgrade && !x->up.busy &&
                    x->up.pending.len == 0 && leftover == 0;
    if (reusable) {
        px_h1_resume(x->parser);
        x->parser_dirty = false;
    }
    up_release(x, reusable);
    xs_set(x, PX_XS_DONE);
    x->cb->on_end(x->owner);
}

static void tunnel_begin(struct px_exchange *x, const char *rest, size_t n)
{
    xs_set(x, PX_XS_TUNNEL);
    uv_timer_stop(&x->timer);
    x->cb->on_tunnel(x->owner, rest, n);
}

/* The upstream closed: ends an EOF-delimited response or a tunnel, retries a stale
 * pooled connection, or fails. */
static void up_eof(struct px_exchange *x)
{
    if (x->state == PX_XS_TUNNEL) {
        up_release(x, false);
        xs_set(x, PX_XS_DONE);
        x->cb->on_end(x->owner);
        return;
    }
    if (x->resp_any && !x->ended) {
        px_h1_finish(x->parser);
        if (gone(x))
            return;
        if (x->ended) {
            x->keep_alive = false;
            response_done(x, 0);
            return;
        }
    }
    if (!x->resp_any && retry(x))
        return;
    fail(x, 502);
}

/* A feed ended in an error: the response is invalid, or a callback refused it. */
static void feed_failed(struct px_exchange *x, int r)
{
    if (gone(x))
        return;
    px_warn("conn %s: invalid response from %s: %s", x->peer, x->server,
            r == PX_H1_ERROR ? px_h1_error_reason(x->parser) : "rejected");
    fail(x, x->stop_status ? x->stop_status : 502);
}

static void feed_response(struct px_exchange *x, const char *p, size_t n)
{
    size_t off = 0;
    while (off < n && !gone(x)) {
        size_t used = 0;
        int r = px_h1_feed(x->parser, p + off, n - off, &used);
        off += used > n - off ? n - off : used;
        if (r == PX_H1_OK && used == 0)
            break;
        if (r == PX_H1_PAUSED && !x->ended) { /* the end of an interim response */
            px_h1_resume(x->parser);
            px_h1_expect_response_to(x->parser, x->req.method_id);
            continue;
        }
        if (r == PX_H1_PAUSED) {
            response_done(x, n - off);
            return;
        }
        if (r == PX_H1_UPGRADED) {
            tunnel_begin(x, p + off, n - off);
            return;
        }
        if (r == PX_H1_ERROR || r == PX_H1_ABORTED) {
            feed_failed(x, r);
            return;
        }
    }
    if (gone(x))
        return;
    x->cb->on_flush(x->owner);
    if (!gone(x))
        px_xchg_resume(x);
}

static void tunnel_read(struct px_exchange *x, const char *p, size_t n)
{
    if (x->cb->on_body(x->owner, p, n) < 0) {
        fail(x, 502);
        return;
    }
    if (gone(x))
        return;
    x->cb->on_flush(x->owner);
    if (!gone(x))
        px_xchg_resume(x);
}

static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    void *owner = px_upconn_owner(s->data);
    if (nread == 0 || !owner)
        return;
    struct px_exchange *x = xchg_of(owner);
    if (gone(x) || !attached(x))
        return;
    if (nread < 0) {
        up_eof(x);
        return;
    }
    px_xchg_progress(x);
    x->resp_any = true;
    x->parser_dirty = true;
    if (x->state == PX_XS_TUNNEL)
        tunnel_read(x, buf->base, (size_t)nread);
    else
        feed_response(x, buf->base, (size_t)nread);
}
