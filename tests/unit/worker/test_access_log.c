/* Access log: text and JSON formatting with hostile bytes escaped, truncation of very
 * long targets, open/write/close on a real file (one line per call, appended), OFF mode,
 * and the error message for a path that cannot be opened. */
#include "px_access_log.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct px_access_entry sample(void)
{
    struct px_access_entry e = {
        .start = {.tv_sec = 1764093600, .tv_nsec = 123000000}, /* 2025-11-25T18:00:00.123Z */
        .client = "127.0.0.1",
        .sni = "demo.test",
        .tls_version = "TLSv1.3",
        .cipher = "TLS_AES_128_GCM_SHA256",
        .cert = "ECDSA P-256",
        .method = "GET",
        .path = "/a b\"c\\\n",
        .path_len = 8,
        .proto = "HTTP/1.1",
        .status = 200,
        .bytes = 1234,
        .upstream = "127.0.0.1:8080",
        .duration_ms = 7,
    };
    return e;
}

static void test_text(void)
{
    struct px_access_entry e = sample();
    char buf[1024];
    size_t n = px_access_format(PX_ACCESS_TEXT, &e, buf, sizeof buf);
    buf[n] = '\0';
    CHECK_STR(buf, "2025-11-25T18:00:00.123Z 127.0.0.1 demo.test TLSv1.3 TLS_AES_128_GCM_SHA256 "
                   "ECDSA_P-256 GET \"/a b\\\"c\\\\\\x0a\" HTTP/1.1 200 1234 127.0.0.1:8080 7\n");
    e.sni = NULL;
    e.upstream = NULL;
    e.status = 0;
    n = px_access_format(PX_ACCESS_TEXT, &e, buf, sizeof buf);
    buf[n] = '\0';
    CHECK_CONTAINS(buf, " 127.0.0.1 - TLSv1.3 ");
    CHECK_CONTAINS(buf, "\" HTTP/1.1 0 1234 - 7\n");
}

static void test_json(void)
{
    struct px_access_entry e = sample();
    e.sni = NULL;
    char buf[1024];
    size_t n = px_access_format(PX_ACCESS_JSON, &e, buf, sizeof buf);
    buf[n] = '\0';
    CHECK_STR(buf,
              "{\"time\":\"2025-11-25T18:00:00.123Z\",\"client\":\"127.0.0.1\",\"sni\":null,"
              "\"tls\":\"TLSv1.3\",\"cipher\":\"TLS_AES_128_GCM_SHA256\",\"cert\":\"ECDSA "
              "P-256\",\"method\":\"GET\",\"path\":\"/a b\\\"c\\\\\\u000a\",\"proto\":\"HTTP/1.1\","
              "\"status\":200,"
              "\"bytes\":1234,\"upstream\":\"127.0.0.1:8080\",\"duration_ms\":7}\n");
}

static void test_truncation(void)
{
    struct px_access_entry e = sample();
    size_t big = 100000;
    char *path = malloc(big);
    memset(path, 'x', big);
    e.path = path;
    e.path_len = big;
    char buf[8192];
    size_t n = px_access_format(PX_ACCESS_JSON, &e, buf, sizeof buf);
    CHECK(n <= sizeof buf);
    CHECK(buf[n - 1] == '\n');
    buf[n - 1] = '\0';
    CHECK_CONTAINS(buf, "\"duration_ms\":7}"); /* the line stays complete */
    char small[300];
    n = px_access_format(PX_ACCESS_TEXT, &e, small, sizeof small);
    CHECK_INT(n, sizeof small); /* cut at the cap, still one line */
    CHECK(small[n - 1] == '\n');
    CHECK(memchr(small, '\n', n - 1) == NULL);
    free(path);
}

static void test_file(void)
{
    const char *tmp = getenv("TWOFOLD_TMP");
    char dir[512], path[600], err[256];
    snprintf(dir, sizeof dir, "%s/access_log_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", dir);
    CHECK_INT(system(cmd), 0);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/access.log", dir);

    struct px_config cfg = {0};
    cfg.access_log = PX_ACCESS_OFF;
    strcpy(err, "x");
    CHECK(px_access_log_open(&cfg, err, sizeof err) == NULL);
    CHECK_STR(err, "");

    cfg.access_log = PX_ACCESS_TEXT;
    cfg.access_log_path = path;
    struct px_access_log *log = px_access_log_open(&cfg, err, sizeof err);
    CHECK(log != NULL);
    struct px_access_entry e = sample();
    CHECK_INT(px_access_log_write(log, &e), 0);
    e.status = 502;
    CHECK_INT(px_access_log_write(log, &e), 0);
    px_access_log_close(log);
    px_access_log_close(NULL);
    CHECK_INT(px_access_log_write(NULL, &e), 0);

    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char line[1024];
    int lines = 0;
    while (f && fgets(line, sizeof line, f)) {
        lines++;
        CHECK_CONTAINS(line, lines == 1 ? "\" HTTP/1.1 200 1234 " : "\" HTTP/1.1 502 1234 ");
    }
    CHECK_INT(lines, 2);
    if (f)
        fclose(f);

    char bad[700];
    snprintf(bad, sizeof bad, "%s/no/such/dir/access.log", dir);
    cfg.access_log_path = bad;
    CHECK(px_access_log_open(&cfg, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, bad);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_text();
    test_json();
    test_truncation();
    test_file();
    return tt_done();
}
