/* sd_notify over a datagram socket; see px_notify.h. */
#include "px_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Fills sa from $NOTIFY_SOCKET. Returns the address length, 0 when unset, or -EINVAL. */
static int notify_addr(struct sockaddr_un *sa)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !path[0])
        return 0;
    size_t len = strlen(path);
    if (len >= sizeof(sa->sun_path) || (path[0] != '/' && path[0] != '@'))
        return -EINVAL;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, len);
    if (path[0] == '@')
        sa->sun_path[0] = '\0'; /* abstract namespace: no trailing NUL in the length */
    else
        len++;
    return (int)(offsetof(struct sockaddr_un, sun_path) + len);
}

int px_notify(const char *state)
{
    struct sockaddr_un sa;
    int salen = notify_addr(&sa);
    if (salen <= 0)
        return salen;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    size_t n = strlen(state);
    ssize_t sent;
    do {
        sent = sendto(fd, state, n, MSG_NOSIGNAL, (struct sockaddr *)&sa, (socklen_t)salen);
    } while (sent < 0 && errno == EINTR);
    int rc = sent < 0 ? -errno : ((size_t)sent == n ? 0 : -EMSGSIZE);
    close(fd);
    return rc;
}

int px_notify_ready(void)
{
    return px_notify("READY=1");
}

int px_notify_reloading(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return -errno;
    char msg[64];
    unsigned long long usec =
        (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
    return px_notify(msg);
}

int px_notify_stopping(void)
{
    return px_notify("STOPPING=1");
}

int px_notify_status(const char *fmt, ...)
{
    char msg[512];
    int head = snprintf(msg, sizeof(msg), "STATUS=");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + head, sizeof(msg) - (size_t)head, fmt, ap);
    va_end(ap);
    for (char *p = msg + head; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return px_notify(msg);
}
