/* The reconstruction decoders (MODEL.md 2.4) and their rec_m terms (section 3).
 *
 * For m in {language, audio, visual}: u = [z^S ; z^m] [B, 2z]; an
 * LSTM(2z -> 2z) fed x_0 = u, x_t = h_{t-1} runs T_m steps; out =
 * Linear(2z -> d_out) at every step; the loss compares out with the batch's
 * own sequence:
 *  - features (audio, visual, FEATURES text): MSE over each sample's valid
 *    steps and all features (ops/losses.h, mird_sequence_mse_*);
 *  - TOKENS text: d_out = vocab, cross-entropy against the ids
 *    (mird_sequence_cross_entropy_*);
 * per sample, then the mean over the samples that count (n_m > 0; every
 * sample with mask_padding = false).
 *
 * Tensors: decoder.<m>.lstm.{weight_ih_l0, weight_hh_l0, bias_ih_l0,
 * bias_hh_l0} (U(+-1/sqrt(2z))) and decoder.<m>.out.{weight, bias}
 * (nn.Linear's default).  Decoders are training-only; an inference pass
 * (pass->training = 0) computes the loss but keeps nothing for a backward. */
#ifndef MIRD_MODEL_DECODER_H
#define MIRD_MODEL_DECODER_H

#include <stdint.h>

#include "model/pass.h"
#include "model/sequence_encoder.h"

typedef struct mird_decoder {
    mird_lstm_params lstm;
    int out_weight, out_bias;
    int64_t steps;   /* T_m */
    int64_t latent;  /* z; the LSTM is 2z wide */
    int64_t out_dim; /* d_m, or the vocabulary for TOKENS text */
    int tokens;      /* cross-entropy against ids instead of MSE */
} mird_decoder;

typedef struct mird_decoder_acts {
    float *u;        /* [B, 2z] the concatenated codes */
    float *h_all;    /* [B, T, 2z] */
    float *out;      /* [B, T, d_out] reconstructions, or logits */
    float *log_norm; /* [B, T] each position's log-sum-exp (TOKENS) */
    void *workspace; /* the LSTM's training workspace */
    float *d_out, *d_h_all, *d_u;
    int64_t counted; /* samples in the last forward's loss */
    int cached;      /* the last forward was a training forward */
} mird_decoder_acts;

void mird_decoder_register(mird_decoder *m, mird_param_table *t, const mird_config *cfg,
                           mird_sequence_kind kind);

/* Reserves one training pass's buffers in `ws` (NULL while planning). */
mird_status mird_decoder_plan(const mird_decoder *m, mird_dnnl *ctx, mird_arena *ws,
                              int64_t batch, mird_decoder_acts *a);

/* code_s = z^S and code_m = z^m, each [B, z]; target is the modality's batch
 * input (ids for TOKENS text, else features) with its lengths.  Writes the
 * loss and, through `counted` (may be NULL), how many samples entered it:
 * 0 means the term is absent (loss 0) and the backward will do nothing.
 * mask_padding comes from the pass's configuration. */
mird_status mird_decoder_forward(const mird_decoder *m, const mird_pass *pass,
                                 const float *code_s, const float *code_m,
                                 const mird_sequence_input *target, mird_decoder_acts *a,
                                 double *loss, int64_t *counted);

/* Given g = d total / d loss, adds g * d loss / d z^S into d_code_s and
 * g * d loss / d z^m into d_code_m (either may be NULL) and the parameter
 * gradients into the table.  Reads the forward's target and caches. */
mird_status mird_decoder_backward(const mird_decoder *m, const mird_pass *pass,
                                  const mird_sequence_input *target, mird_decoder_acts *a,
                                  double g, float *d_code_s, float *d_code_m);

#endif
