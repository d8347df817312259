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
#include "px_hello_log.h"
#include "px_check.h"
#include "px_list.h"
#include "px_listener.h"

struct px_conn;
struct px_gen;
struct px_upstreams;
struct px_access_log;

/* Per-worker counters: touched by the worker thread only. The admin view gets copies
 * through a PX_MSG_COLLECT message, so no atomics are needed on the hot path. */
/* GOAWAY error codes counted apart; the rest are OTHER. */
enum px_h2_goaway_kind {
    PX_H2_GOAWAY_NO_ERROR,
    PX_H2_GOAWAY_PROTOCOL_ERROR,
    PX_H2_GOAWAY_ENHANCE_YOUR_CALM,
    PX_H2_GOAWAY_OTHER,
    PX_H2_GOAWAY_KINDS,
};

struct px_stats {
    uint64_t accepted, active, handshakes_failed;
    uint64_t requests, responses_by_class[6]; /* [1]..[5]: 1xx..5xx */
    uint64_t upstream_connects, upstream_reuses, upstream_connect_failures;
    /* a pooled connection died under a request before any response byte: sent again on a
     * fresh one, or answered 502 because a replay was unsafe (RFC 9110 9.2.2) */
    uint64_t upstream_retries, upstream_retries_refused;
    uint64_t bytes_in, bytes_out;
    /* HTTP/2 (session_h2.c): connections, streams (requests), streams open now, client
     * RST_STREAMs, GOAWAYs sent by error code */
    uint64_t h2_connections, h2_streams, h2_streams_active, h2_resets_received;
    uint64_t h2_goaways[PX_H2_GOAWAY_KINDS];
};

#define PX_WORKER_MAGIC 0x574f524bu /* "WORK" */

struct px_worker {
    PX_MAGIC_FIELD;
    unsigned id;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t inbox;
    uv_mutex_t inbox_lock;
    struct px_msg *inbox_head; /* messages from the main thread, guarded by inbox_lock */
    bool inbox_closed;         /* guarded by inbox_lock */

    struct px_gen *gen;          /* current configuration generation (one reference) */
    const struct px_config *cfg; /* == gen->cfg, for brevity */
    struct cs_snapshot *snap;    /* current snapshot: one reference held by this worker */

    struct px_listener **listeners;
    size_t n_listeners;
    struct px_access_log *access_log;
    int *listen_fds; /* until the thread starts: the bound sockets to adopt (a copy) */

    struct px_list conns; /* live client connections (px_conn_link) */
    size_t n_conns;
    bool draining;
    bool stopping; /* handles are being closed; the loop ends when they are */
    uv_timer_t drain_timer;
    void (*on_exit)(struct px_worker *w, void *arg);
    void *on_exit_arg;

    struct px_stats stats;
    struct cs_counters hs;      /* handshakes by site/key/curve/version, failures by reason */
    struct px_hello_log hellos; /* failed handshakes: log lines and the last ones kept */
    uv_timer_t hello_timer;     /* reports the lines the rate limit held back */
};

/* Messages from the main thread. */
enum px_msg_type {
    PX_MSG_SNAPSHOT, /* adopt msg->snap (the message carries one reference) */
    PX_MSG_DRAIN,    /* graceful shutdown */
    PX_MSG_ABORT,    /* close everything now */
    PX_MSG_COLLECT,  /* copy counters (or the failed hellos) into msg->collect */
    PX_MSG_CONFIG,   /* adopt msg->gen and msg->snap together; msg->fds: listeners */
};

/* A worker's counters as copied for the admin view. */
struct px_worker_report {
    struct px_stats stats;
    struct cs_counters hs;
    size_t conns;
    uint64_t generation; /* snapshot generation the worker serves new connections with */
    bool *cooling;       /* per upstream server: down (px_upstreams_down), flattened in config
                            order; malloc'd by the worker, freed by the collector */
    size_t n_cooling;
    struct px_hello_rec *hellos; /* collect->hellos: the worker's failed hellos, newest first
                                    (px_hello_log_copy; freed by the collector) */
    size_t n_hellos;
};

