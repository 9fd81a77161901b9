#include "io/checkpoint.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fault.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "train/trainer.h"

#define FORMAT_KEY "mird.format"
#define VERSION_KEY "mird.version"
#define CONFIG_PREFIX "mird.config."
#define PASSES_KEY "mird.model.passes"
#define OPTIMIZER_PREFIX "optimizer."

enum { MOMENT_M, MOMENT_V, MOMENT_COUNT };
static const char *const moment_prefix[MOMENT_COUNT] = {OPTIMIZER_PREFIX "m.",
                                                        OPTIMIZER_PREFIX "v."};

enum { COUNTER_STEPS, COUNTER_ESTIMATOR_STEPS, COUNTER_TOTAL_STEPS, COUNTER_COUNT };
static const char *const counter_key[COUNTER_COUNT] = {
    "mird.optimizer.steps", "mird.optimizer.estimator_steps", "mird.optimizer.total_steps"};

/* How many settings each release that added some knew (mird_param values
 * are only appended).  Append a row with the release that adds a setting. */
static const struct {
    unsigned version; /* as MIRD_VERSION_NUMBER */
    int settings;
} settings_by_release[] = {
    {100, MIRD_PARAM_SELECT_BY + 1}, /* 0.1.0, the first to write checkpoints */
};
_Static_assert(MIRD_PARAM_COUNT_ == MIRD_PARAM_SELECT_BY + 1,
               "a setting was added: append its release to settings_by_release");

/* Longest tensor name we build: a moment's prefix and a parameter name. */
#define NAME_MAX_ (sizeof OPTIMIZER_PREFIX + 2 + MIRD_PARAM_NAME_MAX)

static bool starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* A non-negative decimal integer, digits only. */
static bool parse_count(const char *text, int64_t *out)
{
    if (!text || !*text)
        return false;
    int64_t value = 0;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        int digit = *c - '0';
        if (value > (INT64_MAX - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *out = value;
    return true;
}

/* "MAJOR.MINOR.PATCH" as MIRD_VERSION_NUMBER computes it. */
static bool parse_version(const char *text, unsigned *out)
{
    unsigned part[3];
    const char *c = text;
    for (int n = 0; n < 3; n++) {
        if (*c < '0' || *c > '9')
            return false;
        unsigned value = 0;
        for (int digits = 0; *c >= '0' && *c <= '9'; c++) {
            if (++digits > 4)
                return false;
            value = value * 10 + (unsigned)(*c - '0');
        }
        part[n] = value;
        if (n < 2 && *c++ != '.')
            return false;
    }
    if (*c != '\0' || part[1] > 99 || part[2] > 99)
        return false;
    *out = part[0] * 10000 + part[1] * 100 + part[2];
    return true;
}

static bool same_shape(const mird_st_tensor *t, const mird_param_entry *e)
{
    if (t->ndim != e->ndim)
        return false;
    for (int d = 0; d < e->ndim; d++)
        if (t->shape[d] != e->dims[d])
            return false;
    return true;
}

static mird_status fail_shape(mird_error *err, mird_status status, const char *path,
                              const mird_st_tensor *t, const mird_param_entry *e)
{
    char got[128], want[128];
    mird_st_format_shape(got, sizeof got, t->ndim, t->shape);
    mird_st_format_shape(want, sizeof want, e->ndim, e->dims);
    return mird_fail(err, status, "%s: tensor '%s' has shape %s, but parameter '%s' is %s", path,
                     t->name, got, e->name, want);
}

/* Index of the first non-finite float32 in `data` (read bytewise: a file's
 * tensor need not be aligned), or n. */
static size_t first_nonfinite(const void *data, size_t n)
{
    const unsigned char *bytes = data;
    for (size_t k = 0; k < n; k++) {
        float x;
        memcpy(&x, bytes + k * sizeof x, sizeof x);
        if (!isfinite(x))
            return k;
    }
    return n;
}

/* The tensor `name`, F32 and finite with the entry's shape (else `mismatch`
 * for a missing tensor or another shape, MIRD_ERR_FORMAT for the rest). */
static mird_status find_f32(const mird_st_file *file, const char *path, const char *name,
                            const mird_param_entry *e, mird_status mismatch,
                            const mird_st_tensor **out, mird_error *err)
{
    const mird_st_tensor *t = mird_st_find(file, name);
    if (!t)
        return mird_fail(err, mismatch, "%s: tensor '%s' (parameter '%s') is missing", path, name,
                         e->name);
    if (t->dtype != MIRD_ST_F32)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: tensor '%s' is %s, expected F32", path, name,
                         mird_st_dtype_name(t->dtype));
    if (!same_shape(t, e))
        return fail_shape(err, mismatch, path, t, e);
    size_t bad = first_nonfinite(t->data, t->numel);
    if (bad < t->numel)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: tensor '%s' holds a non-finite value at "
                         "flat index %zu", path, name, bad);
    *out = t;
    return MIRD_OK;
}

