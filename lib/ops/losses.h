/* The regression and reconstruction losses (MODEL.md sections 2.4 and 3).
 *
 * Every loss forward writes its value as a double to *loss and, through
 * *counted (may be NULL), how many samples entered the mean.  counted = 0
 * means the term is absent: *loss is 0, the backward adds nothing, and the
 * caller omits the term (the `log` total cannot take log(0)).
 *
 * Every backward takes the upstream gradient g of the scalar and adds
 * g * dLoss/dinput into each gradient buffer it is given (NULL skips it),
 * following the op convention of ops/linear.h.  The backward recomputes what
 * it needs from the same inputs, so it must see the forward's arguments.
 *
 * Sequences are [B, T, ...] with int32 lengths n_b.  With mask_padding != 0
 * sample b contributes its steps t < n_b and counts when n_b > 0.  With
 * mask_padding = 0 (the released code's behaviour) every sample contributes
 * all T steps and counts when T > 0; lengths are then ignored and may be
 * NULL. */
#ifndef MIRD_OPS_LOSSES_H
#define MIRD_OPS_LOSSES_H

#include <stdint.h>

#include "dnnl/context.h"

/* Task loss: the mean of (pred_i - label_i)^2 over the labeled samples.
 * pred and label are [n]; labeled[i] != 0 marks sample i as labeled, and
 * labeled = NULL means every sample is.  Unlabeled labels are never read, so
 * they may hold anything (NaN included). */
mird_status mird_task_mse_forward(mird_dnnl *ctx, const float *pred, const float *label,
                                  const uint8_t *labeled, int64_t n, double *loss,
                                  int64_t *counted);

/* dpred[i] += g * 2 (pred_i - label_i) / counted for labeled i. */
mird_status mird_task_mse_backward(mird_dnnl *ctx, const float *pred, const float *label,
                                   const uint8_t *labeled, int64_t n, double g, float *dpred);

/* Reconstruction MSE: pred and target [B, T, d]; for each counted sample the
 * mean of (pred - target)^2 over its steps and all d features, then the mean
 * over the counted samples. */
mird_status mird_sequence_mse_forward(mird_dnnl *ctx, const float *pred, const float *target,
                                      const int32_t *lengths, int64_t B, int64_t T, int64_t d,
                                      int mask_padding, double *loss, int64_t *counted);

/* dpred += g dLoss/dpred and dtarget += g dLoss/dtarget (= -that); either
 * may be NULL.  Steps a sample does not contribute receive nothing. */
mird_status mird_sequence_mse_backward(mird_dnnl *ctx, const float *pred, const float *target,
                                       const int32_t *lengths, int64_t B, int64_t T, int64_t d,
                                       int mask_padding, double g, float *dpred,
                                       float *dtarget);

/* Reconstruction cross-entropy for TOKENS text: logits [B, T, V], target ids
 * [B, T]; per counted sample the mean over its positions of
 * -log softmax(logits[b, t])[ids[b, t]], then the mean over counted samples.
 * Ids at the positions that contribute must lie in [0, V); the others are
 * never read.
 *
 * Rows are exponentiated in float (a vectorised exp good to a few ulps) and
 * summed in double.
 *
 * log_norm (may be NULL) receives the log-sum-exp of each contributing row
 * [B, T] (other entries are left alone), which the backward reuses to skip a
 * pass over the logits. */
mird_status mird_sequence_cross_entropy_forward(mird_dnnl *ctx, const float *logits,
                                                const int32_t *ids, const int32_t *lengths,
                                                int64_t B, int64_t T, int64_t V,
                                                int mask_padding, double *loss,
                                                int64_t *counted, float *log_norm);

/* dlogits[b, t] += g * w_b * (softmax(logits[b, t]) - onehot(ids[b, t])) with
 * w_b = 1 / (counted * steps_b).  log_norm is the forward's output for the
 * same logits, or NULL to recompute it. */
mird_status mird_sequence_cross_entropy_backward(mird_dnnl *ctx, const float *logits,
                                                 const int32_t *ids, const int32_t *lengths,
                                                 int64_t B, int64_t T, int64_t V,
                                                 int mask_padding, const float *log_norm,
                                                 double g, float *dlogits);

#endif
