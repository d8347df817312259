/* The HTTP/1 session driven in memory, without sockets: the test is the transport and
 * the upstream side. It implements the transport's interface (px_conn_internal.h: commit
 * plaintext, close, reading, the session timer), so conn.c is never linked, and the
 * upstream side is fake_upstream.h under the real exchange. Request bytes are put where
 * the transport would put decrypted plaintext and px_session_h1.on_plaintext is called.
 * Covered: pipelined local answers (Max-Forwards: 0) answered in order, a local answer's
 * body discarded, a bad request answered 400 and closed, the header timeout (408), drain
 * while idle and during a request, which timer is armed when (header, body rate, idle);
 * and relayed responses in HTTP/1 framing: a response with the upstream connection
 * pooled and the session idle after, interim 1xx relayed before the final response,
 * trailers only to a client that offered TE: trailers, the retry on a stale pooled
 * connection invisible to the client, a 502 when the upstream fails, and a 101 tunnel. */
#include "fake_upstream.h"
#include "fake_worker.h"
#include "px_conn_internal.h"
#include "px_route.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>

/* ---- the fake transport ---- */

static struct px_buf sent; /* plaintext the session committed towards the client */
static int closes, close_notify;
static unsigned timer_ms; /* the session timer as last armed; 0 stopped */

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

void px_conn_session_timer(struct px_conn *c, unsigned ms)
{
    (void)c;
    timer_ms = ms;
}

void px_conn_trim(struct px_conn *c)
{
    (void)c;
}

bool px_conn_cli_blocked(const struct px_conn *c)
{
    (void)c;
    return false;
}

/* Every request goes to upstream 0 (routing by name is route.c's, tested with the
 * proxy); the default Host is the test's. */
int px_route(const struct px_conn *c, const char *host, size_t n)
{
    (void)c, (void)host, (void)n;
    return 0;
}

const char *px_route_default_host(const struct px_conn *c)
{
    (void)c;
    return "a.example";
}

/* ---- a connection whose handshake is done ---- */

static struct px_conn *conn_new(void)
{
    struct px_conn *c = calloc(1, sizeof *c);
    c->magic = PX_CONN_MAGIC;
    c->state = PX_CONN_OPEN;
    c->ops = &px_session_h1;
    c->w = &w;
    c->gen = &gen;
    strcpy(c->peer, "192.0.2.1");
    CHECK_INT(c->ops->open(c), 0);
    CHECK_INT(timer_ms, cfg.timeouts.header_ms); /* waiting for the first head */
    sent.len = 0;
    closes = close_notify = 0;
    fake_upstream_reset();
    return c;
}

static void conn_free(struct px_conn *c)
{
    c->state = PX_CONN_CLOSED;
    c->ops->on_close(c, PX_SESSION_CLOSED);
    c->ops->free(c);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    px_buf_free(&c->in);
    px_buf_free(&c->out);
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
    CHECK_INT(timer_ms, cfg.timeouts.idle_ms); /* idle, keep-alive */
    CHECK_INT(closes, 0);
    conn_free(c);
}

static void test_local_answer_body_discarded(void)
{
    struct px_conn *c = conn_new();
    feed(c, "OPTIONS / HTTP/1.1\r\nHost: a.example\r\nMax-Forwards: 0\r\n"
            "Content-Length: 5\r\n\r\nhel");
    CHECK_INT(timer_ms, cfg.timeouts.body_ms); /* the body still coming, its rate checked */
    feed(c, "lo");
    CHECK(sent_starts("HTTP/1.1 200"));
    CHECK_INT(timer_ms, cfg.timeouts.idle_ms);
    CHECK_INT(count("hel"), 0);
    CHECK_INT(acquires, 0); /* nothing went upstream */
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
    CHECK_INT(w.stats.responses_by_class[4] - before, 1);
    conn_free(c);
}

static void test_header_timeout(void)
{
    struct px_conn *c = conn_new();
    feed(c, "GET / HTTP/1.1\r\nHo");
    CHECK_INT(sent.len, 0);
    CHECK_INT(timer_ms, cfg.timeouts.header_ms);
    c->ops->on_timeout(c); /* the session timer fired while the head was arriving */
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
    feed(c, "cd");
    CHECK_INT(closes, 1); /* closed after its answer */
    CHECK(sent_starts("HTTP/1.1 200"));
    conn_free(c);
}

