/* CMU-MultimodalSDK computational sequences (.csd): HDF5 files holding one
 * group, named after the sequence, with data/<video>/{intervals [n, 2]
 * (start and end in seconds), features [n, d]} and metadata/<key>.
 *
 * The samples are the label sequence's segments.  Within a video they keep
 * the order the file stores them in, and a segment's id counts from 1 in that
 * order: this is the CMU-MOSI clip numbering (every one of the 2199 segments
 * of CMU_MOSI_Opinion_Labels.csd matches it), and the SDK's own alignment
 * names segments by the same stored position (counting from 0).  It is not
 * time order: two MOSI videos hold segments that were added after the rest,
 * out of time order.  A feature sequence gives each segment, in time order,
 * its frames whose intervals lie inside the segment's. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "io/dataset.h"
#include "io/dataset_readers.h"
#include "io/hdf5_util.h"
#include "io/options.h"
#include "model/config.h"

/* How far (seconds) a frame may reach past a segment's ends and still lie
 * inside it: the SDK keeps times as float32, about 1e-5 s apart at ten
 * minutes, and word and segment boundaries often coincide. */
#define INSIDE_TOLERANCE 1e-4

enum { TEXT, AUDIO, VISION, MODALITY_COUNT };

static const char *const length_keys[MODALITY_COUNT] = {"text_length", "audio_length",
                                                        "vision_length"};

typedef struct csd_options {
    mird_dataset_options common;
    char folds[MIRD_OPTION_TEXT_MAX];
    mird_split split;
    int has_split;
    int64_t lengths[MODALITY_COUNT]; /* 0: the longest segment's */
} csd_options;

static mird_status csd_option(const char *key, const char *value, void *context,
                              mird_error *err)
{
    csd_options *options = context;
    int handled;
    MIRD_TRY(mird_dataset_common_option(key, value, &options->common, &handled, err));
    if (handled)
        return MIRD_OK;
    if (strcmp(key, "folds") == 0) {
        if (!value[0])
            return mird_option_bad_value(key, value, "the path of a video_id<TAB>split file",
                                         err);
        snprintf(options->folds, sizeof options->folds, "%s", value);
        return MIRD_OK;
    }
    if (strcmp(key, "split") == 0) {
        for (int s = MIRD_SPLIT_TRAIN; s <= MIRD_SPLIT_TEST; s++)
            if (strcmp(value, mird_split_text((mird_split)s)) == 0) {
                options->split = (mird_split)s;
                options->has_split = 1;
                return MIRD_OK;
            }
        return mird_option_bad_value(key, value, "train, valid or test", err);
    }
    for (int m = 0; m < MODALITY_COUNT; m++) {
        if (strcmp(key, length_keys[m]) != 0)
            continue;
        /* The configuration's bounds, so that apply_shapes accepts it. */
        const mird_setting_info *setting = mird_setting_by_name(key);
        long long length;
        MIRD_TRY(mird_option_int(key, value, (long long)setting->min, (long long)setting->max,
                                 &length, err));
        options->lengths[m] = length;
        return MIRD_OK;
    }
    return mird_option_unknown(key, err);
}

