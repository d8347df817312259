/* certstore internal (module coverage, cs_coverage.c): the handshake driver, for
 * one site. */
#ifndef TWOFOLD_CS_COVERAGE_INT_H
#define TWOFOLD_CS_COVERAGE_INT_H

#include "cs.h"

/* One client context per profile (cs_n_profiles entries; an entry may be NULL when that
 * profile cannot be built: its cells fail). Returns NULL when out of memory. */
SSL_CTX **cs__coverage_clients_new(void);
void cs__coverage_clients_free(SSL_CTX **clients); /* NULL is a no-op */
/* Runs every profile against site i of s: row[p] for cs_profiles[p]. */
void cs__coverage_run_site(const struct cs_snapshot *s, size_t i, SSL_CTX *const *clients,
                           struct cs_coverage_cell *row);

#endif
