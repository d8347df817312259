/* Crafted ClientHellos on the wire, against a real snapshot (certificates generated now):
 * what the server answers (a ServerHello with which certificate, or which alert) must be
 * what cs_select predicts from the same bytes, and a refusal must carry the alert OpenSSL
 * sends when it decides alone (a context holding the same certificates, no callback).
 *
 * - limits: a 65,534-byte cipher list with the usable suite last, 17 unknown versions before
 *   TLS 1.3, 221 unknown groups before a known one, tens of thousands of sigalgs, and the
 *   largest ClientHello OpenSSL accepts (CLIENT_HELLO_MAX_LENGTH, 131,396 bytes) split over
 *   records;
 * - alerts: versions below our minimum, TLS_FALLBACK_SCSV, malformed lists, no usable
 *   certificate - each with its alert byte and cs_ssl_fail reason;
 * - property: random hellos (fixed seed, bounded count) - prediction == real outcome. */
#include "cs_cert_int.h"
#include "certgen.h"
#include "tt.h"

#include <openssl/err.h>
#include <stdlib.h>

#define COUNT(a)         (sizeof(a) / sizeof((a)[0]))
#define HELLO_MAX_LENGTH 131396 /* OpenSSL 3.0 statem_srvr.c CLIENT_HELLO_MAX_LENGTH */

static char dir[512];

/* ---- a growable byte buffer ---- */

struct bb {
    uint8_t *b;
    size_t n, cap;
};

static void put8(struct bb *b, unsigned v)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->b = realloc(b->b, b->cap);
        if (!b->b)
            abort();
    }
    b->b[b->n++] = (uint8_t)v;
}

static void put16(struct bb *b, unsigned v)
{
    put8(b, v >> 8);
    put8(b, v & 0xff);
}

static size_t open_len(struct bb *b, size_t width)
{
    size_t at = b->n;
    for (size_t i = 0; i < width; i++)
        put8(b, 0);
    return at;
}

static void close_len(struct bb *b, size_t at, size_t width)
{
    size_t len = b->n - at - width;
    for (size_t i = 0; i < width; i++)
        b->b[at + i] = (uint8_t)(len >> (8 * (width - 1 - i)));
}

/* ---- the hello description and its encoding ---- */

enum { KS_NONE, KS_EMPTY, KS_X25519 };

struct craft {
    uint16_t legacy;
    bool has_versions;
    uint16_t versions[64];
    size_t n_versions;
    uint16_t *ciphers; /* caller's array */
    size_t n_ciphers;
    bool odd_ciphers; /* one stray byte in the cipher list */
    bool no_null_comp;
    bool has_sigalgs;
    uint16_t *sigalgs;
    size_t n_sigalgs;
    bool has_groups;
    uint16_t *groups;
    size_t n_groups;
    int key_share;
    const char *sni;
    size_t pad;     /* a padding extension (RFC 7685) of this many bytes, 0: none */
    size_t sid_len; /* session id bytes (0..32) */
    size_t n_comp;  /* compression methods, null first; 0 means 1 */
    bool trailing;  /* one byte after the extensions */
};

static void put_u16s(struct bb *b, const uint16_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put16(b, v[i]);
}

static void put_extensions(struct bb *b, const struct craft *c)
{
    size_t all = open_len(b, 2), at, at2;
    if (c->sni) {
        put16(b, 0);
        at = open_len(b, 2);
        at2 = open_len(b, 2);
        put8(b, 0);
        put16(b, (unsigned)strlen(c->sni));
        for (const char *p = c->sni; *p; p++)
            put8(b, (uint8_t)*p);
        close_len(b, at2, 2);
        close_len(b, at, 2);
    }
    if (c->has_groups) {
        put16(b, 10);
        at = open_len(b, 2);
        at2 = open_len(b, 2);
        put_u16s(b, c->groups, c->n_groups);
        close_len(b, at2, 2);
        close_len(b, at, 2);
    }
    put16(b, 11), put16(b, 2), put8(b, 1), put8(b, 0); /* ec_point_formats: uncompressed */
    if (c->has_sigalgs) {
        put16(b, 13);
        at = open_len(b, 2);
        at2 = open_len(b, 2);
        put_u16s(b, c->sigalgs, c->n_sigalgs);
        close_len(b, at2, 2);
        close_len(b, at, 2);
    }
    if (c->has_versions) {
        put16(b, 43);
        at = open_len(b, 2);
        at2 = open_len(b, 1);
        put_u16s(b, c->versions, c->n_versions);
        close_len(b, at2, 1);
        close_len(b, at, 2);
    }
    if (c->key_share != KS_NONE) {
        put16(b, 51);
        at = open_len(b, 2);
        at2 = open_len(b, 2);
        if (c->key_share == KS_X25519) {
            put16(b, 29), put16(b, 32);
            for (int i = 0; i < 32; i++)
                put8(b, (uint8_t)(0x40 + i * 7)); /* any 32 bytes are an X25519 share */
        }
        close_len(b, at2, 2);
        close_len(b, at, 2);
    }
    if (c->pad) {
        put16(b, 21), put16(b, (unsigned)c->pad);
        for (size_t i = 0; i < c->pad; i++)
            put8(b, 0);
    }
    close_len(b, all, 2);
}

