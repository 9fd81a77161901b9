#include "model/model.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/losses.h"

static mird_pass make_pass(mird_model *m, int64_t batch, int training, uint64_t pass_id)
{
    mird_pass pass = {m->dnnl, &m->params, &m->cfg, batch, training,
                      (uint64_t)mird_cfg_int(&m->cfg, MIRD_PARAM_SEED), pass_id};
    return pass;
}

mird_status mird_model_build(mird_model *m, const mird_config *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    mird_error_clear(&m->cfg.err);
    MIRD_TRY(mird_config_check(cfg, &m->err));
    MIRD_TRY(mird_dnnl_create(&m->dnnl, &m->err));
    m->language_lstm = mird_cfg_int(cfg, MIRD_PARAM_LANGUAGE_ENCODER) == MIRD_LANGUAGE_LSTM;

    /* Registration follows the reference port's module order, which is the
     * order a PyTorch state_dict lists the tensors in. */
    mird_param_table *t = &m->params;
    mird_params_init_table(t);
    mird_text_embedding_register(&m->agnostic_embedding, t, cfg, MIRD_STACK_AGNOSTIC);
    mird_wsa_register(&m->wsa, t, cfg);
    mird_bert_register(&m->agnostic_bert, t, cfg, MIRD_STACK_AGNOSTIC);
    if (m->language_lstm) {
        mird_sequence_encoder_register(&m->sequence[MIRD_SEQUENCE_LANGUAGE], t, cfg,
                                       MIRD_SEQUENCE_LANGUAGE);
    } else {
        mird_text_embedding_register(&m->language_embedding, t, cfg, MIRD_STACK_LANGUAGE);
        mird_bert_register(&m->language_bert, t, cfg, MIRD_STACK_LANGUAGE);
    }
    mird_sequence_encoder_register(&m->sequence[MIRD_SEQUENCE_AUDIO], t, cfg, MIRD_SEQUENCE_AUDIO);
    mird_sequence_encoder_register(&m->sequence[MIRD_SEQUENCE_VISUAL], t, cfg,
                                   MIRD_SEQUENCE_VISUAL);
    for (int d = 0; d < MIRD_DECODER_COUNT; d++)
        mird_decoder_register(&m->decoder[d], t, cfg, (mird_sequence_kind)d);
    int64_t z = mird_cfg_int(cfg, MIRD_PARAM_LATENT_DIM);
    mird_regressor_register(&m->regressor, t, 4 * z, mird_cfg_int(cfg, MIRD_PARAM_REGRESSOR_DIM));
    mird_estimators_register(&m->estimators, t, cfg);
    MIRD_TRY(mird_params_commit(t, &m->err));
    mird_params_initialise(t, (uint64_t)mird_cfg_int(cfg, MIRD_PARAM_SEED));
    return MIRD_OK;
}

void mird_model_release(mird_model *m)
{
    mird_arena_release(&m->train_ws.arena);
    mird_arena_release(&m->infer_ws.arena);
    mird_params_release(&m->params);
    mird_dnnl_destroy(m->dnnl);
    m->dnnl = NULL;
}

mird_status mird_model_check_batch(mird_model *m, const mird_batch *b, int need_labels)
{
    mird_batch_shape want = mird_batch_shape_of(&m->cfg);
    if (!mird_batch_shape_equal(&b->shape, &want)) {
        char why[160];
        mird_batch_shape_difference(&b->shape, &want, why, sizeof why);
        return mird_fail(&m->err, MIRD_ERR_SHAPE, "%s", why);
    }
    static const char *const setters[MIRD_FIELD_COUNT_] = {
        "mird_batch_set_text (or _tokens)", "mird_batch_set_audio", "mird_batch_set_vision",
        "mird_batch_set_labels"};
    for (int f = 0; f < MIRD_FIELD_COUNT_; f++) {
        if (f == MIRD_FIELD_LABELS && !need_labels)
            continue;
        if (!b->is_set[f])
            return mird_fail(&m->err, MIRD_ERR_STATE, "the batch has no %s yet: call %s",
                             f == MIRD_FIELD_TEXT    ? "text"
                             : f == MIRD_FIELD_AUDIO ? "audio"
                             : f == MIRD_FIELD_VISION ? "vision"
                                                      : "labels",
                             setters[f]);
    }
    return MIRD_OK;
}

/* Reserves every buffer of one pass; run on a planning arena, then again on
 * the committed one, with the same arguments. */
