/* The reference test (llm.c's test_gpt2 for MIRD): every fixture written by
 * the PyTorch port in tests/reference/ is loaded, its weights put into a
 * libmird model, and the forward outputs, every loss term and MI estimate,
 * every parameter gradient, three training steps' losses and the final
 * parameters are compared tensor by tensor.
 *
 * Tolerance: each tensor is compared relative to its largest reference
 * entry, |got - want| <= 1e-4 * max|want| + floor.  The port's own float32
 * gradients sit within 3.5e-6 of float64 ones (tests/reference/README.md),
 * so 1e-4 leaves room for other summation orders and nothing more.  The
 * floor (1e-6 for one pass, 1e-4 after three optimizer steps) covers the
 * gradients that are zero in exact arithmetic and hold rounding noise in the
 * port (key biases under softmax and sparsemax), whose Adam updates turn
 * noise into steps of ~lr * noise / 1e-6. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "io/safetensors.h"
#include "support/testutil.h"
#include "train/trainer.h"

#ifndef MIRD_FIXTURE_DIR
#error "MIRD_FIXTURE_DIR must point at tests/reference/fixtures"
#endif

typedef struct fixture {
    mird_st_file *file;
    char name[128];
} fixture;

static fixture open_fixture(const char *name)
{
    fixture f;
    char path[512];
    snprintf(f.name, sizeof f.name, "%s", name);
    snprintf(path, sizeof path, "%s/%s.safetensors", MIRD_FIXTURE_DIR, name);
    mird_error err = {0};
    ck_assert_msg(mird_st_open(path, &f.file, &err) == MIRD_OK, "%s", err.message);
    return f;
}

/* The port's config keys and ours. */
static const struct {
    const char *theirs, *ours;
} key_map[] = {
    {"text_mode", "text_mode"},         {"language_encoder", "language_encoder"},
    {"T_l", "text_length"},             {"d_l", "text_dim"},
    {"vocab", "vocab_size"},            {"max_positions", "max_positions"},
    {"lstm_embedding_dim", "lstm_embedding_dim"}, {"H", "hidden"},
    {"layers", "layers"},               {"heads", "heads"},
    {"d_ff", "ffn_dim"},                {"T_a", "audio_length"},
    {"d_a", "audio_dim"},               {"T_v", "vision_length"},
    {"d_v", "vision_dim"},              {"z", "latent_dim"},
    {"r", "regressor_dim"},             {"club_hidden", "club_hidden"},
    {"constraint", "constraint"},       {"oc_detach_norm", "oc_detach_norm"},
    {"total", "total"},                 {"w_l", "weight_rec_l"},
    {"w_a", "weight_rec_a"},            {"w_v", "weight_rec_v"},
    {"lam", "lambda"},                  {"input_mi", "input_mi"},
    {"mask_padding", "mask_padding"},   {"club_sample", "club_sample"},
    {"p_h", "dropout_hidden"},          {"p_wsa", "dropout_wsa"},
    {"p_proj", "dropout_proj"},         {"p_reg", "dropout_reg"},
    {"beta_shift", "beta_shift"},       {"estimator_inputs", "estimator_inputs"},
    {"K", "estimator_steps"},           {"lr", "learning_rate"},
    {"estimator_lr", "estimator_learning_rate"}, {"weight_decay", "weight_decay"},
    {"max_grad_norm", "clip_norm"},
};

/* Constants libmird fixes that the port states in its config. */
static const struct {
    const char *key;
    double value;
} fixed_constants[] = {
    {"type_vocab", 2},    {"bert_ln_eps", 1e-12}, {"wsa_ln_eps", 1e-5}, {"mag_eps", 1e-6},
    {"oc_eps", 1e-6},     {"beta1", 0.9},         {"beta2", 0.999},     {"adamw_eps", 1e-6},
    {"adam_eps", 1e-8},
};

