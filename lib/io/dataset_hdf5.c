/* HDF5 datasets in the MMSA layout: /<split>/{text | text_bert, audio,
 * vision, audio_lengths, vision_lengths, regression_labels, id}, one split
 * per call.
 *
 * Text lengths.  MMSA stores no text length: its text features are BERT's
 * last hidden states at every one of the T_l positions, padding included, so
 * padded rows are not zero.  The attention mask row of text_bert says which
 * positions hold tokens, and its sum is the length whenever text_bert is in
 * the file.  A file with text features alone (written by other tools) gets
 * the count of its leading rows that are not all zero. */
#include <string.h>

#include "core/alloc.h"
#include "io/dataset.h"
#include "io/dataset_readers.h"
#include "io/hdf5_util.h"
#include "io/options.h"

enum { TEXT_BY_FILE = -1 };

typedef struct mmsa_options {
    mird_dataset_options common;
    int text_mode; /* MIRD_TEXT_FEATURES, MIRD_TEXT_TOKENS or TEXT_BY_FILE */
} mmsa_options;

static mird_status mmsa_option(const char *key, const char *value, void *context,
                               mird_error *err)
{
    mmsa_options *options = context;
    int handled;
    MIRD_TRY(mird_dataset_common_option(key, value, &options->common, &handled, err));
    if (handled)
        return MIRD_OK;
    if (strcmp(key, "text") != 0)
        return mird_option_unknown(key, err);
    if (strcmp(value, "features") == 0)
        options->text_mode = MIRD_TEXT_FEATURES;
    else if (strcmp(value, "tokens") == 0)
        options->text_mode = MIRD_TEXT_TOKENS;
    else
        return mird_option_bad_value(key, value, "features or tokens", err);
    return MIRD_OK;
}

/* The datasets of one split, open. */
enum { TEXT, TEXT_BERT, AUDIO, VISION, AUDIO_LENGTHS, VISION_LENGTHS, LABELS, FIELD_COUNT };

static const struct {
    const char *name;
    int rank;
} fields[FIELD_COUNT] = {
    [TEXT] = {"text", 3},
    [TEXT_BERT] = {"text_bert", 3},
    [AUDIO] = {"audio", 3},
    [VISION] = {"vision", 3},
    [AUDIO_LENGTHS] = {"audio_lengths", 1},
    [VISION_LENGTHS] = {"vision_lengths", 1},
    [LABELS] = {"regression_labels", 1},
};

typedef struct mmsa_split {
    const char *path;
    char group[16];
    mird_hdf5_array arrays[FIELD_COUNT];
    int open[FIELD_COUNT];
} mmsa_split;

static void close_split(mmsa_split *s)
{
    for (int f = 0; f < FIELD_COUNT; f++)
        if (s->open[f])
            mird_hdf5_array_close(&s->arrays[f]);
}

static mird_status open_field(hid_t file, mmsa_split *s, int field, mird_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "%s/%s", s->group, fields[field].name);
    MIRD_TRY(mird_hdf5_array_open(file, s->path, path, fields[field].rank, &s->arrays[field],
                                  err));
    s->open[field] = 1;
    return MIRD_OK;
}

/* Every open field has N >= 1 samples, and no empty dimension. */
static mird_status check_sizes(const mmsa_split *s, mird_error *err)
{
    const mird_hdf5_array *first = &s->arrays[AUDIO];
    for (int f = 0; f < FIELD_COUNT; f++) {
        if (!s->open[f])
            continue;
        const mird_hdf5_array *a = &s->arrays[f];
        for (int d = 0; d < a->rank; d++)
            if (a->dims[d] < 1)
                return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s is empty (dimension %d is 0)",
                                 s->path, a->path, d);
        if (a->dims[0] != first->dims[0])
            return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has %lld samples, %s has %lld",
                             s->path, a->path, (long long)a->dims[0], first->path,
                             (long long)first->dims[0]);
    }
    if (s->open[TEXT_BERT] && s->arrays[TEXT_BERT].dims[1] != 3)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has %lld rows per sample, expected 3 "
                         "(token ids, attention mask, segment ids)", s->path,
                         s->arrays[TEXT_BERT].path, (long long)s->arrays[TEXT_BERT].dims[1]);
    if (s->open[TEXT] && s->open[TEXT_BERT]
        && s->arrays[TEXT].dims[1] != s->arrays[TEXT_BERT].dims[2])
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has %lld positions, %s has %lld",
                         s->path, s->arrays[TEXT].path, (long long)s->arrays[TEXT].dims[1],
                         s->arrays[TEXT_BERT].path, (long long)s->arrays[TEXT_BERT].dims[2]);
    return MIRD_OK;
}

