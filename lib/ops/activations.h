/* Element-wise activations on oneDNN's eltwise primitives: y = f(x) over n
 * elements, and dx += f'(x) * dy (the op convention of ops/linear.h).
 *
 * What the backward reads (mird_activation_backward_reads_output tells):
 *  - GELU (erf form, BERT's): the forward's INPUT x.  oneDNN has no
 *    output-based GELU derivative, so x must be kept, and an in-place GELU
 *    forward (y == x) is only for when no backward follows.
 *  - ReLU and tanh: the forward's OUTPUT y (1[y > 0] and 1 - y^2, cheaper
 *    than recomputing from x).  So the forward may run in place (y == x)
 *    and the caller keeps just that one buffer.
 * Otherwise x and y must not partially overlap. */
#ifndef MIRD_OPS_ACTIVATIONS_H
#define MIRD_OPS_ACTIVATIONS_H

#include <stdint.h>

#include "dnnl/context.h"

typedef enum mird_activation {
    MIRD_ACTIVATION_GELU_ERF = 0, /* 0.5 x (1 + erf(x / sqrt 2)) */
    MIRD_ACTIVATION_RELU = 1,     /* max(x, 0) */
    MIRD_ACTIVATION_TANH = 2
} mird_activation;

/* 1 if the backward's `saved` argument is the forward's output y, 0 if it is
 * the forward's input x; -1 for an unknown activation. */
int mird_activation_backward_reads_output(mird_activation activation);

/* y[n] = f(x[n]); y == x is allowed (see above).
 * Errors: unknown activation, negative n. */
mird_status mird_activation_forward(mird_dnnl *ctx, mird_activation activation,
                                    const float *x, float *y, int64_t n);

/* dx[n] += f'(x) * dy[n], with `saved` the forward's x or y as above.
 * dx NULL does nothing. */
mird_status mird_activation_backward(mird_dnnl *ctx, mird_activation activation,
                                     const float *saved, const float *dy, float *dx, int64_t n);

#endif
