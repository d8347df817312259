/* systemd service notification (sd_notify protocol) without libsystemd.
 *
 * Contract: each call sends one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET
 * (a filesystem path, or "@name" for an abstract socket). When the variable is unset or
 * empty every call is a no-op returning 0, so the proxy behaves the same outside systemd.
 * Returns 0 when sent (or not under systemd), negative errno-style codes otherwise.
 * Thread-safe: no shared state; a socket is opened and closed per call (these messages
 * are rare: start, reload, stop, status).
 */
#ifndef TWOFOLD_PX_NOTIFY_H
#define TWOFOLD_PX_NOTIFY_H

/* Sends state verbatim ("READY=1", "STATUS=...\nERRNO=0", ...). */
int px_notify(const char *state);
int px_notify_ready(void); /* READY=1 */
/* RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC now>, as Type=notify-reload (systemd
 * 253) requires; send px_notify_ready() when the reload has finished. */
int px_notify_reloading(void);
int px_notify_stopping(void); /* STOPPING=1 */
/* STATUS=<formatted text>; newlines in the text are replaced by spaces, since a newline
 * would start a new assignment. */
int px_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
