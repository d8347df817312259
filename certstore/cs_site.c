/* Sites: loading one configured site into a cs_site, and what a refused source means.
 *
 * A cs_loader loads one site at a time (cs__site_load): every configured certificate and
 * every certificate a cert_dir indexes is read, reused from the previous snapshot's sites
 * when the file identity and content hash match, parsed, validated and given its context.
 * A refused source is classified for the reload's per-site decision (cs_site_load.result):
 * PENDING when it looks like a renewal still being written, FAILED otherwise. Deleted
 * files: a deleted certificate file is FAILED (a deletion is not a renewal in progress); a
 * key file missing while its certificate exists is PENDING (renewal tools write the two
 * files one after the other).
 *
 * Preference order of a site's certificates (and so of every cs_entry, which lists the
 * site's certificates covering one name in the site's order):
 *   1. key type per the site's prefer (ECDSA first by default);
 *   2. within a type, the cheaper key first: ECDSA P-256 before P-384 before P-521,
 *      RSA-2048 before larger moduli;
 *   3. then configuration order (explicit cert entries, then cert_dirs in scan order).
 * cs_select walks an entry in this order and takes the first certificate the client can
 * use. */
#include "cs_site_int.h"
#include "cs_cert_int.h"
#include "cs_dir_int.h"
#include "cs_validate_int.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- what a refused source means ---- */

/* The last path component. */
static const char *path_base(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path ? path : "";
}

/* File names that every certbot lineage or Kubernetes secret shares: alone they do not
 * say which certificate is meant. */
static bool shared_name(const char *base)
{
    static const char *const names[] = {"fullchain.pem", "privkey.pem", "cert.pem",
                                        "chain.pem",     "tls.crt",     "tls.key"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(base, names[i]) == 0)
            return true;
    return false;
}

/* Start of the path component before `at` (a '/' inside path), or path itself. */
static const char *component_before(const char *path, const char *at)
{
    const char *p = at;
    while (p > path && p[-1] != '/')
        p--;
    return p;
}

const char *cs__cert_name(const char *path)
{
    const char *base = path_base(path);
    if (!shared_name(base) || base - path < 2)
        return base;
    const char *dir = component_before(path, base - 1);
    bool up = strncmp(dir, "..", 2) == 0; /* Kubernetes' ..data: name the secret's directory */
    if (dir - path >= 2) {
        const char *above = component_before(path, dir - 1);
        if (up || (dir - 1 - above == 4 && strncmp(above, "live", 4) == 0)) /* certbot */
            return above;
    }
    return dir;
}

/* Records a refused source in res with its reason ("FILE: why"). FAILED decides over
 * PENDING: retrying does not fix an expired certificate. */
static void load_fail(struct cs_site_load *res, enum cs_load_result r, const char *file,
                      const char *why)
{
    res->n_failed++;
    if (res->result != CS_LOAD_OK && r <= res->result)
        return;
    res->result = r;
    snprintf(res->why, sizeof(res->why), "%s: %s", cs__cert_name(file), why);
}

/* The first CS_ERROR finding at or after index first, or NULL. */
static const struct cs_diag_item *first_error(const struct cs_diag *d, size_t first)
{
    for (size_t i = first; i < d->n; i++)
        if (d->items[i].level == CS_ERROR)
            return &d->items[i];
    return NULL;
}

/* Classify the failure whose findings start at d->items[first]: a read (a key file missing
 * next to an existing certificate is PENDING, a missing certificate FAILED), a parse
 * (PENDING: truncated or unreadable PEM), a validation (PENDING when the key does not match
 * the certificate, else FAILED with the first error finding). */
static void fail_read(struct cs_site_load *res, const struct cs_diag *d, size_t first,
                      const char *cert, const char *key)
{
    struct stat st;
    const struct cs_diag_item *e = first_error(d, first);
    if (key && stat(cert, &st) == 0 && stat(key, &st) != 0)
        load_fail(res, CS_LOAD_PENDING, key, "key file missing (renewal still being written?)");
    else
        load_fail(res, CS_LOAD_FAILED, e && e->file ? e->file : cert, e ? e->msg : "cannot read");
}

