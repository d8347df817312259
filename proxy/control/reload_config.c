/* The configuration side of a reload (SIGHUP, POST /reload, `twofold reload`): re-read
 * the config file on the main thread, reject it whole when it has any error (the running
 * config keeps serving), carry over the settings that need a restart.
 *
 * Then, after the certificate build, the prepare / publish pair. px_reload_prepare does
 * everything that can fail before the decision to publish: it binds the listeners a new
 * config adds and allocates every worker's message with its new generation; a failure
 * there rejects the reload and nothing changes. px_reload_publish only moves pointers:
 * it links the prepared messages into the inboxes and swaps the server's config and
 * snapshot, and returns void. Listeners whose address is unchanged keep their sockets;
 * removed ones close while their connections finish. */
#include "px_log.h"
#include "px_server_internal.h"
#include "px_tls.h"
#include "px_listener.h"
#include "px_reload.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void keep_str(char **dst, char *const *src)
{
    free(*dst);
    *dst = *src ? strdup(*src) : NULL;
}

/* Settings a running process cannot change: keep the running values, say so. */
static void carry_over(const struct px_config *old, struct px_config *nc)
{
    char changed[256] = "";
    size_t off = 0;
#define NOTE(name)                                                                                 \
    off += (size_t)snprintf(changed + off, sizeof changed - (off < sizeof changed ? off : 0),      \
                            "%s%s", off ? ", " : "", name)
    if (old->workers != nc->workers)
        NOTE("workers");
    if (old->admin_enabled != nc->admin_enabled || strcmp(old->admin.text, nc->admin.text) ||
        !str_eq(old->admin_token, nc->admin_token))
        NOTE("admin");
    if (old->access_log != nc->access_log || !str_eq(old->access_log_path, nc->access_log_path))
        NOTE("access_log");
    if (!str_eq(old->ticket_key_file, nc->ticket_key_file) ||
        old->ticket_rotate_ms != nc->ticket_rotate_ms)
        NOTE("ticket keys");
#undef NOTE
    if (off)
        px_warn("config reload: %s need a restart to change; keeping the running values", changed);
    nc->workers = old->workers;
    nc->admin_enabled = old->admin_enabled;
    nc->admin = old->admin;
    keep_str(&nc->admin_token, &old->admin_token);
    nc->access_log = old->access_log;
    keep_str(&nc->access_log_path, &old->access_log_path);
    keep_str(&nc->ticket_key_file, &old->ticket_key_file);
    nc->ticket_rotate_ms = old->ticket_rotate_ms;
}

int px_reload_read_config(struct px_server *s, struct px_config **out,
                          struct px_config_errors *errs)
{
    *out = NULL;
    if (!s->cfg->path)
        return 0; /* sidecar mode: the flags cannot change */
    struct px_config *nc = NULL;
    /* Certificate files are judged per site by the rebuild (a deleted or half-written
     * renewal keeps that site's live certificates): no file checks here, or one missing
     * file would reject every site's change. */
    if (px_config_load_file_ex(s->cfg->path, PX_CONFIG_NO_FILE_CHECKS, &nc, errs) != 0) {
        for (size_t i = 0; i < errs->n; i++)
            px_err("config reload: %s", errs->msgs[i]);
        px_err("config reload: %s rejected (%zu error(s)); the running config keeps serving",
               s->cfg->path, errs->n);
        return -1;
    }
    carry_over(s->cfg, nc);
    nc->certs.ctx_setup = px_tls_ctx_setup;
    nc->certs.ctx_setup_arg = s->tickets;
    *out = nc;
    return 0;
}

static bool had_listener(const struct px_config *old, const struct px_addr *a)
{
    for (size_t i = 0; i < old->n_listeners; i++)
        if (old->listeners[i].addr.len == a->len &&
            memcmp(&old->listeners[i].addr.ss, &a->ss, a->len) == 0)
            return true;
    return false;
}

