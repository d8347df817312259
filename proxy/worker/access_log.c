/* Access log: see px_access_log.h. Text lines are space-separated fields with the path
 * quoted; JSON lines are one object each. Both escape every byte outside printable ASCII,
 * so a hostile request target cannot forge a line. */
#include "px_access_log.h"

#include "px_conn_internal.h"
#include "px_json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_BYTES  8192
#define PATH_MAX_LOGGED 2048 /* bytes of the request target kept in a line */
#define FIELD_MAX       256  /* bytes of any other string field */

struct px_access_log {
    int fd;
    bool own_fd; /* false for stderr */
    int format;
    char *path; /* for reopening (logrotate) */
};

struct px_access_log *px_access_log_open(const struct px_config *cfg, char *err, size_t errlen)
{
    if (errlen)
        err[0] = '\0';
    if (cfg->access_log == PX_ACCESS_OFF)
        return NULL;
    struct px_access_log *log = calloc(1, sizeof *log);
    if (!log) {
        snprintf(err, errlen, "access log: out of memory");
        return NULL;
    }
    log->format = cfg->access_log;
    const char *path = cfg->access_log_path;
    if (!path || strcmp(path, "-") == 0) {
        log->fd = STDERR_FILENO;
        return log;
    }
    log->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (log->fd < 0) {
        snprintf(err, errlen, "%s: cannot open access log: %s", path, strerror(errno));
        free(log);
        return NULL;
    }
    log->own_fd = true;
    log->path = strdup(path);
    return log;
}

/* logrotate: the file was renamed; open the path anew and put the new file on the same
 * descriptor with dup2, which is atomic for the workers writing concurrently (a write in
 * progress completes on the old file). */
int px_access_log_reopen(struct px_access_log *log, char *err, size_t errlen)
{
    if (!log || !log->own_fd || !log->path)
        return 0;
    int fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot reopen access log: %s", log->path, strerror(errno));
        return -1;
    }
    int rc = dup2(fd, log->fd) < 0 ? -1 : 0;
    if (rc == 0)
        (void)fcntl(log->fd, F_SETFD, FD_CLOEXEC); /* dup2 clears it */
    if (rc)
        snprintf(err, errlen, "%s: cannot reopen access log: %s", log->path, strerror(errno));
    close(fd);
    return rc;
}

void px_access_log_close(struct px_access_log *log)
{
    if (!log)
        return;
    if (log->own_fd)
        close(log->fd);
    free(log->path);
    free(log);
}

/* A bounded output cursor; one byte is always kept for the final newline. */
struct out {
    char *p;
    size_t n, cap;
};

static void put(struct out *o, const char *s, size_t len)
{
    size_t room = o->cap - 1 - o->n;
    if (len > room)
        len = room;
    memcpy(o->p + o->n, s, len);
    o->n += len;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void putf(struct out *o, const char *fmt, unsigned long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    put(o, tmp, (size_t)n);
}

/* Escapes for both formats: JSON values through the one JSON writer, 7-bit only
 * (PX_JSON_ASCII: a path may be any bytes); in text, quote and backslash get a backslash,
 * other bytes outside 0x20..0x7e become \xXX, and an unquoted field's space becomes '_'. */
static void put_escaped(struct out *o, const char *s, size_t len, bool json, bool quoted)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        char tmp[8];
        size_t k = 0;
        if (json) {
            k = px_json_escape_byte(ch, PX_JSON_ASCII, tmp);
        } else if (ch == '"' || ch == '\\') {
            tmp[k++] = '\\';
            tmp[k++] = (char)ch;
        } else if (ch < 0x20 || ch > 0x7e || (ch == ' ' && !quoted)) {
            if (ch == ' ') {
                tmp[k++] = '_';
            } else {
                memcpy(tmp, "\\x", 2);
                k = 2;
                tmp[k++] = hex[ch >> 4];
                tmp[k++] = hex[ch & 15];
            }
        } else {
            tmp[k++] = (char)ch;
        }
        put(o, tmp, k);
    }
}

static void put_text_field(struct out *o, const char *s)
{
    put(o, " ", 1);
    if (!s || !*s) {
        put(o, "-", 1);
        return;
    }
    size_t len = strnlen(s, FIELD_MAX);
    put_escaped(o, s, len, false, false);
}

