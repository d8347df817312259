/* TLS engine over memory BIOs. See px_tls.h for the contract. */
#include "px_tls.h"

#include "px_tickets.h"

#include <assert.h>
#include <ctype.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

static void record_error(struct px_tls *t, const char *what, int ssl_err)
{
    unsigned long e = ERR_peek_error();
    char reason[120] = "";
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    t->err_code = e;
    snprintf(t->err, sizeof t->err, "%s: ssl error %d%s%s", what, ssl_err, reason[0] ? ": " : "",
             reason);
    ERR_clear_error();
}

static void drop_hello(struct px_tls *t)
{
    free(t->hello);
    t->hello = NULL;
    t->hello_len = 0;
}

/* Keeps a copy of each ClientHello received (a second one after HelloRetryRequest
 * replaces the first) and notes fatal alerts. OpenSSL calls it for every handshake message
 * and record header both ways until the handshake is done, so everything else returns at
 * the first tests. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    struct px_tls *t = arg;
    const unsigned char *p = buf;
    (void)ssl;
    if (content_type == SSL3_RT_ALERT && len >= 2 && p[0] == SSL3_AL_FATAL) {
        if (write_p && !t->alert_sent) {
            t->alert_sent = true;
            t->alert_out = p[1];
        } else if (!write_p && !t->alert_recv) {
            t->alert_recv = true;
            t->alert_in = p[1];
        }
        return;
    }
    if (write_p || t->state != PX_TLS_HANDSHAKING || len < 1 || p[0] != SSL3_MT_CLIENT_HELLO)
        return;
    /* An SSLv2-format hello comes without its record header (content type 0); the header
     * is put back so that the bytes parse as they came over the wire. */
    bool v2 = version == SSL2_VERSION && content_type == 0;
    if (!v2 && (content_type != SSL3_RT_HANDSHAKE || len < 4))
        return;
    if (v2 && len > 0x7fff)
        return;
    size_t hdr = v2 ? 2 : 0;
    drop_hello(t);
    t->hello = malloc(len + hdr);
    if (!t->hello)
        return; /* best effort: the log then says the hello is missing */
    if (v2) {
        t->hello[0] = (unsigned char)(0x80 | len >> 8);
        t->hello[1] = (unsigned char)(len & 0xff);
    }
    memcpy(t->hello + hdr, p, len);
    t->hello_len = len + hdr;
}

/* The forward-only transitions of enum px_tls_state. */
static void tls_set_state(struct px_tls *t, enum px_tls_state to)
{
    assert(to == t->state + 1);
    t->state = to;
}

/* The SSL ex_data slot that leads callbacks back to the engine (px_tls_init sets it). */
static int tls_slot = -1;
static pthread_once_t tls_slot_once = PTHREAD_ONCE_INIT;

static void tls_slot_init(void)
{
    tls_slot = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int tls_index(void)
{
    pthread_once(&tls_slot_once, tls_slot_init);
    return tls_slot;
}

int px_tls_init(struct px_tls *t, SSL_CTX *ctx, void *app_data)
{
    assert(ctx != NULL);
    memset(t, 0, sizeof *t);
    t->ssl = SSL_new(ctx);
    if (!t->ssl)
        return -1;
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->in || !t->out) {
        BIO_free(t->in);
        BIO_free(t->out);
        SSL_free(t->ssl);
        memset(t, 0, sizeof *t);
        return -1;
    }
    /* An empty input BIO means "want more", never EOF: EOF is signalled by the socket. */
    BIO_set_mem_eof_return(t->in, -1);
    BIO_set_mem_eof_return(t->out, -1);
    SSL_set_bio(t->ssl, t->in, t->out); /* the SSL owns both BIOs now */
    SSL_set_accept_state(t->ssl);
    tls_set_state(t, PX_TLS_HANDSHAKING);
    SSL_set_app_data(t->ssl, app_data);
    if (tls_index() < 0 || !SSL_set_ex_data(t->ssl, tls_index(), t)) {
        px_tls_close(t);
        return -1;
    }
    SSL_set_msg_callback(t->ssl, on_msg);
    SSL_set_msg_callback_arg(t->ssl, t);
    return 0;
}

