/* px_notify: datagrams to a path socket and an abstract socket, no-op when unset. */
#include "px_notify.h"
#include "tt.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Receives one datagram (non-blocking: px_notify has already sent it) into buf. */
static int recv_one(int fd, char *buf, size_t cap)
{
    ssize_t n = recv(fd, buf, cap - 1, MSG_DONTWAIT);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

static int bind_dgram(struct sockaddr_un *sa, socklen_t len)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)sa, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static unsigned long long mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
}

static void check_messages(int fd)
{
    char buf[1024];
    CHECK_INT(px_notify_ready(), 0);
    CHECK(recv_one(fd, buf, sizeof(buf)) > 0);
    CHECK_STR(buf, "READY=1");

    CHECK_INT(px_notify_stopping(), 0);
    CHECK(recv_one(fd, buf, sizeof(buf)) > 0);
    CHECK_STR(buf, "STOPPING=1");

    CHECK_INT(px_notify_status("serving %d sites\nsecond line", 3), 0);
    CHECK(recv_one(fd, buf, sizeof(buf)) > 0);
    CHECK_STR(buf, "STATUS=serving 3 sites second line");

    unsigned long long before = mono_usec();
    CHECK_INT(px_notify_reloading(), 0);
    unsigned long long after = mono_usec();
    CHECK(recv_one(fd, buf, sizeof(buf)) > 0);
    unsigned long long usec = 0;
    CHECK_INT(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
    CHECK(usec >= before && usec <= after);

    CHECK_INT(px_notify("WATCHDOG=1"), 0);
    CHECK(recv_one(fd, buf, sizeof(buf)) > 0);
    CHECK_STR(buf, "WATCHDOG=1");
    CHECK(recv_one(fd, buf, sizeof(buf)) < 0); /* exactly one datagram per call */
}

static void test_path_socket(void)
{
    char dir[] = "/tmp/twofold-notify-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify.sock", dir);
    int fd = bind_dgram(&sa, sizeof(sa));
    CHECK(fd >= 0);
    setenv("NOTIFY_SOCKET", sa.sun_path, 1);
    check_messages(fd);
    close(fd);
    /* The listener is gone: sending fails with an error instead of hanging. */
    CHECK(px_notify_ready() < 0);
    unlink(sa.sun_path);
    rmdir(dir);
}

static void test_abstract_socket(void)
{
    char name[64];
    snprintf(name, sizeof(name), "@twofold-notify-test-%ld", (long)getpid());
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(sa.sun_path, name, len);
    sa.sun_path[0] = '\0';
    int fd = bind_dgram(&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    CHECK(fd >= 0);
    setenv("NOTIFY_SOCKET", name, 1);
    check_messages(fd);
    close(fd);
}

static void test_unset_and_invalid(void)
{
    unsetenv("NOTIFY_SOCKET");
    CHECK_INT(px_notify_ready(), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    CHECK_INT(px_notify_ready(), 0);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    CHECK_INT(px_notify_ready(), -EINVAL);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    test_path_socket();
    test_abstract_socket();
    test_unset_and_invalid();
    return tt_done();
}
