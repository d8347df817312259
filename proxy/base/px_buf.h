/* A growable byte buffer; data stays NUL-terminated (not counted in len). Reuse by setting
 * len = 0; it never shrinks. Writers append to it and restore len on failure. */
#ifndef TWOFOLD_PX_BUF_H
#define TWOFOLD_PX_BUF_H

#include <stddef.h>

struct px_buf {
    char *data;
    size_t len, cap;
};
void px_buf_free(struct px_buf *b);
/* Makes room for n more bytes (beyond the NUL): px_buf_room(b) >= n after 0; -ENOMEM. */
int px_buf_reserve(struct px_buf *b, size_t n);
/* The bytes that can be written at data + len without growing (the NUL's byte excluded). */
static inline size_t px_buf_room(const struct px_buf *b)
{
    return b->cap > b->len ? b->cap - b->len - 1 : 0;
}
int px_buf_append(struct px_buf *b, const void *p, size_t n);
int px_buf_printf(struct px_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
