/* Hot reload, certstore side (cs_snapshot_rebuild): every bad renewal leaves the old
 * certificate served (checked by a real in-memory handshake through the new snapshot)
 * while another site of the same config updates, and reports why; a later good renewal
 * applies; on_coverage_loss = warn applies a loss as WARNED; require is enforced at startup
 * and on reload; unchanged sites reuse the same certificates; sites added, removed, failed.
 *
 * Config: site "a" (a-rsa: RSA-2048, a-ec: ECDSA P-256, both for a.example and
 * www.a.example; SAN-derived names) first, so it is also the default site; site "b"
 * (b-ec, b-rsa for b.example), renewed with a fresh ECDSA certificate every round.
 *
 * Deleted files (documented choice, see cs_reload.c): a deleted certificate file is KEPT,
 * a key file missing next to its certificate is PENDING. */
#include "cs.h"
#include "cs_site_int.h"
#include "cs_snapshot_int.h"
#include "certgen.h"
#include "tt.h"

#include <openssl/err.h>
#include <sys/time.h>
#include <time.h>

static char dir[512];
static struct cg_ca root;
static EVP_PKEY *rsa_a, *rsa_b, *rsa_other;
static char fp_a_rsa[65], fp_a_ec[65];
static char *orig_crt, *orig_key; /* a-rsa.crt and a-rsa.key as first written */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 1 << 16);
    size_t n = f && buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    if (f)
        fclose(f);
    CHECK(n > 0);
    return buf;
}

/* Writes DIR/NAME.crt (+ .key unless cert_only). pkey NULL: a new key from spec. */
static void leaf(const char *name, EVP_PKEY *pkey, const char *spec, const char *sans, long na,
                 bool cert_only, char fp[65])
{
    struct cg_leaf l;
    struct cg_opts o = {.key = spec, .pkey = pkey, .sans = sans};
    if (na < 0) {
        o.not_before = -30L * 86400;
        o.not_after = na;
    }
    CHECK_INT(cg_leaf_new(&l, &o, &root), 0);
    if (cert_only) {
        char crt[600];
        snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
        CHECK_INT(cg_write_certs(crt, &l.cert, 1), 0);
    } else {
        CHECK_INT(cg_write_pair(dir, name, &l, NULL, 0), 0);
    }
    if (fp)
        cg_fp_hex(l.cert, fp);
    cg_leaf_free(&l);
}

static void restore_a_rsa(void)
{
    CHECK_INT(cg_write_text(cg_path(dir, "a-rsa.crt"), orig_crt), 0);
    CHECK_INT(cg_write_text(cg_path(dir, "a-rsa.key"), orig_key), 0);
}

static void pair(struct cs_site_conf *sc, const char *name)
{
    char crt[64], key[64];
    snprintf(crt, sizeof(crt), "%s.crt", name);
    snprintf(key, sizeof(key), "%s.key", name);
    cg_site_cert(sc, cg_path(dir, crt), cg_path(dir, key));
}

static void std_conf(struct cs_conf *conf)
{
    cs_conf_init(conf);
    struct cs_site_conf *sc = cg_site_add(conf, "a");
    pair(sc, "a-rsa");
    pair(sc, "a-ec");
    sc = cg_site_add(conf, "b");
    pair(sc, "b-ec");
    pair(sc, "b-rsa");
}

/* The fingerprint a real handshake of profile gets from site (via the coverage driver),
 * "" when the handshake fails. */
static const char *served(const struct cs_snapshot *s, const char *site, const char *profile,
                          char out[65])
{
    struct cs_coverage cov;
    out[0] = '\0';
    if (cs_coverage_run(s, &cov) != 0)
        return out;
    for (size_t i = 0; i < cov.n_sites * cov.n_profiles; i++) {
        const struct cs_coverage_cell *c = &cov.cells[i];
        if (strcmp(c->site->name, site) == 0 && strcmp(c->profile->name, profile) == 0 && c->ok)
            memcpy(out, c->fp_hex, 65);
    }
    cs_coverage_free(&cov);
    return out;
}

static const struct cs_site_report *rep(const struct cs_reload_report *r, const char *site)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->sites[i].site, site) == 0)
            return &r->sites[i];
    return NULL;
}

static bool has_profile(const struct cs_site_report *sr, const char *name)
{
    for (size_t i = 0; sr && i < sr->n_profiles_lost; i++)
        if (strcmp(sr->profiles_lost[i], name) == 0)
            return true;
    return false;
}

