/* The MAG combination of the WSA fusion (MODEL.md 2.1 step 2): per row t,
 *
 *   n_E = ||E_t||_2,  n_H = ||Hs_t||_2, with n_H taken as 1 when it is 0,
 *   thresh = (n_E / (n_H + 1e-6)) * beta,  alpha = min(thresh, 1),
 *   y_t = alpha * Hs_t + E_t.
 *
 * The LayerNorm and dropout that follow are separate ops.  The backward is
 * what PyTorch autograd gives for the released code: the gradient reaches
 * thresh (and so the two norms) only where thresh < 1, half of it at an
 * exact tie thresh == 1 (torch.min of two tensors splits a tie), and none
 * reaches ||Hs_t|| when it was 0 (torch.where picked the constant 1 there).
 * A zero ||E_t|| passes no gradient through the norm (PyTorch's norm
 * backward gives 0 at the origin).
 *
 * Plain C, parallel over rows, deterministic whatever the thread count.
 * Follows the op convention of ops/linear.h (backward adds, NULL skips). */
#ifndef MIRD_OPS_MAG_H
#define MIRD_OPS_MAG_H

#include <stdint.h>

#include "dnnl/context.h"

/* What the forward saves per row for the backward, in `norms`: ||E_t|| and
 * ||Hs_t|| (the latter as computed, before the 0 -> 1 replacement). */
#define MIRD_MAG_NORMS_PER_ROW 2

/* y[rows, width] = alpha * Hs + E, rowwise as above.  Saves alpha[rows] and
 * norms[rows * MIRD_MAG_NORMS_PER_ROW] for the backward.  y must not alias E
 * or Hs, which the backward reads again.
 * Errors: MIRD_ERR_INVALID_ARGUMENT for a negative size or a non-finite
 * beta, MIRD_ERR_NULL_ARGUMENT for a missing buffer. */
mird_status mird_mag_forward(mird_dnnl *ctx, const float *E, const float *Hs, float *y,
                             float *alpha, float *norms, int64_t rows, int64_t width,
                             float beta);

/* dE += dy + (gradient through ||E_t||);  dHs += alpha * dy + (gradient
 * through ||Hs_t||), from the forward's inputs, alpha, norms and the same
 * beta.  dE or dHs may be NULL.  Same errors as the forward. */
mird_status mird_mag_backward(mird_dnnl *ctx, const float *E, const float *Hs, const float *dy,
                              const float *alpha, const float *norms, float *dE, float *dHs,
                              int64_t rows, int64_t width, float beta);

#endif
