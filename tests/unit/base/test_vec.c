/* The one growable array (proxy/base/px_vec.h) and the byte buffer (px_buf.h). */
#include "px_buf.h"
#include "px_vec.h"
#include "tt.h"

#include <errno.h>
#include <stdint.h>

struct pair {
    int a, b;
};

static void vec_push_and_grow(void)
{
    PX_VEC(struct pair) v = {0};
    CHECK(v.v == NULL && v.n == 0 && v.cap == 0);
    for (int i = 0; i < 1000; i++) {
        struct pair *p = px_vec_push(&v);
        CHECK(p != NULL);
        if (p == NULL)
            break;
        p->a = i;
        p->b = -i;
        CHECK(v.n <= v.cap);
    }
    CHECK_INT(v.n, 1000);
    int ok = 1;
    for (size_t i = 0; i < v.n; i++)
        ok = ok && v.v[i].a == (int)i && v.v[i].b == -(int)i;
    CHECK(ok);
    size_t cap = v.cap;
    CHECK_INT(px_vec_reserve(&v, 10), 0); /* already room: nothing moves */
    CHECK_INT(v.cap, cap);
    CHECK_INT(px_vec_reserve(&v, cap + 1), 0);
    CHECK(v.cap >= cap + 1 && v.n == 1000);
    px_vec_free(&v);
    CHECK(v.v == NULL && v.n == 0 && v.cap == 0);
    px_vec_free(&v); /* freeing an empty array is a no-op */
}

static void vec_overflow(void)
{
    PX_VEC(struct pair) v = {0};
    CHECK(px_vec_push(&v) != NULL);
    v.v[0].a = 7;
    CHECK_INT(px_vec_reserve(&v, SIZE_MAX / sizeof(struct pair) + 1), -ENOMEM);
    CHECK(v.n == 1 && v.v[0].a == 7 && v.cap >= 1); /* unchanged on failure */
    px_vec_free(&v);
}

/* An array with a count and no capacity field is sized exactly. */
static void vec_exact(void)
{
    int *a = NULL;
    size_t n = 0;
    for (int i = 0; i < 5; i++) {
        CHECK_INT(px_vec_reserve_(&a, NULL, sizeof *a, n + 1), 0);
        a[n++] = i * i;
    }
    CHECK(n == 5 && a[0] == 0 && a[4] == 16);
    CHECK_INT(px_vec_reserve_(&a, NULL, sizeof *a, SIZE_MAX / sizeof *a + 1), -ENOMEM);
    CHECK(a[4] == 16);
    free(a);
}

static void buf_append_printf(void)
{
    struct px_buf b = {0};
    CHECK_INT(px_buf_append(&b, "ab", 2), 0);
    CHECK(b.len == 2 && b.len < b.cap);
    CHECK_STR(b.data, "ab");
    CHECK_INT(px_buf_printf(&b, "-%d-", 42), 0);
    CHECK_STR(b.data, "ab-42-");
    char big[1000];
    memset(big, 'x', sizeof big);
    CHECK_INT(px_buf_printf(&b, "%.*s", (int)sizeof big, big), 0); /* longer than the room */
    CHECK_INT(b.len, 6 + sizeof big);
    CHECK(b.len < b.cap && b.data[b.len] == '\0' && b.data[b.len - 1] == 'x');
    b.len = 0; /* reuse: keeps its memory */
    size_t cap = b.cap;
    CHECK_INT(px_buf_append(&b, "z", 1), 0);
    CHECK(b.cap == cap && b.len == 1);
    CHECK_INT(px_buf_append(&b, "z", SIZE_MAX), -ENOMEM);
    CHECK(b.len == 1 && b.data[1] == '\0');
    px_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    px_buf_free(&b);
    px_buf_free(NULL);
}

int main(void)
{
    vec_push_and_grow();
    vec_overflow();
    vec_exact();
    buf_append_printf();
    return tt_done();
}