static void put_json_field(struct out *o, const char *key, const char *s, size_t len)
{
    puts_(o, ",\"");
    puts_(o, key);
    puts_(o, "\":");
    if (!s) {
        puts_(o, "null");
        return;
    }
    put(o, "\"", 1);
    put_escaped(o, s, len, true, true);
    put(o, "\"", 1);
}

static void put_time(struct out *o, const struct timespec *ts)
{
    struct tm tm;
    char tmp[40];
    gmtime_r(&ts->tv_sec, &tm);
    int n = snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(ts->tv_nsec / 1000000));
    put(o, tmp, (size_t)n);
}

static size_t path_len(const struct px_access_entry *e)
{
    return e->path_len > PATH_MAX_LOGGED ? PATH_MAX_LOGGED : e->path_len;
}

static void format_text(struct out *o, const struct px_access_entry *e)
{
    put_time(o, &e->start);
    put_text_field(o, e->client);
    put_text_field(o, e->sni);
    put_text_field(o, e->tls_version);
    put_text_field(o, e->cipher);
    put_text_field(o, e->cert); /* "ECDSA P-256" -> "ECDSA_P-256" */
    put_text_field(o, e->method);
    put(o, " \"", 2);
    if (e->path)
        put_escaped(o, e->path, path_len(e), false, true);
    put(o, "\"", 1);
    put_text_field(o, e->proto);
    putf(o, " %llu", (unsigned long long)e->status);
    putf(o, " %llu", (unsigned long long)e->bytes);
    put_text_field(o, e->upstream);
    putf(o, " %llu", (unsigned long long)e->duration_ms);
}

static size_t flen(const char *s)
{
    return s ? strnlen(s, FIELD_MAX) : 0;
}

static void format_json(struct out *o, const struct px_access_entry *e)
{
    puts_(o, "{\"time\":\"");
    put_time(o, &e->start);
    put(o, "\"", 1);
    put_json_field(o, "client", e->client, flen(e->client));
    put_json_field(o, "sni", e->sni, flen(e->sni));
    put_json_field(o, "tls", e->tls_version, flen(e->tls_version));
    put_json_field(o, "cipher", e->cipher, flen(e->cipher));
    put_json_field(o, "cert", e->cert, flen(e->cert));
    put_json_field(o, "method", e->method, flen(e->method));
    put_json_field(o, "path", e->path, e->path ? path_len(e) : 0);
    put_json_field(o, "proto", e->proto, flen(e->proto));
    putf(o, ",\"status\":%llu", (unsigned long long)e->status);
    putf(o, ",\"bytes\":%llu", (unsigned long long)e->bytes);
    put_json_field(o, "upstream", e->upstream, flen(e->upstream));
    putf(o, ",\"duration_ms\":%llu}", (unsigned long long)e->duration_ms);
}

size_t px_access_format(int format, const struct px_access_entry *e, char *buf, size_t cap)
{
    struct out o = {buf, 0, cap};
    if (format == PX_ACCESS_JSON)
        format_json(&o, e);
    else
        format_text(&o, e);
    buf[o.n++] = '\n';
    return o.n;
}

void px_access_conn(struct px_access_entry *e, const struct px_conn *c, char *cert, size_t cap)
{
    const struct cs_cert *cc = c->tls.ssl ? cs_ssl_cert(c->tls.ssl) : NULL;
    cert[0] = '\0';
    if (cc)
        cs_cert_describe(cc, cert, cap);
    e->client = c->peer;
    e->sni = px_tls_sni(&c->tls);
    e->tls_version = px_tls_version(&c->tls);
    e->cipher = px_tls_cipher(&c->tls);
    e->cert = cert[0] ? cert : NULL;
}

int px_access_log_write(struct px_access_log *log, const struct px_access_entry *e)
{
    if (!log)
        return 0;
    char line[LINE_MAX_BYTES];
    size_t n = px_access_format(log->format, e, line, sizeof line);
    ssize_t w;
    do
        w = write(log->fd, line, n);
    while (w < 0 && errno == EINTR);
    return w < 0 ? -errno : 0;
}
