/* twofold-bench connections: TCP over libuv, TLS over memory BIOs, responses framed by
 * llhttp, requests paced by tokens (closed loop: always available until the quota or the
 * duration ends; open loop: released by a timerfd at their intended send times).
 *
 * A connection slot goes IDLE -> CONNECTING -> HANDSHAKE -> ACTIVE -> CLOSING -> IDLE and
 * starts again from on_close, so every handle is reused and nothing of ours is allocated
 * per request. Functions that may close the connection return -1 when they did, and the
 * caller must then not touch the SSL.
 */
#include <errno.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "tb.h"

static int on_message_complete(llhttp_t *p);

static const llhttp_settings_t http_settings = {
    .on_message_complete = on_message_complete,
};

static void on_close(uv_handle_t *h);
static void on_timeout(uv_timer_t *t);
static int send_requests(struct tb_conn *c);

static uint64_t ms_of(double s)
{
    double ms = s * 1000.0;
    return ms < 1 ? 1 : (uint64_t)ms;
}

/* ---- tokens: one per request; intended is the time latency is measured from ---- */

static bool take_token(struct tb_worker *w, uint64_t *intended)
{
    if (w->stopping || w->issued >= w->quota)
        return false;
    if (w->rate_fd < 0) {
        *intended = uv_hrtime();
    } else {
        if (w->issued >= w->generated)
            return false;
        *intended = w->st.start_ns + (uint64_t)((double)w->issued * 1e9 / w->rate);
    }
    w->issued++;
    return true;
}

static void ready_push(struct tb_conn *c)
{
    if (!c->in_ready) {
        c->in_ready = true;
        c->w->ready[c->w->n_ready++] = c;
    }
}

static void ring_push(struct tb_conn *c, uint64_t t)
{
    c->intended[(c->ring_head + c->ring_n) % TB_MAX_PIPELINE] = t;
    c->ring_n++;
    c->ring_unsent++;
}

static bool can_reserve(const struct tb_conn *c)
{
    return c->sent + c->ring_unsent < c->planned && c->ring_n < c->w->o->pipeline;
}

static void check_finish(struct tb_worker *w)
{
    if (w->closed || w->open_conns > 0 || !(w->stopping || w->issued >= w->quota))
        return;
    if (!w->st.end_ns)
        w->st.end_ns = uv_hrtime();
    w->closed = true;
    uv_close((uv_handle_t *)&w->stop_timer, NULL);
    if (w->rate_fd >= 0)
        uv_close((uv_handle_t *)&w->rate_poll, NULL);
    for (unsigned i = 0; i < w->n_conns; i++)
        uv_close((uv_handle_t *)&w->conns[i].timer, NULL);
}

/* ---- closing ---- */

