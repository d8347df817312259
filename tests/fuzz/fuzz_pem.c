/* Fuzz target: PEM loading of a certificate chain and its key (cs__cert_parse), then the
 * keypair checks (cs__cert_validate) and the certificate's own context (cs__cert_make_ctx).
 *
 * Input: the certificate file's bytes, optionally followed by "\n#key\n" and the key
 * file's bytes; without the separator the input is a bundle (key in the cert file). The
 * bytes go to certstore as they would come from cs__source_read, without files.
 *
 * Properties (a broken one aborts; leaks are reported by LeakSanitizer):
 *  - loading arbitrary bytes never crashes or leaks;
 *  - a refusal is reported with at least one error finding; a parsed certificate has a
 *    leaf, a key of a supported type with its size, a 64-hex-digit fingerprint, and
 *    lower-case names;
 *  - a certificate that passes validation installs into its own server context (this
 *    found that CA signatures with weak digests passed validation; they are refused
 *    now, with a clear finding).
 */
#define _GNU_SOURCE 1 /* memmem */
#include <ctype.h>
#include <string.h>

#include "cs_cert_int.h"
#include "cs_validate_int.h"
#include "fuzz_common.h"

static const char sep[] = "\n#key\n";

static void check_parsed(const struct cs_cert *c)
{
    FUZZ_CHECK(c->leaf != NULL && c->key != NULL && c->chain != NULL);
    FUZZ_CHECK(c->type == CS_KEY_RSA || c->type == CS_KEY_ECDSA);
    FUZZ_CHECK(c->type == CS_KEY_ECDSA || c->curve_nid == 0);
    FUZZ_CHECK(strlen(c->fp_hex) == 64);
    for (int i = 0; i < 64; i++)
        FUZZ_CHECK(isxdigit((unsigned char)c->fp_hex[i]) && !isupper((unsigned char)c->fp_hex[i]));
    FUZZ_CHECK(c->subject && c->issuer && c->serial_hex);
    for (size_t i = 0; i < c->n_dns_names; i++)
        for (const char *p = c->dns_names[i]; *p; p++)
            FUZZ_CHECK(!isupper((unsigned char)*p));
    char buf[32];
    FUZZ_CHECK(cs_cert_describe(c, buf, sizeof(buf))[0] != '\0');
}

static size_t count_errors(const struct cs_diag *d, size_t from)
{
    size_t n = 0;
    for (size_t i = from; i < d->n; i++) {
        FUZZ_CHECK(d->items[i].msg != NULL);
        n += d->items[i].level == CS_ERROR;
    }
    return n;
}

/* Validation with the clock pinned just after the leaf's notBefore, so that seeds made at
 * test time are inside their validity and every run of an input judges the same way. */
static void validate(struct cs_cert *c, struct cs_diag *d)
{
    struct cs_conf conf;
    cs_conf_init(&conf);
    conf.now = c->not_before > 0 ? c->not_before + 60 : 1700000000;
    size_t before = d->n;
    int rc = cs__cert_validate(c, &conf, NULL, "fuzz", d);
    if (rc != 0) {
        FUZZ_CHECK(rc < 0 && count_errors(d, before) > 0);
    } else {
        before = d->n;
        int mk = cs__cert_make_ctx(c, &conf, "fuzz", d);
        if (mk != 0) {
            cs_diag_print(stderr, d);
            FUZZ_CHECK(mk == 0 && c->ctx != NULL);
        }
    }
    cs_conf_clear(&conf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *key = memmem(data, size, sep, sizeof(sep) - 1);
    size_t cert_len = key ? (size_t)(key - data) : size;
    /* Copies, so that reading past a length is an ASan finding rather than silent. */
    unsigned char *cert_buf = malloc(cert_len ? cert_len : 1);
    FUZZ_CHECK(cert_buf != NULL);
    memcpy(cert_buf, data, cert_len);
    struct cs_source_data sd = {
        .cert_path = "fuzz.crt", .cert_buf = cert_buf, .cert_len = cert_len};
    if (key) {
        key += sizeof(sep) - 1;
        sd.key_path = "fuzz.key";
        sd.key_len = size - (size_t)(key - data);
        sd.key_buf = malloc(sd.key_len ? sd.key_len : 1);
        FUZZ_CHECK(sd.key_buf != NULL);
        memcpy(sd.key_buf, key, sd.key_len);
    }
    bool key_optional = fuzz_hash(data, size) & 1;

    struct cs_diag d;
    cs_diag_init(&d);
    struct cs_cert *c = NULL;
    int rc = cs__cert_parse(&sd, "fuzz", key_optional, &d, &c);
    if (rc == 0) {
        FUZZ_CHECK(c != NULL);
        check_parsed(c);
        validate(c, &d);
    } else if (rc == 1) {
        FUZZ_CHECK(c == NULL && key_optional && count_errors(&d, 0) == 0);
    } else {
        FUZZ_CHECK(rc < 0 && c == NULL && count_errors(&d, 0) > 0);
    }
    cs_cert_release(c);
    cs_diag_free(&d);
    cs__source_clear(&sd);
    return 0;
}
