/* Exported dataset calls: argument checks, options and error publication
 * around lib/io/dataset (storage, gathering) and lib/model/batch (the
 * setters a dataset shares with batches). */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/threads.h"
#include "io/dataset.h"
#include "io/dataset_readers.h"
#include "io/synthetic.h"
#include "model/config.h"

const char *mird_split_name(mird_split split)
{
    return mird_split_text(split);
}

/* Records a failure on the dataset (datasets are read-only to training, but
 * their error slot is theirs to keep) and in the thread's slot. */
static mird_status dataset_failed(const mird_dataset *ds, const mird_error *local)
{
    if (ds)
        ((mird_dataset *)ds)->err = *local;
    mird_error_publish(local);
    return local->status;
}

static mird_field_rules rules_of(const mird_dataset *ds)
{
    mird_field_rules rules = {"dataset", ds->options.nonfinite_zero, 1, ds->options.labels_none};
    return rules;
}

/* labels=none: the labels field exists from the start, every sample
 * unlabeled, so that the dataset serves as an unlabeled set as it is. */
static mird_status mark_all_unlabeled(mird_dataset *ds, mird_error *err)
{
    mird_batch *b = &ds->samples;
    float *labels = mird_alloc((size_t)b->size * sizeof(float));
    uint8_t *labeled = mird_alloc_zeroed((size_t)b->size);
    if (!labels || !labeled) {
        mird_free(labels);
        mird_free(labeled);
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot allocate the labels of %lld samples",
                         (long long)b->size);
    }
    for (int64_t i = 0; i < b->size; i++)
        labels[i] = NAN;
    b->owned[MIRD_FIELD_LABELS][0] = labels, b->owned[MIRD_FIELD_LABELS][1] = labeled;
    b->labels = labels, b->labeled = labeled;
    b->is_set[MIRD_FIELD_LABELS] = 1;
    return MIRD_OK;
}

static mird_status check_size(const char *what, int64_t size, mird_error *err)
{
    if (size < 1 || size > 1000000)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s = %lld is outside 1..1000000", what,
                         (long long)size);
    return MIRD_OK;
}

mird_status mird_dataset_create(const mird_config *cfg, int64_t size, const char *options,
                                mird_dataset **out)
{
    if (!cfg || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_create: %s is NULL",
                                cfg ? "out" : "cfg");
    *out = NULL;
    mird_error err = {0};
    mird_dataset_options parsed;
    if (check_size("size", size, &err) != MIRD_OK
        || mird_dataset_parse_options(options, &parsed, &err) != MIRD_OK)
        return dataset_failed(NULL, &err);
    mird_dataset *ds = mird_alloc_zeroed(sizeof *ds);
    if (!ds)
        return mird_fail_thread(MIRD_ERR_OUT_OF_MEMORY, "cannot allocate a dataset");
    ds->samples.size = size;
    ds->samples.shape = mird_batch_shape_of(cfg);
    ds->options = parsed;
    if (parsed.labels_none && mark_all_unlabeled(ds, &err) != MIRD_OK) {
        mird_dataset_free(ds);
        return dataset_failed(NULL, &err);
    }
    *out = ds;
    return MIRD_OK;
}

static mird_status set_sequence(mird_dataset *ds, const char *setter, int field, const float *x,
                                const int32_t *lengths, mird_ownership own)
{
    if (!ds)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "%s: ds is NULL", setter);
    mird_error err = {0};
    mird_field_rules rules = rules_of(ds);
    if (mird_batch_store_sequence(&ds->samples, &rules, field, x, lengths, own, &err) != MIRD_OK)
        return dataset_failed(ds, &err);
    return MIRD_OK;
}

mird_status mird_dataset_set_text(mird_dataset *ds, const float *features,
                                  const int32_t *lengths, mird_ownership own)
{
    return set_sequence(ds, "mird_dataset_set_text", MIRD_FIELD_TEXT, features, lengths, own);
}

