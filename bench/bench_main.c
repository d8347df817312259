/* twofold-bench: an HTTPS load generator for loopback targets that measures what TLS
 * benchmarks usually get wrong: it forces full handshakes (no session cache, no tickets,
 * and checks that none was resumed), drives each client profile of certstore's corpus
 * (so a server can be made to hand out its RSA certificate under TLS 1.3), and counts
 * which key and which leaf certificate the server served. See tb_usage() for options.
 *
 * Threads: one uv loop per --threads; connections, --requests and --rate are divided
 * between them; statistics are merged after every thread has finished.
 */
#include <openssl/err.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tb.h"

static int build_contexts(struct tb_opts *o)
{
    for (size_t i = 0; i < o->n_mix; i++) {
        o->mix[i].ctx = cs_profile_client_ctx(o->mix[i].profile);
        if (!o->mix[i].ctx) {
            fprintf(stderr, "twofold-bench: cannot build a client context for profile %s\n",
                    o->mix[i].profile->name);
            ERR_print_errors_fp(stderr);
            return -1;
        }
        tb_ctx_setup(o->mix[i].ctx, o->mode);
    }
    return 0;
}

static void worker_thread(void *arg)
{
    tb_worker_run(arg);
}

/* Runs every worker (the first on this thread) and merges their statistics. */
static int run(const struct tb_opts *o, struct tb_worker *w, struct tb_stats *total,
               const char **first_error)
{
    unsigned n = o->threads;
    for (unsigned i = 0; i < n; i++) {
        unsigned conns = o->connections / n + (i < o->connections % n);
        uint64_t quota = UINT64_MAX;
        if (o->requests)
            quota = o->requests / n + (i < o->requests % n);
        if (tb_worker_init(&w[i], o, i, conns, quota, o->rate / n) != 0) {
            fprintf(stderr, "twofold-bench: cannot set up worker %u\n", i);
            return -1;
        }
    }
    for (unsigned i = 1; i < n; i++)
        if (uv_thread_create(&w[i].thread, worker_thread, &w[i]) != 0) {
            fprintf(stderr, "twofold-bench: cannot start thread %u\n", i);
            exit(1); /* the started threads are bounded by --duration; nothing to join */
        }
    tb_worker_run(&w[0]);
    for (unsigned i = 1; i < n; i++)
        uv_thread_join(&w[i].thread);
    tb_stats_init(total);
    *first_error = NULL;
    for (unsigned i = 0; i < n; i++) {
        tb_stats_merge(total, &w[i].st);
        if (!*first_error && w[i].first_error[0])
            *first_error = w[i].first_error;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct tb_opts o;
    char err[512] = "";
    int rc = tb_opts_parse(&o, argc, argv, err, sizeof(err));
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "twofold-bench: %s\n", err);
        tb_opts_free(&o);
        return rc < 0 ? 2 : 0;
    }
    signal(SIGPIPE, SIG_IGN);
    struct tb_worker *w = calloc(o.threads, sizeof(*w));
    struct tb_stats *total = malloc(sizeof(*total));
    const char *first_error = NULL;
    rc = (w && total && build_contexts(&o) == 0) ? run(&o, w, total, &first_error) : -1;
    if (rc == 0) {
        bool complete = true;
        for (unsigned i = 0; i < o.threads; i++)
            complete = complete && !(o.requests && w[i].hit_duration);
        if (o.json)
            tb_report_json(stdout, &o, total, first_error, complete);
        else
            tb_report_text(stdout, &o, total, first_error, complete);
        for (unsigned i = 0; i < o.threads; i++)
            tb_worker_close(&w[i]);
    }
    free(w);
    free(total);
    tb_opts_free(&o);
    return rc == 0 ? 0 : 1;
}
