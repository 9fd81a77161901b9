/* mird_dataset_read_csd: computational sequences written here the way the
 * CMU-MultimodalSDK writes them (chunked, deflated, metadata beside data),
 * frames gathered into segments, folds, malformed files, and the real
 * CMU-MOSI opinion labels checked against the transcript table. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/dataset.h"
#include "support/h5write.h"
#include "support/mosi_table.h"
#include "support/testutil.h"

/* One video of a sequence: rows of (start, end) and `columns` features. */
typedef struct video {
    const char *name;
    int rows, columns;
    const double *intervals;
    const double *features;
} video;

static void write_csd(const char *path, const char *root, const video *videos, int count,
                      hid_t interval_type, hid_t feature_type)
{
    hid_t file = hw_create(path);
    char where[256];
    for (int v = 0; v < count; v++) {
        int64_t interval_dims[] = {videos[v].rows, 2};
        int64_t feature_dims[] = {videos[v].rows, videos[v].columns};
        snprintf(where, sizeof where, "/%s/data/%s/intervals", root, videos[v].name);
        hw_write(file, where, interval_type, 2, interval_dims, videos[v].intervals, 1);
        snprintf(where, sizeof where, "/%s/data/%s/features", root, videos[v].name);
        hw_write(file, where, feature_type, 2, feature_dims, videos[v].features, 1);
    }
    snprintf(where, sizeof where, "/%s/metadata/root name", root);
    hw_write_vlen_strings(file, where, 1, (const char *const[]){root});
    H5Fclose(file);
}

/* Labels: vidA's third segment was added after the others, out of time
 * order (as in two CMU-MOSI videos); two label columns, the first counts. */
static const double label_times_a[] = {0, 2, 2, 4, 1, 1.5};
static const double label_values_a[] = {1.0, 9, -1.0, 9, 0.5, 9};
static const double label_times_b[] = {10, 12};
static const double label_values_b[] = {2.0, 9};

/* Audio frames, stored out of time order; the value is 10 * start + d. */
static const double audio_times_a[] = {2.0, 2.5, 0.5, 1.0, 0, 0.5, 1.5, 2.0,
                                       1.0, 1.5, 3.9, 4.00005, 4.0, 4.5};
static const double audio_times_b[] = {11, 12, 10, 11, 11.5, 12.5};
enum { AUDIO_WIDTH = 2 };

/* Text: one word per second of vidA, one word in vidB; 3 values a word. */
static const double text_times_a[] = {0, 1, 1, 2, 2, 3, 3, 4};
static const double text_times_b[] = {10, 12};
enum { TEXT_WIDTH = 3 };

static double *frame_values(const double *times, int rows, int width, double scale)
{
    double *values = malloc((size_t)(rows * width) * sizeof *values);
    for (int r = 0; r < rows; r++)
        for (int d = 0; d < width; d++)
            values[r * width + d] = scale * times[2 * r] + d;
    return values;
}

static const char *write_labels(void)
{
    const char *path = hw_path(0, "labels.csd");
    video videos[] = {{"vidB", 1, 2, label_times_b, label_values_b},
                      {"vidA", 3, 2, label_times_a, label_values_a}};
    write_csd(path, "Opinion Segment Labels", videos, 2, H5T_IEEE_F32LE, H5T_IEEE_F32LE);
    return path;
}

/* Audio (or, with `bad`, a damaged copy: see the cases below). */
static const char *write_audio(int slot, int bad)
{
    const char *path = hw_path(slot, "audio.csd");
    double *a = frame_values(audio_times_a, 7, AUDIO_WIDTH, 10);
    int width_b = bad == 1 ? AUDIO_WIDTH + 1 : AUDIO_WIDTH;
    double *b = frame_values(audio_times_b, 3, width_b, 10);
    video videos[] = {{"vidA", 7, AUDIO_WIDTH, audio_times_a, a},
                      {"vidB", 3, width_b, audio_times_b, b}};
    write_csd(path, "COVAREP", videos, bad == 2 ? 1 : 2, H5T_IEEE_F64LE, H5T_IEEE_F32LE);
    free(a), free(b);
    return path;
}

static const char *write_text(void)
{
    const char *path = hw_path(2, "text.csd");
    double *a = frame_values(text_times_a, 4, TEXT_WIDTH, 100);
    double *b = frame_values(text_times_b, 1, TEXT_WIDTH, 100);
    video videos[] = {{"vidA", 4, TEXT_WIDTH, text_times_a, a},
                      {"vidB", 1, TEXT_WIDTH, text_times_b, b}};
    write_csd(path, "glove_vectors", videos, 2, H5T_IEEE_F64LE, H5T_IEEE_F64LE);
    free(a), free(b);
    return path;
}

