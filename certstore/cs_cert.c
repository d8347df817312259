/* Loading one keypair: file bytes, PEM parsing, the key type from the key itself, the
 * leaf's names and identity, the refcount, and the certificate's own server SSL_CTX. */
#define _GNU_SOURCE 1 /* memmem */
#include "cs_cert_int.h"
#include "cs_conf_int.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Largest certificate or key file certstore reads. */
#define CS_FILE_MAX (1024 * 1024)

void cs__lower(char *s)
{
    for (; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static int read_file(const char *path, unsigned char **buf, size_t *len, uint64_t *dev,
                     uint64_t *ino, const char *site, struct cs_diag *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cs_diag_add(d, CS_ERROR, site, path, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CS_FILE_MAX) {
        cs_diag_add(d, CS_ERROR, site, path, "not a regular file of at most %d bytes", CS_FILE_MAX);
        fclose(f);
        return -1;
    }
    unsigned char *b = malloc((size_t)st.st_size + 1);
    size_t n = b ? fread(b, 1, (size_t)st.st_size, f) : 0;
    int err = !b || ferror(f);
    fclose(f);
    if (err) {
        cs_diag_add(d, CS_ERROR, site, path, "cannot read");
        free(b);
        return -1;
    }
    *buf = b;
    *len = n;
    *dev = (uint64_t)st.st_dev;
    *ino = (uint64_t)st.st_ino;
    return 0;
}

int cs__source_read(struct cs_source_data *sd, const char *site, struct cs_diag *d)
{
    if (read_file(sd->cert_path, &sd->cert_buf, &sd->cert_len, &sd->cert_dev, &sd->cert_ino, site,
                  d) != 0)
        return -1;
    if (sd->key_path) {
        if (read_file(sd->key_path, &sd->key_buf, &sd->key_len, &sd->key_dev, &sd->key_ino, site,
                      d) != 0)
            return -1;
    } else {
        sd->key_dev = sd->cert_dev;
        sd->key_ino = sd->cert_ino;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int mdlen = 0;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
             EVP_DigestUpdate(md, sd->cert_buf, sd->cert_len) &&
             (!sd->key_buf || EVP_DigestUpdate(md, sd->key_buf, sd->key_len)) &&
             EVP_DigestFinal_ex(md, sd->content_sha256, &mdlen);
    EVP_MD_CTX_free(md);
    if (!ok) {
        cs_diag_add(d, CS_ERROR, site, sd->cert_path, "cannot hash file contents");
        cs_diag_add_openssl(d);
        return -1;
    }
    return 0;
}

void cs__source_clear(struct cs_source_data *sd)
{
    free(sd->cert_buf);
    free(sd->key_buf);
    sd->cert_buf = sd->key_buf = NULL;
}

/* Never prompt for a passphrase: encrypted keys are refused. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

/* True when the last PEM read stopped because no further PEM block exists. */
static bool pem_at_end(void)
{
    unsigned long e = ERR_peek_last_error();
    return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/* Reads every certificate of the file: the leaf, then the chain in file order. */
static int parse_certs(const struct cs_source_data *sd, const char *site, struct cs_diag *d,
                       X509 **leaf, STACK_OF(X509) * *chain)
{
    BIO *b = BIO_new_mem_buf(sd->cert_buf, (int)sd->cert_len);
    *chain = sk_X509_new_null();
    if (!b || !*chain) {
        BIO_free(b);
        return -1;
    }
    ERR_clear_error();
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, no_password, NULL)) != NULL) {
        if (!*leaf)
            *leaf = x;
        else if (!sk_X509_push(*chain, x))
            X509_free(x);
    }
    int rc = 0;
    if (!*leaf || !pem_at_end()) {
        if (*leaf)
            cs_diag_add(d, CS_ERROR, site, sd->cert_path, "unreadable PEM after certificate #%d",
                        sk_X509_num(*chain) + 1);
        else
            cs_diag_add(d, CS_ERROR, site, sd->cert_path, "no readable certificate");
        cs_diag_add_openssl(d);
        rc = -1;
    }
    ERR_clear_error();
    BIO_free(b);
    return rc;
}

/* Reads the private key. Returns 0, 1 when the file holds no key at all, -1 on error. */
static int parse_key(const struct cs_source_data *sd, const char *site, struct cs_diag *d,
                     EVP_PKEY **key)
{
    const char *path = sd->key_path ? sd->key_path : sd->cert_path;
    const unsigned char *buf = sd->key_path ? sd->key_buf : sd->cert_buf;
    size_t len = sd->key_path ? sd->key_len : sd->cert_len;
    /* OpenSSL 3's decoders do not tell "no key block" from "bad key block" reliably:
     * look for a key's PEM label (PRIVATE KEY, RSA/EC/ENCRYPTED PRIVATE KEY) first. */
    static const char label[] = "PRIVATE KEY-----";
    if (!memmem(buf, len, label, sizeof(label) - 1))
        return 1;
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    if (!b)
        return -1;
    ERR_clear_error();
    *key = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
    BIO_free(b);
    if (*key)
        return 0;
    cs_diag_add(d, CS_ERROR, site, path, "unreadable private key (encrypted keys are refused)");
    cs_diag_add_openssl(d);
    return -1;
}

/* Key type, size and curve, from the key itself. */
static int key_info(struct cs_cert *c, const char *site, struct cs_diag *d)
{
    c->bits = EVP_PKEY_get_bits(c->key);
    switch (EVP_PKEY_get_base_id(c->key)) {
    case EVP_PKEY_RSA:
        c->type = CS_KEY_RSA;
        return 0;
    case EVP_PKEY_EC: {
        char group[64] = "";
        size_t glen = 0;
        c->type = CS_KEY_ECDSA;
        if (EVP_PKEY_get_group_name(c->key, group, sizeof(group), &glen) == 1)
            c->curve_nid = OBJ_txt2nid(group);
        if (c->curve_nid == NID_undef)
            c->curve_nid = EC_curve_nist2nid(group);
        return 0;
    }
    default:
        cs_diag_add(d, CS_ERROR, site, c->key_path, "unsupported key type %s (RSA or ECDSA only)",
                    OBJ_nid2sn(EVP_PKEY_get_base_id(c->key)));
        return -1;
    }
}

static int add_name(struct cs_cert *c, const char *s, size_t len)
{
    for (size_t i = 0; i < c->n_dns_names; i++)
        if (strlen(c->dns_names[i]) == len && strncasecmp(c->dns_names[i], s, len) == 0)
            return 0;
    char **v = realloc(c->dns_names, (c->n_dns_names + 1) * sizeof(*v));
    if (!v)
        return -1;
    c->dns_names = v;
    if (!(v[c->n_dns_names] = strndup(s, len)))
        return -1;
    cs__lower(v[c->n_dns_names++]);
    return 0;
}

/* DNS SANs, or the CN when the certificate has no SAN extension. */
static int leaf_names(struct cs_cert *c)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(c->leaf, NID_subject_alt_name, NULL, NULL);
    int rc = 0;
    if (gens) {
        for (int i = 0; i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
            if (g->type == GEN_DNS)
                rc = add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                              (size_t)ASN1_STRING_length(g->d.dNSName));
        }
        GENERAL_NAMES_free(gens);
        return rc;
    }
    X509_NAME *subj = X509_get_subject_name(c->leaf);
    int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
    if (idx >= 0) {
        ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
        rc = add_name(c, (const char *)ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
    }
    return rc;
}

