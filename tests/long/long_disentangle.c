/* The demo's claim, measured: on the synthetic data with planted factors,
 * MIRD trained with the MI constraint gives an agnostic code z^S from which
 * a linear probe recovers the shared factor better than any private factor,
 * and the CLUB estimates of the six code pairs end lower than when the same
 * model trains without the constraint.  Both could fail: an encoder that
 * mixed the factors, or a constraint term with the wrong sign, breaks them.
 *
 * A long test: it trains two demo models (label `long`, run by the release
 * stage of scripts/test.sh only). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <mird/mird.h>

#include "../../examples/mird/probe.h"
#include "support/testutil.h"

/* The demo's sizes (examples/mird/cli.h). */
#define N_TRAIN 1200
#define N_VALID 300
#define N_TEST 400

typedef struct outcome {
    double r2[4][MIRD_SYNTHETIC_FACTORS]; /* [code][factor] */
    double mi_sum;                        /* six code pairs, last epoch's mean */
    double test_mae, mean_predictor_mae;
} outcome;

static float *codes_of(mird_model *model, const mird_config *cfg, const mird_dataset *ds)
{
    int64_t n = mird_dataset_size(ds), z = mird_config_get_int(cfg, MIRD_PARAM_LATENT_DIM);
    float *codes = malloc(sizeof(float) * (size_t)(n * 4 * z));
    float *pred = malloc(sizeof(float) * (size_t)n);
    mird_batch *b = NULL;
    ck_assert_int_eq(mird_batch_create(cfg, n, &b), MIRD_OK);
    ck_assert_int_eq(mird_dataset_fill_batch(ds, 0, n, b), MIRD_OK);
    ck_assert_int_eq(mird_infer(model, b, pred, codes), MIRD_OK);
    mird_batch_destroy(b);
    free(pred);
    return codes;
}

static void train_demo(const char *constraint, outcome *out)
{
    mird_config *cfg;
    ck_assert_int_eq(mird_config_create(&cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_preset(cfg, "demo"), MIRD_OK);
    ck_assert_int_eq(mird_config_set(cfg, "constraint", constraint), MIRD_OK);
    mird_dataset *train, *valid, *test;
    ck_assert_int_eq(mird_dataset_synthetic(cfg, MIRD_SPLIT_TRAIN, N_TRAIN, 1, NULL, &train),
                     MIRD_OK);
    ck_assert_int_eq(mird_dataset_synthetic(cfg, MIRD_SPLIT_VALID, N_VALID, 1, NULL, &valid),
                     MIRD_OK);
    ck_assert_int_eq(mird_dataset_synthetic(cfg, MIRD_SPLIT_TEST, N_TEST, 1, NULL, &test),
                     MIRD_OK);
    mird_model *model;
    mird_optimizer *opt;
    mird_report *report = NULL;
    ck_assert_int_eq(mird_model_create(cfg, &model), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(model, &opt), MIRD_OK);
    ck_assert_msg(mird_fit(model, opt, train, NULL, valid, NULL, NULL, &report) == MIRD_OK, "%s",
                  mird_model_error_message(model));

    int64_t last = mird_report_epochs(report), z = mird_config_get_int(cfg, MIRD_PARAM_LATENT_DIM);
    static const mird_term pairs[] = {MIRD_TERM_MI_L_A, MIRD_TERM_MI_L_V, MIRD_TERM_MI_A_V,
                                      MIRD_TERM_MI_S_L, MIRD_TERM_MI_S_A, MIRD_TERM_MI_S_V};
    out->mi_sum = 0.0;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        out->mi_sum += mird_report_term(report, last, pairs[i]);

    float *fit_codes = codes_of(model, cfg, train), *eval_codes = codes_of(model, cfg, test);
    float *fit_factors = malloc(sizeof(float) * N_TRAIN * MIRD_SYNTHETIC_FACTORS);
    float *eval_factors = malloc(sizeof(float) * N_TEST * MIRD_SYNTHETIC_FACTORS);
    ck_assert_int_eq(mird_dataset_get_factors(train, fit_factors), MIRD_OK);
    ck_assert_int_eq(mird_dataset_get_factors(test, eval_factors), MIRD_OK);
    for (int c = 0; c < 4; c++)
        for (int f = 0; f < MIRD_SYNTHETIC_FACTORS; f++)
            out->r2[c][f] = probe_r2(fit_codes + c * z, fit_factors + f, N_TRAIN,
                                     eval_codes + c * z, eval_factors + f, N_TEST, z, 4 * z,
                                     MIRD_SYNTHETIC_FACTORS);

    double metrics[MIRD_METRIC_COUNT];
    ck_assert_int_eq(mird_evaluate(model, test, metrics, MIRD_METRIC_COUNT, NULL), MIRD_OK);
    out->test_mae = metrics[MIRD_METRIC_MAE];
    float train_labels[N_TRAIN], test_labels[N_TEST];
    ck_assert_int_eq(mird_dataset_get_labels(train, train_labels, NULL), MIRD_OK);
    ck_assert_int_eq(mird_dataset_get_labels(test, test_labels, NULL), MIRD_OK);
    double mean = 0.0;
    for (int i = 0; i < N_TRAIN; i++)
        mean += train_labels[i] / (double)N_TRAIN;
    out->mean_predictor_mae = 0.0;
    for (int i = 0; i < N_TEST; i++)
        out->mean_predictor_mae += fabs(test_labels[i] - mean) / (double)N_TEST;

    printf("constraint=%s: %lld epochs, MI sum %.4f, test MAE %.4f (mean predictor %.4f)\n",
           constraint, (long long)last, out->mi_sum, out->test_mae, out->mean_predictor_mae);
    for (int c = 0; c < 4; c++)
        printf("  R^2 from code %d: shared %.3f  language %.3f  acoustic %.3f  visual %.3f\n", c,
               out->r2[c][0], out->r2[c][1], out->r2[c][2], out->r2[c][3]);

    free(fit_codes), free(eval_codes), free(fit_factors), free(eval_factors);
    mird_report_destroy(report);
    mird_optimizer_destroy(opt);
    mird_model_destroy(model);
    mird_dataset_destroy(train), mird_dataset_destroy(valid), mird_dataset_destroy(test);
    mird_config_destroy(cfg);
}

START_TEST(test_agnostic_code_carries_the_shared_factor_and_mim_lowers_mi)
{
    outcome mim, none;
    train_demo("mim", &mim);
    train_demo("none", &none);

    ck_assert_msg(mim.test_mae < mim.mean_predictor_mae, "the model learned nothing: MAE %.4f "
                  "vs %.4f", mim.test_mae, mim.mean_predictor_mae);
    for (int f = 1; f < MIRD_SYNTHETIC_FACTORS; f++)
        ck_assert_msg(mim.r2[0][0] > mim.r2[0][f],
                      "z^S recovers private factor %d (R^2 %.3f) as well as the shared one "
                      "(%.3f)", f, mim.r2[0][f], mim.r2[0][0]);
    ck_assert_msg(mim.mi_sum < none.mi_sum,
                  "the MI estimates under mim (%.4f) are not below those under none (%.4f)",
                  mim.mi_sum, none.mi_sum);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("disentangle");
    TCase *tc = tcase_create("demo");
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_agnostic_code_carries_the_shared_factor_and_mim_lowers_mi);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