/* The bare handshake message. */
static void encode(const struct craft *c, struct bb *b)
{
    b->n = 0;
    put8(b, 1);
    size_t body = open_len(b, 3);
    put16(b, c->legacy);
    for (int i = 0; i < 32; i++)
        put8(b, (uint8_t)i);
    put8(b, (unsigned)c->sid_len);
    for (size_t i = 0; i < c->sid_len; i++)
        put8(b, 0x55);
    size_t at = open_len(b, 2);
    put_u16s(b, c->ciphers, c->n_ciphers);
    if (c->odd_ciphers)
        put8(b, 0x13);
    close_len(b, at, 2);
    if (c->no_null_comp) {
        put8(b, 1), put8(b, 1); /* DEFLATE only */
    } else {
        size_t n = c->n_comp ? c->n_comp : 1;
        put8(b, (unsigned)n);
        for (size_t i = 0; i < n; i++)
            put8(b, i == 0 ? 0 : (unsigned)(i + 0x40));
    }
    put_extensions(b, c);
    if (c->trailing)
        put8(b, 0);
    close_len(b, body, 3);
}

/* The message in TLS records of at most 16384 bytes each. */
static void recordify(const struct bb *msg, struct bb *out)
{
    out->n = 0;
    for (size_t off = 0; off < msg->n;) {
        size_t len = msg->n - off > 16384 ? 16384 : msg->n - off;
        put8(out, 22), put16(out, 0x0301), put16(out, (unsigned)len);
        for (size_t i = 0; i < len; i++)
            put8(out, msg->b[off + i]);
        off += len;
    }
}

/* ---- what a server answers ---- */

struct answer {
    bool served;           /* a ServerHello (or HelloRetryRequest) came back */
    int alert;             /* the fatal alert sent, -1 when none */
    const X509 *leaf;      /* the certificate the SSL holds after the hello */
    enum cs_fail reason;   /* cs_ssl_fail */
    const SSL_CTX *ctx_on; /* the SSL's context after the hello */
};

/* Feeds wire bytes to a server created from ctx and reads its first record. */
static struct answer answer(SSL_CTX *ctx, const struct bb *wire)
{
    struct answer a = {.alert = -1};
    SSL *sv = SSL_new(ctx);
    BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
    char *resp;
    long n;

    BIO_write(in, wire->b, (int)wire->n);
    SSL_set_bio(sv, in, out);
    SSL_set_accept_state(sv);
    for (int i = 0; i < 4 && SSL_do_handshake(sv) != 1; i++)
        if (SSL_get_error(sv, -1) != SSL_ERROR_WANT_READ || BIO_ctrl_pending(in) == 0)
            break;
    if (getenv("WIRE_DEBUG"))
        ERR_print_errors_fp(stderr);
    ERR_clear_error();
    n = BIO_get_mem_data(out, &resp);
    if (n >= 6 && resp[0] == 22 && resp[5] == 2)
        a.served = true;
    for (long off = 0; off + 7 <= n;) { /* the first alert record, if any */
        unsigned len = ((unsigned)(uint8_t)resp[off + 3] << 8) | (uint8_t)resp[off + 4];
        if (resp[off] == 21) {
            a.alert = (uint8_t)resp[off + 6];
            break;
        }
        off += 5 + len;
    }
    a.leaf = SSL_get_certificate(sv);
    a.reason = cs_ssl_fail(sv);
    a.ctx_on = SSL_get_SSL_CTX(sv);
    SSL_free(sv);
    return a;
}

