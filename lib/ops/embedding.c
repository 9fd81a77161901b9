#include "ops/embedding.h"

#include <omp.h>
#include <string.h>

/* Column ranges start on cache-line boundaries (16 floats) so that two
 * threads never write the same line of dtable. */
enum { LINE_FLOATS = 16, PARALLEL_MIN_ELEMENTS = 1 << 14 };

static mird_status check_args(mird_dnnl *ctx, const char *op, const int32_t *ids,
                              int64_t count, int64_t vocab, int64_t width)
{
    if (count < 0 || vocab < 0 || width < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: negative size (count %lld, vocab %lld, width %lld)", op,
                         (long long)count, (long long)vocab, (long long)width);
    if (count > 0 && !ids)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT, "%s: ids is NULL", op);
    for (int64_t t = 0; t < count; t++)
        if (ids[t] < 0 || ids[t] >= vocab)
            return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                             "%s: ids[%lld] = %d is outside [0, %lld)", op, (long long)t,
                             (int)ids[t], (long long)vocab);
    return MIRD_OK;
}

mird_status mird_embedding_forward(mird_dnnl *ctx, const int32_t *ids, const float *table,
                                   float *out, int64_t count, int64_t vocab, int64_t width)
{
    const char *op = "embedding_forward";
    MIRD_TRY(check_args(ctx, op, ids, count, vocab, width));
    if (count == 0 || width == 0)
        return MIRD_OK;
    if (!table || !out)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s: table and out are required", op);
    size_t row_bytes = (size_t)width * sizeof *out;
#pragma omp parallel for schedule(static) if (count * width >= PARALLEL_MIN_ELEMENTS)
    for (int64_t t = 0; t < count; t++)
        memcpy(out + t * width, table + (int64_t)ids[t] * width, row_bytes);
    return MIRD_OK;
}

mird_status mird_embedding_backward(mird_dnnl *ctx, const int32_t *ids, const float *dout,
                                    float *dtable, int64_t count, int64_t vocab, int64_t width)
{
    const char *op = "embedding_backward";
    MIRD_TRY(check_args(ctx, op, ids, count, vocab, width));
    if (count == 0 || width == 0 || !dtable)
        return MIRD_OK;
    if (!dout)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT, "%s: dout is NULL", op);
    /* One contiguous column range per thread, each walking the positions in
     * order: every dtable element sees the same additions in the same order
     * however the columns are divided. */
    int threads = count * width >= PARALLEL_MIN_ELEMENTS ? omp_get_max_threads() : 1;
    int64_t per_thread = (width + threads - 1) / threads;
    int64_t range = (per_thread + LINE_FLOATS - 1) / LINE_FLOATS * LINE_FLOATS;
    int64_t ranges = (width + range - 1) / range;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t r = 0; r < ranges; r++) {
        int64_t first = r * range;
        int64_t last = first + range < width ? first + range : width;
        for (int64_t t = 0; t < count; t++) {
            const float *src = dout + t * width;
            float *dst = dtable + (int64_t)ids[t] * width;
            for (int64_t c = first; c < last; c++)
                dst[c] += src[c];
        }
    }
    return MIRD_OK;
}
