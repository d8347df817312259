/* Renders the admin views: /certs (JSON) and /metrics (Prometheus text format 0.0.4).
 * Main thread only. */
#ifndef TWOFOLD_PX_METRICS_H
#define TWOFOLD_PX_METRICS_H

#include "px_buf.h"
#include "px_server_internal.h"

void px_metrics_certs_json(const struct px_server *s, struct px_buf *out);
void px_metrics_render(const struct px_server *s, const struct px_worker_report *reports, size_t n,
                       struct px_buf *out);

#endif
