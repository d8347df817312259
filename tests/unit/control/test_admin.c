/* px_admin: a real loop on 127.0.0.1 port 0; each client exchange runs on a second thread
 * with blocking sockets (receive timeout bounded) while the main thread runs the loop. */
#include "px_admin.h"
#include "tt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

static uv_loop_t loop;
static int port;

/* ---- handler ---- */

enum mode { M_ECHO, M_DELAY, M_KEEP };
static enum mode mode;
static int handled;
static struct px_admin_req *kept;
static uv_timer_t delay_timer;

static void respond_later(uv_timer_t *t)
{
    struct px_admin_req *req = t->data;
    CHECK_INT(px_admin_respond(req, 202, NULL, "done later\n", 11), 0);
}

static void handler(struct px_admin_req *req, void *arg)
{
    handled++;
    CHECK(arg == &loop);
    if (mode == M_DELAY) {
        delay_timer.data = req;
        uv_timer_start(&delay_timer, respond_later, 50, 0);
        return;
    }
    if (mode == M_KEEP) {
        kept = req;
        return;
    }
    if (strcmp(req->path, "/echo") != 0) {
        px_admin_respond(req, 404, NULL, "no such thing\n", 14);
        return;
    }
    char out[512];
    int n = snprintf(out, sizeof(out), "%s %s [%s] %zu:%s", req->method, req->path, req->query,
                     req->body_len, req->body);
    px_admin_respond(req, 200, "application/json", out, (size_t)n);
}

/* ---- client thread ---- */

struct job {
    const char *request;
    size_t len;
    int close_early; /* close right after sending, without reading */
    char resp[4096];
    int recv_rc; /* last recv() result: 0 at an orderly close, -1 at timeout or reset */
    atomic_int done;
    uv_async_t *wake;
};

