/* The latency histogram: bucket bounds, relative error, percentiles, merging. */
#include <stdlib.h>

#include "tb.h"
#include "tt.h"

static void test_buckets(void)
{
    /* every value lies within its bucket, whose width is under 1 % of the value */
    uint64_t vals[] = {0, 1, 255, 256, 257, 1000, 12345, 999999, 123456789, 1ull << 40};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        size_t idx = tb_hist_index(vals[i]);
        uint64_t high = tb_hist_bucket_high(idx);
        uint64_t low = idx ? tb_hist_bucket_high(idx - 1) + 1 : 0;
        CHECK(idx < TB_HIST_N);
        CHECK(low <= vals[i] && vals[i] <= high);
        CHECK((double)(high - low) <= 0.01 * (double)vals[i] || high == low);
    }
    /* indexes are monotonic and contiguous across a power of two */
    CHECK_INT(tb_hist_index(511) + 1, tb_hist_index(512));
    CHECK(tb_hist_index(UINT64_MAX) == TB_HIST_N - 1);
}

static void test_percentiles(void)
{
    struct tb_hist *h = malloc(sizeof(*h));
    tb_hist_init(h);
    CHECK_INT(tb_hist_percentile(h, 50), 0);
    for (uint64_t v = 1; v <= 100000; v++)
        tb_hist_record(h, v * 10); /* 10 ns .. 1 ms, uniform */
    CHECK_INT(h->total, 100000);
    CHECK_INT(h->max, 1000000);
    double want[] = {50, 90, 99, 99.9};
    for (size_t i = 0; i < 4; i++) {
        double exact = want[i] / 100 * 100000 * 10;
        double got = (double)tb_hist_percentile(h, want[i]);
        CHECK(got >= exact && got <= exact * 1.01);
    }
    CHECK_INT(tb_hist_percentile(h, 100), 1000000);

    struct tb_hist *g = malloc(sizeof(*g));
    tb_hist_init(g);
    tb_hist_record(g, 5000000);
    tb_hist_merge(h, g);
    CHECK_INT(h->total, 100001);
    CHECK_INT(h->max, 5000000);
    CHECK_INT(tb_hist_percentile(h, 100), 5000000);
    free(g);
    free(h);
}

int main(void)
{
    test_buckets();
    test_percentiles();
    return tt_done();
}
