/* The failed-handshake log and ring; see px_hello_log.h. */
#include "px_hello_log.h"

#include "px_log.h"
#include "px_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WINDOW_MS 1000

void px_hello_log_init(struct px_hello_log *l, unsigned worker)
{
    memset(l, 0, sizeof *l);
    l->worker = worker;
}

void px_hello_log_free(struct px_hello_log *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < PX_HELLO_LOG_KEEP; i++) {
        free(l->ring[i].hello);
        l->ring[i].hello = NULL;
    }
    l->n = l->head = 0;
}

/* ---- the capability summary: a bounds-checked walk over the raw bytes ---- */

struct rd {
    const uint8_t *p;
    size_t n;
};

static bool u8(struct rd *r, unsigned *v)
{
    if (r->n < 1)
        return false;
    *v = r->p[0];
    r->p++, r->n--;
    return true;
}

static bool u16(struct rd *r, unsigned *v)
{
    if (r->n < 2)
        return false;
    *v = (unsigned)r->p[0] << 8 | r->p[1];
    r->p += 2, r->n -= 2;
    return true;
}

/* A sub-reader of len bytes; a short input gives what there is (truncated captures). */
static struct rd sub(struct rd *r, size_t len)
{
    struct rd s = {r->p, len < r->n ? len : r->n};
    r->p += s.n, r->n -= s.n;
    return s;
}

