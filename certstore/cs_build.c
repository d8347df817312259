/* The startup build: every configured site loaded into one new snapshot. Any site without
 * a usable certificate, with an unreadable cert_dir or missing a required key type fails
 * it. A reload builds through cs_snapshot_rebuild (cs_reload.c) instead, which decides per
 * site. */
#include "cs_site_int.h"
#include "cs_snapshot_int.h"

#include <stdlib.h>

/* Loads every site; false when one makes the snapshot unusable (reported). */
static bool load_sites(struct cs_loader *l, const struct cs_conf *conf, struct cs_site *sites)
{
    bool ok = true;
    for (size_t i = 0; i < conf->n_sites; i++) {
        struct cs_site_load res;
        if (cs__site_load(l, &conf->sites[i], &sites[i], &res) != 0)
            return false;
        if (sites[i].n_certs == 0 || res.dir_failed || res.missing)
            ok = false;
    }
    return ok;
}

static void free_sites(struct cs_site *sites, size_t n)
{
    for (size_t i = 0; sites && i < n; i++)
        cs__site_clear(&sites[i]);
    free(sites);
}

int cs_snapshot_build(const struct cs_conf *conf, const struct cs_snapshot *prev,
                      struct cs_diag *diag, struct cs_snapshot **out)
{
    *out = NULL;
    struct cs_snapshot *s = cs__snapshot_begin(conf, diag);
    if (!s)
        return -1;
    struct cs_loader l;
    struct cs_site *sites = NULL;
    bool reuse = cs__snapshot_reusable(prev, conf);
    int rc = cs__loader_init(&l, conf, reuse ? cs_snapshot_site(prev, 0) : NULL,
                             reuse ? cs_snapshot_site_count(prev) : 0, diag);
    if (rc == 0 && conf->n_sites == 0) {
        cs_diag_add(diag, CS_ERROR, NULL, NULL, "no site configured");
        rc = -1;
    }
    if (rc == 0 && !(sites = calloc(conf->n_sites, sizeof(*sites))))
        rc = -1;
    if (rc == 0 && !load_sites(&l, conf, sites))
        rc = -1;
    cs__loader_close(&l);
    if (rc == 0) {
        rc = cs__snapshot_finish(s, conf, sites, conf->n_sites, true, diag);
        sites = NULL; /* the snapshot's from here on, also when finish failed */
    }
    if (rc != 0) {
        if (cs_diag_count(diag, CS_ERROR) == 0)
            cs_diag_add(diag, CS_ERROR, NULL, NULL, "cannot build the snapshot (out of memory)");
        free_sites(sites, conf->n_sites);
        cs_snapshot_release(s);
        return -1;
    }
    *out = s;
    return 0;
}
