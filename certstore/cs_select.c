/* The selection: which of a name's certificates a client can use. One pure function over
 * a parsed ClientHello and the server's enabled suites; it runs once per handshake, so it
 * never allocates and writes its reasons into the caller's cs_choice.
 *
 * The rules follow what OpenSSL 3.0 itself enforces, so that a certificate judged usable
 * here is one the handshake will accept:
 * - the version is the highest one both sides enable (supported_versions when sent, else
 *   legacy_version capped at TLS 1.2); OpenSSL never falls back below it, so neither do we;
 * - TLS 1.3: ECDSA on curve C needs the ecdsa_secpNNN_shaMMM sigalg bound to C; RSA
 *   (rsaEncryption keys, the only RSA keys certstore loads) needs rsa_pss_rsae_*: the
 *   rsa_pss_pss_* sigalgs are for RSA-PSS keys only;
 * - TLS <= 1.2: ECDSA needs an ECDHE-ECDSA suite we enable, the cert's curve in the
 *   client's groups and an ECDSA sigalg (each only when the extension is sent); RSA needs
 *   an RSA suite we enable (ECDHE ones also a shared group) and an RSA sigalg when sent. */
#include "cs.h"

#include <openssl/obj_mac.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    uint16_t id;
    const char *name;
} sigalg_names[] = {
    {0x0202, "dsa_sha1"},
    {0x0302, "dsa_sha224"},
    {0x0402, "dsa_sha256"},
    {0x0502, "dsa_sha384"},
    {0x0602, "dsa_sha512"},
    {0x0201, "rsa_pkcs1_sha1"},
    {0x0203, "ecdsa_sha1"},
    {0x0301, "rsa_pkcs1_sha224"},
    {0x0303, "ecdsa_sha224"},
    {0x0401, "rsa_pkcs1_sha256"},
    {0x0403, "ecdsa_secp256r1_sha256"},
    {0x0501, "rsa_pkcs1_sha384"},
    {0x0503, "ecdsa_secp384r1_sha384"},
    {0x0601, "rsa_pkcs1_sha512"},
    {0x0603, "ecdsa_secp521r1_sha512"},
    {0x0804, "rsa_pss_rsae_sha256"},
    {0x0805, "rsa_pss_rsae_sha384"},
    {0x0806, "rsa_pss_rsae_sha512"},
    {0x0807, "ed25519"},
    {0x0808, "ed448"},
    {0x0809, "rsa_pss_pss_sha256"},
    {0x080a, "rsa_pss_pss_sha384"},
    {0x080b, "rsa_pss_pss_sha512"},
    {0x081a, "ecdsa_brainpoolP256r1"},
    {0x081b, "ecdsa_brainpoolP384r1"},
    {0x081c, "ecdsa_brainpoolP512r1"},
};

const char *cs_fail_name(enum cs_fail f)
{
    switch (f) {
    case CS_FAIL_NONE:
        return "none";
    case CS_FAIL_NO_CERT:
        return "no_usable_cert";
    case CS_FAIL_UNKNOWN_SNI:
        return "unknown_sni";
    case CS_FAIL_PROTOCOL:
        return "protocol";
    default:
        return "?";
    }
}

const char *cs_version_name(int version)
{
    switch (version) {
    case SSL3_VERSION:
        return "SSLv3";
    case TLS1_VERSION:
        return "TLSv1.0";
    case TLS1_1_VERSION:
        return "TLSv1.1";
    case TLS1_2_VERSION:
        return "TLSv1.2";
    case TLS1_3_VERSION:
        return "TLSv1.3";
    default:
        return "none";
    }
}

const char *cs_sigalg_name(uint16_t id, char *buf, size_t len)
{
    for (size_t i = 0; i < COUNT(sigalg_names); i++)
        if (sigalg_names[i].id == id)
            return sigalg_names[i].name;
    snprintf(buf, len, "0x%04x", id);
    return buf;
}

static bool has(const uint16_t *list, size_t n, uint16_t v)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
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

