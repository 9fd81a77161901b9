/* The synthetic generator: reproducible from its seed, independent across
 * seeds and splits, one set of patterns per seed, lengths and padding as
 * documented, labels driven by the shared factor, the stored factors the
 * ones that made the data, and the same bytes on any thread count. */
#include <math.h>
#include <string.h>

#include <mird/mird.h>

#include "io/synthetic.h"
#include "support/testutil.h"

static mird_dataset *synthetic(const char *preset_name, mird_split split, int64_t size,
                               uint64_t seed, const char *options)
{
    mird_config *cfg = tu_preset(preset_name);
    mird_dataset *ds;
    mird_status st = mird_dataset_synthetic(cfg, split, size, seed, options, &ds);
    ck_assert_msg(st == MIRD_OK, "mird_dataset_synthetic: %s", mird_last_error_message());
    mird_config_destroy(cfg);
    return ds;
}

/* One modality's arrays, as the tests walk them. */
typedef struct view {
    const float *x;
    const int32_t *lengths;
    int64_t steps, width;
} view;

static view modality(const mird_dataset *ds, int m)
{
    const mird_batch *b = &ds->samples;
    const mird_batch_shape *s = &b->shape;
    switch (m) {
    case 0: return (view){b->text_features, b->text_lengths, s->text_length, s->text_dim};
    case 1: return (view){b->audio, b->audio_lengths, s->audio_length, s->audio_dim};
    default: return (view){b->vision, b->vision_lengths, s->vision_length, s->vision_dim};
    }
}

/* Samples [first, first + count) of a and b hold the same bytes, factors
 * and labels included. */
static int same_samples(const mird_dataset *a, const mird_dataset *b, int64_t count)
{
    for (int m = 0; m < 3; m++) {
        view va = modality(a, m), vb = modality(b, m);
        size_t values = (size_t)(count * va.steps * va.width);
        if (memcmp(va.x, vb.x, values * sizeof(float)) != 0
            || memcmp(va.lengths, vb.lengths, (size_t)count * sizeof(int32_t)) != 0)
            return 0;
    }
    return memcmp(a->factors, b->factors, (size_t)count * MIRD_SYNTHETIC_FACTORS * sizeof(float))
               == 0
           && memcmp(a->samples.labels, b->samples.labels, (size_t)count * sizeof(float)) == 0;
}

START_TEST(test_reproducible_and_independent)
{
    mird_dataset *a = synthetic("tiny", MIRD_SPLIT_TRAIN, 64, 42, NULL);
    mird_dataset *again = synthetic("tiny", MIRD_SPLIT_TRAIN, 64, 42, NULL);
    mird_dataset *prefix = synthetic("tiny", MIRD_SPLIT_TRAIN, 20, 42, NULL);
    mird_dataset *other_seed = synthetic("tiny", MIRD_SPLIT_TRAIN, 64, 43, NULL);
    mird_dataset *other_split = synthetic("tiny", MIRD_SPLIT_VALID, 64, 42, NULL);
    mird_dataset *test_split = synthetic("tiny", MIRD_SPLIT_TEST, 64, 42, NULL);
    ck_assert(same_samples(a, again, 64));
    ck_assert(same_samples(a, prefix, 20)); /* a sample depends on its index, not on N */
    ck_assert(!same_samples(a, other_seed, 1));
    ck_assert(!same_samples(a, other_split, 1));
    ck_assert(!same_samples(other_split, test_split, 1));
    /* Not merely different somewhere: every factor of every sample. */
    for (int64_t i = 0; i < 64 * MIRD_SYNTHETIC_FACTORS; i++) {
        ck_assert_float_ne(a->factors[i], other_split->factors[i]);
        ck_assert_float_ne(a->factors[i], other_seed->factors[i]);
    }
    mird_dataset_destroy(a), mird_dataset_destroy(again), mird_dataset_destroy(prefix);
    mird_dataset_destroy(other_seed), mird_dataset_destroy(other_split);
    mird_dataset_destroy(test_split);
}
END_TEST

