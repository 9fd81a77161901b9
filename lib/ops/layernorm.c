#include "ops/layernorm.h"

#include <math.h>
#include <string.h>

/* oneDNN 2.6 takes gamma and beta as two separate [channels] arguments with
 * these flags (use_scaleshift would need them packed into one [2, channels]
 * buffer, i.e. a copy per call). */
#define FORWARD_FLAGS ((unsigned)(dnnl_use_scale | dnnl_use_shift))
/* beta does not enter dx, and with use_shift oneDNN would insist on being
 * given beta and a dbeta output anyway. */
#define BACKWARD_FLAGS ((unsigned)dnnl_use_scale)

/* Rows per task of the dgamma/dbeta sums; fixed, so part of the result. */
enum { ROW_CHUNK = 64, PARALLEL_MIN_ELEMENTS = 1 << 15 };

typedef struct layernorm_params {
    int64_t rows, channels;
    float eps;
    dnnl_prop_kind_t prop;
} layernorm_params;

static dnnl_status_t init_mds(const layernorm_params *p, mird_md *data, mird_md *stat)
{
    int64_t dims[2] = {p->rows, p->channels};
    dnnl_status_t st = mird_md_init(data, 2, dims, NULL);
    return st == dnnl_success ? mird_md_init(stat, 1, dims, NULL) : st;
}

static dnnl_status_t build_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                   dnnl_primitive_attr_t attr, const void *raw)
{
    const layernorm_params *p = raw;
    mird_md data, stat;
    mird_md_init_zero(&data);
    mird_md_init_zero(&stat);
    dnnl_status_t st = init_mds(p, &data, &stat);
    if (st == dnnl_success)
        st = mird_pd_layernorm_forward(pd, engine, p->prop, &data, &stat, p->eps,
                                       FORWARD_FLAGS, attr);
    mird_md_release(&data);
    mird_md_release(&stat);
    return st;
}

/* oneDNN 2.6 implements no backward_data layer normalization with a scale,
 * so this is the full backward; its dgamma goes to scratch and is dropped
 * (see the header for why it is computed here instead). */
static dnnl_status_t build_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                    dnnl_primitive_attr_t attr, const void *raw)
{
    const layernorm_params *p = raw;
    mird_md data, stat;
    mird_md_init_zero(&data);
    mird_md_init_zero(&stat);
    dnnl_primitive_desc_t hint = NULL;
    dnnl_status_t st = init_mds(p, &data, &stat);
    if (st == dnnl_success)
        st = mird_pd_layernorm_forward(&hint, engine, dnnl_forward_training, &data, &stat,
                                       p->eps, BACKWARD_FLAGS, attr);
    if (st == dnnl_success)
        st = mird_pd_layernorm_backward(pd, engine, dnnl_backward, &data, &data, &stat,
                                        p->eps, BACKWARD_FLAGS, hint, attr);
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    mird_md_release(&data);
    mird_md_release(&stat);
    return st;
}

static void make_key(mird_prim_key *key, mird_prim_kind kind, const layernorm_params *p)
{
    union {
        float f;
        int32_t i;
    } eps_bits = {p->eps};
    mird_prim_key_init(key, kind);
    mird_prim_key_add(key, p->rows);
    mird_prim_key_add(key, p->channels);
    mird_prim_key_add(key, eps_bits.i);
    mird_prim_key_add(key, (int64_t)p->prop);
}

static mird_status check_sizes(mird_dnnl *ctx, const char *op, int64_t rows, int64_t channels,
                               float eps)
{
    if (rows < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: rows = %lld is negative", op, (long long)rows);
    if (channels < 1)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: channels = %lld, need at least 1", op, (long long)channels);
    if (!(eps > 0.0f) || isinf(eps))
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: eps = %g, need a finite value > 0", op, (double)eps);
    return MIRD_OK;
}

mird_status mird_layernorm_forward(mird_dnnl *ctx, const float *x, const float *gamma,
                                   const float *beta, float *y, float *mean, float *variance,
                                   int64_t rows, int64_t channels, float eps)
{
    const char *op = "layernorm_forward";
    if (rows == 0 && channels >= 0)
        return MIRD_OK;
    MIRD_TRY(check_sizes(ctx, op, rows, channels, eps));
    if (!x || !gamma || !beta || !y)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s: x, gamma, beta and y are required", op);
    if ((mean == NULL) != (variance == NULL))
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: give both mean and variance (training) or neither (inference)",
                         op);
    int training = mean != NULL;
    layernorm_params p = {rows, channels, eps,
                          training ? dnnl_forward_training : dnnl_forward_inference};
    mird_prim_key key;
    make_key(&key, MIRD_PRIM_LAYERNORM_FWD, &p);
    mird_prim *prim;
    MIRD_TRY(mird_dnnl_primitive(ctx, &key, build_forward, &p, &prim));
    mird_arg args[6] = {{DNNL_ARG_SRC, (void *)x},         {DNNL_ARG_DST, y},
                        {DNNL_ARG_SCALE, (void *)gamma},   {DNNL_ARG_SHIFT, (void *)beta},
                        {DNNL_ARG_MEAN, mean},             {DNNL_ARG_VARIANCE, variance}};
    return mird_dnnl_execute(ctx, prim, training ? 6 : 4, args);
}

/* dgamma[c] += sum_r dy[r, c] * xhat[r, c] and dbeta[c] += sum_r dy[r, c].
 * The rows are cut into fixed chunks whatever the thread count; each chunk
 * sums its rows in order into its own slot (contiguous, vectorised), and
 * the slots are then added in chunk order in double.  So every bit of the
 * result is independent of how the chunks were spread over threads.
 * `partial` holds 2 * channels floats per chunk. */
