/* The one growable array: PX_VEC(T) is { T *v; size_t n, cap; }, zero-initialised empty.
 * Invariant: n <= cap, and v holds cap elements (v == NULL when cap == 0). It never
 * shrinks. Text goes in a px_buf instead (it keeps a terminating NUL).
 *
 *     PX_VEC(struct item) items = {0};
 *     struct item *it = px_vec_push(&items);   // NULL on OOM, items unchanged
 *     ...
 *     px_vec_free(&items);
 *
 * The macros evaluate their vector argument more than once: pass a plain lvalue. */
#ifndef TWOFOLD_PX_VEC_H
#define TWOFOLD_PX_VEC_H

#include <stddef.h>
#include <stdlib.h>

#define PX_VEC(T)                                                                                  \
    struct {                                                                                       \
        T *v;                                                                                      \
        size_t n, cap;                                                                             \
    }

/* Makes the array whose data pointer is stored at slot (a T **, passed as void *) hold at
 * least want elements of elem bytes. cap: its capacity, grown geometrically; NULL for an
 * array whose length is its size (a struct with a count and no capacity field), which is
 * resized to exactly want. Returns 0, or -ENOMEM leaving the array as it was. */
int px_vec_reserve_(void *slot, size_t *cap, size_t elem, size_t want);

#define px_vec_reserve(vec, want) px_vec_reserve_(&(vec)->v, &(vec)->cap, sizeof *(vec)->v, (want))

/* A pointer to a new, uninitialised last element, or NULL on OOM (vec unchanged). */
#define px_vec_push(vec) (px_vec_reserve((vec), (vec)->n + 1) == 0 ? &(vec)->v[(vec)->n++] : NULL)

#define px_vec_free(vec)                                                                           \
    do {                                                                                           \
        free((vec)->v);                                                                            \
        (vec)->v = NULL;                                                                           \
        (vec)->n = (vec)->cap = 0;                                                                 \
    } while (0)

#endif
