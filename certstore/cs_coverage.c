/* The coverage check: a real TLS handshake for every site x client profile, in memory, in
 * one thread. The client is OpenSSL configured as the profile; the server is an SSL from
 * the snapshot's base context, so its ClientHello callback, cs_select and the per-cert
 * contexts are exercised exactly as in production. What was served is read back from both
 * ends: cs_ssl_cert on the server, the peer certificate's SHA-256 on the client. */
#include "cs_coverage_int.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

/* Handshake round trips allowed; a TLS 1.3 handshake with a HelloRetryRequest needs 4. */
#define MAX_ROUNDS 16

struct duplex {
    SSL *c, *s;
    BIO *c_out, *s_out;    /* each side's wbio, drained into the other side's rbio */
    struct cs_hello hello; /* the client's first flight, for failure reasons */
    bool have_hello;
};

static BIO *mem_bio(void)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b)
        BIO_set_mem_eof_return(b, -1); /* empty means "retry", not end of stream */
    return b;
}

static int pipe_side(SSL *ssl, BIO **out)
{
    BIO *in = mem_bio();

    *out = mem_bio();
    if (!in || !*out) {
        BIO_free(in);
        BIO_free(*out);
        *out = NULL;
        return -1;
    }
    SSL_set_bio(ssl, in, *out);
    return 0;
}

/* Moves everything one side wrote to the other side's input. */
static int shuttle(BIO *from, SSL *to)
{
    char *data;
    long n = BIO_get_mem_data(from, &data);

    if (n > 0 && BIO_write(SSL_get_rbio(to), data, (int)n) != (int)n)
        return -1;
    return BIO_reset(from) == 1 || n <= 0 ? 0 : -1;
}

