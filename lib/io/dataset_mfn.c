/* The word-aligned HDF5 files of the Memory Fusion Network release:
 * <directory>/{text_<split>_emb, audio_<split>, video_<split>, y_<split>}.h5,
 * each holding one dataset ('d1'; 'data' in some): features [N, 20, d] as
 * float64, labels [N] or [N, k] (YouTube's one-hot [N, 3] as float32).
 *
 * Where the all-zero steps are (counted on the train splits, audio unless
 * said otherwise): in front, where a short sequence is padded -- ICT-MMMO
 * 30 of 220, POM 502 of 600, YouTube none; at the end -- ICT-MMMO 57 of 220
 * (where audio ends early, text ends at the same step), and YouTube's text
 * (26 of 36 in valid), which is padded there, never in front; in the middle, where a frame is
 * missing -- 183 of ICT-MMMO's 220 video sequences; and everywhere, for
 * sequences that are empty (322 of POM's 600 video, 125 of YouTube's 173
 * audio).  So no single padding side holds: a sequence runs from its first
 * to its last step that is not all zeros, the steps in between stay as they
 * are, zeros included, and move to the front, because libmird pads at the
 * end.  A step of NaNs is not zero: nonfinite= decides about it later. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "io/dataset.h"
#include "io/dataset_readers.h"
#include "io/hdf5_util.h"
#include "io/options.h"

typedef struct mfn_options {
    mird_dataset_options common;
    long long label_column;
    double label_offset, label_scale;
} mfn_options;

static mird_status mfn_option(const char *key, const char *value, void *context, mird_error *err)
{
    mfn_options *options = context;
    int handled;
    MIRD_TRY(mird_dataset_common_option(key, value, &options->common, &handled, err));
    if (handled)
        return MIRD_OK;
    if (strcmp(key, "label_column") == 0)
        return mird_option_int(key, value, 0, 1000000, &options->label_column, err);
    if (strcmp(key, "label_offset") == 0)
        return mird_option_real(key, value, &options->label_offset, err);
    if (strcmp(key, "label_scale") == 0)
        return mird_option_real(key, value, &options->label_scale, err);
    return mird_option_unknown(key, err);
}

enum { TEXT, AUDIO, VIDEO, LABELS, FILE_COUNT };

static const char *const file_patterns[FILE_COUNT] = {"text_%s_emb.h5", "audio_%s.h5",
                                                      "video_%s.h5", "y_%s.h5"};

/* One of the four files of a split. */
typedef struct mfn_file {
    char path[PATH_MAX];
    hid_t file;
    mird_hdf5_array data; /* open when file >= 0 */
} mfn_file;

static mird_status file_path(const char *directory, int which, mird_split split, char *path,
                             mird_error *err)
{
    char name[32];
    snprintf(name, sizeof name, file_patterns[which], mird_split_text(split));
    if (snprintf(path, PATH_MAX, "%s/%s", directory, name) >= PATH_MAX)
        return mird_fail(err, MIRD_ERR_IO, "cannot open %s/%s: the path is too long", directory,
                         name);
    return MIRD_OK;
}

static int is_absent(const char *path)
{
    struct stat info;
    return stat(path, &info) != 0 && errno == ENOENT;
}

static void close_file(mfn_file *f)
{
    if (f->file < 0)
        return;
    mird_hdf5_array_close(&f->data);
    mird_hdf5_close(f->file);
    f->file = H5I_INVALID_HID;
}

/* Opens the file's only dataset with the given rank (0: 1 or 2). */
static mird_status open_file(mfn_file *f, int rank, mird_error *err)
{
    MIRD_TRY(mird_hdf5_open(f->path, &f->file, err));
    char **names;
    int64_t count;
    mird_status st = mird_hdf5_list(f->file, f->path, ".", MIRD_HDF5_DATASETS, &names, &count, err);
    if (st == MIRD_OK && count != 1)
        st = mird_fail(err, MIRD_ERR_FORMAT, "%s holds %lld datasets at its root, expected one",
                       f->path, (long long)count);
    if (st == MIRD_OK)
        st = mird_hdf5_array_open(f->file, f->path, names[0], rank, &f->data, err);
    if (st == MIRD_OK && rank == 0 && f->data.rank > 2) {
        mird_hdf5_array_close(&f->data);
        st = mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has rank %d, expected 1 or 2", f->path,
                       names[0], f->data.rank);
    }
    mird_hdf5_free_strings(names, count);
    if (st != MIRD_OK) {
        mird_hdf5_close(f->file);
        f->file = H5I_INVALID_HID;
    }
    return st;
}

