/* The main thread: builds the first snapshot, binds the listeners, starts the workers,
 * then runs a loop that owns the signals and the reload machinery.
 *
 * Signals: SIGTERM/SIGINT drain (stop accepting, finish in-flight requests, exit 0 within
 * drain_timeout); a second one aborts every connection at once. SIGHUP reloads the
 * certificates: a new snapshot is built on the thread pool (uv_queue_work) with the live
 * one as `prev` so unchanged certificates are reused, then posted to every worker, which
 * swaps its pointer on its own thread. A build that fails leaves the old snapshot serving.
 *
 * Besides reloads the main loop runs the certificate watcher (a change to any certificate
 * file or directory in use triggers a reload), session ticket key rotation on a timer, and
 * systemd's notify protocol (READY/RELOADING/STOPPING, status text).
 */
#include "px_server.h"
#include "px_server_internal.h"

#include "px_access_log.h"
#include "px_log.h"
#include "px_notify.h"
#include "px_tickets.h"
#include "px_tls.h"
#include "px_worker.h"
#include "px_listener.h"
#include "px_reload.h"
#include "px_watch.h"
#include "px_admin_api.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- certificate watcher and session ticket keys ---- */

static void on_watch(void *arg)
{
    struct px_server *s;
    PX_CAST(s, (struct px_server *)arg, PX_SERVER_MAGIC);
    px_debug("certificate files changed: reloading"); /* the reload logs what changed */
    px_reload_start(&s->reload, "watch", false, NULL, NULL);
}

/* Every configured certificate file and directory, and every file the live snapshot
 * loaded (a cert_dir's files, certbot live/ symlinks): the watcher watches their
 * directories. Returns a malloc'd array of borrowed strings. */
static const char **watch_paths(const struct px_server *s, size_t *n)
{
    const struct cs_conf *cc = &s->cfg->certs;
    size_t cap = 0;
    for (size_t i = 0; i < cc->n_sites; i++)
        cap += 2 * cc->sites[i].n_certs + cc->sites[i].n_cert_dirs;
    for (size_t i = 0; i < cs_snapshot_site_count(s->snap); i++)
        cap += 2 * cs_snapshot_site(s->snap, i)->n_certs;
    const char **p = calloc(cap + 1, sizeof *p);
    *n = 0;
    if (!p)
        return NULL;
    for (size_t i = 0; i < cc->n_sites; i++) {
        const struct cs_site_conf *sc = &cc->sites[i];
        for (size_t k = 0; k < sc->n_certs; k++) {
            p[(*n)++] = sc->certs[k].cert;
            if (sc->certs[k].key)
                p[(*n)++] = sc->certs[k].key;
        }
        for (size_t k = 0; k < sc->n_cert_dirs; k++)
            p[(*n)++] = sc->cert_dirs[k];
    }
    for (size_t i = 0; i < cs_snapshot_site_count(s->snap); i++) {
        const struct cs_site *site = cs_snapshot_site(s->snap, i);
        for (size_t k = 0; k < site->n_certs; k++) {
            p[(*n)++] = site->certs[k]->cert_path;
            p[(*n)++] = site->certs[k]->key_path;
        }
    }
    return p;
}

void px_server_watch_refresh(struct px_server *s)
{
    if (!s->cfg->watch || s->stop_signals)
        return;
    if (s->watch)
        px_watch_close(s->watch, NULL, NULL);
    s->watch = NULL;
    size_t n = 0;
    const char **paths = watch_paths(s, &n);
    if (paths && n)
        s->watch = px_watch_new(&s->loop, paths, n, s->cfg->watch_debounce_ms,
                                s->cfg->watch_poll_ms, on_watch, s);
    if (n && !s->watch)
        px_warn("certificate watcher could not start: reload with SIGHUP or POST /reload");
    free(paths);
}

static void on_ticket_timer(uv_timer_t *t)
{
    struct px_server *s;
    PX_CAST(s, (struct px_server *)t->data, PX_SERVER_MAGIC);
    if (s->cfg->ticket_key_file) {
        char err[256];
        if (px_tickets_reload_file(s->tickets, err, sizeof err) != 0)
            px_err("ticket keys: %s (keeping the current keys)", err);
    } else if (px_tickets_rotate(s->tickets) != 0) {
        px_err("ticket keys: rotation failed (keeping the current keys)");
    }
}

/* Called before the first snapshot is built: contexts get the ticket ring installed. */
static int ops_start(struct px_server *s)
{
    char err[256] = "";
    unsigned rotate_s = s->cfg->ticket_rotate_ms / 1000;
    s->tickets = px_tickets_new(s->cfg->ticket_key_file, rotate_s ? rotate_s : 1, err, sizeof err);
    if (!s->tickets) {
        px_err("ticket keys: %s", err);
        return -1;
    }
    s->cfg->certs.ctx_setup_arg = s->tickets;
    uv_timer_init(&s->loop, &s->ticket_timer);
    s->ticket_timer.data = s;
    uv_timer_start(&s->ticket_timer, on_ticket_timer, s->cfg->ticket_rotate_ms,
                   s->cfg->ticket_rotate_ms);
    uv_unref((uv_handle_t *)&s->ticket_timer);
    return 0;
}

static void ops_stop(struct px_server *s)
{
    if (s->watch)
        px_watch_close(s->watch, NULL, NULL);
    s->watch = NULL;
    if (s->tickets && !uv_is_closing((uv_handle_t *)&s->ticket_timer))
        uv_close((uv_handle_t *)&s->ticket_timer, NULL);
}

