/* certgen.h: test-time certificate generation with OpenSSL APIs. Header-only (every
 * function is static); include it from a test and link OpenSSL (certstore does).
 * No certificate or key is committed to the repository: tests build what they need.
 *
 * Keys
 *   EVP_PKEY *cg_key(const char *spec);
 *       spec: "rsa:BITS" (any size, e.g. "rsa:1024", "rsa:2048", "rsa:4096") or
 *       "ec:P-256" / "ec:P-384" / "ec:P-521". Returns a new key or NULL.
 *
 * Certificates (validity offsets are seconds relative to time(NULL) at creation; a test
 * that pins cs_conf.now should use now = time(NULL) + its own offset)
 *   struct cg_ca ca;  cg_ca_new(&ca, "Test Root", "ec:P-256", NULL)         a root CA
 *                     cg_ca_new(&in, "Test Intermediate", "rsa:2048", &ca)  an intermediate
 *   struct cg_leaf l; cg_leaf_new(&l, &opts, &issuer)                      a leaf
 *       opts (struct cg_opts): key (spec; ignored when opts.pkey is set), pkey (reuse an
 *       existing key: it is up-ref'd, so keys can be shared between leaves to save RSA
 *       generation time), cn (subject CN; default first SAN or "localhost"), sans
 *       (comma-separated DNS names, e.g. "a.test,*.b.test"; NULL or "" means no SAN
 *       extension at all: a CN-only certificate), not_before / not_after (offsets,
 *       defaults -3600 and +90 days when both are 0).
 *   cg_ca_free(&ca); cg_leaf_free(&l);
 *
 * Files (all PEM; every writer returns 0 or -1)
 *   cg_write_certs(path, certs[], n)        certificates in the given order
 *   cg_write_key(path, key)                 a PKCS#8 private key, unencrypted
 *   cg_write_pair(dir, "x", &leaf, chain[], n_chain)
 *       writes DIR/x.crt (leaf, then chain in the given order) and DIR/x.key
 *   cg_write_bundle(path, &leaf, chain[], n_chain)
 *       one file: private key, leaf, chain
 *   cg_write_text(path, text)               any file (corrupt PEM, configs)
 *   cg_truncate(path, keep)                 cut a file to its first keep bytes
 *   cg_symlink(target, linkpath)            symlink(2), for certbot/Kubernetes layouts
 *
 * Temporary directories
 *   cg_tmpdir(buf, len, "tag")  mkdtemp under $TWOFOLD_TMP (created if needed) or /tmp;
 *   cg_rmtree(dir)              removes it again (does not follow symlinks).
 *   cg_path(dir, name)          "DIR/NAME" in one of 8 rotating static buffers, for
 *                               building paths inline in a test.
 *
 * Identity
 *   cg_fp_hex(x509, out65)      lower-case hex SHA-256 of the DER, as cs_cert.fp_hex.
 *
 * cs_conf building (only when cs.h was included before this header). Strings are copied
 * with strdup, so cs_conf_clear() frees everything:
 *   struct cs_site_conf *s = cg_site_add(&conf, "site-name");
 *   cg_site_cert(s, "DIR/x.crt", "DIR/x.key");   key NULL: a bundle
 *   cg_site_name(s, "www.example.test");          a configured host name
 *   cg_site_dir(s, "DIR");                        a certificate directory
 * Pointers returned by cg_site_add stay valid only until the next cg_site_add.
 */
#ifndef TWOFOLD_CERTGEN_H
#define TWOFOLD_CERTGEN_H

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every helper is static; unused ones must not warn under -Werror. */
#define CG_FN static __attribute__((unused))

struct cg_ca {
    X509 *cert;
    EVP_PKEY *key;
};

struct cg_leaf {
    X509 *cert;
    EVP_PKEY *key;
};

struct cg_opts {
    const char *key;  /* "rsa:2048", "ec:P-256", ... */
    EVP_PKEY *pkey;   /* optional existing key (shared, up-ref'd) */
    const char *cn;   /* subject CN */
    const char *sans; /* "a.test,*.b.test"; NULL or "": no SAN extension */
    long not_before;  /* seconds from now */
    long not_after;   /* seconds from now */
};