static mird_dataset *read_ok(const char *labels, const char *text, const char *audio,
                             const char *options)
{
    mird_dataset *ds = NULL;
    mird_status st = mird_dataset_read_csd(labels, text, audio, NULL, options, &ds);
    ck_assert_msg(st == MIRD_OK, "read %s -> %s: %s", labels, mird_status_string(st),
                  mird_last_error_message());
    return ds;
}

static void read_fails(const char *labels, const char *text, const char *audio,
                       const char *options, mird_status want, const char *word)
{
    mird_dataset *ds = (mird_dataset *)&ds;
    mird_status st = mird_dataset_read_csd(labels, text, audio, NULL, options, &ds);
    hw_assert_read_failed(st, want, ds, word);
}

/* Sample s's audio is the frames starting at `starts`, in that order. */
static void check_audio(const mird_dataset *ds, int s, const double *starts, int count)
{
    const mird_batch *b = &ds->samples;
    int64_t steps = b->shape.audio_length;
    int kept = count < steps ? count : (int)steps;
    ck_assert_int_eq(b->audio_lengths[s], kept);
    for (int t = 0; t < steps; t++)
        for (int d = 0; d < AUDIO_WIDTH; d++)
            ck_assert_float_eq_tol(b->audio[(s * steps + t) * AUDIO_WIDTH + d],
                                   t < kept ? 10 * starts[t] + d : 0, 1e-5);
}

START_TEST(test_segments_gather_their_frames)
{
    const char *labels = write_labels(), *audio = write_audio(1, 0), *text = write_text();
    mird_dataset *ds = read_ok(labels, text, audio, NULL);
    const mird_batch *b = &ds->samples;
    ck_assert_int_eq(b->size, 4);
    /* By video, then as stored: the ids are the stored positions. */
    const char *ids[] = {"vidA_1", "vidA_2", "vidA_3", "vidB_1"};
    const float want_labels[] = {1.0f, -1.0f, 0.5f, 2.0f};
    for (int s = 0; s < 4; s++) {
        ck_assert_str_eq(ds->ids[s], ids[s]);
        ck_assert_float_eq(b->labels[s], want_labels[s]);
        ck_assert_int_eq(b->labeled[s], 1);
    }
    ck_assert_int_eq(b->shape.audio_length, 4); /* the longest segment */
    ck_assert_int_eq(b->shape.audio_dim, AUDIO_WIDTH);
    check_audio(ds, 0, (const double[]){0, 0.5, 1.0, 1.5}, 4);
    check_audio(ds, 1, (const double[]){2.0, 3.9}, 2); /* 3.9..4.00005 is inside */
    check_audio(ds, 2, (const double[]){1.0}, 1);
    check_audio(ds, 3, (const double[]){10, 11}, 2);
    /* Words: vidA_1 holds two, vidA_3 none (no word lies inside 1..1.5). */
    ck_assert_int_eq(b->shape.text_length, 2);
    ck_assert_int_eq(b->shape.text_dim, TEXT_WIDTH);
    const int32_t text_lengths[] = {2, 2, 0, 1};
    for (int s = 0; s < 4; s++)
        ck_assert_int_eq(b->text_lengths[s], text_lengths[s]);
    ck_assert_float_eq(b->text_features[(1 * 2 + 1) * TEXT_WIDTH + 2], 100 * 3 + 2);
    /* No vision sequence: missing, 1 x 1. */
    ck_assert_int_eq(b->shape.vision_length, 1);
    ck_assert_int_eq(b->shape.vision_dim, 1);
    for (int s = 0; s < 4; s++)
        ck_assert_int_eq(b->vision_lengths[s], 0);
    mird_dataset_free(ds);
}
END_TEST

