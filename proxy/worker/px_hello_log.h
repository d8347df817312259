/* The failed-handshake log of one worker: a rate-limited log line per failure and a ring
 * of the last PX_HELLO_LOG_KEEP failures with their ClientHello, for
 * GET /debug/failed-hellos. Worker thread only; the admin view gets deep copies through a
 * PX_MSG_COLLECT message (px_hello_log_copy), so nothing here is shared between threads.
 *
 * Rate limit: at most PX_HELLO_LOG_RATE lines per one-second window; further failures in
 * the window are counted and reported by one "N more ... suppressed" line when the window
 * is over (px_hello_log_flush, which the worker calls from a timer at
 * px_hello_log_window_end, or the next failure after the window). Every failure is kept
 * in the ring whether its line was printed or not.
 */
#ifndef TWOFOLD_PX_HELLO_LOG_H
#define TWOFOLD_PX_HELLO_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "px_buf.h"

#define PX_HELLO_LOG_KEEP   64          /* failures kept per worker */
#define PX_HELLO_LOG_RATE   10          /* log lines per second per worker */
#define PX_HELLO_KEEP_BYTES (16 * 1024) /* hello bytes kept per failure; longer: truncated */

/* One failed handshake as the connection saw it (all borrowed). */
struct px_hello_fail {
    const char *client; /* address text */
    const char *sni;    /* OpenSSL's, or NULL: then the one in the hello, if any */
    const char *reason; /* short token: "unknown_sni", "protocol_version", ... */
    const char *detail; /* OpenSSL's error text or "" */
    const uint8_t *hello;
    size_t hello_len; /* 0: no ClientHello was received */
};

/* A kept failure. hello holds min(hello_full, PX_HELLO_KEEP_BYTES) bytes (malloc'd). */
struct px_hello_rec {
    int64_t time_us; /* wall clock, microseconds since the epoch */
    uint64_t seq;    /* per worker, increasing */
    unsigned worker;
    char client[64];
    char sni[256]; /* "" when none; printable characters only */
    char reason[48];
    char detail[160];
    char summary[160]; /* "versions=TLSv1.3,TLSv1.2 suites=31 sigalgs=13 groups=5" */
    uint8_t *hello;
    size_t hello_len, hello_full;
};

struct px_hello_log {
    unsigned worker;
    struct px_hello_rec ring[PX_HELLO_LOG_KEEP];
    size_t head, n; /* next slot to write, records held */
    uint64_t seq;
    /* rate limiter */
    uint64_t window_ms; /* start of the current window (caller's monotonic clock) */
    bool window_open;
    unsigned lines;      /* lines printed in the window */
    uint64_t suppressed; /* failures not printed in the window */
    /* totals, for tests and the log */
    uint64_t printed_total, suppressed_total;
};

void px_hello_log_init(struct px_hello_log *l, unsigned worker);
void px_hello_log_free(struct px_hello_log *l);

/* Records one failure: prints its line unless the window's quota is used up, and keeps it
 * in the ring (the oldest record goes when full). now_ms: a monotonic clock for the rate
 * limit; wall_us: the record's time. Returns true when failures of the current window
 * are waiting to be reported (then call px_hello_log_flush at px_hello_log_window_end). */
bool px_hello_log_note(struct px_hello_log *l, uint64_t now_ms, int64_t wall_us,
                       const struct px_hello_fail *f);
/* Once the window is over: prints the "N more suppressed" line when there is one and
 * returns N (0 when nothing was suppressed or the window is still running). */
uint64_t px_hello_log_flush(struct px_hello_log *l, uint64_t now_ms);
/* When the current window ends (now_ms-based). */
uint64_t px_hello_log_window_end(const struct px_hello_log *l);

/* Deep copy of the ring, newest first, into a malloc'd array (*out NULL when empty).
 * Returns 0 or -1 (out of memory: nothing is returned). */
int px_hello_log_copy(const struct px_hello_log *l, struct px_hello_rec **out, size_t *n);
void px_hello_recs_free(struct px_hello_rec *v, size_t n);

/* {"hellos":[{"time","worker","client","sni","reason","detail","summary","hello",
 * "hello_len","truncated"}, ...]}, newest first (v is sorted in place). "hello" is the
 * ClientHello handshake message as lowercase hex, the form `twofold explain
 * --clienthello` takes. */
void px_hello_json(struct px_buf *b, struct px_hello_rec *v, size_t n);

/* The capabilities a ClientHello (a bare handshake message, a TLS record or an SSLv2
 * CLIENT-HELLO) offers, in one short line, and its SNI (sni_len 0: not wanted). Counts
 * are what the client sent, however long its lists; a truncated hello gives what it
 * holds. */
void px_hello_summary(const uint8_t *p, size_t n, char *out, size_t len, char *sni, size_t sni_len);

#endif
