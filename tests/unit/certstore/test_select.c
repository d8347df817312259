/* cs_select over synthetic ClientHellos and hand-built certificates (the selector reads
 * only type, bits and curve_nid), one table row per rule; and cs_suites_compute over a
 * real server context. */
#include "cs.h"
#include "tt.h"

#include <openssl/obj_mac.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define END      0xffff /* list terminator in the table below */

/* Suites of twofold's default policy (ECDHE + AEAD only, TLS 1.2-1.3). */
static struct cs_suites default_suites(void)
{
    struct cs_suites s = {
        .min_version = TLS1_2_VERSION,
        .max_version = TLS1_3_VERSION,
        .tls12_ecdsa = {0xc02b, 0xc02c, 0xcca9},
        .n_tls12_ecdsa = 3,
        .tls12_rsa = {0xc02f, 0xc030, 0xcca8},
        .n_tls12_rsa = 3,
        .tls12_rsa_ecdhe = 7,
        .tls13 = {0x1301, 0x1302, 0x1303},
        .n_tls13 = 3,
        .groups = {29, 23, 24},
        .n_groups = 3,
    };
    return s;
}

enum cert_kind { RSA2048, RSA4096, P256, P384, P521 };

static struct cs_cert make_cert(enum cert_kind k)
{
    struct cs_cert c;

    memset(&c, 0, sizeof(c));
    c.type = k <= RSA4096 ? CS_KEY_RSA : CS_KEY_ECDSA;
    c.bits = k == RSA2048 ? 2048 : k == RSA4096 ? 4096 : k == P256 ? 256 : k == P384 ? 384 : 521;
    c.curve_nid = k == P256   ? NID_X9_62_prime256v1
                  : k == P384 ? NID_secp384r1
                  : k == P521 ? NID_secp521r1
                              : 0;
    return c;
}

struct hello_spec {
    uint16_t legacy;
    uint16_t versions[4]; /* END-terminated; first END: no extension */
    uint16_t ciphers[8];
    int sigalgs_present;
    uint16_t sigalgs[8];
    int groups_present;
    uint16_t groups[8];
};

static size_t copy_list(const uint16_t *src, size_t cap, struct cs_hello *h,
                        void (*add)(struct cs_hello *, uint16_t))
{
    size_t n = 0;
    while (n < cap && src[n] != END)
        add(h, src[n++]);
    return n;
}

/* Extensions a real client sends with them: key_share whenever it offers TLS 1.3. */
static void build_hello(const struct hello_spec *sp, struct cs_hello *h)
{
    memset(h, 0, sizeof(*h));
    h->legacy_version = sp->legacy;
    h->n_versions = copy_list(sp->versions, 4, h, cs_hello_add_version);
    h->has_versions = h->n_versions > 0;
    h->has_key_share = h->has_versions;
    h->n_ciphers = copy_list(sp->ciphers, 8, h, cs_hello_add_cipher);
    h->has_sigalgs = sp->sigalgs_present;
    h->n_sigalgs = copy_list(sp->sigalgs, 8, h, cs_hello_add_sigalg);
    h->has_groups = sp->groups_present;
    h->n_groups = copy_list(sp->groups, 8, h, cs_hello_add_group);
}

#define V13                                                                                        \
    {                                                                                              \
        0x0304, 0x0303, END                                                                        \
    }
#define V12                                                                                        \
    {                                                                                              \
        END                                                                                        \
    }
#define C13                                                                                        \
    {                                                                                              \
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, END                                                \
    }
#define C12_BOTH                                                                                   \
    {                                                                                              \
        0xc02b, 0xc02f, 0xc030, END                                                                \
    }
#define C12_RSA                                                                                    \
    {                                                                                              \
        0xc02f, 0xc030, END                                                                        \
    }
#define C12_ECD                                                                                    \
    {                                                                                              \
        0xc02b, 0xc02c, END                                                                        \
    }
#define S_MODERN                                                                                   \
    1,                                                                                             \
    {                                                                                              \
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, END                                                \
    }