static mird_status plan_pass(mird_model *m, mird_arena *ws, int64_t batch, int training,
                             mird_model_acts *a)
{
    const mird_config *cfg = &m->cfg;
    int64_t z = mird_cfg_int(cfg, MIRD_PARAM_LATENT_DIM);
    int64_t text = batch * mird_cfg_int(cfg, MIRD_PARAM_TEXT_LENGTH) *
                   mird_cfg_int(cfg, MIRD_PARAM_HIDDEN);
    a->batch = batch;
    a->training = training;
    mird_text_embedding_plan(&m->agnostic_embedding, ws, batch, &a->agnostic_embedding);
    mird_wsa_plan(&m->wsa, ws, batch, &a->wsa);
    a->wsa_out = mird_ws_floats(ws, text);
    mird_bert_plan(&m->agnostic_bert, ws, batch, &a->agnostic_bert);
    if (m->language_lstm) {
        MIRD_TRY(mird_sequence_encoder_plan(&m->sequence[MIRD_SEQUENCE_LANGUAGE], m->dnnl, ws,
                                            batch, training, &a->sequence[MIRD_SEQUENCE_LANGUAGE]));
    } else {
        mird_text_embedding_plan(&m->language_embedding, ws, batch, &a->language_embedding);
        mird_bert_plan(&m->language_bert, ws, batch, &a->language_bert);
    }
    for (int s = MIRD_SEQUENCE_AUDIO; s <= MIRD_SEQUENCE_VISUAL; s++)
        MIRD_TRY(mird_sequence_encoder_plan(&m->sequence[s], m->dnnl, ws, batch, training,
                                            &a->sequence[s]));
    mird_regressor_plan(&m->regressor, ws, batch, &a->regressor);
    for (int c = 0; c < MIRD_CODE_COUNT; c++)
        a->code[c] = mird_ws_floats(ws, batch * z);
    a->joined = mird_ws_floats(ws, batch * 4 * z);
    a->pred = mird_ws_floats(ws, batch);
    if (!training)
        return MIRD_OK;
    a->d_wsa_out = mird_ws_floats(ws, text);
    a->d_embedding = mird_ws_floats(ws, text);
    /* The decoders run one after the other, forward then backward, so they
     * share one region as large as the largest of them. */
    size_t decoders_start = ws->used, decoders_end = ws->used;
    for (int d = 0; d < MIRD_DECODER_COUNT; d++) {
        ws->used = decoders_start;
        MIRD_TRY(mird_decoder_plan(&m->decoder[d], m->dnnl, ws, batch, &a->decoder[d]));
        if (ws->used > decoders_end)
            decoders_end = ws->used;
    }
    ws->used = decoders_end;
    mird_estimators_plan(&m->estimators, ws, batch, &a->estimators);
    for (int c = 0; c < MIRD_CODE_COUNT; c++)
        a->d_code[c] = mird_ws_floats(ws, batch * z);
    a->d_joined = mird_ws_floats(ws, batch * 4 * z);
    a->d_pred = mird_ws_floats(ws, batch);
    a->audio_mean = mird_ws_floats(ws, batch * mird_cfg_int(cfg, MIRD_PARAM_AUDIO_DIM));
    a->visual_mean = mird_ws_floats(ws, batch * mird_cfg_int(cfg, MIRD_PARAM_VISION_DIM));
    return MIRD_OK;
}

mird_status mird_model_prepare(mird_model *m, int training, int64_t batch)
{
    mird_workspace *w = training ? &m->train_ws : &m->infer_ws;
    if (w->capacity >= batch)
        return MIRD_OK;
    mird_arena_release(&w->arena);
    w->capacity = 0;
    mird_arena_init_plan(&w->arena);
    MIRD_TRY(plan_pass(m, &w->arena, batch, training, &w->acts));
    MIRD_TRY(mird_arena_commit(&w->arena, &m->err));
    mird_status st = plan_pass(m, &w->arena, batch, training, &w->acts);
    if (st != MIRD_OK) {
        mird_arena_release(&w->arena);
        return st;
    }
    w->capacity = batch;
    return MIRD_OK;
}

static mird_model_acts *acts_of(mird_model *m, int training)
{
    return training ? &m->train_ws.acts : &m->infer_ws.acts;
}

