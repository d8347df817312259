/* Configuration generations per worker (px_gen.h). */
#include "px_gen.h"

#include "px_log.h"
#include "px_upstream.h"
#include "px_worker.h"

#include <stdlib.h>

struct px_gen *px_gen_prepare(struct px_worker *w, struct px_config *cfg)
{
    struct px_gen *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    /* the pools only remember the loop: no handle is created until a connection is */
    g->upstreams = px_upstreams_new(&w->loop, cfg);
    if (!g->upstreams) {
        free(g);
        return NULL;
    }
    g->magic = PX_GEN_MAGIC;
    g->w = w;
    g->cfg = px_config_ref(cfg);
    px_upstreams_bind_stats(g->upstreams, &w->stats);
    return g;
}

void px_gen_adopt(struct px_gen *g)
{
    PX_CHECK(g, PX_GEN_MAGIC);
    assert(!g->adopted);
    g->adopted = true;
    g->refs = 1;
    uv_timer_init(&g->w->loop, &g->free_timer); /* cannot fail */
    g->free_timer.data = g;
}

void px_gen_discard(struct px_gen *g)
{
    if (!g)
        return;
    PX_CHECK(g, PX_GEN_MAGIC);
    assert(!g->adopted);
    px_upstreams_free(g->upstreams);
    px_config_release(g->cfg);
    g->magic = 0;
    free(g);
}

struct px_gen *px_gen_new(struct px_worker *w, struct px_config *cfg)
{
    struct px_gen *g = px_gen_prepare(w, cfg);
    if (g)
        px_gen_adopt(g);
    return g;
}

struct px_gen *px_gen_ref(struct px_gen *g)
{
    PX_CHECK(g, PX_GEN_MAGIC);
    g->refs++;
    return g;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct px_gen *g;
    PX_CAST(g, (struct px_gen *)h->data, PX_GEN_MAGIC);
    px_config_release(g->cfg);
    g->magic = 0;
    free(g);
}

/* A loop iteration after the pools' idle connections were closed: their close callbacks
 * have run (the closing phase precedes the next timers phase), so the pools can go. */
static void on_free_timer(uv_timer_t *t)
{
    struct px_gen *g;
    PX_CAST(g, (struct px_gen *)t->data, PX_GEN_MAGIC);
    px_upstreams_free(g->upstreams);
    g->upstreams = NULL;
    uv_close((uv_handle_t *)&g->free_timer, on_timer_closed);
}

void px_gen_release(struct px_gen *g)
{
    if (!g)
        return;
    PX_CHECK(g, PX_GEN_MAGIC);
    assert(g->adopted && g->refs > 0);
    if (--g->refs > 0)
        return;
    px_upstreams_shutdown(g->upstreams);
    uv_timer_start(&g->free_timer, on_free_timer, 0, 0);
}
