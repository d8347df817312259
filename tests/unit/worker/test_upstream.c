/* Upstream pools over a real libuv loop on 127.0.0.1: connect, pooling and reuse, removal
 * of a pooled connection the server closes, idle timeout, failover to the next server,
 * cool-off after consecutive failures, least-connections choice, cancel, and a clean
 * shutdown (uv_loop_close succeeds: every handle closed). */
#include "px_upstream.h"
#include "px_worker.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static uv_loop_t loop;

/* ---- a tiny server in the same loop: accepts, optionally closes every connection ---- */

struct srv {
    uv_tcp_t tcp;
    int port;
    int accepted;
    bool close_all; /* close accepted connections at once */
    uv_tcp_t *clients[16];
    int n_clients;
};

static void on_client_closed(uv_handle_t *h)
{
    free(h);
}

static void srv_on_conn(uv_stream_t *s, int status)
{
    struct srv *sv = s->data;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(&loop, c);
    if (status < 0 || uv_accept(s, (uv_stream_t *)c) < 0) {
        uv_close((uv_handle_t *)c, on_client_closed);
        return;
    }
    sv->accepted++;
    if (sv->close_all || sv->n_clients == 16)
        uv_close((uv_handle_t *)c, on_client_closed);
    else
        sv->clients[sv->n_clients++] = c;
}

static void srv_start(struct srv *sv)
{
    struct sockaddr_in a;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    memset(sv, 0, sizeof *sv);
    uv_tcp_init(&loop, &sv->tcp);
    sv->tcp.data = sv;
    uv_ip4_addr("127.0.0.1", 0, &a);
    CHECK_INT(uv_tcp_bind(&sv->tcp, (struct sockaddr *)&a, 0), 0);
    CHECK_INT(uv_listen((uv_stream_t *)&sv->tcp, 16, srv_on_conn), 0);
    uv_tcp_getsockname(&sv->tcp, (struct sockaddr *)&ss, &len);
    sv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void srv_drop_clients(struct srv *sv)
{
    for (int i = 0; i < sv->n_clients; i++)
        uv_close((uv_handle_t *)sv->clients[i], on_client_closed);
    sv->n_clients = 0;
}

static void srv_stop(struct srv *sv)
{
    srv_drop_clients(sv);
    uv_close((uv_handle_t *)&sv->tcp, NULL);
}

/* A port with nothing listening: bind, read the port, close. */
static int dead_port(void)
{
    uv_tcp_t t;
    struct sockaddr_in a;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_init(&loop, &t);
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_bind(&t, (struct sockaddr *)&a, 0);
    uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A port whose connects hang: a listening socket with a full backlog that never
 * accepts; the kernel drops further SYNs, so a connect only ends by our timeout. */
static int blackhole_fds[8];
static int n_blackhole_fds;

static int blackhole_port(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(l, (struct sockaddr *)&a, sizeof a);
    listen(l, 0);
    getsockname(l, (struct sockaddr *)&a, &len);
    blackhole_fds[n_blackhole_fds++] = l;
    for (int i = 0; i < 3; i++) { /* fill the accept queue (non-blocking connects) */
        int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(c, (struct sockaddr *)&a, sizeof a);
        blackhole_fds[n_blackhole_fds++] = c;
    }
    usleep(100000); /* let the fillers' handshakes land in the queue */
    return ntohs(a.sin_port);
}

static void set_addr(struct px_addr *a, int port)
{
    memset(a, 0, sizeof *a);
    uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)&a->ss);
    a->len = sizeof(struct sockaddr_in);
    snprintf(a->text, sizeof a->text, "127.0.0.1:%d", port);
}

/* ---- acquire outcome ---- */

struct outcome {
    int calls, status;
    struct px_upconn *uc;
};

static void on_ready(void *ud, struct px_upconn *uc, int status)
{
    struct outcome *o = ud;
    o->calls++;
    o->status = status;
    o->uc = uc;
}

