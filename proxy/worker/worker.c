/* Workers: one thread and one loop each. The main thread talks to a worker only through
 * px_worker_post (a locked list + uv_async_send); everything else a worker touches is its
 * own. Shutdown: DRAIN closes the listeners and asks every connection to finish; when the
 * last connection is gone (or the drain timer fires and aborts the rest) the worker closes
 * its remaining handles and the loop ends by itself.
 */
#include "px_worker.h"

#include "px_access_log.h"
#include "px_conn.h"
#include "px_log.h"
#include "px_upstream.h"
#include "px_gen.h"
#include "px_listener.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void close_all(struct px_worker *w);
static void drop_msg(struct px_msg *m);

static void maybe_finish(struct px_worker *w)
{
    if (w->draining && w->n_conns == 0)
        close_all(w);
}

void px_worker_conn_add(struct px_worker *w, struct px_conn *c)
{
    px_list_push_front(&w->conns, px_conn_link(c));
    w->n_conns++;
}

void px_worker_conn_remove(struct px_worker *w, struct px_conn *c)
{
    px_list_remove(px_conn_link(c));
    w->n_conns--;
}

void px_worker_conn_gone(struct px_worker *w)
{
    px_listeners_resume(w);
    maybe_finish(w);
}

static void abort_all(struct px_worker *w)
{
    struct px_list *l, *next;
    px_list_foreach_safe(l, next, &w->conns) px_conn_abort(px_conn_of_link(l));
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct px_worker *w;
    PX_CAST(w, (struct px_worker *)t->data, PX_WORKER_MAGIC);
    px_warn("worker %u: drain timeout, closing %zu connection(s)", w->id, w->n_conns);
    abort_all(w);
}

static void start_drain(struct px_worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    px_listeners_close(w);
    struct px_list *l, *next;
    px_list_foreach_safe(l, next, &w->conns) px_conn_drain(px_conn_of_link(l));
    uv_timer_start(&w->drain_timer, on_drain_timeout, w->cfg->timeouts.drain_ms, 0);
    maybe_finish(w);
}

/* Closes the worker's own handles; the loop then has nothing left and uv_run returns. */
static void close_all(struct px_worker *w)
{
    if (w->stopping)
        return;
    w->stopping = true;
    px_listeners_close(w);
    /* idle pooled connections would keep the loop alive; the generation itself is
     * released in px_worker_free */
    px_upstreams_shutdown(w->gen->upstreams);
    uv_close((uv_handle_t *)&w->drain_timer, NULL);
    px_hello_log_flush(&w->hellos, UINT64_MAX); /* report what the rate limit held back */
    uv_close((uv_handle_t *)&w->hello_timer, NULL);
    /* Posters check inbox_closed under the lock, so no uv_async_send can race the close;
     * messages already queued are dropped here, on this thread, so that a collection
     * waiting on them completes while its collector is still listening. */
    uv_mutex_lock(&w->inbox_lock);
    w->inbox_closed = true;
    struct px_msg *m = w->inbox_head;
    w->inbox_head = NULL;
    uv_mutex_unlock(&w->inbox_lock);
    while (m) {
        struct px_msg *next = m->next;
        drop_msg(m);
        m = next;
    }
    uv_close((uv_handle_t *)&w->inbox, NULL);
}

void px_collect_slot_done(struct px_collect *c)
{
    if (atomic_fetch_sub(&c->pending, 1) == 1)
        uv_async_send(c->done);
}

static void on_hello_timer(uv_timer_t *t);

/* Arms the timer for the end of the current window while lines are held back. */
static void hello_timer_arm(struct px_worker *w, bool held)
{
    uint64_t now = uv_now(&w->loop), end = px_hello_log_window_end(&w->hellos);
    if (held && !w->stopping && !uv_is_active((uv_handle_t *)&w->hello_timer))
        uv_timer_start(&w->hello_timer, on_hello_timer, end > now ? end - now : 0, 0);
}

static void on_hello_timer(uv_timer_t *t)
{
    struct px_worker *w;
    PX_CAST(w, (struct px_worker *)t->data, PX_WORKER_MAGIC);
    px_hello_log_flush(&w->hellos, uv_now(&w->loop));
    hello_timer_arm(w, w->hellos.suppressed > 0); /* a later window's, if any */
}

void px_worker_hello_failed(struct px_worker *w, const struct px_hello_fail *f)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t wall_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    hello_timer_arm(w, px_hello_log_note(&w->hellos, uv_now(&w->loop), wall_us, f));
}

