/* HTTP/1.x on top of llhttp (strict mode) for requests from clients and responses from
 * upstreams: accumulates split spans, enforces limits, rejects ambiguous framing with the
 * proxy's own checks on top of llhttp, and re-serialises canonical framing.
 *
 * Feeding contract: bytes may arrive split anywhere; the verdict and the events must not
 * depend on the split points. The parser pauses after each complete message (so
 * pipelined requests are handled one at a time, in order): px_h1_feed returns
 * PX_H1_PAUSED with *consumed up to the end of that message; call px_h1_resume() before
 * feeding the rest. After an upgrade (101 / CONNECT) the remaining bytes are tunnel data
 * and the parser returns PX_H1_UPGRADED.
 *
 * Lifetime: header name/value pointers in a px_h1_head point into the parser's head
 * buffer and stay valid until the next message begins (px_h1_resume) or the parser is
 * freed.
 */
#ifndef TWOFOLD_PX_HTTP1_H
#define TWOFOLD_PX_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "px_buf.h"

enum px_h1_kind { PX_H1_REQUEST = 0, PX_H1_RESPONSE = 1 };

enum px_h1_body {
    PX_H1_BODY_NONE = 0,   /* no body (or HEAD/204/304 response) */
    PX_H1_BODY_LENGTH = 1, /* Content-Length */
    PX_H1_BODY_CHUNKED = 2,
    PX_H1_BODY_EOF = 3, /* response delimited by connection close */
};

/* Limits of one parser. Requests and responses get their own (the config's max_head_size /
 * max_headers vs max_response_head_size / max_response_headers): an application's
 * response head (many Set-Cookie fields) is not a client's request head. Trailer sections
 * are held to max_head and max_headers too. */
struct px_h1_limits {
    size_t max_request_line; /* -> 414 (responses: the status line; 502) */
    size_t max_head;         /* total head bytes -> 431 */
    unsigned max_headers;    /* -> 431 */
};

struct px_h1_header {
    const char *name;
    size_t name_len;
    const char *value; /* leading and trailing whitespace removed */
    size_t value_len;
};

/* method_id of a request whose method is a token llhttp does not know (RFC 9110 9.1:
 * methods are case-sensitive tokens, so "get" and "QUERY" are extension methods). Such a
 * request is forwarded with its method as received; nothing treats it as idempotent. */
#define PX_H1_METHOD_EXTENSION (-1)

struct px_h1_head {
    /* request */
    const char *method; /* "GET" ... */
    size_t method_len;
    int method_id; /* llhttp_method_t or PX_H1_METHOD_EXTENSION; for a response: the method
                      it answers (see px_h1_expect_response_to; HTTP_GET unless told) */
    const char *target;
    size_t target_len;
    /* response */
    int status;
    const char *reason;
    size_t reason_len;
    /* both */
    int http_major, http_minor;
    struct px_h1_header *headers;
    unsigned n_headers;
    enum px_h1_body body;
    uint64_t content_length; /* when body == PX_H1_BODY_LENGTH */
    bool keep_alive;         /* per version and Connection header */
    bool upgrade;            /* Upgrade requested (request) or 101 (response) */
    bool expect_continue;    /* request carries Expect: 100-continue */
    const char *host;        /* request Host value (exactly one on HTTP/1.1); for an
                                absolute-form target its authority (RFC 9112 3.2.2) */
    size_t host_len;
    /* OPTIONS and TRACE only (RFC 9110 7.6.2): the request carries a Max-Forwards field,
     * whose value is max_forwards; at 0 the proxy answers itself (px_h1_local_answer) */
    bool has_max_forwards;
    uint64_t max_forwards;
};

