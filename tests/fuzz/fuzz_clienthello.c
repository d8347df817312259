/* Fuzz target: ClientHello parsing (cs_hello_parse) and certificate selection (cs_select).
 *
 * Properties (a broken one aborts):
 *  1. cs_hello_parse never reads out of bounds; a parsed hello keeps its lists within
 *     their arrays, holds no GREASE value and a NUL-terminated, non-empty SNI; a bare
 *     handshake message and the same message wrapped in a TLS record parse the same.
 *  2. cs_select over fixed synthetic certificates, with the suites of two real server
 *     contexts (twofold's default policy and a permissive legacy one):
 *     - it returns 0 with a certificate, or negative with a failure and a reason;
 *     - the version is the highest one both sides enable (recomputed here);
 *     - every certificate marked usable passes an independent re-check of the basic
 *       rule (TLS 1.3: the sigalg its key needs and a shared suite; TLS <= 1.2: a suite of
 *       its key type, the ECDSA curve in the client's groups, a sigalg of its type);
 *     - a certificate that plainly fits the client (a conservative sufficient rule) is
 *       never refused, so no client is refused while a usable key type exists;
 *     - the chosen certificate is the first usable one, the site's preferred type first.
 */
#include <openssl/obj_mac.h>
#include <string.h>

#include "cs_internal.h"
#include "fuzz_common.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum { RSA2048, RSA4096, P256, P384, P521, N_CERTS };

static struct cs_cert certs[N_CERTS];
static struct cs_suites suites[2];
static const struct cs_site site_ecdsa = {.name = "ecdsa-first", .prefer = CS_PREFER_ECDSA};
static const struct cs_site site_rsa = {.name = "rsa-first", .prefer = CS_PREFER_RSA};

/* Candidate sets, each a list of cert indexes ended by -1. */
static const int sets[][6] = {
    {P256, RSA2048, -1},
    {P384, P521, -1},
    {RSA4096, -1},
    {RSA2048, P256, P384, RSA4096, P521, -1},
};

static void make_cert(int i)
{
    struct cs_cert *c = &certs[i];
    c->type = i <= RSA4096 ? CS_KEY_RSA : CS_KEY_ECDSA;
    c->bits = i == RSA2048 ? 2048 : i == RSA4096 ? 4096 : i == P256 ? 256 : i == P384 ? 384 : 521;
    c->curve_nid = i == P256   ? NID_X9_62_prime256v1
                   : i == P384 ? NID_secp384r1
                   : i == P521 ? NID_secp521r1
                               : 0;
    c->refs = 1;
}

