/* Directory watcher with debounce and a polling fallback; see px_watch.h. */
#include "px_watch.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "px_log.h"

struct wdir {
    uv_fs_event_t ev; /* ev.data = this */
    struct px_watch *w;
    char *path; /* resolved directory */
    bool keep;  /* still wanted, during rearm */
};

struct strlist {
    char **v;
    size_t n, cap;
};

struct px_watch {
    uv_loop_t *loop;
    char **paths;
    uint64_t *sigs; /* polling signature per path */
    size_t n;
    unsigned debounce_ms, poll_ms, flags;
    px_watch_cb cb;
    void *arg;
    uv_timer_t debounce, poll; /* data = this */
    struct wdir **dirs;
    size_t ndirs, capdirs;
    unsigned pending; /* handles whose close callback has not run yet */
    bool closing;
    void (*closed_cb)(void *);
    void *closed_arg;
};

/* ---- directory sets ---- */

static void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Adds the resolved form of dir unless present. Missing directories are skipped. */
static void add_dir(struct strlist *l, const char *dir)
{
    char *real = realpath(dir, NULL);
    if (!real)
        return;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], real) == 0) {
            free(real);
            return;
        }
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v) {
            free(real);
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = real;
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

static void add_parent(struct strlist *l, const char *path)
{
    char buf[PATH_MAX];
    parent_of(path, buf, sizeof(buf));
    add_dir(l, buf);
}

/* The directory holding path, the directory of its final target, and when the parent is
 * itself a symlink (a path configured through Kubernetes' ..data), the directory holding
 * that symlink, where the swap happens. */
static void add_file_dirs(struct strlist *l, const char *path)
{
    add_parent(l, path);
    char parent[PATH_MAX];
    struct stat st;
    parent_of(path, parent, sizeof(parent));
    if (lstat(parent, &st) == 0 && S_ISLNK(st.st_mode))
        add_parent(l, parent);
    char *real = realpath(path, NULL);
    if (real) {
        add_parent(l, real);
        free(real);
    }
}

/* A cert_dir: itself, its parent (the directory may be replaced by rename), its
 * subdirectories depth levels deep, and the directories of symlink targets inside. */
static void add_tree(struct strlist *l, const char *dir, int depth)
{
    add_dir(l, dir);
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
        if (S_ISDIR(st.st_mode) && depth > 0)
            add_tree(l, full, depth - 1);
        else if (!S_ISDIR(st.st_mode))
            add_file_dirs(l, full);
    }
    closedir(d);
}

static void compute_dirs(const struct px_watch *w, struct strlist *l)
{
    for (size_t i = 0; i < w->n; i++) {
        struct stat st;
        if (stat(w->paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            add_parent(l, w->paths[i]);
            add_tree(l, w->paths[i], 1);
        } else {
            add_file_dirs(l, w->paths[i]);
        }
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
    uint64_t v[6] = {st.st_dev,
                     st.st_ino,
                     (uint64_t)st.st_size,
                     (uint64_t)st.st_mtim.tv_sec,
                     (uint64_t)st.st_mtim.tv_nsec,
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
        sum += sig_stat(full, e->d_name);
        if (depth > 0 && stat(full, &st) == 0 && S_ISDIR(st.st_mode))
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
    free(w->dirs);
    free(w);
    if (closed_cb)
        closed_cb(arg);
}

static void dir_closed(uv_handle_t *h)
{
    struct wdir *d = h->data;
    struct px_watch *w = d->w;
    free(d->path);
    free(d);
    w->pending--;
    maybe_free(w);
}

static void timer_closed(uv_handle_t *h)
{
    struct px_watch *w = h->data;
    w->pending--;
    maybe_free(w);
}

static void arm_debounce(struct px_watch *w);

static void on_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct wdir *d = h->data;
    if (d->w->closing)
        return;
    if (status < 0)
        px_debug("watch %s: %s", d->path, uv_strerror(status));
    arm_debounce(d->w);
}

static void dir_close(struct px_watch *w, struct wdir *d)
{
    w->pending++;
    uv_close((uv_handle_t *)&d->ev, dir_closed);
}

/* Starts watching dir; on failure the directory is left to polling. */
static void dir_open(struct px_watch *w, const char *dir)
{
    if (w->ndirs == w->capdirs) {
        size_t cap = w->capdirs ? w->capdirs * 2 : 8;
        struct wdir **v = realloc(w->dirs, cap * sizeof(*v));
        if (!v)
            return;
        w->dirs = v;
        w->capdirs = cap;
    }
    struct wdir *d = calloc(1, sizeof(*d));
    if (!d || !(d->path = strdup(dir))) {
        free(d);
        return;
    }
    d->w = w;
    d->keep = true;
    int rc = uv_fs_event_init(w->loop, &d->ev);
    if (rc != 0) {
        free(d->path);
        free(d);
        return;
    }
    d->ev.data = d;
    rc = uv_fs_event_start(&d->ev, on_event, dir, 0);
    if (rc != 0) {
        px_debug("watch %s: %s (polling only)", dir, uv_strerror(rc));
        dir_close(w, d);
        return;
    }
    w->dirs[w->ndirs++] = d;
}

/* Recomputes the directory set: keeps watches still wanted, opens new ones, closes the
 * rest. */
static void rearm(struct px_watch *w)
{
    if (w->flags & PX_WATCH_NO_EVENTS)
        return;
    struct strlist want = {0};
    compute_dirs(w, &want);
    for (size_t i = 0; i < w->ndirs; i++)
        w->dirs[i]->keep = false;
    for (size_t j = 0; j < want.n; j++) {
        size_t i = 0;
        while (i < w->ndirs && strcmp(w->dirs[i]->path, want.v[j]) != 0)
            i++;
        if (i < w->ndirs)
            w->dirs[i]->keep = true;
        else
            dir_open(w, want.v[j]);
    }
    size_t kept = 0;
    for (size_t i = 0; i < w->ndirs; i++) {
        if (w->dirs[i]->keep)
            w->dirs[kept++] = w->dirs[i];
        else
            dir_close(w, w->dirs[i]);
    }
    w->ndirs = kept;
    strlist_free(&want);
}

static void on_debounce(uv_timer_t *t)
{
    struct px_watch *w = t->data;
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
    struct px_watch *w = t->data;
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
    for (size_t i = 0; i < w->ndirs; i++)
        dir_close(w, w->dirs[i]);
    w->ndirs = 0;
}

size_t px_watch_dir_count(const struct px_watch *w)
{
    return w->ndirs;
}

int px_watch_has_dir(const struct px_watch *w, const char *dir)
{
    for (size_t i = 0; i < w->ndirs; i++)
        if (strcmp(w->dirs[i]->path, dir) == 0)
            return 1;
    return 0;
}
