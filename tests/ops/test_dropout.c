/* Dropout: p = 0 is the identity, the keep rate, the mask as a pure function
 * of (seed, purpose, step, index) whatever the thread count or slicing, the
 * gradient dy * mask with accumulation, and argument errors. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/dropout.h"
#include "support/testutil.h"

START_TEST(test_dropout_p0_is_identity)
{
    mird_dnnl *ctx = tu_context();
    const int64_t n = 5000;
    mird_rng_stream stream = mird_rng_make_stream(7, 1, 0);
    float *x = tu_alloc_uniform(n, -1, 1, 1), *y = tu_alloc_zeros(n), *mask = tu_alloc_zeros(n);
    TU_OK(ctx, mird_dropout_forward(ctx, &stream, 0.0f, x, y, mask, n));
    ck_assert_mem_eq(y, x, n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        ck_assert_float_eq(mask[i], 1.0f);
    TU_OK(ctx, mird_dropout_multipliers(ctx, &stream, 0, 0.0f, y, n));
    ck_assert_mem_eq(y, mask, n * sizeof *x);
    mird_free(x), mird_free(y), mird_free(mask);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_dropout_forward_applies_mask)
{
    mird_dnnl *ctx = tu_context();
    const int64_t n = 10007;
    const float p = 0.3f, scale = 1.0f / (1.0f - p);
    mird_rng_stream stream = mird_rng_make_stream(11, 2, 5);
    float *x = tu_alloc_uniform(n, -1, 1, 2), *y = tu_alloc_zeros(n), *mask = tu_alloc_zeros(n);
    TU_OK(ctx, mird_dropout_forward(ctx, &stream, p, x, y, mask, n));
    for (int64_t i = 0; i < n; i++) {
        ck_assert_msg(mask[i] == 0.0f || mask[i] == scale, "mask[%lld] = %g", (long long)i,
                      mask[i]);
        ck_assert_float_eq(y[i], x[i] * mask[i]);
    }
    /* The forward's mask is the multiplier array from element 0, and the
     * forward without a mask, or in place, gives the same y. */
    float *multipliers = tu_alloc_zeros(n), *y_no_mask = tu_alloc_zeros(n);
    TU_OK(ctx, mird_dropout_multipliers(ctx, &stream, 0, p, multipliers, n));
    ck_assert_mem_eq(multipliers, mask, n * sizeof *mask);
    TU_OK(ctx, mird_dropout_forward(ctx, &stream, p, x, y_no_mask, NULL, n));
    ck_assert_mem_eq(y_no_mask, y, n * sizeof *y);
    TU_OK(ctx, mird_dropout_forward(ctx, &stream, p, x, x, NULL, n));
    ck_assert_mem_eq(x, y, n * sizeof *y);
    mird_free(x), mird_free(y), mird_free(mask), mird_free(multipliers), mird_free(y_no_mask);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_dropout_keep_rate)
{
    mird_dnnl *ctx = tu_context();
    const int64_t n = 1 << 21;
    const float rates[3] = {0.1f, 0.5f, 0.9f};
    float *mask = tu_alloc_zeros(n);
    for (int k = 0; k < 3; k++) {
        float p = rates[k];
        mird_rng_stream stream = mird_rng_make_stream(3, 4, (uint64_t)k);
        TU_OK(ctx, mird_dropout_multipliers(ctx, &stream, 0, p, mask, n));
        int64_t kept = 0;
        for (int64_t i = 0; i < n; i++)
            kept += mask[i] != 0.0f;
        double rate = (double)kept / (double)n;
        double sigma = sqrt(p * (1.0 - p) / (double)n);
        ck_assert_msg(fabs(rate - (1.0 - p)) < 5 * sigma, "p = %g: kept %.5f", p, rate);
    }
    mird_free(mask);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_dropout_mask_is_a_function_of_the_counter)
{
    mird_dnnl *ctx = tu_context();
    const int64_t n = 100003;
    const float p = 0.25f;
    float *a = tu_alloc_zeros(n), *b = tu_alloc_zeros(n);
    mird_rng_stream stream = mird_rng_make_stream(99, 6, 41);

    /* The same counter, twice and on 1 and 2 threads: the same mask. */
    omp_set_num_threads(1);
    TU_OK(ctx, mird_dropout_multipliers(ctx, &stream, 0, p, a, n));
    omp_set_num_threads(2);
    TU_OK(ctx, mird_dropout_multipliers(ctx, &stream, 0, p, b, n));
    ck_assert_mem_eq(a, b, n * sizeof *a);
    float *x = tu_alloc_uniform(n, -1, 1, 3), *y1 = tu_alloc_zeros(n), *y2 = tu_alloc_zeros(n);
    omp_set_num_threads(1);
    TU_OK(ctx, mird_dropout_forward(ctx, &stream, p, x, y1, NULL, n));
    omp_set_num_threads(2);
    TU_OK(ctx, mird_dropout_forward(ctx, &stream, p, x, y2, NULL, n));
    ck_assert_mem_eq(y1, y2, n * sizeof *y1);

    /* Made in two pieces at an odd split: the same mask. */
    const int64_t split = 12345;
    TU_OK(ctx, mird_dropout_multipliers(ctx, &stream, 0, p, b, split));
    TU_OK(ctx, mird_dropout_multipliers(ctx, &stream, split, p, b + split, n - split));
    ck_assert_mem_eq(a, b, n * sizeof *a);

    /* Another step, purpose or seed: a different mask. */
    mird_rng_stream others[3] = {mird_rng_make_stream(99, 6, 42), mird_rng_make_stream(99, 7, 41),
                                 mird_rng_make_stream(98, 6, 41)};
    for (int k = 0; k < 3; k++) {
        TU_OK(ctx, mird_dropout_multipliers(ctx, &stream, 0, p, a, n));
        TU_OK(ctx, mird_dropout_multipliers(ctx, &others[k], 0, p, b, n));
        int64_t differ = 0;
        for (int64_t i = 0; i < n; i++)
            differ += a[i] != b[i];
        /* Independent masks disagree on 2 p (1 - p) of the elements. */
        ck_assert_msg(differ > n / 4, "stream %d: only %lld of %lld differ", k,
                      (long long)differ, (long long)n);
    }
    mird_free(a), mird_free(b), mird_free(x), mird_free(y1), mird_free(y2);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_dropout_backward)
{
    mird_dnnl *ctx = tu_context();
    const int64_t n = 777;
    mird_rng_stream stream = mird_rng_make_stream(5, 9, 1);
    float *x = tu_alloc_uniform(n, -1, 1, 4), *y = tu_alloc_zeros(n), *mask = tu_alloc_zeros(n);
    float *dy = tu_alloc_uniform(n, -1, 1, 5), *dx = tu_alloc_uniform(n, -1, 1, 6);
    float *dx_before = tu_copy(dx, n);
    TU_OK(ctx, mird_dropout_forward(ctx, &stream, 0.5f, x, y, mask, n));
    TU_OK(ctx, mird_dropout_backward(ctx, mask, dy, dx, n));
    for (int64_t i = 0; i < n; i++)
        ck_assert_float_eq(dx[i], dx_before[i] + dy[i] * mask[i]);
    TU_OK(ctx, mird_dropout_backward(ctx, mask, dy, NULL, n));
    mird_free(x), mird_free(y), mird_free(mask), mird_free(dy), mird_free(dx);
    mird_free(dx_before);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_dropout_rejects_bad_arguments)
{
    mird_dnnl *ctx = tu_context();
    mird_rng_stream stream = mird_rng_make_stream(1, 1, 1);
    float x[4] = {1, 2, 3, 4}, y[4] = {0}, mask[4];
    const float bad_rates[4] = {-0.1f, 1.0f, 1.5f, NAN};
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(mird_dropout_forward(ctx, &stream, bad_rates[k], x, y, mask, 4),
                         MIRD_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(mird_dropout_multipliers(ctx, &stream, 0, bad_rates[k], mask, 4),
                         MIRD_ERR_INVALID_ARGUMENT);
    }
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "p = "));
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(y[i], 0.0f);
    ck_assert_int_eq(mird_dropout_forward(ctx, &stream, 0.5f, x, y, mask, -1),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_dropout_backward(ctx, mask, x, y, -1), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_dropout_forward(ctx, NULL, 0.5f, x, y, mask, 4),
                     MIRD_ERR_NULL_ARGUMENT);
    TU_OK(ctx, mird_dropout_forward(ctx, &stream, 0.5f, NULL, NULL, NULL, 0));
    mird_dnnl_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("dropout");
    TCase *tc = tcase_create("dropout");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_dropout_p0_is_identity);
    tcase_add_test(tc, test_dropout_forward_applies_mask);
    tcase_add_test(tc, test_dropout_keep_rate);
    tcase_add_test(tc, test_dropout_mask_is_a_function_of_the_counter);
    tcase_add_test(tc, test_dropout_backward);
    tcase_add_test(tc, test_dropout_rejects_bad_arguments);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