static bool step(SSL *ssl)
{
    int rc, e;

    if (SSL_is_init_finished(ssl))
        return true;
    rc = SSL_do_handshake(ssl);
    if (rc == 1)
        return true;
    e = SSL_get_error(ssl, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* Drives both ends to completion or failure. Returns 0 when both finished. */
static int drive(struct duplex *d)
{
    char *data, err[64];
    long n;

    ERR_clear_error();
    for (int round = 0; round < MAX_ROUNDS; round++) {
        if (!step(d->c))
            return -1;
        if (!d->have_hello && (n = BIO_get_mem_data(d->c_out, &data)) > 0)
            d->have_hello =
                cs_hello_parse((uint8_t *)data, (size_t)n, &d->hello, err, sizeof(err)) == 0;
        if (shuttle(d->c_out, d->s) < 0 || !step(d->s) || shuttle(d->s_out, d->c) < 0)
            return -1;
        if (SSL_is_init_finished(d->c) && SSL_is_init_finished(d->s))
            return 0;
    }
    return -1;
}

static const char *site_sni(const struct cs_site *site, char *buf, size_t len)
{
    for (size_t i = 0; i < site->n_names; i++)
        if (site->names[i][0] != '*')
            return site->names[i];
    for (size_t i = 0; i < site->n_names; i++)
        if (strncmp(site->names[i], "*.", 2) == 0) {
            snprintf(buf, len, "x.%s", site->names[i] + 2);
            return buf;
        }
    return NULL;
}

/* Why a handshake failed: the selection's own reason when it refused, else OpenSSL's. */
static void fail_detail(const struct cs_snapshot *s, struct duplex *d,
                        struct cs_coverage_cell *cell)
{
    enum cs_fail f = cs_ssl_fail(d->s);
    unsigned long e = ERR_peek_last_error();
    char ebuf[120] = "handshake did not complete";
    struct cs_choice ch;

    cell->fail = f;
    if (e)
        ERR_error_string_n(e, ebuf, sizeof(ebuf));
    if (f == CS_FAIL_NO_CERT && d->have_hello) {
        const struct cs_entry *en =
            cs_snapshot_lookup(s, d->hello.has_sni ? d->hello.sni : NULL, NULL);
        if (en && cs_select(en, &d->hello, cs_snapshot_suites(s), &ch) < 0) {
            snprintf(cell->detail, sizeof(cell->detail), "%s: %.170s", cs_fail_name(f), ch.reason);
            return;
        }
    }
    snprintf(cell->detail, sizeof(cell->detail), "%s: %s",
             f != CS_FAIL_NONE ? cs_fail_name(f) : "handshake", ebuf);
}

static void record_success(struct duplex *d, struct cs_coverage_cell *cell)
{
    const struct cs_cert *c = cs_ssl_cert(d->s);
    X509 *peer = SSL_get0_peer_certificate(d->c);
    unsigned char md[32];
    unsigned mdlen = 0;
    char desc[32];
    const struct cs_site *site;

    if (!c || !peer || X509_digest(peer, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
        snprintf(cell->detail, sizeof(cell->detail), "handshake done but no certificate seen");
        return;
    }
    if (memcmp(md, c->sha256, 32) != 0) {
        snprintf(cell->detail, sizeof(cell->detail),
                 "client received a different certificate than %s", c->fp_hex);
        return;
    }
    cell->ok = true;
    cell->type = c->type;
    cell->bits = c->bits;
    cell->curve_nid = c->curve_nid;
    cell->version = SSL_version(d->c);
    memcpy(cell->fp_hex, c->fp_hex, sizeof(cell->fp_hex));
    site = cs_ssl_site(d->s);
    snprintf(cell->detail, sizeof(cell->detail), "%s %s%s%.64s%s",
             cs_cert_describe(c, desc, sizeof(desc)), cs_version_name(cell->version),
             site != cell->site ? " (from site " : "", site != cell->site && site ? site->name : "",
             site != cell->site ? ")" : "");
}

static void run_cell(const struct cs_snapshot *s, SSL_CTX *client_ctx,
                     struct cs_coverage_cell *cell)
{
    struct duplex d = {0};
    char buf[256];
    const char *sni = site_sni(cell->site, buf, sizeof(buf));

    if (!client_ctx) {
        snprintf(cell->detail, sizeof(cell->detail), "cannot build the profile's client");
        return;
    }
    d.c = SSL_new(client_ctx);
    d.s = SSL_new(cs_snapshot_base_ctx(s));
    if (!d.c || !d.s || pipe_side(d.c, &d.c_out) < 0 || pipe_side(d.s, &d.s_out) < 0) {
        snprintf(cell->detail, sizeof(cell->detail), "out of memory");
        goto done;
    }
    SSL_set_connect_state(d.c);
    SSL_set_accept_state(d.s);
    if (cell->profile->sni && sni && SSL_set_tlsext_host_name(d.c, (char *)sni) != 1) {
        snprintf(cell->detail, sizeof(cell->detail), "cannot set SNI %.120s", sni);
        goto done;
    }
    if (drive(&d) == 0)
        record_success(&d, cell);
    else
        fail_detail(s, &d, cell);
done:
    ERR_clear_error();
    SSL_free(d.c);
    SSL_free(d.s);
}

SSL_CTX **cs__coverage_clients_new(void)
{
    SSL_CTX **ctx = calloc(cs_n_profiles + 1, sizeof(*ctx));
    for (size_t p = 0; ctx && p < cs_n_profiles; p++)
        ctx[p] = cs_profile_client_ctx(&cs_profiles[p]);
    return ctx;
}

void cs__coverage_clients_free(SSL_CTX **clients)
{
    for (size_t p = 0; clients && p < cs_n_profiles; p++)
        SSL_CTX_free(clients[p]);
    free(clients);
}

void cs__coverage_run_site(const struct cs_snapshot *s, size_t i, SSL_CTX *const *clients,
                           struct cs_coverage_cell *row)
{
    for (size_t p = 0; p < cs_n_profiles; p++) {
        struct cs_coverage_cell *cell = &row[p];
        memset(cell, 0, sizeof(*cell));
        cell->site = cs_snapshot_site(s, i);
        cell->profile = &cs_profiles[p];
        run_cell(s, clients[p], cell);
    }
}

int cs_coverage_run(const struct cs_snapshot *s, struct cs_coverage *out)
{
    SSL_CTX **ctx;

    memset(out, 0, sizeof(*out));
    out->n_sites = cs_snapshot_site_count(s);
    out->n_profiles = cs_n_profiles;
    out->cells = calloc(out->n_sites * out->n_profiles + 1, sizeof(*out->cells));
    ctx = cs__coverage_clients_new();
    if (!out->cells || !ctx) {
        cs__coverage_clients_free(ctx);
        cs_coverage_free(out);
        return -1;
    }
    for (size_t i = 0; i < out->n_sites; i++)
        cs__coverage_run_site(s, i, ctx, &out->cells[i * cs_n_profiles]);
    cs__coverage_clients_free(ctx);
    return 0;
}

static const struct cs_site_conf *site_conf(const struct cs_conf *conf, const struct cs_site *site)
{
    for (size_t i = 0; site && i < conf->n_sites; i++)
        if (conf->sites[i].name && strcmp(conf->sites[i].name, site->name) == 0)
            return &conf->sites[i];
    return NULL;
}

/* "require = ecdsa" when the site serves exactly the one key type its require names
 * (a declared single-type site), else NULL. */
static const char *single_type_declared(const struct cs_site_conf *sc, const struct cs_site *site)
{
    unsigned served = 0, req = sc->require & (CS_REQUIRE_RSA | CS_REQUIRE_ECDSA);

    for (size_t i = 0; i < site->n_certs; i++)
        served |= 1u << site->certs[i]->type;
    if (served != req)
        return NULL;
    return req == CS_REQUIRE_ECDSA ? "require = ecdsa"
           : req == CS_REQUIRE_RSA ? "require = rsa"
                                   : NULL;
}

static bool accepts(const struct cs_site_conf *sc, const char *profile)
{
    for (size_t i = 0; i < sc->n_accept_lost; i++)
        if (strcmp(sc->accept_lost[i], profile) == 0)
            return true;
    return false;
}

size_t cs_coverage_declare(struct cs_coverage *c, const struct cs_conf *conf)
{
    size_t undeclared = 0;

    for (size_t i = 0; i < c->n_sites * c->n_profiles; i++) {
        struct cs_coverage_cell *cell = &c->cells[i];
        const struct cs_site_conf *sc = site_conf(conf, cell->site);
        const char *single = sc ? single_type_declared(sc, cell->site) : NULL;

        cell->declared = NULL;
        if (cell->ok)
            continue;
        if (sc && accepts(sc, cell->profile->name))
            cell->declared = "accept_profiles_lost";
        else if (single && cell->fail == CS_FAIL_NO_CERT)
            cell->declared = single;
        undeclared += !cell->declared;
    }
    return undeclared;
}

void cs_coverage_free(struct cs_coverage *c)
{
    if (!c)
        return;
    free(c->cells);
    c->cells = NULL;
    c->n_sites = c->n_profiles = 0;
}

/* ---- output ---- */

static const char *short_version(int v)
{
    const char *n = cs_version_name(v);
    return strncmp(n, "TLSv", 4) == 0 ? n + 4 : n;
}

static size_t count_ok(const struct cs_coverage *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_sites * c->n_profiles; i++)
        n += c->cells[i].ok;
    return n;
}

static size_t count_declared(const struct cs_coverage *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_sites * c->n_profiles; i++)
        n += !c->cells[i].ok && c->cells[i].declared;
    return n;
}

/* Every handshake either succeeded or failed as the configuration declares, and no
 * error-level finding. */
static bool coverage_ok(const struct cs_coverage *c, const struct cs_diag *d)
{
    return count_ok(c) + count_declared(c) == c->n_sites * c->n_profiles &&
           (!d || cs_diag_count(d, CS_ERROR) == 0);
}

/* Prints text indented by indent, wrapped at 100 columns on spaces. */
static void wrap(FILE *f, const char *text, int indent)
{
    const int width = 100 - indent;

    while (*text) {
        int len = (int)strlen(text), cut = len;
        if (len > width) {
            cut = width;
            while (cut > width / 2 && text[cut] != ' ')
                cut--;
        }
        fprintf(f, "%*s%.*s\n", indent, "", cut, text);
        text += cut;
        text += strspn(text, " ");
    }
}

static void print_cell(FILE *f, const struct cs_coverage_cell *cell)
{
    char desc[32];

    if (cell->ok) {
        struct cs_cert tmp = {.type = cell->type, .bits = cell->bits, .curve_nid = cell->curve_nid};
        const char *note = strstr(cell->detail, " (from site ");
        fprintf(f, "  %-20s %-12s %s%s\n", cell->profile->name,
                cs_cert_describe(&tmp, desc, sizeof(desc)), short_version(cell->version),
                note ? note : "");
        return;
    }
    fprintf(f, "  %-20s FAIL(%.*s)%s%s\n", cell->profile->name, (int)strcspn(cell->detail, ":"),
            cell->detail, cell->declared ? ", declared by " : "",
            cell->declared ? cell->declared : "");
    wrap(f, cell->detail, 25);
}

void cs_coverage_print_text(FILE *f, const struct cs_coverage *c, const struct cs_diag *d)
{
    size_t ok = count_ok(c), total = c->n_sites * c->n_profiles, declared = count_declared(c);
    char failed[64] = "";

    for (size_t i = 0; i < c->n_sites; i++) {
        const struct cs_coverage_cell *row = &c->cells[i * c->n_profiles];
        const struct cs_site *site = row[0].site;
        fprintf(f, "site %s", site ? site->name : "?");
        for (size_t n = 0; site && n < site->n_names && n < 4; n++)
            fprintf(f, "%s%s", n ? ", " : " (", site->names[n]);
        fprintf(f, "%s\n", site && site->n_names ? (site->n_names > 4 ? ", ...)" : ")") : "");
        fprintf(f, "  %-20s %-12s %s\n", "PROFILE", "CERTIFICATE", "TLS");
        for (size_t p = 0; p < c->n_profiles; p++)
            print_cell(f, &row[p]);
    }
    if (d)
        cs_diag_print(f, d); /* "error: site S: FILE: message", one line each */
    if (total > ok)
        snprintf(failed, sizeof(failed), " (%zu declared by the configuration, %zu not)", declared,
                 total - ok - declared);
    fprintf(f,
            "coverage %s: %zu site%s x %zu profiles: %zu handshakes ok, %zu failed%s; %zu "
            "error%s, %zu warning%s\n",
            coverage_ok(c, d) ? "ok" : "incomplete", c->n_sites, c->n_sites == 1 ? "" : "s",
            c->n_profiles, ok, total - ok, failed, d ? cs_diag_count(d, CS_ERROR) : 0,
            d && cs_diag_count(d, CS_ERROR) == 1 ? "" : "s",
            d ? cs_diag_count(d, CS_WARNING) - cs_diag_count(d, CS_ERROR) : 0,
            d && cs_diag_count(d, CS_WARNING) - cs_diag_count(d, CS_ERROR) == 1 ? "" : "s");
}

/* A JSON string, or null for NULL. */
static void json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_cell(FILE *f, const struct cs_coverage_cell *cell)
{
    fputs("{\"profile\":", f);
    json_str(f, cell->profile->name);
    fprintf(f, ",\"ok\":%s,\"key_type\":", cell->ok ? "true" : "false");
    json_str(f, cell->ok ? cs_key_type_name(cell->type) : NULL);
    fputs(",\"curve\":", f);
    json_str(f, cell->ok && cell->type == CS_KEY_ECDSA ? cs_curve_name(cell->curve_nid) : NULL);
    fprintf(f, ",\"bits\":%d,\"version\":", cell->ok ? cell->bits : 0);
    json_str(f, cell->ok ? cs_version_name(cell->version) : NULL);
    fputs(",\"sha256\":", f);
    json_str(f, cell->ok ? cell->fp_hex : NULL);
    fputs(",\"detail\":", f);
    json_str(f, cell->detail);
    fputs(",\"declared\":", f);
    json_str(f, cell->declared);
    fputc('}', f);
}

void cs_coverage_print_json(FILE *f, const struct cs_coverage *c, const struct cs_diag *d)
{
    fprintf(f, "{\"ok\":%s,\"sites\":[", coverage_ok(c, d) ? "true" : "false");
    for (size_t i = 0; i < c->n_sites; i++) {
        const struct cs_coverage_cell *row = &c->cells[i * c->n_profiles];
        fputs(i ? ",{\"site\":" : "{\"site\":", f);
        json_str(f, row[0].site ? row[0].site->name : NULL);
        fputs(",\"profiles\":[", f);
        for (size_t p = 0; p < c->n_profiles; p++) {
            if (p)
                fputc(',', f);
            json_cell(f, &row[p]);
        }
        fputs("]}", f);
    }
    fputs("],\"findings\":[", f);
    for (size_t i = 0; d && i < d->n; i++) {
        fputs(i ? ",{\"level\":" : "{\"level\":", f);
        json_str(f, cs_level_name(d->items[i].level));
        fputs(",\"site\":", f);
        json_str(f, d->items[i].site);
        fputs(",\"file\":", f);
        json_str(f, d->items[i].file);
        fputs(",\"message\":", f);
        json_str(f, d->items[i].msg);
        fputc('}', f);
    }
    fputs("]}\n", f);
}
