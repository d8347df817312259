/* Configuration: addresses, the file loader (every error reported with file:line), the
 * defaults, a full config field by field, sidecar flags, and the example files. */
#define _GNU_SOURCE
#include "px_config.h"
#include "px_log.h"
#include "tt.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[512];

static void make_tmpdir(void)
{
    const char *base = getenv("TWOFOLD_TMP");
    if (base && *base)
        mkdir(base, 0755);
    snprintf(tmpdir, sizeof tmpdir, "%s/cfg-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void write_file(const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* Replaces %F with the config file's path and %D with the temp directory. */
static void expand(const char *tmpl, const char *file, char *out, size_t len)
{
    size_t n = 0;
    for (const char *p = tmpl; *p && n + 1 < len; p++) {
        const char *sub = NULL;
        if (p[0] == '%' && p[1] == 'F')
            sub = file;
        else if (p[0] == '%' && p[1] == 'D')
            sub = tmpdir;
        if (sub) {
            n += (size_t)snprintf(out + n, len - n, "%s", sub);
            p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n < len ? n : len - 1] = '\0';
}

static int load_text(const char *text, unsigned flags, struct px_config **cfg,
                     struct px_config_errors *errs, char *path, size_t pathlen)
{
    write_file("t.ini", text);
    snprintf(path, pathlen, "%s/t.ini", tmpdir);
    memset(errs, 0, sizeof *errs);
    return px_config_load_file_ex(path, flags, cfg, errs);
}

static void dump_errors(const struct px_config_errors *e)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "    got: %s\n", e->msgs[i]);
}

/* ---- addresses ---- */

static void test_addr(void)
{
    struct px_addr a;
    char err[200];
    CHECK_INT(px_addr_parse("127.0.0.1:8443", &a, err, sizeof err), 0);
    CHECK_INT(a.ss.ss_family, AF_INET);
    CHECK_INT(ntohs(((struct sockaddr_in *)&a.ss)->sin_port), 8443);
    CHECK_INT(a.len, sizeof(struct sockaddr_in));
    CHECK_STR(a.text, "127.0.0.1:8443");

    CHECK_INT(px_addr_parse("[::1]:443", &a, err, sizeof err), 0);
    CHECK_INT(a.ss.ss_family, AF_INET6);
    CHECK_INT(ntohs(((struct sockaddr_in6 *)&a.ss)->sin6_port), 443);
    CHECK(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&a.ss)->sin6_addr));
    CHECK_STR(a.text, "[::1]:443");

    CHECK_INT(px_addr_parse("localhost:9901", &a, err, sizeof err), 0);
    CHECK_INT(((struct sockaddr_in *)&a.ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    CHECK_INT(px_addr_parse("0.0.0.0:65535", &a, err, sizeof err), 0);

    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"127.0.0.1", "\"127.0.0.1\": missing port (expected host:port)"},
        {"127.0.0.1:", "\"127.0.0.1:\": bad port \"\" (expected 1-65535)"},
        {"127.0.0.1:0", "\"127.0.0.1:0\": bad port \"0\" (expected 1-65535)"},
        {"127.0.0.1:65536", "\"127.0.0.1:65536\": bad port \"65536\" (expected 1-65535)"},
        {"127.0.0.1:8x", "\"127.0.0.1:8x\": bad port \"8x\" (expected 1-65535)"},
        {"example.com:443", "\"example.com:443\": \"example.com\" is not an IPv4 address (host "
                            "names other than localhost are not resolved)"},
        {"::1:443", "\"::1:443\": an IPv6 address must be written [addr]:port"},
        {"[::1]", "\"[::1]\": missing port (expected [v6]:port)"},
        {"[::1:443", "\"[::1:443\": missing \"]\" after an IPv6 address"},
        {"[1.2.3.4]:80", "\"[1.2.3.4]:80\": \"1.2.3.4\" is not an IPv6 address"},
        {":80", "\":80\": missing or overlong host"},
        {"300.1.1.1:80", "\"300.1.1.1:80\": \"300.1.1.1\" is not an IPv4 address (host names "
                         "other than localhost are not resolved)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(px_addr_parse(bad[i].in, &a, err, sizeof err) < 0);
        CHECK_STR(err, bad[i].msg);
    }
}

/* ---- bad files: exact messages ---- */

#define BASE_LISTENER "[listener main]\nbind = 127.0.0.1:8443\n"
#define BASE_SITE     "[site a]\nnames = a.example\ncert = a.pem a.key\n"
#define BASE_UP       "[upstream app]\nserver = 127.0.0.1:8080\n"
#define BASE          BASE_LISTENER BASE_SITE BASE_UP

struct bad_case {
    const char *text;
    const char *msgs[6];
};

