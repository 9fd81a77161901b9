/* The orthogonality constraint `oc` (MODEL.md section 3): MISA's difference
 * loss between two codes A [N, ka] and B [N, kb] of the same batch.
 *
 *   Ac = A - column mean of A over the N rows       (likewise Bc)
 *   An_i = Ac_i / (||Ac_i||_2 + 1e-6) for each row i   (likewise Bn)
 *   loss = 1 / (ka kb) sum_jl (An^T Bn)_jl^2
 *
 * The backward differentiates through the centring and the row norms; with
 * detach_norm != 0 it treats the norms ||Ac_i|| as constants, as MISA's code
 * does (which lets the codes collapse to constants at large weights).  A row
 * whose centred norm is exactly 0 gets no gradient through its norm.
 *
 * The forward writes the loss as a double; N = 0 (or an empty code) gives 0.
 * The backward adds g * dloss/dA into dA and g * dloss/dB into dB, either of
 * which may be NULL, following the op convention of ops/linear.h. */
#ifndef MIRD_OPS_ORTHOGONALITY_H
#define MIRD_OPS_ORTHOGONALITY_H

#include <stdint.h>

#include "dnnl/context.h"

#define MIRD_ORTHOGONALITY_NORM_EPS 1e-6

mird_status mird_orthogonality_forward(mird_dnnl *ctx, const float *A, const float *B,
                                       int64_t N, int64_t ka, int64_t kb, double *loss);

mird_status mird_orthogonality_backward(mird_dnnl *ctx, const float *A, const float *B,
                                        int64_t N, int64_t ka, int64_t kb, int detach_norm,
                                        double g, float *dA, float *dB);

#endif
