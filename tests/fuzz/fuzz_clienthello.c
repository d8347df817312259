/* Fuzz target: ClientHello parsing (cs_hello_parse) and certificate selection (cs_select).
 *
 * Properties (a broken one aborts):
 *  1. cs_hello_parse never reads out of bounds; a parsed hello records no GREASE value,
 *     keeps counts within what the input can hold and a NUL-terminated, non-empty SNI; a
 *     bare handshake message and the same message wrapped in a TLS record parse the same;
 *     no suite is lost: every one in the cipher list (re-read here) is recorded, however
 *     long the list.
 *  2. cs_select over fixed synthetic certificates, with the suites of two real server
 *     contexts (twofold's default policy and a permissive legacy one):
 *     - it returns 0 with a certificate, or negative with a failure and a reason;
 *     - the version is the highest one both sides enable (recomputed here), and a hello
 *       OpenSSL refuses whatever the certificates (no version, a bad cipher list,
 *       TLS_FALLBACK_SCSV below our maximum, malformed lists, TLS 1.3 without its
 *       extensions) fails with OpenSSL's reason, checked in OpenSSL's order;
 *     - every certificate marked usable passes an independent re-check of the basic
 *       rule (TLS 1.3: the sigalg its key needs and a shared suite; TLS <= 1.2: a suite of
 *       its key type, the ECDSA curve in the client's groups, a sigalg of its type);
 *     - a certificate that plainly fits the client (a conservative sufficient rule) is
 *       never refused, so no client is refused while a usable key type exists;
 *     - the chosen certificate is the first usable one, the site's preferred type first.
 */
#include <openssl/obj_mac.h>
#include <string.h>

#include "cs_cert_int.h"
#include "cs_conf_int.h"
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
    cs__policy_effective(&conf.policy, &eff);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    FUZZ_CHECK(ctx != NULL && cs__ctx_apply_policy(ctx, &conf, &d) == 0);
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

static bool offers_any(const struct cs_hello *h, const uint16_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cs_hello_has_cipher(h, v[i]))
            return true;
    return false;
}

static bool has_group_common(const struct cs_hello *h, const struct cs_suites *s)
{
    for (size_t i = 0; i < s->n_groups; i++)
        if (cs_hello_has_group(h, s->groups[i]))
            return true;
    return false;
}

