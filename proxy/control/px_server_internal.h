/* The main thread's state (struct px_server), owned by server.c (startup, signals,
 * shutdown) and read and written by the other control files: reload (building and
 * publishing snapshots) and admin_api (the admin endpoint). Everything here is touched on the main
 * thread only. */
#ifndef TWOFOLD_PX_SERVER_INTERNAL_H
#define TWOFOLD_PX_SERVER_INTERNAL_H

#include <stdatomic.h>
#include <time.h>
#include <uv.h>

#include "cs.h"
#include "px_config.h"
#include "px_reload.h"
#include "px_worker.h"

struct px_admin;
struct px_admin_req;
struct px_access_log;

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

    struct px_watch *watch;     /* certificate watcher (server.c), NULL when watch = off */
    struct px_tickets *tickets; /* session ticket keys, outside snapshots */
    uv_timer_t ticket_timer;
};

/* Re-arms the certificate watcher over the files of the live snapshot (after a reload);
 * a no-op when watch = off or while draining. */
void px_server_watch_refresh(struct px_server *s);

#endif
