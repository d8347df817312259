/* The compatibility guard (cs__guard_check) on certificate sets built from generated
 * certificates: (a) key types lost, naming what the file holds now; (b) names no longer
 * covered, and names dropped from the configuration (not a loss); (c) client profiles
 * that handshake now and would not, alone; (d) key size, curve and issuer changes only
 * warn. Also the refusal line a reload writes when only (c) applies. */
#include "cs.h"
#include "cs_coverage_int.h"
#include "cs_guard_int.h"
#include "cs_snapshot_int.h"
#include "certgen.h"
#include "tt.h"

#include <time.h>

static char dir[512];
static struct cg_ca root, other;
static EVP_PKEY *rsa;

static void leaf(const char *name, const char *spec, const char *sans, const struct cg_ca *ca)
{
    struct cg_leaf l;
    struct cg_opts o = {.key = spec, .sans = sans};
    if (strcmp(spec, "rsa:2048") == 0)
        o.pkey = rsa;
    CHECK_INT(cg_leaf_new(&l, &o, ca), 0);
    CHECK_INT(cg_write_pair(dir, name, &l, NULL, 0), 0);
    cg_leaf_free(&l);
}

/* A one-site snapshot "a" from pairs "x,y" and optional configured names "n1,n2". */
static struct cs_snapshot *site_of(const char *pairs, const char *names)
{
    struct cs_conf conf;
    struct cs_diag d;
    struct cs_snapshot *s = NULL;
    char buf[256];
    cs_conf_init(&conf);
    struct cs_site_conf *sc = cg_site_add(&conf, "a");
    snprintf(buf, sizeof(buf), "%s", pairs);
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        char crt[64], key[64];
        snprintf(crt, sizeof(crt), "%s.crt", p);
        snprintf(key, sizeof(key), "%s.key", p);
        cg_site_cert(sc, cg_path(dir, crt), cg_path(dir, key));
    }
    snprintf(buf, sizeof(buf), "%s", names ? names : "");
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
        cg_site_name(sc, p);
    cs_diag_init(&d);
    CHECK_INT(cs_snapshot_build(&conf, NULL, &d, &s), 0);
    if (!s)
        cs_diag_print(stderr, &d);
    cs_diag_free(&d);
    cs_conf_clear(&conf);
    return s;
}

static bool lost(const struct cs_guard *g, const char *profile)
{
    for (size_t i = 0; i < g->n_profiles_lost; i++)
        if (strcmp(g->profiles_lost[i], profile) == 0)
            return true;
    return false;
}

/* Runs the guard between site 0 of two snapshots; findings into d (initialised here). */
static const unsigned char *known_row; /* the live outcomes to hand in, or NULL */

static void guard(const struct cs_snapshot *live, const struct cs_snapshot *cand, bool names_conf,
                  SSL_CTX **clients, struct cs_diag *d, struct cs_guard *g)
{
    struct cs_conf conf;
    cs_conf_init(&conf);
    cs_diag_init(d);
    CHECK_INT(cs__guard_check(&conf, cs_snapshot_site(live, 0), cs_snapshot_site(cand, 0),
                              names_conf, clients, known_row, d, g),
              0);
    cs_conf_clear(&conf);
}

static bool has_warning(const struct cs_diag *d, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].level == CS_WARNING && strstr(d->items[i].msg, needle))
            return true;
    return false;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void same_and_types(struct cs_snapshot *live, SSL_CTX **clients)
{
    struct cs_diag d;
    struct cs_guard g;

    double t0 = now_ms();
    guard(live, live, false, clients, &d, &g);
    fprintf(stderr, "guard, 2-certificate site x %zu profiles x 2 sets: %.1f ms\n", cs_n_profiles,
            now_ms() - t0);
    CHECK(!g.loss);
    CHECK_STR(g.reasons, "");
    CHECK_STR(g.notes, "");
    CHECK_INT(g.n_profiles_lost, 0);
    CHECK_INT(d.n, 0);
    cs__guard_clear(&g);
    cs_diag_free(&d);

    /* the RSA pair dropped from the configuration */
    struct cs_snapshot *cand = site_of("ec", NULL);
    guard(live, cand, false, clients, &d, &g);
    CHECK(g.loss);
    CHECK_STR(g.reasons, "RSA would be removed (rsa.crt is no longer configured)");
    CHECK(lost(&g, "tls12-rsa-only"));
    CHECK(lost(&g, "tls13-rsa-pss-only"));
    CHECK(!lost(&g, "modern-tls13"));
    for (size_t p = 0; p < cs_n_profiles; p++) /* (c) measured both sides */
        CHECK(g.live_row[p] == CS_ROW_OK || g.live_row[p] == CS_ROW_FAIL);
    CHECK(g.cand_row[0] != CS_ROW_UNKNOWN);
    cs__guard_clear(&g);
    cs_diag_free(&d);

    /* live outcomes handed in are used instead of handshaking again: "nothing works now"
     * means no profile can be lost, while (a) still refuses */
    unsigned char *none = malloc(cs_n_profiles);
    CHECK(none != NULL);
    if (!none)
        return;
    memset(none, CS_ROW_FAIL, cs_n_profiles);
    known_row = none;
    guard(live, cand, false, clients, &d, &g);
    known_row = NULL;
    free(none);
    CHECK(g.loss);
    CHECK_INT(g.n_profiles_lost, 0);
    CHECK_STR(g.reasons, "RSA would be removed (rsa.crt is no longer configured)");
    cs__guard_clear(&g);
    cs_diag_free(&d);
    cs_snapshot_release(cand);
}

