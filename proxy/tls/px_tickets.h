/* Session ticket keys, shared by every worker and every snapshot.
 *
 * Ticket keys live outside certificate snapshots so that resumption survives certificate
 * reloads: every SSL_CTX a snapshot builds gets px_tickets_install() with the one
 * process-wide ring, and a ticket issued under an old snapshot still decrypts under the
 * new one.
 *
 * Two modes:
 * - random (key_file NULL): one random key at start; px_tickets_rotate() (or
 *   px_tickets_tick() every rotate_seconds) puts a new random key first. The ring keeps
 *   the PX_TICKETS_KEEP newest keys: the first encrypts, all decrypt, so a ticket lives
 *   for about (PX_TICKETS_KEEP - 1) * rotate_seconds at least.
 * - file (key_file set): the keys come from the file only (so several instances behind
 *   one name share them); px_tickets_reload_file() re-reads it, px_tickets_rotate()
 *   refuses (-EPERM) and px_tickets_tick() does nothing.
 *
 * Key file format (the layout of nginx's ssl_session_ticket_key): one key per line, each
 * line the base64 encoding of 80 random bytes = 16-byte key name, 32-byte HMAC-SHA256
 * secret, 32-byte AES-256 key. The first key encrypts new tickets, every key decrypts.
 * Lines starting with '#' and blank lines are ignored; at most PX_TICKETS_FILE_MAX keys.
 * Make one with `openssl rand 80 | base64 -w0`; rotate by writing a new key as the first
 * line (keep the previous ones below it) and reloading.
 *
 * Threads: rotate/reload/tick/free run on one control thread (the main loop); the ticket
 * callback runs on any worker during handshakes. Readers never block: they copy the key
 * they need out of an immutable key set reached by an atomic pointer; a writer publishes
 * a new set and frees the old one after every reader that might hold it has left
 * (a two-counter grace period, see tickets.c).
 *
 * Tickets: encryption uses AES-256-CBC with a random IV and HMAC-SHA256 through the
 * OpenSSL 3 EVP_MAC interface (SSL_CTX_set_tlsext_ticket_key_evp_cb). A ticket decrypted
 * with a key other than the first is accepted and renewed (a fresh ticket is issued).
 */
#ifndef TWOFOLD_PX_TICKETS_H
#define TWOFOLD_PX_TICKETS_H

#include <openssl/ssl.h>
#include <stddef.h>

#define PX_TICKETS_KEEP     3  /* keys kept in random mode (newest encrypts) */
#define PX_TICKETS_FILE_MAX 16 /* keys accepted from a key file */
#define PX_TICKETS_KEY_LEN  80 /* name 16 + HMAC 32 + AES 32 */

struct px_tickets;

/* key_file NULL: random keys. rotate_seconds: period for px_tickets_tick() (0: never).
 * Returns NULL with a message in err (file and line for key file problems). */
struct px_tickets *px_tickets_new(const char *key_file, unsigned rotate_seconds, char *err,
                                  size_t errlen);
/* Frees the ring. Every SSL_CTX it was installed on must be freed (or no longer used for
 * handshakes) first. NULL is a no-op. */
void px_tickets_free(struct px_tickets *t);

/* Random mode: a new random encryption key; the previous ones stay for decryption (the
 * oldest beyond PX_TICKETS_KEEP is dropped). 0, -EPERM in file mode, -EIO when the
 * random generator fails (the current keys stay). */
int px_tickets_rotate(struct px_tickets *t);
/* Rotates when rotate_seconds have passed since the last rotation (monotonic clock).
 * Meant for a periodic timer on the control loop. Returns 1 rotated, 0 not due, <0 error. */
int px_tickets_tick(struct px_tickets *t);
/* File mode: re-reads key_file. On any error the current keys stay and err names the
 * file and line. 0 or negative (-EPERM in random mode). */
int px_tickets_reload_file(struct px_tickets *t, char *err, size_t errlen);
/* Number of keys in the current set (for the admin view and tests). */
size_t px_tickets_count(struct px_tickets *t);

/* Installs the ticket callback on ctx and attaches t to it (SSL_CTX ex_data). OpenSSL
 * calls the callback of the SSL's *session* context (the context it was created from)
 * but the callback reads the ring from the SSL's current context, so install on every
 * context (base and per-site) of every snapshot. Returns 0, or negative when OpenSSL
 * refuses (message in the OpenSSL error queue). */
int px_tickets_install(SSL_CTX *ctx, struct px_tickets *t);

#endif
