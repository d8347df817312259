/* certstore internal (module cert, cs_cert.c): reading, parsing and contexts of one
 * keypair. */
#ifndef TWOFOLD_CS_CERT_INT_H
#define TWOFOLD_CS_CERT_INT_H

#include "cs.h"

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
int cs__source_read(struct cs_source_data *sd, const char *site, struct cs_diag *d);
void cs__source_clear(struct cs_source_data *sd);

/* Parses a read source into a new cs_cert (refs 1, no ctx yet). key_optional: a file with
 * no key is reported as CS_NOTICE and skipped (directory scans) rather than CS_ERROR.
 * Returns 0, 1 when skipped without error, negative on error (reported in d). */
int cs__cert_parse(const struct cs_source_data *sd, const char *site, bool key_optional,
                   struct cs_diag *d, struct cs_cert **out);

/* Applies the policy (versions, ciphers, suites, groups, options, tickets) to ctx and
 * then conf->ctx_setup. Every failure is a CS_ERROR naming the policy key. */
int cs__ctx_apply_policy(SSL_CTX *ctx, const struct cs_conf *conf, struct cs_diag *d);
/* Creates c->ctx holding exactly c's leaf, chain and key. */
int cs__cert_make_ctx(struct cs_cert *c, const struct cs_conf *conf, const char *site,
                      struct cs_diag *d);

/* Lower-cases an ASCII host name in place. */
void cs__lower(char *s);

#endif
