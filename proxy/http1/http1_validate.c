/* The proxy's own HTTP/1.x head checks, on top of llhttp's strict mode.
 *
 * Debian's llhttp 8.1.0 accepts several ambiguous forms even with LLHTTP_STRICT_MODE
 * (obs-fold, repeated equal Content-Length, Transfer-Encoding on HTTP/1.0, ...), and a
 * proxy that forwards what its upstream parses differently invites request smuggling. So
 * every head is checked here first; llhttp then parses the same bytes and the parser
 * cross-checks llhttp's framing against ours (http1.c). Statuses below are for requests;
 * every failure of a response becomes 502.
 *
 * Line structure (checked by the scanner in http1.c while bytes arrive)
 *   bare CR or bare LF anywhere in the head or trailers (every line ends in CRLF) -> 400
 *   request line longer than max_request_line (bytes before CRLF)                -> 414
 *   (a status line longer than max_request_line                                  -> 502)
 *   head longer than max_head (all bytes through the empty line), or more than
 *   max_headers header lines                                                     -> 431
 *   empty lines before a request line are skipped (RFC 9112 2.2); before a status line
 *   they are an error, except up to 8 after an interim (1xx) response (aiohttp)  -> 502
 * Request line (checked as soon as its CRLF arrives, then again with the whole head):
 *   method SP request-target SP HTTP-version, exactly one SP each
 *   no SP at all (HTTP/0.9 style "GET /"), or no version                         -> 400
 *   method not a token                                                           -> 400
 *   empty target (two SPs), whitespace or control bytes or bytes >= 0x80 in the
 *   target                                                                       -> 400
 *   version not of the form "HTTP/" DIGIT "." DIGIT                              -> 400
 *   well-formed version other than 1.0 / 1.1 (HTTP/0.9, 1.2, 2.0)                -> 505
 *   (a method token unknown to llhttp, e.g. "QUERY", "BAN", or "get": RFC 9110 9.1
 *   methods are case-sensitive tokens, is an extension method, forwarded as is)
 *   CONNECT (not supported)                                                      -> 501
 *   target not origin-form ("/..."), not "*" with OPTIONS, not absolute-form
 *   "http[s]://authority..."                                                     -> 400
 *   absolute-form with empty authority or userinfo                               -> 400
 * Status line: HTTP-version SP 3DIGIT [SP reason]; version 1.0/1.1; status 100..599;
 *   no control bytes in the reason                                               -> 502
 * Header lines
 *   line starting with SP/HTAB (obs-fold)                                        -> 400
 *   no colon; empty name; name with non-token bytes; whitespace before the colon -> 400
 *   NUL or another control byte except HTAB (or DEL) in a value                  -> 400
 * Framing
 *   Transfer-Encoding on an HTTP/1.0 message                                     -> 400
 *   Content-Length together with Transfer-Encoding                               -> 400
 *   more than one Content-Length header, even with equal values                  -> 400
 *   Content-Length not 1*DIGIT (sign, spaces inside, list, empty) or > 2^64-1    -> 400
 *   Transfer-Encoding with an empty element (",chunked", "chunked,", "") or a
 *   non-token element                                                            -> 400
 *   Transfer-Encoding not ending in exactly one "chunked" ("chunked, chunked",
 *   "gzip", "chunked, gzip")                                                     -> 400
 *   other codings before the final chunked ("gzip, chunked", "identity, chunked")-> 501
 * Request semantics
 *   HTTP/1.1 without Host, or with more than one Host (HTTP/1.0: more than one)  -> 400
 *   Host empty or with bytes outside reg-name / IP-literal / port characters     -> 400
 *   (an absolute-form target's authority replaces Host, RFC 9112 3.2.2)
 *   OPTIONS or TRACE with more than one Max-Forwards, or one not 1*DIGIT         -> 400
 *   Expect other than "100-continue" (100-continue on HTTP/1.0 is ignored)       -> 417
 *   Connection element that is not a token                                       -> 400
 *   (Upgrade + "Connection: upgrade" on HTTP/1.1 without a body is an upgrade; with a
 *   body it is forwarded as a plain request, Upgrade dropped as hop-by-hop; an Upgrade
 *   offering only h2c / h2 is no upgrade: h2c is not allowed over TLS, RFC 9113 3.1)
 * Response semantics: 101 in an HTTP/1.0 response                                -> 502
 *   (answers to HEAD and 1xx/204/304 have no body whatever their framing fields say)
 * Chunked bodies (chunk lines checked in http1_chunk.c, data framing by llhttp)
 *   chunk size not hex, > 64 bits, CRLF missing after chunk data                 -> 400
 *   chunk line not "size *( BWS ; BWS name [ BWS = BWS token/quoted-string ] )",
 *   NUL or another control byte in it                                            -> 400
 *   chunk extensions (line bytes besides the size digits) over 4 KiB per message -> 400
 *   trailers: the header-line rules above, and Content-Length, Transfer-Encoding
 *   or Host in trailers                                                          -> 400
 *   trailer section over max_head bytes or max_headers lines                     -> 431
 */
