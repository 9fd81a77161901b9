/* Metrics as the MMSA toolkit computes them: hand-worked cases (x.5 labels,
 * negative zero, one-class splits, sklearn's weighted F1), argument checks,
 * and properties on the real CMU-MOSI labels when ../shared/data is there. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mird/mird.h>

#include "support/h5write.h"
#include "support/mosi_table.h"
#include "support/testutil.h"

#ifndef MIRD_SHARED_DATA_DIR
#error "MIRD_SHARED_DATA_DIR must point at the shared real-data directory"
#endif

static void compute(const float *p, const float *y, int64_t n, double m[MIRD_METRIC_COUNT])
{
    mird_status st = mird_metrics_compute(p, y, n, m, MIRD_METRIC_COUNT);
    ck_assert_msg(st == MIRD_OK, "%s", mird_last_error_message());
}

START_TEST(test_names)
{
    const char *expected[MIRD_METRIC_COUNT] = {"mae",       "corr",    "acc2_has0",
                                               "f1_has0",   "acc2_non0", "f1_non0",
                                               "acc5",      "acc7",    "mse"};
    for (int k = 0; k < MIRD_METRIC_COUNT; k++)
        ck_assert_str_eq(mird_metric_name((mird_metric)k), expected[k]);
    ck_assert_ptr_null(mird_metric_name((mird_metric)MIRD_METRIC_COUNT));
    ck_assert_ptr_null(mird_metric_name((mird_metric)-1));
}
END_TEST

/* x.5 goes to the even neighbour (numpy's round), not away from zero. */
START_TEST(test_multiclass_rounds_half_to_even)
{
    const float y[6] = {0.5f, 1.5f, -2.5f, 2.5f, -0.5f, 3.7f};
    const float exact[6] = {0.0f, 2.0f, -2.0f, 2.0f, 0.0f, 3.0f};
    double m[MIRD_METRIC_COUNT];
    compute(exact, y, 6, m);
    ck_assert_double_eq(m[MIRD_METRIC_ACC7], 1.0);
    /* Acc-5 clips first: -2.5 -> -2, 3.7 -> 2. */
    ck_assert_double_eq(m[MIRD_METRIC_ACC5], 1.0);

    /* The labels rounded half away from zero (and 3.7 -> 2.6): against y's
     * classes {0, 2, -2, 2, 0, 3} only 3.7's matches under Acc-7; under
     * Acc-5 the clipped -2.5, 2.5 and 3.7 match too. */
    const float away[6] = {1.0f, 1.0f, -3.0f, 3.0f, -1.0f, 2.6f};
    compute(away, y, 6, m);
    ck_assert_double_eq(m[MIRD_METRIC_ACC7], 1.0 / 6.0);
    ck_assert_double_eq(m[MIRD_METRIC_ACC5], 3.0 / 6.0);
    /* |errors| 0.5 x 5 and 1.1; squares 0.25 x 5 and 1.21. */
    ck_assert_double_eq_tol(m[MIRD_METRIC_MAE], 0.6, 1e-6);
    ck_assert_double_eq_tol(m[MIRD_METRIC_MSE], (5 * 0.25 + 1.21) / 6.0, 1e-6);
}
END_TEST

/* has0 and non0 accuracies and sklearn's weighted F1 on a mixed case:
 *   y  = 1   2   -1  -2  0   0.5  -0.5 3
 *   p  = .5  -1  -1  1   0   -0   .2   2
 * has0 (>= 0): tp 4, fn 1, tn 1, fp 2: acc 5/8; F1(+) = 8/11 over 5 true,
 * F1(-) = 2/5 over 3 true.  non0 drops y = 0 and uses > 0 (so p = -0 is
 * negative): tp 2, fn 2, tn 1, fp 2: acc 3/7; F1(+) = 1/2 over 4,
 * F1(-) = 1/3 over 3. */
START_TEST(test_binary_accuracy_and_weighted_f1)
{
    const float y[8] = {1, 2, -1, -2, 0, 0.5f, -0.5f, 3};
    const float p[8] = {0.5f, -1, -1, 1, 0, -0.0f, 0.2f, 2};
    double m[MIRD_METRIC_COUNT];
    compute(p, y, 8, m);
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_HAS0], 5.0 / 8.0);
    ck_assert_double_eq_tol(m[MIRD_METRIC_F1_HAS0], (5 * 8.0 / 11 + 3 * 0.4) / 8, 1e-12);
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_NON0], 3.0 / 7.0);
    ck_assert_double_eq_tol(m[MIRD_METRIC_F1_NON0], (4 * 0.5 + 3 / 3.0) / 7, 1e-12);
}
END_TEST

