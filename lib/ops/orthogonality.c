#include "ops/orthogonality.h"

#include <cblas.h>
#include <inttypes.h>
#include <math.h>

/* Codes are a batch of rows (N and k in the tens to hundreds), so the work is
 * host-side in double precision: the k x k products go to cblas, which the
 * library runs single-threaded, so the results do not depend on threads. */

typedef struct normalised_code {
    double *rows; /* [N, k]: centred rows divided by (norm + eps) */
    double *norm; /* [N]: each centred row's L2 norm */
} normalised_code;

static mird_status scratch_doubles(mird_dnnl *ctx, const char *op, int64_t count, double **out)
{
    *out = mird_dnnl_scratch_alloc(ctx, op, count, sizeof **out);
    return *out ? MIRD_OK : MIRD_ERR_OUT_OF_MEMORY;
}

static mird_status normalise_code(mird_dnnl *ctx, const char *op, const float *X, int64_t N,
                                  int64_t k, normalised_code *code)
{
    double *mean;
    MIRD_TRY(scratch_doubles(ctx, op, N * k, &code->rows));
    MIRD_TRY(scratch_doubles(ctx, op, N, &code->norm));
    MIRD_TRY(scratch_doubles(ctx, op, k, &mean));
    for (int64_t j = 0; j < k; j++)
        mean[j] = 0.0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < k; j++)
            mean[j] += X[i * k + j];
    for (int64_t j = 0; j < k; j++)
        mean[j] /= (double)N;
    for (int64_t i = 0; i < N; i++) {
        double *row = code->rows + i * k;
        double sum_sq = 0.0;
        for (int64_t j = 0; j < k; j++) {
            row[j] = X[i * k + j] - mean[j];
            sum_sq += row[j] * row[j];
        }
        code->norm[i] = sqrt(sum_sq);
        double inverse = 1.0 / (code->norm[i] + MIRD_ORTHOGONALITY_NORM_EPS);
        for (int64_t j = 0; j < k; j++)
            row[j] *= inverse;
    }
    return MIRD_OK;
}

/* Normalises both codes and forms cross[ka, kb] = An^T Bn, all in scratch. */
static mird_status normalise_and_cross(mird_dnnl *ctx, const char *op, const float *A,
                                       const float *B, int64_t N, int64_t ka, int64_t kb,
                                       normalised_code *a, normalised_code *b, double **cross)
{
    MIRD_TRY(normalise_code(ctx, op, A, N, ka, a));
    MIRD_TRY(normalise_code(ctx, op, B, N, kb, b));
    MIRD_TRY(scratch_doubles(ctx, op, ka * kb, cross));
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ka, (int)kb, (int)N, 1.0, a->rows,
                (int)ka, b->rows, (int)kb, 0.0, *cross, (int)kb);
    return MIRD_OK;
}

/* Turns the gradient with respect to the normalised rows (in place) into one
 * with respect to the centred rows, then through the centring into dX. */
static void code_backward(const normalised_code *code, double *grad, int64_t N, int64_t k,
                          int detach_norm, float *dX)
{
    for (int64_t i = 0; i < N; i++) {
        const double *row = code->rows + i * k;
        double *g = grad + i * k;
        double r = code->norm[i];
        double inverse = 1.0 / (r + MIRD_ORTHOGONALITY_NORM_EPS);
        /* d(row)/d(centred) = (I - n n^T) / (r + eps) with n = centred / r,
         * written with the normalised row: the radial part is
         * (g . row) row / r. */
        double radial = 0.0;
        if (!detach_norm && r > 0.0) {
            for (int64_t j = 0; j < k; j++)
                radial += g[j] * row[j];
            radial /= r;
        }
        for (int64_t j = 0; j < k; j++)
            g[j] = g[j] * inverse - radial * row[j];
    }
    /* Centring subtracts the column mean, so its backward does too. */
    for (int64_t j = 0; j < k; j++) {
        double mean = 0.0;
        for (int64_t i = 0; i < N; i++)
            mean += grad[i * k + j];
        mean /= (double)N;
        for (int64_t i = 0; i < N; i++)
            dX[i * k + j] += (float)(grad[i * k + j] - mean);
    }
}

