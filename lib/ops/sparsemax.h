/* Sparsemax (Martins & Astudillo 2016): the Euclidean projection of each
 * row of scores onto the probability simplex, P = max(S - tau, 0) with tau
 * chosen so the row sums to 1.  Unlike softmax it gives exact zeros.
 *
 * Scores S are [batch, rows_per_sample, cols]: the WSA attention of
 * MODEL.md 2.1 has one row per text token and one column per frame, and all
 * rows of sample b share its frame count lengths[b].  Columns >= lengths[b]
 * are excluded: their output is exactly 0 and they receive no gradient.  A
 * sample with length 0 outputs rows of zeros.  For an independent count per
 * row, pass rows_per_sample = 1 and batch = the number of rows.
 * lengths may be NULL, meaning every column is valid.
 *
 * Plain C, parallel over rows; each row is computed by one thread in a fixed
 * order, so results do not depend on the thread count.  Follows the op
 * convention of ops/linear.h (backward adds, NULL gradient skips). */
#ifndef MIRD_OPS_SPARSEMAX_H
#define MIRD_OPS_SPARSEMAX_H

#include <stdint.h>

#include "dnnl/context.h"

/* P[batch, rows_per_sample, cols] = sparsemax of each row of S over its first
 * lengths[b] columns (all of P is written, zeros included).  P is all the
 * backward needs: the support is P > 0.
 * Errors: MIRD_ERR_INVALID_ARGUMENT for a negative size,
 * MIRD_ERR_NULL_ARGUMENT for a missing S or P, MIRD_ERR_SHAPE for a length
 * outside 0..cols, MIRD_ERR_OUT_OF_MEMORY if the context's scratch cannot
 * hold one row of doubles per thread. */
mird_status mird_sparsemax_forward(mird_dnnl *ctx, const float *S, float *P, int64_t batch,
                                   int64_t rows_per_sample, int64_t cols,
                                   const int32_t *lengths);

/* dS += mask * (dP - mean of dP over the row's support), with mask = P > 0,
 * from the forward's output P.  dS may be NULL (nothing to do).  Same sizes,
 * lengths and errors as the forward (but needs no scratch). */
mird_status mird_sparsemax_backward(mird_dnnl *ctx, const float *P, const float *dP, float *dS,
                                    int64_t batch, int64_t rows_per_sample, int64_t cols,
                                    const int32_t *lengths);

#endif
