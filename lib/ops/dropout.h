/* Inverted dropout from the counter-based generator of core/rng.h.
 *
 * Element i is kept with probability 1 - p, decided by element `first + i`
 * of the stream (seed, purpose, step): keep iff its uniform u < 1 - p.  So a
 * mask is a pure function of (seed, purpose, step, index), the same whatever
 * the thread count or the way a tensor is cut into pieces, and a fresh step
 * gives a fresh mask.  The mask is stored as multipliers, 0 or 1 / (1 - p),
 * which is both what the backward needs and the form the attention op takes
 * its probability dropout in.  p = 0 is the identity (every multiplier 1).
 *
 * Errors (MIRD_ERR_INVALID_ARGUMENT): p outside [0, 1) or NaN, negative n. */
#ifndef MIRD_OPS_DROPOUT_H
#define MIRD_OPS_DROPOUT_H

#include <stdint.h>

#include "core/rng.h"
#include "dnnl/context.h"

/* multipliers[i] = 0 or 1 / (1 - p) for stream elements first .. first+n-1. */
mird_status mird_dropout_multipliers(mird_dnnl *ctx, const mird_rng_stream *stream,
                                     uint64_t first, float p, float *multipliers, int64_t n);

/* y[n] = x * multiplier with fresh multipliers from elements 0 .. n-1 of the
 * stream, stored in mask[n] for the backward; mask may be NULL when no
 * backward follows.  y == x is allowed. */
mird_status mird_dropout_forward(mird_dnnl *ctx, const mird_rng_stream *stream, float p,
                                 const float *x, float *y, float *mask, int64_t n);

/* dx[n] += dy * mask; dx NULL does nothing. */
mird_status mird_dropout_backward(mird_dnnl *ctx, const float *mask, const float *dy,
                                  float *dx, int64_t n);

#endif
