/* The TLS engine driven in memory: a real OpenSSL client talks to px_tls through byte
 * copies, no sockets. Covers the handshake, data both ways, ALPN, renegotiation refused,
 * close_notify, garbage input, and what a failed handshake leaves for the failed-handshake
 * log (the ClientHello copy, the reason). */
#include "tt.h"

#include "px_tls.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

static EVP_PKEY *make_key(void)
{
    return EVP_EC_gen("P-256");
}

static X509 *make_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"t.test", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_sign(x, key, EVP_sha256());
    return x;
}

static SSL_CTX *server_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    EVP_PKEY *k = make_key();
    X509 *x = make_cert(k);
    SSL_CTX_use_certificate(ctx, x);
    SSL_CTX_use_PrivateKey(ctx, k);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    px_tls_ctx_setup(ctx, NULL);
    X509_free(x);
    EVP_PKEY_free(k);
    return ctx;
}

struct client {
    SSL *ssl;
    BIO *in, *out;
};

static void client_init(struct client *c, SSL_CTX *ctx)
{
    c->ssl = SSL_new(ctx);
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(c->in, -1);
    SSL_set_bio(c->ssl, c->in, c->out);
    SSL_set_connect_state(c->ssl);
}

/* Moves bytes both ways once. Returns the number moved. */
static size_t pump(struct client *c, struct px_tls *t)
{
    size_t moved = 0;
    char buf[16384];
    int n;
    while ((n = BIO_read(c->out, buf, sizeof buf)) > 0) {
        px_tls_feed(t, buf, (size_t)n);
        moved += (size_t)n;
    }
    struct px_buf out = {0};
    px_tls_take_output(t, &out);
    if (out.len)
        BIO_write(c->in, out.data, (int)out.len);
    moved += out.len;
    px_buf_free(&out);
    return moved;
}

static int handshake(struct client *c, struct px_tls *t)
{
    int srv = PX_TLS_WANT, cli = 0;
    for (int i = 0; i < 20 && (srv != 1 || cli != 1); i++) {
        if (cli != 1) {
            cli = SSL_do_handshake(c->ssl);
            if (cli != 1 && SSL_get_error(c->ssl, cli) != SSL_ERROR_WANT_READ)
                return -1;
        }
        pump(c, t);
        if (srv != 1) {
            srv = px_tls_handshake(t);
            if (srv == PX_TLS_ERROR)
                return -2;
        }
        pump(c, t);
    }
    return srv == 1 && cli == 1 ? 0 : -3;
}

static void test_roundtrip(SSL_CTX *sctx, int version)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(cctx, version);
    SSL_CTX_set_max_proto_version(cctx, version);
    SSL_CTX_set_alpn_protos(cctx, (const unsigned char *)"\x02h2\x08http/1.1", 12);
    struct client c;
    client_init(&c, cctx);
    struct px_tls t;
    CHECK_INT(px_tls_init(&t, sctx, &c), 0);
    CHECK(SSL_get_app_data(t.ssl) == &c);
    CHECK_INT(handshake(&c, &t), 0);
    CHECK(px_tls_handshake_done(&t));
    CHECK_INT(t.state, PX_TLS_OPEN);
    CHECK(t.hello == NULL && t.hello_len == 0); /* no copy outlives a good handshake */
    CHECK_INT(SSL_version(t.ssl), version);
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(c.ssl, &alpn, &alpn_len);
    CHECK(alpn_len == 8 && memcmp(alpn, "http/1.1", 8) == 0);

    /* client -> server */
    CHECK_INT(SSL_write(c.ssl, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    pump(&c, &t);
    char buf[256];
    int n = px_tls_read(&t, buf, sizeof buf);
    CHECK_INT(n, 18);
    CHECK(n == 18 && memcmp(buf, "GET / HTTP/1.1\r\n\r\n", 18) == 0);
    CHECK_INT(px_tls_read(&t, buf, sizeof buf), PX_TLS_WANT);

    /* server -> client, a large write in one call */
    static char big[100000];
    memset(big, 'x', sizeof big);
    CHECK_INT(px_tls_write(&t, big, sizeof big), 0);
    CHECK(px_tls_pending_output(&t) > sizeof big);
    pump(&c, &t);
    size_t got = 0;
    while ((n = SSL_read(c.ssl, buf, sizeof buf)) > 0)
        got += (size_t)n;
    CHECK_INT(got, sizeof big);

    /* close_notify from the client reads as EOF */
    SSL_shutdown(c.ssl);
    pump(&c, &t);
    CHECK_INT(px_tls_read(&t, buf, sizeof buf), PX_TLS_EOF);
    px_tls_shutdown(&t);
    CHECK(px_tls_pending_output(&t) > 0);
    px_tls_close(&t);
    SSL_free(c.ssl);
    SSL_CTX_free(cctx);
}

static void test_h2_only_alpn(SSL_CTX *sctx)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_alpn_protos(cctx, (const unsigned char *)"\x02h2", 3);
    struct client c;
    client_init(&c, cctx);
    struct px_tls t;
    px_tls_init(&t, sctx, NULL);
    CHECK_INT(handshake(&c, &t), 0); /* no ALPN rather than a protocol we do not speak */
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(c.ssl, &alpn, &alpn_len);
    CHECK_INT(alpn_len, 0);
    px_tls_close(&t);
    SSL_free(c.ssl);
    SSL_CTX_free(cctx);
}

