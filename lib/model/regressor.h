/* The regressor (MODEL.md 2.5):
 *   y = fc2(Dropout_p_reg(ReLU(fc1(x)))),  x = [z^S; z^L; z^A; z^V]  [B, 4z]
 *
 * The module pattern every lib/model module follows:
 *  - *_register: add the module's tensors to the parameter table, keep indices;
 *  - *_plan: reserve the activations of one pass in the workspace arena (the
 *    same call plans and, once the arena is committed, hands out pointers);
 *  - *_forward / *_backward: like ops, backward adds into the input gradient
 *    and the parameter gradients in the table. */
#ifndef MIRD_MODEL_REGRESSOR_H
#define MIRD_MODEL_REGRESSOR_H

#include "model/pass.h"

typedef struct mird_regressor {
    int fc1_weight, fc1_bias, fc2_weight, fc2_bias;
    int64_t in, hidden;
} mird_regressor;

typedef struct mird_regressor_acts {
    float *hidden;  /* [B, r] ReLU(fc1(x)) (ReLU's backward reads its output) */
    float *dropped; /* [B, r] after dropout */
    float *mask;    /* [B, r] dropout multipliers */
    float *d_hidden, *d_dropped; /* gradients, same shapes */
} mird_regressor_acts;

void mird_regressor_register(mird_regressor *m, mird_param_table *t, int64_t in, int64_t hidden);
void mird_regressor_plan(const mird_regressor *m, mird_arena *ws, int64_t batch,
                         mird_regressor_acts *a);
/* pred [B] */
mird_status mird_regressor_forward(const mird_regressor *m, const mird_pass *pass,
                                   const float *x, mird_regressor_acts *a, float *pred);
/* dx [B, 4z] += ...; d_pred [B]. */
mird_status mird_regressor_backward(const mird_regressor *m, const mird_pass *pass,
                                    const float *x, mird_regressor_acts *a, const float *d_pred,
                                    float *dx);

#endif
