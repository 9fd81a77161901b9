#include "train/trainer.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fault.h"
#include "train/optimizer.h"

mird_status mird_optimizer_init(mird_optimizer *opt, mird_model *model)
{
    size_t total = model->params.total;
    memset(opt, 0, sizeof *opt);
    opt->model = model;
    opt->m = mird_alloc_zeroed(total * sizeof(float));
    opt->v = mird_alloc_zeroed(total * sizeof(float));
    opt->backup = mird_alloc(3 * total * sizeof(float));
    if (!opt->m || !opt->v || !opt->backup) {
        mird_optimizer_release(opt);
        return mird_fail(&opt->err, MIRD_ERR_OUT_OF_MEMORY,
                         "cannot allocate optimizer state for %zu parameters", total);
    }
    return MIRD_OK;
}

void mird_optimizer_release(mird_optimizer *opt)
{
    mird_free(opt->m);
    mird_free(opt->v);
    mird_free(opt->backup);
    opt->m = opt->v = opt->backup = NULL;
}

typedef struct step_snapshot {
    int64_t steps, estimator_steps;
    uint64_t passes;
} step_snapshot;

static step_snapshot take_snapshot(mird_model *model, mird_optimizer *opt)
{
    size_t total = model->params.total;
    memcpy(opt->backup, model->params.values, total * sizeof(float));
    memcpy(opt->backup + total, opt->m, total * sizeof(float));
    memcpy(opt->backup + 2 * total, opt->v, total * sizeof(float));
    step_snapshot s = {opt->steps, opt->estimator_steps, model->passes};
    return s;
}

static void restore_snapshot(mird_model *model, mird_optimizer *opt, const step_snapshot *s)
{
    size_t total = model->params.total;
    memcpy(model->params.values, opt->backup, total * sizeof(float));
    memcpy(opt->m, opt->backup + total, total * sizeof(float));
    memcpy(opt->v, opt->backup + 2 * total, total * sizeof(float));
    opt->steps = s->steps;
    opt->estimator_steps = s->estimator_steps;
    model->passes = s->passes;
}

static mird_adam_settings model_settings(const mird_config *cfg, double lr)
{
    mird_adam_settings s = {MIRD_RULE_ADAMW_HF, lr, 0.9, 0.999, 1e-6,
                            mird_cfg_real(cfg, MIRD_PARAM_WEIGHT_DECAY)};
    return s;
}

static mird_adam_settings estimator_settings(const mird_config *cfg)
{
    mird_adam_settings s = {MIRD_RULE_ADAM_TORCH,
                            mird_cfg_real(cfg, MIRD_PARAM_ESTIMATOR_LEARNING_RATE), 0.9, 0.999,
                            1e-8, 0.0};
    return s;
}

/* K estimator updates on detached codes (MODEL.md section 4, step 2);
 * returns the learning loss of the last, computed before its update. */
static mird_status estimator_steps(mird_model *model, mird_optimizer *opt, const mird_batch *b,
                                   double *last_loss)
{
    const mird_config *cfg = &model->cfg;
    int recompute = mird_cfg_int(cfg, MIRD_PARAM_ESTIMATOR_INPUTS) == MIRD_ESTIMATOR_RECOMPUTE;
    long long K = mird_cfg_int(cfg, MIRD_PARAM_ESTIMATOR_STEPS);
    mird_model_acts *a = &model->train_ws.acts;
    mird_adam_settings settings = estimator_settings(cfg);
    *last_loss = NAN;
    for (long long k = 0; k < K; k++) {
        uint64_t pass_id = model->passes;
        if (recompute) {
            /* A fresh training-mode forward of the four encoders: new
             * dropout masks, codes that reflect the updated model. */
            MIRD_TRY(mird_model_encode(model, b, 1, pass_id));
            model->passes++;
        }
        mird_pass pass = {model->dnnl, &model->params, cfg, b->size, 1,
                          (uint64_t)mird_cfg_int(cfg, MIRD_PARAM_SEED), pass_id};
        mird_estimator_inputs in = {{a->code[0], a->code[1], a->code[2], a->code[3]},
                                    a->audio_mean, a->visual_mean};
        mird_estimator_results results;
        mird_status st = mird_estimators_forward(&model->estimators, &pass, &in, &a->estimators,
                                                 &results);
        mird_params_zero_grads(&model->params, MIRD_GROUP_ESTIMATOR);
        if (st == MIRD_OK && mird_fault_hit())
            return mird_fail(&model->err, MIRD_ERR_INTERNAL,
                             "injected fault at estimator step %lld", k + 1);
        if (st == MIRD_OK)
            st = mird_estimators_backward_learning(&model->estimators, &pass, &in,
                                                   &a->estimators, 1.0);
        if (st != MIRD_OK) {
            model->err = *mird_dnnl_error(model->dnnl);
            return st;
        }
        if (!isfinite(results.estimator_loss))
            return mird_fail(&model->err, MIRD_ERR_NONFINITE,
                             "the estimator loss became %g at estimator step %lld",
                             results.estimator_loss, k + 1);
        *last_loss = results.estimator_loss;
        opt->estimator_steps++;
        mird_adam_update(&model->params, MIRD_GROUP_ESTIMATOR, opt->m, opt->v,
                         opt->estimator_steps, &settings);
    }
    return MIRD_OK;
}

