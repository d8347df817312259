/* The running server: the main loop (signals, admin, reload, shutdown) and the workers.
 * Entry point for `twofold -c FILE` and sidecar mode after the config is loaded. */
#ifndef TWOFOLD_PX_SERVER_H
#define TWOFOLD_PX_SERVER_H

#include "px_config.h"

/* Builds the first snapshot, starts cfg->workers worker threads, runs the main loop
 * until SIGTERM/SIGINT and a drain, and returns the process exit code.
 * Takes ownership of cfg. */
int px_server_run(struct px_config *cfg);

#endif
