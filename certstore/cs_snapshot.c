/* Snapshots: building (load, validate, index), the SNI index and its lookup, the base
 * context with the ClientHello callback, and what the callback recorded on each SSL.
 *
 * Preference order of a site's certificates (and so of every cs_entry, which lists the
 * site's certificates covering one name in the site's order):
 *   1. key type per the site's prefer (ECDSA first by default);
 *   2. within a type, the cheaper key first: ECDSA P-256 before P-384 before P-521,
 *      RSA-2048 before larger moduli;
 *   3. then configuration order (explicit cert entries, then cert_dirs in scan order).
 * cs_select walks an entry in this order and takes the first certificate the client can
 * use.
 *
 * Index: a site answers its configured names, or, when none are configured, every DNS
 * name of its certificates. A name no certificate of the site covers is left out (the
 * build reports it). A name two sites claim stays with the first site (CS_WARNING).
 * Exact names are looked up first, then "*.rest" for the name minus its first label,
 * then the default entry (none under strict_sni). Both indexes are sorted arrays
 * searched with bsearch: no allocation, no locking per handshake.
 *
 * Lifetime: the snapshot owns its sites, entries and index and holds one reference on
 * each cs_cert. SSLs hold their own SSL_CTX references, so an established connection
 * outlives the snapshot safely; but the pointers cs_ssl_cert()/cs_ssl_site() return and
 * the base context's ClientHello callback argument are the snapshot's: keep a snapshot
 * reference for as long as an SSL created from it may still handshake or be asked.
 *
 * Building is split so that a reload (cs_reload.c) can decide per site: a cs_loader loads
 * one site at a time (cs_site_load, which also says how a refused source failed), sites
 * can be given another certificate set (cs_site_set_certs: a reload keeping the live one),
 * and cs_snapshot_begin/finish wrap the snapshot around whatever sites the caller chose.
 * cs_snapshot_build is the startup path over the same pieces: any site without a usable
 * certificate, with an unreadable cert_dir or missing a required key type fails it. */
#include "cs_internal.h"

#include <openssl/err.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct name_ix {
    const char *name; /* exact name, or the suffix after "*." for wildcards */
    size_t entry;
};

/* What the ClientHello callback records on an SSL: one per (site, certificate). */
struct pick {
    const struct cs_site *site;
    const struct cs_cert *cert;
};

struct cs_snapshot {
    _Atomic int refs;
    uint64_t generation;
    struct cs_site *sites;
    size_t n_sites;
    struct cs_entry *entries; /* one per indexed name, then the default entry */
    size_t n_entries;
    struct name_ix *exact, *wild;
    size_t n_exact, n_wild;
    const struct cs_entry *def;
    bool strict_sni;
    SSL_CTX *base;
    struct cs_suites suites;
    struct pick *picks;
    size_t *pick_off; /* per site: index of its first pick */
    /* what the certificates' contexts were built with, to decide reuse on reload */
    struct cs_policy policy;
    cs_ctx_setup_cb setup;
    void *setup_arg;
    unsigned char *rows; /* n_sites x cs_n_profiles CS_ROW_* (cs_snapshot_set_row), or NULL */
};

static _Atomic uint64_t generation_counter;

/* ---- ex_data: one index, created once ---- */

static int ex_idx = -1;
static CRYPTO_ONCE ex_once = CRYPTO_ONCE_STATIC_INIT;
/* Failure markers stored instead of a pick: &fail_mark[reason]. */
static const char fail_mark[CS_FAIL__COUNT];

