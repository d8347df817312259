/* The admin endpoint's routes over the server state (admin_api.c); px_admin.h is the
 * HTTP server they run on. Main thread only. */
#ifndef TWOFOLD_PX_ADMIN_API_H
#define TWOFOLD_PX_ADMIN_API_H

#include <uv.h>

struct px_server;

int px_admin_api_start(struct px_server *s);
void px_admin_api_stop(struct px_server *s);
void px_admin_api_collect_done(uv_async_t *a);

#endif
