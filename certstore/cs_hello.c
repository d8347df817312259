/* ClientHello capabilities: from a live SSL (inside the ClientHello callback) or from raw
 * bytes (TLS records, a bare handshake message, or an SSLv2-format hello as very old
 * clients send). The raw parser reads untrusted input: every length is checked against
 * what remains before it is used; it allocates only to join a hello split over records.
 *
 * GREASE values (RFC 8701, 0x?a?a) are dropped from every list. No list is kept: each is
 * reduced while it is read to the bits struct cs_hello documents, so a list of any length
 * the protocol allows is represented without loss of anything selection uses.
 *
 * Two kinds of malformation: what OpenSSL itself refuses before the ClientHello callback
 * runs (record and message framing, extension framing, duplicate extensions) fails the
 * raw parse; what OpenSSL checks only after the callback (supported_versions contents, the
 * cipher list's length, compression methods, empty sigalgs or groups lists) is recorded
 * in h->bad so that selection predicts OpenSSL's own alert. */
#include "cs.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* A bounds-checked reader over one span of input. */
struct rd {
    const uint8_t *p;
    size_t n;
};

static bool rd_u8(struct rd *r, unsigned *v)
{
    if (r->n < 1)
        return false;
    *v = r->p[0];
    r->p++;
    r->n--;
    return true;
}

static bool rd_u16(struct rd *r, unsigned *v)
{
    if (r->n < 2)
        return false;
    *v = ((unsigned)r->p[0] << 8) | r->p[1];
    r->p += 2;
    r->n -= 2;
    return true;
}

static bool rd_u24(struct rd *r, size_t *v)
{
    if (r->n < 3)
        return false;
    *v = ((size_t)r->p[0] << 16) | ((size_t)r->p[1] << 8) | r->p[2];
    r->p += 3;
    r->n -= 3;
    return true;
}

/* Splits off the next len bytes as a sub-reader. */
static bool rd_sub(struct rd *r, size_t len, struct rd *sub)
{
    if (r->n < len)
        return false;
    sub->p = r->p;
    sub->n = len;
    r->p += len;
    r->n -= len;
    return true;
}