static const struct bad_case bad_cases[] = {
    {"[frontend x]\nbind = 1\n" BASE,
     {"%F:1: unknown section [frontend x] (expected proxy, listener, site, upstream)"}},
    {"[proxy]\nworkerz = 2\n" BASE, {"%F:2: [proxy] unknown key \"workerz\""}},
    {"[proxy]\nworkers = many\n" BASE,
     {"%F:2: [proxy] workers: \"many\" is not a number of workers (0-1024 or auto)"}},
    {"[proxy]\nlog_level = info\nlog_level = debug\n" BASE,
     {"%F:3: [proxy] log_level: set twice (first at line 2)"}},
    {"[proxy]\nlog_level = loud\n" BASE,
     {"%F:2: [proxy] log_level: \"loud\" is not one of error, warn, info, debug"}},
    {"[proxy]\nhandshake_timeout = 10x\n" BASE,
     {"%F:2: [proxy] handshake_timeout: \"10x\" is not a positive duration (e.g. 500ms, 10s, "
      "2m, 1h)"}},
    {"[proxy]\nmax_head_size = 16q\n" BASE,
     {"%F:2: [proxy] max_head_size: \"16q\" is not a positive size (e.g. 512, 8k, 1m)"}},
    {"[proxy]\nstrict_sni = maybe\n" BASE,
     {"%F:2: [proxy] strict_sni: \"maybe\" is not a boolean (on/off, yes/no, true/false, 1/0)"}},
    {"[proxy]\nprotocols = TLSv1.1 TLSv1.2\n" BASE,
     {"%F:2: [proxy] protocols: \"TLSv1.1\": only TLSv1.2 and TLSv1.3 are supported"}},
    {"[proxy]\nprotocols = ,\n" BASE,
     {"%F:2: [proxy] protocols: no protocol given (TLSv1.2, TLSv1.3)"}},
    {"[proxy]\nadmin = example.com:9901\n" BASE,
     {"%F:2: [proxy] admin: \"example.com:9901\": \"example.com\" is not an IPv4 address (host "
      "names other than localhost are not resolved)"}},
    {"[proxy]\nca_bundle = nope.pem\n" BASE,
     {"%F:2: [proxy] ca_bundle: %D/nope.pem: No such file or directory"}},
    {"[proxy]\nmax_connections = 0\n" BASE,
     {"%F:2: [proxy] max_connections: \"0\" is not a positive whole number"}},
    {"[proxy]\naccess_log =\n" BASE, {"%F:2: [proxy] access_log: empty value"}},
    {"[proxy]\non_coverage_loss = ignore\n" BASE,
     {"%F:2: [proxy] on_coverage_loss: \"ignore\" is not one of refuse, warn"}},
    {BASE_LISTENER "[site a]\ncert = gone.pem\nrequire = rsa dsa\n" BASE_UP,
     {"%F:4: [site a] cert: %D/gone.pem: No such file or directory",
      "%F:5: [site a] require: \"dsa\" is not a key type (rsa, ecdsa, none)"}},
    {BASE_LISTENER "[site a]\ncert = nope.pem a.key\n" BASE_UP,
     {"%F:4: [site a] cert: %D/nope.pem: No such file or directory"}},
    {BASE_LISTENER "[site a]\ncert = a.pem a.key extra\n" BASE_UP,
     {"%F:4: [site a] cert: expected CERTFILE [KEYFILE]"}},
    {BASE_LISTENER "[site a]\ncert_dir = a.pem\n" BASE_UP,
     {"%F:4: [site a] cert_dir: %D/a.pem: not a directory"}},
    {BASE_LISTENER BASE_SITE "upstream = nope\n" BASE_UP,
     {"%F:6: [site a] upstream \"nope\" is not defined"}},
    {BASE BASE_SITE "[upstream two]\nserver = 127.0.0.1:8081\n",
     {"%F:3: [site a] has no upstream (required when there are 2 upstreams)",
      "%F:8: duplicate section [site a] (first at line 3)",
      "%F:9: [site a] names: set twice (first at line 4)"}},
    {BASE_SITE BASE_UP, {"%F: no [listener NAME] section: nothing would accept connections"}},
    {BASE_LISTENER BASE_UP, {"%F: no [site NAME] section: no certificate to serve"}},
    {BASE_LISTENER BASE_SITE, {"%F: no [upstream NAME] section: nowhere to send requests"}},
    {BASE "[site b]\nnames = b.example A.Example\ncert = a.pem\n",
     {"%F:9: [site b] name \"a.example\" is already used by [site a]"}},
    {BASE_LISTENER "[site a]\nnames = *.com a*.b.org -x.org ok.org ok.org\ncert = a.pem\n" BASE_UP,
     {"%F:4: [site a] names: \"*.com\": a wildcard must be \"*.\" followed by at least two labels "
      "(*.example.org)",
      "%F:4: [site a] names: \"a*.b.org\": \"*\" is allowed only as the whole first label "
      "(*.example.org)",
      "%F:4: [site a] names: \"-x.org\": not a valid host name (labels of letters, digits and "
      "\"-\")",
      "%F:4: [site a] names: \"ok.org\" is listed twice"}},
    {"this is not ini\n" BASE, {"%F:1: syntax error: expected \"key = value\" or \"[section]\""}},
    {"[proxy\n" BASE, {"%F:1: syntax error: missing \"]\" in a section header"}},
    /* an indented line is not a continuation of the previous value */
    {BASE_LISTENER "[site a]\nnames = a.example\n  b.example\ncert = a.pem\n" BASE_UP,
     {"%F:5: syntax error: expected \"key = value\" or \"[section]\""}},
    {"workers = 2\n" BASE, {"%F:1: key \"workers\" is outside any section"}},
    {"[listener main]\n" BASE_SITE BASE_UP, {"%F:1: [listener main] bind is required"}},
    {BASE "[listener two]\nbind = 127.0.0.1:8443\n",
     {"%F:9: [listener two] bind 127.0.0.1:8443 is already used by [listener main]"}},
    {BASE "[upstream two]\n",
     {"%F:3: [site a] has no upstream (required when there are 2 "
      "upstreams)",
      "%F:8: [upstream two] has no server"}},
    {BASE_LISTENER "[site a]\nnames = a.example\n" BASE_UP,
     {"%F:3: [site a] has no cert or "
      "cert_dir"}},
    {BASE "[site]\n[proxy x]\n[site a b]\n",
     {"%F:8: section [site] needs a name: [site NAME]", "%F:9: section [proxy] takes no name",
      "%F:10: section [site a b]: bad name (letters, digits, \".\", \"_\", \"-\")"}},
    {"[upstream app]\nserver = 127.0.0.1:8080\nserver = 127.0.0.1:8080\nbalance = "
     "random\n" BASE_LISTENER BASE_SITE,
     {"%F:3: [upstream app] server: \"127.0.0.1:8080\" is listed twice",
      "%F:4: [upstream app] balance: \"random\" is not one of round_robin, least_conn"}},
    {"[proxy]\nciphersuites = TLS_NOPE\n" BASE,
     {"%F:2: [proxy] ciphersuites: \"TLS_NOPE\" is rejected by OpenSSL"}},
};

