/* Dataset storage, the common options, validation and row gathering. */
#define _DEFAULT_SOURCE /* madvise */
#include "io/dataset.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "core/alloc.h"
#include "io/options.h"
#include "model/config.h"

mird_status mird_dataset_common_option(const char *key, const char *value,
                                       mird_dataset_options *options, int *handled,
                                       mird_error *err)
{
    *handled = 1;
    if (strcmp(key, "nonfinite") == 0) {
        if (strcmp(value, "error") == 0)
            options->nonfinite_zero = 0;
        else if (strcmp(value, "zero") == 0)
            options->nonfinite_zero = 1;
        else
            return mird_option_bad_value(key, value, "error or zero", err);
        return MIRD_OK;
    }
    if (strcmp(key, "labels") == 0) {
        if (strcmp(value, "yes") == 0)
            options->labels_none = 0;
        else if (strcmp(value, "none") == 0)
            options->labels_none = 1;
        else
            return mird_option_bad_value(key, value, "yes or none", err);
        return MIRD_OK;
    }
    if (strcmp(key, "standardize") == 0) {
        if (strcmp(value, "none") == 0)
            options->standardize_train = 0;
        else if (strcmp(value, "train") == 0)
            options->standardize_train = 1;
        else
            return mird_option_bad_value(key, value, "none or train", err);
        return MIRD_OK;
    }
    *handled = 0;
    return MIRD_OK;
}

static mird_status common_only(const char *key, const char *value, void *context,
                               mird_error *err)
{
    int handled;
    MIRD_TRY(mird_dataset_common_option(key, value, context, &handled, err));
    return handled ? MIRD_OK : mird_option_unknown(key, err);
}

mird_status mird_dataset_parse_options(const char *text, mird_dataset_options *options,
                                       mird_error *err)
{
    mird_dataset_options parsed = {0};
    MIRD_TRY(mird_options_parse(text, common_only, &parsed, err));
    if (parsed.standardize_train)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                         "standardize=train needs a source with a training split "
                         "(mird_dataset_read_hdf5 or mird_dataset_read_mfn)");
    *options = parsed;
    return MIRD_OK;
}

/* Bytes of one sample's text, audio and vision arrays. */
static size_t text_bytes(const mird_batch_shape *s)
{
    return s->text_mode == MIRD_TEXT_FEATURES
               ? (size_t)(s->text_length * s->text_dim) * sizeof(float)
               : (size_t)s->text_length * sizeof(int32_t);
}
static size_t audio_bytes(const mird_batch_shape *s)
{
    return (size_t)(s->audio_length * s->audio_dim) * sizeof(float);
}
static size_t vision_bytes(const mird_batch_shape *s)
{
    return (size_t)(s->vision_length * s->vision_dim) * sizeof(float);
}

/* Asks for transparent huge pages over a large array before it is first
 * touched.  Faulting fresh memory in 4 KiB pages is what making a big
 * dataset costs on a virtual machine: 400 MB (2000 MOSI-shaped samples)
 * took 2.7 s of page faults and 0.06 s of writing.  Only a hint: where the
 * kernel declines, nothing changes. */
