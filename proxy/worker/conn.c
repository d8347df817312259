/* The client transport: accept, the TLS engine over libuv, the client-side phase timer,
 * write queues, backpressure and the close path. It knows nothing of HTTP: the protocol
 * is the connection's session (px_session.h), told of plaintext, drained writes, its
 * timeouts and the close. See px_conn_internal.h for ownership.
 */
#include "px_conn.h"

#include "px_conn_internal.h"
#include "px_listener.h"
#include "px_log.h"
#include "px_upstream.h"
#include "px_worker.h"
#include "px_gen.h"

#include <assert.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define IN_CAP (64 * 1024) /* unparsed client plaintext before we stop reading */
#define TLS_READ_CHUNK                                                                             \
    (4 * 1024 - 1)     /* room per px_tls_read (4 KiB with the NUL): small buffer                  \
                        */
#define LINGER_MS 5000 /* bound on flushing the last bytes at close */
#define DRAIN_MS  2000 /* then on reading the client's input until its EOF */
#define TRIM_KEEP 1024 /* idle connections keep buffers up to this size (memory/conn) */

static void close_handles(struct px_conn *c);
static void finish_close(struct px_conn *c);
static void handshake_abandoned(struct px_conn *c, const char *reason);

struct px_list *px_conn_link(struct px_conn *c)
{
    PX_CHECK(c, PX_CONN_MAGIC);
    return &c->link;
}

struct px_conn *px_conn_of_link(struct px_list *l)
{
    struct px_conn *c;
    PX_CAST(c, px_list_entry(l, struct px_conn, link), PX_CONN_MAGIC);
    return c;
}

/* The lifecycle only moves forward: HANDSHAKE -> OPEN -> CLOSING -> CLOSED, skipping
 * states on the way to a close. */
static void conn_set_state(struct px_conn *c, enum px_conn_state to)
{
    assert(to > c->state);
    c->state = to;
}

/* ---- freeing ---- */

static void conn_free(struct px_conn *c)
{
    struct px_worker *w = c->w;
    if (c->session)
        c->ops->free(c);
    px_tls_close(&c->tls);
    px_wq_free(&c->cli);
    px_buf_free(&c->out);
    px_buf_free(&c->in);
    cs_snapshot_release(c->snap);
    c->snap = NULL;
    px_gen_release(c->gen);
    c->gen = NULL;
    if (w->stats.active > 0)
        w->stats.active--;
    px_worker_conn_remove(w, c);
    c->magic = 0;
    free(c);
    px_worker_conn_gone(w);
}

void px_conn_unref(struct px_conn *c)
{
    assert(c->refs > 0);
    if (--c->refs == 0)
        conn_free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct px_conn *c;
    PX_CAST(c, (struct px_conn *)h->data, PX_CONN_MAGIC);
    px_conn_unref(c);
}

/* ---- the client write queue ---- */

bool px_conn_cli_blocked(const struct px_conn *c)
{
    return px_wq_queued(&c->cli) + px_tls_pending_output(&c->tls) >=
           c->gen->cfg->limits.write_watermark;
}

static void on_cli_write(uv_write_t *req, int status);

static void cli_flush(struct px_conn *c)
{
    px_tls_take_output(&c->tls, &c->cli.pending);
    if (px_conn_closed(c))
        return;
    int r = px_wq_flush(&c->cli, (uv_stream_t *)&c->tcp, on_cli_write, c);
    if (r < 0) {
        px_debug("conn %s: write: %s", c->peer, uv_strerror(r));
        close_handles(c);
    } else if (r > 0) {
        c->refs++;
        c->w->stats.bytes_out += c->cli.inflight.len;
    }
}

void px_conn_cli_commit(struct px_conn *c)
{
    if (c->out.len && px_tls_writable(&c->tls) && !px_conn_closed(c)) {
        if (px_tls_write(&c->tls, c->out.data, c->out.len) < 0) {
            px_debug("conn %s: TLS write: %s", c->peer, c->tls.err);
            c->out.len = 0;
            close_handles(c);
            return;
        }
        c->plain_out += c->out.len;
    }
    c->out.len = 0;
    cli_flush(c);
}

