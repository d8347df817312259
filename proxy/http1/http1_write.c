/* Serialisation: request heads sent upstream, response heads sent to clients, chunk
 * framing for re-chunked bodies, and the proxy's own short error responses.
 *
 * Both head writers drop hop-by-hop fields (Connection and every field it names,
 * Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade unless upgrading) and the received
 * framing fields (Transfer-Encoding, Content-Length), then emit exactly one canonical
 * framing field, so what the next hop parses is what this proxy parsed. On failure a
 * writer leaves out->len as it found it. The request writer also does the gateway's
 * duties of RFC 9110 7.6 and RFC 9112 3.2 (Via, Max-Forwards, absolute-form targets). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <llhttp.h>

#include "http1_int.h"

#define PUT(out, lit) px_buf_append((out), (lit), sizeof(lit) - 1)

/* The hot-path writers format without printf (vsnprintf was ~2 % of a keep-alive request). */
static int put_str(struct px_buf *out, const char *s)
{
    return px_buf_append(out, s, strlen(s));
}

/* v in base 10 or 16 (lower case), at least min_digits digits with leading zeros: the
 * bytes of "%0*llu" / "%llx". */
static int put_uint(struct px_buf *out, unsigned long long v, unsigned base, int min_digits)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (i > 0 && (int)(sizeof tmp - i) < min_digits)
        tmp[--i] = '0';
    return px_buf_append(out, tmp + i, sizeof tmp - i);
}

static int put_content_length(struct px_buf *out, uint64_t n)
{
    return PUT(out, "Content-Length: ") || put_uint(out, n, 10, 1) || PUT(out, "\r\n");
}

static void rewind_to(struct px_buf *out, size_t mark)
{
    out->len = mark;
    if (out->data)
        out->data[mark] = '\0';
}

const char *px_h1_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 102:
        return "Processing";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

static bool absolute_form(const struct px_h1_head *h)
{
    return h->target_len > 0 && h->target[0] != '/' && h->target[0] != '*';
}

/* True when one of the Connection fields lists name (RFC 9110 7.6.1). */
static bool named_by_connection(const struct px_h1_head *h, const char *name, size_t n)
{
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (!PX_H1_IS(f->name, f->name_len, "connection"))
            continue;
        const char *pos = f->value, *end = f->value + f->value_len, *e;
        size_t en;
        while (px_h1_list_next(&pos, end, &e, &en)) {
            if (px_h1_span_ieq(e, en, name, n))
                return true;
        }
    }
    return false;
}

/* True when a Connection field lists something besides keep-alive / upgrade (fields the
 * writers treat themselves), i.e. when named_by_connection() has to be asked at all: this
 * keeps the common case linear in the number of fields. "close" counts: a field named
 * "close" is hop-by-hop once "Connection: close" names it (found by fuzzing). */
static bool connection_names_fields(const struct px_h1_head *h)
{
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (!PX_H1_IS(f->name, f->name_len, "connection"))
            continue;
        const char *pos = f->value, *end = f->value + f->value_len, *e;
        size_t en;
        while (px_h1_list_next(&pos, end, &e, &en))
            if (en > 0 && !PX_H1_IS(e, en, "keep-alive") && !PX_H1_IS(e, en, "upgrade"))
                return true;
    }
    return false;
}

bool px_h1_te_trailers(const struct px_h1_head *h)
{
    if (h->http_major != 1 || h->http_minor < 1)
        return false;
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (!PX_H1_IS(f->name, f->name_len, "te"))
            continue;
        const char *pos = f->value, *end = f->value + f->value_len, *e;
        size_t en;
        while (px_h1_list_next(&pos, end, &e, &en))
            if (PX_H1_IS(e, en, "trailers"))
                return true;
    }
    return false;
}

/* Fields never forwarded as received (both directions). The forwarding fields the proxy
 * sets are dropped here too (X-Forwarded-For is rebuilt, not dropped, by the request
 * writer). named: connection_names_fields(h). */
