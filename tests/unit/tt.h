/* A minimal unit-test harness: CHECK macros count passes and failures, tt_done() prints
 * the "N passed, N failed" line and gives the exit code. Single-threaded. */
#ifndef TWOFOLD_TT_H
#define TWOFOLD_TT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tt_passed, tt_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            tt_passed++;                                                                           \
        } else {                                                                                   \
            tt_failed++;                                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long tt_a = (long long)(a), tt_b = (long long)(b);                                    \
        if (tt_a == tt_b) {                                                                        \
            tt_passed++;                                                                           \
        } else {                                                                                   \
            tt_failed++;                                                                           \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,    \
                    tt_a, #b, tt_b);                                                               \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *tt_a = (a), *tt_b = (b);                                                       \
        if (tt_a && tt_b && strcmp(tt_a, tt_b) == 0) {                                             \
            tt_passed++;                                                                           \
        } else {                                                                                   \
            tt_failed++;                                                                           \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,      \
                    tt_a ? tt_a : "(null)", tt_b ? tt_b : "(null)");                               \
        }                                                                                          \
    } while (0)

/* Substring check, for messages that carry paths. */
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *tt_h = (hay), *tt_n = (needle);                                                \
        if (tt_h && strstr(tt_h, tt_n)) {                                                          \
            tt_passed++;                                                                           \
        } else {                                                                                   \
            tt_failed++;                                                                           \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,         \
                    tt_h ? tt_h : "(null)", tt_n);                                                 \
        }                                                                                          \
    } while (0)

static inline int tt_done(void)
{
    printf("%d passed, %d failed\n", tt_passed, tt_failed);
    return tt_failed ? 1 : 0;
}

#endif
