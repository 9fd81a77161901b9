/* LayerNorm: forward and statistics against a double-precision loop, every
 * gradient against finite differences (both of the model's eps values),
 * accumulation, NULL gradients, errors, the primitive cache, and bit-identical
 * results on 1 and 2 threads. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/threads.h"
#include "ops/layernorm.h"
#include "support/gradcheck.h"
#include "support/testutil.h"

typedef struct layernorm_case {
    mird_dnnl *ctx;
    int64_t rows, channels;
    float eps;
    float *x, *gamma, *beta, *y, *w;
} layernorm_case;

static void reference_layernorm(const layernorm_case *c, float *y, float *mean, float *variance)
{
    int64_t C = c->channels;
    for (int64_t r = 0; r < c->rows; r++) {
        const float *x = c->x + r * C;
        double sum = 0, squares = 0;
        for (int64_t i = 0; i < C; i++)
            sum += x[i];
        double m = sum / C;
        for (int64_t i = 0; i < C; i++)
            squares += (x[i] - m) * (x[i] - m);
        double v = squares / C;
        for (int64_t i = 0; i < C; i++)
            y[r * C + i] = (float)((x[i] - m) / sqrt(v + c->eps) * c->gamma[i] + c->beta[i]);
        mean[r] = (float)m;
        variance[r] = (float)v;
    }
}

static double layernorm_loss(void *user)
{
    layernorm_case *c = user;
    TU_OK(c->ctx, mird_layernorm_forward(c->ctx, c->x, c->gamma, c->beta, c->y, NULL, NULL,
                                         c->rows, c->channels, c->eps));
    return gc_weighted_sum(c->y, c->w, (size_t)(c->rows * c->channels));
}

static layernorm_case make_case(int64_t rows, int64_t channels, float eps, uint32_t seed)
{
    layernorm_case c = {.ctx = tu_context(), .rows = rows, .channels = channels, .eps = eps};
    size_t n = (size_t)(rows * channels);
    /* An offset per row, so the mean really has to be removed. */
    c.x = tu_alloc_uniform(n, -1, 1, seed);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < channels; i++)
            c.x[r * channels + i] += 0.5f * (float)(r % 5) - 1.0f;
    c.gamma = tu_alloc_uniform((size_t)channels, 0.5, 1.5, seed + 1);
    c.beta = tu_alloc_uniform((size_t)channels, -0.5, 0.5, seed + 2);
    c.y = tu_alloc_zeros(n);
    c.w = tu_alloc_uniform(n, -1, 1, seed + 3);
    return c;
}

static void free_case(layernorm_case *c)
{
    mird_free(c->x), mird_free(c->gamma), mird_free(c->beta), mird_free(c->y), mird_free(c->w);
    mird_dnnl_destroy(c->ctx);
}

static void check_layernorm(int64_t rows, int64_t channels, float eps)
{
    layernorm_case c = make_case(rows, channels, eps, 10);
    size_t n = (size_t)(rows * channels);
    float *expected = tu_alloc_zeros(n), *mean = tu_alloc_zeros(rows);
    float *variance = tu_alloc_zeros(rows), *ref_mean = tu_alloc_zeros(rows);
    float *ref_variance = tu_alloc_zeros(rows);
    reference_layernorm(&c, expected, ref_mean, ref_variance);
    TU_OK(c.ctx, mird_layernorm_forward(c.ctx, c.x, c.gamma, c.beta, c.y, mean, variance, rows,
                                        channels, eps));
    tu_assert_close("layernorm y", c.y, expected, n, 2e-5, 2e-5);
    tu_assert_close("layernorm mean", mean, ref_mean, rows, 1e-6, 1e-5);
    tu_assert_close("layernorm variance", variance, ref_variance, rows, 1e-6, 1e-5);

    float *y_inference = tu_alloc_zeros(n);
    TU_OK(c.ctx, mird_layernorm_forward(c.ctx, c.x, c.gamma, c.beta, y_inference, NULL, NULL,
                                        rows, channels, eps));
    tu_assert_close("inference y", y_inference, c.y, n, 1e-6, 1e-6);

    float *dx = tu_alloc_zeros(n), *dgamma = tu_alloc_zeros(channels);
    float *dbeta = tu_alloc_zeros(channels);
    TU_OK(c.ctx, mird_layernorm_backward(c.ctx, c.x, c.gamma, mean, variance, c.w, dx, dgamma,
                                         dbeta, rows, channels, eps));
    gc_check("layernorm x", c.x, n, dx, layernorm_loss, &c, NULL);
    gc_check("layernorm gamma", c.gamma, channels, dgamma, layernorm_loss, &c, NULL);
    gc_check("layernorm beta", c.beta, channels, dbeta, layernorm_loss, &c, NULL);

    mird_free(expected), mird_free(mean), mird_free(variance), mird_free(ref_mean);
    mird_free(ref_variance), mird_free(y_inference);
    mird_free(dx), mird_free(dgamma), mird_free(dbeta);
    free_case(&c);
}