/* An idle keep-alive connection keeps no large buffer: after a big transfer the
 * buffers are returned (small ones stay, so small exchanges allocate nothing). */
void px_conn_trim(struct px_conn *c)
{
    if (c->out.len == 0 && c->out.cap > TRIM_KEEP)
        px_buf_free(&c->out);
    px_wq_trim(&c->cli, TRIM_KEEP);
    if (c->in_off == c->in.len && c->in.cap > TRIM_KEEP) {
        px_buf_free(&c->in);
        c->in_off = 0;
    }
}

static void on_cli_write(uv_write_t *req, int status)
{
    struct px_conn *c;
    PX_CAST(c, (struct px_conn *)req->data, PX_CONN_MAGIC);
    px_wq_done(&c->cli);
    if (status < 0 && !px_conn_closed(c)) {
        px_debug("conn %s: write: %s", c->peer, uv_strerror(status));
        close_handles(c);
    } else if (!px_conn_closed(c)) {
        cli_flush(c);
        if (px_conn_closing(c) && !c->cli.busy) {
            finish_close(c);
        } else {
            if (!px_conn_cli_blocked(c))
                px_conn_update_reading(c);
            if (c->session)
                c->ops->on_drained(c);
        }
    }
    px_conn_unref(c);
}

/* ---- reading and backpressure ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct px_conn *c;
    PX_CAST(c, (struct px_conn *)h->data, PX_CONN_MAGIC);
    size_t len = 0;
    buf->base = c->gen->upstreams ? px_upstreams_scratch(c->gen->upstreams, &len) : NULL;
    buf->len = len;
}

static void on_cli_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

void px_conn_update_reading(struct px_conn *c)
{
    if (px_conn_closed(c))
        return;
    bool want = !px_conn_closing(c) && c->in.len - c->in_off < IN_CAP &&
                (!c->session || c->ops->wants_input(c));
    if (want && !c->reading)
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_cli_read) == 0;
    else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* ---- phases and timers ---- */

static void on_timer(uv_timer_t *t);

static void set_timer(struct px_conn *c, enum px_phase ph, unsigned ms)
{
    c->phase = ph;
    if (px_conn_closed(c))
        return;
    if (ms)
        uv_timer_start(&c->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&c->timer);
}

void px_conn_session_timer(struct px_conn *c, unsigned ms)
{
    assert(c->session);
    set_timer(c, PH_SESSION, ms);
}

static void on_timer(uv_timer_t *t)
{
    struct px_conn *c;
    PX_CAST(c, (struct px_conn *)t->data, PX_CONN_MAGIC);
    switch (c->phase) {
    case PH_HANDSHAKE:
        px_debug("conn %s: handshake timeout", c->peer);
        handshake_abandoned(c, "timeout_after_hello");
        px_conn_close(c, false);
        break;
    case PH_SESSION:
        c->ops->on_timeout(c);
        break;
    case PH_LINGER:
        close_handles(c);
        break;
    }
}

/* ---- TLS ---- */

/* Logs a failed handshake and keeps it for the admin view. reason NULL: the ClientHello
 * callback's refusal (cs_ssl_fail), else what OpenSSL and the alerts say. */
static void note_hello_failure(struct px_conn *c, const char *reason, const char *detail)
{
    char buf[48];
    enum cs_fail why = cs_ssl_fail(c->tls.ssl);
    if (!reason)
        reason =
            why != CS_FAIL_NONE ? cs_fail_name(why) : px_tls_fail_reason(&c->tls, buf, sizeof buf);
    struct px_hello_fail f = {
        .client = c->peer,
        .sni = px_tls_sni(&c->tls),
        .reason = reason,
        .detail = detail,
        .hello = c->tls.hello,
        .hello_len = c->tls.hello_len,
    };
    px_worker_hello_failed(c->w, &f);
}

