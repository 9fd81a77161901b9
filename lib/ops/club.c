#include "ops/club.h"

#include <inttypes.h>
#include <math.h>

/* The estimators see a batch of codes (N and d in the tens to hundreds), so
 * everything here is a serial O(N d) pass in double precision. */

static mird_status check_sizes(mird_dnnl *ctx, const char *op, int64_t N, int64_t d)
{
    if (N < 0 || d < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_SHAPE,
                         "%s: N = %" PRId64 " and d = %" PRId64 " must not be negative", op, N,
                         d);
    return MIRD_OK;
}

static mird_status require_out(mird_dnnl *ctx, const char *op, const double *out)
{
    if (!out)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s: the output pointer is NULL", op);
    return MIRD_OK;
}

/* 1 / (2 exp(logvar)): the Gaussian's weight on a squared error. */
static double half_inverse_variance(float logvar)
{
    return 0.5 * exp(-(double)logvar);
}

/* ---- vCLUB ---- */

/* Per-feature statistics of y that turn the mean over all pairs into O(N d). */
typedef struct club_moments {
    double *mean;    /* [d] mean_j y_jd */
    double *mean_sq; /* [d] mean_j y_jd^2 */
} club_moments;

static mird_status alloc_doubles(mird_dnnl *ctx, const char *op, int64_t count, double **out)
{
    *out = mird_dnnl_scratch_alloc(ctx, op, count, sizeof **out);
    return *out ? MIRD_OK : MIRD_ERR_OUT_OF_MEMORY;
}

static mird_status compute_moments(mird_dnnl *ctx, const char *op, const float *y, int64_t N,
                                   int64_t d, club_moments *m)
{
    MIRD_TRY(alloc_doubles(ctx, op, d, &m->mean));
    MIRD_TRY(alloc_doubles(ctx, op, d, &m->mean_sq));
    for (int64_t k = 0; k < d; k++)
        m->mean[k] = m->mean_sq[k] = 0.0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t k = 0; k < d; k++) {
            double v = y[i * d + k];
            m->mean[k] += v;
            m->mean_sq[k] += v * v;
        }
    for (int64_t k = 0; k < d; k++) {
        m->mean[k] /= (double)N;
        m->mean_sq[k] /= (double)N;
    }
    return MIRD_OK;
}

/* The bracket of the estimate for one element: -(mu - y)^2 + mean_j (y_j - mu)^2. */
static double vclub_term(const club_moments *m, int64_t k, double mu, double y)
{
    double positive = (mu - y) * (mu - y);
    double negative = m->mean_sq[k] - 2.0 * mu * m->mean[k] + mu * mu;
    return negative - positive;
}

static mird_status club_forward_with_scratch(mird_dnnl *ctx, const float *mu,
                                             const float *logvar, const float *y, int64_t N,
                                             int64_t d, double *estimate)
{
    club_moments m;
    MIRD_TRY(compute_moments(ctx, "mird_club_forward", y, N, d, &m));
    double sum = 0.0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t k = 0; k < d; k++) {
            int64_t at = i * d + k;
            sum += half_inverse_variance(logvar[at]) * vclub_term(&m, k, mu[at], y[at]);
        }
    *estimate = sum / (double)N;
    return MIRD_OK;
}

mird_status mird_club_forward(mird_dnnl *ctx, const float *mu, const float *logvar,
                              const float *y, int64_t N, int64_t d, double *estimate)
{
    MIRD_TRY(check_sizes(ctx, "mird_club_forward", N, d));
    MIRD_TRY(require_out(ctx, "mird_club_forward", estimate));
    *estimate = 0.0;
    if (N == 0 || d == 0)
        return MIRD_OK;
    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    mird_scratch_mark mark = mird_scratch_get_mark(scratch);
    mird_status st = club_forward_with_scratch(ctx, mu, logvar, y, N, d, estimate);
    mird_scratch_reset_to(scratch, mark);
    return st;
}

/* y_kd enters every row's negative term through mean(y_d) and mean(y_d^2):
 * d/dy_kd of 1/N sum_i s_id (mean_sq_d - 2 mu_id mean_d) is
 * 2/N^2 (y_kd sum_i s_id - sum_i s_id mu_id). */
static mird_status club_backward_with_scratch(mird_dnnl *ctx, const float *mu,
                                              const float *logvar, const float *y, int64_t N,
                                              int64_t d, double g, float *dmu, float *dlogvar,
                                              float *dy)
{
    static const char op[] = "mird_club_backward";
    club_moments m;
    MIRD_TRY(compute_moments(ctx, op, y, N, d, &m));
    const double scale = g / (double)N;
    for (int64_t i = 0; i < N; i++)
        for (int64_t k = 0; k < d; k++) {
            int64_t at = i * d + k;
            double s = half_inverse_variance(logvar[at]);
            if (dmu)
                dmu[at] += (float)(scale * s * 2.0 * ((double)y[at] - m.mean[k]));
            if (dlogvar)
                dlogvar[at] -= (float)(scale * s * vclub_term(&m, k, mu[at], y[at]));
            if (dy)
                dy[at] += (float)(scale * s * 2.0 * ((double)mu[at] - y[at]));
        }
    if (!dy)
        return MIRD_OK;
    double *weight_sum, *weighted_mu;
    MIRD_TRY(alloc_doubles(ctx, op, d, &weight_sum));
    MIRD_TRY(alloc_doubles(ctx, op, d, &weighted_mu));
    for (int64_t k = 0; k < d; k++)
        weight_sum[k] = weighted_mu[k] = 0.0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t k = 0; k < d; k++) {
            double s = half_inverse_variance(logvar[i * d + k]);
            weight_sum[k] += s;
            weighted_mu[k] += s * mu[i * d + k];
        }
    const double pair_scale = 2.0 * scale / (double)N;
    for (int64_t i = 0; i < N; i++)
        for (int64_t k = 0; k < d; k++) {
            int64_t at = i * d + k;
            dy[at] += (float)(pair_scale * ((double)y[at] * weight_sum[k] - weighted_mu[k]));
        }
    return MIRD_OK;
}