/* ---- the snapshots: twofold's default policy, and a legacy one ---- */

struct fixture {
    struct cs_snapshot *snap;
    SSL_CTX *alone; /* OpenSSL alone: the same policy and certificates, no callback */
};

static void write_certs(void)
{
    struct cg_ca ca;
    struct cg_leaf ec, rsa;
    struct cg_opts o_ec = {.key = "ec:P-256", .sans = "www.example.test"};
    struct cg_opts o_rsa = {.key = "rsa:2048", .sans = "www.example.test"};

    CHECK_INT(cg_ca_new(&ca, "Wire Root", "ec:P-256", NULL), 0);
    CHECK_INT(cg_leaf_new(&ec, &o_ec, &ca), 0);
    CHECK_INT(cg_leaf_new(&rsa, &o_rsa, &ca), 0);
    CHECK_INT(cg_write_pair(dir, "ec", &ec, NULL, 0), 0);
    CHECK_INT(cg_write_pair(dir, "rsa", &rsa, NULL, 0), 0);
    cg_leaf_free(&ec);
    cg_leaf_free(&rsa);
    cg_ca_free(&ca);
}

static void fixture_init(struct fixture *f, bool legacy, bool strict)
{
    struct cs_conf conf;
    struct cs_diag d;

    cs_conf_init(&conf);
    cs_diag_init(&d);
    if (legacy) {
        conf.policy.min_version = TLS1_VERSION;
        conf.policy.ciphers = strdup("ALL:@SECLEVEL=0");
    }
    conf.strict_sni = strict;
    struct cs_site_conf *sc = cg_site_add(&conf, "www");
    cg_site_cert(sc, cg_path(dir, "rsa.crt"), cg_path(dir, "rsa.key"));
    cg_site_cert(sc, cg_path(dir, "ec.crt"), cg_path(dir, "ec.key"));
    CHECK_INT(cs_snapshot_build(&conf, NULL, &d, &f->snap), 0);
    f->alone = SSL_CTX_new(TLS_server_method());
    CHECK_INT(cs__ctx_apply_policy(f->alone, &conf, &d), 0);
    const struct cs_site *site = cs_snapshot_site(f->snap, 0);
    for (size_t i = 0; i < site->n_certs; i++)
        CHECK_INT(
            SSL_CTX_use_cert_and_key(f->alone, site->certs[i]->leaf, site->certs[i]->key, NULL, 1),
            1);
    cs_diag_free(&d);
    cs_conf_clear(&conf);
}

static void fixture_free(struct fixture *f)
{
    cs_snapshot_release(f->snap);
    SSL_CTX_free(f->alone);
}

/* ---- one case: prediction, twofold's answer, OpenSSL's answer ---- */

struct outcome {
    struct cs_choice ch;
    struct answer tf, alone;
    bool agree; /* prediction == twofold's answer, and the alert is OpenSSL's */
};

static struct outcome run(const struct fixture *f, const struct craft *c)
{
    struct bb msg = {0}, wire = {0};
    struct outcome o;
    struct cs_hello h;
    char err[128];

    encode(c, &msg);
    recordify(&msg, &wire);
    memset(&o, 0, sizeof(o));
    struct cs_hello *from_records = malloc(sizeof(*from_records));
    int rc_records = cs_hello_parse(wire.b, wire.n, from_records, err, sizeof(err));
    if (cs_hello_parse(msg.b, msg.n, &h, err, sizeof(err)) != 0) {
        fprintf(stderr, "parse: %s\n", err);
        o.ch.fail = CS_FAIL_DECODE;
    } else {
        cs_select(cs_snapshot_lookup(f->snap, h.has_sni ? h.sni : NULL, NULL), &h,
                  cs_snapshot_suites(f->snap), &o.ch);
    }
    /* the records (one, or several joined) parse as the bare message does */
    CHECK(rc_records ==
          (o.ch.fail == CS_FAIL_DECODE && !o.ch.cert && o.ch.reason[0] == '\0' ? -1 : 0));
    CHECK(rc_records != 0 || memcmp(from_records, &h, sizeof(h)) == 0);
    free(from_records);
    o.tf = answer(cs_snapshot_base_ctx(f->snap), &wire);
    o.alone = answer(f->alone, &wire);
    /* served with the predicted certificate, or refused for the predicted reason: with the
     * alert of the callback's own refusals, or (reasons OpenSSL decides) OpenSSL's own */
    bool predicted = o.ch.cert != NULL;
    bool own = o.ch.fail == CS_FAIL_NO_CERT || o.ch.fail == CS_FAIL_UNKNOWN_SNI;
    o.agree =
        predicted == o.tf.served &&
        (!predicted || (o.tf.leaf && X509_cmp(o.tf.leaf, o.ch.cert->leaf) == 0)) &&
        (predicted || (o.tf.reason == o.ch.fail && (own ? o.tf.alert == cs_fail_alert(o.ch.fail)
                                                        : o.tf.alert == o.alone.alert)));
    free(msg.b);
    free(wire.b);
    return o;
}

