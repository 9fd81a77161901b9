/* mird_dataset_read_mfn: sequences moved to the front, modalities missing
 * in a split or everywhere, label options, malformed directories, and the
 * real ICT-MMMO, POM and YouTube files when ../shared/data is present. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/dataset.h"
#include "support/h5write.h"
#include "support/testutil.h"

enum { STEPS = 5, WIDTH = 2, TEXT_WIDTH = 4 };

/* Which steps of a sequence hold a frame ('x') and which are all zeros. */
static const char *const audio_pattern[] = {"..xxx", "x.xx.", "....."};
static const char *const video_pattern[] = {"xxxxx", ".x...", "....x"};
static const char *const text_pattern[] = {"xxx..", ".xxxx"};

static double frame_value(int i, int t, int d) { return 1 + 100 * i + 10 * t + d; }

static void write_file(const char *dir, const char *name, int rank, const int64_t *dims,
                       const double *values, hid_t type)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    hid_t file = hw_create(path);
    hw_write(file, "d1", type, rank, dims, values, 0);
    H5Fclose(file);
}

/* Sequences of `n` samples following `pattern`, `width` values a step. */
static void write_sequences(const char *dir, const char *name, const char *const *pattern,
                            int n, int width)
{
    double *values = calloc((size_t)(n * STEPS * width), sizeof *values);
    for (int i = 0; i < n; i++)
        for (int t = 0; t < STEPS; t++)
            for (int d = 0; d < width && pattern[i][t] == 'x'; d++)
                values[(i * STEPS + t) * width + d] = frame_value(i, t, d);
    int64_t dims[] = {n, STEPS, width};
    write_file(dir, name, 3, dims, values, H5T_IEEE_F64LE);
    free(values);
}

static void write_labels(const char *dir, const char *name, int n, int columns)
{
    double values[16];
    for (int i = 0; i < n * columns; i++)
        values[i] = 1 + i;
    int64_t dims[] = {n, columns};
    write_file(dir, name, columns > 1 ? 2 : 1, dims, values, H5T_IEEE_F64LE);
}

/* train: audio, video, labels (3 samples); valid: text too (2 samples). */
static const char *write_directory(void)
{
    const char *dir = hw_path(0, "mfn");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    write_sequences(dir, "audio_train.h5", audio_pattern, 3, WIDTH);
    write_sequences(dir, "video_train.h5", video_pattern, 3, WIDTH);
    write_labels(dir, "y_train.h5", 3, 1);
    write_sequences(dir, "text_valid_emb.h5", text_pattern, 2, TEXT_WIDTH);
    write_sequences(dir, "audio_valid.h5", audio_pattern, 2, WIDTH);
    write_sequences(dir, "video_valid.h5", video_pattern, 2, WIDTH);
    write_labels(dir, "y_valid.h5", 2, 3);
    return dir;
}

static mird_dataset *read_ok(const char *dir, mird_split split, const char *options)
{
    mird_dataset *ds = NULL;
    mird_status st = mird_dataset_read_mfn(dir, split, options, &ds);
    ck_assert_msg(st == MIRD_OK, "read %s -> %s: %s", dir, mird_status_string(st),
                  mird_last_error_message());
    return ds;
}

static void read_fails(const char *dir, const char *options, mird_status want, const char *word)
{
    mird_dataset *ds = (mird_dataset *)&ds;
    mird_status st = mird_dataset_read_mfn(dir, MIRD_SPLIT_TRAIN, options, &ds);
    hw_assert_read_failed(st, want, ds, word);
}

/* Sample i of `values` holds its first-to-last frames at the front, in
 * order, holes included, and zeros after them. */
static void check_moved(const float *values, const int32_t *lengths, const char *const *pattern,
                        int n, int width)
{
    for (int i = 0; i < n; i++) {
        const char *first = strchr(pattern[i], 'x'), *last = strrchr(pattern[i], 'x');
        int start = first ? (int)(first - pattern[i]) : 0;
        int length = first ? (int)(last - first) + 1 : 0;
        ck_assert_int_eq(lengths[i], length);
        for (int t = 0; t < STEPS; t++)
            for (int d = 0; d < width; d++) {
                int from = start + t;
                double want = t < length && pattern[i][from] == 'x' ? frame_value(i, from, d) : 0;
                ck_assert_float_eq(values[(i * STEPS + t) * width + d], (float)want);
            }
    }
}

