/* The exchange driven in memory, without sockets: the test is its owner (the callbacks a
 * session gives it, recorded as an event log) and its upstream side (fake_upstream.h),
 * so no session, conn.c or upstream.c is linked. Covered: a response delivered as head,
 * body, flush, end, with the connection pooled; interim 1xx heads before the final one;
 * trailers; a request whose body was queued goes out as queued and the connection is not
 * pooled before the request is complete; the retry of an idempotent request once on a
 * stale pooled connection, none for a POST or on a fresh connection (on_error 502); a
 * pending connect that fails; a 101 turning into a tunnel that ends when the upstream
 * closes; a response the owner refuses (on_head -1 -> on_error 502); the owner destroying
 * the exchange from inside a callback; the state enum along the way. */
#include "fake_upstream.h"
#include "fake_worker.h"
#include "px_exchange.h"
#include "tt.h"

#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

/* ---- the owner ---- */

struct owner {
    struct px_exchange *x;
    struct px_buf log; /* "head 200;body hi;flush;end;" */
    bool refuse_head, destroy_in_body, blocked;
    int errors, sent;
};

static void note(struct owner *o, const char *fmt, const char *p, size_t n, int v)
{
    if (p)
        CHECK_INT(px_buf_printf(&o->log, fmt, (int)n, p), 0);
    else
        CHECK_INT(px_buf_printf(&o->log, fmt, v), 0);
}

static int on_head(void *ud, const struct px_h1_head *h)
{
    struct owner *o = ud;
    note(o, "head %d;", NULL, 0, h->status);
    return o->refuse_head ? -1 : 0;
}

static int on_body(void *ud, const char *p, size_t n)
{
    struct owner *o = ud;
    note(o, "body %.*s;", p, n, 0);
    if (o->destroy_in_body) {
        px_xchg_destroy(o->x);
        o->x = NULL;
    }
    return 0;
}

static int on_trailer(void *ud, const struct px_h1_header *f)
{
    note(ud, "trailer %.*s;", f->name, f->name_len, 0);
    return 0;
}

static void on_flush(void *ud)
{
    note(ud, "flush;", NULL, 0, 0);
}

static void on_end(void *ud)
{
    note(ud, "end;", NULL, 0, 0);
}

static void on_error(void *ud, int status)
{
    struct owner *o = ud;
    o->errors++;
    note(o, "error %d;", NULL, 0, status);
}

static void on_tunnel(void *ud, const char *rest, size_t n)
{
    note(ud, "tunnel %.*s;", rest, n, 0);
}

static void on_sent(void *ud)
{
    ((struct owner *)ud)->sent++;
}

static bool can_take(void *ud)
{
    return !((struct owner *)ud)->blocked;
}

static const struct px_xchg_cb cb = {on_head,  on_body,   on_trailer, on_flush, on_end,
                                     on_error, on_tunnel, on_sent,    can_take};

static bool logged(const struct owner *o, const char *s)
{
    return o->log.len == strlen(s) && memcmp(o->log.data, s, o->log.len) == 0;
}

#define CHECK_LOG(o, s)                                                                            \
    do {                                                                                           \
        CHECK(logged(o, s));                                                                       \
        if (!logged(o, s))                                                                         \
            fprintf(stderr, "  log: %s\n  want: %s\n", (o)->log.data ? (o)->log.data : "", s);     \
    } while (0)

static void owner_new(struct owner *o)
{
    memset(o, 0, sizeof *o);
    o->x = px_xchg_new(&w, &gen, &cb, o, "192.0.2.1");
    CHECK(o->x != NULL);
    fake_upstream_reset();
}

static void owner_free(struct owner *o)
{
    if (o->x)
        px_xchg_destroy(o->x);
    px_buf_free(&o->log);
}

#define GET_HEAD "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"

static void begin(struct owner *o, int method, const char *head, bool upgrade)
{
    struct px_xchg_req r = {.upstream = 0, .method_id = method, .upgrade = upgrade};
    CHECK_INT(px_xchg_begin(o->x, &r, head, strlen(head)), 0);
}

static void get(struct owner *o)
{
    begin(o, HTTP_GET, GET_HEAD, false);
    px_xchg_request_done(o->x);
}