static char *name_text(const X509_NAME *n)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b && X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
        char *p;
        long len = BIO_get_mem_data(b, &p);
        out = strndup(p, (size_t)len);
    }
    BIO_free(b);
    return out;
}

static time_t asn1_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

/* Identity fields of the leaf: fingerprint, subject, issuer, serial, dates, names. */
static int leaf_info(struct cs_cert *c)
{
    unsigned int n = 0;
    if (X509_digest(c->leaf, EVP_sha256(), c->sha256, &n) != 1 || n != 32)
        return -1;
    for (int i = 0; i < 32; i++)
        snprintf(c->fp_hex + 2 * i, 3, "%02x", c->sha256[i]);
    c->subject = name_text(X509_get_subject_name(c->leaf));
    c->issuer = name_text(X509_get_issuer_name(c->leaf));
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c->leaf), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    c->serial_hex = hex ? strdup(hex) : NULL;
    cs__lower(c->serial_hex);
    OPENSSL_free(hex);
    BN_free(bn);
    c->not_before = asn1_time(X509_get0_notBefore(c->leaf));
    c->not_after = asn1_time(X509_get0_notAfter(c->leaf));
    if (!c->subject || !c->issuer || !c->serial_hex)
        return -1;
    return leaf_names(c);
}

static struct cs_cert *cert_alloc(const struct cs_source_data *sd)
{
    struct cs_cert *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->cert_path = strdup(sd->cert_path);
    c->key_path = strdup(sd->key_path ? sd->key_path : sd->cert_path);
    c->cert_dev = sd->cert_dev;
    c->cert_ino = sd->cert_ino;
    c->key_dev = sd->key_dev;
    c->key_ino = sd->key_ino;
    memcpy(c->content_sha256, sd->content_sha256, 32);
    if (!c->cert_path || !c->key_path) {
        cs_cert_release(c);
        return NULL;
    }
    return c;
}