#define G_MODERN                                                                                   \
    1,                                                                                             \
    {                                                                                              \
        29, 23, 24, END                                                                            \
    }

struct select_case {
    const char *name;
    struct hello_spec hello;
    enum cert_kind certs[4];
    size_t n_certs;
    enum cs_prefer prefer;
    int expect; /* index into certs, -1: failure */
    int version;
    enum cs_fail fail;
    const char *reason; /* substring of choice.reason */
};

static const struct select_case cases[] = {
    {"tls13 ecdsa sigalg for P-256 only: P-384 cert refused, RSA chosen",
     {0x0303, V13, C13, 1, {0x0403, 0x0804, END}, G_MODERN},
     {P384, RSA2048},
     2,
     CS_PREFER_ECDSA,
     1,
     TLS1_3_VERSION,
     CS_FAIL_NONE,
     "RSA-2048"},
    {"tls13 modern client gets ECDSA P-256",
     {0x0303, V13, C13, S_MODERN, G_MODERN},
     {RSA2048, P256},
     2,
     CS_PREFER_ECDSA,
     1,
     TLS1_3_VERSION,
     CS_FAIL_NONE,
     "ECDSA P-256"},
    {"tls13 PSS-only client gets RSA",
     {0x0303, V13, C13, 1, {0x0804, 0x0805, 0x0806, END}, G_MODERN},
     {P256, RSA2048},
     2,
     CS_PREFER_ECDSA,
     1,
     TLS1_3_VERSION,
     CS_FAIL_NONE,
     "rsa_pss_rsae_sha256"},
    {"tls13 rsa_pkcs1-only client: RSA refused, no cert",
     {0x0303, V13, C13, 1, {0x0401, END}, G_MODERN},
     {RSA2048},
     1,
     CS_PREFER_ECDSA,
     -1,
     TLS1_3_VERSION,
     CS_FAIL_NO_CERT,
     "RSA needs rsa_pss_rsae_*; client sigalgs: rsa_pkcs1_sha256"},
    {"tls13 rsa_pss_pss only does not fit an rsaEncryption key",
     {0x0303, V13, C13, 1, {0x0809, END}, G_MODERN},
     {RSA2048},
     1,
     CS_PREFER_ECDSA,
     -1,
     TLS1_3_VERSION,
     CS_FAIL_NO_CERT,
     "rsa_pss_pss_sha256"},
    {"tls12 ECDHE-RSA suites only gets RSA",
     {0x0303, V12, C12_RSA, S_MODERN, G_MODERN},
     {P256, RSA2048},
     2,
     CS_PREFER_ECDSA,
     1,
     TLS1_2_VERSION,
     CS_FAIL_NONE,
     "RSA-2048"},
    {"tls12 ECDSA suites, groups P-384 only, P-256 cert: RSA",
     {0x0303, V12, C12_BOTH, S_MODERN, 1, {24, END}},
     {P256, RSA2048},
     2,
     CS_PREFER_ECDSA,
     1,
     TLS1_2_VERSION,
     CS_FAIL_NONE,
     "1 preferred candidate rejected: client's supported groups lack P-256"},
    {"tls12 groups P-384 only picks the P-384 cert after P-256",
     {0x0303, V12, C12_BOTH, S_MODERN, 1, {24, END}},
     {P256, P384, RSA2048},
     3,
     CS_PREFER_ECDSA,
     1,
     TLS1_2_VERSION,
     CS_FAIL_NONE,
     "ECDSA P-384"},
    /* RFC 8422 5.1.1 would allow any curve, but OpenSSL 3.0 does no ECDHE without the
     * client's list (tls1_shared_group), and every suite we enable is ECDHE: "no shared
     * cipher", as a real handshake shows (test_coverage.c, check_property). */
    {"tls12 no groups extension: no ECDHE, so no certificate",
     {0x0303, V12, C12_BOTH, S_MODERN, 0, {END}},
     {RSA2048, P256},
     2,
     CS_PREFER_ECDSA,
     -1,
     TLS1_2_VERSION,
     CS_FAIL_NO_CERT,
     "OpenSSL does no ECDHE"},
    {"tls12 no sigalgs extension: ECDSA allowed (RFC 5246 default)",
     {0x0303, V12, C12_BOTH, 0, {END}, G_MODERN},
     {RSA2048, P256},
     2,
     CS_PREFER_ECDSA,
     1,
     TLS1_2_VERSION,
     CS_FAIL_NONE,
     "ECDSA P-256"},
    {"tls12 sigalgs without ECDSA: RSA",
     {0x0303, V12, C12_BOTH, 1, {0x0401, 0x0804, END}, G_MODERN},
     {P256, RSA2048},
     2,
     CS_PREFER_ECDSA,
     1,
     TLS1_2_VERSION,
     CS_FAIL_NONE,
     "RSA-2048"},
    {"tls12 ECDSA-only client and RSA-only site: no cert",
     {0x0303, V12, C12_ECD, S_MODERN, G_MODERN},
     {RSA2048},
     1,
     CS_PREFER_ECDSA,
     -1,
     TLS1_2_VERSION,
     CS_FAIL_NO_CERT,
     "no RSA suite we enable"},
    {"tls12 ECDHE-RSA with no shared group: no cert",
     {0x0303, V12, C12_RSA, S_MODERN, 1, {30, END}},
     {RSA2048},
     1,
     CS_PREFER_ECDSA,
     -1,
     TLS1_2_VERSION,
     CS_FAIL_NO_CERT,
     "need a group we share"},
    {"prefer rsa: RSA first when both usable",
     {0x0303, V13, C13, S_MODERN, G_MODERN},
     {P256, RSA2048},
     2,
     CS_PREFER_RSA,
     1,
     TLS1_3_VERSION,
     CS_FAIL_NONE,
     "client offers rsa_pss_rsae_sha256"},
    {"prefer rsa still falls back to ECDSA",
     {0x0303, V13, C13, 1, {0x0403, END}, G_MODERN},
     {RSA2048, P256},
     2,
     CS_PREFER_RSA,
     1,
     TLS1_3_VERSION,
     CS_FAIL_NONE,
     "ECDSA P-256"},
    {"two ECDSA certs keep entry order (P-256 first)",
     {0x0303, V13, C13, S_MODERN, G_MODERN},
     {P256, P384, RSA2048},
     3,
     CS_PREFER_ECDSA,
     0,
     TLS1_3_VERSION,
     CS_FAIL_NONE,
     "P-256"},
    {"two ECDSA certs keep entry order (P-384 first)",
     {0x0303, V13, C13, S_MODERN, G_MODERN},
     {P384, P256, RSA2048},
     3,
     CS_PREFER_ECDSA,
     0,
     TLS1_3_VERSION,
     CS_FAIL_NONE,
     "P-384"},
    {"two RSA certs keep entry order",
     {0x0303, V12, C12_RSA, S_MODERN, G_MODERN},
     {RSA4096, RSA2048},
     2,
     CS_PREFER_ECDSA,
     0,
     TLS1_2_VERSION,
     CS_FAIL_NONE,
     "RSA-4096"},
    {"nothing usable: every candidate explained",
     {0x0303, V13, C13, 1, {0x0401, 0x0807, END}, G_MODERN},
     {P256, RSA2048},
     2,
     CS_PREFER_ECDSA,
     -1,
     TLS1_3_VERSION,
     CS_FAIL_NO_CERT,
     "no certificate usable at TLSv1.3: ECDSA P-256: TLS 1.3 needs ecdsa_secp256r1_sha256"},
    {"1.3 + 1.2 client: judged at 1.3 though its 1.2 suites would allow RSA",
     {0x0303, V13, {0x1301, 0xc02f, END}, 1, {0x0401, END}, G_MODERN},
     {RSA2048},
     1,
     CS_PREFER_ECDSA,
     -1,
     TLS1_3_VERSION,
     CS_FAIL_NO_CERT,
     "TLSv1.3"},
    {"tls13 with no shared 1.3 suite",
     {0x0303, V13, {0x1304, 0xc02f, END}, S_MODERN, G_MODERN},
     {RSA2048},
     1,
     CS_PREFER_ECDSA,
     -1,
     TLS1_3_VERSION,
     CS_FAIL_NO_CERT,
     "no TLS 1.3 cipher suite in common"},
    {"tls13 with no shared group",
     {0x0303, V13, C13, S_MODERN, 1, {30, 256, END}},
     {P256, RSA2048},
     2,
     CS_PREFER_ECDSA,
     -1,
     TLS1_3_VERSION,
     CS_FAIL_NO_CERT,
     "no TLS 1.3 key exchange group in common"},
    {"legacy TLS 1.0 client: no common version",
     {0x0301, V12, C12_RSA, 0, {END}, G_MODERN},
     {RSA2048},
     1,
     CS_PREFER_ECDSA,
     -1,
     0,
     CS_FAIL_PROTOCOL_VERSION,
     "no TLS version"},
    {"legacy_version 1.3 without supported_versions means 1.2",
     {0x0304, V12, C12_RSA, S_MODERN, G_MODERN},
     {RSA2048},
     1,
     CS_PREFER_ECDSA,
     0,
     TLS1_2_VERSION,
     CS_FAIL_NONE,
     "TLSv1.2"},
    /* RFC 7507: a client retrying below its highest version says so; we support more */
    {"TLS_FALLBACK_SCSV from a TLS 1.2 client",
     {0x0303, V12, {0xc02b, 0xc02f, 0x5600, END}, S_MODERN, G_MODERN},
     {RSA2048, P256},
     2,
     CS_PREFER_ECDSA,
     -1,
     TLS1_2_VERSION,
     CS_FAIL_FALLBACK,
     "TLS_FALLBACK_SCSV"},
    {"TLS_FALLBACK_SCSV at our highest version is fine",
     {0x0303, V13, {0x1301, 0x5600, END}, S_MODERN, G_MODERN},
     {P256},
     1,
     CS_PREFER_ECDSA,
     0,
     TLS1_3_VERSION,
     CS_FAIL_NONE,
     "ECDSA P-256"},
    {"TLS 1.3 without supported_groups: OpenSSL's missing_extension",
     {0x0303, V13, C13, S_MODERN, 0, {END}},
     {RSA2048, P256},
     2,
     CS_PREFER_ECDSA,
     -1,
     TLS1_3_VERSION,
     CS_FAIL_MISSING_EXTENSION,
     "supported_groups"},
    {"empty entry",
     {0x0303, V13, C13, S_MODERN, G_MODERN},
     {RSA2048},
     0,
     CS_PREFER_ECDSA,
     -1,
     TLS1_3_VERSION,
     CS_FAIL_NO_CERT,
     "no certificate for this name"},
};

