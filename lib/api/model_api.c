/* Exported model, optimizer, step and inference calls: argument checks,
 * thread setup, error publication. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/threads.h"
#include "train/trainer.h"

static mird_status model_failed(mird_model *m, mird_status st)
{
    mird_error_publish(&m->err);
    return st;
}

mird_status mird_model_create(const mird_config *cfg, mird_model **out)
{
    if (!cfg || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_model_create: %s is NULL",
                                cfg ? "out" : "cfg");
    *out = NULL;
    mird_threads_apply();
    mird_model *m = mird_alloc(sizeof *m);
    if (!m)
        return mird_fail_thread(MIRD_ERR_OUT_OF_MEMORY, "cannot allocate a model");
    mird_status st = mird_model_build(m, cfg);
    if (st != MIRD_OK) {
        mird_error_publish(&m->err);
        mird_model_release(m);
        mird_free(m);
        return st;
    }
    *out = m;
    return MIRD_OK;
}

void mird_model_destroy(mird_model *model)
{
    if (!model)
        return;
    mird_model_release(model);
    mird_free(model);
}

const char *mird_model_error_message(const mird_model *model)
{
    return model ? model->err.message : "";
}

mird_status mird_model_get_config(const mird_model *model, mird_config **out)
{
    if (!model || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_model_get_config: %s is NULL",
                                model ? "out" : "model");
    return mird_config_copy(&model->cfg, out);
}

int64_t mird_model_parameter_count(const mird_model *model)
{
    if (!model)
        return 0;
    int64_t count = 0;
    for (int i = 0; i < model->params.count; i++)
        count += (int64_t)model->params.entries[i].numel;
    return count;
}

mird_status mird_optimizer_create(mird_model *model, mird_optimizer **out)
{
    if (!model || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_optimizer_create: %s is NULL",
                                model ? "out" : "model");
    *out = NULL;
    mird_optimizer *opt = mird_alloc(sizeof *opt);
    if (!opt)
        return mird_fail_thread(MIRD_ERR_OUT_OF_MEMORY, "cannot allocate an optimizer");
    mird_status st = mird_optimizer_init(opt, model);
    if (st != MIRD_OK) {
        mird_error_publish(&opt->err);
        mird_free(opt);
        return st;
    }
    *out = opt;
    return MIRD_OK;
}

void mird_optimizer_destroy(mird_optimizer *opt)
{
    if (!opt)
        return;
    mird_optimizer_release(opt);
    mird_free(opt);
}

mird_status mird_optimizer_set_total_steps(mird_optimizer *opt, int64_t total_steps)
{
    if (!opt)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_optimizer_set_total_steps: opt is NULL");
    if (total_steps < 1)
        return mird_fail_thread(MIRD_ERR_INVALID_ARGUMENT, "total_steps = %lld must be >= 1",
                                (long long)total_steps);
    opt->total_steps = total_steps;
    return MIRD_OK;
}

int64_t mird_optimizer_step_count(const mird_optimizer *opt)
{
    return opt ? opt->steps : 0;
}

const char *mird_term_name(mird_term term)
{
    static const char *const names[MIRD_TERM_COUNT] = {
        "total",   "task",    "rec_l",   "rec_a",   "rec_v",   "constraint",
        "estimator", "mi_l_a", "mi_l_v",  "mi_a_v",  "mi_s_l",  "mi_s_a",
        "mi_s_v",  "mi_s_xa", "mi_s_xv", "grad_norm", "learning_rate"};
    if ((int)term < 0 || (int)term >= MIRD_TERM_COUNT)
        return NULL;
    return names[term];
}

mird_status mird_step(mird_model *model, mird_optimizer *opt, const mird_batch *batch,
                      double *terms, size_t n_terms)
{
    if (!model || !opt || !batch)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_step: %s is NULL",
                                !model ? "model" : !opt ? "opt" : "batch");
    mird_error_clear(&model->err);
    if (opt->model != model) {
        mird_fail(&model->err, MIRD_ERR_INVALID_ARGUMENT,
                  "mird_step: the optimizer was made for another model");
        return model_failed(model, MIRD_ERR_INVALID_ARGUMENT);
    }
    mird_threads_apply();
    double values[MIRD_TERM_COUNT];
    mird_status st = mird_train_step(model, opt, batch, values);
    if (st != MIRD_OK)
        return model_failed(model, st);
    if (terms)
        memcpy(terms, values, (n_terms < MIRD_TERM_COUNT ? n_terms : MIRD_TERM_COUNT) *
                                  sizeof(double));
    return MIRD_OK;
}

mird_status mird_infer(mird_model *model, const mird_batch *batch, float *predictions,
                       float *codes)
{
    if (!model || !batch || !predictions)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_infer: %s is NULL",
                                !model ? "model" : !batch ? "batch" : "predictions");
    mird_error_clear(&model->err);
    /* Below 16 samples a pass is a chain of tiny products (one sample's LSTM
     * step is a [1, z] x [z, 4z] product) whose synchronisation costs more
     * than a second thread gains: measured at batch 1 and 8, one thread is
     * 2.5x and 1.2x faster than two.  Results are the same either way. */
    mird_threads_apply_at_most(batch->size < 16 ? 1 : 0);
    mird_status st = mird_run_inference(model, batch, predictions, codes);
    return st == MIRD_OK ? MIRD_OK : model_failed(model, st);
}