/* Token ids and text lengths from text_bert [N, 3, T]; ids may be NULL. */
static mird_status read_bert(const mmsa_split *s, int64_t n, int64_t steps, int32_t *ids,
                             int32_t *lengths, mird_error *err)
{
    const mird_hdf5_array *bert = &s->arrays[TEXT_BERT];
    size_t bytes;
    if (!mird_size_mul((size_t)mird_hdf5_array_count(bert), sizeof(int32_t), &bytes))
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: %s is too large", s->path, bert->path);
    int32_t *values = mird_alloc(bytes);
    if (!values)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot allocate %s", s->path,
                         bert->path);
    mird_status st = mird_hdf5_array_read_int32(bert, values, err);
    for (int64_t i = 0; st == MIRD_OK && i < n; i++) {
        const int32_t *row = values + i * 3 * steps, *mask = row + steps;
        if (ids)
            memcpy(ids + i * steps, row, (size_t)steps * sizeof(int32_t));
        /* The length counts the mask's leading 1s; a mask of another form
         * would make it wrong. */
        int64_t length = 0;
        while (length < steps && mask[length] == 1)
            length++;
        for (int64_t t = length; t < steps && st == MIRD_OK; t++)
            if (mask[t] != 0)
                st = mird_fail(err, MIRD_ERR_FORMAT, "%s: %s[%lld][1] (the attention mask) "
                               "is not 1s followed by 0s: [%lld] = %d", s->path, bert->path,
                               (long long)i, (long long)t, mask[t]);
        lengths[i] = (int32_t)length;
    }
    mird_free(values);
    return st;
}

/* For text features without a mask: the rows before the first all-zero one. */
static void leading_nonzero_rows(const float *text, int64_t n, int64_t steps, int64_t width,
                                 int32_t *lengths)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t t = 0;
        for (; t < steps; t++) {
            const float *row = text + (i * steps + t) * width;
            int64_t d = 0;
            while (d < width && row[d] == 0.0f)
                d++;
            if (d == width)
                break;
        }
        lengths[i] = (int32_t)t;
    }
}

static mird_status read_ids(hid_t file, const mmsa_split *s, mird_dataset *ds, mird_error *err)
{
    char path[32];
    snprintf(path, sizeof path, "%s/id", s->group);
    char **ids;
    MIRD_TRY(mird_hdf5_read_strings(file, s->path, path, ds->samples.size, &ids, err));
    mird_status st = mird_dataset_alloc_ids(ds, err);
    for (int64_t i = 0; st == MIRD_OK && i < ds->samples.size; i++) {
        ds->ids[i] = ids[i];
        ids[i] = NULL;
    }
    mird_hdf5_free_strings(ids, ds->samples.size);
    return st;
}

/* Fills a dataset shaped after the open fields. */
static mird_status fill(hid_t file, const mmsa_split *s, int text_mode, mird_dataset *ds,
                        const mird_dataset_arrays *a, mird_error *err)
{
    const mird_batch_shape *shape = &ds->samples.shape;
    int64_t n = ds->samples.size;
    if (text_mode == MIRD_TEXT_TOKENS) {
        MIRD_TRY(read_bert(s, n, shape->text_length, a->text_ids, a->text_lengths, err));
    } else {
        MIRD_TRY(mird_hdf5_array_read_float(&s->arrays[TEXT], a->text_features, err));
        if (s->open[TEXT_BERT])
            MIRD_TRY(read_bert(s, n, shape->text_length, NULL, a->text_lengths, err));
        else
            leading_nonzero_rows(a->text_features, n, shape->text_length, shape->text_dim,
                                 a->text_lengths);
    }
    MIRD_TRY(mird_hdf5_array_read_float(&s->arrays[AUDIO], a->audio, err));
    MIRD_TRY(mird_hdf5_array_read_float(&s->arrays[VISION], a->vision, err));
    MIRD_TRY(mird_hdf5_array_read_int32(&s->arrays[AUDIO_LENGTHS], a->audio_lengths, err));
    MIRD_TRY(mird_hdf5_array_read_int32(&s->arrays[VISION_LENGTHS], a->vision_lengths, err));
    MIRD_TRY(mird_hdf5_array_read_float(&s->arrays[LABELS], a->labels, err));
    memset(a->labeled, 1, (size_t)n);
    return read_ids(file, s, ds, err);
}

