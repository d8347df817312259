/* libFuzzer target: the HTTP/2 session (proxy/worker/session_h2.c) fed arbitrary client
 * bytes after the connection preface, as the transport would after decrypting them. The
 * target is the transport (px_conn_internal.h: output discarded, closes recorded) and the
 * upstream side: every acquire finds the upstream unavailable, so each request becomes a
 * 503 answered on its stream, and every stream's state, nghttp2's callbacks, the field
 * conversions (h2_fields.c), the limits and the close paths run under the sanitizers.
 * The first input byte chooses the slice size the rest is fed in. */
#include "px_conn_internal.h"
#include "px_gen.h"
#include "px_route.h"
#include "px_upstream.h"
#include "px_worker.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct px_worker w;
static struct px_config cfg;
static struct px_gen gen;

/* ---- the transport ---- */

void px_conn_cli_commit(struct px_conn *c)
{
    c->plain_out += c->out.len;
    c->out.len = 0;
}

void px_conn_close(struct px_conn *c, bool notify)
{
    (void)notify;
    if (px_conn_closing(c))
        return;
    c->state = PX_CONN_CLOSING;
    px_conn_cli_commit(c);
    c->ops->on_close(c, PX_SESSION_CLOSING);
}

void px_conn_update_reading(struct px_conn *c)
{
    (void)c;
}

void px_conn_session_timer(struct px_conn *c, unsigned ms)
{
    (void)c, (void)ms;
}

void px_conn_trim(struct px_conn *c)
{
    (void)c;
}

bool px_conn_cli_blocked(const struct px_conn *c)
{
    (void)c;
    return false;
}

/* ---- routing, the generation and the upstream side ---- */

int px_route(const struct px_conn *c, const char *host, size_t n)
{
    (void)c;
    return n > 0 && host[0] == 'x' ? -1 : 0; /* "x..." authorities have no site: 502 */
}

const char *px_route_default_host(const struct px_conn *c)
{
    (void)c;
    return "a.example";
}

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

int px_upstream_acquire(struct px_upstreams *u, size_t upstream, unsigned flags, px_upconn_cb cb,
                        void *ud, struct px_upconn **out)
{
    (void)u, (void)upstream, (void)flags, (void)cb, (void)ud;
    *out = NULL;
    return PX_UP_UNAVAILABLE;
}

void px_upconn_cancel(struct px_upconn *uc)
{
    (void)uc;
}

void px_upconn_release(struct px_upconn *uc, bool reusable)
{
    (void)uc, (void)reusable;
}

int px_upconn_read_start(struct px_upconn *uc, uv_read_cb cb)
{
    (void)uc, (void)cb;
    return 0;
}

void px_upconn_read_stop(struct px_upconn *uc)
{
    (void)uc;
}

uv_stream_t *px_upconn_stream(struct px_upconn *uc)
{
    (void)uc;
    return NULL;
}

void px_upconn_set_owner(struct px_upconn *uc, void *owner)
{
    (void)uc, (void)owner;
}

void *px_upconn_owner(const struct px_upconn *uc)
{
    (void)uc;
    return NULL;
}

bool px_upconn_reused(const struct px_upconn *uc)
{
    (void)uc;
    return false;
}

const char *px_upconn_server(const struct px_upconn *uc)
{
    (void)uc;
    return "192.0.2.9:80";
}

/* ---- one input ---- */

static void setup_once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    uv_loop_init(&w.loop);
    cfg.limits.write_watermark = 65536;
    cfg.timeouts.idle_ms = 60000;
    cfg.timeouts.upstream_response_ms = 30000;
    cfg.via = "twofold";
    gen.magic = PX_GEN_MAGIC;
    gen.refs = 1;
    gen.cfg = &cfg;
    gen.w = &w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    setup_once();
    if (size < 1)
        return 0;
    size_t slice = 1 + data[0] * 16u;
    data++, size--;
    struct px_conn *c = calloc(1, sizeof *c);
    if (!c)
        return 0;
    c->magic = PX_CONN_MAGIC;
    c->state = PX_CONN_OPEN;
    c->ops = &px_session_h2;
    c->w = &w;
    c->gen = &gen;
    strcpy(c->peer, "192.0.2.1");
    if (c->ops->open(c) == 0) {
        px_buf_append(&c->in, preface, sizeof preface - 1);
        c->ops->on_plaintext(c);
        for (size_t off = 0; off < size && !px_conn_closing(c); off += slice) {
            size_t n = size - off < slice ? size - off : slice;
            px_buf_append(&c->in, data + off, n);
            c->ops->on_plaintext(c);
        }
        if (!px_conn_closing(c))
            c->ops->on_close(c, PX_SESSION_DRAIN);
        px_conn_close(c, false);
        c->state = PX_CONN_CLOSED;
        c->ops->on_close(c, PX_SESSION_CLOSED);
    }
    if (c->session)
        c->ops->free(c);
    uv_run(&w.loop, UV_RUN_DEFAULT); /* the exchanges' timers close */
    px_buf_free(&c->in);
    px_buf_free(&c->out);
    free(c);
    return 0;
}
