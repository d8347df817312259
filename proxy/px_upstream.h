/* Upstream servers, per worker: keep-alive pools, balancing (round robin, least
 * connections), connect timeout, passive health (skip a server after fail_threshold
 * consecutive connect failures for cooloff_ms). Implemented in upstream.c.
 */
#ifndef TWOFOLD_PX_UPSTREAM_H
#define TWOFOLD_PX_UPSTREAM_H

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

/* Further API (acquire/release a connection, health) is defined by upstream.c's author
 * below this line and used by conn.c. */

#endif