static void run_case(const struct select_case *c, const struct cs_suites *suites)
{
    struct cs_cert certs[4], *ptrs[4];
    struct cs_site site = {.name = "s", .prefer = c->prefer};
    struct cs_entry e = {.site = &site, .certs = ptrs, .n_certs = c->n_certs};
    struct cs_hello h;
    struct cs_choice ch;
    int rc;

    for (size_t i = 0; i < c->n_certs; i++) {
        certs[i] = make_cert(c->certs[i]);
        ptrs[i] = &certs[i];
    }
    build_hello(&c->hello, &h);
    rc = cs_select(&e, &h, suites, &ch);
    fprintf(stderr, "case: %s -> %s\n", c->name, ch.reason);
    CHECK_INT(rc < 0, c->expect < 0);
    CHECK(ch.cert == (c->expect < 0 ? NULL : &certs[c->expect]));
    CHECK_INT(ch.fail, c->fail);
    if (c->version)
        CHECK_INT(ch.version, c->version);
    CHECK_CONTAINS(ch.reason, c->reason);
    CHECK_INT(ch.n_verdicts, c->n_certs);
    for (size_t i = 0; i < ch.n_verdicts; i++)
        CHECK(ch.verdicts[i].reason[0] != '\0');
}

/* Verdicts list the preferred type first, entry order within a type, and only the chosen
 * certificate's verdict is the first usable one. */
