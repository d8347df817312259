/* The explain view: how the snapshot answers one ClientHello. The same cs_select the
 * handshake uses, with every candidate's verdict spelled out. */
#include "cs.h"

#include <string.h>
#include <strings.h>

static const char *group_name(uint16_t id, char *buf, size_t len)
{
    switch (id) {
    case 23:
        return "P-256";
    case 24:
        return "P-384";
    case 25:
        return "P-521";
    case 29:
        return "X25519";
    case 30:
        return "X448";
    default:
        snprintf(buf, len, "0x%04x", id);
        return buf;
    }
}

/* The known entries set in bits (ids[i] for bit i), then how many sent were unknown. */
static void print_list(FILE *f, const char *label, uint32_t bits, const uint16_t *ids, size_t n_ids,
                       size_t sent, bool present, bool sigalgs)
{
    char tmp[16];
    int col = fprintf(f, "  %-17s", label);
    size_t shown = 0;

    if (!present)
        fputs(" (extension not sent)", f);
    for (size_t i = 0; present && i < n_ids; i++) {
        if (!((bits >> i) & 1))
            continue;
        const char *name = sigalgs ? cs_sigalg_name(ids[i], tmp, sizeof(tmp))
                                   : group_name(ids[i], tmp, sizeof(tmp));
        if (col + 1 + (int)strlen(name) > 100) /* wrap under the first entry */
            col = fprintf(f, "\n%19s", "") - 1;
        col += fprintf(f, " %s", name);
        shown++;
    }
    if (present && sent > shown)
        fprintf(f, " (+%zu unknown)", sent - shown);
    else if (present && sent == 0)
        fputs(" (empty)", f);
    fputc('\n', f);
}

static void print_client(FILE *f, const struct cs_hello *h)
{
    size_t known = 0;

    fputs("client:\n  versions         ", f);
    if (!h->has_versions)
        fprintf(f, " legacy_version 0x%04x (no supported_versions)", h->legacy_version);
    for (int v = TLS1_3_VERSION; v >= SSL3_VERSION; v--)
        if (cs_hello_has_version(h, (uint16_t)v)) {
            fprintf(f, " %s", cs_version_name(v));
            known++;
        }
    if (h->has_versions && h->n_versions > known)
        fprintf(f, " (+%zu unknown)", h->n_versions - known);
    fprintf(f, "\n  cipher suites     %zu offered%s\n", h->n_ciphers,
            cs_hello_has_cipher(h, 0x5600) ? " (with TLS_FALLBACK_SCSV)" : "");
    print_list(f, "signature algs", h->sigalgs, cs_sigalg_ids, cs_n_sigalg_ids, h->n_sigalgs,
               h->has_sigalgs, true);
    print_list(f, "groups", h->groups, cs_group_ids, cs_n_group_ids, h->n_groups, h->has_groups,
               false);
}

static const char *match_kind(const struct cs_entry *e, const char *sni, bool matched)
{
    if (!matched)
        return sni ? "default site: name not configured" : "default site: no SNI sent";
    for (size_t i = 0; e->site && i < e->site->n_names; i++)
        if (strcasecmp(e->site->names[i], sni) == 0)
            return "exact name";
    return "wildcard";
}

static void print_verdicts(FILE *f, const struct cs_choice *ch)
{
    char d[32];

    fputs("candidates (in evaluation order):\n", f);
    for (size_t i = 0; i < ch->n_verdicts; i++) {
        const struct cs_verdict *v = &ch->verdicts[i];
        fprintf(f, "  %-8s %-12s sha256 %.16s  %s\n", v->usable ? "accepted" : "rejected",
                cs_cert_describe(v->cert, d, sizeof(d)), v->cert->fp_hex,
                v->cert->cert_path ? v->cert->cert_path : "-");
        fprintf(f, "           %s%s\n", v->reason, v->cert == ch->cert ? "  <- chosen" : "");
    }
}

void cs_explain_print(FILE *f, const struct cs_snapshot *s, const struct cs_hello *h)
{
    const char *sni = h->has_sni ? h->sni : NULL;
    bool matched = false;
    const struct cs_entry *e = cs_snapshot_lookup(s, sni, &matched);
    struct cs_choice ch;
    char d[32];

    fprintf(f, "server name: %s\n", sni ? sni : "(none sent)");
    print_client(f, h);
    if (!e) {
        fputs("site: none (unknown name under strict SNI)\n"
              "result: FAIL(unknown_sni): the handshake is refused with unrecognized_name\n",
              f);
        return;
    }
    fprintf(f, "site: %s (%s)\n", e->site ? e->site->name : "?", match_kind(e, sni, matched));
    cs_select(e, h, cs_snapshot_suites(s), &ch);
    fprintf(f, "version: %s\n", cs_version_name(ch.version));
    print_verdicts(f, &ch);
    if (ch.cert)
        fprintf(f, "result: %s (%s)\n  %s\n", cs_cert_describe(ch.cert, d, sizeof(d)),
                ch.cert->cert_path ? ch.cert->cert_path : "-", ch.reason);
    else
        fprintf(f, "result: FAIL(%s)\n  %s\n", cs_fail_name(ch.fail), ch.reason);
}
