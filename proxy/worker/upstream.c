/* Per-worker upstream pools: server choice (round robin, least connections), passive
 * health (cool-off after fail_threshold consecutive connect failures), connects with a
 * timeout that move on to the next server, and idle keep-alive pools.
 *
 * Lifetimes: a px_upconn embeds its uv_tcp_t and uv_timer_t and is freed by the close
 * callback of the last of them. A connect attempt that fails closes only the tcp handle
 * and re-initialises it in the close callback for the next server, so the px_upconn the
 * caller holds stays valid until the outcome callback or px_upconn_cancel.
 */
#include "px_upstream.h"

#include "px_check.h"
#include "px_log.h"
#include "px_worker.h"

#include <stdlib.h>
#include <string.h>

#define SCRATCH_SIZE (64 * 1024)

struct server {
    const struct px_addr *addr;
    unsigned fails;      /* consecutive connect failures */
    uint64_t cool_until; /* uv_now() ms; skipped while now < cool_until */
    uint64_t down_since; /* uv_now() ms when it went down; meaningful while down */
    bool down;       /* from the cool-off that fail_threshold started until a connect succeeds */
    unsigned active; /* connecting or handed out */
    struct px_upconn *idle; /* idle pool, most recently used first */
    unsigned n_idle;
};

struct group {
    const struct px_upstream_conf *conf;
    struct server *servers;
    size_t rr;
};

struct px_upstreams {
    uv_loop_t *loop;
    const struct px_config *cfg;
    struct group *groups;
    size_t n_groups;
    struct px_stats *stats;
    char *scratch;
    bool shutting_down;
};

enum uc_state {
    UC_CONNECTING, /* connect in flight */
    UC_RETRYING,   /* tcp closing after a failed attempt; reconnects in the close cb */
    UC_ACQUIRED,   /* handed to the caller */
    UC_IDLE,       /* in the pool */
    UC_CLOSING,    /* final close: freed when both handles are closed */
};

#define PX_UPCONN_MAGIC 0x5550434eu /* "UPCN" */

struct px_upconn {
    PX_MAGIC_FIELD;
    uv_tcp_t tcp;
    uv_timer_t timer; /* connect timeout, then pool idle timeout */
    uv_connect_t creq;
    struct px_upstreams *u;
    struct group *grp;
    struct server *srv;
    struct px_upconn *next, *prev; /* idle pool links */
    enum uc_state state;
    px_upconn_cb cb;
    void *ud;
    void *owner;
    unsigned tries; /* connect attempts for this acquire */
    int open_handles;
    bool cancelled, reused;
    bool reading;       /* uv_read_start active on tcp */
    uv_read_cb read_cb; /* the owner's reader while acquired; NULL when paused or idle */
};

static uint64_t now_ms(const struct px_upstreams *u)
{
    return uv_now(u->loop);
}

static bool cooling(const struct px_upstreams *u, const struct server *s)
{
    return s->cool_until > now_ms(u);
}

/* ---- lifecycle ---- */

struct px_upstreams *px_upstreams_new(uv_loop_t *loop, const struct px_config *cfg)
{
    struct px_upstreams *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->loop = loop;
    u->cfg = cfg;
    u->n_groups = cfg->n_upstreams;
    u->groups = calloc(u->n_groups ? u->n_groups : 1, sizeof *u->groups);
    u->scratch = malloc(SCRATCH_SIZE);
    if (!u->groups || !u->scratch)
        goto fail;
    for (size_t i = 0; i < u->n_groups; i++) {
        struct group *g = &u->groups[i];
        g->conf = &cfg->upstreams[i];
        g->servers = calloc(g->conf->n_servers ? g->conf->n_servers : 1, sizeof *g->servers);
        if (!g->servers)
            goto fail;
        for (size_t j = 0; j < g->conf->n_servers; j++)
            g->servers[j].addr = &g->conf->servers[j];
    }
    return u;
fail:
    px_upstreams_free(u);
    return NULL;
}

void px_upstreams_bind_stats(struct px_upstreams *u, struct px_stats *stats)
{
    u->stats = stats;
}

char *px_upstreams_scratch(struct px_upstreams *u, size_t *len)
{
    *len = SCRATCH_SIZE;
    return u->scratch;
}

/* A void * from a libuv handle or request of a connection is that connection: checked. */
static struct px_upconn *upconn_of(void *p)
{
    struct px_upconn *uc;
    PX_CAST(uc, (struct px_upconn *)p, PX_UPCONN_MAGIC);
    return uc;
}

static void uc_close(struct px_upconn *uc);

