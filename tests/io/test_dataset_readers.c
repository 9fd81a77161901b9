/* mird_dataset_read_hdf5 on files in the MMSA layout written here: text
 * features and text_bert tokens, ids of both string kinds, every malformed
 * variant named in the header, options, argument checks, and silence (HDF5
 * prints nothing, and the host's error handler survives). */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/dataset.h"
#include "io/dataset_readers.h"
#include "support/h5write.h"
#include "support/testutil.h"

enum { N = 5, T_TEXT = 4, D_TEXT = 3, T_AUDIO = 6, D_AUDIO = 2, T_VISION = 3, D_VISION = 2 };

/* The content of sample i; every value depends on where it sits. */
static int text_length(int i) { return 1 + i % T_TEXT; }
static int audio_length(int i) { return 1 + (2 * i) % T_AUDIO; }
static int vision_length(int i) { return i % (T_VISION + 1); }
static double text_value(int i, int t, int d) { return 1 + i + 0.1 * t + 0.01 * d; }
static double audio_value(int i, int t, int d) { return -(1 + i) - 0.1 * t - 0.01 * d; }
static double vision_value(int i, int t, int d) { return 10 * i + t + 0.5 * d + 0.25; }
static int token_id(int i, int t) { return t < text_length(i) ? 101 + 7 * i + t : 0; }
static double label_value(int i) { return -3 + 0.75 * i; }

/* What a test changes in the file. */
typedef struct variant {
    int no_text, no_bert;     /* leave /train/text or /train/text_bert out */
    int zero_text_padding;    /* text rows past the length are zero (else noise) */
    hid_t bert_type;          /* default float64 */
    int fixed_ids;            /* numpy 'S' ids rather than str objects */
    const char *omit;         /* a field left out */
    const char *flat;         /* a field written with one rank less */
    const char *extra;        /* a field with one sample too many */
    double audio_length_bump; /* added to audio_lengths[2] */
    double neg_inf_audio;     /* nonzero: audio[1][0][1] = -inf */
    int bad_mask;             /* mask of sample 1 has a hole */
} variant;

static int is(const char *field, const char *name) { return field && strcmp(field, name) == 0; }

/* Writes `name` under /train unless omitted, with the variant's damage. */
static void put(hid_t file, const variant *v, const char *name, hid_t type, int rank,
                const int64_t *dims, const double *values)
{
    if (is(v->omit, name))
        return;
    int64_t shape[4];
    memcpy(shape, dims, (size_t)rank * sizeof *shape);
    if (is(v->extra, name))
        shape[0] += 1; /* values has room: callers allocate N + 1 rows */
    if (is(v->flat, name)) {
        shape[rank - 2] *= shape[rank - 1];
        rank -= 1;
    }
    char path[64];
    snprintf(path, sizeof path, "/train/%s", name);
    hw_write(file, path, type, rank, shape, values, 0);
}