START_TEST(test_sequences_move_to_the_front)
{
    const char *dir = write_directory();
    mird_dataset *ds = read_ok(dir, MIRD_SPLIT_TRAIN, NULL);
    const mird_batch *b = &ds->samples;
    ck_assert_int_eq(b->size, 3);
    ck_assert_int_eq(b->shape.text_mode, MIRD_TEXT_FEATURES);
    ck_assert_int_eq(b->shape.audio_length, STEPS);
    ck_assert_int_eq(b->shape.audio_dim, WIDTH);
    check_moved(b->audio, b->audio_lengths, audio_pattern, 3, WIDTH);
    check_moved(b->vision, b->vision_lengths, video_pattern, 3, WIDTH);
    /* No text in train: valid's shape, nothing in it. */
    ck_assert_int_eq(b->shape.text_length, STEPS);
    ck_assert_int_eq(b->shape.text_dim, TEXT_WIDTH);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(b->text_lengths[i], 0);
        ck_assert_float_eq(b->labels[i], (float)(1 + i));
        ck_assert_int_eq(b->labeled[i], 1);
    }
    ck_assert_ptr_null(ds->ids);
    mird_dataset_free(ds);

    ds = read_ok(dir, MIRD_SPLIT_VALID, NULL);
    check_moved(ds->samples.text_features, ds->samples.text_lengths, text_pattern, 2, TEXT_WIDTH);
    mird_dataset_free(ds);
}
END_TEST

START_TEST(test_label_column_offset_and_scale)
{
    const char *dir = write_directory();
    mird_dataset *ds = read_ok(dir, MIRD_SPLIT_VALID,
                               "label_column=2,label_offset=-3,label_scale=1.5");
    /* y_valid is [[1, 2, 3], [4, 5, 6]]. */
    ck_assert_float_eq(ds->samples.labels[0], (3 - 3) * 1.5f);
    ck_assert_float_eq(ds->samples.labels[1], (6 - 3) * 1.5f);
    mird_dataset_free(ds);
    ds = read_ok(dir, MIRD_SPLIT_VALID, "labels=none");
    ck_assert_int_eq(ds->samples.labeled[1], 0);
    mird_dataset_free(ds);
    read_fails(dir, "label_column=1", MIRD_ERR_INVALID_ARGUMENT, "y_train.h5 has 1 label column");
    mird_dataset *out = (mird_dataset *)&out;
    ck_assert_int_eq(mird_dataset_read_mfn(dir, MIRD_SPLIT_VALID, "label_column=3", &out),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "3 label columns"));
    read_fails(dir, "label_scale=x", MIRD_ERR_INVALID_ARGUMENT, "label_scale");
    read_fails(dir, "label_column=-1", MIRD_ERR_INVALID_ARGUMENT, "label_column");
    read_fails(dir, "text=tokens", MIRD_ERR_INVALID_ARGUMENT, "text");
}
END_TEST

START_TEST(test_a_modality_missing_everywhere_is_one_by_one)
{
    const char *dir = write_directory();
    char path[512];
    snprintf(path, sizeof path, "%s/text_valid_emb.h5", dir);
    ck_assert_int_eq(remove(path), 0);
    mird_dataset *ds = read_ok(dir, MIRD_SPLIT_TRAIN, NULL);
    ck_assert_int_eq(ds->samples.shape.text_length, 1);
    ck_assert_int_eq(ds->samples.shape.text_dim, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ds->samples.text_lengths[i], 0);
    mird_dataset_free(ds);
}
END_TEST

START_TEST(test_nonfinite_frames)
{
    const char *dir = write_directory();
    double values[3 * STEPS * WIDTH] = {0};
    values[(1 * STEPS + 2) * WIDTH + 1] = NAN;
    values[(1 * STEPS + 3) * WIDTH + 0] = 7;
    int64_t dims[] = {3, STEPS, WIDTH};
    write_file(dir, "video_train.h5", 3, dims, values, H5T_IEEE_F32LE);
    read_fails(dir, NULL, MIRD_ERR_NONFINITE, "vision[1][0][1]");
    mird_dataset *ds = read_ok(dir, MIRD_SPLIT_TRAIN, "nonfinite=zero");
    /* The NaN step counts as a frame: the sequence starts there. */
    ck_assert_int_eq(ds->samples.vision_lengths[1], 2);
    ck_assert_float_eq(ds->samples.vision[(1 * STEPS + 0) * WIDTH + 1], 0.0f);
    ck_assert_float_eq(ds->samples.vision[(1 * STEPS + 1) * WIDTH + 0], 7.0f);
    ck_assert_int_eq(ds->samples.vision_lengths[0], 0);
    mird_dataset_free(ds);
}
END_TEST

/* Damage done to a fresh directory, and what the message must name. */
typedef void (*damage_fn)(const char *dir);