static void report(const char *name, const struct outcome *o)
{
    fprintf(stderr, "%s: predicted %s (%s); twofold %s alert %d reason %s; alone %s alert %d\n",
            name, o->ch.cert ? "served" : cs_fail_name(o->ch.fail), o->ch.reason,
            o->tf.served ? "served" : "refused", o->tf.alert, cs_fail_name(o->tf.reason),
            o->alone.served ? "served" : "refused", o->alone.alert);
}

/* ---- the limits ---- */

static uint16_t modern_sigalgs[] = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805};
static uint16_t modern_groups[] = {29, 23, 24};
static uint16_t v13[] = {0x0304, 0x0303};

static struct craft modern(uint16_t *ciphers, size_t n)
{
    struct craft c = {.legacy = 0x0303,
                      .has_versions = true,
                      .n_versions = 2,
                      .ciphers = ciphers,
                      .n_ciphers = n,
                      .has_sigalgs = true,
                      .sigalgs = modern_sigalgs,
                      .n_sigalgs = COUNT(modern_sigalgs),
                      .has_groups = true,
                      .groups = modern_groups,
                      .n_groups = COUNT(modern_groups),
                      .key_share = KS_X25519,
                      .sni = "www.example.test"};
    memcpy(c.versions, v13, sizeof(v13));
    return c;
}

/* n values that no registry assigns (0xfe00.., never GREASE), then last. */
static uint16_t *unknown_then(size_t n, uint16_t last)
{
    uint16_t *v = calloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        v[i] = (uint16_t)(0xe000 + i % 0x1f00);
        if ((v[i] & 0x0f0f) == 0x0a0a)
            v[i] ^= 0x0100;
    }
    v[n] = last;
    return v;
}

static void expect_served(const struct fixture *f, const char *name, const struct craft *c,
                          enum cs_key_type type)
{
    struct outcome o = run(f, c);
    report(name, &o);
    CHECK(o.agree);
    CHECK(o.tf.served);
    CHECK(o.alone.served); /* OpenSSL alone accepts it too */
    CHECK_INT(o.ch.cert ? o.ch.cert->type : CS_KEY_NONE, type);
}