static mird_status check_sizes(mird_dnnl *ctx, const char *op, int64_t N, int64_t ka,
                               int64_t kb)
{
    if (N < 0 || ka < 0 || kb < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_SHAPE,
                         "%s: N = %" PRId64 ", ka = %" PRId64 " and kb = %" PRId64
                         " must not be negative",
                         op, N, ka, kb);
    if (N > INT32_MAX || ka > INT32_MAX || kb > INT32_MAX)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_SHAPE,
                         "%s: N, ka and kb must fit in 32 bits for BLAS", op);
    return MIRD_OK;
}

static mird_status forward_with_scratch(mird_dnnl *ctx, const char *op, const float *A,
                                        const float *B, int64_t N, int64_t ka, int64_t kb,
                                        double *loss)
{
    normalised_code a, b;
    double *cross;
    MIRD_TRY(normalise_and_cross(ctx, op, A, B, N, ka, kb, &a, &b, &cross));
    double sum_sq = 0.0;
    for (int64_t e = 0; e < ka * kb; e++)
        sum_sq += cross[e] * cross[e];
    *loss = sum_sq / (double)(ka * kb);
    return MIRD_OK;
}

mird_status mird_orthogonality_forward(mird_dnnl *ctx, const float *A, const float *B,
                                       int64_t N, int64_t ka, int64_t kb, double *loss)
{
    static const char op[] = "mird_orthogonality_forward";
    MIRD_TRY(check_sizes(ctx, op, N, ka, kb));
    if (!loss)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT, "%s: loss is NULL", op);
    *loss = 0.0;
    if (N == 0 || ka == 0 || kb == 0)
        return MIRD_OK;
    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    mird_scratch_mark mark = mird_scratch_get_mark(scratch);
    mird_status st = forward_with_scratch(ctx, op, A, B, N, ka, kb, loss);
    mird_scratch_reset_to(scratch, mark);
    return st;
}

static mird_status backward_with_scratch(mird_dnnl *ctx, const char *op, const float *A,
                                         const float *B, int64_t N, int64_t ka, int64_t kb,
                                         int detach_norm, double g, float *dA, float *dB)
{
    normalised_code a, b;
    double *cross;
    MIRD_TRY(normalise_and_cross(ctx, op, A, B, N, ka, kb, &a, &b, &cross));
    /* d loss / d cross = 2 cross / (ka kb), scaled by g in place. */
    const double scale = 2.0 * g / (double)(ka * kb);
    for (int64_t e = 0; e < ka * kb; e++)
        cross[e] *= scale;
    if (dA) {
        double *grad;
        MIRD_TRY(scratch_doubles(ctx, op, N * ka, &grad));
        /* d/dAn = Bn G^T */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)ka, (int)kb, 1.0,
                    b.rows, (int)kb, cross, (int)kb, 0.0, grad, (int)ka);
        code_backward(&a, grad, N, ka, detach_norm, dA);
    }
    if (dB) {
        double *grad;
        MIRD_TRY(scratch_doubles(ctx, op, N * kb, &grad));
        /* d/dBn = An G */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)kb, (int)ka, 1.0,
                    a.rows, (int)ka, cross, (int)kb, 0.0, grad, (int)kb);
        code_backward(&b, grad, N, kb, detach_norm, dB);
    }
    return MIRD_OK;
}

mird_status mird_orthogonality_backward(mird_dnnl *ctx, const float *A, const float *B,
                                        int64_t N, int64_t ka, int64_t kb, int detach_norm,
                                        double g, float *dA, float *dB)
{
    static const char op[] = "mird_orthogonality_backward";
    MIRD_TRY(check_sizes(ctx, op, N, ka, kb));
    if (N == 0 || ka == 0 || kb == 0 || (!dA && !dB))
        return MIRD_OK;
    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    mird_scratch_mark mark = mird_scratch_get_mark(scratch);
    mird_status st =
        backward_with_scratch(ctx, op, A, B, N, ka, kb, detach_norm, g, dA, dB);
    mird_scratch_reset_to(scratch, mark);
    return st;
}
