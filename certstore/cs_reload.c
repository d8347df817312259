/* Hot reload, certstore side: a new snapshot built against the live one with per-site
 * atomicity, the compatibility guard before anything is applied, and a per-site report.
 *
 * Per site (matched by [site] name): the new certificate set is loaded and validated as at
 * startup. When any of its certificates is refused, or the set misses a required key type,
 * the site keeps exactly the live site's cs_cert set (KEPT; PENDING when the failure looks
 * like a renewal still being written, which the caller retries). A usable set equal to the
 * live one (same cs_cert pointers, reused by file identity + content hash) is UNCHANGED and
 * skips the guard; otherwise the guard compares it with the live set and a loss is REFUSED
 * (live set kept) or, under on_coverage_loss = warn, applied as WARNED.
 *
 * Deleted files: a deleted certificate file is KEPT (a deletion is not a renewal in
 * progress); a key file missing while its certificate exists is PENDING (renewal tools
 * write the two files one after the other). */
#include "cs_coverage_int.h"
#include "cs_guard_int.h"
#include "cs_site_int.h"
#include "cs_snapshot_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- the report ---- */

const char *cs_site_status_name(enum cs_site_status s)
{
    static const char *const names[] = {"unchanged", "updated", "added",  "removed", "kept",
                                        "pending",   "refused", "warned", "failed"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

void cs_reload_report_free(struct cs_reload_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->sites && i < r->n; i++) {
        free(r->sites[i].site);
        free(r->sites[i].diff);
        for (size_t j = 0; j < r->sites[i].n_profiles_lost; j++)
            free(r->sites[i].profiles_lost[j]);
        free(r->sites[i].profiles_lost);
    }
    free(r->sites);
    memset(r, 0, sizeof(*r));
}

void cs_reload_report_counts(const struct cs_reload_report *r, char *buf, size_t len)
{
    snprintf(buf, len, "%zu updated, %zu refused, %zu kept, %zu pending, %zu failed", r->n_updated,
             r->n_refused, r->n_kept, r->n_pending, r->n_failed);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof(buf), f, ap);
    va_end(ap);
    return strdup(buf);
}

/* Sets status and diff (NULL diff: out of memory, left to the caller's check). */
static void report_set(struct cs_reload_report *r, struct cs_site_report *sr,
                       enum cs_site_status st, char *diff)
{
    sr->status = st;
    free(sr->diff);
    sr->diff = diff;
    r->n_refused += st == CS_SITE_REFUSED;
    r->n_kept += st == CS_SITE_KEPT;
    r->n_pending += st == CS_SITE_PENDING;
    r->n_failed += st == CS_SITE_FAILED;
    r->n_updated += st == CS_SITE_UPDATED || st == CS_SITE_ADDED || st == CS_SITE_WARNED;
}

static int report_profiles(struct cs_site_report *sr, const struct cs_guard *g)
{
    sr->profiles_lost = calloc(g->n_profiles_lost + 1, sizeof(*sr->profiles_lost));
    if (!sr->profiles_lost)
        return -1;
    for (size_t i = 0; i < g->n_profiles_lost; i++) {
        if (!(sr->profiles_lost[i] = strdup(g->profiles_lost[i])))
            return -1;
        sr->n_profiles_lost++;
    }
    return 0;
}

/* "a-rsa.crt (RSA-2048, sha256 0123456789abcdef), ..." for certs of `in` not in `not_in`
 * (named by cs__cert_name: "live/NAME/fullchain.pem" for a certbot lineage). */
static void list_certs(char *buf, size_t len, const struct cs_site *in,
                       const struct cs_site *not_in)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < in->n_certs && used < len; i++) {
        bool found = false;
        for (size_t j = 0; not_in && j < not_in->n_certs; j++)
            found |= not_in->certs[j] == in->certs[i];
        if (found)
            continue;
        char desc[32];
        int w = snprintf(buf + used, len - used, "%s%s (%s, sha256 %.16s)", used ? ", " : "",
                         cs__cert_name(in->certs[i]->cert_path),
                         cs_cert_describe(in->certs[i], desc, sizeof(desc)), in->certs[i]->fp_hex);
        used += w > 0 ? (size_t)w : 0;
    }
}

static char *diff_applied(const char *site, const char *verb, const struct cs_site *cand,
                          const struct cs_site *live)
{
    char added[768], dropped[768];
    list_certs(added, sizeof(added), cand, live);
    if (live)
        list_certs(dropped, sizeof(dropped), live, cand);
    else
        dropped[0] = '\0';
    if (!added[0] && !dropped[0])
        return fmt("%s: %s: same certificates in a new order", site, verb);
    return fmt("%s: %s: %s%s%s%s%s", site, verb, added[0] ? "now serving " : "", added,
               added[0] && dropped[0] ? "; " : "", dropped[0] ? "no longer serving " : "", dropped);
}

