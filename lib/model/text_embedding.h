/* The text embedding of a transformer stack (MODEL.md 2.1 step 1, 2.2).
 *
 *   TOKENS:   E = Dropout_p_h(LN(word[id] + position[t] + token_type[0]))
 *   FEATURES: E = Dropout_p_h(LN(feature_proj(x) + position[t]))
 * LN eps 1e-12, position t uses row t of the table (padded positions too).
 * Tensors `<prefix>.embeddings.*`, prefix "agnostic" or "language", named
 * and initialised as Hugging Face's BertEmbeddings (N(0, 0.02) weights
 * including feature_proj, zero bias, LayerNorm 1/0).
 *
 * A text of length 0 (a missing language) runs as a text of length 1 whose
 * every position holds zeros (FEATURES) or id 0 (TOKENS), so position 0 is
 * a valid key for the stack's attention.  The forward therefore publishes
 * the effective lengths max(n, 1) in acts->lengths: the BERT stack (and
 * nothing else) masks with those.  The text is data: no gradient flows into
 * it.  Follows the module pattern of model/regressor.h. */
#ifndef MIRD_MODEL_TEXT_EMBEDDING_H
#define MIRD_MODEL_TEXT_EMBEDDING_H

#include "model/pass.h"

/* The two transformer stacks; the number is part of the dropout site ids. */
typedef enum mird_text_stack {
    MIRD_STACK_AGNOSTIC = 0, /* "agnostic": embedding, WSA, BERT -> z^S */
    MIRD_STACK_LANGUAGE = 1  /* "language": embedding, BERT -> z^L */
} mird_text_stack;

/* "agnostic" or "language". */
const char *mird_text_stack_prefix(mird_text_stack stack);

typedef struct mird_text_embedding {
    mird_text_stack stack;
    int tokens; /* TOKENS mode (else FEATURES) */
    int64_t text_length, text_dim, vocab, hidden;
    /* Parameter indices; -1 where the mode has no such tensor. */
    int word, token_type;                 /* TOKENS */
    int feature_weight, feature_bias;     /* FEATURES */
    int position, norm_weight, norm_bias; /* both */
} mird_text_embedding;

typedef struct mird_text_embedding_acts {
    int64_t batch;     /* the batch the buffers were planned for */
    int32_t *lengths;  /* [B] effective lengths max(n, 1): the stack's key mask */
    uint8_t *empty;    /* [B] 1 where the text had length 0 */
    int32_t *ids;      /* [B, T_l] TOKENS: the ids, zeros for a length-0 text */
    float *sum;        /* [B, T_l, H] before the LayerNorm */
    float *mean, *variance; /* [B * T_l] LayerNorm statistics */
    float *out;        /* [B, T_l, H] E, after dropout */
    float *mask;       /* [B, T_l, H] dropout multipliers */
    float *d_normed, *d_sum; /* gradients, [B, T_l, H] */
    float *position_sums;    /* [T_l, H] gradient summed over the batch */
} mird_text_embedding_acts;

/* Registers `<prefix>.embeddings.*` in MODEL.md section 9's order, sizes
 * from cfg (text mode, T_l, d_l, vocab, max_positions, H). */
void mird_text_embedding_register(mird_text_embedding *m, mird_param_table *t,
                                  const mird_config *cfg, mird_text_stack stack);
void mird_text_embedding_plan(const mird_text_embedding *m, mird_arena *ws, int64_t batch,
                              mird_text_embedding_acts *a);

/* acts->out = E and acts->lengths = max(lengths, 1) for pass->batch samples.
 * FEATURES: `features` [B, T_l, d_l] and ids NULL; TOKENS: `ids` [B, T_l] and
 * features NULL.  lengths [B] in 0..T_l.
 * Errors: MIRD_ERR_NULL_ARGUMENT for a missing input, MIRD_ERR_SHAPE for a
 * batch above the planned one, MIRD_ERR_INVALID_ARGUMENT for a length
 * outside 0..T_l or an id outside the vocabulary (nothing is computed). */
mird_status mird_text_embedding_forward(const mird_text_embedding *m, const mird_pass *pass,
                                        const float *features, const int32_t *ids,
                                        const int32_t *lengths, mird_text_embedding_acts *a);

/* From d_out [B, T_l, H] (the gradient of acts->out), adds the gradients of
 * every embedding parameter into the table.  `features` as given to the
 * forward (FEATURES; NULL in TOKENS), with the same pass. */
mird_status mird_text_embedding_backward(const mird_text_embedding *m, const mird_pass *pass,
                                         const float *features, mird_text_embedding_acts *a,
                                         const float *d_out);

/* Shared with model/bert.c: BERT parts as Hugging Face's _init_weights
 * makes them.  Linear: weight N(0, 0.02) [out, in], bias 0; LayerNorm:
 * weight 1, bias 0.  Return the weight's index, the bias's through
 * bias_index. */
#define MIRD_BERT_INIT_STD 0.02f
#define MIRD_BERT_TYPE_VOCAB 2 /* token-type rows (bert-base-uncased); row 0 used */
#define MIRD_BERT_LN_EPS 1e-12f
int mird_bert_add_linear(mird_param_table *t, const char *prefix, int64_t in, int64_t out,
                         int *bias_index);
int mird_bert_add_layernorm(mird_param_table *t, const char *prefix, int64_t width,
                            int *bias_index);

#endif