int cs__cert_parse(const struct cs_source_data *sd, const char *site, bool key_optional,
                   struct cs_diag *d, struct cs_cert **out)
{
    *out = NULL;
    struct cs_cert *c = cert_alloc(sd);
    if (!c)
        return -1;
    int rc = parse_certs(sd, site, d, &c->leaf, &c->chain);
    if (rc == 0) {
        rc = parse_key(sd, site, d, &c->key);
        if (rc == 1 && key_optional) {
            cs_diag_add(d, CS_NOTICE, site, sd->cert_path,
                        "certificate without a private key (a CA or chain file?): skipped");
        } else if (rc == 1) {
            cs_diag_add(d, CS_ERROR, site, c->key_path, "no private key found");
            rc = -1;
        }
    }
    if (rc == 0)
        rc = key_info(c, site, d);
    if (rc == 0 && leaf_info(c) != 0) {
        cs_diag_add(d, CS_ERROR, site, sd->cert_path, "cannot read the certificate's fields");
        cs_diag_add_openssl(d);
        rc = -1;
    }
    if (rc != 0) {
        cs_cert_release(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Only a holder of a reference may take another or give one back: the count is positive
 * on entry to both. */
void cs_cert_ref(struct cs_cert *c)
{
    int old = atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    assert(old > 0);
    (void)old;
}

void cs_cert_release(struct cs_cert *c)
{
    if (!c)
        return;
    int old = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel);
    assert(old > 0);
    if (old != 1)
        return;
    free(c->cert_path);
    free(c->key_path);
    for (size_t i = 0; i < c->n_dns_names; i++)
        free(c->dns_names[i]);
    free(c->dns_names);
    free(c->subject);
    free(c->issuer);
    free(c->serial_hex);
    X509_free(c->leaf);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    SSL_CTX_free(c->ctx);
    free(c);
}

const char *cs_key_type_name(enum cs_key_type t)
{
    return t == CS_KEY_RSA ? "RSA" : t == CS_KEY_ECDSA ? "ECDSA" : "none";
}

const char *cs_curve_name(int nid)
{
    switch (nid) {
    case NID_X9_62_prime256v1:
        return "P-256";
    case NID_secp384r1:
        return "P-384";
    case NID_secp521r1:
        return "P-521";
    }
    return "?";
}

const char *cs_cert_describe(const struct cs_cert *c, char *buf, size_t len)
{
    if (c->type == CS_KEY_RSA)
        snprintf(buf, len, "RSA-%d", c->bits);
    else if (c->type == CS_KEY_ECDSA)
        snprintf(buf, len, "ECDSA %s", cs_curve_name(c->curve_nid));
    else
        snprintf(buf, len, "none");
    return buf;
}

/* Policy failures name the configuration key so the operator knows what to fix. */
static int policy_fail(struct cs_diag *d, const char *key, const char *value)
{
    cs_diag_add(d, CS_ERROR, NULL, NULL, "invalid tls policy %s \"%s\"", key, value);
    cs_diag_add_openssl(d);
    return -1;
}

int cs__ctx_apply_policy(SSL_CTX *ctx, const struct cs_conf *conf, struct cs_diag *d)
{
    struct cs_policy p;
    char v[32];
    int rc = 0;
    cs__policy_effective(&conf->policy, &p);
    ERR_clear_error();
    if (SSL_CTX_set_min_proto_version(ctx, p.min_version) != 1)
        rc = policy_fail(d, "min_version", (snprintf(v, sizeof(v), "0x%x", p.min_version), v));
    if (SSL_CTX_set_max_proto_version(ctx, p.max_version) != 1)
        rc = policy_fail(d, "max_version", (snprintf(v, sizeof(v), "0x%x", p.max_version), v));
    if (p.min_version > p.max_version)
        rc = policy_fail(d, "min_version", "above max_version");
    if (SSL_CTX_set_cipher_list(ctx, p.ciphers) != 1)
        rc = policy_fail(d, "ciphers", p.ciphers);
    if (SSL_CTX_set_ciphersuites(ctx, p.ciphersuites) != 1)
        rc = policy_fail(d, "ciphersuites", p.ciphersuites);
    if (SSL_CTX_set1_groups_list(ctx, p.groups) != 1)
        rc = policy_fail(d, "groups", p.groups);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_set_max_early_data(ctx, 0) != 1 ||
        SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"twofold", 7) != 1 ||
        SSL_CTX_set_num_tickets(ctx, p.tickets) != 1) {
        cs_diag_add(d, CS_ERROR, NULL, NULL, "cannot set session options");
        cs_diag_add_openssl(d);
        rc = -1;
    }
    if (rc == 0 && conf->ctx_setup && conf->ctx_setup(ctx, conf->ctx_setup_arg) != 0) {
        cs_diag_add(d, CS_ERROR, NULL, NULL, "the proxy's context setup failed");
        cs_diag_add_openssl(d);
        rc = -1;
    }
    return rc;
}

int cs__cert_make_ctx(struct cs_cert *c, const struct cs_conf *conf, const char *site,
                      struct cs_diag *d)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        cs_diag_add(d, CS_ERROR, site, c->cert_path, "cannot create a TLS context");
        cs_diag_add_openssl(d);
        return -1;
    }
    if (cs__ctx_apply_policy(ctx, conf, d) != 0) {
        SSL_CTX_free(ctx);
        return -1;
    }
    ERR_clear_error();
    if (SSL_CTX_use_certificate(ctx, c->leaf) != 1 || SSL_CTX_set1_chain(ctx, c->chain) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, c->key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        cs_diag_add(d, CS_ERROR, site, c->cert_path, "cannot install certificate and key");
        cs_diag_add_openssl(d);
        SSL_CTX_free(ctx);
        return -1;
    }
    c->ctx = ctx;
    return 0;
}
