/* What the main thread runs besides reloads (ops.c): the certificate watcher, ticket key
 * rotation and systemd notification. */
#ifndef TWOFOLD_PX_OPS_H
#define TWOFOLD_PX_OPS_H

struct px_server;

int px_ops_start(struct px_server *s);
void px_ops_stop(struct px_server *s);
/* Re-arms the watcher over the files of the live snapshot (after a reload). */
void px_ops_watch_refresh(struct px_server *s);

#endif