static void drop_labels(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/y_train.h5", dir);
    ck_assert_int_eq(remove(path), 0);
}
static void one_more_video_sample(const char *dir)
{
    write_sequences(dir, "video_train.h5", (const char *const[]){"x....", "x....", "x....",
                                                                  "x...."}, 4, WIDTH);
}
static void flat_audio(const char *dir)
{
    int64_t dims[] = {3, STEPS * WIDTH};
    double values[3 * STEPS * WIDTH] = {0};
    write_file(dir, "audio_train.h5", 2, dims, values, H5T_IEEE_F64LE);
}
static void labels_of_rank_three(const char *dir)
{
    int64_t dims[] = {3, 1, 1};
    double values[3] = {1, 2, 3};
    write_file(dir, "y_train.h5", 3, dims, values, H5T_IEEE_F64LE);
}
static void two_datasets(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/audio_train.h5", dir);
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    double value = 1;
    hw_write_1d(file, "d2", H5T_IEEE_F64LE, 1, &value);
    H5Fclose(file);
}
static void text_of_other_rank(const char *dir)
{
    int64_t dims[] = {2, STEPS * TEXT_WIDTH};
    double values[2 * STEPS * TEXT_WIDTH] = {0};
    write_file(dir, "text_valid_emb.h5", 2, dims, values, H5T_IEEE_F64LE);
}
static void labels_as_strings(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/y_train.h5", dir);
    hid_t file = hw_create(path);
    hw_write_vlen_strings(file, "d1", 3, (const char *const[]){"a", "b", "c"});
    H5Fclose(file);
}

static const struct {
    damage_fn damage;
    mird_status status;
    const char *word;
} damages[] = {
    {drop_labels, MIRD_ERR_IO, "y_train.h5: No such file"},
    {one_more_video_sample, MIRD_ERR_FORMAT, "video_train.h5 has 4 samples"},
    {flat_audio, MIRD_ERR_FORMAT, "audio_train.h5: d1 has rank 2, expected 3"},
    {labels_of_rank_three, MIRD_ERR_FORMAT, "y_train.h5: d1 has rank 3, expected 1 or 2"},
    {two_datasets, MIRD_ERR_FORMAT, "audio_train.h5 holds 2 datasets"},
    {text_of_other_rank, MIRD_ERR_FORMAT, "text_valid_emb.h5: d1 has rank 2"},
    {labels_as_strings, MIRD_ERR_FORMAT, "d1 holds strings, expected numbers"},
};

START_TEST(test_damaged_directories)
{
    const char *dir = write_directory();
    damages[_i].damage(dir);
    read_fails(dir, NULL, damages[_i].status, damages[_i].word);
}
END_TEST

START_TEST(test_absent_directory)
{
    read_fails(hw_path(1, "nowhere"), NULL, MIRD_ERR_IO, "nowhere");
    const char *dir = write_directory();
    char path[512];
    snprintf(path, sizeof path, "%s/audio_train.h5", dir);
    read_fails(path, NULL, MIRD_ERR_IO, "not a directory");
}
END_TEST

/* ---- The real files -------------------------------------------------------- */

/* The file's only dataset, read straight through HDF5 as doubles. */
static double *read_d1(const char *dir, const char *name, int64_t dims[3])
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_msg(file >= 0, "cannot open %s", path);
    hid_t dset = H5Dopen2(file, "d1", H5P_DEFAULT), space = H5Dget_space(dset);
    hsize_t extent[3] = {1, 1, 1};
    int rank = H5Sget_simple_extent_dims(space, extent, NULL);
    ck_assert(rank >= 1 && rank <= 3);
    for (int i = 0; i < 3; i++)
        dims[i] = (int64_t)extent[i];
    double *values = malloc((size_t)(dims[0] * dims[1] * dims[2]) * sizeof *values);
    ck_assert(H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
    H5Sclose(space);
    H5Dclose(dset);
    H5Fclose(file);
    return values;
}

static int step_is_zero(const double *step, int64_t width)
{
    for (int64_t d = 0; d < width; d++)
        if (step[d] != 0)
            return 0;
    return 1;
}

/* Compares a modality with its file: each sequence is the file's from its
 * first to its last nonzero step.  Returns how many sequences were moved
 * (front padding) and how many keep an all-zero step inside (holes). */