static void advise_huge_pages(void *ptr, size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t huge_page = (size_t)2 << 20;
    long page = sysconf(_SC_PAGESIZE);
    if (bytes < 2 * huge_page || page <= 0)
        return;
    uintptr_t mask = (uintptr_t)page - 1;
    uintptr_t start = ((uintptr_t)ptr + mask) & ~mask, end = ((uintptr_t)ptr + bytes) & ~mask;
    (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
    (void)ptr, (void)bytes;
#endif
}

static void *alloc_rows(size_t row_bytes, int64_t rows)
{
    size_t bytes;
    if (!mird_size_mul(row_bytes, (size_t)rows, &bytes))
        return NULL;
    void *ptr = mird_alloc(bytes ? bytes : 1);
    if (ptr) {
        advise_huge_pages(ptr, bytes);
        memset(ptr, 0, bytes);
    }
    return ptr;
}

void mird_dataset_free(mird_dataset *ds)
{
    if (!ds)
        return;
    for (int f = 0; f < MIRD_FIELD_COUNT_; f++) {
        mird_free(ds->samples.owned[f][0]);
        mird_free(ds->samples.owned[f][1]);
    }
    if (ds->ids)
        for (int64_t i = 0; i < ds->samples.size; i++)
            mird_free(ds->ids[i]);
    mird_free(ds->ids);
    mird_free(ds->factors);
    mird_free(ds);
}

mird_status mird_dataset_new(const mird_batch_shape *shape, int64_t size,
                             const mird_dataset_options *options, mird_dataset **out,
                             mird_dataset_arrays *arrays, mird_error *err)
{
    *out = NULL;
    if (size < 1 || size > 1000000)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "a dataset of %lld samples is outside "
                         "1..1000000", (long long)size);
    mird_dataset *ds = mird_alloc_zeroed(sizeof *ds);
    if (!ds)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot allocate a dataset");
    mird_batch *b = &ds->samples;
    b->size = size;
    b->shape = *shape;
    if (options)
        ds->options = *options;
    size_t lengths_row = sizeof(int32_t);
    void *text = alloc_rows(text_bytes(shape), size), *text_len = alloc_rows(lengths_row, size);
    void *audio = alloc_rows(audio_bytes(shape), size), *audio_len = alloc_rows(lengths_row, size);
    void *vision = alloc_rows(vision_bytes(shape), size);
    void *vision_len = alloc_rows(lengths_row, size);
    void *labels = alloc_rows(sizeof(float), size), *labeled = alloc_rows(1, size);
    b->owned[MIRD_FIELD_TEXT][0] = text, b->owned[MIRD_FIELD_TEXT][1] = text_len;
    b->owned[MIRD_FIELD_AUDIO][0] = audio, b->owned[MIRD_FIELD_AUDIO][1] = audio_len;
    b->owned[MIRD_FIELD_VISION][0] = vision, b->owned[MIRD_FIELD_VISION][1] = vision_len;
    b->owned[MIRD_FIELD_LABELS][0] = labels, b->owned[MIRD_FIELD_LABELS][1] = labeled;
    for (int f = 0; f < MIRD_FIELD_COUNT_; f++)
        if (!b->owned[f][0] || !b->owned[f][1]) {
            mird_dataset_free(ds);
            return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY,
                             "cannot allocate a dataset of %lld samples", (long long)size);
        }
    if (shape->text_mode == MIRD_TEXT_FEATURES)
        b->text_features = text;
    else
        b->text_ids = text;
    b->text_lengths = text_len;
    b->audio = audio, b->audio_lengths = audio_len;
    b->vision = vision, b->vision_lengths = vision_len;
    b->labels = labels, b->labeled = labeled;
    for (int f = 0; f < MIRD_FIELD_COUNT_; f++)
        b->is_set[f] = 1;
    if (arrays) {
        *arrays = (mird_dataset_arrays){
            shape->text_mode == MIRD_TEXT_FEATURES ? text : NULL,
            shape->text_mode == MIRD_TEXT_FEATURES ? NULL : text,
            text_len, audio, audio_len, vision, vision_len, labels, labeled};
    }
    *out = ds;
    return MIRD_OK;
}

mird_status mird_dataset_alloc_ids(mird_dataset *ds, mird_error *err)
{
    if (ds->ids)
        return MIRD_OK;
    ds->ids = alloc_rows(sizeof(char *), ds->samples.size);
    if (!ds->ids)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot allocate sample ids");
    return MIRD_OK;
}

mird_status mird_dataset_set_id(mird_dataset *ds, int64_t index, const char *id, mird_error *err)
{
    size_t n = strlen(id) + 1;
    char *copy = mird_alloc(n);
    if (!copy)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot copy a sample id");
    memcpy(copy, id, n);
    mird_free(ds->ids[index]);
    ds->ids[index] = copy;
    return MIRD_OK;
}

