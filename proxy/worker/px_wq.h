/* A write queue towards one libuv stream (wq.c): bytes are appended to `pending`; at most
 * one uv_write (of `inflight`) is outstanding; the two buffers swap, so steady state
 * allocates nothing. The queue knows nothing of its owner: px_wq_flush reports a started
 * write, and the owner holds a reference on itself until the write callback has run.
 */
#ifndef TWOFOLD_PX_WQ_H
#define TWOFOLD_PX_WQ_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "px_buf.h"

struct px_wq {
    struct px_buf pending, inflight;
    uv_write_t req;
    uv_stream_t *inflight_to; /* the stream the outstanding write went to */
    bool busy;
};

/* Starts one write of q's pending bytes to `to` unless one is in flight. req.data is set
 * to data for cb. Returns 1 (started: cb will run and must call px_wq_done), 0 (nothing
 * to do) or a negative libuv error (nothing started, the pending bytes are dropped). */
int px_wq_flush(struct px_wq *q, uv_stream_t *to, uv_write_cb cb, void *data);
/* The outstanding write completed (from its callback): the queue may start another. */
void px_wq_done(struct px_wq *q);
static inline size_t px_wq_queued(const struct px_wq *q)
{
    return q->pending.len + q->inflight.len;
}
/* Frees buffers larger than keep that hold nothing (an idle connection holds no large
 * buffer after a big transfer). */
void px_wq_trim(struct px_wq *q, size_t keep);
void px_wq_free(struct px_wq *q);

#endif
