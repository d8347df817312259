/* Reloads (reload.c: certificates, reload_config.c: the config file), their outcome for
 * logs, /certs, /metrics and `twofold reload`, and the admin requests waiting for one.
 * Main thread only. */
#ifndef TWOFOLD_PX_RELOAD_H
#define TWOFOLD_PX_RELOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "cs.h"
#include "px_buf.h"
#include "px_check.h"
#include "px_config.h"
#include "px_log.h"

struct px_server;
struct px_msg;

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
    bool changed;                 /* a new snapshot was published (false: the same one serves) */
    bool reread;                  /* a re-read config was published */
    struct px_buf summary_json;   /* {"outcome":..,"generation":..,"sites":[..],"findings":[..]} */
    struct px_buf summary_text;   /* the same, one line per site / finding, for people */
    struct px_reload_site *sites; /* per-site status, for /metrics */
    size_t n_sites;
};

/* Called once, on the main thread, when the reload a start asked for has settled (after
 * its retries, if a renewal was half-written): r is the last reload's result; r->seq == 0
 * when none ran because the server is shutting down; r == NULL when the caller could not
 * be queued (out of memory). The reload layer answers nobody itself: whoever waits (the
 * admin endpoint's POST /reload) renders r. */
typedef void (*px_reload_done_cb)(const struct px_reload_result *r, void *arg);

/* One caller waiting for a reload to settle. */
struct px_reload_waiter {
    struct px_reload_waiter *next;
    px_reload_done_cb done;
    void *arg;
};

#define PX_RELOAD_MAGIC 0x72656c31u

/* idle -> building (the thread pool runs the snapshot build) -> publishing (main thread:
 * prepare, decide, publish, report) -> idle. A config file with errors goes from idle
 * back to idle without a build. */
enum px_reload_state {
    PX_RELOAD_IDLE,
    PX_RELOAD_BUILDING,
    PX_RELOAD_PUBLISHING,
};

/* The reload machinery's own state, owned by reload.c; embedded in the server it
 * reloads (s), whose live snapshot and config it replaces. Main thread only, except
 * that a build on the thread pool writes result, diag, report and rc. At most one build
 * at a time; triggers during a build queue exactly one more. */
struct px_reload {
    PX_MAGIC_FIELD;
    struct px_server *s;
    enum px_reload_state state;
    bool again; /* a trigger arrived during the build: one more follows */
    uv_work_t work;
    struct cs_snapshot *result; /* the build's snapshot (one reference), or NULL */
    struct cs_diag diag;
    struct cs_reload_report report;
    int rc;
    struct px_config *cfg; /* a re-read config the running build uses, or NULL */
    bool next_reread;      /* the queued build re-reads the config file */
    const char *trigger, *next_trigger;
    uv_timer_t retry_timer; /* half-written renewals: retry with backoff */
    uint64_t retry_since;   /* loop time of the first PENDING result, 0: none */
    unsigned retry_delay_ms;
    struct px_reload_waiter *waiting_now;   /* answered by the running build */
    struct px_reload_waiter *waiting_next;  /* answered by the queued build */
    struct px_reload_waiter *waiting_retry; /* answered when the retries settle */
    struct px_reload_result last;           /* what the last reload did */
    uint64_t counts[3];                     /* reloads by outcome */
};

/* Main thread, before any start: s's loop gets the retry timer. */
void px_reload_init(struct px_reload *r, struct px_server *s);
/* Closes the retry timer (its close callback runs on the next loop turn). */
void px_reload_stop(struct px_reload *r);
/* After the loop has run the close callbacks: frees the last result and a re-read
 * config still held. */
void px_reload_free(struct px_reload *r);

/* reread re-reads the config file too (SIGHUP, POST /reload); the watcher and retries
 * reload certificates only. done (NULL: nobody waits) is called once with the outcome of
 * a build that starts after this call. */
void px_reload_start(struct px_reload *r, const char *trigger, bool reread, px_reload_done_cb done,
                     void *arg);
void px_reload_result_free(struct px_reload_result *r);
void px_log_findings(const struct cs_diag *d);
/* The same, no finding logged at a more severe level than floor (PX_LOG_DEBUG: all at
 * debug). */
void px_log_findings_at(const struct cs_diag *d, enum px_log_level floor);

/* The config file half of a reload (reload_config.c). */
int px_reload_read_config(struct px_server *s, struct px_config **out,
                          struct px_config_errors *errs);

/* What a publish needs, all prepared: the snapshot and config it installs and one message
 * per worker with every allocation and bind already done. */
struct px_reload_prep {
    struct cs_snapshot *snap; /* one reference, installed as the live snapshot */
    struct px_config *cfg;    /* a re-read config (one reference), or NULL */
    struct px_msg **msgs;     /* one per worker; NULL: nothing to post (nothing changed) */
    size_t n_msgs;
};
/* Before the decision to publish snap (one reference) and nc (a re-read config or NULL):
 * binds nc's new listeners and prepares every worker's message. -1 with err filled (which
 * listener, or out of memory): nothing changed, snap and nc stay the caller's. On 0 the
 * prep holds them until px_reload_publish (or px_reload_prep_discard, which gives them
 * back to the caller). */
int px_reload_prepare(struct px_server *s, struct cs_snapshot *snap, struct px_config *nc,
                      struct px_reload_prep *p, char *err, size_t errlen);
/* Publishes a prepared reload; only moves pointers, cannot fail. Takes everything p holds. */
void px_reload_publish(struct px_server *s, struct px_reload_prep *p);
/* Frees p's messages (closing their sockets); snap and cfg stay the caller's. */
void px_reload_prep_discard(struct px_reload_prep *p);

#endif
