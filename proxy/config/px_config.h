/* Configuration: parsed from an INI file (inih) or from the sidecar flags into raw
 * records, then converted and validated through one key table (config_keys.c).
 * `twofold check` runs exactly the same code as startup.
 *
 * Ownership: a px_config owns every string and array inside it, including the cs_conf
 * handed to certstore; px_config_free releases all of it. A config is immutable once
 * loaded and may be read from any thread.
 */
#ifndef TWOFOLD_PX_CONFIG_H
#define TWOFOLD_PX_CONFIG_H

#include "cs.h"
#include "px_addr.h"

#include <stdbool.h>
#include <stddef.h>

enum px_balance { PX_BALANCE_ROUND_ROBIN = 0, PX_BALANCE_LEAST_CONN = 1 };
enum px_access_log_mode { PX_ACCESS_OFF = 0, PX_ACCESS_TEXT = 1, PX_ACCESS_JSON = 2 };

/* The ALPN protocols a listener offers, in wire format ("\x02h2\x08http/1.1"): the
 * server's preference order. */
struct px_alpn {
    unsigned char wire[16];
    unsigned char len;
};

struct px_listener_conf {
    char *name;
    struct px_addr addr;
    struct px_alpn alpn;
    int line;
};

struct px_upstream_conf {
    char *name;
    struct px_addr *servers;
    size_t n_servers;
    enum px_balance balance;
    unsigned keepalive;       /* max idle pooled connections per server per worker (32) */
    unsigned idle_timeout_ms; /* pooled connection idle timeout (60 s) */
    unsigned fail_threshold;  /* consecutive connect failures before cool-off (3) */
    unsigned cooloff_ms;      /* skip a failed server this long (10 s) */
    int line;
};

struct px_timeouts {
    unsigned handshake_ms;         /* TLS handshake, 10 s */
    unsigned header_ms;            /* request head, 10 s -> 408 */
    unsigned idle_ms;              /* keep-alive idle, 60 s */
    unsigned upstream_connect_ms;  /* 5 s */
    unsigned upstream_response_ms; /* time to the response head and between reads, 60 s */
    unsigned drain_ms;             /* graceful shutdown, 30 s */
    unsigned body_ms;              /* request body rate window, 10 s (see body_min_rate) */
};

struct px_limits {
    unsigned max_request_line; /* 8 KiB -> 414 */
    unsigned max_head;         /* 16 KiB -> 431 */
    unsigned max_headers;      /* 100 -> 431 */
    unsigned max_resp_head;    /* upstream response head, 64 KiB -> 502 */
    unsigned max_resp_headers; /* upstream response fields, 200 -> 502 */
    unsigned max_connections;  /* per worker, 10000; accept pauses at the cap */
    unsigned write_watermark;  /* backpressure: 64 KiB */
    unsigned body_min_rate;    /* request body bytes/s over each body_ms window: 1 KiB */
};

struct px_config {
    int refs;         /* atomic; 1 after loading (see px_config_ref/px_config_release) */
    char *path;       /* NULL in sidecar mode */
    unsigned workers; /* 0 in the file means: number of CPUs; resolved on load */
    bool admin_enabled;
    struct px_addr admin;
    char *admin_token; /* optional bearer token */
    int log_level;     /* enum px_log_level */
    enum px_access_log_mode access_log;
    char *access_log_path; /* NULL or "-": stderr */
    struct px_timeouts timeouts;
    struct px_limits limits;
    char *via; /* Via pseudonym added to forwarded requests; NULL: none (via = off) */
    /* hot reload */
    enum cs_loss_policy on_coverage_loss; /* default for sites (refuse) */
    bool watch;                           /* watch certificate files and directories (on) */
    unsigned watch_debounce_ms;           /* quiet time after the last change (500 ms) */
    unsigned watch_poll_ms;               /* polling fallback interval (2 s) */
    char *ticket_key_file;                /* shared session ticket keys; NULL: random per process */
    unsigned ticket_rotate_ms;            /* new encryption key this often (1 h) */
    struct px_listener_conf *listeners;
    size_t n_listeners;
    struct px_upstream_conf *upstreams;
    size_t n_upstreams;
    /* sites, certificate sources and TLS policy; each site's tag is its upstream index */
    struct cs_conf certs;
};

/* A problem found while loading: "file:line: message" (line 0: no line). oom: an
 * allocation failed; the load failed, and its messages end with "out of memory" unless even
 * that could not be stored. Loading never aborts the process. */
struct px_config_errors {
    char **msgs;
    size_t n, cap;
    bool oom;
};
void px_config_errors_free(struct px_config_errors *e);

/* Loads and validates a file. Returns 0 and a config, or negative with every problem
 * in errs (never stops at the first). check_files: also verify referenced files exist. */
int px_config_load_file(const char *path, struct px_config **out, struct px_config_errors *errs);

/* Sidecar mode: the same validation from flags. Any of the strings may be NULL. */
struct px_sidecar_args {
    const char *listen, *upstream, *cert_dir, *default_name, *admin, *workers, *alpn;
};
int px_config_from_sidecar(const struct px_sidecar_args *a, struct px_config **out,
                           struct px_config_errors *errs);

void px_config_free(struct px_config *c); /* NULL is a no-op; ignores refs */

/* A running server shares its config between the main thread, the workers and their
 * connections (a config reload replaces it while old connections finish under the old
 * one). Atomic; the last release frees. NULL is a no-op. */
struct px_config *px_config_ref(struct px_config *c);
void px_config_release(struct px_config *c);

/* px_config_load_file with flags. PX_CONFIG_NO_FILE_CHECKS skips the stat/access checks
 * of cert, key, cert_dir and ca_bundle (tests and documentation checks of examples whose
 * files do not exist here). px_config_load_file(p, o, e) == _ex(p, 0, o, e). */
#define PX_CONFIG_NO_FILE_CHECKS 1u
int px_config_load_file_ex(const char *path, unsigned flags, struct px_config **out,
                           struct px_config_errors *errs);

/* The key table, read-only, for documentation checks and `twofold help config`. section
 * is the section kind ("proxy", "listener", "site", "upstream"); def is the default as
 * written in a file, or NULL when the key has none. */
struct px_config_key_info {
    const char *section, *key, *type, *def, *doc;
    bool repeatable;
};
size_t px_config_key_count(void);
int px_config_key_info(size_t i, struct px_config_key_info *out);

#endif