static void test_renegotiation_refused(SSL_CTX *sctx)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
    struct client c;
    client_init(&c, cctx);
    struct px_tls t;
    px_tls_init(&t, sctx, NULL);
    CHECK_INT(handshake(&c, &t), 0);
    CHECK_INT(SSL_renegotiate(c.ssl), 1);
    SSL_do_handshake(c.ssl);
    pump(&c, &t);
    char buf[64];
    px_tls_read(&t, buf, sizeof buf); /* the server answers no_renegotiation */
    pump(&c, &t);
    int r = SSL_do_handshake(c.ssl);
    CHECK(r != 1); /* the renegotiation never completes */
    CHECK_INT(SSL_num_renegotiations(c.ssl), 1);
    CHECK(SSL_renegotiate_pending(c.ssl) == 1 || r <= 0);
    px_tls_close(&t);
    SSL_free(c.ssl);
    SSL_CTX_free(cctx);
}

/* A client the server refuses: the handshake fails with its ClientHello kept (the bare
 * handshake message, as `twofold explain --clienthello` takes it) and a reason token. */
static void expect_refusal(SSL_CTX *sctx, SSL_CTX *cctx, const char *reason)
{
    struct client c;
    client_init(&c, cctx);
    SSL_set_tlsext_host_name(c.ssl, "t.test");
    struct px_tls t;
    CHECK_INT(px_tls_init(&t, sctx, &c), 0);
    CHECK_INT(handshake(&c, &t), -2);
    CHECK(!px_tls_handshake_done(&t));
    CHECK(t.hello != NULL && t.hello_len > 40);
    if (t.hello && t.hello_len > 4) {
        CHECK_INT(t.hello[0], 1); /* client_hello */
        size_t body = (size_t)t.hello[1] << 16 | (size_t)t.hello[2] << 8 | t.hello[3];
        CHECK_INT(body + 4, t.hello_len);
    }
    char buf[48];
    CHECK_STR(px_tls_fail_reason(&t, buf, sizeof buf), reason);
    px_tls_close(&t);
    CHECK(t.hello == NULL);
    SSL_free(c.ssl);
}

static void test_failure_capture(SSL_CTX *sctx)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(cctx, 0);
    SSL_CTX_set_min_proto_version(cctx, TLS1_1_VERSION);
    SSL_CTX_set_max_proto_version(cctx, TLS1_1_VERSION);
    SSL_CTX_set_cipher_list(cctx, "DEFAULT:@SECLEVEL=0");
    expect_refusal(sctx, cctx, "protocol_version");
    SSL_CTX_free(cctx);

    /* TLS 1.2 with only suites the server does not enable */
    cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(cctx, "AES128-SHA:@SECLEVEL=0");
    expect_refusal(sctx, cctx, "no_shared_cipher");
    SSL_CTX_free(cctx);

    /* TLS_FALLBACK_SCSV from a TLS 1.2 client to a TLS 1.3 server (RFC 7507) */
    cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(cctx, SSL_MODE_SEND_FALLBACK_SCSV);
    expect_refusal(sctx, cctx, "inappropriate_fallback");
    SSL_CTX_free(cctx);
}

static void test_garbage(SSL_CTX *sctx)
{
    struct px_tls t;
    px_tls_init(&t, sctx, NULL);
    CHECK_INT(px_tls_feed(&t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 0);
    CHECK_INT(px_tls_handshake(&t), PX_TLS_ERROR);
    CHECK(t.err[0] != '\0');
    CHECK(t.hello == NULL); /* no ClientHello: nothing for the failed-handshake log */
    px_tls_close(&t);
    px_tls_close(&t); /* idempotent */
}

int main(void)
{
    SSL_CTX *sctx = server_ctx();
    test_roundtrip(sctx, TLS1_3_VERSION);
    test_roundtrip(sctx, TLS1_2_VERSION);
    test_h2_only_alpn(sctx);
    test_renegotiation_refused(sctx);
    test_garbage(sctx);
    test_failure_capture(sctx);
    SSL_CTX_free(sctx);
    return tt_done();
}
