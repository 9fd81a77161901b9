#include "model/config.h"

#include <math.h>
#include <string.h>

#include "core/numtext.h"

static const char *const text_modes[] = {"features", "tokens", NULL};
static const char *const language_encoders[] = {"transformer", "lstm", NULL};
static const char *const constraints[] = {"mim", "oc", "none", NULL};
static const char *const totals[] = {"log", "weighted", NULL};
static const char *const estimator_inputs[] = {"recompute", "cached", NULL};
static const char *const schedules[] = {"constant", "linear", NULL};
static const char *const selections[] = {"mae", "loss", NULL};

#define INT_SETTING(p, n, lo, hi, d, h) {p, n, MIRD_SETTING_INT, lo, hi, d, NULL, h}
#define REAL_SETTING(p, n, lo, hi, d, h) {p, n, MIRD_SETTING_REAL, lo, hi, d, NULL, h}
#define CHOICE_SETTING(p, n, list, d, h) {p, n, MIRD_SETTING_CHOICE, 0, 0, d, list, h}

/* Defaults: MODEL.md's, with the shapes of the "mosi" preset. */
static const mird_setting_info settings[MIRD_PARAM_COUNT_] = {
    CHOICE_SETTING(MIRD_PARAM_TEXT_MODE, "text_mode", text_modes, 0, "text as features or token ids"),
    INT_SETTING(MIRD_PARAM_TEXT_LENGTH, "text_length", 1, 4096, 50, "padded text length T_l"),
    INT_SETTING(MIRD_PARAM_TEXT_DIM, "text_dim", 1, 65536, 768, "text feature width d_l"),
    INT_SETTING(MIRD_PARAM_VOCAB_SIZE, "vocab_size", 1, 1000000, 30522, "token vocabulary"),
    INT_SETTING(MIRD_PARAM_MAX_POSITIONS, "max_positions", 1, 4096, 50, "position table rows"),
    INT_SETTING(MIRD_PARAM_AUDIO_LENGTH, "audio_length", 1, 100000, 375, "padded audio length T_a"),
    INT_SETTING(MIRD_PARAM_AUDIO_DIM, "audio_dim", 1, 65536, 5, "audio feature width d_a"),
    INT_SETTING(MIRD_PARAM_VISION_LENGTH, "vision_length", 1, 100000, 500, "padded visual length T_v"),
    INT_SETTING(MIRD_PARAM_VISION_DIM, "vision_dim", 1, 65536, 20, "visual feature width d_v"),
    INT_SETTING(MIRD_PARAM_HIDDEN, "hidden", 1, 8192, 128, "transformer width H"),
    INT_SETTING(MIRD_PARAM_LAYERS, "layers", 1, 64, 2, "transformer layers"),
    INT_SETTING(MIRD_PARAM_HEADS, "heads", 1, 256, 4, "attention heads"),
    INT_SETTING(MIRD_PARAM_FFN_DIM, "ffn_dim", 1, 65536, 512, "feed-forward width d_ff"),
    INT_SETTING(MIRD_PARAM_LATENT_DIM, "latent_dim", 1, 4096, 64, "code width z"),
    INT_SETTING(MIRD_PARAM_REGRESSOR_DIM, "regressor_dim", 1, 4096, 64, "regressor width r"),
    INT_SETTING(MIRD_PARAM_CLUB_HIDDEN, "club_hidden", 2, 4096, 32, "CLUB estimator hidden width"),
    CHOICE_SETTING(MIRD_PARAM_LANGUAGE_ENCODER, "language_encoder", language_encoders, 0,
                   "language-specific encoder"),
    INT_SETTING(MIRD_PARAM_LSTM_EMBEDDING_DIM, "lstm_embedding_dim", 1, 4096, 128,
                "token embedding width of the lstm language encoder"),
    CHOICE_SETTING(MIRD_PARAM_CONSTRAINT, "constraint", constraints, 0, "disentanglement term"),
    INT_SETTING(MIRD_PARAM_OC_DETACH_NORM, "oc_detach_norm", 0, 1, 0,
                "treat the row norms of the oc loss as constants"),
    CHOICE_SETTING(MIRD_PARAM_TOTAL, "total", totals, 0, "how the loss terms combine"),
    REAL_SETTING(MIRD_PARAM_LAMBDA, "lambda", 0, 1e6, 1, "weight of the constraint"),
    REAL_SETTING(MIRD_PARAM_WEIGHT_REC_L, "weight_rec_l", 0, 1e6, 1, "language reconstruction weight"),
    REAL_SETTING(MIRD_PARAM_WEIGHT_REC_A, "weight_rec_a", 0, 1e6, 1, "audio reconstruction weight"),
    REAL_SETTING(MIRD_PARAM_WEIGHT_REC_V, "weight_rec_v", 0, 1e6, 1, "visual reconstruction weight"),
    INT_SETTING(MIRD_PARAM_INPUT_MI, "input_mi", 0, 1, 1, "add the two input MI terms"),
    INT_SETTING(MIRD_PARAM_MASK_PADDING, "mask_padding", 0, 1, 1, "leave padding out of reconstruction"),
    INT_SETTING(MIRD_PARAM_CLUB_SAMPLE, "club_sample", 0, 1, 0, "sampled CLUB estimate"),
    CHOICE_SETTING(MIRD_PARAM_ESTIMATOR_INPUTS, "estimator_inputs", estimator_inputs, 0,
                   "codes the estimator steps train on"),
    INT_SETTING(MIRD_PARAM_ESTIMATOR_STEPS, "estimator_steps", 0, 1000, 5, "estimator steps K"),
    REAL_SETTING(MIRD_PARAM_BETA_SHIFT, "beta_shift", 0, 1e6, 1, "MAG beta"),
    REAL_SETTING(MIRD_PARAM_DROPOUT_HIDDEN, "dropout_hidden", 0, 0.99, 0.1, "BERT dropout p_h"),
    REAL_SETTING(MIRD_PARAM_DROPOUT_WSA, "dropout_wsa", 0, 0.99, 0.5, "WSA dropout p_wsa"),
    REAL_SETTING(MIRD_PARAM_DROPOUT_PROJ, "dropout_proj", 0, 0.99, 0.5, "projection dropout p_proj"),
    REAL_SETTING(MIRD_PARAM_DROPOUT_REG, "dropout_reg", 0, 0.99, 0.5, "regressor dropout p_reg"),
    REAL_SETTING(MIRD_PARAM_LEARNING_RATE, "learning_rate", 0, 10, 1e-3, "model AdamW learning rate"),
    REAL_SETTING(MIRD_PARAM_ESTIMATOR_LEARNING_RATE, "estimator_learning_rate", 0, 10, 1e-3,
                 "estimator Adam learning rate"),
    REAL_SETTING(MIRD_PARAM_WEIGHT_DECAY, "weight_decay", 0, 10, 0.01, "decoupled weight decay"),
    CHOICE_SETTING(MIRD_PARAM_SCHEDULE, "schedule", schedules, 1, "learning-rate schedule"),
    REAL_SETTING(MIRD_PARAM_WARMUP, "warmup", 0, 1, 0.1, "warm-up fraction of the steps"),
    REAL_SETTING(MIRD_PARAM_CLIP_NORM, "clip_norm", 0, 1e6, 0, "gradient-norm clip (0 = off)"),
    INT_SETTING(MIRD_PARAM_SEED, "seed", 0, 9007199254740992.0, 1, "random seed"),
    INT_SETTING(MIRD_PARAM_BATCH_SIZE, "batch_size", 1, 100000, 48, "labeled samples per batch"),
    INT_SETTING(MIRD_PARAM_EPOCHS, "epochs", 1, 100000, 100, "training epochs"),
    REAL_SETTING(MIRD_PARAM_UNLABELED_RATIO, "unlabeled_ratio", 0, 1000, 2,
                 "unlabeled samples per labeled sample in a batch"),
    INT_SETTING(MIRD_PARAM_PATIENCE, "patience", 0, 100000, 10,
                "epochs without improvement before stopping (0 = off)"),
    CHOICE_SETTING(MIRD_PARAM_SELECT_BY, "select_by", selections, 0, "validation criterion"),
};

