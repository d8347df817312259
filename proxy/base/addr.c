/* Address parsing for listeners, upstream servers and the admin endpoint.
 *
 * Only numeric hosts and "localhost" are accepted: a host name would mean a DNS lookup
 * at startup (or worse, at reload) whose answer can change under a running proxy. */
#include "px_addr.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, unsigned short *port)
{
    if (*s == '\0' || strlen(s) > 5)
        return -1;
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (unsigned short)v;
    return 0;
}

/* Splits s into host and port text; host loses its brackets. */
static int split_host_port(const char *s, char *host, size_t hostlen, const char **port,
                           bool *bracketed, char *err, size_t errlen)
{
    const char *colon;
    *bracketed = s[0] == '[';
    if (*bracketed) {
        const char *close = strchr(s, ']');
        if (!close) {
            snprintf(err, errlen, "\"%s\": missing \"]\" after an IPv6 address", s);
            return -1;
        }
        if (close[1] != ':') {
            snprintf(err, errlen, "\"%s\": missing port (expected [v6]:port)", s);
            return -1;
        }
        colon = close + 1;
        s++;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(err, errlen, "\"%s\": missing port (expected host:port)", s);
            return -1;
        }
        if (memchr(s, ':', (size_t)(colon - s))) {
            snprintf(err, errlen, "\"%s\": an IPv6 address must be written [addr]:port", s);
            return -1;
        }
    }
    size_t n = (size_t)(colon - s) - (*bracketed ? 1 : 0);
    if (n == 0 || n >= hostlen) {
        snprintf(err, errlen, "\"%s\": missing or overlong host", s - (*bracketed ? 1 : 0));
        return -1;
    }
    memcpy(host, s, n);
    host[n] = '\0';
    *port = colon + 1;
    return 0;
}

int px_addr_parse(const char *s, struct px_addr *out, char *err, size_t errlen)
{
    char host[64];
    const char *port_s;
    bool v6;
    unsigned short port;

    memset(out, 0, sizeof *out);
    if (!s || strlen(s) >= sizeof out->text) {
        snprintf(err, errlen, "address missing or longer than %zu characters",
                 sizeof out->text - 1);
        return -1;
    }
    if (split_host_port(s, host, sizeof host, &port_s, &v6, err, errlen) < 0)
        return -1;
    if (parse_port(port_s, &port) < 0) {
        snprintf(err, errlen, "\"%s\": bad port \"%s\" (expected 1-65535)", s, port_s);
        return -1;
    }
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->ss;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
            snprintf(err, errlen, "\"%s\": \"%s\" is not an IPv6 address", s, host);
            return -1;
        }
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        out->len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&out->ss;
        const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
        if (inet_pton(AF_INET, h, &a->sin_addr) != 1) {
            snprintf(err, errlen,
                     "\"%s\": \"%s\" is not an IPv4 address (host names other than "
                     "localhost are not resolved)",
                     s, host);
            return -1;
        }
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        out->len = sizeof *a;
    }
    snprintf(out->text, sizeof out->text, "%s", s);
    return 0;
}
