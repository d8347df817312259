/* Admin HTTP/1.1 server; see px_admin.h.
 *
 * A connection goes READING (the HTTP/1 layer's parser, px_h1, parses within the limits) ->
 * HANDLING (the handler owns the request until px_admin_respond) -> RESPONDED (response written,
 * write side shut down, input drained until EOF so that unread input does not turn the close into a
 * reset that destroys the response) -> CLOSING. The request object is separate from the connection:
 * closing the connection only clears req->conn, and px_admin_respond() frees the request, so a late
 * answer never touches freed memory.
 */
#include "px_admin.h"
#include "px_http1.h"
#include "px_buf.h"
#include "px_check.h"
#include "px_list.h"

#include <assert.h>
#include <llhttp.h> /* HTTP_HEAD, the method ids px_h1 reports */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINGER_MS 2000 /* after the response, how long to drain the client's input */

/* READING -> HANDLING -> RESPONDED, READING -> RESPONDED (an error answered without the
 * handler), any -> CLOSING (once; conn_close ignores a second call). */
enum cstate { C_READING, C_HANDLING, C_RESPONDED, C_CLOSING };

#define ADMIN_CONN_MAGIC 0x61646d63u
#define ADMIN_MAGIC      0x61646d31u

struct admin_conn {
    PX_MAGIC_FIELD;
    uv_tcp_t tcp;     /* data = this */
    uv_timer_t timer; /* data = this; request timeout, then linger */
    uv_write_t wreq;
    uv_shutdown_t sreq;
    struct px_admin *admin;
    struct px_list link;         /* in a->conns */
    struct px_h1_parser *parser; /* ud = this */
    enum cstate state;
    int open_handles;
    int fail_status; /* set by parser callbacks: 413 ... */
    bool msg_done, auth_dup;
    bool head_method; /* HEAD: the response carries no body */
    char *method, *url, *auth;
    size_t auth_len;
    struct px_buf body;
    struct px_admin_req *req; /* while HANDLING */
    struct px_buf wbuf;       /* the response being written */
    char rbuf[4096];
};

struct px_admin {
    PX_MAGIC_FIELD;
    uv_loop_t *loop;
    uv_tcp_t listener; /* data = this */
    char *token;       /* NULL: no authentication */
    unsigned timeout_ms;
    px_admin_handler_cb handler;
    void *arg;
    struct px_list conns; /* open admin connections (admin_conn.link) */
    unsigned nconns;
    bool closing, listener_closed;
    void (*closed_cb)(void *);
    void *closed_arg;
};

/* ---- the request, through the project's HTTP/1 parser (px_h1) ---- */

static const struct px_h1_limits admin_limits = {
    .max_request_line = PX_ADMIN_HEAD_MAX, /* the head limit covers the request line too */
    .max_head = PX_ADMIN_HEAD_MAX,
    .max_headers = PX_ADMIN_HEAD_MAX / 4, /* a field line takes at least 4 bytes */
};

static char *dup_span(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* Keeps what dispatch needs from the head: method, target, the Authorization value
 * (and whether it came more than once), and refuses an announced body over the limit. */
static int on_head(void *ud, const struct px_h1_head *h)
{
    struct admin_conn *c;
    PX_CAST(c, (struct admin_conn *)ud, ADMIN_CONN_MAGIC);
    if (h->body == PX_H1_BODY_LENGTH && h->content_length > PX_ADMIN_BODY_MAX) {
        c->fail_status = 413;
        return -1;
    }
    c->head_method = h->method_id == HTTP_HEAD;
    c->method = dup_span(h->method, h->method_len);
    c->url = dup_span(h->target, h->target_len);
    if (!c->method || !c->url)
        return -1;
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (f->name_len != 13 || strncasecmp(f->name, "authorization", 13) != 0)
            continue;
        c->auth_dup |= c->auth != NULL;
        if (!c->auth && !(c->auth = dup_span(f->value, f->value_len)))
            return -1;
        c->auth_len = c->auth ? f->value_len : 0;
    }
    return 0;
}

