/* Routing a request to its site's upstream (route.c), for every protocol session. */
#ifndef TWOFOLD_PX_ROUTE_H
#define TWOFOLD_PX_ROUTE_H

#include <stddef.h>

struct px_conn;

/* The upstream index for a request on c whose authority (Host, :authority; a port is
 * ignored) is host[0..n): the site of that name when one matches, else the site the
 * handshake chose. -1 when there is none. */
int px_route(const struct px_conn *c, const char *host, size_t n);
/* The Host an upstream request carries when the client sent none (HTTP/1.0): the TLS
 * server name, else the handshake site's first name; NULL when neither exists. */
const char *px_route_default_host(const struct px_conn *c);

#endif