START_TEST(test_lengths_cut_or_pad)
{
    const char *labels = write_labels(), *audio = write_audio(1, 0);
    mird_dataset *ds = read_ok(labels, NULL, audio, "audio_length=2,text_length=3");
    ck_assert_int_eq(ds->samples.shape.audio_length, 2);
    ck_assert_int_eq(ds->samples.shape.text_length, 1); /* no text sequence: 1 x 1 */
    check_audio(ds, 0, (const double[]){0, 0.5}, 2); /* the first two in time order */
    mird_dataset_free(ds);
    ds = read_ok(labels, NULL, audio, "audio_length=6,labels=none");
    ck_assert_int_eq(ds->samples.shape.audio_length, 6);
    check_audio(ds, 0, (const double[]){0, 0.5, 1.0, 1.5}, 4);
    ck_assert_int_eq(ds->samples.labeled[0], 0);
    mird_dataset_free(ds);
    read_fails(labels, NULL, audio, "audio_length=0", MIRD_ERR_INVALID_ARGUMENT, "audio_length");
    read_fails(labels, NULL, audio, "text_length=5000", MIRD_ERR_INVALID_ARGUMENT, "1..4096");
    read_fails(labels, NULL, audio, "vision_length=x", MIRD_ERR_INVALID_ARGUMENT, "vision_length");
    read_fails(labels, NULL, audio, "label_column=1", MIRD_ERR_INVALID_ARGUMENT, "label_column");
}
END_TEST

static const char *write_folds(const char *contents)
{
    const char *path = hw_path(3, "folds.tsv");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(contents, f);
    fclose(f);
    return path;
}

START_TEST(test_folds_keep_one_split)
{
    const char *labels = write_labels();
    const char *folds = write_folds("video_id\tsplit\r\nvidA\ttrain\r\nvidB\tvalid\r\n"
                                    "vidC\tvalid\r\n\r\n");
    char options[600];
    snprintf(options, sizeof options, "folds=%s,split=valid", folds);
    mird_dataset *ds = read_ok(labels, NULL, NULL, options);
    ck_assert_int_eq(ds->samples.size, 1);
    ck_assert_str_eq(ds->ids[0], "vidB_1");
    mird_dataset_free(ds);
    snprintf(options, sizeof options, "split=train,folds=%s", folds);
    ds = read_ok(labels, NULL, NULL, options);
    ck_assert_int_eq(ds->samples.size, 3);
    mird_dataset_free(ds);

    snprintf(options, sizeof options, "folds=%s,split=test", folds);
    read_fails(labels, NULL, NULL, options, MIRD_ERR_FORMAT, "assigns to test");
    snprintf(options, sizeof options, "folds=%s", folds);
    read_fails(labels, NULL, NULL, options, MIRD_ERR_INVALID_ARGUMENT, "needs split=");
    read_fails(labels, NULL, NULL, "split=train", MIRD_ERR_INVALID_ARGUMENT, "needs folds=");
    read_fails(labels, NULL, NULL, "split=dev", MIRD_ERR_INVALID_ARGUMENT, "split=dev");
    snprintf(options, sizeof options, "folds=%s,split=train", hw_path(4, "absent.tsv"));
    read_fails(labels, NULL, NULL, options, MIRD_ERR_IO, "absent.tsv");
    folds = write_folds("vidA\ttrain\nvidB valid\n");
    snprintf(options, sizeof options, "folds=%s,split=train", folds);
    read_fails(labels, NULL, NULL, options, MIRD_ERR_FORMAT, "line 2 is not video_id<TAB>split");
    folds = write_folds("vidA\ttrain\nvidB\tdev\n");
    read_fails(labels, NULL, NULL, options, MIRD_ERR_FORMAT, "line 2: split \"dev\"");
}
END_TEST

START_TEST(test_a_video_the_feature_file_lacks)
{
    const char *labels = write_labels(), *audio = write_audio(1, 2);
    read_fails(labels, NULL, audio, NULL, MIRD_ERR_FORMAT,
               "audio.csd has no video vidB, which segment vidB_1 of");
}
END_TEST

