/* certstore private declarations shared between its files. Not for the proxy. */
#ifndef TWOFOLD_CS_INTERNAL_H
#define TWOFOLD_CS_INTERNAL_H

#include "cs.h"

#include <openssl/x509_vfy.h>

/* Largest certificate or key file certstore reads. */
#define CS_FILE_MAX (1024 * 1024)

/* ---- cs_conf.c ---- */

/* Effective policy: conf->policy with every unset field replaced by twofold's default. */
void cs_policy_effective(const struct cs_policy *in, struct cs_policy *out);
/* True when two policies produce the same contexts (strings compared after defaults). */
bool cs_policy_equal(const struct cs_policy *a, const struct cs_policy *b);

/* ---- cs_cert.c ---- */

/* The raw bytes and identity of a cert (and key) file pair, read once so that the
 * content hash and the parsed objects describe the same bytes. */
struct cs_source_data {
    const char *cert_path, *key_path; /* key_path NULL: bundle */
    unsigned char *cert_buf, *key_buf;
    size_t cert_len, key_len;
    uint64_t cert_dev, cert_ino, key_dev, key_ino;
    unsigned char content_sha256[32];
};

/* Reads the files and computes identity and content hash. Problems go to d. */
int cs_source_read(struct cs_source_data *sd, const char *site, struct cs_diag *d);
void cs_source_clear(struct cs_source_data *sd);

/* Parses a read source into a new cs_cert (refs 1, no ctx yet). key_optional: a file with
 * no key is reported as CS_NOTICE and skipped (directory scans) rather than CS_ERROR.
 * Returns 0, 1 when skipped without error, negative on error (reported in d). */
int cs_cert_parse(const struct cs_source_data *sd, const char *site, bool key_optional,
                  struct cs_diag *d, struct cs_cert **out);

/* Applies the policy (versions, ciphers, suites, groups, options, tickets) to ctx and
 * then conf->ctx_setup. Every failure is a CS_ERROR naming the policy key. */
int cs_ctx_apply_policy(SSL_CTX *ctx, const struct cs_conf *conf, struct cs_diag *d);
/* Creates c->ctx holding exactly c's leaf, chain and key. */
int cs_cert_make_ctx(struct cs_cert *c, const struct cs_conf *conf, const char *site,
                     struct cs_diag *d);

/* ---- cs_validate.c ---- */

/* Checks one keypair (key strength, key matches leaf, chain order, optional CA bundle,
 * validity dates, expiry warning). Reports every problem with the file. Returns 0 when
 * the certificate may be used, negative when it is refused. store may be NULL. */
int cs_cert_validate(const struct cs_cert *c, const struct cs_conf *conf, X509_STORE *store,
                     const char *site, struct cs_diag *d);
/* True when a DNS SAN pattern (lower-case, may be "*.x.y") covers host name (lower-case). */
bool cs_name_match(const char *pattern, const char *name);
bool cs_cert_covers(const struct cs_cert *c, const char *name);
/* Checks a site's configured names against its certificates: a name no certificate
 * covers is CS_ERROR, one covered by some of the site's key types only is CS_WARNING.
 * Returns the number of CS_ERROR findings. */
size_t cs_site_check_names(const struct cs_site_conf *sc, struct cs_cert *const *certs, size_t n,
                           struct cs_diag *d);
time_t cs_conf_now(const struct cs_conf *conf);

/* ---- cs_dir.c ---- */

struct cs_src {
    char *cert, *key; /* key NULL: bundle */
};

struct cs_src_list {
    struct cs_src *v;
    size_t n, cap;
};

/* Indexes a certificate directory (basename pairs, .pem bundles, certbot config or live
 * dir, Kubernetes secret mount) into sources, in a deterministic (sorted) order. */
int cs_dir_scan(const char *dir, const char *site, struct cs_diag *d, struct cs_src_list *out);
void cs_src_list_free(struct cs_src_list *l);

/* Lower-cases an ASCII host name in place. */
void cs_lower(char *s);

#endif
