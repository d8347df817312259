/* The selection: which of a name's certificates a client can use. One pure function over
 * a parsed ClientHello and the server's enabled suites; it runs once per handshake, so it
 * never allocates and writes its reasons into the caller's cs_choice.
 *
 * Before any certificate is judged, the checks OpenSSL makes after the ClientHello callback
 * (tls_early_post_process_client_hello, in its order) are predicted: no version in common
 * (protocol_version), the cipher list's length, TLS_FALLBACK_SCSV below our maximum
 * (RFC 7507), compression, malformed extension bodies, TLS 1.3 without its mandatory
 * extensions or with compression methods besides null. Such a hello fails whatever certificates
 * exist, with OpenSSL's own alert.
 *
 * The rules follow what OpenSSL 3.0 itself enforces, so that a certificate judged usable
 * here is one the handshake will accept:
 * - the version is the highest one both sides enable (supported_versions when sent, else
 *   legacy_version capped at TLS 1.2); OpenSSL never falls back below it, so neither do we;
 * - TLS 1.3: ECDSA on curve C needs the ecdsa_secpNNN_shaMMM sigalg bound to C; RSA
 *   (rsaEncryption keys, the only RSA keys certstore loads) needs rsa_pss_rsae_*: the
 *   rsa_pss_pss_* sigalgs are for RSA-PSS keys only;
 * - TLS <= 1.2: ECDSA needs an ECDHE-ECDSA suite we enable, the cert's curve in the
 *   client's groups and an ECDSA sigalg (when that extension is sent); RSA needs an RSA
 *   suite we enable (ECDHE ones also a shared group) and an RSA sigalg when sent. ECDHE
 *   needs supported_groups: without it OpenSSL 3.0 finds no shared group (tls1_shared_group
 *   reads only the client's list), although RFC 8422 5.1.1 would allow any curve. */
#include "cs.h"

#include <openssl/obj_mac.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    uint16_t id;
    const char *name;
} sigalg_names[] = {
    /* sorted by id: cs_sigalg_name searches it */
    {0x0201, "rsa_pkcs1_sha1"},
    {0x0202, "dsa_sha1"},
    {0x0203, "ecdsa_sha1"},
    {0x0301, "rsa_pkcs1_sha224"},
    {0x0302, "dsa_sha224"},
    {0x0303, "ecdsa_sha224"},
    {0x0401, "rsa_pkcs1_sha256"},
    {0x0402, "dsa_sha256"},
    {0x0403, "ecdsa_secp256r1_sha256"},
    {0x0501, "rsa_pkcs1_sha384"},
    {0x0502, "dsa_sha384"},
    {0x0503, "ecdsa_secp384r1_sha384"},
    {0x0601, "rsa_pkcs1_sha512"},
    {0x0602, "dsa_sha512"},
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
    case CS_FAIL_PROTOCOL_VERSION:
        return "protocol_version";
    case CS_FAIL_FALLBACK:
        return "inappropriate_fallback";
    case CS_FAIL_DECODE:
        return "decode_error";
    case CS_FAIL_ILLEGAL_PARAMETER:
        return "illegal_parameter";
    case CS_FAIL_MISSING_EXTENSION:
        return "missing_extension";
    default:
        return "?";
    }
}

int cs_fail_alert(enum cs_fail f)
{
    switch (f) {
    case CS_FAIL_NO_CERT:
        return SSL_AD_HANDSHAKE_FAILURE;
    case CS_FAIL_UNKNOWN_SNI:
        return SSL_AD_UNRECOGNIZED_NAME;
    case CS_FAIL_PROTOCOL_VERSION:
        return SSL_AD_PROTOCOL_VERSION;
    case CS_FAIL_FALLBACK:
        return SSL_AD_INAPPROPRIATE_FALLBACK;
    case CS_FAIL_DECODE:
        return SSL_AD_DECODE_ERROR;
    case CS_FAIL_ILLEGAL_PARAMETER:
        return SSL_AD_ILLEGAL_PARAMETER;
    case CS_FAIL_MISSING_EXTENSION:
        return SSL_AD_MISSING_EXTENSION;
    default:
        return SSL_AD_INTERNAL_ERROR;
    }
}

/* handshake_failure and unrecognized_name say nothing by themselves (OpenSSL also sends
 * handshake_failure instead of protocol_version to an SSL 3.0 client, which has no such
 * alert): only the callback's own refusals are no_usable_cert and unknown_sni. */
enum cs_fail cs_fail_from_alert(int alert)
{
    for (int f = CS_FAIL_PROTOCOL_VERSION; f < CS_FAIL__COUNT; f++)
        if (cs_fail_alert((enum cs_fail)f) == alert)
            return (enum cs_fail)f;
    return CS_FAIL_PROTOCOL;
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

/* True when the client offers any of the server's list. */
static bool offers_any(const struct cs_hello *h, const uint16_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cs_hello_has_cipher(h, list[i]))
            return true;
    return false;
}