static void ex_init(void)
{
    ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int ex_index(void)
{
    if (!CRYPTO_THREAD_run_once(&ex_once, ex_init))
        return -1;
    return ex_idx;
}

static bool is_fail_mark(const void *p)
{
    uintptr_t u = (uintptr_t)p, b = (uintptr_t)fail_mark;
    return u >= b && u < b + CS_FAIL__COUNT;
}

static const void *ssl_mark(const SSL *ssl)
{
    int idx = ex_index();
    return idx < 0 ? NULL : SSL_get_ex_data(ssl, idx);
}

const struct cs_cert *cs_ssl_cert(const SSL *ssl)
{
    const void *p = ssl_mark(ssl);
    return p && !is_fail_mark(p) ? ((const struct pick *)p)->cert : NULL;
}

const struct cs_site *cs_ssl_site(const SSL *ssl)
{
    const void *p = ssl_mark(ssl);
    return p && !is_fail_mark(p) ? ((const struct pick *)p)->site : NULL;
}

enum cs_fail cs_ssl_fail(const SSL *ssl)
{
    const void *p = ssl_mark(ssl);
    return p && is_fail_mark(p) ? (enum cs_fail)((const char *)p - fail_mark) : CS_FAIL_NONE;
}

/* ---- lookup ---- */

static int cmp_ix(const void *a, const void *b)
{
    return strcmp(((const struct name_ix *)a)->name, ((const struct name_ix *)b)->name);
}

static const struct name_ix *find(const struct name_ix *v, size_t n, const char *name)
{
    struct name_ix key = {.name = name};
    return n ? bsearch(&key, v, n, sizeof(*v), cmp_ix) : NULL;
}

/* Allocation-free: runs on every handshake. */
const struct cs_entry *cs_snapshot_lookup(const struct cs_snapshot *s, const char *sni,
                                          bool *matched)
{
    if (matched)
        *matched = false;
    size_t len = sni ? strlen(sni) : 0;
    if (len > 0 && len < 256) {
        char buf[256];
        memcpy(buf, sni, len + 1);
        cs_lower(buf);
        if (buf[len - 1] == '.')
            buf[len - 1] = '\0';
        const struct name_ix *hit = find(s->exact, s->n_exact, buf);
        const char *dot = strchr(buf, '.');
        if (!hit && dot && dot != buf)
            hit = find(s->wild, s->n_wild, dot + 1);
        if (hit) {
            if (matched)
                *matched = true;
            return &s->entries[hit->entry];
        }
    }
    return s->strict_sni ? NULL : s->def;
}

/* ---- the ClientHello callback ---- */

static const struct pick *find_pick(const struct cs_snapshot *s, const struct cs_site *site,
                                    const struct cs_cert *cert)
{
    size_t i = (size_t)(site - s->sites);
    for (size_t j = 0; i < s->n_sites && j < site->n_certs; j++)
        if (site->certs[j] == cert)
            return &s->picks[s->pick_off[i] + j];
    return NULL;
}

static int hello_fail(SSL *ssl, int idx, enum cs_fail f, int *al, int alert)
{
    if (idx >= 0)
        SSL_set_ex_data(ssl, idx, (void *)&fail_mark[f]);
    *al = alert;
    return SSL_CLIENT_HELLO_ERROR;
}

/* A hello OpenSSL refuses whatever certificates exist is not the callback's to judge: it
 * stays on the base context, which holds no certificate (so it cannot complete with
 * anything), and OpenSSL's own checks send their own alert (info_cb records it). f is
 * the prediction, kept when the alert says nothing more specific. */
static int hello_defer(SSL *ssl, int idx, enum cs_fail f)
{
    SSL_set_ex_data(ssl, idx, (void *)&fail_mark[f]);
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Records the reason of the fatal alert the server sends during a handshake in which no
 * certificate was chosen (before, in or deferred by the ClientHello callback), and drops a
 * prediction that OpenSSL did not confirm (a deferred hello that completed, e.g. a TLS 1.3
 * resumption without signature_algorithms). Installed on the base context and on each
 * SSL by the callback (after a context switch the SSL's own callback is the one called). */
static void info_cb(const SSL *ssl, int where, int ret)
{
    int idx = ex_index();
    const void *p;

    if (idx < 0 || !(where & (SSL_CB_WRITE_ALERT | SSL_CB_HANDSHAKE_DONE)))
        return;
    p = SSL_get_ex_data(ssl, idx);
    if (p && !is_fail_mark(p))
        return; /* a certificate was chosen: a later failure is the protocol's */
    if (where & SSL_CB_HANDSHAKE_DONE) {
        if (p)
            SSL_set_ex_data((SSL *)ssl, idx, NULL);
        return;
    }
    if ((ret >> 8) != SSL3_AL_FATAL)
        return;
    enum cs_fail f = cs_fail_from_alert(ret & 0xff);
    if (f != CS_FAIL_PROTOCOL || !p)
        SSL_set_ex_data((SSL *)ssl, idx, (void *)&fail_mark[f]);
}

/* Does nothing: the name was judged by the ClientHello callback. Its presence matters: with
 * no servername callback, OpenSSL 3.0 offers TLS 1.3 only when the context holds a
 * certificate (is_tls13_capable), and a deferred hello stays on the base context, which
 * holds none; OpenSSL must negotiate as it would with the site's certificates. */
static int servername_cb(SSL *ssl, int *al, void *arg)
{
    (void)ssl, (void)al, (void)arg;
    return SSL_TLSEXT_ERR_OK;
}

/* Runs again on the second ClientHello after a HelloRetryRequest: every step is
 * recomputed and overwritten, so a second run is harmless. */
static int hello_cb(SSL *ssl, int *al, void *arg)
{
    const struct cs_snapshot *s = arg;
    int idx = ex_index();
    struct cs_hello h;
    struct cs_choice ch;
    if (idx < 0)
        return hello_fail(ssl, idx, CS_FAIL_PROTOCOL, al, SSL_AD_INTERNAL_ERROR);
    SSL_set_info_callback(ssl, info_cb);
    if (cs_hello_from_ssl(ssl, &h) != 0) /* a malformed SNI list, or not a host name */
        return hello_fail(ssl, idx, CS_FAIL_DECODE, al, SSL_AD_DECODE_ERROR);
    const struct cs_entry *e = cs_snapshot_lookup(s, h.has_sni ? h.sni : NULL, NULL);
    if (cs_select(e, &h, &s->suites, &ch) != 0 || !ch.cert) {
        enum cs_fail f = ch.fail != CS_FAIL_NONE ? ch.fail : CS_FAIL_NO_CERT;
        if (f == CS_FAIL_NO_CERT || f == CS_FAIL_UNKNOWN_SNI)
            return hello_fail(ssl, idx, f, al, cs_fail_alert(f));
        return hello_defer(ssl, idx, f);
    }
    const struct pick *p = find_pick(s, e->site, ch.cert);
    if (!p || SSL_set_SSL_CTX(ssl, ch.cert->ctx) == NULL)
        return hello_fail(ssl, idx, CS_FAIL_PROTOCOL, al, SSL_AD_INTERNAL_ERROR);
    SSL_set_ex_data(ssl, idx, (void *)p);
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* ---- accessors and refcount ---- */

struct cs_snapshot *cs_snapshot_ref(struct cs_snapshot *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

static void snapshot_free(struct cs_snapshot *s)
{
    for (size_t i = 0; s->sites && i < s->n_sites; i++)
        cs_site_clear(&s->sites[i]);
    free(s->sites);
    for (size_t i = 0; s->entries && i < s->n_entries; i++)
        free(s->entries[i].certs);
    free(s->entries);
    free(s->exact);
    free(s->wild);
    free(s->picks);
    free(s->rows);
    free(s->pick_off);
    SSL_CTX_free(s->base);
    free(s->policy.ciphers);
    free(s->policy.ciphersuites);
    free(s->policy.groups);
    free(s);
}

void cs_snapshot_release(struct cs_snapshot *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        snapshot_free(s);
}

uint64_t cs_snapshot_generation(const struct cs_snapshot *s)
{
    return s->generation;
}

size_t cs_snapshot_site_count(const struct cs_snapshot *s)
{
    return s->n_sites;
}

const struct cs_site *cs_snapshot_site(const struct cs_snapshot *s, size_t i)
{
    return i < s->n_sites ? &s->sites[i] : NULL;
}

SSL_CTX *cs_snapshot_base_ctx(const struct cs_snapshot *s)
{
    return s->base;
}

bool cs_snapshot_strict_sni(const struct cs_snapshot *s)
{
    return s->strict_sni;
}

const struct cs_suites *cs_snapshot_suites(const struct cs_snapshot *s)
{
    return &s->suites;
}

/* ---- building ---- */

static struct cs_cert *find_reusable(const struct cs_snapshot *prev,
                                     const struct cs_source_data *sd)
{
    for (size_t i = 0; prev && i < prev->n_sites; i++) {
        const struct cs_site *site = &prev->sites[i];
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
    int rc = cs_source_read(&sd, site, l->d);
    if (rc != 0) {
        cs_load_fail_read(res, l->d, first, cert, key);
    } else if ((c = find_reusable(l->reuse, &sd)) != NULL) {
        cs_cert_ref(c);
    } else if ((rc = cs_cert_parse(&sd, site, from_dir, l->d, &c)) < 0) {
        cs_load_fail_parse(res, l->d, first, cert);
    }
    cs_source_clear(&sd);
    if (c && cs_cert_validate(c, l->conf, l->store, site, l->d) != 0) {
        cs_load_fail_invalid(res, c, l->d, first);
        cs_cert_release(c);
        c = NULL;
    }
    if (c && !c->ctx && cs_cert_make_ctx(c, l->conf, site, l->d) != 0) {
        cs_load_fail(res, CS_LOAD_FAILED, cert, "cannot build its TLS context");
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
    cs_lower(v[site->n_names++]);
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

void cs_site_clear(struct cs_site *site)
{
    free(site->name);
    for (size_t j = 0; j < site->n_certs; j++)
        cs_cert_release(site->certs[j]);
    free(site->certs);
    free_names(site);
    memset(site, 0, sizeof(*site));
}

int cs_site_set_certs(struct cs_site *site, const struct cs_site_conf *sc,
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

int cs_site_copy(struct cs_site *dst, const struct cs_site *src)
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

int cs_site_load(struct cs_loader *l, const struct cs_site_conf *sc, struct cs_site *site,
                 struct cs_site_load *res)
{
    struct cs_src_list dirs = {0};
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < sc->n_cert_dirs; i++) {
        size_t first = l->d->n;
        if (cs_dir_scan(sc->cert_dirs[i], sc->name, l->d, &dirs) != 0) {
            const struct cs_diag_item *e = cs_diag_first_error(l->d, first);
            res->dir_failed = true;
            cs_load_fail(res, CS_LOAD_FAILED, sc->cert_dirs[i], e ? e->msg : "cannot scan");
        }
    }
    site->name = strdup(sc->name ? sc->name : "");
    site->tag = sc->tag;
    site->prefer = sc->prefer;
    site->certs = calloc(sc->n_certs + dirs.n + 1, sizeof(*site->certs));
    if (!site->name || !site->certs) {
        cs_src_list_free(&dirs);
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
    cs_src_list_free(&dirs);
    if (site->n_certs == 0)
        cs_diag_add(l->d, CS_ERROR, sc->name, NULL, "site has no usable certificate");
    else
        cs_site_check_require(site, sc, l->d, res);
    /* An uncovered name is an error finding, not fatal: the name is left out of the index. */
    cs_site_check_names(sc, site->certs, site->n_certs, l->d);
    return site_names(site, sc);
}

/* ---- the index ---- */

static struct cs_entry *entry_new(struct cs_snapshot *s)
{
    struct cs_entry *e = &s->entries[s->n_entries];
    memset(e, 0, sizeof(*e));
    return e;
}

/* Adds the entry for one name of a site: the site's certificates covering it, in order.
 * Names no certificate covers are left out (reported by cs_site_check_names). */
static int index_name(struct cs_snapshot *s, const struct cs_site *site, const char *name)
{
    struct cs_entry *e = entry_new(s);
    e->site = site;
    e->certs = calloc(site->n_certs ? site->n_certs : 1, sizeof(*e->certs));
    if (!e->certs)
        return -1;
    for (size_t i = 0; i < site->n_certs; i++)
        if (cs_cert_covers(site->certs[i], name))
            e->certs[e->n_certs++] = site->certs[i];
    if (e->n_certs == 0) {
        free(e->certs);
        e->certs = NULL;
        return 0;
    }
    bool wild = name[0] == '*' && name[1] == '.';
    struct name_ix *ix = wild ? &s->wild[s->n_wild++] : &s->exact[s->n_exact++];
    ix->name = wild ? name + 2 : name;
    ix->entry = s->n_entries++;
    return 0;
}

/* Sorts an index; a name claimed by two sites stays with the first (by entry order). */
static void index_sort(struct name_ix *v, size_t *n, const struct cs_snapshot *s, struct cs_diag *d,
                       bool wild)
{
    /* Stable on entry order: insertion sort (indexes are built once per reload). */
    for (size_t i = 1; i < *n; i++) {
        struct name_ix x = v[i];
        size_t j = i;
        while (j > 0 && strcmp(v[j - 1].name, x.name) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    size_t out = 0;
    for (size_t i = 0; i < *n; i++) {
        if (out > 0 && strcmp(v[out - 1].name, v[i].name) == 0) {
            cs_diag_add(d, CS_WARNING, s->entries[v[i].entry].site->name, NULL,
                        "name %s%s is already served by site %s: ignored here", wild ? "*." : "",
                        v[i].name, s->entries[v[out - 1].entry].site->name);
            continue;
        }
        v[out++] = v[i];
    }
    *n = out;
}

/* The default entry: a [site] name (all its certificates), a host name, else site 0. */
static int index_default(struct cs_snapshot *s, const struct cs_conf *conf, struct cs_diag *d)
{
    const struct cs_site *site = &s->sites[0];
    if (conf->default_site) {
        site = NULL;
        for (size_t i = 0; i < s->n_sites && !site; i++)
            if (strcmp(s->sites[i].name, conf->default_site) == 0)
                site = &s->sites[i];
        if (!site) {
            bool strict = s->strict_sni, matched = false;
            s->strict_sni = true;
            s->def = cs_snapshot_lookup(s, conf->default_site, &matched);
            s->strict_sni = strict;
            if (s->def)
                return 0;
            cs_diag_add(d, CS_ERROR, NULL, NULL,
                        "default_site %s is neither a site nor a name any site serves",
                        conf->default_site);
            return -1;
        }
    }
    struct cs_entry *e = entry_new(s);
    e->site = site;
    e->n_certs = site->n_certs;
    e->certs = calloc(site->n_certs ? site->n_certs : 1, sizeof(*e->certs));
    if (!e->certs)
        return -1;
    memcpy(e->certs, site->certs, site->n_certs * sizeof(*e->certs));
    s->def = e;
    s->n_entries++;
    return 0;
}

static int build_index(struct cs_snapshot *s, const struct cs_conf *conf, struct cs_diag *d)
{
    size_t total = 1, certs = 0;
    for (size_t i = 0; i < s->n_sites; i++) {
        total += s->sites[i].n_names;
        certs += s->sites[i].n_certs;
    }
    s->entries = calloc(total, sizeof(*s->entries));
    s->exact = calloc(total, sizeof(*s->exact));
    s->wild = calloc(total, sizeof(*s->wild));
    s->picks = calloc(certs ? certs : 1, sizeof(*s->picks));
    s->pick_off = calloc(s->n_sites ? s->n_sites : 1, sizeof(*s->pick_off));
    if (!s->entries || !s->exact || !s->wild || !s->picks || !s->pick_off)
        return -1;
    size_t np = 0;
    for (size_t i = 0; i < s->n_sites; i++) {
        const struct cs_site *site = &s->sites[i];
        s->pick_off[i] = np;
        for (size_t j = 0; j < site->n_certs; j++)
            s->picks[np++] = (struct pick){.site = site, .cert = site->certs[j]};
        for (size_t j = 0; j < site->n_names; j++)
            if (index_name(s, site, site->names[j]) != 0)
                return -1;
    }
    index_sort(s->exact, &s->n_exact, s, d, false);
    index_sort(s->wild, &s->n_wild, s, d, true);
    return s->n_sites ? index_default(s, conf, d) : 0;
}

/* ---- build ---- */

static int make_base(struct cs_snapshot *s, const struct cs_conf *conf, struct cs_diag *d)
{
    s->base = SSL_CTX_new(TLS_server_method());
    if (!s->base) {
        cs_diag_add(d, CS_ERROR, NULL, NULL, "cannot create the base TLS context");
        cs_diag_add_openssl(d);
        return -1;
    }
    if (cs_ctx_apply_policy(s->base, conf, d) != 0)
        return -1;
    SSL_CTX_set_client_hello_cb(s->base, hello_cb, s);
    SSL_CTX_set_info_callback(s->base, info_cb);
    SSL_CTX_set_tlsext_servername_callback(s->base, servername_cb);
    /* OpenSSL 3.0 cannot report a context's groups: hand the policy's list over. */
    struct cs_policy eff;
    cs_policy_effective(&conf->policy, &eff);
    if (cs_suites_compute(s->base, &s->suites) != 0 ||
        cs_suites_set_groups(&s->suites, eff.groups) != 0) {
        cs_diag_add(d, CS_ERROR, NULL, NULL, "cannot compute the enabled suites");
        cs_diag_add_openssl(d);
        return -1;
    }
    return 0;
}

static int keep_policy(struct cs_snapshot *s, const struct cs_conf *conf)
{
    s->policy = conf->policy;
    s->policy.ciphers = conf->policy.ciphers ? strdup(conf->policy.ciphers) : NULL;
    s->policy.ciphersuites = conf->policy.ciphersuites ? strdup(conf->policy.ciphersuites) : NULL;
    s->policy.groups = conf->policy.groups ? strdup(conf->policy.groups) : NULL;
    s->setup = conf->ctx_setup;
    s->setup_arg = conf->ctx_setup_arg;
    if ((conf->policy.ciphers && !s->policy.ciphers) ||
        (conf->policy.ciphersuites && !s->policy.ciphersuites) ||
        (conf->policy.groups && !s->policy.groups))
        return -1;
    return 0;
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

int cs_loader_init(struct cs_loader *l, const struct cs_conf *conf, const struct cs_snapshot *prev,
                   struct cs_diag *d)
{
    memset(l, 0, sizeof(*l));
    l->conf = conf;
    l->d = d;
    /* Contexts are reused only when they were built the same way. */
    if (prev && cs_policy_equal(&prev->policy, &conf->policy) && prev->setup == conf->ctx_setup &&
        prev->setup_arg == conf->ctx_setup_arg)
        l->reuse = prev;
    if (conf->ca_bundle && !(l->store = load_bundle(conf, d)))
        return -1;
    return 0;
}

void cs_loader_close(struct cs_loader *l)
{
    X509_STORE_free(l->store);
    l->store = NULL;
}

struct cs_snapshot *cs_snapshot_begin(const struct cs_conf *conf, struct cs_diag *d)
{
    struct cs_snapshot *s = calloc(1, sizeof(*s));
    if (!s) {
        cs_diag_add(d, CS_ERROR, NULL, NULL, "out of memory");
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->strict_sni = conf->strict_sni;
    if (keep_policy(s, conf) != 0 || make_base(s, conf, d) != 0) {
        if (cs_diag_count(d, CS_ERROR) == 0)
            cs_diag_add(d, CS_ERROR, NULL, NULL, "cannot build the snapshot (out of memory)");
        snapshot_free(s);
        return NULL;
    }
    return s;
}

int cs_snapshot_finish(struct cs_snapshot *s, const struct cs_conf *conf, struct cs_site *sites,
                       size_t n, bool numbered, struct cs_diag *d)
{
    s->sites = sites;
    s->n_sites = n;
    if (build_index(s, conf, d) != 0)
        return -1;
    if (numbered)
        s->generation = atomic_fetch_add(&generation_counter, 1) + 1;
    return 0;
}

const struct cs_site *cs_snapshot_find_site(const struct cs_snapshot *s, const char *name)
{
    for (size_t i = 0; s && name && i < s->n_sites; i++)
        if (strcmp(s->sites[i].name, name) == 0)
            return &s->sites[i];
    return NULL;
}

const unsigned char *cs_snapshot_row(const struct cs_snapshot *s, size_t i)
{
    const unsigned char *row = s && s->rows && i < s->n_sites ? &s->rows[i * cs_n_profiles] : NULL;
    return row && row[0] != CS_ROW_UNKNOWN ? row : NULL;
}

int cs_snapshot_set_row(struct cs_snapshot *s, size_t i, const unsigned char *row)
{
    if (i >= s->n_sites)
        return -1;
    if (!s->rows && !(s->rows = calloc(s->n_sites * cs_n_profiles + 1, 1)))
        return -1;
    memcpy(&s->rows[i * cs_n_profiles], row, cs_n_profiles);
    return 0;
}

/* Loads every site; false when one makes the snapshot unusable (reported). */
static bool load_sites(struct cs_loader *l, const struct cs_conf *conf, struct cs_site *sites)
{
    bool ok = true;
    for (size_t i = 0; i < conf->n_sites; i++) {
        struct cs_site_load res;
        if (cs_site_load(l, &conf->sites[i], &sites[i], &res) != 0)
            return false;
        if (sites[i].n_certs == 0 || res.dir_failed || res.missing)
            ok = false;
    }
    return ok;
}

int cs_snapshot_build(const struct cs_conf *conf, const struct cs_snapshot *prev,
                      struct cs_diag *diag, struct cs_snapshot **out)
{
    *out = NULL;
    struct cs_snapshot *s = cs_snapshot_begin(conf, diag);
    if (!s)
        return -1;
    struct cs_loader l;
    struct cs_site *sites = NULL;
    int rc = cs_loader_init(&l, conf, prev, diag);
    if (rc == 0 && conf->n_sites == 0) {
        cs_diag_add(diag, CS_ERROR, NULL, NULL, "no site configured");
        rc = -1;
    }
    if (rc == 0 && !(sites = calloc(conf->n_sites, sizeof(*sites))))
        rc = -1;
    if (rc == 0 && !load_sites(&l, conf, sites))
        rc = -1;
    cs_loader_close(&l);
    if (rc == 0) {
        rc = cs_snapshot_finish(s, conf, sites, conf->n_sites, true, diag);
    } else if (sites) { /* owned by the snapshot from here on, freed with it */
        s->sites = sites;
        s->n_sites = conf->n_sites;
    }
    if (rc != 0) {
        if (cs_diag_count(diag, CS_ERROR) == 0)
            cs_diag_add(diag, CS_ERROR, NULL, NULL, "cannot build the snapshot (out of memory)");
        snapshot_free(s);
        return -1;
    }
    *out = s;
    return 0;
}