static int on_body(void *ud, const char *at, size_t n)
{
    struct admin_conn *c;
    PX_CAST(c, (struct admin_conn *)ud, ADMIN_CONN_MAGIC);
    if (c->body.len + n > PX_ADMIN_BODY_MAX) {
        c->fail_status = 413;
        return -1;
    }
    return px_buf_append(&c->body, at, n);
}

static int on_end(void *ud)
{
    struct admin_conn *c;
    PX_CAST(c, (struct admin_conn *)ud, ADMIN_CONN_MAGIC);
    c->msg_done = true;
    return 0;
}

static const struct px_h1_callbacks parser_callbacks = {
    .on_head = on_head,
    .on_body = on_body,
    .on_end = on_end,
};

/* ---- connection lifecycle ---- */

static void admin_maybe_free(struct px_admin *a)
{
    if (!a->closing || !a->listener_closed || !px_list_empty(&a->conns))
        return;
    void (*closed_cb)(void *) = a->closed_cb;
    void *arg = a->closed_arg;
    free(a->token);
    a->magic = 0;
    free(a);
    if (closed_cb)
        closed_cb(arg);
}

static void conn_closed(uv_handle_t *h)
{
    struct admin_conn *c;
    PX_CAST(c, (struct admin_conn *)h->data, ADMIN_CONN_MAGIC);
    if (--c->open_handles > 0)
        return;
    struct px_admin *a = c->admin;
    px_list_remove(&c->link);
    a->nconns--;
    px_h1_parser_free(c->parser);
    free(c->method);
    free(c->url);
    free(c->auth);
    px_buf_free(&c->body);
    px_buf_free(&c->wbuf);
    c->magic = 0;
    free(c);
    admin_maybe_free(a);
}

static void conn_close(struct admin_conn *c)
{
    if (c->state == C_CLOSING)
        return;
    c->state = C_CLOSING;
    if (c->req) {
        c->req->conn = NULL; /* the handler still owns it; respond will drop */
        c->req = NULL;
    }
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
    uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void on_timer(uv_timer_t *t)
{
    struct admin_conn *c;
    PX_CAST(c, (struct admin_conn *)t->data, ADMIN_CONN_MAGIC);
    conn_close(c); /* request too slow, or linger over */
}

static void on_shutdown(uv_shutdown_t *r, int status)
{
    struct admin_conn *c;
    PX_CAST(c, (struct admin_conn *)r->data, ADMIN_CONN_MAGIC);
    if (status < 0)
        conn_close(c);
}

static void on_written(uv_write_t *w, int status)
{
    struct admin_conn *c;
    PX_CAST(c, (struct admin_conn *)w->data, ADMIN_CONN_MAGIC);
    px_buf_free(&c->wbuf);
    if (status < 0 || c->state == C_CLOSING) {
        conn_close(c);
        return;
    }
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
}

/* Writes the whole response, then shuts down and drains. extra: more header lines. */
static int send_response(struct admin_conn *c, int status, const char *ctype, const void *body,
                         size_t len, const char *extra)
{
    if (c->state == C_CLOSING || c->state == C_RESPONDED)
        return -1;
    char fields[256];
    int fl = snprintf(fields, sizeof fields, "Cache-Control: no-store\r\n%s", extra ? extra : "");
    struct px_buf *b = &c->wbuf;
    b->len = 0;
    bool bodyless = c->head_method || status == 204 || status == 304;
    /* a HEAD answer's fields describe the body a GET would get; none is sent */
    if (fl < 0 || (size_t)fl >= sizeof fields ||
        px_h1_local_head_write(status, ctype, len, fields, true, b) < 0 ||
        (!bodyless && px_buf_append(b, body, len) < 0)) {
        conn_close(c);
        return -1;
    }
    assert(c->state == C_READING || c->state == C_HANDLING);
    c->state = C_RESPONDED;
    uv_timer_start(&c->timer, on_timer, LINGER_MS, 0);
    uv_buf_t buf = uv_buf_init(b->data, (unsigned)b->len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0) {
        px_buf_free(&c->wbuf);
        conn_close(c);
        return -1;
    }
    return 0;
}

static void send_error(struct admin_conn *c, int status, const char *extra)
{
    char body[96];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, px_h1_status_text(status));
    send_response(c, status, "text/plain", body, (size_t)n, extra);
}

