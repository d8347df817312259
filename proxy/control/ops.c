/* Operations around the main loop: the certificate watcher (a change to any certificate
 * file or directory in use triggers a reload), session ticket key rotation on a timer,
 * and systemd's notify protocol (READY/RELOADING/STOPPING, status text). */
#include "px_log.h"
#include "px_notify.h"
#include "px_server_internal.h"
#include "px_tickets.h"
#include "px_watch.h"
#include "px_reload.h"
#include "px_ops.h"

#include <stdlib.h>

static void on_watch(void *arg)
{
    struct px_server *s = arg;
    px_debug("certificate files changed: reloading"); /* the reload logs what changed */
    px_reload_start(s, "watch", false, NULL);
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

void px_ops_watch_refresh(struct px_server *s)
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
    struct px_server *s = t->data;
    if (s->cfg->ticket_key_file) {
        char err[256];
        if (px_tickets_reload_file(s->tickets, err, sizeof err) != 0)
            px_err("ticket keys: %s (keeping the current keys)", err);
    } else if (px_tickets_rotate(s->tickets) != 0) {
        px_err("ticket keys: rotation failed (keeping the current keys)");
    }
}

/* Called before the first snapshot is built: contexts get the ticket ring installed. */
int px_ops_start(struct px_server *s)
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

void px_ops_stop(struct px_server *s)
{
    if (s->watch)
        px_watch_close(s->watch, NULL, NULL);
    s->watch = NULL;
    if (s->tickets && !uv_is_closing((uv_handle_t *)&s->ticket_timer))
        uv_close((uv_handle_t *)&s->ticket_timer, NULL);
}