static bool has_finding(const struct cs_diag *d, enum cs_level lv, const char *site,
                        const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].level == lv && d->items[i].site && strcmp(d->items[i].site, site) == 0 &&
            strstr(d->items[i].msg, needle))
            return true;
    return false;
}

/* Reloads conf against *live and publishes the result. Returns the rebuild's rc. */
static int reload(const struct cs_conf *conf, struct cs_snapshot **live, struct cs_reload_report *r,
                  struct cs_diag *d)
{
    struct cs_snapshot *s = NULL;
    cs_diag_init(d);
    struct timespec t0, t1, c0, c1; /* printed for people, never asserted */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    int rc = cs_snapshot_rebuild(conf, *live, d, r, &s);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "   (rebuild: %.1f ms, %.1f ms CPU)\n",
            (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6,
            (c1.tv_sec - c0.tv_sec) * 1e3 + (c1.tv_nsec - c0.tv_nsec) / 1e6);
    for (size_t i = 0; i < r->n; i++) /* the report as an operator reads it */
        if (r->sites[i].diff && r->sites[i].diff[0])
            fprintf(stderr, "   %s\n", r->sites[i].diff);
    if (rc == 0) {
        CHECK(s != NULL);
        cs_snapshot_release(*live);
        *live = s;
    } else {
        CHECK(s == NULL);
    }
    return rc;
}

static int b_round;

static void counts_agree(const struct cs_reload_report *r);

/* Renews b-ec (always good) so every round also shows another site updating. */
static void renew_b(char fp[65])
{
    leaf("b-ec", NULL, "ec:P-256", "b.example", 0, false, fp);
    b_round++;
}

/* One bad renewal of site a: a keeps exactly its old certificates (served by a real
 * handshake), b updates, and a's report entry is status with diff. */
static void bad_round(const char *what, const struct cs_conf *conf, struct cs_snapshot **live,
                      enum cs_site_status status, const char *diff, struct cs_reload_report *r,
                      struct cs_diag *d)
{
    char fp_b[65], got[65];
    const struct cs_site *old_a = cs_snapshot_site(*live, 0);
    struct cs_cert *old0 = old_a->certs[0], *old1 = old_a->certs[1];
    renew_b(fp_b);
    fprintf(stderr, "-- %s\n", what);
    CHECK_INT(reload(conf, live, r, d), 0);
    const struct cs_site_report *ra = rep(r, "a"), *rb = rep(r, "b");
    CHECK(ra && rb);
    if (!ra || !rb)
        return;
    CHECK_STR(cs_site_status_name(ra->status), cs_site_status_name(status));
    if (diff && diff[0] == '=')
        CHECK_STR(ra->diff, diff + 1);
    else if (diff)
        CHECK_CONTAINS(ra->diff, diff);
    CHECK_INT(rb->status, CS_SITE_UPDATED);
    CHECK_CONTAINS(rb->diff, "b: updated: now serving b-ec.crt (ECDSA P-256");
    const struct cs_site *a = cs_snapshot_site(*live, 0);
    CHECK(a->n_certs == 2 && a->certs[0] == old0 && a->certs[1] == old1);
    CHECK_STR(served(*live, "a", "tls12-rsa-only", got), fp_a_rsa);
    CHECK_STR(served(*live, "a", "modern-tls13", got), fp_a_ec);
    CHECK_STR(served(*live, "b", "tls13-ecdsa-only", got), fp_b);
    CHECK(cs_diag_count(d, CS_ERROR) > 0); /* the failed files are still reported */
    counts_agree(r);
}

/* Profiles site a handshakes in live and not in a fresh startup build of conf. */
static size_t expected_lost(const struct cs_conf *conf, const struct cs_snapshot *live,
                            const char **out)
{
    struct cs_diag d;
    struct cs_snapshot *cand = NULL;
    struct cs_coverage before, after;
    size_t n = 0;
    cs_diag_init(&d);
    CHECK_INT(cs_snapshot_build(conf, NULL, &d, &cand), 0);
    if (cand && cs_coverage_run(live, &before) == 0) {
        if (cs_coverage_run(cand, &after) == 0) {
            for (size_t p = 0; p < before.n_profiles; p++) /* site a is row 0 in both */
                if (before.cells[p].ok && !after.cells[p].ok)
                    out[n++] = before.cells[p].profile->name;
            cs_coverage_free(&after);
        }
        cs_coverage_free(&before);
    }
    cs_snapshot_release(cand);
    cs_diag_free(&d);
    return n;
}

