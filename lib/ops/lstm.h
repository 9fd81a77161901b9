/* One-layer unidirectional LSTMs on oneDNN's LSTM primitive (MODEL.md 2.3, 2.4).
 *
 * PyTorch's equations, gate order (i, f, g, o) and weight layout at the
 * boundary: W_ih [4H, in], W_hh [4H, H], b_ih [4H], b_hh [4H], with
 * h0 = c0 = 0.  Sequences are batch-major: x [B, T, in], h_all [B, T, H].
 *
 *   i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)   f, o alike
 *   g = tanh(W_ig x + b_ig + W_hg h + b_hg)
 *   c' = f * c + i * g,   h' = o * tanh(c')
 *
 * Training: the forward writes a workspace that the backward reads; its size
 * comes from the *_workspace_bytes queries (0 for an empty batch or no steps)
 * so the caller can place it, 64-byte aligned, in its activation arena.  A
 * NULL workspace runs the forward in inference mode.  Primitives and the
 * weight reorders are cached per shape; transient buffers come from the
 * context's scratch.  The backward also needs the forward's inputs, weights
 * and output (h_all) unchanged.  It follows lib/ops/linear.h: it adds into
 * every gradient it is given and skips NULL ones (with none it does nothing
 * and needs no workspace). */
#ifndef MIRD_OPS_LSTM_H
#define MIRD_OPS_LSTM_H

#include <stddef.h>
#include <stdint.h>

#include "dnnl/context.h"

typedef struct mird_lstm_shape {
    int64_t batch, steps, in, hidden;
} mird_lstm_shape;

/* PyTorch-layout parameters; a NULL bias counts as zeros. */
typedef struct mird_lstm_weights {
    const float *W_ih, *W_hh, *b_ih, *b_hh;
} mird_lstm_weights;

/* Their gradients, same layout; NULL skips. */
typedef struct mird_lstm_grads {
    float *W_ih, *W_hh, *b_ih, *b_hh;
} mird_lstm_grads;

/* Encoder form: h_all = LSTM(x) over all T steps of the padded batch. */
mird_status mird_lstm_workspace_bytes(mird_dnnl *ctx, mird_lstm_shape shape, size_t *bytes);

mird_status mird_lstm_forward(mird_dnnl *ctx, mird_lstm_shape shape, const float *x,
                              const mird_lstm_weights *w, float *h_all, void *workspace);

/* dx [B, T, in] += dL/dx and the parameter gradients +=, given
 * dh_all [B, T, H] = dL/dh_all.  Any of dx and grads' members may be NULL. */
mird_status mird_lstm_backward(mird_dnnl *ctx, mird_lstm_shape shape, const float *x,
                               const mird_lstm_weights *w, const float *h_all,
                               const void *workspace, const float *dh_all, float *dx,
                               const mird_lstm_grads *grads);

/* The last valid step: out[b] = h_all[b, lengths[b] - 1], zeros when
 * lengths[b] == 0.  A negative length is MIRD_ERR_INVALID_ARGUMENT, one beyond
 * steps MIRD_ERR_SHAPE, each with a message naming the sample. */
mird_status mird_lstm_last_valid_forward(mird_dnnl *ctx, const float *h_all,
                                         const int32_t *lengths, float *out, int64_t batch,
                                         int64_t steps, int64_t hidden);

/* dh_all[b, lengths[b] - 1] += dout[b]; nothing for a zero length. */
mird_status mird_lstm_last_valid_backward(mird_dnnl *ctx, const int32_t *lengths,
                                          const float *dout, float *dh_all, int64_t batch,
                                          int64_t steps, int64_t hidden);

/* Decoder form, an LSTM(D->D) fed its own output: x_0 = u [B, D] and
 * x_t = h_{t-1}, for `steps` steps; h_all [B, steps, D].  This equals a
 * standard LSTM over [u, 0, 0, ...] with input weights W_ih and recurrent
 * weights W_ih + W_hh (MODEL.md 2.4).  It runs as two oneDNN LSTMs, so that
 * no work goes into the zero inputs: step 0 on u, then steps 1.. from that
 * state with a one-wide zero input.  The workspace also keeps the state
 * passed between them. */
mird_status mird_lstm_decoder_workspace_bytes(mird_dnnl *ctx, int64_t batch, int64_t steps,
                                              int64_t dim, size_t *bytes);

mird_status mird_lstm_decoder_forward(mird_dnnl *ctx, int64_t batch, int64_t steps,
                                      int64_t dim, const float *u, const mird_lstm_weights *w,
                                      float *h_all, void *workspace);

/* du [B, D] += dL/du and the parameter gradients +=, given dh_all. */
mird_status mird_lstm_decoder_backward(mird_dnnl *ctx, int64_t batch, int64_t steps,
                                       int64_t dim, const float *u,
                                       const mird_lstm_weights *w, const float *h_all,
                                       const void *workspace, const float *dh_all, float *du,
                                       const mird_lstm_grads *grads);

#endif
