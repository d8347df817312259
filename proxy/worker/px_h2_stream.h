/* One HTTP/2 stream of the HTTP/2 session (session_h2.c) and the conversions between
 * its fields and the HTTP/1.1 form its exchange speaks upstream (h2_fields.c). Private
 * to proxy/worker/.
 */
#ifndef TWOFOLD_PX_H2_STREAM_H
#define TWOFOLD_PX_H2_STREAM_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "px_buf.h"
#include "px_check.h"
#include "px_http1.h"
#include "px_list.h"
#include "px_vec.h"

struct px_h2s;
struct px_exchange;

/* A stream's state (h2_stream_set asserts the transitions):
 *   HEADERS   the request's header block is arriving;
 *   UPSTREAM  the request went to its exchange (or was refused): no response yet;
 *   RESPONSE  a final response head was submitted: its body follows;
 *   DONE      the response is complete, failed or reset: accounted.
 * HEADERS -> UPSTREAM -> RESPONSE -> DONE; HEADERS or UPSTREAM -> DONE. */
enum px_h2_stream_state {
    H2ST_HEADERS,
    H2ST_UPSTREAM,
    H2ST_RESPONSE,
    H2ST_DONE,
};

#define PX_H2ST_MAGIC 0x48325354u /* "H2ST" */

/* One received field: offsets into the stream's `text`. */
struct px_h2_field {
    size_t name, name_len, value, value_len;
};

struct px_h2_stream {
    PX_MAGIC_FIELD;
    enum px_h2_stream_state state;
    struct px_h2s *s;
    struct px_list link; /* in the session's streams */
    int32_t id;
    struct px_exchange *x; /* NULL once the stream closed or before the request */

    /* the request's fields as received: names and values in `text`, offsets in `fields` */
    struct px_buf text;
    PX_VEC(struct px_h2_field) fields;
    size_t header_bytes; /* RFC 9113 6.5.2 accounting: name + value + 32 per field */
    bool bad;            /* a field this proxy refuses (the stream is reset) */
    bool req_chunked;    /* the body goes upstream chunked (no content-length) */
    bool req_done;       /* END_STREAM seen */
    uint64_t unconsumed; /* DATA bytes handed upstream whose window is not reopened yet */

    /* the response */
    struct px_buf pend; /* DATA bytes not yet taken by nghttp2: pend.data[pend_off..len) */
    size_t pend_off;
    struct px_buf trailers; /* trailer fields as "name\0value\0" pairs */
    unsigned n_trailers;
    bool ended; /* the exchange's response ended: EOF after pend */
    int status;
    uint64_t bytes_out;

    /* accounting */
    char method[16];
    char path[512];
    size_t path_len;
    struct timespec wall;
    uint64_t start_ms;
};

/* ---- h2_fields.c ---- */

/* Records one request field (nghttp2 has checked names and values: lowercase tokens,
 * no CR/LF/NUL; pseudo-headers first). Returns 0, or -1 when the stream must be reset
 * (the header list is over max_list bytes, or out of memory). */
int px_h2_field_add(struct px_h2_stream *st, const uint8_t *name, size_t nlen, const uint8_t *value,
                    size_t vlen, size_t max_list);

/* The request as an HTTP/1 head (the form px_h1_request_head_write takes): method,
 * target (:path), host (:authority), the regular fields with cookie crumbs joined
 * (RFC 9113 8.2.3), the body framing from content-length and END_STREAM. hdr and cookie
 * are the caller's storage, valid while *h is used. Returns 0, or the status to answer
 * (400 a malformed request nghttp2 let through, 501 CONNECT). */
int px_h2_request_head(struct px_h2_stream *st, bool end_stream, struct px_h1_head *h,
                       struct px_h1_header *hdr, size_t cap, struct px_buf *cookie);

/* The response head as HTTP/2 fields: ":status" first, names lowercased, the HTTP/1
 * connection-specific fields dropped (RFC 9113 8.2.2). nv (cap entries) points into h
 * and into names, the caller's storage for lowercased names. Returns the count, or -1. */
int px_h2_response_nv(const struct px_h1_head *h, nghttp2_nv *nv, size_t cap, struct px_buf *names,
                      char status[4]);

#endif
