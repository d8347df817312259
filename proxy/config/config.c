/* Loading: inih records raw (section, key, value, line) records; px_loader_run converts
 * them through the key table (config_keys.c) and cross-checks (config_check.c).
 *
 * The system inih is built without INI_HANDLER_LINENO and with a fixed 200-byte line
 * buffer, so our own reader feeds it: inih asks for one line at a time and calls the
 * handler for that line before asking for the next, so the reader's count is the
 * handler's line. The reader also records section headers (inih reports none), reports
 * every syntax error (inih reports only the first) and records lines too long for inih.
 */
#include "config_int.h"
#include "px_vec.h"

#include <ini.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int px_oom(const struct px_loader *L)
{
    L->errs->oom = true;
    return -1;
}

char *px_strdup(const struct px_loader *L, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        px_oom(L);
    return d;
}

void *px_calloc(const struct px_loader *L, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        px_oom(L);
    return p;
}

int px_grow(const struct px_loader *L, void *slot, size_t *cap, size_t elem, size_t want)
{
    return px_vec_reserve_(slot, cap, elem, want) == 0 ? 0 : px_oom(L);
}

/* ---- messages ---- */

/* Returns 0, or -1 with e->oom set when the message could not be stored. */
static int errors_vadd(struct px_config_errors *e, const char *prefix, const char *fmt, va_list ap)
{
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s", prefix);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    char *m = strdup(msg);
    if (!m || px_vec_reserve_(&e->msgs, &e->cap, sizeof *e->msgs, e->n + 1) != 0) {
        free(m);
        e->oom = true;
        return -1;
    }
    e->msgs[e->n++] = m;
    return 0;
}

void px_errors_add(struct px_config_errors *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errors_vadd(e, "", fmt, ap);
    va_end(ap);
}

void px_config_errors_free(struct px_config_errors *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    e->msgs = NULL;
    e->n = e->cap = 0;
    e->oom = false;
}

/* A message without its line only turns the sorting off (see sort_errors). */
static void note_line(struct px_loader *L, int line)
{
    if (px_grow(L, &L->err_lines, NULL, sizeof *L->err_lines, L->n_err_lines + 1) == 0)
        L->err_lines[L->n_err_lines++] = line > 0 ? line : INT_MAX;
}

/* Stable insertion sort of this load's messages by line; skipped when some message did
 * not go through px_cerr/px_kerr (its line is unknown). */
static void sort_errors(struct px_loader *L)
{
    struct px_config_errors *e = L->errs;
    if (e->n - L->errs_base != L->n_err_lines || L->n_err_lines < 2)
        return; /* (also avoids NULL + 0 on an empty list) */
    char **m = e->msgs + L->errs_base;
    int *ln = L->err_lines;
    for (size_t i = 1; i < L->n_err_lines; i++) {
        char *mv = m[i];
        int lv = ln[i];
        size_t j = i;
        for (; j > 0 && ln[j - 1] > lv; j--) {
            m[j] = m[j - 1];
            ln[j] = ln[j - 1];
        }
        m[j] = mv;
        ln[j] = lv;
    }
}

