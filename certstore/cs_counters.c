/* Handshake counters, one set per worker: counts by (site, key type, bits/curve, version)
 * and failures by reason. A handful of labels exist per site, so a linear search is
 * enough; memory is allocated only when a label is seen for the first time. */
#include "cs.h"

#include <stdlib.h>
#include <string.h>

void cs_counters_init(struct cs_counters *c)
{
    memset(c, 0, sizeof(*c));
}

void cs_counters_free(struct cs_counters *c)
{
    if (!c)
        return;
    free(c->items);
    memset(c, 0, sizeof(*c));
}

/* Adds n to the label's count, creating it on first sight. */
static void add(struct cs_counters *c, const struct cs_hs_count *label, uint64_t n)
{
    struct cs_hs_count *it;

    for (size_t i = 0; i < c->n; i++) {
        it = &c->items[i];
        if (it->type == label->type && it->bits == label->bits &&
            it->curve_nid == label->curve_nid && it->version == label->version &&
            strcmp(it->site, label->site) == 0) {
            it->n += n;
            return;
        }
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        it = realloc(c->items, cap * sizeof(*it));
        if (!it)
            return; /* counting is best effort: a lost sample never fails a handshake */
        c->items = it;
        c->cap = cap;
    }
    it = &c->items[c->n++];
    *it = *label;
    it->n = n;
}

void cs_counters_note_handshake(struct cs_counters *c, const SSL *ssl)
{
    const struct cs_cert *cert = cs_ssl_cert(ssl);
    const struct cs_site *site = cs_ssl_site(ssl);
    struct cs_hs_count label = {0};

    snprintf(label.site, sizeof(label.site), "%s", site ? site->name : "-");
    if (cert) {
        label.type = cert->type;
        label.bits = cert->bits;
        label.curve_nid = cert->curve_nid;
    }
    label.version = SSL_version(ssl);
    add(c, &label, 1);
}

void cs_counters_note_failure(struct cs_counters *c, enum cs_fail reason)
{
    if ((unsigned)reason < CS_FAIL__COUNT)
        c->failures[reason]++;
}

void cs_counters_merge(struct cs_counters *dst, const struct cs_counters *src)
{
    for (size_t i = 0; i < src->n; i++)
        add(dst, &src->items[i], src->items[i].n);
    for (size_t i = 0; i < CS_FAIL__COUNT; i++)
        dst->failures[i] += src->failures[i];
}