static int connect_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *client(void *arg)
{
    struct job *j = arg;
    int fd = connect_local();
    if (fd >= 0) {
        size_t off = 0;
        while (off < j->len) {
            ssize_t n = send(fd, j->request + off, j->len - off, MSG_NOSIGNAL);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        size_t got = 0;
        while (!j->close_early && got < sizeof(j->resp) - 1) {
            ssize_t n = recv(fd, j->resp + got, sizeof(j->resp) - 1 - got, 0);
            j->recv_rc = n <= 0 ? (int)n : 1;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        j->resp[got] = '\0';
        close(fd);
    }
    atomic_store(&j->done, 1);
    uv_async_send(j->wake);
    return NULL;
}

static void on_wake(uv_async_t *a)
{
    (void)a;
}

static void set_flag(void *arg)
{
    atomic_store((atomic_int *)arg, 1);
}

static void check_gone(uv_timer_t *t)
{
    if (kept && px_admin_req_gone(kept))
        atomic_store((atomic_int *)t->data, 1);
}

static void check_kept(uv_timer_t *t)
{
    if (kept)
        atomic_store((atomic_int *)t->data, 1);
}

static void on_deadline(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Runs the loop until *flag or 15 s pass. */
static void run_until(atomic_int *flag)
{
    int expired = 0;
    uv_timer_t deadline;
    uv_timer_init(&loop, &deadline);
    deadline.data = &expired;
    uv_timer_start(&deadline, on_deadline, 15000, 0);
    while (!atomic_load(flag) && !expired)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* One exchange; the response text lands in j->resp. */
static void exchange(struct job *j, const char *request, size_t len, int close_early)
{
    uv_async_t wake;
    uv_async_init(&loop, &wake, on_wake);
    memset(j, 0, sizeof(*j));
    j->request = request;
    j->len = len ? len : strlen(request);
    j->close_early = close_early;
    j->wake = &wake;
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, client, j), 0);
    run_until(&j->done);
    pthread_join(th, NULL);
    uv_close((uv_handle_t *)&wake, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static const char *body_of(const char *resp)
{
    const char *p = strstr(resp, "\r\n\r\n");
    return p ? p + 4 : "";
}

/* ---- tests ---- */

static void test_basic(void)
{
    struct job j;
    mode = M_ECHO;
    exchange(&j, "GET /echo?verbose=1&x=2 HTTP/1.1\r\nHost: localhost\r\n\r\n", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 200 OK\r\n");
    CHECK_CONTAINS(j.resp, "Content-Type: application/json\r\n");
    CHECK_CONTAINS(j.resp, "Connection: close\r\n");
    CHECK_STR(body_of(j.resp), "GET /echo [verbose=1&x=2] 0:");
    char cl[64];
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", strlen(body_of(j.resp)));
    CHECK_CONTAINS(j.resp, cl);

    exchange(&j, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 0, 0);
    CHECK_STR(body_of(j.resp), "POST /echo [] 5:hello");
    exchange(&j,
             "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
             0, 0);
    CHECK_STR(body_of(j.resp), "POST /echo [] 5:abcde");

    exchange(&j, "HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 200 OK\r\n");
    CHECK_CONTAINS(j.resp, "Content-Length: 16\r\n"); /* strlen("HEAD /echo [] 0:") */
    CHECK_STR(body_of(j.resp), "");

    exchange(&j, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 404 Not Found\r\n");

    int before = handled;
    exchange(&j, "GARBAGE\r\n\r\n", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 400 ");
    exchange(&j, "GET http://x/echo HTTP/1.1\r\nHost: x\r\n\r\n", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 400 ");
    CHECK_INT(handled, before);
}

static void test_limits(void)
{
    struct job j;
    mode = M_ECHO;
    static char req[PX_ADMIN_HEAD_MAX + 256];
    /* A head just under the limit passes. */
    int n = snprintf(req, sizeof(req), "GET /echo HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    memset(req + n, 'a', PX_ADMIN_HEAD_MAX - 200);
    strcpy(req + n + PX_ADMIN_HEAD_MAX - 200, "\r\n\r\n");
    exchange(&j, req, 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 200 OK\r\n");
    /* Over it: 431, handler not called. */
    int before = handled;
    memset(req + n, 'a', PX_ADMIN_HEAD_MAX);
    strcpy(req + n + PX_ADMIN_HEAD_MAX, "\r\n\r\n");
    exchange(&j, req, 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 431 ");
    /* Body over 64 KiB, announced or chunked: 413. */
    exchange(&j, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\nxx", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 413 ");
    static char big[PX_ADMIN_BODY_MAX + 512];
    n = snprintf(big, sizeof(big),
                 "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n",
                 PX_ADMIN_BODY_MAX + 1);
    memset(big + n, 'b', PX_ADMIN_BODY_MAX + 1);
    exchange(&j, big, (size_t)n + PX_ADMIN_BODY_MAX + 1, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 413 ");
    CHECK_INT(handled, before);
}

static void test_token(void)
{
    char err[256];
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    struct px_admin *a =
        px_admin_new(&loop, (struct sockaddr *)&sa, "s3cret", handler, &loop, err, sizeof(err));
    CHECK(a != NULL);
    int saved = port;
    port = px_admin_port(a);
    struct job j;
    mode = M_ECHO;
    int before = handled;
    exchange(&j, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 401 Unauthorized\r\n");
    CHECK_CONTAINS(j.resp, "WWW-Authenticate: Bearer\r\n");
    exchange(&j, "GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cre\r\n\r\n", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 401 ");
    exchange(&j, "GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret2\r\n\r\n", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 401 ");
    exchange(&j, "GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Basic s3cret\r\n\r\n", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 401 ");
    exchange(&j,
             "GET /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
             "Authorization: Bearer other\r\n\r\n",
             0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 401 ");
    CHECK_INT(handled, before);
    exchange(&j, "GET /echo HTTP/1.1\r\nHost: x\r\nauthorization: Bearer s3cret\r\n\r\n", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 200 OK\r\n");
    CHECK_INT(handled, before + 1);

    atomic_int closed = 0;
    px_admin_close(a, set_flag, &closed);
    run_until(&closed);
    CHECK(atomic_load(&closed));
    port = saved;
}

static void test_delayed(void)
{
    struct job j;
    mode = M_DELAY;
    exchange(&j, "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 0, 0);
    CHECK_CONTAINS(j.resp, "HTTP/1.1 202 Accepted\r\n");
    CHECK_STR(body_of(j.resp), "done later\n");
}

/* The client leaves before the answer: the request turns "gone", a late respond is a
 * harmless no-op (ASan watches for use after free). */
static void test_client_gone(void)
{
    struct job j;
    mode = M_KEEP;
    kept = NULL;
    exchange(&j, "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 0, 1);
    atomic_int gone = 0;
    uv_timer_t poll;
    uv_timer_init(&loop, &poll);
    poll.data = &gone;
    uv_timer_start(&poll, check_gone, 5, 5);
    run_until(&gone);
    uv_close((uv_handle_t *)&poll, NULL);
    uv_run(&loop, UV_RUN_NOWAIT); /* poll lives on this stack: let its close finish */
    CHECK(kept != NULL);
    CHECK(kept && px_admin_req_gone(kept));
    if (kept)
        CHECK_INT(px_admin_respond(kept, 200, NULL, "late", 4), -1);
    kept = NULL;
}

/* Closing the server with a request in the handler's hands, answered afterwards. */
static void test_close_pending(struct px_admin *a)
{
    struct job j;
    mode = M_KEEP;
    kept = NULL;
    uv_async_t wake;
    uv_async_init(&loop, &wake, on_wake);
    memset(&j, 0, sizeof(j));
    j.request = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
    j.len = strlen(j.request);
    j.wake = &wake;
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, client, &j), 0);
    atomic_int have = 0;
    uv_timer_t poll;
    uv_timer_init(&loop, &poll);
    poll.data = &have;
    uv_timer_start(&poll, check_kept, 5, 5);
    run_until(&have);
    CHECK(kept != NULL && !px_admin_req_gone(kept));

    atomic_int closed = 0;
    px_admin_close(a, set_flag, &closed);
    run_until(&closed);
    CHECK(atomic_load(&closed));
    run_until(&j.done); /* the client sees the connection close without a response */
    pthread_join(th, NULL);
    CHECK_STR(j.resp, "");
    CHECK(kept && px_admin_req_gone(kept));
    if (kept)
        CHECK_INT(px_admin_respond(kept, 200, NULL, "late", 4), -1);
    kept = NULL;
    uv_close((uv_handle_t *)&poll, NULL);
    uv_close((uv_handle_t *)&wake, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* A request that never completes is cut off at the timeout: the client sees the close
 * (not its own 10 s receive timeout) and no response. */
static void test_timeout(struct px_admin *a)
{
    struct job j;
    int before = handled;
    px_admin_set_timeout(a, 200);
    exchange(&j, "GET /echo HTTP/1.1\r\nHost: x\r\n", 0, 0);
    CHECK_STR(j.resp, "");
    CHECK_INT(j.recv_rc, 0); /* orderly close by the server */
    CHECK_INT(handled, before);
    px_admin_set_timeout(a, 0);
}

static void test_bind_error(void)
{
    char err[256];
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port, &sa); /* already ours */
    struct px_admin *a =
        px_admin_new(&loop, (struct sockaddr *)&sa, NULL, handler, &loop, err, sizeof(err));
    CHECK(a == NULL);
    char where[64];
    snprintf(where, sizeof(where), "127.0.0.1:%d", port);
    CHECK_CONTAINS(err, where);
    CHECK_CONTAINS(err, "address already in use");
    uv_run(&loop, UV_RUN_NOWAIT); /* the failed listener's close callback frees it */
}

int main(void)
{
    CHECK_INT(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &delay_timer);
    char err[256];
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    struct px_admin *a =
        px_admin_new(&loop, (struct sockaddr *)&sa, NULL, handler, &loop, err, sizeof(err));
    CHECK(a != NULL);
    if (!a) {
        fprintf(stderr, "%s\n", err);
        return tt_done();
    }
    port = px_admin_port(a);
    CHECK(port > 0);

    test_basic();
    test_limits();
    test_token();
    test_delayed();
    test_client_gone();
    test_timeout(a);
    test_bind_error();
    test_close_pending(a);

    uv_close((uv_handle_t *)&delay_timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0); /* every handle closed */
    return tt_done();
}
