/* Conversion of raw records: sections first (so every object exists and has its defaults
 * before any key is applied), then every key through the key table, then the cross
 * checks. Every problem is reported; nothing stops at the first. */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_names[PX_K__N] = {"proxy", "listener", "site", "upstream"};

const char *px_kind_name(enum px_kind k)
{
    return k >= 0 && k < PX_K__N ? kind_names[k] : "?";
}

static enum px_kind kind_of(const char *text, const char **name)
{
    for (int k = 0; k < PX_K__N; k++) {
        size_t n = strlen(kind_names[k]);
        if (strncmp(text, kind_names[k], n) == 0 && (text[n] == '\0' || text[n] == ' ')) {
            *name = text[n] ? text + n + 1 : text + n;
            return (enum px_kind)k;
        }
    }
    *name = "";
    return PX_K_BAD;
}

static bool name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

static struct px_sect *sect_find(struct px_loader *L, const char *text)
{
    for (size_t i = 0; i < L->n_sects; i++)
        if (strcmp(L->sects[i].text, text) == 0)
            return &L->sects[i];
    return NULL;
}

/* Validates one header; returns its kind or PX_K_BAD (reported). */
static enum px_kind header_kind(struct px_loader *L, const struct px_raw *r, const char **name)
{
    enum px_kind k = kind_of(r->section, name);
    if (k == PX_K_BAD) {
        px_cerr(L, r->line, "unknown section [%s] (expected proxy, listener, site, upstream)",
                r->section);
    } else if (k == PX_K_PROXY && **name) {
        px_cerr(L, r->line, "section [proxy] takes no name");
        k = PX_K_BAD;
    } else if (k != PX_K_PROXY && !**name) {
        px_cerr(L, r->line, "section [%s] needs a name: [%s NAME]", r->section, r->section);
        k = PX_K_BAD;
    } else if (k != PX_K_PROXY && !name_ok(*name)) {
        px_cerr(L, r->line, "section [%s]: bad name (letters, digits, \".\", \"_\", \"-\")",
                r->section);
        k = PX_K_BAD;
    }
    return k;
}

static void *sect_obj(struct px_loader *L, const struct px_sect *s)
{
    switch (s->kind) {
    case PX_K_PROXY:
        return L->cfg;
    case PX_K_LISTENER:
        return &L->cfg->listeners[s->idx];
    case PX_K_SITE:
        return &L->cfg->certs.sites[s->idx];
    case PX_K_UPSTREAM:
        return &L->cfg->upstreams[s->idx];
    default:
        return NULL;
    }
}

/* Creates one px_sect per distinct header; repeated headers are reported and merged.
 * Returns 0 or -1 (OOM). */
static int make_sects(struct px_loader *L, size_t counts[PX_K__N])
{
    L->sects = px_calloc(L, L->n_raws, sizeof *L->sects);
    if (!L->sects)
        return -1;
    for (size_t i = 0; i < L->n_raws; i++) {
        const struct px_raw *r = &L->raws[i];
        if (r->key)
            continue;
        struct px_sect *dup = sect_find(L, r->section);
        if (dup) {
            if (dup->kind != PX_K_BAD)
                px_cerr(L, r->line, "duplicate section [%s] (first at line %d)", r->section,
                        dup->line);
            continue;
        }
        int *seen = px_calloc(L, px_n_keys, sizeof *seen);
        if (!seen)
            return -1;
        struct px_sect *s = &L->sects[L->n_sects++];
        s->text = r->section;
        s->line = r->line;
        s->kind = header_kind(L, r, &s->name);
        s->seen = seen;
        if (s->kind != PX_K_BAD)
            s->idx = counts[s->kind]++;
    }
    return 0;
}

/* Allocates the section objects; a count is set only with its array. Returns 0 or -1
 * (OOM; a name that could not be copied stays NULL, the load fails anyway). */
static int make_objects(struct px_loader *L, const size_t counts[PX_K__N])
{
    struct px_config *c = L->cfg;
    if (!(c->listeners = px_calloc(L, counts[PX_K_LISTENER], sizeof *c->listeners)) ||
        !(c->upstreams = px_calloc(L, counts[PX_K_UPSTREAM], sizeof *c->upstreams)) ||
        !(c->certs.sites = px_calloc(L, counts[PX_K_SITE], sizeof *c->certs.sites)) ||
        !(L->site_upstream = px_calloc(L, counts[PX_K_SITE], sizeof *L->site_upstream)) ||
        !(L->site_upstream_line = px_calloc(L, counts[PX_K_SITE], sizeof *L->site_upstream_line)))
        return -1;
    c->n_listeners = counts[PX_K_LISTENER];
    c->n_upstreams = counts[PX_K_UPSTREAM];
    c->certs.n_sites = counts[PX_K_SITE];
    L->n_site_upstream = counts[PX_K_SITE];
    for (size_t i = 0; i < L->n_sects; i++) {
        struct px_sect *s = &L->sects[i];
        void *obj = sect_obj(L, s);
        if (!obj || s->kind == PX_K_PROXY)
            continue;
        px_keys_defaults(L, s->kind, obj);
        if (s->kind == PX_K_LISTENER) {
            c->listeners[s->idx].name = px_strdup(L, s->name);
            c->listeners[s->idx].line = s->line;
        } else if (s->kind == PX_K_SITE) {
            c->certs.sites[s->idx].name = px_strdup(L, s->name);
            c->certs.sites[s->idx].line = s->line;
            c->certs.sites[s->idx].tag = -1;
            /* unset: inherits [proxy] on_coverage_loss once every key is applied */
            c->certs.sites[s->idx].on_coverage_loss = (enum cs_loss_policy) - 1;
        } else {
            c->upstreams[s->idx].name = px_strdup(L, s->name);
            c->upstreams[s->idx].line = s->line;
        }
    }
    return 0;
}

