/* HTTP/2 fields <-> the HTTP/1 forms the exchange speaks (px_h2_stream.h).
 *
 * nghttp2's HTTP messaging checks run before these (RFC 9113 8.2, 8.3: lowercase names,
 * no connection-specific fields, "te" only "trailers", pseudo-headers present, once,
 * before regular fields, content-length against DATA); a request failing them never
 * reaches the session. What is added here is the proxy's own strictness: the target as
 * strict as the HTTP/1 layer's, CONNECT refused, the header list bounded.
 */
#include "px_h2_stream.h"

#include <llhttp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int px_h2_field_add(struct px_h2_stream *st, const uint8_t *name, size_t nlen, const uint8_t *value,
                    size_t vlen, size_t max_list)
{
    st->header_bytes += nlen + vlen + 32; /* RFC 9113 6.5.2: the size of a field */
    if (st->header_bytes > max_list)
        return -1;
    struct px_h2_field *f = px_vec_push(&st->fields);
    if (!f)
        return -1;
    f->name = st->text.len;
    f->name_len = nlen;
    f->value = st->text.len + nlen + 1;
    f->value_len = vlen;
    if (px_buf_append(&st->text, name, nlen) < 0 || px_buf_append(&st->text, "", 1) < 0 ||
        px_buf_append(&st->text, value, vlen) < 0 || px_buf_append(&st->text, "", 1) < 0) {
        st->fields.n--;
        return -1;
    }
    return 0;
}

/* llhttp's method number for a method token, or PX_H1_METHOD_EXTENSION. */
static int method_id(const char *m, size_t n)
{
#define XX(num, name, string)                                                                      \
    if (n == sizeof #string - 1 && memcmp(m, #string, n) == 0)                                     \
        return num;
    HTTP_METHOD_MAP(XX)
#undef XX
    return PX_H1_METHOD_EXTENSION;
}

/* origin-form (RFC 9112 3.2.1) or "*" for OPTIONS: visible ASCII, no fragment. */
static bool target_ok(const char *t, size_t n, int method)
{
    if (n == 1 && t[0] == '*')
        return method == HTTP_OPTIONS;
    if (n == 0 || t[0] != '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)t[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '#')
            return false;
    }
    return true;
}

static bool is(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* The decimal content-length nghttp2 has already checked for syntax. */
static uint64_t decimal(const char *s, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    return v;
}

/* Joins the cookie crumbs into one field value (RFC 9113 8.2.3). */
static int join_cookie(struct px_buf *cookie, const char *v, size_t n)
{
    if (cookie->len && px_buf_append(cookie, "; ", 2) < 0)
        return -1;
    return px_buf_append(cookie, v, n);
}

/* Sets the pseudo-header named name; false for one this proxy does not take. */
static bool pseudo(struct px_h1_head *h, const char *name, size_t nlen, const char *v, size_t vlen)
{
    if (is(name, nlen, ":method")) {
        h->method = v;
        h->method_len = vlen;
    } else if (is(name, nlen, ":path")) {
        h->target = v;
        h->target_len = vlen;
    } else if (is(name, nlen, ":authority")) {
        h->host = v;
        h->host_len = vlen;
    } else if (!is(name, nlen, ":scheme")) {
        return false; /* :protocol (extended CONNECT) is not offered */
    }
    return true;
}

int px_h2_request_head(struct px_h2_stream *st, bool end_stream, struct px_h1_head *h,
                       struct px_h1_header *hdr, size_t cap, struct px_buf *cookie)
{
    memset(h, 0, sizeof *h);
    h->http_major = 2;
    h->http_minor = 1; /* for the writer: Expect is meaningful, as in HTTP/1.1 */
    h->keep_alive = true;
    h->headers = hdr;
    bool has_length = false;
    for (size_t i = 0; i < st->fields.n; i++) {
        const struct px_h2_field *f = &st->fields.v[i];
        const char *name = st->text.data + f->name, *v = st->text.data + f->value;
        if (name[0] == ':') {
            if (!pseudo(h, name, f->name_len, v, f->value_len))
                return 400;
        } else if (is(name, f->name_len, "cookie")) {
            if (join_cookie(cookie, v, f->value_len) < 0)
                return 500;
        } else {
            if (h->n_headers + 1 >= cap)
                return 431;
            if (is(name, f->name_len, "content-length")) {
                has_length = true;
                h->content_length = decimal(v, f->value_len);
            }
            hdr[h->n_headers++] = (struct px_h1_header){name, f->name_len, v, f->value_len};
        }
    }
    if (!h->method)
        return 400;
    h->method_id = method_id(h->method, h->method_len);
    if (h->method_id == HTTP_CONNECT)
        return 501; /* a TCP tunnel through an HTTP/2 stream is not offered */
    if (!h->target)
        return 400;
    if (!target_ok(h->target, h->target_len, h->method_id))
        return 400;
    if (cookie->len)
        hdr[h->n_headers++] = (struct px_h1_header){"cookie", 6, cookie->data, cookie->len};
    if (end_stream)
        h->body = has_length && h->content_length ? PX_H1_BODY_LENGTH : PX_H1_BODY_NONE;
    else
        h->body = has_length ? PX_H1_BODY_LENGTH : PX_H1_BODY_CHUNKED;
    st->req_chunked = h->body == PX_H1_BODY_CHUNKED;
    return 0;
}

/* Fields of an HTTP/1 response that mean nothing (or harm) in HTTP/2. */
static bool connection_specific(const struct px_h1_header *f)
{
    static const char *const drop[] = {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding",
        "upgrade",    "te",         "trailer"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (f->name_len == strlen(drop[i]) && strncasecmp(f->name, drop[i], f->name_len) == 0)
            return true;
    return false;
}

/* A field named by the response's Connection header is hop-by-hop too (RFC 9110 7.6.1). */
static bool named_by_connection(const struct px_h1_head *h, const struct px_h1_header *f)
{
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *c = &h->headers[i];
        if (c->name_len != 10 || strncasecmp(c->name, "connection", 10) != 0)
            continue;
        const char *p = c->value, *end = c->value + c->value_len;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
                p++;
            const char *e = p;
            while (e < end && *e != ',' && *e != ' ' && *e != '\t')
                e++;
            if ((size_t)(e - p) == f->name_len && strncasecmp(p, f->name, f->name_len) == 0)
                return true;
            p = e;
        }
    }
    return false;
}

int px_h2_response_nv(const struct px_h1_head *h, nghttp2_nv *nv, size_t cap, struct px_buf *names,
                      char status[4])
{
    size_t need = 0;
    for (unsigned i = 0; i < h->n_headers; i++)
        need += h->headers[i].name_len;
    names->len = 0;
    if (cap == 0 || px_buf_reserve(names, need) < 0) /* pointers into names stay valid */
        return -1;
    int st = h->status >= 100 && h->status <= 999 ? h->status : 502;
    status[0] = (char)('0' + st / 100);
    status[1] = (char)('0' + st / 10 % 10);
    status[2] = (char)('0' + st % 10);
    status[3] = '\0';
    size_t n = 0;
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        if (connection_specific(f) || named_by_connection(h, f))
            continue;
        if (n == cap)
            return -1;
        char *lower = names->data + names->len;
        for (size_t k = 0; k < f->name_len; k++) {
            char ch = f->name[k];
            lower[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
        }
        names->len += f->name_len;
        nv[n++] = (nghttp2_nv){(uint8_t *)lower, (uint8_t *)f->value, f->name_len, f->value_len,
                               NGHTTP2_NV_FLAG_NONE};
    }
    names->data[names->len] = '\0';
    return (int)n;
}
