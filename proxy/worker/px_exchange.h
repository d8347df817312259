/* The exchange (exchange.c): one request/response with its upstream connection, on
 * behalf of an owner (the HTTP/1 session's request, an HTTP/2 stream). The owner gives it
 * the request in upstream (HTTP/1.1) form; the exchange acquires an upstream connection
 * (pooled or new), writes the request out through its own write queue, parses the
 * response and hands it back through callbacks, with its own response timer and one
 * retry of an idempotent request on a stale pooled connection. It knows nothing of the
 * client transport: the owner renders the response in its protocol.
 *
 * Ownership: the owner creates the exchange (px_xchg_new) and ends it (px_xchg_destroy);
 * after destroy no callback runs and the owner must not name it again. The memory lives
 * on until the exchange's timer is closed and its write in flight has completed.
 *
 * Reentrancy: every callback may call px_xchg_destroy, px_xchg_drop or px_xchg_reset on
 * its own exchange; the exchange checks for that after each callback.
 */
#ifndef TWOFOLD_PX_EXCHANGE_H
#define TWOFOLD_PX_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>

#include "px_http1.h"

struct px_exchange;
struct px_worker;
struct px_gen;

/* The exchange's state; px_xchg_* assert the transitions:
 *   IDLE        no request (a new exchange, or after px_xchg_reset);
 *   CONNECTING  the request is queued; an upstream connection is being connected;
 *   SENDING     attached to an upstream connection; no final response head yet;
 *   RECEIVING   a final response head was delivered; the body follows;
 *   TUNNEL      a 101 was delivered: raw bytes both ways until either side closes;
 *   DONE        complete or failed: the upstream connection was given back or closed.
 * IDLE -> CONNECTING | SENDING | DONE; CONNECTING -> SENDING | DONE; SENDING ->
 * RECEIVING | CONNECTING (the retry) | DONE; RECEIVING -> TUNNEL | DONE; TUNNEL -> DONE;
 * DONE or IDLE -> IDLE (px_xchg_reset). */
enum px_xchg_state {
    PX_XS_IDLE,
    PX_XS_CONNECTING,
    PX_XS_SENDING,
    PX_XS_RECEIVING,
    PX_XS_TUNNEL,
    PX_XS_DONE,
};

/* What the exchange reports to its owner (owner is px_xchg_new's argument). */
struct px_xchg_cb {
    /* A response head: interim (1xx other than 101; more heads follow) or final. Return
     * 0, or -1 to fail the exchange (on_error 502). */
    int (*on_head)(void *owner, const struct px_h1_head *h);
    /* Decoded response body bytes; in a tunnel, the upstream's raw bytes. 0 or -1. */
    int (*on_body)(void *owner, const char *p, size_t n);
    /* One response trailer field. 0 or -1. */
    int (*on_trailer)(void *owner, const struct px_h1_header *f);
    /* What one upstream read produced has been delivered: send it on. */
    void (*on_flush)(void *owner);
    /* The response is complete and the upstream connection given back (DONE); in a
     * tunnel, the upstream closed. */
    void (*on_end)(void *owner);
    /* The exchange failed and its upstream connection is dropped (DONE): status (502,
     * 503, 504) is the answer when no response began; after one began the owner cuts
     * the response short (close, reset). */
    void (*on_error)(void *owner, int status);
    /* The 101 was delivered (on_head) and the upstream speaks the new protocol now:
     * rest[0..n) are its first bytes. The owner writes client bytes with px_xchg_send. */
    void (*on_tunnel)(void *owner, const char *rest, size_t n);
    /* Request bytes were written and the queue is below the watermark again. */
    void (*on_sent)(void *owner);
    /* Whether the owner takes response bytes now (its output towards the client below
     * its watermark). The exchange reads the upstream only while it does. */
    bool (*can_take)(void *owner);
};

/* The request as the exchange needs it; its head is given in upstream form. */
struct px_xchg_req {
    size_t upstream; /* index of the upstream (its pool) in the generation */
    int method_id;   /* llhttp method: HEAD responses have no body; idempotency */
    bool upgrade;    /* the request asks for an upgrade: a 101 may follow */
    bool http10;     /* HTTP/1.0 client: interim responses are not relayed */
};

/* A new exchange in IDLE, for owner, with the pools and limits of gen (referenced until
 * destroy). peer names the client in log lines (the owner's, outlives the exchange's
 * callbacks). NULL when out of memory. */
struct px_exchange *px_xchg_new(struct px_worker *w, struct px_gen *gen,
                                const struct px_xchg_cb *cb, void *owner, const char *peer);
/* Drops the upstream side and detaches the owner: no callback follows. */
void px_xchg_destroy(struct px_exchange *x);
/* Back to IDLE for the owner's next request (DONE or IDLE only); large idle buffers are
 * freed, small ones kept. */
void px_xchg_reset(struct px_exchange *x);

/* Starts the request: head[0..n) is queued (and kept for one retry), the upstream
 * connection acquired. Returns 0, or the status to answer with (502, 503: DONE, nothing
 * reported). */
int px_xchg_begin(struct px_exchange *x, const struct px_xchg_req *r, const char *head, size_t n);
/* Queues request bytes for the upstream; px_xchg_flush writes them. body: the bytes
 * carry request body data (a request whose body was sent is never retried); framing
 * bytes alone (a last chunk) are not body. 0, or -1 out of memory. */
int px_xchg_send(struct px_exchange *x, const char *p, size_t n, bool body);
/* Writes the queued request bytes when attached (one write in flight at a time). */
void px_xchg_flush(struct px_exchange *x);
/* The whole request was queued: the upstream connection may be pooled after the
 * response. */
void px_xchg_request_done(struct px_exchange *x);
/* The request queue is above the watermark: stop feeding until on_sent. */
bool px_xchg_blocked(const struct px_exchange *x);
/* The owner takes response bytes again (can_take turned true): read the upstream. */
void px_xchg_resume(struct px_exchange *x);
/* The owner's client took response bytes: restarts the response timer (a slow client
 * that holds the upstream back by backpressure is progress, not an upstream stall). */
void px_xchg_progress(struct px_exchange *x);
/* Cancels a connect or closes the upstream connection (DONE); no-op when IDLE or DONE. */
void px_xchg_drop(struct px_exchange *x);

enum px_xchg_state px_xchg_state(const struct px_exchange *x);
/* The upstream server that served the request ("127.0.0.1:8080"), "" before one did. */
const char *px_xchg_server(const struct px_exchange *x);

/* Whether an exchange is in flight towards its upstream (not IDLE or DONE). */
static inline bool px_xchg_busy(enum px_xchg_state s)
{
    return s != PX_XS_IDLE && s != PX_XS_DONE;
}

#endif