/* ======================================================================= */
/* Saving                                                                  */
/* ======================================================================= */

static mird_status add_count(mird_st_writer *w, const char *key, int64_t value, mird_error *err)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, value);
    return mird_st_writer_add_metadata(w, key, text, err);
}

static mird_status add_metadata(mird_st_writer *w, const mird_model *model,
                                const mird_optimizer *opt, mird_error *err)
{
    char text[64], key[96];
    snprintf(text, sizeof text, "%d", MIRD_CHECKPOINT_FORMAT);
    MIRD_TRY(mird_st_writer_add_metadata(w, FORMAT_KEY, text, err));
    snprintf(text, sizeof text, "%d.%d.%d", MIRD_VERSION_MAJOR, MIRD_VERSION_MINOR,
             MIRD_VERSION_PATCH);
    MIRD_TRY(mird_st_writer_add_metadata(w, VERSION_KEY, text, err));
    for (int p = 0; p < MIRD_PARAM_COUNT_; p++) {
        const mird_setting_info *info = mird_setting_lookup((mird_param)p);
        if (!mird_config_value_text(&model->cfg, info, text, sizeof text))
            return mird_fail(err, MIRD_ERR_INTERNAL, "setting %s does not fit its text buffer",
                             info->name);
        snprintf(key, sizeof key, CONFIG_PREFIX "%s", info->name);
        MIRD_TRY(mird_st_writer_add_metadata(w, key, text, err));
    }
    MIRD_TRY(add_count(w, PASSES_KEY, (int64_t)model->passes, err));
    if (opt) {
        MIRD_TRY(add_count(w, counter_key[COUNTER_STEPS], opt->steps, err));
        MIRD_TRY(add_count(w, counter_key[COUNTER_ESTIMATOR_STEPS], opt->estimator_steps, err));
        MIRD_TRY(add_count(w, counter_key[COUNTER_TOTAL_STEPS], opt->total_steps, err));
    }
    return MIRD_OK;
}

/* Every tensor's data points straight into the arena it lives in: the
 * writer streams them to the file without a copy of the model. */
static mird_status add_tensors(mird_st_writer *w, const mird_param_table *t,
                               const mird_optimizer *opt, mird_error *err)
{
    for (int i = 0; i < t->count; i++) {
        const mird_param_entry *e = &t->entries[i];
        MIRD_TRY(mird_st_writer_add(w, e->name, MIRD_ST_F32, e->ndim, e->dims,
                                    t->values + e->offset, err));
    }
    for (int k = 0; opt && k < MOMENT_COUNT; k++) {
        const float *moments = k == MOMENT_M ? opt->m : opt->v;
        for (int i = 0; i < t->count; i++) {
            const mird_param_entry *e = &t->entries[i];
            char name[NAME_MAX_];
            snprintf(name, sizeof name, "%s%s", moment_prefix[k], e->name);
            MIRD_TRY(mird_st_writer_add(w, name, MIRD_ST_F32, e->ndim, e->dims,
                                        moments + e->offset, err));
        }
    }
    return MIRD_OK;
}

mird_status mird_checkpoint_save(const mird_model *model, const mird_optimizer *opt,
                                  const char *path, mird_error *err)
{
    mird_st_writer *w = NULL;
    MIRD_TRY(mird_st_writer_create(&w, err));
    mird_status st = add_metadata(w, model, opt, err);
    if (st == MIRD_OK)
        st = add_tensors(w, &model->params, opt, err);
    if (st == MIRD_OK)
        st = mird_st_writer_save(w, path, err);
    mird_st_writer_destroy(w);
    return st;
}

/* ======================================================================= */
/* Loading                                                                 */
/* ======================================================================= */