static void expect_refusal(const char *what, const struct cs_conf *conf, struct cs_snapshot **live,
                           const char *reason, const char *must_lose, struct cs_reload_report *r,
                           struct cs_diag *d)
{
    const char *lost[64];
    size_t n = expected_lost(conf, *live, lost);
    char diff[2048];
    int len = snprintf(diff, sizeof(diff), "=a: refused: %s; profiles that would fail: ", reason);
    for (size_t i = 0; i < n; i++)
        len += snprintf(diff + len, sizeof(diff) - (size_t)len, "%s%s", i ? ", " : "", lost[i]);
    CHECK(n > 0);
    bad_round(what, conf, live, CS_SITE_REFUSED, diff, r, d);
    const struct cs_site_report *ra = rep(r, "a");
    CHECK(has_profile(ra, must_lose));
    CHECK_INT(ra ? ra->n_profiles_lost : 0, n);
    CHECK_INT(r->n_refused, 1);
    CHECK(has_finding(d, CS_ERROR, "a", "new certificates refused, previous ones kept"));
    cs_reload_report_free(r);
    cs_diag_free(d);
}

static void pending_and_kept(const struct cs_conf *conf, struct cs_snapshot **live)
{
    struct cs_reload_report r;
    struct cs_diag d;

    /* new certificate written, key not yet: the old key does not match */
    leaf("a-rsa", rsa_other, NULL, "a.example,www.a.example", 0, true, NULL);
    bad_round(
        "mismatched key", conf, live, CS_SITE_PENDING,
        "=a: pending, previous certificates serve until the renewal is complete: a-rsa.crt: key "
        "does not match certificate "
        "(renewal still being written?)",
        &r, &d);
    CHECK_INT(r.n_pending, 1);
    CHECK_INT(r.n_updated, 1);
    cs_reload_report_free(&r);
    cs_diag_free(&d);

    restore_a_rsa();
    CHECK_INT(cg_truncate(cg_path(dir, "a-rsa.crt"), (long)strlen(orig_crt) / 2), 0);
    bad_round("truncated PEM", conf, live, CS_SITE_PENDING,
              "=a: pending, previous certificates serve until the renewal is complete: a-rsa.crt: "
              "truncated or unreadable PEM "
              "(renewal still being written?)",
              &r, &d);
    cs_reload_report_free(&r);
    cs_diag_free(&d);

    restore_a_rsa();
    CHECK_INT(unlink(cg_path(dir, "a-rsa.key")), 0);
    bad_round(
        "deleted key file", conf, live, CS_SITE_PENDING,
        "=a: pending, previous certificates serve until the renewal is complete: a-rsa.key: key "
        "file missing (renewal still "
        "being written?)",
        &r, &d);
    cs_reload_report_free(&r);
    cs_diag_free(&d);

    restore_a_rsa();
    CHECK_INT(unlink(cg_path(dir, "a-rsa.crt")), 0);
    bad_round("deleted certificate file", conf, live, CS_SITE_KEPT,
              "a: kept previous certificates: a-rsa.crt: cannot open", &r, &d);
    CHECK_INT(r.n_kept, 1);
    cs_reload_report_free(&r);
    cs_diag_free(&d);

    leaf("a-rsa", rsa_a, NULL, "a.example,www.a.example", -86400, false, NULL);
    bad_round("expired", conf, live, CS_SITE_KEPT,
              "a: kept previous certificates: a-rsa.crt: expired on", &r, &d);
    cs_reload_report_free(&r);
    cs_diag_free(&d);
}