static void check_layout(const mird_dataset *ds)
{
    int64_t n = ds->samples.size;
    for (int m = 0; m < 3; m++) {
        view v = modality(ds, m);
        int64_t shortest = (v.steps + 1) / 2, seen_min = v.steps, seen_max = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t len = v.lengths[i];
            ck_assert_int_ge(len, shortest);
            ck_assert_int_le(len, v.steps);
            seen_min = len < seen_min ? len : seen_min;
            seen_max = len > seen_max ? len : seen_max;
            const float *x = v.x + i * v.steps * v.width;
            double energy = 0.0;
            for (int64_t k = 0; k < len * v.width; k++) {
                ck_assert(isfinite(x[k]));
                energy += (double)x[k] * x[k];
            }
            ck_assert_double_gt(energy, 0.0);
            for (int64_t k = len * v.width; k < v.steps * v.width; k++)
                ck_assert_float_eq(x[k], 0.0f);
        }
        if (n >= 200) { /* both ends of the range occur */
            ck_assert_int_eq(seen_min, shortest);
            ck_assert_int_eq(seen_max, v.steps);
        }
    }
}

START_TEST(test_lengths_padding_and_labels)
{
    mird_dataset *ds = synthetic("tiny", MIRD_SPLIT_TRAIN, 300, 7, NULL);
    check_layout(ds);
    const mird_batch *b = &ds->samples;
    float factors[300 * MIRD_SYNTHETIC_FACTORS];
    ck_assert_int_eq(mird_dataset_get_factors(ds, factors), MIRD_OK);
    int clipped = 0;
    for (int64_t i = 0; i < 300; i++) {
        const float *z = factors + i * MIRD_SYNTHETIC_FACTORS;
        double y = 1.5 * z[0] + 0.5 * (z[1] + z[2] + z[3]) / 3.0;
        y = y > 3.0 ? 3.0 : y < -3.0 ? -3.0 : y;
        clipped += fabs(y) == 3.0;
        ck_assert_int_eq(b->labeled[i], 1);
        ck_assert_float_le(fabsf(b->labels[i]), 3.0f);
        ck_assert_double_eq_tol(b->labels[i], y, 1e-5);
    }
    ck_assert_int_gt(clipped, 0);
    ck_assert_int_lt(clipped, 300 / 10);

    /* labels=none: the same samples, unlabeled, their factors still kept. */
    mird_dataset *unlabeled = synthetic("tiny", MIRD_SPLIT_TRAIN, 300, 7, "labels=none");
    for (int m = 0; m < 3; m++) {
        view a = modality(ds, m), u = modality(unlabeled, m);
        ck_assert_int_eq(memcmp(a.x, u.x, sizeof(float) * 300 * a.steps * a.width), 0);
    }
    ck_assert_int_eq(memcmp(ds->factors, unlabeled->factors, sizeof factors), 0);
    float labels[300];
    uint8_t labeled[300];
    ck_assert_int_eq(mird_dataset_get_labels(unlabeled, labels, labeled), MIRD_OK);
    for (int i = 0; i < 300; i++)
        ck_assert(labeled[i] == 0 && isnan(labels[i]));
    mird_dataset_destroy(unlabeled);
    mird_dataset_destroy(ds);

    /* The shapes of the configuration: MOSI's 50 x 768, 375 x 5, 500 x 20. */
    ds = synthetic("mosi", MIRD_SPLIT_TEST, 6, 7, NULL);
    ck_assert_int_eq(ds->samples.shape.text_dim, 768);
    ck_assert_int_eq(ds->samples.shape.audio_length, 375);
    check_layout(ds);
    mird_dataset_destroy(ds);
}
END_TEST