const mird_setting_info *mird_setting_lookup(mird_param param)
{
    if ((int)param < 0 || (int)param >= MIRD_PARAM_COUNT_)
        return NULL;
    return &settings[param];
}

const mird_setting_info *mird_setting_by_name(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < MIRD_PARAM_COUNT_; i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    return NULL;
}

static int choice_count(const mird_setting_info *info)
{
    int n = 0;
    while (info->choices[n])
        n++;
    return n;
}

void mird_config_reset(mird_config *cfg)
{
    for (int i = 0; i < MIRD_PARAM_COUNT_; i++)
        cfg->values[i] = settings[i].default_value;
}

mird_status mird_config_store(mird_config *cfg, mird_param param, double value, mird_error *err)
{
    const mird_setting_info *info = mird_setting_lookup(param);
    if (!info)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "unknown setting %d", (int)param);
    if (!isfinite(value))
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s must be finite", info->name);
    if (info->kind != MIRD_SETTING_REAL && value != floor(value))
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s = %g must be a whole number",
                         info->name, value);
    double lo = info->min, hi = info->max;
    if (info->kind == MIRD_SETTING_CHOICE)
        lo = 0, hi = choice_count(info) - 1;
    if (value < lo || value > hi)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s = %g is outside %g..%g", info->name,
                         value, lo, hi);
    cfg->values[param] = value;
    return MIRD_OK;
}

