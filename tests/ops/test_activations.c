/* GELU (erf), ReLU and tanh: forward against double-precision formulas,
 * backward against finite differences from the documented saved tensor,
 * in-place forward, accumulation, NULL dx, errors, the primitive cache and
 * bit-identical results on 1 and 2 threads. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/threads.h"
#include "ops/activations.h"
#include "support/gradcheck.h"
#include "support/testutil.h"

static const mird_activation all_activations[3] = {
    MIRD_ACTIVATION_GELU_ERF, MIRD_ACTIVATION_RELU, MIRD_ACTIVATION_TANH};

static double reference(mird_activation activation, double x)
{
    switch (activation) {
    case MIRD_ACTIVATION_GELU_ERF:
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case MIRD_ACTIVATION_RELU:
        return x > 0 ? x : 0.0;
    case MIRD_ACTIVATION_TANH:
        return tanh(x);
    }
    return NAN;
}

/* Inputs in [-range, range]; for ReLU pushed at least 0.1 away from its kink
 * so that finite differences never straddle it. */
static float *make_inputs(mird_activation activation, size_t n, float range, uint32_t seed)
{
    float *x = tu_alloc_uniform(n, -range, range, seed);
    if (activation == MIRD_ACTIVATION_RELU)
        for (size_t i = 0; i < n; i++)
            x[i] += x[i] < 0 ? -0.1f : 0.1f;
    return x;
}

typedef struct activation_case {
    mird_dnnl *ctx;
    mird_activation activation;
    int64_t n;
    float *x, *y, *w;
} activation_case;

static double activation_loss(void *user)
{
    activation_case *c = user;
    TU_OK(c->ctx, mird_activation_forward(c->ctx, c->activation, c->x, c->y, c->n));
    return gc_weighted_sum(c->y, c->w, (size_t)c->n);
}

static const float *saved_tensor(mird_activation activation, const float *x, const float *y)
{
    return mird_activation_backward_reads_output(activation) ? y : x;
}

START_TEST(test_activation_forward_matches_reference)
{
    mird_dnnl *ctx = tu_context();
    const size_t n = 1001;
    for (int a = 0; a < 3; a++) {
        mird_activation activation = all_activations[a];
        float *x = tu_alloc_uniform(n, -5, 5, 1 + a), *y = tu_alloc_zeros(n);
        float *expected = tu_alloc_zeros(n);
        for (size_t i = 0; i < n; i++)
            expected[i] = (float)reference(activation, x[i]);
        TU_OK(ctx, mird_activation_forward(ctx, activation, x, y, (int64_t)n));
        tu_assert_close("activation y", y, expected, n, 2e-6, 2e-6);
        /* In place gives the same values. */
        TU_OK(ctx, mird_activation_forward(ctx, activation, x, x, (int64_t)n));
        ck_assert_mem_eq(x, y, n * sizeof *x);
        mird_free(x), mird_free(y), mird_free(expected);
    }
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_activation_gradients)
{
    for (int a = 0; a < 3; a++) {
        activation_case c = {tu_context(), all_activations[a], 41, NULL, NULL, NULL};
        size_t n = (size_t)c.n;
        c.x = make_inputs(c.activation, n, 3, 10 + a);
        c.y = tu_alloc_zeros(n);
        c.w = tu_alloc_uniform(n, -1, 1, 20 + a);
        TU_OK(c.ctx, mird_activation_forward(c.ctx, c.activation, c.x, c.y, c.n));
        float *dx = tu_alloc_zeros(n);
        TU_OK(c.ctx, mird_activation_backward(c.ctx, c.activation,
                                              saved_tensor(c.activation, c.x, c.y), c.w, dx,
                                              c.n));
        float *y_saved = tu_copy(c.y, n); /* gc_check's forwards overwrite y */
        gc_check("activation x", c.x, n, dx, activation_loss, &c, NULL);

        /* Accumulation into a non-zero dx. */
        float *dx_acc = tu_alloc_uniform(n, -1, 1, 30 + a), *want = tu_copy(dx_acc, n);
        for (size_t i = 0; i < n; i++)
            want[i] += dx[i];
        TU_OK(c.ctx, mird_activation_backward(c.ctx, c.activation,
                                              saved_tensor(c.activation, c.x, y_saved), c.w,
                                              dx_acc, c.n));
        tu_assert_close("accumulated dx", dx_acc, want, n, 1e-6, 1e-6);
        TU_OK(c.ctx, mird_activation_backward(c.ctx, c.activation, c.x, c.w, NULL, c.n));
        mird_free(dx), mird_free(y_saved), mird_free(dx_acc), mird_free(want);
        mird_free(c.x), mird_free(c.y), mird_free(c.w);
        mird_dnnl_destroy(c.ctx);
    }
}
END_TEST

