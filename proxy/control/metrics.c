/* /certs and /metrics rendering. Metric names are documented in README.md. */
#include "px_metrics.h"

#include "px_json.h"
#include "px_reload.h"

#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void iso_time(char *out, size_t len, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void cert_json(struct px_buf *b, const struct cs_cert *c, time_t now)
{
    char nb[32], na[32], desc[64];
    iso_time(nb, sizeof nb, c->not_before);
    iso_time(na, sizeof na, c->not_after);
    px_buf_append(b, "{\"path\":", 8);
    px_json_str(b, c->cert_path);
    px_buf_append(b, ",\"key_path\":", 12);
    px_json_str(b, c->key_path);
    px_buf_printf(b, ",\"key_type\":\"%s\",\"describe\":", cs_key_type_name(c->type));
    px_json_str(b, cs_cert_describe(c, desc, sizeof desc));
    if (c->type == CS_KEY_ECDSA)
        px_buf_printf(b, ",\"curve\":\"%s\"", cs_curve_name(c->curve_nid));
    px_buf_printf(b, ",\"bits\":%d,\"serial\":", c->bits);
    px_json_str(b, c->serial_hex);
    px_buf_printf(b, ",\"sha256\":\"%s\",\"not_before\":\"%s\",\"not_after\":\"%s\",\"issuer\":",
                  c->fp_hex, nb, na);
    px_json_str(b, c->issuer);
    px_buf_append(b, ",\"subject\":", 11);
    px_json_str(b, c->subject);
    const char *status = c->not_after < now ? "expired" : "ok";
    px_buf_printf(b, ",\"status\":\"%s\",\"names\":[", status);
    for (size_t i = 0; i < c->n_dns_names; i++) {
        if (i)
            px_buf_append(b, ",", 1);
        px_json_str(b, c->dns_names[i]);
    }
    px_buf_append(b, "]}", 2);
}

static void site_json(struct px_buf *b, const struct cs_site *site, time_t now)
{
    px_buf_append(b, "{\"site\":", 8);
    px_json_str(b, site->name);
    px_buf_append(b, ",\"names\":[", 10);
    for (size_t i = 0; i < site->n_names; i++) {
        if (i)
            px_buf_append(b, ",", 1);
        px_json_str(b, site->names[i]);
    }
    px_buf_append(b, "],\"certificates\":[", 18);
    for (size_t i = 0; i < site->n_certs; i++) {
        if (i)
            px_buf_append(b, ",", 1);
        cert_json(b, site->certs[i], now);
    }
    px_buf_append(b, "]}", 2);
}

void px_metrics_certs_json(const struct px_server *s, struct px_buf *out)
{
    time_t now = time(NULL);
    px_buf_printf(out, "{\"generation\":%llu,\"sites\":[",
                  (unsigned long long)cs_snapshot_generation(s->snap));
    size_t n = cs_snapshot_site_count(s->snap);
    for (size_t i = 0; i < n; i++) {
        if (i)
            px_buf_append(out, ",", 1);
        site_json(out, cs_snapshot_site(s->snap, i), now);
    }
    px_buf_append(out, "],\"last_reload\":", 16);
    if (s->reload.last.seq)
        px_buf_append(out, s->reload.last.summary_json.data, s->reload.last.summary_json.len);
    else
        px_buf_append(out, "null", 4);
    px_buf_append(out, "}\n", 2);
}

/* ---- Prometheus ---- */

/* Label values: backslash, quote and newline escaped. */
static void label(struct px_buf *b, const char *name, const char *v, bool first)
{
    px_buf_printf(b, "%s%s=\"", first ? "" : ",", name);
    for (; v && *v; v++) {
        if (*v == '\\' || *v == '"')
            px_buf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            px_buf_append(b, "\\n", 2);
        else
            px_buf_append(b, v, 1);
    }
    px_buf_append(b, "\"", 1);
}

