/* Configuration generations of a worker (gen.c). */
#ifndef TWOFOLD_PX_GEN_H
#define TWOFOLD_PX_GEN_H

#include <stdbool.h>
#include <uv.h>

#include "px_check.h"

struct px_worker;
struct px_config;
struct px_upstreams;

#define PX_GEN_MAGIC 0x67656e31u

/* One configuration generation as a worker uses it: the config and the upstream pools
 * built for it. Referenced by the worker (its current generation) and by every connection
 * accepted under it, so after a config reload old connections finish with the limits and
 * upstreams they started with; the last release closes the pools.
 *
 * Two steps, so that a reload's publish cannot fail: px_gen_prepare allocates everything
 * on any thread (it touches no handle of the worker's loop), px_gen_adopt makes it live on
 * the worker thread and cannot fail. After adoption the generation is worker thread only. */
struct px_gen {
    PX_MAGIC_FIELD;
    unsigned refs;
    bool adopted; /* px_gen_adopt ran: the free timer is a handle of the worker's loop */
    struct px_worker *w;
    struct px_config *cfg; /* one px_config reference */
    struct px_upstreams *upstreams;
    uv_timer_t free_timer; /* frees the pools once their close callbacks have run */
};

/* Any thread: the generation and its pools for worker w (one new cfg reference), not yet
 * live. NULL when out of memory. */
struct px_gen *px_gen_prepare(struct px_worker *w, struct px_config *cfg);
/* Worker thread (or before the thread starts): makes a prepared generation live, with one
 * reference, the caller's. Cannot fail. */
void px_gen_adopt(struct px_gen *g);
/* Any thread: frees a prepared generation that was never adopted. NULL is a no-op. */
void px_gen_discard(struct px_gen *g);
/* px_gen_prepare and px_gen_adopt in one, on the worker's thread. */
struct px_gen *px_gen_new(struct px_worker *w, struct px_config *cfg);
struct px_gen *px_gen_ref(struct px_gen *g);
void px_gen_release(struct px_gen *g); /* NULL is a no-op */

#endif
