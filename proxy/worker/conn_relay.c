/* Client connections, part 2: the HTTP/1.1 request side (parsing, routing, forwarding the
 * head and body upstream), the response side (parsing, rewriting, streaming back through
 * TLS), WebSocket tunnels, retries on stale pooled connections (idempotent requests
 * only), error answers and the per-request accounting (stats, access log).
 *
 * Order: the request parser pauses after each request; the next pipelined request is
 * parsed only once the current response is complete, so responses go out in order.
 * Nothing is forwarded for a request whose head the parser rejects.
 */
#include "px_access_log.h"
#include "px_conn_internal.h"
#include "px_log.h"
#include "px_upstream.h"
#include "px_worker.h"
#include "px_gen.h"

#include <assert.h>
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

#define FEED_SLICE (16 * 1024) /* client plaintext parsed per step, to honour backpressure */

static int on_req_head(void *ud, const struct px_h1_head *h);
static int on_req_body(void *ud, const char *p, size_t n);
static int on_req_end(void *ud);
static int on_resp_head(void *ud, const struct px_h1_head *h);
static int on_resp_body(void *ud, const char *p, size_t n);
static int on_resp_end(void *ud);
static int on_resp_trailer(void *ud, const struct px_h1_header *f);

static const struct px_h1_callbacks req_cb = {on_req_head, on_req_body, on_req_end, NULL};
static const struct px_h1_callbacks resp_cb = {on_resp_head, on_resp_body, on_resp_end,
                                               on_resp_trailer};

/* Called by a parser callback that stops its parser: the status to answer with once the
 * feed returns PX_H1_ABORTED. */
static int abort_status(struct px_conn *c, int status)
{
    c->failed_status = status;
    return 1;
}

/* The parsers' and the pool's void * is the connection. */
static struct px_conn *conn_of(void *ud)
{
    struct px_conn *c;
    PX_CAST(c, (struct px_conn *)ud, PX_CONN_MAGIC);
    return c;
}

/* The exchange's transitions (see enum px_xchg_state). */
static void xchg_set(struct px_conn *c, enum px_xchg_state to)
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

static void limits_of(const struct px_conn *c, struct px_h1_limits *lim)
{
    const struct px_limits *l = &c->gen->cfg->limits;
    lim->max_request_line = l->max_request_line;
    lim->max_head = l->max_head;
    lim->max_headers = l->max_headers;
}

/* Responses are held to their own limits; the status line only to the head size. */
static void response_limits_of(const struct px_conn *c, struct px_h1_limits *lim)
{
    const struct px_limits *l = &c->gen->cfg->limits;
    lim->max_request_line = l->max_resp_head;
    lim->max_head = l->max_resp_head;
    lim->max_headers = l->max_resp_headers;
}

int px_conn_relay_init(struct px_conn *c)
{
    struct px_h1_limits lim;
    limits_of(c, &lim);
    c->req_parser = px_h1_parser_new(PX_H1_REQUEST, &lim, &req_cb, c);
    return c->req_parser ? 0 : -1;
}

void px_conn_relay_free(struct px_conn *c)
{
    px_h1_parser_free(c->req_parser);
    c->req_parser = NULL;
    px_h1_parser_free(c->resp_parser);
    c->resp_parser = NULL;
    px_buf_free(&c->req_head);
}

/* ---- accounting ---- */

void px_conn_log_request(struct px_conn *c)
{
    struct px_worker *w = c->w;
    int st = c->resp_status;
    if (st >= 100 && st < 600)
        w->stats.responses_by_class[st / 100]++;
    if (c->xs != PX_XS_TUNNEL) /* a tunnel is accounted when it begins and stays one */
        xchg_set(c, PX_XS_LOGGED);
    if (!w->access_log)
        return;
    char cert[64] = "";
    const struct cs_cert *cc = c->tls.ssl ? cs_ssl_cert(c->tls.ssl) : NULL;
    if (cc)
        cs_cert_describe(cc, cert, sizeof cert);
    struct px_access_entry e = {
        .start = c->req_wall,
        .client = c->peer,
        .sni = px_tls_sni(&c->tls),
        .tls_version = px_tls_version(&c->tls),
        .cipher = px_tls_cipher(&c->tls),
        .cert = cert[0] ? cert : NULL,
        .method = c->method[0] ? c->method : NULL,
        .path = c->path,
        .path_len = c->path_len,
        .status = st,
        .bytes = c->resp_bytes,
        .upstream = c->upstream_name[0] ? c->upstream_name : NULL,
        .duration_ms = uv_now(&w->loop) - c->req_start_ms,
    };
    px_access_log_write(w->access_log, &e);
}

