/* The command line of the twofold binary (main.c, cli_*.c). Private to those files.
 * Exit codes: 0 ok, 1 errors found or a runtime failure, 2 usage error (twofold reload: also
 * "applied with sites refused or kept"), 3 twofold check: a client profile cannot connect to
 * a site whose configuration does not declare that gap. */
#ifndef TWOFOLD_CLI_H
#define TWOFOLD_CLI_H

#include "px_config.h"

#include <stdbool.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_UNCOVERED = 3 };

/* Which options a command accepts (bits). */
enum {
    CLI_O_CONFIG = 1u << 0,  /* -c FILE */
    CLI_O_SIDECAR = 1u << 1, /* --listen --upstream --cert-dir --default-name --admin --workers */
    CLI_O_JSON = 1u << 2,    /* --json */
    CLI_O_EXPLAIN = 1u << 3, /* --sni --profile --clienthello */
};

struct cli_opts {
    const char *config;
    struct px_sidecar_args sidecar;
    bool json, help;
    const char *sni, *profile, *clienthello;
};

/* Parses argv[first..] into o, accepting the options in allowed. "--flag VALUE" and
 * "--flag=VALUE" both work. Returns 0 or CLI_USAGE (message printed). */
int cli_parse(int argc, char **argv, int first, unsigned allowed, const char *cmd,
              struct cli_opts *o);
/* Loads the config from -c or from the sidecar flags; prints every problem to stderr
 * (and with --json also as {"ok":false,...,"config_errors":[...]} to stdout). certs_only:
 * the command needs only the certificates, so in sidecar mode --cert-dir is enough (the
 * listener and upstream, when not given, are placeholders never bound or connected).
 * Returns 0, CLI_FAIL (config errors) or CLI_USAGE (neither or both given, or a sidecar
 * flag the command needs is missing). */
int cli_load(const struct cli_opts *o, const char *cmd, bool certs_only, struct px_config **out);

/* Help texts: cmd NULL for the general usage. Returns 0, or CLI_USAGE for an unknown
 * command. */
int cli_help(FILE *f, const char *cmd);
void cli_version(FILE *f);

int cli_check(int argc, char **argv);
int cli_explain(int argc, char **argv);
int cli_reload(int argc, char **argv);

#endif
