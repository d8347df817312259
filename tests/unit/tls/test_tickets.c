/* px_tickets: resumption across two contexts sharing one ring, rotation, key files, and
 * handshakes on two threads while the main thread rotates (run under TSan too). */
#include "px_tickets.h"
#include "tt.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static EVP_PKEY *g_key;
static X509 *g_cert;

/* A self-signed P-256 certificate for "localhost", made in memory. */
static int make_cert(void)
{
    g_key = EVP_EC_gen("P-256");
    g_cert = X509_new();
    if (!g_key || !g_cert)
        return -1;
    X509_set_version(g_cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(g_cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(g_cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(g_cert), 3600);
    X509_NAME *name = X509_get_subject_name(g_cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(g_cert, name);
    X509_set_pubkey(g_cert, g_key);
    return X509_sign(g_cert, g_key, EVP_sha256()) > 0 ? 0 : -1;
}

/* A server context like a snapshot's: own certificate, no server-side session cache (so
 * that only tickets can resume), the shared ring installed. */
static SSL_CTX *server_ctx(struct px_tickets *t)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    CHECK(ctx != NULL);
    CHECK_INT(SSL_CTX_use_certificate(ctx, g_cert), 1);
    CHECK_INT(SSL_CTX_use_PrivateKey(ctx, g_key), 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    CHECK_INT(px_tickets_install(ctx, t), 0);
    return ctx;
}

static SSL_CTX *client_ctx(int version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    /* Sessions are handed around by the test; a client cache would mark a session not
     * resumable once it is replaced by a renewed ticket. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

/* Moves all pending bytes from one SSL's write BIO to the other's read BIO. */
static int shuttle(SSL *from, SSL *to)
{
    char buf[16384];
    int moved = 0, n;
    while ((n = BIO_read(SSL_get_wbio(from), buf, sizeof(buf))) > 0) {
        BIO_write(SSL_get_rbio(to), buf, n);
        moved += n;
    }
    return moved;
}

static SSL *new_ssl(SSL_CTX *ctx, int server)
{
    SSL *s = SSL_new(ctx);
    SSL_set_bio(s, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    if (server)
        SSL_set_accept_state(s);
    else
        SSL_set_connect_state(s);
    return s;
}

/* One handshake in memory, offering sess when given. Returns the client's session after
 * post-handshake messages (TLS 1.3 tickets) are read, or NULL on failure; *reused tells
 * whether the server resumed. */
static SSL_SESSION *handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *sess, int *reused)
{
    SSL *c = new_ssl(cctx, 0), *s = new_ssl(sctx, 1);
    if (sess)
        SSL_set_session(c, sess);
    int cdone = 0, sdone = 0;
    for (int round = 0; round < 20 && !(cdone && sdone); round++) {
        ERR_clear_error();
        if (!cdone)
            cdone = SSL_do_handshake(c) == 1;
        shuttle(c, s);
        ERR_clear_error();
        if (!sdone)
            sdone = SSL_do_handshake(s) == 1;
        shuttle(s, c);
    }
    SSL_SESSION *out = NULL;
    if (cdone && sdone) {
        char b;
        ERR_clear_error();
        SSL_read(c, &b, 1); /* processes NewSessionTicket; no data: WANT_READ */
        *reused = SSL_session_reused(s);
        out = SSL_get1_session(c);
        /* A connection freed without close_notify marks its session not resumable. */
        SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    SSL_free(c);
    SSL_free(s);
    return out;
}

static void test_resume(int version)
{
    char err[256];
    struct px_tickets *t = px_tickets_new(NULL, 3600, err, sizeof(err));
    CHECK(t != NULL);
    SSL_CTX *a = server_ctx(t), *b = server_ctx(t), *cc = client_ctx(version);
    int reused = -1;

    SSL_SESSION *s1 = handshake(a, cc, NULL, &reused);
    CHECK(s1 != NULL);
    CHECK_INT(reused, 0);
    CHECK(s1 && SSL_SESSION_has_ticket(s1));

    /* A ticket from context A resumes on context B: a reload keeps resumption. */
    SSL_SESSION *s2 = handshake(b, cc, s1, &reused);
    CHECK(s2 != NULL);
    CHECK_INT(reused, 1);
    SSL_SESSION_free(s2);

    /* Rotation keeps the old key for decryption. */
    CHECK_INT(px_tickets_rotate(t), 0);
    CHECK_INT(px_tickets_count(t), 2);
    s2 = handshake(b, cc, s1, &reused);
    CHECK_INT(reused, 1);
    SSL_SESSION_free(s2);
    CHECK_INT(px_tickets_rotate(t), 0);
    CHECK_INT(px_tickets_count(t), 3);
    s2 = handshake(a, cc, s1, &reused);
    CHECK_INT(reused, 1);
    SSL_SESSION_free(s2);

    /* The third rotation drops the key that sealed s1: full handshake. */
    CHECK_INT(px_tickets_rotate(t), 0);
    CHECK_INT(px_tickets_count(t), PX_TICKETS_KEEP);
    s2 = handshake(b, cc, s1, &reused);
    CHECK(s2 != NULL);
    CHECK_INT(reused, 0);

    /* The fresh session resumes again. */
    SSL_SESSION *s3 = handshake(a, cc, s2, &reused);
    CHECK_INT(reused, 1);

    /* A chain of resumptions: each resumed connection hands out the ticket the next one
     * uses (TLS 1.3 clients use a ticket once, so the server must renew it). */
    SSL_SESSION *cur = s3 ? SSL_SESSION_dup(s3) : NULL;
    for (int i = 0; i < 3 && cur; i++) {
        SSL_SESSION *next = handshake(i % 2 ? a : b, cc, cur, &reused);
        CHECK_INT(reused, 1);
        CHECK(next && SSL_SESSION_has_ticket(next));
        const unsigned char *t1 = NULL, *t2 = NULL;
        size_t l1 = 0, l2 = 0;
        SSL_SESSION_get0_ticket(cur, &t1, &l1);
        if (next)
            SSL_SESSION_get0_ticket(next, &t2, &l2);
        if (version == TLS1_3_VERSION) /* TLS 1.2 clients may reuse a ticket */
            CHECK(t2 && (l1 != l2 || memcmp(t1, t2, l1) != 0)); /* a new one was issued */
        SSL_SESSION_free(cur);
        cur = next;
    }
    SSL_SESSION_free(cur);

    SSL_SESSION_free(s1);
    SSL_SESSION_free(s2);
    SSL_SESSION_free(s3);
    SSL_CTX_free(a);
    SSL_CTX_free(b);
    SSL_CTX_free(cc);
    px_tickets_free(t);
}

/* Writes text to path; returns 0. */
static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static void random_key_b64(char out[120])
{
    unsigned char raw[PX_TICKETS_KEY_LEN];
    RAND_bytes(raw, sizeof(raw));
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof(raw));
}

/* Bad key files: refused with file and line, a loaded ring keeps its keys. */
static void test_key_file_errors(const char *path, struct px_tickets *t, const char *k1)
{
    char text[1024], where[300], err[512];
    snprintf(text, sizeof(text), "%s\n# comment\nnot-base64\n", k1);
    CHECK_INT(write_file(path, text), 0);
    CHECK(px_tickets_reload_file(t, err, sizeof(err)) < 0);
    snprintf(where, sizeof(where), "%s:3:", path);
    CHECK_CONTAINS(err, where);
    size_t before = px_tickets_count(t);

    /* base64 of 48 bytes (the older 48-byte layout) */
    CHECK_INT(write_file(path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss\n"),
              0);
    CHECK(px_tickets_new(path, 0, err, sizeof(err)) == NULL);
    snprintf(where, sizeof(where), "%s:1:", path);
    CHECK_CONTAINS(err, where);
    CHECK(px_tickets_reload_file(t, err, sizeof(err)) < 0);
    CHECK_CONTAINS(err, where);

    snprintf(text, sizeof(text), "%s\n%s\n", k1, k1);
    CHECK_INT(write_file(path, text), 0);
    CHECK(px_tickets_new(path, 0, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "duplicate");

    CHECK_INT(write_file(path, "# only a comment\n"), 0);
    CHECK(px_tickets_new(path, 0, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "no keys");

    snprintf(text, sizeof(text), "%s\n", k1);
    text[10] = '*'; /* one corrupted character */
    CHECK_INT(write_file(path, text), 0);
    CHECK(px_tickets_new(path, 0, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, where);

    unlink(path);
    CHECK(px_tickets_new(path, 0, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, path);
    CHECK(px_tickets_reload_file(t, err, sizeof(err)) < 0);
    CHECK_INT(px_tickets_count(t), before);

    struct px_tickets *r = px_tickets_new(NULL, 0, err, sizeof(err));
    CHECK_INT(px_tickets_reload_file(r, err, sizeof(err)), -EPERM); /* random mode */
    CHECK_INT(px_tickets_tick(r), 0);                               /* rotate_seconds 0 */
    px_tickets_free(r);
    px_tickets_free(NULL);
}

/* Key file rings: shared by two instances, rotated by rewriting the file. */
static void test_key_file(void)
{
    char dir[] = "/tmp/twofold-tickets-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], text[1024], k1[120], k2[120], k3[120], err[512];
    snprintf(path, sizeof(path), "%s/tickets.key", dir);
    random_key_b64(k1);
    random_key_b64(k2);
    random_key_b64(k3);
    snprintf(text, sizeof(text), "# ticket keys, newest first\n\n%s\n", k1);
    CHECK_INT(write_file(path, text), 0);
    struct px_tickets *t = px_tickets_new(path, 0, err, sizeof(err));
    struct px_tickets *t2 = px_tickets_new(path, 0, err, sizeof(err));
    CHECK(t != NULL && t2 != NULL);
    CHECK_INT(px_tickets_count(t), 1);
    CHECK_INT(px_tickets_rotate(t), -EPERM);
    CHECK_INT(px_tickets_tick(t), 0);

    /* A second instance with the same file resumes this one's tickets. */
    SSL_CTX *a = server_ctx(t), *b = server_ctx(t2), *cc = client_ctx(TLS1_3_VERSION);
    int reused = -1;
    SSL_SESSION *s1 = handshake(a, cc, NULL, &reused);
    SSL_SESSION *s2 = handshake(b, cc, s1, &reused);
    CHECK_INT(reused, 1);
    SSL_SESSION_free(s2);

    /* File rotation: new key first, old kept -> old tickets still resume. */
    snprintf(text, sizeof(text), "%s\n  %s  \r\n", k2, k1);
    CHECK_INT(write_file(path, text), 0);
    CHECK_INT(px_tickets_reload_file(t, err, sizeof(err)), 0);
    CHECK_INT(px_tickets_count(t), 2);
    s2 = handshake(a, cc, s1, &reused);
    CHECK_INT(reused, 1);
    SSL_SESSION_free(s2);

    test_key_file_errors(path, t, k3);
    CHECK_INT(px_tickets_count(t), 2);
    s2 = handshake(a, cc, s1, &reused);
    CHECK_INT(reused, 1); /* failed reloads kept the keys */
    SSL_SESSION_free(s2);

    /* The old key leaves the file: its tickets no longer resume. */
    snprintf(text, sizeof(text), "%s\n", k2);
    CHECK_INT(write_file(path, text), 0);
    CHECK_INT(px_tickets_reload_file(t, err, sizeof(err)), 0);
    s2 = handshake(a, cc, s1, &reused);
    CHECK_INT(reused, 0);

    SSL_SESSION_free(s1);
    SSL_SESSION_free(s2);
    SSL_CTX_free(a);
    SSL_CTX_free(b);
    SSL_CTX_free(cc);
    px_tickets_free(t);
    px_tickets_free(t2);
    unlink(path);
    rmdir(dir);
}

struct shared {
    SSL_CTX *sctx;
    atomic_int stop;
    atomic_int handshakes;
    atomic_int resumed;
    atomic_int failures;
};

/* Worker: full handshake, then resume with its ticket, until told to stop. */
static void *worker(void *arg)
{
    struct shared *sh = arg;
    SSL_CTX *cc = client_ctx(TLS1_3_VERSION);
    SSL_SESSION *sess = NULL;
    while (!atomic_load(&sh->stop)) {
        int reused = 0;
        SSL_SESSION *next = handshake(sh->sctx, cc, sess, &reused);
        if (!next)
            atomic_fetch_add(&sh->failures, 1);
        atomic_fetch_add(&sh->handshakes, 1);
        atomic_fetch_add(&sh->resumed, reused);
        SSL_SESSION_free(sess);
        sess = next;
    }
    SSL_SESSION_free(sess);
    SSL_CTX_free(cc);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_threads(void)
{
    char err[256];
    struct px_tickets *t = px_tickets_new(NULL, 3600, err, sizeof(err));
    struct shared sh = {.sctx = server_ctx(t)};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CHECK_INT(pthread_create(&th[i], NULL, worker, &sh), 0);
    /* Rotate 100 times, each time after the workers made progress, so that rotations
     * interleave with handshakes. Bounded by a generous deadline (not an assertion). */
    double deadline = now_s() + 120;
    int rotations = 0;
    for (int i = 0; i < 100 && now_s() < deadline; i++) {
        int seen = atomic_load(&sh.handshakes);
        while (atomic_load(&sh.handshakes) < seen + 2 && now_s() < deadline)
            sched_yield();
        rotations += px_tickets_rotate(t) == 0;
    }
    atomic_store(&sh.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(rotations, 100);
    CHECK_INT(atomic_load(&sh.failures), 0);
    CHECK(atomic_load(&sh.resumed) > 0);
    CHECK_INT(px_tickets_count(t), PX_TICKETS_KEEP);
    SSL_CTX_free(sh.sctx);
    px_tickets_free(t);
}

static void test_tick(void)
{
    char err[256];
    struct px_tickets *t = px_tickets_new(NULL, 3600, err, sizeof(err));
    CHECK_INT(px_tickets_tick(t), 0); /* not due for an hour */
    CHECK_INT(px_tickets_count(t), 1);
    px_tickets_free(t);
    t = px_tickets_new(NULL, 1, err, sizeof(err));
    usleep(1100 * 1000); /* more than the period: due whatever the scheduling */
    CHECK_INT(px_tickets_tick(t), 1);
    CHECK_INT(px_tickets_count(t), 2);
    px_tickets_free(t);
}

int main(void)
{
    CHECK_INT(make_cert(), 0);
    test_resume(TLS1_3_VERSION);
    test_resume(TLS1_2_VERSION);
    test_key_file();
    test_tick();
    test_threads();
    X509_free(g_cert);
    EVP_PKEY_free(g_key);
    return tt_done();
}
