/* The HTTP/1 session (px_session_h1, px_session.h): HTTP/1.1 and 1.0 on a client
 * transport. It parses requests within limits, routes them, answers Max-Forwards: 0
 * itself, checks the body rate, hands each request to its exchange (exchange.c) and
 * renders the exchange's response back in HTTP/1 framing; error answers and the
 * per-request accounting (stats, access log) are here too.
 *
 * One exchange at a time, in order: the request parser pauses after each request; the
 * next pipelined request is parsed only once the current response is complete, so
 * responses go out in order. Nothing is forwarded for a request whose head the parser
 * rejects. The session keeps one exchange for the connection's life and resets it per
 * request, so a keep-alive request allocates nothing.
 */
#include "px_access_log.h"
#include "px_conn_internal.h"
#include "px_exchange.h"
#include "px_gen.h"
#include "px_log.h"
#include "px_route.h"
#include "px_worker.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define FEED_SLICE   (16 * 1024) /* client plaintext parsed per step, to honour backpressure */
#define PX_H1S_MAGIC 0x48315353u /* "H1SS" */

/* The session's state, for the request at hand (h1s_set asserts the transitions):
 *   IDLE      between requests, nothing of the next head yet (timer: idle_ms);
 *   HEAD      a head is being read (timer: header_ms, then 408);
 *   REQUEST   a head was parsed (or refused): its response has not begun;
 *   RESPONSE  a final response began towards the client (relayed, an error, a local
 *             answer): no other response may follow for this request;
 *   TUNNEL    a 101 was relayed: bytes flow both ways as they are; already accounted;
 *   LOGGED    accounted (stats, access log): the connection closes or resets next.
 * HEAD -> REQUEST -> RESPONSE -> TUNNEL; REQUEST or RESPONSE -> LOGGED -> IDLE | HEAD;
 * IDLE -> HEAD | REQUEST (an answer before any byte). */
enum px_h1s_state {
    H1_IDLE,
    H1_HEAD,
    H1_REQUEST,
    H1_RESPONSE,
    H1_TUNNEL,
    H1_LOGGED,
};

struct px_h1s {
    PX_MAGIC_FIELD;
    enum px_h1s_state state;
    struct px_conn *c;
    struct px_h1_parser *parser;
    struct px_exchange *x; /* the one exchange, reset per request; NULL once closed */
    struct px_buf head;    /* the request head in upstream form */
    struct px_buf frame;   /* chunk framing towards the upstream */
    bool close_after;      /* close after the current response */

    /* the request */
    bool req_done, upgrade, te_trailers, local_answer;
    enum px_h1_body body;
    int method_id, minor;
    uint64_t body_seen; /* decoded body bytes consumed from the client */
    uint64_t body_mark; /* body_seen at the start of the body-rate window */
    int failed_status;  /* set by a parser callback that stopped the parser */
    char method[16];
    char path[512];
    size_t path_len;
    struct timespec wall;
    uint64_t start_ms;

    /* its response */
    int status;    /* the final status sent or being sent; 0 none yet */
    bool chunked;  /* re-chunk the body towards the client */
    bool trailers; /* a trailer section towards the client is open */
    uint64_t mark; /* c->plain_out when the request began: the response's bytes follow */
};

static int on_req_head(void *ud, const struct px_h1_head *h);
static int on_req_body(void *ud, const char *p, size_t n);
static int on_req_end(void *ud);

static const struct px_h1_callbacks req_cb = {on_req_head, on_req_body, on_req_end, NULL};

static const struct px_xchg_cb xchg_cb;

static void process_input(struct px_h1s *s);
static void h1s_error(struct px_h1s *s, int status);

static struct px_h1s *h1s_of(void *p)
{
    struct px_h1s *s;
    PX_CAST(s, (struct px_h1s *)p, PX_H1S_MAGIC);
    return s;
}

static struct px_h1s *session(struct px_conn *c)
{
    return h1s_of(c->session);
}