static mird_status check_format(const mird_st_file *file, const char *path, mird_error *err)
{
    const char *text = mird_st_metadata(file, FORMAT_KEY);
    int64_t format;
    if (!text)
        return mird_fail(err, MIRD_ERR_FORMAT,
                         "%s: not a libmird checkpoint (its metadata has no \"" FORMAT_KEY "\")",
                         path);
    if (!parse_count(text, &format) || format < 1)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: " FORMAT_KEY " = \"%s\" is not a format number",
                         path, text);
    if (format > MIRD_CHECKPOINT_FORMAT) {
        const char *writer = mird_st_metadata(file, VERSION_KEY);
        return mird_fail(err, MIRD_ERR_UNSUPPORTED,
                         "%s: checkpoint format %" PRId64 " (written by libmird %s) is newer than "
                         "format %d, the newest libmird %d.%d.%d reads",
                         path, format, writer ? writer : "?", MIRD_CHECKPOINT_FORMAT,
                         MIRD_VERSION_MAJOR, MIRD_VERSION_MINOR, MIRD_VERSION_PATCH);
    }
    return MIRD_OK;
}

static mird_status read_count(const mird_st_file *file, const char *path, const char *key,
                              int64_t *out, mird_error *err)
{
    const char *text = mird_st_metadata(file, key);
    if (!text)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: metadata \"%s\" is missing", path, key);
    if (!parse_count(text, out))
        return mird_fail(err, MIRD_ERR_FORMAT,
                         "%s: metadata %s = \"%s\" is not a non-negative integer", path, key,
                         text);
    return MIRD_OK;
}

static int settings_known_by(unsigned version)
{
    int known = settings_by_release[0].settings;
    for (size_t r = 0; r < sizeof settings_by_release / sizeof settings_by_release[0]; r++)
        if (settings_by_release[r].version <= version)
            known = settings_by_release[r].settings;
    return known;
}

/* The configuration the metadata describes (see checkpoint.h on settings
 * across releases). */
static mird_status read_config(const mird_st_file *file, const char *path, mird_config *cfg,
                               mird_error *err)
{
    const char *version_text = mird_st_metadata(file, VERSION_KEY);
    unsigned version;
    if (!version_text)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: metadata \"" VERSION_KEY "\" is missing", path);
    if (!parse_version(version_text, &version))
        return mird_fail(err, MIRD_ERR_FORMAT,
                         "%s: " VERSION_KEY " = \"%s\" is not a MAJOR.MINOR.PATCH version", path,
                         version_text);
    mird_config_reset(cfg);
    bool present[MIRD_PARAM_COUNT_] = {false};
    for (int i = 0; i < mird_st_metadata_count(file); i++) {
        const char *key, *value;
        mird_st_metadata_at(file, i, &key, &value);
        if (!starts_with(key, CONFIG_PREFIX))
            continue;
        const char *name = key + strlen(CONFIG_PREFIX);
        const mird_setting_info *info = mird_setting_by_name(name);
        if (!info)
            return mird_fail(err, MIRD_ERR_FORMAT,
                             "%s: setting \"%s\" (written by libmird %s) is unknown to libmird "
                             "%d.%d.%d",
                             path, name, version_text, MIRD_VERSION_MAJOR, MIRD_VERSION_MINOR,
                             MIRD_VERSION_PATCH);
        mird_error detail = {0};
        if (mird_config_store_text(cfg, name, value, &detail) != MIRD_OK)
            return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s: %s", path, key, detail.message);
        present[info->param] = true;
    }
    int required = settings_known_by(version);
    for (int p = 0; p < required; p++)
        if (!present[p])
            return mird_fail(err, MIRD_ERR_FORMAT,
                             "%s: setting \"%s\" is missing (libmird %s, which wrote it, "
                             "knew it)",
                             path, mird_setting_lookup((mird_param)p)->name, version_text);
    mird_error detail = {0};
    if (mird_config_check(cfg, &detail) != MIRD_OK)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: its settings contradict each other: %s", path,
                         detail.message);
    return MIRD_OK;
}

typedef struct optimizer_state {
    bool present;
    int64_t counter[COUNTER_COUNT];
} optimizer_state;

/* Finds the optimizer state and checks it against `table`: none at all, or
 * both moments of every parameter (shape `mismatch` otherwise), the three
 * counters, and no other "optimizer." tensor.  moments[k] receives
 * table->count tensors for moment k when present. */
