/* certstore internal (module dir, cs_dir.c): certificate directories as lists of
 * sources. */
#ifndef TWOFOLD_CS_DIR_INT_H
#define TWOFOLD_CS_DIR_INT_H

#include "cs.h"

struct cs_src {
    char *cert, *key; /* key NULL: bundle */
};

struct cs_src_list {
    struct cs_src *v;
    size_t n, cap;
};

/* Indexes a certificate directory (basename pairs, .pem bundles, certbot config or live
 * dir, Kubernetes secret mount) into sources, in a deterministic (sorted) order. */
int cs__dir_scan(const char *dir, const char *site, struct cs_diag *d, struct cs_src_list *out);
void cs__src_list_free(struct cs_src_list *l);

#endif
