/* Certificate reload on the main thread. A build runs on the thread pool (uv_queue_work):
 * cs_snapshot_rebuild against the live snapshot reuses unchanged certificates, keeps a
 * site's live certificates when its new ones fail validation or the compatibility guard
 * refuses them, and reports per site. The result is published to every worker, each of
 * which swaps its pointer on its own thread; a build that fails leaves the live snapshot
 * serving.
 *
 * Triggers coalesce: at most one build runs; any trigger during a build queues exactly
 * one more, which answers the waiters that arrived meanwhile (so a waiter always sees a
 * build that started after its request).
 *
 * Half-written renewals (key/cert mismatch, truncated PEM: status PENDING) are retried
 * with backoff (250 ms doubling, at most 8 s apart) for up to 30 s after they were first
 * seen; waiters get the outcome once nothing is pending any more or the 30 s are over.
 */
#include "px_server_internal.h"

#include "px_log.h"
#include "px_json.h"
#include "px_notify.h"
#include "px_reload.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS   8000
#define RETRY_TOTAL_MS 30000

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
    px_log_findings_at(d, PX_LOG_ERROR);
}

void px_log_findings_at(const struct cs_diag *d, enum px_log_level floor)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct cs_diag_item *it = &d->items[i];
        enum px_log_level lvl = it->level == CS_ERROR     ? PX_LOG_ERROR
                                : it->level == CS_WARNING ? PX_LOG_WARN
                                                          : PX_LOG_INFO;
        if (lvl < floor)
            lvl = floor;
        px_log(lvl, "certs: %s%s%s%s%s", it->site ? it->site : "", it->site ? ": " : "",
               it->file ? it->file : "", it->file ? ": " : "", it->msg);
    }
}

void px_reload_result_free(struct px_reload_result *r)
{
    px_buf_free(&r->summary_json);
    px_buf_free(&r->summary_text);
    for (size_t i = 0; i < r->n_sites; i++)
        free(r->sites[i].site);
    free(r->sites);
    r->sites = NULL;
    r->n_sites = 0;
}

static void site_json(struct px_buf *j, const struct cs_site_report *sr)
{
    px_buf_append(j, "{\"site\":", 8);
    px_json_str(j, sr->site);
    px_buf_printf(j, ",\"status\":\"%s\",\"diff\":", cs_site_status_name(sr->status));
    px_json_str(j, sr->diff ? sr->diff : "");
    px_buf_append(j, ",\"profiles_lost\":[", 18);
    for (size_t k = 0; k < sr->n_profiles_lost; k++) {
        if (k)
            px_buf_append(j, ",", 1);
        px_json_str(j, sr->profiles_lost[k]);
    }
    px_buf_append(j, "]}", 2);
}

static void findings_json(struct px_buf *j, const struct cs_diag *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct cs_diag_item *it = &d->items[i];
        px_buf_printf(j, "%s{\"level\":\"%s\",\"site\":", i ? "," : "", cs_level_name(it->level));
        px_json_str(j, it->site);
        px_buf_append(j, ",\"file\":", 8);
        px_json_str(j, it->file);
        px_buf_append(j, ",\"message\":", 11);
        px_json_str(j, it->msg);
        px_buf_append(j, "}", 1);
    }
}

/* Fills the result's JSON and text summaries (and its per-site statuses for /metrics). */
static void summarise(struct px_reload_result *r, const struct cs_reload_report *rep,
                      const struct cs_diag *d)
{
    struct px_buf *j = &r->summary_json, *t = &r->summary_text;
    px_buf_printf(j, "{\"seq\":%llu,\"trigger\":", (unsigned long long)r->seq);
    px_json_str(j, r->trigger);
    px_buf_printf(j, ",\"outcome\":\"%s\",\"generation\":%llu,\"changed\":%s,\"sites\":[",
                  px_reload_outcome_name(r->outcome), (unsigned long long)r->generation,
                  r->changed ? "true" : "false");
    px_buf_printf(t, "reload %s: generation %llu\n", px_reload_outcome_name(r->outcome),
                  (unsigned long long)r->generation);
    r->sites = calloc(rep->n ? rep->n : 1, sizeof *r->sites);
    for (size_t i = 0; i < rep->n; i++) {
        const struct cs_site_report *sr = &rep->sites[i];
        if (i)
            px_buf_append(j, ",", 1);
        site_json(j, sr);
        if (sr->status != CS_SITE_UNCHANGED && sr->diff && sr->diff[0])
            px_buf_printf(t, "%s\n", sr->diff);
        if (r->sites) {
            r->sites[i].site = strdup(sr->site);
            r->sites[i].status = sr->status;
            r->n_sites = i + 1;
        }
    }
    px_buf_append(j, "],\"findings\":[", 14);
    findings_json(j, d);
    px_buf_append(j, "]}", 2);
    for (size_t i = 0; i < d->n; i++) {
        const struct cs_diag_item *it = &d->items[i];
        if (it->level == CS_NOTICE)
            continue;
        px_buf_printf(t, "%s: %s%s%s%s%s\n", cs_level_name(it->level), it->site ? it->site : "",
                      it->site ? ": " : "", it->file ? it->file : "", it->file ? ": " : "",
                      it->msg);
    }
}

