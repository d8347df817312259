/* What a server context enables, as IANA code points, computed once per snapshot so that
 * cs_select never walks OpenSSL's lists during a handshake. */
#include "cs.h"

#include <openssl/obj_mac.h>
#include <string.h>
#include <strings.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Group names OpenSSL's groups lists accept -> TLS code points (RFC 8446 / RFC 7919). */
static const struct {
    const char *name;
    uint16_t id;
} group_names[] = {
    {"P-256", 23},
    {"prime256v1", 23},
    {"secp256r1", 23},
    {"P-384", 24},
    {"secp384r1", 24},
    {"P-521", 25},
    {"secp521r1", 25},
    {"X25519", 29},
    {"X448", 30},
    {"ffdhe2048", 256},
    {"ffdhe3072", 257},
    {"ffdhe4096", 258},
    {"ffdhe6144", 259},
    {"ffdhe8192", 260},
    {"secp256k1", 22},
    {"brainpoolP256r1", 26},
    {"brainpoolP384r1", 27},
    {"brainpoolP512r1", 28},
    {"brainpoolP256r1tls13", 31},
    {"brainpoolP384r1tls13", 32},
    {"brainpoolP512r1tls13", 33},
};

/* OpenSSL 3.0's default list, used until cs_suites_set_groups is called: OpenSSL 3.0 has
 * no getter for a context's own groups (SSL_get1_groups returns the peer's). */
#define OPENSSL_DEFAULT_GROUPS                                                                     \
    "X25519:P-256:X448:P-521:P-384:ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192"

int cs_suites_set_groups(struct cs_suites *out, const char *list)
{
    const char *p = list ? list : OPENSSL_DEFAULT_GROUPS;
    int rc = 0;

    out->n_groups = 0;
    while (*p) {
        size_t len = strcspn(p, ":,");
        bool found = false;
        for (size_t i = 0; i < COUNT(group_names) && !found; i++) {
            if (strlen(group_names[i].name) == len &&
                strncasecmp(group_names[i].name, p, len) == 0) {
                found = true;
                if (out->n_groups < COUNT(out->groups))
                    out->groups[out->n_groups++] = group_names[i].id;
            }
        }
        if (!found)
            rc = -1; /* an unknown name is skipped; OpenSSL would have refused the list */
        p += len;
        p += *p != '\0';
    }
    return rc;
}

/* Lowest version a suite works with; OpenSSL exposes it only as a string. */
static int cipher_min_version(const SSL_CIPHER *c)
{
    const char *v = SSL_CIPHER_get_version(c);

    if (SSL_CIPHER_get_kx_nid(c) == NID_kx_any || strcmp(v, "TLSv1.3") == 0)
        return TLS1_3_VERSION;
    if (strcmp(v, "TLSv1.2") == 0)
        return TLS1_2_VERSION;
    return strcmp(v, "SSLv3") == 0 ? SSL3_VERSION : TLS1_VERSION;
}

static void add_cipher(const SSL_CIPHER *c, struct cs_suites *out)
{
    uint16_t id = SSL_CIPHER_get_protocol_id(c);
    int auth = SSL_CIPHER_get_auth_nid(c);

    if (cipher_min_version(c) >= TLS1_3_VERSION) {
        if (out->max_version >= TLS1_3_VERSION && out->n_tls13 < COUNT(out->tls13))
            out->tls13[out->n_tls13++] = id;
        return;
    }
    if (out->min_version > TLS1_2_VERSION || cipher_min_version(c) > out->max_version)
        return;
    /* Certificate contexts get no DH parameters, so OpenSSL never chooses a DHE suite. */
    if (SSL_CIPHER_get_kx_nid(c) == NID_kx_dhe)
        return;
    bool only12 = cipher_min_version(c) == TLS1_2_VERSION;
    if (auth == NID_auth_ecdsa && out->n_tls12_ecdsa < COUNT(out->tls12_ecdsa)) {
        if (only12)
            out->tls12_ecdsa_only12 |= (uint64_t)1 << out->n_tls12_ecdsa;
        out->tls12_ecdsa[out->n_tls12_ecdsa++] = id;
    } else if (auth == NID_auth_rsa && out->n_tls12_rsa < COUNT(out->tls12_rsa)) {
        if (SSL_CIPHER_get_kx_nid(c) == NID_kx_ecdhe)
            out->tls12_rsa_ecdhe |= (uint64_t)1 << out->n_tls12_rsa;
        if (only12)
            out->tls12_rsa_only12 |= (uint64_t)1 << out->n_tls12_rsa;
        out->tls12_rsa[out->n_tls12_rsa++] = id;
    }
}

int cs_suites_compute(SSL_CTX *ctx, struct cs_suites *out)
{
    STACK_OF(SSL_CIPHER) * sk;
    long v;

    memset(out, 0, sizeof(*out));
    if (!ctx)
        return -1;
    v = SSL_CTX_get_min_proto_version(ctx);
    out->min_version = v > 0 ? (int)v : TLS1_VERSION; /* 0: no lower limit */
    v = SSL_CTX_get_max_proto_version(ctx);
    out->max_version = v > 0 ? (int)v : TLS1_3_VERSION;
    out->security_level = SSL_CTX_get_security_level(ctx);
    sk = SSL_CTX_get_ciphers(ctx);
    if (!sk)
        return -1;
    for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++)
        add_cipher(sk_SSL_CIPHER_value(sk, i), out);
    return cs_suites_set_groups(out, NULL) == 0 ? 0 : -1;
}
