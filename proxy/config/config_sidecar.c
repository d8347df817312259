/* Sidecar mode: the flags become the same raw records a file would give (one listener,
 * one upstream with one server, one site "default" whose names come from the
 * certificates in --cert-dir) and go through the same conversion and checks. Messages
 * name the flag: "--listen: ...". Relative paths stay relative to the working directory.
 * Unlike a config file, the admin endpoint is off unless --admin is given. */
#include "config_int.h"

#include <string.h>

struct flag_rec {
    const char *flag, *section, *key, *value;
    bool required;
};

int px_config_from_sidecar(const struct px_sidecar_args *a, struct px_config **out,
                           struct px_config_errors *errs)
{
    const struct flag_rec recs[] = {
        {"--listen", "listener default", "bind", a->listen, true},
        {"--upstream", "upstream default", "server", a->upstream, true},
        {"--cert-dir", "site default", "cert_dir", a->cert_dir, true},
        {"--default-name", "proxy", "default_site", a->default_name, false},
        /* no admin endpoint unless asked for: several sidecars may share a host */
        {"--admin", "proxy", "admin", a->admin ? a->admin : "off", false},
        {"--workers", "proxy", "workers", a->workers, false},
        {"--alpn", "listener default", "alpn", a->alpn, false},
    };
    struct px_loader L = {.errs = errs};
    size_t before = errs->n;
    *out = NULL;
    const char *headers[] = {"proxy", "listener default", "upstream default", "site default"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        px_loader_add(&L, headers[i], NULL, NULL, 0, NULL);
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        const struct flag_rec *f = &recs[i];
        if (f->value || f->required) /* "" for a missing required flag: reported in order */
            px_loader_add(&L, f->section, f->key, f->value ? f->value : "", 0, f->flag);
    }
    if (!errs->oom)
        px_loader_run(&L);
    return px_loader_finish(&L, before, out);
}
