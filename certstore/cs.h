/* certstore: certificates only. Depends on OpenSSL alone: no libuv, no sockets.
 *
 * Flow: a cs_conf (built by the proxy's config layer) -> cs_snapshot_build() loads,
 * validates and indexes every certificate, creating one server SSL_CTX per certificate
 * and one base SSL_CTX per snapshot whose ClientHello callback picks the certificate
 * with cs_select() and switches the SSL to it. Snapshots are immutable and refcounted;
 * building may fail, publishing (handing the pointer to a worker) cannot.
 *
 * Thread contract: a built snapshot is read-only and may be used from any thread;
 * cs_snapshot_ref/release are atomic. Everything else is single-threaded per object.
 */
#ifndef TWOFOLD_CS_H
#define TWOFOLD_CS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>

/* ---- diagnostics: loaders collect every problem rather than stop at the first ---- */

enum cs_level { CS_NOTICE = 0, CS_WARNING = 1, CS_ERROR = 2 };

struct cs_diag_item {
    enum cs_level level;
    char *site; /* site name or NULL */
    char *file; /* file path or NULL */
    char *msg;  /* one line, no trailing newline */
};

struct cs_diag {
    struct cs_diag_item *items;
    size_t n, cap;
};

void cs_diag_init(struct cs_diag *d);
void cs_diag_free(struct cs_diag *d);
void cs_diag_add(struct cs_diag *d, enum cs_level level, const char *site, const char *file,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Appends the OpenSSL error queue (and clears it) to the last item's message. */
void cs_diag_add_openssl(struct cs_diag *d);
size_t cs_diag_count(const struct cs_diag *d, enum cs_level at_least);
const char *cs_level_name(enum cs_level level);
/* One line per finding: "LEVEL: site NAME: FILE: message". */
void cs_diag_print(FILE *f, const struct cs_diag *d);

/* ---- configuration handed in by the proxy ---- */

enum cs_key_type { CS_KEY_NONE = 0, CS_KEY_RSA = 1, CS_KEY_ECDSA = 2 };
enum cs_prefer { CS_PREFER_ECDSA = 0, CS_PREFER_RSA = 1 };
/* What a reload does when a site's new certificates would lose coverage (a key type, a
 * name, a client profile that can handshake now): refuse it (default) or apply it with a
 * warning. */
enum cs_loss_policy { CS_LOSS_REFUSE = 0, CS_LOSS_WARN = 1 };
#define CS_REQUIRE_RSA   (1u << CS_KEY_RSA)
#define CS_REQUIRE_ECDSA (1u << CS_KEY_ECDSA)

/* TLS policy applied to every context a snapshot creates. Strings use OpenSSL syntax;
 * NULL means twofold's default (see cs_policy_defaults). */
struct cs_policy {
    int min_version;    /* TLS1_2_VERSION by default */
    int max_version;    /* TLS1_3_VERSION by default */
    char *ciphers;      /* TLS <= 1.2 cipher list */
    char *ciphersuites; /* TLS 1.3 suites */
    char *groups;       /* supported groups, e.g. "X25519:P-256:P-384" */
    unsigned tickets;   /* TLS 1.3 tickets per full handshake (default 1) */
};

struct cs_cert_source {
    char *cert; /* PEM file with the leaf first, then its chain */
    char *key;  /* PEM key file; NULL: the key is in the cert file (a bundle) */
    int line;   /* config line, 0 when not from a config file */
};

struct cs_site_conf {
    char *name;   /* [site NAME] */
    char **names; /* configured host names; empty: taken from the certificates' SANs */
    size_t n_names;
    struct cs_cert_source *certs;
    size_t n_certs;
    char **cert_dirs;
    size_t n_cert_dirs;
    enum cs_prefer prefer;
    unsigned require; /* CS_REQUIRE_* bits; unmet -> CS_ERROR */
    /* the site's on_coverage_loss, else the global default */
    enum cs_loss_policy on_coverage_loss;
    /* client profile names whose failure twofold check accepts (accept_profiles_lost) */
    char **accept_lost;
    size_t n_accept_lost;
    int line; /* config line of the section header, 0 if none */
    int tag;  /* opaque to certstore: the proxy stores its upstream index here */
};

/* Called on every SSL_CTX a snapshot creates (base and per certificate) after certstore's
 * own setup, so the proxy can add ALPN, session-ticket keys, info callbacks and options.
 * Runs on the thread that builds the snapshot. Returns 0 or a negative error. */
typedef int (*cs_ctx_setup_cb)(SSL_CTX *ctx, void *arg);

struct cs_conf {
    struct cs_site_conf *sites;
    size_t n_sites;
    char *default_site; /* a site name or a host name; NULL: the first site */
    bool strict_sni;    /* unknown or missing SNI -> unrecognized_name alert */
    char *ca_bundle;    /* optional: chains must verify to it */
    unsigned warn_days; /* expiry warning horizon, default 14 */
    struct cs_policy policy;
    cs_ctx_setup_cb ctx_setup;
    void *ctx_setup_arg;
    time_t now; /* 0: time(NULL); tests pin the clock */
};

void cs_conf_init(struct cs_conf *conf);  /* zero + defaults */
void cs_conf_clear(struct cs_conf *conf); /* frees every owned string and array */

/* ---- certificates, sites, snapshot ---- */

/* One keypair with its chain and its own server context. Immutable once built.
 * Refcounted so that a reload can reuse unchanged certificates in a new snapshot. */
struct cs_cert {
    char *cert_path;
    char *key_path; /* == cert_path for bundles */
    enum cs_key_type type;
    int bits;         /* RSA modulus bits, EC field bits */
    int curve_nid;    /* NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1; 0 for RSA */
    char **dns_names; /* lower-cased DNS SANs (CN when there is no SAN) */
    size_t n_dns_names;
    unsigned char sha256[32];
    char fp_hex[65]; /* lower-case hex of sha256 of the leaf DER */
    char *subject, *issuer, *serial_hex;
    time_t not_before, not_after;
    X509 *leaf;
    STACK_OF(X509) * chain; /* intermediates, in file order, leaf excluded */
    EVP_PKEY *key;
    SSL_CTX *ctx; /* server context holding exactly this chain and key */
    /* file identity for reuse across reloads */
    uint64_t cert_dev, cert_ino, key_dev, key_ino;
    unsigned char content_sha256[32]; /* hash of cert file bytes + key file bytes */
    _Atomic int refs;                 /* cs_cert_ref/cs_cert_release; the last release frees */
};

void cs_cert_ref(struct cs_cert *c);
void cs_cert_release(struct cs_cert *c); /* NULL is a no-op */

/* Human name of a certificate's key: "RSA-2048", "ECDSA P-256". */
const char *cs_cert_describe(const struct cs_cert *c, char *buf, size_t len);
const char *cs_key_type_name(enum cs_key_type t); /* "RSA", "ECDSA", "none" */
const char *cs_curve_name(int nid);               /* "P-256", "P-384", "P-521" or "?" */

struct cs_site {
    char *name;
    int tag;
    enum cs_prefer prefer;
    struct cs_cert **certs; /* in preference order (see cs_select) */
    size_t n_certs;
    char **names; /* every host name this site answers (lower-cased) */
    size_t n_names;
};

/* What one host name (or the default) resolves to: the site, and the site's certificates
 * that cover this name, in preference order. */
struct cs_entry {
    const struct cs_site *site;
    struct cs_cert **certs;
    size_t n_certs;
};

struct cs_snapshot; /* opaque */

/* Builds a snapshot. prev may be NULL; when given, unchanged certificates (same file
 * identity and content hash) are reused from it. Every finding goes into diag.
 * Returns 0 and *out on success (warnings allowed), negative when any error-level finding
 * makes the snapshot unusable (no usable certificate for a configured site, etc). */
int cs_snapshot_build(const struct cs_conf *conf, const struct cs_snapshot *prev,
                      struct cs_diag *diag, struct cs_snapshot **out);
struct cs_snapshot *cs_snapshot_ref(struct cs_snapshot *s);
void cs_snapshot_release(struct cs_snapshot *s); /* NULL is a no-op */

/* ---- hot reload: per-site atomicity, the compatibility guard, the report ---- */

enum cs_site_status {
    CS_SITE_UNCHANGED, /* the same certificates (same cs_cert pointers) */
    CS_SITE_UPDATED,   /* new certificates passed validation and the guard: applied */
    CS_SITE_ADDED,     /* a site the previous snapshot did not have */
    CS_SITE_REMOVED,   /* gone from the configuration (not a coverage loss) */
    CS_SITE_KEPT,      /* new certificates failed validation: previous kept */
    CS_SITE_PENDING,   /* looks half-written (key/cert mismatch, truncated PEM, missing
                        * key): previous kept, retry */
    CS_SITE_REFUSED,   /* the guard refused: previous kept */
    CS_SITE_WARNED,    /* coverage loss allowed by on_coverage_loss = warn: applied */
    CS_SITE_FAILED     /* no usable certificate and no previous one */
};

struct cs_site_report {
    char *site;
    enum cs_site_status status;
    char *diff;           /* one readable line, "" when unchanged */
    char **profiles_lost; /* REFUSED / WARNED: profiles that handshake now and would not */
    size_t n_profiles_lost;
};

/* Owned by the caller; free with cs_reload_report_free. n_updated counts UPDATED, ADDED
 * and WARNED (every site whose new certificates were applied). */
struct cs_reload_report {
    struct cs_site_report *sites; /* configured sites in order, then REMOVED ones */
    size_t n;
    size_t n_refused, n_kept, n_pending, n_failed, n_updated;
    /* the build serves exactly what prev serves (every site the same certificates, names
     * and settings): *out is prev itself, with its generation; nothing to publish */
    bool unchanged;
};

/* Builds the snapshot a reload publishes. prev is the live snapshot (NULL: behaves like a
 * first build, every site ADDED). Per site: a new certificate set in which any certificate
 * failed (or which misses a required key type) keeps exactly the previous site's
 * certificates (KEPT, or PENDING when it looks half-written); a usable set is compared with
 * the previous one by the compatibility guard (key types, names, client-profile
 * handshakes) and refused unless the site's on_coverage_loss is warn. Findings go to diag,
 * one report entry per site (configured order, then removed sites) into report (always
 * filled, also on failure). Returns 0 and *out, or negative when some site has neither a
 * usable new set nor a previous one, or on a global error (bad policy, CA bundle, no site,
 * bad default_site). When the build would serve exactly what prev serves
 * (report->unchanged), *out is a new reference to prev and no generation is taken.
 * Thread: runs on any one thread; prev is only read (and referenced). */
int cs_snapshot_rebuild(const struct cs_conf *conf, const struct cs_snapshot *prev,
                        struct cs_diag *diag, struct cs_reload_report *report,
                        struct cs_snapshot **out);
void cs_reload_report_free(struct cs_reload_report *r); /* NULL is a no-op */
/* "1 updated, 0 refused, 0 kept, 1 pending, 0 failed": the report's counts as one line,
 * the same words the per-site lines use for each status. */
void cs_reload_report_counts(const struct cs_reload_report *r, char *buf, size_t len);
/* "unchanged", "updated", "added", "removed", "kept", "pending", "refused", "warned",
 * "failed". */
const char *cs_site_status_name(enum cs_site_status s);

uint64_t cs_snapshot_generation(const struct cs_snapshot *s);
size_t cs_snapshot_site_count(const struct cs_snapshot *s);
const struct cs_site *cs_snapshot_site(const struct cs_snapshot *s, size_t i);

/* The context every server SSL of this snapshot is created from (SSL_new). Its
 * ClientHello callback selects and switches to a certificate's context. */
SSL_CTX *cs_snapshot_base_ctx(const struct cs_snapshot *s);

/* Looks a host name up: exact (case-insensitive), then single-label wildcard, then the
 * default entry. sni NULL means the client sent none. *matched is set to true when the
 * name itself matched (not the default). Returns NULL only under strict_sni or with no
 * default. */
const struct cs_entry *cs_snapshot_lookup(const struct cs_snapshot *s, const char *sni,
                                          bool *matched);
bool cs_snapshot_strict_sni(const struct cs_snapshot *s);

/* ---- the ClientHello and the selection ---- */

/* Protocol limits a ClientHello can reach (RFC 8446 4.1.2 and 4.2): lists of up to 2^16-2
 * bytes. The hello keeps no list: each one is reduced while parsing to what selection
 * needs, so no entry is ever dropped however long the list or late the usable entry:
 * - cipher suites: one bit per code point (all 65536), so any suite the server enables,
 *   whatever OpenSSL build, is seen;
 * - signature schemes and groups: one bit per entry of the known tables below (selection
 *   matches nothing else: an unknown scheme or group can never be used);
 * - versions: one bit per SSL 3.0 .. TLS 1.3;
 * plus the number of entries sent (GREASE excluded), for display. Fill a hello by hand
 * with the cs_hello_add_* functions. */
#define CS_HELLO_SUITE_WORDS (65536 / 64)

/* What the hello shows that OpenSSL refuses after the ClientHello callback has run (the
 * checks in tls_early_post_process_client_hello), so that selection can predict OpenSSL's
 * own alert instead of judging certificates. */
enum {
    CS_HELLO_BAD_VERSIONS = 1u << 0, /* supported_versions malformed: protocol_version */
    CS_HELLO_BAD_CIPHERS = 1u << 1,  /* cipher list of odd length: decode_error */
    CS_HELLO_NO_CIPHERS = 1u << 2,   /* empty cipher list: illegal_parameter */
    CS_HELLO_BAD_EXT = 1u << 3,      /* a malformed sigalgs/groups/SNI body: decode_error */
    CS_HELLO_NO_NULL_COMP = 1u << 4, /* compression methods without null: decode_error */
    CS_HELLO_COMP_EXTRA = 1u << 5,   /* more than one method: TLS 1.3's illegal_parameter */
};

struct cs_hello {
    bool has_sni;
    char sni[256];
    uint16_t legacy_version;
    bool has_versions; /* supported_versions sent (even with only unknown values) */
    uint8_t versions;  /* bit v - 0x0300 for each of SSL 3.0 .. TLS 1.3 it lists */
    size_t n_versions; /* entries it lists, GREASE excluded */
    uint64_t ciphers[CS_HELLO_SUITE_WORDS]; /* bit per offered suite (SCSVs included) */
    size_t n_ciphers;                       /* suites sent, GREASE excluded */
    bool has_sigalgs;
    uint32_t sigalgs; /* bit i: cs_sigalg_ids[i] offered */
    size_t n_sigalgs;
    bool has_groups;
    uint32_t groups; /* bit i: cs_group_ids[i] offered */
    size_t n_groups;
    bool has_key_share; /* key_share sent (TLS 1.3 without it needs a HelloRetryRequest) */
    unsigned bad;       /* CS_HELLO_BAD_* */
    bool v2;            /* SSLv2-format hello */
};

/* The signature schemes and groups a hello records, in IANA order. */
extern const uint16_t cs_sigalg_ids[];
extern const size_t cs_n_sigalg_ids;
extern const uint16_t cs_group_ids[];
extern const size_t cs_n_group_ids;

/* Recording (parsers, tests) and reading one value. Counts are the caller's. */
void cs_hello_add_cipher(struct cs_hello *h, uint16_t id);
void cs_hello_add_sigalg(struct cs_hello *h, uint16_t id);
void cs_hello_add_group(struct cs_hello *h, uint16_t id);
void cs_hello_add_version(struct cs_hello *h, uint16_t v);
bool cs_hello_has_cipher(const struct cs_hello *h, uint16_t id);
bool cs_hello_has_sigalg(const struct cs_hello *h, uint16_t id);
bool cs_hello_has_group(const struct cs_hello *h, uint16_t id);
bool cs_hello_has_version(const struct cs_hello *h, uint16_t v);

/* From a live SSL inside the ClientHello callback. Returns 0 or negative. */
int cs_hello_from_ssl(SSL *ssl, struct cs_hello *out);
/* From raw bytes: TLS records (one, or several a large hello is split over) or a bare
 * handshake message holding a ClientHello. Returns 0, or negative with a reason in err. */
int cs_hello_parse(const uint8_t *p, size_t n, struct cs_hello *out, char *err, size_t errlen);

/* Why a handshake failed. Beyond NO_CERT and UNKNOWN_SNI (the callback's own refusals),
 * the reasons name the alert OpenSSL sends when it decides alone (RFC 8446 6.2, RFC 7507):
 * the callback leaves those hellos to OpenSSL (see cs_handshake.c), and whatever fatal alert
 * the server then sends is recorded as the reason. */
enum cs_fail {
    CS_FAIL_NONE = 0,
    CS_FAIL_NO_CERT,           /* no certificate this client can use: handshake_failure */
    CS_FAIL_UNKNOWN_SNI,       /* strict_sni and the name is unknown or missing */
    CS_FAIL_PROTOCOL,          /* any other handshake error */
    CS_FAIL_PROTOCOL_VERSION,  /* no version in common: protocol_version */
    CS_FAIL_FALLBACK,          /* TLS_FALLBACK_SCSV below our maximum: inappropriate_fallback */
    CS_FAIL_DECODE,            /* malformed ClientHello: decode_error */
    CS_FAIL_ILLEGAL_PARAMETER, /* e.g. no cipher suites at all: illegal_parameter */
    CS_FAIL_MISSING_EXTENSION, /* TLS 1.3 without signature_algorithms/groups/key_share */
    CS_FAIL__COUNT
};
/* "no_usable_cert", "unknown_sni", "protocol", "protocol_version", "inappropriate_fallback",
 * "decode_error", "illegal_parameter", "missing_extension". */
const char *cs_fail_name(enum cs_fail f);
/* The TLS alert that goes with a reason (SSL_AD_*), and the reason an alert stands for:
 * protocol_version .. missing_extension, else CS_FAIL_PROTOCOL (never NO_CERT or
 * UNKNOWN_SNI, which only the callback's own judgement gives). */
int cs_fail_alert(enum cs_fail f);
enum cs_fail cs_fail_from_alert(int alert);
/* "TLSv1.2", "TLSv1.3" (OpenSSL's spelling), "none" for 0. */
const char *cs_version_name(int version);
/* IANA name of a signature scheme, or "0x...." written into buf. */
const char *cs_sigalg_name(uint16_t id, char *buf, size_t len);

#define CS_MAX_CANDIDATES 16

struct cs_verdict {
    const struct cs_cert *cert;
    bool usable;
    char reason[192]; /* why usable or not, one line */
};

struct cs_choice {
    const struct cs_cert *cert; /* NULL when fail != CS_FAIL_NONE */
    enum cs_fail fail;
    int version; /* highest version both sides support, e.g. TLS1_3_VERSION */
    char reason[256];
    struct cs_verdict verdicts[CS_MAX_CANDIDATES];
    size_t n_verdicts;
};

/* What the server enables, precomputed once per snapshot from its base context so the
 * selection never walks OpenSSL's cipher lists per handshake. IANA code points. */
struct cs_suites {
    int min_version, max_version;
    uint16_t tls12_ecdsa[64]; /* enabled TLS <= 1.2 suites authenticated by ECDSA */
    size_t n_tls12_ecdsa;
    uint16_t tls12_rsa[64]; /* enabled TLS <= 1.2 suites authenticated by RSA */
    size_t n_tls12_rsa;
    uint16_t tls13[16]; /* enabled TLS 1.3 suites */
    size_t n_tls13;
    uint16_t groups[32]; /* server's supported groups */
    size_t n_groups;
    /* Bit i set: tls12_rsa[i] uses ECDHE key exchange, so it also needs a shared group
     * (precomputed: the selection runs per handshake). */
    uint64_t tls12_rsa_ecdhe;
    /* Bit i set: tls12_ecdsa[i] / tls12_rsa[i] exists only from TLS 1.2 on (GCM, SHA-256
     * and ChaCha suites), so a TLS 1.0/1.1 handshake cannot use it. */
    uint64_t tls12_ecdsa_only12, tls12_rsa_only12;
    /* SSL_CTX_get_security_level: at 1 and above OpenSSL 3 refuses SHA-1 signatures, so a
     * TLS 1.2 client offering only SHA-1 sigalgs (or none: RFC 5246's default is SHA-1)
     * gets no certificate. */
    int security_level;
};
int cs_suites_compute(SSL_CTX *ctx, struct cs_suites *out);
/* OpenSSL 3.0 cannot report a context's own groups, so cs_suites_compute assumes OpenSSL's
 * default list; the snapshot must then call this with the effective policy groups string
 * ("X25519:P-256:P-384"). Returns 0, or -1 when a name is unknown (it is skipped). */
int cs_suites_set_groups(struct cs_suites *out, const char *groups);
const struct cs_suites *cs_snapshot_suites(const struct cs_snapshot *s);

/* The one selection function: pure, used by the handshake, check, explain and tests.
 * suites tells which suites, groups and versions the server enables; entry NULL means an
 * unknown name under strict SNI. Returns 0 when a certificate was chosen, negative when
 * none is usable (out->fail and out->reason say why): CS_FAIL_NO_CERT when no certificate
 * fits, CS_FAIL_UNKNOWN_SNI, or the reason (cs_fail_alert) OpenSSL refuses the hello for
 * whatever certificates exist, checked first as OpenSSL does. */
int cs_select(const struct cs_entry *entry, const struct cs_hello *hello,
              const struct cs_suites *suites, struct cs_choice *out);

/* After (or during) a handshake on an SSL created from a snapshot's base context:
 * what the ClientHello callback chose. The pointers live as long as the snapshot. */
const struct cs_cert *cs_ssl_cert(const SSL *ssl);
const struct cs_site *cs_ssl_site(const SSL *ssl);
enum cs_fail cs_ssl_fail(const SSL *ssl);

/* ---- client profiles (certstore/cs_profiles.c: the corpus, with the reason for each) ---- */

struct cs_profile {
    const char *name; /* "tls12-rsa-only", "android-4.4", ... */
    const char *desc; /* which real clients it stands for, and why it is here */
    int min_version, max_version;
    const char *ciphers;      /* TLS <= 1.2 list, OpenSSL syntax; NULL: none offered */
    const char *ciphersuites; /* TLS 1.3 suites; NULL: OpenSSL default */
    const char *sigalgs;      /* NULL: OpenSSL default */
    const char *groups;       /* NULL: OpenSSL default */
    bool sni;                 /* sends SNI */
};

extern const struct cs_profile cs_profiles[];
extern const size_t cs_n_profiles;
const struct cs_profile *cs_profile_find(const char *name);
/* A client context configured as the profile (no verification). Caller frees. */
SSL_CTX *cs_profile_client_ctx(const struct cs_profile *p);
/* The ClientHello this profile sends for sni (NULL: per profile), parsed. */
int cs_profile_hello(const struct cs_profile *p, const char *sni, struct cs_hello *out);

/* ---- coverage check: real in-memory handshakes, site x profile ---- */

struct cs_coverage_cell {
    const struct cs_site *site;
    const struct cs_profile *profile;
    bool ok;
    enum cs_key_type type;
    int bits, curve_nid;
    int version;
    char fp_hex[65];
    char detail[192];     /* e.g. "ECDSA P-256 TLSv1.3" or the failure reason */
    enum cs_fail fail;    /* why the server refused; CS_FAIL_NONE when ok or OpenSSL failed it */
    const char *declared; /* failed and declared by the site's config: the key, else NULL */
};

struct cs_coverage {
    struct cs_coverage_cell *cells; /* n_sites * n_profiles, row-major by site */
    size_t n_sites, n_profiles;
};

/* Runs every site x profile handshake against the snapshot's real contexts. */
int cs_coverage_run(const struct cs_snapshot *s, struct cs_coverage *out);
/* Marks the failed cells whose loss the site's configuration declares (cell->declared)
 * and returns how many failed cells are not declared. Declared are: a profile named in
 * the site's accept_lost, and a profile refused for want of a usable certificate
 * (CS_FAIL_NO_CERT) on a site that serves only the key types its require names, when
 * that is not both: `require = ecdsa` on an ECDSA-only site declares that clients which
 * need RSA are not served. Sites are matched to conf by name. */
size_t cs_coverage_declare(struct cs_coverage *c, const struct cs_conf *conf);
void cs_coverage_free(struct cs_coverage *c);
/* Text table and JSON ({"sites":[...],"findings":[...],"ok":bool}). ok: no error-level
 * finding and no failed handshake that is not declared. */
void cs_coverage_print_text(FILE *f, const struct cs_coverage *c, const struct cs_diag *d);
void cs_coverage_print_json(FILE *f, const struct cs_coverage *c, const struct cs_diag *d);

/* The explain view: chosen certificate and every candidate's verdict. */
void cs_explain_print(FILE *f, const struct cs_snapshot *s, const struct cs_hello *h);

/* ---- handshake counters (one per worker; merged by the admin/metrics code) ---- */

struct cs_hs_count {
    char site[64];
    enum cs_key_type type;
    int bits, curve_nid;
    int version;
    uint64_t n;
};

struct cs_counters {
    struct cs_hs_count *items;
    size_t n, cap;
    uint64_t failures[CS_FAIL__COUNT];
};

void cs_counters_init(struct cs_counters *c);
void cs_counters_free(struct cs_counters *c);
/* After a completed handshake on ssl: counts site, key type, curve/bits and version. */
void cs_counters_note_handshake(struct cs_counters *c, const SSL *ssl);
void cs_counters_note_failure(struct cs_counters *c, enum cs_fail reason);
void cs_counters_merge(struct cs_counters *dst, const struct cs_counters *src);

#endif
