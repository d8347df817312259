/* twofold-bench internals: options, latency histogram, per-thread statistics, the worker
 * (one uv_loop_t per thread) and its connections. The prefix is tb_ (twofold-bench).
 *
 * Ownership: main owns the options (read-only once the threads start) and the workers;
 * each worker owns its loop, its connections, its session table and its statistics,
 * which main merges after the threads are joined. Nothing is shared between threads
 * but the read-only options and the profiles' SSL_CTXs (SSL_new is thread-safe).
 */
#ifndef TWOFOLD_TB_H
#define TWOFOLD_TB_H

#include <llhttp.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <uv.h>

#include "cs.h"

#define TB_MAX_SNI      64
#define TB_MAX_MIX      32
#define TB_MAX_KEYS     16
#define TB_MAX_FPS      64
#define TB_MAX_PIPELINE 256
#define TB_MAX_THREADS  64
#define TB_MAX_CONNS    100000
#define TB_BUF_SIZE     (32 * 1024)

/* ---- latency histogram: log buckets with 128 linear sub-buckets per power of two
 * (relative error under 0.8 %), exact below 256; fixed memory, values in ns ---- */

#define TB_HIST_SUB       128
#define TB_HIST_MAX_SHIFT 34 /* values up to 2^42 ns (73 min); larger ones are clamped */
#define TB_HIST_N         (2 * TB_HIST_SUB + TB_HIST_MAX_SHIFT * TB_HIST_SUB)

struct tb_hist {
    uint64_t counts[TB_HIST_N];
    uint64_t total, max;
};

void tb_hist_init(struct tb_hist *h);
void tb_hist_record(struct tb_hist *h, uint64_t v);
/* The highest value equivalent to the q-th percentile (0 < q <= 100), capped at the
 * largest recorded value; 0 when empty. */
uint64_t tb_hist_percentile(const struct tb_hist *h, double q);
void tb_hist_merge(struct tb_hist *dst, const struct tb_hist *src);
/* Bucket index and the highest value of a bucket (exposed for tests). */
size_t tb_hist_index(uint64_t v);
uint64_t tb_hist_bucket_high(size_t idx);

/* ---- options ---- */

enum tb_mode { TB_MODE_HANDSHAKE = 0, TB_MODE_RESUME, TB_MODE_KEEPALIVE };
const char *tb_mode_name(enum tb_mode m);

struct tb_mix_item {
    const struct cs_profile *profile;
    unsigned weight;
    SSL_CTX *ctx; /* built once per run by main; NULL until then */
};

/* A prebuilt request per SNI name: one that keeps the connection and one that closes it. */
struct tb_request {
    char *keep, *close;
    size_t keep_len, close_len;
};

struct tb_opts {
    struct sockaddr_storage target;
    char target_str[64];
    char *sni[TB_MAX_SNI]; /* owned */
    size_t n_sni;
    char *path, *host; /* owned; host NULL: the connection's SNI */
    struct tb_mix_item mix[TB_MAX_MIX];
    size_t n_mix;
    struct tb_request req[TB_MAX_SNI];
    enum tb_mode mode;
    unsigned connections, threads, requests_per_conn, pipeline;
    double duration_s; /* bound of every run */
    bool duration_set;
    uint64_t requests; /* 0: until the duration ends */
    double rate;       /* requests/s, 0: closed loop */
    double timeout_s;
    bool json;
};

/* Parses argv into o (zeroed first). Returns 0, 1 for --help (usage printed to stdout),
 * or negative with a message in err. Builds the requests; does not build SSL_CTXs. */
int tb_opts_parse(struct tb_opts *o, int argc, char **argv, char *err, size_t errlen);
void tb_opts_free(struct tb_opts *o);
void tb_usage(FILE *f);
/* "127.0.0.1:8443" or "[::1]:8443"; loopback addresses only. */
int tb_target_parse(const char *s, struct sockaddr_storage *out, char *err, size_t errlen);
/* "a:90,b:10" or a single name (weight 1). Profiles are looked up with cs_profile_find. */
int tb_mix_parse(const char *s, struct tb_mix_item *mix, size_t *n, char *err, size_t errlen);

/* ---- statistics ---- */

enum tb_err {
    TB_ERR_CONNECT = 0,
    TB_ERR_HANDSHAKE,
    TB_ERR_HTTP, /* non-2xx status */
    TB_ERR_TIMEOUT,
    TB_ERR_RESUMED, /* a full handshake was expected and the session was resumed */
    TB_ERR_IO,      /* reset, EOF or unparsable response after the handshake */
    TB_ERR__COUNT
};
const char *tb_err_name(enum tb_err e);

struct tb_keycount {
    char name[32]; /* "RSA-2048", "ECDSA P-256" */
    uint64_t n;
};

struct tb_fpcount {
    unsigned char sha256[32];
    uint64_t n;
};