START_TEST(test_layernorm_bert_eps)
{
    check_layernorm(6, 16, 1e-12f);
    check_layernorm(3, 37, 1e-12f);
    check_layernorm(2, 128, 1e-12f);
}
END_TEST

START_TEST(test_layernorm_wsa_eps)
{
    check_layernorm(6, 16, 1e-5f);
    check_layernorm(5, 9, 1e-5f);
}
END_TEST

/* Backward into non-zero buffers adds exactly the fresh gradient, and a NULL
 * gradient neither is written nor changes the others. */
START_TEST(test_layernorm_accumulates_and_skips)
{
    const int64_t rows = 7, channels = 24;
    const float eps = 1e-5f;
    layernorm_case c = make_case(rows, channels, eps, 20);
    size_t n = (size_t)(rows * channels);
    float *mean = tu_alloc_zeros(rows), *variance = tu_alloc_zeros(rows);
    TU_OK(c.ctx, mird_layernorm_forward(c.ctx, c.x, c.gamma, c.beta, c.y, mean, variance, rows,
                                        channels, eps));
    float *dx = tu_alloc_zeros(n), *dgamma = tu_alloc_zeros(channels);
    float *dbeta = tu_alloc_zeros(channels);
    TU_OK(c.ctx, mird_layernorm_backward(c.ctx, c.x, c.gamma, mean, variance, c.w, dx, dgamma,
                                         dbeta, rows, channels, eps));

    float *dx_acc = tu_alloc_uniform(n, -1, 1, 30);
    float *dgamma_acc = tu_alloc_uniform(channels, -1, 1, 31);
    float *dbeta_acc = tu_alloc_uniform(channels, -1, 1, 32);
    float *dx_want = tu_copy(dx_acc, n), *dgamma_want = tu_copy(dgamma_acc, channels);
    float *dbeta_want = tu_copy(dbeta_acc, channels);
    for (size_t i = 0; i < n; i++)
        dx_want[i] += dx[i];
    for (int64_t i = 0; i < channels; i++)
        dgamma_want[i] += dgamma[i], dbeta_want[i] += dbeta[i];
    TU_OK(c.ctx, mird_layernorm_backward(c.ctx, c.x, c.gamma, mean, variance, c.w, dx_acc,
                                         dgamma_acc, dbeta_acc, rows, channels, eps));
    tu_assert_close("accumulated dx", dx_acc, dx_want, n, 1e-6, 1e-6);
    tu_assert_close("accumulated dgamma", dgamma_acc, dgamma_want, channels, 1e-6, 1e-6);
    tu_assert_close("accumulated dbeta", dbeta_acc, dbeta_want, channels, 1e-6, 1e-6);

    float *only = tu_alloc_zeros(n);
    TU_OK(c.ctx, mird_layernorm_backward(c.ctx, c.x, c.gamma, mean, variance, c.w, only, NULL,
                                         NULL, rows, channels, eps));
    ck_assert_mem_eq(only, dx, n * sizeof *dx);
    memset(only, 0, n * sizeof *only);
    TU_OK(c.ctx, mird_layernorm_backward(c.ctx, c.x, NULL, mean, variance, c.w, NULL, only, NULL,
                                         rows, channels, eps));
    ck_assert_mem_eq(only, dgamma, channels * sizeof *dgamma);
    memset(only, 0, n * sizeof *only);
    TU_OK(c.ctx, mird_layernorm_backward(c.ctx, c.x, NULL, mean, variance, c.w, NULL, NULL, only,
                                         rows, channels, eps));
    ck_assert_mem_eq(only, dbeta, channels * sizeof *dbeta);
    TU_OK(c.ctx, mird_layernorm_backward(c.ctx, c.x, c.gamma, mean, variance, c.w, NULL, NULL,
                                         NULL, rows, channels, eps));

    mird_free(mean), mird_free(variance), mird_free(dx), mird_free(dgamma), mird_free(dbeta);
    mird_free(dx_acc), mird_free(dgamma_acc), mird_free(dbeta_acc), mird_free(dx_want);
    mird_free(dgamma_want), mird_free(dbeta_want), mird_free(only);
    free_case(&c);
}
END_TEST