mird_status mird_dataset_set_tokens(mird_dataset *ds, const int32_t *ids, const int32_t *lengths,
                                    mird_ownership own)
{
    if (!ds)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_set_tokens: ds is NULL");
    mird_error err = {0};
    mird_field_rules rules = rules_of(ds);
    if (mird_batch_store_tokens(&ds->samples, &rules, ids, lengths, own, &err) != MIRD_OK)
        return dataset_failed(ds, &err);
    return MIRD_OK;
}

mird_status mird_dataset_set_audio(mird_dataset *ds, const float *audio, const int32_t *lengths,
                                   mird_ownership own)
{
    return set_sequence(ds, "mird_dataset_set_audio", MIRD_FIELD_AUDIO, audio, lengths, own);
}

mird_status mird_dataset_set_vision(mird_dataset *ds, const float *vision,
                                    const int32_t *lengths, mird_ownership own)
{
    return set_sequence(ds, "mird_dataset_set_vision", MIRD_FIELD_VISION, vision, lengths, own);
}

mird_status mird_dataset_set_labels(mird_dataset *ds, const float *labels,
                                    const uint8_t *labeled, mird_ownership own)
{
    if (!ds)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_set_labels: ds is NULL");
    mird_error err = {0};
    mird_field_rules rules = rules_of(ds);
    if (mird_batch_store_labels(&ds->samples, &rules, labels, labeled, own, &err) != MIRD_OK)
        return dataset_failed(ds, &err);
    return MIRD_OK;
}

static void free_ids(char **ids, int64_t count)
{
    if (!ids)
        return;
    for (int64_t i = 0; i < count; i++)
        mird_free(ids[i]);
    mird_free(ids);
}

mird_status mird_dataset_set_ids(mird_dataset *ds, const char *const *ids)
{
    if (!ds || !ids)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_set_ids: %s is NULL",
                                ds ? "ids" : "ds");
    mird_error err = {0};
    int64_t n = ds->samples.size;
    for (int64_t i = 0; i < n; i++)
        if (!ids[i]) {
            mird_fail(&err, MIRD_ERR_NULL_ARGUMENT, "mird_dataset_set_ids: ids[%lld] is NULL",
                      (long long)i);
            return dataset_failed(ds, &err);
        }
    /* The new ids are built in a fresh table; the old one goes only once
     * every copy is made. */
    char **old = ds->ids;
    ds->ids = NULL;
    mird_status st = mird_dataset_alloc_ids(ds, &err);
    for (int64_t i = 0; st == MIRD_OK && i < n; i++)
        st = mird_dataset_set_id(ds, i, ids[i], &err);
    if (st != MIRD_OK) {
        free_ids(ds->ids, n);
        ds->ids = old;
        return dataset_failed(ds, &err);
    }
    free_ids(old, n);
    return MIRD_OK;
}

void mird_dataset_destroy(mird_dataset *ds)
{
    mird_dataset_free(ds);
}

int64_t mird_dataset_size(const mird_dataset *ds)
{
    return ds ? ds->samples.size : 0;
}

const char *mird_dataset_error_message(const mird_dataset *ds)
{
    return ds ? ds->err.message : "";
}

mird_status mird_dataset_apply_shapes(const mird_dataset *ds, mird_config *cfg)
{
    if (!ds || !cfg)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_apply_shapes: %s is NULL",
                                ds ? "cfg" : "ds");
    const mird_batch_shape *s = &ds->samples.shape;
    mird_config next = *cfg;
    mird_error err = {0};
    const struct {
        mird_param param;
        int64_t value;
        int applies;
    } updates[] = {
        {MIRD_PARAM_TEXT_MODE, s->text_mode, 1},
        {MIRD_PARAM_TEXT_LENGTH, s->text_length, 1},
        {MIRD_PARAM_TEXT_DIM, s->text_dim, s->text_mode == MIRD_TEXT_FEATURES},
        {MIRD_PARAM_VOCAB_SIZE, s->vocab_size,
         s->text_mode == MIRD_TEXT_TOKENS
             && s->vocab_size > mird_cfg_int(cfg, MIRD_PARAM_VOCAB_SIZE)},
        /* Both text modes learn a position table of max_positions rows. */
        {MIRD_PARAM_MAX_POSITIONS, s->text_length,
         s->text_length > mird_cfg_int(cfg, MIRD_PARAM_MAX_POSITIONS)},
        {MIRD_PARAM_AUDIO_LENGTH, s->audio_length, 1},
        {MIRD_PARAM_AUDIO_DIM, s->audio_dim, 1},
        {MIRD_PARAM_VISION_LENGTH, s->vision_length, 1},
        {MIRD_PARAM_VISION_DIM, s->vision_dim, 1},
    };
    for (size_t i = 0; i < sizeof updates / sizeof updates[0]; i++)
        if (updates[i].applies
            && mird_config_store(&next, updates[i].param, (double)updates[i].value, &err)
                   != MIRD_OK) {
            cfg->err = err;
            mird_error_publish(&err);
            return err.status;
        }
    memcpy(cfg->values, next.values, sizeof cfg->values);
    return MIRD_OK;
}