static bool grease(unsigned v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

struct caps {
    unsigned legacy;
    unsigned versions[8];
    size_t n_versions, more_versions;
    bool has_versions, has_sigalgs, has_groups, complete;
    size_t suites, sigalgs, groups;
    char sni[256];
};

static size_t count_u16(struct rd r, bool skip_grease)
{
    size_t n = 0;
    unsigned v;
    while (u16(&r, &v))
        n += !(skip_grease && grease(v));
    return n;
}

static void sni_ext(struct rd r, struct caps *c)
{
    unsigned list, type, len;
    if (!u16(&r, &list) || !u8(&r, &type) || type != 0 || !u16(&r, &len))
        return;
    struct rd name = sub(&r, len);
    size_t k = 0;
    for (size_t i = 0; i < name.n && k + 1 < sizeof c->sni; i++) {
        unsigned char ch = name.p[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_' || ch == '*';
        c->sni[k++] = ok ? (char)ch : '?';
    }
    c->sni[k] = '\0';
}

static void versions_ext(struct rd r, struct caps *c)
{
    unsigned len, v;
    if (!u8(&r, &len))
        return;
    struct rd l = sub(&r, len);
    c->has_versions = true;
    while (u16(&l, &v)) {
        if (grease(v))
            continue;
        if (c->n_versions < sizeof c->versions / sizeof c->versions[0])
            c->versions[c->n_versions++] = v;
        else
            c->more_versions++;
    }
}

static void extensions(struct rd r, struct caps *c)
{
    unsigned type, len, l2;
    while (u16(&r, &type) && u16(&r, &len)) {
        struct rd e = sub(&r, len);
        if (type == 0) {
            sni_ext(e, c);
        } else if (type == 43) {
            versions_ext(e, c);
        } else if (type == 13 && u16(&e, &l2)) {
            c->has_sigalgs = true;
            c->sigalgs = count_u16(sub(&e, l2), false);
        } else if (type == 10 && u16(&e, &l2)) {
            c->has_groups = true;
            c->groups = count_u16(sub(&e, l2), true);
        }
    }
}

static void parse_v2(struct rd r, struct caps *c)
{
    unsigned type, speclen, sidlen, chlen;
    r.p += 2, r.n -= 2; /* record header */
    if (!u8(&r, &type) || type != 1 || !u16(&r, &c->legacy) || !u16(&r, &speclen) ||
        !u16(&r, &sidlen) || !u16(&r, &chlen))
        return;
    c->suites = sub(&r, speclen).n / 3;
    c->complete = true;
}

static void parse_caps(const uint8_t *p, size_t n, struct caps *c)
{
    struct rd r = {p, n};
    unsigned type, len;
    memset(c, 0, sizeof *c);
    if (n >= 2 && (p[0] & 0x80)) {
        parse_v2(r, c);
        return;
    }
    if (n >= 5 && p[0] == 22)
        sub(&r, 5);                                       /* a TLS record header */
    if (!u8(&r, &type) || type != 1 || sub(&r, 3).n != 3) /* type, 24-bit length */
        return;
    if (!u16(&r, &c->legacy))
        return;
    sub(&r, 32); /* random */
    if (!u8(&r, &len))
        return;
    sub(&r, len); /* session id */
    if (!u16(&r, &len))
        return;
    c->suites = count_u16(sub(&r, len), true);
    c->complete = true;
    if (!u8(&r, &len))
        return;
    sub(&r, len); /* compression methods */
    if (u16(&r, &len))
        extensions(sub(&r, len), c);
}

static const char *version_name(unsigned v, char *buf, size_t len)
{
    switch (v) {
    case 0x0002:
        return "SSLv2";
    case 0x0300:
        return "SSLv3";
    case 0x0301:
        return "TLSv1.0";
    case 0x0302:
        return "TLSv1.1";
    case 0x0303:
        return "TLSv1.2";
    case 0x0304:
        return "TLSv1.3";
    default:
        snprintf(buf, len, "0x%04x", v);
        return buf;
    }
}

static void count_text(char *buf, size_t len, bool present, size_t n)
{
    if (present)
        snprintf(buf, len, "%zu", n);
    else
        snprintf(buf, len, "-"); /* extension not sent */
}

void px_hello_summary(const uint8_t *p, size_t n, char *out, size_t len, char *sni, size_t sni_len)
{
    struct caps c;
    char vers[96] = "", tmp[16], sa[24], gr[24];
    parse_caps(p, n, &c);
    if (sni_len)
        snprintf(sni, sni_len, "%s", c.sni);
    if (!c.complete) {
        snprintf(out, len, "%s", n ? "unparsable ClientHello" : "no ClientHello");
        return;
    }
    size_t off = 0;
    if (!c.has_versions)
        off += (size_t)snprintf(vers, sizeof vers, "%s", version_name(c.legacy, tmp, sizeof tmp));
    for (size_t i = 0; i < c.n_versions && off < sizeof vers; i++)
        off += (size_t)snprintf(vers + off, sizeof vers - off, "%s%s", i ? "," : "",
                                version_name(c.versions[i], tmp, sizeof tmp));
    if (c.more_versions && off < sizeof vers)
        snprintf(vers + off, sizeof vers - off, ",+%zu", c.more_versions);
    if (c.has_versions && c.n_versions == 0)
        snprintf(vers, sizeof vers, "none");
    count_text(sa, sizeof sa, c.has_sigalgs, c.sigalgs);
    count_text(gr, sizeof gr, c.has_groups, c.groups);
    snprintf(out, len, "versions=%s suites=%zu sigalgs=%s groups=%s", vers, c.suites, sa, gr);
}

/* ---- the rate limiter ---- */

static void report_suppressed(struct px_hello_log *l)
{
    px_info("worker %u: %llu more failed handshake(s) not logged in the last second "
            "(at most %d lines per second; all are in GET /debug/failed-hellos)",
            l->worker, (unsigned long long)l->suppressed, PX_HELLO_LOG_RATE);
}

uint64_t px_hello_log_window_end(const struct px_hello_log *l)
{
    return l->window_ms + WINDOW_MS;
}

uint64_t px_hello_log_flush(struct px_hello_log *l, uint64_t now_ms)
{
    if (!l->window_open || now_ms < px_hello_log_window_end(l))
        return 0;
    uint64_t n = l->suppressed;
    if (n)
        report_suppressed(l);
    l->window_open = false;
    l->lines = 0;
    l->suppressed = 0;
    return n;
}

/* True when f's line may be printed. */
static bool rate_allow(struct px_hello_log *l, uint64_t now_ms)
{
    px_hello_log_flush(l, now_ms);
    if (!l->window_open) {
        l->window_open = true;
        l->window_ms = now_ms;
    }
    if (l->lines < PX_HELLO_LOG_RATE) {
        l->lines++;
        l->printed_total++;
        return true;
    }
    l->suppressed++;
    l->suppressed_total++;
    return false;
}

/* ---- the ring ---- */

static void fill(struct px_hello_rec *r, const struct px_hello_fail *f)
{
    char sni[256];
    px_hello_summary(f->hello, f->hello_len, r->summary, sizeof r->summary, sni, sizeof sni);
    snprintf(r->client, sizeof r->client, "%s", f->client ? f->client : "-");
    snprintf(r->sni, sizeof r->sni, "%s", f->sni && f->sni[0] ? f->sni : sni);
    for (char *s = r->sni; *s; s++) /* OpenSSL's name is client data too */
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            *s = '?';
    snprintf(r->reason, sizeof r->reason, "%s", f->reason ? f->reason : "-");
    snprintf(r->detail, sizeof r->detail, "%s", f->detail ? f->detail : "");
    free(r->hello);
    r->hello = NULL;
    r->hello_full = f->hello_len;
    r->hello_len = f->hello_len < PX_HELLO_KEEP_BYTES ? f->hello_len : PX_HELLO_KEEP_BYTES;
    if (r->hello_len && (r->hello = malloc(r->hello_len)) != NULL)
        memcpy(r->hello, f->hello, r->hello_len);
    else
        r->hello_len = 0;
}

bool px_hello_log_note(struct px_hello_log *l, uint64_t now_ms, int64_t wall_us,
                       const struct px_hello_fail *f)
{
    struct px_hello_rec *r = &l->ring[l->head];
    l->head = (l->head + 1) % PX_HELLO_LOG_KEEP;
    if (l->n < PX_HELLO_LOG_KEEP)
        l->n++;
    fill(r, f);
    r->time_us = wall_us;
    r->seq = ++l->seq;
    r->worker = l->worker;
    if (rate_allow(l, now_ms))
        px_info("handshake failed: client=%s sni=%s reason=%s %s hello_len=%zu%s%s%s", r->client,
                r->sni[0] ? r->sni : "-", r->reason, r->summary, r->hello_full,
                r->detail[0] ? " detail=\"" : "", r->detail, r->detail[0] ? "\"" : "");
    return l->suppressed > 0;
}

int px_hello_log_copy(const struct px_hello_log *l, struct px_hello_rec **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (l->n == 0)
        return 0;
    struct px_hello_rec *v = calloc(l->n, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        const struct px_hello_rec *r =
            &l->ring[(l->head + PX_HELLO_LOG_KEEP - 1 - i) % PX_HELLO_LOG_KEEP];
        v[i] = *r;
        v[i].hello = NULL;
        if (r->hello_len && !(v[i].hello = malloc(r->hello_len))) {
            px_hello_recs_free(v, i);
            return -1;
        }
        if (r->hello_len)
            memcpy(v[i].hello, r->hello, r->hello_len);
    }
    *out = v;
    *n = l->n;
    return 0;
}

void px_hello_recs_free(struct px_hello_rec *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].hello);
    free(v);
}