static void collect(struct px_worker *w, struct px_collect *c)
{
    struct px_worker_report *r = &c->slots[w->id];
    if (c->hellos) {
        if (px_hello_log_copy(&w->hellos, &r->hellos, &r->n_hellos) != 0)
            px_err("worker %u: out of memory copying the failed hellos", w->id);
        px_collect_slot_done(c);
        return;
    }
    r->stats = w->stats;
    r->stats.active = w->n_conns;
    r->conns = w->n_conns;
    r->generation = cs_snapshot_generation(w->snap);
    cs_counters_merge(&r->hs, &w->hs);
    size_t n = 0;
    for (size_t u = 0; u < w->cfg->n_upstreams; u++)
        n += w->cfg->upstreams[u].n_servers;
    struct px_upstreams *ups = w->gen->upstreams;
    r->cooling = calloc(n ? n : 1, sizeof *r->cooling);
    if (r->cooling) {
        r->n_cooling = n;
        size_t k = 0;
        for (size_t u = 0; u < w->cfg->n_upstreams; u++)
            for (size_t i = 0; i < w->cfg->upstreams[u].n_servers; i++)
                r->cooling[k++] = px_upstreams_down(ups, u, i);
    }
    px_collect_slot_done(c);
}

/* Releases what a message carries (the message itself is the caller's). */
static void release_payload(struct px_msg *m)
{
    cs_snapshot_release(m->snap);
    if (m->collect)
        px_collect_slot_done(m->collect);
    px_listeners_plan_free(m->listeners);
    px_gen_discard(m->gen); /* never adopted */
}

static void drop_msg(struct px_msg *m)
{
    release_payload(m);
    free(m);
}

/* A config reload: the new generation (config + pools, prepared by the main thread) and
 * snapshot replace the current ones for new connections; live connections keep theirs.
 * Adopting the generation and swapping the pointers cannot fail. */
static void apply_config(struct px_worker *w, struct px_msg *m)
{
    struct px_gen *g = m->gen;
    m->gen = NULL;
    assert(g->w == w);
    px_gen_adopt(g);
    px_gen_release(w->gen);
    w->gen = g;
    w->cfg = g->cfg;
    cs_snapshot_release(w->snap);
    w->snap = m->snap;
    m->snap = NULL;
    px_listeners_apply(w, g->cfg, m->listeners); /* allocates nothing */
    m->listeners = NULL;
}

static void handle_msg(struct px_worker *w, struct px_msg *m)
{
    switch (m->type) {
    case PX_MSG_SNAPSHOT:
        /* Live connections keep the snapshot they were accepted under (they hold a
         * reference); new connections use the new one from now on. */
        cs_snapshot_release(w->snap);
        w->snap = m->snap;
        m->snap = NULL;
        break;
    case PX_MSG_DRAIN:
        start_drain(w);
        break;
    case PX_MSG_ABORT:
        start_drain(w);
        abort_all(w);
        break;
    case PX_MSG_COLLECT:
        collect(w, m->collect);
        m->collect = NULL;
        break;
    case PX_MSG_CONFIG:
        apply_config(w, m);
        break;
    }
    drop_msg(m);
}

static void on_inbox(uv_async_t *a)
{
    struct px_worker *w;
    PX_CAST(w, (struct px_worker *)a->data, PX_WORKER_MAGIC);
    uv_mutex_lock(&w->inbox_lock);
    struct px_msg *list = w->inbox_head;
    w->inbox_head = NULL;
    uv_mutex_unlock(&w->inbox_lock);
    /* The list was built newest-first; reverse to handle messages in order. */
    struct px_msg *ordered = NULL;
    while (list) {
        struct px_msg *next = list->next;
        list->next = ordered;
        ordered = list;
        list = next;
    }
    while (ordered && !w->stopping) {
        struct px_msg *next = ordered->next;
        handle_msg(w, ordered);
        ordered = next;
    }
    while (ordered) { /* stopping: drop the rest */
        struct px_msg *next = ordered->next;
        drop_msg(ordered);
        ordered = next;
    }
}

/* Links m into the inbox; false (m untouched) when the worker takes no more messages. */
static bool enqueue(struct px_worker *w, struct px_msg *m)
{
    uv_mutex_lock(&w->inbox_lock);
    bool open = !w->inbox_closed;
    if (open) {
        m->next = w->inbox_head;
        w->inbox_head = m;
        uv_async_send(&w->inbox);
    }
    uv_mutex_unlock(&w->inbox_lock);
    return open;
}

static int post(struct px_worker *w, struct px_msg *tmpl)
{
    struct px_msg *m = calloc(1, sizeof *m);
    if (m)
        *m = *tmpl;
    if (m && enqueue(w, m))
        return 0;
    if (!m)
        px_err("worker %u: out of memory posting a message", w->id);
    /* the worker is gone or going, or no memory: nothing to tell it */
    tmpl->collect = NULL; /* the caller counts an undelivered collection itself */
    release_payload(tmpl);
    free(m);
    return -1;
}

