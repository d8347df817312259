/* Certificate directories: basename pairs, bundles, files without keys, certbot config and
 * live directories (symlinks into archive/), Kubernetes secret mounts (..data symlinks). */
#include "cs_dir_int.h"
#include "certgen.h"
#include "tt.h"

static char dir[512];
static struct cg_ca root, inter;

static const struct cs_diag_item *find_diag(const struct cs_diag *d, enum cs_level level,
                                            const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].level == level && strstr(d->items[i].msg, needle))
            return &d->items[i];
    return NULL;
}

static void mkdirs(const char *rel)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    for (char *s = p + strlen(dir) + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0700);
            *s = '/';
        }
    }
    mkdir(p, 0700);
}

static void new_leaf(struct cg_leaf *l, const char *key, const char *sans)
{
    struct cg_opts o = {.key = key, .sans = sans};
    CHECK_INT(cg_leaf_new(l, &o, &inter), 0);
}

/* Builds a one-site snapshot from one directory; returns it (or NULL) with findings. */
static struct cs_snapshot *build_dir(const char *rel, struct cs_diag *d)
{
    struct cs_conf conf;
    cs_conf_init(&conf);
    struct cs_site_conf *sc = cg_site_add(&conf, "dirsite");
    cg_site_dir(sc, cg_path(dir, rel));
    struct cs_snapshot *s = NULL;
    cs_diag_init(d);
    if (cs_snapshot_build(&conf, NULL, d, &s) != 0)
        s = NULL;
    cs_conf_clear(&conf);
    return s;
}

/* Plain directory: pairs by basename (.crt or .pem with .key), a bundle, a CA file without
 * key, unrelated files. Written in an unsorted order; the scan must be sorted. */
static void test_pairs(void)
{
    mkdirs("plain");
    struct cg_leaf a, b, c;
    new_leaf(&c, "ec:P-256", "c.test");
    new_leaf(&a, "ec:P-256", "a.test");
    new_leaf(&b, "ec:P-256", "b.test");
    const struct cg_ca *chain[] = {&inter};
    CHECK_INT(cg_write_bundle(cg_path(dir, "plain/c.pem"), &c, chain, 1), 0);
    CHECK_INT(cg_write_pair(cg_path(dir, "plain"), "a", &a, chain, 1), 0);
    CHECK_INT(cg_write_certs(cg_path(dir, "plain/b.pem"), &b.cert, 1), 0);
    CHECK_INT(cg_write_key(cg_path(dir, "plain/b.key"), b.key), 0);
    CHECK_INT(cg_write_certs(cg_path(dir, "plain/ca.crt"), &root.cert, 1), 0);
    CHECK_INT(cg_write_text(cg_path(dir, "plain/README"), "not a certificate\n"), 0);
    CHECK_INT(cg_write_key(cg_path(dir, "plain/.hidden.key"), a.key), 0);

    struct cs_src_list l = {0};
    struct cs_diag d;
    cs_diag_init(&d);
    CHECK_INT(cs__dir_scan(cg_path(dir, "plain"), "dirsite", &d, &l), 0);
    CHECK_INT(l.n, 4);
    if (l.n == 4) {
        CHECK_STR(l.v[0].cert, cg_path(dir, "plain/a.crt"));
        CHECK_STR(l.v[0].key, cg_path(dir, "plain/a.key"));
        CHECK_STR(l.v[1].cert, cg_path(dir, "plain/b.pem"));
        CHECK_STR(l.v[1].key, cg_path(dir, "plain/b.key"));
        CHECK_STR(l.v[2].cert, cg_path(dir, "plain/c.pem"));
        CHECK(l.v[2].key == NULL);
        CHECK_STR(l.v[3].cert, cg_path(dir, "plain/ca.crt"));
        CHECK(l.v[3].key == NULL);
    }
    cs__src_list_free(&l);
    cs_diag_free(&d);

    struct cs_snapshot *s = build_dir("plain", &d);
    CHECK(s != NULL);
    const struct cs_site *site = s ? cs_snapshot_site(s, 0) : NULL;
    CHECK_INT(site ? site->n_certs : 0, 3);
    if (site && site->n_certs == 3) {
        /* same key type and size: configuration (= sorted scan) order */
        CHECK_STR(site->certs[0]->dns_names[0], "a.test");
        CHECK_STR(site->certs[1]->dns_names[0], "b.test");
        CHECK_STR(site->certs[2]->dns_names[0], "c.test");
        CHECK_INT(sk_X509_num(site->certs[2]->chain), 1);
        CHECK_INT(site->n_names, 3);
    }
    const struct cs_diag_item *it = find_diag(&d, CS_NOTICE, "without a private key");
    CHECK(it != NULL);
    if (it)
        CHECK_STR(it->file, cg_path(dir, "plain/ca.crt"));
    CHECK_INT(cs_diag_count(&d, CS_WARNING), 0);
    cs_snapshot_release(s);
    cs_diag_free(&d);
    cg_leaf_free(&a);
    cg_leaf_free(&b);
    cg_leaf_free(&c);
}

