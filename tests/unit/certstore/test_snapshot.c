/* Snapshots: the SNI index (exact, single-label wildcard, case, default, strict), the
 * preference order, refcounts, generations, reuse of unchanged certificates on rebuild,
 * and real in-memory handshakes through the base context's ClientHello callback. */
#include "cs.h"
#include "certgen.h"
#include "tt.h"

#include <ctype.h>
#include <openssl/err.h>

static char dir[512];
static struct cg_ca root;
static EVP_PKEY *rsa2048, *rsa4096;

static const struct cs_diag_item *find_diag(const struct cs_diag *d, enum cs_level level,
                                            const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].level == level && strstr(d->items[i].msg, needle))
            return &d->items[i];
    return NULL;
}

/* Writes DIR/NAME.crt + .key. key: a spec, or "rsa:2048"/"rsa:4096" use the shared keys. */
static void write_leaf(const char *name, const char *key, const char *sans)
{
    struct cg_leaf l;
    struct cg_opts o = {.key = key, .sans = sans};
    if (strcmp(key, "rsa:2048") == 0)
        o.pkey = rsa2048;
    if (strcmp(key, "rsa:4096") == 0)
        o.pkey = rsa4096;
    CHECK_INT(cg_leaf_new(&l, &o, &root), 0);
    CHECK_INT(cg_write_pair(dir, name, &l, NULL, 0), 0);
    cg_leaf_free(&l);
}

static void add_pair(struct cs_site_conf *sc, const char *name)
{
    char crt[256], key[256];
    snprintf(crt, sizeof(crt), "%s.crt", name);
    snprintf(key, sizeof(key), "%s.key", name);
    cg_site_cert(sc, cg_path(dir, crt), cg_path(dir, key));
}

/* Sites: shop (ECDSA + RSA for shop.test, www.shop.test; a wildcard cert for
 * *.shop.test), blog (blog.test), wild (*.example.test), exact (a.example.test). */
static void std_conf(struct cs_conf *conf)
{
    cs_conf_init(conf);
    struct cs_site_conf *sc = cg_site_add(conf, "shop");
    add_pair(sc, "shop-rsa");
    add_pair(sc, "shop-ec");
    add_pair(sc, "shop-wild");
    sc = cg_site_add(conf, "blog");
    add_pair(sc, "blog-ec");
    add_pair(sc, "blog-rsa");
    sc = cg_site_add(conf, "wild");
    add_pair(sc, "wild");
    sc = cg_site_add(conf, "exact");
    add_pair(sc, "exact");
}

static struct cs_snapshot *build(const struct cs_conf *conf, const struct cs_snapshot *prev)
{
    struct cs_diag d;
    cs_diag_init(&d);
    struct cs_snapshot *s = NULL;
    if (cs_snapshot_build(conf, prev, &d, &s) != 0) {
        fprintf(stderr, "build failed:\n");
        cs_diag_print(stderr, &d);
    }
    CHECK_INT(cs_diag_count(&d, CS_WARNING), 0);
    cs_diag_free(&d);
    return s;
}

struct lookup_case {
    const char *sni;
    const char *site; /* NULL: lookup returns NULL */
    bool matched;
    size_t n_certs;
};

static const struct lookup_case lookups[] = {
    {"shop.test", "shop", true, 2},
    {"SHOP.Test", "shop", true, 2},
    {"www.shop.test.", "shop", true, 3}, /* the wildcard covers it too */
    {"api.shop.test", "shop", true, 1},  /* only the wildcard certificate */
    {"a.b.shop.test", "shop", false, 3}, /* one label only: default entry */
    {"blog.test", "blog", true, 2},
    {"x.example.test", "wild", true, 1},
    {"a.example.test", "exact", true, 1}, /* exact beats wildcard */
    {"A.EXAMPLE.TEST", "exact", true, 1},
    {"example.test", "shop", false, 3}, /* the wildcard needs a label */
    {"a.b.example.test", "shop", false, 3},
    {"*.example.test", "wild", true, 1}, /* matches the pattern's own key */
    {"unknown.test", "shop", false, 3},
    {"", "shop", false, 3},
    {NULL, "shop", false, 3},
};

