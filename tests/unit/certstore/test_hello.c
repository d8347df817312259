/* cs_hello_parse on crafted ClientHellos (GREASE, every extension, record and bare
 * handshake forms, truncation at every length, corrupted bytes) and on the ~160 real
 * ClientHellos captured in testssl.sh's client-simulation.txt, with selection outcomes for
 * named real clients. */
#include "cs.h"
#include "tt.h"

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <stdlib.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define SIMFILE  "/etc/testssl/client-simulation.txt"

/* ---- a tiny byte builder with back-patched length prefixes ---- */

struct bb {
    uint8_t b[2048];
    size_t n;
};

static void put8(struct bb *b, unsigned v)
{
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
    b->n += width;
    return at;
}

static void close_len(struct bb *b, size_t at, size_t width)
{
    size_t len = b->n - at - width;
    for (size_t i = 0; i < width; i++)
        b->b[at + i] = (uint8_t)(len >> (8 * (width - 1 - i)));
}

static void put_list16(struct bb *b, const uint16_t *v, size_t n, size_t lenwidth)
{
    size_t at = open_len(b, lenwidth);
    for (size_t i = 0; i < n; i++)
        put16(b, v[i]);
    close_len(b, at, lenwidth);
}

/* A TLS 1.3 ClientHello with GREASE in every list; record: wrap it in a TLS record;
 * extra: raw bytes appended to the extensions block. */