static void header(struct px_buf *b, const char *name, const char *type, const char *help)
{
    px_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *version_name(int v)
{
    switch (v) {
    case TLS1_3_VERSION:
        return "TLSv1.3";
    case TLS1_2_VERSION:
        return "TLSv1.2";
    default:
        return "other";
    }
}

static void render_handshakes(struct px_buf *b, const struct cs_counters *hs)
{
    header(b, "twofold_handshakes_total", "counter",
           "Completed TLS handshakes by site, key type, curve or bits, and version.");
    for (size_t i = 0; i < hs->n; i++) {
        const struct cs_hs_count *h = &hs->items[i];
        char kb[16];
        snprintf(kb, sizeof kb, "%d", h->bits);
        px_buf_append(b, "twofold_handshakes_total{", 25);
        label(b, "site", h->site, true);
        label(b, "key_type", cs_key_type_name(h->type), false);
        label(b, "curve", h->type == CS_KEY_ECDSA ? cs_curve_name(h->curve_nid) : "", false);
        label(b, "bits", kb, false);
        label(b, "version", version_name(h->version), false);
        px_buf_printf(b, "} %llu\n", (unsigned long long)h->n);
    }
    header(b, "twofold_handshake_failures_total", "counter", "Failed TLS handshakes by reason.");
    for (int r = 1; r < CS_FAIL__COUNT; r++) {
        px_buf_append(b, "twofold_handshake_failures_total{", 33);
        label(b, "reason", cs_fail_name((enum cs_fail)r), true);
        px_buf_printf(b, "} %llu\n", (unsigned long long)hs->failures[r]);
    }
}

static void counter(struct px_buf *b, const char *name, const char *help, uint64_t v)
{
    header(b, name, "counter", help);
    px_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void render_h2(struct px_buf *b, const struct px_stats *st)
{
    static const char *const codes[] = {"NO_ERROR", "PROTOCOL_ERROR", "ENHANCE_YOUR_CALM", "other"};
    counter(b, "twofold_http2_connections_total", "Client connections that negotiated h2.",
            st->h2_connections);
    counter(b, "twofold_http2_streams_total", "HTTP/2 requests (streams) received.",
            st->h2_streams);
    header(b, "twofold_http2_streams_active", "gauge", "HTTP/2 streams open now.");
    px_buf_printf(b, "twofold_http2_streams_active %llu\n",
                  (unsigned long long)st->h2_streams_active);
    counter(b, "twofold_http2_resets_received_total", "RST_STREAM frames received from clients.",
            st->h2_resets_received);
    header(b, "twofold_http2_goaways_total", "counter", "GOAWAY frames sent, by error code.");
    for (int k = 0; k < PX_H2_GOAWAY_KINDS; k++)
        px_buf_printf(b, "twofold_http2_goaways_total{code=\"%s\"} %llu\n", codes[k],
                      (unsigned long long)st->h2_goaways[k]);
}

static void render_stats(struct px_buf *b, const struct px_stats *st, size_t conns)
{
    header(b, "twofold_connections_active", "gauge", "Open client connections.");
    px_buf_printf(b, "twofold_connections_active %zu\n", conns);
    counter(b, "twofold_connections_accepted_total", "Accepted client connections.", st->accepted);
    counter(b, "twofold_requests_total", "Requests received.", st->requests);
    header(b, "twofold_responses_total", "counter", "Responses sent by status class.");
    for (int c = 1; c <= 5; c++)
        px_buf_printf(b, "twofold_responses_total{class=\"%dxx\"} %llu\n", c,
                      (unsigned long long)st->responses_by_class[c]);
    counter(b, "twofold_upstream_connects_total", "New upstream connections.",
            st->upstream_connects);
    counter(b, "twofold_upstream_reuses_total", "Requests sent on pooled upstream connections.",
            st->upstream_reuses);
    counter(b, "twofold_upstream_connect_failures_total", "Failed upstream connects.",
            st->upstream_connect_failures);
    counter(b, "twofold_upstream_retries_total",
            "Requests sent again after a pooled upstream connection failed under them.",
            st->upstream_retries);
    counter(b, "twofold_upstream_retries_refused_total",
            "Requests answered 502 instead: not idempotent, or a body was already sent.",
            st->upstream_retries_refused);
    counter(b, "twofold_bytes_received_total", "Bytes received from clients (TLS).", st->bytes_in);
    counter(b, "twofold_bytes_sent_total", "Bytes sent to clients (TLS).", st->bytes_out);
    render_h2(b, st);
}

static void render_certs(struct px_buf *b, const struct px_server *s)
{
    header(b, "twofold_certificate_expiry_timestamp_seconds", "gauge",
           "notAfter of every certificate in the live snapshot.");
    size_t n = cs_snapshot_site_count(s->snap);
    for (size_t i = 0; i < n; i++) {
        const struct cs_site *site = cs_snapshot_site(s->snap, i);
        for (size_t k = 0; k < site->n_certs; k++) {
            const struct cs_cert *c = site->certs[k];
            char desc[64];
            px_buf_append(b, "twofold_certificate_expiry_timestamp_seconds{", 45);
            label(b, "site", site->name, true);
            label(b, "path", c->cert_path, false);
            label(b, "key", cs_cert_describe(c, desc, sizeof desc), false);
            label(b, "sha256", c->fp_hex, false);
            px_buf_printf(b, "} %lld\n", (long long)c->not_after);
        }
    }
    header(b, "twofold_snapshot_generation", "gauge", "Generation of the live snapshot.");
    px_buf_printf(b, "twofold_snapshot_generation %llu\n",
                  (unsigned long long)cs_snapshot_generation(s->snap));
    header(b, "twofold_reloads_total", "counter", "Certificate reloads by outcome.");
    for (int o = 0; o < 3; o++)
        px_buf_printf(b, "twofold_reloads_total{outcome=\"%s\"} %llu\n",
                      px_reload_outcome_name((enum px_reload_outcome)o),
                      (unsigned long long)s->reload.counts[o]);
    header(b, "twofold_last_reload_site_status", "gauge",
           "1 for each site's status in the last reload (refused: the compatibility guard "
           "kept the previous certificates).");
    for (size_t i = 0; i < s->reload.last.n_sites; i++) {
        px_buf_append(b, "twofold_last_reload_site_status{", 32);
        label(b, "site", s->reload.last.sites[i].site, true);
        label(b, "status", cs_site_status_name(s->reload.last.sites[i].status), false);
        px_buf_append(b, "} 1\n", 4);
    }
}

static void render_upstreams(struct px_buf *b, const struct px_server *s,
                             const struct px_worker_report *r, size_t n)
{
    header(b, "twofold_upstream_server_up", "gauge",
           "0 from the cool-off that failed connects start until a connect to the server "
           "succeeds again (in any worker); 1 otherwise.");
    size_t k = 0;
    for (size_t u = 0; u < s->cfg->n_upstreams; u++) {
        const struct px_upstream_conf *uc = &s->cfg->upstreams[u];
        for (size_t i = 0; i < uc->n_servers; i++, k++) {
            int up = 1;
            for (size_t w = 0; w < n; w++)
                if (k < r[w].n_cooling && r[w].cooling[k])
                    up = 0;
            px_buf_append(b, "twofold_upstream_server_up{", 27);
            label(b, "upstream", uc->name, true);
            label(b, "server", uc->servers[i].text, false);
            px_buf_printf(b, "} %d\n", up);
        }
    }
}

void px_metrics_render(const struct px_server *s, const struct px_worker_report *reports, size_t n,
                       struct px_buf *out)
{
    struct px_stats sum;
    memset(&sum, 0, sizeof sum);
    struct cs_counters hs;
    cs_counters_init(&hs);
    size_t conns = 0;
    for (size_t i = 0; i < n; i++) {
        const struct px_stats *st = &reports[i].stats;
        sum.accepted += st->accepted;
        sum.handshakes_failed += st->handshakes_failed;
        sum.requests += st->requests;
        for (int c = 0; c < 6; c++)
            sum.responses_by_class[c] += st->responses_by_class[c];
        sum.upstream_connects += st->upstream_connects;
        sum.upstream_reuses += st->upstream_reuses;
        sum.upstream_connect_failures += st->upstream_connect_failures;
        sum.upstream_retries += st->upstream_retries;
        sum.upstream_retries_refused += st->upstream_retries_refused;
        sum.bytes_in += st->bytes_in;
        sum.bytes_out += st->bytes_out;
        sum.h2_connections += st->h2_connections;
        sum.h2_streams += st->h2_streams;
        sum.h2_streams_active += st->h2_streams_active;
        sum.h2_resets_received += st->h2_resets_received;
        for (int k = 0; k < PX_H2_GOAWAY_KINDS; k++)
            sum.h2_goaways[k] += st->h2_goaways[k];
        conns += reports[i].conns;
        cs_counters_merge(&hs, &reports[i].hs);
    }
    render_stats(out, &sum, conns);
    render_handshakes(out, &hs);
    render_certs(out, s);
    render_upstreams(out, s, reports, n);
    cs_counters_free(&hs);
}
