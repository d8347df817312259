/* Log-bucketed latency histogram (HdrHistogram-like, 2 significant digits). */
#include <string.h>

#include "tb.h"

void tb_hist_init(struct tb_hist *h)
{
    memset(h, 0, sizeof(*h));
}

size_t tb_hist_index(uint64_t v)
{
    if (v < 2 * TB_HIST_SUB)
        return (size_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 7u; /* >= 1: keeps the top 8 bits, the first of which is 1 */
    if (shift > TB_HIST_MAX_SHIFT)
        return TB_HIST_N - 1;
    uint64_t sub = (v >> shift) - TB_HIST_SUB;
    return 2 * TB_HIST_SUB + (size_t)(shift - 1) * TB_HIST_SUB + (size_t)sub;
}

uint64_t tb_hist_bucket_high(size_t idx)
{
    if (idx < 2 * TB_HIST_SUB)
        return idx;
    size_t rel = idx - 2 * TB_HIST_SUB;
    unsigned shift = (unsigned)(rel / TB_HIST_SUB) + 1;
    uint64_t low = (uint64_t)(TB_HIST_SUB + rel % TB_HIST_SUB) << shift;
    return low + ((uint64_t)1 << shift) - 1;
}

void tb_hist_record(struct tb_hist *h, uint64_t v)
{
    h->counts[tb_hist_index(v)]++;
    h->total++;
    if (v > h->max)
        h->max = v;
}

uint64_t tb_hist_percentile(const struct tb_hist *h, double q)
{
    if (h->total == 0)
        return 0;
    double want = q / 100.0 * (double)h->total;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < TB_HIST_N; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t high = tb_hist_bucket_high(i);
            return high < h->max ? high : h->max;
        }
    }
    return h->max;
}

void tb_hist_merge(struct tb_hist *dst, const struct tb_hist *src)
{
    for (size_t i = 0; i < TB_HIST_N; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    if (src->max > dst->max)
        dst->max = src->max;
}
