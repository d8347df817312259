/* twofold-bench statistics: what the server served (key type, leaf fingerprint, version),
 * merging across threads, and the text and JSON reports. */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <string.h>

#include "tb.h"

static const char *const err_names[TB_ERR__COUNT] = {"connect", "handshake", "http",
                                                     "timeout", "resumed",   "io"};
static const char *const version_names[5] = {"other", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};

const char *tb_err_name(enum tb_err e)
{
    return (unsigned)e < TB_ERR__COUNT ? err_names[e] : "?";
}

void tb_stats_init(struct tb_stats *s)
{
    memset(s, 0, sizeof(*s));
    tb_hist_init(&s->latency);
}

static void key_name(EVP_PKEY *pk, char *buf, size_t len)
{
    char group[64];
    switch (pk ? EVP_PKEY_get_base_id(pk) : EVP_PKEY_NONE) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        snprintf(buf, len, "RSA-%d", EVP_PKEY_get_bits(pk));
        return;
    case EVP_PKEY_EC:
        if (EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL) == 1) {
            const char *nist = EC_curve_nid2nist(OBJ_sn2nid(group));
            snprintf(buf, len, "ECDSA %.20s", nist ? nist : group);
        } else {
            snprintf(buf, len, "ECDSA ?");
        }
        return;
    case EVP_PKEY_ED25519:
        snprintf(buf, len, "Ed25519");
        return;
    case EVP_PKEY_NONE:
        snprintf(buf, len, "none");
        return;
    default:
        snprintf(buf, len, "other");
    }
}

static void count_key(struct tb_stats *s, const char *name, uint64_t n)
{
    for (size_t i = 0; i < s->n_keys; i++)
        if (strcmp(s->keys[i].name, name) == 0) {
            s->keys[i].n += n;
            return;
        }
    size_t i = s->n_keys < TB_MAX_KEYS ? s->n_keys++ : TB_MAX_KEYS - 1; /* last is "other" */
    if (i == TB_MAX_KEYS - 1)
        snprintf(s->keys[i].name, sizeof(s->keys[i].name), "%s",
                 s->keys[i].n ? s->keys[i].name : name);
    else
        snprintf(s->keys[i].name, sizeof(s->keys[i].name), "%s", name);
    s->keys[i].n += n;
}

static void count_fp(struct tb_stats *s, const unsigned char *sha, uint64_t n)
{
    for (size_t i = 0; i < s->n_fps; i++)
        if (memcmp(s->fps[i].sha256, sha, 32) == 0) {
            s->fps[i].n += n;
            return;
        }
    if (s->n_fps == TB_MAX_FPS) {
        s->fps_overflow += n;
        return;
    }
    memcpy(s->fps[s->n_fps].sha256, sha, 32);
    s->fps[s->n_fps++].n = n;
}

void tb_stats_note_peer(struct tb_stats *s, SSL *ssl)
{
    int v = SSL_version(ssl);
    s->versions[v >= TLS1_VERSION && v <= TLS1_3_VERSION ? v - TLS1_VERSION + 1 : 0]++;
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    char name[32];
    key_name(leaf ? X509_get0_pubkey(leaf) : NULL, name, sizeof(name));
    count_key(s, name, 1);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (leaf && X509_digest(leaf, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32)
        count_fp(s, md, 1);
}

void tb_stats_merge(struct tb_stats *dst, const struct tb_stats *src)
{
    dst->handshakes += src->handshakes;
    dst->full_handshakes += src->full_handshakes;
    dst->resumed += src->resumed;
    dst->requests += src->requests;
    dst->unsent += src->unsent;
    dst->fps_overflow += src->fps_overflow;
    for (size_t i = 0; i < TB_ERR__COUNT; i++)
        dst->errors[i] += src->errors[i];
    for (size_t i = 0; i < 6; i++)
        dst->status_class[i] += src->status_class[i];
    for (size_t i = 0; i < 5; i++)
        dst->versions[i] += src->versions[i];
    for (size_t i = 0; i < TB_MAX_MIX; i++)
        dst->per_profile[i] += src->per_profile[i];
    for (size_t i = 0; i < src->n_keys; i++)
        count_key(dst, src->keys[i].name, src->keys[i].n);
    for (size_t i = 0; i < src->n_fps; i++)
        count_fp(dst, src->fps[i].sha256, src->fps[i].n);
    tb_hist_merge(&dst->latency, &src->latency);
    if (!dst->start_ns || (src->start_ns && src->start_ns < dst->start_ns))
        dst->start_ns = src->start_ns;
    if (src->end_ns > dst->end_ns)
        dst->end_ns = src->end_ns;
}

static double duration_s(const struct tb_stats *s)
{
    return s->end_ns > s->start_ns ? (double)(s->end_ns - s->start_ns) / 1e9 : 0;
}

static double per_s(uint64_t n, double d)
{
    return d > 0 ? (double)n / d : 0;
}

static void hex32(const unsigned char *sha, char *out)
{
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", sha[i]);
}

static uint64_t error_total(const struct tb_stats *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < TB_ERR__COUNT; i++)
        n += s->errors[i];
    return n;
}

static const double pcts[] = {50, 90, 99, 99.9};
static const char *const pct_keys[] = {"p50", "p90", "p99", "p999"};

