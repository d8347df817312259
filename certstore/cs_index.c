/* The SNI index of a snapshot and its lookup.
 *
 * A site answers its configured names, or, when none are configured, every DNS name of
 * its certificates. A name no certificate of the site covers is left out (the build
 * reports it). A name two sites claim stays with the first site (CS_WARNING). Exact names
 * are looked up first, then "*.rest" for the name minus its first label, then the default
 * entry (none under strict_sni). Both indexes are sorted arrays searched with bsearch: no
 * allocation, no locking per handshake. Each cs_entry lists the site's certificates
 * covering one name in the site's preference order (cs_site.c). */
#include "cs_snapshot_int.h"
#include "cs_cert_int.h"
#include "cs_validate_int.h"

#include <stdlib.h>
#include <string.h>

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
        cs__lower(buf);
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

/* ---- the index ---- */

static struct cs_entry *entry_new(struct cs_snapshot *s)
{
    struct cs_entry *e = &s->entries[s->n_entries];
    memset(e, 0, sizeof(*e));
    return e;
}

/* Adds the entry for one name of a site: the site's certificates covering it, in order.
 * Names no certificate covers are left out (reported by cs__site_check_names). */
static int index_name(struct cs_snapshot *s, const struct cs_site *site, const char *name)
{
    struct cs_entry *e = entry_new(s);
    e->site = site;
    e->certs = calloc(site->n_certs ? site->n_certs : 1, sizeof(*e->certs));
    if (!e->certs)
        return -1;
    for (size_t i = 0; i < site->n_certs; i++)
        if (cs__cert_covers(site->certs[i], name))
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

int cs__index_build(struct cs_snapshot *s, const struct cs_conf *conf, struct cs_diag *d)
{
    size_t total = 1;
    for (size_t i = 0; i < s->n_sites; i++)
        total += s->sites[i].n_names;
    s->entries = calloc(total, sizeof(*s->entries));
    s->exact = calloc(total, sizeof(*s->exact));
    s->wild = calloc(total, sizeof(*s->wild));
    if (!s->entries || !s->exact || !s->wild)
        return -1;
    for (size_t i = 0; i < s->n_sites; i++) {
        const struct cs_site *site = &s->sites[i];
        for (size_t j = 0; j < site->n_names; j++)
            if (index_name(s, site, site->names[j]) != 0)
                return -1;
    }
    index_sort(s->exact, &s->n_exact, s, d, false);
    index_sort(s->wild, &s->n_wild, s, d, true);
    return s->n_sites ? index_default(s, conf, d) : 0;
}