static void add_parameter_gradients(const float *x, const float *mean, const float *variance,
                                    const float *dy, float *dgamma, float *dbeta, int64_t rows,
                                    int64_t channels, float eps, float *partial)
{
    int64_t chunks = (rows + ROW_CHUNK - 1) / ROW_CHUNK;
#pragma omp parallel for schedule(static) if (rows * channels >= PARALLEL_MIN_ELEMENTS)
    for (int64_t k = 0; k < chunks; k++) {
        float *sum_gamma = partial + 2 * k * channels, *sum_beta = sum_gamma + channels;
        memset(sum_gamma, 0, 2 * (size_t)channels * sizeof *sum_gamma);
        int64_t end = (k + 1) * ROW_CHUNK < rows ? (k + 1) * ROW_CHUNK : rows;
        for (int64_t r = k * ROW_CHUNK; r < end; r++) {
            const float *x_row = x + r * channels, *dy_row = dy + r * channels;
            float row_mean = mean[r];
            float inv_std = 1.0f / sqrtf(variance[r] + eps);
#pragma omp simd
            for (int64_t c = 0; c < channels; c++) {
                sum_gamma[c] += dy_row[c] * ((x_row[c] - row_mean) * inv_std);
                sum_beta[c] += dy_row[c];
            }
        }
    }
#pragma omp parallel for schedule(static) if (chunks * channels >= PARALLEL_MIN_ELEMENTS)
    for (int64_t c = 0; c < channels; c++) {
        double total_gamma = 0.0, total_beta = 0.0;
        for (int64_t k = 0; k < chunks; k++) {
            total_gamma += partial[2 * k * channels + c];
            total_beta += partial[(2 * k + 1) * channels + c];
        }
        if (dgamma)
            dgamma[c] += (float)total_gamma;
        if (dbeta)
            dbeta[c] += (float)total_beta;
    }
}

static void add_into(float *dst, const float *src, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* oneDNN overwrites diff_src, so it writes into scratch that is then added. */
static mird_status add_input_gradient(mird_dnnl *ctx, const float *x, const float *gamma,
                                      const float *mean, const float *variance,
                                      const float *dy, float *dx, int64_t rows,
                                      int64_t channels, float eps)
{
    layernorm_params p = {rows, channels, eps, dnnl_backward};
    mird_prim_key key;
    make_key(&key, MIRD_PRIM_LAYERNORM_BWD, &p);
    mird_prim *prim;
    MIRD_TRY(mird_dnnl_primitive(ctx, &key, build_backward, &p, &prim));

    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    mird_scratch_mark mark = mird_scratch_get_mark(scratch);
    size_t count = (size_t)rows * (size_t)channels;
    float *dx_fresh = mird_scratch_alloc(scratch, count * sizeof *dx_fresh);
    float *unused_dgamma = mird_scratch_alloc(scratch, (size_t)channels * sizeof *unused_dgamma);
    if (!dx_fresh || !unused_dgamma) {
        mird_scratch_reset_to(scratch, mark);
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_OUT_OF_MEMORY,
                         "layernorm_backward: no scratch for a [%lld, %lld] input gradient",
                         (long long)rows, (long long)channels);
    }
    mird_arg args[7] = {{DNNL_ARG_SRC, (void *)x},
                        {DNNL_ARG_MEAN, (void *)mean},
                        {DNNL_ARG_VARIANCE, (void *)variance},
                        {DNNL_ARG_DIFF_DST, (void *)dy},
                        {DNNL_ARG_SCALE, (void *)gamma},
                        {DNNL_ARG_DIFF_SRC, dx_fresh},
                        {DNNL_ARG_DIFF_SCALE, unused_dgamma}};
    mird_status st = mird_dnnl_execute(ctx, prim, 7, args);
    if (st == MIRD_OK)
        add_into(dx, dx_fresh, (int64_t)count);
    mird_scratch_reset_to(scratch, mark);
    return st;
}

mird_status mird_layernorm_backward(mird_dnnl *ctx, const float *x, const float *gamma,
                                    const float *mean, const float *variance, const float *dy,
                                    float *dx, float *dgamma, float *dbeta, int64_t rows,
                                    int64_t channels, float eps)
{
    const char *op = "layernorm_backward";
    if (rows == 0 && channels >= 0)
        return MIRD_OK;
    MIRD_TRY(check_sizes(ctx, op, rows, channels, eps));
    if (!dx && !dgamma && !dbeta)
        return MIRD_OK;
    if (!x || !mean || !variance || !dy || (dx && !gamma))
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s: x, mean, variance, dy (and gamma for dx) are required", op);
    if (dx)
        MIRD_TRY(add_input_gradient(ctx, x, gamma, mean, variance, dy, dx, rows, channels, eps));
    if (!dgamma && !dbeta)
        return MIRD_OK;
    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    mird_scratch_mark mark = mird_scratch_get_mark(scratch);
    size_t chunks = (size_t)((rows + ROW_CHUNK - 1) / ROW_CHUNK);
    float *partial = mird_scratch_alloc(scratch, chunks * 2 * (size_t)channels * sizeof *partial);
    if (!partial) {
        mird_scratch_reset_to(scratch, mark);
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_OUT_OF_MEMORY,
                         "%s: no scratch for the parameter gradient sums", op);
    }
    add_parameter_gradients(x, mean, variance, dy, dgamma, dbeta, rows, channels, eps, partial);
    mird_scratch_reset_to(scratch, mark);
    return MIRD_OK;
}