static void handshake_failed(struct px_conn *c)
{
    enum cs_fail why = cs_ssl_fail(c->tls.ssl);
    if (why == CS_FAIL_NONE)
        why = CS_FAIL_PROTOCOL;
    cs_counters_note_failure(&c->w->hs, why);
    c->w->stats.handshakes_failed++;
    /* Bytes that never made a ClientHello (a port scan, HTTP on the TLS port) are noise,
     * not a client locked out: debug only. */
    if (c->tls.hello)
        note_hello_failure(c, NULL, c->tls.err);
    else
        px_debug("conn %s: handshake failed (%s): %s", c->peer, cs_fail_name(why), c->tls.err);
    px_conn_close(c, false); /* the alert is queued; close after it is flushed */
}

/* The client went quiet or away during the handshake: a failure worth logging only when
 * its ClientHello arrived (e.g. it did not like the certificate it was sent). */
static void handshake_abandoned(struct px_conn *c, const char *reason)
{
    if (c->state == PX_CONN_HANDSHAKE && c->tls.hello)
        note_hello_failure(c, reason, "");
}

/* Room for room more plaintext bytes in c->in, compacting parsed bytes away first when
 * that makes the room. */
static int in_reserve(struct px_conn *c, size_t room)
{
    struct px_buf *b = &c->in;
    if (c->in_off == b->len) {
        b->len = c->in_off = 0;
    } else if (c->in_off > 0 && px_buf_room(b) < room) {
        memmove(b->data, b->data + c->in_off, b->len - c->in_off);
        b->len -= c->in_off;
        c->in_off = 0;
    }
    return px_buf_reserve(b, room);
}

/* Decrypts everything the TLS engine holds into c->in, then parses it. */
static void tls_read_all(struct px_conn *c)
{
    for (;;) {
        if (in_reserve(c, TLS_READ_CHUNK) < 0) {
            px_conn_close(c, false);
            return;
        }
        int r = px_tls_read(&c->tls, c->in.data + c->in.len, px_buf_room(&c->in));
        cli_flush(c); /* post-handshake messages, alerts */
        if (r > 0) {
            c->in.len += (size_t)r;
            c->in.data[c->in.len] = '\0';
            continue;
        }
        if (r == PX_TLS_WANT) {
            px_tls_release_buffers(&c->tls); /* all ciphertext consumed */
            break;
        }
        if (r == PX_TLS_EOF)
            px_debug("conn %s: close_notify from client", c->peer);
        else
            px_debug("conn %s: TLS read: %s", c->peer, c->tls.err);
        px_conn_close(c, r == PX_TLS_EOF);
        return;
    }
    c->ops->on_plaintext(c);
}

/* The handshake is done: the session the client negotiated takes the connection. */
static void session_open(struct px_conn *c)
{
    cs_counters_note_handshake(&c->w->hs, c->tls.ssl);
    conn_set_state(c, PX_CONN_OPEN);
    const char *proto = px_tls_alpn(&c->tls);
    c->ops = proto && strcmp(proto, "h2") == 0 ? &px_session_h2 : &px_session_h1;
    set_timer(c, PH_SESSION, 0);
    if (c->ops->open(c) < 0) {
        px_err("conn %s: cannot set up the %s session", c->peer, c->ops->name);
        px_conn_close(c, false);
    }
}

static void tls_drive(struct px_conn *c)
{
    if (c->state == PX_CONN_HANDSHAKE) {
        int r = px_tls_handshake(&c->tls);
        cli_flush(c);
        if (r == PX_TLS_ERROR) {
            handshake_failed(c);
            return;
        }
        if (r != 1)
            return;
        session_open(c);
        if (px_conn_closing(c))
            return;
    }
    tls_read_all(c);
}

static void on_cli_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct px_conn *c;
    PX_CAST(c, (struct px_conn *)s->data, PX_CONN_MAGIC);
    if (nread == 0 || px_conn_closing(c))
        return;
    if (nread < 0) {
        if (nread != UV_EOF)
            px_debug("conn %s: read: %s", c->peer, uv_strerror((int)nread));
        handshake_abandoned(c, "client_closed_after_hello");
        px_conn_close(c, false);
        return;
    }
    c->w->stats.bytes_in += (uint64_t)nread;
    if (px_tls_feed(&c->tls, buf->base, (size_t)nread) < 0) {
        px_conn_close(c, false);
        return;
    }
    tls_drive(c);
}