static void fail_parse(struct cs_site_load *res, const struct cs_diag *d, size_t first,
                       const char *cert)
{
    const struct cs_diag_item *e = first_error(d, first);
    load_fail(res, CS_LOAD_PENDING, e && e->file ? e->file : cert,
              "truncated or unreadable PEM (renewal still being written?)");
}

static void fail_invalid(struct cs_site_load *res, const struct cs_cert *c, const struct cs_diag *d,
                         size_t first)
{
    ERR_clear_error();
    bool match = X509_check_private_key(c->leaf, c->key) == 1;
    ERR_clear_error();
    const struct cs_diag_item *e = first_error(d, first);
    if (!match)
        load_fail(res, CS_LOAD_PENDING, c->cert_path,
                  "key does not match certificate (renewal still being written?)");
    else
        load_fail(res, CS_LOAD_FAILED, e && e->file ? e->file : c->cert_path,
                  e ? e->msg : "refused");
}

/* require = rsa ecdsa: a CS_ERROR finding per required key type without a usable
 * certificate in site; sets res->missing (and res->why when nothing else failed). */
static void check_require(struct cs_site *site, const struct cs_site_conf *sc, struct cs_diag *d,
                          struct cs_site_load *res)
{
    unsigned have = 0;
    for (size_t i = 0; i < site->n_certs; i++)
        have |= 1u << site->certs[i]->type;
    res->missing = sc->require & ~have & (CS_REQUIRE_RSA | CS_REQUIRE_ECDSA);
    if (!res->missing)
        return;
    char req[32];
    snprintf(req, sizeof(req), "%s%s%s", sc->require & CS_REQUIRE_RSA ? "rsa" : "",
             (sc->require & CS_REQUIRE_RSA) && (sc->require & CS_REQUIRE_ECDSA) ? " " : "",
             sc->require & CS_REQUIRE_ECDSA ? "ecdsa" : "");
    for (enum cs_key_type t = CS_KEY_RSA; t <= CS_KEY_ECDSA; t++) {
        if (!(res->missing & (1u << t)))
            continue;
        cs_diag_add(d, CS_ERROR, site->name, NULL, "require = %s but no usable %s certificate", req,
                    cs_key_type_name(t));
        if (res->result == CS_LOAD_OK)
            snprintf(res->why, sizeof(res->why), "require = %s but no usable %s certificate", req,
                     cs_key_type_name(t));
    }
}

/* ---- loading ---- */

static struct cs_cert *find_reusable(const struct cs_loader *l, const struct cs_source_data *sd)
{
    for (size_t i = 0; i < l->n_reuse; i++) {
        const struct cs_site *site = &l->reuse[i];
        for (size_t j = 0; j < site->n_certs; j++) {
            struct cs_cert *c = site->certs[j];
            if (c->cert_dev == sd->cert_dev && c->cert_ino == sd->cert_ino &&
                c->key_dev == sd->key_dev && c->key_ino == sd->key_ino &&
                memcmp(c->content_sha256, sd->content_sha256, 32) == 0)
                return c;
        }
    }
    return NULL;
}

/* Findings about an explicit entry name its config line too. */
static void tag_line(struct cs_diag *d, size_t first, int line)
{
    for (size_t i = first; line > 0 && i < d->n; i++) {
        size_t len = strlen(d->items[i].msg) + 32;
        char *m = malloc(len);
        if (m) {
            snprintf(m, len, "%s (config line %d)", d->items[i].msg, line);
            free(d->items[i].msg);
            d->items[i].msg = m;
        }
    }
}

/* Loads (or reuses) and validates one source. Returns a referenced certificate or NULL
 * when it was refused (noted in res) or skipped (reported in the diag). */