static mird_config fixture_config(const fixture *f)
{
    const char *text = mird_st_metadata(f->file, "config");
    ck_assert_msg(text != NULL, "%s: no config metadata", f->name);
    json_object *root = json_tokener_parse(text);
    ck_assert_msg(root && json_object_is_type(root, json_type_object), "%s: bad config", f->name);
    mird_config cfg;
    mird_error err = {0};
    mird_config_reset(&cfg);
    mird_config_store(&cfg, MIRD_PARAM_SCHEDULE, MIRD_SCHEDULE_CONSTANT, &err);
    int mapped = 0;
    json_object_object_foreach(root, key, value)
    {
        const char *ours = NULL;
        for (size_t i = 0; i < sizeof key_map / sizeof key_map[0]; i++)
            if (strcmp(key_map[i].theirs, key) == 0)
                ours = key_map[i].ours;
        if (!ours) {
            int known = 0;
            for (size_t i = 0; i < sizeof fixed_constants / sizeof fixed_constants[0]; i++)
                if (strcmp(fixed_constants[i].key, key) == 0) {
                    known = 1;
                    ck_assert_msg(json_object_get_double(value) == fixed_constants[i].value,
                                  "%s: %s = %g, libmird fixes %g", f->name, key,
                                  json_object_get_double(value), fixed_constants[i].value);
                }
            ck_assert_msg(known, "%s: config key %s is unknown to the test", f->name, key);
            continue;
        }
        char buf[64];
        switch (json_object_get_type(value)) {
        case json_type_boolean:
            snprintf(buf, sizeof buf, "%s", json_object_get_boolean(value) ? "true" : "false");
            break;
        case json_type_string:
            snprintf(buf, sizeof buf, "%s", json_object_get_string(value));
            break;
        default:
            snprintf(buf, sizeof buf, "%.17g", json_object_get_double(value));
            break;
        }
        ck_assert_msg(mird_config_store_text(&cfg, ours, buf, &err) == MIRD_OK, "%s: %s",
                      f->name, err.message);
        mapped++;
    }
    ck_assert_int_eq(mapped, (int)(sizeof key_map / sizeof key_map[0]));
    json_object_put(root);
    return cfg;
}

/* Puts every "param.<name>" (or "final.param.<name>" when `prefix` says so)
 * into the table, insisting that names and shapes match both ways. */
static void load_params(const fixture *f, mird_param_table *t, const char *prefix)
{
    int in_file = 0;
    size_t prefix_len = strlen(prefix);
    for (int i = 0; i < mird_st_count(f->file); i++)
        if (strncmp(mird_st_tensor_at(f->file, i)->name, prefix, prefix_len) == 0)
            in_file++;
    ck_assert_msg(in_file == t->count, "%s: %d tensors named %s*, the model has %d", f->name,
                  in_file, prefix, t->count);
    for (int i = 0; i < t->count; i++) {
        char name[160];
        mird_error err = {0};
        snprintf(name, sizeof name, "%s%s", prefix, t->entries[i].name);
        ck_assert_msg(mird_st_copy_f32(f->file, name, t->entries[i].ndim, t->entries[i].dims,
                                       mird_param_value(t, i), &err) == MIRD_OK,
                      "%s: %s", f->name, err.message);
    }
}

static void compare(const fixture *f, const char *what, const float *got, const float *want,
                    size_t n, double floor)
{
    double scale = 0.0, worst = 0.0;
    size_t worst_at = 0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)want[i]));
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - want[i]);
        if (!(diff <= worst)) {
            worst = isnan(diff) ? INFINITY : diff;
            worst_at = i;
        }
    }
    ck_assert_msg(worst <= 1e-4 * scale + floor,
                  "%s: %s[%zu] = %.9g, reference %.9g (max |ref| %.3g)", f->name, what, worst_at,
                  n ? got[worst_at] : 0.0, n ? want[worst_at] : 0.0, scale);
}

static const float *tensor_f32(const fixture *f, const char *name, size_t *n)
{
    const mird_st_tensor *t = mird_st_find(f->file, name);
    ck_assert_msg(t != NULL, "%s: no tensor %s", f->name, name);
    ck_assert_int_eq(t->dtype, MIRD_ST_F32);
    if (n)
        *n = t->numel;
    return t->data;
}

static void compare_scalar(const fixture *f, const char *name, double got)
{
    float value = (float)got;
    compare(f, name, &value, tensor_f32(f, name, NULL), 1, 1e-6);
}