/* ---- requests ---- */

static bool authorized(const struct admin_conn *c)
{
    const char *token = c->admin->token;
    if (!token)
        return true;
    if (!c->auth || c->auth_dup || c->auth_len < 7 || strncasecmp(c->auth, "Bearer ", 7) != 0)
        return false;
    size_t tl = strlen(token);
    return c->auth_len - 7 == tl && CRYPTO_memcmp(c->auth + 7, token, tl) == 0;
}

/* The request is complete: authenticate, hand it to the handler. */
static void dispatch(struct admin_conn *c)
{
    if (!authorized(c)) {
        send_error(c, 401, "WWW-Authenticate: Bearer\r\n");
        return;
    }
    if (!c->url || c->url[0] != '/') {
        send_error(c, 400, NULL);
        return;
    }
    struct px_admin_req *req = calloc(1, sizeof(*req));
    size_t body_len = c->body.len;
    if (!req || px_buf_append(&c->body, "", 1) != 0) { /* NUL-terminated for the handler */
        free(req);
        send_error(c, 500, NULL);
        return;
    }
    char *q = strchr(c->url, '?');
    if (q)
        *q++ = '\0';
    req->magic = PX_ADMIN_REQ_MAGIC;
    req->method = c->method;
    req->path = c->url;
    req->query = q ? q : "";
    req->body = c->body.data;
    req->body_len = body_len;
    req->conn = c;
    c->method = c->url = NULL; /* now the request's */
    c->body = (struct px_buf){0};
    c->req = req;
    PX_TRANSITION(c, state, C_READING, C_HANDLING);
    uv_timer_stop(&c->timer); /* the handler may take its time */
    c->admin->handler(req, c->admin->arg);
}

/* Feeds received bytes to the parser; its limits hold the head to PX_ADMIN_HEAD_MAX
 * (431), the callbacks the body to PX_ADMIN_BODY_MAX (413). One request per connection:
 * anything after it is ignored. */
static void feed(struct admin_conn *c, const char *data, size_t n)
{
    size_t consumed = 0;
    int rc = px_h1_feed(c->parser, data, n, &consumed);
    if (c->fail_status)
        send_error(c, c->fail_status, NULL);
    else if ((rc == PX_H1_PAUSED && c->msg_done) || rc == PX_H1_UPGRADED)
        dispatch(c);
    else if (rc == PX_H1_ERROR)
        send_error(c, px_h1_error_status(c->parser) == 431 ? 431 : 400, NULL);
    else if (rc != PX_H1_OK)
        send_error(c, 400, NULL);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct admin_conn *c;
    PX_CAST(c, (struct admin_conn *)h->data, ADMIN_CONN_MAGIC);
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct admin_conn *c;
    PX_CAST(c, (struct admin_conn *)s->data, ADMIN_CONN_MAGIC);
    if (nread < 0) {
        /* EOF or error: before the response this means the client gave up (like nginx's
         * client abort), so a pending request becomes "gone". */
        conn_close(c);
        return;
    }
    if (nread > 0 && c->state == C_READING)
        feed(c, buf->base, (size_t)nread);
    /* HANDLING / RESPONDED: input after the request is discarded */
}

