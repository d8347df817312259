/* The base context's ClientHello callback and what it records on each SSL.
 *
 * The callback looks the SNI up in its snapshot (cs_snapshot_lookup), asks cs_select for
 * a certificate and switches the SSL to that certificate's context. It records on the SSL
 * either the (site, certificate) it chose, a pointer into the snapshot's picks array, or a
 * failure marker (&fail_mark[reason]); cs_ssl_cert, cs_ssl_site and cs_ssl_fail read that
 * record back. The picks belong to the snapshot: keep a snapshot reference for as long as
 * an SSL created from its base context may still handshake or be asked. */
#include "cs_snapshot_int.h"

#include <assert.h>
#include <stdlib.h>

/* ---- ex_data: one index, created once ---- */

static int ex_idx = -1;
static CRYPTO_ONCE ex_once = CRYPTO_ONCE_STATIC_INIT;
/* Failure markers stored instead of a pick: &fail_mark[reason]. */
static const char fail_mark[CS_FAIL__COUNT];

static void ex_init(void)
{
    ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int ex_index(void)
{
    if (!CRYPTO_THREAD_run_once(&ex_once, ex_init))
        return -1;
    return ex_idx;
}

static bool is_fail_mark(const void *p)
{
    uintptr_t u = (uintptr_t)p, b = (uintptr_t)fail_mark;
    return u >= b && u < b + CS_FAIL__COUNT;
}

static const void *ssl_mark(const SSL *ssl)
{
    int idx = ex_index();
    return idx < 0 ? NULL : SSL_get_ex_data(ssl, idx);
}

const struct cs_cert *cs_ssl_cert(const SSL *ssl)
{
    const void *p = ssl_mark(ssl);
    return p && !is_fail_mark(p) ? ((const struct pick *)p)->cert : NULL;
}

const struct cs_site *cs_ssl_site(const SSL *ssl)
{
    const void *p = ssl_mark(ssl);
    return p && !is_fail_mark(p) ? ((const struct pick *)p)->site : NULL;
}

enum cs_fail cs_ssl_fail(const SSL *ssl)
{
    const void *p = ssl_mark(ssl);
    return p && is_fail_mark(p) ? (enum cs_fail)((const char *)p - fail_mark) : CS_FAIL_NONE;
}

/* ---- the ClientHello callback ---- */

static const struct pick *find_pick(const struct cs_snapshot *s, const struct cs_site *site,
                                    const struct cs_cert *cert)
{
    size_t i = (size_t)(site - s->sites);
    for (size_t j = 0; i < s->n_sites && j < site->n_certs; j++)
        if (site->certs[j] == cert)
            return &s->picks[s->pick_off[i] + j];
    return NULL;
}

static int hello_fail(SSL *ssl, int idx, enum cs_fail f, int *al, int alert)
{
    if (idx >= 0)
        SSL_set_ex_data(ssl, idx, (void *)&fail_mark[f]);
    *al = alert;
    return SSL_CLIENT_HELLO_ERROR;
}

/* A hello OpenSSL refuses whatever certificates exist is not the callback's to judge: it
 * stays on the base context, which holds no certificate (so it cannot complete with
 * anything), and OpenSSL's own checks send their own alert (info_cb records it). f is
 * the prediction, kept when the alert says nothing more specific. */
static int hello_defer(SSL *ssl, int idx, enum cs_fail f)
{
    SSL_set_ex_data(ssl, idx, (void *)&fail_mark[f]);
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Records the reason of the fatal alert the server sends during a handshake in which no
 * certificate was chosen (before, in or deferred by the ClientHello callback), and drops a
 * prediction that OpenSSL did not confirm (a deferred hello that completed, e.g. a TLS 1.3
 * resumption without signature_algorithms). Installed on the base context and on each
 * SSL by the callback (after a context switch the SSL's own callback is the one called). */
static void info_cb(const SSL *ssl, int where, int ret)
{
    int idx = ex_index();
    const void *p;

    if (idx < 0 || !(where & (SSL_CB_WRITE_ALERT | SSL_CB_HANDSHAKE_DONE)))
        return;
    p = SSL_get_ex_data(ssl, idx);
    if (p && !is_fail_mark(p))
        return; /* a certificate was chosen: a later failure is the protocol's */
    if (where & SSL_CB_HANDSHAKE_DONE) {
        if (p)
            SSL_set_ex_data((SSL *)ssl, idx, NULL);
        return;
    }
    if ((ret >> 8) != SSL3_AL_FATAL)
        return;
    enum cs_fail f = cs_fail_from_alert(ret & 0xff);
    if (f != CS_FAIL_PROTOCOL || !p)
        SSL_set_ex_data((SSL *)ssl, idx, (void *)&fail_mark[f]);
}

/* Does nothing: the name was judged by the ClientHello callback. Its presence matters: with
 * no servername callback, OpenSSL 3.0 offers TLS 1.3 only when the context holds a
 * certificate (is_tls13_capable), and a deferred hello stays on the base context, which
 * holds none; OpenSSL must negotiate as it would with the site's certificates. */
static int servername_cb(SSL *ssl, int *al, void *arg)
{
    (void)ssl, (void)al, (void)arg;
    return SSL_TLSEXT_ERR_OK;
}

/* Runs again on the second ClientHello after a HelloRetryRequest: every step is
 * recomputed and overwritten, so a second run is harmless. */
static int hello_cb(SSL *ssl, int *al, void *arg)
{
    const struct cs_snapshot *s = arg;
    assert(s && s->magic == CS_SNAPSHOT_MAGIC);
    int idx = ex_index();
    struct cs_hello h;
    struct cs_choice ch;
    if (idx < 0)
        return hello_fail(ssl, idx, CS_FAIL_PROTOCOL, al, SSL_AD_INTERNAL_ERROR);
    SSL_set_info_callback(ssl, info_cb);
    if (cs_hello_from_ssl(ssl, &h) != 0) /* a malformed SNI list, or not a host name */
        return hello_fail(ssl, idx, CS_FAIL_DECODE, al, SSL_AD_DECODE_ERROR);
    const struct cs_entry *e = cs_snapshot_lookup(s, h.has_sni ? h.sni : NULL, NULL);
    if (cs_select(e, &h, &s->suites, &ch) != 0 || !ch.cert) {
        enum cs_fail f = ch.fail != CS_FAIL_NONE ? ch.fail : CS_FAIL_NO_CERT;
        if (f == CS_FAIL_NO_CERT || f == CS_FAIL_UNKNOWN_SNI)
            return hello_fail(ssl, idx, f, al, cs_fail_alert(f));
        return hello_defer(ssl, idx, f);
    }
    const struct pick *p = find_pick(s, e->site, ch.cert);
    if (!p || SSL_set_SSL_CTX(ssl, ch.cert->ctx) == NULL)
        return hello_fail(ssl, idx, CS_FAIL_PROTOCOL, al, SSL_AD_INTERNAL_ERROR);
    SSL_set_ex_data(ssl, idx, (void *)p);
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* ---- installing ---- */

int cs__handshake_picks(struct cs_snapshot *s)
{
    size_t certs = 0;
    for (size_t i = 0; i < s->n_sites; i++)
        certs += s->sites[i].n_certs;
    s->picks = calloc(certs ? certs : 1, sizeof(*s->picks));
    s->pick_off = calloc(s->n_sites ? s->n_sites : 1, sizeof(*s->pick_off));
    if (!s->picks || !s->pick_off)
        return -1;
    size_t np = 0;
    for (size_t i = 0; i < s->n_sites; i++) {
        const struct cs_site *site = &s->sites[i];
        s->pick_off[i] = np;
        for (size_t j = 0; j < site->n_certs; j++)
            s->picks[np++] = (struct pick){.site = site, .cert = site->certs[j]};
    }
    return 0;
}

void cs__handshake_install(SSL_CTX *base, struct cs_snapshot *s)
{
    SSL_CTX_set_client_hello_cb(base, hello_cb, s);
    SSL_CTX_set_info_callback(base, info_cb);
    SSL_CTX_set_tlsext_servername_callback(base, servername_cb);
}