static mird_sequence_input sequence_input(const mird_batch *b, mird_sequence_kind kind)
{
    mird_sequence_input in = {NULL, NULL, NULL};
    switch (kind) {
    case MIRD_SEQUENCE_LANGUAGE:
        in.features = b->text_features, in.ids = b->text_ids, in.lengths = b->text_lengths;
        break;
    case MIRD_SEQUENCE_AUDIO:
        in.features = b->audio, in.lengths = b->audio_lengths;
        break;
    case MIRD_SEQUENCE_VISUAL:
        in.features = b->vision, in.lengths = b->vision_lengths;
        break;
    }
    return in;
}

static mird_wsa_inputs wsa_inputs(const mird_batch *b, const float *text)
{
    mird_wsa_inputs in = {text, {b->audio, b->vision}, {b->audio_lengths, b->vision_lengths}};
    return in;
}

/* Runs a module call and, on failure, moves the context's message (where
 * ops report) into the model's. */
static mird_status model_call(mird_model *m, mird_status st)
{
    if (st != MIRD_OK)
        m->err = *mird_dnnl_error(m->dnnl);
    return st;
}
#define MODEL_TRY(m, expr) MIRD_TRY(model_call((m), (expr)))

mird_status mird_model_encode(mird_model *m, const mird_batch *b, int training, uint64_t pass_id)
{
    mird_model_acts *a = acts_of(m, training);
    mird_pass pass = make_pass(m, b->size, training, pass_id);
    mird_error_clear(&m->err);
    MODEL_TRY(m, mird_text_embedding_forward(&m->agnostic_embedding, &pass, b->text_features,
                                             b->text_ids, b->text_lengths,
                                             &a->agnostic_embedding));
    mird_wsa_inputs wsa_in = wsa_inputs(b, a->agnostic_embedding.out);
    MODEL_TRY(m, mird_wsa_forward(&m->wsa, &pass, &wsa_in, &a->wsa, a->wsa_out));
    MODEL_TRY(m, mird_bert_forward(&m->agnostic_bert, &pass, a->wsa_out,
                                   a->agnostic_embedding.lengths, &a->agnostic_bert,
                                   a->code[MIRD_CODE_S]));
    if (m->language_lstm) {
        mird_sequence_input in = sequence_input(b, MIRD_SEQUENCE_LANGUAGE);
        MODEL_TRY(m, mird_sequence_encoder_forward(&m->sequence[MIRD_SEQUENCE_LANGUAGE], &pass,
                                                   &in, &a->sequence[MIRD_SEQUENCE_LANGUAGE],
                                                   a->code[MIRD_CODE_L]));
    } else {
        MODEL_TRY(m, mird_text_embedding_forward(&m->language_embedding, &pass, b->text_features,
                                                 b->text_ids, b->text_lengths,
                                                 &a->language_embedding));
        MODEL_TRY(m, mird_bert_forward(&m->language_bert, &pass, a->language_embedding.out,
                                       a->language_embedding.lengths, &a->language_bert,
                                       a->code[MIRD_CODE_L]));
    }
    for (int s = MIRD_SEQUENCE_AUDIO; s <= MIRD_SEQUENCE_VISUAL; s++) {
        mird_sequence_input in = sequence_input(b, (mird_sequence_kind)s);
        MODEL_TRY(m, mird_sequence_encoder_forward(&m->sequence[s], &pass, &in, &a->sequence[s],
                                                   a->code[s == MIRD_SEQUENCE_AUDIO
                                                               ? MIRD_CODE_A
                                                               : MIRD_CODE_V]));
    }
    return MIRD_OK;
}

mird_status mird_model_predict(mird_model *m, int training, uint64_t pass_id, int64_t batch)
{
    mird_model_acts *a = acts_of(m, training);
    mird_pass pass = make_pass(m, batch, training, pass_id);
    int64_t z = mird_cfg_int(&m->cfg, MIRD_PARAM_LATENT_DIM);
    for (int64_t i = 0; i < batch; i++)
        for (int c = 0; c < MIRD_CODE_COUNT; c++)
            memcpy(a->joined + (i * 4 + c) * z, a->code[c] + i * z, (size_t)z * sizeof(float));
    return model_call(m, mird_regressor_forward(&m->regressor, &pass, a->joined, &a->regressor,
                                                a->pred));
}

static mird_estimator_inputs estimator_inputs(const mird_model_acts *a)
{
    mird_estimator_inputs in = {{a->code[0], a->code[1], a->code[2], a->code[3]},
                                a->audio_mean, a->visual_mean};
    return in;
}

/* The weights of the reconstruction terms in a weighted total. */
static const mird_param rec_weight[MIRD_DECODER_COUNT] = {
    MIRD_PARAM_WEIGHT_REC_L, MIRD_PARAM_WEIGHT_REC_A, MIRD_PARAM_WEIGHT_REC_V};

