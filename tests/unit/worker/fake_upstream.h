/* The upstream side in memory for the worker unit tests: the px_upstream.h functions the
 * exchange calls and the write queue it writes through (px_wq.h) are defined here, so
 * upstream.c and wq.c are not linked. acquire hands out one fake connection (pooled
 * or fresh, as upc.reused says) at once; what the exchange writes is collected in
 * upstream_got; upstream_sends() delivers response bytes through the reader the
 * exchange registered. */
#ifndef TWOFOLD_FAKE_UPSTREAM_H
#define TWOFOLD_FAKE_UPSTREAM_H

#include "px_upstream.h"
#include "px_wq.h"
#include "tt.h"

#include <stdbool.h>
#include <string.h>

struct px_upconn {
    uv_tcp_t stream; /* never opened: only its address and data field are used */
    void *owner;
    bool reused;
};

static struct px_upconn upc;
static uv_read_cb reader;
static struct px_buf upstream_got; /* request bytes the exchange wrote */
static int acquires, releases, released_reusable, pending_mode;
static unsigned last_flags;
static px_upconn_cb pending_cb;
static void *pending_ud;

static void fake_upstream_reset(void)
{
    upstream_got.len = 0;
    acquires = releases = released_reusable = pending_mode = 0;
    reader = NULL;
}

int px_upstream_acquire(struct px_upstreams *u, size_t upstream, unsigned flags, px_upconn_cb cb,
                        void *ud, struct px_upconn **out)
{
    (void)u, (void)upstream;
    acquires++;
    last_flags = flags;
    upc.reused = !(flags & PX_UP_FRESH) && upc.reused;
    upc.stream.data = &upc;
    *out = &upc;
    if (pending_mode) { /* connecting: the test completes it with fake_connect_done */
        pending_cb = cb;
        pending_ud = ud;
        return PX_UP_PENDING;
    }
    return PX_UP_READY;
}

/* Completes a pending connect: status 0 connected, else failed. */
static inline void fake_connect_done(int status)
{
    px_upconn_cb cb = pending_cb;
    pending_cb = NULL;
    cb(pending_ud, status < 0 ? NULL : &upc, status < 0 ? PX_UP_FAILED : 0);
}

void px_upconn_cancel(struct px_upconn *uc)
{
    (void)uc;
    pending_cb = NULL;
}

void px_upconn_release(struct px_upconn *uc, bool reusable)
{
    releases++;
    released_reusable = reusable;
    uc->owner = NULL;
    reader = NULL;
}

int px_upconn_read_start(struct px_upconn *uc, uv_read_cb cb)
{
    (void)uc;
    reader = cb;
    return 0;
}

void px_upconn_read_stop(struct px_upconn *uc)
{
    (void)uc;
}

uv_stream_t *px_upconn_stream(struct px_upconn *uc)
{
    return (uv_stream_t *)&uc->stream;
}

void px_upconn_set_owner(struct px_upconn *uc, void *owner)
{
    uc->owner = owner;
}

void *px_upconn_owner(const struct px_upconn *uc)
{
    return uc->owner;
}

bool px_upconn_reused(const struct px_upconn *uc)
{
    return uc->reused;
}

const char *px_upconn_server(const struct px_upconn *uc)
{
    (void)uc;
    return "192.0.2.9:80";
}

/* Writes complete at once: nothing is ever in flight. */
int px_wq_flush(struct px_wq *q, uv_stream_t *to, uv_write_cb cb, void *data)
{
    (void)to, (void)cb, (void)data;
    CHECK_INT(px_buf_append(&upstream_got, q->pending.data, q->pending.len), 0);
    q->pending.len = 0;
    return 0;
}

void px_wq_done(struct px_wq *q)
{
    q->busy = false;
}

void px_wq_trim(struct px_wq *q, size_t keep)
{
    (void)q, (void)keep;
}

void px_wq_free(struct px_wq *q)
{
    px_buf_free(&q->pending);
    px_buf_free(&q->inflight);
}

/* The upstream sends s (NULL: it closes). */
static void upstream_sends(const char *s)
{
    CHECK(reader != NULL);
    if (!reader)
        return;
    uv_buf_t b = uv_buf_init((char *)s, s ? (unsigned)strlen(s) : 0);
    reader((uv_stream_t *)&upc.stream, s ? (ssize_t)strlen(s) : UV_EOF, &b);
}

#endif
