/* The compatibility guard: before a reload applies a site's new certificates, compare
 * them with the live ones and name everything a client would lose:
 *   (a) a key type served now and gone (refused),
 *   (b) a host name covered now and no longer covered (refused),
 *   (c) a client profile that completes a real handshake now and would not (refused),
 *   (d) key size, curve or issuer changes (CS_WARNING findings only).
 * (c) runs the coverage check's handshake driver against two throw-away one-site
 * snapshots, one per set, so both sides go through the same ClientHello callback,
 * cs_select and per-certificate contexts as production. A one-site snapshot has that site
 * as its default, so the no-SNI profile measures the site itself on both sides. */
#include "cs_guard_int.h"
#include "cs_coverage_int.h"
#include "cs_site_int.h"
#include "cs_snapshot_int.h"
#include "cs_validate_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static void append(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t len, const char *f, ...)
{
    size_t used = strlen(buf);
    if (used + 2 >= len)
        return;
    if (used)
        used += (size_t)snprintf(buf + used, len - used, "; ");
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf + used, len - used, f, ap);
    va_end(ap);
}

static unsigned key_types(const struct cs_site *s)
{
    unsigned t = 0;
    for (size_t i = 0; i < s->n_certs; i++)
        t |= 1u << s->certs[i]->type;
    return t;
}

static const struct cs_cert *first_of(const struct cs_site *s, enum cs_key_type t)
{
    for (size_t i = 0; i < s->n_certs; i++)
        if (s->certs[i]->type == t)
            return s->certs[i];
    return NULL;
}

/* (a): "RSA would be removed (a-rsa.crt now holds an ECDSA P-256 key)". */
static void check_types(const struct cs_site *live, const struct cs_site *cand,
                        struct cs_guard *out)
{
    unsigned lost = key_types(live) & ~key_types(cand);
    for (enum cs_key_type t = CS_KEY_RSA; t <= CS_KEY_ECDSA; t++) {
        if (!(lost & (1u << t)))
            continue;
        char where[512] = "", desc[32];
        for (size_t i = 0; i < live->n_certs; i++) {
            const struct cs_cert *lc = live->certs[i], *now = NULL;
            if (lc->type != t)
                continue;
            for (size_t j = 0; j < cand->n_certs && !now; j++)
                if (strcmp(cand->certs[j]->cert_path, lc->cert_path) == 0)
                    now = cand->certs[j];
            size_t used = strlen(where);
            if (now)
                snprintf(where + used, sizeof(where) - used, "%s%s now holds an %s key",
                         used ? ", " : "", cs__cert_name(lc->cert_path),
                         cs_cert_describe(now, desc, sizeof(desc)));
            else
                snprintf(where + used, sizeof(where) - used, "%s%s is no longer configured",
                         used ? ", " : "", cs__cert_name(lc->cert_path));
        }
        append(out->reasons, sizeof(out->reasons), "%s would be removed (%s)", cs_key_type_name(t),
               where);
        out->loss = true;
    }
}

static bool site_covers(const struct cs_site *s, const char *name)
{
    for (size_t i = 0; i < s->n_certs; i++)
        if (cs__cert_covers(s->certs[i], name))
            return true;
    return false;
}

static bool has_name(const struct cs_site *s, const char *name)
{
    for (size_t i = 0; i < s->n_names; i++)
        if (strcmp(s->names[i], name) == 0)
            return true;
    return false;
}

/* (b): a name the site answers and covers now. A name dropped from the configuration is
 * the operator's decision, not a loss. */
static void check_names(const struct cs_site *live, const struct cs_site *cand,
                        bool names_configured, struct cs_guard *out)
{
    for (size_t i = 0; i < live->n_names; i++) {
        const char *n = live->names[i];
        if ((names_configured && !has_name(cand, n)) || !site_covers(live, n) ||
            site_covers(cand, n))
            continue;
        append(out->reasons, sizeof(out->reasons), "name %s would no longer be covered", n);
        out->loss = true;
    }
}

/* (d): compares the preferred certificate of each key type both sets serve. */
static void check_changes(const struct cs_site *live, const struct cs_site *cand, struct cs_diag *d,
                          struct cs_guard *out)
{
    for (enum cs_key_type t = CS_KEY_RSA; t <= CS_KEY_ECDSA; t++) {
        const struct cs_cert *a = first_of(live, t), *b = first_of(cand, t);
        char note[600] = "";
        if (!a || !b)
            continue;
        if (t == CS_KEY_RSA && a->bits != b->bits)
            snprintf(note, sizeof(note), "RSA key size changes from %d to %d bits (%s)", a->bits,
                     b->bits, cs__cert_name(b->cert_path));
        if (t == CS_KEY_ECDSA && a->curve_nid != b->curve_nid)
            snprintf(note, sizeof(note), "ECDSA curve changes from %s to %s (%s)",
                     cs_curve_name(a->curve_nid), cs_curve_name(b->curve_nid),
                     cs__cert_name(b->cert_path));
        if (note[0]) {
            cs_diag_add(d, CS_WARNING, cand->name, b->cert_path, "%s", note);
            append(out->notes, sizeof(out->notes), "%s", note);
        }
        if (a->issuer && b->issuer && strcmp(a->issuer, b->issuer) != 0) {
            snprintf(note, sizeof(note), "%s issuer changes from %.200s to %.200s",
                     cs_key_type_name(t), a->issuer, b->issuer);
            cs_diag_add(d, CS_WARNING, cand->name, b->cert_path, "%s", note);
            append(out->notes, sizeof(out->notes), "%s", note);
        }
    }
}

