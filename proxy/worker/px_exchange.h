/* The exchange (exchange.c) and the HTTP/1 session (session_h1.c), as each calls the
 * other. Private to proxy/worker/.
 *
 * The exchange is one request/response with its upstream connection: the session has
 * parsed a request head and queued its upstream form in c->up; the exchange acquires an
 * upstream connection, writes the request out, parses the response and writes it,
 * rewritten, into the client's plaintext (c->out). It reads no transport field beyond
 * the write queues and the plaintext buffer it is given, and reports back to the session
 * through the px_h1s_* calls below (error, accounting, end) and the session's
 * on_plaintext operation (more client bytes may be parsed now).
 */
#ifndef TWOFOLD_PX_EXCHANGE_H
#define TWOFOLD_PX_EXCHANGE_H

#include "px_conn_internal.h"

/* ---- exchange.c ---- */

/* Moves the exchange state (enum px_xchg_state), asserting the transition. */
void px_xchg_set(struct px_conn *c, enum px_xchg_state to);
/* Asks the pools for an upstream connection for c->upstream_idx (flags: PX_UP_FRESH or
 * 0). Returns 0 (ready or pending), or the status to answer with (502, 503). */
int px_xchg_acquire(struct px_conn *c, unsigned flags);
/* Cancels a connect or closes the upstream connection; no-op without one. */
void px_xchg_drop(struct px_conn *c);
/* Writes queued request bytes to the upstream when one is attached. */
void px_xchg_flush(struct px_conn *c);
/* Starts or stops reading the upstream as the client queue allows. */
void px_xchg_resume(struct px_conn *c);
/* Client reading per the transport's rule, upstream reading per the client queue. */
void px_xchg_reading(struct px_conn *c);
/* Restarts the upstream response timer (progress was made). */
void px_xchg_progress(struct px_conn *c);
/* Frees the response parser and the kept request head. */
void px_xchg_free(struct px_conn *c);

/* ---- session_h1.c: what the exchange reports ---- */

/* on_error: answers status (502, 504, ...) unless a response began, then closes. */
void px_h1s_error(struct px_conn *c, int status);
/* Accounts for the request (stats, access log); the exchange is LOGGED after. */
void px_h1s_log(struct px_conn *c);
/* on_end: the response is complete and the upstream connection given back. */
void px_h1s_end(struct px_conn *c);

#endif
