/* A client connection: TCP (libuv) <-> TLS engine <-> HTTP/1.1 <-> upstream relay.
 * Owned by its worker; freed only after its last libuv close callback has run, at which
 * point it calls px_worker_conn_gone().
 */
#ifndef TWOFOLD_PX_CONN_H
#define TWOFOLD_PX_CONN_H

#include <uv.h>

#include "px_list.h"

struct px_worker;
struct px_conn;

/* The listener's connection callback: accepts one connection from server (the listening
 * uv_tcp_t) into a new px_conn. The conn holds a reference to w->snap for its lifetime
 * (the ClientHello callback and the access log read it). */
void px_conn_accept(struct px_worker *w, uv_stream_t *server);

/* Graceful shutdown: idle connections close now (close_notify first); a connection with
 * a request in flight finishes it, answers with Connection: close, then closes. */
void px_conn_drain(struct px_conn *c);
/* Closes at once (drain timeout, second signal). */
void px_conn_abort(struct px_conn *c);

/* The connection's link in its worker's list (px_worker.conns), and back. */
struct px_list *px_conn_link(struct px_conn *c);
struct px_conn *px_conn_of_link(struct px_list *l);

#endif