static void h1s_set(struct px_h1s *s, enum px_h1s_state to)
{
    switch (to) {
    case H1_IDLE:
        assert(s->state == H1_LOGGED);
        break;
    case H1_HEAD:
        assert(s->state == H1_IDLE || s->state == H1_LOGGED);
        break;
    case H1_REQUEST:
        assert(s->state == H1_HEAD || s->state == H1_IDLE);
        break;
    case H1_RESPONSE:
        assert(s->state == H1_REQUEST);
        break;
    case H1_TUNNEL:
        assert(s->state == H1_RESPONSE);
        break;
    case H1_LOGGED:
        assert(s->state == H1_REQUEST || s->state == H1_RESPONSE);
        break;
    }
    s->state = to;
}

/* A request is in flight and not yet accounted. */
static bool active(const struct px_h1s *s)
{
    return s->state == H1_REQUEST || s->state == H1_RESPONSE;
}

/* A final response began towards the client. */
static bool responded(const struct px_h1s *s)
{
    return s->state == H1_RESPONSE || s->state == H1_TUNNEL;
}

/* Called by a parser callback that stops its parser: the status to answer with once the
 * feed returns PX_H1_ABORTED. */
static int fail_with(struct px_h1s *s, int status)
{
    s->failed_status = status;
    return 1;
}

/* Waiting for a request: IDLE (idle_ms) or HEAD (header_ms). */
static void wait_request(struct px_h1s *s, enum px_h1s_state st)
{
    const struct px_timeouts *to = &s->c->gen->cfg->timeouts;
    h1s_set(s, st);
    px_conn_session_timer(s->c, st == H1_IDLE ? to->idle_ms : to->header_ms);
}

/* ---- lifetime ---- */

static int h1_open(struct px_conn *c)
{
    const struct px_limits *l = &c->gen->cfg->limits;
    struct px_h1_limits lim = {
        .max_request_line = l->max_request_line,
        .max_head = l->max_head,
        .max_headers = l->max_headers,
    };
    struct px_h1s *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->magic = PX_H1S_MAGIC;
    s->state = H1_HEAD;
    s->c = c;
    c->session = s;
    s->parser = px_h1_parser_new(PX_H1_REQUEST, &lim, &req_cb, s);
    s->x = px_xchg_new(c->w, c->gen, &xchg_cb, s, c->peer);
    if (!s->parser || !s->x)
        return -1;
    px_conn_session_timer(c, c->gen->cfg->timeouts.header_ms);
    return 0;
}

static void h1_free(struct px_conn *c)
{
    struct px_h1s *s = session(c);
    if (s->x)
        px_xchg_destroy(s->x);
    px_h1_parser_free(s->parser);
    px_buf_free(&s->head);
    px_buf_free(&s->frame);
    s->magic = 0;
    free(s);
    c->session = NULL;
}

/* ---- accounting ---- */

static void h1s_log(struct px_h1s *s)
{
    struct px_conn *c = s->c;
    struct px_worker *w = c->w;
    int st = s->status;
    if (st >= 100 && st < 600)
        w->stats.responses_by_class[st / 100]++;
    if (s->state != H1_TUNNEL) /* a tunnel is accounted when it begins and stays one */
        h1s_set(s, H1_LOGGED);
    if (!w->access_log)
        return;
    char cert[64];
    const char *server = s->x ? px_xchg_server(s->x) : "";
    struct px_access_entry e = {
        .start = s->wall,
        .method = s->method[0] ? s->method : NULL,
        .path = s->path,
        .path_len = s->path_len,
        .proto = !s->method[0]   ? NULL
                 : s->minor == 0 ? "HTTP/1.0"
                                 : "HTTP/1.1",
        .status = st,
        .bytes = c->plain_out - s->mark,
        .upstream = server[0] ? server : NULL,
        .duration_ms = uv_now(&w->loop) - s->start_ms,
    };
    px_access_conn(&e, c, cert, sizeof cert);
    px_access_log_write(w->access_log, &e);
}