static void check_bad_case(size_t idx, const struct bad_case *c)
{
    struct px_config *cfg = (struct px_config *)1;
    struct px_config_errors errs;
    char path[1024], want[1024];
    int rc = load_text(c->text, 0, &cfg, &errs, path, sizeof path);
    CHECK(rc < 0);
    CHECK(cfg == NULL);
    size_t n = 0;
    while (n < 6 && c->msgs[n])
        n++;
    CHECK_INT(errs.n, n);
    for (size_t i = 0; i < n && i < errs.n; i++) {
        expand(c->msgs[i], path, want, sizeof want);
        /* OpenSSL's own reason text may follow; the rest must match exactly. */
        if (strstr(want, "rejected by OpenSSL"))
            CHECK(strncmp(errs.msgs[i], want, strlen(want)) == 0);
        else
            CHECK_STR(errs.msgs[i], want);
    }
    if (errs.n != n) {
        fprintf(stderr, "  case %zu:\n", idx);
        dump_errors(&errs);
    }
    px_config_errors_free(&errs);
}

static void test_bad_files(void)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++)
        check_bad_case(i, &bad_cases[i]);
}

/* Many problems in one file: every one is reported, in file order. */
static void test_all_errors_reported(void)
{
    const char *text = "[proxy]\n"
                       "workers = -1\n"
                       "idle_timeout = soon\n"
                       "bogus = 1\n"
                       "[listener a]\n"
                       "bind = 127.0.0.1\n"
                       "[site s]\n"
                       "names = *.org\n"
                       "cert = missing.pem\n"
                       "upstream = nope\n"
                       "garbage line\n"
                       "[upstream u1]\n"
                       "server = 127.0.0.1:1\n"
                       "[upstream u2]\n"
                       "server = 127.0.0.1:2\n";
    struct px_config *cfg;
    struct px_config_errors errs;
    char path[1024];
    CHECK(load_text(text, 0, &cfg, &errs, path, sizeof path) < 0);
    CHECK(cfg == NULL);
    static const char *const want_sub[] = {
        ":2: [proxy] workers:",
        ":3: [proxy] idle_timeout:",
        ":4: [proxy] unknown key",
        ":6: [listener a] bind:",
        ":8: [site s] names: \"*.org\"",
        ":9: [site s] cert:",
        ":10: [site s] upstream \"nope\" is not defined",
        ":11: syntax error",
    };
    CHECK_INT(errs.n, sizeof want_sub / sizeof want_sub[0]);
    for (size_t i = 0; i < errs.n && i < sizeof want_sub / sizeof want_sub[0]; i++)
        CHECK_CONTAINS(errs.msgs[i], want_sub[i]);
    if (errs.n != sizeof want_sub / sizeof want_sub[0])
        dump_errors(&errs);
    px_config_errors_free(&errs);

    /* A file that cannot be opened. */
    memset(&errs, 0, sizeof errs);
    snprintf(path, sizeof path, "%s/absent.ini", tmpdir);
    CHECK(px_config_load_file(path, &cfg, &errs) < 0);
    CHECK_INT(errs.n, 1);
    if (errs.n)
        CHECK_CONTAINS(errs.msgs[0], "absent.ini: cannot open: No such file or directory");
    px_config_errors_free(&errs);
    CHECK(px_config_load_file(tmpdir, &cfg, &errs) < 0);
    CHECK_INT(errs.n, 1);
    if (errs.n)
        CHECK_CONTAINS(errs.msgs[0], ": cannot open: is a directory");
    px_config_errors_free(&errs);
}

