/* Validation of loaded keypairs and of a site's names. Every problem is reported with its
 * file; a check never stops at the first problem. */
#include "cs_validate_int.h"
#include "cs_cert_int.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

static time_t conf_now(const struct cs_conf *conf)
{
    return conf->now ? conf->now : time(NULL);
}

/* True when a DNS SAN pattern (lower-case, may be "*.x.y") covers host name (lower-case). */
static bool name_match(const char *pattern, const char *name)
{
    if (strcmp(pattern, name) == 0)
        return true;
    /* "*.example.com" covers exactly one extra label: "a.example.com". */
    if (pattern[0] != '*' || pattern[1] != '.')
        return false;
    const char *dot = strchr(name, '.');
    return dot && dot != name && name[0] != '*' && strcmp(dot + 1, pattern + 2) == 0;
}

bool cs__cert_covers(const struct cs_cert *c, const char *name)
{
    for (size_t i = 0; i < c->n_dns_names; i++)
        if (name_match(c->dns_names[i], name))
            return true;
    return false;
}

static int check_key(const struct cs_cert *c, const char *site, struct cs_diag *d)
{
    char desc[32];
    if (c->type == CS_KEY_RSA && c->bits < 2048) {
        cs_diag_add(d, CS_ERROR, site, c->key_path, "%s key is too weak (RSA needs >= 2048 bits)",
                    cs_cert_describe(c, desc, sizeof(desc)));
        return -1;
    }
    if (c->type == CS_KEY_ECDSA && c->curve_nid != NID_X9_62_prime256v1 &&
        c->curve_nid != NID_secp384r1 && c->curve_nid != NID_secp521r1) {
        cs_diag_add(d, CS_ERROR, site, c->key_path,
                    "unsupported ECDSA curve %s (P-256, P-384 or P-521 only)",
                    c->curve_nid ? OBJ_nid2sn(c->curve_nid) : "unknown");
        return -1;
    }
    ERR_clear_error();
    if (X509_check_private_key(c->leaf, c->key) != 1) {
        ERR_clear_error();
        cs_diag_add(d, CS_ERROR, site, c->key_path,
                    "private key does not match the certificate %s (subject %s)", c->cert_path,
                    c->subject);
        return -1;
    }
    return 0;
}

static X509 *chain_at(const struct cs_cert *c, int i)
{
    return i == 0 ? c->leaf : sk_X509_value(c->chain, i - 1);
}

/* The file's chain must be in order: each certificate signed by the next. */
static int check_chain_order(const struct cs_cert *c, const char *site, struct cs_diag *d)
{
    int rc = 0, n = sk_X509_num(c->chain) + 1;
    for (int i = 0; i + 1 < n; i++) {
        X509 *sub = chain_at(c, i), *iss = chain_at(c, i + 1);
        ERR_clear_error();
        if (X509_check_issued(iss, sub) != X509_V_OK ||
            X509_verify(sub, X509_get0_pubkey(iss)) != 1) {
            ERR_clear_error();
            cs_diag_add(d, CS_ERROR, site, c->cert_path,
                        "chain out of order: certificate #%d is not signed by certificate #%d "
                        "that follows it",
                        i + 1, i + 2);
            rc = -1;
        }
    }
    return rc;
}

/* Signatures by a CA must be strong enough for OpenSSL's security level 1 (80 bits: no
 * MD5, no SHA-1), else the context refuses the chain with a bare "ca md too weak".
 * Self-signed certificates are exempt, as in OpenSSL: nobody checks their signature. */
static int check_digests(const struct cs_cert *c, const char *site, struct cs_diag *d)
{
    int rc = 0, n = sk_X509_num(c->chain) + 1;
    for (int i = 0; i < n; i++) {
        X509 *x = chain_at(c, i);
        int md = NID_undef, secbits = -1;
        uint32_t flags = 0;
        if (X509_check_issued(x, x) == X509_V_OK)
            continue;
        if (!X509_get_signature_info(x, &md, NULL, &secbits, &flags) || secbits < 80) {
            cs_diag_add(d, CS_ERROR, site, c->cert_path,
                        "certificate #%d is signed with %s, too weak (clients and OpenSSL refuse "
                        "digests under 80 bits of security)",
                        i + 1, md != NID_undef ? OBJ_nid2sn(md) : "an unknown digest");
            rc = -1;
        }
    }
    ERR_clear_error();
    return rc;
}