static mird_batch *fixture_batch(const fixture *f, const mird_config *cfg, int64_t *batch_size)
{
    const mird_st_tensor *labels = mird_st_find(f->file, "batch.labels");
    ck_assert_ptr_nonnull(labels);
    int64_t B = labels->shape[0];
    *batch_size = B;
    mird_batch *b;
    ck_assert_int_eq(mird_batch_create(cfg, B, &b), MIRD_OK);
    const mird_st_tensor *text = mird_st_find(f->file, "batch.text");
    const int32_t *text_len = mird_st_find(f->file, "batch.text_lengths")->data;
    if (text->dtype == MIRD_ST_I32)
        ck_assert_int_eq(mird_batch_set_tokens(b, text->data, text_len, MIRD_COPY), MIRD_OK);
    else
        ck_assert_int_eq(mird_batch_set_text(b, text->data, text_len, MIRD_COPY), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_audio(b, tensor_f32(f, "batch.audio", NULL),
                                          mird_st_find(f->file, "batch.audio_lengths")->data,
                                          MIRD_COPY),
                     MIRD_OK);
    ck_assert_int_eq(mird_batch_set_vision(b, tensor_f32(f, "batch.vision", NULL),
                                           mird_st_find(f->file, "batch.vision_lengths")->data,
                                           MIRD_COPY),
                     MIRD_OK);
    const int32_t *labeled32 = mird_st_find(f->file, "batch.labeled")->data;
    uint8_t labeled[64];
    ck_assert_int_le(B, 64);
    for (int64_t i = 0; i < B; i++)
        labeled[i] = (uint8_t)labeled32[i];
    ck_assert_int_eq(mird_batch_set_labels(b, labels->data, labeled, MIRD_COPY), MIRD_OK);
    return b;
}

static mird_model *fixture_model(const fixture *f, const mird_config *cfg)
{
    mird_model *model;
    ck_assert_msg(mird_model_create(cfg, &model) == MIRD_OK, "%s: %s", f->name,
                  mird_last_error_message());
    load_params(f, &model->params, "param.");
    return model;
}

static void check_one_pass(const fixture *f, const mird_config *cfg)
{
    mird_model *model = fixture_model(f, cfg);
    int64_t B;
    mird_batch *batch = fixture_batch(f, cfg, &B);
    int64_t z = mird_cfg_int(cfg, MIRD_PARAM_LATENT_DIM);

    ck_assert_int_eq(mird_model_prepare(model, 1, B), MIRD_OK);
    mird_losses losses;
    mird_params_zero_grads(&model->params, MIRD_GROUP_MODEL);
    ck_assert_msg(mird_model_forward(model, batch, 0, &losses, 1) == MIRD_OK, "%s: %s", f->name,
                  model->err.message);
    mird_model_acts *a = &model->train_ws.acts;
    compare(f, "out.pred", a->pred, tensor_f32(f, "out.pred", NULL), (size_t)B, 1e-6);
    static const char *const code_names[4] = {"out.code_s", "out.code_l", "out.code_a",
                                              "out.code_v"};
    for (int c = 0; c < 4; c++)
        compare(f, code_names[c], a->code[c], tensor_f32(f, code_names[c], NULL),
                (size_t)(B * z), 1e-6);
    ck_assert(losses.has_task && losses.has_rec[0] && losses.has_rec[1] && losses.has_rec[2]);
    compare_scalar(f, "loss.task", losses.task);
    compare_scalar(f, "loss.rec_l", losses.rec[0]);
    compare_scalar(f, "loss.rec_a", losses.rec[1]);
    compare_scalar(f, "loss.rec_v", losses.rec[2]);
    compare_scalar(f, "loss.constraint", losses.constraint);
    compare_scalar(f, "loss.total", losses.total);
    compare_scalar(f, "loss.estimator", losses.estimators.estimator_loss);
    for (int p = 0; p < MIRD_CLUB_PAIR_COUNT; p++) {
        char name[32];
        snprintf(name, sizeof name, "mi.%s", mird_club_pair_name((mird_club_pair)p));
        if (mird_st_find(f->file, name))
            compare_scalar(f, name, losses.estimators.estimate[p]);
        else
            ck_assert_msg(isnan(losses.estimators.estimate[p]), "%s: %s should be absent",
                          f->name, name);
    }

    /* Gradients: the total into the model, the estimator loss into the
     * estimators, each compared with the port's. */
    ck_assert_msg(mird_model_backward(model, batch, 0, &losses) == MIRD_OK, "%s: %s", f->name,
                  model->err.message);
    mird_pass pass = {model->dnnl, &model->params, &model->cfg, B, 1, 1, 0};
    mird_estimator_inputs in = {{a->code[0], a->code[1], a->code[2], a->code[3]},
                                a->audio_mean, a->visual_mean};
    mird_params_zero_grads(&model->params, MIRD_GROUP_ESTIMATOR);
    ck_assert_int_eq(mird_estimators_backward_learning(&model->estimators, &pass, &in,
                                                       &a->estimators, 1.0),
                     MIRD_OK);
    for (int i = 0; i < model->params.count; i++) {
        char name[160];
        snprintf(name, sizeof name, "grad.%s", model->params.entries[i].name);
        compare(f, name, mird_param_grad(&model->params, i), tensor_f32(f, name, NULL),
                model->params.entries[i].numel, 1e-6);
    }
    mird_batch_destroy(batch);
    mird_model_destroy(model);
}

