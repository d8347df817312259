/* Validation: dates (with a pinned clock), expiry warnings, chain order, CA bundle,
 * configured names against SANs, duplicates. Table-driven: each case configures a site
 * and states the expected build result, certificate count and finding. */
#include "cs.h"
#include "certgen.h"
#include "tt.h"

static char dir[512];
static struct cg_ca root, inter, other_root;
static time_t t0;

static const struct cs_diag_item *find_diag(const struct cs_diag *d, enum cs_level level,
                                            const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].level == level && strstr(d->items[i].msg, needle))
            return &d->items[i];
    return NULL;
}

/* Writes DIR/NAME.crt/.key for a P-256 leaf issued by iss with the given dates. */
static void write_leaf(const char *name, const char *key, const char *sans, long nb, long na,
                       const struct cg_ca *iss, const struct cg_ca *const *chain, size_t n)
{
    struct cg_leaf l;
    struct cg_opts o = {.key = key, .sans = sans, .not_before = nb, .not_after = na};
    CHECK_INT(cg_leaf_new(&l, &o, iss), 0);
    CHECK_INT(cg_write_pair(dir, name, &l, chain, n), 0);
    cg_leaf_free(&l);
}

static void add_pair(struct cs_site_conf *sc, const char *name)
{
    char crt[256], key[256];
    snprintf(crt, sizeof(crt), "%s.crt", name);
    snprintf(key, sizeof(key), "%s.key", name);
    cg_site_cert(sc, cg_path(dir, crt), cg_path(dir, key));
}

struct val_case {
    const char *name;
    void (*setup)(struct cs_conf *conf, struct cs_site_conf *sc);
    int build_ok;   /* 1: cs_snapshot_build returns 0 */
    size_t n_certs; /* certificates in site 0 when built */
    enum cs_level level;
    const char *msg; /* NULL: no warning or error at all */
};

static void good(struct cs_conf *conf, struct cs_site_conf *sc)
{
    add_pair(sc, "good");
}

static void expired(struct cs_conf *conf, struct cs_site_conf *sc)
{
    write_leaf("expired", "ec:P-256", "expired.test", -30 * 86400, -86400, &root, NULL, 0);
    add_pair(sc, "good");
    add_pair(sc, "expired");
}

static void not_yet(struct cs_conf *conf, struct cs_site_conf *sc)
{
    write_leaf("future", "ec:P-256", "future.test", 86400, 30 * 86400, &root, NULL, 0);
    add_pair(sc, "good");
    add_pair(sc, "future");
}

static void expiring(struct cs_conf *conf, struct cs_site_conf *sc)
{
    write_leaf("soon", "ec:P-256", "soon.test", -86400, 5 * 86400 + 600, &root, NULL, 0);
    add_pair(sc, "soon");
}

/* The pinned clock decides: 100 days from now the 90-day "good" certificate is expired. */
static void pinned_future(struct cs_conf *conf, struct cs_site_conf *sc)
{
    conf->now = t0 + 100 * 86400;
    add_pair(sc, "good");
}

static void pinned_warn(struct cs_conf *conf, struct cs_site_conf *sc)
{
    conf->now = t0 + 80 * 86400;
    add_pair(sc, "good");
}

static void warn_days(struct cs_conf *conf, struct cs_site_conf *sc)
{
    conf->now = t0; /* t0 was taken before the leaf was made: exactly 90 days and more */
    conf->warn_days = 100;
    add_pair(sc, "good");
}

static void chain_ok(struct cs_conf *conf, struct cs_site_conf *sc)
{
    const struct cg_ca *chain[] = {&inter, &root};
    write_leaf("chained", "ec:P-256", "chain.test", 0, 0, &inter, chain, 2);
    add_pair(sc, "chained");
}

static void chain_disorder(struct cs_conf *conf, struct cs_site_conf *sc)
{
    const struct cg_ca *chain[] = {&root, &inter};
    write_leaf("disorder", "ec:P-256", "disorder.test", 0, 0, &inter, chain, 2);
    add_pair(sc, "good");
    add_pair(sc, "disorder");
}

static void bundle_ok(struct cs_conf *conf, struct cs_site_conf *sc)
{
    conf->ca_bundle = strdup(cg_path(dir, "root.pem"));
    const struct cg_ca *chain[] = {&inter};
    write_leaf("viainter", "ec:P-256", "via.test", 0, 0, &inter, chain, 1);
    add_pair(sc, "viainter");
}