/* Sends close_notify when it can be written at once, frees the SSL, closes the socket. */
static int conn_close(struct tb_conn *c, bool graceful)
{
    if (c->state == TB_IDLE || c->state == TB_CLOSING)
        return -1;
    if (c->ssl) {
        ERR_clear_error();
        if (graceful && c->handshake_done && !c->writing && SSL_shutdown(c->ssl) >= 0) {
            int n = BIO_read(c->wbio, c->wbuf, sizeof(c->wbuf));
            if (n > 0) {
                uv_buf_t b = uv_buf_init(c->wbuf, (unsigned)n);
                (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
            }
        }
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    ERR_clear_error();
    (void)BIO_reset(c->rbio);
    (void)BIO_reset(c->wbio);
    uv_timer_stop(&c->timer);
    c->state = TB_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_close);
    return -1;
}

static int conn_fail(struct tb_conn *c, enum tb_err kind)
{
    struct tb_worker *w = c->w;
    if (!w->stopping) {
        w->st.errors[kind]++;
        if (!w->first_error[0]) {
            unsigned long e = ERR_peek_last_error();
            char ebuf[200] = "";
            if (e)
                ERR_error_string_n(e, ebuf, sizeof(ebuf));
            snprintf(w->first_error, sizeof(w->first_error), "%s%s%s", tb_err_name(kind),
                     ebuf[0] ? ": " : "", ebuf);
        }
    }
    return conn_close(c, false);
}

static int fail_uv(struct tb_conn *c, int uverr)
{
    struct tb_worker *w = c->w;
    if (!w->stopping && !w->first_error[0]) {
        enum tb_err k = c->state == TB_CONNECTING  ? TB_ERR_CONNECT
                        : c->state == TB_HANDSHAKE ? TB_ERR_HANDSHAKE
                                                   : TB_ERR_IO;
        snprintf(w->first_error, sizeof(w->first_error), "%s: %s", tb_err_name(k),
                 uv_strerror(uverr));
    }
    return conn_fail(c, c->state == TB_CONNECTING  ? TB_ERR_CONNECT
                        : c->state == TB_HANDSHAKE ? TB_ERR_HANDSHAKE
                                                   : TB_ERR_IO);
}

/* ---- writing: drain the write BIO into the socket ---- */

static void on_write(uv_write_t *req, int status);

static int flush(struct tb_conn *c)
{
    while (!c->writing && BIO_ctrl_pending(c->wbio) > 0) {
        int n = BIO_read(c->wbio, c->wbuf, sizeof(c->wbuf));
        if (n <= 0)
            break;
        uv_buf_t b = uv_buf_init(c->wbuf, (unsigned)n);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r == n)
            continue;
        if (r < 0 && r != UV_EAGAIN)
            return fail_uv(c, r);
        if (r < 0)
            r = 0;
        b = uv_buf_init(c->wbuf + r, (unsigned)(n - r));
        r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
        if (r != 0)
            return fail_uv(c, r);
        c->writing = true;
    }
    return 0;
}

static void on_write(uv_write_t *req, int status)
{
    struct tb_conn *c = req->data;
    c->writing = false;
    if (c->state != TB_HANDSHAKE && c->state != TB_ACTIVE)
        return;
    if (status < 0)
        fail_uv(c, status);
    else
        flush(c);
}

/* ---- requests and responses ---- */

static int send_requests(struct tb_conn *c)
{
    struct tb_worker *w = c->w;
    const struct tb_request *rq = &w->o->req[c->sni_idx];
    for (;;) {
        uint64_t t;
        if (c->ring_unsent == 0) {
            if (!can_reserve(c) || !take_token(w, &t))
                break;
            ring_push(c, t);
        }
        bool last = c->sent + 1 >= c->planned;
        ERR_clear_error();
        int n = SSL_write(c->ssl, last ? rq->close : rq->keep,
                          (int)(last ? rq->close_len : rq->keep_len));
        if (n <= 0)
            return conn_fail(c, TB_ERR_IO);
        c->sent++;
        c->ring_unsent--;
        if (c->ring_n == 1)
            uv_timer_start(&c->timer, on_timeout, ms_of(w->o->timeout_s), 0);
    }
    if (w->rate_fd >= 0 && can_reserve(c) && !w->stopping && w->issued < w->quota)
        ready_push(c);
    return flush(c);
}

static int on_message_complete(llhttp_t *p)
{
    struct tb_conn *c = p->data;
    struct tb_worker *w = c->w;
    if (c->ring_n == 0 || c->ring_unsent == c->ring_n) {
        c->failed = true; /* a response nobody asked for */
        return HPE_USER;
    }
    uint64_t now = uv_hrtime(), t = c->intended[c->ring_head];
    tb_hist_record(&w->st.latency, now > t ? now - t : 0);
    c->ring_head = (c->ring_head + 1) % TB_MAX_PIPELINE;
    c->ring_n--;
    c->done++;
    w->st.requests++;
    int status = llhttp_get_status_code(p);
    w->st.status_class[status >= 100 && status < 600 ? status / 100 : 0]++;
    if (status < 200 || status > 299)
        w->st.errors[TB_ERR_HTTP]++;
    if (c->ring_n > 0)
        uv_timer_start(&c->timer, on_timeout, ms_of(w->o->timeout_s), 0);
    return 0;
}

/* After responses (or the handshake): more requests, or close when done or starved. */
static int after_progress(struct tb_conn *c)
{
    struct tb_worker *w = c->w;
    if (c->ring_n == 0 && c->sent >= c->planned)
        return conn_close(c, true);
    if (send_requests(c) != 0)
        return -1;
    if (c->ring_n == 0) {
        if (w->rate_fd < 0 || w->stopping || w->issued >= w->quota)
            return conn_close(c, true);
        uv_timer_stop(&c->timer); /* an idle keep-alive connection has no deadline */
    }
    return 0;
}