static bool dropped(const struct px_h1_head *h, const struct px_h1_header *f, bool request,
                    bool named)
{
    const char *s = f->name;
    size_t n = f->name_len;
    if (PX_H1_IS(s, n, "connection") || PX_H1_IS(s, n, "keep-alive") ||
        PX_H1_IS(s, n, "proxy-connection") || PX_H1_IS(s, n, "te") || PX_H1_IS(s, n, "trailer") ||
        PX_H1_IS(s, n, "transfer-encoding") || PX_H1_IS(s, n, "content-length") ||
        PX_H1_IS(s, n, "upgrade"))
        return true;
    if (request && (PX_H1_IS(s, n, "x-forwarded-proto") || PX_H1_IS(s, n, "x-forwarded-host") ||
                    PX_H1_IS(s, n, "x-forwarded-for") || PX_H1_IS(s, n, "http2-settings")))
        return true;
    /* Host is never hop-by-hop: "Connection: host" must not strip it. The Host of an
     * absolute-form request is replaced by the target's authority (RFC 9112 3.2.2). */
    if (request && PX_H1_IS(s, n, "host"))
        return absolute_form(h);
    /* An HTTP/1.0 client's Expect means nothing (RFC 9110 10.1.1) but would turn the
     * expectation on at the HTTP/1.1 upstream. */
    if (request && h->http_minor == 0 && PX_H1_IS(s, n, "expect"))
        return true;
    return named && named_by_connection(h, s, n);
}

static int put_field(struct px_buf *out, const struct px_h1_header *f)
{
    if (px_buf_append(out, f->name, f->name_len) || PUT(out, ": ") ||
        px_buf_append(out, f->value, f->value_len) || PUT(out, "\r\n"))
        return -ENOMEM;
    return 0;
}

/* "Name: v1, v2[, extra]\r\n" joining every field called name; nothing when there is no
 * value at all. */
static int put_joined(struct px_buf *out, const struct px_h1_head *h, const char *lname,
                      size_t lname_len, const char *shown, const char *extra)
{
    bool any = false;
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (f->name_len != lname_len || !px_h1_ieq(f->name, lname, lname_len))
            continue;
        if ((any ? PUT(out, ", ") : put_str(out, shown) || PUT(out, ": ")) ||
            px_buf_append(out, f->value, f->value_len))
            return -ENOMEM;
        any = true;
    }
    if (extra && (any ? PUT(out, ", ") : put_str(out, shown) || PUT(out, ": ")))
        return -ENOMEM;
    if (extra && px_buf_append(out, extra, strlen(extra)))
        return -ENOMEM;
    if ((any || extra) && PUT(out, "\r\n"))
        return -ENOMEM;
    return 0;
}

/* Host as received; else (or for an absolute-form target) the target's authority; else
 * the configured fallback. */
static int put_host_if_missing(const struct px_h1_head *h, const struct px_h1_forward *fwd,
                               struct px_buf *out)
{
    for (unsigned i = 0; i < h->n_headers && !absolute_form(h); i++)
        if (PX_H1_IS(h->headers[i].name, h->headers[i].name_len, "host"))
            return 0;
    if (h->host)
        return PUT(out, "Host: ") || px_buf_append(out, h->host, h->host_len) || PUT(out, "\r\n");
    if (fwd && fwd->host)
        return PUT(out, "Host: ") || put_str(out, fwd->host) || PUT(out, "\r\n");
    return 0;
}

/* "Via: <received values>, 1.<minor> <pseudonym>" (RFC 9110 7.6.3: received-protocol is
 * the version of the request as received; the protocol name is omitted for HTTP). */
static int put_via(struct px_buf *out, const struct px_h1_head *h, const char *via, bool named)
{
    bool any = false;
    bool hop = named && named_by_connection(h, "via", 3);
    for (unsigned i = 0; i < h->n_headers && !hop; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (!PX_H1_IS(f->name, f->name_len, "via") || f->value_len == 0)
            continue;
        if ((any ? PUT(out, ", ") : PUT(out, "Via: ")) ||
            px_buf_append(out, f->value, f->value_len))
            return -ENOMEM;
        any = true;
    }
    if (any ? PUT(out, ", ") : PUT(out, "Via: "))
        return -ENOMEM;
    /* received-protocol: "2" for HTTP/2 (RFC 9113 has no minor version), else 1.<minor> */
    int rc = h->http_major == 2 ? PUT(out, "2")
                                : PUT(out, "1.") || put_uint(out, (unsigned)h->http_minor, 10, 1);
    return rc || PUT(out, " ") || put_str(out, via) || PUT(out, "\r\n");
}

