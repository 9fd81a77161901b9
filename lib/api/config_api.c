/* Exported configuration calls: argument checks and error publication around
 * lib/model/config. */
#include <string.h>

#include "core/alloc.h"
#include "model/config.h"

/* Records a failure on the handle (if any) and in the thread's slot. */
static mird_status config_failed(const mird_config *cfg, mird_error *local)
{
    if (cfg)
        ((mird_config *)cfg)->err = *local;
    mird_error_publish(local);
    return local->status;
}

mird_status mird_config_create(mird_config **out)
{
    if (!out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_config_create: out is NULL");
    *out = NULL;
    mird_config *cfg = mird_alloc_zeroed(sizeof *cfg);
    if (!cfg)
        return mird_fail_thread(MIRD_ERR_OUT_OF_MEMORY, "cannot allocate a configuration");
    mird_config_reset(cfg);
    *out = cfg;
    return MIRD_OK;
}

mird_status mird_config_copy(const mird_config *src, mird_config **out)
{
    if (!src || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_config_copy: %s is NULL",
                                src ? "out" : "src");
    *out = NULL;
    mird_config *cfg = mird_alloc(sizeof *cfg);
    if (!cfg)
        return mird_fail_thread(MIRD_ERR_OUT_OF_MEMORY, "cannot allocate a configuration");
    memcpy(cfg, src, sizeof *cfg);
    mird_error_clear(&cfg->err);
    *out = cfg;
    return MIRD_OK;
}

void mird_config_destroy(mird_config *cfg)
{
    mird_free(cfg);
}

mird_status mird_config_preset(mird_config *cfg, const char *preset)
{
    mird_error err = {0};
    if (!cfg || !preset)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_config_preset: %s is NULL",
                                cfg ? "preset" : "cfg");
    if (mird_config_apply_preset(cfg, preset, &err) != MIRD_OK)
        return config_failed(cfg, &err);
    return MIRD_OK;
}

mird_status mird_config_set_int(mird_config *cfg, mird_param param, long long value)
{
    mird_error err = {0};
    if (!cfg)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_config_set_int: cfg is NULL");
    /* An int given for a real setting is accepted: harmless and convenient. */
    if (mird_config_store(cfg, param, (double)value, &err) != MIRD_OK)
        return config_failed(cfg, &err);
    return MIRD_OK;
}

mird_status mird_config_set_real(mird_config *cfg, mird_param param, double value)
{
    mird_error err = {0};
    if (!cfg)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_config_set_real: cfg is NULL");
    if (mird_config_store(cfg, param, value, &err) != MIRD_OK)
        return config_failed(cfg, &err);
    return MIRD_OK;
}

long long mird_config_get_int(const mird_config *cfg, mird_param param)
{
    if (!cfg || !mird_setting_lookup(param))
        return 0;
    return mird_cfg_int(cfg, param);
}

double mird_config_get_real(const mird_config *cfg, mird_param param)
{
    if (!cfg || !mird_setting_lookup(param))
        return 0.0;
    return mird_cfg_real(cfg, param);
}

mird_status mird_config_set(mird_config *cfg, const char *name, const char *value)
{
    mird_error err = {0};
    if (!cfg || !name || !value)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_config_set: %s is NULL",
                                !cfg ? "cfg" : !name ? "name" : "value");
    if (mird_config_store_text(cfg, name, value, &err) != MIRD_OK)
        return config_failed(cfg, &err);
    return MIRD_OK;
}

const char *mird_param_name(mird_param param)
{
    const mird_setting_info *info = mird_setting_lookup(param);
    return info ? info->name : NULL;
}

mird_status mird_param_from_name(const char *name, mird_param *out)
{
    if (!name || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_param_from_name: %s is NULL",
                                name ? "out" : "name");
    const mird_setting_info *info = mird_setting_by_name(name);
    if (!info)
        return mird_fail_thread(MIRD_ERR_INVALID_ARGUMENT, "unknown setting \"%s\"", name);
    *out = info->param;
    return MIRD_OK;
}

mird_status mird_config_get_text(const mird_config *cfg, mird_param param, char *buf,
                                 size_t size)
{
    if (!cfg || !buf)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_config_get_text: %s is NULL",
                                cfg ? "buf" : "cfg");
    const mird_setting_info *info = mird_setting_lookup(param);
    mird_error err = {0};
    if (!info) {
        mird_fail(&err, MIRD_ERR_INVALID_ARGUMENT, "unknown setting %d", (int)param);
        return config_failed(cfg, &err);
    }
    if (!mird_config_value_text(cfg, info, buf, size)) {
        mird_fail(&err, MIRD_ERR_INVALID_ARGUMENT, "%zu bytes are too few for %s", size,
                  info->name);
        return config_failed(cfg, &err);
    }
    return MIRD_OK;
}

const char *mird_config_error_message(const mird_config *cfg)
{
    return cfg ? cfg->err.message : "";
}