/* d total / d rec_m (MODEL.md section 3). */
static double rec_gradient(const mird_config *cfg, int decoder, double rec)
{
    if (mird_cfg_int(cfg, MIRD_PARAM_TOTAL) == MIRD_TOTAL_LOG)
        return 1.0 / rec;
    return mird_cfg_real(cfg, rec_weight[decoder]);
}

mird_status mird_model_forward(mird_model *m, const mird_batch *b, uint64_t pass_id,
                               mird_losses *losses, int with_gradients)
{
    const mird_config *cfg = &m->cfg;
    mird_model_acts *a = acts_of(m, 1);
    int64_t B = b->size;
    mird_pass pass = make_pass(m, B, 1, pass_id);
    memset(losses, 0, sizeof *losses);
    MIRD_TRY(mird_model_encode(m, b, 1, pass_id));
    MIRD_TRY(mird_model_predict(m, 1, pass_id, B));

    int64_t labeled = 0;
    MODEL_TRY(m, mird_task_mse_forward(m->dnnl, a->pred, b->labels, b->labeled, B, &losses->task,
                                       &labeled));
    losses->has_task = labeled > 0;
    int64_t z = mird_cfg_int(cfg, MIRD_PARAM_LATENT_DIM);
    if (with_gradients)
        for (int c = 0; c < MIRD_CODE_COUNT; c++)
            memset(a->d_code[c], 0, (size_t)(B * z) * sizeof(float));
    static const mird_code partner[MIRD_DECODER_COUNT] = {MIRD_CODE_L, MIRD_CODE_A, MIRD_CODE_V};
    for (int d = 0; d < MIRD_DECODER_COUNT; d++) {
        mird_sequence_input target = sequence_input(b, (mird_sequence_kind)d);
        int64_t counted = 0;
        MODEL_TRY(m, mird_decoder_forward(&m->decoder[d], &pass, a->code[MIRD_CODE_S],
                                          a->code[partner[d]], &target, &a->decoder[d],
                                          &losses->rec[d], &counted));
        losses->has_rec[d] = counted > 0;
        if (with_gradients && losses->has_rec[d])
            MODEL_TRY(m, mird_decoder_backward(&m->decoder[d], &pass, &target, &a->decoder[d],
                                               rec_gradient(cfg, d, losses->rec[d]),
                                               a->d_code[MIRD_CODE_S], a->d_code[partner[d]]));
    }

    MODEL_TRY(m, mird_estimators_frame_means(m->dnnl, b->audio, b->audio_lengths, B,
                                             mird_cfg_int(cfg, MIRD_PARAM_AUDIO_LENGTH),
                                             mird_cfg_int(cfg, MIRD_PARAM_AUDIO_DIM),
                                             a->audio_mean));
    MODEL_TRY(m, mird_estimators_frame_means(m->dnnl, b->vision, b->vision_lengths, B,
                                             mird_cfg_int(cfg, MIRD_PARAM_VISION_LENGTH),
                                             mird_cfg_int(cfg, MIRD_PARAM_VISION_DIM),
                                             a->visual_mean));
    mird_estimator_inputs est_in = estimator_inputs(a);
    MODEL_TRY(m, mird_estimators_forward(&m->estimators, &pass, &est_in, &a->estimators,
                                         &losses->estimators));
    losses->constraint = losses->estimators.constraint;

    /* MODEL.md section 3: absent terms are left out of the total. */
    int log_total = mird_cfg_int(cfg, MIRD_PARAM_TOTAL) == MIRD_TOTAL_LOG;
    double total = 0.0;
    if (losses->has_task)
        total += log_total ? log(losses->task) : losses->task;
    for (int d = 0; d < MIRD_DECODER_COUNT; d++)
        if (losses->has_rec[d])
            total += log_total ? log(losses->rec[d])
                               : mird_cfg_real(cfg, rec_weight[d]) * losses->rec[d];
    if (mird_cfg_int(cfg, MIRD_PARAM_CONSTRAINT) != MIRD_CONSTRAINT_NONE)
        total += mird_cfg_real(cfg, MIRD_PARAM_LAMBDA) * losses->constraint;
    losses->total = total;
    return MIRD_OK;
}

