/* twofold-bench command line: parsing, validation (loopback targets only) and the
 * prebuilt request bytes. */
#define _GNU_SOURCE /* asprintf, strndup */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tb.h"

const char *tb_mode_name(enum tb_mode m)
{
    switch (m) {
    case TB_MODE_HANDSHAKE:
        return "handshake";
    case TB_MODE_RESUME:
        return "resume";
    case TB_MODE_KEEPALIVE:
        return "keepalive";
    }
    return "?";
}

void tb_usage(FILE *f)
{
    fprintf(f,
            "usage: twofold-bench --target 127.0.0.1:PORT [options]\n"
            "  --target ADDR:PORT      loopback only (127.0.0.0/8 or [::1])\n"
            "  --sni NAME[,NAME...]    SNI names, rotated per connection (default localhost)\n"
            "  --host NAME             Host header (default: the connection's SNI)\n"
            "  --path /x               request path (default /)\n"
            "  --profile NAME          client profile (default openssl3-default)\n"
            "  --mix NAME:W,NAME:W     weighted profile mix, chosen per connection\n"
            "  --mode M                handshake (new connection and full handshake per\n"
            "                          request), resume (new connection, resumed session),\n"
            "                          keepalive (--requests-per-conn N, --pipeline D)\n"
            "  --connections C         concurrent connections (default 8)\n"
            "  --threads N             event loops (default 1)\n"
            "  --duration S            run length bound in seconds (default 10)\n"
            "  --requests N            stop after N requests (bounded by --duration, default\n"
            "                          60 s when --requests is given alone)\n"
            "  --rate R                open loop: R requests/s, latency from intended send time\n"
            "  --requests-per-conn N   keepalive: requests per connection (default 0: no limit)\n"
            "  --pipeline D            keepalive: requests in flight per connection (default 1)\n"
            "  --timeout S             per-request timeout in seconds (default 5)\n"
            "  --json                  JSON report\n"
            "  --list-profiles         print the client profiles and exit\n");
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int tb_target_parse(const char *s, struct sockaddr_storage *out, char *err, size_t errlen)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
        return fail(err, errlen, "--target %s: expected ADDR:PORT", s);
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
        return fail(err, errlen, "--target %s: bad port", s);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(out, 0, sizeof(*out));
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
        if (uv_ip6_addr(host + 1, (int)port, a6) != 0)
            return fail(err, errlen, "--target %s: bad IPv6 address", s);
        if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
            return fail(err, errlen, "--target %s: not a loopback address", s);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    struct in_addr probe;
    if (inet_pton(AF_INET, host, &probe) != 1 || uv_ip4_addr(host, (int)port, a4) != 0)
        return fail(err, errlen, "--target %s: expected a numeric IPv4 or [IPv6] address", s);
    if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
        return fail(err, errlen, "--target %s: not a loopback address (127.0.0.0/8 only)", s);
    return 0;
}

int tb_mix_parse(const char *s, struct tb_mix_item *mix, size_t *n, char *err, size_t errlen)
{
    char buf[1024];
    if (strlen(s) >= sizeof(buf) || !*s)
        return fail(err, errlen, "profile mix \"%s\": empty or too long", s);
    strcpy(buf, s);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n >= TB_MAX_MIX)
            return fail(err, errlen, "profile mix: more than %d entries", TB_MAX_MIX);
        unsigned long weight = 1;
        char *colon = strchr(tok, ':');
        if (colon) {
            char *end = NULL;
            *colon = '\0';
            errno = 0;
            weight = strtoul(colon + 1, &end, 10);
            if (errno || end == colon + 1 || *end || weight < 1 || weight > 1000000)
                return fail(err, errlen, "profile mix: bad weight for %s", tok);
        }
        const struct cs_profile *p = cs_profile_find(tok);
        if (!p)
            return fail(err, errlen, "unknown client profile \"%s\" (see --list-profiles)", tok);
        mix[*n] = (struct tb_mix_item){.profile = p, .weight = (unsigned)weight};
        (*n)++;
    }
    if (*n == 0)
        return fail(err, errlen, "profile mix \"%s\": no profile", s);
    return 0;
}

static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

