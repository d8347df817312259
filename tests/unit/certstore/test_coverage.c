/* The coverage check over a real snapshot (certificates generated now): every site x
 * profile handshake really runs, the served certificate is the one the pure selection
 * predicts for that profile's real ClientHello, and the text and JSON reports carry it.
 * Also the explain view and the handshake counters on the same snapshot. */
#include "cs.h"
#include "certgen.h"
#include "tt.h"

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <time.h>

static char dir[512];
static char fp_ec[65], fp_rsa[65], fp_legacy[65];

/* Site "multi" (multi.test): ECDSA P-384, RSA-2048, ECDSA P-256, in that order. */
static void multi_certs(const struct cg_ca *ca, EVP_PKEY *rsa_key)
{
    struct cg_opts o384 = {.key = "ec:P-384", .sans = "multi.test"};
    struct cg_opts o256 = {.key = "ec:P-256", .sans = "multi.test"};
    struct cg_opts orsa = {.pkey = rsa_key, .sans = "multi.test"};
    struct cg_leaf a, b, c;

    CHECK_INT(cg_leaf_new(&a, &o384, ca), 0);
    CHECK_INT(cg_leaf_new(&b, &orsa, ca), 0);
    CHECK_INT(cg_leaf_new(&c, &o256, ca), 0);
    CHECK_INT(cg_write_pair(dir, "p384", &a, NULL, 0), 0);
    CHECK_INT(cg_write_pair(dir, "multi", &b, NULL, 0), 0);
    CHECK_INT(cg_write_pair(dir, "p256", &c, NULL, 0), 0);
    cg_leaf_free(&a);
    cg_leaf_free(&b);
    cg_leaf_free(&c);
}

/* Site "www": ECDSA P-256 + RSA-2048 for www.example.test. Site "legacy": RSA-2048 only,
 * for *.legacy.test (so its coverage SNI is x.legacy.test). */
static int build(struct cs_snapshot **out, struct cs_diag *d)
{
    struct cg_ca ca;
    struct cg_leaf ec, rsa, legacy;
    struct cg_opts o_ec = {.key = "ec:P-256", .sans = "www.example.test"};
    struct cg_opts o_rsa = {.key = "rsa:2048", .sans = "www.example.test"};
    struct cg_opts o_leg = {.sans = "*.legacy.test"};
    struct cs_conf conf;
    struct cs_site_conf *sc;
    int rc;

    CHECK_INT(cg_ca_new(&ca, "Coverage Root", "ec:P-256", NULL), 0);
    CHECK_INT(cg_leaf_new(&ec, &o_ec, &ca), 0);
    CHECK_INT(cg_leaf_new(&rsa, &o_rsa, &ca), 0);
    o_leg.pkey = rsa.key; /* share the RSA key: generation is the slow part */
    CHECK_INT(cg_leaf_new(&legacy, &o_leg, &ca), 0);
    CHECK_INT(cg_write_pair(dir, "ec", &ec, NULL, 0), 0);
    CHECK_INT(cg_write_pair(dir, "rsa", &rsa, NULL, 0), 0);
    CHECK_INT(cg_write_pair(dir, "legacy", &legacy, NULL, 0), 0);
    multi_certs(&ca, rsa.key);
    cg_fp_hex(ec.cert, fp_ec);
    cg_fp_hex(rsa.cert, fp_rsa);
    cg_fp_hex(legacy.cert, fp_legacy);
    cg_leaf_free(&ec);
    cg_leaf_free(&rsa);
    cg_leaf_free(&legacy);
    cg_ca_free(&ca);

    cs_conf_init(&conf);
    sc = cg_site_add(&conf, "www");
    cg_site_cert(sc, cg_path(dir, "rsa.crt"), cg_path(dir, "rsa.key"));
    cg_site_cert(sc, cg_path(dir, "ec.crt"), cg_path(dir, "ec.key"));
    sc = cg_site_add(&conf, "legacy");
    cg_site_cert(sc, cg_path(dir, "legacy.crt"), cg_path(dir, "legacy.key"));
    sc = cg_site_add(&conf, "multi");
    cg_site_cert(sc, cg_path(dir, "p384.crt"), cg_path(dir, "p384.key"));
    cg_site_cert(sc, cg_path(dir, "multi.crt"), cg_path(dir, "multi.key"));
    cg_site_cert(sc, cg_path(dir, "p256.crt"), cg_path(dir, "p256.key"));
    rc = cs_snapshot_build(&conf, NULL, d, out);
    if (rc != 0)
        cs_diag_print(stderr, d);
    cs_conf_clear(&conf);
    return rc;
}