/* A collection across workers: the main thread fills it, posts it to every worker; each
 * fills its slot and decrements pending; the last one wakes `done` (the main loop's). The
 * main thread owns and frees it once pending is 0. */
struct px_collect {
    atomic_uint pending;
    struct px_worker_report *slots; /* one per worker */
    uv_async_t *done;
    struct px_collect *next; /* main thread's list of collections in flight */
    void *arg;               /* main thread's: what to do when complete */
    bool hellos;             /* collect the failed hellos instead of the counters */
};

struct px_msg {
    struct px_msg *next;
    enum px_msg_type type;
    struct cs_snapshot *snap;
    struct px_collect *collect;
    struct px_gen *gen; /* PX_MSG_CONFIG: prepared (px_gen_prepare), adopted by the worker */
    /* PX_MSG_CONFIG: the worker's new listener set, prepared by the main thread */
    struct px_listener_plan *listeners;
};

/* Lifecycle, driven by server.c on the main thread. px_worker_init takes its own config
 * and snapshot references; listener fds (one per cfg listener, already bound) are adopted
 * by the worker. on_exit runs on the worker thread just before it returns (used to wake
 * the main loop). */
int px_worker_init(struct px_worker *w, unsigned id, struct px_config *cfg,
                   struct cs_snapshot *snap, const int *listen_fds,
                   struct px_access_log *access_log);
int px_worker_start(struct px_worker *w, void (*on_exit)(struct px_worker *w, void *arg),
                    void *arg);
/* Thread-safe: queues a message carrying snap (one reference, passed to the worker).
 * Returns 0, or -1 when the worker no longer takes messages (then snap is released). */
int px_worker_post(struct px_worker *w, enum px_msg_type type, struct cs_snapshot *snap);
/* A reload's messages, prepared on the main thread before the decision to publish, so that
 * publishing cannot fail: every allocation is done here and px_worker_post_prepared only
 * links the message into the inbox.
 *
 * px_worker_msg_snapshot: adopt snap (the message takes its own reference).
 * px_worker_msg_config: adopt cfg and snap together; the message takes its own snap
 * reference, prepares the worker's new generation for cfg (px_gen_prepare) and the
 * worker's new listener objects (px_listeners_prepare) and, on success only, takes fds
 * (malloc'd, cfg->n_listeners entries: a bound socket, or -1 for a listener whose address
 * is kept). Both return NULL when out of memory, having taken nothing. */
struct px_msg *px_worker_msg_snapshot(struct cs_snapshot *snap);
struct px_msg *px_worker_msg_config(struct px_worker *w, struct px_config *cfg,
                                    struct cs_snapshot *snap, int *fds);
/* Releases a prepared message that will not be posted, and everything it carries. */
void px_worker_msg_free(struct px_msg *m);
/* Thread-safe, cannot fail: queues a prepared message; when the worker no longer takes
 * messages it is released here. */
void px_worker_post_prepared(struct px_worker *w, struct px_msg *m);
/* Thread-safe: asks for the worker's counters. Returns -1 when the worker is gone (the
 * caller then counts its slot as done itself). */
int px_worker_post_collect(struct px_worker *w, struct px_collect *c);
/* Marks one slot done; wakes the collector when it was the last. */
void px_collect_slot_done(struct px_collect *c);
void px_worker_join(struct px_worker *w);
/* After join: frees what init allocated. */
void px_worker_free(struct px_worker *w);

/* Called by conn.c for a failed handshake: logs it (rate-limited) and keeps it for
 * GET /debug/failed-hellos. */
void px_worker_hello_failed(struct px_worker *w, const struct px_hello_fail *f);

/* Called by conn.c when a connection has been fully closed and freed; lets the worker
 * resume accepting below max_connections and finish a drain. */
void px_worker_conn_gone(struct px_worker *w);
/* Links a new connection into the worker's list (conn.c calls this from accept). */
void px_worker_conn_add(struct px_worker *w, struct px_conn *c);
void px_worker_conn_remove(struct px_worker *w, struct px_conn *c);

#endif