void px_cerr(struct px_loader *L, int line, const char *fmt, ...)
{
    char prefix[PATH_MAX + 32] = "";
    if (L->file && line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d: ", L->file, line);
    else if (L->file)
        snprintf(prefix, sizeof prefix, "%s: ", L->file);
    va_list ap;
    va_start(ap, fmt);
    int rc = errors_vadd(L->errs, prefix, fmt, ap);
    va_end(ap);
    if (rc == 0)
        note_line(L, line);
}

void px_kerr(struct px_loader *L, const struct px_raw *r, const char *fmt, ...)
{
    char prefix[PATH_MAX + 200];
    if (r->flag)
        snprintf(prefix, sizeof prefix, "%s: ", r->flag);
    else if (r->line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d: [%s] %s: ", L->file ? L->file : "-", r->line,
                 r->section, r->key);
    else /* a built-in default failed to convert: a bug in the key table */
        snprintf(prefix, sizeof prefix, "default of [%s] %s: ", r->section, r->key);
    va_list ap;
    va_start(ap, fmt);
    int rc = errors_vadd(L->errs, prefix, fmt, ap);
    va_end(ap);
    if (rc == 0)
        note_line(L, r->line);
}

/* ---- raw records ---- */

/* "  site   a " -> "site a": one space between the kind and the name. NULL on OOM. */
static char *normalise_section(const struct px_loader *L, const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *d = px_strdup(L, s), *w = d;
    if (!d)
        return NULL;
    bool space = false;
    for (const char *p = s; *p; p++) {
        if (*p == ' ' || *p == '\t') {
            space = true;
            continue;
        }
        if (space && w != d)
            *w++ = ' ';
        space = false;
        *w++ = *p;
    }
    *w = '\0';
    return d;
}

int px_loader_add(struct px_loader *L, const char *section, const char *key, const char *value,
                  int line, const char *flag)
{
    if (px_grow(L, &L->raws, &L->cap_raws, sizeof *L->raws, L->n_raws + 1) != 0)
        return -1;
    struct px_raw r = {.section = normalise_section(L, section),
                       .key = key ? px_strdup(L, key) : NULL,
                       .value = value ? px_strdup(L, value) : NULL,
                       .line = line,
                       .flag = flag};
    if (!r.section || (key && !r.key) || (value && !r.value)) {
        free(r.section);
        free(r.key);
        free(r.value);
        return -1;
    }
    L->raws[L->n_raws++] = r;
    return 0;
}

/* ---- the inih reader ---- */

struct reader {
    struct px_loader *L;
    FILE *f;
    int line;
    char section[256]; /* the current section, from the last header this reader saw */
    int syntax_errors;
    char *buf;
    size_t cap;
};

/* Records a section header, or flags a line inih will reject. Returns false when the
 * line must not reach inih (it was reported here). */
static bool classify_line(struct reader *rd, const char *s)
{
    if (*s == '\0' || *s == ';' || *s == '#')
        return true;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (!end) {
            px_cerr(rd->L, rd->line, "syntax error: missing \"]\" in a section header");
            rd->syntax_errors++;
            return false;
        }
        char sect[256];
        size_t n = (size_t)(end - s - 1);
        if (n >= sizeof sect)
            n = sizeof sect - 1;
        memcpy(sect, s + 1, n);
        sect[n] = '\0';
        px_loader_add(rd->L, sect, NULL, NULL, rd->line, NULL);
        snprintf(rd->section, sizeof rd->section, "%s", sect);
        return true;
    }
    if (!strpbrk(s, "=:") || *s == '=' || *s == ':') {
        px_cerr(rd->L, rd->line, "syntax error: expected \"key = value\" or \"[section]\"");
        rd->syntax_errors++;
        return false;
    }
    return true;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* The system inih is built with a fixed 200-byte line buffer, too short for a cert line
 * with two absolute paths. A longer "key = value" line is recorded here with inih's
 * rules (first "=" or ":", " ;" starts a comment, blanks trimmed) and inih gets an empty
 * line in its place. Section headers are never that long. */
static void record_long(struct reader *rd, char *s)
{
    char *sep = strpbrk(s, "=:");
    *sep = '\0';
    char *value = sep + 1;
    for (char *p = value; *p; p++) {
        if (*p == ';' && p > value && (p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    }
    px_loader_add(rd->L, rd->section, trim(s), trim(value), rd->line, NULL);
}

/* inih's fgets-style reader. Lines are given to inih without leading blanks, so an
 * indented line is never a multi-line continuation of the previous value. */
static char *read_line(char *str, int num, void *stream)
{
    struct reader *rd = stream;
    ssize_t n = getline(&rd->buf, &rd->cap, rd->f);
    if (n < 0)
        return NULL;
    rd->line++;
    char *s = rd->buf;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        s[--len] = '\0';
    if (!classify_line(rd, s)) {
        s = "";
    } else if (len + 2 > (size_t)num) {
        if (*s && *s != ';' && *s != '#' && *s != '[')
            record_long(rd, s);
        s = "";
    }
    snprintf(str, (size_t)num, "%s\n", s);
    return str;
}

/* The section comes from the reader, not from inih, which truncates section names to 50
 * bytes and never sees an overlong header. */
static int record(void *user, const char *section, const char *name, const char *value)
{
    struct reader *rd = user;
    px_loader_add(rd->L, rd->section, name, value, rd->line, NULL);
    return 1;
}

/* ---- loading a file ---- */

/* NULL on OOM. */
static char *file_dir(const struct px_loader *L, const char *path)
{
    char *copy = px_strdup(L, path);
    if (!copy)
        return NULL;
    char *slash = strrchr(copy, '/');
    const char *d = ".";
    if (slash == copy)
        d = "/";
    else if (slash) {
        *slash = '\0';
        d = copy;
    }
    char *abs = realpath(d, NULL);
    char *res = px_strdup(L, abs ? abs : d);
    free(abs);
    free(copy);
    return res;
}

static int parse_file(struct px_loader *L, const char *path)
{
    struct reader rd = {.L = L};
    struct stat st;
    rd.f = fopen(path, "r");
    if (!rd.f || fstat(fileno(rd.f), &st) != 0 || S_ISDIR(st.st_mode)) {
        px_errors_add(L->errs, "%s: cannot open: %s", path,
                      rd.f ? "is a directory" : strerror(errno));
        if (rd.f)
            fclose(rd.f);
        return -2;
    }
    int rc = ini_parse_stream(read_line, &rd, record, &rd);
    if (rc > 0 && rd.syntax_errors == 0)
        px_cerr(L, rc, "syntax error");
    free(rd.buf);
    fclose(rd.f);
    return rc == 0 && rd.syntax_errors == 0 ? 0 : -1;
}

int px_config_load_file_ex(const char *path, unsigned flags, struct px_config **out,
                           struct px_config_errors *errs)
{
    *out = NULL;
    struct px_loader L = {.file = path, .flags = flags, .errs = errs, .errs_base = errs->n};
    size_t errs_before = errs->n;
    L.dir = file_dir(&L, path);
    int rc = L.dir ? parse_file(&L, path) : -2;
    if (rc == -1 && errs->n == errs_before)
        px_cerr(&L, 0, "cannot be parsed");
    if (rc != -2 &&
        !errs->oom) /* syntax errors do not hide the problems of the lines that parsed */
        px_loader_run(&L);
    sort_errors(&L);
    if (errs->n == errs_before && !errs->oom)
        L.cfg->path = px_strdup(&L, path);
    return px_loader_finish(&L, errs_before, out);
}

int px_config_load_file(const char *path, struct px_config **out, struct px_config_errors *errs)
{
    return px_config_load_file_ex(path, 0, out, errs);
}