/* The Upgrade protocols offered, without h2c and h2 (see px_h1_request_head_write). */
static int put_upgrade(struct px_buf *out, const struct px_h1_head *h)
{
    bool any = false;
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (!PX_H1_IS(f->name, f->name_len, "upgrade"))
            continue;
        const char *pos = f->value, *end = f->value + f->value_len, *e;
        size_t n;
        while (px_h1_list_next(&pos, end, &e, &n)) {
            if (n == 0 || PX_H1_IS(e, n, "h2c") || PX_H1_IS(e, n, "h2"))
                continue;
            if ((any ? PUT(out, ", ") : PUT(out, "Upgrade: ")) || px_buf_append(out, e, n))
                return -ENOMEM;
            any = true;
        }
    }
    return any ? PUT(out, "\r\n") : 0;
}

static int request_fields(const struct px_h1_head *h, const struct px_h1_forward *fwd,
                          struct px_buf *out)
{
    if (put_host_if_missing(h, fwd, out))
        return -ENOMEM;
    bool named = connection_names_fields(h);
    const char *via = fwd ? fwd->via : NULL;
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (dropped(h, f, true, named) || (via && PX_H1_IS(f->name, f->name_len, "via")))
            continue;
        int rc = h->has_max_forwards && PX_H1_IS(f->name, f->name_len, "max-forwards")
                     ? PUT(out, "Max-Forwards: ") ||
                           put_uint(out, h->max_forwards ? h->max_forwards - 1 : 0, 10, 1) ||
                           PUT(out, "\r\n")
                     : put_field(out, f);
        if (rc)
            return -ENOMEM;
    }
    if (put_joined(out, h, "x-forwarded-for", 15, "X-Forwarded-For", fwd ? fwd->client_addr : NULL))
        return -ENOMEM;
    if (PUT(out, "X-Forwarded-Proto: ") || put_str(out, fwd && fwd->proto ? fwd->proto : "https") ||
        PUT(out, "\r\n"))
        return -ENOMEM;
    if (h->host && (PUT(out, "X-Forwarded-Host: ") || px_buf_append(out, h->host, h->host_len) ||
                    PUT(out, "\r\n")))
        return -ENOMEM;
    if (via && put_via(out, h, via, named))
        return -ENOMEM;
    if (h->body == PX_H1_BODY_LENGTH && put_content_length(out, h->content_length))
        return -ENOMEM;
    if (h->body == PX_H1_BODY_CHUNKED && PUT(out, "Transfer-Encoding: chunked\r\n"))
        return -ENOMEM;
    if (h->upgrade)
        return PUT(out, "Connection: upgrade\r\n") || put_upgrade(out, h);
    /* TE is hop-by-hop, so it is sent with the "te" connection option (RFC 9110 10.1.4);
     * only its "trailers" member is this proxy's to offer (see px_h1_te_trailers). */
    if (px_h1_te_trailers(h))
        return PUT(out, "TE: trailers\r\nConnection: te, keep-alive\r\n");
    return PUT(out, "Connection: keep-alive\r\n");
}

/* The request-target sent upstream: origin-form as received; an absolute-form target as
 * origin-form (RFC 9112 3.2.1: what follows the authority, "/" when the path is empty),
 * or "*" for an OPTIONS without path and query (3.2.4). */
static int put_target(struct px_buf *out, const struct px_h1_head *h)
{
    if (!absolute_form(h))
        return px_buf_append(out, h->target, h->target_len);
    const char *end = h->target + h->target_len;
    const char *p = memchr(h->target, '/', h->target_len) + 2; /* the validator saw "://" */
    while (p < end && *p != '/' && *p != '?' && *p != '#')
        p++;
    if (p == end)
        return h->method_id == HTTP_OPTIONS ? PUT(out, "*") : PUT(out, "/");
    if (*p != '/' && PUT(out, "/"))
        return -ENOMEM;
    return px_buf_append(out, p, (size_t)(end - p));
}