static const struct cs_coverage_cell *cell(const struct cs_coverage *c, size_t site,
                                           const char *profile)
{
    for (size_t p = 0; p < c->n_profiles; p++)
        if (strcmp(c->cells[site * c->n_profiles + p].profile->name, profile) == 0)
            return &c->cells[site * c->n_profiles + p];
    return NULL;
}

struct expect {
    size_t site;
    const char *profile;
    bool ok;
    enum cs_key_type type;
    int version;
    const char *fp; /* NULL for failures */
};

static void check_expected(const struct cs_coverage *c)
{
    const struct expect want[] = {
        {0, "modern-tls13", true, CS_KEY_ECDSA, TLS1_3_VERSION, fp_ec},
        {0, "openssl3-default", true, CS_KEY_ECDSA, TLS1_3_VERSION, fp_ec},
        {0, "tls12-rsa-only", true, CS_KEY_RSA, TLS1_2_VERSION, fp_rsa},
        {0, "android-4.4", true, CS_KEY_ECDSA, TLS1_2_VERSION, fp_ec},
        {0, "tls12-p384-only", true, CS_KEY_RSA, TLS1_2_VERSION, fp_rsa},
        {0, "tls12-x25519-only", true, CS_KEY_RSA, TLS1_2_VERSION, fp_rsa},
        {0, "tls13-rsa-pss-only", true, CS_KEY_RSA, TLS1_3_VERSION, fp_rsa},
        {0, "tls13-ecdsa-only", true, CS_KEY_ECDSA, TLS1_3_VERSION, fp_ec},
        {0, "tls12-ecdsa-only", true, CS_KEY_ECDSA, TLS1_2_VERSION, fp_ec},
        {0, "no-sni", true, CS_KEY_ECDSA, TLS1_3_VERSION, fp_ec}, /* default: first site */
        {1, "modern-tls13", true, CS_KEY_RSA, TLS1_3_VERSION, fp_legacy},
        {1, "tls12-rsa-only", true, CS_KEY_RSA, TLS1_2_VERSION, fp_legacy},
        {1, "tls13-ecdsa-only", false, CS_KEY_NONE, 0, NULL},
        {1, "tls12-ecdsa-only", false, CS_KEY_NONE, 0, NULL},
    };

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct cs_coverage_cell *x = cell(c, want[i].site, want[i].profile);
        CHECK(x != NULL);
        if (!x)
            continue;
        if (x->ok != want[i].ok)
            fprintf(stderr, "%s/%s: %s\n", x->site->name, want[i].profile, x->detail);
        CHECK_INT(x->ok, want[i].ok);
        if (want[i].ok) {
            CHECK_INT(x->type, want[i].type);
            CHECK_INT(x->version, want[i].version);
            CHECK_STR(x->fp_hex, want[i].fp);
        } else {
            CHECK_CONTAINS(x->detail, "no_usable_cert: no certificate usable");
        }
    }
}