static void refusals(const struct cs_conf *conf, struct cs_snapshot **live)
{
    struct cs_reload_report r;
    struct cs_diag d;

    leaf("a-rsa", NULL, "ec:P-256", "a.example,www.a.example", 0, false, NULL);
    expect_refusal("RSA replaced by ECDSA", conf, live,
                   "RSA would be removed (a-rsa.crt now holds an ECDSA P-256 key)",
                   "tls12-rsa-only", &r, &d);

    restore_a_rsa();
    leaf("a-ec", rsa_b, NULL, "a.example,www.a.example", 0, false, NULL);
    expect_refusal("ECDSA replaced by RSA", conf, live,
                   "ECDSA would be removed (a-ec.crt now holds an RSA-2048 key)",
                   "tls13-ecdsa-only", &r, &d);

    /* both renewed without www.a.example: the site's names come from its SANs */
    leaf("a-ec", NULL, "ec:P-256", "a.example", 0, false, NULL);
    leaf("a-rsa", rsa_a, NULL, "a.example", 0, false, NULL);
    renew_b(NULL);
    CHECK_INT(reload(conf, live, &r, &d), 0);
    CHECK_INT(rep(&r, "a")->status, CS_SITE_REFUSED);
    CHECK_STR(rep(&r, "a")->diff, "a: refused: name www.a.example would no longer be covered");
    CHECK_INT(rep(&r, "a")->n_profiles_lost, 0);
    char got[65];
    CHECK_STR(served(*live, "a", "tls12-rsa-only", got), fp_a_rsa);
    CHECK(cs_snapshot_lookup(*live, "www.a.example", NULL) != NULL);
    cs_reload_report_free(&r);
    cs_diag_free(&d);
}

/* The guard's outcomes kept with the new snapshot (reused as the live side next time)
 * agree with a full coverage run of that snapshot for site a (the default site, so the
 * no-SNI profile lands on it in both). */
static void same_row(const struct cs_snapshot *s)
{
    const unsigned char *row = cs__snapshot_row(s, 0);
    struct cs_coverage cov;
    CHECK(row != NULL);
    if (!row || cs_coverage_run(s, &cov) != 0)
        return;
    for (size_t p = 0; p < cov.n_profiles; p++)
        CHECK_INT(row[p], cov.cells[p].ok ? CS_ROW_OK : CS_ROW_FAIL);
    cs_coverage_free(&cov);
}

/* A good renewal after the bad ones applies; an RSA-4096 renewal only warns. */
static void good_renewals(const struct cs_conf *conf, struct cs_snapshot **live)
{
    struct cs_reload_report r;
    struct cs_diag d;
    char fp_new[65], fp_ec_new[65], got[65];

    leaf("a-ec", NULL, "ec:P-256", "a.example,www.a.example", 0, false, fp_ec_new);
    leaf("a-rsa", rsa_b, NULL, "a.example,www.a.example", 0, false, fp_new);
    uint64_t gen = cs_snapshot_generation(*live);
    CHECK_INT(reload(conf, live, &r, &d), 0);
    CHECK_INT(cs_snapshot_generation(*live), gen + 1); /* the guard's snapshots take none */
    CHECK_INT(rep(&r, "a")->status, CS_SITE_UPDATED);
    CHECK_CONTAINS(rep(&r, "a")->diff, "a: updated: now serving ");
    CHECK_CONTAINS(rep(&r, "a")->diff, "a-rsa.crt (RSA-2048, sha256 ");
    CHECK_CONTAINS(rep(&r, "a")->diff, "; no longer serving ");
    CHECK_INT(rep(&r, "b")->status, CS_SITE_UNCHANGED);
    CHECK_STR(rep(&r, "b")->diff, "");
    CHECK_INT(r.n_updated, 1);
    CHECK_INT(cs_diag_count(&d, CS_ERROR), 0);
    CHECK_STR(served(*live, "a", "tls12-rsa-only", got), fp_new);
    CHECK_STR(served(*live, "a", "modern-tls13", got), fp_ec_new);
    same_row(*live);
    cs_reload_report_free(&r);
    cs_diag_free(&d);

    EVP_PKEY *k4096 = cg_key("rsa:4096");
    CHECK(k4096 != NULL);
    leaf("a-rsa", k4096, NULL, "a.example,www.a.example", 0, false, fp_new);
    EVP_PKEY_free(k4096);
    CHECK_INT(reload(conf, live, &r, &d), 0);
    CHECK_INT(rep(&r, "a")->status, CS_SITE_UPDATED);
    CHECK_CONTAINS(rep(&r, "a")->diff,
                   "; warning: RSA key size changes from 2048 to 4096 bits (a-rsa.crt)");
    CHECK(has_finding(&d, CS_WARNING, "a", "RSA key size changes from 2048 to 4096 bits"));
    CHECK_INT(cs_diag_count(&d, CS_ERROR), 0);
    CHECK_STR(served(*live, "a", "tls12-rsa-only", got), fp_new);
    cs_reload_report_free(&r);
    cs_diag_free(&d);
}