static void request_reset(struct px_conn *c)
{
    xchg_set(c, PX_XS_IDLE);
    c->req_done = c->req_upgrade = false;
    c->req_body = PX_H1_BODY_NONE;
    c->req_body_seen = 0;
    c->retried = false;
    c->local_answer = false;
    c->method[0] = '\0';
    c->path_len = 0;
    c->upstream_name[0] = '\0';
    c->resp_any = c->resp_interim = c->resp_ended = false;
    c->resp_chunked = c->resp_keep_alive = c->resp_trailers = false;
    c->resp_status = 0;
    c->failed_status = 0;
    c->resp_bytes = 0;
}

/* Answers status (502, 503, 504, 408, 4xx) unless a response already began, then
 * closes (close_notify after the answer). */
void px_conn_reply_error(struct px_conn *c, int status)
{
    if (px_conn_closing(c))
        return;
    if (px_xchg_responded(c)) {
        px_conn_close(c, false);
        return;
    }
    px_conn_up_drop(c);
    if (c->xs != PX_XS_REQUEST) { /* rejected before a request began: log it all the same */
        request_reset(c);
        clock_gettime(CLOCK_REALTIME, &c->req_wall);
        c->req_start_ms = uv_now(&c->w->loop);
        xchg_set(c, PX_XS_REQUEST);
    }
    c->resp_status = status;
    xchg_set(c, PX_XS_RESPONSE);
    px_h1_error_response_write(status, true, &c->out);
    px_conn_close(c, true); /* commits c->out, logs the request */
}

/* ---- the upstream side ---- */

static void on_up_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Starts or stops reading the upstream: only while the client's queue is below the
 * watermark. A pooled connection arrives with its watcher armed; registering our reader
 * then costs no system call. */
