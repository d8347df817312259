/* The exchange driven in memory, without sockets: the test is both the client transport
 * (the interface in px_conn_internal.h) and the upstream side (the px_upstream.h
 * functions the exchange calls), so neither conn.c nor upstream.c is linked. A request is
 * set up as the HTTP/1 session hands it over (head queued in c->up, state REQUEST), the
 * exchange acquires the fake upstream connection, and response bytes are delivered
 * through the reader it registered. Covered: a response relayed and the connection
 * pooled, interim 1xx relayed before the final response, trailers relayed only to a
 * client that offered TE: trailers, the retry of an idempotent request once on a stale
 * pooled connection (and 502 on a fresh one), and a 101 turning into a tunnel. */
#include "px_conn_internal.h"
#include "px_exchange.h"
#include "px_gen.h"
#include "px_upstream.h"
#include "px_worker.h"
#include "tt.h"

#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

/* ---- the fake transport ---- */

static struct px_buf sent; /* plaintext the session committed towards the client */
static int closes, close_notify;

void px_conn_cli_commit(struct px_conn *c)
{
    if (c->out.len && !px_conn_closed(c)) {
        CHECK_INT(px_buf_append(&sent, c->out.data, c->out.len), 0);
        c->plain_out += c->out.len;
    }
    c->out.len = 0;
}

void px_conn_close(struct px_conn *c, bool notify)
{
    if (px_conn_closing(c))
        return;
    c->state = PX_CONN_CLOSING;
    closes++;
    close_notify = notify;
    px_conn_cli_commit(c);
    c->ops->on_close(c, PX_SESSION_CLOSING);
}

void px_conn_update_reading(struct px_conn *c)
{
    (void)c;
}

void px_conn_set_timer(struct px_conn *c, enum px_phase ph, unsigned ms)
{
    (void)ms;
    c->phase = ph;
}

void px_conn_set_phase(struct px_conn *c, enum px_phase ph)
{
    px_conn_set_timer(c, ph, 0);
}

void px_conn_trim(struct px_conn *c)
{
    (void)c;
}

/* The upstream write queue "writes" at once: its bytes are what the upstream received. */
static struct px_buf upstream_got;

int px_wq_flush(struct px_conn *c, struct px_wq *q, uv_stream_t *to, uv_write_cb cb)
{
    (void)to, (void)cb;
    if (q == &c->up && q->pending.len) {
        CHECK_INT(px_buf_append(&upstream_got, q->pending.data, q->pending.len), 0);
        q->pending.len = 0;
    }
    return 0;
}

size_t px_wq_queued(const struct px_wq *q)
{
    return q->pending.len + q->inflight.len;
}

bool px_conn_up_blocked(const struct px_conn *c)
{
    (void)c;
    return false;
}

bool px_conn_cli_blocked(const struct px_conn *c)
{
    (void)c;
    return false;
}

void px_conn_unref(struct px_conn *c)
{
    c->refs--;
}

/* ---- the fake upstream side ---- */

struct px_upconn {
    uv_tcp_t stream; /* never opened: only its address and data field are used */
    void *owner;
    bool reused;
};

static struct px_upconn upc;
static uv_read_cb reader;
static int acquires, releases, released_reusable;
static unsigned last_flags;

int px_upstream_acquire(struct px_upstreams *u, size_t upstream, unsigned flags, px_upconn_cb cb,
                        void *ud, struct px_upconn **out)
{
    (void)u, (void)upstream, (void)cb, (void)ud;
    acquires++;
    last_flags = flags;
    upc.reused = !(flags & PX_UP_FRESH) && upc.reused;
    upc.stream.data = &upc;
    *out = &upc;
    return PX_UP_READY;
}

void px_upconn_cancel(struct px_upconn *uc)
{
    (void)uc;
}

void px_upconn_release(struct px_upconn *uc, bool reusable)
{
    releases++;
    released_reusable = reusable;
    uc->owner = NULL;
    reader = NULL;
}