static void request_reset(struct px_h1s *s)
{
    if (px_xchg_state(s->x) == PX_XS_DONE)
        px_xchg_reset(s->x);
    s->req_done = s->upgrade = s->local_answer = false;
    s->body = PX_H1_BODY_NONE;
    s->body_seen = 0;
    s->failed_status = 0;
    s->method[0] = '\0';
    s->path_len = 0;
    s->status = 0;
    s->chunked = s->trailers = false;
    s->mark = s->c->plain_out;
}

static void stamp(struct px_h1s *s)
{
    clock_gettime(CLOCK_REALTIME, &s->wall);
    s->start_ms = uv_now(&s->c->w->loop);
}

/* Answers status (502, 503, 504, 408, 4xx) unless a response already began, then
 * closes (close_notify after the answer). */
static void h1s_error(struct px_h1s *s, int status)
{
    struct px_conn *c = s->c;
    if (px_conn_closing(c))
        return;
    if (responded(s)) {
        px_conn_close(c, false);
        return;
    }
    px_xchg_drop(s->x);
    if (s->state != H1_REQUEST) { /* rejected before a request began: log it all the same */
        request_reset(s);
        stamp(s);
        h1s_set(s, H1_REQUEST);
    }
    s->status = status;
    h1s_set(s, H1_RESPONSE);
    px_h1_error_response_write(status, true, &c->out);
    px_conn_close(c, true); /* commits c->out, logs the request */
}

/* ---- the request side ---- */

/* While a request body is read, the body-rate window runs on the session timer;
 * otherwise no client timer (the exchange's runs). */
static void busy_timer(struct px_h1s *s)
{
    unsigned ms = 0;
    if (s->body != PX_H1_BODY_NONE && !s->req_done) {
        ms = s->c->gen->cfg->timeouts.body_ms;
        s->body_mark = s->body_seen;
    }
    px_conn_session_timer(s->c, ms);
}

/* Slow-body defence: while a request body is being read, each body_ms window must bring
 * body_min_rate bytes per second. Windows in which we did not read the client (the
 * upstream applied backpressure) do not count. */
static void body_check(struct px_h1s *s)
{
    struct px_conn *c = s->c;
    if (s->req_done || s->body == PX_H1_BODY_NONE || s->state == H1_TUNNEL)
        return;
    const struct px_config *cfg = c->gen->cfg;
    uint64_t want = (uint64_t)cfg->limits.body_min_rate * cfg->timeouts.body_ms / 1000;
    if (c->reading && s->body_seen - s->body_mark < want) {
        px_debug("conn %s: request body too slow (%llu bytes in %u ms)", c->peer,
                 (unsigned long long)(s->body_seen - s->body_mark), cfg->timeouts.body_ms);
        h1s_error(s, 408);
        return;
    }
    busy_timer(s); /* next window */
}

static void request_begin(struct px_h1s *s, const struct px_h1_head *h)
{
    struct px_conn *c = s->c;
    request_reset(s);
    h1s_set(s, H1_REQUEST);
    c->w->stats.requests++;
    stamp(s);
    size_t ml = h->method_len < sizeof s->method - 1 ? h->method_len : sizeof s->method - 1;
    memcpy(s->method, h->method, ml);
    s->method[ml] = '\0';
    s->path_len = h->target_len < sizeof s->path ? h->target_len : sizeof s->path;
    memcpy(s->path, h->target, s->path_len);
    s->method_id = h->method_id;
    s->minor = h->http_minor;
    s->te_trailers = px_h1_te_trailers(h);
    s->body = h->body;
    s->upgrade = h->upgrade;
    if (!h->keep_alive || c->draining || c->w->draining)
        s->close_after = true;
    busy_timer(s); /* after body: it arms the body-rate check */
}

/* OPTIONS / TRACE with Max-Forwards: 0: the proxy is the final recipient (RFC 9110
 * 7.6.2) and answers now; the body, if any, is read and dropped, and local_answer_done()
 * finishes the request when it ends. No upstream is involved. */
static int local_answer_begin(struct px_h1s *s, const struct px_h1_head *h)
{
    s->local_answer = true;
    s->status = 200;
    h1s_set(s, H1_RESPONSE);
    return px_h1_local_answer_write(h, s->close_after, &s->c->out) < 0 ? fail_with(s, 500) : 0;
}