void px_conn_up_resume(struct px_conn *c)
{
    if (!c->uc || !c->uc_ready)
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
void px_conn_up_progress(struct px_conn *c)
{
    unsigned ms = c->gen->cfg->timeouts.upstream_response_ms;
    if (ms && !px_xchg_tunnel(c) && !px_conn_closed(c))
        uv_timer_start(&c->up_timer, px_conn_up_timeout, ms, 0);
}

/* Gives the upstream connection back (to the pool when reusable) or cancels a connect. */
static void up_release(struct px_conn *c, bool reusable)
{
    if (!c->uc)
        return;
    if (!c->uc_ready) {
        px_upconn_cancel(c->uc);
    } else {
        px_upconn_release(c->uc, reusable); /* detaches our reader */
    }
    c->uc = NULL;
    c->uc_ready = c->up_reading = false;
    c->up.pending.len = 0;
    if (!px_conn_closed(c))
        uv_timer_stop(&c->up_timer);
}

void px_conn_up_drop(struct px_conn *c)
{
    up_release(c, false);
}

static void up_attach(struct px_conn *c, struct px_upconn *uc)
{
    c->uc = uc;
    c->uc_ready = true;
    px_upconn_set_owner(uc, c);
    snprintf(c->upstream_name, sizeof c->upstream_name, "%s", px_upconn_server(uc));
    if (c->resp_parser_dirty || !c->resp_parser) {
        struct px_h1_limits lim;
        response_limits_of(c, &lim);
        px_h1_parser_free(c->resp_parser);
        c->resp_parser = px_h1_parser_new(PX_H1_RESPONSE, &lim, &resp_cb, c);
        c->resp_parser_dirty = false;
        if (!c->resp_parser) {
            px_conn_reply_error(c, 502);
            return;
        }
    }
    px_h1_expect_response_to(c->resp_parser, c->req_method_id);
    px_conn_up_progress(c);
    px_conn_up_resume(c);
    px_wq_flush(c, &c->up, px_upconn_stream(uc));
}

static void on_up_ready(void *ud, struct px_upconn *uc, int status)
{
    struct px_conn *c = conn_of(ud);
    c->uc = NULL;
    if (status < 0) {
        px_conn_reply_error(c, 502);
        return;
    }
    up_attach(c, uc);
}

/* Returns 0, or the status to answer with. */
static int up_acquire(struct px_conn *c, unsigned flags)
{
    struct px_upconn *uc = NULL;
    int r = px_upstream_acquire(c->gen->upstreams, c->upstream_idx, flags, on_up_ready, c, &uc);
    if (r == PX_UP_READY)
        up_attach(c, uc);
    else if (r == PX_UP_PENDING)
        c->uc = uc;
    else
        return r == PX_UP_UNAVAILABLE ? 503 : 502;
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
    if (c->retried || !c->uc || !c->uc_ready || !px_upconn_reused(c->uc) || c->resp_any ||
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
    int st = up_acquire(c, PX_UP_FRESH);
    if (st)
        px_conn_reply_error(c, st);
    return true;
}

void px_conn_up_write_done(struct px_conn *c, int status)
{
    if (status < 0) {
        if (c->resp_any) {
            c->resp_keep_alive = false; /* let the response finish; never reuse */
            return;
        }
        if (!up_retry(c))
            px_conn_reply_error(c, 502);
        return;
    }
    if (c->uc && c->uc_ready) {
        px_conn_up_progress(c);
        px_wq_flush(c, &c->up, px_upconn_stream(c->uc));
    }
    if (!px_conn_up_blocked(c))
        px_conn_process_input(c);
}

void px_conn_up_timeout(uv_timer_t *t)
{
    struct px_conn *c;
    PX_CAST(c, (struct px_conn *)t->data, PX_CONN_MAGIC);
    px_debug("conn %s: upstream %s timed out", c->peer, c->upstream_name);
    if (px_xchg_responded(c))
        px_conn_close(c, false);
    else
        px_conn_reply_error(c, 504);
}

/* ---- the request side ---- */

/* Host header without its port, for routing; empty when absent or too long. */
static void host_of(const struct px_h1_head *h, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (!h->host || h->host_len == 0 || h->host_len >= cap)
        return;
    size_t n = h->host_len;
    if (h->host[0] == '[') { /* [v6]:port */
        const char *e = memchr(h->host, ']', n);
        n = e ? (size_t)(e - h->host) + 1 : n;
    } else {
        const char *colon = memchr(h->host, ':', n);
        if (colon)
            n = (size_t)(colon - h->host);
    }
    memcpy(buf, h->host, n);
    buf[n] = '\0';
}

/* The site: the Host name when it matches a site, else the handshake's site. Its tag is
 * the upstream index. Returns -1 when there is none. */
static int route(struct px_conn *c, const struct px_h1_head *h)
{
    char host[256];
    const struct cs_site *site = NULL;
    host_of(h, host, sizeof host);
    if (host[0]) {
        bool matched = false;
        const struct cs_entry *e = cs_snapshot_lookup(c->snap, host, &matched);
        if (e && matched)
            site = e->site;
    }
    if (!site)
        site = cs_ssl_site(c->tls.ssl);
    if (!site || site->tag < 0 || (size_t)site->tag >= c->gen->cfg->n_upstreams)
        return -1;
    return site->tag;
}

static void request_begin(struct px_conn *c, const struct px_h1_head *h)
{
    request_reset(c);
    xchg_set(c, PX_XS_REQUEST);
    c->w->stats.requests++;
    clock_gettime(CLOCK_REALTIME, &c->req_wall);
    c->req_start_ms = uv_now(&c->w->loop);
    size_t ml = h->method_len < sizeof c->method - 1 ? h->method_len : sizeof c->method - 1;
    memcpy(c->method, h->method, ml);
    c->method[ml] = '\0';
    c->path_len = h->target_len < sizeof c->path ? h->target_len : sizeof c->path;
    memcpy(c->path, h->target, c->path_len);
    c->req_method_id = h->method_id;
    c->req_minor = h->http_minor;
    c->req_te_trailers = px_h1_te_trailers(h);
    c->req_body = h->body;
    c->req_upgrade = h->upgrade;
    if (!h->keep_alive || c->draining || c->w->draining)
        c->close_after = true;
    px_conn_set_phase(c, PH_BUSY); /* after req_body: it arms the body-rate check */
}

/* OPTIONS / TRACE with Max-Forwards: 0: the proxy is the final recipient (RFC 9110
 * 7.6.2) and answers now; the body, if any, is read and dropped, and local_answer_done()
 * finishes the exchange when the request ends. No upstream is involved. */
static int local_answer_begin(struct px_conn *c, const struct px_h1_head *h)
{
    c->local_answer = true;
    c->resp_status = 200;
    xchg_set(c, PX_XS_RESPONSE);
    return px_h1_local_answer_write(h, c->close_after, &c->out) < 0 ? abort_status(c, 500) : 0;
}

/* The request of a local answer ended: account, then on with the next request (the
 * caller's loop parses it). Returns false when the connection closes. */
static bool local_answer_done(struct px_conn *c)
{
    px_conn_cli_commit(c);
    if (px_conn_closing(c))
        return false;
    px_conn_log_request(c);
    if (c->close_after) {
        px_conn_close(c, true);
        return false;
    }
    px_h1_resume(c->req_parser);
    request_reset(c);
    px_conn_set_phase(c, c->in.len > c->in_off ? PH_HEAD : PH_IDLE);
    return true;
}

static int on_req_head(void *ud, const struct px_h1_head *h)
{
    struct px_conn *c = conn_of(ud);
    request_begin(c, h);
    if (px_h1_local_answer(h))
        return local_answer_begin(c, h);
    int idx = route(c, h);
    if (idx < 0)
        return abort_status(c, 502);
    c->upstream_idx = (size_t)idx;
    /* HTTP/1.0 requests may lack Host; HTTP/1.1 upstream needs one: the TLS server name,
     * else the site's first name */
    const char *host = px_tls_sni(&c->tls);
    const struct cs_site *site = cs_ssl_site(c->tls.ssl);
    if (!host && site && site->n_names)
        host = site->names[0];
    struct px_h1_forward fwd = {
        .client_addr = c->peer, .proto = "https", .host = host, .via = c->gen->cfg->via};
    c->req_head.len = 0;
    if (px_h1_request_head_write(h, &fwd, &c->req_head) < 0 ||
        px_buf_append(&c->up.pending, c->req_head.data, c->req_head.len) < 0)
        return abort_status(c, 500);
    int st = up_acquire(c, 0);
    return st ? abort_status(c, st) : 0;
}

static void up_kick(struct px_conn *c)
{
    if (c->uc && c->uc_ready)
        px_wq_flush(c, &c->up, px_upconn_stream(c->uc));
}

static int on_req_body(void *ud, const char *p, size_t n)
{
    struct px_conn *c = conn_of(ud);
    struct px_buf *b = &c->up.pending;
    c->req_body_seen += n;
    if (c->local_answer)
        return 0;
    int r = 0;
    if (c->req_body == PX_H1_BODY_CHUNKED)
        r = px_h1_chunk_begin(b, n) < 0 || px_buf_append(b, p, n) < 0 || px_h1_chunk_end(b) < 0;
    else
        r = px_buf_append(b, p, n) < 0;
    if (r)
        return abort_status(c, 500);
    up_kick(c);
    return 0;
}

static int on_req_end(void *ud)
{
    struct px_conn *c = conn_of(ud);
    c->req_done = true;
    if (c->local_answer)
        return 0;
    if (c->req_body == PX_H1_BODY_CHUNKED && px_h1_chunk_last(&c->up.pending) < 0)
        return abort_status(c, 500);
    up_kick(c);
    return 0;
}

static void in_compact(struct px_conn *c)
{
    if (c->in_off == c->in.len)
        c->in.len = c->in_off = 0;
}

/* Tunnel mode: every client byte goes upstream as is. */
static void tunnel_input(struct px_conn *c)
{
    size_t avail = c->in.len - c->in_off;
    if (avail && c->uc && c->uc_ready) {
        if (px_buf_append(&c->up.pending, c->in.data + c->in_off, avail) < 0) {
            px_conn_close(c, false);
            return;
        }
        c->in_off += avail;
        up_kick(c);
    }
}

/* Feeds one slice; returns false when parsing must stop for now. */
static bool feed_request(struct px_conn *c)
{
    size_t avail = c->in.len - c->in_off;
    size_t n = avail > FEED_SLICE ? FEED_SLICE : avail, used = 0;
    int r = px_h1_feed(c->req_parser, c->in.data + c->in_off, n, &used);
    c->in_off += used > n ? n : used;
    switch (r) {
    case PX_H1_OK:
        return used > 0;
    case PX_H1_PAUSED:
        if (c->local_answer)
            return local_answer_done(c);
        c->req_done = true;
        return false;
    case PX_H1_UPGRADED:
        c->req_done = true; /* bytes after an upgrade wait for the 101 */
        return false;
    case PX_H1_ERROR:
        px_debug("conn %s: bad request: %s", c->peer, px_h1_error_reason(c->req_parser));
        px_conn_reply_error(c, px_h1_error_status(c->req_parser));
        return false;
    default: /* PX_H1_ABORTED */
        px_conn_reply_error(c, c->failed_status ? c->failed_status : 500);
        return false;
    }
}

void px_conn_process_input(struct px_conn *c)
{
    while (!px_conn_closing(c)) {
        if (px_xchg_tunnel(c)) {
            tunnel_input(c);
            break;
        }
        if (c->in.len == c->in_off || (px_xchg_active(c) && c->req_done))
            break;
        if (px_xchg_active(c) && px_conn_up_blocked(c))
            break;
        if (!px_xchg_active(c) && c->phase == PH_IDLE)
            px_conn_set_phase(c, PH_HEAD);
        if (!feed_request(c))
            break;
    }
    if (px_conn_closing(c))
        return;
    in_compact(c);
    px_conn_update_reading(c);
}

/* ---- the response side ---- */

static int on_resp_head(void *ud, const struct px_h1_head *h)
{
    struct px_conn *c = conn_of(ud);
    if (h->status >= 100 && h->status < 200 && h->status != 101) {
        /* 1xx: relayed whole (103's Link fields) to HTTP/1.1 clients (RFC 9110 15.2: none
         * to HTTP/1.0), then the final one */
        c->resp_interim = true;
        if (c->req_minor >= 1 && px_h1_response_head_write(h, false, c->req_minor, &c->out) < 0)
            return abort_status(c, 502);
        return 0;
    }
    c->resp_interim = false;
    if (h->status == 101 && !c->req_upgrade)
        return abort_status(c, 502);
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
        return abort_status(c, 502);
    xchg_set(c, PX_XS_RESPONSE);
    return 0;
}

static int on_resp_body(void *ud, const char *p, size_t n)
{
    struct px_conn *c = conn_of(ud);
    struct px_buf *b = &c->out;
    if (c->resp_interim)
        return 0;
    int r;
    if (c->resp_chunked)
        r = px_h1_chunk_begin(b, n) < 0 || px_buf_append(b, p, n) < 0 || px_h1_chunk_end(b) < 0;
    else
        r = px_buf_append(b, p, n) < 0;
    return r ? abort_status(c, 502) : 0;
}

/* Trailers go to a client that offered "TE: trailers" when its body is chunked from the
 * upstream too; to any other client they are dropped (RFC 9110 6.5.1 allows discarding). */
static int on_resp_trailer(void *ud, const struct px_h1_header *f)
{
    struct px_conn *c = conn_of(ud);
    if (!c->resp_chunked || !c->req_te_trailers || c->resp_interim)
        return 0;
    if (!c->resp_trailers && px_h1_chunk_last_open(&c->out) < 0)
        return abort_status(c, 502);
    c->resp_trailers = true;
    return px_h1_trailer_write(&c->out, f) < 0 ? abort_status(c, 502) : 0;
}

static int on_resp_end(void *ud)
{
    struct px_conn *c = conn_of(ud);
    if (c->resp_interim) {
        c->resp_interim = false;
        return 0;
    }
    if (c->resp_chunked &&
        (c->resp_trailers ? px_h1_chunk_end(&c->out) : px_h1_chunk_last(&c->out)) < 0)
        return abort_status(c, 502);
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
    px_conn_log_request(c);
    if (c->close_after || !c->req_done) {
        px_conn_close(c, true);
        return;
    }
    px_h1_resume(c->req_parser);
    request_reset(c);
    px_conn_set_phase(c, c->in.len > c->in_off ? PH_HEAD : PH_IDLE);
    if (c->phase == PH_IDLE)
        px_conn_trim(c);
    px_conn_process_input(c);
}

static void tunnel_begin(struct px_conn *c, const char *rest, size_t n)
{
    xchg_set(c, PX_XS_TUNNEL);
    uv_timer_stop(&c->up_timer);
    px_conn_cli_commit(c); /* the 101 head, counted in the log line */
    if (px_conn_closing(c))
        return;
    px_conn_log_request(c);
    if (n && px_buf_append(&c->out, rest, n) < 0) {
        px_conn_close(c, false);
        return;
    }
    px_conn_cli_commit(c);
    px_conn_process_input(c); /* client bytes after the upgrade request */
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
        px_conn_reply_error(c, 502);
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
            px_conn_reply_error(c, 502);
            return;
        }
    }
    px_conn_cli_commit(c);
    px_conn_update_reading(c);
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
    px_conn_up_progress(c);
    c->resp_any = true;
    c->resp_parser_dirty = true;
    if (px_xchg_tunnel(c)) {
        if (px_buf_append(&c->out, buf->base, (size_t)nread) < 0) {
            px_conn_close(c, false);
            return;
        }
        px_conn_cli_commit(c);
        px_conn_update_reading(c);
        return;
    }
    feed_response(c, buf->base, (size_t)nread);
}
