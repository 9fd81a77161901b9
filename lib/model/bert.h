/* The BERT stack of a transformer encoder (MODEL.md 2.1 steps 3-4, 2.2):
 * N post-LayerNorm layers, the pooler and the projection to the code,
 *
 *   h   = LN(x + Drop(attention.output.dense(MHA(x))))
 *   out = LN(h + Drop(output.dense(GELU_erf(intermediate.dense(h)))))
 *   z   = proj(Drop_p_proj(tanh(pooler.dense(out[:, 0]))))
 *
 * LN eps 1e-12, n_heads heads with keys j >= lengths[b] masked, dropout p_h
 * on the attention probabilities and on both residual branches (sites
 * MIRD_SITE_BERT_BASE + 3 * (stack * 64 + layer) + {0, 1, 2}), p_proj before
 * the projection (MIRD_SITE_AGNOSTIC_POOLED / MIRD_SITE_LANGUAGE_POOLED).
 * Tensors `<prefix>.encoder.layer.{i}.*` and `<prefix>.pooler.dense.*` named
 * and initialised as Hugging Face's BertModel; `<prefix>.proj` is PyTorch's
 * default Linear (U(+-1/sqrt(H))).
 *
 * The stack is separate from its embedding (model/text_embedding.h) so that
 * the agnostic encoder can put WSA between them.  Follows the module pattern
 * of model/regressor.h. */
#ifndef MIRD_MODEL_BERT_H
#define MIRD_MODEL_BERT_H

#include "model/text_embedding.h"

/* The dropout site numbering leaves room for 64 layers per stack. */
#define MIRD_BERT_MAX_LAYERS 64

/* Parameter indices of one layer. */
typedef struct mird_bert_layer {
    int query_weight, query_bias, key_weight, key_bias, value_weight, value_bias;
    int attention_dense_weight, attention_dense_bias, attention_norm_weight, attention_norm_bias;
    int intermediate_weight, intermediate_bias;
    int output_dense_weight, output_dense_bias, output_norm_weight, output_norm_bias;
} mird_bert_layer;

typedef struct mird_bert {
    mird_text_stack stack;
    int64_t text_length, hidden, heads, ffn, latent;
    int layers;
    mird_bert_layer layer[MIRD_BERT_MAX_LAYERS];
    int pooler_weight, pooler_bias, proj_weight, proj_bias;
} mird_bert;

/* What one layer's forward keeps for its backward; [B, T, H] unless said. */
typedef struct mird_bert_layer_acts {
    float *query, *key, *value, *context;
    float *attention;          /* the attention op's saved probabilities */
    float *attention_keep;     /* [B, heads, T, T] probability dropout multipliers */
    float *attention_sum;      /* x + Drop(dense(context)), before the LayerNorm */
    float *attention_mask;     /* its dropout multipliers */
    float *attention_mean, *attention_variance; /* [B * T] */
    float *hidden;             /* h */
    float *intermediate;       /* [B, T, d_ff] before GELU */
    float *activated;          /* [B, T, d_ff] after GELU */
    float *output_sum, *output_mask;            /* h + Drop(...), multipliers */
    float *output_mean, *output_variance;       /* [B * T] */
    float *out;
} mird_bert_layer_acts;

typedef struct mird_bert_acts {
    int64_t batch; /* the batch the buffers were planned for */
    mird_bert_layer_acts layer[MIRD_BERT_MAX_LAYERS];
    float *first;     /* [B, H] out[:, 0] of the last layer */
    float *pooled;    /* [B, H] tanh(pooler.dense(first)) */
    float *dropped;   /* [B, H] after the projection's dropout */
    float *proj_mask; /* [B, H] its multipliers */
    /* Backward transients: [B, H] for the head, [B, T, H] for the layers,
     * [B, T, max(d_ff, H)] for the feed-forward gradients (which the key and
     * value gradients reuse). */
    float *d_head[3];
    float *d_layer[3];
    float *d_wide[2];
} mird_bert_acts;

/* Registers `<prefix>.encoder.layer.{i}.*`, `<prefix>.pooler.dense.*` and
 * `<prefix>.proj.*` in MODEL.md section 9's order; sizes from cfg (T_l, H,
 * layers <= 64, heads dividing H, d_ff, z). */
void mird_bert_register(mird_bert *m, mird_param_table *t, const mird_config *cfg,
                        mird_text_stack stack);
void mird_bert_plan(const mird_bert *m, mird_arena *ws, int64_t batch, mird_bert_acts *a);

/* z [B, z] from x [B, T_l, H] (the embedding, or WSA's output) and the
 * effective lengths [B] in 1..T_l (mird_text_embedding_acts.lengths: a
 * length-0 text runs as length 1).  x must stay unchanged until the backward.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_SHAPE for a batch above the planned
 * one, MIRD_ERR_INVALID_ARGUMENT for a length outside 1..T_l. */
mird_status mird_bert_forward(const mird_bert *m, const mird_pass *pass, const float *x,
                              const int32_t *lengths, mird_bert_acts *a, float *z);

/* dx [B, T_l, H] += dL/dx (NULL skips it) and every parameter gradient of
 * the stack += into the table, from dz [B, z]; same pass and x as the
 * forward. */
mird_status mird_bert_backward(const mird_bert *m, const mird_pass *pass, const float *x,
                               mird_bert_acts *a, const float *dz, float *dx);

#endif