static void *alloc_array(int64_t count, size_t element)
{
    size_t bytes;
    if (count < 0 || !mird_size_mul((size_t)count, element, &bytes))
        return NULL;
    return mird_alloc(bytes ? bytes : 1);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int contains(char *const *sorted, int64_t count, const char *name)
{
    return count > 0
           && bsearch(&name, sorted, (size_t)count, sizeof *sorted, compare_strings) != NULL;
}

/* ---- Folds: "video_id<TAB>split" lines ----------------------------------- */

static mird_status keep_name(char ***names, int64_t *count, int64_t *capacity, const char *name)
{
    if (*count == *capacity) {
        int64_t grown = *capacity ? 2 * *capacity : 64;
        char **table = alloc_array(grown, sizeof *table);
        if (!table)
            return MIRD_ERR_OUT_OF_MEMORY;
        if (*count)
            memcpy(table, *names, (size_t)*count * sizeof *table);
        mird_free(*names);
        *names = table;
        *capacity = grown;
    }
    size_t n = strlen(name) + 1;
    char *copy = mird_alloc(n);
    if (!copy)
        return MIRD_ERR_OUT_OF_MEMORY;
    memcpy(copy, name, n);
    (*names)[(*count)++] = copy;
    return MIRD_OK;
}

/* Parses the lines of an open folds file; a first line "video_id<TAB>split"
 * is a heading. */
static mird_status parse_folds(FILE *in, const char *path, const char *split, char ***videos,
                               int64_t *count, mird_error *err)
{
    char *line = NULL;
    size_t size = 0;
    int64_t capacity = 0, line_number = 0;
    mird_status st = MIRD_OK;
    while (st == MIRD_OK && getline(&line, &size, in) >= 0) {
        line_number++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        char *tab = strchr(line, '\t');
        if (!tab || tab == line) {
            st = mird_fail(err, MIRD_ERR_FORMAT, "%s: line %lld is not video_id<TAB>split",
                           path, (long long)line_number);
            break;
        }
        *tab = '\0';
        const char *which = tab + 1;
        if (line_number == 1 && strcmp(which, "split") == 0)
            continue;
        if (strcmp(which, "train") != 0 && strcmp(which, "valid") != 0
            && strcmp(which, "test") != 0)
            st = mird_fail(err, MIRD_ERR_FORMAT, "%s: line %lld: split \"%.40s\" is not train, "
                           "valid or test", path, (long long)line_number, which);
        else if (strcmp(which, split) == 0 && keep_name(videos, count, &capacity, line) != MIRD_OK)
            st = mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot keep the video ids", path);
    }
    if (st == MIRD_OK && ferror(in))
        st = mird_fail(err, MIRD_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    free(line); /* getline's buffer comes from malloc */
    return st;
}

/* The sorted video ids that `path` assigns to `split`. */
static mird_status read_folds(const char *path, const char *split, char ***videos, int64_t *count,
                              mird_error *err)
{
    *videos = NULL;
    *count = 0;
    FILE *in = fopen(path, "r");
    if (!in)
        return mird_fail(err, MIRD_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    mird_status st = parse_folds(in, path, split, videos, count, err);
    fclose(in);
    if (st != MIRD_OK) {
        mird_hdf5_free_strings(*videos, *count);
        *videos = NULL;
        *count = 0;
        return st;
    }
    if (*count > 1) /* an empty list has no array to sort (qsort wants one) */
        qsort(*videos, (size_t)*count, sizeof **videos, compare_strings);
    return MIRD_OK;
}

/* ---- One computational sequence ------------------------------------------ */

typedef struct csd_file {
    const char *path;
    hid_t file;
    char data[MIRD_HDF5_PATH_MAX]; /* "/<sequence>/data" */
    char **videos;                 /* sorted */
    int64_t video_count;
} csd_file;

static void csd_close(csd_file *f)
{
    mird_hdf5_free_strings(f->videos, f->video_count);
    f->videos = NULL;
    f->video_count = 0;
    mird_hdf5_close(f->file);
    f->file = H5I_INVALID_HID;
}

static mird_status csd_open(const char *path, csd_file *f, mird_error *err)
{
    MIRD_TRY(mird_hdf5_open(path, &f->file, err));
    char **roots;
    int64_t count;
    MIRD_TRY(mird_hdf5_list(f->file, path, ".", MIRD_HDF5_GROUPS, &roots, &count, err));
    int fits = count == 1 && snprintf(f->data, sizeof f->data, "/%s/data", roots[0])
                                 < (int)sizeof f->data;
    mird_hdf5_free_strings(roots, count);
    if (count != 1)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s holds %lld top-level groups, expected the "
                         "one group of a computational sequence", path, (long long)count);
    if (!fits)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: the sequence's name is too long", path);
    return mird_hdf5_list(f->file, path, f->data, MIRD_HDF5_GROUPS, &f->videos, &f->video_count,
                          err);
}

static mird_status open_video_array(const csd_file *f, const char *video, const char *name,
                                    mird_hdf5_array *array, mird_error *err)
{
    char path[MIRD_HDF5_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s/%s", f->data, video, name) >= (int)sizeof path)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: the name of video %.60s is too long",
                         f->path, video);
    return mird_hdf5_array_open(f->file, f->path, path, 2, array, err);
}

static mird_status check_video(const csd_file *f, const mird_hdf5_array *intervals,
                               const mird_hdf5_array *features, mird_error *err)
{
    if (intervals->dims[1] != 2)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has %lld columns, expected 2 (start, "
                         "end)", f->path, intervals->path, (long long)intervals->dims[1]);
    if (features->dims[0] != intervals->dims[0])
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has %lld rows, %s has %lld", f->path,
                         features->path, (long long)features->dims[0], intervals->path,
                         (long long)intervals->dims[0]);
    if (features->dims[1] < 1)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has no columns", f->path, features->path);
    return MIRD_OK;
}

/* Checks a video's intervals [rows, 2] and features [rows, columns] and
 * reads those asked for (intervals, features: may be NULL; mird_free them). */
static mird_status read_video(const csd_file *f, const char *video, double **intervals,
                              float **features, int64_t *rows, int64_t *columns, mird_error *err)
{
    mird_hdf5_array iv, ft;
    MIRD_TRY(open_video_array(f, video, "intervals", &iv, err));
    mird_status st = open_video_array(f, video, "features", &ft, err);
    if (st != MIRD_OK) {
        mird_hdf5_array_close(&iv);
        return st;
    }
    st = check_video(f, &iv, &ft, err);
    *rows = iv.dims[0];
    *columns = ft.dims[1];
    double *times = NULL;
    float *values = NULL;
    if (st == MIRD_OK && intervals && !(times = alloc_array(2 * *rows, sizeof *times)))
        st = mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot allocate %s", f->path, iv.path);
    if (st == MIRD_OK && features
        && !(values = alloc_array(mird_hdf5_array_count(&ft), sizeof *values)))
        st = mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot allocate %s", f->path, ft.path);
    if (st == MIRD_OK && times)
        st = mird_hdf5_array_read_double(&iv, times, err);
    if (st == MIRD_OK && values)
        st = mird_hdf5_array_read_float(&ft, values, err);
    mird_hdf5_array_close(&iv);
    mird_hdf5_array_close(&ft);
    if (st != MIRD_OK) {
        mird_free(times);
        mird_free(values);
        return st;
    }
    if (intervals)
        *intervals = times;
    if (features)
        *features = values;
    return MIRD_OK;
}

/* ---- Segments from the label sequence ------------------------------------ */

typedef struct csd_segment {
    int64_t video;    /* index into the label file's videos */
    int64_t position; /* from 1, in the order the file stores the video's segments */
    double start, end;
    float label;
} csd_segment;

typedef struct csd_read {
    csd_options options;
    const char *paths[MODALITY_COUNT]; /* NULL: the modality is missing */
    csd_file labels, features[MODALITY_COUNT];
    char **kept_videos; /* from folds, sorted */
    int64_t kept_count;
    csd_segment *segments;
    int64_t segment_count;
    int32_t *frame_counts[MODALITY_COUNT]; /* [segment_count] */
    int64_t widths[MODALITY_COUNT];
} csd_read;

static int video_is_kept(const csd_read *r, const char *video)
{
    return !r->options.folds[0] || contains(r->kept_videos, r->kept_count, video);
}

static mird_status read_segments(csd_read *r, mird_error *err)
{
    const csd_file *f = &r->labels;
    int64_t total = 0, rows, columns;
    for (int64_t v = 0; v < f->video_count; v++)
        if (video_is_kept(r, f->videos[v])) {
            MIRD_TRY(read_video(f, f->videos[v], NULL, NULL, &rows, &columns, err));
            total += rows;
        }
    if (total == 0) {
        if (r->options.folds[0])
            return mird_fail(err, MIRD_ERR_FORMAT, "%s: no segment of a video that %s assigns "
                             "to %s", f->path, r->options.folds, mird_split_text(r->options.split));
        return mird_fail(err, MIRD_ERR_FORMAT, "%s holds no segment", f->path);
    }
    r->segments = alloc_array(total, sizeof *r->segments);
    if (!r->segments)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot allocate %lld segments",
                         f->path, (long long)total);
    for (int64_t v = 0; v < f->video_count; v++) {
        if (!video_is_kept(r, f->videos[v]))
            continue;
        double *times;
        float *labels;
        MIRD_TRY(read_video(f, f->videos[v], &times, &labels, &rows, &columns, err));
        for (int64_t k = 0; k < rows && r->segment_count < total; k++)
            r->segments[r->segment_count++] = (csd_segment){
                v, k + 1, times[2 * k], times[2 * k + 1], labels[k * columns]};
        mird_free(times);
        mird_free(labels);
    }
    return MIRD_OK;
}

