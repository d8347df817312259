/* The admin endpoint's routes, on the main loop:
 *   GET  /healthz  200 "ok" while serving, 503 "draining" during shutdown
 *   GET  /certs    JSON: generation, sites with their certificates, the last reload
 *   GET  /metrics  Prometheus text (counters collected from every worker by message)
 *   POST /reload   rebuilds the certificates and answers when done with the outcome
 *                  (200 applied, 200 partial, 500 failed; body = the reload's JSON)
 *   GET  /debug/failed-hellos  JSON: the last failed handshakes of every worker, newest
 *                  first, each with its ClientHello as hex (collected by message too)
 * Never on a public address unless configured: the config layer defaults to 127.0.0.1.
 */
#include "px_admin.h"
#include "px_log.h"
#include "px_metrics.h"
#include "px_server_internal.h"
#include "px_reload.h"
#include "px_admin_api.h"

#include <stdlib.h>
#include <string.h>

static void respond_buf(struct px_admin_req *req, int status, const char *ctype, struct px_buf *b)
{
    px_admin_respond(req, status, ctype, b->data ? b->data : "", b->len);
    px_buf_free(b);
}

static void route_certs(struct px_server *s, struct px_admin_req *req)
{
    struct px_buf b = {0};
    px_metrics_certs_json(s, &b);
    respond_buf(req, 200, "application/json", &b);
}

/* /metrics and /debug/failed-hellos need every worker's data: post a collection, answer
 * when complete (px_admin_api_collect_done). */
static void route_collect(struct px_server *s, struct px_admin_req *req, bool hellos)
{
    struct px_collect *c = calloc(1, sizeof *c);
    if (c)
        c->slots = calloc(s->n_workers ? s->n_workers : 1, sizeof *c->slots);
    if (!c || !c->slots) {
        free(c);
        px_admin_respond(req, 500, NULL, "out of memory\n", 14);
        return;
    }
    for (unsigned i = 0; i < s->n_workers; i++)
        cs_counters_init(&c->slots[i].hs);
    atomic_init(&c->pending, s->n_workers + 1);
    c->done = &s->collect_done;
    c->arg = req;
    c->hellos = hellos;
    c->next = s->collects;
    s->collects = c;
    for (unsigned i = 0; i < s->n_workers; i++)
        if (px_worker_post_collect(&s->workers[i], c) != 0)
            px_collect_slot_done(c);
    px_collect_slot_done(c); /* our own slot: the count can only reach 0 after posting */
}

static void collect_free(struct px_server *s, struct px_collect *c)
{
    for (unsigned i = 0; i < s->n_workers; i++) {
        cs_counters_free(&c->slots[i].hs);
        free(c->slots[i].cooling);
        px_hello_recs_free(c->slots[i].hellos, c->slots[i].n_hellos);
    }
    free(c->slots);
    free(c);
}

/* Every worker's records in one list (px_hello_json sorts it newest first). */
static void render_hellos(struct px_server *s, struct px_collect *c, struct px_buf *b)
{
    size_t n = 0;
    for (unsigned i = 0; i < s->n_workers; i++)
        n += c->slots[i].n_hellos;
    struct px_hello_rec *all = calloc(n ? n : 1, sizeof *all);
    if (!all) {
        px_buf_printf(b, "{\"hellos\":[],\"error\":\"out of memory\"}\n");
        return;
    }
    size_t k = 0;
    for (unsigned i = 0; i < s->n_workers; i++)
        for (size_t j = 0; j < c->slots[i].n_hellos; j++)
            all[k++] = c->slots[i].hellos[j]; /* the byte buffers stay the slots' */
    px_hello_json(b, all, k);
    free(all);
}

void px_admin_api_collect_done(uv_async_t *a)
{
    struct px_server *s;
    PX_CAST(s, (struct px_server *)a->data, PX_SERVER_MAGIC);
    struct px_collect **pp = &s->collects;
    while (*pp) {
        struct px_collect *c = *pp;
        if (atomic_load(&c->pending) != 0) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        struct px_buf b = {0};
        if (c->hellos) {
            render_hellos(s, c, &b);
            respond_buf(c->arg, 200, "application/json", &b);
        } else {
            px_metrics_render(s, c->slots, s->n_workers, &b);
            respond_buf(c->arg, 200, "text/plain; version=0.0.4", &b);
        }
        collect_free(s, c);
    }
}

/* POST /reload's answer once the reload has settled (px_reload_done_cb). */
static void reload_answer(const struct px_reload_result *r, void *arg)
{
    struct px_admin_req *req;
    PX_CAST(req, (struct px_admin_req *)arg, PX_ADMIN_REQ_MAGIC);
    if (!r) {
        px_admin_respond(req, 500, NULL, "out of memory\n", 14);
        return;
    }
    int status = r->outcome == PX_RELOAD_FAILED ? 500 : 200;
    bool text = strstr(req->query, "format=text") != NULL;
    const struct px_buf *b = text ? &r->summary_text : &r->summary_json;
    if (r->seq == 0)
        px_admin_respond(req, 503, NULL, "shutting down\n", 14);
    else
        px_admin_respond(req, status, text ? "text/plain" : "application/json", b->data, b->len);
}

static void handler(struct px_admin_req *req, void *arg)
{
    struct px_server *s;
    PX_CAST(s, (struct px_server *)arg, PX_SERVER_MAGIC);
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    if (strcmp(req->path, "/healthz") == 0 && get) {
        if (s->stop_signals)
            px_admin_respond(req, 503, NULL, "draining\n", 9);
        else
            px_admin_respond(req, 200, NULL, "ok\n", 3);
    } else if (strcmp(req->path, "/certs") == 0 && get) {
        route_certs(s, req);
    } else if (strcmp(req->path, "/metrics") == 0 && get) {
        route_collect(s, req, false);
    } else if (strcmp(req->path, "/debug/failed-hellos") == 0 && get) {
        route_collect(s, req, true);
    } else if (strcmp(req->path, "/reload") == 0 && strcmp(req->method, "POST") == 0) {
        if (s->stop_signals)
            px_admin_respond(req, 503, NULL, "shutting down\n", 14);
        else
            px_reload_start(&s->reload, "admin", true, reload_answer, req);
    } else if (!strcmp(req->path, "/healthz") || !strcmp(req->path, "/certs") ||
               !strcmp(req->path, "/metrics") || !strcmp(req->path, "/reload") ||
               !strcmp(req->path, "/debug/failed-hellos")) {
        px_admin_respond(req, 405, NULL, "method not allowed\n", 19);
    } else {
        px_admin_respond(req, 404, NULL, "not found\n", 10);
    }
}

int px_admin_api_start(struct px_server *s)
{
    if (!s->cfg->admin_enabled)
        return 0;
    char err[256] = "";
    s->admin = px_admin_new(&s->loop, (const struct sockaddr *)&s->cfg->admin.ss,
                            s->cfg->admin_token, handler, s, err, sizeof err);
    if (!s->admin) {
        px_err("admin endpoint: %s", err);
        return -1;
    }
    px_info("admin endpoint on %s", s->cfg->admin.text);
    return 0;
}

void px_admin_api_stop(struct px_server *s)
{
    /* collections in flight can no longer complete once workers are gone */
    while (s->collects) {
        struct px_collect *c = s->collects;
        s->collects = c->next;
        px_admin_respond(c->arg, 503, NULL, "shutting down\n", 14);
        collect_free(s, c);
    }
    if (s->admin)
        px_admin_close(s->admin, NULL, NULL);
    s->admin = NULL;
}
