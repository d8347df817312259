/* Certificate directories that index themselves. Supported layouts, checked in order:
 *   - a certbot lineage:    DIR/fullchain.pem + DIR/privkey.pem
 *   - a certbot config dir: DIR/live/NAME/{fullchain,privkey}.pem (symlinks into archive/)
 *   - otherwise each entry of DIR, sorted by byte order:
 *       subdirectory holding a certbot lineage (so DIR may be certbot's live/ dir),
 *       X.crt or X.pem with X.key: a pair (Kubernetes mounts give tls.crt + tls.key),
 *       X.crt or X.pem without X.key: a bundle (a file without a key is skipped later).
 * Entries starting with '.' are skipped: Kubernetes' "..data" and "..2024_..." entries
 * are the storage behind the tls.* symlinks, not certificates of their own. */
#include "cs_dir_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cs__src_list_free(struct cs_src_list *l)
{
    for (size_t i = 0; l && i < l->n; i++) {
        free(l->v[i].cert);
        free(l->v[i].key);
    }
    if (l) {
        free(l->v);
        memset(l, 0, sizeof(*l));
    }
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

/* Takes ownership of cert and key. */
static int add_src(struct cs_src_list *l, char *cert, char *key)
{
    if (!cert || l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct cs_src *v = cert ? realloc(l->v, cap * sizeof(*v)) : NULL;
        if (!v) {
            free(cert);
            free(key);
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].cert = cert;
    l->v[l->n].key = key;
    l->n++;
    return 0;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Adds DIR/fullchain.pem + DIR/privkey.pem when both exist. Returns 1 when added. */
static int try_lineage(const char *dir, struct cs_src_list *out)
{
    char *cert = join(dir, "fullchain.pem"), *key = join(dir, "privkey.pem");
    if (cert && key && is_file(cert) && is_file(key))
        return add_src(out, cert, key) == 0 ? 1 : -1;
    free(cert);
    free(key);
    return cert && key ? 0 : -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of DIR's entries that do not start with '.'. */
static int list_dir(const char *dir, const char *site, struct cs_diag *d, char ***names, size_t *n)
{
    DIR *dh = opendir(dir);
    if (!dh) {
        cs_diag_add(d, CS_ERROR, site, dir, "cannot read certificate directory: %s",
                    strerror(errno));
        return -1;
    }
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    *names = NULL;
    *n = 0;
    while (rc == 0 && (e = readdir(dh)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **v = realloc(*names, cap * sizeof(*v));
            if (!v) {
                rc = -1;
                break;
            }
            *names = v;
        }
        if (!((*names)[*n] = strdup(e->d_name)))
            rc = -1;
        else
            (*n)++;
    }
    closedir(dh);
    if (*n) /* qsort/bsearch take no NULL array, even for 0 elements */
        qsort(*names, *n, sizeof(char *), cmp_str);
    return rc;
}

static bool has_name(char **names, size_t n, const char *want)
{
    return n && bsearch(&want, names, n, sizeof(char *), cmp_str) != NULL;
}

/* One entry of a plain directory: a lineage subdirectory, a pair or a bundle. */
static int scan_entry(const char *dir, char **names, size_t n, const char *name,
                      struct cs_src_list *out)
{
    char *path = join(dir, name);
    if (!path)
        return -1;
    if (is_dir(path)) {
        int rc = try_lineage(path, out);
        free(path);
        return rc < 0 ? -1 : 0;
    }
    const char *ext = strrchr(name, '.');
    if (!is_file(path) || !ext || (strcmp(ext, ".crt") != 0 && strcmp(ext, ".pem") != 0)) {
        free(path);
        return 0;
    }
    char keyname[512];
    snprintf(keyname, sizeof(keyname), "%.*s.key", (int)(ext - name), name);
    /* X.pem next to X.crt and X.key: the .crt is the pair's certificate. */
    if (strcmp(ext, ".pem") == 0 && has_name(names, n, keyname)) {
        char crt[512];
        snprintf(crt, sizeof(crt), "%.*s.crt", (int)(ext - name), name);
        if (has_name(names, n, crt)) {
            free(path);
            return 0;
        }
    }
    char *key = has_name(names, n, keyname) ? join(dir, keyname) : NULL;
    return add_src(out, path, key);
}

int cs__dir_scan(const char *dir, const char *site, struct cs_diag *d, struct cs_src_list *out)
{
    if (!is_dir(dir)) {
        cs_diag_add(d, CS_ERROR, site, dir, "certificate directory does not exist");
        return -1;
    }
    int rc = try_lineage(dir, out);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    char *live = join(dir, "live");
    if (!live)
        return -1;
    if (is_dir(live)) {
        rc = cs__dir_scan(live, site, d, out);
        free(live);
        return rc;
    }
    free(live);
    char **names = NULL;
    size_t n = 0;
    rc = list_dir(dir, site, d, &names, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = scan_entry(dir, names, n, names[i], out);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}
