#include "ops/softmax.h"

#include <math.h>
#include <string.h>

/* Below this many elements a host pass is not worth waking OpenMP's threads. */
#define PARALLEL_MIN_ELEMENTS 32768

typedef struct softmax_params {
    int64_t rows, cols;
} softmax_params;

static dnnl_status_t build_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                   dnnl_primitive_attr_t attr, const void *raw)
{
    const softmax_params *p = raw;
    int64_t dims[2] = {p->rows, p->cols};
    mird_md data;
    dnnl_status_t st = mird_md_init(&data, 2, dims, NULL);
    if (st == dnnl_success)
        st = mird_pd_softmax_forward(pd, engine, dnnl_forward_training, &data, 1, attr);
    mird_md_release(&data);
    return st;
}

static dnnl_status_t build_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                    dnnl_primitive_attr_t attr, const void *raw)
{
    const softmax_params *p = raw;
    int64_t dims[2] = {p->rows, p->cols};
    mird_md data;
    dnnl_primitive_desc_t hint = NULL;
    dnnl_status_t st = mird_md_init(&data, 2, dims, NULL);
    /* The hint only needs the same shape; its attributes do not matter. */
    if (st == dnnl_success)
        st = mird_pd_softmax_forward(&hint, engine, dnnl_forward_training, &data, 1, NULL);
    if (st == dnnl_success)
        st = mird_pd_softmax_backward(pd, engine, &data, &data, 1, hint, attr);
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    mird_md_release(&data);
    return st;
}

static mird_prim_key softmax_key(mird_prim_kind kind, const softmax_params *p)
{
    mird_prim_key key;
    mird_prim_key_init(&key, kind);
    mird_prim_key_add(&key, p->rows);
    mird_prim_key_add(&key, p->cols);
    return key;
}

static mird_status run_forward(mird_dnnl *ctx, const float *x, float *y, int64_t rows,
                               int64_t cols)
{
    softmax_params p = {rows, cols};
    mird_prim_key key = softmax_key(MIRD_PRIM_SOFTMAX_FWD, &p);
    mird_prim *prim;
    MIRD_TRY(mird_dnnl_primitive(ctx, &key, build_forward, &p, &prim));
    mird_arg args[2] = {{DNNL_ARG_SRC, (void *)x}, {DNNL_ARG_DST, y}};
    return mird_dnnl_execute(ctx, prim, 2, args);
}

/* Masked columns become -inf so the normalisation runs over the valid ones
 * alone.  A row with nothing valid gets a finite stand-in instead (all -inf
 * would make the softmax compute inf - inf) and is cleared afterwards. */
static void mask_input(const float *x, float *y, int64_t groups, int64_t group_rows,
                       int64_t cols, const int32_t *valid)
{
#pragma omp parallel for schedule(static) if (groups * group_rows * cols >= PARALLEL_MIN_ELEMENTS)
    for (int64_t g = 0; g < groups; g++) {
        int64_t n = valid[g];
        for (int64_t r = g * group_rows; r < (g + 1) * group_rows; r++) {
            const float *src = x + r * cols;
            float *dst = y + r * cols;
            if (n == 0) {
                memset(dst, 0, (size_t)cols * sizeof *dst);
                continue;
            }
            if (dst != src)
                memcpy(dst, src, (size_t)n * sizeof *dst);
#pragma omp simd
            for (int64_t j = n; j < cols; j++)
                dst[j] = -INFINITY;
        }
    }
}

/* Makes the masked probabilities exactly zero whatever oneDNN's exp returns
 * for -inf, and clears the rows with nothing valid. */
static void clear_masked(float *y, int64_t groups, int64_t group_rows, int64_t cols,
                         const int32_t *valid)
{
#pragma omp parallel for schedule(static) if (groups * group_rows * cols >= PARALLEL_MIN_ELEMENTS)
    for (int64_t g = 0; g < groups; g++) {
        int64_t n = valid[g];
        if (n == cols)
            continue;
        for (int64_t r = g * group_rows; r < (g + 1) * group_rows; r++)
            memset(y + r * cols + n, 0, (size_t)(cols - n) * sizeof *y);
    }
}