/* on_coverage_loss = warn: the same RSA -> ECDSA renewal applies, reported. */
static void warn_policy(struct cs_conf *conf, struct cs_snapshot **live)
{
    struct cs_reload_report r;
    struct cs_diag d;
    char fp_new[65], got[65];
    conf->sites[0].on_coverage_loss = CS_LOSS_WARN;
    leaf("a-rsa", NULL, "ec:P-384", "a.example,www.a.example", 0, false, fp_new);
    CHECK_INT(reload(conf, live, &r, &d), 0);
    const struct cs_site_report *ra = rep(&r, "a");
    CHECK_INT(ra->status, CS_SITE_WARNED);
    CHECK_CONTAINS(ra->diff, "a: applied despite coverage loss (on_coverage_loss = warn): RSA "
                             "would be removed (a-rsa.crt now holds an ECDSA P-384 key); "
                             "profiles that now fail: ");
    CHECK(has_profile(ra, "tls12-rsa-only"));
    CHECK_INT(r.n_updated, 1);
    CHECK_INT(r.n_refused, 0);
    CHECK(has_finding(&d, CS_WARNING, "a", "applied despite coverage loss"));
    CHECK_STR(served(*live, "a", "tls12-rsa-only", got), "");
    CHECK_STR(served(*live, "a", "tls12-p384-only", got), fp_new);
    cs_reload_report_free(&r);
    cs_diag_free(&d);
    conf->sites[0].on_coverage_loss = CS_LOSS_REFUSE;
}

/* Nothing changed: the same cs_cert pointers, every site UNCHANGED with an empty diff,
 * and the rebuild hands back the live snapshot itself, with its generation. Files touched
 * (new mtime) or rewritten with the same bytes through a new inode change nothing either. */
static void unchanged_round(const char *what, const struct cs_conf *conf, struct cs_snapshot **live)
{
    struct cs_reload_report r;
    struct cs_diag d;
    struct cs_cert *before[2][2];
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 2; j++)
            before[i][j] = cs_snapshot_site(*live, i)->certs[j];
    uint64_t gen = cs_snapshot_generation(*live);
    const struct cs_snapshot *was = *live;
    fprintf(stderr, "-- unchanged: %s\n", what);
    CHECK_INT(reload(conf, live, &r, &d), 0);
    CHECK(*live == was);
    CHECK_INT(cs_snapshot_generation(*live), gen);
    CHECK(r.unchanged);
    CHECK_INT(r.n, 2);
    for (size_t i = 0; i < r.n; i++) {
        CHECK_INT(r.sites[i].status, CS_SITE_UNCHANGED);
        CHECK_STR(r.sites[i].diff, "");
    }
    for (size_t i = 0; i < 2; i++)
        for (size_t j = 0; j < 2; j++)
            CHECK(cs_snapshot_site(*live, i)->certs[j] == before[i][j]);
    CHECK_INT(r.n_updated + r.n_kept + r.n_pending + r.n_refused + r.n_failed, 0);
    cs_reload_report_free(&r);
    cs_diag_free(&d);
}

static void unchanged(const struct cs_conf *conf, struct cs_snapshot **live)
{
    unchanged_round("nothing done", conf, live);
    CHECK_INT(utimes(cg_path(dir, "a-rsa.crt"), NULL), 0); /* touch */
    CHECK_INT(utimes(cg_path(dir, "a-ec.key"), NULL), 0);
    unchanged_round("files touched", conf, live);
    char *ec = slurp(cg_path(dir, "a-ec.crt"));
    CHECK_INT(cg_write_text(cg_path(dir, "a-ec.crt.tmp"), ec), 0);
    CHECK_INT(rename(cg_path(dir, "a-ec.crt.tmp"), cg_path(dir, "a-ec.crt")), 0);
    free(ec);
    unchanged_round("same bytes through a new inode", conf, live);
    unchanged_round("and again (parsed again: still the same bytes)", conf, live);

    /* a changed setting is a change: the new snapshot takes a generation */
    struct cs_conf c2 = *conf;
    struct cs_reload_report r;
    struct cs_diag d;
    uint64_t gen = cs_snapshot_generation(*live);
    c2.default_site = "b";
    CHECK_INT(reload(&c2, live, &r, &d), 0);
    CHECK(!r.unchanged);
    CHECK(cs_snapshot_generation(*live) > gen);
    cs_reload_report_free(&r);
    cs_diag_free(&d);
    c2.default_site = NULL;
    CHECK_INT(reload(&c2, live, &r, &d), 0); /* back to the first site */
    CHECK(!r.unchanged);
    cs_reload_report_free(&r);
    cs_diag_free(&d);
    c2.strict_sni = !conf->strict_sni;
    CHECK_INT(reload(&c2, live, &r, &d), 0);
    CHECK(!r.unchanged);
    cs_reload_report_free(&r);
    cs_diag_free(&d);
    CHECK_INT(reload(conf, live, &r, &d), 0);
    CHECK(!r.unchanged);
    cs_reload_report_free(&r);
    cs_diag_free(&d);
    unchanged_round("settings back", conf, live);
}

