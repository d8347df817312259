/* The main thread's state, shared by server.c (startup, signals, shutdown), reload.c
 * (building and publishing snapshots) and admin_api.c (the admin endpoint). Everything
 * here is touched on the main thread only. */
#ifndef TWOFOLD_PX_SERVER_INTERNAL_H
#define TWOFOLD_PX_SERVER_INTERNAL_H

#include <stdatomic.h>
#include <time.h>
#include <uv.h>

#include "cs.h"
#include "px_config.h"
#include "px_http1.h"
#include "px_worker.h"

struct px_admin;
struct px_admin_req;
struct px_access_log;

enum px_reload_outcome {
    PX_RELOAD_APPLIED = 0, /* exit code of `twofold reload` too */
    PX_RELOAD_FAILED = 1,
    PX_RELOAD_PARTIAL = 2, /* applied, but some sites were refused or kept old certs */
};
const char *px_reload_outcome_name(enum px_reload_outcome o);

struct px_reload_site {
    char *site;
    enum cs_site_status status;
};

/* What the last reload did, for logs, /certs, /metrics and `twofold reload`. */
struct px_reload_result {
    uint64_t seq; /* 0: no reload yet */
    time_t at;
    const char *trigger; /* "SIGHUP", "admin", "watch" */
    enum px_reload_outcome outcome;
    uint64_t generation;          /* live generation after it */
    struct px_buf summary_json;   /* {"outcome":..,"generation":..,"sites":[..],"findings":[..]} */
    struct px_buf summary_text;   /* the same, one line per site / finding, for people */
    struct px_reload_site *sites; /* per-site status, for /metrics */
    size_t n_sites;
};

/* An admin request waiting for a reload to finish. */
struct px_reload_waiter {
    struct px_reload_waiter *next;
    struct px_admin_req *req;
};

struct px_server {
    struct px_config *cfg;
    uv_loop_t loop;
    uv_signal_t sig_term, sig_int, sig_hup, sig_usr1;
    uv_async_t worker_exit;
    uv_async_t collect_done;
    struct px_worker *workers;
    unsigned n_workers;
    atomic_uint exited;
    struct cs_snapshot *snap; /* the live snapshot (the main thread's reference) */
    struct px_access_log *access_log;
    struct px_admin *admin;
    unsigned stop_signals;
    time_t started;

    /* reload: at most one build at a time; triggers during a build queue one more */
    bool reload_running, reload_again;
    uv_work_t reload_work;
    struct cs_snapshot *reload_result;
    struct cs_diag reload_diag;
    struct cs_reload_report reload_report;
    struct px_config *reload_cfg; /* a re-read config the running build uses, or NULL */
    bool reload_next_reread;      /* the queued build re-reads the config file */
    int reload_rc;
    uv_timer_t retry_timer; /* half-written renewals: retry with backoff */
    uint64_t retry_since;   /* loop time of the first PENDING result, 0: none */
    unsigned retry_delay_ms;
    struct px_reload_waiter *waiting_retry; /* answered when the retries settle */
    const char *reload_trigger, *reload_next_trigger;
    struct px_reload_waiter *waiting_now;  /* answered by the running build */
    struct px_reload_waiter *waiting_next; /* answered by the queued build */
    struct px_reload_result last_reload;
    uint64_t reloads[3]; /* by outcome */

    struct px_collect *collects; /* /metrics collections in flight */

    struct px_watch *watch;     /* certificate watcher (ops.c), NULL when watch = off */
    struct px_tickets *tickets; /* session ticket keys, outside snapshots */
    uv_timer_t ticket_timer;
};

/* reload.c: reread re-reads the config file too (SIGHUP, POST /reload); the watcher
 * and retries reload certificates only. */
void px_reload_start(struct px_server *s, const char *trigger, bool reread,
                     struct px_admin_req *waiter);
void px_reload_result_free(struct px_reload_result *r);
void px_log_findings(const struct cs_diag *d);

/* reload_config.c */
int px_reload_read_config(struct px_server *s, struct px_config **out,
                          struct px_config_errors *errs);
int px_reload_publish_config(struct px_server *s, struct px_config *nc, struct cs_snapshot *snap,
                             char *err, size_t errlen);

/* ops.c: the certificate watcher, ticket key rotation, systemd notification */
int px_ops_start(struct px_server *s);
void px_ops_stop(struct px_server *s);
/* Re-arms the watcher over the files of the live snapshot (after a reload). */
void px_ops_watch_refresh(struct px_server *s);

/* admin_api.c */
int px_admin_api_start(struct px_server *s);
void px_admin_api_stop(struct px_server *s);
void px_admin_api_collect_done(uv_async_t *a);
void px_admin_api_reload_answer(struct px_server *s, struct px_reload_waiter *list);

#endif