#include <string.h>

#include <llhttp.h>

#include "http1_int.h"

bool px_h1_ieq(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + ('a' - 'A'));
        if (c != (unsigned char)lower[i])
            return false;
    }
    return true;
}

bool px_h1_list_next(const char **pos, const char *end, const char **elem, size_t *elen)
{
    const char *s = *pos;
    if (s == NULL)
        return false;
    const char *comma = memchr(s, ',', (size_t)(end - s));
    const char *e = comma ? comma : end;
    while (s < e && px_h1_is_ows((unsigned char)*s))
        s++;
    while (e > s && px_h1_is_ows((unsigned char)e[-1]))
        e--;
    *elem = s;
    *elen = (size_t)(e - s);
    /* After the last element *pos becomes NULL so the next call ends the list. */
    *pos = comma ? comma + 1 : NULL;
    return true;
}

static bool all_tchar(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!px_h1_is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

static bool is_host_char(unsigned char c)
{
    static const uint32_t map[8] = {0x00000000, 0x2fff7ff2, 0xaffffffe, 0x47fffffe, 0, 0, 0, 0};
    return (map[c >> 5] >> (c & 31)) & 1u;
}

static int method_lookup(const char *s, size_t n)
{
    static const struct {
        const char *name;
        size_t len;
        int id;
    } methods[] = {
#define XX(num, name, string) {#string, sizeof(#string) - 1, num},
        HTTP_METHOD_MAP(XX)
#undef XX
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (methods[i].len == n && memcmp(methods[i].name, s, n) == 0)
            return methods[i].id;
    return -1;
}

/* "HTTP/" DIGIT "." DIGIT: returns 0 for 1.0/1.1, 505 for another version, 400 when
 * malformed. */
static int parse_version(const char *s, size_t n, struct px_h1_head *h)
{
    if (n != 8 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.' || s[5] < '0' || s[5] > '9' ||
        s[7] < '0' || s[7] > '9')
        return 400;
    h->http_major = s[5] - '0';
    h->http_minor = s[7] - '0';
    if (h->http_major != 1 || h->http_minor > 1)
        return 505;
    return 0;
}

/* Checks the request-target form; the absolute-form authority is compared with Host
 * later, in host_check. */
static int target_form(const struct px_h1_head *h, const char **reason)
{
    const char *t = h->target;
    size_t n = h->target_len;
    if (t[0] == '/')
        return 0;
    if (n == 1 && t[0] == '*') {
        if (h->method_id == HTTP_OPTIONS)
            return 0;
        *reason = "asterisk target without OPTIONS";
        return 400;
    }
    size_t skip = (n > 7 && px_h1_ieq(t, "http://", 7))    ? 7
                  : (n > 8 && px_h1_ieq(t, "https://", 8)) ? 8
                                                           : 0;
    if (skip == 0) {
        *reason = "target is not origin-form or absolute-form";
        return 400;
    }
    return 0;
}

static int request_line(const char *s, size_t n, struct px_h1_head *h, const char **reason)
{
    const char *sp1 = memchr(s, ' ', n);
    if (sp1 == NULL) {
        *reason = "request line without target or version";
        return 400;
    }
    const char *sp2 = s + n - 1;
    while (*sp2 != ' ')
        sp2--;
    if (sp2 == sp1) {
        *reason = "request line without HTTP version";
        return 400;
    }
    h->method = s;
    h->method_len = (size_t)(sp1 - s);
    h->target = sp1 + 1;
    h->target_len = (size_t)(sp2 - sp1 - 1);
    if (!all_tchar(h->method, h->method_len)) {
        *reason = "invalid method";
        return 400;
    }
    if (h->target_len == 0) {
        *reason = "empty request target";
        return 400;
    }
    for (size_t i = 0; i < h->target_len; i++) {
        unsigned char c = (unsigned char)h->target[i];
        if (c <= 0x20 || c >= 0x7f) {
            *reason = "whitespace or control byte in request target";
            return 400;
        }
    }
    int st = parse_version(sp2 + 1, (size_t)(s + n - sp2 - 1), h);
    if (st != 0) {
        *reason = st == 505 ? "unsupported HTTP version" : "malformed HTTP version";
        return st;
    }
    h->method_id = method_lookup(h->method, h->method_len);
    if (h->method_id < 0)
        h->method_id = PX_H1_METHOD_EXTENSION;
    if (h->method_id == HTTP_CONNECT) {
        *reason = "CONNECT is not supported";
        return 501;
    }
    return target_form(h, reason);
}

static int status_line(const char *s, size_t n, struct px_h1_head *h, const char **reason)
{
    *reason = "malformed status line";
    if (n < 12 || s[8] != ' ' || parse_version(s, 8, h) != 0)
        return 400;
    for (int i = 9; i < 12; i++)
        if (s[i] < '0' || s[i] > '9')
            return 400;
    h->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (h->status < 100 || h->status > 599)
        return 400;
    if (n > 12 && s[12] != ' ')
        return 400;
    h->reason = n > 12 ? s + 13 : s + 12;
    h->reason_len = n > 12 ? n - 13 : 0;
    for (size_t i = 0; i < h->reason_len; i++) {
        unsigned char c = (unsigned char)h->reason[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 400;
    }
    return 0;
}

/* One field line without its CRLF, into *f. */
static int header_line(const char *s, size_t n, struct px_h1_header *f, const char **reason)
{
    if (n > 0 && px_h1_is_ows((unsigned char)s[0])) {
        *reason = "obsolete line folding";
        return 400;
    }
    const char *colon = memchr(s, ':', n);
    if (colon == NULL) {
        *reason = "header line without colon";
        return 400;
    }
    if (colon == s) {
        *reason = "empty header name";
        return 400;
    }
    for (const char *c = s; c < colon; c++) {
        if (px_h1_is_tchar((unsigned char)*c))
            continue;
        *reason = px_h1_is_ows((unsigned char)*c) ? "whitespace before colon"
                                                  : "invalid character in header name";
        return 400;
    }
    const char *v = colon + 1, *end = s + n;
    for (const char *c = v; c < end; c++) {
        unsigned char u = (unsigned char)*c;
        if ((u < 0x20 && u != '\t') || u == 0x7f) {
            *reason = "control character in header value";
            return 400;
        }
    }
    while (v < end && px_h1_is_ows((unsigned char)*v))
        v++;
    while (end > v && px_h1_is_ows((unsigned char)end[-1]))
        end--;
    f->name = s;
    f->name_len = (size_t)(colon - s);
    f->value = v;
    f->value_len = (size_t)(end - v);
    return 0;
}

int px_h1_start_line_check(enum px_h1_kind kind, const char *line, size_t len, const char **reason)
{
    struct px_h1_head h = {0};
    return kind == PX_H1_REQUEST ? request_line(line, len, &h, reason)
                                 : status_line(line, len, &h, reason);
}

int px_h1_trailer_check(const char *line, size_t len, struct px_h1_header *out, const char **reason)
{
    struct px_h1_header f;
    int st = header_line(line, len, &f, reason);
    if (st != 0)
        return st;
    *out = f;
    if (PX_H1_IS(f.name, f.name_len, "content-length") ||
        PX_H1_IS(f.name, f.name_len, "transfer-encoding") || PX_H1_IS(f.name, f.name_len, "host")) {
        *reason = "framing or Host field in trailers";
        return 400;
    }
    return 0;
}

/* What the semantic checks collect from the header list in one pass. */
struct facts {
    unsigned n_cl, n_te, n_host;
    const struct px_h1_header *cl, *host;
    bool te_chunked, conn_close, conn_keep_alive, conn_upgrade, has_upgrade;
    unsigned n_max_forwards;
};

/* A field value of 1*DIGIT into *out: -1 when it is empty or not all digits, 1 when it
 * overflows 64 bits (*out is then UINT64_MAX), else 0. */
static int digits_u64(const struct px_h1_header *f, uint64_t *out)
{
    uint64_t v = 0;
    int over = 0;
    if (f->value_len == 0)
        return -1;
    for (size_t i = 0; i < f->value_len; i++) {
        unsigned char c = (unsigned char)f->value[i];
        if (c < '0' || c > '9')
            return -1;
        if (!over && v > (UINT64_MAX - (c - '0')) / 10)
            over = 1, v = UINT64_MAX;
        if (!over)
            v = v * 10 + (c - '0');
    }
    *out = v;
    return over;
}

static int parse_content_length(const struct px_h1_header *f, uint64_t *out, const char **r)
{
    int rc = digits_u64(f, out);
    *r = rc > 0 ? "Content-Length overflow" : "malformed Content-Length";
    return rc == 0 ? 0 : 400;
}

/* Accumulates one Transfer-Encoding header into the running list state. */
static int te_elements(const struct px_h1_header *f, unsigned *n_chunked, bool *last_chunked,
                       bool *other, const char **r)
{
    const char *pos = f->value, *end = f->value + f->value_len, *e;
    size_t n;
    while (px_h1_list_next(&pos, end, &e, &n)) {
        if (n == 0) {
            *r = "empty Transfer-Encoding element";
            return 400;
        }
        *last_chunked = PX_H1_IS(e, n, "chunked");
        if (*last_chunked) {
            (*n_chunked)++;
        } else if (all_tchar(e, n)) {
            *other = true;
        } else {
            *r = "malformed Transfer-Encoding";
            return 400;
        }
    }
    return 0;
}

/* True when an Upgrade value offers a protocol besides h2c and h2: over TLS neither can be
 * an upgrade (RFC 9113 3.1: h2c is cleartext only; 3.2: a server ignores "h2" here). */
static bool upgrade_offered(const struct px_h1_header *f)
{
    const char *pos = f->value, *end = f->value + f->value_len, *e;
    size_t n;
    while (px_h1_list_next(&pos, end, &e, &n))
        if (n > 0 && !PX_H1_IS(e, n, "h2c") && !PX_H1_IS(e, n, "h2"))
            return true;
    return false;
}

/* Max-Forwards = 1*DIGIT (RFC 9110 7.6.2); a value beyond 64 bits is kept as UINT64_MAX
 * (still far from 0). */
static int max_forwards(const struct px_h1_header *f, struct px_h1_head *h, const char **r)
{
    uint64_t v;
    *r = "malformed Max-Forwards";
    if (digits_u64(f, &v) < 0)
        return 400;
    h->has_max_forwards = true;
    h->max_forwards = v;
    return 0;
}

static int connection_tokens(const struct px_h1_header *f, struct facts *x, const char **r)
{
    const char *pos = f->value, *end = f->value + f->value_len, *e;
    size_t n;
    while (px_h1_list_next(&pos, end, &e, &n)) {
        if (n == 0)
            continue; /* RFC 9110 5.6.1: empty list elements are ignored */
        if (!all_tchar(e, n)) {
            *r = "malformed Connection header";
            return 400;
        }
        if (PX_H1_IS(e, n, "close"))
            x->conn_close = true;
        else if (PX_H1_IS(e, n, "keep-alive"))
            x->conn_keep_alive = true;
        else if (PX_H1_IS(e, n, "upgrade"))
            x->conn_upgrade = true;
    }
    return 0;
}

/* One pass over the fields: counts and remembers what the semantic checks need. Errors
 * found on the way (Expect, Connection syntax, TE elements) are reported in field order. */
static int gather(enum px_h1_kind kind, struct px_h1_head *h, struct facts *x, int *te_st,
                  const char **te_reason, const char **r)
{
    unsigned n_chunked = 0;
    bool last_chunked = false, other = false;
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct px_h1_header *f = &h->headers[i];
        const char *nm = f->name;
        size_t nl = f->name_len;
        if (PX_H1_IS(nm, nl, "content-length")) {
            x->n_cl++;
            x->cl = f;
        } else if (PX_H1_IS(nm, nl, "transfer-encoding")) {
            x->n_te++;
            if (*te_st == 0)
                *te_st = te_elements(f, &n_chunked, &last_chunked, &other, te_reason);
        } else if (PX_H1_IS(nm, nl, "connection")) {
            if (connection_tokens(f, x, r) != 0)
                return 400;
        } else if (PX_H1_IS(nm, nl, "upgrade")) {
            x->has_upgrade = x->has_upgrade || upgrade_offered(f);
        } else if (kind == PX_H1_REQUEST &&
                   (h->method_id == HTTP_OPTIONS || h->method_id == HTTP_TRACE) &&
                   PX_H1_IS(nm, nl, "max-forwards")) {
            if (++x->n_max_forwards > 1) {
                *r = "more than one Max-Forwards";
                return 400;
            }
            if (max_forwards(f, h, r) != 0)
                return 400;
        } else if (kind == PX_H1_REQUEST && PX_H1_IS(nm, nl, "host")) {
            x->n_host++;
            x->host = f;
        } else if (kind == PX_H1_REQUEST && PX_H1_IS(nm, nl, "expect")) {
            if (!PX_H1_IS(f->value, f->value_len, "100-continue")) {
                *r = "unsupported expectation";
                return 417;
            }
            /* RFC 9110 10.1.1: a 100-continue expectation in HTTP/1.0 is ignored. */
            h->expect_continue = h->http_minor == 1;
        }
    }
    if (x->n_te > 0 && *te_st == 0) {
        if (n_chunked != 1 || !last_chunked) {
            *te_st = 400;
            *te_reason = "Transfer-Encoding does not end in exactly one chunked";
        } else if (other) {
            *te_st = 501;
            *te_reason = "unsupported transfer coding";
        }
    }
    x->te_chunked = x->n_te > 0 && *te_st == 0;
    return 0;
}

static int framing(const struct px_h1_head *h, const struct facts *x, int te_st,
                   const char *te_reason, uint64_t *cl, const char **r)
{
    if (x->n_te > 0 && h->http_minor == 0) {
        *r = "Transfer-Encoding in an HTTP/1.0 message";
        return 400;
    }
    if (x->n_te > 0 && x->n_cl > 0) {
        *r = "both Content-Length and Transfer-Encoding";
        return 400;
    }
    if (x->n_cl > 1) {
        *r = "more than one Content-Length";
        return 400;
    }
    if (x->n_cl == 1 && parse_content_length(x->cl, cl, r) != 0)
        return 400;
    if (te_st != 0) {
        *r = te_reason;
        return te_st;
    }
    return 0;
}

bool px_h1_span_ieq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++) {
        unsigned char c = (unsigned char)a[i], d = (unsigned char)b[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + ('a' - 'A'));
        if (d >= 'A' && d <= 'Z')
            d = (unsigned char)(d + ('a' - 'A'));
        if (c != d)
            return false;
    }
    return true;
}

