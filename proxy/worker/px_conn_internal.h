/* Private to proxy/worker/: the client transport (conn.c), its HTTP/1 session (session_h1.c)
 * and the exchange (exchange.c).
 *
 * Ownership: a px_conn embeds its uv handles and write requests. `refs` counts the open
 * handles (tcp, timer, up_timer) plus uv_write requests in flight on either side; the
 * conn is freed when it drops to zero, after every callback that could name it has run.
 */
#ifndef TWOFOLD_PX_CONN_INTERNAL_H
#define TWOFOLD_PX_CONN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "px_check.h"
#include "px_conn.h"
#include "px_http1.h"
#include "px_session.h"
#include "px_tls.h"

struct px_upconn;

/* A write queue: bytes are appended to `pending`; at most one uv_write (of `inflight`) is
 * outstanding; the two buffers swap, so steady state allocates nothing. */
struct px_wq {
    struct px_buf pending, inflight;
    uv_write_t req;
    uv_stream_t *inflight_to; /* the stream the outstanding write went to */
    bool busy;
};

enum px_phase {
    PH_HANDSHAKE, /* timer: handshake_ms */
    PH_HEAD,      /* timer: header_ms -> 408 */
    PH_IDLE,      /* timer: idle_ms -> quiet close */
    PH_BUSY,      /* a request is in flight; the session's timer (body rate) or none */
    PH_LINGER,    /* closing, flushing the last bytes; timer bounds it */
};

/* The connection's lifecycle; it only moves forward (conn_set_state asserts the allowed
 * transitions: OPEN -> CLOSING -> CLOSED, or OPEN -> CLOSED at once).
 *   OPEN     reading and answering;
 *   CLOSING  px_conn_close ran: no new work, the last bytes are being flushed;
 *   CLOSED   the libuv handles are closing or closed: no I/O at all, waiting for the
 *            close callbacks (refs) before the memory is freed. */
enum px_conn_state {
    PX_CONN_OPEN,
    PX_CONN_CLOSING,
    PX_CONN_CLOSED,
};

/* The request/response exchange in flight on the connection (px_xchg_set asserts the
 * transitions; setting IDLE, the session's request reset, is allowed from any state):
 *   IDLE      no request: waiting for a head (or parsing one);
 *   REQUEST   a head was parsed (or refused): its response has not begun;
 *   RESPONSE  a final response began towards the client (relayed, an error, a local
 *             answer): no other response may follow for this request;
 *   TUNNEL    a 101 was relayed: bytes flow both ways as they are; already accounted;
 *   LOGGED    accounted (stats, access log): the connection closes or resets next.
 * IDLE -> REQUEST -> RESPONSE -> TUNNEL; REQUEST or RESPONSE -> LOGGED. */
enum px_xchg_state {
    PX_XS_IDLE,
    PX_XS_REQUEST,
    PX_XS_RESPONSE,
    PX_XS_TUNNEL,
    PX_XS_LOGGED,
};

/* The exchange's hold on its upstream connection c->uc:
 *   NONE        no connection (c->uc NULL);
 *   CONNECTING  c->uc is a pending acquire: cancel it, never read or write it;
 *   ATTACHED    c->uc is connected (or pooled) and ours until released.
 * NONE -> CONNECTING -> NONE (the connect's outcome) -> ATTACHED -> NONE. */
enum px_uc_state {
    PX_UC_NONE,
    PX_UC_CONNECTING,
    PX_UC_ATTACHED,
};

#define PX_CONN_MAGIC 0x50434f4eu /* "PCON" */

struct px_conn {
    PX_MAGIC_FIELD;
    struct px_list link;              /* in w->conns */
    const struct px_session_ops *ops; /* the protocol spoken (px_session_h1) */
    struct px_worker *w;
    struct cs_snapshot *snap; /* one reference, released at free */
    struct px_gen *gen;       /* config + upstream pools it was accepted under (a reference) */
    uv_tcp_t tcp;
    uv_timer_t timer;    /* client-side phase timer */
    uv_timer_t up_timer; /* upstream response timeout */
    int refs;
    struct px_tls tls;
    char peer[64]; /* client IP, for X-Forwarded-For and the access log */
    enum px_phase phase;

    struct px_wq cli;   /* ciphertext to the client */
    struct px_wq up;    /* plaintext to the upstream */
    struct px_buf out;  /* response plaintext collected before one px_tls_write */
    uint64_t plain_out; /* plaintext bytes encrypted towards the client, in all */

    /* client plaintext not yet parsed: in.data[in_off .. in.len) */
    struct px_buf in;
    size_t in_off;