struct px_h1_callbacks {
    /* The whole head is parsed and validated. Return 0, or non-zero to stop (feed
     * returns PX_H1_ABORTED). */
    int (*on_head)(void *ud, const struct px_h1_head *head);
    /* Decoded body bytes (chunk framing removed). Same return convention. */
    int (*on_body)(void *ud, const char *p, size_t n);
    /* The message is complete. */
    int (*on_end)(void *ud);
    /* One trailer field of a chunked message, in order, between the last on_body and
     * on_end; f and what it points to are valid only during the call. Validated like a
     * header line; framing fields and Host in trailers are errors. NULL: trailers are
     * parsed and dropped. Same return convention. */
    int (*on_trailer)(void *ud, const struct px_h1_header *f);
};
/* Event order per message: on_head, on_body*, on_end, then px_h1_feed returns PX_H1_PAUSED.
 * Exceptions: an interim 1xx response (not 101) gets on_head only (status 1xx) and the
 * parser goes straight on with the final response in the same feed call (empty lines after
 * an interim response, as aiohttp sends after "100 Continue", are skipped; a response that
 * begins with one is an error); an upgrade (a request with head.upgrade, or a 101
 * response) gets on_head only, then px_h1_feed returns PX_H1_UPGRADED (no on_end: the
 * connection is no longer HTTP). After PX_H1_UPGRADED, px_h1_resume() readies the parser
 * for a next message (e.g. the upstream refused the upgrade). PX_H1_ERROR and
 * PX_H1_ABORTED are terminal. A head's pointers are only valid until the next message
 * begins; an interim head's only during its on_head call. */

/* Return codes of px_h1_feed / px_h1_finish. */
enum {
    PX_H1_OK = 0,       /* everything consumed, want more */
    PX_H1_PAUSED = 1,   /* a message ended; *consumed stops after it */
    PX_H1_UPGRADED = 2, /* upgrade: bytes after *consumed are tunnel data */
    PX_H1_ERROR = -1,   /* px_h1_error_status / px_h1_error_reason say why */
    PX_H1_ABORTED = -2, /* a callback asked to stop */
};

struct px_h1_parser; /* opaque */

struct px_h1_parser *px_h1_parser_new(enum px_h1_kind kind, const struct px_h1_limits *lim,
                                      const struct px_h1_callbacks *cb, void *ud);
void px_h1_parser_free(struct px_h1_parser *p); /* NULL is a no-op */

int px_h1_feed(struct px_h1_parser *p, const char *data, size_t len, size_t *consumed);
/* Ready for the next message after PX_H1_PAUSED. */
void px_h1_resume(struct px_h1_parser *p);
/* The peer closed: completes an EOF-delimited response, else an error if mid-message. */
int px_h1_finish(struct px_h1_parser *p);
/* Responses: the request method this response answers (HEAD has no body). */
void px_h1_expect_response_to(struct px_h1_parser *p, int method_id);
/* True when no byte of a message has been seen since the last pause/resume. */
bool px_h1_idle(const struct px_h1_parser *p);

/* After PX_H1_ERROR: the status to answer a client with (400, 414, 417, 431, 501, 505, or
 * 500 when out of memory; always 502 for responses) and a short static reason for logs.
 * The full list of checks and their statuses is at the top of http1_validate.c. */
int px_h1_error_status(const struct px_h1_parser *p);
const char *px_h1_error_reason(const struct px_h1_parser *p);

/* ---- serialisation ---- */

/* What the proxy adds to a request forwarded upstream. */
struct px_h1_forward {
    const char *client_addr; /* appended to X-Forwarded-For */
    const char *proto;       /* "https" */
    /* Host to send when the request carries none (HTTP/1.0 without Host and without an
     * absolute-form target); NULL: send none. */
    const char *host;
    /* received-by pseudonym of the Via entry appended (RFC 9110 7.6.3); NULL: no Via */
    const char *via;
};

/* Request head as sent upstream: hop-by-hop headers removed (Connection and the headers it
 * names, Keep-Alive, Proxy-Connection, TE (re-sent as "TE: trailers" with "Connection: te,
 * keep-alive" when px_h1_te_trailers), Trailer, HTTP2-Settings, Upgrade unless upgrading;
 * an Upgrade to h2c or h2 is never forwarded: RFC 9113 3.1 forbids h2c over TLS, and the
 * upstream hop is HTTP/1.1), Host kept (a request without one gets fwd->host, first in
 * line), an absolute-form target sent as origin-form with Host replaced by its authority
 * (RFC 9112 3.2.2; "*" for OPTIONS without a path, 3.2.4), Max-Forwards of OPTIONS and
 * TRACE decremented, X-Forwarded-For appended, X-Forwarded-Proto and X-Forwarded-Host set,
 * "1.<minor> <fwd->via>" appended to Via, framing canonical:
 * "Content-Length: N" or "Transfer-Encoding: chunked", always HTTP/1.1 with keep-alive
 * (or "Connection: upgrade" plus Upgrade when upgrading). */
