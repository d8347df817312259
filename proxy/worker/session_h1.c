/* The HTTP/1 session (px_session_h1, px_session.h): the request side of HTTP/1.1 on a
 * client transport (parsing within limits, routing, local answers for Max-Forwards: 0,
 * the body-rate check, tunnel input), error answers and the per-request accounting
 * (stats, access log). The exchange with the upstream is exchange.c.
 *
 * One exchange at a time, in order: the request parser pauses after each request; the
 * next pipelined request is parsed only once the current response is complete, so
 * responses go out in order. Nothing is forwarded for a request whose head the parser
 * rejects.
 */
#include "px_access_log.h"
#include "px_conn_internal.h"
#include "px_exchange.h"
#include "px_gen.h"
#include "px_log.h"
#include "px_worker.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define FEED_SLICE (16 * 1024) /* client plaintext parsed per step, to honour backpressure */

static int on_req_head(void *ud, const struct px_h1_head *h);
static int on_req_body(void *ud, const char *p, size_t n);
static int on_req_end(void *ud);

static const struct px_h1_callbacks req_cb = {on_req_head, on_req_body, on_req_end, NULL};

static void process_input(struct px_conn *c);

#define FEED_SLICE (16 * 1024) /* client plaintext parsed per step, to honour backpressure */

static void limits_of(const struct px_conn *c, struct px_h1_limits *lim)
{
    const struct px_limits *l = &c->gen->cfg->limits;
    lim->max_request_line = l->max_request_line;
    lim->max_head = l->max_head;
    lim->max_headers = l->max_headers;
}

static int h1_open(struct px_conn *c)
{
    struct px_h1_limits lim;
    limits_of(c, &lim);
    c->req_parser = px_h1_parser_new(PX_H1_REQUEST, &lim, &req_cb, c);
    return c->req_parser ? 0 : -1;
}

static void h1_free(struct px_conn *c)
{
    px_h1_parser_free(c->req_parser);
    c->req_parser = NULL;
    px_xchg_free(c);
}

/* ---- accounting ---- */

void px_h1s_log(struct px_conn *c)
{
    struct px_worker *w = c->w;
    int st = c->resp_status;
    if (st >= 100 && st < 600)
        w->stats.responses_by_class[st / 100]++;
    if (c->xs != PX_XS_TUNNEL) /* a tunnel is accounted when it begins and stays one */
        px_xchg_set(c, PX_XS_LOGGED);
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
        .bytes = c->plain_out - c->resp_mark,
        .upstream = c->upstream_name[0] ? c->upstream_name : NULL,
        .duration_ms = uv_now(&w->loop) - c->req_start_ms,
    };
    px_access_log_write(w->access_log, &e);
}

static void request_reset(struct px_conn *c)
{
    px_xchg_set(c, PX_XS_IDLE);
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
    c->resp_mark = c->plain_out;
}

/* Answers status (502, 503, 504, 408, 4xx) unless a response already began, then
 * closes (close_notify after the answer). */
