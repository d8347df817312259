/* Option parsing shared by every command, and loading the config from -c or the sidecar
 * flags. No getopt: the flags are long options with values, and each command accepts
 * its own subset. */
#include "cli.h"

#include "px_buf.h"
#include "px_json.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct opt {
    const char *name;
    unsigned group;
    bool takes_value;
    size_t off; /* offset of the const char * (or bool) field in struct cli_opts */
};

#define O(f)  offsetof(struct cli_opts, f)
#define SC(f) (offsetof(struct cli_opts, sidecar) + offsetof(struct px_sidecar_args, f))

static const struct opt opts[] = {
    {"-c", CLI_O_CONFIG, true, O(config)},
    {"--config", CLI_O_CONFIG, true, O(config)},
    {"--listen", CLI_O_SIDECAR, true, SC(listen)},
    {"--upstream", CLI_O_SIDECAR, true, SC(upstream)},
    {"--cert-dir", CLI_O_SIDECAR, true, SC(cert_dir)},
    {"--default-name", CLI_O_SIDECAR, true, SC(default_name)},
    {"--admin", CLI_O_SIDECAR, true, SC(admin)},
    {"--workers", CLI_O_SIDECAR, true, SC(workers)},
    {"--alpn", CLI_O_SIDECAR, true, SC(alpn)},
    {"--json", CLI_O_JSON, false, O(json)},
    {"--sni", CLI_O_EXPLAIN, true, O(sni)},
    {"--profile", CLI_O_EXPLAIN, true, O(profile)},
    {"--clienthello", CLI_O_EXPLAIN, true, O(clienthello)},
};

static const struct opt *find_opt(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        size_t n = strlen(opts[i].name);
        if (strncmp(arg, opts[i].name, n) != 0)
            continue;
        if (arg[n] == '\0')
            return &opts[i];
        if (arg[n] == '=' && opts[i].takes_value && arg[1] == '-') {
            *inline_value = arg + n + 1;
            return &opts[i];
        }
    }
    return NULL;
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "twofold%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see twofold %s%s--help)\n", cmd ? cmd : "", cmd ? " " : "");
    return CLI_USAGE;
}

int cli_parse(int argc, char **argv, int first, unsigned allowed, const char *cmd,
              struct cli_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i], *value;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            o->help = true;
            continue;
        }
        const struct opt *op = find_opt(arg, &value);
        if (!op || !(op->group & allowed))
            return usage_error(cmd, "unknown option \"%s\"", arg);
        char *field = (char *)o + op->off;
        if (!op->takes_value) {
            *(bool *)field = true;
            continue;
        }
        if (!value) {
            if (i + 1 >= argc)
                return usage_error(cmd, "option %s needs a value", op->name);
            value = argv[++i];
        }
        if (*(const char **)field)
            return usage_error(cmd, "option %s given twice", op->name);
        *(const char **)field = value;
    }
    return 0;
}

static bool any_sidecar(const struct px_sidecar_args *a)
{
    return a->listen || a->upstream || a->cert_dir || a->default_name || a->admin || a->workers ||
           a->alpn;
}

static void json_string(FILE *f, const char *s)
{
    struct px_buf b = {0};
    px_json_str(&b, s);
    if (b.data)
        fputs(b.data, f);
    px_buf_free(&b);
}

/* --json: the config errors in the shape of the check report, so that a script reading
 * stdout always gets one JSON object. */
static void print_json_errors(const struct px_config_errors *e)
{
    printf("{\"ok\":false,\"sites\":[],\"findings\":[],\"config_errors\":[");
    for (size_t i = 0; i < e->n; i++) {
        if (i)
            putchar(',');
        json_string(stdout, e->msgs[i]);
    }
    printf("]}\n");
}

/* The sidecar flags a command cannot do without, missing from a: "--upstream, --cert-dir"
 * into buf, or "" when none is. */
static const char *missing_flags(const struct px_sidecar_args *a, bool certs_only, char *buf,
                                 size_t len)
{
    const struct {
        const char *flag, *value;
        bool needed;
    } req[] = {
        {"--listen", a->listen, !certs_only},
        {"--upstream", a->upstream, !certs_only},
        {"--cert-dir", a->cert_dir, true},
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if (req[i].needed && !req[i].value && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", req[i].flag);
    return buf;
}

int cli_load(const struct cli_opts *o, const char *cmd, bool certs_only, struct px_config **out)
{
    struct px_config_errors errs = {0};
    char missing[64];
    int rc;
    *out = NULL;
    if (o->config && any_sidecar(&o->sidecar))
        return usage_error(cmd, "%s", "-c FILE cannot be combined with the sidecar flags");
    if (!o->config && !any_sidecar(&o->sidecar))
        return usage_error(cmd, "%s",
                           certs_only ? "give -c FILE or --cert-dir DIR"
                                      : "give -c FILE, or --listen ADDR --upstream ADDR "
                                        "--cert-dir DIR");
    if (!o->config && missing_flags(&o->sidecar, certs_only, missing, sizeof missing)[0])
        return usage_error(cmd, "sidecar mode needs %s too", missing);
    if (o->config) {
        rc = px_config_load_file(o->config, out, &errs);
    } else {
        struct px_sidecar_args a = o->sidecar;
        if (certs_only && !a.listen)
            a.listen = "127.0.0.1:1";
        if (certs_only && !a.upstream)
            a.upstream = "127.0.0.1:2";
        rc = px_config_from_sidecar(&a, out, &errs);
    }
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msgs[i]);
    if (rc < 0)
        fprintf(stderr, "twofold: %zu configuration error%s\n", errs.n, errs.n == 1 ? "" : "s");
    if (rc < 0 && o->json)
        print_json_errors(&errs);
    px_config_errors_free(&errs);
    return rc < 0 ? CLI_FAIL : 0;
}