void px_upstreams_shutdown(struct px_upstreams *u)
{
    if (!u)
        return;
    u->shutting_down = true;
    for (size_t i = 0; i < u->n_groups; i++)
        for (size_t j = 0; j < u->groups[i].conf->n_servers; j++)
            while (u->groups[i].servers[j].idle)
                uc_close(u->groups[i].servers[j].idle);
}

void px_upstreams_free(struct px_upstreams *u)
{
    if (!u)
        return;
    for (size_t i = 0; u->groups && i < u->n_groups; i++)
        free(u->groups[i].servers);
    free(u->groups);
    free(u->scratch);
    free(u);
}

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h)
{
    struct px_upconn *uc = upconn_of(h->data);
    if (--uc->open_handles == 0) {
        uc->magic = 0;
        free(uc);
    }
}

static void idle_unlink(struct px_upconn *uc)
{
    struct server *s = uc->srv;
    if (uc->prev)
        uc->prev->next = uc->next;
    else
        s->idle = uc->next;
    if (uc->next)
        uc->next->prev = uc->prev;
    uc->next = uc->prev = NULL;
    s->n_idle--;
}

/* Final close from any state but UC_RETRYING/UC_CLOSING. */
static void uc_close(struct px_upconn *uc)
{
    if (uc->state == UC_CLOSING)
        return;
    if (uc->state == UC_IDLE)
        idle_unlink(uc);
    else if (uc->srv->active > 0)
        uc->srv->active--;
    uc->state = UC_CLOSING;
    uv_timer_stop(&uc->timer);
    if (!uv_is_closing((uv_handle_t *)&uc->tcp))
        uv_close((uv_handle_t *)&uc->tcp, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&uc->timer))
        uv_close((uv_handle_t *)&uc->timer, on_handle_closed);
}

/* ---- choosing a server ---- */

/* Round robin from start, or the least active server (ties in rotation order); skips
 * servers cooling off and, when possible, `avoid` (the one that just failed). */
static struct server *pick(struct px_upstreams *u, struct group *g, size_t start,
                           const struct server *avoid)
{
    size_t n = g->conf->n_servers;
    struct server *best = NULL;
    for (int pass = 0; pass < 2 && !best; pass++) {
        for (size_t k = 0; k < n; k++) {
            struct server *s = &g->servers[(start + k) % n];
            if (cooling(u, s) || (pass == 0 && s == avoid))
                continue;
            if (g->conf->balance != PX_BALANCE_LEAST_CONN)
                return s;
            if (!best || s->active < best->active)
                best = s;
        }
    }
    return best;
}

/* Health state as operators see it (/metrics, the log): a server is down from the moment
 * it enters cool-off until a connect to it succeeds, so a server whose cool-off merely ran
 * out is still down until it has been tried again. Each transition logs one line; failed
 * retries of a server that is already down log nothing more. */
static void mark_down(const struct group *g, struct server *s, uint64_t now)
{
    if (s->down) {
        px_debug("upstream %s: server %s still down after %u failures: cooling off for %u ms",
                 g->conf->name, s->addr->text, s->fails, g->conf->cooloff_ms);
        return;
    }
    s->down = true;
    s->down_since = now;
    px_warn("upstream %s: server %s down after %u failed connects: cooling off for %u ms",
            g->conf->name, s->addr->text, s->fails, g->conf->cooloff_ms);
}

static void mark_up(const struct group *g, struct server *s, uint64_t now)
{
    if (!s->down)
        return;
    s->down = false;
    px_info("upstream %s: server %s up again (connect succeeded after %llu ms down)", g->conf->name,
            s->addr->text, (unsigned long long)(now - s->down_since));
}

static void note_failure(struct px_upconn *uc)
{
    struct server *s = uc->srv;
    unsigned threshold = uc->grp->conf->fail_threshold;
    s->fails++;
    if (uc->u->stats)
        uc->u->stats->upstream_connect_failures++;
    if (threshold && s->fails >= threshold) {
        s->cool_until = now_ms(uc->u) + uc->grp->conf->cooloff_ms;
        mark_down(uc->grp, s, now_ms(uc->u));
    }
}

/* ---- connecting ---- */

static void on_connect(uv_connect_t *req, int status);
static void on_connect_timeout(uv_timer_t *t);

static int start_connect(struct px_upconn *uc)
{
    int r = uv_tcp_init(uc->u->loop, &uc->tcp);
    if (r < 0)
        return r;
    uc->open_handles++;
    uc->tcp.data = uc;
    uc->state = UC_CONNECTING;
    uc->srv->active++;
    r = uv_tcp_connect(&uc->creq, &uc->tcp, (const struct sockaddr *)&uc->srv->addr->ss,
                       on_connect);
    if (r == 0) {
        uv_tcp_nodelay(&uc->tcp, 1);
        uv_timer_start(&uc->timer, on_connect_timeout, uc->u->cfg->timeouts.upstream_connect_ms, 0);
    }
    return r;
}