/* Back to waiting for the next request after an accounted one. */
static void next_request(struct px_h1s *s)
{
    struct px_conn *c = s->c;
    px_h1_resume(s->parser);
    request_reset(s);
    wait_request(s, c->in.len > c->in_off ? H1_HEAD : H1_IDLE);
}

/* The request of a local answer ended: account, then on with the next request (the
 * caller's loop parses it). Returns false when the connection closes. */
static bool local_answer_done(struct px_h1s *s)
{
    struct px_conn *c = s->c;
    px_conn_cli_commit(c);
    if (px_conn_closing(c))
        return false;
    h1s_log(s);
    if (s->close_after) {
        px_conn_close(c, true);
        return false;
    }
    next_request(s);
    return true;
}

static int on_req_head(void *ud, const struct px_h1_head *h)
{
    struct px_h1s *s = h1s_of(ud);
    struct px_conn *c = s->c;
    request_begin(s, h);
    if (px_h1_local_answer(h))
        return local_answer_begin(s, h);
    int idx = px_route(c, h->host, h->host_len);
    if (idx < 0)
        return fail_with(s, 502);
    /* HTTP/1.0 requests may lack Host; an HTTP/1.1 upstream needs one */
    struct px_h1_forward fwd = {.client_addr = c->peer,
                                .proto = "https",
                                .host = px_route_default_host(c),
                                .via = c->gen->cfg->via};
    s->head.len = 0;
    if (px_h1_request_head_write(h, &fwd, &s->head) < 0)
        return fail_with(s, 500);
    struct px_xchg_req r = {
        .upstream = (size_t)idx, .method_id = h->method_id, .upgrade = h->upgrade};
    int st = px_xchg_begin(s->x, &r, s->head.data, s->head.len);
    return st ? fail_with(s, st) : 0;
}

static int on_req_body(void *ud, const char *p, size_t n)
{
    struct px_h1s *s = h1s_of(ud);
    s->body_seen += n;
    if (s->local_answer)
        return 0;
    int r;
    if (s->body == PX_H1_BODY_CHUNKED) {
        s->frame.len = 0;
        r = px_h1_chunk_begin(&s->frame, n) < 0 ||
            px_xchg_send(s->x, s->frame.data, s->frame.len, false) < 0 ||
            px_xchg_send(s->x, p, n, true) < 0 || px_xchg_send(s->x, "\r\n", 2, false) < 0;
    } else {
        r = px_xchg_send(s->x, p, n, true) < 0;
    }
    if (r)
        return fail_with(s, 500);
    px_xchg_flush(s->x);
    return 0;
}

static int on_req_end(void *ud)
{
    struct px_h1s *s = h1s_of(ud);
    s->req_done = true;
    if (s->local_answer)
        return 0;
    if (s->body == PX_H1_BODY_CHUNKED) {
        s->frame.len = 0;
        if (px_h1_chunk_last(&s->frame) < 0 ||
            px_xchg_send(s->x, s->frame.data, s->frame.len, false) < 0)
            return fail_with(s, 500);
    }
    px_xchg_request_done(s->x);
    px_xchg_flush(s->x);
    return 0;
}

static void in_compact(struct px_conn *c)
{
    if (c->in_off == c->in.len)
        c->in.len = c->in_off = 0;
}

/* Tunnel mode: every client byte goes upstream as is. */
static void tunnel_input(struct px_h1s *s)
{
    struct px_conn *c = s->c;
    size_t avail = c->in.len - c->in_off;
    if (!avail)
        return;
    if (px_xchg_send(s->x, c->in.data + c->in_off, avail, true) < 0) {
        px_conn_close(c, false);
        return;
    }
    c->in_off += avail;
    px_xchg_flush(s->x);
}