static void reload_build(uv_work_t *req)
{
    struct px_reload *rl;
    PX_CAST(rl, (struct px_reload *)req->data, PX_RELOAD_MAGIC);
    struct px_server *s = rl->s;
    cs_diag_init(&rl->diag);
    memset(&rl->report, 0, sizeof rl->report);
    rl->result = NULL;
    /* a re-read config is built from; it becomes s->cfg only when published */
    const struct cs_conf *conf = rl->cfg ? &rl->cfg->certs : &s->cfg->certs;
    rl->rc = cs_snapshot_rebuild(conf, s->snap, &rl->diag, &rl->report, &rl->result);
}

/* Everything that can fail happens here, before the decision to publish: a listener that
 * cannot be bound (or no memory for the messages) fails the reload, and nothing changes. */
static int prepare(struct px_reload *rl, struct px_reload_prep *p)
{
    struct px_server *s = rl->s;
    char err[256] = "";
    if (px_reload_prepare(s, rl->result, rl->cfg, p, err, sizeof err) == 0)
        return 0;
    cs_diag_add(&rl->diag, CS_ERROR, NULL, NULL, "config reload rejected: listener %s", err);
    return -1;
}

static enum px_reload_outcome outcome_of(const struct px_reload *rl, int status)
{
    const struct cs_reload_report *rep = &rl->report;
    if (status != 0 || rl->rc != 0 || !rl->result)
        return PX_RELOAD_FAILED;
    if (rep->n_refused || rep->n_kept || rep->n_pending || rep->n_failed)
        return PX_RELOAD_PARTIAL;
    return PX_RELOAD_APPLIED;
}

static void on_retry(uv_timer_t *t)
{
    struct px_reload *rl;
    PX_CAST(rl, (struct px_reload *)t->data, PX_RELOAD_MAGIC);
    px_reload_start(rl, "retry", false, NULL, NULL);
}

/* A half-written renewal: retry later, unless the 30 s are over. Returns true when a
 * retry was scheduled (the waiters then wait for it). */
static bool schedule_retry(struct px_reload *rl)
{
    struct px_server *s = rl->s;
    uint64_t now = uv_now(&s->loop);
    if (rl->report.n_pending == 0 || s->stop_signals) {
        rl->retry_since = 0;
        rl->retry_delay_ms = 0;
        return false;
    }
    if (rl->retry_since == 0) {
        rl->retry_since = now;
        rl->retry_delay_ms = RETRY_FIRST_MS;
    } else if (now - rl->retry_since >= RETRY_TOTAL_MS) {
        px_err("reload: renewal still incomplete after %d s: giving up (sites keep their "
               "previous certificates)",
               RETRY_TOTAL_MS / 1000);
        rl->retry_since = 0;
        rl->retry_delay_ms = 0;
        return false;
    } else {
        rl->retry_delay_ms =
            rl->retry_delay_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : rl->retry_delay_ms * 2;
    }
    px_info("reload: %zu site(s) look half-written (renewal still being written?): retrying "
            "in %u ms",
            rl->report.n_pending, rl->retry_delay_ms);
    uv_timer_start(&rl->retry_timer, on_retry, rl->retry_delay_ms, 0);
    return true;
}

/* A reload that changed nothing (a certificate touched, rewritten with the same bytes)
 * logs at debug only: nothing to tell an operator, and its findings were logged when the
 * certificates were loaded. Every other outcome logs its per-site lines and one summary
 * whose counts use the per-site lines' words. */