    enum px_conn_state state;
    bool reading;     /* client uv_read_start active */
    bool up_reading;  /* upstream uv_read_start active */
    bool draining;    /* finish the current response, then close */
    bool close_after; /* close after the current response */

    /* request parser and the request in flight */
    struct px_h1_parser *req_parser;
    enum px_xchg_state xs;
    bool req_done, req_upgrade;
    enum px_h1_body req_body;
    bool req_te_trailers; /* the client offered "TE: trailers": relay response trailers */
    int req_method_id, req_minor;
    uint64_t req_body_seen; /* decoded body bytes consumed from the client */
    uint64_t body_mark;     /* req_body_seen at the start of the body-rate window */
    struct px_buf req_head; /* head as sent upstream, kept for one retry */
    bool retried;
    bool local_answer; /* answered by the proxy itself (Max-Forwards: 0); body discarded */
    size_t upstream_idx;
    char method[16];
    char path[512];
    size_t path_len;
    struct timespec req_wall;
    uint64_t req_start_ms;

    /* upstream side */
    struct px_upconn *uc;
    enum px_uc_state uc_state; /* how c->uc is held */
    char upstream_name[80];
    struct px_h1_parser *resp_parser;
    bool resp_parser_dirty; /* bytes of a response seen: needs a fresh parser to reuse */
    bool resp_any;          /* any response byte arrived for this request */
    bool resp_interim;      /* inside a 1xx interim response */
    bool resp_ended;        /* the response parser reported the end */
    bool resp_chunked;      /* re-chunk the body towards the client */
    bool resp_trailers;     /* a trailer section towards the client is open */
    bool resp_keep_alive;
    int resp_status;    /* the final status sent or being sent to the client; 0 none yet */
    int failed_status;  /* set by a parser callback that stopped the parser: answer this */
    uint64_t resp_mark; /* plain_out when the request began: the response's bytes follow */
};

/* The exchange holds a connected upstream connection. */
static inline bool px_xchg_attached(const struct px_conn *c)
{
    return c->uc_state == PX_UC_ATTACHED;
}

/* A request is in flight and not yet accounted. */
static inline bool px_xchg_active(const struct px_conn *c)
{
    return c->xs == PX_XS_REQUEST || c->xs == PX_XS_RESPONSE;
}
/* A final response began towards the client. */
static inline bool px_xchg_responded(const struct px_conn *c)
{
    return c->xs == PX_XS_RESPONSE || c->xs == PX_XS_TUNNEL;
}
static inline bool px_xchg_tunnel(const struct px_conn *c)
{
    return c->xs == PX_XS_TUNNEL;
}

/* A void * given to a parser, a pool or a libuv handle is the connection: checked. */
static inline struct px_conn *px_conn_of(void *ud)
{
    struct px_conn *c;
    PX_CAST(c, (struct px_conn *)ud, PX_CONN_MAGIC);
    return c;
}

/* Called by a parser callback that stops its parser: the status to answer with once the
 * feed returns PX_H1_ABORTED. */
static inline int px_conn_fail(struct px_conn *c, int status)
{
    c->failed_status = status;
    return 1;
}

/* The transport's interface to its session (conn.c). */
/* No new work is started once closing (CLOSING or CLOSED). */
static inline bool px_conn_closing(const struct px_conn *c)
{
    return c->state != PX_CONN_OPEN;
}
/* The handles are closed: no libuv call may name them. */
static inline bool px_conn_closed(const struct px_conn *c)
{
    return c->state == PX_CONN_CLOSED;
}
void px_conn_cli_commit(struct px_conn *c); /* encrypt c->out, queue, flush */
void px_conn_close(struct px_conn *c, bool notify);
void px_conn_update_reading(struct px_conn *c);              /* start/stop reading the client */
void px_conn_set_phase(struct px_conn *c, enum px_phase ph); /* and its configured timer */
void px_conn_set_timer(struct px_conn *c, enum px_phase ph, unsigned ms); /* 0: none */
void px_conn_trim(struct px_conn *c); /* idle: free large empty buffers */
/* Starts one write of q's pending bytes to `to` unless one is in flight: 1 started (the
 * conn holds a reference until cb runs, which must px_conn_unref), 0 nothing to do, or a
 * negative libuv error (cb will not run). */
int px_wq_flush(struct px_conn *c, struct px_wq *q, uv_stream_t *to, uv_write_cb cb);
size_t px_wq_queued(const struct px_wq *q);
bool px_conn_up_blocked(const struct px_conn *c); /* upstream queue above watermark */
bool px_conn_cli_blocked(const struct px_conn *c);
void px_conn_unref(struct px_conn *c);

#endif
