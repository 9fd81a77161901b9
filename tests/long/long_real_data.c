/* Real data: a small MIRD model trained on the ICT-MMMO word-aligned
 * sequences (COVAREP audio, FACET video, GloVe text; text is missing from
 * the whole training split) must predict the test split's sentiment better
 * than the training mean does.  Skipped, with a message, when the shared
 * data folder is absent.  A long test (label `long`). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <mird/mird.h>

#include "support/testutil.h"

#define MMMO_DIR MIRD_SHARED_DATA_DIR "/mfn_processed_h5/mmmo"
/* Labels 1..5 onto MIRD's [-3, 3]; COVAREP carries -inf, zeroed as MMSA
 * does, and spans hundreds of units, so features become z-scores. */
#define MMMO_OPTIONS "label_offset=-3,label_scale=1.5,nonfinite=zero,standardize=train"

static int have_data(void)
{
    struct stat st;
    return stat(MMMO_DIR "/y_train.h5", &st) == 0;
}

START_TEST(test_mmmo_beats_the_mean_predictor)
{
    if (!have_data()) {
        printf("long_real_data: %s is absent; the real-data check did not run\n", MMMO_DIR);
        return;
    }
    mird_dataset *train, *valid, *test;
    ck_assert_msg(mird_dataset_read_mfn(MMMO_DIR, MIRD_SPLIT_TRAIN, MMMO_OPTIONS, &train)
                      == MIRD_OK, "%s", mird_last_error_message());
    ck_assert_int_eq(mird_dataset_read_mfn(MMMO_DIR, MIRD_SPLIT_VALID, MMMO_OPTIONS, &valid),
                     MIRD_OK);
    ck_assert_int_eq(mird_dataset_read_mfn(MMMO_DIR, MIRD_SPLIT_TEST, MMMO_OPTIONS, &test),
                     MIRD_OK);

    mird_config *cfg;
    ck_assert_int_eq(mird_config_create(&cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_preset(cfg, "demo"), MIRD_OK);
    ck_assert_int_eq(mird_dataset_apply_shapes(train, cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_AUDIO_DIM), 74);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_VISION_DIM), 36);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_TEXT_DIM), 300);
    ck_assert_int_eq(mird_config_set(cfg, "batch_size", "16"), MIRD_OK);
    ck_assert_int_eq(mird_config_set(cfg, "epochs", "25"), MIRD_OK);

    mird_model *model;
    mird_optimizer *opt;
    ck_assert_int_eq(mird_model_create(cfg, &model), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(model, &opt), MIRD_OK);
    ck_assert_msg(mird_fit(model, opt, train, NULL, valid, NULL, NULL, NULL) == MIRD_OK, "%s",
                  mird_model_error_message(model));

    double metrics[MIRD_METRIC_COUNT];
    ck_assert_int_eq(mird_evaluate(model, test, metrics, MIRD_METRIC_COUNT, NULL), MIRD_OK);
    int64_t n_train = mird_dataset_size(train), n_test = mird_dataset_size(test);
    float *labels = malloc(sizeof(float) * (size_t)(n_train + n_test));
    ck_assert_int_eq(mird_dataset_get_labels(train, labels, NULL), MIRD_OK);
    ck_assert_int_eq(mird_dataset_get_labels(test, labels + n_train, NULL), MIRD_OK);
    double mean = 0.0, baseline = 0.0;
    for (int64_t i = 0; i < n_train; i++)
        mean += labels[i] / (double)n_train;
    for (int64_t i = 0; i < n_test; i++)
        baseline += fabs(labels[n_train + i] - mean) / (double)n_test;
    printf("ICT-MMMO test: MAE %.4f (mean predictor %.4f), Corr %.4f, Acc-2 %.4f\n",
           metrics[MIRD_METRIC_MAE], baseline, metrics[MIRD_METRIC_CORR],
           metrics[MIRD_METRIC_ACC2_HAS0]);
    ck_assert_msg(metrics[MIRD_METRIC_MAE] < baseline, "test MAE %.4f is not below the mean "
                  "predictor's %.4f", metrics[MIRD_METRIC_MAE], baseline);

    free(labels);
    mird_optimizer_destroy(opt);
    mird_model_destroy(model);
    mird_config_destroy(cfg);
    mird_dataset_destroy(train), mird_dataset_destroy(valid), mird_dataset_destroy(test);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("real_data");
    TCase *tc = tcase_create("mmmo");
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_mmmo_beats_the_mean_predictor);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