/* ---- Frames from the feature sequences ----------------------------------- */

static int lies_inside(const double *frame, const csd_segment *segment)
{
    return frame[0] >= segment->start - INSIDE_TOLERANCE
           && frame[1] <= segment->end + INSIDE_TOLERANCE;
}

/* The segments [first, *end) share a video. */
static int64_t video_run_end(const csd_read *r, int64_t first)
{
    int64_t end = first;
    while (end < r->segment_count && r->segments[end].video == r->segments[first].video)
        end++;
    return end;
}

/* Checks that the feature file has the video of segment `first`. */
static mird_status find_video(const csd_read *r, int m, int64_t first, const char **video,
                              mird_error *err)
{
    const csd_segment *s = &r->segments[first];
    *video = r->labels.videos[s->video];
    if (contains(r->features[m].videos, r->features[m].video_count, *video))
        return MIRD_OK;
    return mird_fail(err, MIRD_ERR_FORMAT, "%s has no video %s, which segment %s_%lld of %s "
                     "needs", r->paths[m], *video, *video, (long long)s->position,
                     r->labels.path);
}

static mird_status count_frames(csd_read *r, int m, mird_error *err)
{
    for (int64_t first = 0, end; first < r->segment_count; first = end) {
        end = video_run_end(r, first);
        const char *video;
        MIRD_TRY(find_video(r, m, first, &video, err));
        double *times;
        int64_t rows, columns;
        MIRD_TRY(read_video(&r->features[m], video, &times, NULL, &rows, &columns, err));
        if (r->widths[m] && columns != r->widths[m]) {
            mird_free(times);
            return mird_fail(err, MIRD_ERR_FORMAT, "%s: video %s has %lld feature columns, the "
                             "videos before it %lld", r->paths[m], video, (long long)columns,
                             (long long)r->widths[m]);
        }
        r->widths[m] = columns;
        for (int64_t s = first; s < end; s++) {
            int32_t count = 0;
            for (int64_t k = 0; k < rows; k++)
                count += lies_inside(times + 2 * k, &r->segments[s]) && count < INT32_MAX;
            r->frame_counts[m][s] = count;
        }
        mird_free(times);
    }
    return MIRD_OK;
}

