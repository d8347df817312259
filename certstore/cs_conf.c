/* cs_conf lifecycle and the TLS policy defaults. */
#include "cs_conf_int.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_CIPHERS                                                                            \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define DEFAULT_CIPHERSUITES                                                                       \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define DEFAULT_GROUPS "X25519:P-256:P-384"

/* twofold's defaults. The strings point at literals: an effective policy is never freed. */
static void cs_policy_defaults(struct cs_policy *p)
{
    p->min_version = TLS1_2_VERSION;
    p->max_version = TLS1_3_VERSION;
    p->ciphers = (char *)DEFAULT_CIPHERS;
    p->ciphersuites = (char *)DEFAULT_CIPHERSUITES;
    p->groups = (char *)DEFAULT_GROUPS;
    p->tickets = 1;
}

void cs_conf_init(struct cs_conf *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->warn_days = 14;
    conf->policy.min_version = TLS1_2_VERSION;
    conf->policy.max_version = TLS1_3_VERSION;
    conf->policy.tickets = 1;
}

void cs__policy_effective(const struct cs_policy *in, struct cs_policy *out)
{
    cs_policy_defaults(out);
    if (in->min_version)
        out->min_version = in->min_version;
    if (in->max_version)
        out->max_version = in->max_version;
    if (in->ciphers)
        out->ciphers = in->ciphers;
    if (in->ciphersuites)
        out->ciphersuites = in->ciphersuites;
    if (in->groups)
        out->groups = in->groups;
    out->tickets = in->tickets;
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool cs__policy_equal(const struct cs_policy *a, const struct cs_policy *b)
{
    struct cs_policy x, y;
    cs__policy_effective(a, &x);
    cs__policy_effective(b, &y);
    return x.min_version == y.min_version && x.max_version == y.max_version &&
           x.tickets == y.tickets && str_eq(x.ciphers, y.ciphers) &&
           str_eq(x.ciphersuites, y.ciphersuites) && str_eq(x.groups, y.groups);
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static void site_clear(struct cs_site_conf *s)
{
    free(s->name);
    free_strv(s->names, s->n_names);
    for (size_t i = 0; s->certs && i < s->n_certs; i++) {
        free(s->certs[i].cert);
        free(s->certs[i].key);
    }
    free(s->certs);
    free_strv(s->cert_dirs, s->n_cert_dirs);
    free_strv(s->accept_lost, s->n_accept_lost);
    memset(s, 0, sizeof(*s));
}

void cs_conf_clear(struct cs_conf *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; conf->sites && i < conf->n_sites; i++)
        site_clear(&conf->sites[i]);
    free(conf->sites);
    free(conf->default_site);
    free(conf->ca_bundle);
    free(conf->policy.ciphers);
    free(conf->policy.ciphersuites);
    free(conf->policy.groups);
    cs_conf_init(conf);
}
