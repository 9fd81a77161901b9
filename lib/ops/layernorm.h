/* Layer normalization over the last dimension, PyTorch's LayerNorm:
 *   y[r, c] = (x[r, c] - mean_r) / sqrt(var_r + eps) * gamma[c] + beta[c]
 * with the biased variance var_r = mean over c of (x[r, c] - mean_r)^2.
 *
 * Follows the op convention of ops/linear.h (backward adds into every
 * gradient it is given; NULL skips it).  The forward and the input gradient
 * run on oneDNN's layer normalization primitive (dx via scratch, as oneDNN
 * overwrites).  dgamma and dbeta are plain C sums over fixed row chunks added
 * in chunk order: oneDNN's own reduces per-thread partial sums, and its bits
 * change with the thread count (checked on 2.6 at [7200, 128]).
 *
 * x and y must not overlap (the backward needs x). */
#ifndef MIRD_OPS_LAYERNORM_H
#define MIRD_OPS_LAYERNORM_H

#include <stdint.h>

#include "dnnl/context.h"

/* y[rows, channels] = LayerNorm(x) * gamma[channels] + beta[channels].
 * Training: mean and variance are both given ([rows] each) and receive the
 * row statistics the backward needs.  Inference: both NULL.
 * Errors: negative rows, channels < 1 (with rows > 0), eps not a finite
 * value > 0, or only one of mean/variance given. */
mird_status mird_layernorm_forward(mird_dnnl *ctx, const float *x, const float *gamma,
                                   const float *beta, float *y, float *mean, float *variance,
                                   int64_t rows, int64_t channels, float eps);

/* From the forward's x, gamma and saved statistics and dy[rows, channels]:
 * dx[rows, channels] += dL/dx;  dgamma[c] += sum_r dy * xhat;
 * dbeta[c] += sum_r dy.  Any of dx, dgamma, dbeta may be NULL. */
mird_status mird_layernorm_backward(mird_dnnl *ctx, const float *x, const float *gamma,
                                    const float *mean, const float *variance, const float *dy,
                                    float *dx, float *dgamma, float *dbeta, int64_t rows,
                                    int64_t channels, float eps);

#endif
