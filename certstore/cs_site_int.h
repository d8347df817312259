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
 * them (cs__snapshot_reusable), or NULL. Returns 0, or negative when the CA bundle cannot be
 * loaded (reported). */
int cs__loader_init(struct cs_loader *l, const struct cs_conf *conf, const struct cs_site *reuse,
                    size_t n_reuse, struct cs_diag *d);
void cs__loader_close(struct cs_loader *l);

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

/* Loads sc into the zeroed *site: name, tag, prefer, every usable certificate in preference
 * order, names. Every finding goes to l->d (also the require check). Returns 0, negative
 * only when out of memory. */
int cs__site_load(struct cs_loader *l, const struct cs_site_conf *sc, struct cs_site *site,
                  struct cs_site_load *res);
/* Makes site hold exactly certs[0..n) (referenced here, order kept) and recomputes its
 * names from sc. Returns 0 or negative (out of memory). */
int cs__site_set_certs(struct cs_site *site, const struct cs_site_conf *sc,
                       struct cs_cert *const *certs, size_t n);
/* Deep copy: name, names; certificates referenced. Returns 0 or negative. */
int cs__site_copy(struct cs_site *dst, const struct cs_site *src);
void cs__site_clear(struct cs_site *site); /* frees fields, releases certificates */

/* How reload messages name a certificate or key file: the shortest tail of path that
 * tells it from its peers, pointing into path. Usually the file name ("a-rsa.crt"); for a
 * name every lineage or secret shares, from the lineage or secret directory on:
 * "live/NAME/fullchain.pem" (certbot), "site-a/tls.crt", "mnt/..data/tls.crt"
 * (Kubernetes). */
const char *cs__cert_name(const char *path);

#endif
