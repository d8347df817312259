/* Listening sockets. libuv 1.44 has no SO_REUSEPORT flag, so each socket is created,
 * configured and bound by hand, then handed to the worker's loop with uv_tcp_open.
 * Every worker has its own socket per listener; the kernel spreads connections.
 *
 * At max_connections a worker stops accepting without accept-then-reset: the connection
 * callback leaves the connection unaccepted, which makes libuv stop polling that socket
 * until uv_accept is called (libuv keeps at most one such pending fd); the rest wait in
 * the kernel's backlog. px_listeners_resume accepts it when a connection is gone.
 */
#include "px_conn.h"
#include "px_log.h"
#include "px_worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
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
    return fd;
}

static bool at_capacity(const struct px_worker *w)
{
    return w->cfg->limits.max_connections && w->n_conns >= w->cfg->limits.max_connections;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct px_listener *l = server->data;
    struct px_worker *w = l->w;
    if (status < 0) {
        /* EMFILE and friends: libuv already backs off; log at debug to avoid floods. */
        px_debug("worker %u: accept on %s: %s", w->id, l->conf->addr.text, uv_strerror(status));
        return;
    }
    if (w->draining)
        return; /* listeners are being closed */
    if (at_capacity(w)) {
        l->pending = true;
        return;
    }
    px_conn_accept(w, server);
}

int px_listeners_start(struct px_worker *w)
{
    for (size_t i = 0; i < w->n_listeners; i++) {
        struct px_listener *l = &w->listeners[i];
        int r = uv_tcp_init(&w->loop, &l->tcp);
        if (r == 0) {
            l->open = true;
            l->tcp.data = l;
            r = uv_tcp_open(&l->tcp, l->fd);
        }
        if (r == 0) {
            l->fd = -1; /* owned by the handle now */
            r = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection);
        }
        if (r != 0) {
            px_err("worker %u: listen on %s: %s", w->id, l->conf->addr.text, uv_strerror(r));
            return -1;
        }
    }
    return 0;
}

void px_listeners_close(struct px_worker *w)
{
    for (size_t i = 0; i < w->n_listeners; i++) {
        struct px_listener *l = &w->listeners[i];
        if (l->open && !uv_is_closing((uv_handle_t *)&l->tcp))
            uv_close((uv_handle_t *)&l->tcp, NULL);
        l->open = false;
        if (l->fd >= 0)
            close(l->fd);
        l->fd = -1;
    }
}

void px_listeners_resume(struct px_worker *w)
{
    for (size_t i = 0; i < w->n_listeners && !at_capacity(w) && !w->draining; i++) {
        struct px_listener *l = &w->listeners[i];
        if (l->pending && l->open) {
            l->pending = false;
            px_conn_accept(w, (uv_stream_t *)&l->tcp);
        }
    }
}
