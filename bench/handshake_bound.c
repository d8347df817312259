/* handshake-bound: the server-side CPU cost of one full TLS handshake with OpenSSL alone.
 *
 * A client and a server SSL talk over a BIO pair in one thread; only the time spent inside
 * the server's SSL calls (SSL_new, SSL_do_handshake, SSL_free) is counted, with
 * CLOCK_THREAD_CPUTIME_ID. This is the floor a TLS-terminating proxy cannot go below for
 * a full handshake on this machine, per key type (RSA-2048, ECDSA P-256) and version
 * (TLS 1.2, 1.3). Certificates are generated in memory at startup; nothing touches disk.
 *
 * Every handshake is checked: completed, not resumed, the expected version and key type.
 * The client sends no session and no ticket extension; a TLS 1.3 server still sends
 * --tickets NewSessionTickets (default 1, twofold's default), which is part of its cost.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WARMUP     20
#define MAX_ROUNDS 16 /* handshake flights; a full handshake needs at most 4 */

struct opts {
    long iterations;
    long tickets;
    bool json;
};

struct result {
    const char *key;
    const char *version;
    double server_mean_us, server_p50_us, client_mean_us;
};

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die_openssl(const char *what)
{
    fprintf(stderr, "handshake-bound: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* A self-signed certificate for key, valid for a day. */
static X509 *make_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    if (!x || !name || !X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"bound.invalid", -1, -1, 0) ||
        !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
        !X509_set_pubkey(x, key) || !X509_sign(x, key, EVP_sha256()))
        die_openssl("certificate generation");
    X509_NAME_free(name);
    return x;
}

static SSL_CTX *server_ctx(EVP_PKEY *key, X509 *cert, int version, long tickets)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || !SSL_CTX_use_certificate(ctx, cert) || !SSL_CTX_use_PrivateKey(ctx, key) ||
        !SSL_CTX_check_private_key(ctx) || !SSL_CTX_set_min_proto_version(ctx, version) ||
        !SSL_CTX_set_max_proto_version(ctx, version) ||
        !SSL_CTX_set_num_tickets(ctx, (size_t)tickets))
        die_openssl("server context");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

static SSL_CTX *client_ctx(int version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, version) ||
        !SSL_CTX_set_max_proto_version(ctx, version))
        die_openssl("client context");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    return ctx;
}

/* One step of one side: returns 1 when done, 0 when it wants more input, -1 on error. */
static int step(SSL *ssl)
{
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return 1;
    int e = SSL_get_error(ssl, r);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? 0 : -1;
}