static int on_eof(struct tb_conn *c)
{
    if (c->state == TB_HANDSHAKE)
        return conn_fail(c, TB_ERR_HANDSHAKE);
    if (c->ring_n > c->ring_unsent)
        (void)llhttp_finish(&c->parser); /* a body delimited by the close */
    if (c->ring_n > c->ring_unsent)
        return conn_fail(c, TB_ERR_IO);
    /* graceful: an SSL freed without a shutdown marks its session not resumable */
    return conn_close(c, true);
}

/* Reads every decrypted byte available and feeds it to the response parser. */
static int read_plain(struct tb_conn *c)
{
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, c->rbuf, sizeof(c->rbuf));
        if (n > 0) {
            llhttp_errno_t e = llhttp_execute(&c->parser, c->rbuf, (size_t)n);
            if (e != HPE_OK)
                return conn_fail(c, TB_ERR_IO);
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ)
            return 0;
        if (e == SSL_ERROR_ZERO_RETURN)
            return on_eof(c);
        return conn_fail(c, TB_ERR_IO);
    }
}

/* ---- handshake ---- */

static int handshake_done(struct tb_conn *c)
{
    struct tb_worker *w = c->w;
    c->handshake_done = true;
    c->state = TB_ACTIVE;
    w->st.handshakes++;
    w->st.per_profile[c->mix_idx]++;
    if (SSL_session_reused(c->ssl)) {
        w->st.resumed++;
        if (w->o->mode != TB_MODE_RESUME)
            w->st.errors[TB_ERR_RESUMED]++;
    } else {
        w->st.full_handshakes++;
        if (c->offered)
            tb_sess_refused(w, c->mix_idx, c->sni_idx);
    }
    tb_stats_note_peer(&w->st, c->ssl);
    return after_progress(c);
}

static void drive(struct tb_conn *c)
{
    if (c->state == TB_HANDSHAKE) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ)
                (void)flush(c);
            else
                (void)conn_fail(c, TB_ERR_HANDSHAKE);
            return;
        }
        if (handshake_done(c) != 0)
            return;
    }
    if (c->state != TB_ACTIVE || read_plain(c) != 0)
        return;
    if (c->failed) {
        (void)conn_fail(c, TB_ERR_IO);
        return;
    }
    if (after_progress(c) == 0)
        (void)flush(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct tb_conn *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct tb_conn *c = s->data;
    if (c->state != TB_HANDSHAKE && c->state != TB_ACTIVE)
        return;
    if (n == UV_EOF) {
        (void)on_eof(c);
    } else if (n < 0) {
        (void)fail_uv(c, (int)n);
    } else if (n > 0) {
        if (BIO_write(c->rbio, buf->base, (int)n) != (int)n)
            (void)conn_fail(c, TB_ERR_IO);
        else
            drive(c);
    }
}

/* ---- connecting ---- */

static int ssl_setup(struct tb_conn *c)
{
    struct tb_worker *w = c->w;
    const struct tb_mix_item *m = &w->o->mix[c->mix_idx];
    c->ssl = SSL_new(m->ctx);
    if (!c->ssl)
        return -1;
    SSL_set_app_data(c->ssl, c);
    if (!BIO_up_ref(c->rbio) || !BIO_up_ref(c->wbio))
        return -1;
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    if (m->profile->sni && !SSL_set_tlsext_host_name(c->ssl, w->o->sni[c->sni_idx]))
        return -1;
    c->offered = false;
    if (w->o->mode == TB_MODE_RESUME) {
        int r = tb_sess_offer(w, c->mix_idx, c->sni_idx, c->ssl);
        if (r < 0)
            return -1;
        c->offered = r == 1;
    }
    SSL_set_connect_state(c->ssl);
    llhttp_init(&c->parser, HTTP_RESPONSE, &http_settings);
    c->parser.data = c;
    return 0;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct tb_conn *c = req->data;
    if (c->state != TB_CONNECTING)
        return; /* closed meanwhile (timeout, stop): status is UV_ECANCELED */
    if (status < 0) {
        (void)fail_uv(c, status);
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1);
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r != 0) {
        (void)fail_uv(c, r);
        return;
    }
    c->state = TB_HANDSHAKE;
    if (ssl_setup(c) != 0) {
        (void)conn_fail(c, TB_ERR_HANDSHAKE);
        return;
    }
    drive(c);
}

