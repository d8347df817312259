/* The access log: one line per request, text or JSON, shared by every worker.
 * Each line is formatted on the caller's stack and written with a single write(2) on an
 * O_APPEND descriptor, so lines from several threads never interleave and the hot path
 * takes no lock. Opened by the server before the workers start, closed after they stop.
 */
#ifndef TWOFOLD_PX_ACCESS_LOG_H
#define TWOFOLD_PX_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "px_config.h"

struct px_access_log;

/* Opens cfg->access_log_path (NULL or "-": stderr) in cfg->access_log's format.
 * Returns NULL with err empty when cfg->access_log == PX_ACCESS_OFF, NULL with a message
 * ("PATH: reason") in err on failure. */
struct px_access_log *px_access_log_open(const struct px_config *cfg, char *err, size_t errlen);
void px_access_log_close(struct px_access_log *log); /* NULL is a no-op */
/* SIGUSR1 (logrotate): reopens the file by its path on the same descriptor. 0 or -1 with
 * a message; a no-op for stderr and NULL. */
int px_access_log_reopen(struct px_access_log *log, char *err, size_t errlen);

/* One request. Any string may be NULL (written as "-" or null). */
struct px_access_entry {
    struct timespec start; /* CLOCK_REALTIME when the request head arrived */
    const char *client;    /* client IP */
    const char *sni;
    const char *tls_version, *cipher;
    const char *cert; /* cs_cert_describe() of the served certificate: "ECDSA P-256" */
    const char *method;
    const char *path; /* request target, any bytes (escaped on output) */
    size_t path_len;
    const char *proto;    /* "HTTP/1.1", "HTTP/1.0", "HTTP/2" */
    int status;           /* 0: no response was sent */
    uint64_t bytes;       /* response bytes sent to the client (head + body, plaintext) */
    const char *upstream; /* server address or NULL */
    uint64_t duration_ms;
};

struct px_conn;
/* Fills the connection's part of e, the same for every request on it: client, TLS server
 * name, version, cipher, and the served certificate described into cert (cap bytes). */
void px_access_conn(struct px_access_entry *e, const struct px_conn *c, char *cert, size_t cap);

/* Formats e into buf (format PX_ACCESS_TEXT or PX_ACCESS_JSON) ending in '\n'; returns
 * the length. Long fields are truncated so the line always fits (cap >= 256). */
size_t px_access_format(int format, const struct px_access_entry *e, char *buf, size_t cap);

/* Formats and writes one line. NULL log is a no-op. Returns 0 or negative errno. */
int px_access_log_write(struct px_access_log *log, const struct px_access_entry *e);

#endif
