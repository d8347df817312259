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
#include "px_check.h"
#include "px_config.h"
#include "px_reload.h"
#include "px_worker.h"

struct px_admin;
struct px_admin_req;
struct px_access_log;

#define PX_SERVER_MAGIC 0x73727672u

struct px_server {
    PX_MAGIC_FIELD;
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

    struct px_reload reload; /* reload.c's state */

    struct px_collect *collects; /* /metrics collections in flight */

    struct px_watch *watch;     /* certificate watcher (server.c), NULL when watch = off */
    struct px_tickets *tickets; /* session ticket keys, outside snapshots */
    uv_timer_t ticket_timer;
};

/* Re-arms the certificate watcher over the files of the live snapshot (after a reload);
 * a no-op when watch = off or while draining. */
void px_server_watch_refresh(struct px_server *s);

#endif