static void write_mmsa(const char *path, const variant *v)
{
    hid_t file = hw_create(path);
    double *text = calloc((N + 1) * T_TEXT * D_TEXT, sizeof *text);
    double *bert = calloc((N + 1) * 3 * T_TEXT, sizeof *bert);
    double *audio = calloc((N + 1) * T_AUDIO * D_AUDIO, sizeof *audio);
    double *vision = calloc((N + 1) * T_VISION * D_VISION, sizeof *vision);
    double lengths_a[N + 1] = {0}, lengths_v[N + 1] = {0}, labels[N + 1] = {0};
    for (int i = 0; i < N; i++) {
        for (int t = 0; t < T_TEXT; t++) {
            int valid = t < text_length(i);
            for (int d = 0; d < D_TEXT; d++)
                text[(i * T_TEXT + t) * D_TEXT + d] =
                    valid ? text_value(i, t, d) : v->zero_text_padding ? 0 : 0.5 + d;
            bert[(i * 3 + 0) * T_TEXT + t] = token_id(i, t);
            bert[(i * 3 + 1) * T_TEXT + t] = valid;
        }
        for (int t = 0; t < audio_length(i); t++)
            for (int d = 0; d < D_AUDIO; d++)
                audio[(i * T_AUDIO + t) * D_AUDIO + d] = audio_value(i, t, d);
        for (int t = 0; t < vision_length(i); t++)
            for (int d = 0; d < D_VISION; d++)
                vision[(i * T_VISION + t) * D_VISION + d] = vision_value(i, t, d);
        lengths_a[i] = audio_length(i);
        lengths_v[i] = vision_length(i);
        labels[i] = label_value(i);
    }
    lengths_a[2] += v->audio_length_bump;
    if (v->neg_inf_audio)
        audio[(1 * T_AUDIO + 0) * D_AUDIO + 1] = -INFINITY;
    if (v->bad_mask)
        bert[(1 * 3 + 1) * T_TEXT + T_TEXT - 1] = 1; /* 1 1 0 1 */
    int64_t text_dims[] = {N, T_TEXT, D_TEXT}, bert_dims[] = {N, 3, T_TEXT};
    int64_t audio_dims[] = {N, T_AUDIO, D_AUDIO}, vision_dims[] = {N, T_VISION, D_VISION};
    int64_t n = N;
    if (!v->no_text)
        put(file, v, "text", H5T_IEEE_F32LE, 3, text_dims, text);
    if (!v->no_bert)
        put(file, v, "text_bert", v->bert_type ? v->bert_type : H5T_IEEE_F64LE, 3, bert_dims,
            bert);
    put(file, v, "audio", H5T_IEEE_F32LE, 3, audio_dims, audio);
    put(file, v, "vision", H5T_IEEE_F64LE, 3, vision_dims, vision);
    put(file, v, "audio_lengths", H5T_IEEE_F64LE, 1, &n, lengths_a);
    put(file, v, "vision_lengths", H5T_STD_I64LE, 1, &n, lengths_v);
    put(file, v, "regression_labels", H5T_IEEE_F32LE, 1, &n, labels);
    char id_text[N][24];
    const char *ids[N];
    for (int i = 0; i < N; i++) {
        snprintf(id_text[i], sizeof id_text[i], i == 0 ? "abcdefgh" : "video%d$_$%d", i, i + 1);
        ids[i] = id_text[i];
    }
    if (!is(v->omit, "id")) {
        /* 8 bytes: the first id fills its slot with no terminator. */
        if (v->fixed_ids)
            hw_write_fixed_strings(file, "/train/id", N, 12, ids);
        else
            hw_write_vlen_strings(file, "/train/id", N, ids);
    }
    H5Fclose(file);
    free(text), free(bert), free(audio), free(vision);
}

/* ---- Reading ----------------------------------------------------------- */

static mird_dataset *read_ok(const char *path, const char *options)
{
    mird_dataset *ds = NULL;
    mird_status st = mird_dataset_read_hdf5(path, MIRD_SPLIT_TRAIN, options, &ds);
    ck_assert_msg(st == MIRD_OK, "read %s -> %s: %s", path, mird_status_string(st),
                  mird_last_error_message());
    ck_assert_ptr_nonnull(ds);
    return ds;
}

static void read_fails(const char *path, const char *options, mird_status want,
                       const char *word)
{
    mird_dataset *ds = (mird_dataset *)&ds; /* must come back NULL */
    mird_status st = mird_dataset_read_hdf5(path, MIRD_SPLIT_TRAIN, options, &ds);
    hw_assert_read_failed(st, want, ds, word);
}

static void check_audio_vision_labels(const mird_dataset *ds)
{
    const mird_batch *b = &ds->samples;
    ck_assert_int_eq(b->shape.audio_length, T_AUDIO);
    ck_assert_int_eq(b->shape.audio_dim, D_AUDIO);
    ck_assert_int_eq(b->shape.vision_length, T_VISION);
    ck_assert_int_eq(b->shape.vision_dim, D_VISION);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(b->audio_lengths[i], audio_length(i));
        ck_assert_int_eq(b->vision_lengths[i], vision_length(i));
        for (int t = 0; t < audio_length(i); t++)
            for (int d = 0; d < D_AUDIO; d++)
                ck_assert_float_eq_tol(b->audio[(i * T_AUDIO + t) * D_AUDIO + d],
                                       audio_value(i, t, d), 1e-5);
        for (int t = 0; t < vision_length(i); t++)
            for (int d = 0; d < D_VISION; d++)
                ck_assert_float_eq_tol(b->vision[(i * T_VISION + t) * D_VISION + d],
                                       vision_value(i, t, d), 1e-5);
        ck_assert_int_eq(b->labeled[i], 1);
        ck_assert_float_eq_tol(b->labels[i], label_value(i), 1e-6);
        char want[24];
        snprintf(want, sizeof want, i == 0 ? "abcdefgh" : "video%d$_$%d", i, i + 1);
        ck_assert_str_eq(ds->ids[i], want);
    }
}