/* The real handshake and the pure function agree for every site x profile. */
static void check_agrees_with_select(const struct cs_snapshot *s, const struct cs_coverage *c)
{
    for (size_t i = 0; i < c->n_sites * c->n_profiles; i++) {
        const struct cs_coverage_cell *x = &c->cells[i];
        const char *sni = strcmp(x->site->name, "www") == 0      ? "www.example.test"
                          : strcmp(x->site->name, "legacy") == 0 ? "x.legacy.test"
                                                                 : "multi.test";
        struct cs_hello h;
        struct cs_choice ch;
        const struct cs_entry *e;

        CHECK_INT(cs_profile_hello(x->profile, sni, &h), 0);
        e = cs_snapshot_lookup(s, h.has_sni ? h.sni : NULL, NULL);
        CHECK(e != NULL);
        if (!e)
            continue;
        CHECK_INT(cs_select(e, &h, cs_snapshot_suites(s), &ch) == 0, x->ok);
        if (x->ok && ch.cert) {
            CHECK_STR(ch.cert->fp_hex, x->fp_hex);
            CHECK_INT(ch.version, x->version);
        }
    }
}

static char *capture_text(const struct cs_coverage *c, const struct cs_diag *d, bool json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (json)
        cs_coverage_print_json(f, c, d);
    else
        cs_coverage_print_text(f, c, d);
    fclose(f);
    return buf;
}

static void check_reports(const struct cs_coverage *c, struct cs_diag *d)
{
    char *text, *json, path[600];
    FILE *f;

    cs_diag_add(d, CS_WARNING, "www", "/tmp/a \"quoted\"\tfile", "line one\nline two \\ end");
    text = capture_text(c, d, false);
    CHECK_CONTAINS(text, "site www (www.example.test)");
    CHECK_CONTAINS(text, "site www (www.example.test)\n"
                         "  PROFILE              CERTIFICATE  TLS\n"
                         "  modern-tls13         ECDSA P-256  1.3\n");
    CHECK_CONTAINS(text, "tls12-rsa-only       RSA-2048     1.2");
    CHECK_CONTAINS(text, "FAIL(no_usable_cert)\n");
    CHECK_CONTAINS(text, "no-sni               ECDSA P-256  1.3 (from site www)");
    CHECK_CONTAINS(text, "warning: site www:");
    CHECK_CONTAINS(text, "coverage incomplete: 3 sites x");
    fputs(text, stdout);
    json = capture_text(c, d, true);
    CHECK_CONTAINS(json, "{\"ok\":false,\"sites\":[{\"site\":\"www\",\"profiles\":[");
    CHECK_CONTAINS(json, "\"key_type\":\"ECDSA\",\"curve\":\"P-256\",\"bits\":256,"
                         "\"version\":\"TLSv1.3\",\"sha256\":\"");
    CHECK_CONTAINS(json, fp_ec);
    CHECK_CONTAINS(json, "\"file\":\"/tmp/a \\\"quoted\\\"\\tfile\"");
    CHECK_CONTAINS(json, "\"message\":\"line one\\nline two \\\\ end\"");
    /* and it is JSON a standard parser accepts */
    snprintf(path, sizeof(path), "%s/cov.json", dir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(json, f);
        fclose(f);
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "python3 -c 'import json,sys; json.load(open(sys.argv[1]))' %s",
                 path);
        CHECK_INT(system(cmd), 0);
    }
    free(text);
    free(json);
}

/* Accepts every failed profile of site index i (not yet accepted) in sc. */
static void accept_failures(const struct cs_coverage *c, size_t i, struct cs_site_conf *sc)
{
    for (size_t p = 0; p < c->n_profiles; p++) {
        const struct cs_coverage_cell *x = &c->cells[i * c->n_profiles + p];
        if (x->ok)
            continue;
        sc->accept_lost = realloc(sc->accept_lost, (sc->n_accept_lost + 1) * sizeof(char *));
        sc->accept_lost[sc->n_accept_lost++] = strdup(x->profile->name);
    }
}

/* Which failures a site's configuration declares (twofold check's exit 3 depends on it):
 * require naming exactly the one key type a site serves, and accept_lost. */