static unsigned pick_profile(struct tb_worker *w)
{
    /* smooth weighted round robin: exact proportions, evenly interleaved */
    const struct tb_opts *o = w->o;
    int total = 0;
    size_t best = 0;
    for (size_t i = 0; i < o->n_mix; i++) {
        w->wrr[i] += (int)o->mix[i].weight;
        total += (int)o->mix[i].weight;
        if (w->wrr[i] > w->wrr[best])
            best = i;
    }
    w->wrr[best] -= total;
    return (unsigned)best;
}

static void conn_start(struct tb_conn *c, uint64_t intended)
{
    struct tb_worker *w = c->w;
    c->mix_idx = pick_profile(w);
    c->sni_idx = w->sni_rr[c->mix_idx]++ % (unsigned)w->o->n_sni; /* every pair is used */
    c->sent = c->done = 0;
    c->planned = w->o->requests_per_conn ? w->o->requests_per_conn : UINT32_MAX;
    c->ring_head = c->ring_n = c->ring_unsent = 0;
    c->failed = c->handshake_done = c->writing = false;
    ring_push(c, intended);
    if (uv_tcp_init(&w->loop, &c->tcp) != 0) {
        w->st.errors[TB_ERR_CONNECT]++; /* the slot stays idle until the run ends */
        return;
    }
    c->tcp.data = c;
    w->open_conns++;
    c->state = TB_CONNECTING;
    uv_timer_start(&c->timer, on_timeout, ms_of(w->o->timeout_s), 0);
    int r = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&w->o->target,
                           on_connect);
    if (r != 0)
        (void)fail_uv(c, r);
}

/* A free slot: start the next request if a token is there, else wait or finish. */
static void slot_next(struct tb_conn *c)
{
    struct tb_worker *w = c->w;
    uint64_t t;
    if (take_token(w, &t))
        conn_start(c, t);
    else if (w->rate_fd >= 0 && !w->stopping && w->issued < w->quota)
        ready_push(c);
    else
        check_finish(w);
}

static void on_close(uv_handle_t *h)
{
    struct tb_conn *c = h->data;
    c->state = TB_IDLE;
    c->handshake_done = false;
    c->w->open_conns--;
    slot_next(c);
}

static void on_timeout(uv_timer_t *t)
{
    struct tb_conn *c = t->data;
    (void)conn_fail(c, TB_ERR_TIMEOUT);
}

/* ---- the worker ---- */