static void on_connection(uv_stream_t *server, int status)
{
    struct px_admin *a;
    PX_CAST(a, (struct px_admin *)server->data, ADMIN_MAGIC);
    if (status < 0 || a->closing)
        return;
    struct admin_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->magic = ADMIN_CONN_MAGIC;
    c->admin = a;
    uv_tcp_init(a->loop, &c->tcp);
    uv_timer_init(a->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    px_list_push_front(&a->conns, &c->link);
    a->nconns++;
    c->parser = px_h1_parser_new(PX_H1_REQUEST, &admin_limits, &parser_callbacks, c);
    if (!c->parser || uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        a->nconns > PX_ADMIN_MAX_CONNS ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timer, a->timeout_ms, 0);
}

/* ---- public ---- */

int px_admin_respond(struct px_admin_req *req, int status, const char *content_type,
                     const void *body, size_t len)
{
    PX_CHECK(req, PX_ADMIN_REQ_MAGIC);
    struct admin_conn *c = req->conn;
    int rc = -1;
    if (c) {
        c->req = NULL;
        rc = send_response(c, status, content_type, body, len, NULL);
    }
    free((char *)req->method);
    free((char *)req->path);
    free((char *)req->body);
    req->magic = 0;
    free(req);
    return rc;
}

bool px_admin_req_gone(const struct px_admin_req *req)
{
    return req->conn == NULL;
}

static void listener_closed(uv_handle_t *h)
{
    struct px_admin *a;
    PX_CAST(a, (struct px_admin *)h->data, ADMIN_MAGIC);
    a->listener_closed = true;
    admin_maybe_free(a);
}

static void addr_name(const struct sockaddr *sa, char *out, size_t len)
{
    char host[64] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)sa, host, sizeof(host));
        port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
        snprintf(out, len, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)sa, host, sizeof(host));
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
        snprintf(out, len, "[%s]:%d", host, port);
    } else {
        snprintf(out, len, "(address family %d)", sa->sa_family);
    }
}

struct px_admin *px_admin_new(uv_loop_t *loop, const struct sockaddr *addr, const char *token,
                              px_admin_handler_cb handler, void *arg, char *err, size_t errlen)
{
    char name[96];
    addr_name(addr, name, sizeof(name));
    if (!handler) {
        snprintf(err, errlen, "admin %s: no request handler", name);
        return NULL;
    }
    struct px_admin *a = calloc(1, sizeof(*a));
    if (!a || (token && token[0] && !(a->token = strdup(token)))) {
        free(a);
        snprintf(err, errlen, "admin %s: out of memory", name);
        return NULL;
    }
    a->magic = ADMIN_MAGIC;
    px_list_init(&a->conns);
    a->loop = loop;
    a->timeout_ms = PX_ADMIN_TIMEOUT_MS;
    a->handler = handler;
    a->arg = arg;
    uv_tcp_init(loop, &a->listener);
    a->listener.data = a;
    int rc = uv_tcp_bind(&a->listener, addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->listener, 16, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "admin %s: %s", name, uv_strerror(rc));
        a->closing = true; /* freed by the close callback; no user callback */
        uv_close((uv_handle_t *)&a->listener, listener_closed);
        return NULL;
    }
    return a;
}

void px_admin_close(struct px_admin *a, void (*closed_cb)(void *arg), void *arg)
{
    if (!a || a->closing)
        return;
    a->closing = true;
    a->closed_cb = closed_cb;
    a->closed_arg = arg;
    uv_close((uv_handle_t *)&a->listener, listener_closed);
    struct px_list *l, *next;
    px_list_foreach_safe(l, next, &a->conns) conn_close(px_list_entry(l, struct admin_conn, link));
}

void px_admin_set_timeout(struct px_admin *a, unsigned ms)
{
    a->timeout_ms = ms ? ms : PX_ADMIN_TIMEOUT_MS;
}

int px_admin_port(const struct px_admin *a)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getsockname(&a->listener, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}
