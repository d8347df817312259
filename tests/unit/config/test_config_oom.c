/* Out of memory while loading: the config library's allocations are wrapped (linker
 * --wrap, tests/CMakeLists.txt) and the Nth one fails, for every N a load makes. Each
 * such load must fail like a config error - -1, no config, errs.oom set, "out of memory"
 * as its last message - never abort, and leak nothing (LSan in sanitizer builds). */
#define _GNU_SOURCE
#include "px_config.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);

static long fail_at = -1; /* the allocation that fails, counted from 0; -1: none */
static long calls;

static int fails(void)
{
    long c = calls++;
    return fail_at >= 0 && c == fail_at;
}

void *__wrap_malloc(size_t n)
{
    return fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fails() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return fails() ? NULL : __real_strdup(s);
}

static const char text[] = "[proxy]\n"
                           "via = edge:8443\n"
                           "ciphersuites = TLS_AES_128_GCM_SHA256\n"
                           "access_log_file = log/access.log\n"
                           "ca_bundle = ca.pem\n"
                           "[listener main]\nbind = 127.0.0.1:8443\n"
                           "[listener alt]\nbind = [::1]:8443\n"
                           "[site a]\nnames = a.example, *.b.example\ncert = a.pem a.key\n"
                           "cert = a-ec.pem\ncert_dir = ./certs\nupstream = app\n"
                           "accept_profiles_lost = %s\n"
                           "[upstream app]\nserver = 127.0.0.1:8080\nserver = 127.0.0.1:8081\n"
                           "[upstream other]\nserver = 127.0.0.1:9090\n";

/* Loads path with the allocation number n failing (-1: none). Returns the load's rc. */
static int load(const char *path, long n, struct px_config **out, struct px_config_errors *e)
{
    fail_at = n;
    calls = 0;
    int rc = px_config_load_file_ex(path, PX_CONFIG_NO_FILE_CHECKS, out, e);
    fail_at = -1;
    return rc;
}

static void file_loads(const char *path)
{
    struct px_config *cfg = NULL;
    struct px_config_errors e = {0};
    int rc = load(path, -1, &cfg, &e);
    CHECK_INT(rc, 0);
    for (size_t i = 0; i < e.n; i++)
        fprintf(stderr, "unexpected: %s\n", e.msgs[i]);
    long total = calls;
    CHECK(total > 20);
    px_config_release(cfg);
    px_config_errors_free(&e);
    int bad = 0;
    for (long n = 0; n < total; n++) {
        cfg = NULL;
        rc = load(path, n, &cfg, &e);
        int ok = rc == -1 && cfg == NULL && e.oom && e.n > 0 &&
                 strcmp(e.msgs[e.n - 1], "out of memory") == 0;
        if (!ok && bad++ < 5)
            fprintf(stderr, "allocation %ld: rc %d, oom %d, %zu messages, last \"%s\"\n", n, rc,
                    e.oom, e.n, e.n ? e.msgs[e.n - 1] : "");
        px_config_release(cfg);
        px_config_errors_free(&e);
    }
    CHECK_INT(bad, 0);
}

static void sidecar_loads(void)
{
    struct px_sidecar_args a = {.listen = "127.0.0.1:8443",
                                .upstream = "127.0.0.1:8080",
                                .cert_dir = "/nonexistent-certs",
                                .workers = "2"};
    struct px_config *cfg = NULL;
    struct px_config_errors e = {0};
    calls = 0;
    fail_at = -1;
    int rc = px_config_from_sidecar(&a, &cfg, &e);
    long total = calls;
    px_config_release(cfg);
    px_config_errors_free(&e);
    int bad = 0;
    for (long n = 0; n < total; n++) {
        cfg = NULL;
        calls = 0;
        fail_at = n;
        int r = px_config_from_sidecar(&a, &cfg, &e);
        fail_at = -1;
        if ((r != -1 || cfg || !e.oom) && bad++ < 5)
            fprintf(stderr, "sidecar allocation %ld: rc %d oom %d (unfailed rc %d)\n", n, r, e.oom,
                    rc);
        px_config_release(cfg);
        px_config_errors_free(&e);
    }
    CHECK_INT(bad, 0);
}

int main(void)
{
    char path[] = "/tmp/twofold-oom-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return tt_done();
    char buf[2048];
    int n = snprintf(buf, sizeof buf, text, "android-4.4");
    CHECK(n > 0 && write(fd, buf, (size_t)n) == n);
    close(fd);
    file_loads(path);
    unlink(path);
    sidecar_loads();
    return tt_done();
}