/* The suites a real server context enables under a policy. */
static void make_suites(struct cs_suites *out, bool legacy)
{
    struct cs_conf conf;
    struct cs_diag d;
    cs_conf_init(&conf);
    cs_diag_init(&d);
    if (legacy) {
        conf.policy.min_version = TLS1_VERSION;
        conf.policy.ciphers = strdup("ALL:@SECLEVEL=0");
        conf.policy.groups = strdup("X25519:P-256:P-384:P-521");
    }
    struct cs_policy eff;
    cs_policy_effective(&conf.policy, &eff);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    FUZZ_CHECK(ctx != NULL && cs_ctx_apply_policy(ctx, &conf, &d) == 0);
    FUZZ_CHECK(cs_suites_compute(ctx, out) == 0 && cs_suites_set_groups(out, eff.groups) == 0);
    SSL_CTX_free(ctx);
    cs_diag_free(&d);
    cs_conf_clear(&conf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    for (int i = 0; i < N_CERTS; i++)
        make_cert(i);
    make_suites(&suites[0], false);
    make_suites(&suites[1], true);
    return 0;
}

/* ---- helpers ---- */

static bool has(const uint16_t *v, size_t n, uint16_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

static bool any_common(const uint16_t *a, size_t na, const uint16_t *b, size_t nb)
{
    for (size_t i = 0; i < na; i++)
        if (has(b, nb, a[i]))
            return true;
    return false;
}

static uint16_t curve_group(int nid)
{
    return nid == NID_X9_62_prime256v1 ? 23 : nid == NID_secp384r1 ? 24 : 25;
}

static uint16_t curve_sigalg13(int nid)
{
    return nid == NID_X9_62_prime256v1 ? 0x0403 : nid == NID_secp384r1 ? 0x0503 : 0x0603;
}

static bool is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static void check_list(const uint16_t *v, size_t n, size_t cap)
{
    FUZZ_CHECK(n <= cap);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(!is_grease(v[i]));
}

static void check_hello(const struct cs_hello *h)
{
    check_list(h->versions, h->n_versions, COUNT(h->versions));
    check_list(h->ciphers, h->n_ciphers, CS_HELLO_MAX);
    check_list(h->sigalgs, h->n_sigalgs, CS_HELLO_MAX);
    check_list(h->groups, h->n_groups, CS_HELLO_MAX);
    size_t sni_len = strnlen(h->sni, sizeof(h->sni));
    FUZZ_CHECK(sni_len < sizeof(h->sni));
    FUZZ_CHECK(h->has_sni ? sni_len > 0 : sni_len == 0);
}

/* ---- the selection rules, restated ---- */

static int expected_version(const struct cs_hello *h, const struct cs_suites *s)
{
    int best = 0;
    if (h->n_versions == 0) {
        best = h->legacy_version < TLS1_2_VERSION ? h->legacy_version : TLS1_2_VERSION;
        best = best < s->max_version ? best : s->max_version;
        return best >= s->min_version && best >= SSL3_VERSION ? best : 0;
    }
    for (size_t i = 0; i < h->n_versions; i++) {
        int v = h->versions[i];
        if (v >= SSL3_VERSION && v <= TLS1_3_VERSION && v >= s->min_version &&
            v <= s->max_version && v > best)
            best = v;
    }
    return best;
}

static bool sigalg_of(const struct cs_hello *h, enum cs_key_type t)
{
    for (size_t i = 0; i < h->n_sigalgs; i++) {
        uint16_t a = h->sigalgs[i];
        if (t == CS_KEY_ECDSA ? (a & 0xff) == 3 : (a & 0xff) == 1 || (a >= 0x0804 && a <= 0x0806))
            return true;
    }
    return false;
}

/* What any certificate the selector calls usable must satisfy. */
static bool necessary(const struct cs_cert *c, const struct cs_hello *h, const struct cs_suites *s,
                      int v)
{
    if (v == TLS1_3_VERSION) {
        if (!h->has_sigalgs || !any_common(h->ciphers, h->n_ciphers, s->tls13, s->n_tls13))
            return false;
        if (c->type == CS_KEY_ECDSA)
            return has(h->sigalgs, h->n_sigalgs, curve_sigalg13(c->curve_nid));
        return has(h->sigalgs, h->n_sigalgs, 0x0804) || has(h->sigalgs, h->n_sigalgs, 0x0805) ||
               has(h->sigalgs, h->n_sigalgs, 0x0806);
    }
    if (v == TLS1_2_VERSION && h->has_sigalgs && !sigalg_of(h, c->type))
        return false;
    if (c->type == CS_KEY_ECDSA)
        return any_common(h->ciphers, h->n_ciphers, s->tls12_ecdsa, s->n_tls12_ecdsa) &&
               (!h->has_groups || has(h->groups, h->n_groups, curve_group(c->curve_nid)));
    return any_common(h->ciphers, h->n_ciphers, s->tls12_rsa, s->n_tls12_rsa);
}

/* A conservative rule: a certificate meeting it must be usable. */
static bool sufficient(const struct cs_cert *c, const struct cs_hello *h, const struct cs_suites *s,
                       int v)
{
    bool groups_ok = h->has_groups ? any_common(h->groups, h->n_groups, s->groups, s->n_groups)
                                   : s->n_groups > 0;
    if (v == TLS1_3_VERSION)
        return groups_ok && necessary(c, h, s, v);
    /* TLS 1.2 with a SHA-256-or-better sigalg of the key's type. */
    static const uint16_t ec[] = {0x0403, 0x0503, 0x0603};
    static const uint16_t rsa[] = {0x0401, 0x0501, 0x0601, 0x0804, 0x0805, 0x0806};
    bool ecdsa = c->type == CS_KEY_ECDSA;
    if (v != TLS1_2_VERSION || !h->has_sigalgs || s->security_level > 3 ||
        !any_common(h->sigalgs, h->n_sigalgs, ecdsa ? ec : rsa, ecdsa ? COUNT(ec) : COUNT(rsa)))
        return false;
    if (ecdsa) {
        uint16_t g = curve_group(c->curve_nid);
        return any_common(h->ciphers, h->n_ciphers, s->tls12_ecdsa, s->n_tls12_ecdsa) &&
               (h->has_groups ? has(h->groups, h->n_groups, g) && has(s->groups, s->n_groups, g)
                              : s->n_groups > 0);
    }
    for (size_t i = 0; i < s->n_tls12_rsa; i++)
        if (has(h->ciphers, h->n_ciphers, s->tls12_rsa[i]) &&
            (!((s->tls12_rsa_ecdhe >> i) & 1) || groups_ok))
            return true;
    return false;
}

static void check_choice(const struct cs_entry *e, const struct cs_hello *h,
                         const struct cs_suites *s, int rc, const struct cs_choice *ch)
{
    FUZZ_CHECK((rc == 0) == (ch->cert != NULL) && (rc == 0) == (ch->fail == CS_FAIL_NONE));
    size_t rlen = strnlen(ch->reason, sizeof(ch->reason));
    FUZZ_CHECK(rlen > 0 && rlen < sizeof(ch->reason));
    int v = expected_version(h, s);
    FUZZ_CHECK(ch->version == v);
    if (v == 0) {
        FUZZ_CHECK(rc < 0 && ch->fail == CS_FAIL_PROTOCOL);
        return;
    }
    FUZZ_CHECK(ch->n_verdicts == e->n_certs);
    enum cs_key_type first = e->site->prefer == CS_PREFER_RSA ? CS_KEY_RSA : CS_KEY_ECDSA;
    const struct cs_cert *chosen = NULL;
    bool other_type = false;
    for (size_t i = 0; i < ch->n_verdicts; i++) {
        const struct cs_verdict *vd = &ch->verdicts[i];
        size_t k = 0;
        while (k < e->n_certs && e->certs[k] != vd->cert)
            k++;
        FUZZ_CHECK(k < e->n_certs);
        FUZZ_CHECK(strnlen(vd->reason, sizeof(vd->reason)) < sizeof(vd->reason));
        other_type |= vd->cert->type != first;
        FUZZ_CHECK(!other_type || vd->cert->type != first); /* preferred type first */
        if (vd->usable)
            FUZZ_CHECK(necessary(vd->cert, h, s, v));
        if (sufficient(vd->cert, h, s, v))
            FUZZ_CHECK(vd->usable);
        if (vd->usable && !chosen)
            chosen = vd->cert;
    }
    FUZZ_CHECK(ch->cert == chosen);
    FUZZ_CHECK(rc == 0 || ch->fail == CS_FAIL_NO_CERT);
}

static void select_all(const struct cs_hello *h)
{
    for (size_t si = 0; si < COUNT(suites); si++) {
        for (size_t k = 0; k < COUNT(sets); k++) {
            for (int pref = 0; pref < 2; pref++) {
                struct cs_cert *list[6];
                size_t n = 0;
                for (; sets[k][n] >= 0; n++)
                    list[n] = &certs[sets[k][n]];
                struct cs_entry e = {pref ? &site_rsa : &site_ecdsa, list, n};
                struct cs_choice ch;
                int rc = cs_select(&e, h, &suites[si], &ch);
                check_choice(&e, h, &suites[si], rc, &ch);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cs_hello h;
    char err[160];
    int rc = cs_hello_parse(data, size, &h, err, sizeof(err));
    FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err));
    FUZZ_CHECK(rc == 0 || (rc < 0 && err[0] != '\0'));
    /* A bare handshake message wrapped in one record parses the same. */
    if (size > 0 && size <= 0xffff && data[0] != 22 && !(data[0] & 0x80)) {
        uint8_t *rec = malloc(size + 5);
        FUZZ_CHECK(rec != NULL);
        rec[0] = 22, rec[1] = 3, rec[2] = 1, rec[3] = (uint8_t)(size >> 8), rec[4] = (uint8_t)size;
        memcpy(rec + 5, data, size);
        struct cs_hello h2;
        int rc2 = cs_hello_parse(rec, size + 5, &h2, err, sizeof(err));
        FUZZ_CHECK(rc2 == rc && (rc != 0 || memcmp(&h, &h2, sizeof(h)) == 0));
        free(rec);
    }
    if (rc != 0)
        return 0;
    check_hello(&h);
    select_all(&h);
    return 0;
}