/* Runs the loop until done(arg) or about 5 s pass (a bound, not an assertion). */
static void run_until(bool (*done)(void *), void *arg)
{
    uint64_t end = uv_hrtime() + 5000000000ull;
    while (!done(arg) && uv_hrtime() < end)
        uv_run(&loop, UV_RUN_ONCE);
}

static bool called(void *arg)
{
    return ((struct outcome *)arg)->calls > 0;
}

struct idle_wait {
    struct px_upstreams *u;
    size_t up, server, want;
};

static bool idle_is(void *arg)
{
    struct idle_wait *w = arg;
    return px_upstreams_idle_count(w->u, w->up, w->server) == w->want;
}

static bool accepted3(void *arg)
{
    return ((struct srv *)arg)->accepted >= 3;
}

static int acquire(struct px_upstreams *u, size_t up, unsigned flags, struct outcome *o)
{
    memset(o, 0, sizeof *o);
    struct px_upconn *uc = NULL;
    int r = px_upstream_acquire(u, up, flags, on_ready, o, &uc);
    if (r == PX_UP_READY)
        o->uc = uc;
    if (r == PX_UP_PENDING)
        run_until(called, o);
    return r;
}

/* ---- tests ---- */

static void test_pool(struct px_upstreams *u, struct px_stats *st, struct srv *sv)
{
    struct outcome o;
    CHECK_INT(acquire(u, 0, 0, &o), PX_UP_PENDING);
    CHECK_INT(o.calls, 1);
    CHECK_INT(o.status, 0);
    CHECK(o.uc != NULL);
    if (!o.uc)
        return;
    CHECK(!px_upconn_reused(o.uc));
    char want[80];
    snprintf(want, sizeof want, "127.0.0.1:%d", sv->port);
    CHECK_STR(px_upconn_server(o.uc), want);
    CHECK_INT(st->upstream_connects, 1);
    px_upconn_release(o.uc, true);
    CHECK_INT(px_upstreams_idle_count(u, 0, 0), 1);

    /* the pool's read watcher stays armed when handed out (no epoll_ctl per reuse) */
    CHECK(uv_is_active((uv_handle_t *)px_upconn_stream(o.uc)));
    struct px_upconn *first = o.uc;
    CHECK_INT(acquire(u, 0, 0, &o), PX_UP_READY);
    CHECK(o.uc == first);
    CHECK(px_upconn_reused(o.uc));
    CHECK(uv_is_active((uv_handle_t *)px_upconn_stream(o.uc)));
    px_upconn_read_stop(o.uc); /* backpressure disarms it; read_start re-arms it */
    CHECK(!uv_is_active((uv_handle_t *)px_upconn_stream(o.uc)));
    CHECK_INT(px_upconn_read_start(o.uc, NULL), 0);
    CHECK(uv_is_active((uv_handle_t *)px_upconn_stream(o.uc)));
    CHECK_INT(st->upstream_reuses, 1);
    CHECK_INT(px_upstreams_idle_count(u, 0, 0), 0);
    px_upconn_release(o.uc, false); /* not reusable: closed */
    CHECK_INT(px_upstreams_idle_count(u, 0, 0), 0);

    /* PX_UP_FRESH skips the pool */
    CHECK_INT(acquire(u, 0, 0, &o), PX_UP_PENDING);
    px_upconn_release(o.uc, true);
    CHECK_INT(acquire(u, 0, PX_UP_FRESH, &o), PX_UP_PENDING);
    CHECK_INT(px_upstreams_idle_count(u, 0, 0), 1);
    px_upconn_release(o.uc, true);
    CHECK_INT(px_upstreams_idle_count(u, 0, 0), 2);

    /* the server closes its side: the pooled connections leave the pool */
    struct idle_wait iw = {u, 0, 0, 0};
    run_until(accepted3, sv);
    CHECK_INT(sv->accepted, 3);
    srv_drop_clients(sv);
    run_until(idle_is, &iw);
    CHECK_INT(px_upstreams_idle_count(u, 0, 0), 0);
}

