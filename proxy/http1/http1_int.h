/* Private to proxy/http1/: the head validator and the small lexical helpers shared by
 * the parser (http1.c), the validator (http1_validate.c) and the writer (http1_write.c). */
#ifndef TWOFOLD_HTTP1_INT_H
#define TWOFOLD_HTTP1_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "px_http1.h"

/* RFC 9110 tchar. */
static inline bool px_h1_is_tchar(unsigned char c)
{
    static const uint32_t map[8] = {0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff, 0, 0, 0, 0};
    return (map[c >> 5] >> (c & 31)) & 1u;
}

static inline bool px_h1_is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* Case-insensitive comparison of s[0..n) with a lower-case literal of the same length. */
bool px_h1_ieq(const char *s, const char *lower, size_t n);

/* Case-insensitive equality of two spans. */
bool px_h1_span_ieq(const char *a, size_t an, const char *b, size_t bn);

/* True when the span s[0..n) equals the lower-case string literal LIT, ignoring case;
 * compares the length first so most mismatches cost one integer compare. */
#define PX_H1_IS(s, n, LIT) ((n) == sizeof(LIT) - 1 && px_h1_ieq((s), (LIT), sizeof(LIT) - 1))

/* Iterates the elements of a comma-separated list value. On each call returns true and
 * sets *elem and *elen to the next element with OWS trimmed (possibly empty, for ",," or a
 * leading/trailing comma); returns false after the last element (*pos is then NULL). */
bool px_h1_list_next(const char **pos, const char *end, const char **elem, size_t *elen);

/* Validates a complete raw head and fills *h.
 *
 * buf[0..len) is the head as received, ending with the empty line; the caller's scanner
 * has already guaranteed that every line ends in CRLF (no bare CR or LF), that the head
 * respects the limits and that hdrs has room for every header line. req_method is the
 * request method a response answers (responses only). Header name/value pointers in *h
 * point into buf.
 *
 * Returns 0, or the HTTP status a client should get (400, 417, 501, 505; the caller maps
 * every response failure to 502) with *reason set to a short static text. */
int px_h1_head_parse(enum px_h1_kind kind, const char *buf, size_t len, int req_method,
                     struct px_h1_header *hdrs, struct px_h1_head *h, const char **reason);

/* Validates a request or status line (without its CRLF) alone, as px_h1_head_parse
 * would. Returns 0 or the status, with *reason set. */
int px_h1_start_line_check(enum px_h1_kind kind, const char *line, size_t len, const char **reason);

/* Validates one trailer field line (without its CRLF): the header-line syntax rules, and
 * no framing fields (Content-Length, Transfer-Encoding) or Host. Returns 0 or 400; *f
 * gets the field (pointing into line) when the syntax is valid. */
int px_h1_trailer_check(const char *line, size_t len, struct px_h1_header *f, const char **reason);

/* The chunk-size line scanner (http1_chunk.c). Reset it before each chunk line. */
struct px_h1_chunk_scan {
    unsigned char state;
    uint64_t size; /* the chunk size, once the line is complete */
};
void px_h1_chunk_scan_reset(struct px_h1_chunk_scan *s);

/* Scans d[0..n) of a chunk line. Returns 1 when the line is complete (*used through its
 * LF; s->size holds the size), 0 when all of d was consumed and the line goes on (*used =
 * n), or 400 with *reason set. *ext_bytes counts the line's bytes other than the size's
 * significant digits and its CRLF, over the whole message; beyond ext_max the line is
 * refused. */
int px_h1_chunk_line_scan(struct px_h1_chunk_scan *s, const char *d, size_t n, size_t *used,
                          size_t *ext_bytes, size_t ext_max, const char **reason);

#endif