static mird_status read_split(hid_t file, mmsa_split *s, const mmsa_options *options,
                              mird_dataset **out, mird_error *err)
{
    if (!mird_hdf5_exists(file, s->group))
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: no group %s", s->path, s->group);
    int text_mode = options->text_mode;
    if (text_mode == TEXT_BY_FILE) {
        char text_path[32];
        snprintf(text_path, sizeof text_path, "%s/text", s->group);
        text_mode = mird_hdf5_exists(file, text_path) ? MIRD_TEXT_FEATURES : MIRD_TEXT_TOKENS;
    }
    char bert_path[32];
    snprintf(bert_path, sizeof bert_path, "%s/text_bert", s->group);
    if (text_mode == MIRD_TEXT_FEATURES)
        MIRD_TRY(open_field(file, s, TEXT, err));
    if (text_mode == MIRD_TEXT_TOKENS || mird_hdf5_exists(file, bert_path))
        MIRD_TRY(open_field(file, s, TEXT_BERT, err));
    for (int f = AUDIO; f < FIELD_COUNT; f++)
        MIRD_TRY(open_field(file, s, f, err));
    MIRD_TRY(check_sizes(s, err));

    const mird_hdf5_array *text = &s->arrays[text_mode == MIRD_TEXT_FEATURES ? TEXT : TEXT_BERT];
    mird_batch_shape shape = {
        .text_mode = text_mode,
        .text_length = text_mode == MIRD_TEXT_FEATURES ? text->dims[1] : text->dims[2],
        .text_dim = text_mode == MIRD_TEXT_FEATURES ? text->dims[2] : 0,
        .vocab_size = 0,
        .audio_length = s->arrays[AUDIO].dims[1],
        .audio_dim = s->arrays[AUDIO].dims[2],
        .vision_length = s->arrays[VISION].dims[1],
        .vision_dim = s->arrays[VISION].dims[2],
    };
    mird_dataset *ds;
    mird_dataset_arrays arrays;
    MIRD_TRY(mird_dataset_new(&shape, s->arrays[AUDIO].dims[0], &options->common, &ds, &arrays,
                              err));
    mird_status st = fill(file, s, text_mode, ds, &arrays, err);
    if (st == MIRD_OK)
        st = mird_dataset_finish(ds, s->path, err);
    if (st != MIRD_OK) {
        mird_dataset_free(ds);
        return st;
    }
    *out = ds;
    return MIRD_OK;
}

mird_status mird_read_mmsa(const char *path, mird_split split, const char *options,
                           mird_dataset **out, mird_error *err)
{
    *out = NULL;
    if (!mird_split_text(split))
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "split = %d is not train (0), valid "
                         "(1) or test (2)", (int)split);
    mmsa_options parsed = {.text_mode = TEXT_BY_FILE};
    MIRD_TRY(mird_options_parse(options, mmsa_option, &parsed, err));
    mird_hdf5_quiet quiet;
    mird_hdf5_quiet_begin(&quiet);
    hid_t file;
    mird_status st = mird_hdf5_open(path, &file, err);
    if (st == MIRD_OK) {
        mmsa_split s = {.path = path};
        snprintf(s.group, sizeof s.group, "/%s", mird_split_text(split));
        st = read_split(file, &s, &parsed, out, err);
        close_split(&s);
        mird_hdf5_close(file);
    }
    mird_hdf5_quiet_end(&quiet);
    return st;
}