mird_status mird_dataset_get_labels(const mird_dataset *ds, float *labels, uint8_t *labeled)
{
    if (!ds)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_get_labels: ds is NULL");
    const mird_batch *b = &ds->samples;
    if (!b->is_set[MIRD_FIELD_LABELS]) {
        mird_error err = {0};
        mird_fail(&err, MIRD_ERR_STATE, "the dataset has no labels set");
        return dataset_failed(ds, &err);
    }
    for (int64_t i = 0; i < b->size; i++) {
        if (labels)
            labels[i] = b->labeled[i] ? b->labels[i] : NAN;
        if (labeled)
            labeled[i] = b->labeled[i];
    }
    return MIRD_OK;
}

const char *mird_dataset_id(const mird_dataset *ds, int64_t index)
{
    if (!ds || !ds->ids || index < 0 || index >= ds->samples.size)
        return NULL;
    return ds->ids[index];
}

/* A dataset shaped `shape` holding copies of src's samples at indices, with
 * no labels when src has none; with_extras copies ids and factors too. */
static mird_status gather_copy(const mird_dataset *src, const int64_t *indices, int64_t count,
                               const mird_batch_shape *shape, int with_extras,
                               mird_dataset **out, mird_error *err)
{
    mird_dataset *dst;
    MIRD_TRY(mird_dataset_new(shape, count, &src->options, &dst, NULL, err));
    mird_status st = with_extras && src->ids ? mird_dataset_alloc_ids(dst, err) : MIRD_OK;
    if (st == MIRD_OK && with_extras && src->factors) {
        dst->factors = mird_alloc((size_t)count * MIRD_SYNTHETIC_FACTORS * sizeof(float));
        if (!dst->factors)
            st = mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot copy the factors of %lld samples",
                           (long long)count);
    }
    if (st == MIRD_OK)
        st = mird_dataset_gather(src, indices, count, dst, 0, 0, err);
    if (st != MIRD_OK) {
        mird_dataset_free(dst);
        return st;
    }
    if (!src->samples.is_set[MIRD_FIELD_LABELS])
        mird_batch_release_field(&dst->samples, MIRD_FIELD_LABELS);
    *out = dst;
    return MIRD_OK;
}

mird_status mird_dataset_subset(const mird_dataset *ds, const int64_t *indices, int64_t count,
                                mird_dataset **out)
{
    if (!ds || !indices || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_subset: %s is NULL",
                                !ds ? "ds" : !indices ? "indices" : "out");
    *out = NULL;
    mird_error err = {0};
    if (check_size("count", count, &err) != MIRD_OK)
        return dataset_failed(ds, &err);
    for (int64_t k = 0; k < count; k++)
        if (indices[k] < 0 || indices[k] >= ds->samples.size) {
            mird_fail(&err, MIRD_ERR_INVALID_ARGUMENT, "indices[%lld] = %lld is outside 0..%lld",
                      (long long)k, (long long)indices[k], (long long)ds->samples.size - 1);
            return dataset_failed(ds, &err);
        }
    if (mird_dataset_check_complete(ds, "the dataset", &err) != MIRD_OK
        || gather_copy(ds, indices, count, &ds->samples.shape, 1, out, &err) != MIRD_OK)
        return dataset_failed(ds, &err);
    return MIRD_OK;
}