mird_status mird_model_backward(mird_model *m, const mird_batch *b, uint64_t pass_id,
                                const mird_losses *losses)
{
    const mird_config *cfg = &m->cfg;
    mird_model_acts *a = acts_of(m, 1);
    int64_t B = b->size, z = mird_cfg_int(cfg, MIRD_PARAM_LATENT_DIM);
    size_t text = (size_t)(B * mird_cfg_int(cfg, MIRD_PARAM_TEXT_LENGTH) *
                           mird_cfg_int(cfg, MIRD_PARAM_HIDDEN));
    mird_pass pass = make_pass(m, B, 1, pass_id);
    int log_total = mird_cfg_int(cfg, MIRD_PARAM_TOTAL) == MIRD_TOTAL_LOG;
    /* The code gradients already hold the decoders' parts (see
     * mird_model_forward). */
    memset(a->d_pred, 0, (size_t)B * sizeof(float));
    memset(a->d_joined, 0, (size_t)(B * 4 * z) * sizeof(float));

    if (losses->has_task) {
        double g = log_total ? 1.0 / losses->task : 1.0;
        MODEL_TRY(m, mird_task_mse_backward(m->dnnl, a->pred, b->labels, b->labeled, B, g,
                                            a->d_pred));
        MODEL_TRY(m, mird_regressor_backward(&m->regressor, &pass, a->joined, &a->regressor,
                                             a->d_pred, a->d_joined));
        for (int64_t i = 0; i < B; i++)
            for (int c = 0; c < MIRD_CODE_COUNT; c++) {
                const float *src = a->d_joined + (i * 4 + c) * z;
                float *dst = a->d_code[c] + i * z;
                for (int64_t k = 0; k < z; k++)
                    dst[k] += src[k];
            }
    }
    if (mird_cfg_int(cfg, MIRD_PARAM_CONSTRAINT) != MIRD_CONSTRAINT_NONE) {
        mird_estimator_inputs est_in = estimator_inputs(a);
        float *const d_code[MIRD_CODE_COUNT] = {a->d_code[0], a->d_code[1], a->d_code[2],
                                                a->d_code[3]};
        MODEL_TRY(m, mird_estimators_backward_constraint(&m->estimators, &pass, &est_in,
                                                         &a->estimators,
                                                         mird_cfg_real(cfg, MIRD_PARAM_LAMBDA),
                                                         d_code));
    }

    /* Down through the encoders. */
    for (int s = MIRD_SEQUENCE_AUDIO; s <= MIRD_SEQUENCE_VISUAL; s++) {
        mird_sequence_input in = sequence_input(b, (mird_sequence_kind)s);
        MODEL_TRY(m, mird_sequence_encoder_backward(
                         &m->sequence[s], &pass, &in, &a->sequence[s],
                         a->d_code[s == MIRD_SEQUENCE_AUDIO ? MIRD_CODE_A : MIRD_CODE_V]));
    }
    if (m->language_lstm) {
        mird_sequence_input in = sequence_input(b, MIRD_SEQUENCE_LANGUAGE);
        MODEL_TRY(m, mird_sequence_encoder_backward(&m->sequence[MIRD_SEQUENCE_LANGUAGE], &pass,
                                                    &in, &a->sequence[MIRD_SEQUENCE_LANGUAGE],
                                                    a->d_code[MIRD_CODE_L]));
    } else {
        memset(a->d_embedding, 0, text * sizeof(float));
        MODEL_TRY(m, mird_bert_backward(&m->language_bert, &pass, a->language_embedding.out,
                                        &a->language_bert, a->d_code[MIRD_CODE_L],
                                        a->d_embedding));
        MODEL_TRY(m, mird_text_embedding_backward(&m->language_embedding, &pass,
                                                  b->text_features, &a->language_embedding,
                                                  a->d_embedding));
    }
    memset(a->d_wsa_out, 0, text * sizeof(float));
    memset(a->d_embedding, 0, text * sizeof(float));
    MODEL_TRY(m, mird_bert_backward(&m->agnostic_bert, &pass, a->wsa_out, &a->agnostic_bert,
                                    a->d_code[MIRD_CODE_S], a->d_wsa_out));
    mird_wsa_inputs wsa_in = wsa_inputs(b, a->agnostic_embedding.out);
    MODEL_TRY(m, mird_wsa_backward(&m->wsa, &pass, &wsa_in, &a->wsa, a->d_wsa_out,
                                   a->d_embedding));
    return model_call(m, mird_text_embedding_backward(&m->agnostic_embedding, &pass,
                                                      b->text_features, &a->agnostic_embedding,
                                                      a->d_embedding));
}