static void test_limits(const struct fixture *f)
{
    /* 32,767 suites (65,534 bytes), TLS 1.3's and then a TLS 1.2 one last */
    uint16_t *suites = unknown_then(32766, 0x1301);
    struct craft c = modern(suites, 32767);
    expect_served(f, "65534-byte suite list, TLS_AES_128_GCM_SHA256 last", &c, CS_KEY_ECDSA);
    suites[32766] = 0xc02f;
    c.n_versions = 0, c.has_versions = false, c.key_share = KS_NONE;
    expect_served(f, "65534-byte suite list, ECDHE-RSA last (TLS 1.2)", &c, CS_KEY_RSA);
    free(suites);

    /* 200 unassigned suites before TLS_AES_128_GCM_SHA256, 17 unknown versions first */
    suites = unknown_then(200, 0x1301);
    c = modern(suites, 201);
    c.n_versions = 0;
    for (unsigned i = 0; i < 17; i++)
        c.versions[c.n_versions++] = (uint16_t)(0x7f00 + i);
    c.versions[c.n_versions++] = 0x0304;
    expect_served(f, "17 unknown versions before TLS 1.3", &c, CS_KEY_ECDSA);

    /* 221 unknown groups before X25519 */
    uint16_t *groups = unknown_then(221, 29);
    c.groups = groups, c.n_groups = 222;
    expect_served(f, "221 unknown groups before X25519", &c, CS_KEY_ECDSA);

    /* sigalgs up to what the extensions block (2^16-1 bytes) leaves: 32,699 unknown ones
     * before ecdsa_secp256r1_sha256 */
    uint16_t *sigalgs = unknown_then(32699, 0x0403);
    c = modern(suites, 201);
    c.sigalgs = sigalgs, c.n_sigalgs = 32700;
    expect_served(f, "32700 sigalgs, the usable one last", &c, CS_KEY_ECDSA);
    free(groups);
    free(suites);

    /* The largest ClientHello the protocol allows is the largest OpenSSL accepts
     * (CLIENT_HELLO_MAX_LENGTH): a 32-byte session id, 65,534 bytes of suites, 255
     * compression methods, a 65,535-byte extensions block (padded), in 9 records; TLS 1.2,
     * since TLS 1.3 allows one compression method only. Then the same at TLS 1.3 with one
     * method (254 bytes less). One byte more is OpenSSL's own refusal, before any callback. */
    suites = unknown_then(32766, 0xc02f);
    c = modern(suites, 32767);
    c.has_versions = false, c.key_share = KS_NONE;
    c.sigalgs = sigalgs, c.n_sigalgs = 32700;
    sigalgs[32699] = 0x0401; /* rsa_pkcs1_sha256 */
    c.sid_len = 32, c.n_comp = 255;
    struct bb msg = {0};
    encode(&c, &msg);
    c.pad = HELLO_MAX_LENGTH - (msg.n - 4) - 4; /* the padding extension's own header */
    encode(&c, &msg);
    CHECK_INT(msg.n - 4, HELLO_MAX_LENGTH);
    expect_served(f, "largest ClientHello (131396 bytes, 9 records, TLS 1.2)", &c, CS_KEY_RSA);
    struct craft c13 = modern(suites, 32767);
    suites[32766] = 0x1301;
    sigalgs[32699] = 0x0403;
    c13.sigalgs = sigalgs, c13.n_sigalgs = 32700, c13.sid_len = 32, c13.pad = c.pad;
    encode(&c13, &msg);
    c13.pad += HELLO_MAX_LENGTH - 254 - (msg.n - 4);
    encode(&c13, &msg);
    CHECK_INT(msg.n - 4, HELLO_MAX_LENGTH - 254);
    free(msg.b);
    expect_served(f, "largest TLS 1.3 ClientHello (131142 bytes)", &c13, CS_KEY_ECDSA);
    suites[32766] = 0xc02f;
    c.trailing = true;
    struct outcome o = run(f, &c);
    report("one byte over the limit", &o);
    CHECK(!o.tf.served && !o.alone.served && o.tf.alert == o.alone.alert);
    free(suites);
    free(sigalgs);
}

/* ---- the alerts ---- */

static uint16_t c13[] = {0x1301, 0x1302, 0xc02b, 0xc02f};
static uint16_t c12[] = {0xc02b, 0xc02f};
static uint16_t c12_scsv[] = {0xc02b, 0xc02f, 0x5600};
static uint16_t c10[] = {0xc009, 0xc013, 0x002f};
static uint16_t p521_only[] = {0x0603};

struct alert_case {
    const char *name;
    struct craft c;
    int alert;
    enum cs_fail reason;
};