mird_status mird_club_backward(mird_dnnl *ctx, const float *mu, const float *logvar,
                               const float *y, int64_t N, int64_t d, double g, float *dmu,
                               float *dlogvar, float *dy)
{
    MIRD_TRY(check_sizes(ctx, "mird_club_backward", N, d));
    if (N == 0 || d == 0 || (!dmu && !dlogvar && !dy))
        return MIRD_OK;
    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    mird_scratch_mark mark = mird_scratch_get_mark(scratch);
    mird_status st = club_backward_with_scratch(ctx, mu, logvar, y, N, d, g, dmu, dlogvar, dy);
    mird_scratch_reset_to(scratch, mark);
    return st;
}

/* ---- sampled CLUB ---- */

static mird_status check_negatives(mird_dnnl *ctx, const char *op, const int32_t *negatives,
                                   int64_t N)
{
    if (!negatives && N > 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT, "%s: negatives is NULL",
                         op);
    for (int64_t i = 0; i < N; i++)
        if (negatives[i] < 0 || negatives[i] >= N)
            return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                             "%s: negatives[%" PRId64 "] = %" PRId32
                             " is outside [0, N = %" PRId64 ")",
                             op, i, negatives[i], N);
    return MIRD_OK;
}

mird_status mird_club_sample_forward(mird_dnnl *ctx, const float *mu, const float *logvar,
                                     const float *y, const int32_t *negatives, int64_t N,
                                     int64_t d, double *estimate)
{
    static const char op[] = "mird_club_sample_forward";
    MIRD_TRY(check_sizes(ctx, op, N, d));
    MIRD_TRY(require_out(ctx, op, estimate));
    MIRD_TRY(check_negatives(ctx, op, negatives, N));
    double sum = 0.0;
    for (int64_t i = 0; i < N; i++) {
        const float *y_negative = y + (int64_t)negatives[i] * d;
        for (int64_t k = 0; k < d; k++) {
            int64_t at = i * d + k;
            double positive = ((double)mu[at] - y[at]) * ((double)mu[at] - y[at]);
            double negative = ((double)mu[at] - y_negative[k]) * ((double)mu[at] - y_negative[k]);
            sum += half_inverse_variance(logvar[at]) * (negative - positive);
        }
    }
    *estimate = N > 0 ? sum / (double)N : 0.0;
    return MIRD_OK;
}

mird_status mird_club_sample_backward(mird_dnnl *ctx, const float *mu, const float *logvar,
                                      const float *y, const int32_t *negatives, int64_t N,
                                      int64_t d, double g, float *dmu, float *dlogvar,
                                      float *dy)
{
    static const char op[] = "mird_club_sample_backward";
    MIRD_TRY(check_sizes(ctx, op, N, d));
    MIRD_TRY(check_negatives(ctx, op, negatives, N));
    if (N == 0)
        return MIRD_OK;
    const double scale = g / (double)N;
    /* Serial: with sampling by replacement two rows may share a negative. */
    for (int64_t i = 0; i < N; i++) {
        const int64_t negative_row = (int64_t)negatives[i] * d;
        for (int64_t k = 0; k < d; k++) {
            int64_t at = i * d + k;
            double s = half_inverse_variance(logvar[at]);
            double to_positive = (double)mu[at] - y[at];
            double to_negative = (double)mu[at] - y[negative_row + k];
            if (dmu)
                dmu[at] += (float)(scale * s * 2.0 * (to_negative - to_positive));
            if (dlogvar)
                dlogvar[at] -= (float)(scale * s *
                                       (to_negative * to_negative - to_positive * to_positive));
            if (dy) {
                dy[at] += (float)(scale * s * 2.0 * to_positive);
                dy[negative_row + k] -= (float)(scale * s * 2.0 * to_negative);
            }
        }
    }
    return MIRD_OK;
}

/* ---- learning loss ---- */

mird_status mird_club_learning_loss_forward(mird_dnnl *ctx, const float *mu, const float *logvar,
                                            const float *y, int64_t N, int64_t d, double *loss)
{
    static const char op[] = "mird_club_learning_loss_forward";
    MIRD_TRY(check_sizes(ctx, op, N, d));
    MIRD_TRY(require_out(ctx, op, loss));
    double sum = 0.0;
    for (int64_t at = 0; at < N * d; at++) {
        double error = (double)mu[at] - y[at];
        sum += error * error * exp(-(double)logvar[at]) + logvar[at];
    }
    *loss = N > 0 ? sum / (double)N : 0.0;
    return MIRD_OK;
}

mird_status mird_club_learning_loss_backward(mird_dnnl *ctx, const float *mu,
                                             const float *logvar, const float *y, int64_t N,
                                             int64_t d, double g, float *dmu, float *dlogvar,
                                             float *dy)
{
    MIRD_TRY(check_sizes(ctx, "mird_club_learning_loss_backward", N, d));
    if (N == 0)
        return MIRD_OK;
    const double scale = g / (double)N;
    for (int64_t at = 0; at < N * d; at++) {
        double error = (double)mu[at] - y[at];
        double precision = exp(-(double)logvar[at]);
        double to_mu = scale * 2.0 * error * precision;
        if (dmu)
            dmu[at] += (float)to_mu;
        if (dy)
            dy[at] -= (float)to_mu;
        if (dlogvar)
            dlogvar[at] += (float)(scale * (1.0 - error * error * precision));
    }
    return MIRD_OK;
}