/* ---- per site ---- */

struct reload {
    const struct cs_conf *conf;
    const struct cs_snapshot *prev;
    struct cs_loader l;
    bool reuse; /* prev's certificates and rows may be reused (cs__snapshot_reusable) */
    struct cs_diag *d;
    SSL_CTX **clients; /* the profiles' client contexts, made on the first guard run */
    struct cs_reload_report *r;
    unsigned char *rows; /* per new site, the profile outcomes known for it (CS_ROW_*) */
};

static bool same_certs(const struct cs_site *a, const struct cs_site *b)
{
    if (a->n_certs != b->n_certs)
        return false;
    for (size_t i = 0; i < a->n_certs; i++)
        if (a->certs[i] != b->certs[i])
            return false;
    return true;
}

/* The same files with the same bytes (cert + key content hash), in the same order: a
 * certificate rewritten unchanged through a new inode (temporary file + rename). */
static bool same_content(const struct cs_site *a, const struct cs_site *b)
{
    if (a->n_certs != b->n_certs)
        return false;
    for (size_t i = 0; i < a->n_certs; i++) {
        const struct cs_cert *x = a->certs[i], *y = b->certs[i];
        if (strcmp(x->cert_path, y->cert_path) != 0 || strcmp(x->key_path, y->key_path) != 0 ||
            memcmp(x->content_sha256, y->content_sha256, sizeof(x->content_sha256)) != 0)
            return false;
    }
    return true;
}

static bool same_names(const struct cs_site *a, const struct cs_site *b)
{
    if (a->n_names != b->n_names)
        return false;
    for (size_t i = 0; i < a->n_names; i++)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return false;
    return true;
}

/* The live site's measured profile outcomes, when they were measured the way this build
 * would (same policy and context setup: the loader reuses prev only then). */
static const unsigned char *live_row(const struct reload *x, const struct cs_site *live)
{
    if (!x->reuse || !live)
        return NULL;
    return cs__snapshot_row(x->prev, (size_t)(live - cs_snapshot_site(x->prev, 0)));
}

/* Remembers row for new site i when it describes exactly what site i serves. */
static void keep_row(struct reload *x, size_t i, const struct cs_site *site,
                     const struct cs_site *measured, const unsigned char *row)
{
    if (row && same_certs(site, measured) && same_names(site, measured))
        memcpy(&x->rows[i * cs_n_profiles], row, cs_n_profiles);
}

/* The new set cannot be used: keep the live one, or fail when there is none. */
static int site_unusable(struct reload *x, size_t i, const struct cs_site_conf *sc,
                         const struct cs_site *live, struct cs_site *site,
                         const struct cs_site_load *res, struct cs_site_report *sr)
{
    const char *why = res->why[0] ? res->why : "no usable certificate";
    if (!live) {
        report_set(x->r, sr, CS_SITE_FAILED, fmt("%s: no usable certificate: %s", sc->name, why));
        return 0;
    }
    /* the wording follows the status, so the per-site lines and the counts agree */
    if (res->result == CS_LOAD_PENDING)
        report_set(x->r, sr, CS_SITE_PENDING,
                   fmt("%s: pending, previous certificates serve until the renewal is complete: %s",
                       sc->name, why));
    else
        report_set(x->r, sr, CS_SITE_KEPT,
                   fmt("%s: kept previous certificates: %s", sc->name, why));
    if (cs__site_set_certs(site, sc, live->certs, live->n_certs) != 0)
        return -1;
    keep_row(x, i, site, live, live_row(x, live));
    return 0;
}

/* "<reasons>; profiles that would fail: p1, p2" */
static void loss_text(char *buf, size_t len, const struct cs_guard *g, const char *verb)
{
    size_t used = (size_t)snprintf(buf, len, "%s", g->reasons);
    for (size_t i = 0; i < g->n_profiles_lost && used < len; i++) {
        int w = i ? snprintf(buf + used, len - used, ", %s", g->profiles_lost[i])
                  : snprintf(buf + used, len - used, "%sprofiles that %s: %s", used ? "; " : "",
                             verb, g->profiles_lost[i]);
        used += w > 0 ? (size_t)w : 0;
    }
}

