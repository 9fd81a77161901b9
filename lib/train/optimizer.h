/* Optimizers, schedules and gradient clipping (MODEL.md section 4).
 *
 * Both optimizers walk one contiguous group of the parameter table, with
 * moments laid out like the values.  Arithmetic follows the reference
 * implementations operation by operation in float32, so that a step here and
 * a step in the PyTorch port agree to rounding:
 *  - AdamW as transformers 3.x: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *    p -= lr sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps); then, where decay
 *    applies, p -= lr * wd * p.
 *  - Adam as torch.optim.Adam: p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * Every loop is element-wise, so results do not depend on the thread count. */
#ifndef MIRD_TRAIN_OPTIMIZER_H
#define MIRD_TRAIN_OPTIMIZER_H

#include "model/params.h"

typedef enum mird_update_rule { MIRD_RULE_ADAMW_HF, MIRD_RULE_ADAM_TORCH } mird_update_rule;

typedef struct mird_adam_settings {
    mird_update_rule rule;
    double lr;
    double beta1, beta2, eps;
    double weight_decay; /* AdamW only; per-tensor `decay` flag decides */
} mird_adam_settings;

/* One update of every tensor of `group`; `step` counts from 1. */
void mird_adam_update(mird_param_table *table, mird_param_group group, float *m, float *v,
                      long long step, const mird_adam_settings *settings);

/* The learning-rate multiplier before update number `step` (from 0):
 * constant 1, or linear warm-up over warmup_fraction * total_steps then
 * linear decay to 0 at total_steps (transformers' linear schedule). */
double mird_schedule_factor(int linear, double warmup_fraction, long long total_steps,
                            long long step);

/* The L2 norm of the group's gradients, summed in a fixed order (so the same
 * whatever the thread count). */
double mird_grad_norm(const mird_param_table *table, mird_param_group group);

/* Scales the group's gradients by max_norm / (norm + 1e-6) when that is
 * below 1 (torch.nn.utils.clip_grad_norm_); returns the norm before. */
double mird_clip_grad_norm(mird_param_table *table, mird_param_group group, double max_norm);

#endif
