/* Checks across keys and sections, after every key is converted: required keys,
 * references between sections, duplicates, and referenced files. */
#include "config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* L->dir is a physical path (realpath), so leading "../" and "./" can be folded into it
 * lexically without changing which file is meant. Later components are kept as written:
 * a symlinked certificate directory must stay a symlink (renewals swap its target). */
char *px_path_resolve(const struct px_loader *L, const char *value)
{
    if (value[0] == '/' || !L->dir)
        return px_strdup(L, value);
    size_t n = strlen(L->dir) + strlen(value) + 2;
    char *p = malloc(n);
    if (!p) {
        px_oom(L);
        return NULL;
    }
    snprintf(p, n, "%s", L->dir);
    for (;;) {
        char *slash = strrchr(p, '/');
        if (strncmp(value, "./", 2) == 0) {
            value += 2;
        } else if (strncmp(value, "../", 3) == 0 && slash && slash != p) {
            *slash = '\0';
            value += 3;
        } else {
            break;
        }
    }
    size_t len = strlen(p);
    snprintf(p + len, n - len, "%s%s", len && p[len - 1] == '/' ? "" : "/", value);
    return p;
}

void px_check_path(struct px_loader *L, const struct px_raw *r, const char *path, bool want_dir)
{
    struct stat st;
    if (L->flags & PX_CONFIG_NO_FILE_CHECKS)
        return;
    if (stat(path, &st) != 0)
        px_kerr(L, r, "%s: %s", path, strerror(errno));
    else if (want_dir && !S_ISDIR(st.st_mode))
        px_kerr(L, r, "%s: not a directory", path);
    else if (!want_dir && S_ISDIR(st.st_mode))
        px_kerr(L, r, "%s: is a directory, not a file", path);
    else if (access(path, want_dir ? R_OK | X_OK : R_OK) != 0)
        px_kerr(L, r, "%s: not readable: %s", path, strerror(errno));
}

static int seen(const struct px_sect *s, const char *key)
{
    int ki = px_key_find(s->kind, key);
    return ki < 0 ? 0 : s->seen[ki];
}

static void check_listeners(struct px_loader *L, const struct px_sect *s)
{
    const struct px_listener_conf *a = &L->cfg->listeners[s->idx];
    if (!seen(s, "bind")) {
        px_cerr(L, s->line, "[%s] bind is required", s->text);
        return;
    }
    for (size_t i = 0; i < s->idx; i++) {
        const struct px_listener_conf *b = &L->cfg->listeners[i];
        if (a->addr.len && a->addr.len == b->addr.len &&
            memcmp(&a->addr.ss, &b->addr.ss, a->addr.len) == 0)
            px_cerr(L, seen(s, "bind"), "[%s] bind %s is already used by [listener %s]", s->text,
                    a->addr.text, b->name);
    }
}

/* Sets the site's tag to its upstream's index. */
static void resolve_upstream(struct px_loader *L, const struct px_sect *s)
{
    struct px_config *c = L->cfg;
    const char *want = L->site_upstream[s->idx];
    if (!want) {
        if (c->n_upstreams == 1)
            c->certs.sites[s->idx].tag = 0;
        else if (c->n_upstreams > 1)
            px_cerr(L, s->line, "[%s] has no upstream (required when there are %zu upstreams)",
                    s->text, c->n_upstreams);
        return;
    }
    for (size_t i = 0; i < c->n_upstreams; i++) {
        if (strcmp(c->upstreams[i].name, want) == 0) {
            c->certs.sites[s->idx].tag = (int)i;
            return;
        }
    }
    px_cerr(L, L->site_upstream_line[s->idx], "[%s] upstream \"%s\" is not defined", s->text, want);
}

/* A host name may belong to one site only: the SNI index could not choose. */
static void check_names(struct px_loader *L, const struct px_sect *s)
{
    const struct cs_conf *cc = &L->cfg->certs;
    const struct cs_site_conf *a = &cc->sites[s->idx];
    for (size_t j = 0; j < a->n_names; j++) {
        for (size_t i = 0; i < s->idx; i++) {
            const struct cs_site_conf *b = &cc->sites[i];
            for (size_t m = 0; m < b->n_names; m++)
                if (strcmp(a->names[j], b->names[m]) == 0)
                    px_cerr(L, seen(s, "names"), "[%s] name \"%s\" is already used by [site %s]",
                            s->text, a->names[j], b->name);
        }
    }
}

static void check_site(struct px_loader *L, const struct px_sect *s)
{
    if (!seen(s, "cert") && !seen(s, "cert_dir"))
        px_cerr(L, s->line, "[%s] has no cert or cert_dir", s->text);
    resolve_upstream(L, s);
    check_names(L, s);
}

void px_config_check(struct px_loader *L)
{
    struct px_config *c = L->cfg;
    for (size_t i = 0; i < L->n_sects; i++) {
        const struct px_sect *s = &L->sects[i];
        if (s->kind == PX_K_LISTENER)
            check_listeners(L, s);
        else if (s->kind == PX_K_SITE)
            check_site(L, s);
        else if (s->kind == PX_K_UPSTREAM && !seen(s, "server"))
            px_cerr(L, s->line, "[%s] has no server", s->text);
    }
    if (c->n_listeners == 0)
        px_cerr(L, 0, "no [listener NAME] section: nothing would accept connections");
    if (c->certs.n_sites == 0)
        px_cerr(L, 0, "no [site NAME] section: no certificate to serve");
    if (c->n_upstreams == 0)
        px_cerr(L, 0, "no [upstream NAME] section: nowhere to send requests");
    if (c->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n > 0 ? (unsigned)n : 1;
    }
}
