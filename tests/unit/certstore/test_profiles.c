/* The client profile corpus: the names other tools depend on exist, every profile builds a
 * client context, and the ClientHello that client really sends (captured from a memory
 * BIO, parsed by cs_hello_parse) carries what the profile declares. */
#include "cs.h"
#include "tt.h"

#include <stdlib.h>

static const char *const required[] = {
    "modern-tls13",     "openssl3-default", "tls12-rsa-only",    "android-4.4",
    "openssl-1.0.2",    "tls12-p384-only",  "tls12-x25519-only", "tls13-rsa-pss-only",
    "tls13-ecdsa-only", "no-sni",           "tls12-ecdsa-only",
};

/* The declared sigalgs list (IANA names, as OpenSSL accepts them): each one recorded, and
 * nothing else sent. */
static void check_sigalgs(const struct cs_profile *p, const struct cs_hello *h)
{
    char *list, *save = NULL, tmp[16];
    size_t i = 0;

    CHECK(h->has_sigalgs);
    if (!p->sigalgs)
        return;
    list = strdup(p->sigalgs);
    for (char *t = strtok_r(list, ":", &save); t; t = strtok_r(NULL, ":", &save), i++) {
        const char *want = strcmp(t, "ECDSA+SHA1") == 0 ? "ecdsa_sha1" : t; /* no IANA alias */
        bool found = false;
        for (size_t k = 0; k < cs_n_sigalg_ids; k++)
            if (strcmp(cs_sigalg_name(cs_sigalg_ids[k], tmp, sizeof(tmp)), want) == 0)
                found = cs_hello_has_sigalg(h, cs_sigalg_ids[k]);
        CHECK(found);
    }
    CHECK_INT(h->n_sigalgs, i);
    free(list);
}

/* Declared groups (or OpenSSL's default list) as code points. */
static void check_groups(const struct cs_profile *p, const struct cs_hello *h)
{
    struct cs_suites want;

    CHECK(h->has_groups);
    CHECK_INT(cs_suites_set_groups(&want, p->groups), 0);
    CHECK_INT(h->n_groups, want.n_groups);
    for (size_t i = 0; i < want.n_groups; i++)
        CHECK(cs_hello_has_group(h, want.groups[i]));
}

static void check_versions(const struct cs_profile *p, const struct cs_hello *h)
{
    CHECK_INT(h->legacy_version, TLS1_2_VERSION);
    if (p->max_version >= TLS1_3_VERSION) {
        CHECK(cs_hello_has_version(h, TLS1_3_VERSION));
        CHECK_INT(cs_hello_has_version(h, TLS1_2_VERSION), p->min_version <= TLS1_2_VERSION);
    } else {
        CHECK_INT(h->n_versions, 0); /* no supported_versions below TLS 1.3 */
    }
}

/* The suites the client context would send, as OpenSSL computes them. */
static void check_ciphers(const struct cs_profile *p, const struct cs_hello *h)
{
    SSL_CTX *ctx = cs_profile_client_ctx(p);
    SSL *ssl = SSL_new(ctx);
    STACK_OF(SSL_CIPHER) *sk = SSL_get1_supported_ciphers(ssl);
    size_t n = 0;

    CHECK(sk != NULL);
    for (int i = 0; sk && i < sk_SSL_CIPHER_num(sk); i++, n++)
        CHECK(cs_hello_has_cipher(h, SSL_CIPHER_get_protocol_id(sk_SSL_CIPHER_value(sk, i))));
    CHECK_INT(h->n_ciphers, n + cs_hello_has_cipher(h, 0x00ff)); /* + SCSV */
    sk_SSL_CIPHER_free(sk);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}

static void check_profile(const struct cs_profile *p)
{
    SSL_CTX *ctx = cs_profile_client_ctx(p);
    struct cs_hello h;

    fprintf(stderr, "profile %s\n", p->name);
    CHECK(ctx != NULL);
    SSL_CTX_free(ctx);
    CHECK(strlen(p->desc) > 40);
    CHECK(p->min_version <= p->max_version);
    CHECK_INT(cs_profile_hello(p, "site.example", &h), 0);
    CHECK_INT(h.has_sni, p->sni);
    if (p->sni)
        CHECK_STR(h.sni, "site.example");
    check_versions(p, &h);
    check_ciphers(p, &h);
    check_sigalgs(p, &h);
    check_groups(p, &h);
    CHECK_INT(cs_profile_hello(p, NULL, &h), 0); /* default name when none is given */
    CHECK_INT(h.has_sni, p->sni);
}

int main(void)
{
    CHECK(cs_n_profiles >= 12);
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        CHECK(cs_profile_find(required[i]) != NULL);
    CHECK(cs_profile_find("no-such-profile") == NULL);
    CHECK(cs_profile_find(NULL) == NULL);
    for (size_t i = 0; i < cs_n_profiles; i++) {
        CHECK(cs_profile_find(cs_profiles[i].name) == &cs_profiles[i]); /* names unique */
        check_profile(&cs_profiles[i]);
    }
    CHECK(cs_profile_client_ctx(NULL) == NULL);
    return tt_done();
}