static int host_check(struct px_h1_head *h, const struct facts *x, const char **r)
{
    if (x->n_host > 1 || (x->n_host == 0 && h->http_minor == 1)) {
        *r = x->n_host ? "more than one Host" : "missing Host";
        return 400;
    }
    if (x->host != NULL) {
        bool ok = x->host->value_len > 0;
        for (size_t i = 0; ok && i < x->host->value_len; i++)
            ok = is_host_char((unsigned char)x->host->value[i]);
        if (!ok) {
            *r = "invalid Host";
            return 400;
        }
        h->host = x->host->value;
        h->host_len = x->host->value_len;
    }
    if (h->target[0] == '/' || h->target[0] == '*')
        return 0;
    /* absolute-form: target_form() accepted "http://" or "https://". */
    const char *a = memchr(h->target, '/', h->target_len) + 2;
    const char *end = h->target + h->target_len, *e = a;
    while (e < end && *e != '/' && *e != '?' && *e != '#')
        e++;
    if (e == a || memchr(a, '@', (size_t)(e - a)) != NULL) {
        *r = "invalid authority in absolute-form target";
        return 400;
    }
    for (const char *c = a; c < e; c++) {
        if (!is_host_char((unsigned char)*c)) {
            *r = "invalid authority in absolute-form target";
            return 400;
        }
    }
    /* RFC 9112 3.2.2: the target's authority wins over whatever Host says. */
    h->host = a;
    h->host_len = (size_t)(e - a);
    return 0;
}

