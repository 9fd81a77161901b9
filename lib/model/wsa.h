/* The WSA fusion of the agnostic encoder (MODEL.md 2.1 step 2): the text
 * embedding E [B, T_l, H] attends sparsely over the audio and visual frames
 * and is shifted by a gated mix of what it found, then normalised:
 *
 *   for m in {audio, visual}:
 *     S^m = E K^mT,  K^m = key_m(X^m)          [B, T_l, T_m], frames >= n_m out
 *     P^m = sparsemax(S^m) per row;  X~^m = P^m X^m              [B, T_l, d_m]
 *     g^m = ReLU(gate_m([X~^m ; E]));  s^m = shift_m(X~^m)           [B, T_l, H]
 *   Hs = g^a * s^a + g^v * s^v;  y = alpha * Hs + E  (MAG, ops/mag.h)
 *   F = Dropout_p_wsa(LayerNorm(y))
 *
 * How it is computed (exactly the same function, fewer operations):
 *  - The keys are never formed.  S = E (X W_k^T + b_k)^T = (E W_k) X^T
 *    + (E b_k) 1^T: the product is taken as Q = E W_k [B, T_l, d_m] and then
 *    Q X^T, which for d_m << H is far cheaper than building K [B, T_m, H].
 *    The bias term adds the same value E_t . b_k to every score of row t, and
 *    sparsemax is invariant to such a shift, so it changes neither P nor
 *    anything after it: it is left out, and key_*.bias receives an exact zero
 *    gradient (the true one; autograd would give rounding noise).
 *  - The gate's input [X~ ; E] is not materialised: its weight is read as
 *    two column blocks, g = X~ W_gx^T + E W_ge^T + b_g, through strided views.
 *  - A sample with n_m = 0 has P = 0 and X~ = 0, so the Linear alone would
 *    give s^m = shift bias.  MODEL.md wants s^m = 0: after the Linear the
 *    sample's rows of s^m are set to zero, and in the backward its rows of
 *    ds^m are dropped before the Linear's backward, so the bias neither leaks
 *    into the output nor takes gradient from such a sample (nor does the
 *    gate, whose gradient is dHs * s^m = 0 there).
 *
 * Follows the module pattern of model/regressor.h (register, plan, forward,
 * backward; the backward adds into dE and into the parameter gradients).
 * The frames X^m are data: they receive no gradient, but the backward reads
 * them again.  Padded frames (j >= n_m) may hold any finite values. */
#ifndef MIRD_MODEL_WSA_H
#define MIRD_MODEL_WSA_H

#include "model/pass.h"

typedef enum mird_wsa_modality {
    MIRD_WSA_AUDIO = 0,
    MIRD_WSA_VISUAL = 1,
    MIRD_WSA_MODALITIES = 2
} mird_wsa_modality;

typedef struct mird_wsa_branch {
    int key_weight, key_bias, gate_weight, gate_bias, shift_weight, shift_bias;
    int64_t frames, dim; /* T_m, d_m */
} mird_wsa_branch;

typedef struct mird_wsa {
    mird_wsa_branch branch[MIRD_WSA_MODALITIES];
    int norm_weight, norm_bias;
    int64_t text_length, hidden; /* T_l, H */
} mird_wsa;

typedef struct mird_wsa_inputs {
    const float *text;                            /* E [B, T_l, H] */
    const float *frames[MIRD_WSA_MODALITIES];     /* X^m [B, T_m, d_m] */
    const int32_t *lengths[MIRD_WSA_MODALITIES];  /* n_m [B], each in 0..T_m */
} mird_wsa_inputs;

/* Kept per modality for the backward. */
typedef struct mird_wsa_branch_acts {
    float *probs; /* P [B, T_l, T_m] */
    float *mixed; /* X~ [B, T_l, d_m] */
    float *gate;  /* g [B, T_l, H], after the ReLU (its backward reads it) */
    float *shift; /* s [B, T_l, H], zero rows for n_m = 0 */
} mird_wsa_branch_acts;

typedef struct mird_wsa_acts {
    mird_wsa_branch_acts branch[MIRD_WSA_MODALITIES];
    float *combined;         /* Hs [B, T_l, H] */
    float *alpha, *norms;    /* MAG: [B*T_l], [B*T_l*MIRD_MAG_NORMS_PER_ROW] */
    float *shifted;          /* y = alpha Hs + E */
    float *ln_mean, *ln_var; /* [B*T_l] */
    float *normed;           /* LayerNorm(y) */
    float *mask;             /* dropout multipliers [B, T_l, H] */
    /* Shared by the two modalities, which run one after the other; sized
     * for the larger T_m and d_m.  `scores` holds S in the forward and dS in
     * the backward; `query` holds Q, then dQ. */
    float *query, *scores, *d_probs, *d_mixed, *d_gate, *d_shift;
    float *d_combined, *d_shifted, *d_normed; /* [B, T_l, H] */
} mird_wsa_acts;

/* Registers agnostic.wsa.{key,gate,shift}_{a,v}.{weight,bias} (PyTorch's
 * Linear init) and agnostic.wsa.LayerNorm.{weight,bias} (1 and 0), with the
 * sizes T_l, H, T_a, d_a, T_v, d_v of the configuration. */
void mird_wsa_register(mird_wsa *m, mird_param_table *t, const mird_config *cfg);
void mird_wsa_plan(const mird_wsa *m, mird_arena *ws, int64_t batch, mird_wsa_acts *a);

/* out = F [B, T_l, H].  Errors: MIRD_ERR_NULL_ARGUMENT for a missing input,
 * MIRD_ERR_SHAPE for a length outside 0..T_m, MIRD_ERR_INVALID_ARGUMENT for a
 * negative batch, and those of the ops. */
mird_status mird_wsa_forward(const mird_wsa *m, const mird_pass *pass, const mird_wsa_inputs *in,
                             mird_wsa_acts *a, float *out);

/* From d_out = dF [B, T_l, H] after a training forward with the same inputs:
 * d_text [B, T_l, H] += dF/dE (NULL skips it) and the parameter gradients in
 * the table +=.  Same errors as the forward. */
mird_status mird_wsa_backward(const mird_wsa *m, const mird_pass *pass,
                              const mird_wsa_inputs *in, mird_wsa_acts *a, const float *d_out,
                              float *d_text);

#endif
