/* Configuration generations of a worker (gen.c). */
#ifndef TWOFOLD_PX_GEN_H
#define TWOFOLD_PX_GEN_H

#include <uv.h>

struct px_worker;
struct px_config;
struct px_upstreams;

/* One configuration generation as a worker uses it: the config and the upstream pools
 * built for it. Worker thread only. Referenced by the worker (its current generation) and
 * by every connection accepted under it, so after a config reload old connections finish
 * with the limits and upstreams they started with; the last release closes the pools. */
struct px_gen {
    unsigned refs;
    struct px_worker *w;
    struct px_config *cfg; /* one px_config reference */
    struct px_upstreams *upstreams;
    uv_timer_t free_timer; /* frees the pools once their close callbacks have run */
};

struct px_gen *px_gen_new(struct px_worker *w, struct px_config *cfg);
struct px_gen *px_gen_ref(struct px_gen *g);
void px_gen_release(struct px_gen *g); /* NULL is a no-op */

#endif