static void check_three_steps(const fixture *f, const mird_config *cfg)
{
    mird_model *model = fixture_model(f, cfg);
    mird_optimizer *opt;
    ck_assert_int_eq(mird_optimizer_create(model, &opt), MIRD_OK);
    int64_t B;
    mird_batch *batch = fixture_batch(f, cfg, &B);
    const float *want_total = tensor_f32(f, "steps.total", NULL);
    const float *want_estimator = tensor_f32(f, "steps.estimator", NULL);
    for (int s = 0; s < 3; s++) {
        double terms[MIRD_TERM_COUNT];
        mird_status st = mird_step(model, opt, batch, terms, MIRD_TERM_COUNT);
        ck_assert_msg(st == MIRD_OK, "%s: step %d: %s: %s", f->name, s, mird_status_string(st),
                      mird_model_error_message(model));
        float total = (float)terms[MIRD_TERM_TOTAL], est = (float)terms[MIRD_TERM_ESTIMATOR];
        compare(f, "steps.total", &total, want_total + s, 1, 1e-5);
        compare(f, "steps.estimator", &est, want_estimator + s, 1, 1e-5);
    }
    /* Final parameters, by name. */
    mird_param_table *t = &model->params;
    for (int i = 0; i < t->count; i++) {
        char name[160];
        snprintf(name, sizeof name, "final.param.%s", t->entries[i].name);
        compare(f, name, mird_param_value(t, i), tensor_f32(f, name, NULL), t->entries[i].numel,
                1e-4);
    }
    mird_batch_destroy(batch);
    mird_optimizer_destroy(opt);
    mird_model_destroy(model);
}

static const char *const fixtures[] = {
    "tiny_features_transformer_mim_log",
    "tiny_features_lstm_mim_log",
    "tiny_tokens_transformer_mim_log",
    "tiny_features_transformer_oc_weighted",
    "tiny_features_transformer_oc_detach_log",
    "tiny_features_transformer_none_log",
    "tiny_features_transformer_mim_log_nopadmask",
    "tiny_tokens_lstm_mim_weighted",
    "small_features_transformer_mim_log",
};
enum { FIXTURE_COUNT = sizeof fixtures / sizeof fixtures[0] };

START_TEST(test_one_pass_matches_reference)
{
    fixture f = open_fixture(fixtures[_i]);
    mird_config cfg = fixture_config(&f);
    check_one_pass(&f, &cfg);
    mird_st_close(f.file);
}
END_TEST

START_TEST(test_three_steps_match_reference)
{
    fixture f = open_fixture(fixtures[_i]);
    mird_config cfg = fixture_config(&f);
    check_three_steps(&f, &cfg);
    mird_st_close(f.file);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("reference");
    TCase *tc = tcase_create("reference");
    tcase_add_loop_test(tc, test_one_pass_matches_reference, 0, FIXTURE_COUNT);
    tcase_add_loop_test(tc, test_three_steps_match_reference, 0, FIXTURE_COUNT);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