void px_h1s_error(struct px_conn *c, int status)
{
    if (px_conn_closing(c))
        return;
    if (px_xchg_responded(c)) {
        px_conn_close(c, false);
        return;
    }
    px_xchg_drop(c);
    if (c->xs != PX_XS_REQUEST) { /* rejected before a request began: log it all the same */
        request_reset(c);
        clock_gettime(CLOCK_REALTIME, &c->req_wall);
        c->req_start_ms = uv_now(&c->w->loop);
        px_xchg_set(c, PX_XS_REQUEST);
    }
    c->resp_status = status;
    px_xchg_set(c, PX_XS_RESPONSE);
    px_h1_error_response_write(status, true, &c->out);
    px_conn_close(c, true); /* commits c->out, logs the request */
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

/* The busy phase: while a request body is read, the body-rate window runs on the
 * transport's phase timer; otherwise no client timer (the upstream one runs). */
static void busy_phase(struct px_conn *c)
{
    unsigned ms = 0;
    if (c->req_body != PX_H1_BODY_NONE && !c->req_done) {
        ms = c->gen->cfg->timeouts.body_ms;
        c->body_mark = c->req_body_seen;
    }
    px_conn_set_timer(c, PH_BUSY, ms);
}

/* Slow-body defence: while a request body is being read, each body_ms window must bring
 * body_min_rate bytes per second. Windows in which we did not read the client (the
 * upstream applied backpressure) do not count. */
static void body_check(struct px_conn *c)
{
    if (c->req_done || c->req_body == PX_H1_BODY_NONE || px_xchg_tunnel(c))
        return;
    const struct px_config *cfg = c->gen->cfg;
    uint64_t want = (uint64_t)cfg->limits.body_min_rate * cfg->timeouts.body_ms / 1000;
    if (c->reading && c->req_body_seen - c->body_mark < want) {
        px_debug("conn %s: request body too slow (%llu bytes in %u ms)", c->peer,
                 (unsigned long long)(c->req_body_seen - c->body_mark), cfg->timeouts.body_ms);
        px_h1s_error(c, 408);
        return;
    }
    busy_phase(c); /* next window */
}

static void request_begin(struct px_conn *c, const struct px_h1_head *h)
{
    request_reset(c);
    px_xchg_set(c, PX_XS_REQUEST);
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
    busy_phase(c); /* after req_body: it arms the body-rate check */
}

/* OPTIONS / TRACE with Max-Forwards: 0: the proxy is the final recipient (RFC 9110
 * 7.6.2) and answers now; the body, if any, is read and dropped, and local_answer_done()
 * finishes the exchange when the request ends. No upstream is involved. */
static int local_answer_begin(struct px_conn *c, const struct px_h1_head *h)
{
    c->local_answer = true;
    c->resp_status = 200;
    px_xchg_set(c, PX_XS_RESPONSE);
    return px_h1_local_answer_write(h, c->close_after, &c->out) < 0 ? px_conn_fail(c, 500) : 0;
}

/* The request of a local answer ended: account, then on with the next request (the
 * caller's loop parses it). Returns false when the connection closes. */
static bool local_answer_done(struct px_conn *c)
{
    px_conn_cli_commit(c);
    if (px_conn_closing(c))
        return false;
    px_h1s_log(c);
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
    struct px_conn *c = px_conn_of(ud);
    request_begin(c, h);
    if (px_h1_local_answer(h))
        return local_answer_begin(c, h);
    int idx = route(c, h);
    if (idx < 0)
        return px_conn_fail(c, 502);
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
        return px_conn_fail(c, 500);
    int st = px_xchg_acquire(c, 0);
    return st ? px_conn_fail(c, st) : 0;
}

static int on_req_body(void *ud, const char *p, size_t n)
{
    struct px_conn *c = px_conn_of(ud);
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
        return px_conn_fail(c, 500);
    px_xchg_flush(c);
    return 0;
}

static int on_req_end(void *ud)
{
    struct px_conn *c = px_conn_of(ud);
    c->req_done = true;
    if (c->local_answer)
        return 0;
    if (c->req_body == PX_H1_BODY_CHUNKED && px_h1_chunk_last(&c->up.pending) < 0)
        return px_conn_fail(c, 500);
    px_xchg_flush(c);
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
    if (avail && px_xchg_attached(c)) {
        if (px_buf_append(&c->up.pending, c->in.data + c->in_off, avail) < 0) {
            px_conn_close(c, false);
            return;
        }
        c->in_off += avail;
        px_xchg_flush(c);
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
        px_h1s_error(c, px_h1_error_status(c->req_parser));
        return false;
    default: /* PX_H1_ABORTED */
        px_h1s_error(c, c->failed_status ? c->failed_status : 500);
        return false;
    }
}

static void process_input(struct px_conn *c)
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
    px_xchg_reading(c);
}

/* The exchange's response ended and its upstream connection is given back: account,
 * then close, or go on with the next pipelined request or wait idle. */
void px_h1s_end(struct px_conn *c)
{
    px_h1s_log(c);
    if (c->close_after || !c->req_done) {
        px_conn_close(c, true);
        return;
    }
    px_h1_resume(c->req_parser);
    request_reset(c);
    px_conn_set_phase(c, c->in.len > c->in_off ? PH_HEAD : PH_IDLE);
    if (c->phase == PH_IDLE)
        px_conn_trim(c);
    process_input(c);
}

/* ---- the session operations ---- */

/* A client write completed: the response timer counts it as progress (a slow client that
 * holds the upstream back is not an upstream stall), and upstream reading may resume. */
static void h1_on_drained(struct px_conn *c)
{
    if (px_xchg_attached(c))
        px_xchg_progress(c);
    if (!px_conn_cli_blocked(c))
        px_xchg_resume(c);
}

/* PH_HEAD: the head did not arrive in header_ms; PH_BUSY: a body-rate window ended. */
static void h1_on_timeout(struct px_conn *c)
{
    if (c->phase == PH_HEAD)
        px_h1s_error(c, 408);
    else
        body_check(c);
}

static void h1_on_close(struct px_conn *c, enum px_session_close how)
{
    switch (how) {
    case PX_SESSION_DRAIN: /* idle or tunnelling: close now; else after this response */
        if (!px_xchg_active(c) || px_xchg_tunnel(c))
            px_conn_close(c, true);
        else
            c->close_after = true;
        break;
    case PX_SESSION_CLOSING:
        if (px_xchg_active(c))
            px_h1s_log(c);
        uv_timer_stop(&c->up_timer);
        px_xchg_drop(c);
        break;
    case PX_SESSION_CLOSED:
        px_xchg_drop(c);
        break;
    }
}

const struct px_session_ops px_session_h1 = {
    .name = "http/1.1",
    .open = h1_open,
    .free = h1_free,
    .on_plaintext = process_input,
    .on_drained = h1_on_drained,
    .on_timeout = h1_on_timeout,
    .on_close = h1_on_close,
};