/* A usable new set that differs from the live one: the guard decides. */
static int site_guard(struct reload *x, size_t i, const struct cs_site_conf *sc,
                      const struct cs_site *live, struct cs_site *site, struct cs_site_report *sr)
{
    struct cs_guard g = {0};
    char text[1536];
    int rc = 0;
    if (!x->clients && !(x->clients = cs__coverage_clients_new()))
        return -1;
    bool measured = cs__guard_check(x->conf, live, site, sc->n_names > 0, x->clients,
                                    live_row(x, live), x->d, &g) == 0;
    if (measured && (!g.loss || sc->on_coverage_loss == CS_LOSS_WARN))
        keep_row(x, i, site, site, g.cand_row);
    if (!g.loss) {
        char *diff = diff_applied(sc->name, "updated", site, live);
        if (diff && g.notes[0]) {
            char *with = fmt("%s; warning: %s", diff, g.notes);
            free(diff);
            diff = with;
        }
        report_set(x->r, sr, CS_SITE_UPDATED, diff);
    } else if (sc->on_coverage_loss == CS_LOSS_WARN) {
        loss_text(text, sizeof(text), &g, "now fail");
        report_set(
            x->r, sr, CS_SITE_WARNED,
            fmt("%s: applied despite coverage loss (on_coverage_loss = warn): %s", sc->name, text));
        cs_diag_add(x->d, CS_WARNING, sc->name, NULL,
                    "new certificates applied despite coverage loss: %s", text);
        rc = report_profiles(sr, &g);
    } else {
        loss_text(text, sizeof(text), &g, "would fail");
        report_set(x->r, sr, CS_SITE_REFUSED, fmt("%s: refused: %s", sc->name, text));
        cs_diag_add(x->d, CS_ERROR, sc->name, NULL,
                    "new certificates refused, previous ones kept: %s", text);
        rc = report_profiles(sr, &g);
        if (rc == 0)
            rc = cs__site_set_certs(site, sc, live->certs, live->n_certs);
        if (rc == 0 && measured)
            keep_row(x, i, site, live, g.live_row);
    }
    cs__guard_clear(&g);
    return rc;
}

static int unchanged_content(struct reload *x, const struct cs_site_conf *sc,
                             const struct cs_site *live, struct cs_site *site,
                             struct cs_site_report *sr)
{
    if (cs__site_set_certs(site, sc, live->certs, live->n_certs) != 0)
        return -1;
    report_set(x->r, sr, CS_SITE_UNCHANGED, strdup(""));
    return 0;
}

static int reload_site(struct reload *x, size_t i, const struct cs_site_conf *sc,
                       struct cs_site *site, struct cs_site_report *sr)
{
    const struct cs_site *live = cs__snapshot_find_site(x->prev, sc->name);
    struct cs_site_load res;
    if (!(sr->site = strdup(sc->name ? sc->name : "")) || cs__site_load(&x->l, sc, site, &res) != 0)
        return -1;
    int rc = 0;
    if (res.result != CS_LOAD_OK || site->n_certs == 0 || res.missing)
        rc = site_unusable(x, i, sc, live, site, &res, sr);
    else if (!live)
        report_set(x->r, sr, CS_SITE_ADDED, diff_applied(sc->name, "added", site, NULL));
    else if (same_certs(site, live))
        report_set(x->r, sr, CS_SITE_UNCHANGED, strdup(""));
    else if (same_content(site, live)) /* keep the live certificates: the same bytes */
        rc = unchanged_content(x, sc, live, site, sr);
    else
        rc = site_guard(x, i, sc, live, site, sr);
    if (rc == 0 && sr->status == CS_SITE_UNCHANGED)
        keep_row(x, i, site, live, live_row(x, live));
    return rc == 0 && sr->diff ? 0 : -1;
}

static bool entry_serves(const struct cs_entry *e, const struct cs_site *site,
                         struct cs_cert *const *certs, size_t n)
{
    return e && e->site == site && e->n_certs == n &&
           (n == 0 || memcmp(e->certs, certs, n * sizeof(*certs)) == 0);
}

/* The default entry the new build would make (see index_default) is the live one. Under
 * strict_sni the default entry serves no client, so it does not matter. */
static bool same_default(const struct reload *x)
{
    const struct cs_snapshot *p = x->prev;
    bool matched = false;
    if (cs_snapshot_strict_sni(p))
        return true;
    const struct cs_entry *def = cs_snapshot_lookup(p, NULL, &matched);
    const struct cs_site *site = cs_snapshot_site(p, 0);
    if (x->conf->default_site) {
        site = cs__snapshot_find_site(p, x->conf->default_site);
        if (!site) {
            const struct cs_entry *e = cs_snapshot_lookup(p, x->conf->default_site, &matched);
            return matched && def && entry_serves(def, e->site, e->certs, e->n_certs);
        }
    }
    return entry_serves(def, site, site->certs, site->n_certs);
}

/* Whether sites (the new build's, in configured order) serve exactly what prev serves:
 * same sites in the same order with the same certificates, names, preference and tag,
 * contexts built the same way, same SNI strictness and default. Then a reload has nothing
 * to publish. */
