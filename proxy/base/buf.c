/* px_buf: a growable byte buffer. It never shrinks, so a buffer reused with len = 0
 * allocates nothing in steady state. data is kept NUL-terminated (the NUL is not counted
 * in len) so text built in it can be logged or compared directly. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_buf.h"

void px_buf_free(struct px_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* Makes room for n more bytes plus the terminating NUL. */
static int reserve(struct px_buf *b, size_t n)
{
    assert(b->len <= b->cap && (b->cap > 0 || b->data == NULL));
    if (n > SIZE_MAX - b->len - 1)
        return -ENOMEM;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *d = realloc(b->data, cap);
    if (d == NULL)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int px_buf_reserve(struct px_buf *b, size_t n)
{
    return reserve(b, n) != 0 ? -ENOMEM : 0;
}

int px_buf_append(struct px_buf *b, const void *p, size_t n)
{
    if (reserve(b, n) != 0)
        return -ENOMEM;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int px_buf_printf(struct px_buf *b, const char *fmt, ...)
{
    va_list ap;
    if (reserve(b, 64) != 0)
        return -ENOMEM;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        return -EINVAL;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (reserve(b, (size_t)n) != 0) {
            b->data[b->len] = '\0';
            return -ENOMEM;
        }
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}
