/* A protocol session: what a client transport (struct px_conn, conn.c) speaks once the
 * TLS handshake is done. The transport owns the socket, the TLS engine, the phase timer,
 * the client write queue and backpressure, and knows nothing of the protocol; it reports
 * to the session only through these operations, and the session answers through the
 * transport's interface in px_conn_internal.h (px_conn_cli_commit, px_conn_close,
 * px_conn_update_reading, px_conn_session_timer, px_conn_trim).
 *
 * The session is chosen when the handshake completes (by ALPN) and opened then; its
 * state is its own object at c->session, made by open and freed by free. Its requests
 * are exchanges (px_exchange.h), as many in flight as the protocol allows. Every
 * operation may close the connection; the transport checks px_conn_closing() after each
 * call.
 */
#ifndef TWOFOLD_PX_SESSION_H
#define TWOFOLD_PX_SESSION_H

#include <stdbool.h>

struct px_conn;

/* Why on_close is called. */
enum px_session_close {
    PX_SESSION_DRAIN,   /* the worker shuts down: finish what is in flight, then close */
    PX_SESSION_CLOSING, /* px_conn_close began: account for what is in flight, drop upstreams */
    PX_SESSION_CLOSED,  /* the handles are closing: drop everything, no I/O any more */
};

struct px_session_ops {
    const char *name;
    /* Creates the session's state (c->session) once the handshake is done, and arms its
     * timer for the first request; 0 or -1 (the connection is closed; free still runs
     * when c->session was set). */
    int (*open)(struct px_conn *c);
    /* Frees the session's state; the connection's last close callback has run. */
    void (*free)(struct px_conn *c);
    /* Decrypted client bytes wait in c->in[c->in_off .. c->in.len): consume what can be
     * consumed now; keep the rest for the next call. */
    void (*on_plaintext)(struct px_conn *c);
    /* A write to the client completed: the client queue holds less than before. */
    void (*on_drained)(struct px_conn *c);
    /* Whether the transport should read more client bytes (the session's own queues
     * towards its upstreams allow it). */
    bool (*wants_input)(struct px_conn *c);
    /* The session's timer (px_conn_session_timer) fired. */
    void (*on_timeout)(struct px_conn *c);
    void (*on_close)(struct px_conn *c, enum px_session_close how);
};

/* HTTP/1.1 (and 1.0): one exchange at a time, pipelined requests answered in order. */
extern const struct px_session_ops px_session_h1;
/* HTTP/2 (ALPN "h2"): many streams, each an exchange (session_h2.c). */
extern const struct px_session_ops px_session_h2;

#endif
