/* Routing (px_route.h): a request's authority against the connection's snapshot. */
#include "px_route.h"

#include "cs.h"
#include "px_config.h"
#include "px_conn_internal.h"
#include "px_gen.h"

#include <string.h>

/* The authority without its port; empty when absent or too long. */
static void host_of(const char *h, size_t n, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (!h || n == 0 || n >= cap)
        return;
    if (h[0] == '[') { /* [v6]:port */
        const char *e = memchr(h, ']', n);
        n = e ? (size_t)(e - h) + 1 : n;
    } else {
        const char *colon = memchr(h, ':', n);
        if (colon)
            n = (size_t)(colon - h);
    }
    memcpy(buf, h, n);
    buf[n] = '\0';
}

int px_route(const struct px_conn *c, const char *h, size_t n)
{
    char host[256];
    const struct cs_site *site = NULL;
    host_of(h, n, host, sizeof host);
    if (host[0]) {
        bool matched = false;
        const struct cs_entry *e = cs_snapshot_lookup(c->snap, host, &matched);
        if (e && matched)
            site = e->site;
    }
    if (!site)
        site = cs_ssl_site(c->tls.ssl);
    if (!site || site->tag < 0 || (size_t)site->tag >= c->gen->cfg->n_upstreams)
        return -1;
    return site->tag;
}

const char *px_route_default_host(const struct px_conn *c)
{
    const char *host = px_tls_sni(&c->tls);
    const struct cs_site *site = cs_ssl_site(c->tls.ssl);
    if (!host && site && site->n_names)
        host = site->names[0];
    return host;
}