/* A throw-away snapshot serving only site (its own default entry). */
static struct cs_snapshot *one_site(const struct cs_conf *conf, const struct cs_site *site,
                                    struct cs_diag *scratch)
{
    struct cs_conf c = *conf; /* shallow: begin/finish only read it */
    c.default_site = NULL;
    c.strict_sni = false;
    struct cs_snapshot *s = cs__snapshot_begin(&c, scratch);
    struct cs_site *v = calloc(1, sizeof(*v));
    if (!s || !v || cs__site_copy(v, site) != 0) {
        if (v)
            cs__site_clear(v);
        free(v);
        cs_snapshot_release(s);
        return NULL;
    }
    if (cs__snapshot_finish(s, &c, v, 1, false, scratch) != 0) { /* v is owned by s now */
        cs_snapshot_release(s);
        return NULL;
    }
    return s;
}

/* Runs every profile against a one-site snapshot of site; row[p] = CS_ROW_*. */
static int measure(const struct cs_conf *conf, const struct cs_site *site, SSL_CTX *const *clients,
                   unsigned char *row)
{
    struct cs_diag scratch; /* the throw-away snapshot's findings are the build's too */
    cs_diag_init(&scratch);
    struct cs_snapshot *s = one_site(conf, site, &scratch);
    struct cs_coverage_cell *cells = calloc(cs_n_profiles + 1, sizeof(*cells));
    int rc = -1;
    if (s && cells) {
        cs__coverage_run_site(s, 0, clients, cells);
        for (size_t p = 0; p < cs_n_profiles; p++)
            row[p] = cells[p].ok ? CS_ROW_OK : CS_ROW_FAIL;
        rc = 0;
    }
    free(cells);
    cs_snapshot_release(s);
    cs_diag_free(&scratch);
    return rc;
}

/* (c): every profile against the candidate, and against the live set unless its outcomes
 * are known already. */
static int check_profiles(const struct cs_conf *conf, const struct cs_site *live,
                          const struct cs_site *cand, SSL_CTX *const *clients,
                          const unsigned char *live_row, struct cs_guard *out)
{
    out->live_row = calloc(cs_n_profiles + 1, 1);
    out->cand_row = calloc(cs_n_profiles + 1, 1);
    out->profiles_lost = calloc(cs_n_profiles + 1, sizeof(*out->profiles_lost));
    if (!out->live_row || !out->cand_row || !out->profiles_lost)
        return -1;
    if (live_row)
        memcpy(out->live_row, live_row, cs_n_profiles);
    else if (measure(conf, live, clients, out->live_row) != 0)
        return -1;
    if (measure(conf, cand, clients, out->cand_row) != 0)
        return -1;
    for (size_t p = 0; p < cs_n_profiles; p++)
        if (out->live_row[p] == CS_ROW_OK && out->cand_row[p] != CS_ROW_OK)
            out->profiles_lost[out->n_profiles_lost++] = cs_profiles[p].name;
    out->loss |= out->n_profiles_lost > 0;
    return 0;
}

int cs__guard_check(const struct cs_conf *conf, const struct cs_site *live,
                    const struct cs_site *cand, bool names_configured, SSL_CTX *const *clients,
                    const unsigned char *live_row, struct cs_diag *d, struct cs_guard *out)
{
    memset(out, 0, sizeof(*out));
    check_types(live, cand, out);
    check_names(live, cand, names_configured, out);
    check_changes(live, cand, d, out);
    if (check_profiles(conf, live, cand, clients, live_row, out) == 0)
        return 0;
    /* Cannot tell what clients would lose: keep what works. */
    append(out->reasons, sizeof(out->reasons), "cannot run the client-profile handshakes");
    cs_diag_add(d, CS_ERROR, cand->name, NULL, "cannot run the client-profile handshakes");
    out->loss = true;
    return -1;
}

void cs__guard_clear(struct cs_guard *g)
{
    if (!g)
        return;
    free(g->profiles_lost);
    free(g->live_row);
    free(g->cand_row);
    memset(g, 0, sizeof(*g));
}
