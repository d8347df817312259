/* The admin endpoint: a tiny HTTP/1.1 server on a libuv loop (default 127.0.0.1:9901).
 *
 * One request per connection: every response carries "Connection: close" and the server
 * closes after sending it (simple and robust; admin traffic is rare). Limits: request head
 * PX_ADMIN_HEAD_MAX bytes (else 431), body PX_ADMIN_BODY_MAX bytes (else 413), the whole
 * request must arrive within PX_ADMIN_TIMEOUT_MS (else the connection is closed), at most
 * PX_ADMIN_MAX_CONNS connections at once (more are closed at accept). Parsed by the HTTP/1
 * layer (px_h1), so the admin endpoint gets the same head validation as proxied requests.
 *
 * Authentication: when a token is set, every request needs "Authorization: Bearer TOKEN"
 * (compared in constant time) or gets 401 without reaching the handler.
 *
 * Requests: the handler gets a struct px_admin_req and must call px_admin_respond() on it
 * exactly once, either inside the handler or later (e.g. POST /reload answers when the
 * reload finished). The request stays valid until px_admin_respond(), even when the client
 * goes away or the server is closed in between: then the response is dropped and
 * px_admin_req_gone() says so. px_admin_respond() frees the request. Routing, including
 * 404 for unknown paths, is the handler's.
 *
 * Threads: everything, px_admin_respond() included, runs on the loop's thread; work done
 * elsewhere answers from its after-work callback (uv_queue_work) or through a uv_async_t.
 */
#ifndef TWOFOLD_PX_ADMIN_H
#define TWOFOLD_PX_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define PX_ADMIN_HEAD_MAX   8192
#define PX_ADMIN_BODY_MAX   65536
#define PX_ADMIN_TIMEOUT_MS 10000
#define PX_ADMIN_MAX_CONNS  32

struct px_admin;
struct admin_conn;

/* Read-only for the handler. All strings are NUL-terminated. */
#define PX_ADMIN_REQ_MAGIC 0x61726571u

struct px_admin_req {
    unsigned magic;     /* PX_ADMIN_REQ_MAGIC while the request is live */
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* "/reload" (percent-encoding left as sent) */
    const char *query;  /* "verbose=1", "" when none */
    const char *body;   /* NUL-terminated copy; may contain NULs, see body_len */
    size_t body_len;
    struct admin_conn *conn; /* private: NULL once the client is gone */
};

typedef void (*px_admin_handler_cb)(struct px_admin_req *req, void *arg);

/* Binds and listens on addr (port 0 picks a free port). token NULL or "": no
 * authentication. Returns NULL with a message in err naming the address. */
struct px_admin *px_admin_new(uv_loop_t *loop, const struct sockaddr *addr, const char *token,
                              px_admin_handler_cb handler, void *arg, char *err, size_t errlen);
/* Stops listening and closes every connection (pending requests become "gone"); frees the
 * server after libuv's last close callback, then calls closed_cb (may be NULL). */
void px_admin_close(struct px_admin *a, void (*closed_cb)(void *arg), void *arg);
/* Time allowed for a whole request to arrive, for connections accepted from now on
 * (0: the default PX_ADMIN_TIMEOUT_MS). */
void px_admin_set_timeout(struct px_admin *a, unsigned ms);
/* The bound port, or -1. */
int px_admin_port(const struct px_admin *a);

/* Sends status + body (content_type NULL: text/plain) and frees req. Safe after the
 * client left (the response is dropped). Returns 0 sent, -1 dropped. */
int px_admin_respond(struct px_admin_req *req, int status, const char *content_type,
                     const void *body, size_t len);
/* True when the client of req has gone away (its response would be dropped). */
bool px_admin_req_gone(const struct px_admin_req *req);

#endif