static void report(const mird_losses *l, double estimator_loss, double grad_norm, double lr,
                   double terms[MIRD_TERM_COUNT])
{
    terms[MIRD_TERM_TOTAL] = l->total;
    terms[MIRD_TERM_TASK] = l->has_task ? l->task : NAN;
    for (int d = 0; d < MIRD_DECODER_COUNT; d++)
        terms[MIRD_TERM_REC_L + d] = l->has_rec[d] ? l->rec[d] : NAN;
    terms[MIRD_TERM_CONSTRAINT] = l->constraint;
    terms[MIRD_TERM_ESTIMATOR] = estimator_loss;
    for (int p = 0; p < MIRD_CLUB_PAIR_COUNT; p++)
        terms[MIRD_TERM_MI_L_A + p] = l->estimators.estimate[p];
    terms[MIRD_TERM_GRAD_NORM] = grad_norm;
    terms[MIRD_TERM_LEARNING_RATE] = lr;
}

mird_status mird_train_step(mird_model *model, mird_optimizer *opt, const mird_batch *batch,
                            double terms[MIRD_TERM_COUNT])
{
    const mird_config *cfg = &model->cfg;
    MIRD_TRY(mird_model_check_batch(model, batch, 1));
    MIRD_TRY(mird_model_prepare(model, 1, batch->size));

    /* 1. The model update, estimators frozen. */
    uint64_t pass_id = model->passes;
    mird_losses losses;
    mird_params_zero_grads(&model->params, MIRD_GROUP_MODEL);
    MIRD_TRY(mird_model_forward(model, batch, pass_id, &losses, 1));
    if (!isfinite(losses.total))
        return mird_fail(&model->err, MIRD_ERR_NONFINITE,
                         "the total loss is not finite (%g): task %g, rec %g %g %g, "
                         "constraint %g; check the inputs' scale",
                         losses.total, losses.task, losses.rec[0], losses.rec[1], losses.rec[2],
                         losses.constraint);
    MIRD_TRY(mird_model_backward(model, batch, pass_id, &losses));
    double norm = mird_grad_norm(&model->params, MIRD_GROUP_MODEL);
    if (!isfinite(norm))
        return mird_fail(&model->err, MIRD_ERR_NONFINITE, "the gradient norm is not finite (%g)",
                         norm);

    /* Nothing has changed yet; from here on a failure rolls back. */
    step_snapshot snapshot = take_snapshot(model, opt);
    model->passes++;
    double clip = mird_cfg_real(cfg, MIRD_PARAM_CLIP_NORM);
    if (clip > 0.0)
        mird_clip_grad_norm(&model->params, MIRD_GROUP_MODEL, clip);
    int linear = mird_cfg_int(cfg, MIRD_PARAM_SCHEDULE) == MIRD_SCHEDULE_LINEAR
                 && opt->total_steps > 0;
    double lr = mird_cfg_real(cfg, MIRD_PARAM_LEARNING_RATE) *
                mird_schedule_factor(linear, mird_cfg_real(cfg, MIRD_PARAM_WARMUP),
                                     opt->total_steps, opt->steps);
    mird_adam_settings settings = model_settings(cfg, lr);
    mird_adam_update(&model->params, MIRD_GROUP_MODEL, opt->m, opt->v, opt->steps + 1, &settings);

    /* 2. The estimators' steps. */
    double estimator_loss;
    mird_status st = estimator_steps(model, opt, batch, &estimator_loss);
    if (st != MIRD_OK) {
        restore_snapshot(model, opt, &snapshot);
        return st;
    }
    opt->steps++;
    report(&losses, estimator_loss, norm, lr, terms);
    return MIRD_OK;
}

mird_status mird_run_inference(mird_model *model, const mird_batch *batch, float *predictions,
                               float *codes)
{
    MIRD_TRY(mird_model_check_batch(model, batch, 0));
    MIRD_TRY(mird_model_prepare(model, 0, batch->size));
    MIRD_TRY(mird_model_encode(model, batch, 0, 0));
    MIRD_TRY(mird_model_predict(model, 0, 0, batch->size));
    mird_model_acts *a = &model->infer_ws.acts;
    int64_t B = batch->size, z = mird_cfg_int(&model->cfg, MIRD_PARAM_LATENT_DIM);
    memcpy(predictions, a->pred, (size_t)B * sizeof(float));
    if (codes)
        for (int64_t i = 0; i < B; i++)
            for (int c = 0; c < MIRD_CODE_COUNT; c++)
                memcpy(codes + (i * 4 + c) * z, a->code[c] + i * z, (size_t)z * sizeof(float));
    return MIRD_OK;
}
