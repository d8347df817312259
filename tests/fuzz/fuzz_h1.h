/* Shared by the HTTP/1 fuzz targets: transcript spans and an independent reading of
 * header fields (names, Connection lists, framing lines) for the re-serialisation oracles. */
#ifndef TWOFOLD_FUZZ_H1_H
#define TWOFOLD_FUZZ_H1_H

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "fuzz_common.h"
#include "px_http1.h"

/* "<len>:<bytes>": binary-safe and unambiguous in a transcript. */
static inline void fuzz_h1_log_span(struct px_buf *b, const char *p, size_t n)
{
    FUZZ_CHECK(px_buf_printf(b, "%zu:", n) == 0);
    FUZZ_CHECK(px_buf_append(b, p, n) == 0);
}

static inline bool fuzz_h1_span_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static inline bool fuzz_h1_name_is(const struct px_h1_header *f, const char *lower)
{
    return f->name_len == strlen(lower) && strncasecmp(f->name, lower, f->name_len) == 0;
}

/* True when some Connection field lists the name of f (comma list, OWS trimmed). */
static inline bool fuzz_h1_named_by_connection(const struct px_h1_head *h,
                                               const struct px_h1_header *f)
{
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *c = &h->headers[i];
        if (!fuzz_h1_name_is(c, "connection"))
            continue;
        const char *p = c->value, *end = c->value + c->value_len;
        for (;;) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *e = comma ? comma : end, *s = p;
            while (s < e && (*s == ' ' || *s == '\t'))
                s++;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if ((size_t)(e - s) == f->name_len && strncasecmp(s, f->name, f->name_len) == 0)
                return true;
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    return false;
}

/* Counts the Content-Length and Transfer-Encoding lines of a serialised head (without its
 * final empty line) by reading the lines themselves; every line must end in CRLF. */
static inline void fuzz_h1_framing_fields(const char *p, size_t n, int *cl, int *te)
{
    const char *end = p + n;
    *cl = *te = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        FUZZ_CHECK(eol && eol > p && eol[-1] == '\r');
        size_t len = (size_t)(eol - p) - 1;
        if (len >= 15 && strncasecmp(p, "content-length:", 15) == 0)
            (*cl)++;
        if (len >= 18 && strncasecmp(p, "transfer-encoding:", 18) == 0)
            (*te)++;
        p = eol + 1;
    }
}

#endif
