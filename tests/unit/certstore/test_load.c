/* Loading: PEM pairs and bundles, key type from the key itself, names, refusals. Each case
 * configures one site with an anchor certificate (always good) plus the case's certificate
 * and checks whether the case's certificate was loaded and what was reported about it. */
#include "cs.h"
#include "certgen.h"
#include "tt.h"

#include <openssl/err.h>

static char dir[512];
static struct cg_ca ca;
static EVP_PKEY *rsa2048;

static const struct cs_diag_item *find_diag(const struct cs_diag *d, enum cs_level level,
                                            const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].level == level && strstr(d->items[i].msg, needle))
            return &d->items[i];
    return NULL;
}

static void leaf(struct cg_leaf *l, const char *key, const char *sans)
{
    struct cg_opts o = {.key = key, .sans = sans};
    if (key && strcmp(key, "rsa:2048") == 0)
        o.pkey = rsa2048;
    CHECK_INT(cg_leaf_new(l, &o, &ca), 0);
}

/* Each setup writes the case's files and returns the cert path and key path (or NULL). */
struct load_case {
    const char *name;
    void (*setup)(const char **cert, const char **key);
    bool loaded;
    enum cs_key_type type;
    int bits, curve;
    const char *dns0; /* first DNS name, when loaded */
    enum cs_level level;
    const char *msg; /* a finding of that level must contain this; NULL: no finding */
};

static void rsa_pair(const char **cert, const char **key)
{
    struct cg_leaf l;
    leaf(&l, "rsa:2048", "rsa.test");
    const struct cg_ca *chain[] = {&ca};
    CHECK_INT(cg_write_pair(dir, "rsa", &l, chain, 1), 0);
    cg_leaf_free(&l);
    *cert = cg_path(dir, "rsa.crt");
    *key = cg_path(dir, "rsa.key");
}

static void ec_pair(const char **cert, const char **key)
{
    struct cg_leaf l;
    leaf(&l, "ec:P-256", "EC.Test,www.ec.test");
    CHECK_INT(cg_write_pair(dir, "ec", &l, NULL, 0), 0);
    cg_leaf_free(&l);
    *cert = cg_path(dir, "ec.crt");
    *key = cg_path(dir, "ec.key");
}

static void p384_bundle(const char **cert, const char **key)
{
    struct cg_leaf l;
    leaf(&l, "ec:P-384", "p384.test");
    const struct cg_ca *chain[] = {&ca};
    CHECK_INT(cg_write_bundle(cg_path(dir, "p384.pem"), &l, chain, 1), 0);
    cg_leaf_free(&l);
    *cert = cg_path(dir, "p384.pem");
    *key = NULL;
}

static void p521_pair(const char **cert, const char **key)
{
    struct cg_leaf l;
    leaf(&l, "ec:P-521", "p521.test");
    CHECK_INT(cg_write_pair(dir, "p521", &l, NULL, 0), 0);
    cg_leaf_free(&l);
    *cert = cg_path(dir, "p521.crt");
    *key = cg_path(dir, "p521.key");
}

/* The file names say ECDSA; the key is RSA. */
static void misnamed(const char **cert, const char **key)
{
    struct cg_leaf l;
    leaf(&l, "rsa:2048", "misnamed.test");
    CHECK_INT(cg_write_pair(dir, "ecdsa-p256", &l, NULL, 0), 0);
    cg_leaf_free(&l);
    *cert = cg_path(dir, "ecdsa-p256.crt");
    *key = cg_path(dir, "ecdsa-p256.key");
}

static void cn_only(const char **cert, const char **key)
{
    struct cg_leaf l;
    struct cg_opts o = {.key = "ec:P-256", .cn = "CN-Only.Test"};
    CHECK_INT(cg_leaf_new(&l, &o, &ca), 0);
    CHECK_INT(cg_write_pair(dir, "cnonly", &l, NULL, 0), 0);
    cg_leaf_free(&l);
    *cert = cg_path(dir, "cnonly.crt");
    *key = cg_path(dir, "cnonly.key");
}

static void mismatched(const char **cert, const char **key)
{
    struct cg_leaf a, b;
    leaf(&a, "ec:P-256", "mismatch.test");
    leaf(&b, "ec:P-256", "other.test");
    CHECK_INT(cg_write_certs(cg_path(dir, "mm.crt"), &a.cert, 1), 0);
    CHECK_INT(cg_write_key(cg_path(dir, "mm.key"), b.key), 0);
    cg_leaf_free(&a);
    cg_leaf_free(&b);
    *cert = cg_path(dir, "mm.crt");
    *key = cg_path(dir, "mm.key");
}

static void truncated(const char **cert, const char **key)
{
    struct cg_leaf l;
    leaf(&l, "ec:P-256", "trunc.test");
    CHECK_INT(cg_write_pair(dir, "trunc", &l, NULL, 0), 0);
    cg_leaf_free(&l);
    CHECK_INT(cg_truncate(cg_path(dir, "trunc.crt"), 200), 0);
    *cert = cg_path(dir, "trunc.crt");
    *key = cg_path(dir, "trunc.key");
}