static bool serves_as_prev(const struct reload *x, const struct cs_site *sites)
{
    const struct cs_snapshot *p = x->prev;
    size_t n = x->conf->n_sites;
    if (!p || !x->reuse || cs_snapshot_site_count(p) != n ||
        cs_snapshot_strict_sni(p) != x->conf->strict_sni)
        return false;
    for (size_t i = 0; i < n; i++) {
        const struct cs_site *a = cs_snapshot_site(p, i), *b = &sites[i];
        if (strcmp(a->name, b->name) != 0 || !same_certs(a, b) || !same_names(a, b) ||
            a->prefer != b->prefer || a->tag != b->tag)
            return false;
    }
    return same_default(x);
}

static bool configured(const struct cs_conf *conf, const char *name)
{
    for (size_t i = 0; i < conf->n_sites; i++)
        if (conf->sites[i].name && strcmp(conf->sites[i].name, name) == 0)
            return true;
    return false;
}

/* Sites of prev gone from the configuration: reported, not a coverage loss. */
static int report_removed(struct reload *x)
{
    size_t n = x->prev ? cs_snapshot_site_count(x->prev) : 0;
    for (size_t i = 0; i < n; i++) {
        const struct cs_site *ps = cs_snapshot_site(x->prev, i);
        if (configured(x->conf, ps->name))
            continue;
        struct cs_site_report *sr = &x->r->sites[x->r->n++];
        if (!(sr->site = strdup(ps->name)))
            return -1;
        report_set(x->r, sr, CS_SITE_REMOVED, fmt("%s: removed from the configuration", ps->name));
        if (!sr->diff)
            return -1;
    }
    return 0;
}

static int reload_sites(struct reload *x, struct cs_site *sites)
{
    for (size_t i = 0; i < x->conf->n_sites; i++)
        if (reload_site(x, i, &x->conf->sites[i], &sites[i], &x->r->sites[x->r->n++]) != 0)
            return -1;
    return report_removed(x);
}

int cs_snapshot_rebuild(const struct cs_conf *conf, const struct cs_snapshot *prev,
                        struct cs_diag *diag, struct cs_reload_report *report,
                        struct cs_snapshot **out)
{
    *out = NULL;
    memset(report, 0, sizeof(*report));
    size_t n_prev = prev ? cs_snapshot_site_count(prev) : 0;
    struct reload x = {.conf = conf, .prev = prev, .d = diag, .r = report};
    struct cs_site *sites = calloc(conf->n_sites + 1, sizeof(*sites));
    x.rows = calloc(conf->n_sites * cs_n_profiles + 1, 1);
    report->sites = calloc(conf->n_sites + n_prev + 1, sizeof(*report->sites));
    struct cs_snapshot *s =
        sites && x.rows && report->sites ? cs__snapshot_begin(conf, diag) : NULL;
    x.reuse = cs__snapshot_reusable(prev, conf);
    int rc = s ? cs__loader_init(&x.l, conf, x.reuse ? cs_snapshot_site(prev, 0) : NULL,
                                 x.reuse ? n_prev : 0, diag)
               : -1;
    if (rc == 0 && conf->n_sites == 0) {
        cs_diag_add(diag, CS_ERROR, NULL, NULL, "no site configured");
        rc = -1;
    }
    if (rc == 0)
        rc = reload_sites(&x, sites);
    report->unchanged = rc == 0 && report->n_failed == 0 && serves_as_prev(&x, sites);
    cs__loader_close(&x.l);
    cs__coverage_clients_free(x.clients);
    if (report->unchanged) {
        /* nothing to publish: the live snapshot again, with its generation */
        cs_snapshot_release(s);
        s = cs_snapshot_ref((struct cs_snapshot *)prev);
    } else if (rc == 0 && report->n_failed == 0) {
        rc = cs__snapshot_finish(s, conf, sites, conf->n_sites, true, diag); /* owns sites */
        sites = NULL;
        for (size_t i = 0; rc == 0 && i < conf->n_sites; i++)
            if (x.rows[i * cs_n_profiles] != CS_ROW_UNKNOWN)
                rc = cs__snapshot_set_row(s, i, &x.rows[i * cs_n_profiles]);
    } else {
        rc = -1;
    }
    for (size_t i = 0; sites && i < conf->n_sites; i++)
        cs__site_clear(&sites[i]);
    free(sites);
    free(x.rows);
    if (rc != 0) {
        if (cs_diag_count(diag, CS_ERROR) == 0)
            cs_diag_add(diag, CS_ERROR, NULL, NULL, "cannot build the snapshot (out of memory)");
        cs_snapshot_release(s);
        return -1;
    }
    *out = s;
    return 0;
}