/* Damaged sequences, each a FORMAT error naming what is wrong. */
static void widths_differ(const char *path)
{
    (void)path;
    write_audio(1, 1);
}
static void strings_as_features(const char *path)
{
    hid_t file = hw_create(path);
    hw_write(file, "/words/data/vidA/intervals", H5T_IEEE_F64LE, 2, (const int64_t[]){1, 2},
             (const double[]){0, 1}, 1);
    hw_write_vlen_strings(file, "/words/data/vidA/features", 1, (const char *const[]){"hi"});
    H5Fclose(file);
}
static void three_interval_columns(const char *path)
{
    hid_t file = hw_create(path);
    hw_write(file, "/s/data/vidA/intervals", H5T_IEEE_F64LE, 2, (const int64_t[]){1, 3},
             (const double[]){0, 1, 2}, 1);
    hw_write(file, "/s/data/vidA/features", H5T_IEEE_F64LE, 2, (const int64_t[]){1, 1},
             (const double[]){0}, 1);
    H5Fclose(file);
}
static void rows_differ(const char *path)
{
    hid_t file = hw_create(path);
    hw_write(file, "/s/data/vidA/intervals", H5T_IEEE_F64LE, 2, (const int64_t[]){2, 2},
             (const double[]){0, 1, 1, 2}, 1);
    hw_write(file, "/s/data/vidA/features", H5T_IEEE_F64LE, 2, (const int64_t[]){3, 1},
             (const double[]){0, 1, 2}, 1);
    H5Fclose(file);
}
static void two_sequences(const char *path)
{
    hid_t file = hw_create(path);
    hw_write(file, "/s/data/vidA/intervals", H5T_IEEE_F64LE, 2, (const int64_t[]){1, 2},
             (const double[]){0, 1}, 1);
    hw_write(file, "/s/data/vidA/features", H5T_IEEE_F64LE, 2, (const int64_t[]){1, 1},
             (const double[]){0}, 1);
    hw_write(file, "/t/data/vidA/features", H5T_IEEE_F64LE, 2, (const int64_t[]){1, 1},
             (const double[]){0}, 1);
    H5Fclose(file);
}
static void no_data_group(const char *path)
{
    hid_t file = hw_create(path);
    hw_write_vlen_strings(file, "/s/metadata/root name", 1, (const char *const[]){"s"});
    H5Fclose(file);
}
static void vector_features(const char *path)
{
    hid_t file = hw_create(path);
    hw_write(file, "/s/data/vidA/intervals", H5T_IEEE_F64LE, 2, (const int64_t[]){1, 2},
             (const double[]){0, 1}, 1);
    hw_write(file, "/s/data/vidA/features", H5T_IEEE_F64LE, 1, (const int64_t[]){1},
             (const double[]){0}, 1);
    H5Fclose(file);
}

static const struct {
    void (*damage)(const char *path);
    int as_labels; /* damage the label file rather than the audio one */
    const char *word;
} damages[] = {
    {widths_differ, 0, "video vidB has 3 feature columns, the videos before it 2"},
    {strings_as_features, 1, "/words/data/vidA/features holds strings, expected numbers"},
    {three_interval_columns, 1, "/s/data/vidA/intervals has 3 columns, expected 2"},
    {rows_differ, 0, "/s/data/vidA/features has 3 rows, /s/data/vidA/intervals has 2"},
    {two_sequences, 1, "holds 2 top-level groups"},
    {no_data_group, 0, "no group /s/data"},
    {vector_features, 1, "/s/data/vidA/features has rank 1, expected 2"},
};

START_TEST(test_damaged_sequences)
{
    const char *labels = write_labels(), *audio = write_audio(1, 0);
    damages[_i].damage(damages[_i].as_labels ? labels : audio);
    read_fails(labels, NULL, audio, NULL, MIRD_ERR_FORMAT, damages[_i].word);
    read_fails(labels, NULL, audio, NULL, MIRD_ERR_FORMAT,
               damages[_i].as_labels ? "labels.csd" : "audio.csd");
}
END_TEST

START_TEST(test_absent_files)
{
    const char *labels = write_labels();
    read_fails(hw_path(4, "none.csd"), NULL, NULL, NULL, MIRD_ERR_IO, "none.csd");
    read_fails(labels, hw_path(4, "none.csd"), NULL, NULL, MIRD_ERR_IO, "none.csd");
    read_fails(labels, NULL, NULL, "vision=yes", MIRD_ERR_INVALID_ARGUMENT, "vision");
}
END_TEST

/* Overwrites the deflated chunk of a video's intervals with garbage. */
static void corrupt_chunk(const char *path, const char *dataset)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t dset = H5Dopen2(file, dataset, H5P_DEFAULT);
    ck_assert(dset >= 0);
    hsize_t origin[2] = {0, 0}, size = 0;
    haddr_t address = 0;
    unsigned filters;
    ck_assert(H5Dget_chunk_info_by_coord(dset, origin, &filters, &address, &size) >= 0);
    H5Dclose(dset);
    H5Fclose(file);
    ck_assert(size > 0);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, (long)address, SEEK_SET), 0);
    for (hsize_t i = 0; i < size; i++)
        fputc(0xA5, f);
    fclose(f);
}

