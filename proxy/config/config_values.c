/* Converters for scalar values: numbers, durations, sizes, booleans, enums, strings and
 * TLS policy strings. Each converts r->value into the field k->off of obj, or reports
 * with px_kerr and returns -1 leaving the field (and its default) untouched. */
#include "config_int.h"
#include "px_log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIELD(obj, k, T) ((T *)(void *)((char *)(obj) + (k)->off))

/* Leading decimal digits of s into *v; *end past them. -1 when none or overflow. */
static int digits(const char *s, uint64_t *v, const char **end)
{
    uint64_t n = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (uint64_t)(*p - '0');
        if (n > UINT_MAX)
            return -1;
    }
    *v = n;
    *end = p;
    return p == s ? -1 : 0;
}

static int parse_uint(const char *s, unsigned *out)
{
    uint64_t v;
    const char *end;
    if (digits(s, &v, &end) < 0 || *end)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int px_conv_uint(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    if (parse_uint(r->value, FIELD(obj, k, unsigned)) == 0)
        return 0;
    px_kerr(L, r, "\"%s\" is not a whole number", r->value);
    return -1;
}

int px_conv_count(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    unsigned v;
    if (parse_uint(r->value, &v) == 0 && v > 0) {
        *FIELD(obj, k, unsigned) = v;
        return 0;
    }
    px_kerr(L, r, "\"%s\" is not a positive whole number", r->value);
    return -1;
}

/* "500ms", "10s", "2m", "1h"; a plain number is seconds. Stored in milliseconds. */
int px_conv_duration(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    uint64_t v;
    const char *end;
    if (digits(r->value, &v, &end) == 0 && v > 0) {
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            if (strcmp(end, units[i].unit) == 0 && v * units[i].ms <= UINT_MAX) {
                *FIELD(obj, k, unsigned) = (unsigned)(v * units[i].ms);
                return 0;
            }
        }
    }
    px_kerr(L, r, "\"%s\" is not a positive duration (e.g. 500ms, 10s, 2m, 1h)", r->value);
    return -1;
}

/* "512", "8k", "1m" (k = 1024). */
int px_conv_size(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    uint64_t v, mul = 0;
    const char *end;
    if (digits(r->value, &v, &end) == 0 && v > 0) {
        if (*end == '\0')
            mul = 1;
        else if ((*end == 'k' || *end == 'K') && !end[1])
            mul = 1024;
        else if ((*end == 'm' || *end == 'M') && !end[1])
            mul = 1024 * 1024;
        if (mul && v * mul <= UINT_MAX) {
            *FIELD(obj, k, unsigned) = (unsigned)(v * mul);
            return 0;
        }
    }
    px_kerr(L, r, "\"%s\" is not a positive size (e.g. 512, 8k, 1m)", r->value);
    return -1;
}

int px_conv_bool(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    static const char *const yes[] = {"on", "yes", "true", "1"}, *const no[] = {"off", "no",
                                                                                "false", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(r->value, yes[i]) == 0 || strcasecmp(r->value, no[i]) == 0) {
            *FIELD(obj, k, bool) = strcasecmp(r->value, yes[i]) == 0;
            return 0;
        }
    }
    px_kerr(L, r, "\"%s\" is not a boolean (on/off, yes/no, true/false, 1/0)", r->value);
    return -1;
}

int px_conv_str(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    char **f = FIELD(obj, k, char *);
    free(*f);
    *f = px_strdup(L, r->value);
    return *f ? 0 : -1;
}

/* Via received-by (RFC 9110 7.6.3): a pseudonym token, optionally ":port"; off: none. */
int px_conv_via(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    char **f = FIELD(obj, k, char *);
    const char *v = r->value, *colon = strchr(v, ':');
    size_t n = colon ? (size_t)(colon - v) : strlen(v);
    bool ok = n > 0 && n <= 64 &&
              (!colon || (colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)));
    for (size_t i = 0; ok && i < n; i++)
        ok = strchr("!#$%&'*+-.^_`|~", v[i]) || isalnum((unsigned char)v[i]);
    if (!ok || (colon && strlen(colon + 1) > 5)) {
        px_kerr(L, r,
                "\"%s\" is not a Via pseudonym (a token such as twofold, optionally :port) "
                "or off",
                v);
        return -1;
    }
    free(*f);
    if (strcasecmp(v, "off") == 0) {
        *f = NULL;
        return 0;
    }
    *f = px_strdup(L, v);
    return *f ? 0 : -1;
}

/* A file that must exist and be readable (ca_bundle). */
int px_conv_file(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    char **f = FIELD(obj, k, char *);
    free(*f);
    *f = px_path_resolve(L, r->value);
    if (!*f)
        return -1;
    px_check_path(L, r, *f, false);
    return 0;
}

/* Matches value against names[]; the index or -1 (reported). */
static int pick(struct px_loader *L, const struct px_raw *r, const char *const *names, size_t n,
                const char *expected)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(r->value, names[i]) == 0)
            return (int)i;
    px_kerr(L, r, "\"%s\" is not one of %s", r->value, expected);
    return -1;
}

