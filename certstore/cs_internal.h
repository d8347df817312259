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

/* ---- cs_site.c: loading sites ---- */

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

/* ---- cs_snapshot.c ---- */

/* Two steps of a build: begin creates the snapshot, its policy and base context (NULL on
 * error, reported); finish takes ownership of sites[0..n) (also on failure) and builds the
 * index and, when numbered, the next generation (throw-away snapshots stay at 0). After a
 * failed finish, release the snapshot. */
struct cs_snapshot *cs_snapshot_begin(const struct cs_conf *conf, struct cs_diag *d);
int cs_snapshot_finish(struct cs_snapshot *s, const struct cs_conf *conf, struct cs_site *sites,
                       size_t n, bool numbered, struct cs_diag *d);
const struct cs_site *cs_snapshot_find_site(const struct cs_snapshot *s, const char *name);
/* True when prev (may be NULL) built its certificates' contexts the way conf would: only
 * then may a build reuse prev's certificates and its measured rows. */
bool cs_snapshot_reusable(const struct cs_snapshot *prev, const struct cs_conf *conf);

/* What the guard measured for each site of a snapshot as built: per profile (corpus
 * order) CS_ROW_OK or CS_ROW_FAIL; a reload with the same policy reuses it as the live
 * side instead of running those handshakes again. Set only before the snapshot is shared. */
enum { CS_ROW_UNKNOWN = 0, CS_ROW_OK = 1, CS_ROW_FAIL = 2 };
/* NULL when unknown. */
const unsigned char *cs_snapshot_row(const struct cs_snapshot *s, size_t i);
/* Copies row (cs_n_profiles entries) for site i. Returns 0 or negative (out of memory). */
int cs_snapshot_set_row(struct cs_snapshot *s, size_t i, const unsigned char *row);

/* ---- cs_coverage.c: the handshake driver, for one site ---- */

/* One client context per profile (cs_n_profiles entries; an entry may be NULL when that
 * profile cannot be built: its cells fail). Returns NULL when out of memory. */
SSL_CTX **cs_coverage_clients_new(void);
void cs_coverage_clients_free(SSL_CTX **clients); /* NULL is a no-op */
/* Runs every profile against site i of s: row[p] for cs_profiles[p]. */
void cs_coverage_run_site(const struct cs_snapshot *s, size_t i, SSL_CTX *const *clients,
                          struct cs_coverage_cell *row);

/* ---- cs_guard.c: the compatibility guard ---- */

/* What the guard found comparing a site's live certificates with a candidate set. */
struct cs_guard {
    bool loss;          /* something served now would be lost: refuse unless warn */
    char reasons[1024]; /* "RSA would be removed (...); name x would no longer be covered" */
    const char **profiles_lost; /* cs_profiles[].name (static), in corpus order */
    size_t n_profiles_lost;
    char notes[768]; /* (d) changes that only warn: "RSA key size 2048 -> 4096 bits" */
    unsigned char *live_row, *cand_row; /* (c) per profile, CS_ROW_*; NULL when not run */
};

/* Compares live and cand (both sites of the same name): (a) key types lost, (b) names
 * covered now and no longer (names the configuration no longer lists are skipped when
 * names_configured), (c) real profile handshakes against one-site snapshots of each set,
 * (d) key size, curve or issuer changes as CS_WARNING findings. clients from
 * cs_coverage_clients_new. live_row: the live set's outcomes measured before (same policy,
 * same site), or NULL to run them. Returns 0, negative when the handshakes cannot be set up
 * (reported; out->loss is then true, so a reload keeps the live set). */
int cs_guard_check(const struct cs_conf *conf, const struct cs_site *live,
                   const struct cs_site *cand, bool names_configured, SSL_CTX *const *clients,
                   const unsigned char *live_row, struct cs_diag *d, struct cs_guard *out);
void cs_guard_clear(struct cs_guard *g);

/* The last path component. */
const char *cs_basename(const char *path);
/* How reload messages name a certificate or key file: the shortest tail of path that
 * tells it from its peers, pointing into path. Usually the file name ("a-rsa.crt"); for a
 * name every lineage or secret shares, from the lineage or secret directory on:
 * "live/NAME/fullchain.pem" (certbot), "site-a/tls.crt", "mnt/..data/tls.crt"
 * (Kubernetes). */
const char *cs_cert_name(const char *path);

#endif