static void bundle_other(struct cs_conf *conf, struct cs_site_conf *sc)
{
    conf->ca_bundle = strdup(cg_path(dir, "other.pem"));
    add_pair(sc, "viainter");
}

static void bundle_incomplete(struct cs_conf *conf, struct cs_site_conf *sc)
{
    conf->ca_bundle = strdup(cg_path(dir, "root.pem"));
    write_leaf("nochain", "ec:P-256", "nochain.test", 0, 0, &inter, NULL, 0);
    add_pair(sc, "nochain");
}

static void name_uncovered(struct cs_conf *conf, struct cs_site_conf *sc)
{
    add_pair(sc, "good");
    cg_site_name(sc, "good.test");
    cg_site_name(sc, "missing.test");
}

static void name_one_type(struct cs_conf *conf, struct cs_site_conf *sc)
{
    write_leaf("rsaonly", "rsa:2048", "good.test,rsa-only.test", 0, 0, &root, NULL, 0);
    add_pair(sc, "good");
    add_pair(sc, "rsaonly");
    cg_site_name(sc, "good.test");
    cg_site_name(sc, "RSA-Only.test");
}

static void name_wildcard(struct cs_conf *conf, struct cs_site_conf *sc)
{
    write_leaf("wild", "ec:P-256", "*.wild.test", 0, 0, &root, NULL, 0);
    add_pair(sc, "wild");
    cg_site_name(sc, "a.wild.test");
    cg_site_name(sc, "a.b.wild.test");
}

static void twice(struct cs_conf *conf, struct cs_site_conf *sc)
{
    add_pair(sc, "good");
    add_pair(sc, "good");
}

static const struct val_case cases[] = {
    {"good", good, 1, 1, 0, NULL},
    {"expired", expired, 1, 1, CS_ERROR, "expired on"},
    {"not yet valid", not_yet, 1, 1, CS_ERROR, "not yet valid"},
    {"expiring", expiring, 1, 1, CS_WARNING, "expires in 5 days"},
    {"pinned clock expired", pinned_future, 0, 0, CS_ERROR, "expired on"},
    {"pinned clock warning", pinned_warn, 1, 1, CS_WARNING, "expires in 10 days"},
    {"warn_days", warn_days, 1, 1, CS_WARNING, "expires in 90 days"},
    {"chain in order", chain_ok, 1, 1, 0, NULL},
    {"chain out of order", chain_disorder, 1, 1, CS_ERROR,
     "chain out of order: certificate #1 is not signed by certificate #2"},
    {"ca bundle ok", bundle_ok, 1, 1, 0, NULL},
    {"ca bundle other", bundle_other, 0, 0, CS_ERROR, "does not verify to"},
    {"ca bundle incomplete chain", bundle_incomplete, 0, 0, CS_ERROR, "unable to get local"},
    {"name uncovered", name_uncovered, 1, 1, CS_ERROR, "name missing.test is not covered by any"},
    {"name one key type", name_one_type, 1, 2, CS_WARNING,
     "name rsa-only.test is not covered by the site's ECDSA certificates"},
    {"wildcard one label", name_wildcard, 1, 1, CS_ERROR, "name a.b.wild.test is not covered"},
    {"same cert twice", twice, 1, 1, CS_NOTICE, "loaded once"},
};

static void run_case(const struct val_case *tc)
{
    struct cs_conf conf;
    cs_conf_init(&conf);
    struct cs_site_conf *sc = cg_site_add(&conf, "site");
    tc->setup(&conf, sc);
    struct cs_diag d;
    cs_diag_init(&d);
    struct cs_snapshot *s = NULL;
    int rc = cs_snapshot_build(&conf, NULL, &d, &s);
    bool bad = (rc == 0) != tc->build_ok;
    CHECK_INT(rc == 0, tc->build_ok);
    CHECK_INT(s != NULL, tc->build_ok);
    if (s) {
        CHECK_INT(cs_snapshot_site(s, 0)->n_certs, tc->n_certs);
        bad |= cs_snapshot_site(s, 0)->n_certs != tc->n_certs;
    }
    if (tc->msg) {
        const struct cs_diag_item *it = find_diag(&d, tc->level, tc->msg);
        CHECK(it != NULL);
        bad |= it == NULL;
        if (it)
            CHECK_STR(it->site, "site");
    } else {
        CHECK_INT(cs_diag_count(&d, CS_WARNING), 0);
        bad |= cs_diag_count(&d, CS_WARNING) != 0;
    }
    if (bad) {
        fprintf(stderr, "case \"%s\" failed; findings:\n", tc->name);
        cs_diag_print(stderr, &d);
    }
    cs_snapshot_release(s);
    cs_diag_free(&d);
    cs_conf_clear(&conf);
}

