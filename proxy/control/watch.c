/* Directory watcher with debounce and a polling fallback; see px_watch.h. */
#include "px_watch.h"
#include "px_check.h"
#include "px_vec.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "px_log.h"

struct strlist { /* a PX_VEC of owned strings */
    char **v;
    size_t n, cap;
};

#define WDIR_MAGIC  0x77646972u
#define WATCH_MAGIC 0x77617463u

struct wdir {
    PX_MAGIC_FIELD;
    uv_fs_event_t ev; /* ev.data = this */
    struct px_watch *w;
    char *path;           /* resolved directory */
    struct strlist names; /* entries whose events count (struct want) */
    bool entries;         /* also every cert_entry() and subdirectory */
    bool keep;            /* still wanted, during rearm */
};

struct px_watch {
    PX_MAGIC_FIELD;
    uv_loop_t *loop;
    char **paths;
    uint64_t *sigs; /* polling signature per path */
    size_t n;
    unsigned debounce_ms, poll_ms, flags;
    px_watch_cb cb;
    void *arg;
    uv_timer_t debounce, poll; /* data = this */
    PX_VEC(struct wdir *) dirs;
    unsigned pending; /* handles whose close callback has not run yet */
    bool closing;
    void (*closed_cb)(void *);
    void *closed_arg;
};

/* ---- what is watched: directories, and the names in them that matter ---- */

/* One directory to watch and which of its entries' events mean "maybe changed": the names
 * recorded, and with `entries` (a cert_dir or one of its subdirectories) also every entry
 * the directory loader could pick up (see cert_entry). */
struct want {
    char *dir; /* resolved */
    struct strlist names;
    bool entries;
};

struct wantlist { /* a PX_VEC */
    struct want *v;
    size_t n, cap;
};

static void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static bool strlist_has(const struct strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

/* Adds a copy of s unless present (out of memory: left out, the poll still sees it). */
static void strlist_add(struct strlist *l, const char *s)
{
    if (strlist_has(l, s))
        return;
    if (px_vec_reserve(l, l->n + 1) == 0 && (l->v[l->n] = strdup(s)) != NULL)
        l->n++;
}

static void wantlist_free(struct wantlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].dir);
        strlist_free(&l->v[i].names);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* The entry for dir (resolved here), created when new; NULL when dir does not exist. */
static struct want *want_dir(struct wantlist *l, const char *dir)
{
    char *real = realpath(dir, NULL);
    if (!real)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].dir, real) == 0) {
            free(real);
            return &l->v[i];
        }
    }
    struct want *w = px_vec_push(l);
    if (!w) {
        free(real);
        return NULL;
    }
    memset(w, 0, sizeof(*w));
    w->dir = real;
    return w;
}

/* The literal parent of path ("." for a bare name). */
static void parent_of(const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash)
        snprintf(buf, len, ".");
    else if (slash == buf)
        buf[1] = '\0';
    else
        *slash = '\0';
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* An entry of a cert_dir whose change may change what the directory loader finds: the
 * certificate and key files it considers (X.crt, X.pem, X.key; certbot's fullchain.pem
 * and privkey.pem are .pem) and Kubernetes' ..data link; other dot entries (editor swap
 * files, ..data_tmp) and other names (access logs, backups "x.pem~") are not. Directories
 * are checked by the caller. */
bool px_watch_cert_entry(const char *name)
{
    if (strcmp(name, "..data") == 0)
        return true;
    if (name[0] == '.')
        return false;
    const char *ext = strrchr(name, '.');
    return ext &&
           (strcmp(ext, ".crt") == 0 || strcmp(ext, ".pem") == 0 || strcmp(ext, ".key") == 0);
}

/* Records path's name in the directory holding it, then follows its symlinks: the file
 * itself (certbot's live/NAME/fullchain.pem -> ../../archive/NAME/fullchainN.pem), the
 * directory holding it (Kubernetes' ..data -> ..TIMESTAMP) and the final target, each
 * recorded the same way. depth bounds symlink loops. */