static void compare_with_file(const char *dir, const char *name, const float *values,
                              const int32_t *lengths, int64_t n, int *moved, int *holes)
{
    int64_t dims[3];
    double *file = read_d1(dir, name, dims);
    ck_assert_int_eq(dims[0], n);
    int64_t steps = dims[1], width = dims[2];
    *moved = *holes = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *seq = file + i * steps * width;
        int64_t first = 0, last = steps - 1;
        while (first < steps && step_is_zero(seq + first * width, width))
            first++;
        while (last >= first && step_is_zero(seq + last * width, width))
            last--;
        int64_t length = first < steps ? last - first + 1 : 0;
        ck_assert_int_eq(lengths[i], length);
        *moved += first > 0 && length > 0;
        /* One assertion per sequence: Check's assertions are slow. */
        int hole = 0, same = 1;
        for (int64_t t = 0; t < steps; t++) {
            for (int64_t d = 0; d < width; d++) {
                double want = t < length ? seq[(first + t) * width + d] : 0;
                same &= values[(i * steps + t) * width + d] == (float)want;
            }
            hole |= t < length && step_is_zero(seq + (first + t) * width, width);
        }
        ck_assert_msg(same, "%s: sample %lld differs from the file's steps %lld..%lld", name,
                      (long long)i, (long long)first, (long long)last);
        *holes += hole;
    }
    free(file);
}

START_TEST(test_real_ict_mmmo)
{
    const char *dir = hw_shared_data(MIRD_SHARED_DATA_DIR, "mfn_processed_h5/mmmo");
    if (!dir)
        return;
    mird_dataset *ds = read_ok(dir, MIRD_SPLIT_TRAIN, "label_offset=-3,label_scale=1.5");
    const mird_batch *b = &ds->samples;
    ck_assert_int_eq(b->size, 220);
    ck_assert_int_eq(b->shape.text_length, 20);
    ck_assert_int_eq(b->shape.text_dim, 300); /* from text_valid_emb.h5 */
    ck_assert_int_eq(b->shape.audio_dim, 74);
    ck_assert_int_eq(b->shape.vision_dim, 36);
    int moved, holes;
    compare_with_file(dir, "audio_train.h5", b->audio, b->audio_lengths, 220, &moved, &holes);
    ck_assert_int_gt(moved, 0); /* front padding is there, and is removed */
    compare_with_file(dir, "video_train.h5", b->vision, b->vision_lengths, 220, &moved, &holes);
    ck_assert_int_gt(holes, 0); /* missing FACET frames stay inside */
    int64_t dims[3];
    double *y = read_d1(dir, "y_train.h5", dims);
    for (int i = 0; i < 220; i++) {
        ck_assert_int_eq(b->text_lengths[i], 0);
        ck_assert_float_eq_tol(b->labels[i], (y[i] - 3) * 1.5, 1e-6);
        ck_assert(b->labels[i] >= -3.0f && b->labels[i] <= 3.0f);
    }
    free(y);
    mird_dataset_free(ds);

    ds = read_ok(dir, MIRD_SPLIT_VALID, NULL);
    ck_assert_int_eq(ds->samples.size, 40);
    compare_with_file(dir, "text_valid_emb.h5", ds->samples.text_features,
                      ds->samples.text_lengths, 40, &moved, &holes);
    mird_dataset_free(ds);
}
END_TEST

START_TEST(test_real_pom_and_youtube)
{
    const char *pom = hw_shared_data(MIRD_SHARED_DATA_DIR, "mfn_processed_h5/pom");
    if (!pom)
        return;
    mird_dataset *ds = read_ok(pom, MIRD_SPLIT_TEST, "label_column=16");
    ck_assert_int_eq(ds->samples.size, 203);
    ck_assert_int_eq(ds->samples.shape.text_dim, 1); /* no text in any split */
    ck_assert_int_eq(ds->samples.shape.audio_dim, 43);
    ck_assert_int_eq(ds->samples.shape.vision_dim, 41);
    int moved, holes;
    compare_with_file(pom, "video_test.h5", ds->samples.vision, ds->samples.vision_lengths, 203,
                      &moved, &holes);
    int64_t dims[3];
    double *y = read_d1(pom, "y_test.h5", dims);
    ck_assert_int_eq(dims[1], 17);
    for (int i = 0; i < 203; i++)
        ck_assert_float_eq_tol(ds->samples.labels[i], y[i * 17 + 16], 1e-6);
    free(y);
    mird_dataset_free(ds);

    const char *youtube = hw_shared_data(MIRD_SHARED_DATA_DIR, "mfn_processed_h5/youtube");
    ck_assert_ptr_nonnull(youtube);
    ds = read_ok(youtube, MIRD_SPLIT_VALID, "label_column=2");
    y = read_d1(youtube, "y_valid.h5", dims); /* float32 one-hot [36, 3] */
    ck_assert_int_eq(ds->samples.size, 36);
    for (int i = 0; i < 36; i++)
        ck_assert_float_eq(ds->samples.labels[i], (float)y[i * 3 + 2]);
    compare_with_file(youtube, "text_valid_emb.h5", ds->samples.text_features,
                      ds->samples.text_lengths, 36, &moved, &holes);
    free(y);
    mird_dataset_free(ds);
}
END_TEST