static void test_response_pooled(void)
{
    struct owner o;
    owner_new(&o);
    upc.reused = false;
    get(&o);
    CHECK_INT(px_xchg_state(o.x), PX_XS_SENDING);
    CHECK_INT(upstream_got.len, strlen(GET_HEAD));
    upstream_sends("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    CHECK_LOG(&o, "head 200;body hi;end;");
    CHECK_INT(px_xchg_state(o.x), PX_XS_DONE);
    CHECK_INT(releases, 1);
    CHECK_INT(released_reusable, 1);
    CHECK_STR(px_xchg_server(o.x), "192.0.2.9:80");
    px_xchg_reset(o.x); /* the next request on the same exchange */
    CHECK_INT(px_xchg_state(o.x), PX_XS_IDLE);
    CHECK_STR(px_xchg_server(o.x), "");
    o.log.len = 0;
    upc.reused = true;
    get(&o);
    upstream_sends("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n");
    CHECK_LOG(&o, "head 200;flush;");
    upstream_sends("!");
    CHECK_LOG(&o, "head 200;flush;body !;end;");
    owner_free(&o);
}

static void test_interim_and_trailers(void)
{
    struct owner o;
    owner_new(&o);
    get(&o);
    upstream_sends("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
    CHECK_INT(px_xchg_state(o.x), PX_XS_SENDING); /* an interim response is not the response */
    upstream_sends("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "2\r\nhi\r\n0\r\nX-Sum: 1\r\n\r\n");
    CHECK_LOG(&o, "head 103;flush;head 200;body hi;trailer X-Sum;end;");
    owner_free(&o);
}

static void test_body_not_pooled_early(void)
{
    struct owner o;
    owner_new(&o);
    begin(&o, HTTP_POST, "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n", false);
    CHECK_INT(px_xchg_send(o.x, "ab", 2, true), 0);
    px_xchg_flush(o.x);
    CHECK(upstream_got.len > 2 && memcmp(upstream_got.data + upstream_got.len - 2, "ab", 2) == 0);
    /* the upstream answers before the body is complete: not reusable */
    upstream_sends("HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n");
    CHECK_LOG(&o, "head 413;end;");
    CHECK_INT(released_reusable, 0);
    owner_free(&o);
}

static void test_retry_stale_pooled(void)
{
    struct owner o;
    owner_new(&o);
    uint64_t retries = w.stats.upstream_retries;
    upc.reused = true; /* a pooled connection the server closed under us */
    get(&o);
    upstream_sends(NULL);
    CHECK_INT(acquires, 2);
    CHECK_INT(last_flags, PX_UP_FRESH);
    CHECK_INT(w.stats.upstream_retries - retries, 1);
    CHECK_INT(upstream_got.len, 2 * strlen(GET_HEAD)); /* the head went out again */
    upstream_sends("HTTP/1.1 204 No Content\r\n\r\n");
    CHECK_LOG(&o, "head 204;end;");
    owner_free(&o);

    owner_new(&o); /* a POST whose body was sent: never again (RFC 9110 9.2.2) */
    uint64_t refused = w.stats.upstream_retries_refused;
    upc.reused = true;
    begin(&o, HTTP_POST, "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n", false);
    CHECK_INT(px_xchg_send(o.x, "x", 1, true), 0);
    px_xchg_request_done(o.x);
    px_xchg_flush(o.x);
    upstream_sends(NULL);
    CHECK_INT(acquires, 1);
    CHECK_INT(w.stats.upstream_retries_refused - refused, 1);
    CHECK_LOG(&o, "error 502;");
    CHECK_INT(px_xchg_state(o.x), PX_XS_DONE);
    owner_free(&o);

    owner_new(&o); /* a fresh connection failing: no retry */
    upc.reused = false;
    get(&o);
    upstream_sends(NULL);
    CHECK_INT(acquires, 1);
    CHECK_LOG(&o, "error 502;");
    owner_free(&o);
}

static void test_connect_fails(void)
{
    struct owner o;
    owner_new(&o);
    pending_mode = 1;
    get(&o);
    CHECK_INT(px_xchg_state(o.x), PX_XS_CONNECTING);
    CHECK_INT(upstream_got.len, 0); /* nothing written before the connection exists */
    fake_connect_done(-1);
    CHECK_LOG(&o, "error 502;");
    owner_free(&o);

    owner_new(&o);
    pending_mode = 1;
    get(&o);
    fake_connect_done(0);
    CHECK_INT(px_xchg_state(o.x), PX_XS_SENDING);
    CHECK_INT(upstream_got.len, strlen(GET_HEAD));
    owner_free(&o); /* destroyed while attached: the connection is closed, not pooled */
    CHECK_INT(releases, 1);
    CHECK_INT(released_reusable, 0);
}

static void test_upgrade_tunnel(void)
{
    struct owner o;
    owner_new(&o);
    begin(&o, HTTP_GET,
          "GET /ws HTTP/1.1\r\nHost: a.example\r\nConnection: upgrade\r\n"
          "Upgrade: websocket\r\n\r\n",
          true);
    px_xchg_request_done(o.x);
    upstream_sends("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                   "Upgrade: websocket\r\n\r\nframe");
    CHECK_LOG(&o, "head 101;tunnel frame;");
    CHECK_INT(px_xchg_state(o.x), PX_XS_TUNNEL);
    upstream_sends("more");
    CHECK_LOG(&o, "head 101;tunnel frame;body more;flush;");
    upstream_got.len = 0;
    CHECK_INT(px_xchg_send(o.x, "client", 6, true), 0);
    px_xchg_flush(o.x);
    CHECK_INT(upstream_got.len, 6);
    upstream_sends(NULL);
    CHECK_LOG(&o, "head 101;tunnel frame;body more;flush;end;");
    owner_free(&o);

    owner_new(&o); /* a 101 nobody asked for is an invalid response */
    get(&o);
    upstream_sends("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n");
    CHECK_LOG(&o, "error 502;");
    owner_free(&o);
}

static void test_owner_refuses_or_leaves(void)
{
    struct owner o;
    owner_new(&o);
    o.refuse_head = true;
    get(&o);
    upstream_sends("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    CHECK_LOG(&o, "head 200;error 502;");
    CHECK_INT(released_reusable, 0);
    owner_free(&o);

    owner_new(&o);
    o.destroy_in_body = true;
    get(&o);
    upstream_sends("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhi");
    CHECK_LOG(&o, "head 200;body hi;"); /* nothing after the owner left */
    CHECK(o.x == NULL);
    CHECK_INT(releases, 1);
    owner_free(&o);
}

int main(void)
{
    fake_worker_init();
    test_response_pooled();
    test_interim_and_trailers();
    test_body_not_pooled_early();
    test_retry_stale_pooled();
    test_connect_fails();
    test_upgrade_tunnel();
    test_owner_refuses_or_leaves();
    px_buf_free(&upstream_got);
    fake_worker_done();
    return tt_done();
}
