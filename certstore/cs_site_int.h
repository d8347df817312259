/* certstore internal (module site, cs_site.c): loading one site and classifying
 * what was refused. */
#ifndef TWOFOLD_CS_SITE_INT_H
#define TWOFOLD_CS_SITE_INT_H

#include "cs.h"

#include <openssl/x509_vfy.h>

/* Loads certificates for one build: reuse from a previous snapshot's sites, the CA bundle. */
struct cs_loader {
    const struct cs_conf *conf;
    const struct cs_site *reuse; /* sites whose certificates may be reused, or NULL */
    size_t n_reuse;
    X509_STORE *store; /* ca_bundle, or NULL */
    struct cs_diag *d;
};

/* reuse[0..n_reuse): sites of a snapshot whose contexts were built the way conf builds
 * them (cs_snapshot_reusable), or NULL. Returns 0, or negative when the CA bundle cannot be
 * loaded (reported). */
int cs_loader_init(struct cs_loader *l, const struct cs_conf *conf, const struct cs_site *reuse,
                   size_t n_reuse, struct cs_diag *d);
void cs_loader_close(struct cs_loader *l);

/* How loading a site's configured certificates went, for the reload's per-site decision. */
enum cs_load_result {
    CS_LOAD_OK = 0,
    CS_LOAD_PENDING, /* looks half-written: key/cert mismatch, unreadable PEM, key missing */
    CS_LOAD_FAILED   /* any other refused certificate or unreadable directory */
};

struct cs_site_load {
    enum cs_load_result result; /* FAILED wins over PENDING */
    size_t n_failed;            /* sources refused (skipped directory files not counted) */
    bool dir_failed;            /* a cert_dir could not be scanned */
    unsigned missing;           /* CS_REQUIRE_* bits required but not usable */
    char why[384];              /* the deciding failure: "a-rsa.crt: reason" */
};

/* What a refused source means for a reload. */

/* Records a refused source in res with its reason ("FILE: why"). */
void cs_load_fail(struct cs_site_load *res, enum cs_load_result r, const char *file,
                  const char *why);
/* Classify the failure whose findings start at d->items[first]: a read (a key file missing
 * next to an existing certificate is PENDING, a missing certificate FAILED), a parse
 * (PENDING: truncated or unreadable PEM), a validation (PENDING when the key does not match
 * the certificate, else FAILED with the first error finding). */
void cs_load_fail_read(struct cs_site_load *res, const struct cs_diag *d, size_t first,
                       const char *cert, const char *key);
void cs_load_fail_parse(struct cs_site_load *res, const struct cs_diag *d, size_t first,
                        const char *cert);
void cs_load_fail_invalid(struct cs_site_load *res, const struct cs_cert *c,
                          const struct cs_diag *d, size_t first);
/* require = rsa ecdsa: a CS_ERROR finding per required key type without a usable
 * certificate in site; sets res->missing (and res->why when nothing else failed). */
void cs_site_check_require(struct cs_site *site, const struct cs_site_conf *sc, struct cs_diag *d,
                           struct cs_site_load *res);
/* The first CS_ERROR finding at or after index first, or NULL. */
const struct cs_diag_item *cs_diag_first_error(const struct cs_diag *d, size_t first);

/* Loads sc into the zeroed *site: name, tag, prefer, every usable certificate in preference
 * order, names. Every finding goes to l->d (also the require check). Returns 0, negative
 * only when out of memory. */
int cs_site_load(struct cs_loader *l, const struct cs_site_conf *sc, struct cs_site *site,
                 struct cs_site_load *res);
/* Makes site hold exactly certs[0..n) (referenced here, order kept) and recomputes its
 * names from sc. Returns 0 or negative (out of memory). */
int cs_site_set_certs(struct cs_site *site, const struct cs_site_conf *sc,
                      struct cs_cert *const *certs, size_t n);
/* Deep copy: name, names; certificates referenced. Returns 0 or negative. */
int cs_site_copy(struct cs_site *dst, const struct cs_site *src);
void cs_site_clear(struct cs_site *site); /* frees fields, releases certificates */

/* The last path component. */
const char *cs_basename(const char *path);
/* How reload messages name a certificate or key file: the shortest tail of path that
 * tells it from its peers, pointing into path. Usually the file name ("a-rsa.crt"); for a
 * name every lineage or secret shares, from the lineage or secret directory on:
 * "live/NAME/fullchain.pem" (certbot), "site-a/tls.crt", "mnt/..data/tls.crt"
 * (Kubernetes). */
const char *cs_cert_name(const char *path);

#endif
