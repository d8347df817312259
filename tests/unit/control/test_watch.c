/* px_watch: real files in a temp dir, a real uv loop run in bounded steps. Every wait is
 * bounded by a deadline; the assertions are on callback counts and watched directories,
 * never on elapsed time. */
#include "px_watch.h"
#include "tt.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#define DEBOUNCE_MS 100
#define WAIT_MS     5000 /* upper bound for an expected callback */

static uv_loop_t loop;
static char root[256];
static int fired;

static void on_change(void *arg)
{
    (void)arg;
    fired++;
}

static void on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Runs the loop until fired reaches target or ms pass. With target < 0 runs for ms. */
static void run_until(int target, unsigned ms)
{
    bool expired = false;
    uv_timer_t deadline;
    uv_timer_init(&loop, &deadline);
    deadline.data = &expired;
    uv_timer_start(&deadline, on_deadline, ms, 0);
    while (!expired && (target < 0 || fired < target))
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* Waits for one callback, then a quiet period of 3 debounce intervals so that a burst is
 * fully counted. Returns the number of callbacks seen. */
static int wait_fire(void)
{
    fired = 0;
    run_until(1, WAIT_MS);
    run_until(-1, 3 * DEBOUNCE_MS);
    return fired;
}

static void settle(void)
{
    run_until(-1, 3 * DEBOUNCE_MS);
    fired = 0;
}

/* root/rel in one of four rotating buffers (enough for one call's arguments). */
static const char *at(const char *rel)
{
    static char p[4][PATH_MAX];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", root, rel);
    return p[i];
}

static void put(const char *rel, const char *text)
{
    FILE *f = fopen(at(rel), "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void mk(const char *rel)
{
    CHECK_INT(mkdir(at(rel), 0700), 0);
}

static void ln(const char *target, const char *rel)
{
    CHECK_INT(symlink(target, at(rel)), 0);
}

static void mv(const char *from, const char *to)
{
    CHECK_INT(rename(at(from), at(to)), 0);
}

static void rm(const char *rel)
{
    CHECK_INT(remove(at(rel)), 0);
}

static bool closed;
static void on_closed(void *arg)
{
    *(bool *)arg = true;
}

static void close_watch(struct px_watch *w)
{
    closed = false;
    px_watch_close(w, on_closed, &closed);
    for (int i = 0; i < 100 && !closed; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(closed);
}

static struct px_watch *watch1(const char *rel, unsigned poll_ms, unsigned flags)
{
    const char *paths[] = {at(rel)};
    struct px_watch *w =
        px_watch_new_ex(&loop, paths, 1, DEBOUNCE_MS, poll_ms, flags, on_change, NULL);
    CHECK(w != NULL);
    settle();
    return w;
}

static void test_rewrite_and_rename(void)
{
    mk("plain");
    put("plain/cert.pem", "one");
    struct px_watch *w = watch1("plain/cert.pem", 0, 0);
    CHECK(px_watch_has_dir(w, at("plain")));
    CHECK_INT(px_watch_dir_count(w), 1);

    put("plain/cert.pem", "two"); /* in-place rewrite */
    CHECK_INT(wait_fire(), 1);

    put("plain/cert.pem.tmp", "three"); /* tmp + rename */
    mv("plain/cert.pem.tmp", "plain/cert.pem");
    CHECK_INT(wait_fire(), 1);

    /* Nothing happens: no callback. */
    fired = 0;
    run_until(-1, 3 * DEBOUNCE_MS);
    CHECK_INT(fired, 0);
    close_watch(w);
}

static void test_debounce(void)
{
    mk("burst");
    put("burst/cert.pem", "x");
    struct px_watch *w = watch1("burst/cert.pem", 0, 0);
    fired = 0;
    /* A burst coalesces into one callback. The machine may stall this loop longer than
     * the debounce between two writes (a loaded CI host): such a gap legitimately ends a
     * burst, so it is counted rather than timed against a threshold. */
    int gaps = 0;
    uint64_t last = uv_hrtime();
    for (int i = 0; i < 50; i++) {
        char text[32];
        snprintf(text, sizeof(text), "write %d", i);
        put("burst/cert.pem", text);
        uv_run(&loop, UV_RUN_NOWAIT); /* events are delivered between the writes */
        usleep(1000);
        uint64_t now = uv_hrtime();
        if ((now - last) / 1000000 >= DEBOUNCE_MS / 2)
            gaps++;
        last = now;
    }
    run_until(1, WAIT_MS);
    run_until(-1, 3 * DEBOUNCE_MS);
    CHECK(fired >= 1 && fired <= 1 + gaps);
    if (gaps == 0)
        CHECK_INT(fired, 1);
    close_watch(w);
}

/* certbot: live/NAME/fullchain.pem -> ../../archive/NAME/fullchainN.pem, relinked on
 * renewal by a new symlink renamed over the old one. */
static void test_certbot(void)
{
    mk("le");
    mk("le/archive");
    mk("le/archive/example.org");
    mk("le/live");
    mk("le/live/example.org");
    put("le/archive/example.org/fullchain1.pem", "v1");
    ln("../../archive/example.org/fullchain1.pem", "le/live/example.org/fullchain.pem");
    struct px_watch *w = watch1("le/live/example.org/fullchain.pem", 0, 0);
    CHECK(px_watch_has_dir(w, at("le/live/example.org")));
    CHECK(px_watch_has_dir(w, at("le/archive/example.org")));
    CHECK_INT(px_watch_dir_count(w), 2);

    put("le/archive/example.org/fullchain2.pem", "v2");
    ln("../../archive/example.org/fullchain2.pem", "le/live/example.org/fullchain.pem.new");
    mv("le/live/example.org/fullchain.pem.new", "le/live/example.org/fullchain.pem");
    CHECK(wait_fire() >= 1);

    /* The target changed: a rewrite of the new target is seen. */
    put("le/archive/example.org/fullchain2.pem", "v2 again");
    CHECK(wait_fire() >= 1);
    close_watch(w);
}

/* Kubernetes secret volume: tls.crt -> ..data/tls.crt, ..data -> ..TIMESTAMP; an update
 * writes a new timestamped directory and renames a ..data_tmp symlink over ..data. */
static void test_kubernetes(void)
{
    mk("k8s");
    mk("k8s/..2026_11_25_18_00_00.111");
    put("k8s/..2026_11_25_18_00_00.111/tls.crt", "old crt");
    put("k8s/..2026_11_25_18_00_00.111/tls.key", "old key");
    ln("..2026_11_25_18_00_00.111", "k8s/..data");
    ln("..data/tls.crt", "k8s/tls.crt");
    ln("..data/tls.key", "k8s/tls.key");
    const char *paths[] = {at("k8s/tls.crt"), at("k8s/tls.key")};
    struct px_watch *w = px_watch_new(&loop, paths, 2, DEBOUNCE_MS, 0, on_change, NULL);
    CHECK(w != NULL);
    settle();
    CHECK(px_watch_has_dir(w, at("k8s")));
    CHECK(px_watch_has_dir(w, at("k8s/..2026_11_25_18_00_00.111")));
    CHECK_INT(px_watch_dir_count(w), 2);

    mk("k8s/..2026_11_25_19_00_00.222");
    put("k8s/..2026_11_25_19_00_00.222/tls.crt", "new crt");
    put("k8s/..2026_11_25_19_00_00.222/tls.key", "new key");
    ln("..2026_11_25_19_00_00.222", "k8s/..data_tmp");
    mv("k8s/..data_tmp", "k8s/..data");
    rm("k8s/..2026_11_25_18_00_00.111/tls.crt");
    rm("k8s/..2026_11_25_18_00_00.111/tls.key");
    rm("k8s/..2026_11_25_18_00_00.111");
    CHECK(wait_fire() >= 1);
    CHECK(px_watch_has_dir(w, at("k8s/..2026_11_25_19_00_00.222")));
    CHECK(!px_watch_has_dir(w, at("k8s/..2026_11_25_18_00_00.111")));
    CHECK_INT(px_watch_dir_count(w), 2);

    put("k8s/..2026_11_25_19_00_00.222/tls.crt", "rewritten"); /* re-armed on the target */
    CHECK(wait_fire() >= 1);
    close_watch(w);
}

/* A path configured through the swapped symlink itself (k8s2/..data/tls.crt): the swap
 * happens in k8s2, which holds the symlinked parent. Seen by events, and by polling alone
 * (the file's identity changes when its directory is swapped). */
static void test_symlinked_parent(unsigned poll_ms, unsigned flags, const char *dir)
{
    char rel[64], a[96], b[96];
    mk(dir);
    snprintf(a, sizeof(a), "%s/..v1", dir);
    mk(a);
    snprintf(rel, sizeof(rel), "%s/..v1/tls.crt", dir);
    put(rel, "one");
    snprintf(rel, sizeof(rel), "%s/..data", dir);
    ln("..v1", rel);
    snprintf(rel, sizeof(rel), "%s/..data/tls.crt", dir);
    struct px_watch *w = watch1(rel, poll_ms, flags);
    if (!(flags & PX_WATCH_NO_EVENTS)) {
        CHECK(px_watch_has_dir(w, at(dir)));
        CHECK(px_watch_has_dir(w, at(a)));
    }
    snprintf(b, sizeof(b), "%s/..v2", dir);
    mk(b);
    snprintf(rel, sizeof(rel), "%s/..v2/tls.crt", dir);
    put(rel, "two");
    snprintf(rel, sizeof(rel), "%s/..data_tmp", dir);
    ln("..v2", rel);
    char to[96];
    snprintf(to, sizeof(to), "%s/..data", dir);
    mv(rel, to);
    CHECK(wait_fire() >= 1);
    if (!(flags & PX_WATCH_NO_EVENTS)) {
        CHECK(px_watch_has_dir(w, at(b)));
        CHECK(!px_watch_has_dir(w, at(a)));
    }
    close_watch(w);
}

static void test_cert_dir(void)
{
    mk("certs");
    mk("certs/site");
    mk("elsewhere");
    put("certs/site/a.pem", "a");
    put("elsewhere/b.pem", "b");
    ln("../elsewhere/b.pem", "certs/b.pem");
    struct px_watch *w = watch1("certs", 0, 0);
    CHECK(px_watch_has_dir(w, at("certs")));
    CHECK(px_watch_has_dir(w, at("certs/site")));
    CHECK(px_watch_has_dir(w, at("elsewhere")));
    CHECK(px_watch_has_dir(w, root)); /* the cert_dir may be replaced by rename */

    put("certs/site/a.pem", "a2");
    CHECK(wait_fire() >= 1);
    put("elsewhere/b.pem", "b2");
    CHECK(wait_fire() >= 1);
    close_watch(w);
}

static void test_polling_only(void)
{
    mk("poll");
    put("poll/cert.pem", "1");
    struct px_watch *w = watch1("poll/cert.pem", 50, PX_WATCH_NO_EVENTS);
    CHECK_INT(px_watch_dir_count(w), 0);
    run_until(-1, 4 * 50);
    CHECK_INT(fired, 0); /* polling without changes is quiet */

    put("poll/cert.pem", "22"); /* size differs: seen whatever the mtime granularity */
    CHECK_INT(wait_fire(), 1);
    put("poll/cert.pem.tmp", "333");
    mv("poll/cert.pem.tmp", "poll/cert.pem"); /* new inode */
    CHECK_INT(wait_fire(), 1);
    close_watch(w);

    /* A file that does not exist yet (its directory neither): only polling sees it. */
    struct px_watch *w2 = watch1("later/cert.pem", 50, 0);
    CHECK_INT(px_watch_dir_count(w2), 0);
    mk("later");
    put("later/cert.pem", "hello");
    CHECK(wait_fire() >= 1);
    CHECK(px_watch_has_dir(w2, at("later"))); /* re-armed once it exists */
    close_watch(w2);
}

/* Runs the loop for 3 debounce intervals and returns the callbacks seen meanwhile. */
static int quiet_count(void)
{
    fired = 0;
    run_until(-1, 3 * DEBOUNCE_MS);
    return fired;
}

/* What an operator's machine does beside certificates: an access log appended to in the
 * directory above a cert_dir (the README's quick start has /tmp there) and in the cert_dir
 * itself, an editor's swap, backup and probe files, a temporary file before its rename.
 * None of them is a change of a certificate in use: no callback. A real change still is. */
static void test_unrelated_files(void)
{
    mk("q");
    mk("q/certs");
    mk("q/certs/site");
    put("q/certs/a.pem", "a");
    put("q/certs/site/b.pem", "b");
    struct px_watch *w = watch1("q/certs", 0, 0);
    CHECK(px_watch_has_dir(w, at("q"))); /* watched, for a rename of q/certs */
    for (int i = 0; i < 10; i++) {
        char line[32];
        snprintf(line, sizeof(line), "request %d\n", i);
        put("q/access.log", line);
        put("q/certs/access.log", line);
        put("q/certs/site/access.log", line);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    put("q/certs/.a.pem.swp", "swap");
    put("q/certs/a.pem~", "backup");
    put("q/certs/4913", "vim probe");
    rm("q/certs/4913");
    put("q/certs/#a.pem#", "emacs autosave");
    rm("q/certs/.a.pem.swp");
    put("q/other.pem", "beside the cert_dir, not in it");
    CHECK_INT(quiet_count(), 0);

    put("q/certs/a.pem", "a2"); /* a real change */
    CHECK_INT(wait_fire(), 1);
    put("q/certs/site/b.pem", "b2");
    CHECK_INT(wait_fire(), 1);
    put("q/certs/c.crt", "c"); /* a new certificate the loader may pick up */
    CHECK_INT(wait_fire(), 1);
    mk("q/certs/new-lineage"); /* a new subdirectory */
    CHECK_INT(wait_fire(), 1);
    CHECK(px_watch_has_dir(w, at("q/certs/new-lineage")));
    mv("q/certs", "q/certs.old"); /* the cert_dir replaced by rename */
    mk("q/certs");
    CHECK(wait_fire() >= 1);
    close_watch(w);

    /* a configured file: its neighbours and its temporary file do not count */
    mk("f");
    put("f/cert.pem", "1");
    w = watch1("f/cert.pem", 0, 0);
    put("f/access.log", "x");
    put("f/key.pem", "a key beside it, not configured");
    put("f/cert.pem.tmp", "2");
    CHECK_INT(quiet_count(), 0);
    mv("f/cert.pem.tmp", "f/cert.pem");
    CHECK_INT(wait_fire(), 1);
    close_watch(w);
}

/* certbot writes the new archive file before relinking live/: the archive file alone is
 * not in use yet; the relink is the change. */
static void test_certbot_archive_first(void)
{
    mk("le2");
    mk("le2/archive");
    mk("le2/archive/n");
    mk("le2/live");
    mk("le2/live/n");
    put("le2/archive/n/fullchain1.pem", "v1");
    ln("../../archive/n/fullchain1.pem", "le2/live/n/fullchain.pem");
    struct px_watch *w = watch1("le2/live/n/fullchain.pem", 0, 0);
    put("le2/archive/n/fullchain2.pem", "v2");
    put("le2/live/n/README", "certbot's note");
    CHECK_INT(quiet_count(), 0);
    rm("le2/live/n/fullchain.pem");
    ln("../../archive/n/fullchain2.pem", "le2/live/n/fullchain.pem");
    CHECK_INT(wait_fire(), 1);
    put("le2/archive/n/fullchain1.pem", "the old target: no longer in use");
    CHECK_INT(quiet_count(), 0);
    close_watch(w);
}

/* Polling applies the same rule: an access log in a polled cert_dir is no change. */
static void test_polling_unrelated(void)
{
    mk("pq");
    put("pq/a.pem", "a");
    struct px_watch *w = watch1("pq", 50, PX_WATCH_NO_EVENTS);
    put("pq/access.log", "one");
    run_until(-1, 4 * 50);
    put("pq/access.log", "one two");
    CHECK_INT(quiet_count(), 0);
    put("pq/a.pem", "a changed");
    CHECK_INT(wait_fire(), 1);
    close_watch(w);
}

static void test_cert_entry(void)
{
    CHECK(px_watch_cert_entry("fullchain.pem"));
    CHECK(px_watch_cert_entry("tls.crt"));
    CHECK(px_watch_cert_entry("tls.key"));
    CHECK(px_watch_cert_entry("..data"));
    CHECK(!px_watch_cert_entry("..data_tmp"));
    CHECK(!px_watch_cert_entry("..2026_11_25_18_00_00.111"));
    CHECK(!px_watch_cert_entry(".fullchain.pem.swp"));
    CHECK(!px_watch_cert_entry("fullchain.pem~"));
    CHECK(!px_watch_cert_entry("access.log"));
    CHECK(!px_watch_cert_entry("4913"));
    CHECK(!px_watch_cert_entry("README"));
}

static void test_args(void)
{
    const char *paths[] = {at("plain/cert.pem")};
    CHECK(px_watch_new(&loop, paths, 0, 10, 0, on_change, NULL) == NULL);
    CHECK(px_watch_new(&loop, paths, 1, 10, 0, NULL, NULL) == NULL);
    CHECK(px_watch_new_ex(&loop, paths, 1, 10, 0, PX_WATCH_NO_EVENTS, on_change, NULL) == NULL);
    px_watch_close(NULL, NULL, NULL);
    /* Closing with a debounce pending: the callback never runs afterwards. */
    struct px_watch *w = watch1("plain/cert.pem", 0, 0);
    put("plain/cert.pem", "pending");
    uv_run(&loop, UV_RUN_NOWAIT);
    close_watch(w);
    run_until(-1, 2 * DEBOUNCE_MS);
    CHECK_INT(fired, 0);
}

int main(void)
{
    char tmpl[] = "/tmp/twofold-watch-XXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    char *real = realpath(tmpl, NULL);
    snprintf(root, sizeof(root), "%s", real);
    free(real);
    CHECK_INT(uv_loop_init(&loop), 0);

    test_rewrite_and_rename();
    test_debounce();
    test_certbot();
    test_kubernetes();
    test_symlinked_parent(0, 0, "k8s2");
    test_symlinked_parent(50, PX_WATCH_NO_EVENTS, "k8s3");
    test_cert_dir();
    test_polling_only();
    test_unrelated_files();
    test_certbot_archive_first();
    test_polling_unrelated();
    test_cert_entry();
    test_args();

    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK_INT(uv_loop_close(&loop), 0); /* every handle was closed */
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    CHECK_INT(system(cmd), 0);
    return tt_done();
}