/* Highest version both sides enable, 0 when none. */
static int negotiate(const struct cs_hello *h, const struct cs_suites *s)
{
    int best = 0;

    if (h->n_versions > 0) {
        for (size_t i = 0; i < h->n_versions; i++) {
            int v = h->versions[i];
            if (v >= SSL3_VERSION && v <= TLS1_3_VERSION && v >= s->min_version &&
                v <= s->max_version && v > best)
                best = v;
        }
        return best;
    }
    best = h->legacy_version > TLS1_2_VERSION ? TLS1_2_VERSION : h->legacy_version;
    if (best > s->max_version)
        best = s->max_version;
    return best >= s->min_version && best >= SSL3_VERSION ? best : 0;
}

/* Appends the client's sigalgs ("a, b, c") to buf, truncating with "...". */
static void list_sigalgs(const struct cs_hello *h, char *buf, size_t len)
{
    size_t used = strlen(buf);
    char tmp[16];

    if (!h->has_sigalgs || h->n_sigalgs == 0) {
        snprintf(buf + used, len - used, "none");
        return;
    }
    for (size_t i = 0; i < h->n_sigalgs && used < len; i++) {
        const char *name = cs_sigalg_name(h->sigalgs[i], tmp, sizeof(tmp));
        size_t need = strlen(name) + (i ? 2 : 0);
        if (used + need + 4 >= len) {
            snprintf(buf + used, len - used, "...");
            return;
        }
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", name);
    }
}

static uint16_t curve_group(int nid)
{
    return nid == NID_X9_62_prime256v1 ? 23
           : nid == NID_secp384r1      ? 24
           : nid == NID_secp521r1      ? 25
                                       : 0;
}

static uint16_t curve_sigalg13(int nid)
{
    return nid == NID_X9_62_prime256v1 ? 0x0403
           : nid == NID_secp384r1      ? 0x0503
           : nid == NID_secp521r1      ? 0x0603
                                       : 0;
}

static bool check13(const struct cs_cert *c, const struct cs_hello *h, char *why, size_t len)
{
    char tmp[16];

    if (!h->has_sigalgs) {
        snprintf(why, len, "TLS 1.3 client sent no signature_algorithms");
        return false;
    }
    if (c->type == CS_KEY_ECDSA) {
        uint16_t need = curve_sigalg13(c->curve_nid);
        if (need && has(h->sigalgs, h->n_sigalgs, need)) {
            snprintf(why, len, "client offers %s", cs_sigalg_name(need, tmp, sizeof(tmp)));
            return true;
        }
        snprintf(why, len, "TLS 1.3 needs %s; client sigalgs: ",
                 need ? cs_sigalg_name(need, tmp, sizeof(tmp)) : "a sigalg for this curve");
        list_sigalgs(h, why, len);
        return false;
    }
    for (uint16_t a = 0x0804; a <= 0x0806; a++) {
        if (has(h->sigalgs, h->n_sigalgs, a)) {
            snprintf(why, len, "client offers %s", cs_sigalg_name(a, tmp, sizeof(tmp)));
            return true;
        }
    }
    snprintf(why, len, "TLS 1.3 RSA needs rsa_pss_rsae_*; client sigalgs: ");
    list_sigalgs(h, why, len);
    return false;
}

/* Security bits of a signature scheme's hash, as OpenSSL 3 rates them (SHA-1: 64). */
static int sigalg_bits(uint16_t a)
{
    static const int by_hash[] = {0, 0, 64, 112, 128, 192, 256};

    if (a >= 0x0804 && a <= 0x0806)
        return 128 + 64 * (a - 0x0804);
    return (a >> 8) <= 6 ? by_hash[a >> 8] : 0;
}

/* The least bits OpenSSL accepts at a security level (SSL_CTX_set_security_level(3)). */
static int level_bits(int level)
{
    static const int bits[] = {0, 80, 112, 128, 192, 256};
    return bits[level < 0 ? 0 : level > 5 ? 5 : level];
}