static void apply_key(struct px_loader *L, const struct px_raw *r)
{
    struct px_sect *s = sect_find(L, r->section);
    if (!s) {
        px_cerr(L, r->line, "key \"%s\" is outside any section", r->key);
        return;
    }
    if (s->kind == PX_K_BAD)
        return; /* the header was reported; its keys would only add noise */
    int ki = px_key_find(s->kind, r->key);
    if (ki < 0) {
        px_cerr(L, r->line, "[%s] unknown key \"%s\"", r->section, r->key);
        return;
    }
    const struct px_key *k = &px_keys[ki];
    if (s->seen[ki] && !k->repeatable) {
        px_kerr(L, r, "set twice (first at line %d)", s->seen[ki]);
        return;
    }
    if (!s->seen[ki])
        s->seen[ki] = r->line ? r->line : -1;
    if (!r->value || !*r->value) {
        if (r->flag) /* sidecar mode passes "" for a required flag that is missing */
            px_errors_add(L->errs, "%s is required in sidecar mode", r->flag);
        else
            px_kerr(L, r, "empty value");
        return;
    }
    k->conv(L, k, r, sect_obj(L, s));
}

int px_loader_run(struct px_loader *L)
{
    size_t before = L->errs->n;
    size_t counts[PX_K__N] = {0};
    L->cfg = px_calloc(L, 1, sizeof *L->cfg);
    if (!L->cfg)
        return -1;
    L->cfg->refs = 1;
    px_keys_defaults(L, PX_K_PROXY, L->cfg);
    if (make_sects(L, counts) != 0 || make_objects(L, counts) != 0)
        return -1;
    for (size_t i = 0; i < L->n_raws; i++)
        if (L->raws[i].key)
            apply_key(L, &L->raws[i]);
    for (size_t i = 0; i < L->cfg->certs.n_sites; i++)
        if ((int)L->cfg->certs.sites[i].on_coverage_loss < 0)
            L->cfg->certs.sites[i].on_coverage_loss = L->cfg->on_coverage_loss;
    if (L->errs->oom) /* the checks would meet names and values that are not there */
        return -1;
    px_config_check(L);
    return L->errs->n == before ? 0 : -1;
}

int px_loader_finish(struct px_loader *L, size_t errs_before, struct px_config **out)
{
    *out = NULL;
    if (L->errs->oom)
        px_errors_add(L->errs, "out of memory");
    else if (L->errs->n == errs_before) {
        *out = L->cfg;
        L->cfg = NULL;
    }
    px_loader_close(L);
    return *out ? 0 : -1;
}

void px_loader_close(struct px_loader *L)
{
    for (size_t i = 0; i < L->n_raws; i++) {
        free(L->raws[i].section);
        free(L->raws[i].key);
        free(L->raws[i].value);
    }
    free(L->raws);
    for (size_t i = 0; i < L->n_sects; i++)
        free(L->sects[i].seen);
    free(L->sects);
    for (size_t i = 0; i < L->n_site_upstream; i++)
        free(L->site_upstream[i]);
    free(L->site_upstream);
    free(L->site_upstream_line);
    free(L->dir);
    free(L->err_lines);
    px_config_free(L->cfg);
    memset(L, 0, sizeof *L);
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Frees the cs_conf contents here rather than with cs_conf_clear: px_config built them,
 * and pxbase then needs nothing from certstore but its header. */
static void certs_free(struct cs_conf *cc)
{
    for (size_t i = 0; i < cc->n_sites; i++) {
        struct cs_site_conf *s = &cc->sites[i];
        free(s->name);
        free_strv(s->names, s->n_names);
        for (size_t j = 0; j < s->n_certs; j++) {
            free(s->certs[j].cert);
            free(s->certs[j].key);
        }
        free(s->certs);
        free_strv(s->cert_dirs, s->n_cert_dirs);
        free_strv(s->accept_lost, s->n_accept_lost);
    }
    free(cc->sites);
    free(cc->default_site);
    free(cc->ca_bundle);
    free(cc->policy.ciphers);
    free(cc->policy.ciphersuites);
    free(cc->policy.groups);
    memset(cc, 0, sizeof *cc);
}

struct px_config *px_config_ref(struct px_config *c)
{
    if (c)
        __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

void px_config_release(struct px_config *c)
{
    if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
        px_config_free(c);
}

void px_config_free(struct px_config *c)
{
    if (!c)
        return;
    free(c->path);
    free(c->admin_token);
    free(c->via);
    free(c->ticket_key_file);
    free(c->access_log_path);
    for (size_t i = 0; i < c->n_listeners; i++)
        free(c->listeners[i].name);
    free(c->listeners);
    for (size_t i = 0; i < c->n_upstreams; i++) {
        free(c->upstreams[i].name);
        free(c->upstreams[i].servers);
    }
    free(c->upstreams);
    certs_free(&c->certs);
    free(c);
}
