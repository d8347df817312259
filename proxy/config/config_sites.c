/* Converters for structured values: addresses, host names, certificate sources,
 * upstream references and servers. */
#include "config_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(obj, k, T) ((T *)(void *)((char *)(obj) + (k)->off))

int px_conv_addr(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    char err[200];
    struct px_addr a;
    if (px_addr_parse(r->value, &a, err, sizeof err) < 0) {
        px_kerr(L, r, "%s", err);
        return -1;
    }
    *FIELD(obj, k, struct px_addr) = a;
    return 0;
}

static bool label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-'))
            return false;
    return true;
}

/* A lower-cased host name or "*." wildcard followed by at least two labels. Returns NULL
 * with a reason in why. */
static const char *host_check(const char *name, const char **why)
{
    const char *s = name;
    size_t labels = 0;
    bool wild = strncmp(s, "*.", 2) == 0;
    if (wild)
        s += 2;
    if (strlen(name) > 253) {
        *why = "longer than 253 characters";
        return NULL;
    }
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (memchr(s, '*', n)) {
            *why = "\"*\" is allowed only as the whole first label (*.example.org)";
            return NULL;
        }
        if (!label_ok(s, n)) {
            *why = "not a valid host name (labels of letters, digits and \"-\")";
            return NULL;
        }
        labels++;
        if (!dot)
            break;
        s = dot + 1;
    }
    if (wild && labels < 2) {
        *why = "a wildcard must be \"*.\" followed by at least two labels (*.example.org)";
        return NULL;
    }
    return name;
}

/* Appends s (owned: freed on failure). Returns 0 or -1 (OOM, also when s is NULL). */
static int strv_push(const struct px_loader *L, char ***v, size_t *n, char *s)
{
    if (!s || px_grow(L, v, NULL, sizeof **v, *n + 1) != 0) {
        free(s);
        return -1;
    }
    (*v)[(*n)++] = s;
    return 0;
}