static struct cs_cert *load_one(struct cs_loader *l, const char *site, const char *cert,
                                const char *key, int line, bool from_dir, struct cs_site_load *res)
{
    struct cs_source_data sd = {.cert_path = cert, .key_path = key};
    struct cs_cert *c = NULL;
    size_t first = l->d->n;
    int rc = cs__source_read(&sd, site, l->d);
    if (rc != 0) {
        fail_read(res, l->d, first, cert, key);
    } else if ((c = find_reusable(l, &sd)) != NULL) {
        cs_cert_ref(c);
    } else if ((rc = cs__cert_parse(&sd, site, from_dir, l->d, &c)) < 0) {
        fail_parse(res, l->d, first, cert);
    }
    cs__source_clear(&sd);
    if (c && cs__cert_validate(c, l->conf, l->store, site, l->d) != 0) {
        fail_invalid(res, c, l->d, first);
        cs_cert_release(c);
        c = NULL;
    }
    if (c && !c->ctx && cs__cert_make_ctx(c, l->conf, site, l->d) != 0) {
        load_fail(res, CS_LOAD_FAILED, cert, "cannot build its TLS context");
        cs_cert_release(c);
        c = NULL;
    }
    tag_line(l->d, first, line);
    return c;
}

/* -1 when a comes before b in the site's preference order (see the top of the file). */
static int prefer_cmp(const struct cs_cert *a, const struct cs_cert *b, enum cs_prefer p)
{
    if (a->type != b->type) {
        bool a_first = (a->type == CS_KEY_ECDSA) == (p == CS_PREFER_ECDSA);
        return a_first ? -1 : 1;
    }
    return a->bits < b->bits ? -1 : a->bits > b->bits ? 1 : 0;
}

/* Adds c to the site unless the same leaf is already there. Takes the reference. */
static void site_add(struct cs_site *site, struct cs_cert *c, struct cs_diag *d)
{
    for (size_t i = 0; i < site->n_certs; i++) {
        if (memcmp(site->certs[i]->sha256, c->sha256, 32) == 0) {
            cs_diag_add(d, CS_NOTICE, site->name, c->cert_path,
                        "same certificate as %s (sha256 %.16s...): loaded once",
                        site->certs[i]->cert_path, c->fp_hex);
            cs_cert_release(c);
            return;
        }
    }
    /* Insertion keeps equal certificates in configuration order (a stable sort). */
    size_t at = site->n_certs;
    while (at > 0 && prefer_cmp(c, site->certs[at - 1], site->prefer) < 0)
        at--;
    memmove(&site->certs[at + 1], &site->certs[at], (site->n_certs - at) * sizeof(c));
    site->certs[at] = c;
    site->n_certs++;
}

static int add_site_name(struct cs_site *site, const char *name)
{
    for (size_t i = 0; i < site->n_names; i++)
        if (strcasecmp(site->names[i], name) == 0)
            return 0;
    char **v = realloc(site->names, (site->n_names + 1) * sizeof(*v));
    if (!v)
        return -1;
    site->names = v;
    if (!(v[site->n_names] = strdup(name)))
        return -1;
    cs__lower(v[site->n_names++]);
    return 0;
}

static void free_names(struct cs_site *site)
{
    for (size_t j = 0; j < site->n_names; j++)
        free(site->names[j]);
    free(site->names);
    site->names = NULL;
    site->n_names = 0;
}

/* The site's names: the configured ones, else every certificate's DNS names. */
static int site_names(struct cs_site *site, const struct cs_site_conf *sc)
{
    int rc = 0;
    free_names(site);
    for (size_t i = 0; rc == 0 && i < sc->n_names; i++)
        rc = add_site_name(site, sc->names[i]);
    for (size_t i = 0; rc == 0 && sc->n_names == 0 && i < site->n_certs; i++)
        for (size_t j = 0; rc == 0 && j < site->certs[i]->n_dns_names; j++)
            rc = add_site_name(site, site->certs[i]->dns_names[j]);
    return rc;
}

void cs__site_clear(struct cs_site *site)
{
    free(site->name);
    for (size_t j = 0; j < site->n_certs; j++)
        cs_cert_release(site->certs[j]);
    free(site->certs);
    free_names(site);
    memset(site, 0, sizeof(*site));
}