static bool group_common(const struct cs_hello *h, const struct cs_suites *s)
{
    for (size_t i = 0; i < s->n_groups; i++)
        if (cs_hello_has_group(h, s->groups[i]))
            return true;
    return false;
}

/* Highest version both sides enable, 0 when none (OpenSSL's ssl_choose_server_version:
 * with supported_versions, legacy_version SSL 3.0 or below is refused). */
static int negotiate(const struct cs_hello *h, const struct cs_suites *s)
{
    int best = 0;

    if (h->has_versions) {
        if (h->bad & CS_HELLO_BAD_VERSIONS || h->legacy_version <= SSL3_VERSION)
            return 0;
        for (int v = SSL3_VERSION; v <= TLS1_3_VERSION; v++)
            if (cs_hello_has_version(h, (uint16_t)v) && v >= s->min_version && v <= s->max_version)
                best = v;
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
    size_t shown = 0;
    for (size_t i = 0; i < cs_n_sigalg_ids && used < len; i++) {
        if (!((h->sigalgs >> i) & 1))
            continue;
        const char *name = cs_sigalg_name(cs_sigalg_ids[i], tmp, sizeof(tmp));
        size_t need = strlen(name) + (shown ? 2 : 0);
        if (used + need + 4 >= len) {
            snprintf(buf + used, len - used, "...");
            return;
        }
        used += (size_t)snprintf(buf + used, len - used, "%s%s", shown ? ", " : "", name);
        shown++;
    }
    if (shown < h->n_sigalgs && used < len)
        snprintf(buf + used, len - used, "%s%zu unknown", shown ? " + " : "", h->n_sigalgs - shown);
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

    if (c->type == CS_KEY_ECDSA) {
        uint16_t need = curve_sigalg13(c->curve_nid);
        if (need && cs_hello_has_sigalg(h, need)) {
            snprintf(why, len, "client offers %s", cs_sigalg_name(need, tmp, sizeof(tmp)));
            return true;
        }
        snprintf(why, len, "TLS 1.3 needs %s; client sigalgs: ",
                 need ? cs_sigalg_name(need, tmp, sizeof(tmp)) : "a sigalg for this curve");
        list_sigalgs(h, why, len);
        return false;
    }
    for (uint16_t a = 0x0804; a <= 0x0806; a++) {
        if (cs_hello_has_sigalg(h, a)) {
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
    for (size_t i = 0; i < cs_n_sigalg_ids; i++)
        if ((h->sigalgs >> i) & 1 && sigalg_fits(cs_sigalg_ids[i], t, s))
            return true;
    snprintf(why, len, "client offers no %s sigalg allowed at security level %d; client sigalgs: ",
             cs_key_type_name(t), s->security_level);
    list_sigalgs(h, why, len);
    return false;
}

/* An ECDHE key exchange needs a group both sides have. No supported_groups means none for
 * OpenSSL 3.0 (see the top of this file). */
static bool ecdhe_ok(const struct cs_hello *h, const struct cs_suites *s)
{
    return h->has_groups && group_common(h, s);
}

static bool check12_ecdsa(const struct cs_cert *c, const struct cs_hello *h,
                          const struct cs_suites *s, int version, char *why, size_t len)
{
    uint16_t g = curve_group(c->curve_nid);

    bool suite = false;
    for (size_t i = 0; i < s->n_tls12_ecdsa && !suite; i++)
        suite = cs_hello_has_cipher(h, s->tls12_ecdsa[i]) &&
                (version >= TLS1_2_VERSION || !((s->tls12_ecdsa_only12 >> i) & 1));
    if (!suite) {
        snprintf(why, len, "client offers no ECDHE-ECDSA suite we enable at %s",
                 cs_version_name(version));
        return false;
    }
    if (!h->has_groups) {
        snprintf(why, len, "no supported_groups: OpenSSL does no ECDHE");
        return false;
    }
    if (!g || !cs_hello_has_group(h, g)) {
        snprintf(why, len, "client's supported groups lack %s", cs_curve_name(c->curve_nid));
        return false;
    }
    if (!ecdhe_ok(h, s)) {
        snprintf(why, len, "no ECDHE group in common");
        return false;
    }
    if (!sig12_ok(h, s, version, CS_KEY_ECDSA, why, len))
        return false;
    snprintf(why, len, "client offers an ECDHE-ECDSA suite and %s", cs_curve_name(c->curve_nid));
    return true;
}

static bool check12_rsa(const struct cs_hello *h, const struct cs_suites *s, int version, char *why,
                        size_t len)
{
    bool suite = false, group_missing = false;

    for (size_t i = 0; i < s->n_tls12_rsa && !suite; i++) {
        if (!cs_hello_has_cipher(h, s->tls12_rsa[i]) ||
            (version < TLS1_2_VERSION && (s->tls12_rsa_only12 >> i) & 1))
            continue;
        if ((s->tls12_rsa_ecdhe >> i) & 1 && !ecdhe_ok(h, s))
            group_missing = true;
        else
            suite = true;
    }
    if (!suite) {
        snprintf(why, len, "%s",
                 !group_missing  ? "client offers no RSA suite we enable at this version"
                 : h->has_groups ? "client's ECDHE-RSA suites need a group we share"
                                 : "client's ECDHE-RSA suites need supported_groups: OpenSSL "
                                   "does no ECDHE without it");
        return false;
    }
    if (!sig12_ok(h, s, version, CS_KEY_RSA, why, len))
        return false;
    snprintf(why, len, "client offers an RSA suite we enable");
    return true;
}

/* Whether c serves this client at version; precheck has passed. */
static bool judge(const struct cs_cert *c, const struct cs_hello *h, const struct cs_suites *s,
                  int version, char *why, size_t len)
{
    if (c->type != CS_KEY_RSA && c->type != CS_KEY_ECDSA) {
        snprintf(why, len, "unknown key type");
        return false;
    }
    if (version == TLS1_3_VERSION) {
        if (!group_common(h, s)) {
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

/* OpenSSL's own checks after the ClientHello callback, in its order, for the negotiated
 * version (0: none). Returns CS_FAIL_NONE or the reason (OpenSSL's alert), *why set. */
static enum cs_fail precheck(const struct cs_hello *h, const struct cs_suites *s, int version,
                             bool shared13, const char **why)
{
    if (!version) {
        *why = "no TLS version in common with the client";
        return CS_FAIL_PROTOCOL_VERSION;
    }
    if (h->bad & CS_HELLO_NO_CIPHERS) {
        *why = "the client sent no cipher suites";
        return CS_FAIL_ILLEGAL_PARAMETER;
    }
    if (h->bad & CS_HELLO_BAD_CIPHERS) {
        *why = "cipher suite list of odd length";
        return CS_FAIL_DECODE;
    }
    if (cs_hello_has_cipher(h, 0x5600) && version < s->max_version) {
        *why = "TLS_FALLBACK_SCSV from a client below our highest version (RFC 7507)";
        return CS_FAIL_FALLBACK;
    }
    if (version == TLS1_3_VERSION && !shared13) {
        *why = "no TLS 1.3 cipher suite in common";
        return CS_FAIL_NO_CERT; /* OpenSSL: no shared cipher, handshake_failure */
    }
    if (h->bad & CS_HELLO_NO_NULL_COMP) {
        *why = "compression methods without null";
        return CS_FAIL_DECODE;
    }
    if (h->bad & CS_HELLO_BAD_EXT) {
        *why = "empty or malformed signature_algorithms or supported_groups";
        return CS_FAIL_DECODE;
    }
    if (version == TLS1_3_VERSION && (!h->has_sigalgs || !h->has_groups || !h->has_key_share)) {
        *why = !h->has_sigalgs  ? "TLS 1.3 client sent no signature_algorithms"
               : !h->has_groups ? "TLS 1.3 client sent no supported_groups"
                                : "TLS 1.3 client sent no key_share";
        return CS_FAIL_MISSING_EXTENSION;
    }
    if (version == TLS1_3_VERSION && h->bad & CS_HELLO_COMP_EXTRA) {
        *why = "TLS 1.3 allows the null compression method alone";
        return CS_FAIL_ILLEGAL_PARAMETER;
    }
    return CS_FAIL_NONE;
}

int cs_select(const struct cs_entry *entry, const struct cs_hello *hello,
              const struct cs_suites *suites, struct cs_choice *out)
{
    const struct cs_cert *cand[CS_MAX_CANDIDATES];
    size_t n;
    bool shared13;
    const char *why = "";
    enum cs_fail pre;
    char d[32];

    memset(out, 0, sizeof(*out));
    out->version = negotiate(hello, suites);
    n = entry ? order_candidates(entry, cand, COUNT(cand)) : 0;
    shared13 = offers_any(hello, suites->tls13, suites->n_tls13);
    pre = precheck(hello, suites, out->version, shared13, &why);
    if (pre != CS_FAIL_NONE) {
        for (size_t i = 0; i < n; i++) {
            out->verdicts[i].cert = cand[i];
            snprintf(out->verdicts[i].reason, sizeof(out->verdicts[i].reason), "%s", why);
        }
        out->n_verdicts = n;
        fail(out, pre, why);
        return -1;
    }
    /* OpenSSL judges the name (servername callback) after all the checks above. */
    if (!entry) {
        fail(out, CS_FAIL_UNKNOWN_SNI, "unknown server name and strict SNI");
        return -1;
    }
    if (n == 0) {
        fail(out, CS_FAIL_NO_CERT, "no certificate for this name");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct cs_verdict *v = &out->verdicts[out->n_verdicts++];
        v->cert = cand[i];
        v->usable = judge(cand[i], hello, suites, out->version, v->reason, sizeof(v->reason));
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