static void log_outcome(const struct px_reload *rl, const struct px_reload_result *r)
{
    const struct cs_reload_report *rep = &rl->report;
    char counts[160];
    cs_reload_report_counts(rep, counts, sizeof counts);
    if (r->outcome == PX_RELOAD_APPLIED && !r->changed && !r->reread) {
        px_log_findings_at(&rl->diag, PX_LOG_DEBUG);
        px_debug("reload (%s): nothing changed; generation %llu keeps serving", r->trigger,
                 (unsigned long long)r->generation);
        return;
    }
    px_log_findings(&rl->diag);
    for (size_t i = 0; i < rep->n; i++) {
        const struct cs_site_report *sr = &rep->sites[i];
        if (sr->status == CS_SITE_UNCHANGED || !sr->diff || !sr->diff[0])
            continue;
        bool bad = sr->status == CS_SITE_REFUSED || sr->status == CS_SITE_KEPT ||
                   sr->status == CS_SITE_PENDING || sr->status == CS_SITE_FAILED;
        px_log(bad ? PX_LOG_WARN : PX_LOG_INFO, "reload: %s", sr->diff);
    }
    px_log(r->outcome == PX_RELOAD_FAILED ? PX_LOG_ERROR : PX_LOG_INFO,
           "reload %s (%s): generation %llu%s; %s", px_reload_outcome_name(r->outcome), r->trigger,
           (unsigned long long)r->generation,
           r->changed ? "" : " (the same certificates keep serving)", counts);
}

/* Hands every waiter on list the last reload's outcome and frees the list. */
static void answer(struct px_reload *rl, struct px_reload_waiter *list)
{
    while (list) {
        struct px_reload_waiter *next = list->next;
        list->done(&rl->last, list->arg);
        free(list);
        list = next;
    }
}

static void reload_done(uv_work_t *req, int status)
{
    struct px_reload *rl;
    PX_CAST(rl, (struct px_reload *)req->data, PX_RELOAD_MAGIC);
    struct px_server *s = rl->s;
    PX_TRANSITION(rl, state, PX_RELOAD_BUILDING, PX_RELOAD_PUBLISHING);
    struct px_reload_result r = {.seq = rl->last.seq + 1, .at = time(NULL)};
    r.trigger = rl->trigger;
    r.outcome = outcome_of(rl, status);
    struct px_reload_prep prep;
    if (r.outcome != PX_RELOAD_FAILED && prepare(rl, &prep) != 0)
        r.outcome = PX_RELOAD_FAILED;
    /* the decision: from here on nothing can fail */
    r.changed = r.outcome != PX_RELOAD_FAILED && rl->result != s->snap;
    r.reread = r.outcome != PX_RELOAD_FAILED && rl->cfg;
    if (r.outcome != PX_RELOAD_FAILED) {
        px_reload_publish(s, &prep);
    } else {
        cs_snapshot_release(rl->result);
        px_config_release(rl->cfg);
    }
    rl->result = NULL;
    rl->cfg = NULL;
    r.generation = cs_snapshot_generation(s->snap);
    bool retrying = schedule_retry(rl);
    log_outcome(rl, &r);
    summarise(&r, &rl->report, &rl->diag);
    cs_diag_free(&rl->diag);
    cs_reload_report_free(&rl->report);
    rl->counts[r.outcome]++;
    px_reload_result_free(&rl->last);
    rl->last = r;
    px_server_watch_refresh(s); /* the set of files in use may have changed */
    px_notify_ready();
    px_notify_status("serving generation %llu; last reload %s", (unsigned long long)r.generation,
                     px_reload_outcome_name(r.outcome));

    PX_TRANSITION(rl, state, PX_RELOAD_PUBLISHING, PX_RELOAD_IDLE);
    if (retrying) { /* the waiters get the outcome of the retries */
        struct px_reload_waiter **tail = &rl->waiting_retry;
        while (*tail)
            tail = &(*tail)->next;
        *tail = rl->waiting_now;
    } else {
        answer(rl, rl->waiting_retry);
        rl->waiting_retry = NULL;
        answer(rl, rl->waiting_now);
    }
    rl->waiting_now = NULL;
    if (rl->again && s->stop_signals == 0) {
        rl->again = false;
        bool reread = rl->next_reread;
        rl->next_reread = false;
        px_reload_start(rl, rl->next_trigger, reread, NULL, NULL);
    } else if (s->stop_signals) {
        answer(rl, rl->waiting_next); /* shutting down: answer now */
        rl->waiting_next = NULL;
        answer(rl, rl->waiting_retry);
        rl->waiting_retry = NULL;
    }
}