/* ---- accept ---- */

static void peer_text(struct px_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    strcpy(c->peer, "-");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
}

void px_conn_accept(struct px_worker *w, uv_stream_t *server)
{
    struct px_conn *c = calloc(1, sizeof *c);
    if (!c) {
        px_err("accept: out of memory");
        return;
    }
    c->magic = PX_CONN_MAGIC;
    c->state = PX_CONN_HANDSHAKE;
    c->w = w;
    c->snap = cs_snapshot_ref(w->snap);
    c->gen = px_gen_ref(w->gen); /* config and pools consistent with snap's site tags */
    px_worker_conn_add(w, c);
    w->stats.accepted++;
    w->stats.active++;
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->refs = 2;
    int r = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (r < 0) {
        px_debug("accept: %s", uv_strerror(r));
        close_handles(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    peer_text(c);
    if (px_tls_init(&c->tls, cs_snapshot_base_ctx(c->snap), c) < 0) {
        px_err("conn %s: cannot set up TLS state", c->peer);
        close_handles(c);
        return;
    }
    const struct px_listener *l = px_listener_of(server->data);
    c->alpn = l->alpn; /* a copy: a reload may close the listener during the handshake */
    px_tls_set_alpn(&c->tls, c->alpn.wire, c->alpn.len);
    set_timer(c, PH_HANDSHAKE, c->gen->cfg->timeouts.handshake_ms);
    px_conn_update_reading(c);
}

/* ---- closing ---- */

static void close_handles(struct px_conn *c)
{
    if (px_conn_closed(c))
        return;
    conn_set_state(c, PX_CONN_CLOSED);
    if (c->session)
        c->ops->on_close(c, PX_SESSION_CLOSED);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

/* Orderly close: account for the request in flight, drop the upstream, queue
 * close_notify when notify, flush, then close the handles (bounded by LINGER_MS). */
void px_conn_close(struct px_conn *c, bool notify)
{
    if (px_conn_closing(c))
        return;
    conn_set_state(c, PX_CONN_CLOSING);
    px_conn_cli_commit(c); /* a final answer in c->out counts in the log line */
    if (c->session)
        c->ops->on_close(c, PX_SESSION_CLOSING);
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    if (notify && px_tls_writable(&c->tls) && !px_conn_closed(c)) {
        px_tls_shutdown(&c->tls);
        cli_flush(c);
    }
    c->linger = notify;
    if (!c->cli.busy)
        finish_close(c);
    else
        set_timer(c, PH_LINGER, LINGER_MS);
}

/* ---- lingering ---- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    px_conn_unref(px_conn_of(req->data));
}

/* Input after the close is read and dropped until the client's EOF (or DRAIN_MS). */
static void on_linger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct px_conn *c = px_conn_of(s->data);
    if (nread < 0)
        close_handles(c);
}

/* Our last bytes are written. Closing a socket with unread input makes the kernel send
 * a reset, which can destroy those last bytes (an error answer, a GOAWAY) before the
 * client read them; so an orderly close shuts the write side down and drains the input
 * first, as nginx's lingering close does. */
static void finish_close(struct px_conn *c)
{
    if (!c->linger || px_conn_closed(c)) {
        close_handles(c);
        return;
    }
    c->linger = false;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        close_handles(c);
        return;
    }
    c->refs++; /* the shutdown request */
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_linger_read) != 0) {
        close_handles(c);
        return;
    }
    c->reading = true;
    set_timer(c, PH_LINGER, DRAIN_MS);
}

void px_conn_drain(struct px_conn *c)
{
    PX_CHECK(c, PX_CONN_MAGIC);
    c->draining = true;
    if (px_conn_closing(c))
        return;
    if (!c->session)
        px_conn_close(c, false);
    else
        c->ops->on_close(c, PX_SESSION_DRAIN);
}

void px_conn_abort(struct px_conn *c)
{
    PX_CHECK(c, PX_CONN_MAGIC);
    px_conn_close(c, false);
    close_handles(c);
}