START_TEST(test_text_features_take_lengths_from_the_mask)
{
    const char *path = hw_path(0, "mmsa.h5");
    write_mmsa(path, &(variant){0});
    mird_dataset *ds = read_ok(path, NULL);
    const mird_batch *b = &ds->samples;
    ck_assert_int_eq(b->size, N);
    ck_assert_int_eq(b->shape.text_mode, MIRD_TEXT_FEATURES);
    ck_assert_int_eq(b->shape.text_length, T_TEXT);
    ck_assert_int_eq(b->shape.text_dim, D_TEXT);
    for (int i = 0; i < N; i++) {
        /* The padded rows are not zero, so only the mask gives this. */
        ck_assert_int_eq(b->text_lengths[i], text_length(i));
        for (int t = 0; t < text_length(i); t++)
            for (int d = 0; d < D_TEXT; d++)
                ck_assert_float_eq_tol(b->text_features[(i * T_TEXT + t) * D_TEXT + d],
                                       text_value(i, t, d), 1e-6);
    }
    check_audio_vision_labels(ds);
    mird_dataset_free(ds);
}
END_TEST

START_TEST(test_text_features_without_mask_count_leading_rows)
{
    const char *path = hw_path(0, "mmsa.h5");
    write_mmsa(path, &(variant){.no_bert = 1, .zero_text_padding = 1, .fixed_ids = 1});
    mird_dataset *ds = read_ok(path, "text=features");
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(ds->samples.text_lengths[i], text_length(i));
    check_audio_vision_labels(ds); /* fixed-length ids, one filling its slot */
    mird_dataset_free(ds);
}
END_TEST

/* text_bert as h5py writes MMSA's arrays: float64, or int64. */
START_TEST(test_tokens_from_text_bert)
{
    const char *path = hw_path(0, "mmsa.h5");
    hid_t types[2] = {H5T_IEEE_F64LE, H5T_STD_I64LE};
    write_mmsa(path, &(variant){.no_text = _i == 1, .bert_type = types[_i]});
    /* Without /train/text tokens are the default; with it, the option. */
    mird_dataset *ds = read_ok(path, _i == 1 ? NULL : "text=tokens");
    const mird_batch *b = &ds->samples;
    ck_assert_int_eq(b->shape.text_mode, MIRD_TEXT_TOKENS);
    ck_assert_int_eq(b->shape.text_length, T_TEXT);
    ck_assert_ptr_nonnull(b->text_ids);
    int max_id = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(b->text_lengths[i], text_length(i));
        for (int t = 0; t < T_TEXT; t++) {
            ck_assert_int_eq(b->text_ids[i * T_TEXT + t], token_id(i, t));
            max_id = token_id(i, t) > max_id ? token_id(i, t) : max_id;
        }
    }
    ck_assert_int_eq(b->shape.vocab_size, max_id + 1);
    check_audio_vision_labels(ds);
    mird_dataset_free(ds);
}
END_TEST

START_TEST(test_nonfinite_audio_is_an_error_or_zero)
{
    const char *path = hw_path(0, "mmsa.h5");
    write_mmsa(path, &(variant){.neg_inf_audio = 1});
    read_fails(path, NULL, MIRD_ERR_NONFINITE, "audio[1][0][1]");
    read_fails(path, "nonfinite=error", MIRD_ERR_NONFINITE, "nonfinite=zero");
    mird_dataset *ds = read_ok(path, "nonfinite=zero");
    ck_assert_float_eq(ds->samples.audio[(1 * T_AUDIO + 0) * D_AUDIO + 1], 0.0f);
    ck_assert_float_eq_tol(ds->samples.audio[(1 * T_AUDIO + 0) * D_AUDIO + 0],
                           audio_value(1, 0, 0), 1e-5);
    mird_dataset_free(ds);
}
END_TEST

START_TEST(test_labels_none_makes_samples_unlabeled)
{
    const char *path = hw_path(0, "mmsa.h5");
    write_mmsa(path, &(variant){0});
    mird_dataset *ds = read_ok(path, "labels=none,nonfinite=zero");
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(ds->samples.labeled[i], 0);
        ck_assert(isnan(ds->samples.labels[i]));
    }
    mird_dataset_free(ds);
}
END_TEST

