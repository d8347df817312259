/* The main thread: builds the first snapshot, binds the listeners, starts the workers,
 * then runs a loop that owns the signals and the reload machinery.
 *
 * Signals: SIGTERM/SIGINT drain (stop accepting, finish in-flight requests, exit 0 within
 * drain_timeout); a second one aborts every connection at once. SIGHUP reloads the
 * certificates: a new snapshot is built on the thread pool (uv_queue_work) with the live
 * one as `prev` so unchanged certificates are reused, then posted to every worker, which
 * swaps its pointer on its own thread. A build that fails leaves the old snapshot serving.
 */
#include "px_server.h"

#include "px_access_log.h"
#include "px_log.h"
#include "px_tls.h"
#include "px_worker.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct px_server {
    struct px_config *cfg;
    uv_loop_t loop;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_async_t worker_exit;
    struct px_worker *workers;
    unsigned n_workers;
    atomic_uint exited;
    struct cs_snapshot *snap; /* the live snapshot (the main thread's reference) */
    struct px_access_log *access_log;
    unsigned stop_signals;
    /* reload: at most one build at a time; a trigger during a build queues one more */
    bool reload_running, reload_again;
    uv_work_t reload_work;
    struct cs_snapshot *reload_result;
    struct cs_diag reload_diag;
    int reload_rc;
};

static void log_findings(const struct cs_diag *d)
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

/* ---- reload ---- */

static void reload_start(struct px_server *s);

static void reload_build(uv_work_t *req)
{
    struct px_server *s = req->data;
    cs_diag_init(&s->reload_diag);
    s->reload_result = NULL;
    s->reload_rc = cs_snapshot_build(&s->cfg->certs, s->snap, &s->reload_diag, &s->reload_result);
}

static void reload_done(uv_work_t *req, int status)
{
    struct px_server *s = req->data;
    s->reload_running = false;
    log_findings(&s->reload_diag);
    size_t errors = cs_diag_count(&s->reload_diag, CS_ERROR);
    if (status != 0 || s->reload_rc != 0 || errors || !s->reload_result) {
        px_err("reload failed (%zu error(s)): generation %llu keeps serving", errors,
               (unsigned long long)cs_snapshot_generation(s->snap));
        cs_snapshot_release(s->reload_result);
    } else {
        cs_snapshot_release(s->snap);
        s->snap = s->reload_result;
        for (unsigned i = 0; i < s->n_workers; i++)
            px_worker_post(&s->workers[i], PX_MSG_SNAPSHOT, cs_snapshot_ref(s->snap));
        px_info("reload applied: generation %llu, %zu site(s)",
                (unsigned long long)cs_snapshot_generation(s->snap),
                cs_snapshot_site_count(s->snap));
    }
    s->reload_result = NULL;
    cs_diag_free(&s->reload_diag);
    if (s->reload_again && s->stop_signals == 0) {
        s->reload_again = false;
        reload_start(s);
    }
}

static void reload_start(struct px_server *s)
{
    if (s->reload_running) {
        s->reload_again = true; /* coalesce: one more build after this one */
        return;
    }
    s->reload_running = true;
    s->reload_work.data = s;
    if (uv_queue_work(&s->loop, &s->reload_work, reload_build, reload_done) != 0) {
        s->reload_running = false;
        px_err("reload: cannot queue the build");
    }
}

/* ---- signals and shutdown ---- */

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct px_server *s = h->data;
    s->stop_signals++;
    enum px_msg_type type = s->stop_signals == 1 ? PX_MSG_DRAIN : PX_MSG_ABORT;
    px_info("%s: %s", strsignal(signum),
            type == PX_MSG_DRAIN ? "draining (a second signal exits at once)" : "exiting now");
    for (unsigned i = 0; i < s->n_workers; i++)
        px_worker_post(&s->workers[i], type, NULL);
}

static void on_hup(uv_signal_t *h, int signum)
{
    struct px_server *s = h->data;
    px_info("SIGHUP: reloading certificates");
    reload_start(s);
}

/* Runs on a worker thread as it exits. */
static void on_worker_exit(struct px_worker *w, void *arg)
{
    struct px_server *s = arg;
    atomic_fetch_add(&s->exited, 1);
    uv_async_send(&s->worker_exit);
}

static void on_worker_exit_main(uv_async_t *a)
{
    struct px_server *s = a->data;
    if (atomic_load(&s->exited) < s->n_workers)
        return;
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    uv_close((uv_handle_t *)&s->sig_hup, NULL);
    uv_close((uv_handle_t *)&s->worker_exit, NULL);
}

/* ---- startup ---- */

static int build_first_snapshot(struct px_server *s)
{
    struct cs_diag d;
    cs_diag_init(&d);
    int r = cs_snapshot_build(&s->cfg->certs, NULL, &d, &s->snap);
    log_findings(&d);
    size_t errors = cs_diag_count(&d, CS_ERROR);
    cs_diag_free(&d);
    if (r != 0 || errors || !s->snap) {
        px_err("refusing to start: %zu certificate error(s) (run `twofold check` for details)",
               errors ? errors : 1);
        return -1;
    }
    return 0;
}