static mird_status find_optimizer_state(const mird_st_file *file, const char *path,
                                        const mird_param_table *table, mird_status mismatch,
                                        const mird_st_tensor **moments[MOMENT_COUNT],
                                        optimizer_state *state, mird_error *err)
{
    int moment_tensors = 0, counters = 0;
    for (int i = 0; i < mird_st_count(file); i++)
        moment_tensors += starts_with(mird_st_tensor_at(file, i)->name, OPTIMIZER_PREFIX);
    for (int c = 0; c < COUNTER_COUNT; c++)
        counters += mird_st_metadata(file, counter_key[c]) != NULL;
    state->present = moment_tensors > 0 || counters > 0;
    if (!state->present)
        return MIRD_OK;
    for (int c = 0; c < COUNTER_COUNT; c++)
        MIRD_TRY(read_count(file, path, counter_key[c], &state->counter[c], err));
    for (int k = 0; k < MOMENT_COUNT; k++)
        for (int i = 0; i < table->count; i++) {
            char name[NAME_MAX_];
            snprintf(name, sizeof name, "%s%s", moment_prefix[k], table->entries[i].name);
            MIRD_TRY(find_f32(file, path, name, &table->entries[i], mismatch, &moments[k][i],
                              err));
        }
    if (moment_tensors == MOMENT_COUNT * table->count)
        return MIRD_OK;
    /* More than the table's: name one that belongs to no parameter. */
    for (int i = 0; i < mird_st_count(file); i++) {
        const char *name = mird_st_tensor_at(file, i)->name;
        if (!starts_with(name, OPTIMIZER_PREFIX))
            continue;
        bool known = false;
        for (int k = 0; k < MOMENT_COUNT && !known; k++)
            known = starts_with(name, moment_prefix[k]) &&
                    mird_params_find(table, name + strlen(moment_prefix[k])) >= 0;
        if (!known)
            return mird_fail(err, mismatch, "%s: tensor '%s' is no moment of a parameter of the "
                             "model", path, name);
    }
    return mird_fail(err, MIRD_ERR_INTERNAL, "%s: optimizer tensors miscounted", path);
}

/* Every parameter present (F32, its shape, finite), the optimizer state
 * complete or absent, and nothing else; then the values into the table. */
static mird_status load_parameters(const mird_st_file *file, const char *path,
                                   mird_param_table *table, mird_error *err)
{
    size_t slots = (size_t)table->count * (1 + MOMENT_COUNT) + 1;
    const mird_st_tensor **found = mird_alloc(slots * sizeof *found);
    if (!found)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory to index its tensors", path);
    const mird_st_tensor **moments[MOMENT_COUNT] = {found + table->count,
                                                    found + 2 * table->count};
    mird_status st = MIRD_OK;
    for (int i = 0; i < table->count && st == MIRD_OK; i++)
        st = find_f32(file, path, table->entries[i].name, &table->entries[i], MIRD_ERR_FORMAT,
                      &found[i], err);
    optimizer_state state = {0};
    if (st == MIRD_OK)
        st = find_optimizer_state(file, path, table, MIRD_ERR_FORMAT, moments, &state, err);
    int expected = table->count * (state.present ? 1 + MOMENT_COUNT : 1);
    for (int i = 0; i < mird_st_count(file) && st == MIRD_OK && expected != mird_st_count(file);
         i++) {
        const char *name = mird_st_tensor_at(file, i)->name;
        if (!starts_with(name, OPTIMIZER_PREFIX) && mird_params_find(table, name) < 0)
            st = mird_fail(err, MIRD_ERR_FORMAT,
                           "%s: tensor '%s' is not a parameter of the model its settings "
                           "describe",
                           path, name);
    }
    for (int i = 0; i < table->count && st == MIRD_OK; i++) {
        const mird_param_entry *e = &table->entries[i];
        /* Tests fail a load here to prove that nothing half-made escapes. */
        if (mird_fault_hit())
            st = mird_fail(err, MIRD_ERR_INTERNAL, "%s: injected fault while loading '%s'",
                           path, e->name);
        else
            memcpy(table->values + e->offset, found[i]->data, e->numel * sizeof(float));
    }
    mird_free(found);
    return st;
}