/* One full handshake; adds the server's and the client's CPU time. Returns 0 or -1. */
static int handshake(SSL_CTX *sctx, SSL_CTX *cctx, int version, int key_id, uint64_t *srv_ns,
                     uint64_t *cli_ns)
{
    BIO *cb = NULL, *sb = NULL;
    if (!BIO_new_bio_pair(&cb, 0, &sb, 0))
        return -1;
    uint64_t t0 = cpu_ns();
    SSL *c = SSL_new(cctx);
    if (c) {
        SSL_set_bio(c, cb, cb);
        SSL_set_connect_state(c);
    } else {
        BIO_free(cb);
    }
    uint64_t t1 = cpu_ns();
    SSL *s = SSL_new(sctx);
    if (s) {
        SSL_set_bio(s, sb, sb);
        SSL_set_accept_state(s);
    } else {
        BIO_free(sb);
    }
    uint64_t t2 = cpu_ns();
    *cli_ns += t1 - t0;
    *srv_ns += t2 - t1;
    int rc = (c && s) ? -1 : -2, cdone = 0, sdone = 0;
    for (int round = 0; rc == -1 && round < MAX_ROUNDS; round++) {
        uint64_t a = cpu_ns();
        cdone = cdone ? 1 : step(c);
        uint64_t b = cpu_ns();
        sdone = sdone ? 1 : step(s);
        uint64_t d = cpu_ns();
        *cli_ns += b - a;
        *srv_ns += d - b;
        if (cdone < 0 || sdone < 0)
            break;
        if (cdone == 1 && sdone == 1)
            rc = 0;
    }
    if (rc == 0) {
        EVP_PKEY *peer = NULL;
        X509 *leaf = SSL_get0_peer_certificate(c);
        if (leaf)
            peer = X509_get0_pubkey(leaf);
        if (SSL_session_reused(s) || SSL_version(s) != version || !peer ||
            EVP_PKEY_get_base_id(peer) != key_id)
            rc = -1;
    }
    uint64_t t3 = cpu_ns();
    SSL_free(s);
    uint64_t t4 = cpu_ns();
    SSL_free(c);
    *srv_ns += t4 - t3;
    *cli_ns += cpu_ns() - t4;
    return rc == 0 ? 0 : -1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int run_combo(EVP_PKEY *key, X509 *cert, int key_id, int version, const struct opts *o,
                     struct result *out)
{
    SSL_CTX *sctx = server_ctx(key, cert, version, o->tickets);
    SSL_CTX *cctx = client_ctx(version);
    uint64_t *per = calloc((size_t)o->iterations, sizeof(*per));
    uint64_t srv_total = 0, cli_total = 0;
    int rc = per ? 0 : -1;
    for (long i = -WARMUP; rc == 0 && i < o->iterations; i++) {
        uint64_t srv = 0, cli = 0;
        if (handshake(sctx, cctx, version, key_id, &srv, &cli) != 0) {
            fprintf(stderr, "handshake-bound: %s %s handshake %ld failed\n", out->key, out->version,
                    i);
            ERR_print_errors_fp(stderr);
            rc = -1;
        } else if (i >= 0) {
            per[i] = srv;
            srv_total += srv;
            cli_total += cli;
        }
    }
    if (rc == 0) {
        qsort(per, (size_t)o->iterations, sizeof(*per), cmp_u64);
        out->server_mean_us = (double)srv_total / 1e3 / (double)o->iterations;
        out->server_p50_us = (double)per[o->iterations / 2] / 1e3;
        out->client_mean_us = (double)cli_total / 1e3 / (double)o->iterations;
    }
    free(per);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return rc;
}

static void print_results(const struct opts *o, const struct result *r, size_t n)
{
    if (o->json) {
        printf("{\"iterations\":%ld,\"tickets\":%ld,\"openssl\":\"%s\",\"results\":[",
               o->iterations, o->tickets, OpenSSL_version(OPENSSL_VERSION));
        for (size_t i = 0; i < n; i++)
            printf("%s{\"key\":\"%s\",\"version\":\"%s\",\"server_us\":%.1f,"
                   "\"server_us_p50\":%.1f,\"client_us\":%.1f}",
                   i ? "," : "", r[i].key, r[i].version, r[i].server_mean_us, r[i].server_p50_us,
                   r[i].client_mean_us);
        printf("]}\n");
        return;
    }
    printf("%s, %ld full handshakes per row, %ld TLS 1.3 ticket(s)\n",
           OpenSSL_version(OPENSSL_VERSION), o->iterations, o->tickets);
    printf("%-12s %-8s %16s %14s %16s\n", "key", "version", "server us/hs", "server p50",
           "client us/hs");
    for (size_t i = 0; i < n; i++)
        printf("%-12s %-8s %16.1f %14.1f %16.1f\n", r[i].key, r[i].version, r[i].server_mean_us,
               r[i].server_p50_us, r[i].client_mean_us);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: handshake-bound [--iterations N] [--tickets N] [--json]\n"
               "  Server CPU per full TLS handshake with OpenSSL alone (in memory), for\n"
               "  RSA-2048 and ECDSA P-256 over TLS 1.2 and 1.3.\n"
               "  --iterations N  handshakes per combination (default 2000)\n"
               "  --tickets N     TLS 1.3 session tickets the server sends (default 1)\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.iterations = 2000, .tickets = 1};
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--json") == 0) {
            o->json = true;
        } else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            o->iterations = strtol(argv[++i], &end, 10);
            if (*end || o->iterations < 1 || o->iterations > 10000000)
                return -1;
        } else if (strcmp(argv[i], "--tickets") == 0 && i + 1 < argc) {
            o->tickets = strtol(argv[++i], &end, 10);
            if (*end || o->tickets < 0 || o->tickets > 16)
                return -1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        } else {
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!rsa || !ec)
        die_openssl("key generation");
    X509 *rsa_cert = make_cert(rsa), *ec_cert = make_cert(ec);
    struct result r[4] = {
        {.key = "RSA-2048", .version = "TLSv1.2"},
        {.key = "RSA-2048", .version = "TLSv1.3"},
        {.key = "ECDSA P-256", .version = "TLSv1.2"},
        {.key = "ECDSA P-256", .version = "TLSv1.3"},
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < 4; i++) {
        bool is_rsa = i < 2;
        int version = (i % 2) ? TLS1_3_VERSION : TLS1_2_VERSION;
        rc = run_combo(is_rsa ? rsa : ec, is_rsa ? rsa_cert : ec_cert,
                       is_rsa ? EVP_PKEY_RSA : EVP_PKEY_EC, version, &o, &r[i]);
    }
    if (rc == 0)
        print_results(&o, r, 4);
    X509_free(rsa_cert);
    X509_free(ec_cert);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    return rc == 0 ? 0 : 1;
}