int px_h1_request_head_write(const struct px_h1_head *h, const struct px_h1_forward *fwd,
                             struct px_buf *out);

/* True when the proxy is the final recipient of h: OPTIONS or TRACE with Max-Forwards 0
 * (RFC 9110 7.6.2), unless it asks for an upgrade (then it is forwarded, with 0). */
bool px_h1_local_answer(const struct px_h1_head *h);

/* The proxy's own complete answer to such a request: OPTIONS gets 200 with Allow and
 * "Content-Length: 0"; TRACE gets 200 "message/http" echoing the request head as received
 * (normalised OWS), minus fields likely to carry credentials (Authorization,
 * Proxy-Authorization, Cookie: RFC 9110 9.3.8). "Connection: close" when close is true,
 * "Connection: keep-alive" for a kept HTTP/1.0 client. */
int px_h1_local_answer_write(const struct px_h1_head *h, bool close, struct px_buf *out);

/* Response head as sent to the client: hop-by-hop removed, canonical framing (EOF bodies
 * are re-chunked for HTTP/1.1 clients), "Connection: close" when close is true, and
 * "Connection: upgrade" + Upgrade kept for 101. client_minor is the client's HTTP minor
 * version. */
int px_h1_response_head_write(const struct px_h1_head *h, bool close, int client_minor,
                              struct px_buf *out);

/* How the body of response h travels to a client of HTTP/1.<client_minor>, matching what
 * px_h1_response_head_write announced: PX_H1_BODY_NONE (send no body bytes),
 * PX_H1_BODY_LENGTH (copy the bytes as they are), PX_H1_BODY_CHUNKED (re-chunk every
 * on_body piece with px_h1_chunk_begin/_end, end with px_h1_chunk_last), PX_H1_BODY_EOF
 * (HTTP/1.0 client and a chunked or EOF upstream body: copy the bytes unframed and close
 * the connection after them; the head said "Connection: close"). */
enum px_h1_body px_h1_response_framing(const struct px_h1_head *h, int client_minor);

/* Chunk framing for re-chunked bodies: "<hex>\r\n" before n bytes, "\r\n" after, and the
 * last-chunk "0\r\n\r\n". */
int px_h1_chunk_begin(struct px_buf *out, size_t n);
int px_h1_chunk_end(struct px_buf *out);
int px_h1_chunk_last(struct px_buf *out);

/* A last-chunk with trailers: px_h1_chunk_last_open ("0\r\n"), px_h1_trailer_write for
 * each field, then px_h1_chunk_end ("\r\n") closes the trailer section. The trailer
 * writer leaves out hop-by-hop fields (Connection, Keep-Alive, Proxy-Connection, TE,
 * Trailer, Upgrade): a trailer cannot change how this connection is handled. */
int px_h1_chunk_last_open(struct px_buf *out);
int px_h1_trailer_write(struct px_buf *out, const struct px_h1_header *f);

/* True when request h offers "TE: trailers" (HTTP/1.1 only: TE and chunked responses do
 * not exist in HTTP/1.0). Such a client will not discard trailer fields, so the proxy
 * relays response trailers to it and offers "TE: trailers" upstream in its name (RFC 9110
 * 10.1.4, 6.5.1); other TE members (transfer codings) are between the client and this
 * proxy and are not forwarded. */
bool px_h1_te_trailers(const struct px_h1_head *h);

/* A short complete error response ("502 Bad Gateway" etc) with a text body and
 * Connection: close when close is true. */
int px_h1_error_response_write(int status, bool close, struct px_buf *out);

/* The head of a response the proxy answers itself (the admin endpoint): status line with
 * its reason phrase, Content-Type, Content-Length len (left out for 204 and 304, which
 * have no body), extra (complete "Name: value\r\n" lines, or NULL) and Connection: close
 * when close. 0 or -ENOMEM (out unchanged). */
int px_h1_local_head_write(int status, const char *ctype, size_t len, const char *extra, bool close,
                           struct px_buf *out);
const char *px_h1_status_text(int status);

#endif