/* Body framing, keep-alive and upgrade from the collected facts. */
static void decide(enum px_h1_kind kind, int req_method, struct px_h1_head *h,
                   const struct facts *x, uint64_t cl)
{
    if (kind == PX_H1_REQUEST) {
        h->body = x->te_chunked ? PX_H1_BODY_CHUNKED
                  : x->n_cl     ? PX_H1_BODY_LENGTH
                                : PX_H1_BODY_NONE;
    } else if (h->status < 200 || h->status == 204 || h->status == 304 || req_method == HTTP_HEAD) {
        h->body = PX_H1_BODY_NONE;
    } else {
        h->body = x->te_chunked ? PX_H1_BODY_CHUNKED : x->n_cl ? PX_H1_BODY_LENGTH : PX_H1_BODY_EOF;
    }
    if (x->n_cl)
        h->content_length = cl; /* for NONE: a HEAD answer's length, passed through */
    if (h->http_minor == 1)
        h->keep_alive = !x->conn_close;
    else
        h->keep_alive = x->conn_keep_alive && !x->conn_close;
    if (h->body == PX_H1_BODY_EOF)
        h->keep_alive = false;
    if (kind == PX_H1_RESPONSE)
        h->upgrade = h->status == 101;
    else
        h->upgrade = x->has_upgrade && x->conn_upgrade && h->http_minor == 1 &&
                     (h->body == PX_H1_BODY_NONE ||
                      (h->body == PX_H1_BODY_LENGTH && h->content_length == 0));
}

