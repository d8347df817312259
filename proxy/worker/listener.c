/* Listening sockets. libuv 1.44 has no SO_REUSEPORT flag, so each socket is created,
 * configured and bound by hand (on the main thread, so bind errors are reported before
 * anything starts), then handed to the worker's loop with uv_tcp_open. Every worker has
 * its own socket per listener; the kernel spreads connections.
 *
 * At max_connections a worker stops accepting without accept-then-reset: the connection
 * callback leaves the connection unaccepted, which makes libuv stop polling that socket
 * until uv_accept is called (libuv keeps at most one such pending fd); the rest wait in
 * the kernel's backlog. px_listeners_resume accepts it when a connection is gone.
 *
 * Listeners are allocated one by one (libuv keeps pointers to their handles), so a config
 * reload can keep, add and remove them: px_listeners_apply.
 */
#include "px_listener.h"

#include "px_conn.h"
#include "px_log.h"
#include "px_worker.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024

int px_listen_socket(const struct px_addr *addr, char *err, size_t errlen)
{
    int family = addr->ss.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", addr->text, strerror(errno));
        return -1;
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one))) {
        snprintf(err, errlen, "%s: setsockopt: %s", addr->text, strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0) {
        snprintf(err, errlen, "%s: bind: %s", addr->text, strerror(errno));
        close(fd);
        return -1;
    }
    /* Listening here, before any worker thread runs, makes the port accept (into the
     * backlog) as soon as startup reports ready; uv_listen later only adds the watcher. */
    if (listen(fd, LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "%s: listen: %s", addr->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static bool at_capacity(const struct px_worker *w)
{
    unsigned cap = w->cfg->limits.max_connections;
    return cap && w->n_conns >= cap;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct px_listener *l = px_listener_of(server->data);
    struct px_worker *w = l->w;
    if (status < 0) {
        /* EMFILE and friends: libuv already backs off; log at debug to avoid floods. */
        px_debug("worker %u: accept on %s: %s", w->id, l->addr.text, uv_strerror(status));
        return;
    }
    if (w->draining || l->closing)
        return; /* the listener is being closed */
    if (at_capacity(w)) {
        l->pending = true;
        return;
    }
    px_conn_accept(w, server);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct px_listener *l = px_listener_of(h->data);
    l->magic = 0;
    free(l);
}

/* A listener object for fd (any thread; it takes fd only when it returns one). */
static struct px_listener *listener_new(struct px_worker *w, const struct px_listener_conf *lc,
                                        int fd)
{
    struct px_listener *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->magic = PX_LISTENER_MAGIC;
    l->w = w;
    l->addr = lc->addr;
    l->alpn = lc->alpn;
    l->fd = fd;
    return l;
}

/* Worker thread: starts accepting on l's socket; allocates nothing. false on failure
 * (logged; l and its fd are gone). */
static bool listener_start(struct px_worker *w, struct px_listener *l)
{
    int fd = l->fd;
    l->fd = -1;
    int r = uv_tcp_init(&w->loop, &l->tcp);
    if (r != 0) {
        close(fd);
        px_err("worker %u: listener %s: %s", w->id, l->addr.text, uv_strerror(r));
        free(l);
        return false;
    }
    l->tcp.data = l;
    r = uv_tcp_open(&l->tcp, fd);
    bool adopted = r == 0;
    if (r == 0)
        r = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection);
    if (r != 0) {
        px_err("worker %u: listen on %s: %s", w->id, l->addr.text, uv_strerror(r));
        if (!adopted)
            close(fd);
        l->closing = true;
        uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
        return false;
    }
    return true;
}

/* Opens one listener on fd (taking it). NULL on failure (fd closed, error logged). */
static struct px_listener *listener_open(struct px_worker *w, const struct px_listener_conf *lc,
                                         int fd)
{
    struct px_listener *l = listener_new(w, lc, fd);
    if (!l) {
        close(fd);
        return NULL;
    }
    return listener_start(w, l) ? l : NULL;
}

static void listener_close(struct px_listener *l)
{
    if (l->closing)
        return;
    l->closing = true;
    /* uv_close also closes a connection libuv accepted but we left pending */
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
}

int px_listeners_start(struct px_worker *w, const int *fds)
{
    const struct px_config *cfg = w->cfg;
    w->listeners = calloc(cfg->n_listeners ? cfg->n_listeners : 1, sizeof *w->listeners);
    if (!w->listeners)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        struct px_listener *l = listener_open(w, &cfg->listeners[i], fds[i]);
        if (l)
            w->listeners[w->n_listeners++] = l;
        else
            rc = -1;
    }
    return rc;
}

static struct px_listener *take_same_addr(struct px_worker *w, const struct px_addr *a)
{
    for (size_t i = 0; i < w->n_listeners; i++) {
        struct px_listener *l = w->listeners[i];
        if (l && l->addr.len == a->len && memcmp(&l->addr.ss, &a->ss, a->len) == 0) {
            w->listeners[i] = NULL;
            return l;
        }
    }
    return NULL;
}

struct px_listener_plan {
    struct px_listener **next; /* per cfg listener: a new, unopened one, or NULL (kept) */
    size_t n;
};

struct px_listener_plan *px_listeners_prepare(struct px_worker *w, const struct px_config *cfg,
                                              const int *fds)
{
    struct px_listener_plan *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = cfg->n_listeners;
    p->next = calloc(p->n ? p->n : 1, sizeof *p->next);
    for (size_t i = 0; p->next && i < p->n; i++) {
        if (fds[i] < 0)
            continue;
        p->next[i] = listener_new(w, &cfg->listeners[i], fds[i]);
        if (!p->next[i]) {
            for (size_t k = 0; k < i; k++)
                free(p->next[k]); /* they took no fd yet: the caller still owns them all */
            free(p->next);
            p->next = NULL;
        }
    }
    if (!p->next) {
        free(p);
        return NULL;
    }
    return p;
}

void px_listeners_plan_free(struct px_listener_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (p->next[i]) {
            close(p->next[i]->fd);
            free(p->next[i]);
        }
    free(p->next);
    free(p);
}

/* A config reload: listeners whose address is unchanged keep their sockets, new ones
 * start on the objects and sockets the main thread prepared, and the rest close (their
 * connections are not touched). Allocates nothing; a new listener whose socket libuv
 * refuses is logged and left out. */
void px_listeners_apply(struct px_worker *w, const struct px_config *cfg,
                        struct px_listener_plan *p)
{
    assert(p->n == cfg->n_listeners);
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct px_listener *l = p->next[i];
        p->next[i] = NULL;
        if (!l)
            l = take_same_addr(w, &cfg->listeners[i].addr);
        else if (!listener_start(w, l))
            l = NULL;
        if (!l)
            continue;
        l->alpn = cfg->listeners[i].alpn; /* a kept listener offers the new list */
        p->next[n++] = l;
    }
    for (size_t i = 0; i < w->n_listeners; i++)
        if (w->listeners[i])
            listener_close(w->listeners[i]);
    free(w->listeners);
    w->listeners = p->next; /* the plan's array becomes the worker's */
    w->n_listeners = n;
    free(p);
    px_listeners_resume(w);
}

void px_listeners_close(struct px_worker *w)
{
    for (size_t i = 0; i < w->n_listeners; i++)
        listener_close(w->listeners[i]);
    free(w->listeners);
    w->listeners = NULL;
    w->n_listeners = 0;
}

void px_listeners_resume(struct px_worker *w)
{
    for (size_t i = 0; i < w->n_listeners && !at_capacity(w) && !w->draining; i++) {
        struct px_listener *l = w->listeners[i];
        if (l->pending && !l->closing) {
            l->pending = false;
            px_conn_accept(w, (uv_stream_t *)&l->tcp);
        }
    }
}