static void check_declare(struct cs_coverage *c)
{
    struct cs_conf conf;
    size_t failed = 0, legacy_failed = 0;
    char *text, *json;

    cs_conf_init(&conf);
    cg_site_add(&conf, "www");
    cg_site_add(&conf, "legacy");
    cg_site_add(&conf, "multi");
    for (size_t i = 0; i < c->n_sites * c->n_profiles; i++) {
        failed += !c->cells[i].ok;
        legacy_failed += !c->cells[i].ok && strcmp(c->cells[i].site->name, "legacy") == 0;
    }
    CHECK(legacy_failed >= 2);
    CHECK_INT(cs_coverage_declare(c, &conf), failed);
    /* legacy serves RSA only: require = rsa ecdsa is unmet, not a declaration */
    conf.sites[1].require = CS_REQUIRE_RSA | CS_REQUIRE_ECDSA;
    CHECK_INT(cs_coverage_declare(c, &conf), failed);
    /* www serves both types: require = ecdsa does not make it ECDSA-only */
    conf.sites[0].require = CS_REQUIRE_ECDSA;
    conf.sites[1].require = CS_REQUIRE_RSA;
    CHECK_INT(cs_coverage_declare(c, &conf), failed - legacy_failed);
    CHECK_STR(cell(c, 1, "tls13-ecdsa-only")->declared, "require = rsa");
    CHECK(cell(c, 1, "modern-tls13")->declared == NULL); /* ok cells are never declared */
    text = capture_text(c, NULL, false);
    CHECK_CONTAINS(text, "tls12-ecdsa-only     FAIL(no_usable_cert), declared by require = rsa\n");
    free(text);

    accept_failures(c, 0, &conf.sites[0]);
    accept_failures(c, 2, &conf.sites[2]);
    CHECK_INT(cs_coverage_declare(c, &conf), 0);
    text = capture_text(c, NULL, false);
    json = capture_text(c, NULL, true);
    if (failed > legacy_failed)
        CHECK_CONTAINS(text, ", declared by accept_profiles_lost\n");
    CHECK_CONTAINS(text, "coverage ok: 3 sites x");
    CHECK_CONTAINS(text, " failed (");
    CHECK_CONTAINS(text, " declared by the configuration, 0 not); 0 errors");
    CHECK_CONTAINS(json, "{\"ok\":true,");
    CHECK_CONTAINS(json, "\"declared\":\"require = rsa\"");
    CHECK_CONTAINS(json, "\"declared\":null");
    free(text);
    free(json);

    cs_conf_clear(&conf);
    cs_conf_init(&conf); /* no site of that name: nothing declared, marks cleared */
    CHECK_INT(cs_coverage_declare(c, &conf), failed);
    CHECK(cell(c, 1, "tls13-ecdsa-only")->declared == NULL);
}

static void check_explain(const struct cs_snapshot *s)
{
    struct cs_hello h;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    CHECK_INT(cs_profile_hello(cs_profile_find("tls12-p384-only"), "WWW.example.test", &h), 0);
    f = open_memstream(&buf, &len);
    cs_explain_print(f, s, &h);
    fclose(f);
    CHECK_CONTAINS(buf, "server name: WWW.example.test");
    CHECK_CONTAINS(buf, "site: www (exact name)");
    CHECK_CONTAINS(buf, "version: TLSv1.2");
    CHECK_CONTAINS(buf, "rejected ECDSA P-256");
    CHECK_CONTAINS(buf, "client's supported groups lack P-256");
    CHECK_CONTAINS(buf, "accepted RSA-2048");
    CHECK_CONTAINS(buf, "result: RSA-2048");
    CHECK_CONTAINS(buf, "groups            P-384");
    fputs(buf, stdout);
    free(buf);

    CHECK_INT(cs_profile_hello(cs_profile_find("tls13-ecdsa-only"), "a.legacy.test", &h), 0);
    buf = NULL;
    f = open_memstream(&buf, &len);
    cs_explain_print(f, s, &h);
    fclose(f);
    CHECK_CONTAINS(buf, "site: legacy (wildcard)");
    CHECK_CONTAINS(buf, "result: FAIL(no_usable_cert)");
    CHECK_CONTAINS(buf, "TLS 1.3 RSA needs rsa_pss_rsae_*");
    free(buf);

    CHECK_INT(cs_profile_hello(cs_profile_find("modern-tls13"), "nobody.test", &h), 0);
    buf = NULL;
    f = open_memstream(&buf, &len);
    cs_explain_print(f, s, &h);
    fclose(f);
    CHECK_CONTAINS(buf, "site: www (default site: name not configured)");
    free(buf);
    fputs("explain ok\n", stdout);
}

