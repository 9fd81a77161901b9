/* Ridge regression by the normal equations and a Cholesky solve: the codes
 * are a few dozen wide, so the (d+1) x (d+1) system is tiny. */
#include "probe.h"

#include <math.h>
#include <stdlib.h>

/* The ridge only keeps the system positive definite when a code has dead
 * units; it is far below the scale of the data's own variance. */
#define PROBE_RIDGE 1e-6

static int cholesky_solve(double *a, double *b, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        double diag = a[j * n + j];
        for (int64_t k = 0; k < j; k++)
            diag -= a[j * n + k] * a[j * n + k];
        if (diag <= 0.0)
            return -1;
        a[j * n + j] = sqrt(diag);
        for (int64_t i = j + 1; i < n; i++) {
            double v = a[i * n + j];
            for (int64_t k = 0; k < j; k++)
                v -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = v / a[j * n + j];
        }
    }
    for (int64_t i = 0; i < n; i++) { /* L y = b */
        for (int64_t k = 0; k < i; k++)
            b[i] -= a[i * n + k] * b[k];
        b[i] /= a[i * n + i];
    }
    for (int64_t i = n - 1; i >= 0; i--) { /* L^T x = y */
        for (int64_t k = i + 1; k < n; k++)
            b[i] -= a[k * n + i] * b[k];
        b[i] /= a[i * n + i];
    }
    return 0;
}

double probe_r2(const float *x_fit, const float *target_fit, int64_t n_fit, const float *x_eval,
                const float *target_eval, int64_t n_eval, int64_t d, int64_t x_stride,
                int64_t target_stride)
{
    int64_t n = d + 1; /* the last column is the bias */
    double *a = calloc((size_t)(n * n), sizeof *a), *w = calloc((size_t)n, sizeof *w);
    double r2 = NAN;
    if (!a || !w)
        goto done;
    for (int64_t r = 0; r < n_fit; r++) {
        const float *x = x_fit + r * x_stride;
        double y = target_fit[r * target_stride];
        for (int64_t i = 0; i < n; i++) {
            double xi = i < d ? x[i] : 1.0;
            for (int64_t j = 0; j <= i; j++)
                a[i * n + j] += xi * (j < d ? x[j] : 1.0);
            w[i] += xi * y;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = i + 1; j < n; j++)
            a[i * n + j] = a[j * n + i];
        a[i * n + i] += PROBE_RIDGE * (double)n_fit;
    }
    if (cholesky_solve(a, w, n) != 0)
        goto done;
    double mean = 0.0, residual = 0.0, total = 0.0;
    for (int64_t r = 0; r < n_eval; r++)
        mean += target_eval[r * target_stride] / (double)n_eval;
    for (int64_t r = 0; r < n_eval; r++) {
        const float *x = x_eval + r * x_stride;
        double y = target_eval[r * target_stride], p = w[d];
        for (int64_t i = 0; i < d; i++)
            p += w[i] * x[i];
        residual += (y - p) * (y - p);
        total += (y - mean) * (y - mean);
    }
    if (total > 0.0)
        r2 = 1.0 - residual / total;
done:
    free(a);
    free(w);
    return r2;
}
