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
int px_buf_append(struct px_buf *b, const void *p, size_t n);
int px_buf_printf(struct px_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
