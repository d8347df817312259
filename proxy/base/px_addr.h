/* Socket addresses as written in a configuration: listeners, upstream servers and the
 * admin endpoint. */
#ifndef TWOFOLD_PX_ADDR_H
#define TWOFOLD_PX_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

struct px_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[80]; /* as written: "127.0.0.1:8443", "[::1]:8443" */
};

/* "host:port" or "[v6]:port" -> addr. Numeric hosts and "localhost" only (no DNS at
 * startup surprises). Returns 0 or negative with a message in err. */
int px_addr_parse(const char *s, struct px_addr *out, char *err, size_t errlen);

#endif