int cs__site_set_certs(struct cs_site *site, const struct cs_site_conf *sc,
                       struct cs_cert *const *certs, size_t n)
{
    struct cs_cert **v = calloc(n + 1, sizeof(*v));
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++)
        cs_cert_ref(v[i] = certs[i]);
    for (size_t j = 0; j < site->n_certs; j++)
        cs_cert_release(site->certs[j]);
    free(site->certs);
    site->certs = v;
    site->n_certs = n;
    return site_names(site, sc);
}

int cs__site_copy(struct cs_site *dst, const struct cs_site *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->name = strdup(src->name);
    dst->tag = src->tag;
    dst->prefer = src->prefer;
    dst->certs = calloc(src->n_certs + 1, sizeof(*dst->certs));
    if (!dst->name || !dst->certs)
        return -1;
    for (size_t i = 0; i < src->n_certs; i++)
        cs_cert_ref(dst->certs[dst->n_certs++] = src->certs[i]);
    for (size_t i = 0; i < src->n_names; i++)
        if (add_site_name(dst, src->names[i]) != 0)
            return -1;
    return 0;
}

int cs__site_load(struct cs_loader *l, const struct cs_site_conf *sc, struct cs_site *site,
                  struct cs_site_load *res)
{
    struct cs_src_list dirs = {0};
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < sc->n_cert_dirs; i++) {
        size_t first = l->d->n;
        if (cs__dir_scan(sc->cert_dirs[i], sc->name, l->d, &dirs) != 0) {
            const struct cs_diag_item *e = first_error(l->d, first);
            res->dir_failed = true;
            load_fail(res, CS_LOAD_FAILED, sc->cert_dirs[i], e ? e->msg : "cannot scan");
        }
    }
    site->name = strdup(sc->name ? sc->name : "");
    site->tag = sc->tag;
    site->prefer = sc->prefer;
    site->certs = calloc(sc->n_certs + dirs.n + 1, sizeof(*site->certs));
    if (!site->name || !site->certs) {
        cs__src_list_free(&dirs);
        return -1;
    }
    for (size_t i = 0; i < sc->n_certs; i++) {
        const struct cs_cert_source *src = &sc->certs[i];
        struct cs_cert *c = load_one(l, sc->name, src->cert, src->key, src->line, false, res);
        if (c)
            site_add(site, c, l->d);
    }
    for (size_t i = 0; i < dirs.n; i++) {
        struct cs_cert *c = load_one(l, sc->name, dirs.v[i].cert, dirs.v[i].key, 0, true, res);
        if (c)
            site_add(site, c, l->d);
    }
    cs__src_list_free(&dirs);
    if (site->n_certs == 0)
        cs_diag_add(l->d, CS_ERROR, sc->name, NULL, "site has no usable certificate");
    else
        check_require(site, sc, l->d, res);
    /* An uncovered name is an error finding, not fatal: the name is left out of the index. */
    cs__site_check_names(sc, site->certs, site->n_certs, l->d);
    return site_names(site, sc);
}

static X509_STORE *load_bundle(const struct cs_conf *conf, struct cs_diag *d)
{
    X509_STORE *st = X509_STORE_new();
    ERR_clear_error();
    if (!st || X509_STORE_load_file(st, conf->ca_bundle) != 1) {
        cs_diag_add(d, CS_ERROR, NULL, conf->ca_bundle, "cannot load CA bundle");
        cs_diag_add_openssl(d);
        X509_STORE_free(st);
        return NULL;
    }
    return st;
}

int cs__loader_init(struct cs_loader *l, const struct cs_conf *conf, const struct cs_site *reuse,
                    size_t n_reuse, struct cs_diag *d)
{
    memset(l, 0, sizeof(*l));
    l->conf = conf;
    l->d = d;
    l->reuse = reuse;
    l->n_reuse = reuse ? n_reuse : 0;
    if (conf->ca_bundle && !(l->store = load_bundle(conf, d)))
        return -1;
    return 0;
}

void cs__loader_close(struct cs_loader *l)
{
    X509_STORE_free(l->store);
    l->store = NULL;
}
