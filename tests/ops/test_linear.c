/* Linear and strided matmul: forward against a double-precision loop,
 * backward against finite differences, accumulation, the primitive cache. */
#include <math.h>

#include "core/alloc.h"
#include "ops/linear.h"
#include "support/gradcheck.h"
#include "support/testutil.h"

typedef struct linear_case {
    mird_dnnl *ctx;
    int64_t rows, in, out;
    float *x, *W, *b, *y, *w;
} linear_case;

static double linear_loss(void *user)
{
    linear_case *c = user;
    TU_OK(c->ctx, mird_linear_forward(c->ctx, c->x, c->W, c->b, c->y, c->rows, c->in, c->out));
    return gc_weighted_sum(c->y, c->w, (size_t)(c->rows * c->out));
}

static void check_linear_shape(int64_t rows, int64_t in, int64_t out, int with_bias)
{
    linear_case c = {.ctx = tu_context(), .rows = rows, .in = in, .out = out};
    size_t nx = rows * in, nw = out * in, ny = rows * out;
    c.x = tu_alloc_uniform(nx, -1, 1, 1);
    c.W = tu_alloc_uniform(nw, -1, 1, 2);
    c.b = with_bias ? tu_alloc_uniform(out, -1, 1, 3) : NULL;
    c.y = tu_alloc_zeros(ny);
    c.w = tu_alloc_uniform(ny, -1, 1, 4);

    float *expected = tu_alloc_zeros(ny);
    tu_ref_linear(c.x, c.W, c.b, expected, rows, in, out);
    TU_OK(c.ctx, mird_linear_forward(c.ctx, c.x, c.W, c.b, c.y, rows, in, out));
    tu_assert_close("linear y", c.y, expected, ny, 1e-5, 1e-5);

    float *dx = tu_alloc_zeros(nx), *dW = tu_alloc_zeros(nw), *db = tu_alloc_zeros(out);
    TU_OK(c.ctx, mird_linear_backward(c.ctx, c.x, c.W, c.w, dx, dW, c.b ? db : NULL, rows, in,
                                      out));
    gc_check("linear x", c.x, nx, dx, linear_loss, &c, NULL);
    gc_check("linear W", c.W, nw, dW, linear_loss, &c, NULL);
    if (c.b)
        gc_check("linear b", c.b, out, db, linear_loss, &c, NULL);

    /* A second backward adds the same amount again. */
    float *dx_once = tu_copy(dx, nx);
    TU_OK(c.ctx, mird_linear_backward(c.ctx, c.x, c.W, c.w, dx, NULL, NULL, rows, in, out));
    for (size_t i = 0; i < nx; i++)
        dx_once[i] *= 2.0f;
    tu_assert_close("accumulated dx", dx, dx_once, nx, 1e-5, 1e-5);

    mird_free(dx_once);
    mird_free(dx), mird_free(dW), mird_free(db), mird_free(expected);
    mird_free(c.x), mird_free(c.W), mird_free(c.b), mird_free(c.y), mird_free(c.w);
    mird_dnnl_destroy(c.ctx);
}

START_TEST(test_linear_small_shapes)
{
    check_linear_shape(5, 7, 3, 1);
    check_linear_shape(1, 4, 6, 0);
    check_linear_shape(9, 1, 2, 1);
}
END_TEST

START_TEST(test_linear_empty_rows_do_nothing)
{
    mird_dnnl *ctx = tu_context();
    float W[6] = {1, 2, 3, 4, 5, 6}, dW[6] = {0};
    TU_OK(ctx, mird_linear_forward(ctx, NULL, W, NULL, NULL, 0, 3, 2));
    TU_OK(ctx, mird_linear_backward(ctx, NULL, W, NULL, NULL, dW, NULL, 0, 3, 2));
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(dW[i], 0.0f);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_primitive_created_once_per_shape)
{
    mird_dnnl *ctx = tu_context();
    float *x = tu_alloc_uniform(4 * 8, -1, 1, 5), *W = tu_alloc_uniform(3 * 8, -1, 1, 6);
    float *y = tu_alloc_zeros(4 * 3), *x2 = tu_alloc_uniform(2 * 8, -1, 1, 7);
    TU_OK(ctx, mird_linear_forward(ctx, x, W, NULL, y, 4, 8, 3));
    mird_dnnl_stats first = mird_dnnl_get_stats(ctx);
    ck_assert_uint_eq(first.primitives_created, 1);
    for (int i = 0; i < 10; i++)
        TU_OK(ctx, mird_linear_forward(ctx, x, W, NULL, y, 4, 8, 3));
    mird_dnnl_stats again = mird_dnnl_get_stats(ctx);
    ck_assert_uint_eq(again.primitives_created, 1);
    ck_assert_uint_eq(again.cache_hits, 10);
    /* A new shape is a new primitive. */
    TU_OK(ctx, mird_linear_forward(ctx, x2, W, NULL, y, 2, 8, 3));
    ck_assert_uint_eq(mird_dnnl_get_stats(ctx).primitives_created, 2);

    /* With room for one primitive, alternating shapes evicts each time. */
    mird_dnnl_set_cache_capacity(ctx, 1);
    TU_OK(ctx, mird_linear_forward(ctx, x, W, NULL, y, 4, 8, 3));
    TU_OK(ctx, mird_linear_forward(ctx, x2, W, NULL, y, 2, 8, 3));
    mird_dnnl_stats capped = mird_dnnl_get_stats(ctx);
    ck_assert_uint_eq(capped.cached, 1);
    ck_assert_uint_ge(capped.evictions, 2);
    mird_free(x), mird_free(W), mird_free(y), mird_free(x2);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_matmul_transposed_batched)
{
    /* C[b] = 0.5 * A[b]^T B[b] with A stored [batch, k, m]. */
    mird_dnnl *ctx = tu_context();
    const int64_t batch = 3, m = 4, k = 5, n = 2;
    float *A = tu_alloc_uniform(batch * k * m, -1, 1, 8);
    float *B = tu_alloc_uniform(batch * k * n, -1, 1, 9);
    float *C = tu_alloc_zeros(batch * m * n), *expected = tu_alloc_zeros(batch * m * n);
    for (int64_t i = 0; i < batch; i++)
        for (int64_t r = 0; r < m; r++)
            for (int64_t c = 0; c < n; c++) {
                double acc = 0;
                for (int64_t j = 0; j < k; j++)
                    acc += (double)A[i * k * m + j * m + r] * B[i * k * n + j * n + c];
                expected[i * m * n + r * n + c] = (float)(0.5 * acc);
            }
    TU_OK(ctx, mird_matmul(ctx, A, mird_matmul_transposed(mird_matmul_dense(batch, k, m)), B,
                           mird_matmul_dense(batch, k, n), C, mird_matmul_dense(batch, m, n), 0.5f,
                           0));
    tu_assert_close("matmul C", C, expected, batch * m * n, 1e-5, 1e-5);
    mird_free(A), mird_free(B), mird_free(C), mird_free(expected);
    mird_dnnl_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("linear");
    TCase *tc = tcase_create("linear");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_linear_small_shapes);
    tcase_add_test(tc, test_linear_empty_rows_do_nothing);
    tcase_add_test(tc, test_primitive_created_once_per_shape);
    tcase_add_test(tc, test_matmul_transposed_batched);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