/* The padded length and width of a modality absent from this split: another
 * split's, so that every split of a directory has the same shapes, or 1 x 1
 * when no split has it. */
static mird_status shape_elsewhere(const char *directory, int which, mird_split split,
                                   int64_t *length, int64_t *width, mird_error *err)
{
    *length = *width = 1;
    for (int other = MIRD_SPLIT_TRAIN; other <= MIRD_SPLIT_TEST; other++) {
        mfn_file f = {.file = H5I_INVALID_HID};
        if (other == (int)split)
            continue;
        MIRD_TRY(file_path(directory, which, (mird_split)other, f.path, err));
        if (is_absent(f.path))
            continue;
        MIRD_TRY(open_file(&f, 3, err));
        *length = f.data.dims[1];
        *width = f.data.dims[2];
        close_file(&f);
        return MIRD_OK;
    }
    return MIRD_OK;
}

/* Moves the steps from the first to the last one not all zeros to the front
 * and returns their count. */
static int32_t compact_sequence(float *steps, int64_t count, int64_t width)
{
    int64_t first = -1, last = -1;
    for (int64_t t = 0; t < count; t++) {
        const float *step = steps + t * width;
        int64_t d = 0;
        while (d < width && step[d] == 0.0f)
            d++;
        if (d < width) {
            if (first < 0)
                first = t;
            last = t;
        }
    }
    if (first < 0)
        return 0;
    int64_t kept = last - first + 1;
    if (first > 0) {
        memmove(steps, steps + first * width, (size_t)(kept * width) * sizeof(float));
        memset(steps + kept * width, 0, (size_t)((count - kept) * width) * sizeof(float));
    }
    return (int32_t)kept;
}

static mird_status read_features(const mfn_file *f, float *values, int32_t *lengths, int64_t n,
                                 mird_error *err)
{
    MIRD_TRY(mird_hdf5_array_read_float(&f->data, values, err));
    int64_t steps = f->data.dims[1], width = f->data.dims[2];
    for (int64_t i = 0; i < n; i++)
        lengths[i] = compact_sequence(values + i * steps * width, steps, width);
    return MIRD_OK;
}

static mird_status read_labels(const mfn_file *f, const mfn_options *options, float *labels,
                               uint8_t *labeled, int64_t n, mird_error *err)
{
    int64_t columns = f->data.rank == 2 ? f->data.dims[1] : 1;
    size_t count, bytes;
    double *values = NULL;
    if (mird_size_mul((size_t)n, (size_t)columns, &count)
        && mird_size_mul(count, sizeof(double), &bytes))
        values = mird_alloc(bytes);
    if (!values)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot allocate the labels", f->path);
    mird_status st = mird_hdf5_array_read_double(&f->data, values, err);
    for (int64_t i = 0; st == MIRD_OK && i < n; i++) {
        double label = values[i * columns + options->label_column];
        labels[i] = (float)((label + options->label_offset) * options->label_scale);
        labeled[i] = 1;
    }
    mird_free(values);
    return st;
}

static mird_status check_files(const char *directory, mfn_file files[FILE_COUNT],
                               const mfn_options *options, mird_error *err)
{
    const mird_hdf5_array *y = &files[LABELS].data;
    int64_t columns = y->rank == 2 ? y->dims[1] : 1;
    if (options->label_column >= columns)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "option label_column=%lld: %s has %lld "
                         "label column%s", options->label_column, files[LABELS].path,
                         (long long)columns, columns == 1 ? "" : "s");
    for (int m = 0; m < FILE_COUNT; m++) {
        if (files[m].file < 0)
            continue;
        const mird_hdf5_array *a = &files[m].data;
        for (int d = 0; d < a->rank; d++)
            if (a->dims[d] < 1)
                return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s is empty (dimension %d is 0)",
                                 files[m].path, a->path, d);
        if (a->dims[0] != y->dims[0])
            return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has %lld samples, %s has %lld",
                             directory, files[m].path, (long long)a->dims[0],
                             files[LABELS].path, (long long)y->dims[0]);
    }
    return MIRD_OK;
}

