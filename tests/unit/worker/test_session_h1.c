/* The HTTP/1 session driven in memory, without sockets: the test is the transport. It
 * implements the transport's interface (px_conn_internal.h: commit plaintext, close,
 * reading, phase timer, write queues), so the linker takes these definitions and never
 * pulls in conn.c; request bytes are put where the transport would put decrypted
 * plaintext and px_session_h1.on_plaintext is called. Covered without an upstream:
 * pipelined local answers (Max-Forwards: 0) answered in order, a local answer's body
 * discarded, a bad request answered 400 and closed, the header timeout (408), drain while
 * idle and during a request, and the exchange state back to IDLE. */
#include "px_conn_internal.h"
#include "px_gen.h"
#include "px_worker.h"
#include "tt.h"

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

int px_wq_flush(struct px_conn *c, struct px_wq *q, uv_stream_t *to, uv_write_cb cb)
{
    (void)c, (void)q, (void)to, (void)cb;
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

/* ---- a connection, its worker and generation, in memory ---- */

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
    c->phase = PH_HEAD; /* the handshake is done */
    sent.len = 0;
    closes = close_notify = 0;
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

/* Client plaintext arrives, as the transport delivers it after decrypting. */
static void feed(struct px_conn *c, const char *s)
{
    CHECK_INT(px_buf_append(&c->in, s, strlen(s)), 0);
    c->ops->on_plaintext(c);
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

static bool sent_starts(const char *prefix)
{
    return sent.len >= strlen(prefix) && memcmp(sent.data, prefix, strlen(prefix)) == 0;
}

#define LOCAL "OPTIONS * HTTP/1.1\r\nHost: a.example\r\nMax-Forwards: 0\r\n"

static void test_pipelined_local_answers(void)
{
    struct px_conn *c = conn_new();
    uint64_t before = w.stats.requests;
    feed(c, LOCAL "\r\n" LOCAL "\r\n");
    CHECK_INT(count("HTTP/1.1 200"), 2);
    CHECK_INT(w.stats.requests - before, 2);
    CHECK_INT(c->xs, PX_XS_IDLE);
    CHECK_INT(c->phase, PH_IDLE);
    CHECK_INT(closes, 0);
    conn_free(c);
}

static void test_local_answer_body_discarded(void)
{
    struct px_conn *c = conn_new();
    feed(c, "OPTIONS / HTTP/1.1\r\nHost: a.example\r\nMax-Forwards: 0\r\n"
            "Content-Length: 5\r\n\r\nhel");
    CHECK_INT(c->xs, PX_XS_RESPONSE); /* answered, the body still coming */
    feed(c, "lo");
    CHECK(sent_starts("HTTP/1.1 200"));
    CHECK_INT(c->xs, PX_XS_IDLE);
    CHECK_INT(count("hel"), 0);
    CHECK_INT(c->up.pending.len, 0); /* nothing went upstream */
    conn_free(c);
}

static void test_bad_request(void)
{
    struct px_conn *c = conn_new();
    uint64_t before = w.stats.responses_by_class[4];
    feed(c, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    CHECK(sent_starts("HTTP/1.1 400"));
    CHECK_INT(closes, 1);
    CHECK_INT(close_notify, 1);
    CHECK_INT(c->resp_status, 400);
    CHECK_INT(c->xs, PX_XS_LOGGED);
    CHECK_INT(w.stats.responses_by_class[4] - before, 1);
    conn_free(c);
}

static void test_header_timeout(void)
{
    struct px_conn *c = conn_new();
    feed(c, "GET / HTTP/1.1\r\nHo");
    CHECK_INT(sent.len, 0);
    c->ops->on_timeout(c); /* the transport's timer fired in PH_HEAD */
    CHECK(sent_starts("HTTP/1.1 408"));
    CHECK_INT(closes, 1);
    conn_free(c);
}

static void test_drain(void)
{
    struct px_conn *c = conn_new();
    c->ops->on_close(c, PX_SESSION_DRAIN); /* idle: closes now, close_notify */
    CHECK_INT(closes, 1);
    CHECK_INT(close_notify, 1);
    CHECK_INT(sent.len, 0);
    conn_free(c);

    c = conn_new();
    feed(c, "OPTIONS / HTTP/1.1\r\nHost: a.example\r\nMax-Forwards: 0\r\n"
            "Content-Length: 4\r\n\r\nab");
    c->draining = true;
    c->ops->on_close(c, PX_SESSION_DRAIN); /* a request in flight: finish it first */
    CHECK_INT(closes, 0);
    CHECK(c->close_after);
    feed(c, "cd");
    CHECK_INT(closes, 1); /* closed after its answer */
    CHECK(sent_starts("HTTP/1.1 200"));
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
    cfg.limits.body_min_rate = 1024;
    cfg.timeouts.header_ms = 10000;
    cfg.timeouts.body_ms = 10000;
    cfg.timeouts.idle_ms = 60000;
    gen.cfg = &cfg;
    gen.w = &w;
    test_pipelined_local_answers();
    test_local_answer_body_discarded();
    test_bad_request();
    test_header_timeout();
    test_drain();
    px_buf_free(&sent);
    CHECK_INT(uv_loop_close(&w.loop), 0);
    return tt_done();
}
