/* px_vec: the growable array's one allocation routine (the rest is macros in px_vec.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "px_vec.h"

int px_vec_reserve_(void *slot, size_t *cap, size_t elem, size_t want)
{
    void *v;
    memcpy(&v, slot, sizeof v); /* slot is a T **; copied so no T ** is read as void ** */
    size_t have = cap ? *cap : 0, n = want;
    if (cap != NULL) {
        if (want <= *cap)
            return 0;
        n = have > SIZE_MAX / 2 ? want : have * 2;
        if (n < want)
            n = want;
        if (n < 8)
            n = 8;
    }
    if (elem == 0 || n > SIZE_MAX / elem)
        return -ENOMEM;
    void *nv = realloc(v, n ? n * elem : 1);
    if (nv == NULL)
        return -ENOMEM;
    memcpy(slot, &nv, sizeof nv);
    if (cap != NULL)
        *cap = n;
    return 0;
}
