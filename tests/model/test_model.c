/* The whole model on the tiny preset: gradients of the total loss and of the
 * estimator loss by finite differences (dropout live; masks are fixed by the
 * pass id), reproducibility across thread counts, and a step that fails
 * half-way leaving model and optimizer exactly as they were. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fault.h"
#include "core/rng.h"
#include "support/testutil.h"
#include "train/trainer.h"

typedef struct tiny_data {
    float *text, *audio, *vision, labels[5];
    int32_t *ids;
    int32_t text_len[5], audio_len[5], vision_len[5];
    uint8_t labeled[5];
} tiny_data;

/* Five samples with padding everywhere, a missing audio, a missing vision
 * and an empty text, two unlabeled. */
static mird_batch *tiny_batch(const mird_config *cfg, tiny_data *d)
{
    int64_t B = 5, Tl = mird_cfg_int(cfg, MIRD_PARAM_TEXT_LENGTH);
    int64_t dl = mird_cfg_int(cfg, MIRD_PARAM_TEXT_DIM);
    int64_t Ta = mird_cfg_int(cfg, MIRD_PARAM_AUDIO_LENGTH), da = mird_cfg_int(cfg, MIRD_PARAM_AUDIO_DIM);
    int64_t Tv = mird_cfg_int(cfg, MIRD_PARAM_VISION_LENGTH), dv = mird_cfg_int(cfg, MIRD_PARAM_VISION_DIM);
    d->text = tu_alloc_uniform(B * Tl * dl, -1, 1, 31);
    d->audio = tu_alloc_uniform(B * Ta * da, -1, 1, 32);
    d->vision = tu_alloc_uniform(B * Tv * dv, -1, 1, 33);
    d->ids = mird_alloc((size_t)(B * Tl) * sizeof(int32_t));
    for (int64_t i = 0; i < B * Tl; i++)
        d->ids[i] = (int32_t)((i * 7 + 3) % mird_cfg_int(cfg, MIRD_PARAM_VOCAB_SIZE));
    int32_t tl[5] = {(int32_t)Tl, 4, (int32_t)Tl, 0, 3};
    int32_t al[5] = {(int32_t)Ta, 0, 5, (int32_t)Ta, 3};
    int32_t vl[5] = {(int32_t)Tv, 7, 0, 4, (int32_t)Tv};
    float labels[5] = {1.5f, -0.5f, 0.0f, 2.25f, 0.0f};
    uint8_t labeled[5] = {1, 1, 0, 1, 0};
    memcpy(d->text_len, tl, sizeof tl), memcpy(d->audio_len, al, sizeof al);
    memcpy(d->vision_len, vl, sizeof vl), memcpy(d->labels, labels, sizeof labels);
    memcpy(d->labeled, labeled, sizeof labeled);
    mird_batch *b;
    ck_assert_int_eq(mird_batch_create(cfg, B, &b), MIRD_OK);
    if (mird_cfg_int(cfg, MIRD_PARAM_TEXT_MODE) == MIRD_TEXT_TOKENS)
        ck_assert_int_eq(mird_batch_set_tokens(b, d->ids, d->text_len, MIRD_BORROW), MIRD_OK);
    else
        ck_assert_int_eq(mird_batch_set_text(b, d->text, d->text_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_audio(b, d->audio, d->audio_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_vision(b, d->vision, d->vision_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_labels(b, d->labels, d->labeled, MIRD_BORROW), MIRD_OK);
    return b;
}

static void free_data(tiny_data *d)
{
    mird_free(d->text), mird_free(d->audio), mird_free(d->vision), mird_free(d->ids);
}

static mird_config *tiny_config(const char *const *settings)
{
    mird_config *cfg;
    ck_assert_int_eq(mird_config_create(&cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_preset(cfg, "tiny"), MIRD_OK);
    for (int i = 0; settings && settings[i]; i += 2)
        ck_assert_msg(mird_config_set(cfg, settings[i], settings[i + 1]) == MIRD_OK, "%s",
                      mird_config_error_message(cfg));
    return cfg;
}

static double total_loss(mird_model *model, const mird_batch *b)
{
    mird_losses losses;
    ck_assert_msg(mird_model_forward(model, b, 3, &losses, 0) == MIRD_OK, "%s", model->err.message);
    return losses.total;
}

/* Directional finite differences, one tensor at a time: along a random
 * direction v of that tensor, (L(p + h v) - L(p - h v)) / 2h must equal
 * g . v.  Every tensor is checked as a whole (a wrong gradient anywhere in
 * it moves g . v), and spreading the step over the tensor keeps it clear of
 * the kinks (ReLU, sparsemax supports, the alpha clip) an element-wise step
 * of the same size would hit. */
static void check_total_gradients(const char *const *settings)
{
    mird_config *cfg = tiny_config(settings);
    mird_model *model;
    ck_assert_msg(mird_model_create(cfg, &model) == MIRD_OK, "%s", mird_last_error_message());
    tiny_data data;
    mird_batch *b = tiny_batch(cfg, &data);
    ck_assert_int_eq(mird_model_prepare(model, 1, 5), MIRD_OK);
    mird_losses losses;
    mird_params_zero_grads(&model->params, MIRD_GROUP_MODEL);
    ck_assert_int_eq(mird_model_forward(model, b, 3, &losses, 1), MIRD_OK);
    ck_assert_msg(mird_model_backward(model, b, 3, &losses) == MIRD_OK, "%s", model->err.message);

    mird_param_table *t = &model->params;
    for (int i = 0; i < t->count; i++) {
        const mird_param_entry *e = &t->entries[i];
        if (e->group != MIRD_GROUP_MODEL)
            continue;
        float *p = mird_param_value(t, i);
        const float *g = mird_param_grad(t, i);
        float *saved = tu_copy(p, e->numel);
        float *v = tu_alloc_uniform(e->numel, -1, 1, 100 + (uint32_t)i);
        const double h = 1e-3;
        double analytic = 0.0;
        for (size_t k = 0; k < e->numel; k++)
            analytic += (double)g[k] * v[k];
        for (size_t k = 0; k < e->numel; k++)
            p[k] = saved[k] + (float)(h * v[k]);
        double up = total_loss(model, b);
        for (size_t k = 0; k < e->numel; k++)
            p[k] = saved[k] - (float)(h * v[k]);
        double down = total_loss(model, b);
        memcpy(p, saved, e->numel * sizeof(float));
        double numeric = (up - down) / (2 * h);
        ck_assert_msg(fabs(numeric - analytic) <= 2e-3 + 2e-2 * fmax(fabs(numeric), fabs(analytic)),
                      "d total / d %s along v: analytic %.6g, finite difference %.6g", e->name,
                      analytic, numeric);
        mird_free(saved), mird_free(v);
    }
    mird_batch_destroy(b);
    free_data(&data);
    mird_model_destroy(model);
    mird_config_destroy(cfg);
}

START_TEST(test_total_gradient_default)
{
    check_total_gradients(NULL);
}
END_TEST

START_TEST(test_total_gradient_variants)
{
    static const char *const tokens_lstm_oc[] = {"text_mode", "tokens", "language_encoder", "lstm",
                                                 "constraint", "oc", "total", "weighted", NULL};
    static const char *const sampled[] = {"club_sample", "true", "mask_padding", "false",
                                          "input_mi", "false", NULL};
    check_total_gradients(tokens_lstm_oc);
    check_total_gradients(sampled);
}
END_TEST

/* A model, its optimizer and the tiny batch, ready to step. */
typedef struct training {
    mird_config *cfg;
    mird_model *model;
    mird_optimizer *opt;
    mird_batch *batch;
    tiny_data data;
} training;

/* In place: the batch borrows the arrays inside t->data. */
static void make_training(training *t, const char *const *settings)
{
    t->cfg = tiny_config(settings);
    ck_assert_int_eq(mird_model_create(t->cfg, &t->model), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(t->model, &t->opt), MIRD_OK);
    t->batch = tiny_batch(t->cfg, &t->data);
}

static void free_training(training *t)
{
    mird_batch_destroy(t->batch);
    free_data(&t->data);
    mird_optimizer_destroy(t->opt);
    mird_model_destroy(t->model);
    mird_config_destroy(t->cfg);
}

/* Runs two steps from the same seed and returns a copy of every parameter. */
static float *two_steps(int threads, size_t *count)
{
    ck_assert_int_eq(mird_set_num_threads(threads), MIRD_OK);
    static const char *const wider[] = {"hidden", "32", "heads", "4", "ffn_dim", "64",
                                        "text_length", "12", "max_positions", "12",
                                        "audio_length", "40", "vision_length", "30", NULL};
    training t;
    make_training(&t, wider);
    for (int s = 0; s < 2; s++)
        ck_assert_msg(mird_step(t.model, t.opt, t.batch, NULL, 0) == MIRD_OK, "%s",
                      mird_model_error_message(t.model));
    *count = t.model->params.total;
    float *copy = tu_copy(t.model->params.values, t.model->params.total);
    free_training(&t);
    return copy;
}

START_TEST(test_steps_are_identical_on_one_and_two_threads)
{
    size_t n1, n2;
    float *one = two_steps(1, &n1);
    float *two = two_steps(2, &n2);
    ck_assert_uint_eq(n1, n2);
    tu_assert_same_across_threads("parameters after two steps", one, two, n1);
    mird_free(one), mird_free(two);
    mird_set_num_threads(0);
}
END_TEST

START_TEST(test_failed_step_rolls_back)
{
    training t;
    make_training(&t, NULL);
    mird_model *model = t.model;
    mird_optimizer *opt = t.opt;
    mird_batch *b = t.batch;
    ck_assert_int_eq(mird_step(model, opt, b, NULL, 0), MIRD_OK);
    size_t n = model->params.total;
    float *values = tu_copy(model->params.values, n), *m = tu_copy(opt->m, n), *v = tu_copy(opt->v, n);
    int64_t steps = opt->steps, estimator_steps = opt->estimator_steps;
    uint64_t passes = model->passes;

    /* Fail at the third estimator step: the model update and two estimator
     * updates have happened by then. */
    mird_fault_countdown = 3;
    double terms[MIRD_TERM_COUNT] = {42.0};
    ck_assert_int_eq(mird_step(model, opt, b, terms, MIRD_TERM_COUNT), MIRD_ERR_INTERNAL);
    ck_assert_int_eq(mird_fault_countdown, 0);
    ck_assert_ptr_nonnull(strstr(mird_model_error_message(model), "estimator step 3"));
    ck_assert_int_eq(memcmp(values, model->params.values, n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(m, opt->m, n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(v, opt->v, n * sizeof(float)), 0);
    ck_assert_int_eq(opt->steps, steps);
    ck_assert_int_eq(opt->estimator_steps, estimator_steps);
    ck_assert_uint_eq(model->passes, passes);
    ck_assert_double_eq(terms[0], 42.0);

    /* And the next step goes through as if nothing happened. */
    ck_assert_int_eq(mird_step(model, opt, b, terms, MIRD_TERM_COUNT), MIRD_OK);
    ck_assert_int_eq(opt->steps, steps + 1);
    mird_free(values), mird_free(m), mird_free(v);
    free_training(&t);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, test_total_gradient_default);
    tcase_add_test(tc, test_total_gradient_variants);
    tcase_add_test(tc, test_steps_are_identical_on_one_and_two_threads);
    tcase_add_test(tc, test_failed_step_rolls_back);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