int px_conv_workers(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    unsigned v;
    if (strcmp(r->value, "auto") == 0)
        v = 0;
    else if (parse_uint(r->value, &v) < 0 || v > 1024) {
        px_kerr(L, r, "\"%s\" is not a number of workers (0-1024 or auto)", r->value);
        return -1;
    }
    *FIELD(obj, k, unsigned) = v;
    return 0;
}

int px_conv_admin(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    struct px_config *c = obj;
    if (strcmp(r->value, "off") == 0) {
        c->admin_enabled = false;
        memset(&c->admin, 0, sizeof c->admin);
        return 0;
    }
    if (px_conv_addr(L, k, r, obj) < 0)
        return -1;
    c->admin_enabled = true;
    return 0;
}

int px_conv_log_level(struct px_loader *L, const struct px_key *k, const struct px_raw *r,
                      void *obj)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    int v = pick(L, r, names, 4, "error, warn, info, debug");
    if (v < 0)
        return -1;
    *FIELD(obj, k, int) = v;
    return 0;
}

int px_conv_access_log(struct px_loader *L, const struct px_key *k, const struct px_raw *r,
                       void *obj)
{
    static const char *const names[] = {"off", "text", "json"};
    int v = pick(L, r, names, 3, "off, text, json");
    if (v < 0)
        return -1;
    *FIELD(obj, k, enum px_access_log_mode) = (enum px_access_log_mode)v;
    return 0;
}

/* "stderr" or "-": NULL (stderr). A file is created at startup, so only its directory
 * could be checked here; the server reports a failure to open it. */
int px_conv_log_file(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    char **f = FIELD(obj, k, char *);
    free(*f);
    *f = NULL;
    if (strcmp(r->value, "stderr") == 0 || strcmp(r->value, "-") == 0)
        return 0;
    *f = px_path_resolve(L, r->value);
    return *f ? 0 : -1;
}

int px_conv_protocols(struct px_loader *L, const struct px_key *k, const struct px_raw *r,
                      void *obj)
{
    struct cs_policy *p = FIELD(obj, k, struct cs_policy);
    int min = 0, max = 0, bad = 0;
    char *copy = px_strdup(L, r->value), *save = NULL;
    if (!copy)
        return -1;
    for (char *t = strtok_r(copy, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
        int v = strcmp(t, "TLSv1.2") == 0   ? TLS1_2_VERSION
                : strcmp(t, "TLSv1.3") == 0 ? TLS1_3_VERSION
                                            : 0;
        if (!v) {
            px_kerr(L, r, "\"%s\": only TLSv1.2 and TLSv1.3 are supported", t);
            bad = 1;
            continue;
        }
        min = min && min < v ? min : v;
        max = max > v ? max : v;
    }
    free(copy);
    if (!bad && !min)
        px_kerr(L, r, "no protocol given (TLSv1.2, TLSv1.3)");
    if (bad || !min)
        return -1;
    p->min_version = min;
    p->max_version = max;
    return 0;
}

/* alpn: "h2" and "http/1.1", each at most once, in the order given. */
int px_conv_alpn(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    struct px_alpn *a = FIELD(obj, k, struct px_alpn);
    struct px_alpn out = {0};
    int bad = 0;
    char *copy = px_strdup(L, r->value), *save = NULL;
    if (!copy)
        return -1;
    for (char *t = strtok_r(copy, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
        if (strcmp(t, "h2") != 0 && strcmp(t, "http/1.1") != 0) {
            px_kerr(L, r, "\"%s\": only h2 and http/1.1 are offered", t);
            bad = 1;
            continue;
        }
        size_t n = strlen(t);
        for (size_t i = 0; i < out.len; i += 1u + out.wire[i])
            if (out.wire[i] == n && memcmp(out.wire + i + 1, t, n) == 0) {
                px_kerr(L, r, "\"%s\" given twice", t);
                bad = 1;
            }
        if (bad)
            continue;
        out.wire[out.len] = (unsigned char)n;
        memcpy(out.wire + out.len + 1, t, n);
        out.len = (unsigned char)(out.len + 1 + n);
    }
    free(copy);
    if (!bad && !out.len)
        px_kerr(L, r, "no protocol given (h2, http/1.1)");
    if (bad || !out.len)
        return -1;
    *a = out;
    return 0;
}

/* ciphers, ciphersuites, groups: checked by handing them to a scratch SSL_CTX, so a typo
 * is a config error here and not a failed snapshot later. */
int px_conv_tls_list(struct px_loader *L, const struct px_key *k, const struct px_raw *r, void *obj)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) /* OpenSSL fails this for lack of memory only */
        return px_oom(L);
    ERR_clear_error();
    int ok = strcmp(k->key, "ciphers") == 0        ? SSL_CTX_set_cipher_list(ctx, r->value)
             : strcmp(k->key, "ciphersuites") == 0 ? SSL_CTX_set_ciphersuites(ctx, r->value)
                                                   : SSL_CTX_set1_groups_list(ctx, r->value);
    SSL_CTX_free(ctx);
    if (ok != 1) {
        char ebuf[256] = "";
        unsigned long e = ERR_peek_last_error();
        if (e)
            ERR_error_string_n(e, ebuf, sizeof ebuf);
        ERR_clear_error();
        px_kerr(L, r, "\"%s\" is rejected by OpenSSL%s%s", r->value, *ebuf ? ": " : "", ebuf);
        return -1;
    }
    return px_conv_str(L, k, r, obj);
}