int px_worker_post(struct px_worker *w, enum px_msg_type type, struct cs_snapshot *snap)
{
    return post(w, &(struct px_msg){.type = type, .snap = snap});
}

int px_worker_post_collect(struct px_worker *w, struct px_collect *c)
{
    return post(w, &(struct px_msg){.type = PX_MSG_COLLECT, .collect = c});
}

struct px_msg *px_worker_msg_snapshot(struct cs_snapshot *snap)
{
    struct px_msg *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->type = PX_MSG_SNAPSHOT;
    m->snap = cs_snapshot_ref(snap);
    return m;
}

struct px_msg *px_worker_msg_config(struct px_worker *w, struct px_config *cfg,
                                    struct cs_snapshot *snap, int *fds)
{
    struct px_msg *m = calloc(1, sizeof *m);
    struct px_gen *g = m ? px_gen_prepare(w, cfg) : NULL;
    if (!g) {
        free(m);
        return NULL;
    }
    m->listeners = px_listeners_prepare(w, cfg, fds);
    if (!m->listeners) {
        px_gen_discard(g);
        free(m);
        return NULL;
    }
    free(fds); /* its sockets belong to the prepared listeners now */
    m->type = PX_MSG_CONFIG;
    m->gen = g;
    m->snap = cs_snapshot_ref(snap);
    return m;
}

void px_worker_msg_free(struct px_msg *m)
{
    if (m)
        drop_msg(m);
}

void px_worker_post_prepared(struct px_worker *w, struct px_msg *m)
{
    assert(m && m->type != PX_MSG_COLLECT && !m->next);
    if (!enqueue(w, m))
        drop_msg(m); /* the worker is gone or going: nothing to tell it */
}

int px_worker_init(struct px_worker *w, unsigned id, struct px_config *cfg,
                   struct cs_snapshot *snap, const int *listen_fds,
                   struct px_access_log *access_log)
{
    memset(w, 0, sizeof *w);
    w->magic = PX_WORKER_MAGIC;
    px_list_init(&w->conns);
    w->id = id;
    w->access_log = access_log;
    cs_counters_init(&w->hs);
    px_hello_log_init(&w->hellos, id);
    w->listen_fds = malloc((cfg->n_listeners + 1) * sizeof *w->listen_fds);
    if (!w->listen_fds)
        return -1;
    memcpy(w->listen_fds, listen_fds, cfg->n_listeners * sizeof *listen_fds);
    if (uv_loop_init(&w->loop) != 0 || uv_mutex_init(&w->inbox_lock) != 0)
        return -1;
    w->gen = px_gen_new(w, cfg);
    if (!w->gen)
        return -1;
    w->cfg = w->gen->cfg;
    uv_async_init(&w->loop, &w->inbox, on_inbox);
    w->inbox.data = w;
    uv_timer_init(&w->loop, &w->drain_timer);
    w->drain_timer.data = w;
    uv_timer_init(&w->loop, &w->hello_timer);
    w->hello_timer.data = w;
    w->snap = cs_snapshot_ref(snap);
    return 0;
}

static void worker_main(void *arg)
{
    struct px_worker *w;
    PX_CAST(w, (struct px_worker *)arg, PX_WORKER_MAGIC);
    int rc = px_listeners_start(w, w->listen_fds);
    free(w->listen_fds); /* the fds were adopted (or closed) */
    w->listen_fds = NULL;
    if (rc != 0)
        start_drain(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (w->on_exit)
        w->on_exit(w, w->on_exit_arg);
}

int px_worker_start(struct px_worker *w, void (*on_exit)(struct px_worker *w, void *arg), void *arg)
{
    w->on_exit = on_exit;
    w->on_exit_arg = arg;
    return uv_thread_create(&w->thread, worker_main, w) == 0 ? 0 : -1;
}

void px_worker_join(struct px_worker *w)
{
    uv_thread_join(&w->thread);
}

void px_worker_free(struct px_worker *w)
{
    /* Run once more so every close callback has fired, then the loop can be closed. */
    px_gen_release(w->gen); /* closes and frees the pools on the loop run below */
    w->gen = NULL;
    w->cfg = NULL;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w->loop) != 0)
        px_warn("worker %u: loop still has handles at exit", w->id);
    uv_mutex_destroy(&w->inbox_lock);
    struct px_msg *m = w->inbox_head;
    while (m) {
        struct px_msg *next = m->next;
        drop_msg(m);
        m = next;
    }
    w->inbox_head = NULL;
    cs_snapshot_release(w->snap);
    w->snap = NULL;
    cs_counters_free(&w->hs);
    px_hello_log_free(&w->hellos);
}
