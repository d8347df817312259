/* The failed-handshake log: the ring keeps the last PX_HELLO_LOG_KEEP failures newest
 * first with their hello bytes (capped), the rate limiter prints at most
 * PX_HELLO_LOG_RATE lines per window and reports the rest once, the capability summary
 * counts what a ClientHello really holds, and the JSON view is what the admin serves. */
#include "tt.h"

#include "px_hello_log.h"
#include "px_log.h"

#include <stdlib.h>

/* ---- a ClientHello built by hand ---- */

struct hb {
    uint8_t b[70000];
    size_t n;
};

static void put8(struct hb *h, unsigned v)
{
    h->b[h->n++] = (uint8_t)v;
}

static void put16(struct hb *h, unsigned v)
{
    put8(h, v >> 8);
    put8(h, v & 0xff);
}

static void patch16(struct hb *h, size_t at, size_t v)
{
    h->b[at] = (uint8_t)(v >> 8);
    h->b[at + 1] = (uint8_t)v;
}

/* A bare handshake message: n_suites suites (the first a GREASE value), the given
 * versions in supported_versions (none: no extension), n_sigalgs sigalgs, n_groups groups
 * (one more GREASE), and an SNI. */
static void make_hello(struct hb *h, size_t n_suites, const unsigned *versions, size_t n_versions,
                       size_t n_sigalgs, size_t n_groups, const char *sni)
{
    h->n = 0;
    put8(h, 1);
    put8(h, 0), put16(h, 0); /* length, patched below */
    put16(h, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(h, i);
    put8(h, 0); /* session id */
    put16(h, 2 * n_suites);
    put16(h, 0x0a0a);
    for (size_t i = 1; i < n_suites; i++)
        put16(h, (unsigned)i << 1 | 1); /* odd: never a GREASE value */
    put8(h, 1), put8(h, 0);             /* compression: null */
    size_t ext_at = h->n;
    put16(h, 0);
    if (sni) {
        size_t l = strlen(sni);
        put16(h, 0), put16(h, l + 5), put16(h, l + 3), put8(h, 0), put16(h, l);
        memcpy(h->b + h->n, sni, l);
        h->n += l;
    }
    if (n_versions) {
        put16(h, 43), put16(h, 1 + 2 * n_versions), put8(h, 2 * n_versions);
        for (size_t i = 0; i < n_versions; i++)
            put16(h, versions[i]);
    }
    put16(h, 13), put16(h, 2 + 2 * n_sigalgs), put16(h, 2 * n_sigalgs);
    for (size_t i = 0; i < n_sigalgs; i++)
        put16(h, 0x0400 + (unsigned)i);
    put16(h, 10), put16(h, 2 + 2 * (n_groups + 1)), put16(h, 2 * (n_groups + 1));
    put16(h, 0x2a2a);
    for (size_t i = 0; i < n_groups; i++)
        put16(h, 23 + (unsigned)i);
    patch16(h, ext_at, h->n - ext_at - 2);
    size_t body = h->n - 4;
    h->b[1] = (uint8_t)(body >> 16);
    patch16(h, 2, body & 0xffff);
}

static void test_summary(void)
{
    static struct hb h;
    char out[160], sni[256];
    const unsigned v13[] = {0x7a7a, 0x0304, 0x0303};
    make_hello(&h, 31, v13, 3, 13, 4, "a.test");
    px_hello_summary(h.b, h.n, out, sizeof out, sni, sizeof sni);
    CHECK_STR(out, "versions=TLSv1.3,TLSv1.2 suites=30 sigalgs=13 groups=4");
    CHECK_STR(sni, "a.test");

    /* sslscan-sized lists are counted whole (certstore keeps only CS_HELLO_MAX) */
    make_hello(&h, 345, NULL, 0, 200, 221, NULL);
    px_hello_summary(h.b, h.n, out, sizeof out, sni, sizeof sni);
    CHECK_STR(out, "versions=TLSv1.2 suites=344 sigalgs=200 groups=221");
    CHECK_STR(sni, "");

    /* a 65,534-byte suite list, and 17 unknown versions before TLS 1.3 */
    unsigned many[18];
    for (int i = 0; i < 17; i++)
        many[i] = 0x0305 + (unsigned)i;
    many[17] = 0x0304;
    make_hello(&h, 32767, many, 18, 1, 1, "x.test");
    px_hello_summary(h.b, h.n, out, sizeof out, NULL, 0);
    CHECK_CONTAINS(out, "suites=32766 sigalgs=1 groups=1");
    CHECK_CONTAINS(out, ",+10"); /* 8 versions named, 10 more counted */

    /* in a TLS record too; control characters in the SNI never reach a log line */
    make_hello(&h, 3, NULL, 0, 1, 1, "a\nb\x01.test");
    static struct hb rec;
    rec.n = 0;
    put8(&rec, 22), put16(&rec, 0x0301), put16(&rec, h.n);
    memcpy(rec.b + rec.n, h.b, h.n);
    rec.n += h.n;
    px_hello_summary(rec.b, rec.n, out, sizeof out, sni, sizeof sni);
    CHECK_STR(out, "versions=TLSv1.2 suites=2 sigalgs=1 groups=1");
    CHECK_STR(sni, "a?b?.test");

    /* truncated: what is there */
    make_hello(&h, 31, v13, 3, 13, 4, "a.test");
    px_hello_summary(h.b, 60, out, sizeof out, sni, sizeof sni);
    CHECK_CONTAINS(out, "suites=");
    px_hello_summary(h.b, 3, out, sizeof out, sni, sizeof sni);
    CHECK_STR(out, "unparsable ClientHello");
    px_hello_summary(NULL, 0, out, sizeof out, sni, sizeof sni);
    CHECK_STR(out, "no ClientHello");
}

/* ---- ring ---- */

static void note(struct px_hello_log *l, uint64_t now, int64_t wall, const struct hb *h,
                 const char *reason)
{
    struct px_hello_fail f = {.client = "127.0.0.1",
                              .reason = reason,
                              .detail = "x",
                              .hello = h ? h->b : NULL,
                              .hello_len = h ? h->n : 0};
    px_hello_log_note(l, now, wall, &f);
}

static void test_ring(void)
{
    static struct hb h, big;
    const unsigned v13[] = {0x0304};
    make_hello(&h, 5, v13, 1, 2, 2, "r.test");
    make_hello(&big, 15000, NULL, 0, 1, 1, "big.test"); /* ~30 KiB */
    struct px_hello_log l;
    px_hello_log_init(&l, 3);
    struct px_hello_rec *v;
    size_t n;
    CHECK_INT(px_hello_log_copy(&l, &v, &n), 0);
    CHECK(v == NULL && n == 0);

    char reason[16];
    for (int i = 1; i <= 100; i++) {
        snprintf(reason, sizeof reason, "r%d", i);
        note(&l, (uint64_t)i * 2000, i, i == 100 ? &big : &h, reason); /* never rate-limited */
    }
    CHECK_INT(l.printed_total, 100);
    CHECK_INT(px_hello_log_copy(&l, &v, &n), 0);
    CHECK_INT(n, PX_HELLO_LOG_KEEP);
    for (size_t i = 0; v && i < n; i++) {
        snprintf(reason, sizeof reason, "r%d", 100 - (int)i);
        if (strcmp(v[i].reason, reason) != 0) {
            CHECK_STR(v[i].reason, reason); /* newest first */
            break;
        }
    }
    if (v && n == PX_HELLO_LOG_KEEP) {
        CHECK_INT(v[0].hello_full, big.n); /* capped in the ring, full length said */
        CHECK_INT(v[0].hello_len, PX_HELLO_KEEP_BYTES);
        CHECK(memcmp(v[0].hello, big.b, PX_HELLO_KEEP_BYTES) == 0);
        CHECK_STR(v[0].sni, "big.test");
        CHECK_INT(v[1].hello_len, h.n);
        CHECK(memcmp(v[1].hello, h.b, h.n) == 0);
        CHECK_STR(v[1].summary, "versions=TLSv1.3 suites=4 sigalgs=2 groups=2");
        CHECK_STR(v[1].sni, "r.test");
        CHECK_INT(v[1].worker, 3);
        CHECK_INT(v[n - 1].seq, 100 - PX_HELLO_LOG_KEEP + 1);
    }
    px_hello_recs_free(v, n);

    /* OpenSSL's SNI wins over the hello's; a failure without a hello keeps no bytes */
    struct px_hello_fail f = {.client = "::1", .sni = "ssl.test", .reason = "timeout"};
    px_hello_log_note(&l, 1000000, 1000, &f);
    CHECK_INT(px_hello_log_copy(&l, &v, &n), 0);
    if (v) {
        CHECK_STR(v[0].sni, "ssl.test");
        CHECK(v[0].hello == NULL && v[0].hello_len == 0);
        CHECK_STR(v[0].summary, "no ClientHello");
    }
    px_hello_recs_free(v, n);
    px_hello_log_free(&l);
}

/* ---- rate limiter ---- */

static void test_rate(void)
{
    struct px_hello_log l;
    px_hello_log_init(&l, 0);
    struct px_hello_fail f = {.client = "c", .reason = "r"};
    bool held = false;
    for (int i = 0; i < 25; i++) {
        held = px_hello_log_note(&l, 5000 + (uint64_t)i, 0, &f);
        CHECK(held == (i >= PX_HELLO_LOG_RATE));
    }
    CHECK_INT(l.printed_total, PX_HELLO_LOG_RATE);
    CHECK_INT(l.suppressed_total, 25 - PX_HELLO_LOG_RATE);
    CHECK_INT(px_hello_log_window_end(&l), 6000);
    CHECK_INT(px_hello_log_flush(&l, 5999), 0); /* the window is still running */
    CHECK_INT(px_hello_log_flush(&l, 6000), 25 - PX_HELLO_LOG_RATE);
    CHECK_INT(px_hello_log_flush(&l, 6001), 0); /* reported once */

    /* a new window prints again; a window left without a flush is reported by the next
     * failure */
    for (int i = 0; i < PX_HELLO_LOG_RATE + 3; i++)
        px_hello_log_note(&l, 7000, 0, &f);
    CHECK_INT(l.suppressed, 3);
    CHECK(!px_hello_log_note(&l, 9000, 0, &f));
    CHECK_INT(l.suppressed, 0);
    CHECK_INT(l.printed_total, 2 * PX_HELLO_LOG_RATE + 1);
    CHECK_INT(l.suppressed_total, 25 - PX_HELLO_LOG_RATE + 3);
    CHECK_INT(l.n, 25 + PX_HELLO_LOG_RATE + 3 + 1); /* every failure is kept */
    px_hello_log_free(&l);
}

/* ---- JSON ---- */

static void test_json(void)
{
    static struct hb h;
    make_hello(&h, 2, NULL, 0, 1, 1, "j.test");
    struct px_hello_log a, b;
    px_hello_log_init(&a, 0);
    px_hello_log_init(&b, 1);
    struct px_hello_fail f = {.client = "10.0.0.1", .reason = "unknown_sni", .detail = "say \"x\""};
    px_hello_log_note(&a, 0, 1700000000123456, &f);
    f.hello = h.b;
    f.hello_len = h.n;
    f.reason = "protocol_version";
    px_hello_log_note(&b, 0, 1700000000200000, &f);
    struct px_hello_rec *va, *vb;
    size_t na, nb;
    CHECK_INT(px_hello_log_copy(&a, &va, &na), 0);
    CHECK_INT(px_hello_log_copy(&b, &vb, &nb), 0);
    struct px_hello_rec all[2] = {va[0], vb[0]};
    struct px_buf out = {0};
    px_hello_json(&out, all, 2);
    const char *j = out.data;
    CHECK(j &&
          strncmp(j, "{\"hellos\":[{\"time\":\"2023-11-14T22:13:20.200Z\",\"worker\":1,", 57) == 0);
    CHECK_CONTAINS(j, "\"reason\":\"protocol_version\"");
    CHECK_CONTAINS(j, "\"sni\":\"j.test\"");
    CHECK_CONTAINS(j, "\"hello\":\"01000");
    CHECK_CONTAINS(j, "\"truncated\":false}");
    CHECK_CONTAINS(j, "\"time\":\"2023-11-14T22:13:20.123Z\",\"worker\":0,\"client\":\"10.0.0.1\","
                      "\"sni\":null,\"reason\":\"unknown_sni\",\"detail\":\"say \\\"x\\\"\"");
    CHECK(j && strstr(j, "protocol_version") < strstr(j, "unknown_sni")); /* newest first */
    CHECK(j && j[out.len - 1] == '\n');
    px_buf_free(&out);
    px_hello_recs_free(va, na);
    px_hello_recs_free(vb, nb);
    px_hello_log_free(&a);
    px_hello_log_free(&b);
}

int main(void)
{
    px_log_set_level(PX_LOG_WARN); /* the lines themselves are checked by the integration test */
    test_summary();
    test_ring();
    test_rate();
    test_json();
    return tt_done();
}
