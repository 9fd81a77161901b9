/* Exported checkpoint calls: argument checks and error publication around
 * lib/io/checkpoint. */
#include "core/threads.h"
#include "io/checkpoint.h"
#include "train/trainer.h"

mird_status mird_model_save(mird_model *model, const mird_optimizer *opt, const char *path)
{
    if (!model || !path)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_model_save: %s is NULL",
                                model ? "path" : "model");
    mird_error_clear(&model->err);
    mird_status st = opt && opt->model != model
                         ? mird_fail(&model->err, MIRD_ERR_INVALID_ARGUMENT,
                                     "mird_model_save: the optimizer was made for another model")
                         : mird_checkpoint_save(model, opt, path, &model->err);
    if (st != MIRD_OK)
        mird_error_publish(&model->err);
    return st;
}

mird_status mird_model_load(const char *path, mird_model **out)
{
    if (!out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_model_load: out is NULL");
    *out = NULL;
    if (!path)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_model_load: path is NULL");
    mird_threads_apply();
    mird_error err = {0};
    mird_status st = mird_checkpoint_load_model(path, out, &err);
    if (st != MIRD_OK)
        mird_error_publish(&err);
    return st;
}

mird_status mird_optimizer_load(mird_optimizer *opt, const char *path)
{
    if (!opt || !path)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_optimizer_load: %s is NULL",
                                opt ? "path" : "opt");
    mird_error_clear(&opt->err);
    mird_status st = mird_checkpoint_load_optimizer(opt, path, &opt->err);
    if (st != MIRD_OK)
        mird_error_publish(&opt->err);
    return st;
}

mird_status mird_model_load_weights(mird_model *model, const char *path, const char *from_prefix,
                                    const char *to_prefix, int64_t *loaded)
{
    if (!model || !path || !from_prefix || !to_prefix)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_model_load_weights: %s is NULL",
                                !model ? "model" : !path ? "path" : !from_prefix ? "from_prefix"
                                                                                 : "to_prefix");
    mird_error_clear(&model->err);
    mird_status st = mird_checkpoint_load_weights(model, path, from_prefix, to_prefix, loaded,
                                                  &model->err);
    if (st != MIRD_OK)
        mird_error_publish(&model->err);
    return st;
}

mird_status mird_checkpoint_metadata(const char *path, const char *key, char *buf, size_t size,
                                     size_t *needed)
{
    if (!path || !key || (!buf && size > 0))
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_checkpoint_metadata: %s is NULL",
                                !path ? "path" : !key ? "key" : "buf");
    mird_error err = {0};
    mird_status st = mird_checkpoint_read_metadata(path, key, buf, size, needed, &err);
    if (st != MIRD_OK)
        mird_error_publish(&err);
    return st;
}
