/* Certificate file watcher on a libuv loop: tells the reload logic "something under these
 * paths may have changed", once per burst of changes.
 *
 * What is watched: for every path, the directory that holds it, the directories along its
 * symlinks (the directory of the link's target when the path is a symlink; the directory
 * holding the link when the directory holding the path is reached through a symlink,
 * ".../..data/tls.crt"), all resolved and deduplicated. Watching directories rather than
 * files is what sees renames and symlink swaps:
 * - in-place rewrite (IN_MODIFY on the parent),
 * - temporary file + rename over the path,
 * - certbot relinking live/NAME/fullchain.pem -> ../../archive/NAME/fullchainN.pem,
 * - Kubernetes secret volumes: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>,
 *   updated by creating a new timestamped directory and renaming a ..data_tmp symlink over
 *   ..data.
 * A path that is a directory (a cert_dir) is watched itself together with its
 * subdirectories one level deep, the directories of symlink targets found in them, and
 * the directory holding it (it may be replaced by rename).
 *
 * Which events count: only those naming an entry in use. In the directory holding a path
 * or a link on its way, that entry's name (fullchain.pem, ..data, the archive file a link
 * points to); in a cert_dir and its subdirectories, every entry the directory loader may
 * pick up (px_watch_cert_entry) and every subdirectory. An access log written beside a
 * cert_dir, an editor's swap or backup file, a temporary file before its rename: no
 * callback. Events the watcher cannot attribute (no name, an error) count.
 *
 * Debounce: every event that counts (re)starts a debounce_ms timer; cb runs once when it
 * expires, so a renewal that writes several files is one callback. Before cb runs, the
 * watch set and the names that count are recomputed from the current symlinks (targets
 * move on every renewal) and the polling state is refreshed.
 *
 * Polling fallback (poll_ms > 0): every poll_ms the paths are stat()ed (following
 * symlinks; for directories, their entries that count one level of subdirectories deep)
 * and a change of (dev, inode, size, mtime ns) of any of them starts the debounce timer
 * too. This catches what inotify cannot see: network file systems, a swapped parent
 * directory, a directory that did not exist when the watch was armed.
 *
 * cb is not told what changed: the reload compares content itself (a file touched but not
 * changed reloads to "nothing changed").
 *
 * Ownership: the watcher copies paths. It must be used and closed on the loop's thread.
 * px_watch_close() stops everything at once (cb never runs after it returns) and frees the
 * watcher after libuv's last close callback, then calls closed_cb (may be NULL).
 */
#ifndef TWOFOLD_PX_WATCH_H
#define TWOFOLD_PX_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct px_watch;

typedef void (*px_watch_cb)(void *arg);

enum {
    PX_WATCH_NO_EVENTS = 1, /* polling only (e.g. "watch = poll" for NFS) */
};

/* Returns NULL on bad arguments (n == 0, no cb, events disabled and poll_ms == 0) or
 * when out of memory. A directory that cannot be watched (missing, no permission) is left
 * to polling and retried after every fire. */
struct px_watch *px_watch_new(uv_loop_t *loop, const char *const *paths, size_t n,
                              unsigned debounce_ms, unsigned poll_ms, px_watch_cb cb, void *arg);
struct px_watch *px_watch_new_ex(uv_loop_t *loop, const char *const *paths, size_t n,
                                 unsigned debounce_ms, unsigned poll_ms, unsigned flags,
                                 px_watch_cb cb, void *arg);
void px_watch_close(struct px_watch *w, void (*closed_cb)(void *arg), void *arg);

/* Whether an entry of a cert_dir named name can matter to the directory loader (X.crt,
 * X.pem, X.key, Kubernetes' ..data), not counting subdirectories. */
bool px_watch_cert_entry(const char *name);

/* Number of directories currently watched with fs events (for logs and tests). */
size_t px_watch_dir_count(const struct px_watch *w);
/* Whether dir (a resolved path) is currently watched (for tests). */
int px_watch_has_dir(const struct px_watch *w, const char *dir);

#endif
