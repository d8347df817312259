/* Private to config*.c: the loader that turns raw (section, key, value, line) records
 * into a px_config through the key table. Nothing outside config*.c includes this. */
#ifndef TWOFOLD_CONFIG_INT_H
#define TWOFOLD_CONFIG_INT_H

#include "px_config.h"

#include <stdarg.h>

enum px_kind { PX_K_BAD = -1, PX_K_PROXY = 0, PX_K_LISTENER, PX_K_SITE, PX_K_UPSTREAM, PX_K__N };

/* One line of input. key == NULL: a section header. flag != NULL: the record came from
 * a command-line flag (sidecar mode) and messages name the flag instead of file:line. */
struct px_raw {
    char *section; /* normalised: "proxy", "site a" */
    char *key;
    char *value;
    int line;
    const char *flag;
};

/* One distinct section. Keys of a repeated section header go to its first occurrence. */
struct px_sect {
    char *text; /* normalised section text, as in px_raw.section */
    enum px_kind kind;
    const char *name; /* points into text; "" for [proxy] */
    int line;
    size_t idx; /* index into the kind's array in px_config */
    int *seen;  /* per key-table entry: line of the first setting, 0 if unset */
};

struct px_loader {
    const char *file; /* as given, for messages; NULL in sidecar mode */
    char *dir;        /* absolute directory of the file; relative paths resolve here */
    unsigned flags;
    struct px_config *cfg;
    struct px_config_errors *errs;
    struct px_raw *raws;
    size_t n_raws, cap_raws;
    struct px_sect *sects;
    size_t n_sects;
    /* per site: the upstream it names (resolved to a tag after conversion) */
    char **site_upstream;
    int *site_upstream_line;
    size_t n_site_upstream;
    /* line of each message added through px_cerr/px_kerr, so that a file's messages can
     * be put in file order (messages without a line go last) */
    size_t errs_base;
    int *err_lines; /* sized exactly n_err_lines */
    size_t n_err_lines;
};

struct px_key;
typedef int (*px_conv_fn)(struct px_loader *L, const struct px_key *k, const struct px_raw *r,
                          void *obj);

/* One entry of the key table (config_keys.c). off is the field's offset in the section's
 * object (px_config, px_listener_conf, cs_site_conf, px_upstream_conf). */
struct px_key {
    enum px_kind kind;
    const char *key;
    const char *type; /* for documentation: "duration", "size", "bool", ... */
    const char *def;  /* default as written in a file; NULL: none */
    bool repeatable;
    px_conv_fn conv;
    size_t off;
    const char *doc;
};

/* Converters used by the key table (config_values.c, config_sites.c). */
int px_conv_uint(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_count(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_duration(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_size(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_bool(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_str(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_file(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_workers(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_admin(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_log_level(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_access_log(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_log_file(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_protocols(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_tls_list(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_alpn(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_addr(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_names(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_cert(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_cert_dir(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_site_upstream(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_prefer(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_via(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_loss(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_require(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_accept_lost(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_server(struct px_loader *, const struct px_key *, const struct px_raw *, void *);
int px_conv_balance(struct px_loader *, const struct px_key *, const struct px_raw *, void *);

extern const struct px_key px_keys[];
extern const size_t px_n_keys;
const char *px_kind_name(enum px_kind k);
/* Index of key in the table for kind, or -1. */
int px_key_find(enum px_kind kind, const char *key);
/* Applies every default of kind to obj (a fresh, zeroed object). */
void px_keys_defaults(struct px_loader *L, enum px_kind kind, void *obj);

/* Messages. px_cerr: "file:line: msg" ("file: msg" for line 0, bare msg in sidecar).
 * px_kerr: about one key's value: "file:line: [section] key: msg" or "--flag: msg". */
void px_errors_add(struct px_config_errors *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void px_cerr(struct px_loader *L, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void px_kerr(struct px_loader *L, const struct px_raw *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Raw records and the conversion (config.c). */
int px_loader_add(struct px_loader *L, const char *section, const char *key, const char *value,
                  int line, const char *flag);
/* Converts every raw record and runs the cross checks. Returns 0 or -1 (errors added). */
int px_loader_run(struct px_loader *L);
void px_loader_close(struct px_loader *L);

/* Cross checks after conversion (config_check.c). */
void px_config_check(struct px_loader *L);
/* A path as written in the file, resolved against the file's directory. Caller frees;
 * NULL on OOM. */
char *px_path_resolve(const struct px_loader *L, const char *value);
/* stat/access checks unless PX_CONFIG_NO_FILE_CHECKS; want_dir: must be a directory. */
void px_check_path(struct px_loader *L, const struct px_raw *r, const char *path, bool want_dir);

/* Allocation in the loader. On failure each sets L->errs->oom and returns NULL (-1 for
 * px_grow, the array left as it was); the caller gives up on its record and returns, and
 * the load then fails with "out of memory" (px_loader_finish). */
char *px_strdup(const struct px_loader *L, const char *s);
void *px_calloc(const struct px_loader *L, size_t n, size_t size);
/* px_vec_reserve_ (px_vec.h) for arrays that live in config structs: slot is a T **. */
int px_grow(const struct px_loader *L, void *slot, size_t *cap, size_t elem, size_t want);
/* Marks an allocation failure the helpers above did not see; returns -1. */
int px_oom(const struct px_loader *L);
/* Ends a load: it fails on an allocation failure or when messages were added since
 * errs_before; else the config moves to *out. Closes L. Returns 0 or -1. */
int px_loader_finish(struct px_loader *L, size_t errs_before, struct px_config **out);

#endif