static void on_retry_closed(uv_handle_t *h);

/* The attempt on uc->srv failed (error or timeout): close the tcp handle; the close
 * callback moves on to the next server, reports failure, or frees a cancelled attempt. */
static void attempt_failed(struct px_upconn *uc, bool count)
{
    if (count)
        note_failure(uc);
    uv_timer_stop(&uc->timer);
    if (uc->srv->active > 0)
        uc->srv->active--;
    uc->state = UC_RETRYING;
    if (!uv_is_closing((uv_handle_t *)&uc->tcp))
        uv_close((uv_handle_t *)&uc->tcp, on_retry_closed);
}

static void fail_acquire(struct px_upconn *uc)
{
    px_upconn_cb cb = uc->cb;
    void *ud = uc->ud;
    uc->state = UC_CLOSING;
    uv_close((uv_handle_t *)&uc->timer, on_handle_closed); /* frees uc */
    if (cb)
        cb(ud, NULL, PX_UP_FAILED);
}

static void on_retry_closed(uv_handle_t *h)
{
    struct px_upconn *uc = upconn_of(h->data);
    uc->open_handles--;
    if (uc->cancelled) {
        uc->state = UC_CLOSING;
        uv_close((uv_handle_t *)&uc->timer, on_handle_closed);
        return;
    }
    struct server *prev = uc->srv;
    uc->srv = NULL;
    if (uc->tries < uc->grp->conf->n_servers && !uc->u->shutting_down) {
        size_t start = (size_t)(prev - uc->grp->servers) + 1;
        uc->srv = pick(uc->u, uc->grp, start, prev);
    }
    if (!uc->srv) {
        uc->srv = prev;
        fail_acquire(uc);
        return;
    }
    uc->tries++;
    if (start_connect(uc) < 0) {
        if (uc->open_handles == 1) { /* tcp init failed: nothing to close */
            fail_acquire(uc);
        } else {
            attempt_failed(uc, true);
        }
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct px_upconn *uc = upconn_of(req->handle->data);
    if (uc->state != UC_CONNECTING)
        return; /* timed out, cancelled or shut down: the close path owns it */
    if (status < 0) {
        px_debug("upstream %s: connect to %s: %s", uc->grp->conf->name, uc->srv->addr->text,
                 uv_strerror(status));
        attempt_failed(uc, true);
        return;
    }
    uv_timer_stop(&uc->timer);
    uc->srv->fails = 0;
    uc->srv->cool_until = 0;
    mark_up(uc->grp, uc->srv, now_ms(uc->u));
    uc->state = UC_ACQUIRED;
    if (uc->u->stats)
        uc->u->stats->upstream_connects++;
    uc->cb(uc->ud, uc, 0);
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct px_upconn *uc = upconn_of(t->data);
    if (uc->state != UC_CONNECTING)
        return;
    px_debug("upstream %s: connect to %s timed out", uc->grp->conf->name, uc->srv->addr->text);
    attempt_failed(uc, true);
}

static int acquire_pooled(struct server *s, struct px_upconn **out)
{
    struct px_upconn *uc = s->idle;
    idle_unlink(uc);
    uv_timer_stop(&uc->timer); /* the read watcher stays armed: see uc_read */
    uc->state = UC_ACQUIRED;
    uc->reused = true;
    uc->owner = NULL;
    s->active++;
    if (uc->u->stats)
        uc->u->stats->upstream_reuses++;
    *out = uc;
    return PX_UP_READY;
}

int px_upstream_acquire(struct px_upstreams *u, size_t upstream, unsigned flags, px_upconn_cb cb,
                        void *ud, struct px_upconn **out)
{
    *out = NULL;
    if (upstream >= u->n_groups || u->groups[upstream].conf->n_servers == 0)
        return PX_UP_FAILED;
    struct group *g = &u->groups[upstream];
    struct server *s = pick(u, g, g->rr++ % g->conf->n_servers, NULL);
    if (!s)
        return PX_UP_UNAVAILABLE;
    if (s->idle && !(flags & PX_UP_FRESH))
        return acquire_pooled(s, out);
    struct px_upconn *uc = calloc(1, sizeof *uc);
    if (!uc)
        return PX_UP_FAILED;
    uc->magic = PX_UPCONN_MAGIC;
    uc->u = u;
    uc->grp = g;
    uc->srv = s;
    uc->cb = cb;
    uc->ud = ud;
    uc->tries = 1;
    uv_timer_init(u->loop, &uc->timer);
    uc->timer.data = uc;
    uc->open_handles = 1;
    int r = start_connect(uc);
    if (r < 0 && uc->open_handles == 1) {
        /* tcp init failed: no handle to close but the timer; no callback follows */
        uc->cb = NULL;
        fail_acquire(uc);
        return PX_UP_FAILED;
    }
    if (r < 0) /* connect refused synchronously: retry asynchronously, cb reports */
        attempt_failed(uc, true);
    *out = uc;
    return PX_UP_PENDING;
}

void px_upconn_cancel(struct px_upconn *uc)
{
    if (!uc)
        return;
    uc->cancelled = true;
    uc->cb = NULL;
    if (uc->state == UC_RETRYING)
        return; /* on_retry_closed frees it */
    uc_close(uc);
}

/* ---- reading ---- */

static void uc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct px_upconn *uc = upconn_of(h->data);
    size_t len;
    buf->base = px_upstreams_scratch(uc->u, &len);
    buf->len = len;
}