/* Non-finite values become 0 (nonfinite=zero) or fail, naming the place. */
static mird_status settle_nonfinite(const char *source, const char *what, float *x, int64_t batch,
                                    int64_t steps, int64_t width, int zero, mird_error *err)
{
    int64_t n = batch * steps * width;
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(x[i]))
            continue;
        if (zero) {
            x[i] = 0.0f;
            continue;
        }
        int64_t s = i / (steps * width), t = i / width % steps, d = i % width;
        return mird_fail(err, MIRD_ERR_NONFINITE,
                         "%s: %s[%lld][%lld][%lld] = %g is not finite (the option "
                         "nonfinite=zero reads such values as 0)",
                         source, what, (long long)s, (long long)t, (long long)d, (double)x[i]);
    }
    return MIRD_OK;
}

static mird_status check_lengths(const char *source, const char *what, const int32_t *lengths,
                                 int64_t count, int64_t padded, mird_error *err)
{
    for (int64_t i = 0; i < count; i++)
        if (lengths[i] < 0 || lengths[i] > padded)
            return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s lengths[%lld] = %d is outside 0..%lld",
                             source, what, (long long)i, lengths[i], (long long)padded);
    return MIRD_OK;
}

mird_status mird_dataset_finish(mird_dataset *ds, const char *source, mird_error *err)
{
    mird_batch *b = &ds->samples;
    const mird_batch_shape *s = &b->shape;
    int zero = ds->options.nonfinite_zero;
    MIRD_TRY(check_lengths(source, "text", b->text_lengths, b->size, s->text_length, err));
    MIRD_TRY(check_lengths(source, "audio", b->audio_lengths, b->size, s->audio_length, err));
    MIRD_TRY(check_lengths(source, "vision", b->vision_lengths, b->size, s->vision_length, err));
    if (s->text_mode == MIRD_TEXT_FEATURES) {
        MIRD_TRY(settle_nonfinite(source, "text", b->owned[MIRD_FIELD_TEXT][0], b->size,
                                  s->text_length, s->text_dim, zero, err));
    } else {
        int64_t n = b->size * s->text_length, max_id = -1;
        for (int64_t i = 0; i < n; i++) {
            int32_t id = b->text_ids[i];
            if (id < 0 || (s->vocab_size > 0 && id >= s->vocab_size))
                return mird_fail(err, MIRD_ERR_FORMAT, "%s: token ids[%lld][%lld] = %d is outside "
                                 "0..%lld", source, (long long)(i / s->text_length),
                                 (long long)(i % s->text_length), id,
                                 (long long)(s->vocab_size > 0 ? s->vocab_size - 1 : INT32_MAX));
            if (id > max_id)
                max_id = id;
        }
        if (s->vocab_size <= 0)
            b->shape.vocab_size = max_id + 1 > 0 ? max_id + 1 : 1;
    }
    MIRD_TRY(settle_nonfinite(source, "audio", b->owned[MIRD_FIELD_AUDIO][0], b->size,
                              s->audio_length, s->audio_dim, zero, err));
    MIRD_TRY(settle_nonfinite(source, "vision", b->owned[MIRD_FIELD_VISION][0], b->size,
                              s->vision_length, s->vision_dim, zero, err));
    float *labels = b->owned[MIRD_FIELD_LABELS][0];
    uint8_t *labeled = b->owned[MIRD_FIELD_LABELS][1];
    for (int64_t i = 0; i < b->size; i++) {
        if (ds->options.labels_none)
            labeled[i] = 0;
        if (!labeled[i]) {
            labels[i] = NAN;
            continue;
        }
        if (!isfinite(labels[i]))
            return mird_fail(err, MIRD_ERR_NONFINITE, "%s: label[%lld] = %g is not finite",
                             source, (long long)i, (double)labels[i]);
    }
    return MIRD_OK;
}

static void copy_row(void *dst, const void *src, size_t row_bytes, int64_t to, int64_t from)
{
    memcpy((char *)dst + (size_t)to * row_bytes, (const char *)src + (size_t)from * row_bytes,
           row_bytes);
}