static mird_status read_files(const char *directory, mfn_file files[FILE_COUNT],
                              const mird_batch_shape *shape, const mfn_options *options,
                              mird_dataset **out, mird_error *err)
{
    MIRD_TRY(check_files(directory, files, options, err));
    int64_t n = files[LABELS].data.dims[0];
    mird_dataset *ds;
    mird_dataset_arrays a;
    MIRD_TRY(mird_dataset_new(shape, n, &options->common, &ds, &a, err));
    float *values[3] = {a.text_features, a.audio, a.vision};
    int32_t *lengths[3] = {a.text_lengths, a.audio_lengths, a.vision_lengths};
    mird_status st = MIRD_OK;
    for (int m = TEXT; m <= VIDEO && st == MIRD_OK; m++)
        if (files[m].file >= 0)
            st = read_features(&files[m], values[m], lengths[m], n, err);
    if (st == MIRD_OK)
        st = read_labels(&files[LABELS], options, a.labels, a.labeled, n, err);
    if (st == MIRD_OK)
        st = mird_dataset_finish(ds, directory, err);
    if (st != MIRD_OK) {
        mird_dataset_free(ds);
        return st;
    }
    *out = ds;
    return MIRD_OK;
}

static mird_status read_directory(const char *directory, mird_split split,
                                  const mfn_options *options, mfn_file files[FILE_COUNT],
                                  mird_dataset **out, mird_error *err)
{
    struct stat info;
    if (stat(directory, &info) != 0)
        return mird_fail(err, MIRD_ERR_IO, "cannot open the directory %s: %s", directory,
                         strerror(errno));
    if (!S_ISDIR(info.st_mode))
        return mird_fail(err, MIRD_ERR_IO, "cannot open %s: not a directory", directory);
    int64_t lengths[3], widths[3];
    for (int m = TEXT; m <= LABELS; m++) {
        MIRD_TRY(file_path(directory, m, split, files[m].path, err));
        if (m != LABELS && is_absent(files[m].path)) {
            MIRD_TRY(shape_elsewhere(directory, m, split, &lengths[m], &widths[m], err));
            continue;
        }
        MIRD_TRY(open_file(&files[m], m == LABELS ? 0 : 3, err));
        if (m != LABELS)
            lengths[m] = files[m].data.dims[1], widths[m] = files[m].data.dims[2];
    }
    mird_batch_shape shape = {
        .text_mode = MIRD_TEXT_FEATURES,
        .text_length = lengths[TEXT], .text_dim = widths[TEXT],
        .audio_length = lengths[AUDIO], .audio_dim = widths[AUDIO],
        .vision_length = lengths[VIDEO], .vision_dim = widths[VIDEO],
    };
    return read_files(directory, files, &shape, options, out, err);
}

mird_status mird_read_mfn(const char *directory, mird_split split, const char *options,
                          mird_dataset **out, mird_error *err)
{
    *out = NULL;
    if (!mird_split_text(split))
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "split = %d is not train (0), valid "
                         "(1) or test (2)", (int)split);
    mfn_options parsed = {.label_scale = 1.0};
    MIRD_TRY(mird_options_parse(options, mfn_option, &parsed, err));
    mird_hdf5_quiet quiet;
    mird_hdf5_quiet_begin(&quiet);
    mfn_file files[FILE_COUNT];
    for (int m = 0; m < FILE_COUNT; m++)
        files[m].file = H5I_INVALID_HID;
    mird_status st = read_directory(directory, split, &parsed, files, out, err);
    for (int m = 0; m < FILE_COUNT; m++)
        close_file(&files[m]);
    mird_hdf5_quiet_end(&quiet);
    return st;
}