static bool has(const uint16_t *v, size_t n, uint16_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
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

static void check_hello(const struct cs_hello *h)
{
    for (unsigned g = 0; g < 16; g++)
        FUZZ_CHECK(!cs_hello_has_cipher(h, (uint16_t)(0x0a0a + g * 0x1010)));
    FUZZ_CHECK(h->n_ciphers <= 32767 && h->n_sigalgs <= 32767 && h->n_groups <= 32767);
    FUZZ_CHECK(h->n_versions <= 127);
    FUZZ_CHECK((size_t)__builtin_popcount(h->sigalgs) <= h->n_sigalgs);
    FUZZ_CHECK((size_t)__builtin_popcount(h->groups) <= h->n_groups);
    FUZZ_CHECK(h->has_versions || h->versions == 0);
    size_t sni_len = strnlen(h->sni, sizeof(h->sni));
    FUZZ_CHECK(sni_len < sizeof(h->sni));
    FUZZ_CHECK(h->has_sni ? sni_len > 0 : sni_len == 0);
}

/* No truncation: every suite of the (bare, TLS-format) message's cipher list, read here
 * by fixed offsets, is recorded, and the count matches, whatever the list's length. */
static void check_ciphers_lossless(const uint8_t *p, size_t n, const struct cs_hello *h)
{
    if (n < 4 + 2 + 32 + 1 || p[0] != 1 || (h->bad & CS_HELLO_BAD_CIPHERS))
        return;
    size_t off = 4 + 2 + 32;
    off += 1 + p[off];
    if (off + 2 > n)
        return;
    size_t len = ((size_t)p[off] << 8) | p[off + 1], count = 0;
    off += 2;
    FUZZ_CHECK(off + len <= n);
    for (size_t i = 0; i + 1 < len; i += 2) {
        uint16_t v = (uint16_t)((p[off + i] << 8) | p[off + i + 1]);
        if (!is_grease(v)) {
            FUZZ_CHECK(cs_hello_has_cipher(h, v));
            count++;
        }
    }
    FUZZ_CHECK(count == h->n_ciphers);
}

/* ---- the selection rules, restated ---- */

static int expected_version(const struct cs_hello *h, const struct cs_suites *s)
{
    int best = 0;
    if (!h->has_versions) {
        best = h->legacy_version < TLS1_2_VERSION ? h->legacy_version : TLS1_2_VERSION;
        best = best < s->max_version ? best : s->max_version;
        return best >= s->min_version && best >= SSL3_VERSION ? best : 0;
    }
    if ((h->bad & CS_HELLO_BAD_VERSIONS) || h->legacy_version <= SSL3_VERSION)
        return 0;
    for (int v = s->min_version; v <= s->max_version; v++)
        if (cs_hello_has_version(h, (uint16_t)v))
            best = v;
    return best;
}

/* What OpenSSL refuses before any certificate matters, in OpenSSL's order. */
static enum cs_fail expected_precheck(const struct cs_hello *h, const struct cs_suites *s, int v)
{
    bool tls13 = v == TLS1_3_VERSION;
    if (v == 0)
        return CS_FAIL_PROTOCOL_VERSION;
    if (h->bad & CS_HELLO_NO_CIPHERS)
        return CS_FAIL_ILLEGAL_PARAMETER;
    if (h->bad & CS_HELLO_BAD_CIPHERS)
        return CS_FAIL_DECODE;
    if (cs_hello_has_cipher(h, 0x5600) && v < s->max_version)
        return CS_FAIL_FALLBACK;
    if (tls13 && !offers_any(h, s->tls13, s->n_tls13))
        return CS_FAIL_NO_CERT;
    if (h->bad & (CS_HELLO_NO_NULL_COMP | CS_HELLO_BAD_EXT))
        return CS_FAIL_DECODE;
    if (tls13 && !(h->has_sigalgs && h->has_groups && h->has_key_share))
        return CS_FAIL_MISSING_EXTENSION;
    if (tls13 && (h->bad & CS_HELLO_COMP_EXTRA))
        return CS_FAIL_ILLEGAL_PARAMETER;
    return CS_FAIL_NONE;
}

static bool sigalg_of(const struct cs_hello *h, enum cs_key_type t)
{
    for (size_t i = 0; i < cs_n_sigalg_ids; i++) {
        uint16_t a = cs_sigalg_ids[i];
        if (!cs_hello_has_sigalg(h, a))
            continue;
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
        if (!h->has_sigalgs || !offers_any(h, s->tls13, s->n_tls13) || !has_group_common(h, s))
            return false;
        if (c->type == CS_KEY_ECDSA)
            return cs_hello_has_sigalg(h, curve_sigalg13(c->curve_nid));
        return cs_hello_has_sigalg(h, 0x0804) || cs_hello_has_sigalg(h, 0x0805) ||
               cs_hello_has_sigalg(h, 0x0806);
    }
    if (v == TLS1_2_VERSION && h->has_sigalgs && !sigalg_of(h, c->type))
        return false;
    if (c->type == CS_KEY_ECDSA) /* ECDHE only: OpenSSL needs the client's groups list */
        return offers_any(h, s->tls12_ecdsa, s->n_tls12_ecdsa) && h->has_groups &&
               cs_hello_has_group(h, curve_group(c->curve_nid));
    return offers_any(h, s->tls12_rsa, s->n_tls12_rsa);
}

/* A conservative rule: a certificate meeting it must be usable. */
static bool sufficient(const struct cs_cert *c, const struct cs_hello *h, const struct cs_suites *s,
                       int v)
{
    bool groups_ok = h->has_groups && has_group_common(h, s);
    if (v == TLS1_3_VERSION)
        return groups_ok && necessary(c, h, s, v);
    /* TLS 1.2 with a SHA-256-or-better sigalg of the key's type. */
    static const uint16_t ec[] = {0x0403, 0x0503, 0x0603};
    static const uint16_t rsa[] = {0x0401, 0x0501, 0x0601, 0x0804, 0x0805, 0x0806};
    bool ecdsa = c->type == CS_KEY_ECDSA, sig = false;
    for (size_t i = 0; i < (ecdsa ? COUNT(ec) : COUNT(rsa)); i++)
        sig |= cs_hello_has_sigalg(h, ecdsa ? ec[i] : rsa[i]);
    if (v != TLS1_2_VERSION || !h->has_sigalgs || s->security_level > 3 || !sig)
        return false; /* (so only TLS 1.2 here: every enabled suite is usable) */
    if (ecdsa) {
        uint16_t g = curve_group(c->curve_nid);
        return offers_any(h, s->tls12_ecdsa, s->n_tls12_ecdsa) && h->has_groups &&
               cs_hello_has_group(h, g) && has(s->groups, s->n_groups, g);
    }
    for (size_t i = 0; i < s->n_tls12_rsa; i++)
        if (cs_hello_has_cipher(h, s->tls12_rsa[i]) &&
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
    enum cs_fail pre = expected_precheck(h, s, v);
    if (pre != CS_FAIL_NONE) {
        FUZZ_CHECK(rc < 0 && ch->fail == pre);
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
    if (size > 0 && data[0] == 1)
        check_ciphers_lossless(data, size, &h);
    select_all(&h);
    return 0;
}