/* ---- defaults ---- */

static void test_defaults(void)
{
    struct px_config *cfg;
    struct px_config_errors errs;
    char path[1024];
    CHECK_INT(load_text(BASE, 0, &cfg, &errs, path, sizeof path), 0);
    dump_errors(&errs);
    if (!cfg)
        return;
    CHECK_STR(cfg->path, path);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_INT(cfg->workers, cpus > 0 ? cpus : 1);
    CHECK(cfg->admin_enabled);
    CHECK_STR(cfg->admin.text, "127.0.0.1:9901");
    CHECK(cfg->admin_token == NULL);
    CHECK_INT(cfg->log_level, PX_LOG_INFO);
    CHECK_INT(cfg->access_log, PX_ACCESS_OFF);
    CHECK(cfg->access_log_path == NULL);
    CHECK_INT(cfg->timeouts.handshake_ms, 10000);
    CHECK_INT(cfg->timeouts.header_ms, 10000);
    CHECK_INT(cfg->timeouts.idle_ms, 60000);
    CHECK_INT(cfg->timeouts.upstream_connect_ms, 5000);
    CHECK_INT(cfg->timeouts.upstream_response_ms, 60000);
    CHECK_INT(cfg->timeouts.drain_ms, 30000);
    CHECK_INT(cfg->limits.max_request_line, 8192);
    CHECK_INT(cfg->limits.max_head, 16384);
    CHECK_INT(cfg->limits.max_headers, 100);
    CHECK_INT(cfg->limits.max_resp_head, 65536);
    CHECK_INT(cfg->limits.max_resp_headers, 200);
    CHECK_INT(cfg->limits.max_connections, 10000);
    CHECK_INT(cfg->limits.write_watermark, 65536);
    CHECK_INT(cfg->certs.policy.min_version, TLS1_2_VERSION);
    CHECK_INT(cfg->certs.policy.max_version, TLS1_3_VERSION);
    CHECK(cfg->certs.policy.ciphers == NULL);
    CHECK(cfg->certs.policy.ciphersuites == NULL);
    CHECK(cfg->certs.policy.groups == NULL);
    CHECK_INT(cfg->certs.policy.tickets, 1);
    CHECK(cfg->certs.default_site == NULL);
    CHECK(!cfg->certs.strict_sni);
    CHECK(cfg->certs.ca_bundle == NULL);
    CHECK_INT(cfg->certs.warn_days, 14);
    CHECK_INT(cfg->n_listeners, 1);
    CHECK_INT(cfg->n_upstreams, 1);
    CHECK_INT(cfg->certs.n_sites, 1);
    if (cfg->n_upstreams == 1) {
        const struct px_upstream_conf *u = &cfg->upstreams[0];
        CHECK_INT(u->balance, PX_BALANCE_ROUND_ROBIN);
        CHECK_INT(u->keepalive, 32);
        CHECK_INT(u->idle_timeout_ms, 60000);
        CHECK_INT(u->fail_threshold, 3);
        CHECK_INT(u->cooloff_ms, 10000);
    }
    if (cfg->certs.n_sites == 1) {
        /* one upstream: the default for a site that names none */
        CHECK_INT(cfg->certs.sites[0].tag, 0);
        CHECK_INT(cfg->certs.sites[0].prefer, CS_PREFER_ECDSA);
        CHECK_INT(cfg->certs.sites[0].n_cert_dirs, 0);
    }
    px_config_free(cfg);
    px_config_errors_free(&errs);
}

/* ---- a full config: every field ---- */