CG_FN EVP_PKEY *cg_key(const char *spec)
{
    if (strncmp(spec, "rsa:", 4) == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)atoi(spec + 4));
    if (strncmp(spec, "ec:", 3) == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "EC", spec + 3);
    return NULL;
}

CG_FN int cg_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* "a.test,b.test" -> "DNS:a.test,DNS:b.test" */
CG_FN int cg_san_ext(X509 *x, const char *sans)
{
    char buf[2048] = "";
    size_t len = 0;
    const char *p = sans;
    while (*p) {
        size_t n = strcspn(p, ",");
        int w = snprintf(buf + len, sizeof(buf) - len, "%sDNS:%.*s", len ? "," : "", (int)n, p);
        if (w < 0 || (size_t)w >= sizeof(buf) - len)
            return -1;
        len += (size_t)w;
        p += n;
        if (*p == ',')
            p++;
    }
    return cg_add_ext(x, NULL, NID_subject_alt_name, buf);
}

/* Signs a new certificate for key. issuer NULL: self-signed. */
CG_FN X509 *cg_cert(EVP_PKEY *key, const char *cn, const char *sans, long nb, long na, bool ca,
                    X509 *issuer, EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int ok = x && X509_set_version(x, 2) == 1 && RAND_bytes(serial, sizeof(serial)) == 1;
    if (ok) {
        serial[0] &= 0x7f;
        bn = BN_bin2bn(serial, sizeof(serial), NULL);
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    }
    BN_free(bn);
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), nb) &&
         X509_gmtime_adj(X509_getm_notAfter(x), na);
    X509_NAME *name = X509_get_subject_name(x);
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
                                          -1, 0) == 1;
    ok = ok && X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1;
    ok = ok && X509_set_pubkey(x, key) == 1;
    ok = ok &&
         cg_add_ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE") == 0;
    ok = ok && cg_add_ext(x, issuer, NID_key_usage,
                          ca ? "critical,keyCertSign,cRLSign"
                             : "critical,digitalSignature,keyEncipherment") == 0;
    ok = ok && cg_add_ext(x, issuer, NID_subject_key_identifier, "hash") == 0;
    if (issuer)
        ok = ok && cg_add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") == 0;
    if (!ca)
        ok = ok && cg_add_ext(x, issuer, NID_ext_key_usage, "serverAuth") == 0;
    if (sans && *sans)
        ok = ok && cg_san_ext(x, sans) == 0;
    ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* parent NULL: a self-signed root. Returns 0 or -1. */
CG_FN int cg_ca_new(struct cg_ca *ca, const char *cn, const char *keyspec,
                    const struct cg_ca *parent)
{
    ca->key = cg_key(keyspec);
    ca->cert = ca->key ? cg_cert(ca->key, cn, NULL, -86400, 10L * 365 * 86400, true,
                                 parent ? parent->cert : NULL, parent ? parent->key : NULL)
                       : NULL;
    return ca->cert ? 0 : -1;
}

CG_FN void cg_ca_free(struct cg_ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    ca->cert = NULL;
    ca->key = NULL;
}

/* issuer NULL: a self-signed leaf. Returns 0 or -1. */
CG_FN int cg_leaf_new(struct cg_leaf *l, const struct cg_opts *o, const struct cg_ca *issuer)
{
    char cn[256];
    if (o->cn) {
        snprintf(cn, sizeof(cn), "%s", o->cn);
    } else if (o->sans && *o->sans) {
        snprintf(cn, sizeof(cn), "%.*s", (int)strcspn(o->sans, ","), o->sans);
    } else {
        snprintf(cn, sizeof(cn), "localhost");
    }
    long nb = o->not_before, na = o->not_after;
    if (nb == 0 && na == 0) {
        nb = -3600;
        na = 90L * 86400;
    }
    if (o->pkey) {
        l->key = o->pkey;
        EVP_PKEY_up_ref(l->key);
    } else {
        l->key = cg_key(o->key ? o->key : "ec:P-256");
    }
    l->cert = l->key ? cg_cert(l->key, cn, o->sans, nb, na, false, issuer ? issuer->cert : NULL,
                               issuer ? issuer->key : NULL)
                     : NULL;
    return l->cert ? 0 : -1;
}

CG_FN void cg_leaf_free(struct cg_leaf *l)
{
    X509_free(l->cert);
    EVP_PKEY_free(l->key);
    l->cert = NULL;
    l->key = NULL;
}