START_TEST(test_layernorm_rejects_bad_arguments)
{
    mird_dnnl *ctx = tu_context();
    float x[8] = {0}, g[4] = {1, 1, 1, 1}, b[4] = {0}, y[8], mean[2], var[2];
    ck_assert_int_eq(mird_layernorm_forward(ctx, x, g, b, y, mean, var, -1, 4, 1e-5f),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "rows"));
    ck_assert_int_eq(mird_layernorm_forward(ctx, x, g, b, y, mean, var, 2, 0, 1e-5f),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "channels"));
    ck_assert_int_eq(mird_layernorm_forward(ctx, x, g, b, y, mean, var, 2, 4, 0.0f),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_layernorm_forward(ctx, x, g, b, y, mean, var, 2, 4, NAN),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_layernorm_forward(ctx, x, g, b, y, mean, NULL, 2, 4, 1e-5f),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_layernorm_forward(ctx, x, NULL, b, y, mean, var, 2, 4, 1e-5f),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_layernorm_backward(ctx, x, g, mean, var, x, y, NULL, NULL, 2, -4,
                                             1e-5f),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_layernorm_backward(ctx, x, NULL, mean, var, x, y, NULL, NULL, 2, 4,
                                             1e-5f),
                     MIRD_ERR_NULL_ARGUMENT);
    /* Zero rows is an empty batch, not an error. */
    TU_OK(ctx, mird_layernorm_forward(ctx, NULL, NULL, NULL, NULL, NULL, NULL, 0, 4, 1e-5f));
    TU_OK(ctx, mird_layernorm_backward(ctx, NULL, NULL, NULL, NULL, NULL, y, g, b, 0, 4, 1e-5f));
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_layernorm_primitives_created_once)
{
    const int64_t rows = 9, channels = 32;
    layernorm_case c = make_case(rows, channels, 1e-12f, 40);
    float *mean = tu_alloc_zeros(rows), *variance = tu_alloc_zeros(rows);
    float *dx = tu_alloc_zeros(rows * channels);
    for (int i = 0; i < 3; i++) {
        TU_OK(c.ctx, mird_layernorm_forward(c.ctx, c.x, c.gamma, c.beta, c.y, mean, variance,
                                            rows, channels, c.eps));
        TU_OK(c.ctx, mird_layernorm_backward(c.ctx, c.x, c.gamma, mean, variance, c.w, dx, NULL,
                                             NULL, rows, channels, c.eps));
    }
    /* One forward and one backward primitive. */
    ck_assert_uint_eq(mird_dnnl_get_stats(c.ctx).primitives_created, 2);
    /* eps is part of the key. */
    TU_OK(c.ctx, mird_layernorm_forward(c.ctx, c.x, c.gamma, c.beta, c.y, mean, variance, rows,
                                        channels, 1e-5f));
    ck_assert_uint_eq(mird_dnnl_get_stats(c.ctx).primitives_created, 3);
    mird_free(mean), mird_free(variance), mird_free(dx);
    free_case(&c);
}
END_TEST

/* The model's shape class (many rows of 128): every output bit-identical on
 * 1 and 2 threads. */
START_TEST(test_layernorm_same_bits_on_1_and_2_threads)
{
    const int64_t rows = 600, channels = 128;
    const float eps = 1e-12f;
    size_t n = (size_t)(rows * channels);
    layernorm_case c = make_case(rows, channels, eps, 50);
    float *results[2][5];
    for (int t = 0; t < 2; t++) {
        mird_threads_set(t + 1);
        float **r = results[t];
        r[0] = tu_alloc_zeros(n), r[1] = tu_alloc_zeros(rows), r[2] = tu_alloc_zeros(rows);
        r[3] = tu_alloc_zeros(n), r[4] = tu_alloc_zeros(2 * channels);
        TU_OK(c.ctx, mird_layernorm_forward(c.ctx, c.x, c.gamma, c.beta, r[0], r[1], r[2], rows,
                                            channels, eps));
        TU_OK(c.ctx, mird_layernorm_backward(c.ctx, c.x, c.gamma, r[1], r[2], c.w, r[3], r[4],
                                             r[4] + channels, rows, channels, eps));
    }
    mird_threads_set(0);
    ck_assert_mem_eq(results[0][0], results[1][0], n * sizeof(float));
    ck_assert_mem_eq(results[0][1], results[1][1], rows * sizeof(float));
    ck_assert_mem_eq(results[0][2], results[1][2], rows * sizeof(float));
    ck_assert_mem_eq(results[0][3], results[1][3], n * sizeof(float));
    ck_assert_mem_eq(results[0][4], results[1][4], 2 * channels * sizeof(float));
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 5; k++)
            mird_free(results[t][k]);
    free_case(&c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("layernorm");
    TCase *tc = tcase_create("layernorm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_layernorm_bert_eps);
    tcase_add_test(tc, test_layernorm_wsa_eps);
    tcase_add_test(tc, test_layernorm_accumulates_and_skips);
    tcase_add_test(tc, test_layernorm_rejects_bad_arguments);
    tcase_add_test(tc, test_layernorm_primitives_created_once);
    tcase_add_test(tc, test_layernorm_same_bits_on_1_and_2_threads);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