/* One real handshake for the counters, with a bounded loop over memory BIO pairs. */
static SSL *handshake_p(const struct cs_snapshot *s, const struct cs_profile *p, const char *sni,
                        SSL **client)
{
    SSL_CTX *cctx = cs_profile_client_ctx(p);
    SSL *c = SSL_new(cctx), *sv = SSL_new(cs_snapshot_base_ctx(s));
    BIO *bc, *bs;

    SSL_CTX_free(cctx); /* the SSL keeps its own reference */
    BIO_new_bio_pair(&bc, 0, &bs, 0);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(sv, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(sv);
    SSL_set_tlsext_host_name(c, (char *)sni);
    for (int i = 0; i < 20 && !(SSL_is_init_finished(c) && SSL_is_init_finished(sv)); i++) {
        SSL_do_handshake(c);
        SSL_do_handshake(sv);
    }
    ERR_clear_error();
    *client = c;
    return sv;
}

static SSL *handshake(const struct cs_snapshot *s, const char *profile, SSL **client)
{
    return handshake_p(s, cs_profile_find(profile), "www.example.test", client);
}

/* Many synthetic clients (versions x suites x sigalgs x groups) against two sites: the
 * real handshake succeeds exactly when cs_select finds a certificate, and serves it. */
static void check_matrix(const struct cs_snapshot *s)
{
    static const int vers[][2] = {{TLS1_2_VERSION, TLS1_2_VERSION},
                                  {TLS1_3_VERSION, TLS1_3_VERSION},
                                  {TLS1_2_VERSION, TLS1_3_VERSION}};
    static const char *ciphers[] = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
                                    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"};
    static const char *sigalgs[] = {NULL,
                                    "ecdsa_secp256r1_sha256",
                                    "ecdsa_secp384r1_sha384",
                                    "rsa_pss_rsae_sha256",
                                    "rsa_pkcs1_sha256",
                                    "rsa_pkcs1_sha256:ecdsa_secp384r1_sha384",
                                    "ecdsa_secp521r1_sha512:rsa_pss_pss_sha256",
                                    "ECDSA+SHA1:RSA+SHA1"};
    static const char *groups[] = {"P-256", "P-384", "X25519", "X25519:P-384:P-256"};
    static const char *snis[] = {"www.example.test", "multi.test"};
    size_t runs = 0, agree = 0, served = 0, skipped = 0;

    for (size_t v = 0; v < 3; v++)
        for (size_t c = 0; c < 3; c++)
            for (size_t a = 0; a < 8; a++)
                for (size_t g = 0; g < 4; g++)
                    for (size_t n = 0; n < 2; n++) {
                        struct cs_profile p = {"matrix",   "synthetic", vers[v][0],
                                               vers[v][1], ciphers[c],  NULL,
                                               sigalgs[a], groups[g],   true};
                        struct cs_hello h;
                        struct cs_choice ch;
                        SSL *cl, *sv;
                        bool real_ok, pred_ok, same;

                        if (vers[v][0] == TLS1_3_VERSION && c > 0)
                            continue; /* TLS 1.2 suites do not matter there */
                        if (cs_profile_hello(&p, snis[n], &h) != 0) {
                            skipped++; /* OpenSSL's client finds no suite for its sigalgs */
                            continue;
                        }
                        sv = handshake_p(s, &p, snis[n], &cl);
                        real_ok = SSL_is_init_finished(sv) && SSL_is_init_finished(cl);
                        CHECK_INT(cs_profile_hello(&p, snis[n], &h), 0);
                        pred_ok = cs_select(cs_snapshot_lookup(s, h.sni, NULL), &h,
                                            cs_snapshot_suites(s), &ch) == 0;
                        same = real_ok == pred_ok && (!real_ok || ch.cert == cs_ssl_cert(sv));
                        runs++;
                        agree += same;
                        served += real_ok;
                        if (!same)
                            fprintf(stderr,
                                    "disagree: %s %s-%s ciphers %s sigalgs %s groups %s: "
                                    "handshake %s (%s), select: %s\n",
                                    snis[n], cs_version_name(vers[v][0]),
                                    cs_version_name(vers[v][1]), ciphers[c],
                                    sigalgs[a] ? sigalgs[a] : "default", groups[g],
                                    real_ok ? "ok" : "failed", cs_fail_name(cs_ssl_fail(sv)),
                                    ch.reason);
                        SSL_free(cl);
                        SSL_free(sv);
                    }
    printf("matrix: %zu handshakes, %zu served, %zu agree with cs_select\n", runs, served, agree);
    CHECK_INT(agree, runs);
    CHECK(served > 0 && served < runs); /* both outcomes were exercised */
}

/* A TLS 1.2 ClientHello without signature_algorithms (RFC 5246's SHA-1 default), as no
 * OpenSSL client can send, fed to the real server: it answers with a ServerHello exactly
 * when cs_select finds a certificate (at security level 1+ OpenSSL refuses SHA-1). */
static void check_no_sigalgs(const struct cs_snapshot *s)
{
    static const char name[] = "www.example.test";
    uint8_t b[256];
    size_t n = 0;
    struct cs_hello h;
    char err[128];

#define PUT(...)                                                                                   \
    do {                                                                                           \
        const uint8_t v_[] = {__VA_ARGS__};                                                        \
        memcpy(b + n, v_, sizeof(v_));                                                             \
        n += sizeof(v_);                                                                           \
    } while (0)
    PUT(22, 3, 1, 0, 0, 1, 0, 0, 0, 3, 3); /* lengths patched below */
    memset(b + n, 7, 32), n += 32;         /* random */
    PUT(0, 0, 4, 0xc0, 0x2b, 0xc0, 0x2f, 1, 0, 0, 0);
    PUT(0, 0, 0, 5 + sizeof(name) - 1, 0, 3 + sizeof(name) - 1, 0, 0, sizeof(name) - 1);
    memcpy(b + n, name, sizeof(name) - 1), n += sizeof(name) - 1;
    PUT(0, 10, 0, 6, 0, 4, 0, 23, 0, 29, 0, 11, 0, 2, 1, 0);
#undef PUT
    b[3] = (uint8_t)((n - 5) >> 8), b[4] = (uint8_t)(n - 5);
    b[7] = (uint8_t)((n - 9) >> 8), b[8] = (uint8_t)(n - 9);
    size_t ext_at = 5 + 4 + 2 + 32 + 1 + 6 + 2;
    b[ext_at] = (uint8_t)((n - ext_at - 2) >> 8), b[ext_at + 1] = (uint8_t)(n - ext_at - 2);

    CHECK_INT(cs_hello_parse(b, n, &h, err, sizeof(err)), 0);
    CHECK(!h.has_sigalgs && h.has_sni);
    const struct cs_entry *e = cs_snapshot_lookup(s, h.sni, NULL);
    /* level -1: the context's own level; 0: the control, where SHA-1 is allowed */
    for (size_t k = 0; e && k < 2 * e->n_certs; k++) {
        size_t i = k % e->n_certs;
        /* OpenSSL alone decides here: the certificate's own context, no selection hook */
        struct cs_cert *one[] = {e->certs[i]};
        struct cs_entry single = {.site = e->site, .certs = one, .n_certs = 1};
        struct cs_suites su = *cs_snapshot_suites(s);
        SSL *sv = SSL_new(e->certs[i]->ctx);
        BIO *out = BIO_new(BIO_s_mem());
        struct cs_choice ch;
        char *resp;
        long rlen;
        bool served, predicted;

        if (k >= e->n_certs) {
            SSL_set_security_level(sv, 0);
            su.security_level = 0;
        }
        predicted = cs_select(&single, &h, &su, &ch) == 0;
        SSL_set_bio(sv, BIO_new_mem_buf(b, (int)n), out);
        SSL_set_accept_state(sv);
        SSL_do_handshake(sv);
        ERR_clear_error();
        rlen = BIO_get_mem_data(out, &resp);
        served = rlen > 5 && resp[0] == 22; /* a handshake record (ServerHello), no alert */
        printf("TLS 1.2 without sigalgs, security level %d: OpenSSL %s, cs_select %s (%s)\n",
               SSL_get_security_level(sv), served ? "serves" : "refuses",
               predicted ? "serves" : "refuses", ch.reason);
        CHECK_INT(served, predicted);
        CHECK_INT(served, su.security_level == 0); /* the control must serve */
        SSL_free(sv);
    }
}

static void check_counters(const struct cs_snapshot *s)
{
    struct cs_counters a, b;
    SSL *c1, *c2, *s1 = handshake(s, "modern-tls13", &c1),
                  *s2 = handshake(s, "tls12-rsa-only", &c2);

    CHECK(SSL_is_init_finished(s1) && SSL_is_init_finished(s2));
    cs_counters_init(&a);
    cs_counters_init(&b);
    cs_counters_note_handshake(&a, s1);
    cs_counters_note_handshake(&a, s1);
    cs_counters_note_handshake(&a, s2);
    cs_counters_note_failure(&a, CS_FAIL_NO_CERT);
    CHECK_INT(a.n, 2);
    CHECK_STR(a.items[0].site, "www");
    CHECK_INT(a.items[0].type, CS_KEY_ECDSA);
    CHECK_INT(a.items[0].curve_nid, NID_X9_62_prime256v1);
    CHECK_INT(a.items[0].version, TLS1_3_VERSION);
    CHECK_INT(a.items[0].n, 2);
    CHECK_INT(a.items[1].type, CS_KEY_RSA);
    CHECK_INT(a.items[1].bits, 2048);
    CHECK_INT(a.items[1].version, TLS1_2_VERSION);
    CHECK_INT(a.items[1].n, 1);
    cs_counters_note_handshake(&b, s2);
    cs_counters_note_failure(&b, CS_FAIL_NO_CERT);
    cs_counters_note_failure(&b, CS_FAIL_PROTOCOL);
    cs_counters_merge(&a, &b);
    CHECK_INT(a.n, 2);
    CHECK_INT(a.items[1].n, 2);
    CHECK_INT(a.failures[CS_FAIL_NO_CERT], 2);
    CHECK_INT(a.failures[CS_FAIL_PROTOCOL], 1);
    cs_counters_merge(&b, &a); /* b gains the ECDSA label it never saw */
    CHECK_INT(b.n, 2);
    cs_counters_free(&a);
    cs_counters_free(&b);
    cs_counters_free(NULL);
    SSL_free(c1), SSL_free(s1), SSL_free(c2), SSL_free(s2);
}

int main(void)
{
    struct cs_snapshot *s = NULL;
    struct cs_diag d;
    struct cs_coverage c;

    CHECK_INT(cg_tmpdir(dir, sizeof(dir), "coverage"), 0);
    cs_diag_init(&d);
    CHECK_INT(build(&s, &d), 0);
    if (s) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_INT(cs_coverage_run(s, &c), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("coverage run: %.0f ms (informational)\n",
               (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
        CHECK_INT(c.n_sites, 3);
        CHECK_INT(c.n_profiles, cs_n_profiles);
        check_expected(&c);
        check_agrees_with_select(s, &c);
        check_reports(&c, &d);
        check_declare(&c);
        cs_coverage_free(&c);
        CHECK(c.cells == NULL);
        cs_coverage_free(NULL);
        check_explain(s);
        check_counters(s);
        check_matrix(s);
        check_no_sigalgs(s);
    }
    cs_snapshot_release(s);
    cs_diag_free(&d);
    cg_rmtree(dir);
    return tt_done();
}