int px_upconn_read_start(struct px_upconn *uc, uv_read_cb cb)
{
    (void)uc;
    reader = cb;
    return 0;
}

void px_upconn_read_stop(struct px_upconn *uc)
{
    (void)uc;
}

uv_stream_t *px_upconn_stream(struct px_upconn *uc)
{
    return (uv_stream_t *)&uc->stream;
}

void px_upconn_set_owner(struct px_upconn *uc, void *owner)
{
    uc->owner = owner;
}

void *px_upconn_owner(const struct px_upconn *uc)
{
    return uc->owner;
}

bool px_upconn_reused(const struct px_upconn *uc)
{
    return uc->reused;
}

const char *px_upconn_server(const struct px_upconn *uc)
{
    (void)uc;
    return "192.0.2.9:80";
}

/* The upstream sends s (NULL: it closes). */
static void upstream_sends(const char *s)
{
    CHECK(reader != NULL);
    if (!reader)
        return;
    uv_buf_t b = uv_buf_init((char *)s, s ? (unsigned)strlen(s) : 0);
    reader((uv_stream_t *)&upc.stream, s ? (ssize_t)strlen(s) : UV_EOF, &b);
}

/* ---- a connection with a request handed over by the session ---- */

static struct px_worker w;
static struct px_config cfg;
static struct px_gen gen;

static struct px_conn *conn_new(void)
{
    struct px_conn *c = calloc(1, sizeof *c);
    c->magic = PX_CONN_MAGIC;
    c->state = PX_CONN_OPEN;
    c->ops = &px_session_h1;
    c->w = &w;
    c->gen = &gen;
    strcpy(c->peer, "192.0.2.1");
    uv_timer_init(&w.loop, &c->up_timer);
    CHECK_INT(c->ops->open(c), 0);
    sent.len = upstream_got.len = 0;
    closes = close_notify = acquires = releases = released_reusable = 0;
    return c;
}

static void conn_free(struct px_conn *c)
{
    c->ops->free(c);
    uv_close((uv_handle_t *)&c->up_timer, NULL);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    px_buf_free(&c->in);
    px_buf_free(&c->out);
    px_buf_free(&c->up.pending);
    c->magic = 0;
    free(c);
}

#define GET_HEAD "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"

/* What the session does for a complete GET without body: state REQUEST, head queued
 * upstream (and kept for a retry), then the exchange takes over. */
static void request(struct px_conn *c, const char *head, bool te_trailers, bool upgrade)
{
    px_xchg_set(c, PX_XS_REQUEST);
    c->phase = PH_BUSY;
    c->req_done = true;
    c->req_minor = 1;
    c->req_method_id = HTTP_GET;
    c->req_te_trailers = te_trailers;
    c->req_upgrade = upgrade;
    strcpy(c->method, "GET");
    CHECK_INT(px_buf_append(&c->req_head, head, strlen(head)), 0);
    CHECK_INT(px_buf_append(&c->up.pending, head, strlen(head)), 0);
    CHECK_INT(px_xchg_acquire(c, 0), 0);
}

static int count(const char *needle)
{
    int k = 0;
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= sent.len; i++)
        if (memcmp(sent.data + i, needle, m) == 0)
            k++;
    return k;
}

static const char *find(const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= sent.len; i++)
        if (memcmp(sent.data + i, needle, m) == 0)
            return sent.data + i;
    return NULL;
}

