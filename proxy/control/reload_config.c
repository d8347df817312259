/* The configuration side of a reload (SIGHUP, POST /reload, `twofold reload`): re-read
 * the config file on the main thread, reject it whole when it has any error (the running
 * config keeps serving), carry over the settings that need a restart, and after the
 * certificate build bind the listeners it adds and post it to every worker together with
 * the new snapshot. Listeners whose address is unchanged keep their sockets; removed ones
 * close while their connections finish. */
#include "px_log.h"
#include "px_server_internal.h"
#include "px_tls.h"
#include "px_listener.h"
#include "px_reload.h"

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

int px_reload_publish_config(struct px_server *s, struct px_config *nc, struct cs_snapshot *snap,
                             char *err, size_t errlen)
{
    int **fds = bind_new_listeners(s, nc, err, errlen);
    if (!fds)
        return -1;
    for (unsigned w = 0; w < s->n_workers; w++)
        px_worker_post_config(&s->workers[w], px_config_ref(nc), cs_snapshot_ref(snap), fds[w]);
    free(fds);
    px_log_set_level((enum px_log_level)nc->log_level);
    px_config_release(s->cfg);
    s->cfg = nc;
    return 0;
}