/* Each malformed file fails with FORMAT naming the file and the dataset. */
static const struct {
    variant v;
    const char *options, *word;
} malformed[] = {
    {{.omit = "vision"}, NULL, "no dataset /train/vision"},
    {{.omit = "id"}, NULL, "no dataset /train/id"},
    {{.omit = "regression_labels"}, NULL, "/train/regression_labels"},
    {{.no_bert = 1}, "text=tokens", "no dataset /train/text_bert"},
    {{.no_text = 1}, "text=features", "no dataset /train/text"},
    {{.flat = "audio"}, NULL, "/train/audio has rank 2, expected 3"},
    {{.flat = "text_bert"}, NULL, "/train/text_bert has rank 2, expected 3"},
    {{.extra = "vision"}, NULL, "/train/vision has 6 samples, /train/audio has 5"},
    {{.extra = "audio_lengths"}, NULL, "/train/audio_lengths has 6 samples"},
    {{.extra = "text"}, NULL, "/train/text has 6 samples"},
    {{.audio_length_bump = T_AUDIO}, NULL, "audio lengths[2] = 11 is outside 0..6"},
    {{.audio_length_bump = 0.5}, NULL, "/train/audio_lengths[2] = 5.5 is not a whole number"},
    {{.audio_length_bump = -10}, NULL, "audio lengths[2] = -5"},
    {{.bad_mask = 1}, NULL, "/train/text_bert[1][1] (the attention mask)"},
};

START_TEST(test_malformed_files_are_format_errors)
{
    const char *path = hw_path(0, "mmsa.h5");
    write_mmsa(path, &malformed[_i].v);
    read_fails(path, malformed[_i].options, MIRD_ERR_FORMAT, malformed[_i].word);
    read_fails(path, malformed[_i].options, MIRD_ERR_FORMAT, path);
}
END_TEST

START_TEST(test_token_ids_must_be_whole_int32_values)
{
    const char *path = hw_path(0, "mmsa.h5");
    write_mmsa(path, &(variant){.no_bert = 1, .no_text = 1});
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert(file >= 0);
    double bert[N * 3 * T_TEXT] = {0};
    for (int i = 0; i < N; i++)
        bert[(i * 3 + 1) * T_TEXT] = 1;
    bert[(2 * 3 + 0) * T_TEXT] = 3e9;
    int64_t dims[] = {N, 3, T_TEXT};
    hw_write(file, "/train/text_bert", H5T_IEEE_F64LE, 3, dims, bert, 0);
    H5Fclose(file);
    read_fails(path, NULL, MIRD_ERR_FORMAT, "/train/text_bert[2][0][0] = 3e+09");
}
END_TEST

START_TEST(test_missing_split_and_files_that_are_not_hdf5)
{
    const char *path = hw_path(0, "mmsa.h5");
    write_mmsa(path, &(variant){0});
    mird_dataset *ds = (mird_dataset *)&ds;
    ck_assert_int_eq(mird_dataset_read_hdf5(path, MIRD_SPLIT_VALID, NULL, &ds), MIRD_ERR_FORMAT);
    ck_assert_ptr_null(ds);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "no group /valid"));

    read_fails(hw_path(1, "absent.h5"), NULL, MIRD_ERR_IO, "absent.h5");
    read_fails(hw_path(1, "absent.h5"), NULL, MIRD_ERR_IO, "No such file");
    const char *text = hw_path(2, "text.h5");
    FILE *f = fopen(text, "w");
    ck_assert_ptr_nonnull(f);
    fputs("not an HDF5 file\n", f);
    fclose(f);
    read_fails(text, NULL, MIRD_ERR_IO, "text.h5 as HDF5");
    read_fails(hw_path(3, ""), NULL, MIRD_ERR_IO, "directory");
}
END_TEST

START_TEST(test_truncated_file_is_an_io_error)
{
    const char *path = hw_path(0, "mmsa.h5");
    write_mmsa(path, &(variant){0});
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    ck_assert_int_eq(truncate(path, size / 2), 0);
    read_fails(path, NULL, MIRD_ERR_IO, "mmsa.h5 as HDF5 (truncated file");
}
END_TEST

START_TEST(test_options_are_checked)
{
    const char *path = hw_path(0, "mmsa.h5");
    write_mmsa(path, &(variant){0});
    read_fails(path, "text=words", MIRD_ERR_INVALID_ARGUMENT, "text=words");
    read_fails(path, "colour=blue", MIRD_ERR_INVALID_ARGUMENT, "colour");
    read_fails(path, "nonfinite=maybe", MIRD_ERR_INVALID_ARGUMENT, "nonfinite");
    read_fails(path, "label_scale=2", MIRD_ERR_INVALID_ARGUMENT, "label_scale");
    read_fails(path, "text", MIRD_ERR_INVALID_ARGUMENT, "key=value");
    /* Options are checked before the file is touched. */
    read_fails(hw_path(1, "absent.h5"), "colour=blue", MIRD_ERR_INVALID_ARGUMENT, "colour");
}
END_TEST