/* ---- JSON ---- */

static int newest_first(const void *a, const void *b)
{
    const struct px_hello_rec *x = a, *y = b;
    if (x->time_us != y->time_us)
        return x->time_us > y->time_us ? -1 : 1;
    if (x->worker != y->worker)
        return x->worker < y->worker ? -1 : 1;
    return x->seq > y->seq ? -1 : x->seq < y->seq;
}

static void iso_time_us(char *out, size_t len, int64_t us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03dZ", (int)(us % 1000000 / 1000));
}

static void json_rec(struct px_buf *b, const struct px_hello_rec *r)
{
    static const char hex[] = "0123456789abcdef";
    char t[40];
    iso_time_us(t, sizeof t, r->time_us);
    px_buf_printf(b, "{\"time\":\"%s\",\"worker\":%u,\"client\":", t, r->worker);
    px_json_str(b, r->client);
    px_buf_append(b, ",\"sni\":", 7);
    px_json_str(b, r->sni[0] ? r->sni : NULL);
    px_buf_append(b, ",\"reason\":", 10);
    px_json_str(b, r->reason);
    px_buf_append(b, ",\"detail\":", 10);
    px_json_str(b, r->detail);
    px_buf_append(b, ",\"summary\":", 11);
    px_json_str(b, r->summary);
    px_buf_append(b, ",\"hello\":\"", 10);
    for (size_t i = 0; i < r->hello_len; i++) {
        char two[2] = {hex[r->hello[i] >> 4], hex[r->hello[i] & 15]};
        px_buf_append(b, two, 2);
    }
    px_buf_printf(b, "\",\"hello_len\":%zu,\"truncated\":%s}", r->hello_full,
                  r->hello_full > r->hello_len ? "true" : "false");
}

void px_hello_json(struct px_buf *b, struct px_hello_rec *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, newest_first);
    px_buf_append(b, "{\"hellos\":[", 11);
    for (size_t i = 0; i < n; i++) {
        if (i)
            px_buf_append(b, ",", 1);
        json_rec(b, &v[i]);
    }
    px_buf_append(b, "]}\n", 3);
}
