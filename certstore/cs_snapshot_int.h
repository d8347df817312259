/* certstore internal (module snapshot: cs_snapshot.c lifecycle, cs_index.c SNI index,
 * cs_handshake.c ClientHello callback): what the builders, the guard and coverage use of a
 * snapshot under construction, and the object itself for the module's own files. */
#ifndef TWOFOLD_CS_SNAPSHOT_INT_H
#define TWOFOLD_CS_SNAPSHOT_INT_H

#include "cs.h"

/* Two steps of a build: begin creates the snapshot, its policy and base context (NULL on
 * error, reported); finish takes ownership of sites[0..n) (also on failure) and builds the
 * index and, when numbered, the next generation (throw-away snapshots stay at 0). After a
 * failed finish, release the snapshot. */
struct cs_snapshot *cs__snapshot_begin(const struct cs_conf *conf, struct cs_diag *d);
int cs__snapshot_finish(struct cs_snapshot *s, const struct cs_conf *conf, struct cs_site *sites,
                        size_t n, bool numbered, struct cs_diag *d);
const struct cs_site *cs__snapshot_find_site(const struct cs_snapshot *s, const char *name);
/* True when prev (may be NULL) built its certificates' contexts the way conf would: only
 * then may a build reuse prev's certificates and its measured rows. */
bool cs__snapshot_reusable(const struct cs_snapshot *prev, const struct cs_conf *conf);

/* What the guard measured for each site of a snapshot as built: per profile (corpus
 * order) CS_ROW_OK or CS_ROW_FAIL; a reload with the same policy reuses it as the live
 * side instead of running those handshakes again. Set only before the snapshot is shared. */
enum { CS_ROW_UNKNOWN = 0, CS_ROW_OK = 1, CS_ROW_FAIL = 2 };
/* NULL when unknown. */
const unsigned char *cs__snapshot_row(const struct cs_snapshot *s, size_t i);
/* Copies row (cs_n_profiles entries) for site i. Returns 0 or negative (out of memory). */
int cs__snapshot_set_row(struct cs_snapshot *s, size_t i, const unsigned char *row);

struct name_ix {
    const char *name; /* exact name, or the suffix after "*." for wildcards */
    size_t entry;
};

/* What the ClientHello callback records on an SSL: one per (site, certificate). */
struct pick {
    const struct cs_site *site;
    const struct cs_cert *cert;
};

/* struct cs_snapshot.magic of a live snapshot (cleared when it is freed); checked where a
 * snapshot comes back from a void * (the ClientHello callback's argument). */
#define CS_SNAPSHOT_MAGIC 0x63735370u

/* Immutable once shared: a builder may change it (finish, rows) only while it holds the
 * one reference; after that every field is read-only until the last release frees it. */
struct cs_snapshot {
    unsigned magic; /* CS_SNAPSHOT_MAGIC */
    _Atomic int refs;
    uint64_t generation;
    struct cs_site *sites;
    size_t n_sites;
    struct cs_entry *entries; /* one per indexed name, then the default entry */
    size_t n_entries;
    struct name_ix *exact, *wild;
    size_t n_exact, n_wild;
    const struct cs_entry *def;
    bool strict_sni;
    SSL_CTX *base;
    struct cs_suites suites;
    struct pick *picks;
    size_t *pick_off; /* per site: index of its first pick */
    /* what the certificates' contexts were built with, to decide reuse on reload */
    struct cs_policy policy;
    cs_ctx_setup_cb setup;
    void *setup_arg;
    unsigned char *rows; /* n_sites x cs_n_profiles CS_ROW_* (cs__snapshot_set_row), or NULL */
};

/* cs_index.c: builds the entries, both name indexes and the default entry from s->sites.
 * Returns 0 or negative (out of memory, or a default_site that names nothing: reported). */
int cs__index_build(struct cs_snapshot *s, const struct cs_conf *conf, struct cs_diag *d);
/* cs_handshake.c: fills s->picks and s->pick_off from s->sites. Returns 0 or negative. */
int cs__handshake_picks(struct cs_snapshot *s);
/* cs_handshake.c: installs the ClientHello, info and servername callbacks on base; the
 * ClientHello callback's argument is s. */
void cs__handshake_install(SSL_CTX *base, struct cs_snapshot *s);

#endif
