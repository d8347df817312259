/* `twofold check` and `twofold explain`: both build the certificate snapshot exactly as
 * the server does (same config loader, same context setup), then report on it. */
#include "cli.h"
#include "px_tls.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The snapshot the server would build from cfg. Findings go into diag. */
static int build(struct px_config *cfg, struct cs_diag *diag, struct cs_snapshot **snap)
{
    cfg->certs.ctx_setup = px_tls_ctx_setup;
    cfg->certs.ctx_setup_arg = NULL;
    *snap = NULL;
    return cs_snapshot_build(&cfg->certs, NULL, diag, snap);
}

static void print_findings(FILE *f, const struct cs_diag *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct cs_diag_item *it = &d->items[i];
        fprintf(f, "%s: %s%s%s%s%s\n", cs_level_name(it->level), it->site ? "[site " : "",
                it->site ? it->site : "", it->site ? "] " : "", it->file ? it->file : "",
                it->file ? ": " : "");
        fprintf(f, "    %s\n", it->msg);
    }
}

/* One line per site with failed profiles its configuration does not declare (exit 3). */
static void print_undeclared(FILE *f, const struct cs_coverage *cov)
{
    for (size_t i = 0; i < cov->n_sites; i++) {
        const struct cs_coverage_cell *row = &cov->cells[i * cov->n_profiles];
        size_t n = 0;
        for (size_t p = 0; p < cov->n_profiles; p++) {
            if (row[p].ok || row[p].declared)
                continue;
            if (n++ == 0)
                fprintf(f,
                        "twofold check: site %s: clients that cannot connect: ", row[p].site->name);
            fprintf(f, "%s%s", n > 1 ? ", " : "", row[p].profile->name);
        }
        if (n)
            fprintf(f, " (not declared by the site's require or accept_profiles_lost)\n");
    }
}

int cli_check(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_parse(argc, argv, 2, CLI_O_CONFIG | CLI_O_SIDECAR | CLI_O_JSON, "check", &o);
    if (rc || o.help)
        return rc ? rc : cli_help(stdout, "check");
    struct px_config *cfg;
    if ((rc = cli_load(&o, "check", false, &cfg)) != 0)
        return rc;
    struct cs_diag diag;
    cs_diag_init(&diag);
    struct cs_snapshot *snap;
    struct cs_coverage cov = {0};
    int brc = build(cfg, &diag, &snap), crc = 0;
    size_t undeclared = 0;
    if (brc == 0)
        crc = cs_coverage_run(snap, &cov);
    if (brc == 0 && crc == 0)
        undeclared = cs_coverage_declare(&cov, &cfg->certs);
    if (o.json)
        cs_coverage_print_json(stdout, &cov, &diag);
    else
        cs_coverage_print_text(stdout, &cov, &diag);
    bool failed = brc < 0 || crc < 0 || cs_diag_count(&diag, CS_ERROR) > 0;
    if (brc < 0)
        fprintf(stderr, "twofold check: the certificate snapshot cannot be built\n");
    else if (crc < 0)
        fprintf(stderr, "twofold check: the coverage check could not run\n");
    else if (!failed && undeclared)
        print_undeclared(stderr, &cov);
    cs_coverage_free(&cov);
    cs_snapshot_release(snap);
    cs_diag_free(&diag);
    px_config_free(cfg);
    return failed ? CLI_FAIL : undeclared ? CLI_UNCOVERED : CLI_OK;
}

/* Hex (blanks and colons ignored) into a new buffer. Returns its length or -1. */
static long hex_decode(const char *s, unsigned char **out)
{
    size_t n = 0, cap = strlen(s) / 2 + 1;
    unsigned char *b = malloc(cap);
    int hi = -1;
    if (!b)
        return -1;
    for (; *s; s++) {
        if (isspace((unsigned char)*s) || *s == ':')
            continue;
        if (!isxdigit((unsigned char)*s)) {
            free(b);
            return -1;
        }
        int v = isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10;
        if (hi < 0) {
            hi = v;
        } else {
            b[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0 || n == 0) {
        free(b);
        return -1;
    }
    *out = b;
    return (long)n;
}

static void list_profiles(FILE *f)
{
    fprintf(f, "known profiles:\n");
    for (size_t i = 0; i < cs_n_profiles; i++)
        fprintf(f, "  %-24s %s\n", cs_profiles[i].name, cs_profiles[i].desc);
}

/* The ClientHello to explain, from --profile or --clienthello; --sni overrides its SNI. */
static int get_hello(const struct cli_opts *o, struct cs_hello *h)
{
    if (o->profile) {
        const struct cs_profile *p = cs_profile_find(o->profile);
        if (!p) {
            fprintf(stderr, "twofold explain: unknown profile \"%s\"\n", o->profile);
            list_profiles(stderr);
            return CLI_FAIL;
        }
        if (cs_profile_hello(p, o->sni, h) < 0) {
            fprintf(stderr, "twofold explain: cannot make the ClientHello of %s\n", p->name);
            return CLI_FAIL;
        }
    } else {
        unsigned char *bytes = NULL;
        long n = hex_decode(o->clienthello, &bytes);
        char err[200] = "";
        int rc = n < 0 ? -1 : cs_hello_parse(bytes, (size_t)n, h, err, sizeof err);
        free(bytes);
        if (rc < 0) {
            fprintf(stderr, "twofold explain: --clienthello: %s\n",
                    n < 0 ? "not hex bytes (an even number of hex digits)" : err);
            return CLI_FAIL;
        }
    }
    if (o->sni) {
        h->has_sni = true;
        snprintf(h->sni, sizeof h->sni, "%s", o->sni);
    }
    return CLI_OK;
}

int cli_explain(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_parse(argc, argv, 2, CLI_O_CONFIG | CLI_O_SIDECAR | CLI_O_EXPLAIN, "explain", &o);
    if (rc || o.help)
        return rc ? rc : cli_help(stdout, "explain");
    if (!o.profile == !o.clienthello) {
        fprintf(stderr, "twofold explain: give exactly one of --profile NAME and "
                        "--clienthello HEX (see twofold explain --help)\n");
        return CLI_USAGE;
    }
    struct cs_hello h;
    memset(&h, 0, sizeof h);
    if ((rc = get_hello(&o, &h)) != 0)
        return rc;
    struct px_config *cfg;
    if ((rc = cli_load(&o, "explain", true, &cfg)) != 0)
        return rc;
    struct cs_diag diag;
    cs_diag_init(&diag);
    struct cs_snapshot *snap;
    if (build(cfg, &diag, &snap) < 0) {
        print_findings(stderr, &diag);
        fprintf(stderr, "twofold explain: the certificate snapshot cannot be built\n");
        rc = CLI_FAIL;
    } else {
        cs_explain_print(stdout, snap, &h);
    }
    cs_snapshot_release(snap);
    cs_diag_free(&diag);
    px_config_free(cfg);
    return rc;
}