mird_status mird_checkpoint_load_model(const char *path, mird_model **out, mird_error *err)
{
    *out = NULL;
    mird_st_file *file = NULL;
    MIRD_TRY(mird_st_open(path, &file, err));
    mird_model *model = NULL;
    mird_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int64_t passes = 0;
    mird_status st = check_format(file, path, err);
    if (st == MIRD_OK)
        st = read_config(file, path, &cfg, err);
    if (st == MIRD_OK)
        st = read_count(file, path, PASSES_KEY, &passes, err);
    if (st == MIRD_OK && !(model = mird_alloc(sizeof *model)))
        st = mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory for a model", path);
    if (st == MIRD_OK && (st = mird_model_build(model, &cfg)) != MIRD_OK)
        *err = model->err;
    if (st == MIRD_OK)
        st = load_parameters(file, path, &model->params, err);
    mird_st_close(file);
    if (st != MIRD_OK) {
        if (model)
            mird_model_release(model);
        mird_free(model);
        return st;
    }
    model->passes = (uint64_t)passes;
    *out = model;
    return MIRD_OK;
}

mird_status mird_checkpoint_load_optimizer(mird_optimizer *opt, const char *path,
                                           mird_error *err)
{
    const mird_param_table *table = &opt->model->params;
    mird_st_file *file = NULL;
    MIRD_TRY(mird_st_open(path, &file, err));
    const mird_st_tensor **found = mird_alloc(((size_t)table->count * MOMENT_COUNT + 1) *
                                              sizeof *found);
    if (!found) {
        mird_st_close(file);
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory to index its tensors", path);
    }
    const mird_st_tensor **moments[MOMENT_COUNT] = {found, found + table->count};
    optimizer_state state = {0};
    mird_status st = check_format(file, path, err);
    if (st == MIRD_OK)
        st = find_optimizer_state(file, path, table, MIRD_ERR_SHAPE, moments, &state, err);
    if (st == MIRD_OK && !state.present)
        st = mird_fail(err, MIRD_ERR_STATE,
                       "%s holds no optimizer state (it was saved without an optimizer)", path);
    for (int k = 0; k < MOMENT_COUNT && st == MIRD_OK; k++) {
        float *dst = k == MOMENT_M ? opt->m : opt->v;
        for (int i = 0; i < table->count; i++) {
            const mird_param_entry *e = &table->entries[i];
            memcpy(dst + e->offset, moments[k][i]->data, e->numel * sizeof(float));
        }
    }
    if (st == MIRD_OK) {
        opt->steps = state.counter[COUNTER_STEPS];
        opt->estimator_steps = state.counter[COUNTER_ESTIMATOR_STEPS];
        opt->total_steps = state.counter[COUNTER_TOTAL_STEPS];
    }
    mird_free(found);
    mird_st_close(file);
    return st;
}

/* ======================================================================= */
/* Pretrained weights                                                      */
/* ======================================================================= */

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1Fu,
             mantissa = h & 0x3FFu, bits;
    if (exponent == 0x1F)
        bits = sign | 0x7F800000u | (mantissa << 13);
    else if (exponent != 0)
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    else if (mantissa == 0)
        bits = sign;
    else /* subnormal: mantissa x 2^-24, exact in float */
        return (sign ? -1.0f : 1.0f) * ldexpf((float)mantissa, -24);
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static float element_as_float(const mird_st_tensor *t, size_t k)
{
    const unsigned char *bytes = (const unsigned char *)t->data + k * mird_st_dtype_size(t->dtype);
    uint16_t half;
    float value;
    switch (t->dtype) {
    case MIRD_ST_F16:
        memcpy(&half, bytes, sizeof half);
        return half_to_float(half);
    case MIRD_ST_BF16: {
        memcpy(&half, bytes, sizeof half);
        uint32_t bits = (uint32_t)half << 16;
        memcpy(&value, &bits, sizeof value);
        return value;
    }
    default:
        memcpy(&value, bytes, sizeof value);
        return value;
    }
}

/* The parameter a file tensor loads into, or -1: from_prefix + rest names
 * to_prefix + rest, with the old LayerNorm.gamma / .beta spelling. */
static int target_of(const mird_param_table *table, const char *name, const char *from_prefix,
                     const char *to_prefix)
{
    if (!starts_with(name, from_prefix))
        return -1;
    const char *rest = name + strlen(from_prefix);
    char target[MIRD_PARAM_NAME_MAX + 8];
    int length = snprintf(target, sizeof target, "%s%s", to_prefix, rest);
    if (length < 0 || (size_t)length >= sizeof target)
        return -1;
    static const char *const renames[][2] = {{"LayerNorm.gamma", "LayerNorm.weight"},
                                             {"LayerNorm.beta", "LayerNorm.bias"}};
    for (size_t r = 0; r < sizeof renames / sizeof renames[0]; r++) {
        size_t old_length = strlen(renames[r][0]);
        if ((size_t)length >= old_length &&
            strcmp(target + length - old_length, renames[r][0]) == 0 &&
            (size_t)length - old_length + strlen(renames[r][1]) < sizeof target) {
            strcpy(target + length - old_length, renames[r][1]);
            break;
        }
    }
    return mird_params_find(table, target);
}