/* Every problem is reported, not just the first: an expired, mis-chained, weak file. */
static void test_all_problems(void)
{
    EVP_PKEY *weak = cg_key("rsa:1024");
    struct cg_leaf l;
    struct cg_opts o = {
        .pkey = weak, .sans = "bad.test", .not_before = -10 * 86400, .not_after = -86400};
    CHECK_INT(cg_leaf_new(&l, &o, &inter), 0);
    const struct cg_ca *chain[] = {&root, &inter};
    CHECK_INT(cg_write_pair(dir, "allbad", &l, chain, 2), 0);
    cg_leaf_free(&l);
    EVP_PKEY_free(weak);
    struct cs_conf conf;
    cs_conf_init(&conf);
    struct cs_site_conf *sc = cg_site_add(&conf, "site");
    add_pair(sc, "good");
    add_pair(sc, "allbad");
    struct cs_diag d;
    cs_diag_init(&d);
    struct cs_snapshot *s = NULL;
    CHECK_INT(cs_snapshot_build(&conf, NULL, &d, &s), 0);
    CHECK(find_diag(&d, CS_ERROR, "too weak") != NULL);
    CHECK(find_diag(&d, CS_ERROR, "chain out of order") != NULL);
    CHECK(find_diag(&d, CS_ERROR, "expired on") != NULL);
    const struct cs_diag_item *it = find_diag(&d, CS_ERROR, "expired on");
    if (it)
        CHECK_STR(it->file, cg_path(dir, "allbad.crt"));
    cs_snapshot_release(s);
    cs_diag_free(&d);
    cs_conf_clear(&conf);
}

/* A CA signature with SHA-1: a clear finding, not OpenSSL's bare "ca md too weak". */
static void test_sha1_signature(void)
{
    struct cg_leaf l;
    struct cg_opts o = {.key = "ec:P-256", .sans = "sha1.test"};
    CHECK_INT(cg_leaf_new(&l, &o, &root), 0);
    CHECK(X509_sign(l.cert, root.key, EVP_sha1()) > 0);
    CHECK_INT(cg_write_pair(dir, "sha1", &l, NULL, 0), 0);
    cg_leaf_free(&l);
    struct cs_conf conf;
    cs_conf_init(&conf);
    struct cs_site_conf *sc = cg_site_add(&conf, "site");
    add_pair(sc, "good");
    add_pair(sc, "sha1");
    struct cs_diag d;
    cs_diag_init(&d);
    struct cs_snapshot *s = NULL;
    CHECK_INT(cs_snapshot_build(&conf, NULL, &d, &s), 0);
    const struct cs_diag_item *it = find_diag(&d, CS_ERROR, "signed with SHA1, too weak");
    CHECK(it != NULL);
    if (it)
        CHECK_STR(it->file, cg_path(dir, "sha1.crt"));
    else
        cs_diag_print(stderr, &d);
    CHECK(s && cs_snapshot_site(s, 0)->n_certs == 1); /* only the good one */
    cs_snapshot_release(s);
    cs_diag_free(&d);
    cs_conf_clear(&conf);
}

int main(void)
{
    t0 = time(NULL);
    CHECK_INT(cg_tmpdir(dir, sizeof(dir), "validate"), 0);
    CHECK_INT(cg_ca_new(&root, "Validate Root", "ec:P-256", NULL), 0);
    CHECK_INT(cg_ca_new(&inter, "Validate Intermediate", "ec:P-256", &root), 0);
    CHECK_INT(cg_ca_new(&other_root, "Other Root", "ec:P-256", NULL), 0);
    CHECK_INT(cg_write_certs(cg_path(dir, "root.pem"), &root.cert, 1), 0);
    CHECK_INT(cg_write_certs(cg_path(dir, "other.pem"), &other_root.cert, 1), 0);
    write_leaf("good", "ec:P-256", "good.test", 0, 0, &root, NULL, 0);

    test_sha1_signature();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
    test_all_problems();

    cg_ca_free(&root);
    cg_ca_free(&inter);
    cg_ca_free(&other_root);
    cg_rmtree(dir);
    return tt_done();
}