static void arm_rate(struct tb_worker *w)
{
    uint64_t at = w->st.start_ns + (uint64_t)((double)w->generated * 1e9 / w->rate);
    struct itimerspec its = {0};
    if (at == 0)
        at = 1; /* 0 would disarm */
    its.it_value.tv_sec = (time_t)(at / 1000000000u);
    its.it_value.tv_nsec = (long)(at % 1000000000u);
    (void)timerfd_settime(w->rate_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void drain_idle(struct tb_worker *w)
{
    for (unsigned i = 0; i < w->n_conns; i++) {
        struct tb_conn *c = &w->conns[i];
        if (c->state == TB_ACTIVE && c->ring_n == 0)
            (void)conn_close(c, true);
    }
}

/* Open loop: release the tokens that are due, hand them to ready slots, re-arm. */
static void on_rate(uv_poll_t *p, int status, int events)
{
    struct tb_worker *w = p->data;
    uint64_t expirations;
    if (read(w->rate_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        return;
    if (w->stopping)
        return;
    uint64_t now = uv_hrtime();
    uint64_t due = (uint64_t)((double)(now - w->st.start_ns) * w->rate / 1e9) + 1;
    if (due > w->quota)
        due = w->quota;
    if (due > w->generated)
        w->generated = due;
    while (w->n_ready > 0 && w->issued < w->generated && !w->stopping) {
        struct tb_conn *c = w->ready[--w->n_ready];
        c->in_ready = false;
        if (c->state == TB_IDLE)
            slot_next(c);
        else if (c->state == TB_ACTIVE)
            (void)send_requests(c);
    }
    if (w->generated >= w->quota) {
        uv_poll_stop(&w->rate_poll);
        drain_idle(w);
        check_finish(w);
    } else {
        arm_rate(w);
    }
}

static void on_stop(uv_timer_t *t)
{
    struct tb_worker *w = t->data;
    w->stopping = true;
    w->hit_duration = true;
    w->st.end_ns = uv_hrtime();
    if (w->rate_fd >= 0) {
        uv_poll_stop(&w->rate_poll);
        if (w->generated > w->issued)
            w->st.unsent = w->generated - w->issued;
    }
    for (unsigned i = 0; i < w->n_conns; i++)
        (void)conn_close(&w->conns[i], false);
    check_finish(w);
}

int tb_worker_init(struct tb_worker *w, const struct tb_opts *o, unsigned id, unsigned n_conns,
                   uint64_t quota, double rate)
{
    memset(w, 0, sizeof(*w));
    w->o = o;
    w->id = id;
    w->quota = quota;
    w->rate = rate;
    w->rate_fd = -1;
    tb_stats_init(&w->st);
    if (uv_loop_init(&w->loop) != 0)
        return -1;
    w->conns = calloc(n_conns, sizeof(*w->conns));
    w->ready = calloc(n_conns, sizeof(*w->ready));
    if (!w->conns || !w->ready)
        return -1;
    w->n_conns = n_conns;
    for (unsigned i = 0; i < n_conns; i++) {
        struct tb_conn *c = &w->conns[i];
        c->w = w;
        c->connect_req.data = c->write_req.data = c->timer.data = c;
        c->rbio = BIO_new(BIO_s_mem());
        c->wbio = BIO_new(BIO_s_mem());
        if (!c->rbio || !c->wbio || uv_timer_init(&w->loop, &c->timer) != 0)
            return -1;
    }
    if (uv_timer_init(&w->loop, &w->stop_timer) != 0)
        return -1;
    w->stop_timer.data = w;
    if (rate > 0) {
        w->rate_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (w->rate_fd < 0 || uv_poll_init(&w->loop, &w->rate_poll, w->rate_fd) != 0)
            return -1;
        w->rate_poll.data = w;
    }
    return 0;
}

void tb_worker_run(struct tb_worker *w)
{
    w->st.start_ns = uv_hrtime();
    uv_timer_start(&w->stop_timer, on_stop, ms_of(w->o->duration_s), 0);
    if (w->rate_fd >= 0) {
        for (unsigned i = 0; i < w->n_conns; i++)
            ready_push(&w->conns[i]);
        arm_rate(w);
        uv_poll_start(&w->rate_poll, UV_READABLE, on_rate);
    } else {
        for (unsigned i = 0; i < w->n_conns; i++)
            slot_next(&w->conns[i]);
    }
    check_finish(w); /* a worker with a zero quota */
    w->rc = uv_run(&w->loop, UV_RUN_DEFAULT);
    if (!w->st.end_ns)
        w->st.end_ns = uv_hrtime();
}

void tb_worker_close(struct tb_worker *w)
{
    if (!w->closed && w->conns) {
        /* never ran: close what init opened so the loop can be closed */
        w->closed = true;
        uv_close((uv_handle_t *)&w->stop_timer, NULL);
        if (w->rate_fd >= 0)
            uv_close((uv_handle_t *)&w->rate_poll, NULL);
        for (unsigned i = 0; i < w->n_conns; i++)
            uv_close((uv_handle_t *)&w->conns[i].timer, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
    }
    (void)uv_loop_close(&w->loop);
    if (w->rate_fd >= 0)
        close(w->rate_fd);
    for (unsigned i = 0; w->conns && i < w->n_conns; i++) {
        BIO_free(w->conns[i].rbio);
        BIO_free(w->conns[i].wbio);
    }
    tb_sess_free_all(w);
    free(w->conns);
    free(w->ready);
    w->conns = NULL;
    w->ready = NULL;
}