static const char full_text[] =
    "; a comment\n"
    "[proxy]\n"
    "workers = 3\n"
    "admin = [::1]:9902\n"
    "admin_token = s3cret\n"
    "log_level = debug\n"
    "access_log = json\n"
    "access_log_file = logs/access.log\n"
    "handshake_timeout = 500ms\n"
    "header_timeout = 7\n"
    "idle_timeout = 2m\n"
    "upstream_connect_timeout = 1h\n"
    "upstream_response_timeout = 90s\n"
    "drain_timeout = 1s\n"
    "max_request_line = 4k\n"
    "max_head_size = 1m\n"
    "max_headers = 50\n"
    "max_connections = 77\n"
    "write_watermark = 1000\n"
    "protocols = TLSv1.3\n"
    "ciphers = ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256\n"
    "ciphersuites = TLS_AES_128_GCM_SHA256\n"
    "groups = X25519:P-256\n"
    "tls13_tickets = 0\n"
    "default_site = web\n"
    "strict_sni = yes\n"
    "ca_bundle = ca.pem\n"
    "warn_days = 30\n"
    "\n"
    "[listener v4]\n"
    "bind = 127.0.0.1:8443\n"
    "[listener v6]\n"
    "  bind = [::1]:8443   ; indented, with a comment\n"
    "\n"
    "[upstream api]\n"
    "server = 127.0.0.1:9000\n"
    "server = 127.0.0.1:9001\n"
    "balance = least_conn\n"
    "keepalive = 0\n"
    "idle_timeout = 5s\n"
    "max_fails = 1\n"
    "fail_timeout = 250ms\n"
    "[upstream web]\n"
    "server = [::1]:8080\n"
    "\n"
    "[site web]\n"
    "names = Example.ORG *.example.org\n"
    "cert = a.pem a.key\n"
    "cert = bundle.pem\n"
    "cert_dir = certs\n"
    "cert_dir = /tmp\n"
    "upstream = web\n"
    "prefer = rsa\n"
    "[site api]\n"
    "cert = ./../%s/a.pem\n"
    "cert_dir = certs\n"
    "upstream = api\n";

static void check_full_proxy(const struct px_config *c)
{
    CHECK_INT(c->workers, 3);
    CHECK(c->admin_enabled);
    CHECK_INT(c->admin.ss.ss_family, AF_INET6);
    CHECK_STR(c->admin.text, "[::1]:9902");
    CHECK_STR(c->admin_token, "s3cret");
    CHECK_INT(c->log_level, PX_LOG_DEBUG);
    CHECK_INT(c->access_log, PX_ACCESS_JSON);
    char want[1024];
    snprintf(want, sizeof want, "%s/logs/access.log", tmpdir);
    CHECK_STR(c->access_log_path, want);
    CHECK_INT(c->timeouts.handshake_ms, 500);
    CHECK_INT(c->timeouts.header_ms, 7000);
    CHECK_INT(c->timeouts.idle_ms, 120000);
    CHECK_INT(c->timeouts.upstream_connect_ms, 3600000);
    CHECK_INT(c->timeouts.upstream_response_ms, 90000);
    CHECK_INT(c->timeouts.drain_ms, 1000);
    CHECK_INT(c->limits.max_request_line, 4096);
    CHECK_INT(c->limits.max_head, 1048576);
    CHECK_INT(c->limits.max_headers, 50);
    CHECK_INT(c->limits.max_connections, 77);
    CHECK_INT(c->limits.write_watermark, 1000);
    CHECK_INT(c->certs.policy.min_version, TLS1_3_VERSION);
    CHECK_INT(c->certs.policy.max_version, TLS1_3_VERSION);
    CHECK_STR(c->certs.policy.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
    CHECK_STR(c->certs.policy.ciphersuites, "TLS_AES_128_GCM_SHA256");
    CHECK_STR(c->certs.policy.groups, "X25519:P-256");
    CHECK_INT(c->certs.policy.tickets, 0);
    CHECK_STR(c->certs.default_site, "web");
    CHECK(c->certs.strict_sni);
    snprintf(want, sizeof want, "%s/ca.pem", tmpdir);
    CHECK_STR(c->certs.ca_bundle, want);
    CHECK_INT(c->certs.warn_days, 30);
}

static void check_full_sections(const struct px_config *c)
{
    char want[1024];
    CHECK_INT(c->n_listeners, 2);
    CHECK_STR(c->listeners[0].name, "v4");
    CHECK_STR(c->listeners[0].addr.text, "127.0.0.1:8443");
    CHECK_INT(c->listeners[0].line, 30);
    CHECK_STR(c->listeners[1].name, "v6");
    CHECK_STR(c->listeners[1].addr.text, "[::1]:8443");
    CHECK_INT(c->listeners[1].addr.ss.ss_family, AF_INET6);

    CHECK_INT(c->n_upstreams, 2);
    const struct px_upstream_conf *u = &c->upstreams[0];
    CHECK_STR(u->name, "api");
    CHECK_INT(u->n_servers, 2);
    CHECK_STR(u->servers[1].text, "127.0.0.1:9001");
    CHECK_INT(u->balance, PX_BALANCE_LEAST_CONN);
    CHECK_INT(u->keepalive, 0);
    CHECK_INT(u->idle_timeout_ms, 5000);
    CHECK_INT(u->fail_threshold, 1);
    CHECK_INT(u->cooloff_ms, 250);
    CHECK_STR(c->upstreams[1].name, "web");
    CHECK_INT(c->upstreams[1].keepalive, 32);

    CHECK_INT(c->certs.n_sites, 2);
    const struct cs_site_conf *s = &c->certs.sites[0];
    CHECK_STR(s->name, "web");
    CHECK_INT(s->line, 46);
    CHECK_INT(s->n_names, 2);
    CHECK_STR(s->names[0], "example.org");
    CHECK_STR(s->names[1], "*.example.org");
    CHECK_INT(s->n_certs, 2);
    snprintf(want, sizeof want, "%s/a.pem", tmpdir);
    CHECK_STR(s->certs[0].cert, want);
    snprintf(want, sizeof want, "%s/a.key", tmpdir);
    CHECK_STR(s->certs[0].key, want);
    CHECK_INT(s->certs[0].line, 48);
    CHECK(s->certs[1].key == NULL);
    CHECK_INT(s->n_cert_dirs, 2);
    snprintf(want, sizeof want, "%s/certs", tmpdir);
    CHECK_STR(s->cert_dirs[0], want);
    CHECK_STR(s->cert_dirs[1], "/tmp");
    /* "./../DIR/a.pem" is folded into the (physical) directory of the file */
    snprintf(want, sizeof want, "%s/a.pem", tmpdir);
    CHECK_INT(c->certs.sites[1].n_certs, 1);
    CHECK_STR(c->certs.sites[1].certs[0].cert, want);
    CHECK_INT(s->tag, 1);
    CHECK_INT(s->prefer, CS_PREFER_RSA);
    CHECK_STR(c->certs.sites[1].name, "api");
    CHECK_INT(c->certs.sites[1].n_names, 0);
    CHECK_INT(c->certs.sites[1].tag, 0);
    CHECK_INT(c->certs.sites[1].prefer, CS_PREFER_ECDSA);
}

static void test_full(void)
{
    struct px_config *cfg;
    struct px_config_errors errs;
    char path[1024];
    char text[4096];
    snprintf(text, sizeof text, full_text, strrchr(tmpdir, '/') + 1);
    CHECK_INT(load_text(text, 0, &cfg, &errs, path, sizeof path), 0);
    dump_errors(&errs);
    if (cfg) {
        check_full_proxy(cfg);
        check_full_sections(cfg);
    }
    px_config_free(cfg);
    px_config_errors_free(&errs);

    /* admin = off; bools in every spelling */
    static const char *const spellings[][2] = {{"on", "1"}, {"off", "0"},  {"YES", "1"},
                                               {"no", "0"}, {"true", "1"}, {"False", "0"},
                                               {"1", "1"},  {"0", "0"}};
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        snprintf(text, sizeof text, "[proxy]\nadmin = off\nstrict_sni = %s\n" BASE,
                 spellings[i][0]);
        CHECK_INT(load_text(text, 0, &cfg, &errs, path, sizeof path), 0);
        if (cfg) {
            CHECK(!cfg->admin_enabled);
            CHECK_INT(cfg->certs.strict_sni, spellings[i][1][0] == '1');
        }
        px_config_free(cfg);
        px_config_errors_free(&errs);
    }
    px_config_free(NULL);
}