/* Configured names: one dropped from the configuration is not a loss. */
static void names(SSL_CTX **clients)
{
    struct cs_diag d;
    struct cs_guard g;
    leaf("n1", "ec:P-256", "a.test,www.a.test", &root);
    leaf("n2", "ec:P-256", "a.test", &root);
    struct cs_snapshot *live = site_of("n1", "a.test,www.a.test");
    struct cs_snapshot *cand = site_of("n2", "a.test");
    guard(live, cand, true, clients, &d, &g);
    CHECK(!g.loss);
    CHECK_STR(g.reasons, "");
    cs__guard_clear(&g);
    cs_diag_free(&d);
    guard(live, cand, false, clients, &d, &g);
    CHECK(g.loss);
    CHECK_STR(g.reasons, "name www.a.test would no longer be covered");
    CHECK_INT(g.n_profiles_lost, 0);
    cs__guard_clear(&g);
    cs_diag_free(&d);
    cs_snapshot_release(live);
    cs_snapshot_release(cand);
}

/* (d): same key types and names; P-256 -> P-384 and a new issuer only warn. */
static void changes(struct cs_snapshot *live, SSL_CTX **clients)
{
    struct cs_diag d;
    struct cs_guard g;
    leaf("ec384", "ec:P-384", "a.test", &other);
    leaf("rsa-other", "rsa:2048", "a.test", &other);
    struct cs_snapshot *cand = site_of("rsa-other,ec384", NULL);
    guard(live, cand, false, clients, &d, &g);
    CHECK(!g.loss);
    CHECK_STR(g.reasons, "");
    CHECK_INT(g.n_profiles_lost, 0);
    CHECK(has_warning(&d, "ECDSA curve changes from P-256 to P-384 (ec384.crt)"));
    CHECK(has_warning(&d, "RSA issuer changes from CN=Guard Root to CN=Other Root"));
    CHECK(has_warning(&d, "ECDSA issuer changes from CN=Guard Root to CN=Other Root"));
    CHECK_INT(cs_diag_count(&d, CS_ERROR), 0);
    CHECK_CONTAINS(g.notes, "ECDSA curve changes from P-256 to P-384");
    cs__guard_clear(&g);
    cs_diag_free(&d);
    cs_snapshot_release(cand);
}

/* (c) alone: ECDSA stays ECDSA and every name stays covered, but a P-521 certificate is
 * one that clients without the ecdsa_secp521r1_sha512 signature scheme cannot verify. */
static void profiles_only(SSL_CTX **clients)
{
    struct cs_diag d;
    struct cs_guard g;
    leaf("p521", "ec:P-521", "a.test", &root);
    struct cs_snapshot *live = site_of("ec", NULL), *cand = site_of("p521", NULL);
    guard(live, cand, false, clients, &d, &g);
    CHECK(g.loss);
    CHECK_STR(g.reasons, "");
    CHECK(lost(&g, "modern-tls13"));
    CHECK(g.n_profiles_lost > 0);
    cs__guard_clear(&g);
    cs_diag_free(&d);
    cs_snapshot_release(live);
    cs_snapshot_release(cand);

    /* the refusal line a reload writes for it: no reasons, the profiles only */
    struct cs_conf conf;
    struct cs_reload_report r;
    struct cs_snapshot *s = NULL, *next = NULL;
    cs_conf_init(&conf);
    cg_site_cert(cg_site_add(&conf, "a"), cg_path(dir, "ec.crt"), cg_path(dir, "ec.key"));
    cs_diag_init(&d);
    CHECK_INT(cs_snapshot_build(&conf, NULL, &d, &s), 0);
    cs_diag_free(&d);
    free(conf.sites[0].certs[0].cert);
    free(conf.sites[0].certs[0].key);
    conf.sites[0].certs[0].cert = strdup(cg_path(dir, "p521.crt"));
    conf.sites[0].certs[0].key = strdup(cg_path(dir, "p521.key"));
    cs_diag_init(&d);
    CHECK_INT(cs_snapshot_rebuild(&conf, s, &d, &r, &next), 0);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.sites[0].status, CS_SITE_REFUSED);
    CHECK_CONTAINS(r.sites[0].diff, "a: refused: profiles that would fail: modern-tls13");
    CHECK(next && cs_snapshot_site(next, 0)->certs[0] == cs_snapshot_site(s, 0)->certs[0]);
    cs_reload_report_free(&r);
    cs_diag_free(&d);
    cs_snapshot_release(next);
    cs_snapshot_release(s);
    cs_conf_clear(&conf);
}

int main(void)
{
    CHECK_INT(cg_tmpdir(dir, sizeof(dir), "guard"), 0);
    CHECK_INT(cg_ca_new(&root, "Guard Root", "ec:P-256", NULL), 0);
    CHECK_INT(cg_ca_new(&other, "Other Root", "ec:P-256", NULL), 0);
    rsa = cg_key("rsa:2048");
    CHECK(rsa != NULL);
    leaf("rsa", "rsa:2048", "a.test", &root);
    leaf("ec", "ec:P-256", "a.test", &root);
    SSL_CTX **clients = cs__coverage_clients_new();
    struct cs_snapshot *live = site_of("rsa,ec", NULL);
    CHECK(clients && live);
    if (clients && live) {
        same_and_types(live, clients);
        names(clients);
        changes(live, clients);
        profiles_only(clients);
    }
    cs_snapshot_release(live);
    cs__coverage_clients_free(clients);
    EVP_PKEY_free(rsa);
    cg_ca_free(&root);
    cg_ca_free(&other);
    cg_rmtree(dir);
    return tt_done();
}
