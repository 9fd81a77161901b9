/* The configuration: every setting of MODEL.md as one table.
 *
 * Each setting has a pinned enum value (public), a name (for config files,
 * the command line, the Python binding and checkpoint metadata), a kind
 * (integer, real or choice among names), bounds and a default.  Values are
 * stored as doubles (integers stay exact below 2^53); the table is the only
 * place that knows a setting's name, kind and range. */
#ifndef MIRD_MODEL_CONFIG_H
#define MIRD_MODEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <mird/mird.h>

#include "core/error.h"

typedef enum mird_setting_kind {
    MIRD_SETTING_INT,
    MIRD_SETTING_REAL,
    MIRD_SETTING_CHOICE /* an int whose values have names */
} mird_setting_kind;

typedef struct mird_setting_info {
    mird_param param;
    const char *name;
    mird_setting_kind kind;
    double min, max;
    double default_value;
    const char *const *choices; /* NULL-terminated names for CHOICE */
    const char *help;
} mird_setting_info;

/* One past the last pinned mird_param. */
#define MIRD_PARAM_COUNT_ (MIRD_PARAM_SELECT_BY + 1)

struct mird_config {
    double values[MIRD_PARAM_COUNT_];
    mird_error err;
};

/* The table entry for a setting, or NULL for an unknown one. */
const mird_setting_info *mird_setting_lookup(mird_param param);
const mird_setting_info *mird_setting_by_name(const char *name);

void mird_config_reset(mird_config *cfg);
mird_status mird_config_apply_preset(mird_config *cfg, const char *preset, mird_error *err);
mird_status mird_config_store(mird_config *cfg, mird_param param, double value, mird_error *err);
/* Parses `text` (a number, or a choice's name) the same whatever the C locale. */
mird_status mird_config_store_text(mird_config *cfg, const char *name, const char *text,
                                   mird_error *err);
/* The value of a setting as mird_config_store_text() reads it back: a
 * choice's name, or the shortest number that round-trips, whatever the C
 * locale.  False, with buf "" when size > 0, if it does not fit in `size`
 * bytes. */
bool mird_config_value_text(const mird_config *cfg, const mird_setting_info *info, char *buf,
                            size_t size);
/* Checks the settings against each other (heads divide the width, ...). */
mird_status mird_config_check(const mird_config *cfg, mird_error *err);

static inline long long mird_cfg_int(const mird_config *cfg, mird_param param)
{
    return (long long)cfg->values[param];
}

static inline double mird_cfg_real(const mird_config *cfg, mird_param param)
{
    return cfg->values[param];
}

#endif
