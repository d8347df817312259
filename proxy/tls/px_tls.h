/* The TLS engine: one server SSL over two memory BIOs. It knows nothing of sockets, so it
 * can be driven in memory (tests/unit/tls/test_tls.c) as well as over libuv.
 *
 * Contract: after every call that may produce ciphertext (feed/handshake/read/write/
 * shutdown) the caller drains px_tls_take_output() and sends it. Plaintext writes are
 * always accepted whole (memory BIOs never block).
 */
#ifndef TWOFOLD_PX_TLS_H
#define TWOFOLD_PX_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "px_buf.h"

enum {
    PX_TLS_WANT = 0,   /* need more ciphertext */
    PX_TLS_EOF = -1,   /* peer sent close_notify */
    PX_TLS_ERROR = -2, /* fatal: handshake failure, bad record, ... */
};

/* The engine's state; it only moves forward (tls.c asserts the transitions):
 *   CLOSED       no SSL (before px_tls_init, after px_tls_close);
 *   HANDSHAKING  px_tls_handshake runs until it returns 1;
 *   OPEN         the handshake is done: px_tls_read and px_tls_write allowed;
 *   SHUTDOWN     close_notify queued (px_tls_shutdown): reads only, no more writes.
 * CLOSED -> HANDSHAKING -> OPEN -> SHUTDOWN; any state -> CLOSED (px_tls_close). */
enum px_tls_state {
    PX_TLS_CLOSED,
    PX_TLS_HANDSHAKING,
    PX_TLS_OPEN,
    PX_TLS_SHUTDOWN,
};

struct px_tls {
    SSL *ssl;
    BIO *in;                 /* ciphertext from the network, read by OpenSSL */
    BIO *out;                /* ciphertext produced by OpenSSL, taken by the caller */
    enum px_tls_state state; /* only tls.c writes it */
    char err[160];           /* last error, for logs */

    /* For the failed-handshake log: the last ClientHello received, as the reassembled
     * handshake message (type, 24-bit length, body; an SSLv2-format hello keeps its
     * 2-byte record header), malloc'd at its size when it arrives and freed as soon as
     * the handshake completes, so a finished handshake keeps no copy. NULL: none yet. */
    unsigned char *hello;
    size_t hello_len;
    bool alert_sent, alert_recv;       /* a fatal alert went out / came in */
    unsigned char alert_out, alert_in; /* their descriptions */
    unsigned long err_code;            /* first OpenSSL error of the failed call, 0: none */
    const unsigned char *alpn;         /* protocols offered (ALPN wire format), the caller's */
    unsigned alpn_len;
};

/* Creates the server SSL from ctx (a snapshot's base context). app_data is stored with
 * SSL_set_app_data for callbacks. Returns 0 or negative. */
int px_tls_init(struct px_tls *t, SSL_CTX *ctx, void *app_data);
void px_tls_close(struct px_tls *t); /* frees the SSL; safe on a zeroed struct */

/* The handshake completed (OPEN or SHUTDOWN). */
static inline bool px_tls_handshake_done(const struct px_tls *t)
{
    return t->state >= PX_TLS_OPEN;
}
/* Application data may be written: the handshake is done and close_notify not queued. */
static inline bool px_tls_writable(const struct px_tls *t)
{
    return t->state == PX_TLS_OPEN;
}
/* The ALPN protocols to offer on this connection, in preference order, in wire format;
 * wire must outlive the handshake. Unset: "http/1.1". */
void px_tls_set_alpn(struct px_tls *t, const unsigned char *wire, unsigned len);
/* The protocol ALPN chose ("h2", "http/1.1"), or NULL when none was negotiated. */
const char *px_tls_alpn(const struct px_tls *t);

/* Ciphertext received from the network. */
int px_tls_feed(struct px_tls *t, const void *data, size_t n);
/* Advances the handshake: 1 done, PX_TLS_WANT, or PX_TLS_ERROR. */
int px_tls_handshake(struct px_tls *t);
/* Decrypted bytes into buf: >0 count, PX_TLS_WANT, PX_TLS_EOF or PX_TLS_ERROR. */
int px_tls_read(struct px_tls *t, char *buf, size_t cap);
/* Encrypts n plaintext bytes. 0 or PX_TLS_ERROR. */
int px_tls_write(struct px_tls *t, const void *data, size_t n);
/* Queues close_notify once. */
void px_tls_shutdown(struct px_tls *t);
/* Ciphertext waiting to be sent. */
size_t px_tls_pending_output(const struct px_tls *t);
/* Moves all pending ciphertext into out (appended). Returns bytes moved. */
size_t px_tls_take_output(struct px_tls *t, struct px_buf *out);

/* Releases OpenSSL's record buffers and an oversized input BIO buffer when all received
 * ciphertext has been consumed (call when reading would block), so an idle connection
 * holds only its SSL state. */
void px_tls_release_buffers(struct px_tls *t);

/* Why the handshake failed, as a short token, from what OpenSSL reported and the alerts
 * exchanged: "protocol_version", "no_shared_cipher", "inappropriate_fallback",
 * "decode_error", "client_alert_unknown_ca", ... (the alert's RFC name where one was sent).
 * Does not know the ClientHello callback's own refusals (cs_ssl_fail). buf holds the
 * token when it is built. */
const char *px_tls_fail_reason(const struct px_tls *t, char *buf, size_t len);

/* Negotiated details for logs and counters. */
const char *px_tls_version(const struct px_tls *t); /* "TLSv1.3" */
const char *px_tls_cipher(const struct px_tls *t);
const char *px_tls_sni(const struct px_tls *t); /* NULL when none */

/* Proxy-side context setup installed as cs_conf.ctx_setup: ALPN (http/1.1 only),
 * renegotiation refused, no early data, release buffers, and the session ticket key ring
 * when arg (a struct px_tickets *) is not NULL. */
int px_tls_ctx_setup(SSL_CTX *ctx, void *arg);

#endif