/* ---- signals and shutdown ---- */

static void on_stop_signal(uv_signal_t *h, int signum)
{
    struct px_server *s;
    PX_CAST(s, (struct px_server *)h->data, PX_SERVER_MAGIC);
    s->stop_signals++;
    enum px_msg_type type = s->stop_signals == 1 ? PX_MSG_DRAIN : PX_MSG_ABORT;
    px_info("%s: %s", strsignal(signum),
            type == PX_MSG_DRAIN ? "draining (a second signal exits at once)" : "exiting now");
    if (s->stop_signals == 1) {
        px_notify_stopping();
        ops_stop(s); /* no reloads while draining */
    }
    for (unsigned i = 0; i < s->n_workers; i++)
        px_worker_post(&s->workers[i], type, NULL);
}

static void on_usr1(uv_signal_t *h, int signum)
{
    struct px_server *s;
    PX_CAST(s, (struct px_server *)h->data, PX_SERVER_MAGIC);
    char err[256];
    if (px_access_log_reopen(s->access_log, err, sizeof err) != 0)
        px_err("SIGUSR1: %s (still writing to the old file)", err);
    else
        px_info("SIGUSR1: log files reopened");
}

static void on_hup(uv_signal_t *h, int signum)
{
    struct px_server *s;
    PX_CAST(s, (struct px_server *)h->data, PX_SERVER_MAGIC);
    px_info("SIGHUP: reloading the configuration and certificates");
    px_reload_start(&s->reload, "SIGHUP", true, NULL, NULL);
}

/* Runs on a worker thread as it exits. */
static void on_worker_exit(struct px_worker *w, void *arg)
{
    struct px_server *s;
    PX_CAST(s, (struct px_server *)arg, PX_SERVER_MAGIC);
    atomic_fetch_add(&s->exited, 1);
    uv_async_send(&s->worker_exit);
}

static void on_worker_exit_main(uv_async_t *a)
{
    struct px_server *s;
    PX_CAST(s, (struct px_server *)a->data, PX_SERVER_MAGIC);
    if (atomic_load(&s->exited) < s->n_workers)
        return;
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    uv_close((uv_handle_t *)&s->sig_hup, NULL);
    uv_close((uv_handle_t *)&s->sig_usr1, NULL);
    uv_close((uv_handle_t *)&s->worker_exit, NULL);
    uv_close((uv_handle_t *)&s->collect_done, NULL);
    px_reload_stop(&s->reload);
    px_admin_api_stop(s);
    ops_stop(s);
}

/* ---- startup ---- */

static int build_first_snapshot(struct px_server *s)
{
    struct cs_diag d;
    cs_diag_init(&d);
    int r = cs_snapshot_build(&s->cfg->certs, NULL, &d, &s->snap);
    px_log_findings(&d);
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
    uv_signal_init(&s->loop, &s->sig_usr1);
    s->sig_term.data = s->sig_int.data = s->sig_hup.data = s->sig_usr1.data = s;
    uv_signal_start(&s->sig_usr1, on_usr1, SIGUSR1);
    uv_signal_start(&s->sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&s->sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&s->sig_hup, on_hup, SIGHUP);
    uv_async_init(&s->loop, &s->worker_exit, on_worker_exit_main);
    s->worker_exit.data = s;
    uv_async_init(&s->loop, &s->collect_done, px_admin_api_collect_done);
    s->collect_done.data = s;
    px_reload_init(&s->reload, s);
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
    s->snap = NULL;
    px_reload_free(&s->reload);
    ops_stop(s);
    uv_run(&s->loop, UV_RUN_DEFAULT); /* close callbacks of the watcher and timers */
    px_tickets_free(s->tickets);      /* after every context using it is gone */
    uv_loop_close(&s->loop);
    px_config_release(s->cfg);
}

int px_server_run(struct px_config *cfg)
{
    struct px_server s;
    memset(&s, 0, sizeof s);
    s.magic = PX_SERVER_MAGIC;
    s.cfg = cfg;
    s.n_workers = cfg->workers ? cfg->workers : 1;
    px_log_set_level((enum px_log_level)cfg->log_level);
    signal(SIGPIPE, SIG_IGN);
    cfg->certs.ctx_setup = px_tls_ctx_setup;
    uv_loop_init(&s.loop);
    char err[256] = "";
    if (ops_start(&s) != 0 || build_first_snapshot(&s) != 0) {
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
    s.started = time(NULL);
    int rc = px_admin_api_start(&s);
    if (rc == 0)
        rc = start_workers(&s);
    else
        s.n_workers = 0;
    if (rc != 0) {
        for (unsigned i = 0; i < s.n_workers; i++)
            px_worker_post(&s.workers[i], PX_MSG_ABORT, NULL);
        if (s.n_workers == 0)
            on_worker_exit_main(&s.worker_exit);
    } else {
        log_started(&s);
        px_server_watch_refresh(&s);
        px_notify_ready();
        px_notify_status("serving generation %llu",
                         (unsigned long long)cs_snapshot_generation(s.snap));
    }
    uv_run(&s.loop, UV_RUN_DEFAULT);
    for (unsigned i = 0; i < s.n_workers; i++)
        px_worker_join(&s.workers[i]);
    server_free(&s);
    if (rc == 0)
        px_info("stopped");
    return rc == 0 ? 0 : 1;
}