void px_tls_close(struct px_tls *t)
{
    if (t->ssl)
        SSL_free(t->ssl); /* frees the BIOs */
    drop_hello(t);
    t->ssl = NULL;
    t->state = PX_TLS_CLOSED;
    t->in = t->out = NULL;
}

int px_tls_feed(struct px_tls *t, const void *data, size_t n)
{
    assert(t->ssl != NULL);
    if (n == 0)
        return 0;
    if (n > (size_t)INT32_MAX)
        return PX_TLS_ERROR;
    int w = BIO_write(t->in, data, (int)n);
    return w == (int)n ? 0 : PX_TLS_ERROR;
}

int px_tls_handshake(struct px_tls *t)
{
    assert(t->ssl != NULL);
    if (px_tls_handshake_done(t))
        return 1;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        tls_set_state(t, PX_TLS_OPEN);
        drop_hello(t);
        SSL_set_msg_callback(t->ssl, NULL); /* no call per record for the data that follows */
        return 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return PX_TLS_WANT;
    record_error(t, "handshake", e);
    return PX_TLS_ERROR;
}

int px_tls_read(struct px_tls *t, char *buf, size_t cap)
{
    assert(t->ssl != NULL && px_tls_handshake_done(t));
    size_t got = 0;
    ERR_clear_error();
    if (SSL_read_ex(t->ssl, buf, cap, &got) == 1)
        return (int)got;
    int e = SSL_get_error(t->ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return PX_TLS_WANT;
    if (e == SSL_ERROR_ZERO_RETURN)
        return PX_TLS_EOF;
    record_error(t, "read", e);
    return PX_TLS_ERROR;
}

int px_tls_write(struct px_tls *t, const void *data, size_t n)
{
    assert(t->ssl != NULL && px_tls_writable(t));
    if (n == 0)
        return 0;
    size_t done = 0;
    ERR_clear_error();
    /* Memory BIOs grow as needed, so a write completes whole or fails. */
    if (SSL_write_ex(t->ssl, data, n, &done) == 1 && done == n)
        return 0;
    record_error(t, "write", SSL_get_error(t->ssl, 0));
    return PX_TLS_ERROR;
}

void px_tls_shutdown(struct px_tls *t)
{
    if (!px_tls_writable(t))
        return; /* queued once, and only on an open connection */
    tls_set_state(t, PX_TLS_SHUTDOWN);
    ERR_clear_error();
    (void)SSL_shutdown(t->ssl); /* queues close_notify; we never wait for the peer's */
    ERR_clear_error();
}

size_t px_tls_pending_output(const struct px_tls *t)
{
    return t->out ? BIO_ctrl_pending(t->out) : 0;
}

/* Memory BIOs keep the capacity they grew to (a handshake flight, a 16 KiB record) for
 * the connection's life. An emptied BIO that grew past this is replaced by a fresh one,
 * so idle connections hold no buffers. */
#define BIO_KEEP_MAX 2048

static bool bio_oversized(BIO *b)
{
    BUF_MEM *bm = NULL;
    return BIO_get_mem_ptr(b, &bm) == 1 && bm && bm->max > BIO_KEEP_MAX;
}

static BIO *fresh_bio(void)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b)
        BIO_set_mem_eof_return(b, -1);
    return b;
}

static void shrink_output(struct px_tls *t)
{
    if (!bio_oversized(t->out))
        return;
    BIO *b = fresh_bio();
    if (!b)
        return;
    SSL_set0_wbio(t->ssl, b); /* frees the old one */
    t->out = b;
}

void px_tls_release_buffers(struct px_tls *t)
{
    if (!t->ssl || BIO_ctrl_pending(t->in) != 0)
        return;
    /* SSL_MODE_RELEASE_BUFFERS frees the record buffers only after application data was
     * read; the ~17 KiB read buffer of the handshake would stay with every idle
     * connection. SSL_free_buffers does nothing while a record is pending. */
    (void)SSL_free_buffers(t->ssl);
    if (!bio_oversized(t->in))
        return;
    BIO *b = fresh_bio();
    if (!b)
        return;
    SSL_set0_rbio(t->ssl, b);
    t->in = b;
}