static void test_idle_timeout(struct px_upstreams *u)
{
    struct outcome o;
    CHECK_INT(acquire(u, 0, 0, &o), PX_UP_PENDING);
    if (!o.uc)
        return;
    px_upconn_release(o.uc, true);
    CHECK_INT(px_upstreams_idle_count(u, 0, 0), 1);
    struct idle_wait iw = {u, 0, 0, 0};
    run_until(idle_is, &iw); /* idle_timeout_ms is short in this config */
    CHECK_INT(px_upstreams_idle_count(u, 0, 0), 0);
}

static void test_failover_and_cooloff(struct px_upstreams *u, struct px_stats *st, struct srv *sv)
{
    /* upstream 1: [dead, live]: every acquire ends on the live server */
    struct outcome o;
    char want[80];
    snprintf(want, sizeof want, "127.0.0.1:%d", sv->port);
    for (int i = 0; i < 2; i++) {
        uint64_t fails = st->upstream_connect_failures;
        CHECK_INT(acquire(u, 1, PX_UP_FRESH, &o), PX_UP_PENDING);
        CHECK_INT(o.status, 0);
        if (o.uc) {
            CHECK_STR(px_upconn_server(o.uc), want);
            px_upconn_release(o.uc, false);
        }
        CHECK(st->upstream_connect_failures - fails <= 1);
    }
    /* upstream 2: [dead] with fail_threshold 2: two failures, then cool-off -> 503 */
    CHECK_INT(acquire(u, 2, 0, &o), PX_UP_PENDING);
    CHECK_INT(o.status, PX_UP_FAILED);
    CHECK(o.uc == NULL);
    CHECK(!px_upstreams_cooling(u, 2, 0));
    CHECK(!px_upstreams_down(u, 2, 0)); /* one failure is below the threshold */
    CHECK_INT(acquire(u, 2, 0, &o), PX_UP_PENDING);
    CHECK_INT(o.status, PX_UP_FAILED);
    CHECK(px_upstreams_cooling(u, 2, 0));
    CHECK(px_upstreams_down(u, 2, 0));
    /* upstream 1's dead server failed at most twice, far below its threshold of 100 */
    CHECK(!px_upstreams_down(u, 1, 0));
    CHECK(!px_upstreams_down(u, 1, 1));
    CHECK_INT(acquire(u, 2, 0, &o), PX_UP_UNAVAILABLE);
    CHECK_INT(o.calls, 0);
    CHECK_INT(acquire(u, 99, 0, &o), PX_UP_FAILED); /* no such upstream */
}

static void test_least_conn(struct px_upstreams *u, struct srv *a, struct srv *b)
{
    /* upstream 3: [a, b], least connections: holding one on a, the next goes to b and
     * the one after that to the server with fewer again */
    struct outcome o1, o2, o3;
    acquire(u, 3, 0, &o1);
    acquire(u, 3, 0, &o2);
    CHECK(o1.uc && o2.uc);
    if (!o1.uc || !o2.uc)
        return;
    CHECK(strcmp(px_upconn_server(o1.uc), px_upconn_server(o2.uc)) != 0);
    px_upconn_release(o1.uc, false);
    acquire(u, 3, 0, &o3);
    CHECK(o3.uc != NULL);
    if (o3.uc) {
        CHECK(strcmp(px_upconn_server(o3.uc), px_upconn_server(o2.uc)) != 0);
        px_upconn_release(o3.uc, false);
    }
    px_upconn_release(o2.uc, false);
    (void)a;
    (void)b;
}

