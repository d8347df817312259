/* The built-in client profiles: what the coverage check, the compatibility guard and the
 * benchmark tool handshake with. Each stands for a family of real clients; the facts
 * (suites, curves, versions) follow the ClientHellos testssl.sh recorded from them
 * (/etc/testssl/client-simulation.txt), reduced to what matters for certificate choice.
 *
 * Profiles keep OpenSSL's security level 0 (except openssl3-default, which is exactly a
 * default OpenSSL 3 client): an old client sends SHA-1 sigalgs and TLS 1.0 whatever our
 * local OpenSSL thinks of them, and the server side decides what it accepts. */
#include "cs.h"

#include <openssl/err.h>
#include <string.h>

#define MODERN_SIGALGS                                                                             \
    "ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256:rsa_pkcs1_sha256:ecdsa_secp384r1_sha384:"          \
    "rsa_pss_rsae_sha384:rsa_pkcs1_sha384:rsa_pss_rsae_sha512:rsa_pkcs1_sha512"
#define LEGACY_SIGALGS                                                                             \
    "rsa_pkcs1_sha512:ecdsa_secp521r1_sha512:rsa_pkcs1_sha384:ecdsa_secp384r1_sha384:"             \
    "rsa_pkcs1_sha256:ecdsa_secp256r1_sha256:rsa_pkcs1_sha1:ECDSA+SHA1"
#define MODERN_TLS12                                                                               \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                                   \
    "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA:AES128-GCM-SHA256:AES256-GCM-SHA384:"               \
    "AES128-SHA:AES256-SHA"

const struct cs_profile cs_profiles[] = {
    {"modern-tls13",
     "Current Chrome, Edge, Firefox and Safari: TLS 1.3 first, ECDSA P-256 and RSA-PSS "
     "sigalgs, X25519. The bulk of browser traffic; should get ECDSA at TLS 1.3.",
     TLS1_2_VERSION, TLS1_3_VERSION, MODERN_TLS12,
     "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256", MODERN_SIGALGS,
     "X25519:P-256:P-384", true},
    {"openssl3-default",
     "curl, wget, Python and other tools on OpenSSL 3 with no TLS settings of their own "
     "(the distribution's defaults). Scripts and monitoring talk like this.",
     TLS1_2_VERSION, TLS1_3_VERSION, NULL, NULL, NULL, NULL, true},
    {"tls12-rsa-only",
     "TLS 1.2 clients that know only RSA-authenticated ECDHE suites: old Java stacks with "
     "ECC disabled, embedded HTTP clients, payment terminals. They lose an ECDSA-only site.",
     TLS1_2_VERSION, TLS1_2_VERSION,
     "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA:"
     "ECDHE-RSA-AES256-SHA",
     NULL, "rsa_pkcs1_sha256:rsa_pkcs1_sha384:rsa_pkcs1_sha512:rsa_pkcs1_sha1", "P-256:P-384",
     true},
    {"android-4.4",
     "Android 4.4 KitKat's platform TLS: TLS 1.2 at most, ECDHE with CBC and GCM, curves "
     "P-521/P-384/P-256 only (no X25519), PKCS#1 and ECDSA sigalgs down to SHA-1, no PSS.",
     TLS1_VERSION, TLS1_2_VERSION,
     "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-SHA:"
     "ECDHE-ECDSA-AES256-SHA:DHE-RSA-AES256-GCM-SHA384:AES256-GCM-SHA384:AES256-SHA:"
     "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA:"
     "ECDHE-ECDSA-AES128-SHA:AES128-GCM-SHA256:AES128-SHA",
     NULL, LEGACY_SIGALGS, "P-521:P-384:P-256", true},
    {"openssl-1.0.2",
     "OpenSSL 1.0.2 defaults (RHEL/CentOS 7, Debian 8 era servers, old Python and curl): "
     "TLS 1.2 at most, no X25519, no RSA-PSS. Still common in server-to-server calls.",
     TLS1_VERSION, TLS1_2_VERSION,
     "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-SHA384:"
     "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA:ECDHE-ECDSA-AES256-SHA:"
     "DHE-RSA-AES256-GCM-SHA384:AES256-GCM-SHA384:AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256:"
     "ECDHE-ECDSA-AES128-GCM-SHA256:AES128-GCM-SHA256:AES128-SHA",
     NULL, LEGACY_SIGALGS, "P-256:P-521:P-384", true},
    {"tls12-p384-only",
     "TLS 1.2 clients restricted to P-384 (Suite B / CNSA-style government and hardened "
     "embedded configurations). A P-256 certificate is unusable for them.",
     TLS1_2_VERSION, TLS1_2_VERSION,
     "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"
     "ECDHE-RSA-AES128-GCM-SHA256",
     NULL, NULL, "P-384", true},
    {"tls12-x25519-only",
     "TLS 1.2 clients whose only group is X25519 (small embedded stacks built with "
     "Curve25519 alone). Their groups list rules out any ECDSA certificate's curve.",
     TLS1_2_VERSION, TLS1_2_VERSION,
     "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
     "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
     NULL, NULL, "X25519", true},
    {"tls13-rsa-pss-only",
     "TLS 1.3 clients that verify RSA only (RSA-PSS sigalgs): HSM- or FIPS-bound agents and "
     "enterprise middleboxes. They need an RSA certificate.",
     TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL,
     "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512", "X25519:P-256", true},
    {"tls13-ecdsa-only",
     "TLS 1.3 clients with ECC-only crypto (IoT devices on mbedTLS/wolfSSL builds without "
     "RSA). They need an ECDSA certificate on a curve they list.",
     TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL,
     "ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:ecdsa_secp521r1_sha512", "P-256:P-384", true},
    {"no-sni",
     "A modern client that sends no server name: scripts hitting an IP address, load "
     "balancer health checks, and old clients (Android 2.3, IE on XP, Java 6) that never "
     "send SNI. They get the default site.",
     TLS1_2_VERSION, TLS1_3_VERSION, MODERN_TLS12, NULL, MODERN_SIGALGS, "X25519:P-256:P-384",
     false},
    {"tls12-ecdsa-only",
     "TLS 1.2 clients offering ECDHE-ECDSA suites only (ECC-only embedded stacks). They lose "
     "an RSA-only site.",
     TLS1_2_VERSION, TLS1_2_VERSION,
     "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305",
     NULL, "ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:ecdsa_secp521r1_sha512", "P-256:P-384",
     true},
    {"java-8",
     "Java 8 (before 8u261) JSSE defaults: TLS 1.2 at most, CBC suites before GCM, NIST "
     "curves only, PKCS#1 and ECDSA sigalgs down to SHA-1. Many enterprise back ends.",
     TLS1_VERSION, TLS1_2_VERSION,
     "ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:AES256-SHA256:DHE-RSA-AES256-SHA256:"
     "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:AES256-SHA:ECDHE-ECDSA-AES128-SHA256:"
     "ECDHE-RSA-AES128-SHA256:AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
     "AES128-SHA:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"
     "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256",
     NULL, LEGACY_SIGALGS, "P-256:P-384:P-521", true},
    {"java-11",
     "Java 11 to 17 JSSE: TLS 1.3 with only the two AES-GCM suites, no X25519 in the "
     "offered groups (NIST curves and FFDHE), PSS and PKCS#1 sigalgs.",
     TLS1_2_VERSION, TLS1_3_VERSION,
     "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
     "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384",
     "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
     "ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:ecdsa_secp521r1_sha512:"
     "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:rsa_pkcs1_sha256:"
     "rsa_pkcs1_sha384:rsa_pkcs1_sha512",
     "P-256:P-384:P-521:ffdhe2048:ffdhe3072", true},
    {"ios-12-safari",
     "Safari on iOS 12 / macOS 10.14 (2018-2019 Apple devices still in use): TLS 1.3 with "
     "ChaCha20 first, ECDSA preferred, SHA-1 sigalgs still listed, P-521 offered.",
     TLS1_2_VERSION, TLS1_3_VERSION,
     "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
     "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:"
     "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:AES256-GCM-SHA384:AES128-SHA",
     "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
     "ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256:rsa_pkcs1_sha256:ecdsa_secp384r1_sha384:"
     "ECDSA+SHA1:rsa_pss_rsae_sha384:rsa_pkcs1_sha384:rsa_pss_rsae_sha512:rsa_pkcs1_sha512:"
     "rsa_pkcs1_sha1",
     "X25519:P-256:P-384:P-521", true},
};

