/* Private to proxy/worker/: the client transport (conn.c) and what its sessions
 * (session_h1.c) may use of it.
 *
 * Ownership: a px_conn embeds its uv handles and its write request. `refs` counts the
 * open handles (tcp, timer) plus the client write in flight; the conn is freed when it
 * drops to zero, after every callback that could name it has run. The session's state
 * (c->session) is made by ops->open and freed by ops->free, just before the conn.
 */
#ifndef TWOFOLD_PX_CONN_INTERNAL_H
#define TWOFOLD_PX_CONN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "px_check.h"
#include "px_config.h"
#include "px_conn.h"
#include "px_buf.h"
#include "px_list.h"
#include "px_session.h"
#include "px_tls.h"
#include "px_wq.h"

/* What the phase timer is for. */
enum px_phase {
    PH_HANDSHAKE, /* timer: handshake_ms */
    PH_SESSION,   /* the session's (px_conn_session_timer): on_timeout when it fires */
    PH_LINGER,    /* closing: flushing the last bytes, then draining input; bounded */
};

/* The connection's lifecycle; it only moves forward (conn_set_state asserts the allowed
 * transitions):
 *   HANDSHAKE  the TLS handshake runs; no session yet;
 *   OPEN       a session speaks on the connection (c->ops, c->session);
 *   CLOSING    px_conn_close ran: no new work, the last bytes are being flushed;
 *   CLOSED     the libuv handles are closing or closed: no I/O at all, waiting for the
 *              close callbacks (refs) before the memory is freed.
 * HANDSHAKE -> OPEN -> CLOSING -> CLOSED; any state -> CLOSING or CLOSED at once. */
enum px_conn_state {
    PX_CONN_HANDSHAKE,
    PX_CONN_OPEN,
    PX_CONN_CLOSING,
    PX_CONN_CLOSED,
};

#define PX_CONN_MAGIC 0x50434f4eu /* "PCON" */

struct px_conn {
    PX_MAGIC_FIELD;
    enum px_conn_state state;
    struct px_list link;              /* in w->conns */
    const struct px_session_ops *ops; /* the protocol spoken; NULL during the handshake */
    void *session;                    /* the session's own state (ops->open makes it) */
    struct px_worker *w;
    struct cs_snapshot *snap; /* one reference, released at free */
    struct px_gen *gen;       /* config + upstream pools it was accepted under (a reference) */
    uv_tcp_t tcp;
    uv_timer_t timer; /* the phase timer */
    int refs;
    struct px_tls tls;
    struct px_alpn alpn; /* the protocols its listener offered */
    char peer[64];       /* client IP, for X-Forwarded-For and the access log */
    enum px_phase phase;

    struct px_wq cli;   /* ciphertext to the client */
    struct px_buf out;  /* response plaintext collected before one px_tls_write */
    uint64_t plain_out; /* plaintext bytes encrypted towards the client, in all */

    /* client plaintext not yet parsed: in.data[in_off .. in.len) */
    struct px_buf in;
    size_t in_off;

    uv_shutdown_t sreq; /* the write side's shutdown before lingering */
    bool reading;       /* client uv_read_start active */
    bool linger;        /* an orderly close: drain the client's input after our last bytes */
    bool draining;      /* the worker drains: sessions finish what is in flight, then close */
};

/* A void * given to a libuv handle is the connection: checked. */
static inline struct px_conn *px_conn_of(void *ud)
{
    struct px_conn *c;
    PX_CAST(c, (struct px_conn *)ud, PX_CONN_MAGIC);
    return c;
}

/* The transport's interface to its session (conn.c). */
/* No new work is started once closing (CLOSING or CLOSED). */
static inline bool px_conn_closing(const struct px_conn *c)
{
    return c->state >= PX_CONN_CLOSING;
}
/* The handles are closed: no libuv call may name them. */
static inline bool px_conn_closed(const struct px_conn *c)
{
    return c->state == PX_CONN_CLOSED;
}
void px_conn_cli_commit(struct px_conn *c); /* encrypt c->out, queue, flush */
void px_conn_close(struct px_conn *c, bool notify);
void px_conn_update_reading(struct px_conn *c); /* start/stop reading the client */
/* Arms the session's timer: on_timeout after ms without another call; 0 stops it. */
void px_conn_session_timer(struct px_conn *c, unsigned ms);
void px_conn_trim(struct px_conn *c);              /* waiting: free large empty buffers */
bool px_conn_cli_blocked(const struct px_conn *c); /* client queue above the watermark */

#endif
