/* The recurrent encoders (MODEL.md 2.2 option `lstm`, 2.3):
 *   z^m = proj(h_{n-1}),  h = LSTM(x) over the padded batch,  h_{-1} = 0
 * for audio and visual, and for language when language_encoder = lstm (over
 * a learned token embedding in TOKENS mode).
 *
 * Tensors, as the reference port names and initialises them:
 *   <prefix>.embedding.weight [vocab, e]          TOKENS only, N(0, 1)
 *   <prefix>.lstm.{weight_ih_l0, weight_hh_l0,
 *                  bias_ih_l0, bias_hh_l0}        U(+-1/sqrt(z))
 *   <prefix>.proj.{weight, bias}                  Linear(z -> z), U(+-1/sqrt(z))
 * with prefix "language", "audio" or "visual".
 *
 * The module follows lib/model/regressor.h (register, plan, forward,
 * backward).  Because the LSTM is causal, running it over every padded
 * frame and gathering step n-1 is exact whatever the padding holds; the
 * backward injects the code's gradient at that step only.  Data inputs get
 * no gradient. */
#ifndef MIRD_MODEL_SEQUENCE_ENCODER_H
#define MIRD_MODEL_SEQUENCE_ENCODER_H

#include <stdint.h>

#include "model/pass.h"
#include "ops/lstm.h"

/* Which of the three sequences a recurrent module reads. */
typedef enum mird_sequence_kind {
    MIRD_SEQUENCE_LANGUAGE = 0,
    MIRD_SEQUENCE_AUDIO = 1,
    MIRD_SEQUENCE_VISUAL = 2
} mird_sequence_kind;

/* One padded sequence of a batch: float features [B, T, d] or (TOKENS text)
 * int32 ids [B, T], and lengths [B]. */
typedef struct mird_sequence_input {
    const float *features;
    const int32_t *ids;
    const int32_t *lengths;
} mird_sequence_input;

/* The sequence's name as in parameter names: "language", "audio", "visual". */
const char *mird_sequence_name(mird_sequence_kind kind);

/* The configuration's padded length T and feature width d of a sequence,
 * and whether it is given as token ids (language in TOKENS mode). */
int64_t mird_sequence_length(const mird_config *cfg, mird_sequence_kind kind);
int64_t mird_sequence_width(const mird_config *cfg, mird_sequence_kind kind);
int mird_sequence_is_tokens(const mird_config *cfg, mird_sequence_kind kind);

/* The four tensors of a PyTorch nn.LSTM (one layer), registered as
 * <prefix>.{weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0} with
 * nn.LSTM's initialisation; shared with the decoders. */
typedef struct mird_lstm_params {
    int W_ih, W_hh, b_ih, b_hh;
} mird_lstm_params;

void mird_lstm_params_register(mird_lstm_params *p, mird_param_table *t, const char *prefix,
                               int64_t in, int64_t hidden);
mird_lstm_weights mird_lstm_params_values(const mird_lstm_params *p, const mird_param_table *t);
mird_lstm_grads mird_lstm_params_grads(const mird_lstm_params *p, const mird_param_table *t);

typedef struct mird_sequence_encoder {
    int embedding; /* -1 when the input is features */
    mird_lstm_params lstm;
    int proj_weight, proj_bias;
    int64_t steps;  /* T, the padded length */
    int64_t in;     /* LSTM input width: d, or e over an embedding */
    int64_t vocab;  /* 0 for features */
    int64_t latent; /* z */
} mird_sequence_encoder;

typedef struct mird_sequence_encoder_acts {
    float *embedded; /* [B, T, e] the embedded tokens (TOKENS) */
    float *h_all;    /* [B, T, z] every step's hidden state */
    float *last;     /* [B, z] h at step n-1, zero for n = 0 */
    void *workspace; /* the LSTM's training workspace */
    /* Gradients; NULL in an inference plan. */
    float *d_embedded, *d_h_all, *d_last;
    int training; /* planned for training passes */
    int cached;   /* the last forward was a training forward */
} mird_sequence_encoder_acts;

/* Registers the encoder of `kind` with the configuration's sizes: the
 * length and width of that sequence, z, and for TOKENS language the
 * vocabulary and lstm_embedding_dim. */
void mird_sequence_encoder_register(mird_sequence_encoder *m, mird_param_table *t,
                                    const mird_config *cfg, mird_sequence_kind kind);

/* Reserves one pass's buffers in `ws` (pointers are NULL while planning).
 * training = 0 plans an inference-only encoder: no LSTM workspace, no
 * gradients.  The workspace size is a oneDNN query, hence ctx and a status. */
mird_status mird_sequence_encoder_plan(const mird_sequence_encoder *m, mird_dnnl *ctx,
                                       mird_arena *ws, int64_t batch, int training,
                                       mird_sequence_encoder_acts *a);

/* code [B, z].  A training pass (pass->training) needs a training plan and
 * keeps what the backward reads; otherwise the LSTM runs in inference mode. */
mird_status mird_sequence_encoder_forward(const mird_sequence_encoder *m, const mird_pass *pass,
                                          const mird_sequence_input *input,
                                          mird_sequence_encoder_acts *a, float *code);

/* Parameter gradients += from d_code [B, z], after a training forward on the
 * same input and parameters. */
mird_status mird_sequence_encoder_backward(const mird_sequence_encoder *m,
                                           const mird_pass *pass,
                                           const mird_sequence_input *input,
                                           mird_sequence_encoder_acts *a, const float *d_code);

#endif
