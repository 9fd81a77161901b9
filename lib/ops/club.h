/* CLUB mutual-information upper bounds (Cheng et al., ICML 2020), MODEL.md 2.6.
 *
 * Inputs are the estimator network's Gaussian q(y|x) over N rows: mu [N, d]
 * and logvar [N, d] (that network is built by the model from linear, relu and
 * tanh ops), and the codes y [N, d].  Write s_id = 1 / (2 exp(logvar_id)).
 *
 * vCLUB estimate (mird_club_*):
 *   I = 1/N sum_i sum_d s_id [ -(mu_id - y_id)^2 + 1/N sum_j (y_jd - mu_id)^2 ]
 * where the inner mean is taken as mean(y_d^2) - 2 mu_id mean(y_d) + mu_id^2,
 * so the cost is O(N d) rather than O(N^2 d).
 *
 * Sampled estimate (mird_club_sample_*, the paper's CLUBSample): one negative
 * y_{k_i} per row, k = `negatives` supplied by the caller (a random
 * permutation in the authors' code; any indices in [0, N) are accepted, as the
 * paper draws k_i uniformly with replacement):
 *   I_s = 1/N sum_i sum_d s_id [ -(mu_id - y_id)^2 + (mu_id - y_{k_i, d})^2 ]
 *
 * Learning loss of the estimator (negative unnormalised log-likelihood):
 *   Lq = 1/N sum_i sum_d [ (mu_id - y_id)^2 / exp(logvar_id) + logvar_id ]
 *
 * Forwards write the value as a double; N = 0 gives 0.  Backwards add
 * g * dValue/dinput into dmu, dlogvar, dy, each of which may be NULL (the
 * model passes dy for the estimate, whose gradient flows into the codes, and
 * usually not for the learning loss, which trains on detached codes).
 * They follow the op convention of ops/linear.h. */
#ifndef MIRD_OPS_CLUB_H
#define MIRD_OPS_CLUB_H

#include <stdint.h>

#include "dnnl/context.h"

mird_status mird_club_forward(mird_dnnl *ctx, const float *mu, const float *logvar,
                              const float *y, int64_t N, int64_t d, double *estimate);
mird_status mird_club_backward(mird_dnnl *ctx, const float *mu, const float *logvar,
                               const float *y, int64_t N, int64_t d, double g, float *dmu,
                               float *dlogvar, float *dy);

/* negatives [N] int32, each in [0, N). */
mird_status mird_club_sample_forward(mird_dnnl *ctx, const float *mu, const float *logvar,
                                     const float *y, const int32_t *negatives, int64_t N,
                                     int64_t d, double *estimate);
mird_status mird_club_sample_backward(mird_dnnl *ctx, const float *mu, const float *logvar,
                                      const float *y, const int32_t *negatives, int64_t N,
                                      int64_t d, double g, float *dmu, float *dlogvar,
                                      float *dy);

mird_status mird_club_learning_loss_forward(mird_dnnl *ctx, const float *mu, const float *logvar,
                                            const float *y, int64_t N, int64_t d,
                                            double *loss);
mird_status mird_club_learning_loss_backward(mird_dnnl *ctx, const float *mu,
                                             const float *logvar, const float *y, int64_t N,
                                             int64_t d, double g, float *dmu, float *dlogvar,
                                             float *dy);

#endif