static void add_waiter(struct px_reload_waiter **list, px_reload_done_cb done, void *arg)
{
    struct px_reload_waiter *w = calloc(1, sizeof *w);
    if (!w) {
        done(NULL, arg); /* cannot wait: out of memory */
        return;
    }
    w->done = done;
    w->arg = arg;
    w->next = *list;
    *list = w;
}

/* The config file has errors: nothing is built; the waiters get the messages. */
static void config_rejected(struct px_reload *rl, const char *trigger,
                            const struct px_config_errors *errs)
{
    struct px_reload_result r = {.seq = rl->last.seq + 1, .at = time(NULL)};
    r.trigger = trigger;
    r.outcome = PX_RELOAD_FAILED;
    const struct px_server *s = rl->s;
    r.generation = cs_snapshot_generation(s->snap);
    struct px_buf *j = &r.summary_json, *t = &r.summary_text;
    px_buf_printf(j, "{\"seq\":%llu,\"trigger\":", (unsigned long long)r.seq);
    px_json_str(j, trigger);
    px_buf_printf(j,
                  ",\"outcome\":\"failed\",\"generation\":%llu,\"sites\":[],"
                  "\"findings\":[],\"config_errors\":[",
                  (unsigned long long)r.generation);
    px_buf_printf(t, "reload failed: generation %llu keeps serving; config rejected:\n",
                  (unsigned long long)r.generation);
    for (size_t i = 0; i < errs->n; i++) {
        if (i)
            px_buf_append(j, ",", 1);
        px_json_str(j, errs->msgs[i]);
        px_buf_printf(t, "%s\n", errs->msgs[i]);
    }
    px_buf_append(j, "]}", 2);
    rl->counts[PX_RELOAD_FAILED]++;
    px_reload_result_free(&rl->last);
    rl->last = r;
    px_notify_ready();
    answer(rl, rl->waiting_now);
    rl->waiting_now = NULL;
}

void px_reload_start(struct px_reload *rl, const char *trigger, bool reread, px_reload_done_cb done,
                     void *arg)
{
    PX_CHECK(rl, PX_RELOAD_MAGIC);
    struct px_server *s = rl->s;
    assert(rl->state != PX_RELOAD_PUBLISHING); /* no start from inside a publish */
    if (rl->state == PX_RELOAD_BUILDING) {
        /* coalesce: exactly one more build after this one */
        rl->again = true;
        rl->next_trigger = trigger;
        rl->next_reread |= reread;
        if (done)
            add_waiter(&rl->waiting_next, done, arg);
        return;
    }
    uv_timer_stop(&rl->retry_timer); /* this build is the retry */
    /* waiters queued for "the next build" are answered by this one */
    if (done)
        add_waiter(&rl->waiting_next, done, arg);
    rl->waiting_now = rl->waiting_next;
    rl->waiting_next = NULL;
    px_notify_reloading();
    if (reread) {
        struct px_config_errors errs = {0};
        int rc = px_reload_read_config(s, &rl->cfg, &errs);
        if (rc != 0)
            config_rejected(rl, trigger, &errs);
        px_config_errors_free(&errs);
        if (rc != 0)
            return;
    }
    PX_TRANSITION(rl, state, PX_RELOAD_IDLE, PX_RELOAD_BUILDING);
    rl->trigger = trigger;
    rl->work.data = rl;
    if (uv_queue_work(&s->loop, &rl->work, reload_build, reload_done) != 0) {
        PX_TRANSITION(rl, state, PX_RELOAD_BUILDING, PX_RELOAD_IDLE);
        px_config_release(rl->cfg);
        rl->cfg = NULL;
        px_err("reload: cannot queue the build");
    }
}

void px_reload_init(struct px_reload *rl, struct px_server *s)
{
    memset(rl, 0, sizeof *rl);
    rl->magic = PX_RELOAD_MAGIC;
    rl->s = s;
    rl->state = PX_RELOAD_IDLE;
    uv_timer_init(&s->loop, &rl->retry_timer);
    rl->retry_timer.data = rl;
}

void px_reload_stop(struct px_reload *rl)
{
    PX_CHECK(rl, PX_RELOAD_MAGIC);
    uv_close((uv_handle_t *)&rl->retry_timer, NULL);
}

void px_reload_free(struct px_reload *rl)
{
    if (rl->magic != PX_RELOAD_MAGIC)
        return; /* never initialised (startup failed before the loop ran) */
    px_reload_result_free(&rl->last);
    px_config_release(rl->cfg);
    rl->cfg = NULL;
    rl->magic = 0;
}