static void add_path(struct wantlist *l, const char *path, int depth)
{
    char parent[PATH_MAX];
    struct stat st;
    parent_of(path, parent, sizeof(parent));
    struct want *w = want_dir(l, parent);
    if (w)
        strlist_add(&w->names, base_of(path));
    if (depth <= 0)
        return;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        char target[PATH_MAX], next[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            int len = target[0] == '/' ? snprintf(next, sizeof(next), "%s", target)
                                       : snprintf(next, sizeof(next), "%s/%s", parent, target);
            if (len > 0 && len < (int)sizeof(next))
                add_path(l, next, depth - 1);
        }
    }
    if (lstat(parent, &st) == 0 && S_ISLNK(st.st_mode))
        add_path(l, parent, depth - 1);
    char *real = realpath(path, NULL);
    if (real) {
        add_path(l, real, 0);
        free(real);
    }
}

#define LINK_DEPTH 8

/* A cert_dir or one of its subdirectories, depth levels deep: every entry the loader may
 * pick up counts, with the symlink targets of those entries; subdirectory names are
 * recorded so that their removal is seen. */
static void add_tree(struct wantlist *l, const char *dir, int depth)
{
    struct want *w = want_dir(l, dir);
    if (!w)
        return;
    w->entries = true;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char full[PATH_MAX];
        struct stat st;
        if (snprintf(full, sizeof(full), "%s/%s", dir, e->d_name) >= (int)sizeof(full) ||
            stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if ((w = want_dir(l, dir)) != NULL) /* the list may have moved */
                strlist_add(&w->names, e->d_name);
            if (depth > 0)
                add_tree(l, full, depth - 1);
        } else if (px_watch_cert_entry(e->d_name)) {
            add_path(l, full, LINK_DEPTH);
        }
    }
    closedir(d);
}

static void compute_wants(const struct px_watch *w, struct wantlist *l)
{
    for (size_t i = 0; i < w->n; i++) {
        struct stat st;
        add_path(l, w->paths[i], LINK_DEPTH); /* a cert_dir too: it may be replaced by rename */
        if (stat(w->paths[i], &st) == 0 && S_ISDIR(st.st_mode))
            add_tree(l, w->paths[i], 1);
    }
}

/* ---- polling signatures ---- */

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t sig_stat(const char *path, const char *name)
{
    uint64_t h = fnv(0xcbf29ce484222325ULL, name, strlen(name));
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        return fnv(h, &e, sizeof(e));
    }
    /* A directory's size and mtime change with every entry written in it (an access log):
     * only its identity counts, its entries are summed on their own. */
    bool dir = S_ISDIR(st.st_mode);
    uint64_t v[6] = {st.st_dev,
                     st.st_ino,
                     dir ? 0 : (uint64_t)st.st_size,
                     dir ? 0 : (uint64_t)st.st_mtim.tv_sec,
                     dir ? 0 : (uint64_t)st.st_mtim.tv_nsec,
                     st.st_mode};
    return fnv(h, v, sizeof(v));
}

/* Order-independent (sum) signature of a directory's entries, depth levels deep. */
static uint64_t sig_tree(const char *dir, int depth)
{
    uint64_t sum = sig_stat(dir, "");
    DIR *d = opendir(dir);
    if (!d)
        return sum;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char full[PATH_MAX];
        struct stat st;
        if (snprintf(full, sizeof(full), "%s/%s", dir, e->d_name) >= (int)sizeof(full))
            continue;
        bool is_dir = stat(full, &st) == 0 && S_ISDIR(st.st_mode);
        if (!is_dir && !px_watch_cert_entry(e->d_name))
            continue; /* the same entries as events: an access log here is no change */
        sum += sig_stat(full, e->d_name);
        if (depth > 0 && is_dir)
            sum += fnv(sig_tree(full, depth - 1), e->d_name, strlen(e->d_name));
    }
    closedir(d);
    return sum;
}

static uint64_t sig_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return sig_tree(path, 1);
    return sig_stat(path, "");
}

/* Recomputes every signature; returns whether any changed. */
static bool refresh_sigs(struct px_watch *w)
{
    bool changed = false;
    for (size_t i = 0; i < w->n; i++) {
        uint64_t s = sig_path(w->paths[i]);
        changed |= s != w->sigs[i];
        w->sigs[i] = s;
    }
    return changed;
}