mird_status mird_dataset_gather(const mird_dataset *src, const int64_t *indices, int64_t count,
                                mird_dataset *dst, int64_t dst_offset, int as_unlabeled,
                                mird_error *err)
{
    const mird_batch *s = &src->samples;
    mird_batch *d = &dst->samples;
    if (dst_offset < 0 || count < 0 || dst_offset + count > d->size)
        return mird_fail(err, MIRD_ERR_INTERNAL, "gather of %lld rows at %lld into %lld",
                         (long long)count, (long long)dst_offset, (long long)d->size);
    MIRD_TRY(mird_dataset_check_complete(src, "the dataset", err));
    const mird_batch_shape *shape = &s->shape;
    const void *text = shape->text_mode == MIRD_TEXT_FEATURES ? (const void *)s->text_features
                                                             : (const void *)s->text_ids;
    int has_labels = s->is_set[MIRD_FIELD_LABELS] && !as_unlabeled;
    float *labels = d->owned[MIRD_FIELD_LABELS][0];
    uint8_t *labeled = d->owned[MIRD_FIELD_LABELS][1];
    int copy_ids = src->ids && dst->ids, copy_factors = src->factors && dst->factors;
    for (int64_t k = 0; k < count; k++) {
        int64_t from = indices[k], to = dst_offset + k;
        if (from < 0 || from >= s->size)
            return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "sample index %lld is outside 0..%lld",
                             (long long)from, (long long)s->size - 1);
        copy_row(d->owned[MIRD_FIELD_TEXT][0], text, text_bytes(shape), to, from);
        copy_row(d->owned[MIRD_FIELD_AUDIO][0], s->audio, audio_bytes(shape), to, from);
        copy_row(d->owned[MIRD_FIELD_VISION][0], s->vision, vision_bytes(shape), to, from);
        ((int32_t *)d->owned[MIRD_FIELD_TEXT][1])[to] = s->text_lengths[from];
        ((int32_t *)d->owned[MIRD_FIELD_AUDIO][1])[to] = s->audio_lengths[from];
        ((int32_t *)d->owned[MIRD_FIELD_VISION][1])[to] = s->vision_lengths[from];
        int is_labeled = has_labels && (!s->labeled || s->labeled[from]);
        labeled[to] = (uint8_t)is_labeled;
        labels[to] = is_labeled ? s->labels[from] : NAN;
        if (copy_ids)
            MIRD_TRY(mird_dataset_set_id(dst, to, src->ids[from] ? src->ids[from] : "", err));
        if (copy_factors)
            memcpy(dst->factors + to * MIRD_SYNTHETIC_FACTORS,
                   src->factors + from * MIRD_SYNTHETIC_FACTORS,
                   MIRD_SYNTHETIC_FACTORS * sizeof(float));
    }
    return MIRD_OK;
}

mird_status mird_dataset_check_complete(const mird_dataset *ds, const char *what, mird_error *err)
{
    static const char *const names[] = {"text", "audio", "vision"};
    for (int f = MIRD_FIELD_TEXT; f <= MIRD_FIELD_VISION; f++)
        if (!ds->samples.is_set[f])
            return mird_fail(err, MIRD_ERR_STATE, "%s has no %s set", what, names[f]);
    return MIRD_OK;
}

mird_status mird_dataset_check_shape(const mird_dataset *ds, const mird_batch_shape *model_shape,
                                     const char *what, mird_error *err)
{
    mird_batch_shape have = ds->samples.shape;
    if (have.text_mode == MIRD_TEXT_TOKENS && model_shape->text_mode == MIRD_TEXT_TOKENS) {
        if (have.vocab_size > model_shape->vocab_size)
            return mird_fail(err, MIRD_ERR_SHAPE, "%s holds token ids up to %lld, beyond the "
                             "model's vocab_size = %lld", what, (long long)have.vocab_size - 1,
                             (long long)model_shape->vocab_size);
        have.vocab_size = model_shape->vocab_size;
    }
    if (mird_batch_shape_equal(&have, model_shape))
        return MIRD_OK;
    char diff[160];
    mird_batch_shape_difference(&have, model_shape, diff, sizeof diff);
    /* The shared wording says "the batch"; a dataset says what it is. */
    const char *rest = strncmp(diff, "the batch ", 10) == 0 ? diff + 10 : diff;
    return mird_fail(err, MIRD_ERR_SHAPE, "%s %s", what, rest);
}