int px_h1_request_head_write(const struct px_h1_head *h, const struct px_h1_forward *fwd,
                             struct px_buf *out)
{
    size_t mark = out->len;
    if (px_buf_append(out, h->method, h->method_len) || PUT(out, " ") || put_target(out, h) ||
        PUT(out, " HTTP/1.1\r\n") || request_fields(h, fwd, out) || PUT(out, "\r\n")) {
        rewind_to(out, mark);
        return -ENOMEM;
    }
    return 0;
}

bool px_h1_local_answer(const struct px_h1_head *h)
{
    return h->has_max_forwards && h->max_forwards == 0 && !h->upgrade &&
           (h->method_id == HTTP_OPTIONS || h->method_id == HTTP_TRACE);
}

/* Fields a TRACE echo leaves out (RFC 9110 9.3.8: likely to carry credentials). */
static bool trace_hidden(const struct px_h1_header *f)
{
    return PX_H1_IS(f->name, f->name_len, "authorization") ||
           PX_H1_IS(f->name, f->name_len, "proxy-authorization") ||
           PX_H1_IS(f->name, f->name_len, "cookie");
}

/* The TRACE echo: the request line and the fields as received (OWS normalised). With
 * out NULL, only returns the length. */
static size_t trace_body(const struct px_h1_head *h, struct px_buf *out, int *rc)
{
    size_t n = h->method_len + 1 + h->target_len + 11 + 2; /* " HTTP/1.x\r\n", "\r\n" */
    if (out)
        *rc = px_buf_append(out, h->method, h->method_len) || PUT(out, " ") ||
              px_buf_append(out, h->target, h->target_len) || PUT(out, " HTTP/1.") ||
              put_uint(out, (unsigned)h->http_minor, 10, 1) || PUT(out, "\r\n");
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (trace_hidden(f))
            continue;
        n += f->name_len + 2 + f->value_len + 2;
        if (out && !*rc)
            *rc = put_field(out, f);
    }
    if (out && !*rc)
        *rc = PUT(out, "\r\n");
    return n;
}

int px_h1_local_answer_write(const struct px_h1_head *h, bool close, struct px_buf *out)
{
    size_t mark = out->len;
    bool trace = h->method_id == HTTP_TRACE;
    int rc = PUT(out, "HTTP/1.1 200 OK\r\n");
    if (!rc && trace)
        rc = PUT(out, "Content-Type: message/http\r\n") ||
             put_content_length(out, trace_body(h, NULL, NULL));
    else if (!rc)
        rc = PUT(out, "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH\r\n"
                      "Content-Length: 0\r\n");
    if (!rc && (close || h->http_minor == 0))
        rc = close ? PUT(out, "Connection: close\r\n") : PUT(out, "Connection: keep-alive\r\n");
    if (!rc)
        rc = PUT(out, "\r\n");
    if (!rc && trace)
        trace_body(h, out, &rc);
    if (rc) {
        rewind_to(out, mark);
        return -ENOMEM;
    }
    return 0;
}

static bool bodiless_status(int status)
{
    return status < 200 || status == 204 || status == 304;
}

enum px_h1_body px_h1_response_framing(const struct px_h1_head *h, int client_minor)
{
    if (bodiless_status(h->status) || h->method_id == HTTP_HEAD)
        return PX_H1_BODY_NONE;
    switch (h->body) {
    case PX_H1_BODY_LENGTH:
        return PX_H1_BODY_LENGTH;
    case PX_H1_BODY_CHUNKED:
    case PX_H1_BODY_EOF:
        return client_minor >= 1 ? PX_H1_BODY_CHUNKED : PX_H1_BODY_EOF;
    default:
        return PX_H1_BODY_NONE;
    }
}