CG_FN int cg_write_certs(const char *path, X509 *const *certs, size_t n)
{
    FILE *f = fopen(path, "w");
    int ok = f != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = PEM_write_X509(f, certs[i]) == 1;
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

CG_FN int cg_write_key(const char *path, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    int ok = f && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

CG_FN const char *cg_path(const char *dir, const char *name)
{
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
    return b;
}

/* DIR/NAME.crt (leaf then chain) and DIR/NAME.key. */
CG_FN int cg_write_pair(const char *dir, const char *name, const struct cg_leaf *l,
                        const struct cg_ca *const *chain, size_t n_chain)
{
    X509 *certs[8];
    size_t n = 0;
    certs[n++] = l->cert;
    for (size_t i = 0; i < n_chain && n < 8; i++)
        certs[n++] = chain[i]->cert;
    char crt[1024], key[1024];
    snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
    snprintf(key, sizeof(key), "%s/%s.key", dir, name);
    return cg_write_certs(crt, certs, n) == 0 && cg_write_key(key, l->key) == 0 ? 0 : -1;
}

/* One file: key, leaf, chain. */
CG_FN int cg_write_bundle(const char *path, const struct cg_leaf *l,
                          const struct cg_ca *const *chain, size_t n_chain)
{
    FILE *f = fopen(path, "w");
    int ok = f && PEM_write_PrivateKey(f, l->key, NULL, NULL, 0, NULL, NULL) == 1 &&
             PEM_write_X509(f, l->cert) == 1;
    for (size_t i = 0; ok && i < n_chain; i++)
        ok = PEM_write_X509(f, chain[i]->cert) == 1;
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

CG_FN int cg_write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

CG_FN int cg_truncate(const char *path, long keep)
{
    return truncate(path, keep);
}

CG_FN int cg_symlink(const char *target, const char *linkpath)
{
    return symlink(target, linkpath);
}

CG_FN int cg_tmpdir(char *buf, size_t len, const char *tag)
{
    const char *base = getenv("TWOFOLD_TMP");
    if (!base || !*base)
        base = "/tmp";
    mkdir(base, 0700); /* may exist already */
    snprintf(buf, len, "%s/twofold-%s-XXXXXX", base, tag);
    return mkdtemp(buf) ? 0 : -1;
}

CG_FN int cg_rmtree(const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) != 0)
        return -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *dh = opendir(dir);
        struct dirent *e;
        while (dh && (e = readdir(dh)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char sub[4096];
            snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
            cg_rmtree(sub);
        }
        if (dh)
            closedir(dh);
        return rmdir(dir);
    }
    return unlink(dir);
}

CG_FN void cg_fp_hex(X509 *x, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    out[0] = '\0';
    if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32)
        return;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

#ifdef TWOFOLD_CS_H
CG_FN struct cs_site_conf *cg_site_add(struct cs_conf *conf, const char *name)
{
    struct cs_site_conf *v = realloc(conf->sites, (conf->n_sites + 1) * sizeof(*v));
    if (!v)
        abort();
    conf->sites = v;
    struct cs_site_conf *sc = &v[conf->n_sites++];
    memset(sc, 0, sizeof(*sc));
    sc->name = strdup(name);
    return sc;
}

CG_FN void cg_strv_push(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv)
        abort();
    nv[(*n)++] = strdup(s);
    *v = nv;
}

CG_FN void cg_site_cert(struct cs_site_conf *sc, const char *cert, const char *key)
{
    struct cs_cert_source *v = realloc(sc->certs, (sc->n_certs + 1) * sizeof(*v));
    if (!v)
        abort();
    sc->certs = v;
    v[sc->n_certs].cert = strdup(cert);
    v[sc->n_certs].key = key ? strdup(key) : NULL;
    v[sc->n_certs].line = 0;
    sc->n_certs++;
}

CG_FN void cg_site_name(struct cs_site_conf *sc, const char *name)
{
    cg_strv_push(&sc->names, &sc->n_names, name);
}

CG_FN void cg_site_dir(struct cs_site_conf *sc, const char *dir)
{
    cg_strv_push(&sc->cert_dirs, &sc->n_cert_dirs, dir);
}
#endif

#endif