/* The file checks can be turned off; with them on, the same text fails. */
static void test_no_file_checks(void)
{
    const char *text = BASE_LISTENER "[site a]\ncert = gone.pem\ncert_dir = nodir\n" BASE_UP;
    struct px_config *cfg;
    struct px_config_errors errs;
    char path[1024];
    CHECK_INT(load_text(text, PX_CONFIG_NO_FILE_CHECKS, &cfg, &errs, path, sizeof path), 0);
    CHECK_INT(errs.n, 0);
    px_config_free(cfg);
    px_config_errors_free(&errs);
    CHECK(load_text(text, 0, &cfg, &errs, path, sizeof path) < 0);
    CHECK_INT(errs.n, 2);
    px_config_errors_free(&errs);
}

/* The guard's keys: a site inherits [proxy] on_coverage_loss unless it sets its own. */
static void test_guard_keys(void)
{
    const char *text = "[proxy]\non_coverage_loss = warn\n" BASE_LISTENER
                       "[site a]\ncert = a.pem\nrequire = rsa ecdsa\n"
                       "[site b]\ncert = b.pem\non_coverage_loss = refuse\nrequire = none\n"
                       "[site c]\ncert = c.pem\nrequire = ecdsa\n" BASE_UP;
    struct px_config *cfg = NULL;
    struct px_config_errors errs;
    char path[1024];
    CHECK_INT(load_text(text, PX_CONFIG_NO_FILE_CHECKS, &cfg, &errs, path, sizeof path), 0);
    dump_errors(&errs);
    if (cfg) {
        CHECK_INT(cfg->on_coverage_loss, CS_LOSS_WARN);
        CHECK_INT(cfg->certs.sites[0].on_coverage_loss, CS_LOSS_WARN);
        CHECK_INT(cfg->certs.sites[0].require, CS_REQUIRE_RSA | CS_REQUIRE_ECDSA);
        CHECK_INT(cfg->certs.sites[1].on_coverage_loss, CS_LOSS_REFUSE);
        CHECK_INT(cfg->certs.sites[1].require, 0);
        CHECK_INT(cfg->certs.sites[2].require, CS_REQUIRE_ECDSA);
    }
    px_config_free(cfg);
    px_config_errors_free(&errs);
}