static void test_lookup(void)
{
    struct cs_conf conf;
    std_conf(&conf);
    struct cs_snapshot *s = build(&conf, NULL);
    CHECK(s != NULL);
    for (size_t i = 0; s && i < sizeof(lookups) / sizeof(lookups[0]); i++) {
        const struct lookup_case *tc = &lookups[i];
        bool matched = !tc->matched;
        const struct cs_entry *e = cs_snapshot_lookup(s, tc->sni, &matched);
        CHECK(e != NULL);
        if (!e)
            continue;
        if (strcmp(e->site->name, tc->site) != 0 || matched != tc->matched ||
            e->n_certs != tc->n_certs)
            fprintf(stderr, "lookup %s: site %s matched %d n %zu\n", tc->sni ? tc->sni : "NULL",
                    e->site->name, matched, e->n_certs);
        CHECK_STR(e->site->name, tc->site);
        CHECK_INT(matched, tc->matched);
        CHECK_INT(e->n_certs, tc->n_certs);
        for (size_t j = 0; tc->matched && j < e->n_certs; j++) {
            char host[256];
            snprintf(host, sizeof(host), "%s", tc->sni);
            for (char *p = host; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            if (host[strlen(host) - 1] == '.')
                host[strlen(host) - 1] = '\0';
            /* every listed certificate covers the name (as the cert's SANs say) */
            bool covers = false;
            for (size_t k = 0; k < e->certs[j]->n_dns_names; k++) {
                const char *pat = e->certs[j]->dns_names[k];
                const char *dot = strchr(host, '.');
                covers |=
                    strcmp(pat, host) == 0 || (pat[0] == '*' && dot && strcmp(pat + 1, dot) == 0);
            }
            CHECK(covers);
        }
    }
    CHECK_INT(cs_snapshot_site_count(s), 4);
    CHECK(cs_snapshot_site(s, 4) == NULL);
    CHECK(!cs_snapshot_strict_sni(s));
    cs_snapshot_release(s);
    cs_conf_clear(&conf);
}

static void test_default_and_strict(void)
{
    struct cs_conf conf;
    std_conf(&conf);
    conf.default_site = strdup("blog");
    struct cs_snapshot *s = build(&conf, NULL);
    bool m = true;
    const struct cs_entry *e = s ? cs_snapshot_lookup(s, "nothing.test", &m) : NULL;
    CHECK(e && strcmp(e->site->name, "blog") == 0 && e->n_certs == 2 && !m);
    cs_snapshot_release(s);

    free(conf.default_site);
    conf.default_site = strdup("A.Example.Test"); /* a host name, not a site */
    s = build(&conf, NULL);
    e = s ? cs_snapshot_lookup(s, NULL, &m) : NULL;
    CHECK(e && strcmp(e->site->name, "exact") == 0 && !m);
    cs_snapshot_release(s);

    free(conf.default_site);
    conf.default_site = strdup("nowhere.test");
    struct cs_diag d;
    cs_diag_init(&d);
    s = NULL;
    CHECK(cs_snapshot_build(&conf, NULL, &d, &s) < 0);
    CHECK(s == NULL);
    CHECK(find_diag(&d, CS_ERROR, "default_site nowhere.test") != NULL);
    cs_diag_free(&d);

    free(conf.default_site);
    conf.default_site = NULL;
    conf.strict_sni = true;
    s = build(&conf, NULL);
    CHECK(s && cs_snapshot_strict_sni(s));
    CHECK(s && cs_snapshot_lookup(s, "unknown.test", &m) == NULL);
    CHECK(s && cs_snapshot_lookup(s, NULL, &m) == NULL);
    CHECK(s && cs_snapshot_lookup(s, "a.b.example.test", &m) == NULL);
    e = s ? cs_snapshot_lookup(s, "Blog.test", &m) : NULL;
    CHECK(e && strcmp(e->site->name, "blog") == 0 && m);
    cs_snapshot_release(s);
    cs_conf_clear(&conf);
}

/* Configured RSA-4096, P-384, RSA-2048, P-256 (a), P-521, P-256 (b). */
static const char *const pref_files[] = {"p-rsa4096", "p-ec384", "p-rsa2048",
                                         "p-ec256a",  "p-ec521", "p-ec256b"};

static void check_order(enum cs_prefer prefer, const char *const *want, size_t n)
{
    struct cs_conf conf;
    cs_conf_init(&conf);
    struct cs_site_conf *sc = cg_site_add(&conf, "pref");
    sc->prefer = prefer;
    for (size_t i = 0; i < 6; i++)
        add_pair(sc, pref_files[i]);
    struct cs_snapshot *s = build(&conf, NULL);
    const struct cs_site *site = s ? cs_snapshot_site(s, 0) : NULL;
    CHECK_INT(site ? site->n_certs : 0, n);
    for (size_t i = 0; site && i < n && i < site->n_certs; i++) {
        char want_path[1024];
        snprintf(want_path, sizeof(want_path), "%s.crt", cg_path(dir, want[i]));
        CHECK_STR(site->certs[i]->cert_path, want_path);
    }
    const struct cs_entry *e = s ? cs_snapshot_lookup(s, "pref.test", NULL) : NULL;
    CHECK(e && e->n_certs == n);
    for (size_t i = 0; e && site && i < e->n_certs; i++)
        CHECK(e->certs[i] == site->certs[i]);
    cs_snapshot_release(s);
    cs_conf_clear(&conf);
}

static void test_preference(void)
{
    write_leaf("p-rsa4096", "rsa:4096", "pref.test");
    write_leaf("p-ec384", "ec:P-384", "pref.test");
    write_leaf("p-rsa2048", "rsa:2048", "pref.test");
    write_leaf("p-ec256a", "ec:P-256", "pref.test");
    write_leaf("p-ec521", "ec:P-521", "pref.test");
    write_leaf("p-ec256b", "ec:P-256", "pref.test");
    static const char *const ecdsa_first[] = {"p-ec256a", "p-ec256b",  "p-ec384",
                                              "p-ec521",  "p-rsa2048", "p-rsa4096"};
    static const char *const rsa_first[] = {"p-rsa2048", "p-rsa4096", "p-ec256a",
                                            "p-ec256b",  "p-ec384",   "p-ec521"};
    check_order(CS_PREFER_ECDSA, ecdsa_first, 6);
    check_order(CS_PREFER_RSA, rsa_first, 6);
}

static const struct cs_cert *cert_by_file(const struct cs_snapshot *s, const char *file)
{
    for (size_t i = 0; s && i < cs_snapshot_site_count(s); i++) {
        const struct cs_site *site = cs_snapshot_site(s, i);
        for (size_t j = 0; j < site->n_certs; j++)
            if (strstr(site->certs[j]->cert_path, file))
                return site->certs[j];
    }
    return NULL;
}

static void test_refcount_and_reuse(void)
{
    struct cs_conf conf;
    std_conf(&conf);
    struct cs_snapshot *s1 = build(&conf, NULL);
    struct cs_snapshot *s2 = build(&conf, s1);
    CHECK(s1 && s2);
    if (!s1 || !s2)
        return;
    CHECK(cs_snapshot_generation(s2) > cs_snapshot_generation(s1));
    const struct cs_cert *a1 = cert_by_file(s1, "/blog-ec.crt");
    const struct cs_cert *a2 = cert_by_file(s2, "/blog-ec.crt");
    CHECK(a1 != NULL && a1 == a2);
    CHECK_INT(a2 ? a2->refs : 0, 2);
    CHECK(cert_by_file(s1, "/shop-rsa.crt") == cert_by_file(s2, "/shop-rsa.crt"));

    /* snapshot refs: an extra reference keeps it alive */
    CHECK(cs_snapshot_ref(s1) == s1);
    cs_snapshot_release(s1);
    CHECK_INT(a2->refs, 2);
    cs_snapshot_release(s1);
    CHECK_INT(a2->refs, 1); /* s2 still holds it */
    CHECK_STR(a2->dns_names[0], "blog.test");
    cs_snapshot_release(NULL);

    /* a renewal rewrites blog-ec in place (same inode, new content): reloaded */
    write_leaf("blog-ec", "ec:P-256", "blog.test");
    struct cs_snapshot *s3 = build(&conf, s2);
    const struct cs_cert *a3 = s3 ? cert_by_file(s3, "/blog-ec.crt") : NULL;
    CHECK(a3 != NULL && a3 != a2);
    CHECK(a3 && strcmp(a3->fp_hex, a2->fp_hex) != 0);
    CHECK(s3 && cert_by_file(s3, "/blog-rsa.crt") == cert_by_file(s2, "/blog-rsa.crt"));

    /* a changed policy rebuilds every context */
    conf.policy.groups = strdup("P-256:X25519");
    struct cs_snapshot *s4 = build(&conf, s3);
    CHECK(s4 && cert_by_file(s4, "/blog-rsa.crt") != cert_by_file(s3, "/blog-rsa.crt"));
    CHECK(s4 && cs_snapshot_generation(s4) > cs_snapshot_generation(s3));
    cs_snapshot_release(s2);
    cs_snapshot_release(s3);
    cs_snapshot_release(s4);
    cs_conf_clear(&conf);
}

static void test_bad_policy(void)
{
    struct cs_conf conf;
    std_conf(&conf);
    conf.policy.ciphers = strdup("NOT-A-CIPHER");
    conf.policy.groups = strdup("P-999");
    struct cs_diag d;
    cs_diag_init(&d);
    struct cs_snapshot *s = NULL;
    CHECK(cs_snapshot_build(&conf, NULL, &d, &s) < 0);
    CHECK(find_diag(&d, CS_ERROR, "invalid tls policy ciphers \"NOT-A-CIPHER\"") != NULL);
    CHECK(find_diag(&d, CS_ERROR, "invalid tls policy groups \"P-999\"") != NULL);
    cs_diag_free(&d);
    cs_diag_init(&d);
    free(conf.policy.ciphers);
    free(conf.policy.groups);
    conf.policy.ciphers = conf.policy.groups = NULL;
    conf.policy.min_version = TLS1_3_VERSION;
    conf.policy.max_version = TLS1_2_VERSION;
    CHECK(cs_snapshot_build(&conf, NULL, &d, &s) < 0);
    CHECK(find_diag(&d, CS_ERROR, "invalid tls policy min_version") != NULL);
    CHECK_INT(cs_diag_count(&d, CS_ERROR), 1);
    cs_diag_free(&d);
    cs_conf_clear(&conf);
}

/* ---- in-memory handshakes ---- */

struct hs_case {
    const char *name;
    const char *sni;
    int max_version;
    const char *ciphers; /* TLS 1.2 list, NULL: default */
    const char *groups;  /* NULL: default */
    bool ok;
    const char *want_file; /* certificate the client must receive */
    const char *want_site;
    enum cs_fail fail;
};

static const struct hs_case hs_cases[] = {
    {"tls13 ecdsa", "shop.test", TLS1_3_VERSION, NULL, NULL, true, "/shop-ec.crt", "shop", 0},
    {"tls12 rsa only", "shop.test", TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", NULL, true,
     "/shop-rsa.crt", "shop", 0},
    {"tls12 ecdsa", "www.shop.test", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", NULL, true,
     "/shop-ec.crt", "shop", 0},
    {"wildcard", "api.shop.test", TLS1_3_VERSION, NULL, NULL, true, "/shop-wild.crt", "shop", 0},
    {"other site", "Blog.Test", TLS1_3_VERSION, NULL, NULL, true, "/blog-ec.crt", "blog", 0},
    {"hello retry", "blog.test", TLS1_3_VERSION, NULL, "P-521:P-256", true, "/blog-ec.crt", "blog",
     0},
    {"no sni: default", NULL, TLS1_3_VERSION, NULL, NULL, true, "/shop-ec.crt", "shop", 0},
    {"no usable cert", "x.example.test", TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", NULL, false,
     NULL, NULL, CS_FAIL_NO_CERT},
};

/* Drives both sides over a BIO pair until both finish or one fails (bounded). */
static bool handshake(SSL *c, SSL *s)
{
    bool cdone = false, sdone = false;
    for (int i = 0; i < 64 && !(cdone && sdone); i++) {
        ERR_clear_error();
        int rc = SSL_do_handshake(c);
        if (rc == 1)
            cdone = true;
        else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
            return false;
        ERR_clear_error();
        rc = SSL_do_handshake(s);
        if (rc == 1)
            sdone = true;
        else if (SSL_get_error(s, rc) != SSL_ERROR_WANT_READ)
            return false;
    }
    return cdone && sdone;
}

static void run_hs(const struct cs_snapshot *snap, const struct hs_case *tc)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    CHECK(cctx != NULL);
    SSL_CTX_set_max_proto_version(cctx, tc->max_version);
    if (tc->ciphers)
        CHECK_INT(SSL_CTX_set_cipher_list(cctx, tc->ciphers), 1);
    if (tc->groups)
        CHECK_INT(SSL_CTX_set1_groups_list(cctx, tc->groups), 1);
    SSL *c = SSL_new(cctx), *s = SSL_new(cs_snapshot_base_ctx(snap));
    BIO *bc = NULL, *bs = NULL;
    CHECK_INT(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if (tc->sni)
        SSL_set_tlsext_host_name(c, tc->sni);
    bool ok = handshake(c, s);
    if (ok != tc->ok)
        fprintf(stderr, "handshake case \"%s\": ok %d\n", tc->name, ok);
    CHECK_INT(ok, tc->ok);
    if (ok && tc->ok) {
        const struct cs_cert *chosen = cs_ssl_cert(s);
        X509 *peer = SSL_get0_peer_certificate(c);
        char fp[65] = "";
        if (peer)
            cg_fp_hex(peer, fp);
        CHECK(chosen != NULL);
        CHECK(chosen && strstr(chosen->cert_path, tc->want_file) != NULL);
        CHECK_STR(fp, chosen ? chosen->fp_hex : "?");
        const struct cs_site *site = cs_ssl_site(s);
        CHECK_STR(site ? site->name : NULL, tc->want_site);
        CHECK_INT(cs_ssl_fail(s), CS_FAIL_NONE);
        CHECK(SSL_get_SSL_CTX(s) == chosen->ctx);
        /* The client's key share was for P-521, which the server does not enable: ending on
         * P-256 means a HelloRetryRequest (and a second ClientHello callback) happened. */
        if (tc->groups)
            CHECK_INT(SSL_get_negotiated_group(c), NID_X9_62_prime256v1);
    } else if (!tc->ok) {
        CHECK_INT(cs_ssl_fail(s), tc->fail);
        CHECK(cs_ssl_cert(s) == NULL);
    }
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
}

static void test_handshakes(void)
{
    struct cs_conf conf;
    std_conf(&conf);
    struct cs_snapshot *s = build(&conf, NULL);
    CHECK(s != NULL);
    for (size_t i = 0; s && i < sizeof(hs_cases) / sizeof(hs_cases[0]); i++)
        run_hs(s, &hs_cases[i]);
    cs_snapshot_release(s);

    /* strict SNI: unknown names fail with unknown_sni, known ones still work */
    conf.strict_sni = true;
    s = build(&conf, NULL);
    const struct hs_case unknown = {
        "strict unknown",   "nope.test", TLS1_3_VERSION, NULL, NULL, false, NULL, NULL,
        CS_FAIL_UNKNOWN_SNI};
    const struct hs_case none = {
        "strict no sni", NULL, TLS1_3_VERSION, NULL, NULL, false, NULL, NULL, CS_FAIL_UNKNOWN_SNI};
    if (s) {
        run_hs(s, &unknown);
        run_hs(s, &none);
        run_hs(s, &hs_cases[0]);
    }
    cs_snapshot_release(s);
    cs_conf_clear(&conf);
}

/* ---- contexts: policy, ctx_setup, lifetime ---- */

static int setup_calls;
static int count_setup(SSL_CTX *ctx, void *arg)
{
    setup_calls++;
    return *(int *)arg;
}

static void check_policy(SSL_CTX *ctx)
{
    CHECK_INT(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    CHECK_INT(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
    uint64_t want =
        SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION;
    CHECK((SSL_CTX_get_options(ctx) & want) == want);
    CHECK_INT(SSL_CTX_get_num_tickets(ctx), 1);
    CHECK_INT(SSL_CTX_get_max_early_data(ctx), 0);
}

static void test_contexts(void)
{
    struct cs_conf conf;
    std_conf(&conf);
    int ret = 0;
    conf.ctx_setup = count_setup;
    conf.ctx_setup_arg = &ret;
    setup_calls = 0;
    struct cs_snapshot *s = build(&conf, NULL);
    CHECK(s != NULL);
    CHECK_INT(setup_calls, 8); /* the base context and 7 certificates */
    if (s) {
        check_policy(cs_snapshot_base_ctx(s));
        const struct cs_cert *c = cert_by_file(s, "/shop-rsa.crt");
        CHECK(c && c->ctx && SSL_CTX_get0_certificate(c->ctx) == c->leaf);
        if (c)
            check_policy(c->ctx);
        CHECK(cs_snapshot_suites(s)->n_tls13 == 3);
        /* the policy's groups, not OpenSSL's defaults */
        CHECK_INT(cs_snapshot_suites(s)->n_groups, 3);
    }
    cs_snapshot_release(s);

    ret = -1;
    struct cs_diag d;
    cs_diag_init(&d);
    s = NULL;
    CHECK(cs_snapshot_build(&conf, NULL, &d, &s) < 0);
    CHECK(find_diag(&d, CS_ERROR, "context setup failed") != NULL);
    cs_diag_free(&d);
    cs_conf_clear(&conf);
}

/* An established connection outlives its snapshot: the SSL holds its own contexts. */
static void test_ssl_outlives_snapshot(void)
{
    struct cs_conf conf;
    std_conf(&conf);
    struct cs_snapshot *snap = build(&conf, NULL);
    cs_conf_clear(&conf);
    if (!snap)
        return;
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *c = SSL_new(cctx), *s = SSL_new(cs_snapshot_base_ctx(snap));
    BIO *bc = NULL, *bs = NULL;
    CHECK_INT(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    SSL_set_tlsext_host_name(c, "blog.test");
    CHECK(handshake(c, s));
    cs_snapshot_release(snap);
    char buf[16] = "";
    ERR_clear_error();
    CHECK_INT(SSL_write(c, "ping", 4), 4);
    ERR_clear_error();
    CHECK_INT(SSL_read(s, buf, sizeof(buf)), 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    ERR_clear_error();
    CHECK_INT(SSL_write(s, "pong", 4), 4);
    ERR_clear_error();
    CHECK_INT(SSL_read(c, buf, sizeof(buf)), 4);
    CHECK(memcmp(buf, "pong", 4) == 0);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
}

int main(void)
{
    CHECK_INT(cg_tmpdir(dir, sizeof(dir), "snapshot"), 0);
    CHECK_INT(cg_ca_new(&root, "Snapshot Root", "ec:P-256", NULL), 0);
    rsa2048 = cg_key("rsa:2048");
    rsa4096 = cg_key("rsa:4096");
    CHECK(rsa2048 && rsa4096);
    write_leaf("shop-rsa", "rsa:2048", "shop.test,www.shop.test");
    write_leaf("shop-ec", "ec:P-256", "shop.test,www.shop.test");
    write_leaf("shop-wild", "ec:P-256", "*.shop.test");
    write_leaf("blog-ec", "ec:P-256", "blog.test");
    write_leaf("blog-rsa", "rsa:2048", "blog.test");
    write_leaf("wild", "ec:P-256", "*.example.test");
    write_leaf("exact", "ec:P-384", "a.example.test");

    test_lookup();
    test_default_and_strict();
    test_preference();
    test_refcount_and_reuse();
    test_bad_policy();
    test_handshakes();
    test_contexts();
    test_ssl_outlives_snapshot();

    EVP_PKEY_free(rsa2048);
    EVP_PKEY_free(rsa4096);
    cg_ca_free(&root);
    cg_rmtree(dir);
    return tt_done();
}