static void test_verdict_order(const struct cs_suites *suites)
{
    struct cs_cert a = make_cert(RSA2048), b = make_cert(P384), c = make_cert(P256);
    struct cs_cert *ptrs[] = {&a, &b, &c};
    struct cs_site site = {.name = "s", .prefer = CS_PREFER_ECDSA};
    struct cs_entry e = {.site = &site, .certs = ptrs, .n_certs = 3};
    struct hello_spec sp = {0x0303, V13, C13, 1, {0x0403, 0x0804, END}, G_MODERN};
    struct cs_hello h;
    struct cs_choice ch;

    build_hello(&sp, &h);
    CHECK_INT(cs_select(&e, &h, suites, &ch), 0);
    CHECK_INT(ch.n_verdicts, 3);
    CHECK(ch.verdicts[0].cert == &b && !ch.verdicts[0].usable);
    CHECK(ch.verdicts[1].cert == &c && ch.verdicts[1].usable);
    CHECK(ch.verdicts[2].cert == &a && ch.verdicts[2].usable);
    CHECK(ch.cert == &c);
    CHECK_CONTAINS(ch.verdicts[0].reason, "ecdsa_secp384r1_sha384");
}

static void test_versions(void)
{
    struct cs_suites s = default_suites();
    struct cs_cert r = make_cert(RSA2048), *ptrs[] = {&r};
    struct cs_entry e = {.site = NULL, .certs = ptrs, .n_certs = 1};
    struct hello_spec sp = {0x0303, V13, C13, S_MODERN, G_MODERN};
    struct cs_hello h;
    struct cs_choice ch;

    build_hello(&sp, &h);
    s.max_version = TLS1_2_VERSION; /* server capped at 1.2: 1.3 client lands on 1.2 */
    CHECK_INT(cs_select(&e, &h, &s, &ch), 0);
    CHECK_INT(ch.version, TLS1_2_VERSION);
    s = default_suites();
    s.min_version = TLS1_3_VERSION; /* 1.3-only server, 1.2-only client */
    h.n_versions = 0;
    h.has_versions = false;
    CHECK(cs_select(&e, &h, &s, &ch) < 0);
    CHECK_INT(ch.fail, CS_FAIL_PROTOCOL_VERSION);
    /* OpenSSL checks the version before the name: protocol_version wins over strict SNI */
    CHECK(cs_select(NULL, &h, &s, &ch) < 0);
    CHECK_INT(ch.fail, CS_FAIL_PROTOCOL_VERSION);
    s = default_suites();
    CHECK(cs_select(NULL, &h, &s, &ch) < 0);
    CHECK_INT(ch.fail, CS_FAIL_UNKNOWN_SNI);
    CHECK_STR(cs_fail_name(CS_FAIL_NO_CERT), "no_usable_cert");
    CHECK_STR(cs_fail_name(CS_FAIL_UNKNOWN_SNI), "unknown_sni");
    CHECK_STR(cs_fail_name(CS_FAIL_PROTOCOL), "protocol");
    CHECK_STR(cs_version_name(TLS1_3_VERSION), "TLSv1.3");
}