/* Names in reload messages: certbot lineages all hold fullchain.pem, Kubernetes secrets
 * tls.crt: those are named with their lineage or secret directory. */
static void cert_names(void)
{
    CHECK_STR(cs__cert_name("/etc/twofold/a-rsa.crt"), "a-rsa.crt");
    CHECK_STR(cs__cert_name("/etc/letsencrypt/live/example.org/fullchain.pem"),
              "live/example.org/fullchain.pem");
    CHECK_STR(cs__cert_name("/etc/letsencrypt/live/example.org/privkey.pem"),
              "live/example.org/privkey.pem");
    CHECK_STR(cs__cert_name("live/x/fullchain.pem"), "live/x/fullchain.pem");
    CHECK_STR(cs__cert_name("/srv/certs/shop/fullchain.pem"), "shop/fullchain.pem");
    CHECK_STR(cs__cert_name("/var/run/secrets/site-a/tls.crt"), "site-a/tls.crt");
    CHECK_STR(cs__cert_name("/mnt/site-a/..data/tls.key"), "site-a/..data/tls.key");
    CHECK_STR(cs__cert_name("fullchain.pem"), "fullchain.pem");
    CHECK_STR(cs__cert_name("/fullchain.pem"), "fullchain.pem");
    CHECK_STR(cs__cert_name("x/fullchain.pem"), "x/fullchain.pem");
    CHECK_STR(cs__cert_name(""), "");
}

/* The summary's counts use the per-site lines' words: a pending site is counted pending
 * and its line says pending; a kept site is counted kept and says kept. */
static void counts_agree(const struct cs_reload_report *r)
{
    char counts[160], want[64];
    size_t n_kept_lines = 0, n_pending_lines = 0;
    for (size_t i = 0; i < r->n; i++) {
        n_kept_lines += strstr(r->sites[i].diff, ": kept previous certificates") != NULL;
        n_pending_lines += strstr(r->sites[i].diff, ": pending, ") != NULL;
    }
    cs_reload_report_counts(r, counts, sizeof(counts));
    fprintf(stderr, "   counts: %s\n", counts);
    CHECK_INT(n_kept_lines, r->n_kept);
    CHECK_INT(n_pending_lines, r->n_pending);
    snprintf(want, sizeof(want), "%zu kept, %zu pending", n_kept_lines, n_pending_lines);
    CHECK_CONTAINS(counts, want);
}

/* require = rsa ecdsa: startup fails without RSA; a reload that would drop it keeps. */
static void require_types(struct cs_snapshot **live)
{
    struct cs_conf conf;
    struct cs_diag d;
    struct cs_snapshot *s = NULL;
    struct cs_reload_report r;
    cs_conf_init(&conf);
    struct cs_site_conf *sc = cg_site_add(&conf, "r");
    sc->require = CS_REQUIRE_RSA | CS_REQUIRE_ECDSA;
    pair(sc, "b-ec");
    cs_diag_init(&d);
    CHECK(cs_snapshot_build(&conf, NULL, &d, &s) < 0);
    CHECK(s == NULL);
    CHECK(has_finding(&d, CS_ERROR, "r", "require = rsa ecdsa but no usable RSA certificate"));
    cs_diag_free(&d);

    pair(&conf.sites[0], "b-rsa");
    cs_diag_init(&d);
    CHECK_INT(cs_snapshot_build(&conf, NULL, &d, &s), 0);
    cs_diag_free(&d);
    conf.sites[0].n_certs = 1; /* the config now lists only the ECDSA pair */
    CHECK_INT(reload(&conf, &s, &r, &d), 0);
    CHECK_INT(rep(&r, "r")->status, CS_SITE_KEPT);
    CHECK_STR(rep(&r, "r")->diff, "r: kept previous certificates: require = rsa ecdsa but no "
                                  "usable RSA certificate");
    CHECK_INT(cs_snapshot_site(s, 0)->n_certs, 2);
    conf.sites[0].n_certs = 2; /* so cs_conf_clear frees both */
    cs_reload_report_free(&r);
    cs_diag_free(&d);
    cs_snapshot_release(s);
    cs_conf_clear(&conf);
    (void)live;
}

