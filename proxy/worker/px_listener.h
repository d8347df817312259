/* A worker's listening sockets (listener.c): one SO_REUSEPORT socket per configured
 * listener address, bound on the main thread and adopted by each worker. */
#ifndef TWOFOLD_PX_LISTENER_H
#define TWOFOLD_PX_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "px_addr.h"
#include "px_check.h"
#include "px_config.h"

struct px_worker;
struct px_config;

#define PX_LISTENER_MAGIC 0x4c495354u /* "LIST" */

struct px_listener {
    PX_MAGIC_FIELD;
    struct px_worker *w;
    uv_tcp_t tcp;
    struct px_addr addr; /* a copy: the config it came from may be replaced */
    struct px_alpn alpn; /* the protocols offered on it (a copy, refreshed by a reload) */
    int fd;              /* prepared, not yet started: its bound socket; else -1 */
    bool pending;        /* a connection is waiting: we are at max_connections */
    bool closing;        /* uv_close called; freed by its close callback */
};

/* The listener a listening handle's data points to: checked. */
static inline struct px_listener *px_listener_of(void *p)
{
    struct px_listener *l;
    PX_CAST(l, (struct px_listener *)p, PX_LISTENER_MAGIC);
    return l;
}

/* Creates a bound SO_REUSEPORT socket for addr. */
int px_listen_socket(const struct px_addr *addr, char *err, size_t errlen);
int px_listeners_start(struct px_worker *w, const int *fds);
/* A reload's listeners for worker w, allocated on the main thread before the reload's
 * decision: a new (unopened) listener object for every fds[i] >= 0 (a socket bound for
 * cfg->listeners[i]), none where fds[i] is -1 (the worker keeps its listener of that
 * address). On success the plan owns those sockets; NULL when out of memory (the caller
 * still owns them). */
struct px_listener_plan;
struct px_listener_plan *px_listeners_prepare(struct px_worker *w, const struct px_config *cfg,
                                              const int *fds);
/* Frees a plan never applied, closing its sockets. NULL is a no-op. */
void px_listeners_plan_free(struct px_listener_plan *p);
/* Worker thread: makes the plan the worker's listener set (consumes it; allocates
 * nothing); listeners of addresses no longer configured close. */
void px_listeners_apply(struct px_worker *w, const struct px_config *cfg,
                        struct px_listener_plan *p);
void px_listeners_close(struct px_worker *w);
/* Resumes accepting when below max_connections (after a connection is gone). */
void px_listeners_resume(struct px_worker *w);

#endif
