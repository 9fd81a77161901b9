/* The core of BERT's multi-head self-attention (MODEL.md 2.1 step 3),
 * between the Q, K, V projections and the output projection:
 *
 *   S = Q K^T / sqrt(head_dim)          per sample and head
 *   P = softmax over keys, keys j >= lengths[b] masked (probability exactly 0)
 *   P' = P * keep                       attention dropout, optional
 *   C = P' V
 *
 * Q, K, V and C are [batch, tokens, heads * head_dim] row-major, head h in
 * columns h * head_dim .. (h + 1) * head_dim - 1 (BERT's layout).  The
 * products run as oneDNN matmuls over strided views of that layout, with no
 * transposition copies.  Queries at padded positions are computed like any
 * other (they are ignored downstream); a sample with length 0 gets a zero
 * context.  Follows the op convention of ops/linear.h. */
#ifndef MIRD_OPS_ATTENTION_H
#define MIRD_OPS_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "dnnl/context.h"

typedef struct mird_attention_shape {
    int64_t batch, tokens, heads, head_dim;
} mird_attention_shape;

/* Floats the forward saves for the backward: the probabilities P
 * [batch, heads, tokens, tokens], followed with dropout by P' of the same
 * size.  0 if the shape has a negative size or overflows. */
size_t mird_attention_saved_floats(mird_attention_shape shape, int with_dropout);

/* context = attention of (q, k, v), overwritten.  `lengths` holds one key
 * count per sample in 0..tokens, or is NULL for no mask.  `keep` is the
 * dropout multiplier [batch, heads, tokens, tokens] (each 0 or 1 / (1 - p)),
 * or NULL for no dropout; the backward must be given the same one.  `saved`
 * holds mird_attention_saved_floats(shape, keep != NULL) floats.
 * Errors: MIRD_ERR_INVALID_ARGUMENT for a negative size or a length outside
 * 0..tokens (nothing is written then). */
mird_status mird_attention_forward(mird_dnnl *ctx, mird_attention_shape shape, const float *q,
                                   const float *k, const float *v, const int32_t *lengths,
                                   const float *keep, float *context, float *saved);

/* dq += dS K / sqrt(head_dim), dk += dS^T Q / sqrt(head_dim), dv += P'^T dC,
 * where dS is the softmax backward of dC V^T * keep.  Takes the forward's
 * inputs, keep and saved buffer unchanged; the mask is carried by the saved
 * probabilities' zeros.  Any of dq, dk, dv may be NULL. */
mird_status mird_attention_backward(mird_dnnl *ctx, mird_attention_shape shape, const float *q,
                                    const float *k, const float *v, const float *keep,
                                    const float *saved, const float *dcontext, float *dq,
                                    float *dk, float *dv);

#endif