/* standardize=train: z-scores from the training split's valid frames, the
 * same numbers applied to every split, padding left at zero, and a modality
 * the training split lacks left as read. */
START_TEST(test_standardize_with_training_statistics)
{
    const char *dir = write_directory();
    mird_dataset *raw_train = read_ok(dir, MIRD_SPLIT_TRAIN, NULL);
    mird_dataset *raw_valid = read_ok(dir, MIRD_SPLIT_VALID, NULL);
    mird_dataset *train = read_ok(dir, MIRD_SPLIT_TRAIN, "standardize=train");
    mird_dataset *valid = read_ok(dir, MIRD_SPLIT_VALID, "standardize=train");
    const mird_batch *rt = &raw_train->samples, *rv = &raw_valid->samples;
    for (int d = 0; d < WIDTH; d++) {
        double sum = 0, sq = 0;
        int frames = 0;
        for (int i = 0; i < 3; i++)
            for (int t = 0; t < rt->audio_lengths[i]; t++, frames++)
                sum += rt->audio[(i * STEPS + t) * WIDTH + d];
        double mean = sum / frames;
        for (int i = 0; i < 3; i++)
            for (int t = 0; t < rt->audio_lengths[i]; t++) {
                double x = rt->audio[(i * STEPS + t) * WIDTH + d] - mean;
                sq += x * x;
            }
        double sd = sqrt(sq / frames);
        ck_assert(sd > 1.0); /* the raw values are far from z-scores */
        double z_sum = 0, z_sq = 0;
        for (int i = 0; i < 3; i++)
            for (int t = 0; t < STEPS; t++) {
                float z = train->samples.audio[(i * STEPS + t) * WIDTH + d];
                if (t >= rt->audio_lengths[i]) {
                    ck_assert_float_eq(z, 0.0f);
                    continue;
                }
                z_sum += z, z_sq += (double)z * z;
            }
        ck_assert_double_eq_tol(z_sum / frames, 0.0, 1e-6);
        ck_assert_double_eq_tol(z_sq / frames, 1.0, 1e-5);
        for (int i = 0; i < 2; i++)
            for (int t = 0; t < rv->audio_lengths[i]; t++) {
                size_t k = (size_t)((i * STEPS + t) * WIDTH + d);
                ck_assert_float_eq_tol(valid->samples.audio[k], (rv->audio[k] - mean) / sd, 1e-5);
            }
    }
    /* No text in the training split: the validation text is as read. */
    size_t text_values = (size_t)(2 * STEPS * TEXT_WIDTH);
    ck_assert_mem_eq(valid->samples.text_features, rv->text_features,
                     text_values * sizeof(float));
    mird_dataset_free(raw_train), mird_dataset_free(raw_valid);
    mird_dataset_free(train), mird_dataset_free(valid);

    read_fails(dir, "standardize=yes", MIRD_ERR_INVALID_ARGUMENT, "standardize");
    mird_config *cfg = tu_preset("tiny");
    mird_dataset *ds = (mird_dataset *)&ds;
    mird_status st = mird_dataset_synthetic(cfg, MIRD_SPLIT_TRAIN, 4, 1, "standardize=train", &ds);
    hw_assert_read_failed(st, MIRD_ERR_INVALID_ARGUMENT, ds, "training split");
    mird_config_destroy(cfg);
}
END_TEST

static Suite *mfn_suite(void)
{
    Suite *suite = suite_create("dataset_mfn");
    TCase *tc = tcase_create("mfn");
    tcase_add_checked_fixture(tc, hw_make_temp_dir, hw_remove_temp_dir);
    tcase_add_test(tc, test_sequences_move_to_the_front);
    tcase_add_test(tc, test_label_column_offset_and_scale);
    tcase_add_test(tc, test_standardize_with_training_statistics);
    tcase_add_test(tc, test_a_modality_missing_everywhere_is_one_by_one);
    tcase_add_test(tc, test_nonfinite_frames);
    tcase_add_loop_test(tc, test_damaged_directories, 0,
                        (int)(sizeof damages / sizeof damages[0]));
    tcase_add_test(tc, test_absent_directory);
    tcase_add_test(tc, test_real_ict_mmmo);
    tcase_add_test(tc, test_real_pom_and_youtube);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return tu_run_suite(mfn_suite());
}