/* certbot: DIR/archive/NAME/{cert,chain,fullchain,privkey}1.pem, DIR/live/NAME/X.pem
 * symlinks to ../../archive/NAME/X1.pem, DIR/live/README, DIR/renewal/NAME.conf. */
static void certbot_lineage(const char *name, const char *key)
{
    char rel[256], target[512], link[512];
    struct cg_leaf l;
    new_leaf(&l, key, name);
    snprintf(rel, sizeof(rel), "certbot/archive/%s", name);
    mkdirs(rel);
    X509 *full[] = {l.cert, inter.cert};
    snprintf(target, sizeof(target), "%s/fullchain1.pem", rel);
    CHECK_INT(cg_write_certs(cg_path(dir, target), full, 2), 0);
    snprintf(target, sizeof(target), "%s/cert1.pem", rel);
    CHECK_INT(cg_write_certs(cg_path(dir, target), full, 1), 0);
    snprintf(target, sizeof(target), "%s/chain1.pem", rel);
    CHECK_INT(cg_write_certs(cg_path(dir, target), &inter.cert, 1), 0);
    snprintf(target, sizeof(target), "%s/privkey1.pem", rel);
    CHECK_INT(cg_write_key(cg_path(dir, target), l.key), 0);
    snprintf(rel, sizeof(rel), "certbot/live/%s", name);
    mkdirs(rel);
    static const char *const files[] = {"cert", "chain", "fullchain", "privkey"};
    for (int i = 0; i < 4; i++) {
        snprintf(target, sizeof(target), "../../archive/%s/%s1.pem", name, files[i]);
        snprintf(link, sizeof(link), "%s/%s.pem", rel, files[i]);
        CHECK_INT(cg_symlink(target, cg_path(dir, link)), 0);
    }
    snprintf(link, sizeof(link), "%s/README", rel);
    CHECK_INT(cg_write_text(cg_path(dir, link), "certbot README\n"), 0);
    mkdirs("certbot/renewal");
    snprintf(link, sizeof(link), "certbot/renewal/%s.conf", name);
    CHECK_INT(cg_write_text(cg_path(dir, link), "version = 2.1.0\n"), 0);
    cg_leaf_free(&l);
}

static void check_certbot(const char *rel, size_t want)
{
    struct cs_diag d;
    struct cs_snapshot *s = build_dir(rel, &d);
    CHECK(s != NULL);
    const struct cs_site *site = s ? cs_snapshot_site(s, 0) : NULL;
    CHECK_INT(site ? site->n_certs : 0, want);
    for (size_t i = 0; site && i < site->n_certs; i++) {
        const struct cs_cert *c = site->certs[i];
        CHECK_CONTAINS(c->cert_path, "/live/");
        CHECK_CONTAINS(c->cert_path, "/fullchain.pem");
        CHECK_CONTAINS(c->key_path, "/privkey.pem");
        CHECK_INT(sk_X509_num(c->chain), 1);
    }
    if (site && want == 2) {
        /* ECDSA first (site default), whatever the directory order */
        CHECK_INT(site->certs[0]->type, CS_KEY_ECDSA);
        CHECK_STR(site->certs[0]->dns_names[0], "www.example.test");
        CHECK_INT(site->certs[1]->type, CS_KEY_RSA);
        CHECK_STR(site->certs[1]->dns_names[0], "example.test");
    }
    CHECK_INT(cs_diag_count(&d, CS_NOTICE), 0);
    cs_snapshot_release(s);
    cs_diag_free(&d);
}