static void test_alerts(const struct fixture *f)
{
    struct alert_case cases[] = {
        {"TLS 1.0 only",
         {.legacy = 0x0301, .ciphers = c10, .n_ciphers = 3},
         70,
         CS_FAIL_PROTOCOL_VERSION},
        {"TLS 1.1 only",
         {.legacy = 0x0302, .ciphers = c10, .n_ciphers = 3},
         70,
         CS_FAIL_PROTOCOL_VERSION},
        /* SSL 3.0 has no protocol_version alert (RFC 6101 5.4): OpenSSL sends handshake_failure */
        {"SSL 3.0",
         {.legacy = 0x0300, .ciphers = c10, .n_ciphers = 3},
         40,
         CS_FAIL_PROTOCOL_VERSION},
        {"legacy_version 0x0000",
         {.legacy = 0x0000, .ciphers = c12, .n_ciphers = 2},
         70,
         CS_FAIL_PROTOCOL_VERSION},
        {"supported_versions with unknown values only",
         {.legacy = 0x0303,
          .has_versions = true,
          .versions = {0x7f1c, 0x0a0a, 0x1234},
          .n_versions = 3,
          .ciphers = c13,
          .n_ciphers = 4},
         70,
         CS_FAIL_PROTOCOL_VERSION},
        {"TLS_FALLBACK_SCSV at TLS 1.2",
         {.legacy = 0x0303, .ciphers = c12_scsv, .n_ciphers = 3},
         86,
         CS_FAIL_FALLBACK},
        {"odd cipher list",
         {.legacy = 0x0303, .ciphers = c12, .n_ciphers = 2, .odd_ciphers = 1},
         50,
         CS_FAIL_DECODE},
        {"empty signature_algorithms",
         {.legacy = 0x0303, .ciphers = c12, .n_ciphers = 2, .has_sigalgs = true},
         50,
         CS_FAIL_DECODE},
        {"no null compression",
         {.legacy = 0x0303, .ciphers = c12, .n_ciphers = 2, .no_null_comp = true},
         50,
         CS_FAIL_DECODE},
        {"TLS 1.2 without supported_groups (every suite is ECDHE)",
         {.legacy = 0x0303,
          .ciphers = c12,
          .n_ciphers = 2,
          .has_sigalgs = true,
          .sigalgs = modern_sigalgs,
          .n_sigalgs = COUNT(modern_sigalgs)},
         40,
         CS_FAIL_NO_CERT},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        struct outcome o = run(f, &cases[i].c);
        report(cases[i].name, &o);
        CHECK(o.agree);
        CHECK_INT(o.tf.alert, cases[i].alert);
        CHECK_INT(o.alone.alert, cases[i].alert); /* what OpenSSL sends alone */
        CHECK_INT(o.tf.reason, cases[i].reason);
    }
    /* TLS 1.3 whose only sigalg fits no certificate: really no usable certificate */
    struct craft c = modern(c13, 4);
    c.sigalgs = p521_only, c.n_sigalgs = 1;
    struct outcome o = run(f, &c);
    report("TLS 1.3, only ecdsa_secp521r1_sha512", &o);
    CHECK(o.agree && o.tf.alert == 40 && o.alone.alert == 40 && o.tf.reason == CS_FAIL_NO_CERT);
    /* TLS 1.3 without signature_algorithms: missing_extension, as OpenSSL alone says */
    c = modern(c13, 4);
    c.has_sigalgs = false;
    o = run(f, &c);
    report("TLS 1.3 without signature_algorithms", &o);
    CHECK(o.agree && o.tf.alert == 109 && o.alone.alert == 109);
    /* the fallback SCSV from a client at our maximum is fine (RFC 7507 3) */
    uint16_t c13_scsv[] = {0x1301, 0x5600};
    c = modern(c13_scsv, 2);
    o = run(f, &c);
    CHECK(o.agree && o.tf.served);
}

/* A wrong-length cipher list is refused by OpenSSL before the callback: the reason still
 * says decode_error (from the alert). */
static void test_framing(const struct fixture *f)
{
    struct craft c = {.legacy = 0x0303, .ciphers = c12, .n_ciphers = 2};
    struct bb msg = {0}, wire = {0};
    encode(&c, &msg);
    msg.b[4 + 2 + 32 + 1 + 1] += 40; /* the cipher list's length now runs past the message */
    recordify(&msg, &wire);
    struct answer a = answer(cs_snapshot_base_ctx(f->snap), &wire), b = answer(f->alone, &wire);
    fprintf(stderr, "wrong-length cipher list: twofold alert %d (%s), alone %d\n", a.alert,
            cs_fail_name(a.reason), b.alert);
    CHECK_INT(a.alert, 50);
    CHECK_INT(b.alert, 50);
    CHECK_INT(a.reason, CS_FAIL_DECODE);
    free(msg.b);
    free(wire.b);
}

/* ---- the property: random hellos ---- */

static uint32_t rng_state = 20261202;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

static size_t pick(uint16_t *out, const uint16_t *pool, size_t n_pool, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < n_pool && n < max; i++)
        if (rnd(100) < 40)
            out[n++] = pool[i];
    for (size_t i = 0; n > 1 && i < n; i++) { /* shuffle: order must not matter */
        size_t j = rnd((uint32_t)n);
        uint16_t t = out[i];
        out[i] = out[j], out[j] = t;
    }
    return n;
}

