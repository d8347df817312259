/* A worker's listening sockets (listener.c): one SO_REUSEPORT socket per configured
 * listener address, bound on the main thread and adopted by each worker. */
#ifndef TWOFOLD_PX_LISTENER_H
#define TWOFOLD_PX_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "px_addr.h"
#include "px_config.h"

struct px_worker;
struct px_config;

struct px_listener {
    struct px_worker *w;
    uv_tcp_t tcp;
    struct px_addr addr; /* a copy: the config it came from may be replaced */
    struct px_alpn alpn; /* the protocols offered on it (a copy, refreshed by a reload) */
    bool pending;        /* a connection is waiting: we are at max_connections */
    bool closing;        /* uv_close called; freed by its close callback */
};

/* Creates a bound SO_REUSEPORT socket for addr. */
int px_listen_socket(const struct px_addr *addr, char *err, size_t errlen);
int px_listeners_start(struct px_worker *w, const int *fds);
void px_listeners_apply(struct px_worker *w, const struct px_config *cfg, const int *fds);
void px_listeners_close(struct px_worker *w);
/* Resumes accepting when below max_connections (after a connection is gone). */
void px_listeners_resume(struct px_worker *w);

#endif