/* ---- relayed responses ---- */

#define GET "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"

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
    feed(c, GET);
    CHECK(upstream_got.len > 0 && memcmp(upstream_got.data, "GET / HTTP/1.1\r\n", 16) == 0);
    CHECK_INT(timer_ms, 0); /* no body: no client timer while the upstream answers */
    upstream_sends("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    CHECK(sent_starts("HTTP/1.1 200"));
    CHECK(find("\r\n\r\nhi") != NULL);
    CHECK_INT(releases, 1);
    CHECK_INT(released_reusable, 1);
    CHECK_INT(timer_ms, cfg.timeouts.idle_ms); /* the session went on: idle, keep-alive */
    CHECK_INT(closes, 0);
    feed(c, GET); /* the next request on the same connection */
    upstream_sends("HTTP/1.1 204 No Content\r\n\r\n");
    CHECK(find("HTTP/1.1 204") != NULL);
    CHECK_INT(closes, 0);
    conn_free(c);
}

static void test_interim(void)
{
    struct px_conn *c = conn_new();
    feed(c, GET);
    upstream_sends("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
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
    feed(c, "GET / HTTP/1.1\r\nHost: a.example\r\nTE: trailers\r\n\r\n");
    upstream_sends(resp);
    CHECK(find("X-Sum: 1") != NULL);
    CHECK_INT(timer_ms, cfg.timeouts.idle_ms);
    conn_free(c);

    c = conn_new();
    feed(c, GET);
    upstream_sends(resp);
    CHECK(find("X-Sum") == NULL);
    CHECK(find("0\r\n\r\n") != NULL); /* the body still ends */
    conn_free(c);
}

static void test_retry_and_failure(void)
{
    struct px_conn *c = conn_new();
    upc.reused = true; /* a pooled connection the server closed under us */
    feed(c, GET);
    upstream_sends(NULL);
    CHECK_INT(acquires, 2);
    upstream_sends("HTTP/1.1 204 No Content\r\n\r\n");
    CHECK(sent_starts("HTTP/1.1 204"));
    CHECK_INT(count("HTTP/1.1 502"), 0);
    conn_free(c);

    c = conn_new(); /* a fresh connection failing: 502 and close */
    upc.reused = false;
    uint64_t before = w.stats.responses_by_class[5];
    feed(c, GET);
    upstream_sends(NULL);
    CHECK(sent_starts("HTTP/1.1 502"));
    CHECK_INT(closes, 1);
    CHECK_INT(w.stats.responses_by_class[5] - before, 1);
    conn_free(c);

    c = conn_new(); /* the upstream dies in the middle of a body: cut short, no 502 */
    feed(c, GET);
    upstream_sends("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
    upstream_sends(NULL);
    CHECK(sent_starts("HTTP/1.1 200"));
    CHECK_INT(count("HTTP/1.1 502"), 0);
    CHECK_INT(closes, 1);
    CHECK_INT(close_notify, 0);
    conn_free(c);
}

static void test_upgrade_tunnel(void)
{
    struct px_conn *c = conn_new();
    feed(c, "GET /ws HTTP/1.1\r\nHost: a.example\r\nConnection: upgrade\r\n"
            "Upgrade: websocket\r\n\r\n");
    upstream_sends("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                   "Upgrade: websocket\r\n\r\nframe");
    CHECK(sent_starts("HTTP/1.1 101"));
    CHECK(find("frame") != NULL); /* bytes after the 101 go to the client as they are */
    upstream_sends("more");
    CHECK(find("more") != NULL);
    upstream_got.len = 0;
    feed(c, "client-bytes");
    CHECK_INT(upstream_got.len, 12);
    upstream_sends(NULL); /* the upstream ends the tunnel: an orderly close */
    CHECK_INT(closes, 1);
    CHECK_INT(close_notify, 1);
    conn_free(c);
}

int main(void)
{
    fake_worker_init();
    test_pipelined_local_answers();
    test_local_answer_body_discarded();
    test_bad_request();
    test_header_timeout();
    test_drain();
    test_response_pooled();
    test_interim();
    test_trailers();
    test_retry_and_failure();
    test_upgrade_tunnel();
    px_buf_free(&sent);
    px_buf_free(&upstream_got);
    fake_worker_done();
    return tt_done();
}
