/* The JSON writer every JSON output of the proxy goes through (admin views, reload
 * summaries, the failed-hello log, `twofold check --json`, JSON access log lines), so
 * that one escaping rule holds everywhere: '"' and '\' get a backslash, bytes below 0x20
 * become \u00XX, everything else is copied (UTF-8 passes through). With PX_JSON_ASCII,
 * DEL and bytes above 0x7e become \u00XX as well: for values that may not be UTF-8 (a
 * request target), so the line stays valid JSON whatever the client sent. */
#ifndef TWOFOLD_PX_JSON_H
#define TWOFOLD_PX_JSON_H

#include <stddef.h>

#include "px_buf.h"

#define PX_JSON_ASCII 1u

/* The escaped form of byte c (1, 2 or 6 bytes, not NUL-terminated) into out; returns its
 * length. For writers that do not build into a px_buf. */
size_t px_json_escape_byte(unsigned char c, unsigned flags, char out[6]);

/* s as a JSON string literal, quotes included (NULL -> null). */
void px_json_str(struct px_buf *b, const char *s);

#endif