/* ---- handles ---- */

static void maybe_free(struct px_watch *w)
{
    if (!w->closing || w->pending)
        return;
    void (*closed_cb)(void *) = w->closed_cb;
    void *arg = w->closed_arg;
    for (size_t i = 0; i < w->n; i++)
        free(w->paths[i]);
    free(w->paths);
    free(w->sigs);
    px_vec_free(&w->dirs);
    w->magic = 0;
    free(w);
    if (closed_cb)
        closed_cb(arg);
}

static void dir_closed(uv_handle_t *h)
{
    struct wdir *d;
    PX_CAST(d, (struct wdir *)h->data, WDIR_MAGIC);
    struct px_watch *w = d->w;
    free(d->path);
    strlist_free(&d->names);
    d->magic = 0;
    free(d);
    w->pending--;
    maybe_free(w);
}

static void timer_closed(uv_handle_t *h)
{
    struct px_watch *w;
    PX_CAST(w, (struct px_watch *)h->data, WATCH_MAGIC);
    w->pending--;
    maybe_free(w);
}

static void arm_debounce(struct px_watch *w);

/* Whether an event on entry `name` of d may change a certificate in use (see struct want).
 * An event on the watched directory itself carries the directory's own name. */
static bool relevant(const struct wdir *d, const char *name)
{
    if (!name || !name[0] || strlist_has(&d->names, name) || strcmp(name, base_of(d->path)) == 0)
        return true;
    if (!d->entries)
        return false;
    if (px_watch_cert_entry(name))
        return true;
    char full[PATH_MAX];
    struct stat st;
    return name[0] != '.' &&
           snprintf(full, sizeof(full), "%s/%s", d->path, name) < (int)sizeof(full) &&
           stat(full, &st) == 0 && S_ISDIR(st.st_mode); /* a new subdirectory (lineage) */
}

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct wdir *d;
    PX_CAST(d, (struct wdir *)h->data, WDIR_MAGIC);
    (void)events;
    if (d->w->closing)
        return;
    if (status < 0) {
        px_debug("watch %s: %s", d->path, uv_strerror(status));
    } else if (!relevant(d, filename)) {
        return; /* an access log, an editor's temporary file: no reload */
    } else {
        px_debug("watch %s: %s changed", d->path, filename ? filename : "(no name)");
    }
    arm_debounce(d->w);
}

static void dir_close(struct px_watch *w, struct wdir *d)
{
    w->pending++;
    uv_close((uv_handle_t *)&d->ev, dir_closed);
}

/* Starts watching want->dir, taking over its names; on failure the directory is left to
 * polling. */
static void dir_open(struct px_watch *w, struct want *want)
{
    if (px_vec_reserve(&w->dirs, w->dirs.n + 1) != 0)
        return;
    struct wdir *d = calloc(1, sizeof(*d));
    if (!d || !(d->path = strdup(want->dir))) {
        free(d);
        return;
    }
    d->magic = WDIR_MAGIC;
    d->w = w;
    d->keep = true;
    d->names = want->names;
    d->entries = want->entries;
    memset(&want->names, 0, sizeof(want->names));
    int rc = uv_fs_event_init(w->loop, &d->ev);
    if (rc != 0) {
        free(d->path);
        strlist_free(&d->names);
        free(d);
        return;
    }
    d->ev.data = d;
    rc = uv_fs_event_start(&d->ev, on_event, d->path, 0);
    if (rc != 0) {
        px_debug("watch %s: %s (polling only)", d->path, uv_strerror(rc));
        dir_close(w, d);
        return;
    }
    w->dirs.v[w->dirs.n++] = d;
}

/* Recomputes the directory set and the names that count in each: keeps watches still
 * wanted (with their new names), opens new ones, closes the rest. */
