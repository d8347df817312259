/* A worker, its config and generation in memory for the worker unit tests that drive a
 * session or an exchange without threads or sockets. The generation is the test's: its
 * reference functions are defined here, so gen.c (and the real pools) are not linked. */
#ifndef TWOFOLD_FAKE_WORKER_H
#define TWOFOLD_FAKE_WORKER_H

#include "px_config.h"
#include "px_gen.h"
#include "px_worker.h"
#include "tt.h"

static struct px_worker w;
static struct px_config cfg;
static struct px_gen gen;

struct px_gen *px_gen_ref(struct px_gen *g)
{
    g->refs++;
    return g;
}

void px_gen_release(struct px_gen *g)
{
    if (g)
        g->refs--;
}

/* Limits and timeouts distinct enough that a test can tell which timer is armed. */
static void fake_worker_init(void)
{
    CHECK_INT(uv_loop_init(&w.loop), 0);
    cfg.limits.max_request_line = 8192;
    cfg.limits.max_head = 16384;
    cfg.limits.max_headers = 100;
    cfg.limits.max_resp_head = 65536;
    cfg.limits.max_resp_headers = 200;
    cfg.limits.write_watermark = 65536;
    cfg.limits.body_min_rate = 1024;
    cfg.timeouts.header_ms = 10000;
    cfg.timeouts.body_ms = 7000;
    cfg.timeouts.idle_ms = 60000;
    cfg.timeouts.upstream_response_ms = 30000;
    gen.magic = PX_GEN_MAGIC;
    gen.refs = 1;
    gen.cfg = &cfg;
    gen.w = &w;
}

/* Runs the loop until every handle closed, then closes it; the generation must hold
 * only the test's own reference again (every exchange gave its reference back). */
static void fake_worker_done(void)
{
    uv_run(&w.loop, UV_RUN_DEFAULT);
    CHECK_INT(gen.refs, 1);
    CHECK_INT(uv_loop_close(&w.loop), 0);
}

#endif