/* Feeds one slice; returns false when parsing must stop for now. */
static bool feed_request(struct px_h1s *s)
{
    struct px_conn *c = s->c;
    size_t avail = c->in.len - c->in_off;
    size_t n = avail > FEED_SLICE ? FEED_SLICE : avail, used = 0;
    int r = px_h1_feed(s->parser, c->in.data + c->in_off, n, &used);
    c->in_off += used > n ? n : used;
    switch (r) {
    case PX_H1_OK:
        return used > 0;
    case PX_H1_PAUSED:
        if (s->local_answer)
            return local_answer_done(s);
        s->req_done = true;
        return false;
    case PX_H1_UPGRADED:
        s->req_done = true; /* bytes after an upgrade wait for the 101 */
        return false;
    case PX_H1_ERROR:
        px_debug("conn %s: bad request: %s", c->peer, px_h1_error_reason(s->parser));
        h1s_error(s, px_h1_error_status(s->parser));
        return false;
    default: /* PX_H1_ABORTED */
        h1s_error(s, s->failed_status ? s->failed_status : 500);
        return false;
    }
}

/* Reads the client and the upstream as far as the queues allow. */
static void update_reading(struct px_h1s *s)
{
    px_conn_update_reading(s->c);
    px_xchg_resume(s->x);
}

static void process_input(struct px_h1s *s)
{
    struct px_conn *c = s->c;
    while (!px_conn_closing(c)) {
        if (s->state == H1_TUNNEL) {
            tunnel_input(s);
            break;
        }
        if (c->in.len == c->in_off || (active(s) && s->req_done))
            break;
        if (active(s) && px_xchg_blocked(s->x))
            break;
        if (s->state == H1_IDLE)
            wait_request(s, H1_HEAD);
        if (!feed_request(s))
            break;
    }
    if (px_conn_closing(c))
        return;
    in_compact(c);
    update_reading(s);
}

/* ---- the exchange's response, in HTTP/1 framing ---- */

static int x_head(void *owner, const struct px_h1_head *h)
{
    struct px_h1s *s = h1s_of(owner);
    struct px_conn *c = s->c;
    if (h->status < 200 && h->status != 101) /* 1xx: to HTTP/1.1 clients only (RFC 9110 15.2) */
        return s->minor >= 1 ? px_h1_response_head_write(h, false, s->minor, &c->out) : 0;
    s->status = h->status;
    bool chunked_body = h->body == PX_H1_BODY_CHUNKED || h->body == PX_H1_BODY_EOF;
    s->chunked = chunked_body && s->minor >= 1;
    /* an unfinished request body, a refused upgrade or an HTTP/1.0 client without a
     * length for the body cannot be followed by another request on this connection */
    if (c->draining || c->w->draining || !s->req_done || (s->upgrade && h->status != 101) ||
        (chunked_body && s->minor == 0))
        s->close_after = true;
    if (px_h1_response_head_write(h, s->close_after, s->minor, &c->out) < 0)
        return -1;
    h1s_set(s, H1_RESPONSE);
    return 0;
}

static int x_body(void *owner, const char *p, size_t n)
{
    struct px_h1s *s = h1s_of(owner);
    struct px_buf *b = &s->c->out;
    if (s->chunked)
        return px_h1_chunk_begin(b, n) < 0 || px_buf_append(b, p, n) < 0 || px_h1_chunk_end(b) < 0
                   ? -1
                   : 0;
    return px_buf_append(b, p, n);
}

/* Trailers go to a client that offered "TE: trailers" when its body is chunked from the
 * upstream too; to any other client they are dropped (RFC 9110 6.5.1 allows discarding). */
static int x_trailer(void *owner, const struct px_h1_header *f)
{
    struct px_h1s *s = h1s_of(owner);
    struct px_buf *b = &s->c->out;
    if (!s->chunked || !s->te_trailers)
        return 0;
    if (!s->trailers && px_h1_chunk_last_open(b) < 0)
        return -1;
    s->trailers = true;
    return px_h1_trailer_write(b, f);
}

static void x_flush(void *owner)
{
    struct px_h1s *s = h1s_of(owner);
    px_conn_cli_commit(s->c);
    px_conn_update_reading(s->c);
}

/* The exchange's response ended and its upstream connection is given back: account,
 * then close, or go on with the next pipelined request or wait idle. */