static void test_connect_timeout(struct px_upstreams *u, struct px_stats *st, struct srv *sv)
{
    /* upstream 4: [blackhole, live] with a short connect timeout: the first attempt can
     * only end by the timeout, then the live server answers */
    struct outcome o;
    char want[80];
    snprintf(want, sizeof want, "127.0.0.1:%d", sv->port);
    uint64_t fails = st->upstream_connect_failures;
    CHECK_INT(acquire(u, 4, 0, &o), PX_UP_PENDING);
    CHECK_INT(o.status, 0);
    CHECK_INT(st->upstream_connect_failures - fails, 1);
    if (o.uc) {
        CHECK_STR(px_upconn_server(o.uc), want);
        px_upconn_release(o.uc, false);
    }
}

static void test_cancel(struct px_upstreams *u)
{
    struct outcome o = {0};
    struct px_upconn *uc = NULL;
    CHECK_INT(px_upstream_acquire(u, 0, PX_UP_FRESH, on_ready, &o, &uc), PX_UP_PENDING);
    px_upconn_cancel(uc);
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_INT(o.calls, 0);
}

int main(void)
{
    uv_loop_init(&loop);
    struct srv sv, sv2;
    srv_start(&sv);
    srv_start(&sv2);
    struct px_addr live, live2, dead1, dead2;
    set_addr(&live, sv.port);
    set_addr(&live2, sv2.port);
    set_addr(&dead1, dead_port());
    set_addr(&dead2, dead_port());

    struct px_addr hole;
    set_addr(&hole, blackhole_port());
    struct px_addr g1[2] = {dead1, live}, g3[2] = {live, live2}, g4[2] = {hole, live};
    struct px_upstream_conf ups[5] = {
        {.name = "one",
         .servers = &live,
         .n_servers = 1,
         .keepalive = 4,
         .idle_timeout_ms = 200,
         .fail_threshold = 3,
         .cooloff_ms = 10000},
        {.name = "failover",
         .servers = g1,
         .n_servers = 2,
         .keepalive = 4,
         .idle_timeout_ms = 60000,
         .fail_threshold = 100,
         .cooloff_ms = 10000},
        {.name = "dead",
         .servers = &dead2,
         .n_servers = 1,
         .keepalive = 4,
         .idle_timeout_ms = 60000,
         .fail_threshold = 2,
         .cooloff_ms = 600000},
        {.name = "lc",
         .servers = g3,
         .n_servers = 2,
         .balance = PX_BALANCE_LEAST_CONN,
         .keepalive = 4,
         .idle_timeout_ms = 60000,
         .fail_threshold = 3,
         .cooloff_ms = 1000},
        {.name = "timeout",
         .servers = g4,
         .n_servers = 2,
         .keepalive = 4,
         .idle_timeout_ms = 60000,
         .fail_threshold = 3,
         .cooloff_ms = 1000},
    };
    struct px_config cfg = {0};
    cfg.upstreams = ups;
    cfg.n_upstreams = 5;
    cfg.timeouts.upstream_connect_ms = 300;

    struct px_stats st = {0};
    struct px_upstreams *u = px_upstreams_new(&loop, &cfg);
    CHECK(u != NULL);
    if (!u)
        return tt_done();
    px_upstreams_bind_stats(u, &st);

    test_pool(u, &st, &sv);
    test_idle_timeout(u);
    test_failover_and_cooloff(u, &st, &sv);
    test_least_conn(u, &sv, &sv2);
    test_connect_timeout(u, &st, &sv);
    test_cancel(u);

    /* one pooled connection left at shutdown: px_upstreams_shutdown closes it */
    struct outcome o;
    acquire(u, 0, 0, &o);
    if (o.uc)
        px_upconn_release(o.uc, true);
    px_upstreams_shutdown(u);
    srv_stop(&sv);
    srv_stop(&sv2);
    uv_run(&loop, UV_RUN_DEFAULT);
    px_upstreams_free(u);
    px_upstreams_free(NULL);
    CHECK_INT(uv_loop_close(&loop), 0);
    for (int i = 0; i < n_blackhole_fds; i++)
        close(blackhole_fds[i]);
    return tt_done();
}