static void craft_ex(struct bb *b, bool record, const char *sni, const uint8_t *extra,
                     size_t extra_len)
{
    static const uint16_t ciphers[] = {0x0a0a, 0x1301, 0x1302, 0xc02b, 0xc02f, 0x00ff};
    static const uint16_t versions[] = {0x3a3a, 0x0304, 0x0303};
    static const uint16_t sigalgs[] = {0x0403, 0xfafa, 0x0804, 0x0401};
    static const uint16_t groups[] = {0x2a2a, 29, 23, 24};
    size_t rec = 0, hs, ext, e;

    b->n = 0;
    if (record) {
        put8(b, 22), put16(b, 0x0301);
        rec = open_len(b, 2);
    }
    put8(b, 1);
    hs = open_len(b, 3);
    put16(b, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(b, i);
    put8(b, 32);
    for (int i = 0; i < 32; i++)
        put8(b, 0xee);
    put_list16(b, ciphers, COUNT(ciphers), 2);
    put8(b, 1), put8(b, 0);
    ext = open_len(b, 2);
    put16(b, 0xdada), put16(b, 0); /* GREASE extension */
    if (sni) {
        put16(b, 0);
        e = open_len(b, 2);
        size_t list = open_len(b, 2);
        put8(b, 0);
        put16(b, (unsigned)strlen(sni));
        memcpy(b->b + b->n, sni, strlen(sni));
        b->n += strlen(sni);
        close_len(b, list, 2);
        close_len(b, e, 2);
    }
    put16(b, 43);
    e = open_len(b, 2);
    put8(b, sizeof(versions));
    for (size_t i = 0; i < COUNT(versions); i++)
        put16(b, versions[i]);
    close_len(b, e, 2);
    put16(b, 13);
    e = open_len(b, 2);
    put_list16(b, sigalgs, COUNT(sigalgs), 2);
    close_len(b, e, 2);
    put16(b, 10);
    e = open_len(b, 2);
    put_list16(b, groups, COUNT(groups), 2);
    close_len(b, e, 2);
    if (extra_len)
        memcpy(b->b + b->n, extra, extra_len);
    b->n += extra_len;
    close_len(b, ext, 2);
    close_len(b, hs, 3);
    if (record)
        close_len(b, rec, 2);
}

static void craft(struct bb *b, bool record, const char *sni)
{
    craft_ex(b, record, sni, NULL, 0);
}

static void test_crafted(void)
{
    struct bb b;
    struct cs_hello h;
    char err[128];

    for (int record = 0; record < 2; record++) {
        craft(&b, record, "Example.COM");
        CHECK_INT(cs_hello_parse(b.b, b.n, &h, err, sizeof(err)), 0);
        CHECK_STR(err, "");
        CHECK(h.has_sni);
        CHECK_STR(h.sni, "Example.COM");
        CHECK_INT(h.legacy_version, 0x0303);
        CHECK_INT(h.n_ciphers, 5); /* GREASE dropped, SCSV kept */
        CHECK(cs_hello_has_cipher(&h, 0x1301));
        CHECK(!cs_hello_has_cipher(&h, 0x0a0a));
        CHECK_INT(h.n_versions, 2);
        CHECK(h.has_versions && cs_hello_has_version(&h, 0x0304));
        CHECK(h.has_sigalgs);
        CHECK_INT(h.n_sigalgs, 3);
        CHECK(cs_hello_has_sigalg(&h, 0x0804));
        CHECK(h.has_groups);
        CHECK_INT(h.n_groups, 3);
        CHECK(cs_hello_has_group(&h, 29));
        CHECK_INT(h.bad, 0);
    }
    craft(&b, true, NULL);
    CHECK_INT(cs_hello_parse(b.b, b.n, &h, err, sizeof(err)), 0);
    CHECK(!h.has_sni);
}

/* Every proper prefix must fail with a message; no read past the end (ASan watches). */
/* SNI syntax: a host name (or host:port, as some clients send); anything else is a
 * malformed ClientHello, answered with an alert rather than the default certificate. */
static void test_sni_syntax(void)
{
    static const struct {
        const char *sni;
        bool ok;
    } cases[] = {
        {"a.test", true},          {"A-b_c.Test.", true},
        {"testssl.sh:443", true},  {"x", true},
        {"a..test", false},        {".a.test", false},
        {"a\x01\x02.test", false}, {"\xff\xfe.test", false},
        {"a test", false},         {"a/b.test", false},
    };
    char long_label[80];
    memset(long_label, 'a', 64);
    strcpy(long_label + 64, ".test");
    struct bb b;
    struct cs_hello h;
    char err[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        craft(&b, true, cases[i].sni);
        int rc = cs_hello_parse(b.b, b.n, &h, err, sizeof(err));
        if ((rc == 0) != cases[i].ok)
            fprintf(stderr, "sni case %zu: rc %d (%s)\n", i, rc, err);
        CHECK((rc == 0) == cases[i].ok);
    }
    craft(&b, true, long_label); /* a 64-byte label */
    CHECK(cs_hello_parse(b.b, b.n, &h, err, sizeof(err)) < 0);
    memmove(long_label + 63, long_label + 64, strlen(long_label + 64) + 1);
    craft(&b, true, long_label); /* 63 bytes: fine */
    CHECK_INT(cs_hello_parse(b.b, b.n, &h, err, sizeof(err)), 0);
}

static void test_truncation(void)
{
    struct bb b;
    struct cs_hello h;
    char err[128];
    size_t failures = 0, messages = 0;

    craft(&b, true, "a.example");
    for (size_t len = 0; len < b.n; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact-size heap copy: overreads trap */
        memcpy(copy, b.b, len);
        if (cs_hello_parse(copy, len, &h, err, sizeof(err)) < 0)
            failures++;
        if (err[0])
            messages++;
        free(copy);
    }
    CHECK_INT(failures, b.n);
    CHECK_INT(messages, b.n);
}

/* Each byte set to 0x00 and 0xff in turn: success or a clean error, never a crash. */
static void test_corruption(void)
{
    struct bb b, c;
    struct cs_hello h;
    char err[128];
    size_t ok = 0, bad = 0;

    craft(&b, true, "a.example");
    for (size_t i = 0; i < b.n; i++) {
        for (int v = 0; v < 2; v++) {
            c = b;
            c.b[i] = v ? 0xff : 0x00;
            if (cs_hello_parse(c.b, c.n, &h, err, sizeof(err)) == 0) {
                ok++;
            } else {
                bad++;
                CHECK(err[0] != '\0');
            }
            CHECK(h.n_ciphers <= 32767 && h.n_versions <= 127);
        }
    }
    CHECK(ok > 0 && bad > 0); /* both outcomes occur: the mutation reached the checks */
}

static void test_duplicate(void)
{
    static const uint8_t dup[] = {0, 13, 0, 4, 0, 2, 4, 3}; /* a second sigalgs extension */
    struct bb b;
    struct cs_hello h;
    char err[128];

    craft_ex(&b, true, NULL, dup, sizeof(dup));
    CHECK(cs_hello_parse(b.b, b.n, &h, err, sizeof(err)) < 0);
    CHECK_STR(err, "duplicate extension 13");
    craft_ex(&b, true, NULL, dup, 4); /* a truncated trailing extension */
    CHECK(cs_hello_parse(b.b, b.n, &h, err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "truncated");
}

static void test_errors(void)
{
    static const uint8_t appdata[] = {23, 3, 3, 0, 1, 0};
    static const uint8_t server_hello[] = {2, 0, 0, 0};
    struct cs_hello h;
    char err[128];

    CHECK(cs_hello_parse(NULL, 0, &h, err, sizeof(err)) < 0);
    CHECK_STR(err, "empty input");
    CHECK(cs_hello_parse(appdata, sizeof(appdata), &h, err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "not a ClientHello");
    CHECK(cs_hello_parse(server_hello, sizeof(server_hello), &h, err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, "not a ClientHello");
    CHECK(cs_hello_parse(appdata, sizeof(appdata), &h, NULL, 0) < 0); /* no buffer is fine */
}

/* ---- cs_hello_from_ssl: inside a real server's ClientHello callback ---- */

static struct cs_hello cb_hello;
static int cb_rc, cb_calls;

static int capture_cb(SSL *ssl, int *al, void *arg)
{
    cb_calls++;
    cb_rc = cs_hello_from_ssl(ssl, &cb_hello);
    *al = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_CLIENT_HELLO_ERROR; /* captured: stop here */
}

/* Feeds raw ClientHello bytes to a server; returns whether the callback saw them and, if
 * so, whether cs_hello_from_ssl agrees field for field with cs_hello_parse. */
static bool from_ssl_agrees(SSL_CTX *server, const uint8_t *p, size_t n, bool *reached)
{
    SSL *ssl = SSL_new(server);
    BIO *in = BIO_new_mem_buf(p, (int)n), *out = BIO_new(BIO_s_mem());
    struct cs_hello parsed;
    char err[128];
    int before = cb_calls;

    SSL_set_bio(ssl, in, out);
    SSL_set_accept_state(ssl);
    SSL_do_handshake(ssl);
    ERR_clear_error();
    SSL_free(ssl);
    *reached = cb_calls > before;
    if (!*reached)
        return false;
    return cb_rc == 0 && cs_hello_parse(p, n, &parsed, err, sizeof(err)) == 0 &&
           memcmp(&parsed, &cb_hello, sizeof(parsed)) == 0;
}

static SSL_CTX *capture_server(void)
{
    SSL_CTX *server = SSL_CTX_new(TLS_server_method());

    SSL_CTX_set_client_hello_cb(server, capture_cb, NULL);
    SSL_CTX_set_min_proto_version(server, 0); /* let old clients reach the callback */
    SSL_CTX_set_security_level(server, 0);
    return server;
}

static void test_from_ssl_crafted(void)
{
    SSL_CTX *server = capture_server();
    struct bb b;
    bool reached;

    craft(&b, true, "grease.example");
    CHECK(from_ssl_agrees(server, b.b, b.n, &reached));
    CHECK(reached);
    CHECK_STR(cb_hello.sni, "grease.example");
    CHECK_INT(cb_hello.n_ciphers, 5); /* GREASE stripped on this path too */
    CHECK_INT(cb_hello.n_versions, 2);
    CHECK_INT(cb_hello.n_sigalgs, 3);
    CHECK_INT(cb_hello.n_groups, 3);
    CHECK(cs_hello_from_ssl(NULL, &cb_hello) < 0);
    SSL_CTX_free(server);
}

/* ---- the real ClientHellos ---- */

struct sim {
    char *name[256], *hex[256], *sni[256], *highest[256];
    size_t n[4];
};

/* Value of a line  key+=("value")  or NULL. */
static char *field(const char *line, const char *key)
{
    const char *p = strstr(line, key), *q;
    char *v;

    if (!p || strncmp(p + strlen(key), "+=(\"", 4) != 0)
        return NULL;
    p += strlen(key) + 4;
    q = strchr(p, '"');
    if (!q)
        return NULL;
    v = strndup(p, (size_t)(q - p));
    return v;
}

static bool sim_load(struct sim *s)
{
    static const char *keys[] = {"names", "handshakebytes", "sni", "highest_protocol"};
    FILE *f = fopen(SIMFILE, "r");
    char line[8192];

    memset(s, 0, sizeof(*s));
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        const char *t = line + strspn(line, " \t");
        if (*t == '#')
            continue;
        for (size_t k = 0; k < 4; k++) {
            char **arr = k == 0 ? s->name : k == 1 ? s->hex : k == 2 ? s->sni : s->highest;
            char *v = strncmp(t, keys[k], strlen(keys[k])) == 0 ? field(t, keys[k]) : NULL;
            if (v && s->n[k] < 256)
                arr[s->n[k]++] = v;
            else
                free(v);
        }
    }
    fclose(f);
    return true;
}

static void sim_free(struct sim *s)
{
    for (size_t i = 0; i < 256; i++)
        free(s->name[i]), free(s->hex[i]), free(s->sni[i]), free(s->highest[i]);
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (; hex[0] && hex[1] && n < cap; hex += 2) {
        unsigned v;
        if (sscanf(hex, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
    }
    return n;
}

static int sim_parse(const struct sim *s, size_t i, struct cs_hello *h, char *err, size_t len)
{
    uint8_t buf[4096];
    size_t n = unhex(s->hex[i], buf, sizeof(buf));
    return cs_hello_parse(buf, n, h, err, len);
}

/* TLS 1.3 or one of its drafts (0x7fNN, Chrome's 0x7eNN), as 2017-2018 browsers sent. */
/* Every proper prefix of a real hello fails cleanly (exact-size heap copies for ASan). */
static bool every_prefix_fails(const struct sim *s, size_t i)
{
    uint8_t buf[4096];
    size_t n = unhex(s->hex[i], buf, sizeof(buf));
    struct cs_hello h;
    char err[128];

    for (size_t len = 0; len < n; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        int rc;
        memcpy(copy, buf, len);
        rc = cs_hello_parse(copy, len, &h, err, sizeof(err));
        free(copy);
        if (rc == 0 || err[0] == '\0')
            return false;
    }
    return true;
}

/* TLS 1.3 or one of its drafts (0x7fNN, counted but not recorded: OpenSSL 3.0 ignores
 * them), as testssl's "highest protocol" field counts them. */
static bool offers_tls13(const struct cs_hello *h)
{
    return cs_hello_has_version(h, 0x0304) ||
           h->n_versions > (size_t)__builtin_popcount(h->versions);
}

/* Server suites for a legacy-friendly policy: TLS 1.0-1.3, CBC and plain-RSA suites too,
 * so that old real clients reach the certificate choice. */
static struct cs_suites legacy_suites(void)
{
    struct cs_suites s = {
        .min_version = TLS1_VERSION,
        .max_version = TLS1_3_VERSION,
        .tls12_ecdsa = {0xc02b, 0xc02c, 0xcca9, 0xc009, 0xc00a, 0xc023, 0xc024},
        .n_tls12_ecdsa = 7,
        .tls12_rsa = {0xc02f, 0xc030, 0xcca8, 0xc013, 0xc014, 0x009c, 0x002f, 0x0035},
        .n_tls12_rsa = 8,
        .tls12_rsa_ecdhe = 0x1f,
        .tls13 = {0x1301, 0x1302, 0x1303},
        .n_tls13 = 3,
        .groups = {29, 23, 24},
        .n_groups = 3,
    };
    return s;
}

static const struct cs_cert *select_for(const struct cs_hello *h, const struct cs_suites *su,
                                        int *version)
{
    static struct cs_cert rsa = {.type = CS_KEY_RSA, .bits = 2048};
    static struct cs_cert ec = {
        .type = CS_KEY_ECDSA, .bits = 256, .curve_nid = NID_X9_62_prime256v1};
    struct cs_cert *certs[] = {&ec, &rsa};
    struct cs_site site = {.name = "s", .prefer = CS_PREFER_ECDSA};
    struct cs_entry e = {.site = &site, .certs = certs, .n_certs = 2};
    struct cs_choice ch;

    cs_select(&e, h, su, &ch);
    *version = ch.version;
    return ch.cert;
}

struct named {
    const char *client;
    bool legacy_policy; /* else twofold's default: ECDHE + AEAD, TLS 1.2+ */
    enum cs_key_type type;
    int version;
};

static const struct named named[] = {
    {"Java 6u45", true, CS_KEY_RSA, TLS1_VERSION}, /* SSLv2 hello, no ECC at all */
    {"Android 2.3.7", true, CS_KEY_RSA, TLS1_VERSION},
    {"IE 8 XP", true, CS_KEY_NONE, TLS1_VERSION}, /* RC4/3DES only: nothing we enable */
    {"IE 8 Win 7", true, CS_KEY_ECDSA, TLS1_VERSION},
    {"OpenSSL 0.9.8y", true, CS_KEY_RSA, TLS1_VERSION},
    {"Java 7u25", true, CS_KEY_ECDSA, TLS1_VERSION},
    {"Android 4.4.2", false, CS_KEY_ECDSA, TLS1_2_VERSION},
    {"Java 8u161", false, CS_KEY_ECDSA, TLS1_2_VERSION},
    {"Chrome 101 (Win 10)", false, CS_KEY_ECDSA, TLS1_3_VERSION},
    {"Firefox 100 (Win 10)", false, CS_KEY_ECDSA, TLS1_3_VERSION},
    {"Safari 15.4 (macOS 12.3.1)", false, CS_KEY_ECDSA, TLS1_3_VERSION},
    {"Java 6u45", false, CS_KEY_NONE, 0}, /* TLS 1.0 only: refused by the default policy */
};

static void test_named(const struct sim *s)
{
    struct cs_suites legacy = legacy_suites(), modern = legacy_suites();
    struct cs_hello h;
    char err[128];

    modern.min_version = TLS1_2_VERSION;
    for (size_t k = 0; k < COUNT(named); k++) {
        size_t i = 0;
        int version = 0;
        const struct cs_cert *c;
        while (i < s->n[0] && strcmp(s->name[i], named[k].client) != 0)
            i++;
        CHECK(i < s->n[0]);
        if (i == s->n[0] || sim_parse(s, i, &h, err, sizeof(err)) != 0)
            continue;
        c = select_for(&h, named[k].legacy_policy ? &legacy : &modern, &version);
        fprintf(stderr, "%s -> %s %s\n", named[k].client, c ? cs_key_type_name(c->type) : "FAIL",
                cs_version_name(version));
        CHECK_INT(c ? c->type : CS_KEY_NONE, named[k].type);
        CHECK_INT(version, named[k].version);
    }
}

/* A client offering none of our ECDSA suites and no TLS 1.3 must never be given ECDSA. */
static bool never_wrong_type(const struct cs_hello *h, const struct cs_suites *su)
{
    int version;
    const struct cs_cert *c = select_for(h, su, &version);
    bool ecdsa_suite = false;

    for (size_t j = 0; j < su->n_tls12_ecdsa; j++)
        ecdsa_suite |= cs_hello_has_cipher(h, su->tls12_ecdsa[j]);
    return !(c && c->type == CS_KEY_ECDSA && version < TLS1_3_VERSION && !ecdsa_suite);
}

/* Every real ClientHello a server accepts far enough to call the ClientHello callback
 * reads the same through SSL_client_hello_get* as through the raw parser. */
static void test_real_from_ssl(const struct sim *s)
{
    SSL_CTX *server = capture_server();
    size_t reached_n = 0, agree = 0;
    uint8_t buf[4096];

    for (size_t i = 0; i < s->n[1]; i++) {
        size_t n = unhex(s->hex[i], buf, sizeof(buf));
        bool reached;
        if (from_ssl_agrees(server, buf, n, &reached))
            agree++;
        else if (reached)
            fprintf(stderr, "%s: cs_hello_from_ssl disagrees with cs_hello_parse\n", s->name[i]);
        reached_n += reached;
    }
    printf("real ClientHellos through a server callback: %zu reached, %zu agree\n", reached_n,
           agree);
    CHECK(reached_n >= s->n[1] - 2); /* at most the two SSLv2-format hellos may not */
    CHECK_INT(agree, reached_n);
    SSL_CTX_free(server);
}

static void test_real(void)
{
    struct sim s;
    struct cs_hello h;
    struct cs_suites legacy = legacy_suites();
    char err[128];
    size_t parsed = 0, sni_ok = 0, ver_ok = 0, ok_type = 0, prefixes_fail = 0;

    if (!sim_load(&s)) {
        printf("SKIPPED (not passed): %s is absent (Debian package testssl.sh)\n", SIMFILE);
        return;
    }
    CHECK(s.n[0] >= 100);
    CHECK(s.n[0] == s.n[1] && s.n[0] == s.n[2] && s.n[0] == s.n[3]);
    for (size_t i = 0; i < s.n[1] && i < s.n[2] && i < s.n[3]; i++) {
        if (sim_parse(&s, i, &h, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: %s\n", s.name[i], err);
            continue;
        }
        parsed++;
        prefixes_fail += every_prefix_fails(&s, i);
        /* testssl sends SNI exactly for the clients whose sni field is set */
        sni_ok += h.has_sni == (s.sni[i][0] != '\0');
        /* TLS 1.3 offered exactly when the recorded highest protocol is 0x0304 */
        if (offers_tls13(&h) == (strcmp(s.highest[i], "0x0304") == 0))
            ver_ok++;
        else
            fprintf(stderr, "%s: highest %s, 1.3 offered: %d\n", s.name[i], s.highest[i],
                    offers_tls13(&h));
        ok_type += never_wrong_type(&h, &legacy);
    }
    printf("real ClientHellos: %zu of %zu parsed\n", parsed, s.n[1]);
    test_real_from_ssl(&s);
    CHECK_INT(parsed, s.n[1]);
    CHECK_INT(prefixes_fail, parsed);
    CHECK_INT(sni_ok, parsed);
    CHECK_INT(ver_ok, parsed);
    CHECK_INT(ok_type, parsed);
    test_named(&s);
    sim_free(&s);
}

int main(void)
{
    test_crafted();
    test_sni_syntax();
    test_truncation();
    test_corruption();
    test_errors();
    test_duplicate();
    test_from_ssl_crafted();
    test_real();
    return tt_done();
}