void tb_report_text(FILE *f, const struct tb_opts *o, const struct tb_stats *s,
                    const char *first_error, bool complete)
{
    double d = duration_s(s);
    fprintf(f, "twofold-bench: mode %s, target %s, %u connection(s), %u thread(s), ",
            tb_mode_name(o->mode), o->target_str, o->connections, o->threads);
    if (o->rate > 0)
        fprintf(f, "open loop %.0f req/s", o->rate);
    else
        fprintf(f, "closed loop");
    fprintf(f, ", %.3f s%s\n", d, complete ? "" : " (duration bound hit before --requests)");
    fprintf(f, "  %-14s %12llu %12.1f/s   (full %llu, resumed %llu)\n", "handshakes",
            (unsigned long long)s->handshakes, per_s(s->handshakes, d),
            (unsigned long long)s->full_handshakes, (unsigned long long)s->resumed);
    fprintf(f, "  %-14s %12llu %12.1f/s", "requests", (unsigned long long)s->requests,
            per_s(s->requests, d));
    if (s->unsent)
        fprintf(f, "   (%llu due but never sent)", (unsigned long long)s->unsent);
    fprintf(f, "\n  %-14s %12llu  ", "errors", (unsigned long long)error_total(s));
    for (size_t i = 0; i < TB_ERR__COUNT; i++)
        fprintf(f, " %s %llu", err_names[i], (unsigned long long)s->errors[i]);
    fprintf(f, "\n  %-14s", "latency (us)");
    for (size_t i = 0; i < 4; i++)
        fprintf(f, " %s %.1f", pct_keys[i], (double)tb_hist_percentile(&s->latency, pcts[i]) / 1e3);
    fprintf(f, " max %.1f\n", (double)s->latency.max / 1e3);
    if (first_error && *first_error)
        fprintf(f, "  %-14s %s\n", "first error", first_error);
    for (size_t i = 0; i < s->n_keys; i++)
        fprintf(f, "  %-14s %12llu   %s\n", i ? "" : "key types", (unsigned long long)s->keys[i].n,
                s->keys[i].name);
    for (size_t i = 0, shown = 0; i < 5; i++)
        if (s->versions[i])
            fprintf(f, "  %-14s %12llu   %s\n", shown++ ? "" : "versions",
                    (unsigned long long)s->versions[i], version_names[i]);
    for (size_t i = 0; i < o->n_mix; i++)
        fprintf(f, "  %-14s %12llu   %s\n", i ? "" : "profiles",
                (unsigned long long)s->per_profile[i], o->mix[i].profile->name);
    for (size_t i = 0; i < s->n_fps; i++) {
        char hex[65];
        hex32(s->fps[i].sha256, hex);
        fprintf(f, "  %-14s %12llu   sha256 %s\n", i ? "" : "certificates",
                (unsigned long long)s->fps[i].n, hex);
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", (unsigned char)*s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void json_counts(FILE *f, const char *key, const char *const *names, const uint64_t *counts,
                        size_t n, bool skip_zero)
{
    fprintf(f, ",\"%s\":{", key);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (skip_zero && !counts[i])
            continue;
        fprintf(f, "%s", first ? "" : ",");
        json_str(f, names[i]);
        fprintf(f, ":%llu", (unsigned long long)counts[i]);
        first = false;
    }
    fputc('}', f);
}

static void json_served(FILE *f, const struct tb_opts *o, const struct tb_stats *s)
{
    const char *names[TB_MAX_FPS > TB_MAX_MIX ? TB_MAX_FPS : TB_MAX_MIX];
    uint64_t counts[TB_MAX_FPS > TB_MAX_MIX ? TB_MAX_FPS : TB_MAX_MIX];
    char hex[TB_MAX_FPS][65];
    for (size_t i = 0; i < s->n_keys; i++) {
        names[i] = s->keys[i].name;
        counts[i] = s->keys[i].n;
    }
    json_counts(f, "key_types", names, counts, s->n_keys, false);
    for (size_t i = 0; i < s->n_fps; i++) {
        hex32(s->fps[i].sha256, hex[i]);
        names[i] = hex[i];
        counts[i] = s->fps[i].n;
    }
    json_counts(f, "fingerprints", names, counts, s->n_fps, false);
    json_counts(f, "versions", version_names, s->versions, 5, true);
    for (size_t i = 0; i < o->n_mix; i++)
        names[i] = o->mix[i].profile->name;
    json_counts(f, "profiles", names, s->per_profile, o->n_mix, false);
    static const char *const classes[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    json_counts(f, "status", classes, s->status_class, 6, true);
}

void tb_report_json(FILE *f, const struct tb_opts *o, const struct tb_stats *s,
                    const char *first_error, bool complete)
{
    double d = duration_s(s);
    fprintf(f, "{\"mode\":\"%s\",\"target\":", tb_mode_name(o->mode));
    json_str(f, o->target_str);
    fprintf(f,
            ",\"connections\":%u,\"threads\":%u,\"rate\":%.3f,\"duration_s\":%.6f,"
            "\"complete\":%s,\"handshakes\":%llu,\"handshakes_per_s\":%.3f,"
            "\"requests\":%llu,\"requests_per_s\":%.3f,\"unsent\":%llu",
            o->connections, o->threads, o->rate, d, complete ? "true" : "false",
            (unsigned long long)s->handshakes, per_s(s->handshakes, d),
            (unsigned long long)s->requests, per_s(s->requests, d), (unsigned long long)s->unsent);
    json_counts(f, "errors", err_names, s->errors, TB_ERR__COUNT, false);
    json_served(f, o, s);
    fprintf(f, ",\"latency_us\":{");
    for (size_t i = 0; i < 4; i++)
        fprintf(f, "\"%s\":%.1f,", pct_keys[i],
                (double)tb_hist_percentile(&s->latency, pcts[i]) / 1e3);
    fprintf(f, "\"max\":%.1f}", (double)s->latency.max / 1e3);
    fprintf(f, ",\"resumed\":%llu,\"full_handshakes\":%llu,\"first_error\":",
            (unsigned long long)s->resumed, (unsigned long long)s->full_handshakes);
    if (first_error && *first_error)
        json_str(f, first_error);
    else
        fprintf(f, "null");
    fprintf(f, "}\n");
}