START_TEST(test_corrupt_chunks_are_format_errors)
{
    const char *labels = write_labels(), *audio = write_audio(1, 0);
    corrupt_chunk(audio, "/COVAREP/data/vidB/intervals");
    read_fails(labels, NULL, audio, NULL, MIRD_ERR_FORMAT,
               "audio.csd: cannot read /COVAREP/data/vidB/intervals");
}
END_TEST

/* ---- The real CMU-MOSI opinion labels ------------------------------------- */

/* The real label file's path into `labels` and the table's rows, or NULL
 * when the shared data is absent (the test then skips). */
static mosi_row *load_mosi(char labels[1024], int *count)
{
    const char *csd = hw_shared_data(MIRD_SHARED_DATA_DIR,
                                     "mosi_opinion_labels_csd/CMU_MOSI_Opinion_Labels.csd");
    if (!csd)
        return NULL;
    snprintf(labels, 1024, "%s", csd);
    mosi_row *rows = mosi_table_load(MIRD_SHARED_DATA_DIR, count);
    ck_assert_ptr_nonnull(rows);
    ck_assert_int_eq(*count, 2199);
    return rows;
}

START_TEST(test_real_mosi_labels_match_the_clip_numbering)
{
    char labels[1024];
    int count;
    mosi_row *rows = load_mosi(labels, &count);
    if (!rows)
        return;
    mird_dataset *ds = read_ok(labels, NULL, NULL, NULL);
    ck_assert_int_eq(ds->samples.size, 2199);
    /* Every id is a CMU-MOSI clip with the same label, so the 2199 distinct
     * ids cover the table exactly. */
    int mismatches = 0;
    char used[2199] = {0};
    for (int64_t s = 0; s < ds->samples.size; s++) {
        const mosi_row *row = mosi_table_find(rows, count, ds->ids[s]);
        ck_assert_msg(row != NULL, "%s is not a CMU-MOSI clip", ds->ids[s]);
        ck_assert_msg(!used[row - rows], "%s twice", ds->ids[s]);
        used[row - rows] = 1;
        if (fabs(ds->samples.labels[s] - row->label) > 1e-5 && mismatches++ == 0)
            printf("%s: %g in the .csd, %g in the table\n", ds->ids[s], ds->samples.labels[s],
                   row->label);
    }
    ck_assert_int_eq(mismatches, 0);
    mird_dataset_free(ds);
    free(rows);
}
END_TEST

START_TEST(test_real_mosi_standard_folds)
{
    char labels[1024], options[1200];
    int count;
    mosi_row *rows = load_mosi(labels, &count);
    if (!rows)
        return;
    const char *folds = hw_shared_data(MIRD_SHARED_DATA_DIR, "cmu_std_folds/mosi_std_folds.tsv");
    ck_assert_ptr_nonnull(folds);
    static const char *const splits[] = {"train", "valid", "test"};
    static const int sizes[] = {1284, 229, 686};
    snprintf(options, sizeof options, "folds=%s,split=%s", folds, splits[_i]);
    mird_dataset *ds = read_ok(labels, NULL, NULL, options);
    ck_assert_int_eq(ds->samples.size, sizes[_i]);
    for (int64_t s = 0; s < ds->samples.size; s++) {
        const mosi_row *row = mosi_table_find(rows, count, ds->ids[s]);
        ck_assert_ptr_nonnull(row);
        ck_assert_str_eq(row->split, splits[_i]);
    }
    mird_dataset_free(ds);
    free(rows);
}
END_TEST

static Suite *csd_suite(void)
{
    Suite *suite = suite_create("dataset_csd");
    TCase *tc = tcase_create("csd");
    tcase_add_checked_fixture(tc, hw_make_temp_dir, hw_remove_temp_dir);
    tcase_add_test(tc, test_segments_gather_their_frames);
    tcase_add_test(tc, test_lengths_cut_or_pad);
    tcase_add_test(tc, test_folds_keep_one_split);
    tcase_add_test(tc, test_a_video_the_feature_file_lacks);
    tcase_add_loop_test(tc, test_damaged_sequences, 0, (int)(sizeof damages / sizeof damages[0]));
    tcase_add_test(tc, test_absent_files);
    tcase_add_test(tc, test_corrupt_chunks_are_format_errors);
    tcase_add_test(tc, test_real_mosi_labels_match_the_clip_numbering);
    tcase_add_loop_test(tc, test_real_mosi_standard_folds, 0, 3);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return tu_run_suite(csd_suite());
}