/* Lines longer than inih's 200-byte buffer and section names longer than its 50 bytes. */
static void test_long_lines(void)
{
    char sub[1024], sect[80], text[4096], path[1024];
    snprintf(sub, sizeof sub, "%s/%0200d", tmpdir, 0);
    mkdir(sub, 0755);
    char *p = sub + strlen(tmpdir) + 1;
    snprintf(text, sizeof text, "%s/a.pem", p);
    write_file(text, "");
    snprintf(sect, sizeof sect, "long-%060d", 7);
    snprintf(text, sizeof text,
             BASE_LISTENER BASE_UP "[site %s]\ncert = %s/a.pem  %s/a.pem ; both long\n"
                                   "names = long.example\n",
             sect, p, p);
    struct px_config *cfg;
    struct px_config_errors errs;
    CHECK_INT(load_text(text, 0, &cfg, &errs, path, sizeof path), 0);
    dump_errors(&errs);
    if (cfg && cfg->certs.n_sites == 1) {
        const struct cs_site_conf *s = &cfg->certs.sites[0];
        char want[1100];
        snprintf(want, sizeof want, "%s/a.pem", sub);
        CHECK_STR(s->name, sect);
        CHECK_INT(s->n_certs, 1);
        if (s->n_certs == 1) {
            CHECK_STR(s->certs[0].cert, want);
            CHECK_STR(s->certs[0].key, want);
            CHECK_INT(s->certs[0].line, 6);
        }
        CHECK_INT(s->n_names, 1);
    }
    px_config_free(cfg);
    px_config_errors_free(&errs);
}

/* ---- sidecar ---- */

static void test_sidecar(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/certs", tmpdir);
    struct px_sidecar_args a = {.listen = "127.0.0.1:8443",
                                .upstream = "127.0.0.1:8080",
                                .cert_dir = dir,
                                .default_name = "app.example",
                                .admin = "off",
                                .workers = "2"};
    struct px_config *cfg;
    struct px_config_errors errs = {0};
    CHECK_INT(px_config_from_sidecar(&a, &cfg, &errs), 0);
    dump_errors(&errs);
    if (cfg) {
        CHECK(cfg->path == NULL);
        CHECK_INT(cfg->workers, 2);
        CHECK(!cfg->admin_enabled);
        CHECK_INT(cfg->n_listeners, 1);
        CHECK_STR(cfg->listeners[0].addr.text, "127.0.0.1:8443");
        CHECK_INT(cfg->n_upstreams, 1);
        CHECK_INT(cfg->upstreams[0].n_servers, 1);
        CHECK_STR(cfg->upstreams[0].servers[0].text, "127.0.0.1:8080");
        CHECK_INT(cfg->upstreams[0].keepalive, 32);
        CHECK_INT(cfg->certs.n_sites, 1);
        CHECK_STR(cfg->certs.sites[0].name, "default");
        CHECK_INT(cfg->certs.sites[0].n_names, 0);
        CHECK_INT(cfg->certs.sites[0].n_certs, 0);
        CHECK_INT(cfg->certs.sites[0].n_cert_dirs, 1);
        CHECK_STR(cfg->certs.sites[0].cert_dirs[0], dir);
        CHECK_INT(cfg->certs.sites[0].tag, 0);
        CHECK_STR(cfg->certs.default_site, "app.example");
        CHECK_INT(cfg->timeouts.handshake_ms, 10000);
    }
    px_config_free(cfg);

    /* only the required flags: defaults for the rest */
    struct px_sidecar_args min = {
        .listen = "[::1]:8443", .upstream = "localhost:80", .cert_dir = dir};
    CHECK_INT(px_config_from_sidecar(&min, &cfg, &errs), 0);
    if (cfg) {
        CHECK(!cfg->admin_enabled); /* sidecars share hosts: admin only with --admin */
        CHECK(cfg->certs.default_site == NULL);
        CHECK(cfg->workers >= 1);
    }
    px_config_free(cfg);
    CHECK_INT(errs.n, 0);

    struct px_sidecar_args none = {0};
    CHECK(px_config_from_sidecar(&none, &cfg, &errs) < 0);
    CHECK(cfg == NULL);
    CHECK_INT(errs.n, 3);
    if (errs.n == 3) {
        CHECK_STR(errs.msgs[0], "--listen is required in sidecar mode");
        CHECK_STR(errs.msgs[1], "--upstream is required in sidecar mode");
        CHECK_STR(errs.msgs[2], "--cert-dir is required in sidecar mode");
    }
    px_config_errors_free(&errs);

    /* messages follow the order of the flags, missing ones included */
    struct px_sidecar_args mixed = {.upstream = "127.0.0.1", .cert_dir = dir};
    CHECK(px_config_from_sidecar(&mixed, &cfg, &errs) < 0);
    CHECK_INT(errs.n, 2);
    if (errs.n == 2) {
        CHECK_STR(errs.msgs[0], "--listen is required in sidecar mode");
        CHECK_STR(errs.msgs[1], "--upstream: \"127.0.0.1\": missing port (expected host:port)");
    }
    px_config_errors_free(&errs);

    char nodir[1100];
    snprintf(nodir, sizeof nodir, "%s/none", tmpdir);
    struct px_sidecar_args bad = {.listen = "nope",
                                  .upstream = "127.0.0.1:99999",
                                  .cert_dir = nodir,
                                  .admin = "1.2.3.4",
                                  .workers = "lots"};
    CHECK(px_config_from_sidecar(&bad, &cfg, &errs) < 0);
    char want[1200];
    snprintf(want, sizeof want, "--cert-dir: %s: No such file or directory", nodir);
    const char *const wants[] = {
        "--listen: \"nope\": missing port (expected host:port)",
        "--upstream: \"127.0.0.1:99999\": bad port \"99999\" (expected 1-65535)",
        want,
        "--admin: \"1.2.3.4\": missing port (expected host:port)",
        "--workers: \"lots\" is not a number of workers (0-1024 or auto)",
    };
    CHECK_INT(errs.n, 5);
    for (size_t i = 0; i < errs.n && i < 5; i++)
        CHECK_STR(errs.msgs[i], wants[i]);
    px_config_errors_free(&errs);
}