static void truncated_chain(const char **cert, const char **key)
{
    struct cg_leaf l;
    leaf(&l, "ec:P-256", "trunc2.test");
    const struct cg_ca *chain[] = {&ca};
    CHECK_INT(cg_write_pair(dir, "trunc2", &l, chain, 1), 0);
    cg_leaf_free(&l);
    struct stat st;
    CHECK_INT(stat(cg_path(dir, "trunc2.crt"), &st), 0);
    CHECK_INT(cg_truncate(cg_path(dir, "trunc2.crt"), st.st_size - 100), 0);
    *cert = cg_path(dir, "trunc2.crt");
    *key = cg_path(dir, "trunc2.key");
}

static void rsa1024(const char **cert, const char **key)
{
    struct cg_leaf l;
    leaf(&l, "rsa:1024", "weak.test");
    CHECK_INT(cg_write_pair(dir, "weak", &l, NULL, 0), 0);
    cg_leaf_free(&l);
    *cert = cg_path(dir, "weak.crt");
    *key = cg_path(dir, "weak.key");
}

static void no_key_bundle(const char **cert, const char **key)
{
    CHECK_INT(cg_write_certs(cg_path(dir, "ca.pem"), &ca.cert, 1), 0);
    *cert = cg_path(dir, "ca.pem");
    *key = NULL;
}

static void missing_file(const char **cert, const char **key)
{
    *cert = cg_path(dir, "does-not-exist.crt");
    *key = cg_path(dir, "does-not-exist.key");
}

static void garbage_key(const char **cert, const char **key)
{
    struct cg_leaf l;
    leaf(&l, "ec:P-256", "garbage.test");
    CHECK_INT(cg_write_pair(dir, "garbage", &l, NULL, 0), 0);
    cg_leaf_free(&l);
    CHECK_INT(cg_write_text(cg_path(dir, "garbage.key"),
                            "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n"
                            "-----END PRIVATE KEY-----\n"),
              0);
    *cert = cg_path(dir, "garbage.crt");
    *key = cg_path(dir, "garbage.key");
}

static const struct load_case cases[] = {
    {"rsa pair", rsa_pair, true, CS_KEY_RSA, 2048, 0, "rsa.test", 0, NULL},
    {"ecdsa pair", ec_pair, true, CS_KEY_ECDSA, 256, NID_X9_62_prime256v1, "ec.test", 0, NULL},
    {"p384 bundle", p384_bundle, true, CS_KEY_ECDSA, 384, NID_secp384r1, "p384.test", 0, NULL},
    {"p521 pair", p521_pair, true, CS_KEY_ECDSA, 521, NID_secp521r1, "p521.test", 0, NULL},
    {"misnamed", misnamed, true, CS_KEY_RSA, 2048, 0, "misnamed.test", 0, NULL},
    {"cn only", cn_only, true, CS_KEY_ECDSA, 256, NID_X9_62_prime256v1, "cn-only.test", 0, NULL},
    {"mismatch", mismatched, false, 0, 0, 0, NULL, CS_ERROR, "does not match"},
    {"truncated", truncated, false, 0, 0, 0, NULL, CS_ERROR, "no readable certificate: error:"},
    {"truncated chain", truncated_chain, false, 0, 0, 0, NULL, CS_ERROR,
     "unreadable PEM after certificate #1: error:"},
    {"rsa1024", rsa1024, false, 0, 0, 0, NULL, CS_ERROR, "RSA-1024 key is too weak"},
    {"no key", no_key_bundle, false, 0, 0, 0, NULL, CS_ERROR, "no private key"},
    {"missing", missing_file, false, 0, 0, 0, NULL, CS_ERROR, "cannot open"},
    {"garbage key", garbage_key, false, 0, 0, 0, NULL, CS_ERROR, "unreadable private key"},
};