static void rearm(struct px_watch *w)
{
    if (w->flags & PX_WATCH_NO_EVENTS)
        return;
    struct wantlist want = {0};
    compute_wants(w, &want);
    for (size_t i = 0; i < w->dirs.n; i++)
        w->dirs.v[i]->keep = false;
    for (size_t j = 0; j < want.n; j++) {
        size_t i = 0;
        while (i < w->dirs.n && strcmp(w->dirs.v[i]->path, want.v[j].dir) != 0)
            i++;
        if (i == w->dirs.n) {
            dir_open(w, &want.v[j]);
            continue;
        }
        struct wdir *d = w->dirs.v[i];
        d->keep = true;
        strlist_free(&d->names);
        d->names = want.v[j].names;
        d->entries = want.v[j].entries;
        memset(&want.v[j].names, 0, sizeof(want.v[j].names));
    }
    size_t kept = 0;
    for (size_t i = 0; i < w->dirs.n; i++) {
        if (w->dirs.v[i]->keep)
            w->dirs.v[kept++] = w->dirs.v[i];
        else
            dir_close(w, w->dirs.v[i]);
    }
    w->dirs.n = kept;
    wantlist_free(&want);
}

static void on_debounce(uv_timer_t *t)
{
    struct px_watch *w;
    PX_CAST(w, (struct px_watch *)t->data, WATCH_MAGIC);
    rearm(w);
    refresh_sigs(w);
    w->cb(w->arg);
}

static void arm_debounce(struct px_watch *w)
{
    uv_timer_start(&w->debounce, on_debounce, w->debounce_ms, 0);
}

static void on_poll(uv_timer_t *t)
{
    struct px_watch *w;
    PX_CAST(w, (struct px_watch *)t->data, WATCH_MAGIC);
    if (refresh_sigs(w))
        arm_debounce(w);
}

struct px_watch *px_watch_new_ex(uv_loop_t *loop, const char *const *paths, size_t n,
                                 unsigned debounce_ms, unsigned poll_ms, unsigned flags,
                                 px_watch_cb cb, void *arg)
{
    if (!loop || !paths || n == 0 || !cb || ((flags & PX_WATCH_NO_EVENTS) && poll_ms == 0))
        return NULL;
    struct px_watch *w = calloc(1, sizeof(*w));
    if (!w || !(w->paths = calloc(n, sizeof(char *))) || !(w->sigs = calloc(n, 8))) {
        if (w)
            free(w->paths);
        free(w);
        return NULL;
    }
    w->magic = WATCH_MAGIC;
    w->n = n;
    for (size_t i = 0; i < n; i++) {
        if (!(w->paths[i] = strdup(paths[i]))) {
            w->closing = true; /* no handles yet: frees at once */
            maybe_free(w);
            return NULL;
        }
    }
    w->loop = loop;
    w->debounce_ms = debounce_ms;
    w->poll_ms = poll_ms;
    w->flags = flags;
    w->cb = cb;
    w->arg = arg;
    uv_timer_init(loop, &w->debounce);
    uv_timer_init(loop, &w->poll);
    w->debounce.data = w->poll.data = w;
    rearm(w);
    refresh_sigs(w);
    if (poll_ms)
        uv_timer_start(&w->poll, on_poll, poll_ms, poll_ms);
    return w;
}

struct px_watch *px_watch_new(uv_loop_t *loop, const char *const *paths, size_t n,
                              unsigned debounce_ms, unsigned poll_ms, px_watch_cb cb, void *arg)
{
    return px_watch_new_ex(loop, paths, n, debounce_ms, poll_ms, 0, cb, arg);
}

void px_watch_close(struct px_watch *w, void (*closed_cb)(void *arg), void *arg)
{
    if (!w || w->closing)
        return;
    w->closing = true;
    w->closed_cb = closed_cb;
    w->closed_arg = arg;
    w->pending += 2;
    uv_close((uv_handle_t *)&w->debounce, timer_closed);
    uv_close((uv_handle_t *)&w->poll, timer_closed);
    for (size_t i = 0; i < w->dirs.n; i++)
        dir_close(w, w->dirs.v[i]);
    w->dirs.n = 0;
}

size_t px_watch_dir_count(const struct px_watch *w)
{
    return w->dirs.n;
}

int px_watch_has_dir(const struct px_watch *w, const char *dir)
{
    for (size_t i = 0; i < w->dirs.n; i++)
        if (strcmp(w->dirs.v[i]->path, dir) == 0)
            return 1;
    return 0;
}