/* ---- the example files ---- */

static void repo_path(const char *rel, char *out, size_t len)
{
    const char *fx = getenv("TWOFOLD_FIXTURES"); /* <repo>/tests/fixtures */
    if (fx && *fx) {
        snprintf(out, len, "%s/../../%s", fx, rel);
        return;
    }
    snprintf(out, len, "%s", __FILE__); /* <repo>/tests/unit/config/test_config.c */
    for (int i = 0; i < 4; i++) {
        char *slash = strrchr(out, '/');
        if (slash)
            *slash = '\0';
    }
    size_t n = strlen(out);
    snprintf(out + n, len - n, "/%s", rel);
}

/* Every key of the table must appear in conf/twofold.ini, in its own section, either set
 * ("key = value") or shown commented out (";key = value"). */
static void test_example_documents_every_key(void)
{
    char path[1024];
    repo_path("conf/twofold.ini", path, sizeof path);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f)
        return;
    size_t nk = px_config_key_count();
    bool *found = calloc(nk, sizeof *found);
    char line[1024], kind[64] = "";
    while (fgets(line, sizeof line, f)) {
        char *s = line;
        if (*s == ';' || *s == '#')
            s++;
        if (*s == '[') {
            sscanf(s + 1, "%63[a-z]", kind);
            continue;
        }
        char key[64];
        if (sscanf(s, "%63[a-z0-9_] =", key) != 1 || !strchr(s, '='))
            continue;
        for (size_t i = 0; i < nk; i++) {
            struct px_config_key_info k;
            px_config_key_info(i, &k);
            if (strcmp(k.section, kind) == 0 && strcmp(k.key, key) == 0)
                found[i] = true;
        }
    }
    fclose(f);
    for (size_t i = 0; i < nk; i++) {
        struct px_config_key_info k;
        CHECK_INT(px_config_key_info(i, &k), 0);
        if (!found[i])
            fprintf(stderr, "  conf/twofold.ini does not document [%s] %s\n", k.section, k.key);
        CHECK(found[i]);
    }
    free(found);
    struct px_config_key_info k;
    CHECK(px_config_key_info(nk, &k) < 0);

    /* and the examples load (their certificate files exist only once generated) */
    const char *const examples[] = {"conf/twofold.ini", "conf/demo.ini"};
    for (size_t i = 0; i < 2; i++) {
        struct px_config *cfg;
        struct px_config_errors errs = {0};
        repo_path(examples[i], path, sizeof path);
        CHECK_INT(px_config_load_file_ex(path, PX_CONFIG_NO_FILE_CHECKS, &cfg, &errs), 0);
        dump_errors(&errs);
        px_config_free(cfg);
        px_config_errors_free(&errs);
    }
}

int main(void)
{
    make_tmpdir();
    write_file("a.pem", "");
    write_file("a.key", "");
    write_file("bundle.pem", "");
    write_file("ca.pem", "");
    char d[700];
    snprintf(d, sizeof d, "%s/certs", tmpdir);
    mkdir(d, 0755);

    test_addr();
    test_bad_files();
    test_all_errors_reported();
    test_defaults();
    test_full();
    test_no_file_checks();
    test_guard_keys();
    test_long_lines();
    test_sidecar();
    test_example_documents_every_key();

    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return tt_done();
}