static int check_bundle(const struct cs_cert *c, const struct cs_conf *conf, X509_STORE *store,
                        const char *site, struct cs_diag *d)
{
    X509_STORE_CTX *vc = X509_STORE_CTX_new();
    int rc = -1;
    ERR_clear_error();
    if (vc && X509_STORE_CTX_init(vc, store, c->leaf, c->chain) == 1) {
        /* Dates are checked (and reported) separately, for every certificate. */
        X509_STORE_CTX_set_flags(vc, X509_V_FLAG_NO_CHECK_TIME);
        X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_SERVER);
        if (X509_verify_cert(vc) == 1)
            rc = 0;
        else
            cs_diag_add(d, CS_ERROR, site, c->cert_path, "chain does not verify to %s: %s",
                        conf->ca_bundle,
                        X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc)));
    } else {
        cs_diag_add(d, CS_ERROR, site, c->cert_path, "cannot set up chain verification");
        cs_diag_add_openssl(d);
    }
    ERR_clear_error();
    X509_STORE_CTX_free(vc);
    return rc;
}

static void fmt_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static int check_dates(const struct cs_cert *c, const struct cs_conf *conf, const char *site,
                       struct cs_diag *d)
{
    time_t now = conf_now(conf);
    char when[40];
    int rc = 0;
    if (now < c->not_before) {
        fmt_time(c->not_before, when, sizeof(when));
        cs_diag_add(d, CS_ERROR, site, c->cert_path, "not yet valid: valid from %s", when);
        rc = -1;
    }
    if (now > c->not_after) {
        fmt_time(c->not_after, when, sizeof(when));
        cs_diag_add(d, CS_ERROR, site, c->cert_path, "expired on %s", when);
        rc = -1;
    } else if (now + (time_t)conf->warn_days * 86400 > c->not_after) {
        fmt_time(c->not_after, when, sizeof(when));
        cs_diag_add(d, CS_WARNING, site, c->cert_path, "expires in %ld days, on %s",
                    (long)((c->not_after - now) / 86400), when);
    }
    for (int i = 0; i < sk_X509_num(c->chain); i++) {
        X509 *x = sk_X509_value(c->chain, i);
        if (X509_cmp_time(X509_get0_notAfter(x), &now) < 0 ||
            X509_cmp_time(X509_get0_notBefore(x), &now) > 0) {
            cs_diag_add(d, CS_ERROR, site, c->cert_path,
                        "chain certificate #%d is expired or not yet valid", i + 2);
            rc = -1;
        }
    }
    return rc;
}

int cs__cert_validate(const struct cs_cert *c, const struct cs_conf *conf, X509_STORE *store,
                      const char *site, struct cs_diag *d)
{
    int rc = check_key(c, site, d);
    if (check_chain_order(c, site, d) != 0)
        rc = -1;
    if (check_digests(c, site, d) != 0)
        rc = -1;
    if (store && check_bundle(c, conf, store, site, d) != 0)
        rc = -1;
    if (check_dates(c, conf, site, d) != 0)
        rc = -1;
    if (c->n_dns_names == 0) {
        cs_diag_add(d, CS_ERROR, site, c->cert_path, "certificate has no DNS name (SAN or CN)");
        rc = -1;
    }
    return rc;
}

size_t cs__site_check_names(const struct cs_site_conf *sc, struct cs_cert *const *certs, size_t n,
                            struct cs_diag *d)
{
    unsigned have = 0;
    size_t errors = 0;
    for (size_t i = 0; i < n; i++)
        have |= 1u << certs[i]->type;
    for (size_t k = 0; k < sc->n_names; k++) {
        char name[256];
        snprintf(name, sizeof(name), "%s", sc->names[k]);
        cs__lower(name);
        unsigned covered = 0;
        for (size_t i = 0; i < n; i++)
            if (cs__cert_covers(certs[i], name))
                covered |= 1u << certs[i]->type;
        if (!covered) {
            cs_diag_add(d, CS_ERROR, sc->name, NULL,
                        "name %s is not covered by any of the site's certificates", name);
            errors++;
        } else if (covered != have) {
            enum cs_key_type missing =
                (have & ~covered) & CS_REQUIRE_RSA ? CS_KEY_RSA : CS_KEY_ECDSA;
            cs_diag_add(d, CS_WARNING, sc->name, NULL,
                        "name %s is not covered by the site's %s certificates", name,
                        cs_key_type_name(missing));
        }
    }
    return errors;
}
