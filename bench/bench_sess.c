/* twofold-bench sessions for --mode resume: a pool per (profile, SNI) in each worker.
 *
 * An OpenSSL client uses a TLS 1.3 ticket once (the session turns not resumable after a
 * resumption), and the server sends a fresh ticket on every connection, so a TLS 1.3
 * session is taken out of the pool by the connection that offers it and each new ticket
 * goes back in: concurrent connections each hold their own. A TLS 1.2 session resumes
 * any number of times, so one is kept and shared. A session the server refused empties
 * the pool (its ticket keys changed). Pools are allocated on first use, sized to the
 * worker's connections, so the steady state allocates nothing of ours.
 */
#include <stdlib.h>

#include "tb.h"

static struct tb_sess_pool *pool_of(struct tb_worker *w, unsigned mix, unsigned sni)
{
    return &w->sessions[mix][sni];
}

static void pool_clear(struct tb_sess_pool *p)
{
    while (p->n > 0)
        SSL_SESSION_free(p->s[--p->n]);
}

int tb_sess_offer(struct tb_worker *w, unsigned mix, unsigned sni, SSL *ssl)
{
    struct tb_sess_pool *p = pool_of(w, mix, sni);
    while (p->n > 0 && !SSL_SESSION_is_resumable(p->s[p->n - 1]))
        SSL_SESSION_free(p->s[--p->n]);
    if (p->n == 0)
        return 0;
    SSL_SESSION *s = p->s[p->n - 1];
    if (!SSL_set_session(ssl, s))
        return -1;
    if (SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION) {
        SSL_SESSION_free(s); /* the SSL holds its own reference */
        p->n--;
    }
    return 1;
}

void tb_sess_refused(struct tb_worker *w, unsigned mix, unsigned sni)
{
    pool_clear(pool_of(w, mix, sni));
}

void tb_sess_free_all(struct tb_worker *w)
{
    for (size_t m = 0; m < TB_MAX_MIX; m++)
        for (size_t s = 0; s < TB_MAX_SNI; s++) {
            pool_clear(&w->sessions[m][s]);
            free(w->sessions[m][s].s);
            w->sessions[m][s].s = NULL;
            w->sessions[m][s].cap = 0;
        }
}

/* OpenSSL's new-session callback: returns 1 when the pool took ownership of sess. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct tb_conn *c = SSL_get_app_data(ssl);
    if (!c)
        return 0;
    struct tb_sess_pool *p = pool_of(c->w, c->mix_idx, c->sni_idx);
    if (SSL_SESSION_get_protocol_version(sess) < TLS1_3_VERSION && p->n > 0)
        return 0; /* TLS 1.2: keep the shared one while it works */
    if (!p->s) {
        p->cap = c->w->n_conns ? c->w->n_conns : 1;
        p->s = calloc(p->cap, sizeof(*p->s));
        if (!p->s) {
            p->cap = 0;
            return 0;
        }
    }
    if (p->n == p->cap)
        return 0;
    p->s[p->n++] = sess;
    return 1;
}

void tb_ctx_setup(SSL_CTX *ctx, enum tb_mode mode)
{
    if (mode == TB_MODE_RESUME) {
        SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
}