START_TEST(test_negative_zero)
{
    /* -0 is a non-negative label for has0 and a zero label for non0. */
    const float y[3] = {-0.0f, 1, -1}, p[3] = {0.0f, 1, -1};
    double m[MIRD_METRIC_COUNT];
    compute(p, y, 3, m);
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_HAS0], 1.0);
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_NON0], 1.0);
    ck_assert_double_eq(m[MIRD_METRIC_ACC7], 1.0);

    /* A prediction of -0 counts as >= 0 against a label of -0.4... */
    const float y2[1] = {-0.4f}, p2[1] = {-0.0f};
    compute(p2, y2, 1, m);
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_HAS0], 0.0);
    /* ...and both round to (minus) zero for the class accuracies. */
    ck_assert_double_eq(m[MIRD_METRIC_ACC7], 1.0);
    ck_assert_double_eq(m[MIRD_METRIC_ACC5], 1.0);
    /* non0 over one sample: -0.4 < 0 and -0 is not > 0. */
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_NON0], 1.0);
}
END_TEST

START_TEST(test_one_class_splits)
{
    double m[MIRD_METRIC_COUNT];
    /* Every label positive; one miss: F1 is the positive class's alone,
     * 2*2 / (2*2 + 0 + 1); the never-true negative class weighs nothing. */
    const float y[3] = {1, 2, 3}, p[3] = {1, -1, 2};
    compute(p, y, 3, m);
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_HAS0], 2.0 / 3.0);
    ck_assert_double_eq_tol(m[MIRD_METRIC_F1_HAS0], 0.8, 1e-12);
    ck_assert_double_eq_tol(m[MIRD_METRIC_F1_NON0], 0.8, 1e-12);

    /* Never predicting the only true class: precision 0/0 counts as 0. */
    const float wrong[3] = {-1, -2, -3};
    compute(wrong, y, 3, m);
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_HAS0], 0.0);
    ck_assert_double_eq(m[MIRD_METRIC_F1_HAS0], 0.0);

    /* All right, one class on both sides: F1 1; constant predictions have no
     * correlation. */
    const float ones[3] = {1, 1, 1};
    compute(ones, y, 3, m);
    ck_assert_double_eq(m[MIRD_METRIC_F1_HAS0], 1.0);
    ck_assert(isnan(m[MIRD_METRIC_CORR]));

    /* Every label zero: non0 has nothing to count. */
    const float zeros[2] = {0, -0.0f}, some[2] = {0.3f, -2};
    compute(some, zeros, 2, m);
    ck_assert(isnan(m[MIRD_METRIC_ACC2_NON0]));
    ck_assert(isnan(m[MIRD_METRIC_F1_NON0]));
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_HAS0], 0.5);
}
END_TEST

START_TEST(test_pearson)
{
    /* Centered: dp = (-1.5, -.5, .5, 1.5), dy = (-3, -1, 0, 4): 11/sqrt(5 * 26). */
    const float p[4] = {1, 2, 3, 4}, y[4] = {2, 4, 5, 9};
    double m[MIRD_METRIC_COUNT];
    compute(p, y, 4, m);
    ck_assert_double_eq_tol(m[MIRD_METRIC_CORR], 11.0 / sqrt(130.0), 1e-12);
    const float negated[4] = {-1, -2, -3, -4};
    compute(negated, y, 4, m);
    ck_assert_double_eq_tol(m[MIRD_METRIC_CORR], -11.0 / sqrt(130.0), 1e-12);
    /* Exactly linear: clipped to 1, never above. */
    const float doubled[4] = {2, 4, 6, 8};
    compute(p, doubled, 4, m);
    ck_assert(m[MIRD_METRIC_CORR] <= 1.0 && m[MIRD_METRIC_CORR] > 1.0 - 1e-15);
}
END_TEST

