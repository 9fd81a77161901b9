/* The counter-based generator: Philox known answers, stream separation,
 * distribution sanity, and independence from how a stream is cut up. */
#include <math.h>
#include <omp.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "support/testutil.h"

START_TEST(test_philox_known_answers)
{
    /* Random123's published known-answer vectors for Philox4x32-10. */
    static const uint32_t cases[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
         0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
         0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int c = 0; c < 3; c++) {
        uint32_t out[4];
        mird_philox4x32_10(cases[c], cases[c] + 4, out);
        for (int i = 0; i < 4; i++)
            ck_assert_msg(out[i] == cases[c][6 + i], "case %d word %d: %08x != %08x", c, i,
                          out[i], cases[c][6 + i]);
    }
}
END_TEST

START_TEST(test_pieces_equal_whole)
{
    /* Generating a stream in arbitrary pieces, in any order, from any
     * number of threads gives the same numbers as generating it whole. */
    enum { N = 1001 };
    mird_rng_stream s = mird_rng_make_stream(42, 7, 3);
    float whole[N], pieces[N];
    mird_rng_uniform(&s, 0, N, whole);
    mird_rng_uniform(&s, 0, 3, pieces);
    mird_rng_uniform(&s, 3, 500, pieces + 3);
    mird_rng_uniform(&s, 503, N - 503, pieces + 503);
    for (int i = 0; i < N; i++)
        ck_assert_msg(whole[i] == pieces[i], "element %d differs", i);

    float threaded[N];
    omp_set_num_threads(2);
#pragma omp parallel for schedule(static, 17)
    for (int i = 0; i < N; i++)
        mird_rng_uniform(&s, (uint64_t)i, 1, threaded + i);
    for (int i = 0; i < N; i++)
        ck_assert_msg(whole[i] == threaded[i], "threaded element %d differs", i);
}
END_TEST

START_TEST(test_streams_differ)
{
    enum { N = 64 };
    float base[N], other[N];
    mird_rng_stream streams[4] = {
        mird_rng_make_stream(1, 1, 1), mird_rng_make_stream(2, 1, 1),
        mird_rng_make_stream(1, 2, 1), mird_rng_make_stream(1, 1, 2)};
    mird_rng_uniform(&streams[0], 0, N, base);
    for (int k = 1; k < 4; k++) {
        mird_rng_uniform(&streams[k], 0, N, other);
        int same = 0;
        for (int i = 0; i < N; i++)
            same += base[i] == other[i];
        ck_assert_msg(same < 2, "stream %d repeats stream 0 in %d places", k, same);
    }
}
END_TEST

START_TEST(test_uniform_and_normal_moments)
{
    enum { N = 200000 };
    float *u = mird_alloc(N * sizeof(float)), *g = mird_alloc(N * sizeof(float));
    mird_rng_stream s = mird_rng_make_stream(123, 9, 0);
    mird_rng_uniform_range(&s, 0, N, -2.0f, 2.0f, u);
    mird_rng_normal(&s, N, N, 1.5f, 0.5f, g);
    double su = 0, su2 = 0, sg = 0, sg2 = 0;
    for (int i = 0; i < N; i++) {
        ck_assert(u[i] >= -2.0f && u[i] < 2.0f);
        ck_assert(isfinite(g[i]));
        su += u[i], su2 += (double)u[i] * u[i];
        sg += g[i], sg2 += (double)g[i] * g[i];
    }
    double mu = su / N, vu = su2 / N - mu * mu, mg = sg / N, vg = sg2 / N - mg * mg;
    /* U(-2, 2): mean 0, variance 16/12; N(1.5, 0.25). Five standard errors. */
    ck_assert_msg(fabs(mu) < 5 * sqrt(16.0 / 12 / N), "uniform mean %g", mu);
    ck_assert_msg(fabs(vu - 16.0 / 12) < 0.02, "uniform variance %g", vu);
    ck_assert_msg(fabs(mg - 1.5) < 5 * 0.5 / sqrt(N), "normal mean %g", mg);
    ck_assert_msg(fabs(vg - 0.25) < 0.005, "normal variance %g", vg);
    mird_free(u), mird_free(g);
}
END_TEST

START_TEST(test_below_is_in_range_and_covers)
{
    mird_rng_stream s = mird_rng_make_stream(5, 3, 0);
    int seen[7] = {0};
    for (uint64_t i = 0; i < 700; i++) {
        uint64_t v = mird_rng_below(&s, i, 7);
        ck_assert_uint_lt(v, 7);
        seen[v]++;
    }
    for (int v = 0; v < 7; v++)
        ck_assert_msg(seen[v] > 50, "value %d drawn %d times of 700", v, seen[v]);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("rng");
    TCase *tc = tcase_create("rng");
    tcase_add_test(tc, test_philox_known_answers);
    tcase_add_test(tc, test_pieces_equal_whole);
    tcase_add_test(tc, test_streams_differ);
    tcase_add_test(tc, test_uniform_and_normal_moments);
    tcase_add_test(tc, test_below_is_in_range_and_covers);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