static void random_craft(struct craft *c, uint16_t *ciphers, uint16_t *sigalgs, uint16_t *groups)
{
    static const uint16_t legacies[] = {0x0303, 0x0303, 0x0303, 0x0303, 0x0301,
                                        0x0302, 0x0300, 0x0000, 0x0304};
    static const uint16_t vpool[] = {0x0304, 0x0303, 0x0302, 0x0301, 0x7f1c, 0x1a1a, 0x0a0a};
    static const uint16_t cpool[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02c, 0xc02f, 0xc030,
                                     0xcca8, 0xcca9, 0x009c, 0x002f, 0xc013, 0xc009, 0x0033,
                                     0x00ff, 0x5600, 0x2a2a, 0xfe01, 0x0000};
    static const uint16_t spool[] = {0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806,
                                     0x0401, 0x0501, 0x0201, 0x0203, 0x0809, 0xfe02};
    static const uint16_t gpool[] = {29, 23, 24, 25, 30, 256, 0x3a3a, 0xfe03};
    static const char *snis[] = {"www.example.test", "other.test", NULL};

    memset(c, 0, sizeof(*c));
    c->legacy = legacies[rnd(COUNT(legacies))];
    if (rnd(100) < 60) {
        c->has_versions = true;
        c->n_versions = pick(c->versions, vpool, COUNT(vpool), 8);
    }
    size_t pad = rnd(4) == 0 ? rnd(300) : 0; /* unknown suites in front */
    for (size_t i = 0; i < pad; i++)
        ciphers[i] = (uint16_t)(0xe100 + i);
    c->n_ciphers = pad + pick(ciphers + pad, cpool, COUNT(cpool), 32);
    c->ciphers = ciphers;
    c->odd_ciphers = rnd(100) < 2;
    c->no_null_comp = rnd(100) < 2;
    if (rnd(100) < 85) {
        c->has_sigalgs = true;
        c->n_sigalgs = pick(sigalgs, spool, COUNT(spool), 16);
        c->sigalgs = sigalgs;
    }
    if (rnd(100) < 80) {
        c->has_groups = true;
        c->n_groups = pick(groups, gpool, COUNT(gpool), 16);
        c->groups = groups;
    }
    bool x25519 = false;
    for (size_t i = 0; c->has_groups && i < c->n_groups; i++)
        x25519 |= groups[i] == 29;
    /* a TLS 1.3 client sends a share for a group it offers (X25519 here), or none */
    c->key_share = !c->has_versions ? KS_NONE
                   : x25519         ? (rnd(100) < 90 ? KS_X25519 : KS_NONE)
                                    : (rnd(100) < 50 ? KS_EMPTY : KS_NONE);
    c->sni = snis[rnd(COUNT(snis))];
}

static void test_property(const struct fixture *f, const char *label)
{
    uint16_t ciphers[400], sigalgs[16], groups[16];
    size_t runs = 0, agree = 0, served = 0, alone_agree = 0;

    for (int i = 0; i < 400; i++) {
        struct craft c;
        random_craft(&c, ciphers, sigalgs, groups);
        struct outcome o = run(f, &c);
        runs++;
        served += o.tf.served;
        agree += o.agree;
        /* a refusal's alert is the one OpenSSL alone sends for the same bytes (OpenSSL alone
         * knows no strict SNI; it may serve a certificate twofold would not prefer) */
        bool same_alert = o.tf.served || o.alone.served || o.ch.fail == CS_FAIL_UNKNOWN_SNI ||
                          o.tf.alert == o.alone.alert;
        alone_agree += same_alert;
        if (!o.agree || !same_alert) {
            char name[64];
            snprintf(name, sizeof(name), "%s random hello %d", label, i);
            report(name, &o);
        }
    }
    printf("%s property: %zu random hellos, %zu served, %zu predicted exactly, %zu alerts as "
           "OpenSSL's\n",
           label, runs, served, agree, alone_agree);
    CHECK_INT(agree, runs);
    CHECK_INT(alone_agree, runs);
    CHECK(served > 0 && served < runs); /* both outcomes occur */
}

int main(void)
{
    struct fixture def, legacy, strict;

    CHECK_INT(cg_tmpdir(dir, sizeof(dir), "wire"), 0);
    write_certs();
    fixture_init(&def, false, false);
    fixture_init(&legacy, true, false);
    fixture_init(&strict, false, true);
    test_limits(&def);
    test_alerts(&def);
    test_framing(&def);
    test_property(&def, "default policy");
    test_property(&legacy, "legacy policy");
    test_property(&strict, "strict SNI");
    fixture_free(&def);
    fixture_free(&legacy);
    fixture_free(&strict);
    cg_rmtree(dir);
    return tt_done();
}