static int semantics(enum px_h1_kind kind, int req_method, struct px_h1_head *h, const char **r)
{
    struct facts x = {0};
    int te_st = 0, st;
    const char *te_reason = NULL;
    uint64_t cl = 0;
    if ((st = gather(kind, h, &x, &te_st, &te_reason, r)) != 0)
        return st;
    if ((st = framing(h, &x, te_st, te_reason, &cl, r)) != 0)
        return st;
    if (kind == PX_H1_REQUEST && (st = host_check(h, &x, r)) != 0)
        return st;
    if (kind == PX_H1_RESPONSE && h->status == 101 && h->http_minor == 0) {
        *r = "101 in an HTTP/1.0 response";
        return 400;
    }
    decide(kind, req_method, h, &x, cl);
    return 0;
}

int px_h1_head_parse(enum px_h1_kind kind, const char *buf, size_t len, int req_method,
                     struct px_h1_header *hdrs, struct px_h1_head *h, const char **reason)
{
    memset(h, 0, sizeof(*h));
    h->headers = hdrs;
    h->method_id = kind == PX_H1_RESPONSE ? req_method : -1;
    const char *end = buf + len - 2; /* the final empty line's CRLF */
    const char *eol = memchr(buf, '\r', (size_t)(end - buf));
    int st = kind == PX_H1_REQUEST ? request_line(buf, (size_t)(eol - buf), h, reason)
                                   : status_line(buf, (size_t)(eol - buf), h, reason);
    if (st != 0)
        return st;
    for (const char *line = eol + 2; line < end; line = eol + 2) {
        eol = memchr(line, '\r', (size_t)(end - line));
        st = header_line(line, (size_t)(eol - line), &hdrs[h->n_headers], reason);
        if (st != 0)
            return st;
        h->n_headers++;
    }
    return semantics(kind, req_method, h, reason);
}