mird_status mird_softmax_forward_grouped(mird_dnnl *ctx, const float *x, float *y,
                                         int64_t groups, int64_t group_rows, int64_t cols,
                                         const int32_t *valid)
{
    if (groups < 0 || group_rows < 0 || cols < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "softmax: negative size (groups %lld, rows %lld, cols %lld)",
                         (long long)groups, (long long)group_rows, (long long)cols);
    int any_masked = 0;
    if (valid) {
        for (int64_t g = 0; g < groups; g++) {
            if (valid[g] < 0 || valid[g] > cols)
                return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                                 "softmax: valid[%lld] = %d is outside 0..%lld", (long long)g,
                                 (int)valid[g], (long long)cols);
            any_masked |= valid[g] < cols;
        }
    }
    int64_t rows = groups * group_rows;
    if (rows == 0 || cols == 0)
        return MIRD_OK;
    if (!any_masked)
        return run_forward(ctx, x, y, rows, cols);
    mask_input(x, y, groups, group_rows, cols, valid);
    MIRD_TRY(run_forward(ctx, y, y, rows, cols));
    clear_masked(y, groups, group_rows, cols, valid);
    return MIRD_OK;
}

mird_status mird_softmax_forward(mird_dnnl *ctx, const float *x, float *y, int64_t rows,
                                 int64_t cols, const int32_t *valid)
{
    return mird_softmax_forward_grouped(ctx, x, y, rows, 1, cols, valid);
}

static mird_status check_backward_sizes(mird_dnnl *ctx, int64_t rows, int64_t cols)
{
    if (rows < 0 || cols < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "softmax backward: negative size (rows %lld, cols %lld)",
                         (long long)rows, (long long)cols);
    return MIRD_OK;
}

mird_status mird_softmax_backward_into(mird_dnnl *ctx, const float *y, const float *dy,
                                       float *dx, int64_t rows, int64_t cols)
{
    MIRD_TRY(check_backward_sizes(ctx, rows, cols));
    if (rows == 0 || cols == 0)
        return MIRD_OK;
    softmax_params p = {rows, cols};
    mird_prim_key key = softmax_key(MIRD_PRIM_SOFTMAX_BWD, &p);
    mird_prim *prim;
    MIRD_TRY(mird_dnnl_primitive(ctx, &key, build_backward, &p, &prim));
    mird_arg args[3] = {
        {DNNL_ARG_DST, (void *)y}, {DNNL_ARG_DIFF_DST, (void *)dy}, {DNNL_ARG_DIFF_SRC, dx}};
    return mird_dnnl_execute(ctx, prim, 3, args);
}

mird_status mird_softmax_backward(mird_dnnl *ctx, const float *y, const float *dy, float *dx,
                                  int64_t rows, int64_t cols)
{
    MIRD_TRY(check_backward_sizes(ctx, rows, cols));
    if (!dx || rows == 0 || cols == 0)
        return MIRD_OK;
    /* oneDNN's backward has no sum post-op: compute, then add. */
    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    mird_scratch_mark mark = mird_scratch_get_mark(scratch);
    int64_t n = rows * cols;
    float *grad = mird_scratch_alloc(scratch, (size_t)n * sizeof *grad);
    if (!grad)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_OUT_OF_MEMORY,
                         "softmax backward: cannot allocate %lld floats", (long long)n);
    mird_status st = mird_softmax_backward_into(ctx, y, dy, grad, rows, cols);
    if (st == MIRD_OK) {
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
        for (int64_t i = 0; i < n; i++)
            dx[i] += grad[i];
    }
    mird_scratch_reset_to(scratch, mark);
    return st;
}