static bool is_grease(unsigned v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const uint16_t cs_sigalg_ids[] = {
    0x0201, 0x0202, 0x0203, 0x0301, 0x0302, 0x0303, 0x0401, 0x0402, 0x0403,
    0x0501, 0x0502, 0x0503, 0x0601, 0x0602, 0x0603, 0x0804, 0x0805, 0x0806,
    0x0807, 0x0808, 0x0809, 0x080a, 0x080b, 0x081a, 0x081b, 0x081c,
};
const size_t cs_n_sigalg_ids = sizeof(cs_sigalg_ids) / sizeof(cs_sigalg_ids[0]);
/* secp256k1 .. X448 and brainpool (RFC 8422, 8734), ffdhe2048 .. ffdhe8192 (RFC 7919): every
 * group cs_suites_set_groups accepts by name, so every group a server can enable. */
const uint16_t cs_group_ids[] = {22, 23, 24, 25,  26,  27,  28,  29, 30,
                                 31, 32, 33, 256, 257, 258, 259, 260};
const size_t cs_n_group_ids = sizeof(cs_group_ids) / sizeof(cs_group_ids[0]);

/* Index of v in a sorted table, or -1. */
static int index_of(const uint16_t *t, size_t n, uint16_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t[mid] == v)
            return (int)mid;
        if (t[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void cs_hello_add_cipher(struct cs_hello *h, uint16_t id)
{
    h->ciphers[id / 64] |= (uint64_t)1 << (id % 64);
}

void cs_hello_add_sigalg(struct cs_hello *h, uint16_t id)
{
    int i = index_of(cs_sigalg_ids, cs_n_sigalg_ids, id);
    if (i >= 0)
        h->sigalgs |= 1u << i;
}

void cs_hello_add_group(struct cs_hello *h, uint16_t id)
{
    int i = index_of(cs_group_ids, cs_n_group_ids, id);
    if (i >= 0)
        h->groups |= 1u << i;
}

void cs_hello_add_version(struct cs_hello *h, uint16_t v)
{
    if (v >= SSL3_VERSION && v <= TLS1_3_VERSION)
        h->versions |= (uint8_t)(1u << (v - SSL3_VERSION));
}

bool cs_hello_has_cipher(const struct cs_hello *h, uint16_t id)
{
    return (h->ciphers[id / 64] >> (id % 64)) & 1;
}

bool cs_hello_has_sigalg(const struct cs_hello *h, uint16_t id)
{
    int i = index_of(cs_sigalg_ids, cs_n_sigalg_ids, id);
    return i >= 0 && ((h->sigalgs >> i) & 1);
}

bool cs_hello_has_group(const struct cs_hello *h, uint16_t id)
{
    int i = index_of(cs_group_ids, cs_n_group_ids, id);
    return i >= 0 && ((h->groups >> i) & 1);
}

bool cs_hello_has_version(const struct cs_hello *h, uint16_t v)
{
    return v >= SSL3_VERSION && v <= TLS1_3_VERSION && ((h->versions >> (v - SSL3_VERSION)) & 1);
}

/* Reads a list of 16-bit values filling the whole reader into h with add, dropping GREASE
 * and counting the rest. False when the length is odd (nothing is recorded then). */
static bool u16_list(struct rd *r, struct cs_hello *h, void (*add)(struct cs_hello *, uint16_t),
                     size_t *n)
{
    unsigned v;

    if (r->n % 2)
        return false;
    *n = 0;
    while (rd_u16(r, &v)) {
        if (!is_grease(v)) {
            add(h, (uint16_t)v);
            (*n)++;
        }
    }
    return true;
}

/* Extension bodies, shared by the raw parser and cs_hello_from_ssl. Each returns false
 * when the body is malformed. */
/* A DNS host name as SNI carries it (RFC 6066 3): letters, digits, '-', '_' (seen in the
 * wild), labels of 1..63 bytes separated by single dots, one trailing dot allowed; also
 * ':' because real clients append a port ("host:443" in two OpenSSL 1.1 captures of
 * testssl's client corpus): such a name is unknown, not malformed. Anything else (control
 * bytes, non-ASCII, empty labels) is a malformed ClientHello. */
static bool sni_syntax_ok(const uint8_t *p, size_t n)
{
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '.') {
            if (label == 0)
                return false; /* leading dot or ".." */
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == ':';
        if (!ok || ++label > 63)
            return false;
    }
    return n > 0;
}

static bool ext_sni(const uint8_t *p, size_t n, struct cs_hello *h)
{
    struct rd r = {p, n}, list, name;
    unsigned len, type;

    if (!rd_u16(&r, &len) || !rd_sub(&r, len, &list) || r.n != 0)
        return false;
    while (list.n > 0) {
        if (!rd_u8(&list, &type) || !rd_u16(&list, &len) || !rd_sub(&list, len, &name))
            return false;
        if (type != 0 || h->has_sni)
            continue;
        if (name.n == 0 || name.n >= sizeof(h->sni) || !sni_syntax_ok(name.p, name.n))
            return false;
        memcpy(h->sni, name.p, name.n);
        h->sni[name.n] = '\0';
        h->has_sni = true;
    }
    return true;
}

/* OpenSSL reads supported_versions when it chooses the version, after the callback: a
 * malformed one gets protocol_version, as does one listing nothing OpenSSL supports. */
static bool ext_versions(const uint8_t *p, size_t n, struct cs_hello *h)
{
    struct rd r = {p, n}, list;
    unsigned len;

    h->has_versions = true;
    if (!rd_u8(&r, &len) || !rd_sub(&r, len, &list) || r.n != 0 ||
        !u16_list(&list, h, cs_hello_add_version, &h->n_versions))
        h->bad |= CS_HELLO_BAD_VERSIONS;
    return true;
}

/* signature_algorithms and supported_groups: an empty or odd list is OpenSSL's decode_error
 * (tls_parse_ctos_sig_algs, tls_parse_ctos_supported_groups), found after the callback. */
static bool ext_u16_vector(const uint8_t *p, size_t n, struct cs_hello *h,
                           void (*add)(struct cs_hello *, uint16_t), size_t *count)
{
    struct rd r = {p, n}, list;
    unsigned len;

    if (!rd_u16(&r, &len) || !rd_sub(&r, len, &list) || r.n != 0 || list.n == 0 ||
        !u16_list(&list, h, add, count))
        h->bad |= CS_HELLO_BAD_EXT;
    return true;
}

static bool ext_sigalgs(const uint8_t *p, size_t n, struct cs_hello *h)
{
    h->has_sigalgs = true;
    return ext_u16_vector(p, n, h, cs_hello_add_sigalg, &h->n_sigalgs);
}

static bool ext_groups(const uint8_t *p, size_t n, struct cs_hello *h)
{
    h->has_groups = true;
    return ext_u16_vector(p, n, h, cs_hello_add_group, &h->n_groups);
}

enum { EXT_SNI = 0, EXT_GROUPS = 10, EXT_SIGALGS = 13, EXT_VERSIONS = 43, EXT_KEY_SHARE = 51 };

static bool ext_dispatch(unsigned type, const uint8_t *p, size_t n, struct cs_hello *h)
{
    switch (type) {
    case EXT_SNI:
        return ext_sni(p, n, h);
    case EXT_GROUPS:
        return ext_groups(p, n, h);
    case EXT_SIGALGS:
        return ext_sigalgs(p, n, h);
    case EXT_VERSIONS:
        return ext_versions(p, n, h);
    case EXT_KEY_SHARE:
        h->has_key_share = true;
        return true;
    default:
        return true;
    }
}

/* A bit per extension we read, to refuse duplicates; 0 for the rest. */
static unsigned ext_bit(unsigned type)
{
    switch (type) {
    case EXT_SNI:
        return 1;
    case EXT_GROUPS:
        return 2;
    case EXT_SIGALGS:
        return 4;
    case EXT_VERSIONS:
        return 8;
    case EXT_KEY_SHARE:
        return 16;
    default:
        return 0;
    }
}

static int parse_extensions(struct rd *r, struct cs_hello *h, char *err, size_t errlen)
{
    struct rd exts, body;
    unsigned len, type, seen = 0;

    if (r->n == 0) /* pre-TLS-1.2 clients may send no extensions block at all */
        return 0;
    if (!rd_u16(r, &len) || !rd_sub(r, len, &exts)) {
        seterr(err, errlen, "extensions block truncated");
        return -1;
    }
    while (exts.n > 0) {
        if (!rd_u16(&exts, &type) || !rd_u16(&exts, &len) || !rd_sub(&exts, len, &body)) {
            seterr(err, errlen, "extension header or body truncated");
            return -1;
        }
        unsigned bit = ext_bit(type);
        if (seen & bit) { /* OpenSSL refuses duplicates; a second copy must not win here */
            seterr(err, errlen, "duplicate extension %u", type);
            return -1;
        }
        seen |= bit;
        if (!ext_dispatch(type, body.p, body.n, h)) {
            seterr(err, errlen, "malformed extension %u", type);
            return -1;
        }
    }
    return 0;
}

/* The cipher list and compression methods as OpenSSL checks them after the callback
 * (ssl_cache_cipherlist, tls_early_post_process_client_hello). */
static void read_ciphers(struct rd *r, struct cs_hello *h)
{
    if (r->n == 0)
        h->bad |= CS_HELLO_NO_CIPHERS;
    else if (!u16_list(r, h, cs_hello_add_cipher, &h->n_ciphers))
        h->bad |= CS_HELLO_BAD_CIPHERS;
}

static void read_compression(const uint8_t *p, size_t n, struct cs_hello *h)
{
    if (!memchr(p, 0, n))
        h->bad |= CS_HELLO_NO_NULL_COMP;
    if (n > 1)
        h->bad |= CS_HELLO_COMP_EXTRA;
}

/* The ClientHello body after the handshake header. */
static int parse_body(struct rd *r, struct cs_hello *h, char *err, size_t errlen)
{
    struct rd skip, ciphers;
    unsigned v, len;

    if (!rd_u16(r, &v) || !rd_sub(r, 32, &skip)) {
        seterr(err, errlen, "ClientHello truncated before the random");
        return -1;
    }
    h->legacy_version = (uint16_t)v;
    if (!rd_u8(r, &len) || len > 32 || !rd_sub(r, len, &skip)) {
        seterr(err, errlen, "bad or truncated session id");
        return -1;
    }
    if (!rd_u16(r, &len) || !rd_sub(r, len, &ciphers)) {
        seterr(err, errlen, "truncated cipher suite list");
        return -1;
    }
    read_ciphers(&ciphers, h);
    if (!rd_u8(r, &len) || len == 0 || !rd_sub(r, len, &skip)) {
        seterr(err, errlen, "bad or truncated compression methods");
        return -1;
    }
    read_compression(skip.p, skip.n, h);
    return parse_extensions(r, h, err, errlen);
}

/* 3-byte SSLv2 cipher specs: those with a zero first byte are TLS suites. */
static void v2_specs(const uint8_t *p, size_t n, struct cs_hello *h)
{
    for (size_t i = 0; i + 3 <= n; i += 3) {
        unsigned v = ((unsigned)p[i + 1] << 8) | p[i + 2];
        if (p[i] == 0 && !is_grease(v)) {
            cs_hello_add_cipher(h, (uint16_t)v);
            h->n_ciphers++;
        }
    }
}

/* SSLv2-format CLIENT-HELLO (RFC 6101 appendix E.2): 3-byte cipher specs; those with a
 * zero first byte are TLS suites. No extensions, so no SNI, sigalgs or groups. */
static int parse_sslv2(struct rd *r, struct cs_hello *h, char *err, size_t errlen)
{
    struct rd msg, specs, rest;
    unsigned b0, b1, type, version, speclen, sidlen, chlen;

    if (!rd_u8(r, &b0) || !rd_u8(r, &b1) || !rd_sub(r, ((b0 & 0x7f) << 8) | b1, &msg)) {
        seterr(err, errlen, "SSLv2 record truncated");
        return -1;
    }
    if (!rd_u8(&msg, &type) || type != 1) {
        seterr(err, errlen, "SSLv2 record is not a CLIENT-HELLO");
        return -1;
    }
    if (!rd_u16(&msg, &version) || !rd_u16(&msg, &speclen) || !rd_u16(&msg, &sidlen) ||
        !rd_u16(&msg, &chlen) || speclen % 3 || !rd_sub(&msg, speclen, &specs) ||
        !rd_sub(&msg, sidlen, &rest) || !rd_sub(&msg, chlen, &rest)) {
        seterr(err, errlen, "SSLv2 CLIENT-HELLO truncated");
        return -1;
    }
    h->legacy_version = (uint16_t)version;
    h->v2 = true;
    v2_specs(specs.p, specs.n, h);
    return 0;
}

/* Unwraps one TLS handshake record. */
static int unwrap_record(struct rd *r, char *err, size_t errlen)
{
    unsigned type, version, len;
    struct rd frag;

    if (!rd_u8(r, &type) || !rd_u16(r, &version) || !rd_u16(r, &len)) {
        seterr(err, errlen, "TLS record header truncated");
        return -1;
    }
    if (type != 22 || (version >> 8) != 3) {
        seterr(err, errlen, "not a TLS handshake record (type %u, version 0x%04x)", type, version);
        return -1;
    }
    if (!rd_sub(r, len, &frag)) {
        seterr(err, errlen, "TLS record truncated: %zu of %u bytes", r->n, len);
        return -1;
    }
    *r = frag;
    return 0;
}

static int parse_message(struct rd r, struct cs_hello *out, char *err, size_t errlen);

/* The fragments of consecutive handshake records, joined: a hello over 16 KiB must be
 * split (RFC 8446 5.1). The parser's one allocation, on this path alone (explain and
 * tests; the handshake reads OpenSSL's reassembled message through cs_hello_from_ssl). */
static int parse_records(const uint8_t *p, size_t n, struct cs_hello *out, char *err, size_t errlen)
{
    struct rd r = {p, n}, frag;
    uint8_t *joined = malloc(n), *w = joined;
    int rc;

    if (!joined) {
        seterr(err, errlen, "out of memory");
        return -1;
    }
    while (r.n > 0 && r.p[0] == 22) {
        frag = r;
        if (unwrap_record(&frag, err, errlen) < 0) {
            free(joined);
            return -1;
        }
        memcpy(w, frag.p, frag.n);
        w += frag.n;
        r.p += 5 + frag.n, r.n -= 5 + frag.n;
    }
    rc = parse_message((struct rd){joined, (size_t)(w - joined)}, out, err, errlen);
    free(joined);
    return rc;
}

/* True when the record at p holds less of the handshake message than it declares and
 * another record follows. */
static bool split_over_records(const uint8_t *p, size_t n)
{
    struct rd r = {p, n};
    size_t len;
    unsigned type;

    if (unwrap_record(&r, NULL, 0) < 0 || !rd_u8(&r, &type) || !rd_u24(&r, &len))
        return false;
    return len > r.n && n > 5 + (((size_t)p[3] << 8) | p[4]);
}

int cs_hello_parse(const uint8_t *p, size_t n, struct cs_hello *out, char *err, size_t errlen)
{
    struct rd r = {p, n};

    memset(out, 0, sizeof(*out));
    seterr(err, errlen, "%s", "");
    if (!p || n == 0) {
        seterr(err, errlen, "empty input");
        return -1;
    }
    if (p[0] & 0x80)
        return parse_sslv2(&r, out, err, errlen);
    if (p[0] == 22 && split_over_records(p, n))
        return parse_records(p, n, out, err, errlen);
    if (p[0] == 22 && unwrap_record(&r, err, errlen) < 0)
        return -1;
    return parse_message(r, out, err, errlen);
}

/* A bare handshake message holding a ClientHello. */
static int parse_message(struct rd r, struct cs_hello *out, char *err, size_t errlen)
{
    struct rd body;
    unsigned type;
    size_t len;

    if (!rd_u8(&r, &type) || !rd_u24(&r, &len)) {
        seterr(err, errlen, "handshake header truncated");
        return -1;
    }
    if (type != 1) {
        seterr(err, errlen, "handshake message type %u is not a ClientHello", type);
        return -1;
    }
    if (!rd_sub(&r, len, &body)) {
        seterr(err, errlen, "ClientHello truncated: %zu of %zu bytes", r.n, len);
        return -1;
    }
    if (parse_body(&body, out, err, errlen) < 0)
        return -1;
    if (body.n != 0) {
        seterr(err, errlen, "%zu stray bytes after the extensions", body.n);
        return -1;
    }
    return 0;
}

static bool from_ssl_ext(SSL *ssl, unsigned type, struct cs_hello *h)
{
    const unsigned char *p;
    size_t n;

    if (SSL_client_hello_get0_ext(ssl, type, &p, &n) != 1)
        return true; /* absent */
    return ext_dispatch(type, p, n, h);
}

int cs_hello_from_ssl(SSL *ssl, struct cs_hello *out)
{
    const unsigned char *ciphers, *comp;
    size_t n;
    struct rd r;

    memset(out, 0, sizeof(*out));
    if (!ssl)
        return -1;
    out->legacy_version = (uint16_t)SSL_client_hello_get0_legacy_version(ssl);
    n = SSL_client_hello_get0_ciphers(ssl, &ciphers);
    if (SSL_client_hello_isv2(ssl)) { /* 3-byte SSLv2 cipher specs, no extensions */
        out->v2 = true;
        v2_specs(ciphers, n, out);
        if (n == 0)
            out->bad |= CS_HELLO_NO_CIPHERS;
        return 0;
    }
    r.p = ciphers;
    r.n = n;
    read_ciphers(&r, out);
    n = SSL_client_hello_get0_compression_methods(ssl, &comp);
    read_compression(comp, n, out);
    if (!from_ssl_ext(ssl, EXT_SNI, out) || !from_ssl_ext(ssl, EXT_VERSIONS, out) ||
        !from_ssl_ext(ssl, EXT_SIGALGS, out) || !from_ssl_ext(ssl, EXT_GROUPS, out) ||
        !from_ssl_ext(ssl, EXT_KEY_SHARE, out))
        return -1;
    return 0;
}
