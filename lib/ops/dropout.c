#include "ops/dropout.h"

#include <string.h>

/* Elements per task: each task draws its own slice of the stream, so how the
 * slices are spread over threads cannot change a single bit. */
enum { CHUNK = 4096, PARALLEL_MIN_ELEMENTS = 1 << 15 };

static mird_status check_args(mird_dnnl *ctx, const char *op, float p, int64_t n)
{
    if (!(p >= 0.0f && p < 1.0f))
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: p = %g, need 0 <= p < 1", op, (double)p);
    if (n < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: n = %lld is negative", op, (long long)n);
    return MIRD_OK;
}

/* out[0..count) = multipliers for stream elements index .. index+count-1. */
static void draw_multipliers(const mird_rng_stream *stream, uint64_t index, int64_t count,
                             float p, float *out)
{
    float keep_probability = 1.0f - p;
    float scale = 1.0f / keep_probability;
    mird_rng_uniform(stream, index, (size_t)count, out);
#pragma omp simd
    for (int64_t i = 0; i < count; i++)
        out[i] = out[i] < keep_probability ? scale : 0.0f;
}

static int64_t chunk_length(int64_t chunk, int64_t n)
{
    int64_t rest = n - chunk * CHUNK;
    return rest < CHUNK ? rest : CHUNK;
}

mird_status mird_dropout_multipliers(mird_dnnl *ctx, const mird_rng_stream *stream,
                                     uint64_t first, float p, float *multipliers, int64_t n)
{
    const char *op = "dropout_multipliers";
    MIRD_TRY(check_args(ctx, op, p, n));
    if (n == 0)
        return MIRD_OK;
    if (!stream || !multipliers)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s: stream and multipliers are required", op);
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
    for (int64_t c = 0; c < chunks; c++)
        draw_multipliers(stream, first + (uint64_t)(c * CHUNK), chunk_length(c, n), p,
                         multipliers + c * CHUNK);
    return MIRD_OK;
}

mird_status mird_dropout_forward(mird_dnnl *ctx, const mird_rng_stream *stream, float p,
                                 const float *x, float *y, float *mask, int64_t n)
{
    const char *op = "dropout_forward";
    MIRD_TRY(check_args(ctx, op, p, n));
    if (n == 0)
        return MIRD_OK;
    if (!stream || !x || !y)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s: stream, x and y are required", op);
    if (p == 0.0f) {
        if (y != x)
            memcpy(y, x, (size_t)n * sizeof *y);
        if (mask)
            for (int64_t i = 0; i < n; i++)
                mask[i] = 1.0f;
        return MIRD_OK;
    }
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
    for (int64_t c = 0; c < chunks; c++) {
        float local[CHUNK];
        float *multipliers = mask ? mask + c * CHUNK : local;
        int64_t count = chunk_length(c, n);
        draw_multipliers(stream, (uint64_t)(c * CHUNK), count, p, multipliers);
        const float *x_chunk = x + c * CHUNK;
        float *y_chunk = y + c * CHUNK;
#pragma omp simd
        for (int64_t i = 0; i < count; i++)
            y_chunk[i] = x_chunk[i] * multipliers[i];
    }
    return MIRD_OK;
}

mird_status mird_dropout_backward(mird_dnnl *ctx, const float *mask, const float *dy,
                                  float *dx, int64_t n)
{
    const char *op = "dropout_backward";
    if (n < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: n = %lld is negative", op, (long long)n);
    if (n == 0 || !dx)
        return MIRD_OK;
    if (!mask || !dy)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s: mask and dy are required", op);
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i] * mask[i];
    return MIRD_OK;
}