static void x_end(void *owner)
{
    struct px_h1s *s = h1s_of(owner);
    struct px_conn *c = s->c;
    if (s->state == H1_TUNNEL) { /* the upstream closed the tunnel */
        px_conn_close(c, true);
        return;
    }
    struct px_buf *b = &c->out;
    if (s->chunked && (s->trailers ? px_h1_chunk_end(b) : px_h1_chunk_last(b)) < 0) {
        px_conn_close(c, false);
        return;
    }
    px_conn_cli_commit(c);
    if (px_conn_closing(c))
        return;
    h1s_log(s);
    if (s->close_after || !s->req_done) {
        px_conn_close(c, true);
        return;
    }
    next_request(s);
    if (s->state == H1_IDLE)
        px_conn_trim(c);
    process_input(s);
}

static void x_error(void *owner, int status)
{
    h1s_error(h1s_of(owner), status);
}

static void x_tunnel(void *owner, const char *rest, size_t n)
{
    struct px_h1s *s = h1s_of(owner);
    struct px_conn *c = s->c;
    h1s_set(s, H1_TUNNEL);
    px_conn_cli_commit(c); /* the 101 head, counted in the log line */
    if (px_conn_closing(c))
        return;
    h1s_log(s);
    if (n && px_buf_append(&c->out, rest, n) < 0) {
        px_conn_close(c, false);
        return;
    }
    px_conn_cli_commit(c);
    process_input(s); /* client bytes after the upgrade request */
}

static void x_sent(void *owner)
{
    process_input(h1s_of(owner));
}

static bool x_can_take(void *owner)
{
    struct px_h1s *s = h1s_of(owner);
    return !px_conn_closing(s->c) && !px_conn_cli_blocked(s->c);
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

/* ---- the session operations ---- */

static void h1_on_plaintext(struct px_conn *c)
{
    process_input(session(c));
}

/* A client write completed: the response timer counts it as progress, upstream reading
 * may resume, and a connection waiting for a request holds no large buffer. */
static void h1_on_drained(struct px_conn *c)
{
    struct px_h1s *s = session(c);
    px_xchg_progress(s->x);
    if (!px_conn_cli_blocked(c))
        px_xchg_resume(s->x);
    bool waiting = s->state == H1_IDLE || (s->state == H1_HEAD && c->in_off == c->in.len);
    if (waiting && !c->cli.busy)
        px_conn_trim(c);
}

static bool h1_wants_input(struct px_conn *c)
{
    struct px_h1s *s = session(c);
    return !s->x || !px_xchg_blocked(s->x);
}

/* IDLE: a quiet close; HEAD: the head did not arrive in header_ms; REQUEST or RESPONSE:
 * a body-rate window ended. */
static void h1_on_timeout(struct px_conn *c)
{
    struct px_h1s *s = session(c);
    switch (s->state) {
    case H1_IDLE:
        px_conn_close(c, true);
        break;
    case H1_HEAD:
        h1s_error(s, 408);
        break;
    case H1_REQUEST:
    case H1_RESPONSE:
        body_check(s);
        break;
    case H1_TUNNEL:
    case H1_LOGGED:
        break;
    }
}

static void h1_on_close(struct px_conn *c, enum px_session_close how)
{
    struct px_h1s *s = session(c);
    switch (how) {
    case PX_SESSION_DRAIN: /* idle or tunnelling: close now; else after this response */
        if (!active(s))
            px_conn_close(c, true);
        else
            s->close_after = true;
        break;
    case PX_SESSION_CLOSING:
        if (active(s))
            h1s_log(s);
        px_xchg_drop(s->x);
        break;
    case PX_SESSION_CLOSED:
        px_xchg_destroy(s->x);
        s->x = NULL;
        break;
    }
}

const struct px_session_ops px_session_h1 = {
    .name = "http/1.1",
    .open = h1_open,
    .free = h1_free,
    .on_plaintext = h1_on_plaintext,
    .on_drained = h1_on_drained,
    .wants_input = h1_wants_input,
    .on_timeout = h1_on_timeout,
    .on_close = h1_on_close,
};