mird_status mird_config_store_text(mird_config *cfg, const char *name, const char *text,
                                   mird_error *err)
{
    const mird_setting_info *info = mird_setting_by_name(name);
    if (!info)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "unknown setting \"%s\"", name);
    if (info->kind == MIRD_SETTING_CHOICE) {
        for (int i = 0; info->choices[i]; i++)
            if (strcmp(info->choices[i], text) == 0)
                return mird_config_store(cfg, info->param, i, err);
        char options[256] = "";
        for (int i = 0; info->choices[i]; i++) {
            strncat(options, i ? ", " : "", sizeof options - strlen(options) - 1);
            strncat(options, info->choices[i], sizeof options - strlen(options) - 1);
        }
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s = \"%s\" is not one of: %s", name,
                         text, options);
    }
    double value;
    if (info->min == 0 && info->max == 1 && info->kind == MIRD_SETTING_INT
        && (strcmp(text, "true") == 0 || strcmp(text, "false") == 0))
        value = text[0] == 't';
    else if (!mird_parse_double(text, &value))
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s = \"%s\" is not a number", name,
                         text);
    return mird_config_store(cfg, info->param, value, err);
}

bool mird_config_value_text(const mird_config *cfg, const mird_setting_info *info, char *buf,
                            size_t size)
{
    double value = cfg->values[info->param];
    bool fits;
    if (info->kind == MIRD_SETTING_CHOICE) {
        const char *text = info->choices[(int)value];
        fits = strlen(text) < size;
        if (fits)
            memcpy(buf, text, strlen(text) + 1);
    } else {
        fits = mird_format_double(buf, size, value);
    }
    if (!fits && size > 0)
        buf[0] = '\0';
    return fits;
}

typedef struct preset_value {
    mird_param param;
    double value;
} preset_value;

static const preset_value preset_tiny[] = {
    {MIRD_PARAM_TEXT_LENGTH, 6},   {MIRD_PARAM_TEXT_DIM, 16},      {MIRD_PARAM_VOCAB_SIZE, 40},
    {MIRD_PARAM_MAX_POSITIONS, 6}, {MIRD_PARAM_HIDDEN, 16},        {MIRD_PARAM_LAYERS, 1},
    {MIRD_PARAM_HEADS, 2},         {MIRD_PARAM_FFN_DIM, 32},       {MIRD_PARAM_AUDIO_LENGTH, 8},
    {MIRD_PARAM_AUDIO_DIM, 4},     {MIRD_PARAM_VISION_LENGTH, 10}, {MIRD_PARAM_VISION_DIM, 6},
    {MIRD_PARAM_LATENT_DIM, 8},    {MIRD_PARAM_REGRESSOR_DIM, 8},  {MIRD_PARAM_CLUB_HIDDEN, 8},
    {MIRD_PARAM_LSTM_EMBEDDING_DIM, 8},
};
/* The synthetic demo (`mird train` with no options): big enough for the
 * codes to separate the planted factors, small enough to train in about a
 * minute on two cores. */