static void test_certbot(void)
{
    certbot_lineage("example.test", "rsa:2048");
    certbot_lineage("www.example.test", "ec:P-256");
    check_certbot("certbot", 2);
    check_certbot("certbot/live", 2);
    check_certbot("certbot/live/www.example.test", 1);
}

/* Kubernetes secret volume: DIR/..2024_.../{tls.crt,tls.key,ca.crt}, DIR/..data -> that
 * directory, DIR/tls.crt -> ..data/tls.crt (and so on). */
static void test_kubernetes(void)
{
    const char *ts = "k8s/..2024_05_01_12_00_00.123456789";
    char p[512];
    mkdirs(ts);
    struct cg_leaf l;
    new_leaf(&l, "ec:P-384", "svc.ns.svc.test");
    const struct cg_ca *chain[] = {&inter};
    CHECK_INT(cg_write_pair(cg_path(dir, ts), "tls", &l, chain, 1), 0);
    snprintf(p, sizeof(p), "%s/ca.crt", ts);
    CHECK_INT(cg_write_certs(cg_path(dir, p), &root.cert, 1), 0);
    CHECK_INT(cg_symlink("..2024_05_01_12_00_00.123456789", cg_path(dir, "k8s/..data")), 0);
    CHECK_INT(cg_symlink("..data/tls.crt", cg_path(dir, "k8s/tls.crt")), 0);
    CHECK_INT(cg_symlink("..data/tls.key", cg_path(dir, "k8s/tls.key")), 0);
    CHECK_INT(cg_symlink("..data/ca.crt", cg_path(dir, "k8s/ca.crt")), 0);
    char fp[65];
    cg_fp_hex(l.cert, fp);
    cg_leaf_free(&l);

    struct cs_diag d;
    struct cs_snapshot *s = build_dir("k8s", &d);
    CHECK(s != NULL);
    const struct cs_site *site = s ? cs_snapshot_site(s, 0) : NULL;
    CHECK_INT(site ? site->n_certs : 0, 1);
    if (site && site->n_certs == 1) {
        CHECK_STR(site->certs[0]->cert_path, cg_path(dir, "k8s/tls.crt"));
        CHECK_STR(site->certs[0]->key_path, cg_path(dir, "k8s/tls.key"));
        CHECK_STR(site->certs[0]->fp_hex, fp);
        CHECK_INT(site->certs[0]->curve_nid, NID_secp384r1);
    }
    const struct cs_diag_item *it = find_diag(&d, CS_NOTICE, "without a private key");
    CHECK(it != NULL);
    if (it)
        CHECK_STR(it->file, cg_path(dir, "k8s/ca.crt"));
    CHECK_INT(cs_diag_count(&d, CS_WARNING), 0);
    cs_snapshot_release(s);
    cs_diag_free(&d);
}

static void test_missing_dir(void)
{
    struct cs_diag d;
    struct cs_snapshot *s = build_dir("no-such-dir", &d);
    CHECK(s == NULL);
    const struct cs_diag_item *it = find_diag(&d, CS_ERROR, "does not exist");
    CHECK(it != NULL);
    if (it)
        CHECK_STR(it->file, cg_path(dir, "no-such-dir"));
    cs_diag_free(&d);
}

/* A directory with only a CA file: nothing usable, so the site fails. */
static void test_only_ca(void)
{
    mkdirs("onlyca");
    CHECK_INT(cg_write_certs(cg_path(dir, "onlyca/ca.pem"), &root.cert, 1), 0);
    struct cs_diag d;
    struct cs_snapshot *s = build_dir("onlyca", &d);
    CHECK(s == NULL);
    CHECK(find_diag(&d, CS_NOTICE, "without a private key") != NULL);
    CHECK(find_diag(&d, CS_ERROR, "no usable certificate") != NULL);
    cs_diag_free(&d);
}

int main(void)
{
    CHECK_INT(cg_tmpdir(dir, sizeof(dir), "dir"), 0);
    CHECK_INT(cg_ca_new(&root, "Dir Root", "ec:P-256", NULL), 0);
    CHECK_INT(cg_ca_new(&inter, "Dir Intermediate", "ec:P-256", &root), 0);
    test_pairs();
    test_certbot();
    test_kubernetes();
    test_missing_dir();
    test_only_ca();
    cg_ca_free(&root);
    cg_ca_free(&inter);
    cg_rmtree(dir);
    return tt_done();
}