size_t px_tls_take_output(struct px_tls *t, struct px_buf *out)
{
    if (!t->out)
        return 0;
    char *p = NULL;
    long n = BIO_get_mem_data(t->out, &p);
    if (n <= 0)
        return 0;
    if (px_buf_append(out, p, (size_t)n) != 0)
        return 0;
    (void)BIO_reset(t->out); /* a read-write memory BIO empties on reset */
    shrink_output(t);
    return (size_t)n;
}

/* "protocol version" -> "protocol_version": OpenSSL's long alert names are the RFC's with
 * blanks (and a few capitals). */
static const char *snake(const char *prefix, const char *text, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s%s", prefix, text ? text : "unknown");
    for (int i = 0; i < n && (size_t)i < len; i++)
        buf[i] = buf[i] == ' ' || buf[i] == '-' ? '_' : (char)tolower((unsigned char)buf[i]);
    return buf;
}

const char *px_tls_fail_reason(const struct px_tls *t, char *buf, size_t len)
{
    if (ERR_GET_LIB(t->err_code) == ERR_LIB_SSL) {
        switch (ERR_GET_REASON(t->err_code)) {
        case SSL_R_NO_SHARED_CIPHER:
            return "no_shared_cipher";
        case SSL_R_INAPPROPRIATE_FALLBACK:
            return "inappropriate_fallback";
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_VERSION_TOO_LOW:
        case SSL_R_VERSION_TOO_HIGH:
            return "protocol_version";
        default:
            break;
        }
    }
    if (t->alert_recv)
        return snake("client_alert_", SSL_alert_desc_string_long(t->alert_in), buf, len);
    if (t->alert_sent)
        return snake("", SSL_alert_desc_string_long(t->alert_out), buf, len);
    if (t->err_code && ERR_reason_error_string(t->err_code))
        return snake("", ERR_reason_error_string(t->err_code), buf, len);
    return "protocol_error";
}

const char *px_tls_version(const struct px_tls *t)
{
    return t->ssl ? SSL_get_version(t->ssl) : "-";
}

const char *px_tls_cipher(const struct px_tls *t)
{
    const char *c = t->ssl ? SSL_get_cipher_name(t->ssl) : NULL;
    return c ? c : "-";
}

const char *px_tls_sni(const struct px_tls *t)
{
    return t->ssl ? SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

void px_tls_set_alpn(struct px_tls *t, const unsigned char *wire, unsigned len)
{
    t->alpn = wire;
    t->alpn_len = len;
}

const char *px_tls_alpn(const struct px_tls *t)
{
    const unsigned char *p = NULL;
    unsigned n = 0;
    if (t->ssl)
        SSL_get0_alpn_selected(t->ssl, &p, &n);
    if (n == 2 && memcmp(p, "h2", 2) == 0)
        return "h2";
    if (n == 8 && memcmp(p, "http/1.1", 8) == 0)
        return "http/1.1";
    return NULL;
}

/* ALPN: the first protocol of the connection's list (server preference) that the client
 * offers. A client offering none of them gets no ALPN at all (it may then fall back or
 * close cleanly), never a protocol we do not speak. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    static const unsigned char http11[] = "\x08http/1.1";
    const struct px_tls *t = SSL_get_ex_data(ssl, tls_index());
    const unsigned char *ours = t && t->alpn_len ? t->alpn : http11;
    unsigned ours_len = t && t->alpn_len ? t->alpn_len : sizeof http11 - 1;
    for (unsigned i = 0; i < ours_len; i += 1u + ours[i])
        for (unsigned j = 0; j < inlen; j += 1u + in[j])
            if (in[j] == ours[i] && j + 1u + in[j] <= inlen &&
                memcmp(in + j + 1, ours + i + 1, ours[i]) == 0) {
                *out = in + j + 1;
                *outlen = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
    return SSL_TLSEXT_ERR_NOACK;
}

int px_tls_ctx_setup(SSL_CTX *ctx, void *arg)
{
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_max_early_data(ctx, 0);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* Resumption is by stateless tickets only (their keys live outside snapshots, so they
     * survive reloads). A server-side session cache would hold a session per handshake in
     * a locked, per-snapshot table shared by every worker: memory and contention for
     * nothing. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /* arg: the process-wide ticket key ring (NULL in `twofold check`) */
    if (arg && px_tickets_install(ctx, arg) != 0)
        return -1;
    return 0;
}