static int parse_sni(struct tb_opts *o, const char *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < o->n_sni; i++)
        free(o->sni[i]);
    o->n_sni = 0;
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > 253)
            return fail(err, errlen, "--sni %s: empty or too long name", s);
        if (o->n_sni >= TB_MAX_SNI)
            return fail(err, errlen, "--sni: more than %d names", TB_MAX_SNI);
        o->sni[o->n_sni] = strndup(p, len);
        if (!o->sni[o->n_sni])
            return fail(err, errlen, "out of memory");
        if (!header_safe(o->sni[o->n_sni++]))
            return fail(err, errlen, "--sni %s: bad character", s);
        p += len;
        if (*p == ',')
            p++;
    }
    return o->n_sni ? 0 : fail(err, errlen, "--sni: no name");
}

static char *build_request(const char *path, const char *host, bool close, size_t *len)
{
    char *r = NULL;
    int n = asprintf(&r,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: twofold-bench\r\n"
                     "Accept: */*\r\n%s\r\n",
                     path, host, close ? "Connection: close\r\n" : "");
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return r;
}

static int build_requests(struct tb_opts *o, char *err, size_t errlen)
{
    for (size_t i = 0; i < o->n_sni; i++) {
        const char *host = o->host ? o->host : o->sni[i];
        o->req[i].keep = build_request(o->path, host, false, &o->req[i].keep_len);
        o->req[i].close = build_request(o->path, host, true, &o->req[i].close_len);
        if (!o->req[i].keep || !o->req[i].close)
            return fail(err, errlen, "out of memory");
    }
    return 0;
}

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out, char *err,
                     size_t errlen)
{
    char *end = NULL;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= lo && d <= hi))
        return fail(err, errlen, "%s %s: expected a number in [%g, %g]", opt, v, lo, hi);
    *out = d;
    return 0;
}

/* Options taking a number: table of name, bounds and destination kind. */
static int parse_numeric(struct tb_opts *o, const char *opt, const char *v, char *err,
                         size_t errlen)
{
    double d = 0;
    int rc = 0;
    if (strcmp(opt, "--connections") == 0 &&
        (rc = parse_num(opt, v, 1, TB_MAX_CONNS, &d, err, errlen)) == 0)
        o->connections = (unsigned)d;
    else if (strcmp(opt, "--threads") == 0 &&
             (rc = parse_num(opt, v, 1, TB_MAX_THREADS, &d, err, errlen)) == 0)
        o->threads = (unsigned)d;
    else if (strcmp(opt, "--duration") == 0 &&
             (rc = parse_num(opt, v, 0.001, 86400, &d, err, errlen)) == 0) {
        o->duration_s = d;
        o->duration_set = true;
    } else if (strcmp(opt, "--requests") == 0 &&
               (rc = parse_num(opt, v, 1, 1e15, &d, err, errlen)) == 0)
        o->requests = (uint64_t)d;
    else if (strcmp(opt, "--rate") == 0 &&
             (rc = parse_num(opt, v, 0.001, 1e8, &d, err, errlen)) == 0)
        o->rate = d;
    else if (strcmp(opt, "--timeout") == 0 &&
             (rc = parse_num(opt, v, 0.001, 3600, &d, err, errlen)) == 0)
        o->timeout_s = d;
    else if (strcmp(opt, "--requests-per-conn") == 0 &&
             (rc = parse_num(opt, v, 0, 1e9, &d, err, errlen)) == 0)
        o->requests_per_conn = (unsigned)d;
    else if (strcmp(opt, "--pipeline") == 0 &&
             (rc = parse_num(opt, v, 1, TB_MAX_PIPELINE, &d, err, errlen)) == 0)
        o->pipeline = (unsigned)d;
    return rc;
}

static bool is_numeric_opt(const char *a)
{
    static const char *const names[] = {"--connections",       "--threads", "--duration",
                                        "--requests",          "--rate",    "--timeout",
                                        "--requests-per-conn", "--pipeline"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(a, names[i]) == 0)
            return true;
    return false;
}

static int parse_mode(struct tb_opts *o, const char *v, char *err, size_t errlen)
{
    for (int m = TB_MODE_HANDSHAKE; m <= TB_MODE_KEEPALIVE; m++)
        if (strcmp(v, tb_mode_name((enum tb_mode)m)) == 0) {
            o->mode = (enum tb_mode)m;
            return 0;
        }
    return fail(err, errlen, "--mode %s: expected handshake, resume or keepalive", v);
}