static double correlation(const double *a, const double *b, int64_t n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < n; i++)
        ma += a[i] / (double)n, mb += b[i] / (double)n;
    for (int64_t i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

START_TEST(test_label_follows_the_shared_factor)
{
    enum { SIZE = 2000 };
    mird_dataset *ds = synthetic("tiny", MIRD_SPLIT_TRAIN, SIZE, 11, NULL);
    static double label[SIZE], factor[MIRD_SYNTHETIC_FACTORS][SIZE];
    for (int64_t i = 0; i < SIZE; i++) {
        label[i] = ds->samples.labels[i];
        for (int k = 0; k < MIRD_SYNTHETIC_FACTORS; k++)
            factor[k][i] = ds->factors[i * MIRD_SYNTHETIC_FACTORS + k];
    }
    /* The factors are independent standard normals... */
    for (int k = 0; k < MIRD_SYNTHETIC_FACTORS; k++) {
        double mean = 0, square = 0;
        for (int64_t i = 0; i < SIZE; i++)
            mean += factor[k][i] / SIZE, square += factor[k][i] * factor[k][i] / SIZE;
        ck_assert_double_lt(fabs(mean), 0.1);
        ck_assert_double_lt(fabs(square - mean * mean - 1.0), 0.1);
        for (int j = 0; j < k; j++)
            ck_assert_double_lt(fabs(correlation(factor[j], factor[k], SIZE)), 0.1);
    }
    /* ...and the label is the shared one's, with a trace of the others. */
    double shared = correlation(label, factor[0], SIZE);
    ck_assert_double_gt(shared, 0.95);
    for (int k = 1; k < MIRD_SYNTHETIC_FACTORS; k++) {
        double private_ = correlation(label, factor[k], SIZE);
        ck_assert_double_gt(private_, 0.0);
        ck_assert_double_lt(private_, 0.25);
    }
    mird_dataset_destroy(ds);
}
END_TEST

/* Per frame and feature of modality m, the least-squares fit of the values
 * on (s, p_m) over the samples where the frame is valid: coef [T*d][2] (the
 * shared and private patterns as the data show them); returns the residual
 * root-mean-square over all fits. */
static double fit_patterns(const mird_dataset *ds, int m, double *coef)
{
    view v = modality(ds, m);
    int64_t n = ds->samples.size, values = v.steps * v.width;
    double residual = 0.0;
    int64_t residual_count = 0;
    for (int64_t k = 0; k < values; k++) {
        int64_t t = k / v.width;
        double ss = 0, sp = 0, pp = 0, sx = 0, px = 0;
        for (int64_t i = 0; i < n; i++) {
            if (t >= v.lengths[i])
                continue;
            double s = ds->factors[i * MIRD_SYNTHETIC_FACTORS];
            double p = ds->factors[i * MIRD_SYNTHETIC_FACTORS + 1 + m];
            double x = v.x[i * values + k];
            ss += s * s, sp += s * p, pp += p * p, sx += s * x, px += p * x;
        }
        double det = ss * pp - sp * sp;
        ck_assert_double_gt(det, 0.0);
        coef[2 * k] = (pp * sx - sp * px) / det;
        coef[2 * k + 1] = (ss * px - sp * sx) / det;
        for (int64_t i = 0; i < n; i++) {
            if (t >= v.lengths[i])
                continue;
            double s = ds->factors[i * MIRD_SYNTHETIC_FACTORS];
            double p = ds->factors[i * MIRD_SYNTHETIC_FACTORS + 1 + m];
            double e = v.x[i * values + k] - coef[2 * k] * s - coef[2 * k + 1] * p;
            residual += e * e;
            residual_count++;
        }
    }
    return sqrt(residual / (double)residual_count);
}

START_TEST(test_patterns_are_the_seeds_not_the_splits)
{
    enum { SIZE = 1500, MOST = 10 * 16 };
    mird_dataset *train = synthetic("tiny", MIRD_SPLIT_TRAIN, SIZE, 5, NULL);
    mird_dataset *test = synthetic("tiny", MIRD_SPLIT_TEST, SIZE, 5, NULL);
    mird_dataset *reseeded = synthetic("tiny", MIRD_SPLIT_TRAIN, SIZE, 6, NULL);
    static double a[2 * MOST], b[2 * MOST], c[2 * MOST];
    for (int m = 0; m < 3; m++) {
        view v = modality(train, m);
        int64_t n = 2 * v.steps * v.width;
        /* What is left after the fit is the noise: the stored factors are
         * the ones the frames were made from. */
        ck_assert_double_eq_tol(fit_patterns(train, m, a), MIRD_SYNTHETIC_NOISE, 0.02);
        ck_assert_double_eq_tol(fit_patterns(test, m, b), MIRD_SYNTHETIC_NOISE, 0.02);
        fit_patterns(reseeded, m, c);
        double worst_split = 0.0, mean_seed = 0.0, mean_size = 0.0;
        for (int64_t k = 0; k < n; k++) {
            worst_split = fmax(worst_split, fabs(a[k] - b[k]));
            mean_seed += fabs(a[k] - c[k]) / (double)n;
            mean_size += fabs(a[k]) / (double)n;
        }
        ck_assert_msg(worst_split < 0.25, "modality %d: the splits' patterns differ by %g", m,
                      worst_split);
        ck_assert_msg(mean_seed > 0.5, "modality %d: seeds 5 and 6 share patterns (%g)", m,
                      mean_seed);
        ck_assert_double_gt(mean_size, 0.5); /* patterns of unit scale, not noise */
    }
    mird_dataset_destroy(train), mird_dataset_destroy(test), mird_dataset_destroy(reseeded);
}
END_TEST

START_TEST(test_same_bytes_on_any_thread_count)
{
    ck_assert_int_eq(mird_set_num_threads(1), MIRD_OK);
    mird_dataset *one = synthetic("tiny", MIRD_SPLIT_VALID, 333, 9, NULL);
    ck_assert_int_eq(mird_set_num_threads(2), MIRD_OK);
    mird_dataset *two = synthetic("tiny", MIRD_SPLIT_VALID, 333, 9, NULL);
    ck_assert_int_eq(mird_set_num_threads(0), MIRD_OK);
    ck_assert(same_samples(one, two, 333));
    mird_dataset_destroy(one), mird_dataset_destroy(two);
}
END_TEST

START_TEST(test_refusals)
{
    mird_config *cfg = tu_preset("tiny");
    mird_dataset *ds = NULL;
    ck_assert_int_eq(mird_dataset_synthetic(cfg, (mird_split)3, 4, 1, NULL, &ds),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "split = 3"));
    ck_assert_int_eq(mird_dataset_synthetic(cfg, MIRD_SPLIT_TRAIN, 0, 1, NULL, &ds),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "size = 0"));
    ck_assert_int_eq(mird_dataset_synthetic(NULL, MIRD_SPLIT_TRAIN, 4, 1, NULL, &ds),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_dataset_synthetic(cfg, MIRD_SPLIT_TRAIN, 4, 1, NULL, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_config_set(cfg, "text_mode", "tokens"), MIRD_OK);
    ck_assert_int_eq(mird_dataset_synthetic(cfg, MIRD_SPLIT_TRAIN, 4, 1, NULL, &ds),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "text_mode = tokens"));
    ck_assert_ptr_null(ds);

    /* Only synthetic data has factors. */
    ck_assert_int_eq(mird_config_set(cfg, "text_mode", "features"), MIRD_OK);
    ck_assert_int_eq(mird_dataset_create(cfg, 4, NULL, &ds), MIRD_OK);
    float factors[4 * MIRD_SYNTHETIC_FACTORS];
    ck_assert_int_eq(mird_dataset_get_factors(ds, factors), MIRD_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(mird_dataset_error_message(ds), "no planted factors"));
    ck_assert_int_eq(mird_dataset_get_factors(ds, NULL), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_dataset_get_factors(NULL, factors), MIRD_ERR_NULL_ARGUMENT);
    mird_dataset_destroy(ds);
    mird_config_destroy(cfg);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("synthetic");
    TCase *tc = tcase_create("synthetic");
    tcase_add_test(tc, test_reproducible_and_independent);
    tcase_add_test(tc, test_lengths_padding_and_labels);
    tcase_add_test(tc, test_label_follows_the_shared_factor);
    tcase_add_test(tc, test_patterns_are_the_seeds_not_the_splits);
    tcase_add_test(tc, test_same_bytes_on_any_thread_count);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