typedef struct frame_order {
    double start;
    int64_t row;
} frame_order;

static int compare_frames(const void *a, const void *b)
{
    const frame_order *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

/* Copies each segment's first `steps` frames, in time order. */
static void copy_frames(const csd_read *r, int m, int64_t first, int64_t end, const double *times,
                        const float *values, const frame_order *order, int64_t rows,
                        int64_t steps, float *out, int32_t *lengths)
{
    int64_t width = r->widths[m];
    for (int64_t s = first; s < end; s++) {
        int64_t t = 0;
        for (int64_t k = 0; k < rows && t < steps; k++) {
            int64_t row = order[k].row;
            if (!lies_inside(times + 2 * row, &r->segments[s]))
                continue;
            memcpy(out + (s * steps + t) * width, values + row * width,
                   (size_t)width * sizeof(float));
            t++;
        }
        lengths[s] = (int32_t)t;
    }
}

static mird_status fill_frames(const csd_read *r, int m, int64_t steps, float *out,
                               int32_t *lengths, mird_error *err)
{
    for (int64_t first = 0, end; first < r->segment_count; first = end) {
        end = video_run_end(r, first);
        const char *video = r->labels.videos[r->segments[first].video];
        double *times;
        float *values;
        int64_t rows, columns;
        MIRD_TRY(read_video(&r->features[m], video, &times, &values, &rows, &columns, err));
        frame_order *order = alloc_array(rows, sizeof *order);
        if (!order) {
            mird_free(times);
            mird_free(values);
            return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot sort the frames of %s",
                             r->paths[m], video);
        }
        for (int64_t k = 0; k < rows; k++)
            order[k] = (frame_order){times[2 * k], k};
        qsort(order, (size_t)rows, sizeof *order, compare_frames);
        copy_frames(r, m, first, end, times, values, order, rows, steps, out, lengths);
        mird_free(order);
        mird_free(times);
        mird_free(values);
    }
    return MIRD_OK;
}

/* ---- The dataset ----------------------------------------------------------- */

static mird_status prepare_modality(csd_read *r, int m, int64_t *steps, mird_error *err)
{
    *steps = 1;
    r->widths[m] = 0;
    if (!r->paths[m]) {
        r->widths[m] = 1;
        return MIRD_OK;
    }
    MIRD_TRY(csd_open(r->paths[m], &r->features[m], err));
    r->frame_counts[m] = alloc_array(r->segment_count, sizeof(int32_t));
    if (!r->frame_counts[m])
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot allocate frame counts",
                         r->paths[m]);
    MIRD_TRY(count_frames(r, m, err));
    if (r->options.lengths[m]) {
        *steps = r->options.lengths[m];
        return MIRD_OK;
    }
    for (int64_t s = 0; s < r->segment_count; s++)
        if (r->frame_counts[m][s] > *steps)
            *steps = r->frame_counts[m][s];
    return MIRD_OK;
}

