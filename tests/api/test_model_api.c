/* mird_model / mird_optimizer / mird_step / mird_infer through the public
 * API: misuse gives a status and a message naming the problem and changes
 * nothing; inference is per-sample and leaves parameters alone. */
#include <math.h>
#include <string.h>

#include <mird/mird.h>

#include "core/alloc.h"
#include "support/modelutil.h"
#include "support/testutil.h"
#include "train/trainer.h"

/* A byte copy of everything a step may change. */
typedef struct state_copy {
    float *values, *m, *v;
    size_t n;
    int64_t steps;
} state_copy;

static state_copy copy_state(const mu_tiny *s)
{
    state_copy c = {NULL, NULL, NULL, s->model->params.total, s->opt->steps};
    c.values = tu_copy(s->model->params.values, c.n);
    c.m = tu_copy(s->opt->m, c.n);
    c.v = tu_copy(s->opt->v, c.n);
    return c;
}

static void assert_unchanged(const mu_tiny *s, state_copy *c)
{
    ck_assert_int_eq(memcmp(c->values, s->model->params.values, c->n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(c->m, s->opt->m, c->n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(c->v, s->opt->v, c->n * sizeof(float)), 0);
    ck_assert_int_eq(s->opt->steps, c->steps);
    mird_free(c->values), mird_free(c->m), mird_free(c->v);
}

START_TEST(test_step_reports_every_term)
{
    mu_tiny s;
    mu_tiny_make(&s);
    double terms[MIRD_TERM_COUNT + 3];
    for (int i = 0; i < MIRD_TERM_COUNT + 3; i++)
        terms[i] = -7.0;
    ck_assert_int_eq(mird_step(s.model, s.opt, s.batch, terms, MIRD_TERM_COUNT + 3), MIRD_OK);
    for (int i = 0; i < MIRD_TERM_COUNT; i++)
        ck_assert_msg(isfinite(terms[i]), "%s = %g", mird_term_name((mird_term)i), terms[i]);
    ck_assert_double_eq(terms[MIRD_TERM_COUNT], -7.0); /* past the known terms: untouched */
    ck_assert_int_eq(mird_optimizer_step_count(s.opt), 1);
    ck_assert_str_eq(mird_term_name(MIRD_TERM_MI_S_XV), "mi_s_xv");
    ck_assert_ptr_null(mird_term_name((mird_term)MIRD_TERM_COUNT));
    /* A short array receives only what fits. */
    double two[2] = {0};
    ck_assert_int_eq(mird_step(s.model, s.opt, s.batch, two, 2), MIRD_OK);
    ck_assert(isfinite(two[0]) && isfinite(two[1]));
    ck_assert_int_gt(mird_model_parameter_count(s.model), 10000);
    mu_tiny_destroy(&s);
}
END_TEST

START_TEST(test_step_misuse_changes_nothing)
{
    mu_tiny s;
    mu_tiny_make(&s);
    ck_assert_int_eq(mird_step(s.model, s.opt, s.batch, NULL, 0), MIRD_OK);
    state_copy c = copy_state(&s);

    ck_assert_int_eq(mird_step(NULL, s.opt, s.batch, NULL, 0), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "model is NULL"));
    ck_assert_int_eq(mird_step(s.model, NULL, s.batch, NULL, 0), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_step(s.model, s.opt, NULL, NULL, 0), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "batch is NULL"));

    /* An optimizer made for another model. */
    mird_model *other;
    mird_optimizer *other_opt;
    ck_assert_int_eq(mird_model_create(s.cfg, &other), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(other, &other_opt), MIRD_OK);
    ck_assert_int_eq(mird_step(s.model, other_opt, s.batch, NULL, 0), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_model_error_message(s.model), "another model"));
    mird_optimizer_destroy(other_opt);
    mird_model_destroy(other);

    /* A batch made for other shapes. */
    mird_config *wide;
    mird_batch *foreign;
    ck_assert_int_eq(mird_config_copy(s.cfg, &wide), MIRD_OK);
    ck_assert_int_eq(mird_config_set_int(wide, MIRD_PARAM_AUDIO_DIM, 5), MIRD_OK);
    ck_assert_int_eq(mird_batch_create(wide, 5, &foreign), MIRD_OK);
    ck_assert_int_eq(mird_step(s.model, s.opt, foreign, NULL, 0), MIRD_ERR_SHAPE);
    ck_assert_str_eq(mird_model_error_message(s.model),
                     "the batch was made for audio_dim = 5, the model has 4");
    ck_assert_str_eq(mird_last_error_message(), mird_model_error_message(s.model));
    mird_batch_destroy(foreign);
    mird_config_destroy(wide);

    /* A batch with a field not set. */
    mird_batch *partial;
    ck_assert_int_eq(mird_batch_create(s.cfg, 5, &partial), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_text(partial, s.text, s.text_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_step(s.model, s.opt, partial, NULL, 0), MIRD_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(mird_model_error_message(s.model), "mird_batch_set_audio"));
    ck_assert_int_eq(mird_batch_set_audio(partial, s.audio, s.audio_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_vision(partial, s.vision, s.vision_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_step(s.model, s.opt, partial, NULL, 0), MIRD_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(mird_model_error_message(s.model), "labels"));

    /* Lengths beyond the padded length, negative ones and non-finite
     * values never reach a step: the batch refuses them, naming the field,
     * and keeps what it had. */
    int32_t too_long[5] = {6, 2, 9, 1, 4};
    ck_assert_int_eq(mird_batch_set_audio(partial, s.audio, too_long, MIRD_BORROW), MIRD_ERR_SHAPE);
    ck_assert_str_eq(mird_batch_error_message(partial), "audio lengths[2] = 9 is outside 0..8");
    float nan_vision[5 * 10 * 6];
    memcpy(nan_vision, s.vision, sizeof nan_vision);
    nan_vision[123] = NAN;
    ck_assert_int_eq(mird_batch_set_vision(partial, nan_vision, s.vision_len, MIRD_BORROW),
                     MIRD_ERR_NONFINITE);
    ck_assert_str_eq(mird_batch_error_message(partial), "vision[2][0][3] = nan is not finite");

    /* Finite inputs so large that the forward overflows: the step is
     * refused before anything is updated. */
    float huge_audio[5 * 8 * 4];
    for (size_t i = 0; i < sizeof huge_audio / sizeof huge_audio[0]; i++)
        huge_audio[i] = (i % 2 ? 3e38f : -3e38f);
    ck_assert_int_eq(mird_batch_set_audio(partial, huge_audio, s.audio_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_labels(partial, s.labels, NULL, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_step(s.model, s.opt, partial, NULL, 0), MIRD_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(mird_model_error_message(s.model), "not finite"));
    mird_batch_destroy(partial);

    assert_unchanged(&s, &c);
    mu_tiny_destroy(&s);
}
END_TEST

START_TEST(test_inference_is_per_sample_and_read_only)
{
    mu_tiny s;
    mu_tiny_make(&s);
    ck_assert_int_eq(mird_step(s.model, s.opt, s.batch, NULL, 0), MIRD_OK);
    state_copy c = copy_state(&s);
    float pred[5], codes[5 * 4 * 8];
    ck_assert_int_eq(mird_infer(s.model, s.batch, pred, codes), MIRD_OK);
    float again[5];
    ck_assert_int_eq(mird_infer(s.model, s.batch, again, NULL), MIRD_OK);
    ck_assert_int_eq(memcmp(pred, again, sizeof pred), 0); /* no dropout at inference */

    /* Each sample alone gives its prediction and codes from the batch. */
    for (int i = 0; i < 5; i++) {
        mird_batch *one;
        ck_assert_int_eq(mird_batch_create(s.cfg, 1, &one), MIRD_OK);
        ck_assert_int_eq(mird_batch_set_text(one, s.text + i * 6 * 16, s.text_len + i, MIRD_BORROW),
                         MIRD_OK);
        ck_assert_int_eq(mird_batch_set_audio(one, s.audio + i * 8 * 4, s.audio_len + i, MIRD_BORROW),
                         MIRD_OK);
        ck_assert_int_eq(mird_batch_set_vision(one, s.vision + i * 10 * 6, s.vision_len + i,
                                               MIRD_BORROW),
                         MIRD_OK);
        float p, code[4 * 8];
        ck_assert_int_eq(mird_infer(s.model, one, &p, code), MIRD_OK);
        tu_assert_close("single prediction", &p, &pred[i], 1, 1e-5, 1e-5);
        tu_assert_close("single codes", code, codes + i * 32, 32, 1e-5, 1e-5);
        mird_batch_destroy(one);
    }
    ck_assert_int_eq(mird_infer(s.model, s.batch, NULL, NULL), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "predictions"));
    assert_unchanged(&s, &c);
    mu_tiny_destroy(&s);
}
END_TEST

START_TEST(test_lifecycle)
{
    mird_model_destroy(NULL);
    mird_optimizer_destroy(NULL);
    ck_assert_int_eq(mird_model_create(NULL, NULL), MIRD_ERR_NULL_ARGUMENT);
    mird_config *cfg;
    ck_assert_int_eq(mird_config_create(&cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_preset(cfg, "tiny"), MIRD_OK);
    ck_assert_int_eq(mird_config_set_int(cfg, MIRD_PARAM_HEADS, 3), MIRD_OK);
    mird_model *model = (mird_model *)cfg; /* must be overwritten with NULL */
    ck_assert_int_eq(mird_model_create(cfg, &model), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(model);
    ck_assert_str_eq(mird_last_error_message(), "heads = 3 does not divide hidden = 16");
    ck_assert_int_eq(mird_config_set_int(cfg, MIRD_PARAM_HEADS, 4), MIRD_OK);
    ck_assert_int_eq(mird_model_create(cfg, &model), MIRD_OK);
    mird_config *back;
    ck_assert_int_eq(mird_model_get_config(model, &back), MIRD_OK);
    ck_assert_int_eq(mird_config_get_int(back, MIRD_PARAM_HEADS), 4);
    mird_optimizer *opt;
    ck_assert_int_eq(mird_optimizer_create(model, &opt), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_set_total_steps(opt, 0), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_optimizer_set_total_steps(opt, 100), MIRD_OK);
    mird_optimizer_destroy(opt);
    mird_model_destroy(model);
    mird_config_destroy(back);
    mird_config_destroy(cfg);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("model_api");
    TCase *tc = tcase_create("model_api");
    tcase_add_test(tc, test_step_reports_every_term);
    tcase_add_test(tc, test_step_misuse_changes_nothing);
    tcase_add_test(tc, test_inference_is_per_sample_and_read_only);
    tcase_add_test(tc, test_lifecycle);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