/* The one read callback of a connection, armed from the owner's first px_upconn_read_start
 * until backpressure or close, across pool transitions: each uv_read_stop/uv_read_start
 * pair costs libuv two epoll_ctl calls. Acquired: the bytes go to the owner's reader.
 * Idle: a pooled connection must stay silent, so data or EOF closes it. */
static void uc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct px_upconn *uc = upconn_of(s->data);
    if (uc->state == UC_ACQUIRED && uc->read_cb) {
        uc->read_cb(s, nread, buf);
        return;
    }
    if (uc->state == UC_IDLE) {
        if (nread != 0)
            uc_close(uc);
        return;
    }
    /* acquired without a reader cannot happen (pausing stops the watcher); closing: ignore */
    if (uc->state == UC_ACQUIRED && nread != 0) {
        uv_read_stop(s);
        uc->reading = false;
    }
}

int px_upconn_read_start(struct px_upconn *uc, uv_read_cb cb)
{
    uc->read_cb = cb;
    if (uc->reading)
        return 0;
    int r = uv_read_start((uv_stream_t *)&uc->tcp, uc_alloc, uc_read);
    uc->reading = r == 0;
    if (r < 0)
        uc->read_cb = NULL;
    return r;
}

void px_upconn_read_stop(struct px_upconn *uc)
{
    uc->read_cb = NULL;
    if (uc->reading)
        uv_read_stop((uv_stream_t *)&uc->tcp);
    uc->reading = false;
}

/* ---- idle pool ---- */

static void idle_timeout(uv_timer_t *t)
{
    uc_close(upconn_of(t->data));
}

void px_upconn_release(struct px_upconn *uc, bool reusable)
{
    struct server *s = uc->srv;
    const struct px_upstream_conf *conf = uc->grp->conf;
    uc->owner = NULL;
    uc->read_cb = NULL;
    if (!reusable || uc->u->shutting_down || s->n_idle >= conf->keepalive ||
        (!uc->reading && px_upconn_read_start(uc, NULL) < 0)) {
        uc_close(uc);
        return;
    }
    if (s->active > 0)
        s->active--;
    uc->state = UC_IDLE;
    uc->next = s->idle;
    uc->prev = NULL;
    if (s->idle)
        s->idle->prev = uc;
    s->idle = uc;
    s->n_idle++;
    if (conf->idle_timeout_ms)
        uv_timer_start(&uc->timer, idle_timeout, conf->idle_timeout_ms, 0);
}

/* ---- accessors ---- */

uv_stream_t *px_upconn_stream(struct px_upconn *uc)
{
    return (uv_stream_t *)&uc->tcp;
}

void px_upconn_set_owner(struct px_upconn *uc, void *owner)
{
    uc->owner = owner;
}

void *px_upconn_owner(const struct px_upconn *uc)
{
    PX_CHECK(uc, PX_UPCONN_MAGIC);
    return uc->owner;
}

bool px_upconn_reused(const struct px_upconn *uc)
{
    return uc->reused;
}

const char *px_upconn_server(const struct px_upconn *uc)
{
    return uc->srv->addr->text;
}

size_t px_upstreams_idle_count(const struct px_upstreams *u, size_t upstream, size_t server)
{
    if (upstream >= u->n_groups || server >= u->groups[upstream].conf->n_servers)
        return 0;
    return u->groups[upstream].servers[server].n_idle;
}

bool px_upstreams_cooling(const struct px_upstreams *u, size_t upstream, size_t server)
{
    if (upstream >= u->n_groups || server >= u->groups[upstream].conf->n_servers)
        return false;
    return cooling(u, &u->groups[upstream].servers[server]);
}

bool px_upstreams_down(const struct px_upstreams *u, size_t upstream, size_t server)
{
    if (upstream >= u->n_groups || server >= u->groups[upstream].conf->n_servers)
        return false;
    return u->groups[upstream].servers[server].down;
}
