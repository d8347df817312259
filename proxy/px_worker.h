/* A worker: one thread, one uv_loop_t, its own SO_REUSEPORT listeners, its snapshot
 * reference, its upstream pools and its connections. Threads share nothing mutable;
 * the main thread talks to a worker only through its inbox (uv_async_t + a locked queue).
 */
#ifndef TWOFOLD_PX_WORKER_H
#define TWOFOLD_PX_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cs.h"
#include "px_config.h"

struct px_conn;
struct px_upstreams;
struct px_access_log;

/* Per-worker counters; written by the worker thread only, read by the admin code with
 * relaxed atomics (monotonic counters, torn reads impossible on 64-bit). */
struct px_stats {
    uint64_t accepted, active, handshakes_failed;
    uint64_t requests, responses_by_class[6]; /* [1]..[5]: 1xx..5xx */
    uint64_t upstream_connects, upstream_reuses, upstream_connect_failures;
    uint64_t bytes_in, bytes_out;
};

struct px_listener {
    struct px_worker *w;
    uv_tcp_t tcp;
    const struct px_listener_conf *conf;
    bool active; /* accepting (false while at max_connections or draining) */
};

struct px_worker {
    unsigned id;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t inbox;
    uv_mutex_t inbox_lock;
    struct px_msg *inbox_head; /* messages from the main thread, guarded by inbox_lock */

    const struct px_config *cfg; /* shared, immutable; owned by the server */
    struct cs_snapshot *snap;    /* current snapshot: one reference held by this worker */

    struct px_listener *listeners;
    size_t n_listeners;
    struct px_upstreams *upstreams; /* per-worker pools (upstream.c) */
    struct px_access_log *access_log;

    struct px_conn *conns; /* intrusive list of live client connections */
    size_t n_conns;
    bool draining;
    uv_timer_t drain_timer;

    struct px_stats stats;
    struct cs_counters hs; /* handshakes by site/key/curve/version, failures by reason */
};

/* Called by conn.c when a connection has been fully closed and freed; lets the worker
 * resume accepting below max_connections and finish a drain. */
void px_worker_conn_gone(struct px_worker *w);
/* Links a new connection into the worker's list (conn.c calls this from accept). */
void px_worker_conn_add(struct px_worker *w, struct px_conn *c);
void px_worker_conn_remove(struct px_worker *w, struct px_conn *c);

#endif