/* OpenSSL 3 refuses SHA-1 signatures from security level 1: a TLS 1.2 client whose only
 * sigalgs are SHA-1 ones, or that sends none (RFC 5246's SHA-1 default), gets nothing. */
static void test_security_level(void)
{
    struct cs_suites s = default_suites();
    struct cs_cert ec = make_cert(P256), rsa = make_cert(RSA2048), *ptrs[] = {&ec, &rsa};
    struct cs_site site = {.name = "s", .prefer = CS_PREFER_ECDSA};
    struct cs_entry e = {.site = &site, .certs = ptrs, .n_certs = 2};
    struct hello_spec sha1 = {0x0303, V12, C12_BOTH, 1, {0x0203, 0x0201, END}, G_MODERN};
    struct hello_spec none = {0x0303, V12, C12_BOTH, 0, {END}, G_MODERN};
    struct hello_spec mixed = {0x0303, V12, C12_BOTH, 1, {0x0203, 0x0401, END}, G_MODERN};
    struct cs_hello h;
    struct cs_choice ch;

    build_hello(&sha1, &h);
    CHECK_INT(cs_select(&e, &h, &s, &ch), 0); /* level 0: SHA-1 is fine */
    CHECK(ch.cert == &ec);
    s.security_level = 1;
    CHECK(cs_select(&e, &h, &s, &ch) < 0);
    CHECK_CONTAINS(ch.reason, "no ECDSA sigalg allowed at security level 1");
    build_hello(&none, &h);
    CHECK(cs_select(&e, &h, &s, &ch) < 0);
    CHECK_CONTAINS(ch.reason, "RFC 5246 default SHA-1 signature is refused at security level 1");
    build_hello(&mixed, &h); /* SHA-1 ECDSA but SHA-256 RSA: RSA it is */
    CHECK_INT(cs_select(&e, &h, &s, &ch), 0);
    CHECK(ch.cert == &rsa);
    s.security_level = 3; /* SHA-224 (112 bits) no longer enough either */
    mixed.sigalgs[1] = 0x0301;
    build_hello(&mixed, &h);
    CHECK(cs_select(&e, &h, &s, &ch) < 0);
}

