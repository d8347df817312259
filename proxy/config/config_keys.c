/* The one key table: every key of every section, its type, default, whether it may
 * repeat, its converter and its documentation. Defaults are written as they would be in
 * a file and go through the same converter, so the documented default is the real one.
 * Converters for values with structure (names, addresses, paths) are in config_values.c. */
#include "config_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define P(f)  offsetof(struct px_config, f)
#define LI(f) offsetof(struct px_listener_conf, f)
#define S(f)  offsetof(struct cs_site_conf, f)
#define U(f)  offsetof(struct px_upstream_conf, f)

const struct px_key px_keys[] = {
    /* [proxy] */
    {PX_K_PROXY, "workers", "count|auto", "auto", false, px_conv_workers, P(workers),
     "worker threads; auto (or 0) = number of CPUs"},
    {PX_K_PROXY, "admin", "address|off", "127.0.0.1:9901", false, px_conv_admin, P(admin),
     "admin endpoint (host:port); off disables it"},
    {PX_K_PROXY, "admin_token", "string", NULL, false, px_conv_str, P(admin_token),
     "bearer token required by the admin endpoint; unset: none"},
    {PX_K_PROXY, "log_level", "error|warn|info|debug", "info", false, px_conv_log_level,
     P(log_level), "least severe level logged"},
    {PX_K_PROXY, "access_log", "off|text|json", "off", false, px_conv_access_log, P(access_log),
     "one line per request"},
    {PX_K_PROXY, "access_log_file", "path|stderr", "stderr", false, px_conv_log_file,
     P(access_log_path), "where access log lines go"},
    {PX_K_PROXY, "handshake_timeout", "duration", "10s", false, px_conv_duration,
     P(timeouts.handshake_ms), "TLS handshake must finish within this"},
    {PX_K_PROXY, "header_timeout", "duration", "10s", false, px_conv_duration,
     P(timeouts.header_ms), "request head must arrive within this (else 408)"},
    {PX_K_PROXY, "idle_timeout", "duration", "60s", false, px_conv_duration, P(timeouts.idle_ms),
     "keep-alive client connection idle limit"},
    {PX_K_PROXY, "upstream_connect_timeout", "duration", "5s", false, px_conv_duration,
     P(timeouts.upstream_connect_ms), "connecting to an upstream server"},
    {PX_K_PROXY, "upstream_response_timeout", "duration", "60s", false, px_conv_duration,
     P(timeouts.upstream_response_ms), "until the response head, and between reads"},
    {PX_K_PROXY, "drain_timeout", "duration", "30s", false, px_conv_duration, P(timeouts.drain_ms),
     "graceful shutdown: time given to live connections"},
    {PX_K_PROXY, "body_timeout", "duration", "10s", false, px_conv_duration, P(timeouts.body_ms),
     "a request body that delivers less than body_min_rate per second over this long is cut "
     "off (408); time the upstream makes the client wait does not count"},
    {PX_K_PROXY, "body_min_rate", "size", "1k", false, px_conv_size, P(limits.body_min_rate),
     "slowest request body accepted, in bytes per second (slow-body attacks)"},
    {PX_K_PROXY, "max_request_line", "size", "8k", false, px_conv_size, P(limits.max_request_line),
     "longest request line (else 414)"},
    {PX_K_PROXY, "max_head_size", "size", "16k", false, px_conv_size, P(limits.max_head),
     "largest request head (else 431)"},
    {PX_K_PROXY, "max_headers", "count", "100", false, px_conv_count, P(limits.max_headers),
     "most header fields in a request (else 431)"},
    {PX_K_PROXY, "via", "pseudonym|off", "twofold", false, px_conv_via, P(via),
     "received-by name of the Via entry added to every forwarded request (RFC 9110 7.6.3): "
     "a token, optionally :port; off adds none and forwards Via as received"},
    {PX_K_PROXY, "max_response_head_size", "size", "64k", false, px_conv_size,
     P(limits.max_resp_head), "largest upstream response head (else 502)"},
    {PX_K_PROXY, "max_response_headers", "count", "200", false, px_conv_count,
     P(limits.max_resp_headers), "most header fields in an upstream response (else 502)"},
    {PX_K_PROXY, "max_connections", "count", "10000", false, px_conv_count,
     P(limits.max_connections), "client connections per worker; accepting pauses at the cap"},
    {PX_K_PROXY, "write_watermark", "size", "64k", false, px_conv_size, P(limits.write_watermark),
     "stop reading a side while the other's write queue is above"},
    {PX_K_PROXY, "protocols", "TLSv1.2 and/or TLSv1.3", "TLSv1.2 TLSv1.3", false, px_conv_protocols,
     P(certs.policy), "TLS versions offered (only 1.2 and 1.3 exist here)"},
    {PX_K_PROXY, "ciphers", "OpenSSL cipher list", NULL, false, px_conv_tls_list,
     P(certs.policy.ciphers), "TLS 1.2 cipher list; unset: twofold's default"},
    {PX_K_PROXY, "ciphersuites", "OpenSSL suite list", NULL, false, px_conv_tls_list,
     P(certs.policy.ciphersuites), "TLS 1.3 cipher suites; unset: twofold's default"},
    {PX_K_PROXY, "groups", "OpenSSL group list", NULL, false, px_conv_tls_list,
     P(certs.policy.groups), "key exchange groups, e.g. X25519:P-256; unset: default"},
    {PX_K_PROXY, "tls13_tickets", "count", "1", false, px_conv_uint, P(certs.policy.tickets),
     "TLS 1.3 session tickets sent per full handshake (0: none)"},
    {PX_K_PROXY, "default_site", "site or host name", NULL, false, px_conv_str,
     P(certs.default_site),
     "served to clients without SNI or with an unknown name; unset: "
     "the first site"},
    {PX_K_PROXY, "strict_sni", "bool", "off", false, px_conv_bool, P(certs.strict_sni),
     "on: refuse unknown or missing SNI with an unrecognized_name alert"},
    {PX_K_PROXY, "ca_bundle", "file", NULL, false, px_conv_file, P(certs.ca_bundle),
     "when set, every chain must verify to these CAs"},
    {PX_K_PROXY, "warn_days", "count", "14", false, px_conv_uint, P(certs.warn_days),
     "warn about certificates expiring within this many days"},
    {PX_K_PROXY, "on_coverage_loss", "refuse|warn", "refuse", false, px_conv_loss,
     P(on_coverage_loss),
     "a reload that would remove a key type or a name, or lock out a client profile that "
     "connects now: refuse it (the site keeps its certificates) or warn and apply; "
     "default for every site"},
    {PX_K_PROXY, "watch", "bool", "on", false, px_conv_bool, P(watch),
     "reload when a certificate file or directory in use changes (renames and symlink "
     "swaps included)"},
    {PX_K_PROXY, "watch_debounce", "duration", "500ms", false, px_conv_duration,
     P(watch_debounce_ms), "reload this long after the last change seen"},
    {PX_K_PROXY, "watch_poll", "duration", "2s", false, px_conv_duration, P(watch_poll_ms),
     "polling fallback: stat every certificate path this often"},
    {PX_K_PROXY, "ticket_key_file", "file", NULL, false, px_conv_file, P(ticket_key_file),
     "session ticket keys shared by several instances (lines of base64 of 80 random bytes, "
     "newest first); unset: random keys per process"},
    {PX_K_PROXY, "ticket_rotate", "duration", "1h", false, px_conv_duration, P(ticket_rotate_ms),
     "new ticket encryption key this often (previous keys still decrypt); with "
     "ticket_key_file: how often the file is re-read"},
    /* [listener NAME] */
    {PX_K_LISTENER, "bind", "address", NULL, false, px_conv_addr, LI(addr),
     "host:port or [v6]:port to accept TLS on (required)"},
    {PX_K_LISTENER, "alpn", "h2 http/1.1|http/1.1|h2", "http/1.1", false, px_conv_alpn, LI(alpn),
     "application protocols offered by ALPN, in preference order; a client offering none of "
     "them (or no ALPN) gets HTTP/1.1"},
    /* [site NAME] */
    {PX_K_SITE, "names", "host names", NULL, false, px_conv_names, S(names),
     "space-separated names and *.wildcards; unset: the certificates' names"},
    {PX_K_SITE, "cert", "CERTFILE [KEYFILE]", NULL, true, px_conv_cert, S(certs),
     "a PEM chain (leaf first) and its key; no KEYFILE: the key is in CERTFILE"},
    {PX_K_SITE, "cert_dir", "directory", NULL, true, px_conv_cert_dir, S(cert_dirs),
     "every certificate and key pair found in this directory"},
    {PX_K_SITE, "upstream", "upstream name", NULL, false, px_conv_site_upstream, 0,
     "where requests go; may be left out when there is exactly one upstream"},
    {PX_K_SITE, "prefer", "ecdsa|rsa", "ecdsa", false, px_conv_prefer, S(prefer),
     "key type served to clients that can use both"},
    {PX_K_SITE, "on_coverage_loss", "refuse|warn", NULL, false, px_conv_loss, S(on_coverage_loss),
     "this site's override of [proxy] on_coverage_loss"},
    {PX_K_SITE, "require", "rsa ecdsa|rsa|ecdsa|none", NULL, false, px_conv_require, S(require),
     "key types this site must always serve: startup and check fail without them, a reload "
     "that would drop one is refused"},
    {PX_K_SITE, "accept_profiles_lost", "profile names", NULL, false, px_conv_accept_lost,
     S(accept_lost),
     "built-in client profiles this site knowingly cannot serve: twofold check does not exit 3 "
     "for them (the reload guard is governed by on_coverage_loss)"},
    /* [upstream NAME] */
    {PX_K_UPSTREAM, "server", "address", NULL, true, px_conv_server, U(servers),
     "host:port of one server (at least one)"},
    {PX_K_UPSTREAM, "balance", "round_robin|least_conn", "round_robin", false, px_conv_balance,
     U(balance), "how a server is picked"},
    {PX_K_UPSTREAM, "keepalive", "count", "32", false, px_conv_uint, U(keepalive),
     "idle pooled connections kept per server per worker (0: none)"},
    {PX_K_UPSTREAM, "idle_timeout", "duration", "60s", false, px_conv_duration, U(idle_timeout_ms),
     "a pooled connection idle this long is closed"},
    {PX_K_UPSTREAM, "max_fails", "count", "3", false, px_conv_count, U(fail_threshold),
     "consecutive connect failures that put a server in cool-off"},
    {PX_K_UPSTREAM, "fail_timeout", "duration", "10s", false, px_conv_duration, U(cooloff_ms),
     "how long a failed server is skipped"},
};

const size_t px_n_keys = sizeof px_keys / sizeof px_keys[0];

int px_key_find(enum px_kind kind, const char *key)
{
    for (size_t i = 0; i < px_n_keys; i++)
        if (px_keys[i].kind == kind && strcmp(px_keys[i].key, key) == 0)
            return (int)i;
    return -1;
}

void px_keys_defaults(struct px_loader *L, enum px_kind kind, void *obj)
{
    for (size_t i = 0; i < px_n_keys; i++) {
        const struct px_key *k = &px_keys[i];
        if (k->kind != kind || !k->def)
            continue;
        struct px_raw r = {
            .section = (char *)px_kind_name(kind), .key = (char *)k->key, .value = (char *)k->def};
        k->conv(L, k, &r, obj);
    }
}

size_t px_config_key_count(void)
{
    return px_n_keys;
}

int px_config_key_info(size_t i, struct px_config_key_info *out)
{
    if (i >= px_n_keys)
        return -1;
    const struct px_key *k = &px_keys[i];
    *out = (struct px_config_key_info){.section = px_kind_name(k->kind),
                                       .key = k->key,
                                       .type = k->type,
                                       .def = k->def,
                                       .doc = k->doc,
                                       .repeatable = k->repeatable};
    return 0;
}