static bool sigalg_fits(uint16_t a, enum cs_key_type t, const struct cs_suites *s)
{
    unsigned sig = a & 0xff;
    bool kind = t == CS_KEY_ECDSA
                    ? sig == 3 && (a >> 8) >= 2 && (a >> 8) <= 6
                    : (sig == 1 && (a >> 8) >= 2 && (a >> 8) <= 6) || (a >= 0x0804 && a <= 0x0806);
    return kind && sigalg_bits(a) >= level_bits(s->security_level);
}

/* The TLS <= 1.2 signature: from the sigalgs extension when sent; otherwise SHA-1 based
 * (RFC 5246's default, and MD5/SHA-1 before TLS 1.2), which OpenSSL 3 refuses at security
 * level 1 and above. */
static bool sig12_ok(const struct cs_hello *h, const struct cs_suites *s, int version,
                     enum cs_key_type t, char *why, size_t len)
{
    if (version < TLS1_2_VERSION || !h->has_sigalgs) {
        if (s->security_level < 1)
            return true;
        snprintf(why, len, "%s SHA-1 signature is refused at security level %d",
                 version < TLS1_2_VERSION ? "TLS 1.0/1.1's"
                                          : "no signature_algorithms: the "
                                            "RFC 5246 default",
                 s->security_level);
        return false;
    }
    for (size_t i = 0; i < h->n_sigalgs; i++)
        if (sigalg_fits(h->sigalgs[i], t, s))
            return true;
    snprintf(why, len, "client offers no %s sigalg allowed at security level %d; client sigalgs: ",
             cs_key_type_name(t), s->security_level);
    list_sigalgs(h, why, len);
    return false;
}

/* An ECDHE key exchange needs a group both sides have; no extension means any. */
static bool ecdhe_ok(const struct cs_hello *h, const struct cs_suites *s)
{
    if (!h->has_groups)
        return s->n_groups > 0;
    return any_common(h->groups, h->n_groups, s->groups, s->n_groups);
}

static bool check12_ecdsa(const struct cs_cert *c, const struct cs_hello *h,
                          const struct cs_suites *s, int version, char *why, size_t len)
{
    uint16_t g = curve_group(c->curve_nid);

    if (!any_common(h->ciphers, h->n_ciphers, s->tls12_ecdsa, s->n_tls12_ecdsa)) {
        snprintf(why, len, "client offers no ECDHE-ECDSA suite we enable");
        return false;
    }
    if (h->has_groups && (!g || !has(h->groups, h->n_groups, g))) {
        snprintf(why, len, "client's supported groups lack %s", cs_curve_name(c->curve_nid));
        return false;
    }
    if (!ecdhe_ok(h, s)) {
        snprintf(why, len, "no ECDHE group in common");
        return false;
    }
    if (!sig12_ok(h, s, version, CS_KEY_ECDSA, why, len))
        return false;
    snprintf(why, len, "client offers an ECDHE-ECDSA suite and %s",
             h->has_groups ? cs_curve_name(c->curve_nid) : "no groups list (any curve)");
    return true;
}

static bool check12_rsa(const struct cs_hello *h, const struct cs_suites *s, int version, char *why,
                        size_t len)
{
    bool suite = false, group_missing = false;

    for (size_t i = 0; i < s->n_tls12_rsa && !suite; i++) {
        if (!has(h->ciphers, h->n_ciphers, s->tls12_rsa[i]))
            continue;
        if ((s->tls12_rsa_ecdhe >> i) & 1 && !ecdhe_ok(h, s))
            group_missing = true;
        else
            suite = true;
    }
    if (!suite) {
        snprintf(why, len, "%s",
                 group_missing ? "client's ECDHE-RSA suites need a group we share"
                               : "client offers no RSA suite we enable");
        return false;
    }
    if (!sig12_ok(h, s, version, CS_KEY_RSA, why, len))
        return false;
    snprintf(why, len, "client offers an RSA suite we enable");
    return true;
}

