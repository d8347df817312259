/* certstore internal: the snapshot object, shared by the files of the snapshot module
 * (cs_snapshot.c lifecycle, cs_index.c SNI index, cs_handshake.c ClientHello callback). */
#ifndef TWOFOLD_CS_SNAPSHOT_INT_H
#define TWOFOLD_CS_SNAPSHOT_INT_H

#include "cs.h"

struct name_ix {
    const char *name; /* exact name, or the suffix after "*." for wildcards */
    size_t entry;
};

/* What the ClientHello callback records on an SSL: one per (site, certificate). */
struct pick {
    const struct cs_site *site;
    const struct cs_cert *cert;
};

struct cs_snapshot {
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
    unsigned char *rows; /* n_sites x cs_n_profiles CS_ROW_* (cs_snapshot_set_row), or NULL */
};

/* cs_index.c: builds the entries, both name indexes and the default entry from s->sites.
 * Returns 0 or negative (out of memory, or a default_site that names nothing: reported). */
int cs_index_build(struct cs_snapshot *s, const struct cs_conf *conf, struct cs_diag *d);
/* cs_handshake.c: fills s->picks and s->pick_off from s->sites. Returns 0 or negative. */
int cs_handshake_picks(struct cs_snapshot *s);
/* cs_handshake.c: installs the ClientHello, info and servername callbacks on base; the
 * ClientHello callback's argument is s. */
void cs_handshake_install(SSL_CTX *base, struct cs_snapshot *s);

#endif
