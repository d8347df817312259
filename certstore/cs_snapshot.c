/* Snapshots: the immutable object a build produces and every handshake reads, its
 * refcount, accessors and the two build steps (begin, finish) both builders share.
 *
 * Lifetime: the snapshot owns its sites, entries and index and holds one reference on
 * each cs_cert. SSLs hold their own SSL_CTX references, so an established connection
 * outlives the snapshot safely; but the pointers cs_ssl_cert()/cs_ssl_site() return and
 * the base context's ClientHello callback argument are the snapshot's: keep a snapshot
 * reference for as long as an SSL created from it may still handshake or be asked.
 *
 * Builders (cs_build.c at startup, cs_reload.c on reload) load sites with a cs_loader
 * (cs_site.c) and wrap the snapshot around them: cs__snapshot_begin creates it with its
 * policy and base context, cs__snapshot_finish takes the sites and builds the index
 * (cs_index.c) and the handshake's picks (cs_handshake.c). */
#include "cs_snapshot_int.h"
#include "cs_cert_int.h"
#include "cs_conf_int.h"
#include "cs_site_int.h"

#include <assert.h>
#include <openssl/err.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t generation_counter;

/* ---- accessors and refcount ---- */

/* Only a holder of a reference may take another or give one back: the count is positive
 * on entry to both. */
struct cs_snapshot *cs_snapshot_ref(struct cs_snapshot *s)
{
    assert(s && s->magic == CS_SNAPSHOT_MAGIC);
    int old = atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    assert(old > 0);
    (void)old;
    return s;
}

static void snapshot_free(struct cs_snapshot *s)
{
    for (size_t i = 0; s->sites && i < s->n_sites; i++)
        cs__site_clear(&s->sites[i]);
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
    s->magic = 0;
    free(s);
}

void cs_snapshot_release(struct cs_snapshot *s)
{
    if (!s)
        return;
    assert(s->magic == CS_SNAPSHOT_MAGIC);
    int old = atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel);
    assert(old > 0);
    if (old == 1)
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

/* ---- build ---- */

static int make_base(struct cs_snapshot *s, const struct cs_conf *conf, struct cs_diag *d)
{
    s->base = SSL_CTX_new(TLS_server_method());
    if (!s->base) {
        cs_diag_add(d, CS_ERROR, NULL, NULL, "cannot create the base TLS context");
        cs_diag_add_openssl(d);
        return -1;
    }
    if (cs__ctx_apply_policy(s->base, conf, d) != 0)
        return -1;
    cs__handshake_install(s->base, s);
    /* OpenSSL 3.0 cannot report a context's groups: hand the policy's list over. */
    struct cs_policy eff;
    cs__policy_effective(&conf->policy, &eff);
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

bool cs__snapshot_reusable(const struct cs_snapshot *prev, const struct cs_conf *conf)
{
    return prev && cs__policy_equal(&prev->policy, &conf->policy) &&
           prev->setup == conf->ctx_setup && prev->setup_arg == conf->ctx_setup_arg;
}

struct cs_snapshot *cs__snapshot_begin(const struct cs_conf *conf, struct cs_diag *d)
{
    struct cs_snapshot *s = calloc(1, sizeof(*s));
    if (!s) {
        cs_diag_add(d, CS_ERROR, NULL, NULL, "out of memory");
        return NULL;
    }
    s->magic = CS_SNAPSHOT_MAGIC;
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

int cs__snapshot_finish(struct cs_snapshot *s, const struct cs_conf *conf, struct cs_site *sites,
                        size_t n, bool numbered, struct cs_diag *d)
{
    assert(atomic_load(&s->refs) == 1 && !s->sites); /* finished once, before it is shared */
    s->sites = sites;
    s->n_sites = n;
    if (cs__handshake_picks(s) != 0 || cs__index_build(s, conf, d) != 0)
        return -1;
    if (numbered)
        s->generation = atomic_fetch_add(&generation_counter, 1) + 1;
    return 0;
}

const struct cs_site *cs__snapshot_find_site(const struct cs_snapshot *s, const char *name)
{
    for (size_t i = 0; s && name && i < s->n_sites; i++)
        if (strcmp(s->sites[i].name, name) == 0)
            return &s->sites[i];
    return NULL;
}

const unsigned char *cs__snapshot_row(const struct cs_snapshot *s, size_t i)
{
    const unsigned char *row = s && s->rows && i < s->n_sites ? &s->rows[i * cs_n_profiles] : NULL;
    return row && row[0] != CS_ROW_UNKNOWN ? row : NULL;
}

int cs__snapshot_set_row(struct cs_snapshot *s, size_t i, const unsigned char *row)
{
    assert(atomic_load(&s->refs) == 1); /* rows are set before the snapshot is shared */
    if (i >= s->n_sites)
        return -1;
    if (!s->rows && !(s->rows = calloc(s->n_sites * cs_n_profiles + 1, 1)))
        return -1;
    memcpy(&s->rows[i * cs_n_profiles], row, cs_n_profiles);
    return 0;
}