/* ReLU and tanh run in place and differentiate from the one buffer kept. */
START_TEST(test_activation_in_place_backward_from_output)
{
    mird_dnnl *ctx = tu_context();
    const size_t n = 64;
    for (int a = 1; a < 3; a++) {
        mird_activation activation = all_activations[a];
        ck_assert_int_eq(mird_activation_backward_reads_output(activation), 1);
        float *x = make_inputs(activation, n, 2, 40 + a), *y = tu_alloc_zeros(n);
        float *dy = tu_alloc_uniform(n, -1, 1, 50 + a);
        float *dx = tu_alloc_zeros(n), *dx_in_place = tu_alloc_zeros(n);
        TU_OK(ctx, mird_activation_forward(ctx, activation, x, y, (int64_t)n));
        TU_OK(ctx, mird_activation_backward(ctx, activation, y, dy, dx, (int64_t)n));
        TU_OK(ctx, mird_activation_forward(ctx, activation, x, x, (int64_t)n));
        TU_OK(ctx, mird_activation_backward(ctx, activation, x, dy, dx_in_place, (int64_t)n));
        ck_assert_mem_eq(dx, dx_in_place, n * sizeof *dx);
        for (size_t i = 0; i < n; i++) {
            double expected = activation == MIRD_ACTIVATION_RELU ? (y[i] > 0 ? dy[i] : 0.0)
                                                                 : dy[i] * (1.0 - y[i] * y[i]);
            ck_assert_msg(fabs(dx[i] - expected) <= 1e-6, "dx[%zu] = %g, expected %g", i, dx[i],
                          expected);
        }
        mird_free(x), mird_free(y), mird_free(dy), mird_free(dx), mird_free(dx_in_place);
    }
    ck_assert_int_eq(mird_activation_backward_reads_output(MIRD_ACTIVATION_GELU_ERF), 0);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_activation_rejects_bad_arguments)
{
    mird_dnnl *ctx = tu_context();
    float x[4] = {1, 2, 3, 4}, y[4];
    ck_assert_int_eq(mird_activation_forward(ctx, (mird_activation)7, x, y, 4),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "activation"));
    ck_assert_int_eq(mird_activation_forward(ctx, MIRD_ACTIVATION_RELU, x, y, -1),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_activation_backward(ctx, (mird_activation)-1, x, x, y, 4),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_activation_backward(ctx, MIRD_ACTIVATION_TANH, x, x, y, -4),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_activation_backward(ctx, MIRD_ACTIVATION_TANH, NULL, x, y, 4),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_activation_backward_reads_output((mird_activation)9), -1);
    TU_OK(ctx, mird_activation_forward(ctx, MIRD_ACTIVATION_GELU_ERF, NULL, NULL, 0));
    TU_OK(ctx, mird_activation_backward(ctx, MIRD_ACTIVATION_GELU_ERF, NULL, NULL, NULL, 0));
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_activation_primitives_created_once)
{
    mird_dnnl *ctx = tu_context();
    const int64_t n = 300;
    float *x = tu_alloc_uniform(n, -2, 2, 60), *y = tu_alloc_zeros(n), *dx = tu_alloc_zeros(n);
    for (int i = 0; i < 4; i++) {
        TU_OK(ctx, mird_activation_forward(ctx, MIRD_ACTIVATION_GELU_ERF, x, y, n));
        TU_OK(ctx, mird_activation_backward(ctx, MIRD_ACTIVATION_GELU_ERF, x, y, dx, n));
    }
    ck_assert_uint_eq(mird_dnnl_get_stats(ctx).primitives_created, 2);
    TU_OK(ctx, mird_activation_forward(ctx, MIRD_ACTIVATION_TANH, x, y, n));
    TU_OK(ctx, mird_activation_forward(ctx, MIRD_ACTIVATION_TANH, x, y, n - 1));
    ck_assert_uint_eq(mird_dnnl_get_stats(ctx).primitives_created, 4);
    mird_free(x), mird_free(y), mird_free(dx);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_activation_same_bits_on_1_and_2_threads)
{
    mird_dnnl *ctx = tu_context();
    const int64_t n = (1 << 18) + 5; /* a ragged tail on purpose */
    float *x = tu_alloc_uniform(n, -4, 4, 70), *dy = tu_alloc_uniform(n, -1, 1, 71);
    for (int a = 0; a < 3; a++) {
        mird_activation activation = all_activations[a];
        float *y[2], *dx[2];
        for (int t = 0; t < 2; t++) {
            mird_threads_set(t + 1);
            y[t] = tu_alloc_zeros(n), dx[t] = tu_alloc_zeros(n);
            TU_OK(ctx, mird_activation_forward(ctx, activation, x, y[t], n));
            TU_OK(ctx, mird_activation_backward(ctx, activation, saved_tensor(activation, x, y[t]),
                                                dy, dx[t], n));
        }
        mird_threads_set(0);
        ck_assert_mem_eq(y[0], y[1], n * sizeof(float));
        ck_assert_mem_eq(dx[0], dx[1], n * sizeof(float));
        for (int t = 0; t < 2; t++)
            mird_free(y[t]), mird_free(dx[t]);
    }
    mird_free(x), mird_free(dy);
    mird_dnnl_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("activations");
    TCase *tc = tcase_create("activations");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_activation_forward_matches_reference);
    tcase_add_test(tc, test_activation_gradients);
    tcase_add_test(tc, test_activation_in_place_backward_from_output);
    tcase_add_test(tc, test_activation_rejects_bad_arguments);
    tcase_add_test(tc, test_activation_primitives_created_once);
    tcase_add_test(tc, test_activation_same_bits_on_1_and_2_threads);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
