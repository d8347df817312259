/* Diagnostics: a growable list of findings, each with level, site and file. */
#include "cs.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cs_diag_init(struct cs_diag *d)
{
    memset(d, 0, sizeof(*d));
}

void cs_diag_free(struct cs_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].site);
        free(d->items[i].file);
        free(d->items[i].msg);
    }
    free(d->items);
    d->items = NULL;
    d->n = d->cap = 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void cs_diag_add(struct cs_diag *d, enum cs_level level, const char *site, const char *file,
                 const char *fmt, ...)
{
    if (!d)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct cs_diag_item *v = realloc(d->items, cap * sizeof(*v));
        if (!v)
            return; /* out of memory: the finding is lost, nothing else to do */
        d->items = v;
        d->cap = cap;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    struct cs_diag_item *it = &d->items[d->n];
    it->level = level;
    it->site = dup_or_null(site);
    it->file = dup_or_null(file);
    it->msg = strdup(buf);
    if (!it->msg) {
        free(it->site);
        free(it->file);
        return;
    }
    d->n++;
}

void cs_diag_add_openssl(struct cs_diag *d)
{
    char add[768] = "";
    size_t len = 0;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof(one));
        int w = snprintf(add + len, sizeof(add) - len, "%s%s", len ? "; " : ": ", one);
        if (w < 0 || (size_t)w >= sizeof(add) - len)
            break;
        len += (size_t)w;
    }
    ERR_clear_error();
    if (!d || d->n == 0 || len == 0)
        return;
    struct cs_diag_item *it = &d->items[d->n - 1];
    size_t old = strlen(it->msg);
    char *m = realloc(it->msg, old + len + 1);
    if (!m)
        return;
    memcpy(m + old, add, len + 1);
    it->msg = m;
}

size_t cs_diag_count(const struct cs_diag *d, enum cs_level at_least)
{
    size_t n = 0;
    for (size_t i = 0; d && i < d->n; i++)
        if (d->items[i].level >= at_least)
            n++;
    return n;
}

const char *cs_level_name(enum cs_level level)
{
    switch (level) {
    case CS_NOTICE:
        return "notice";
    case CS_WARNING:
        return "warning";
    case CS_ERROR:
        return "error";
    }
    return "?";
}

void cs_diag_print(FILE *f, const struct cs_diag *d)
{
    for (size_t i = 0; d && i < d->n; i++) {
        const struct cs_diag_item *it = &d->items[i];
        fprintf(f, "%s:", cs_level_name(it->level));
        if (it->site)
            fprintf(f, " site %s:", it->site);
        if (it->file)
            fprintf(f, " %s:", it->file);
        fprintf(f, " %s\n", it->msg);
    }
}
