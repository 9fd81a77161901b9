#include "ops/sparsemax.h"

#include <omp.h>
#include <string.h>

/* Rows below this many elements in total run on the calling thread: the
 * per-row work is too small to pay for waking the OpenMP team. */
#define SPARSEMAX_PARALLEL_MIN_ELEMENTS 16384

static mird_status check_sizes(mird_dnnl *ctx, const char *op, int64_t batch,
                               int64_t rows_per_sample, int64_t cols, const int32_t *lengths)
{
    mird_error *err = mird_dnnl_error(ctx);
    if (batch < 0)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s: batch = %lld is negative", op,
                         (long long)batch);
    if (rows_per_sample < 0)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s: rows_per_sample = %lld is negative",
                         op, (long long)rows_per_sample);
    if (cols < 0)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s: cols = %lld is negative", op,
                         (long long)cols);
    if (lengths)
        for (int64_t b = 0; b < batch; b++)
            if (lengths[b] < 0 || lengths[b] > cols)
                return mird_fail(err, MIRD_ERR_SHAPE, "%s: lengths[%lld] = %d is outside 0..%lld",
                                 op, (long long)b, (int)lengths[b], (long long)cols);
    return MIRD_OK;
}

static int64_t valid_columns(const int32_t *lengths, int64_t row, int64_t rows_per_sample,
                             int64_t cols)
{
    return lengths ? lengths[row / rows_per_sample] : cols;
}

/* The threshold tau of one row, on scores shifted by their maximum so the
 * largest is 0 and tau lies in [-1, -1/n] whatever the scale of the scores.
 *
 * Michelot's fixed point instead of a sort: start from the scores above -1
 * (a superset of the support: none below max - 1 can be in it), set tau to
 * the value that would make that set sum to 1, drop the scores not above
 * tau, repeat.  tau only grows and the set only shrinks, so it stops when
 * nothing is dropped.  The set is kept compacted, in column order, in
 * `candidates` (room for n values), so after one pass over the row the
 * repeats only touch the few scores still in play. */
static double row_threshold(const float *s, int64_t n, float max, double *candidates)
{
    int64_t count = 0;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double shifted = (double)s[i] - max;
        if (shifted > -1.0) {
            candidates[count++] = shifted;
            sum += shifted;
        }
    }
    /* Only a NaN maximum leaves the set empty; its row comes out all zeros. */
    if (count == 0)
        return -1.0;
    double tau = (sum - 1.0) / (double)count;
    for (;;) {
        int64_t kept = 0;
        double kept_sum = 0.0;
        for (int64_t j = 0; j < count; j++)
            if (candidates[j] > tau) {
                kept_sum += candidates[j];
                candidates[kept++] = candidates[j];
            }
        if (kept == count)
            return tau;
        count = kept;
        /* Guards the monotonicity against rounding, which keeps the loop
         * finite: an unchanged tau drops nothing on the next pass. */
        double next = (kept_sum - 1.0) / (double)kept;
        if (next > tau)
            tau = next;
    }
}

static void sparsemax_row(const float *s, float *p, int64_t valid, int64_t cols,
                          double *candidates)
{
    if (valid > 0) {
        float max = s[0];
        for (int64_t i = 1; i < valid; i++)
            if (s[i] > max)
                max = s[i];
        double tau = row_threshold(s, valid, max, candidates);
        for (int64_t i = 0; i < valid; i++) {
            double above = ((double)s[i] - max) - tau;
            p[i] = above > 0.0 ? (float)above : 0.0f;
        }
    }
    if (cols > valid)
        memset(p + valid, 0, (size_t)(cols - valid) * sizeof *p);
}

mird_status mird_sparsemax_forward(mird_dnnl *ctx, const float *S, float *P, int64_t batch,
                                   int64_t rows_per_sample, int64_t cols,
                                   const int32_t *lengths)
{
    MIRD_TRY(check_sizes(ctx, "sparsemax forward", batch, rows_per_sample, cols, lengths));
    int64_t rows = batch * rows_per_sample;
    if (rows == 0 || cols == 0)
        return MIRD_OK;
    if (!S || !P)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "sparsemax forward: %s is NULL", !S ? "S" : "P");
    /* One candidate buffer of a row's length per thread. */
    int threads = omp_get_max_threads();
    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    mird_scratch_mark mark = mird_scratch_get_mark(scratch);
    size_t per_thread = (size_t)cols;
    double *candidates = mird_scratch_alloc(scratch, (size_t)threads * per_thread * sizeof(double));
    if (!candidates)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_OUT_OF_MEMORY,
                         "sparsemax forward: no memory for %d x %lld candidates", threads,
                         (long long)cols);
#pragma omp parallel for schedule(static) if (rows * cols >= SPARSEMAX_PARALLEL_MIN_ELEMENTS)
    for (int64_t r = 0; r < rows; r++)
        sparsemax_row(S + r * cols, P + r * cols,
                      valid_columns(lengths, r, rows_per_sample, cols), cols,
                      candidates + (size_t)omp_get_thread_num() * per_thread);
    mird_scratch_reset_to(scratch, mark);
    return MIRD_OK;
}

static void sparsemax_row_backward(const float *p, const float *dp, float *ds, int64_t valid)
{
    double support_sum = 0.0;
    int64_t support_size = 0;
    for (int64_t i = 0; i < valid; i++)
        if (p[i] > 0.0f) {
            support_sum += dp[i];
            support_size++;
        }
    if (support_size == 0)
        return;
    float mean = (float)(support_sum / (double)support_size);
    for (int64_t i = 0; i < valid; i++)
        if (p[i] > 0.0f)
            ds[i] += dp[i] - mean;
}

mird_status mird_sparsemax_backward(mird_dnnl *ctx, const float *P, const float *dP, float *dS,
                                    int64_t batch, int64_t rows_per_sample, int64_t cols,
                                    const int32_t *lengths)
{
    MIRD_TRY(check_sizes(ctx, "sparsemax backward", batch, rows_per_sample, cols, lengths));
    int64_t rows = batch * rows_per_sample;
    if (!dS || rows == 0 || cols == 0)
        return MIRD_OK;
    if (!P || !dP)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "sparsemax backward: %s is NULL", !P ? "P" : "dP");
#pragma omp parallel for schedule(static) if (rows * cols >= SPARSEMAX_PARALLEL_MIN_ELEMENTS)
    for (int64_t r = 0; r < rows; r++)
        sparsemax_row_backward(P + r * cols, dP + r * cols, dS + r * cols,
                               valid_columns(lengths, r, rows_per_sample, cols));
    return MIRD_OK;
}
