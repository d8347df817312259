/* The chunk-size line of a chunked body (RFC 9112 7.1), scanned by the proxy itself.
 *
 *   chunk-size [ chunk-ext ] CRLF
 *   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   chunk-ext-name = token
 *   chunk-ext-val  = token / quoted-string
 *
 * Debian's llhttp 8.1.0 refuses valid lines ("5;a=b;c=d": a token value followed by
 * another extension; BWS around ";" and "="; a quoted-pair in a quoted value), so the
 * parser (http1.c) scans every chunk line here and hands llhttp a canonical "<hex>\r\n"
 * in its place; extensions are thus dropped on the way upstream (RFC 9112 7.1.1: a
 * recipient ignores extensions it does not understand).
 *
 * The scanner is a byte-at-a-time state machine that keeps no bytes, so its verdict
 * cannot depend on how the line is split across feeds. Everything that is not the size's
 * significant digits (leading zeros, BWS, extensions) counts towards the caller's
 * per-message extension budget. Anything the grammar does not allow is refused, NUL and
 * other control bytes included; so is a bare CR or LF. */
#include "http1_int.h"

enum {
    C_SIZE0,    /* at the start: a HEXDIG must come */
    C_SIZE,     /* in the size */
    C_SEMI_BWS, /* BWS after the size or a value: ";" must come */
    C_NAME0,    /* after ";": BWS, then a name */
    C_NAME,     /* in a name */
    C_NAME_BWS, /* BWS after a name: "=" or ";" */
    C_VAL0,     /* after "=": BWS, then a token or a quoted string */
    C_TOKEN,    /* in a token value */
    C_QUOTED,   /* inside a quoted string */
    C_QESC,     /* after a backslash inside a quoted string */
    C_AFTER_Q,  /* after the closing quote */
    C_LF,       /* after the CR */
};

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RFC 9110 5.6.4: qdtext (HTAB, SP, VCHAR except DQUOTE and backslash, obs-text). */
static bool is_qdtext(unsigned char c)
{
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
           (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

/* What may follow a backslash: HTAB, SP, VCHAR, obs-text. */
static bool is_qpair(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* After an element (the size, a name or a value): where c leads, or -1. */
static int after_element(unsigned char c)
{
    return px_h1_is_ows(c) ? C_SEMI_BWS : c == ';' ? C_NAME0 : c == '\r' ? C_LF : -1;
}

/* The next state for byte c in state s, or -1 when c is not allowed there. The size
 * digits are handled by the caller. */
static int next(int s, unsigned char c)
{
    switch (s) {
    case C_SEMI_BWS:
        return px_h1_is_ows(c) ? C_SEMI_BWS : c == ';' ? C_NAME0 : -1;
    case C_NAME0:
        return px_h1_is_ows(c) ? C_NAME0 : px_h1_is_tchar(c) ? C_NAME : -1;
    case C_NAME:
        if (px_h1_is_tchar(c))
            return C_NAME;
        return px_h1_is_ows(c) ? C_NAME_BWS : c == '=' ? C_VAL0 : after_element(c);
    case C_NAME_BWS:
        return px_h1_is_ows(c) ? C_NAME_BWS : c == '=' ? C_VAL0 : c == ';' ? C_NAME0 : -1;
    case C_VAL0:
        return px_h1_is_ows(c) ? C_VAL0 : c == '"' ? C_QUOTED : px_h1_is_tchar(c) ? C_TOKEN : -1;
    case C_TOKEN:
        return px_h1_is_tchar(c) ? C_TOKEN : after_element(c);
    case C_QUOTED:
        return c == '"' ? C_AFTER_Q : c == '\\' ? C_QESC : is_qdtext(c) ? C_QUOTED : -1;
    case C_QESC:
        return is_qpair(c) ? C_QUOTED : -1;
    case C_AFTER_Q:
        return after_element(c);
    default:
        return -1;
    }
}

/* One byte of the size. Returns the next state, or -1 with *reason set. */
static int size_byte(struct px_h1_chunk_scan *s, unsigned char c, size_t *ext_bytes,
                     const char **reason)
{
    int v = hexval(c);
    if (v < 0) {
        int n = s->state == C_SIZE ? after_element(c) : -1;
        if (n < 0)
            *reason = "Invalid character in chunk size";
        else if (n != C_LF)
            (*ext_bytes)++;
        return n;
    }
    if (s->size == 0 && v == 0 && s->state == C_SIZE) {
        (*ext_bytes)++; /* a leading zero */
        return C_SIZE;
    }
    if (s->size > (UINT64_MAX >> 4)) {
        *reason = "Chunk size overflow";
        return -1;
    }
    s->size = (s->size << 4) | (uint64_t)v;
    return C_SIZE;
}

int px_h1_chunk_line_scan(struct px_h1_chunk_scan *s, const char *d, size_t n, size_t *used,
                          size_t *ext_bytes, size_t ext_max, const char **reason)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        int ns;
        if (s->state == C_LF) {
            if (c != '\n') {
                *reason = "CR without LF in chunk line";
                return 400;
            }
            *used = i + 1;
            return 1;
        }
        if (s->state == C_SIZE0 || s->state == C_SIZE) {
            ns = size_byte(s, c, ext_bytes, reason);
        } else {
            ns = next(s->state, c);
            if (ns < 0)
                *reason = "invalid chunk extension";
            else if (ns != C_LF)
                (*ext_bytes)++;
        }
        if (ns < 0)
            return 400;
        if (*ext_bytes > ext_max) {
            *reason = "chunk extensions too long";
            return 400;
        }
        s->state = (unsigned char)ns;
    }
    *used = n;
    return 0;
}

void px_h1_chunk_scan_reset(struct px_h1_chunk_scan *s)
{
    s->state = C_SIZE0;
    s->size = 0;
}