int px_conv_names(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    struct cs_site_conf *site = obj;
    char *copy = px_strdup(L, r->value), *save = NULL;
    int rc = copy ? 0 : -1;
    for (char *t = copy ? strtok_r(copy, " \t,", &save) : NULL; t;
         t = strtok_r(NULL, " \t,", &save)) {
        for (char *p = t; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        const char *why = NULL;
        bool dup = false;
        for (size_t i = 0; i < site->n_names; i++)
            dup = dup || strcmp(site->names[i], t) == 0;
        if (!host_check(t, &why)) {
            px_kerr(L, r, "\"%s\": %s", t, why);
            rc = -1;
        } else if (dup) {
            px_kerr(L, r, "\"%s\" is listed twice", t);
            rc = -1;
        } else if (strv_push(L, &site->names, &site->n_names, px_strdup(L, t)) != 0) {
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

int px_conv_cert(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    struct cs_site_conf *site = obj;
    char *copy = px_strdup(L, r->value), *save = NULL;
    if (!copy)
        return -1;
    char *cert = strtok_r(copy, " \t", &save);
    char *key = cert ? strtok_r(NULL, " \t", &save) : NULL;
    if (!cert || strtok_r(NULL, " \t", &save)) {
        px_kerr(L, r, "expected CERTFILE [KEYFILE]");
        free(copy);
        return -1;
    }
    struct cs_cert_source src = {.cert = px_path_resolve(L, cert),
                                 .key = key ? px_path_resolve(L, key) : NULL,
                                 .line = r->line};
    free(copy);
    if (!src.cert || (key && !src.key) ||
        px_grow(L, &site->certs, NULL, sizeof *site->certs, site->n_certs + 1) != 0) {
        free(src.cert);
        free(src.key);
        return -1;
    }
    site->certs[site->n_certs++] = src;
    px_check_path(L, r, src.cert, false);
    if (src.key)
        px_check_path(L, r, src.key, false);
    return 0;
}

int px_conv_cert_dir(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    struct cs_site_conf *site = obj;
    char *dir = px_path_resolve(L, r->value);
    if (strv_push(L, &site->cert_dirs, &site->n_cert_dirs, dir) != 0)
        return -1;
    px_check_path(L, r, dir, true);
    return 0;
}

/* Only recorded here: upstreams may be defined after the site; resolved in the checks. */
int px_conv_site_upstream(struct px_loader *L, const struct px_key *k, const struct px_raw *r,
                          void *obj)
{
    size_t i = (size_t)((struct cs_site_conf *)obj - L->cfg->certs.sites);
    free(L->site_upstream[i]);
    L->site_upstream[i] = px_strdup(L, r->value);
    L->site_upstream_line[i] = r->line;
    return L->site_upstream[i] ? 0 : -1;
}

int px_conv_prefer(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    enum cs_prefer *p = FIELD(obj, k, enum cs_prefer);
    if (strcmp(r->value, "ecdsa") == 0)
        *p = CS_PREFER_ECDSA;
    else if (strcmp(r->value, "rsa") == 0)
        *p = CS_PREFER_RSA;
    else {
        px_kerr(L, r, "\"%s\" is not one of ecdsa, rsa", r->value);
        return -1;
    }
    return 0;
}

int px_conv_loss(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    enum cs_loss_policy *p = FIELD(obj, k, enum cs_loss_policy);
    if (strcmp(r->value, "refuse") == 0)
        *p = CS_LOSS_REFUSE;
    else if (strcmp(r->value, "warn") == 0)
        *p = CS_LOSS_WARN;
    else {
        px_kerr(L, r, "\"%s\" is not one of refuse, warn", r->value);
        return -1;
    }
    return 0;
}

/* "rsa ecdsa": the key types a site must always serve. */
int px_conv_require(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    unsigned *bits = FIELD(obj, k, unsigned);
    *bits = 0;
    const char *p = r->value;
    while (*p) {
        size_t n = strcspn(p, " \t,");
        if (n == 3 && strncmp(p, "rsa", 3) == 0)
            *bits |= CS_REQUIRE_RSA;
        else if (n == 5 && strncmp(p, "ecdsa", 5) == 0)
            *bits |= CS_REQUIRE_ECDSA;
        else if (n == 4 && strncmp(p, "none", 4) == 0)
            ;
        else if (n) {
            px_kerr(L, r, "\"%.*s\" is not a key type (rsa, ecdsa, none)", (int)n, p);
            return -1;
        }
        p += n;
        p += strspn(p, " \t,");
    }
    return 0;
}

/* "NAME...": built-in client profiles whose failure `twofold check` accepts for the site. */
int px_conv_accept_lost(struct px_loader *L, const struct px_key *k, const struct px_raw *r,
                        void *obj)
{
    struct cs_site_conf *site = obj;
    char *copy = px_strdup(L, r->value), *save = NULL;
    int rc = copy ? 0 : -1;
    for (char *t = copy ? strtok_r(copy, " \t,", &save) : NULL; t;
         t = strtok_r(NULL, " \t,", &save)) {
        bool dup = false;
        for (size_t i = 0; i < site->n_accept_lost; i++)
            dup = dup || strcmp(site->accept_lost[i], t) == 0;
        if (!cs_profile_find(t)) {
            px_kerr(L, r, "\"%s\" is not a client profile (twofold help check lists them)", t);
            rc = -1;
        } else if (dup) {
            px_kerr(L, r, "\"%s\" is listed twice", t);
            rc = -1;
        } else if (strv_push(L, &site->accept_lost, &site->n_accept_lost, px_strdup(L, t)) != 0) {
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

int px_conv_server(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    struct px_upstream_conf *u = obj;
    char err[200];
    struct px_addr a;
    if (px_addr_parse(r->value, &a, err, sizeof err) < 0) {
        px_kerr(L, r, "%s", err);
        return -1;
    }
    for (size_t i = 0; i < u->n_servers; i++) {
        if (u->servers[i].len == a.len && memcmp(&u->servers[i].ss, &a.ss, a.len) == 0) {
            px_kerr(L, r, "\"%s\" is listed twice", r->value);
            return -1;
        }
    }
    if (px_grow(L, &u->servers, NULL, sizeof *u->servers, u->n_servers + 1) != 0)
        return -1;
    u->servers[u->n_servers++] = a;
    return 0;
}

int px_conv_balance(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    enum px_balance *b = FIELD(obj, k, enum px_balance);
    if (strcmp(r->value, "round_robin") == 0)
        *b = PX_BALANCE_ROUND_ROBIN;
    else if (strcmp(r->value, "least_conn") == 0)
        *b = PX_BALANCE_LEAST_CONN;
    else {
        px_kerr(L, r, "\"%s\" is not one of round_robin, least_conn", r->value);
        return -1;
    }
    return 0;
}
