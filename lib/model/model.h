/* The whole MIRD model: its modules, parameters and pass workspaces
 * (MODEL.md sections 2 and 3).
 *
 * A model owns one parameter table (model tensors, then estimator tensors),
 * one oneDNN context, and two workspace arenas: one planned for training
 * passes (every module, decoders and estimators included, with the caches a
 * backward needs) and one for inference passes (encoders and regressor
 * only).  Each arena is planned for a batch size and reused for any batch up
 * to it; a larger batch re-plans it. */
#ifndef MIRD_MODEL_MODEL_H
#define MIRD_MODEL_MODEL_H

#include "model/batch.h"
#include "model/bert.h"
#include "model/decoder.h"
#include "model/estimators.h"
#include "model/regressor.h"
#include "model/sequence_encoder.h"
#include "model/text_embedding.h"
#include "model/wsa.h"

enum { MIRD_DECODER_COUNT = 3 };

/* One pass's buffers; which of them exist depends on the plan. */
typedef struct mird_model_acts {
    int64_t batch;
    int training;
    mird_text_embedding_acts agnostic_embedding, language_embedding;
    mird_wsa_acts wsa;
    float *wsa_out, *d_wsa_out, *d_embedding; /* [B, T_l, H] */
    mird_bert_acts agnostic_bert, language_bert;
    mird_sequence_encoder_acts sequence[3]; /* language (lstm), audio, visual */
    mird_decoder_acts decoder[MIRD_DECODER_COUNT];
    mird_regressor_acts regressor;
    mird_estimator_acts estimators;
    float *code[MIRD_CODE_COUNT], *d_code[MIRD_CODE_COUNT]; /* [B, z] each */
    float *joined, *d_joined;                               /* [B, 4z] */
    float *pred, *d_pred;                                   /* [B] */
    float *audio_mean, *visual_mean;                        /* [B, d_a], [B, d_v] */
} mird_model_acts;

typedef struct mird_workspace {
    mird_arena arena;
    mird_model_acts acts;
    int64_t capacity; /* the batch size planned for; 0 = not planned */
} mird_workspace;

/* What a forward computed, for the backward and for reporting. */
typedef struct mird_losses {
    double task, rec[MIRD_DECODER_COUNT], constraint, total;
    int has_task, has_rec[MIRD_DECODER_COUNT];
    mird_estimator_results estimators;
} mird_losses;

struct mird_model {
    mird_config cfg;
    mird_param_table params;
    mird_dnnl *dnnl;
    int language_lstm; /* language_encoder = lstm */
    mird_text_embedding agnostic_embedding, language_embedding;
    mird_wsa wsa;
    mird_bert agnostic_bert, language_bert;
    mird_sequence_encoder sequence[3]; /* [0] only with language_lstm */
    mird_decoder decoder[MIRD_DECODER_COUNT];
    mird_regressor regressor;
    mird_estimators estimators;
    mird_workspace train_ws, infer_ws;
    uint64_t passes; /* training passes so far: the next pass id */
    mird_error err;
};

/* Builds the modules and initialises the parameters from cfg's seed. */
mird_status mird_model_build(mird_model *m, const mird_config *cfg);
void mird_model_release(mird_model *m);

/* Checks that a batch suits the model and has the fields a pass needs. */
mird_status mird_model_check_batch(mird_model *m, const mird_batch *b, int need_labels);

/* Makes sure the workspace of that kind holds `batch` samples. */
mird_status mird_model_prepare(mird_model *m, int training, int64_t batch);

/* The four codes of a pass into acts->code.  A training pass (dropout live,
 * caches kept) uses the pass id given. */
mird_status mird_model_encode(mird_model *m, const mird_batch *b, int training,
                              uint64_t pass_id);

/* A full training-mode forward: codes, predictions, every loss term.
 *
 * The three decoders share one region of the workspace (together they would
 * be the largest part of it), so each must be done before the next starts:
 * with `with_gradients`, each decoder's backward runs right after its
 * forward (its upstream gradient, 1/rec_m or w_m, is known by then), adding
 * into the model gradients (which the caller must have zeroed first) and
 * into the code gradients; mird_model_backward does the rest. */
mird_status mird_model_forward(mird_model *m, const mird_batch *b, uint64_t pass_id,
                               mird_losses *losses, int with_gradients);

/* The rest of the gradient of losses->total into the model group's
 * gradients.  Must follow mird_model_forward(..., with_gradients = 1) on the
 * same batch. */
mird_status mird_model_backward(mird_model *m, const mird_batch *b, uint64_t pass_id,
                                const mird_losses *losses);

/* Predictions of the encoded codes (after mird_model_encode). */
mird_status mird_model_predict(mird_model *m, int training, uint64_t pass_id, int64_t batch);

#endif