static int replace_str(char **dst, const char *v, char *err, size_t errlen)
{
    free(*dst);
    *dst = strdup(v);
    return *dst ? 0 : fail(err, errlen, "out of memory");
}

static int parse_one(struct tb_opts *o, const char *a, const char *v, bool *have_target, char *err,
                     size_t errlen)
{
    if (is_numeric_opt(a))
        return parse_numeric(o, a, v, err, errlen);
    if (strcmp(a, "--target") == 0) {
        *have_target = true;
        snprintf(o->target_str, sizeof(o->target_str), "%s", v);
        return tb_target_parse(v, &o->target, err, errlen);
    }
    if (strcmp(a, "--sni") == 0)
        return parse_sni(o, v, err, errlen);
    if (strcmp(a, "--host") == 0)
        return header_safe(v) && *v ? replace_str(&o->host, v, err, errlen)
                                    : fail(err, errlen, "--host %s: bad character", v);
    if (strcmp(a, "--path") == 0)
        return v[0] == '/' && header_safe(v) ? replace_str(&o->path, v, err, errlen)
                                             : fail(err, errlen, "--path must start with /");
    if (strcmp(a, "--profile") == 0 && strchr(v, ','))
        return fail(err, errlen, "--profile takes one name; use --mix for several");
    if (strcmp(a, "--profile") == 0 || strcmp(a, "--mix") == 0)
        return tb_mix_parse(v, o->mix, &o->n_mix, err, errlen);
    if (strcmp(a, "--mode") == 0)
        return parse_mode(o, v, err, errlen);
    return fail(err, errlen, "unknown option %s (see --help)", a);
}

static int finish(struct tb_opts *o, bool have_target, char *err, size_t errlen)
{
    if (!have_target)
        return fail(err, errlen, "--target 127.0.0.1:PORT is required");
    if (!o->n_sni && parse_sni(o, "localhost", err, errlen) != 0)
        return -1;
    if (!o->path && replace_str(&o->path, "/", err, errlen) != 0)
        return -1;
    if (!o->n_mix && tb_mix_parse("openssl3-default", o->mix, &o->n_mix, err, errlen) != 0)
        return -1;
    if (o->mode != TB_MODE_KEEPALIVE && (o->pipeline > 1 || o->requests_per_conn > 1))
        return fail(err, errlen, "--pipeline and --requests-per-conn need --mode keepalive");
    if (o->mode != TB_MODE_KEEPALIVE)
        o->requests_per_conn = 1;
    if (o->threads > o->connections)
        return fail(err, errlen, "--threads %u exceeds --connections %u", o->threads,
                    o->connections);
    if (o->requests && !o->duration_set)
        o->duration_s = 60;
    return build_requests(o, err, errlen);
}

int tb_opts_parse(struct tb_opts *o, int argc, char **argv, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->connections = 8;
    o->threads = 1;
    o->pipeline = 1;
    o->duration_s = 10;
    o->timeout_s = 5;
    bool have_target = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            tb_usage(stdout);
            return 1;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(a, "--list-profiles") == 0) {
            for (size_t p = 0; p < cs_n_profiles; p++)
                printf("%-22s %s\n", cs_profiles[p].name, cs_profiles[p].desc);
            return 1;
        }
        if (i + 1 >= argc)
            return fail(err, errlen, "%s needs a value", a);
        if (parse_one(o, a, argv[++i], &have_target, err, errlen) != 0)
            return -1;
    }
    return finish(o, have_target, err, errlen);
}

void tb_opts_free(struct tb_opts *o)
{
    for (size_t i = 0; i < o->n_sni; i++) {
        free(o->sni[i]);
        free(o->req[i].keep);
        free(o->req[i].close);
        o->sni[i] = o->req[i].keep = o->req[i].close = NULL;
    }
    o->n_sni = 0;
    free(o->path);
    free(o->host);
    o->path = o->host = NULL;
    for (size_t i = 0; i < o->n_mix; i++) {
        SSL_CTX_free(o->mix[i].ctx);
        o->mix[i].ctx = NULL;
    }
}