static const preset_value preset_demo[] = {
    {MIRD_PARAM_TEXT_LENGTH, 12},   {MIRD_PARAM_TEXT_DIM, 24},      {MIRD_PARAM_VOCAB_SIZE, 64},
    {MIRD_PARAM_MAX_POSITIONS, 12}, {MIRD_PARAM_HIDDEN, 32},        {MIRD_PARAM_LAYERS, 1},
    {MIRD_PARAM_HEADS, 4},          {MIRD_PARAM_FFN_DIM, 64},       {MIRD_PARAM_AUDIO_LENGTH, 20},
    {MIRD_PARAM_AUDIO_DIM, 8},      {MIRD_PARAM_VISION_LENGTH, 20}, {MIRD_PARAM_VISION_DIM, 12},
    {MIRD_PARAM_LATENT_DIM, 16},    {MIRD_PARAM_REGRESSOR_DIM, 16}, {MIRD_PARAM_CLUB_HIDDEN, 16},
    {MIRD_PARAM_LSTM_EMBEDDING_DIM, 16}, {MIRD_PARAM_BATCH_SIZE, 32}, {MIRD_PARAM_EPOCHS, 30},
    {MIRD_PARAM_PATIENCE, 8},       {MIRD_PARAM_LEARNING_RATE, 2e-3},
    {MIRD_PARAM_DROPOUT_WSA, 0.1},  {MIRD_PARAM_DROPOUT_PROJ, 0.1}, {MIRD_PARAM_DROPOUT_REG, 0.1},
    /* The synthetic frames carry the shared factor in their means, so the
     * input terms (z^S against the frame means) would push z^S off the very
     * factor it should hold: the demo uses the released code's six terms,
     * weighted up so the MI terms are felt against three reconstructions. */
    {MIRD_PARAM_INPUT_MI, 0},       {MIRD_PARAM_LAMBDA, 3},
};
static const preset_value preset_mosi[] = {{MIRD_PARAM_TEXT_MODE, MIRD_TEXT_FEATURES}};
static const preset_value preset_mosei[] = {
    {MIRD_PARAM_AUDIO_LENGTH, 500}, {MIRD_PARAM_AUDIO_DIM, 74},
    {MIRD_PARAM_VISION_LENGTH, 500}, {MIRD_PARAM_VISION_DIM, 35}};
static const preset_value preset_bert_base[] = {
    {MIRD_PARAM_TEXT_MODE, MIRD_TEXT_TOKENS}, {MIRD_PARAM_HIDDEN, 768},
    {MIRD_PARAM_MAX_POSITIONS, 512}, {MIRD_PARAM_LSTM_EMBEDDING_DIM, 300},
    {MIRD_PARAM_LAYERS, 12}, {MIRD_PARAM_HEADS, 12}, {MIRD_PARAM_FFN_DIM, 3072},
    {MIRD_PARAM_LEARNING_RATE, 1e-5}};

#define PRESET(name, list) {name, list, sizeof list / sizeof list[0]}
static const struct {
    const char *name;
    const preset_value *values;
    size_t count;
} presets[] = {
    PRESET("tiny", preset_tiny),
    PRESET("demo", preset_demo),
    PRESET("mosi", preset_mosi),
    PRESET("mosei", preset_mosei),
    PRESET("bert-base", preset_bert_base),
};

mird_status mird_config_apply_preset(mird_config *cfg, const char *preset, mird_error *err)
{
    for (size_t p = 0; p < sizeof presets / sizeof presets[0]; p++) {
        if (strcmp(presets[p].name, preset) != 0)
            continue;
        mird_config_reset(cfg);
        for (size_t i = 0; i < presets[p].count; i++)
            cfg->values[presets[p].values[i].param] = presets[p].values[i].value;
        return MIRD_OK;
    }
    return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                     "unknown preset \"%s\" (tiny, demo, mosi, mosei, bert-base)", preset);
}

mird_status mird_config_check(const mird_config *cfg, mird_error *err)
{
    long long hidden = mird_cfg_int(cfg, MIRD_PARAM_HIDDEN);
    long long heads = mird_cfg_int(cfg, MIRD_PARAM_HEADS);
    if (hidden % heads != 0)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "heads = %lld does not divide hidden = %lld",
                         heads, hidden);
    if (mird_cfg_int(cfg, MIRD_PARAM_CLUB_HIDDEN) % 2 != 0)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "club_hidden = %lld must be even",
                         mird_cfg_int(cfg, MIRD_PARAM_CLUB_HIDDEN));
    if (mird_cfg_int(cfg, MIRD_PARAM_MAX_POSITIONS) < mird_cfg_int(cfg, MIRD_PARAM_TEXT_LENGTH))
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                         "max_positions = %lld is below text_length = %lld",
                         mird_cfg_int(cfg, MIRD_PARAM_MAX_POSITIONS),
                         mird_cfg_int(cfg, MIRD_PARAM_TEXT_LENGTH));
    return MIRD_OK;
}