static bool has16(const uint16_t *l, size_t n, uint16_t v)
{
    for (size_t i = 0; i < n; i++)
        if (l[i] == v)
            return true;
    return false;
}

/* cs_suites_compute over a real context configured like twofold's default policy. */
static void test_suites_compute(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    struct cs_suites s;

    CHECK(ctx != NULL);
    CHECK_INT(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), 1);
    CHECK_INT(SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:"
                                           "ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384"),
              1);
    CHECK_INT(SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"), 1);
    CHECK_INT(SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384"), 1);
    CHECK_INT(cs_suites_compute(ctx, &s), 0);
    CHECK_INT(s.min_version, TLS1_2_VERSION);
    CHECK_INT(s.max_version, TLS1_3_VERSION);
    CHECK_INT(s.security_level, SSL_CTX_get_security_level(ctx));
    CHECK_INT(s.n_tls13, 2);
    CHECK(has16(s.tls13, s.n_tls13, 0x1301) && has16(s.tls13, s.n_tls13, 0x1302));
    CHECK_INT(s.n_tls12_ecdsa, 1);
    CHECK_INT(s.tls12_ecdsa[0], 0xc02b);
    CHECK_INT(s.n_tls12_rsa, 2);
    for (size_t i = 0; i < s.n_tls12_rsa; i++) /* ECDHE-RSA flagged, plain RSA kx not */
        CHECK_INT((s.tls12_rsa_ecdhe >> i) & 1, s.tls12_rsa[i] == 0xc02f);
    CHECK(has16(s.tls12_rsa, s.n_tls12_rsa, 0x009d));
    CHECK_INT(s.n_groups, 10); /* OpenSSL's default list until told otherwise */
    CHECK_INT(s.groups[0], 29);
    CHECK_INT(s.groups[9], 260);
    CHECK_INT(cs_suites_set_groups(&s, "X25519:P-256:secp384r1"), 0);
    CHECK_INT(s.n_groups, 3);
    CHECK_INT(s.groups[0], 29);
    CHECK_INT(s.groups[1], 23);
    CHECK_INT(s.groups[2], 24);
    CHECK(cs_suites_set_groups(&s, "P-256:nonsense:X448") < 0);
    CHECK_INT(s.n_groups, 2);
    CHECK_INT(s.groups[1], 30);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    CHECK_INT(cs_suites_compute(ctx, &s), 0);
    CHECK_INT(s.n_tls13, 0);
    SSL_CTX_free(ctx);
    CHECK(cs_suites_compute(NULL, &s) < 0);
}

int main(void)
{
    struct cs_suites suites = default_suites();

    for (size_t i = 0; i < COUNT(cases); i++)
        run_case(&cases[i], &suites);
    test_verdict_order(&suites);
    test_versions();
    test_security_level();
    test_suites_compute();
    return tt_done();
}