static void run_case(const struct load_case *tc)
{
    const char *cert, *key;
    tc->setup(&cert, &key);
    char certp[1024], keyp[1024];
    snprintf(certp, sizeof(certp), "%s", cert);
    snprintf(keyp, sizeof(keyp), "%s", key ? key : "");

    struct cs_conf conf;
    cs_conf_init(&conf);
    struct cs_site_conf *sc = cg_site_add(&conf, "site");
    cg_site_cert(sc, cg_path(dir, "anchor.crt"), cg_path(dir, "anchor.key"));
    cg_site_cert(sc, certp, key ? keyp : NULL);
    struct cs_diag d;
    cs_diag_init(&d);
    struct cs_snapshot *s = NULL;
    int rc = cs_snapshot_build(&conf, NULL, &d, &s);
    CHECK_INT(rc, 0);
    const struct cs_site *site = s ? cs_snapshot_site(s, 0) : NULL;
    const struct cs_cert *c = NULL;
    for (size_t i = 0; site && i < site->n_certs; i++)
        if (strcmp(site->certs[i]->cert_path, certp) == 0)
            c = site->certs[i];
    if (tc->loaded != (c != NULL))
        fprintf(stderr, "case %s: loaded %d\n", tc->name, c != NULL);
    CHECK_INT(c != NULL, tc->loaded);
    if (c && tc->loaded) {
        CHECK_INT(c->type, tc->type);
        CHECK_INT(c->bits, tc->bits);
        CHECK_INT(c->curve_nid, tc->curve);
        CHECK_STR(c->dns_names[0], tc->dns0);
        CHECK(c->ctx != NULL);
        CHECK_INT(strlen(c->fp_hex), 64);
        CHECK_STR(c->key_path, key ? keyp : certp);
        CHECK(c->not_after > c->not_before);
    }
    if (tc->msg) {
        const struct cs_diag_item *it = find_diag(&d, tc->level, tc->msg);
        if (!it) {
            fprintf(stderr, "case %s: no %s finding containing \"%s\"; got:\n", tc->name,
                    cs_level_name(tc->level), tc->msg);
            cs_diag_print(stderr, &d);
        }
        CHECK(it != NULL);
        if (it)
            CHECK_STR(it->site, "site");
        if (it && it->file)
            CHECK(strcmp(it->file, certp) == 0 || strcmp(it->file, keyp) == 0);
    } else {
        CHECK_INT(cs_diag_count(&d, CS_WARNING), 0);
    }
    cs_snapshot_release(s);
    cs_diag_free(&d);
    cs_conf_clear(&conf);
}

/* A site whose only certificate is refused: the build fails and says why. */
static void test_no_usable_cert(void)
{
    struct cs_conf conf;
    cs_conf_init(&conf);
    struct cs_site_conf *sc = cg_site_add(&conf, "lonely");
    cg_site_cert(sc, cg_path(dir, "weak.crt"), cg_path(dir, "weak.key"));
    sc->certs[0].line = 42;
    struct cs_diag d;
    cs_diag_init(&d);
    struct cs_snapshot *s = NULL;
    CHECK(cs_snapshot_build(&conf, NULL, &d, &s) < 0);
    CHECK(s == NULL);
    CHECK(find_diag(&d, CS_ERROR, "no usable certificate") != NULL);
    CHECK(find_diag(&d, CS_ERROR, "too weak") != NULL);
    const struct cs_diag_item *it = find_diag(&d, CS_ERROR, "too weak");
    if (it) {
        CHECK_CONTAINS(it->msg, "(config line 42)");
        CHECK_STR(it->file, cg_path(dir, "weak.key"));
    }
    cs_diag_free(&d);
    cs_conf_clear(&conf);
}

static void test_describe(void)
{
    char buf[32];
    struct cs_cert c = {.type = CS_KEY_RSA, .bits = 4096};
    CHECK_STR(cs_cert_describe(&c, buf, sizeof(buf)), "RSA-4096");
    c = (struct cs_cert){.type = CS_KEY_ECDSA, .bits = 384, .curve_nid = NID_secp384r1};
    CHECK_STR(cs_cert_describe(&c, buf, sizeof(buf)), "ECDSA P-384");
    CHECK_STR(cs_key_type_name(CS_KEY_ECDSA), "ECDSA");
    CHECK_STR(cs_curve_name(NID_secp521r1), "P-521");
    CHECK_STR(cs_curve_name(0), "?");
    cs_cert_release(NULL);
}

static void test_diag(void)
{
    struct cs_diag d;
    cs_diag_init(&d);
    cs_diag_add(&d, CS_WARNING, "s", "f.pem", "value %d", 7);
    ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
    cs_diag_add_openssl(&d);
    CHECK_INT(d.n, 1);
    CHECK_CONTAINS(d.items[0].msg, "value 7: error:");
    CHECK_CONTAINS(d.items[0].msg, "no start line");
    CHECK_INT(ERR_peek_error(), 0);
    CHECK_INT(cs_diag_count(&d, CS_WARNING), 1);
    CHECK_INT(cs_diag_count(&d, CS_ERROR), 0);
    cs_diag_free(&d);
    cs_diag_free(NULL);
}

int main(void)
{
    CHECK_INT(cg_tmpdir(dir, sizeof(dir), "load"), 0);
    CHECK_INT(cg_ca_new(&ca, "Load Test CA", "ec:P-256", NULL), 0);
    rsa2048 = cg_key("rsa:2048");
    CHECK(rsa2048 != NULL);
    struct cg_leaf anchor;
    leaf(&anchor, "ec:P-256", "anchor.test");
    CHECK_INT(cg_write_pair(dir, "anchor", &anchor, NULL, 0), 0);
    cg_leaf_free(&anchor);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
    test_no_usable_cert();
    test_describe();
    test_diag();

    EVP_PKEY_free(rsa2048);
    cg_ca_free(&ca);
    cg_rmtree(dir);
    return tt_done();
}