/* Binds every listener once per worker (SO_REUSEPORT) before any thread starts, so an
 * address in use is reported as a startup error. fds is n_workers x n_listeners. */
static int bind_all(struct px_server *s, int *fds)
{
    size_t nl = s->cfg->n_listeners;
    for (size_t i = 0; i < s->n_workers * nl; i++)
        fds[i] = -1;
    for (unsigned w = 0; w < s->n_workers; w++) {
        for (size_t l = 0; l < nl; l++) {
            char err[256];
            fds[w * nl + l] = px_listen_socket(&s->cfg->listeners[l].addr, err, sizeof err);
            if (fds[w * nl + l] < 0) {
                px_err("listener %s: %s", s->cfg->listeners[l].name, err);
                return -1;
            }
        }
    }
    return 0;
}

static int start_workers(struct px_server *s)
{
    size_t nl = s->cfg->n_listeners;
    size_t n_fds = s->n_workers * nl;
    int *fds = calloc(n_fds + 1, sizeof *fds);
    s->workers = calloc(s->n_workers, sizeof *s->workers);
    if (!fds || !s->workers || bind_all(s, fds) != 0) {
        s->n_workers = 0;
        for (size_t i = 0; fds && i < n_fds; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        free(fds);
        return -1;
    }
    int rc = 0;
    for (unsigned w = 0; w < s->n_workers && rc == 0; w++) {
        rc = px_worker_init(&s->workers[w], w, s->cfg, s->snap, &fds[w * nl], s->access_log);
        if (rc == 0)
            rc = px_worker_start(&s->workers[w], on_worker_exit, s);
        if (rc != 0) {
            px_err("cannot start worker %u", w);
            s->n_workers = w; /* the started ones get drained below */
        }
    }
    free(fds);
    return rc;
}

static void init_signals(struct px_server *s)
{
    uv_signal_init(&s->loop, &s->sig_term);
    uv_signal_init(&s->loop, &s->sig_int);
    uv_signal_init(&s->loop, &s->sig_hup);
    s->sig_term.data = s->sig_int.data = s->sig_hup.data = s;
    uv_signal_start(&s->sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&s->sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&s->sig_hup, on_hup, SIGHUP);
    uv_async_init(&s->loop, &s->worker_exit, on_worker_exit_main);
    s->worker_exit.data = s;
}

static void log_started(const struct px_server *s)
{
    char addrs[512] = "";
    size_t off = 0;
    for (size_t i = 0; i < s->cfg->n_listeners && off < sizeof addrs; i++)
        off += (size_t)snprintf(addrs + off, sizeof addrs - off, "%s%s", i ? " " : "",
                                s->cfg->listeners[i].addr.text);
    px_info("twofold %s started: %u worker(s), listening on %s, %zu site(s), generation %llu",
            TWOFOLD_VERSION, s->n_workers, addrs, cs_snapshot_site_count(s->snap),
            (unsigned long long)cs_snapshot_generation(s->snap));
}

static void server_free(struct px_server *s)
{
    for (unsigned i = 0; i < s->n_workers; i++)
        px_worker_free(&s->workers[i]);
    free(s->workers);
    px_access_log_close(s->access_log);
    cs_snapshot_release(s->snap);
    uv_loop_close(&s->loop);
    px_config_free(s->cfg);
}

int px_server_run(struct px_config *cfg)
{
    struct px_server s;
    memset(&s, 0, sizeof s);
    s.cfg = cfg;
    s.n_workers = cfg->workers ? cfg->workers : 1;
    px_log_set_level((enum px_log_level)cfg->log_level);
    signal(SIGPIPE, SIG_IGN);
    cfg->certs.ctx_setup = px_tls_ctx_setup;
    uv_loop_init(&s.loop);
    char err[256] = "";
    if (build_first_snapshot(&s) != 0) {
        s.n_workers = 0;
        server_free(&s);
        return 1;
    }
    s.access_log = px_access_log_open(cfg, err, sizeof err);
    if (!s.access_log && err[0]) {
        px_err("access log: %s", err);
        s.n_workers = 0;
        server_free(&s);
        return 1;
    }
    init_signals(&s);
    int rc = start_workers(&s);
    if (rc != 0) {
        for (unsigned i = 0; i < s.n_workers; i++)
            px_worker_post(&s.workers[i], PX_MSG_ABORT, NULL);
        if (s.n_workers == 0)
            on_worker_exit_main(&s.worker_exit);
    } else {
        log_started(&s);
    }
    uv_run(&s.loop, UV_RUN_DEFAULT);
    for (unsigned i = 0; i < s.n_workers; i++)
        px_worker_join(&s.workers[i]);
    server_free(&s);
    if (rc == 0)
        px_info("stopped");
    return rc == 0 ? 0 : 1;
}
