/* twofold: the command line. `twofold -c FILE` and sidecar mode run the server; check
 * and explain build the certificate snapshot as the server would and report on it.
 * Exit codes: see cli.h. */
#include "cli.h"
#include "px_log.h"
#include "px_server.h"

#include <stdio.h>
#include <string.h>

static int run(int argc, char **argv)
{
    struct cli_opts o;
    int rc = cli_parse(argc, argv, 1, CLI_O_CONFIG | CLI_O_SIDECAR, NULL, &o);
    if (rc)
        return rc;
    if (o.help)
        return cli_help(stdout, NULL);
    struct px_config *cfg;
    rc = cli_load(&o, NULL, false, &cfg);
    if (rc)
        return rc;
    px_log_set_level((enum px_log_level)cfg->log_level);
    return px_server_run(cfg);
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (!cmd) {
        cli_help(stderr, NULL);
        return CLI_USAGE;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        cli_version(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc > 3) {
            fprintf(stderr, "twofold help: one command at most\n");
            return CLI_USAGE;
        }
        return cli_help(stdout, argc > 2 ? argv[2] : NULL);
    }
    if (strcmp(cmd, "check") == 0)
        return cli_check(argc, argv);
    if (strcmp(cmd, "explain") == 0)
        return cli_explain(argc, argv);
    if (strcmp(cmd, "reload") == 0)
        return cli_reload(argc, argv);
    if (cmd[0] != '-') {
        fprintf(stderr, "twofold: unknown command \"%s\" (see twofold --help)\n", cmd);
        return CLI_USAGE;
    }
    return run(argc, argv);
}