START_TEST(test_arguments_are_checked)
{
    mird_dataset *ds = (mird_dataset *)&ds;
    ck_assert_int_eq(mird_dataset_read_hdf5(NULL, MIRD_SPLIT_TRAIN, NULL, &ds),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "path"));
    ck_assert_int_eq(mird_dataset_read_hdf5("x.h5", MIRD_SPLIT_TRAIN, NULL, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_dataset_read_hdf5("x.h5", (mird_split)3, NULL, &ds),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(ds);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "split = 3"));
    ds = (mird_dataset *)&ds;
    ck_assert_int_eq(mird_dataset_read_mfn(".", (mird_split)-1, NULL, &ds),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(mird_dataset_read_mfn(NULL, MIRD_SPLIT_TRAIN, NULL, &ds),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "directory"));
    ck_assert_int_eq(mird_dataset_read_csd(NULL, NULL, NULL, NULL, NULL, &ds),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "labels_path"));
    ck_assert_int_eq(mird_dataset_read_csd("l.csd", NULL, NULL, NULL, NULL, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
}
END_TEST

/* ---- Silence ------------------------------------------------------------ */

static int host_handler_calls;

static herr_t host_handler(hid_t stack, void *data)
{
    (void)stack;
    host_handler_calls += data == &host_handler_calls;
    return 0;
}

START_TEST(test_hdf5_prints_nothing_and_the_host_handler_survives)
{
    const char *path = hw_path(0, "mmsa.h5");
    write_mmsa(path, &(variant){.omit = "vision"});
    /* HDF5's default handler prints to stderr: catch anything written. */
    const char *captured = hw_path(1, "stderr.txt");
    fflush(stderr);
    int saved_stderr = dup(STDERR_FILENO);
    ck_assert(freopen(captured, "w", stderr) != NULL);
    read_fails(path, NULL, MIRD_ERR_FORMAT, "vision");
    read_fails(hw_path(2, "absent.h5"), NULL, MIRD_ERR_IO, "absent");
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    FILE *in = fopen(captured, "r");
    ck_assert_ptr_nonnull(in);
    fseek(in, 0, SEEK_END);
    long printed = ftell(in);
    fclose(in);
    ck_assert_msg(printed == 0, "the readers printed %ld bytes to stderr", printed);

    H5E_auto2_t before_func;
    void *before_data;
    H5Eget_auto2(H5E_DEFAULT, &before_func, &before_data);
    H5Eset_auto2(H5E_DEFAULT, host_handler, &host_handler_calls);
    host_handler_calls = 0;
    read_fails(path, NULL, MIRD_ERR_FORMAT, "vision");
    ck_assert_int_eq(host_handler_calls, 0);
    H5E_auto2_t func;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    ck_assert(func == host_handler && data == &host_handler_calls);
    /* The handler is live again: HDF5's own failures reach it. */
    H5Fopen(hw_path(2, "absent.h5"), H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_eq(host_handler_calls, 1);
    H5Eset_auto2(H5E_DEFAULT, before_func, before_data);
}
END_TEST

static Suite *readers_suite(void)
{
    Suite *suite = suite_create("dataset_readers");
    TCase *tc = tcase_create("mmsa");
    tcase_add_checked_fixture(tc, hw_make_temp_dir, hw_remove_temp_dir);
    tcase_add_test(tc, test_text_features_take_lengths_from_the_mask);
    tcase_add_test(tc, test_text_features_without_mask_count_leading_rows);
    tcase_add_loop_test(tc, test_tokens_from_text_bert, 0, 2);
    tcase_add_test(tc, test_nonfinite_audio_is_an_error_or_zero);
    tcase_add_test(tc, test_labels_none_makes_samples_unlabeled);
    tcase_add_loop_test(tc, test_malformed_files_are_format_errors, 0,
                        (int)(sizeof malformed / sizeof malformed[0]));
    tcase_add_test(tc, test_token_ids_must_be_whole_int32_values);
    tcase_add_test(tc, test_missing_split_and_files_that_are_not_hdf5);
    tcase_add_test(tc, test_truncated_file_is_an_io_error);
    tcase_add_test(tc, test_options_are_checked);
    tcase_add_test(tc, test_arguments_are_checked);
    tcase_add_test(tc, test_hdf5_prints_nothing_and_the_host_handler_survives);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return tu_run_suite(readers_suite());
}