static mird_status fill_dataset(const csd_read *r, mird_dataset *ds, const mird_dataset_arrays *a,
                                mird_error *err)
{
    const mird_batch_shape *shape = &ds->samples.shape;
    float *values[MODALITY_COUNT] = {a->text_features, a->audio, a->vision};
    int32_t *lengths[MODALITY_COUNT] = {a->text_lengths, a->audio_lengths, a->vision_lengths};
    int64_t steps[MODALITY_COUNT] = {shape->text_length, shape->audio_length,
                                     shape->vision_length};
    for (int m = 0; m < MODALITY_COUNT; m++)
        if (r->paths[m])
            MIRD_TRY(fill_frames(r, m, steps[m], values[m], lengths[m], err));
    MIRD_TRY(mird_dataset_alloc_ids(ds, err));
    for (int64_t s = 0; s < r->segment_count; s++) {
        const csd_segment *segment = &r->segments[s];
        a->labels[s] = segment->label;
        a->labeled[s] = 1;
        char id[MIRD_HDF5_PATH_MAX + 24];
        snprintf(id, sizeof id, "%s_%lld", r->labels.videos[segment->video],
                 (long long)segment->position);
        MIRD_TRY(mird_dataset_set_id(ds, s, id, err));
    }
    return MIRD_OK;
}

static mird_status read_sequences(csd_read *r, mird_dataset **out, mird_error *err)
{
    if (r->options.folds[0] != '\0' && !r->options.has_split)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "option folds=%s needs split=train, "
                         "valid or test", r->options.folds);
    if (r->options.has_split && !r->options.folds[0])
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "option split=%s needs folds=<path>",
                         mird_split_text(r->options.split));
    if (r->options.folds[0])
        MIRD_TRY(read_folds(r->options.folds, mird_split_text(r->options.split), &r->kept_videos,
                            &r->kept_count, err));
    MIRD_TRY(csd_open(r->labels.path, &r->labels, err));
    MIRD_TRY(read_segments(r, err));
    int64_t steps[MODALITY_COUNT];
    for (int m = 0; m < MODALITY_COUNT; m++)
        MIRD_TRY(prepare_modality(r, m, &steps[m], err));
    mird_batch_shape shape = {
        .text_mode = MIRD_TEXT_FEATURES,
        .text_length = steps[TEXT], .text_dim = r->widths[TEXT],
        .audio_length = steps[AUDIO], .audio_dim = r->widths[AUDIO],
        .vision_length = steps[VISION], .vision_dim = r->widths[VISION],
    };
    mird_dataset *ds;
    mird_dataset_arrays arrays;
    MIRD_TRY(mird_dataset_new(&shape, r->segment_count, &r->options.common, &ds, &arrays, err));
    mird_status st = fill_dataset(r, ds, &arrays, err);
    if (st == MIRD_OK)
        st = mird_dataset_finish(ds, r->labels.path, err);
    if (st != MIRD_OK) {
        mird_dataset_free(ds);
        return st;
    }
    *out = ds;
    return MIRD_OK;
}

mird_status mird_read_csd(const char *labels_path, const char *text_path, const char *audio_path,
                          const char *vision_path, const char *options, mird_dataset **out,
                          mird_error *err)
{
    *out = NULL;
    csd_read *r = mird_alloc_zeroed(sizeof *r);
    if (!r)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot allocate a .csd reader");
    mird_status st = mird_options_parse(options, csd_option, &r->options, err);
    r->labels = (csd_file){.path = labels_path, .file = H5I_INVALID_HID};
    const char *paths[MODALITY_COUNT] = {text_path, audio_path, vision_path};
    for (int m = 0; m < MODALITY_COUNT; m++) {
        r->paths[m] = paths[m];
        r->features[m] = (csd_file){.path = paths[m], .file = H5I_INVALID_HID};
    }
    mird_hdf5_quiet quiet;
    mird_hdf5_quiet_begin(&quiet);
    if (st == MIRD_OK)
        st = read_sequences(r, out, err);
    csd_close(&r->labels);
    for (int m = 0; m < MODALITY_COUNT; m++) {
        csd_close(&r->features[m]);
        mird_free(r->frame_counts[m]);
    }
    mird_hdf5_quiet_end(&quiet);
    mird_hdf5_free_strings(r->kept_videos, r->kept_count);
    mird_free(r->segments);
    mird_free(r);
    return st;
}
