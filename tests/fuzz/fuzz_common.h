/* Shared by the fuzz targets: the assertion that turns a broken property into a finding,
 * and the deterministic split points derived from the input. */
#ifndef TWOFOLD_FUZZ_COMMON_H
#define TWOFOLD_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A failed property is a crash, so libFuzzer saves the input as a reproducer. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* FNV-1a: split points depend on the input only, so every finding reproduces. */
static inline uint64_t fuzz_hash(const uint8_t *d, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 1099511628211ull;
    return h;
}

/* Two cut points in [0, n], ascending. */
static inline void fuzz_cuts(const uint8_t *d, size_t n, size_t cuts[2])
{
    uint64_t h = fuzz_hash(d, n);
    size_t a = (size_t)(h % (n + 1)), b = (size_t)((h >> 32) % (n + 1));
    cuts[0] = a < b ? a : b;
    cuts[1] = a < b ? b : a;
}

/* Prints both transcripts (escaped) before a split-dependence finding aborts. */
static inline void fuzz_dump(const char *label, const char *p, size_t n)
{
    fprintf(stderr, "%s (%zu bytes): ", label, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fputc('\n', stderr);
}

#endif