START_TEST(test_arguments)
{
    const float p[2] = {0, 1}, y[2] = {0, 1};
    double m[MIRD_METRIC_COUNT];
    ck_assert_int_eq(mird_metrics_compute(NULL, y, 2, m, MIRD_METRIC_COUNT),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "predictions"));
    ck_assert_int_eq(mird_metrics_compute(p, y, 2, NULL, 1), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "metrics"));
    ck_assert_int_eq(mird_metrics_compute(p, y, 0, m, MIRD_METRIC_COUNT),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "count = 0"));

    const float bad[2] = {0, NAN};
    for (int k = 0; k < MIRD_METRIC_COUNT; k++)
        m[k] = -7.0;
    ck_assert_int_eq(mird_metrics_compute(p, bad, 2, m, MIRD_METRIC_COUNT), MIRD_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "labels[1]"));
    ck_assert_int_eq(mird_metrics_compute(bad, y, 2, m, MIRD_METRIC_COUNT), MIRD_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "predictions[1]"));
    for (int k = 0; k < MIRD_METRIC_COUNT; k++)
        ck_assert_double_eq(m[k], -7.0);

    /* Only the first n_metrics are written. */
    ck_assert_int_eq(mird_metrics_compute(p, y, 2, m, 2), MIRD_OK);
    ck_assert_double_eq(m[MIRD_METRIC_MAE], 0.0);
    ck_assert_double_eq_tol(m[MIRD_METRIC_CORR], 1.0, 1e-15);
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_HAS0], -7.0);
}
END_TEST

/* The `label` column of the CMU-MOSI label table, as floats; NULL (the test
 * skips) when the shared data is absent. */
static float *read_mosi_labels(int64_t *count)
{
    int rows_read = 0;
    mosi_row *rows = mosi_table_load(MIRD_SHARED_DATA_DIR, &rows_read);
    if (!rows)
        return NULL;
    float *labels = malloc((size_t)rows_read * sizeof(float));
    ck_assert_ptr_nonnull(labels);
    for (int i = 0; i < rows_read; i++)
        labels[i] = (float)rows[i].label;
    free(rows);
    *count = rows_read;
    return labels;
}

START_TEST(test_real_mosi_labels)
{
    int64_t n = 0;
    float *y = read_mosi_labels(&n);
    if (!y)
        return;
    ck_assert_int_eq(n, 2199);
    int64_t halves = 0, zeros = 0, rounding_differs = 0;
    for (int64_t i = 0; i < n; i++) {
        halves += y[i] != rintf(y[i]) && 2 * y[i] == rintf(2 * y[i]);
        zeros += y[i] == 0.0f;
        float clipped = fminf(3.0f, fmaxf(-3.0f, y[i]));
        rounding_differs += rintf(clipped) != roundf(clipped);
    }
    ck_assert_int_eq(halves, 52); /* MODEL.md section 7 */
    ck_assert_int_gt(rounding_differs, 0);

    double m[MIRD_METRIC_COUNT];
    compute(y, y, n, m);
    for (int k = MIRD_METRIC_ACC2_HAS0; k <= MIRD_METRIC_ACC7; k++)
        ck_assert_msg(m[k] == 1.0, "%s = %.17g", mird_metric_name((mird_metric)k), m[k]);
    ck_assert_double_eq(m[MIRD_METRIC_MAE], 0.0);
    ck_assert_double_eq_tol(m[MIRD_METRIC_CORR], 1.0, 1e-12);

    /* Predicting each label's class rounded half away from zero: a
     * half-away-from-zero Acc-7 would score 1, numpy's rounding misses
     * exactly the labels where the two rules disagree. */
    float *p = malloc((size_t)n * sizeof(float));
    ck_assert_ptr_nonnull(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = roundf(fminf(3.0f, fmaxf(-3.0f, y[i])));
    compute(p, y, n, m);
    ck_assert_double_eq(m[MIRD_METRIC_ACC7], (double)(n - rounding_differs) / (double)n);

    /* Negated predictions: has0 agrees only on zero labels, non0 never. */
    for (int64_t i = 0; i < n; i++)
        p[i] = -y[i];
    compute(p, y, n, m);
    ck_assert_int_gt(zeros, 0);
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_HAS0], (double)zeros / (double)n);
    ck_assert_double_eq(m[MIRD_METRIC_ACC2_NON0], 0.0);
    ck_assert_double_eq(m[MIRD_METRIC_F1_NON0], 0.0);
    ck_assert_double_eq_tol(m[MIRD_METRIC_CORR], -1.0, 1e-12);
    free(p);
    free(y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_multiclass_rounds_half_to_even);
    tcase_add_test(tc, test_binary_accuracy_and_weighted_f1);
    tcase_add_test(tc, test_negative_zero);
    tcase_add_test(tc, test_one_class_splits);
    tcase_add_test(tc, test_pearson);
    tcase_add_test(tc, test_arguments);
    tcase_add_test(tc, test_real_mosi_labels);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