static void close_fds(int **fds, unsigned n_workers, size_t n)
{
    for (unsigned w = 0; w < n_workers; w++) {
        for (size_t i = 0; fds[w] && i < n; i++)
            if (fds[w][i] >= 0)
                close(fds[w][i]);
        free(fds[w]);
    }
    free(fds);
}

/* One fds array per worker: -1 for kept listeners, a bound socket for new ones. */
static int **bind_new_listeners(struct px_server *s, const struct px_config *nc, char *err,
                                size_t errlen)
{
    size_t n = nc->n_listeners;
    int **fds = calloc(s->n_workers + 1, sizeof *fds);
    for (unsigned w = 0; fds && w < s->n_workers; w++) {
        fds[w] = malloc((n + 1) * sizeof **fds);
        if (!fds[w]) {
            close_fds(fds, s->n_workers, n);
            fds = NULL;
            break;
        }
        for (size_t i = 0; i < n; i++)
            fds[w][i] = -1;
    }
    if (!fds) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (unsigned w = 0; w < s->n_workers; w++) {
        for (size_t i = 0; i < n; i++) {
            const struct px_listener_conf *lc = &nc->listeners[i];
            if (had_listener(s->cfg, &lc->addr))
                continue;
            fds[w][i] = px_listen_socket(&lc->addr, err, errlen);
            if (fds[w][i] < 0) {
                close_fds(fds, s->n_workers, n);
                return NULL;
            }
        }
    }
    return fds;
}

void px_reload_prep_discard(struct px_reload_prep *p)
{
    for (size_t w = 0; p->msgs && w < p->n_msgs; w++)
        px_worker_msg_free(p->msgs[w]);
    free(p->msgs);
    memset(p, 0, sizeof *p);
}

/* One message per worker: the snapshot alone, or the config with its generation and the
 * worker's new listener sockets (fds, consumed entry by entry). */
static int prepare_msgs(struct px_server *s, struct px_reload_prep *p, int **fds)
{
    for (unsigned w = 0; w < s->n_workers; w++) {
        p->msgs[w] = p->cfg ? px_worker_msg_config(&s->workers[w], p->cfg, p->snap, fds[w])
                            : px_worker_msg_snapshot(p->snap);
        if (!p->msgs[w])
            return -1;
        if (fds)
            fds[w] = NULL; /* the message owns it now */
    }
    return 0;
}

int px_reload_prepare(struct px_server *s, struct cs_snapshot *snap, struct px_config *nc,
                      struct px_reload_prep *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->snap = snap;
    p->cfg = nc;
    if (snap == s->snap && !nc)
        return 0; /* nothing changed: nothing to post */
    p->n_msgs = s->n_workers;
    p->msgs = calloc(p->n_msgs + 1, sizeof *p->msgs);
    int **fds = NULL;
    if (!p->msgs) {
        snprintf(err, errlen, "out of memory");
    } else if (nc && !(fds = bind_new_listeners(s, nc, err, errlen))) {
        /* err says which listener */
    } else if (prepare_msgs(s, p, fds) != 0) {
        snprintf(err, errlen, "out of memory");
    } else {
        free(fds); /* every entry went into a message */
        return 0;
    }
    if (fds)
        close_fds(fds, s->n_workers, nc->n_listeners);
    px_reload_prep_discard(p);
    return -1;
}

void px_reload_publish(struct px_server *s, struct px_reload_prep *p)
{
    assert(p->snap && (p->msgs || (p->snap == s->snap && !p->cfg)));
    for (size_t w = 0; p->msgs && w < p->n_msgs; w++)
        px_worker_post_prepared(&s->workers[w], p->msgs[w]);
    free(p->msgs);
    if (p->cfg) {
        px_log_set_level((enum px_log_level)p->cfg->log_level);
        px_config_release(s->cfg);
        s->cfg = p->cfg;
    }
    cs_snapshot_release(s->snap); /* the same one when nothing changed: the rebuild's ref */
    s->snap = p->snap;
    memset(p, 0, sizeof *p);
}