static void test_response_pooled(void)
{
    struct px_conn *c = conn_new();
    upc.reused = false;
    request(c, GET_HEAD, false, false);
    CHECK_INT(upstream_got.len, strlen(GET_HEAD));
    upstream_sends("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    CHECK(find("HTTP/1.1 200") == sent.data);
    CHECK(find("\r\n\r\nhi") != NULL);
    CHECK_INT(releases, 1);
    CHECK_INT(released_reusable, 1);
    CHECK_INT(c->xs, PX_XS_IDLE); /* the session went on: idle, keep-alive */
    CHECK_INT(c->phase, PH_IDLE);
    CHECK_INT(closes, 0);
    conn_free(c);
}

static void test_interim(void)
{
    struct px_conn *c = conn_new();
    request(c, GET_HEAD, false, false);
    upstream_sends("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
    CHECK_INT(c->xs, PX_XS_REQUEST); /* an interim response is not the response */
    upstream_sends("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    const char *a = find("HTTP/1.1 103"), *b = find("HTTP/1.1 200");
    CHECK(a != NULL && b != NULL && a < b);
    CHECK(find("Link: </a.css>") != NULL);
    conn_free(c);
}

static void test_trailers(void)
{
    const char *resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "2\r\nhi\r\n0\r\nX-Sum: 1\r\n\r\n";
    struct px_conn *c = conn_new();
    request(c, GET_HEAD, true, false);
    upstream_sends(resp);
    CHECK(find("X-Sum: 1") != NULL);
    CHECK_INT(c->xs, PX_XS_IDLE);
    conn_free(c);

    c = conn_new();
    request(c, GET_HEAD, false, false);
    upstream_sends(resp);
    CHECK(find("X-Sum") == NULL);
    CHECK(find("0\r\n\r\n") != NULL); /* the body still ends */
    conn_free(c);
}

static void test_retry_stale_pooled(void)
{
    struct px_conn *c = conn_new();
    uint64_t retries = w.stats.upstream_retries;
    upc.reused = true; /* a pooled connection the server closed under us */
    request(c, GET_HEAD, false, false);
    upstream_sends(NULL);
    CHECK_INT(acquires, 2);
    CHECK_INT(last_flags, PX_UP_FRESH);
    CHECK_INT(w.stats.upstream_retries - retries, 1);
    CHECK_INT(upstream_got.len, 2 * strlen(GET_HEAD)); /* the head went out again */
    upstream_sends("HTTP/1.1 204 No Content\r\n\r\n");
    CHECK(find("HTTP/1.1 204") == sent.data);
    CHECK_INT(count("HTTP/1.1 502"), 0);
    conn_free(c);

    c = conn_new(); /* a fresh connection failing: no retry, 502 */
    upc.reused = false;
    request(c, GET_HEAD, false, false);
    upstream_sends(NULL);
    CHECK_INT(acquires, 1);
    CHECK(find("HTTP/1.1 502") == sent.data);
    CHECK_INT(closes, 1);
    conn_free(c);
}

static void test_upgrade_tunnel(void)
{
    struct px_conn *c = conn_new();
    request(c,
            "GET /ws HTTP/1.1\r\nHost: a.example\r\nConnection: upgrade\r\n"
            "Upgrade: websocket\r\n\r\n",
            false, true);
    upstream_sends("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                   "Upgrade: websocket\r\n\r\nframe");
    CHECK_INT(c->xs, PX_XS_TUNNEL);
    CHECK(find("HTTP/1.1 101") == sent.data);
    CHECK(find("frame") != NULL); /* bytes after the 101 go to the client as they are */
    upstream_sends("more");
    CHECK(find("more") != NULL);
    conn_free(c);
}

int main(void)
{
    CHECK_INT(uv_loop_init(&w.loop), 0);
    cfg.limits.max_request_line = 8192;
    cfg.limits.max_head = 16384;
    cfg.limits.max_headers = 100;
    cfg.limits.max_resp_head = 65536;
    cfg.limits.max_resp_headers = 200;
    cfg.limits.write_watermark = 65536;
    cfg.timeouts.header_ms = 10000;
    cfg.timeouts.idle_ms = 60000;
    gen.cfg = &cfg;
    gen.w = &w;
    test_response_pooled();
    test_interim();
    test_trailers();
    test_retry_stale_pooled();
    test_upgrade_tunnel();
    px_buf_free(&sent);
    px_buf_free(&upstream_got);
    CHECK_INT(uv_loop_close(&w.loop), 0);
    return tt_done();
}