static int response_fields(const struct px_h1_head *h, bool close, int client_minor,
                           struct px_buf *out)
{
    bool head_answer = h->method_id == HTTP_HEAD && !bodiless_status(h->status);
    bool named = connection_names_fields(h);
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        bool keep = (head_answer && PX_H1_IS(f->name, f->name_len, "content-length")) ||
                    (h->status == 101 && PX_H1_IS(f->name, f->name_len, "upgrade"));
        if ((keep || !dropped(h, f, false, named)) && put_field(out, f))
            return -ENOMEM;
    }
    enum px_h1_body fr = px_h1_response_framing(h, client_minor);
    int rc = 0;
    if (fr == PX_H1_BODY_LENGTH)
        rc = put_content_length(out, h->content_length);
    else if (fr == PX_H1_BODY_CHUNKED)
        rc = PUT(out, "Transfer-Encoding: chunked\r\n");
    else if (fr == PX_H1_BODY_NONE && !bodiless_status(h->status) && !head_answer)
        rc = PUT(out, "Content-Length: 0\r\n");
    if (rc)
        return rc;
    if (h->status == 101)
        return PUT(out, "Connection: upgrade\r\n");
    if (h->status < 200)
        return 0;
    if (close || fr == PX_H1_BODY_EOF)
        return PUT(out, "Connection: close\r\n");
    return client_minor == 0 ? PUT(out, "Connection: keep-alive\r\n") : 0;
}

int px_h1_response_head_write(const struct px_h1_head *h, bool close, int client_minor,
                              struct px_buf *out)
{
    size_t mark = out->len;
    const char *reason = h->reason;
    size_t reason_len = h->reason_len;
    if (reason_len == 0) {
        reason = px_h1_status_text(h->status);
        reason_len = strlen(reason);
    }
    int st =
        (h->status >= 0 && h->status <= 999)
            ? PUT(out, "HTTP/1.1 ") || put_uint(out, (unsigned)h->status, 10, 3) || PUT(out, " ")
            : px_buf_printf(out, "HTTP/1.1 %03d ", h->status);
    if (st || px_buf_append(out, reason, reason_len) || PUT(out, "\r\n") ||
        response_fields(h, close, client_minor, out) || PUT(out, "\r\n")) {
        rewind_to(out, mark);
        return -ENOMEM;
    }
    return 0;
}

int px_h1_chunk_begin(struct px_buf *out, size_t n)
{
    if (n == 0)
        return -EINVAL; /* a zero-size chunk is the last-chunk: px_h1_chunk_last */
    return put_uint(out, n, 16, 1) || PUT(out, "\r\n");
}

int px_h1_chunk_end(struct px_buf *out)
{
    return PUT(out, "\r\n");
}

int px_h1_chunk_last(struct px_buf *out)
{
    return PUT(out, "0\r\n\r\n");
}

int px_h1_chunk_last_open(struct px_buf *out)
{
    return PUT(out, "0\r\n");
}

int px_h1_trailer_write(struct px_buf *out, const struct px_h1_header *f)
{
    const char *s = f->name;
    size_t n = f->name_len, mark = out->len;
    if (PX_H1_IS(s, n, "connection") || PX_H1_IS(s, n, "keep-alive") ||
        PX_H1_IS(s, n, "proxy-connection") || PX_H1_IS(s, n, "te") || PX_H1_IS(s, n, "trailer") ||
        PX_H1_IS(s, n, "upgrade"))
        return 0;
    if (put_field(out, f)) {
        rewind_to(out, mark);
        return -ENOMEM;
    }
    return 0;
}

int px_h1_local_head_write(int status, const char *ctype, size_t len, const char *extra, bool close,
                           struct px_buf *out)
{
    size_t mark = out->len;
    bool bodyless = status == 204 || status == 304;
    int rc = px_buf_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status,
                           px_h1_status_text(status), ctype ? ctype : "text/plain");
    if (!rc && !bodyless)
        rc = px_buf_printf(out, "Content-Length: %zu\r\n", len);
    if (!rc && extra)
        rc = put_str(out, extra);
    if (!rc && close)
        rc = PUT(out, "Connection: close\r\n");
    if (rc || PUT(out, "\r\n")) {
        rewind_to(out, mark);
        return -ENOMEM;
    }
    return 0;
}

int px_h1_error_response_write(int status, bool close, struct px_buf *out)
{
    if (status < 400 || status > 599)
        return -EINVAL;
    const char *text = px_h1_status_text(status);
    size_t body_len = (size_t)snprintf(NULL, 0, "%d %s\n", status, text);
    size_t mark = out->len;
    if (px_buf_printf(out,
                      "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n"
                      "%d %s\n",
                      status, text, body_len, close ? "Connection: close\r\n" : "", status, text)) {
        rewind_to(out, mark);
        return -ENOMEM;
    }
    return 0;
}