static bool judge(const struct cs_cert *c, const struct cs_hello *h, const struct cs_suites *s,
                  int version, bool shared13, char *why, size_t len)
{
    if (c->type != CS_KEY_RSA && c->type != CS_KEY_ECDSA) {
        snprintf(why, len, "unknown key type");
        return false;
    }
    if (version == TLS1_3_VERSION) {
        if (!shared13) {
            snprintf(why, len, "no TLS 1.3 cipher suite in common");
            return false;
        }
        if (h->has_groups && !any_common(h->groups, h->n_groups, s->groups, s->n_groups)) {
            snprintf(why, len, "no TLS 1.3 key exchange group in common");
            return false;
        }
        return check13(c, h, why, len);
    }
    if (c->type == CS_KEY_ECDSA)
        return check12_ecdsa(c, h, s, version, why, len);
    return check12_rsa(h, s, version, why, len);
}

static void fail(struct cs_choice *out, enum cs_fail f, const char *msg)
{
    out->cert = NULL;
    out->fail = f;
    snprintf(out->reason, sizeof(out->reason), "%s", msg);
}

/* Evaluation order: the site's preferred key type first, entry order within a type. */
static size_t order_candidates(const struct cs_entry *e, const struct cs_cert **v, size_t cap)
{
    enum cs_key_type first =
        e->site && e->site->prefer == CS_PREFER_RSA ? CS_KEY_RSA : CS_KEY_ECDSA;
    size_t n = 0;

    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < e->n_certs && n < cap; i++)
            if ((e->certs[i]->type == first) == (pass == 0))
                v[n++] = e->certs[i];
    return n;
}

static void fail_summary(struct cs_choice *out)
{
    size_t used;
    char d[32];

    used = (size_t)snprintf(out->reason, sizeof(out->reason), "no certificate usable at %s",
                            cs_version_name(out->version));
    for (size_t i = 0; i < out->n_verdicts && used < sizeof(out->reason); i++) {
        const struct cs_verdict *v = &out->verdicts[i];
        used += (size_t)snprintf(out->reason + used, sizeof(out->reason) - used, "%s %s: %s",
                                 i ? ";" : ":", cs_cert_describe(v->cert, d, sizeof(d)), v->reason);
    }
}

int cs_select(const struct cs_entry *entry, const struct cs_hello *hello,
              const struct cs_suites *suites, struct cs_choice *out)
{
    const struct cs_cert *cand[CS_MAX_CANDIDATES];
    size_t n;
    bool shared13;
    char d[32];

    memset(out, 0, sizeof(*out));
    if (!entry) {
        fail(out, CS_FAIL_UNKNOWN_SNI, "unknown server name and strict SNI");
        return -1;
    }
    out->version = negotiate(hello, suites);
    n = order_candidates(entry, cand, COUNT(cand));
    if (!out->version) {
        for (size_t i = 0; i < n; i++) {
            out->verdicts[i].cert = cand[i];
            snprintf(out->verdicts[i].reason, sizeof(out->verdicts[i].reason),
                     "no TLS version in common");
        }
        out->n_verdicts = n;
        fail(out, CS_FAIL_PROTOCOL, "no TLS version in common with the client");
        return -1;
    }
    if (n == 0) {
        fail(out, CS_FAIL_NO_CERT, "no certificate for this name");
        return -1;
    }
    shared13 = any_common(hello->ciphers, hello->n_ciphers, suites->tls13, suites->n_tls13);
    for (size_t i = 0; i < n; i++) {
        struct cs_verdict *v = &out->verdicts[out->n_verdicts++];
        v->cert = cand[i];
        v->usable =
            judge(cand[i], hello, suites, out->version, shared13, v->reason, sizeof(v->reason));
        if (v->usable && !out->cert)
            out->cert = cand[i];
    }
    if (!out->cert) {
        out->fail = CS_FAIL_NO_CERT;
        fail_summary(out);
        return -1;
    }
    for (n = 0; out->verdicts[n].cert != out->cert; n++)
        ;
    snprintf(out->reason, sizeof(out->reason), "%s at %s: %s",
             cs_cert_describe(out->cert, d, sizeof(d)), cs_version_name(out->version),
             out->verdicts[n].reason);
    if (n > 0) {
        size_t used = strlen(out->reason);
        snprintf(out->reason + used, sizeof(out->reason) - used,
                 " (%zu preferred candidate%s rejected: %s)", n, n > 1 ? "s" : "",
                 out->verdicts[0].reason);
    }
    return 0;
}
