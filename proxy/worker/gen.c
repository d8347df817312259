/* Configuration generations per worker (px_gen.h). */
#include "px_gen.h"

#include "px_log.h"
#include "px_upstream.h"
#include "px_worker.h"

#include <stdlib.h>

struct px_gen *px_gen_new(struct px_worker *w, struct px_config *cfg)
{
    struct px_gen *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->upstreams = px_upstreams_new(&w->loop, cfg);
    if (!g->upstreams) {
        free(g);
        return NULL;
    }
    g->refs = 1;
    g->w = w;
    g->cfg = px_config_ref(cfg);
    uv_timer_init(&w->loop, &g->free_timer);
    g->free_timer.data = g;
    px_upstreams_bind_stats(g->upstreams, &w->stats);
    return g;
}

struct px_gen *px_gen_ref(struct px_gen *g)
{
    g->refs++;
    return g;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct px_gen *g = h->data;
    px_config_release(g->cfg);
    free(g);
}

/* A loop iteration after the pools' idle connections were closed: their close callbacks
 * have run (the closing phase precedes the next timers phase), so the pools can go. */
static void on_free_timer(uv_timer_t *t)
{
    struct px_gen *g = t->data;
    px_upstreams_free(g->upstreams);
    g->upstreams = NULL;
    uv_close((uv_handle_t *)&g->free_timer, on_timer_closed);
}

void px_gen_release(struct px_gen *g)
{
    if (!g || --g->refs > 0)
        return;
    px_upstreams_shutdown(g->upstreams);
    uv_timer_start(&g->free_timer, on_free_timer, 0, 0);
}