struct tb_stats {
    uint64_t handshakes, full_handshakes, resumed, requests, unsent;
    uint64_t errors[TB_ERR__COUNT];
    uint64_t status_class[6]; /* [1..5] = 1xx..5xx, [0] other */
    uint64_t versions[5];     /* TLS 1.0 .. 1.3 by minor version + 1; [0] other */
    uint64_t per_profile[TB_MAX_MIX];
    struct tb_keycount keys[TB_MAX_KEYS];
    size_t n_keys;
    struct tb_fpcount fps[TB_MAX_FPS];
    size_t n_fps;
    uint64_t fps_overflow; /* handshakes whose leaf did not fit the table */
    struct tb_hist latency;
    uint64_t start_ns, end_ns; /* uv_hrtime() */
};

void tb_stats_init(struct tb_stats *s);
void tb_stats_note_peer(struct tb_stats *s, SSL *ssl);
void tb_stats_merge(struct tb_stats *dst, const struct tb_stats *src);
/* first_error: the first failure's reason or NULL; complete: false when --requests was
 * given and the duration bound ended the run first. */
void tb_report_text(FILE *f, const struct tb_opts *o, const struct tb_stats *s,
                    const char *first_error, bool complete);
void tb_report_json(FILE *f, const struct tb_opts *o, const struct tb_stats *s,
                    const char *first_error, bool complete);

/* ---- worker and connections ---- */

enum tb_conn_state { TB_IDLE = 0, TB_CONNECTING, TB_HANDSHAKE, TB_ACTIVE, TB_CLOSING };

struct tb_worker;

/* Resumable sessions for one (profile, SNI) pair, owned references. */
struct tb_sess_pool {
    SSL_SESSION **s;
    unsigned n, cap;
};

/* One connection slot: its handles are embedded and reused for every connection the slot
 * makes, so the steady state allocates nothing of ours (OpenSSL allocates inside SSL_new
 * and the handshake). */
struct tb_conn {
    struct tb_worker *w;
    enum tb_conn_state state;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_timer_t timer;
    SSL *ssl;
    BIO *rbio, *wbio; /* memory BIOs kept across connections (one extra reference each) */
    llhttp_t parser;
    unsigned mix_idx, sni_idx;
    unsigned sent, done, planned;       /* requests on this connection */
    uint64_t intended[TB_MAX_PIPELINE]; /* ring of outstanding requests' intended times */
    unsigned ring_head, ring_n, ring_unsent;
    int status; /* status code of the response being parsed */
    bool writing, in_ready, failed, handshake_done;
    bool offered; /* resume mode: a stored session was offered */
    char rbuf[TB_BUF_SIZE];
    char wbuf[TB_BUF_SIZE];
};

struct tb_worker {
    const struct tb_opts *o;
    unsigned id;
    uv_loop_t loop;
    uv_timer_t stop_timer;
    uv_poll_t rate_poll;
    int rate_fd; /* timerfd for the open loop, -1 in the closed loop */
    struct tb_conn *conns;
    unsigned n_conns;
    struct tb_conn **ready; /* open loop: slots able to take a request */
    size_t n_ready;
    uint64_t quota, issued; /* requests this worker may start / has started */
    double rate;
    uint64_t interval_ns_x1000; /* open loop: ns between intended sends, times 1000 */
    uint64_t generated;         /* open loop: tokens due so far */
    uint64_t open_conns;
    bool stopping, closed;
    bool hit_duration;                                    /* the duration bound ended the run */
    struct tb_sess_pool sessions[TB_MAX_MIX][TB_MAX_SNI]; /* resume mode (bench_sess.c) */
    unsigned sni_rr[TB_MAX_MIX];                          /* SNI rotation per profile */
    int wrr[TB_MAX_MIX];
    struct tb_stats st;
    char first_error[256]; /* the first error's kind and OpenSSL/libuv reason */
    uv_thread_t thread;
    int rc;
};

/* Sets up w (conns preallocated, handles initialised) for n_conns slots. */
int tb_worker_init(struct tb_worker *w, const struct tb_opts *o, unsigned id, unsigned n_conns,
                   uint64_t quota, double rate);
/* Runs the worker's loop until its duration ends or its quota is done. */
void tb_worker_run(struct tb_worker *w);
void tb_worker_close(struct tb_worker *w);
/* The SSL_CTX setup for the run's mode (tickets, session cache, new-session callback). */
void tb_ctx_setup(SSL_CTX *ctx, enum tb_mode mode);
/* Resume mode: offers a stored session on ssl. Returns 1 offered, 0 none, -1 error. */
int tb_sess_offer(struct tb_worker *w, unsigned mix, unsigned sni, SSL *ssl);
/* The server refused an offered session: forget the pair's sessions. */
void tb_sess_refused(struct tb_worker *w, unsigned mix, unsigned sni);
void tb_sess_free_all(struct tb_worker *w);

#endif
