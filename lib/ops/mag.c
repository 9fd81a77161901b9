#include "ops/mag.h"

#include <math.h>

/* Matches the released code's `eps` added to ||Hs_t||. */
#define MAG_NORM_EPS 1e-6f
/* Below this many elements the rows run on the calling thread. */
#define MAG_PARALLEL_MIN_ELEMENTS 16384

static mird_status check_sizes(mird_dnnl *ctx, const char *op, int64_t rows, int64_t width,
                               float beta)
{
    mird_error *err = mird_dnnl_error(ctx);
    if (rows < 0)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s: rows = %lld is negative", op,
                         (long long)rows);
    if (width < 0)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s: width = %lld is negative", op,
                         (long long)width);
    if (!isfinite(beta))
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s: beta = %g is not finite", op,
                         (double)beta);
    return MIRD_OK;
}

/* The name of the first NULL among `count` buffers, or NULL if none is. */
static const char *first_missing(const void *const *buffers, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (!buffers[i])
            return names[i];
    return NULL;
}

static float row_norm(const float *x, int64_t width)
{
    double sum = 0.0;
    for (int64_t i = 0; i < width; i++)
        sum += (double)x[i] * x[i];
    return (float)sqrt(sum);
}

/* ||Hs_t|| as used in thresh: the released code's torch.where(n == 0, 1, n)
 * plus eps, in float as PyTorch computes it, so forward and backward agree
 * on which side of 1 thresh lies. */
static float shift_denominator(float hs_norm)
{
    return (hs_norm == 0.0f ? 1.0f : hs_norm) + MAG_NORM_EPS;
}

static float threshold(float e_norm, float hs_norm, float beta)
{
    return (e_norm / shift_denominator(hs_norm)) * beta;
}

mird_status mird_mag_forward(mird_dnnl *ctx, const float *E, const float *Hs, float *y,
                             float *alpha, float *norms, int64_t rows, int64_t width,
                             float beta)
{
    MIRD_TRY(check_sizes(ctx, "mag forward", rows, width, beta));
    if (rows == 0)
        return MIRD_OK;
    /* With width 0 only the per-row outputs are written. */
    const void *buffers[] = {alpha, norms, E, Hs, y};
    const char *const names[] = {"alpha", "norms", "E", "Hs", "y"};
    const char *missing = first_missing(buffers, names, width > 0 ? 5 : 2);
    if (missing)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT, "mag forward: %s is NULL",
                         missing);
#pragma omp parallel for schedule(static) if (rows * width >= MAG_PARALLEL_MIN_ELEMENTS)
    for (int64_t t = 0; t < rows; t++) {
        const float *e = E + t * width, *hs = Hs + t * width;
        float e_norm = row_norm(e, width), hs_norm = row_norm(hs, width);
        float a = fminf(threshold(e_norm, hs_norm, beta), 1.0f);
        norms[t * MIRD_MAG_NORMS_PER_ROW] = e_norm;
        norms[t * MIRD_MAG_NORMS_PER_ROW + 1] = hs_norm;
        alpha[t] = a;
        float *out = y + t * width;
        for (int64_t i = 0; i < width; i++)
            out[i] = a * hs[i] + e[i];
    }
    return MIRD_OK;
}

/* How much of d alpha reaches thresh through min(thresh, 1): all of it
 * below 1, half at a tie (PyTorch's minimum backward), none when clipped. */
static double min_gate(float thresh)
{
    if (thresh < 1.0f)
        return 1.0;
    return thresh == 1.0f ? 0.5 : 0.0;
}

static void mag_row_backward(const float *e, const float *hs, const float *dy, float a,
                             float e_norm, float hs_norm, float beta, float *de, float *dhs,
                             int64_t width)
{
    /* The gradients into ||E_t|| and ||Hs_t|| through thresh, as scales of
     * E_t / ||E_t|| and Hs_t / ||Hs_t||. */
    double e_scale = 0.0, hs_scale = 0.0;
    double gate = min_gate(threshold(e_norm, hs_norm, beta));
    if (gate != 0.0) {
        double d_alpha = 0.0;
        for (int64_t i = 0; i < width; i++)
            d_alpha += (double)dy[i] * hs[i];
        double d_thresh = gate * d_alpha;
        double denom = shift_denominator(hs_norm);
        if (e_norm > 0.0f)
            e_scale = d_thresh * beta / denom / e_norm;
        /* Where ||Hs_t|| was 0 the constant 1 stood in for it: no gradient. */
        if (hs_norm > 0.0f)
            hs_scale = -d_thresh * beta * e_norm / (denom * denom) / hs_norm;
    }
    if (de)
        for (int64_t i = 0; i < width; i++)
            de[i] += (float)(dy[i] + e_scale * e[i]);
    if (dhs)
        for (int64_t i = 0; i < width; i++)
            dhs[i] += (float)((double)a * dy[i] + hs_scale * hs[i]);
}

mird_status mird_mag_backward(mird_dnnl *ctx, const float *E, const float *Hs, const float *dy,
                              const float *alpha, const float *norms, float *dE, float *dHs,
                              int64_t rows, int64_t width, float beta)
{
    MIRD_TRY(check_sizes(ctx, "mag backward", rows, width, beta));
    if (rows == 0 || width == 0 || (!dE && !dHs))
        return MIRD_OK;
    const void *buffers[] = {E, Hs, dy, alpha, norms};
    const char *const names[] = {"E", "Hs", "dy", "alpha", "norms"};
    const char *missing = first_missing(buffers, names, 5);
    if (missing)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT, "mag backward: %s is NULL",
                         missing);
#pragma omp parallel for schedule(static) if (rows * width >= MAG_PARALLEL_MIN_ELEMENTS)
    for (int64_t t = 0; t < rows; t++) {
        int64_t at = t * width;
        mag_row_backward(E + at, Hs + at, dy + at, alpha[t], norms[t * MIRD_MAG_NORMS_PER_ROW],
                         norms[t * MIRD_MAG_NORMS_PER_ROW + 1], beta, dE ? dE + at : NULL,
                         dHs ? dHs + at : NULL, width);
    }
    return MIRD_OK;
}
