/* certstore internal (module guard, cs_guard.c): the compatibility guard. */
#ifndef TWOFOLD_CS_GUARD_INT_H
#define TWOFOLD_CS_GUARD_INT_H

#include "cs.h"

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
 * cs__coverage_clients_new. live_row: the live set's outcomes measured before (same policy,
 * same site), or NULL to run them. Returns 0, negative when the handshakes cannot be set up
 * (reported; out->loss is then true, so a reload keeps the live set). */
int cs__guard_check(const struct cs_conf *conf, const struct cs_site *live,
                    const struct cs_site *cand, bool names_configured, SSL_CTX *const *clients,
                    const unsigned char *live_row, struct cs_diag *d, struct cs_guard *out);
void cs__guard_clear(struct cs_guard *g);

#endif