/* A batch takes the dataset's samples if it has their shapes; token ids
 * need only fit its vocabulary. */
static mird_status check_batch_shape(const mird_dataset *ds, const mird_batch *batch,
                                     mird_error *err)
{
    mird_batch_shape want = ds->samples.shape;
    if (want.text_mode == MIRD_TEXT_TOKENS && batch->shape.text_mode == MIRD_TEXT_TOKENS
        && batch->shape.vocab_size >= want.vocab_size)
        want.vocab_size = batch->shape.vocab_size;
    if (mird_batch_shape_equal(&batch->shape, &want))
        return MIRD_OK;
    char why[160];
    mird_batch_shape_difference_from(&batch->shape, &want, "the dataset", why, sizeof why);
    return mird_fail(err, MIRD_ERR_SHAPE, "%s", why);
}

mird_status mird_dataset_fill_batch(const mird_dataset *ds, int64_t first, int64_t count,
                                    mird_batch *batch)
{
    if (!ds || !batch)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_fill_batch: %s is NULL",
                                ds ? "batch" : "ds");
    mird_error err = {0};
    int64_t n = ds->samples.size;
    if (first < 0 || count < 1 || first > n - count) {
        mird_fail(&err, MIRD_ERR_INVALID_ARGUMENT, "samples %lld..%lld are outside the dataset's "
                  "0..%lld", (long long)first, (long long)(first + count - 1), (long long)n - 1);
        return dataset_failed(ds, &err);
    }
    if (batch->size != count) {
        mird_fail(&err, MIRD_ERR_SHAPE, "the batch holds %lld samples, not count = %lld",
                  (long long)batch->size, (long long)count);
        return dataset_failed(ds, &err);
    }
    if (check_batch_shape(ds, batch, &err) != MIRD_OK
        || mird_dataset_check_complete(ds, "the dataset", &err) != MIRD_OK)
        return dataset_failed(ds, &err);
    int64_t *indices = mird_alloc((size_t)count * sizeof(int64_t));
    if (!indices) {
        mird_fail(&err, MIRD_ERR_OUT_OF_MEMORY, "cannot fill a batch of %lld samples",
                  (long long)count);
        return dataset_failed(ds, &err);
    }
    for (int64_t k = 0; k < count; k++)
        indices[k] = first + k;
    mird_dataset *rows;
    mird_status st = gather_copy(ds, indices, count, &batch->shape, 0, &rows, &err);
    mird_free(indices);
    if (st != MIRD_OK)
        return dataset_failed(ds, &err);
    mird_batch_take_fields(batch, &rows->samples);
    mird_dataset_free(rows);
    return MIRD_OK;
}

mird_status mird_dataset_synthetic(const mird_config *cfg, mird_split split, int64_t size,
                                   uint64_t seed, const char *options, mird_dataset **out)
{
    if (!cfg || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_synthetic: %s is NULL",
                                cfg ? "out" : "cfg");
    *out = NULL;
    mird_error err = {0};
    mird_dataset_options parsed;
    mird_batch_shape shape = mird_batch_shape_of(cfg);
    if (check_size("size", size, &err) != MIRD_OK
        || mird_dataset_parse_options(options, &parsed, &err) != MIRD_OK)
        return dataset_failed(NULL, &err);
    mird_threads_apply();
    if (mird_synthetic_generate(&shape, split, size, seed, &parsed, out, &err) != MIRD_OK)
        return dataset_failed(NULL, &err);
    return MIRD_OK;
}

mird_status mird_dataset_get_factors(const mird_dataset *ds, float *factors)
{
    if (!ds || !factors)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_dataset_get_factors: %s is NULL",
                                ds ? "factors" : "ds");
    if (!ds->factors) {
        mird_error err = {0};
        mird_fail(&err, MIRD_ERR_STATE, "the dataset has no planted factors (only synthetic "
                  "data has them)");
        return dataset_failed(ds, &err);
    }
    memcpy(factors, ds->factors,
           (size_t)ds->samples.size * MIRD_SYNTHETIC_FACTORS * sizeof(float));
    return MIRD_OK;
}