/* Matches file tensors to parameters (found[i] for parameter i) and checks
 * each match; returns how many matched. */
static mird_status match_weights(const mird_st_file *file, const char *path,
                                 const mird_param_table *table, const char *from_prefix,
                                 const char *to_prefix, const mird_st_tensor **found,
                                 int64_t *matched, mird_error *err)
{
    *matched = 0;
    for (int i = 0; i < mird_st_count(file); i++) {
        const mird_st_tensor *t = mird_st_tensor_at(file, i);
        int p = target_of(table, t->name, from_prefix, to_prefix);
        if (p < 0)
            continue;
        const mird_param_entry *e = &table->entries[p];
        if (found[p])
            return mird_fail(err, MIRD_ERR_FORMAT,
                             "%s: tensors '%s' and '%s' both load into parameter '%s'", path,
                             found[p]->name, t->name, e->name);
        if (t->dtype != MIRD_ST_F32 && t->dtype != MIRD_ST_F16 && t->dtype != MIRD_ST_BF16)
            return mird_fail(err, MIRD_ERR_FORMAT,
                             "%s: tensor '%s' is %s; weights must be F32, F16 or BF16", path,
                             t->name, mird_st_dtype_name(t->dtype));
        if (!same_shape(t, e))
            return fail_shape(err, MIRD_ERR_SHAPE, path, t, e);
        for (size_t k = 0; k < t->numel; k++)
            if (!isfinite(element_as_float(t, k)))
                return mird_fail(err, MIRD_ERR_FORMAT,
                                 "%s: tensor '%s' holds a non-finite value at flat index %zu",
                                 path, t->name, k);
        found[p] = t;
        (*matched)++;
    }
    if (*matched == 0)
        return mird_fail(err, MIRD_ERR_STATE,
                         "%s: nothing loads: none of its %d tensors is named \"%s\" + rest "
                         "for a parameter named \"%s\" + rest",
                         path, mird_st_count(file), from_prefix, to_prefix);
    return MIRD_OK;
}

mird_status mird_checkpoint_load_weights(mird_model *model, const char *path,
                                         const char *from_prefix, const char *to_prefix,
                                         int64_t *loaded, mird_error *err)
{
    mird_param_table *table = &model->params;
    mird_st_file *file = NULL;
    MIRD_TRY(mird_st_open(path, &file, err));
    const mird_st_tensor **found = mird_alloc_zeroed(((size_t)table->count + 1) * sizeof *found);
    int64_t matched = 0;
    mird_status st = found ? match_weights(file, path, table, from_prefix, to_prefix, found,
                                           &matched, err)
                           : mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory", path);
    for (int p = 0; p < table->count && st == MIRD_OK; p++) {
        if (!found[p])
            continue;
        float *dst = mird_param_value(table, p);
        for (size_t k = 0; k < found[p]->numel; k++)
            dst[k] = element_as_float(found[p], k);
    }
    if (st == MIRD_OK && loaded)
        *loaded = matched;
    mird_free(found);
    mird_st_close(file);
    return st;
}

/* ======================================================================= */
/* Metadata                                                                */
/* ======================================================================= */

mird_status mird_checkpoint_read_metadata(const char *path, const char *key, char *buf,
                                          size_t size, size_t *needed, mird_error *err)
{
    mird_st_file *file = NULL;
    MIRD_TRY(mird_st_open_header(path, &file, err));
    const char *value = mird_st_metadata(file, key);
    mird_status st = MIRD_OK;
    if (!value) {
        st = mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s has no metadata key \"%s\"", path, key);
    } else {
        size_t need = strlen(value) + 1;
        if (needed)
            *needed = need;
        if (size < need)
            st = mird_fail(err, MIRD_ERR_SHAPE,
                           "%s: metadata \"%s\" needs %zu bytes with its NUL; the buffer has %zu",
                           path, key, need, size);
        else
            memcpy(buf, value, need);
    }
    mird_st_close(file);
    return st;
}