const size_t cs_n_profiles = sizeof(cs_profiles) / sizeof(cs_profiles[0]);

const struct cs_profile *cs_profile_find(const char *name)
{
    for (size_t i = 0; name && i < cs_n_profiles; i++)
        if (strcmp(cs_profiles[i].name, name) == 0)
            return &cs_profiles[i];
    return NULL;
}

SSL_CTX *cs_profile_client_ctx(const struct cs_profile *p)
{
    SSL_CTX *ctx;
    bool ok;

    if (!p)
        return NULL;
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (strcmp(p->name, "openssl3-default") != 0)
        SSL_CTX_set_security_level(ctx, 0);
    ok = SSL_CTX_set_min_proto_version(ctx, p->min_version) == 1 &&
         SSL_CTX_set_max_proto_version(ctx, p->max_version) == 1;
    if (ok && p->ciphers)
        ok = SSL_CTX_set_cipher_list(ctx, p->ciphers) == 1;
    if (ok && p->ciphersuites)
        ok = SSL_CTX_set_ciphersuites(ctx, p->ciphersuites) == 1;
    if (ok && p->sigalgs)
        ok = SSL_CTX_set1_sigalgs_list(ctx, p->sigalgs) == 1;
    if (ok && p->groups)
        ok = SSL_CTX_set1_groups_list(ctx, p->groups) == 1;
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Drives the client until it has written its first flight and waits for the server. */
static int first_flight(SSL *ssl, BIO *wbio, struct cs_hello *out)
{
    char *data;
    long n;
    int rc;
    char err[128];

    ERR_clear_error();
    rc = SSL_do_handshake(ssl);
    if (rc == 1 || SSL_get_error(ssl, rc) != SSL_ERROR_WANT_READ)
        return -1;
    n = BIO_get_mem_data(wbio, &data);
    if (n <= 0)
        return -1;
    return cs_hello_parse((const uint8_t *)data, (size_t)n, out, err, sizeof(err));
}

int cs_profile_hello(const struct cs_profile *p, const char *sni, struct cs_hello *out)
{
    SSL_CTX *ctx = cs_profile_client_ctx(p);
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!ssl || !rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        goto done;
    }
    SSL_set_bio(ssl, rbio, wbio); /* ssl owns both now */
    SSL_set_connect_state(ssl);
    if (p->sni && SSL_set_tlsext_host_name(ssl, (char *)(sni ? sni : "www.example.test")) != 1)
        goto done;
    rc = first_flight(ssl, wbio, out);
done:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return rc;
}
