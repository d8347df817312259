/* Write queues (px_wq.h). */
#include "px_wq.h"

#include <assert.h>

int px_wq_flush(struct px_wq *q, uv_stream_t *to, uv_write_cb cb, void *data)
{
    if (q->busy || q->pending.len == 0)
        return 0;
    struct px_buf tmp = q->inflight;
    q->inflight = q->pending;
    q->pending = tmp;
    q->pending.len = 0;
    uv_buf_t b = uv_buf_init(q->inflight.data, (unsigned)q->inflight.len);
    q->req.data = data;
    int r = uv_write(&q->req, to, &b, 1, cb);
    if (r < 0) {
        q->inflight.len = 0;
        return r;
    }
    q->busy = true;
    q->inflight_to = to;
    return 1;
}

void px_wq_done(struct px_wq *q)
{
    assert(q->busy);
    q->busy = false;
    q->inflight.len = 0;
    q->inflight_to = NULL;
}

void px_wq_trim(struct px_wq *q, size_t keep)
{
    if (q->pending.len == 0 && q->pending.cap > keep)
        px_buf_free(&q->pending);
    if (!q->busy && q->inflight.cap > keep)
        px_buf_free(&q->inflight);
}

void px_wq_free(struct px_wq *q)
{
    px_buf_free(&q->pending);
    px_buf_free(&q->inflight);
}
