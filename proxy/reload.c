/* Certificate reload on the main thread: a build runs on the thread pool (uv_queue_work)
 * with the live snapshot as `prev` (unchanged certificates are reused), then the result is
 * published to every worker, each of which swaps its pointer on its own thread. A build
 * that fails leaves the live snapshot serving. Triggers coalesce: at most one build runs;
 * any trigger during a build queues exactly one more, which answers the waiters that
 * arrived meanwhile (so a waiter always sees a build that started after its request).
 */
#include "px_server_internal.h"

#include "px_log.h"
#include "px_metrics.h"
#include "px_notify.h"

#include <stdlib.h>
#include <string.h>

const char *px_reload_outcome_name(enum px_reload_outcome o)
{
    switch (o) {
    case PX_RELOAD_APPLIED:
        return "applied";
    case PX_RELOAD_FAILED:
        return "failed";
    case PX_RELOAD_PARTIAL:
        return "partial";
    }
    return "?";
}

void px_log_findings(const struct cs_diag *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct cs_diag_item *it = &d->items[i];
        enum px_log_level lvl = it->level == CS_ERROR     ? PX_LOG_ERROR
                                : it->level == CS_WARNING ? PX_LOG_WARN
                                                          : PX_LOG_INFO;
        px_log(lvl, "certs: %s%s%s%s%s", it->site ? it->site : "", it->site ? ": " : "",
               it->file ? it->file : "", it->file ? ": " : "", it->msg);
    }
}

void px_reload_result_free(struct px_reload_result *r)
{
    px_buf_free(&r->summary_json);
    px_buf_free(&r->summary_text);
}

/* Fills the result's JSON and text summaries from the build's findings. */
static void summarise(struct px_server *s, struct px_reload_result *r, const struct cs_diag *d)
{
    struct px_buf *j = &r->summary_json, *t = &r->summary_text;
    px_buf_printf(j, "{\"seq\":%llu,\"trigger\":", (unsigned long long)r->seq);
    px_json_str(j, r->trigger);
    px_buf_printf(j, ",\"outcome\":\"%s\",\"generation\":%llu,\"findings\":[",
                  px_reload_outcome_name(r->outcome), (unsigned long long)r->generation);
    px_buf_printf(t, "reload %s: generation %llu\n", px_reload_outcome_name(r->outcome),
                  (unsigned long long)r->generation);
    for (size_t i = 0; i < d->n; i++) {
        const struct cs_diag_item *it = &d->items[i];
        px_buf_printf(j, "%s{\"level\":\"%s\",\"site\":", i ? "," : "", cs_level_name(it->level));
        px_json_str(j, it->site);
        px_buf_append(j, ",\"file\":", 8);
        px_json_str(j, it->file);
        px_buf_append(j, ",\"message\":", 11);
        px_json_str(j, it->msg);
        px_buf_append(j, "}", 1);
        px_buf_printf(t, "%s: %s%s%s%s%s\n", cs_level_name(it->level), it->site ? it->site : "",
                      it->site ? ": " : "", it->file ? it->file : "", it->file ? ": " : "",
                      it->msg);
    }
    px_buf_append(j, "]}", 2);
}

static void reload_build(uv_work_t *req)
{
    struct px_server *s = req->data;
    cs_diag_init(&s->reload_diag);
    s->reload_result = NULL;
    s->reload_rc = cs_snapshot_build(&s->cfg->certs, s->snap, &s->reload_diag, &s->reload_result);
}

static void publish(struct px_server *s, struct cs_snapshot *snap)
{
    cs_snapshot_release(s->snap);
    s->snap = snap;
    for (unsigned i = 0; i < s->n_workers; i++)
        px_worker_post(&s->workers[i], PX_MSG_SNAPSHOT, cs_snapshot_ref(snap));
}

static void reload_done(uv_work_t *req, int status)
{
    struct px_server *s = req->data;
    s->reload_running = false;
    px_log_findings(&s->reload_diag);
    size_t errors = cs_diag_count(&s->reload_diag, CS_ERROR);
    struct px_reload_result r = {.seq = s->last_reload.seq + 1, .at = time(NULL)};
    r.trigger = s->reload_trigger;
    if (status != 0 || s->reload_rc != 0 || errors || !s->reload_result) {
        r.outcome = PX_RELOAD_FAILED;
        cs_snapshot_release(s->reload_result);
    } else {
        r.outcome = PX_RELOAD_APPLIED;
        publish(s, s->reload_result);
    }
    s->reload_result = NULL;
    r.generation = cs_snapshot_generation(s->snap);
    summarise(s, &r, &s->reload_diag);
    cs_diag_free(&s->reload_diag);
    s->reloads[r.outcome]++;
    if (r.outcome == PX_RELOAD_FAILED)
        px_err("reload failed (%zu error(s)): generation %llu keeps serving", errors,
               (unsigned long long)r.generation);
    else
        px_info("reload applied: generation %llu, %zu site(s)", (unsigned long long)r.generation,
                cs_snapshot_site_count(s->snap));
    px_reload_result_free(&s->last_reload);
    s->last_reload = r;

    px_ops_watch_refresh(s); /* the set of files in use may have changed */
    px_notify_ready();
    px_notify_status("serving generation %llu; last reload %s", (unsigned long long)r.generation,
                     px_reload_outcome_name(r.outcome));

    struct px_reload_waiter *answered = s->waiting_now;
    s->waiting_now = NULL;
    px_admin_api_reload_answer(s, answered);
    if (s->reload_again && s->stop_signals == 0) {
        s->reload_again = false;
        px_reload_start(s, s->reload_next_trigger, NULL);
    } else {
        px_admin_api_reload_answer(s, s->waiting_next); /* shutting down: answer now */
        s->waiting_next = NULL;
    }
}

static void add_waiter(struct px_reload_waiter **list, struct px_admin_req *req)
{
    struct px_reload_waiter *w = calloc(1, sizeof *w);
    if (!w)
        return; /* the admin request is answered when the server closes */
    w->req = req;
    w->next = *list;
    *list = w;
}

void px_reload_start(struct px_server *s, const char *trigger, struct px_admin_req *waiter)
{
    if (s->reload_running) {
        /* coalesce: exactly one more build after this one */
        s->reload_again = true;
        s->reload_next_trigger = trigger;
        if (waiter)
            add_waiter(&s->waiting_next, waiter);
        return;
    }
    /* waiters queued for "the next build" are answered by this one */
    if (waiter)
        add_waiter(&s->waiting_next, waiter);
    s->waiting_now = s->waiting_next;
    s->waiting_next = NULL;
    s->reload_running = true;
    s->reload_trigger = trigger;
    px_notify_reloading();
    s->reload_work.data = s;
    if (uv_queue_work(&s->loop, &s->reload_work, reload_build, reload_done) != 0) {
        s->reload_running = false;
        px_err("reload: cannot queue the build");
    }
}
