/* Upstream servers, per worker: keep-alive pools, balancing (round robin, least
 * connections), connect timeout, passive health (skip a server after fail_threshold
 * consecutive connect failures for cooloff_ms). Implemented in upstream.c.
 */
#ifndef TWOFOLD_PX_UPSTREAM_H
#define TWOFOLD_PX_UPSTREAM_H

#include <stdbool.h>
#include <uv.h>

#include "px_config.h"

struct px_upstreams;

/* Creates the pools for every upstream in cfg on loop. */
struct px_upstreams *px_upstreams_new(uv_loop_t *loop, const struct px_config *cfg);
/* Closes every idle pooled connection (their close callbacks run on the loop later).
 * Call before the loop's final run at shutdown. */
void px_upstreams_shutdown(struct px_upstreams *u);
/* Frees after the loop has run the close callbacks. NULL is a no-op. */
void px_upstreams_free(struct px_upstreams *u);

/* Connections: acquire and release (the pools and passive health behind them), and
 * reading an acquired connection; used by the exchange (exchange.c). */

struct px_upconn; /* one TCP connection to one upstream server (opaque) */
struct px_stats;

/* Acquire results and callback statuses. */
enum {
    PX_UP_READY = 1,        /* acquire: a pooled connection was handed out at once */
    PX_UP_PENDING = 0,      /* acquire: connecting; the callback reports the outcome */
    PX_UP_UNAVAILABLE = -1, /* every server is cooling off (answer 503) */
    PX_UP_FAILED = -2,      /* every server tried failed or timed out (answer 502) */
};

/* Acquire flags. */
#define PX_UP_FRESH 1u /* do not reuse a pooled connection (retry after a stale one) */

/* Connect outcome: status 0 and uc connected, or PX_UP_FAILED and uc NULL (the attempt
 * object is already gone). Called at most once per PX_UP_PENDING acquire, never after
 * px_upconn_cancel, never from inside px_upstream_acquire. */
typedef void (*px_upconn_cb)(void *ud, struct px_upconn *uc, int status);

/* Counts connects, reuses and connect failures into stats (the worker's). May be NULL. */
void px_upstreams_bind_stats(struct px_upstreams *u, struct px_stats *stats);

/* Gets a connection to a server of upstream index `upstream` (cfg->upstreams[i]) by its
 * balancing, skipping servers in cool-off. Returns PX_UP_READY with *out set (a pooled
 * connection; cb is not called), PX_UP_PENDING with *out set (the attempt, for
 * px_upconn_cancel; cb reports the outcome, trying the next server after a connect failure
 * or timeout), PX_UP_UNAVAILABLE or PX_UP_FAILED (bad index, out of memory). */
int px_upstream_acquire(struct px_upstreams *u, size_t upstream, unsigned flags, px_upconn_cb cb,
                        void *ud, struct px_upconn **out);
/* Abandons a pending acquire: no callback follows; the attempt closes itself. */
void px_upconn_cancel(struct px_upconn *uc);
/* Gives an acquired connection back. reusable: the last exchange ended cleanly (complete
 * response, keep-alive, nothing unread, no write in flight); it goes to its server's idle
 * pool (bounded by keepalive, closed after idle_timeout_ms or when the server closes or
 * sends anything). Otherwise it is closed. The caller's reader is detached (the read
 * watcher itself stays armed for the pool); the caller must not touch uc afterwards. May
 * be called from inside the caller's reader. */
void px_upconn_release(struct px_upconn *uc, bool reusable);

/* Reading an acquired connection. The read watcher is armed once and stays armed across
 * pool transitions (a stop/start pair costs two epoll_ctl in libuv 1.44); only
 * px_upconn_read_stop (backpressure) disarms it. read_start sets (or replaces) the reader
 * that gets the bytes while uc is acquired: cb's stream is px_upconn_stream(uc), its buffer
 * the worker's scratch buffer. Returns 0 or a libuv error. read_stop is idempotent. */
int px_upconn_read_start(struct px_upconn *uc, uv_read_cb cb);
void px_upconn_read_stop(struct px_upconn *uc);

/* The connected stream (its data field belongs to upstream.c; use px_upconn_owner). */
uv_stream_t *px_upconn_stream(struct px_upconn *uc);
void px_upconn_set_owner(struct px_upconn *uc, void *owner);
void *px_upconn_owner(const struct px_upconn *uc);
bool px_upconn_reused(const struct px_upconn *uc);        /* came from the idle pool */
const char *px_upconn_server(const struct px_upconn *uc); /* "127.0.0.1:8080" */

/* Per-worker scratch buffer for libuv read callbacks (a worker is single-threaded and the
 * bytes are consumed before the read callback returns). Used by conn.c for both sides. */
char *px_upstreams_scratch(struct px_upstreams *u, size_t *len);

/* Introspection for tests and the admin view. */
size_t px_upstreams_idle_count(const struct px_upstreams *u, size_t upstream, size_t server);
bool px_upstreams_cooling(const struct px_upstreams *u, size_t upstream, size_t server);
/* Down: put in cool-off by fail_threshold failed connects and not connected to since (a
 * cool-off that ran out does not make it up: only a successful connect does). */
bool px_upstreams_down(const struct px_upstreams *u, size_t upstream, size_t server);

#endif