/* A site added, one removed (not a loss), one that cannot load and has no previous. */
static void added_removed_failed(struct cs_snapshot **live)
{
    struct cs_conf conf;
    struct cs_reload_report r;
    struct cs_diag d;
    cs_conf_init(&conf);
    pair(cg_site_add(&conf, "a"), "a-rsa");
    pair(cg_site_add(&conf, "c"), "b-rsa");
    CHECK_INT(reload(&conf, live, &r, &d), 0);
    CHECK_INT(r.n, 3);
    CHECK_INT(rep(&r, "c")->status, CS_SITE_ADDED);
    CHECK_CONTAINS(rep(&r, "c")->diff, "c: added: now serving b-rsa.crt (RSA-2048");
    CHECK_INT(rep(&r, "b")->status, CS_SITE_REMOVED);
    CHECK_STR(rep(&r, "b")->diff, "b: removed from the configuration");
    CHECK_INT(cs_snapshot_site_count(*live), 2);
    cs_reload_report_free(&r);
    cs_diag_free(&d);

    pair(cg_site_add(&conf, "d"), "missing");
    uint64_t gen = cs_snapshot_generation(*live);
    CHECK(reload(&conf, live, &r, &d) < 0);
    CHECK_INT(rep(&r, "d")->status, CS_SITE_FAILED);
    CHECK_CONTAINS(rep(&r, "d")->diff, "d: no usable certificate: missing.crt: cannot open");
    CHECK_INT(r.n_failed, 1);
    CHECK_INT(cs_snapshot_generation(*live), gen);
    cs_reload_report_free(&r);
    cs_diag_free(&d);
    cs_conf_clear(&conf);
}

static void setup(void)
{
    CHECK_INT(cg_tmpdir(dir, sizeof(dir), "reload"), 0);
    CHECK_INT(cg_ca_new(&root, "Reload Root", "ec:P-256", NULL), 0);
    rsa_a = cg_key("rsa:2048");
    rsa_b = cg_key("rsa:2048");
    rsa_other = cg_key("rsa:2048");
    CHECK(rsa_a && rsa_b && rsa_other);
    leaf("a-rsa", rsa_a, NULL, "a.example,www.a.example", 0, false, fp_a_rsa);
    leaf("a-ec", NULL, "ec:P-256", "a.example,www.a.example", 0, false, fp_a_ec);
    leaf("b-ec", NULL, "ec:P-256", "b.example", 0, false, NULL);
    leaf("b-rsa", rsa_b, NULL, "b.example", 0, false, NULL);
    orig_crt = slurp(cg_path(dir, "a-rsa.crt"));
    orig_key = slurp(cg_path(dir, "a-rsa.key"));
}

int main(void)
{
    struct cs_conf conf;
    struct cs_diag d;
    struct cs_snapshot *live = NULL;
    struct cs_reload_report r0 = {0};

    setup();
    std_conf(&conf);
    cs_diag_init(&d);
    CHECK_INT(cs_snapshot_build(&conf, NULL, &d, &live), 0);
    cs_diag_free(&d);
    if (!live)
        return tt_done();
    cs_reload_report_free(&r0);
    cs_reload_report_free(NULL);
    CHECK_STR(cs_site_status_name(CS_SITE_PENDING), "pending");

    cert_names();
    unchanged(&conf, &live);
    pending_and_kept(&conf, &live);
    refusals(&conf, &live);
    good_renewals(&conf, &live);
    warn_policy(&conf, &live);
    require_types(&live);
    added_removed_failed(&live);

    cs_snapshot_release(live);
    cs_conf_clear(&conf);
    EVP_PKEY_free(rsa_a);
    EVP_PKEY_free(rsa_b);
    EVP_PKEY_free(rsa_other);
    cg_ca_free(&root);
    free(orig_crt);
    free(orig_key);
    cg_rmtree(dir);
    return tt_done();
}
