/* Exported batch calls: validation of caller arrays, borrow or copy. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "model/batch.h"
#include "model/config.h"

mird_batch_shape mird_batch_shape_of(const mird_config *cfg)
{
    mird_batch_shape s = {
        (int)mird_cfg_int(cfg, MIRD_PARAM_TEXT_MODE),
        mird_cfg_int(cfg, MIRD_PARAM_TEXT_LENGTH),
        mird_cfg_int(cfg, MIRD_PARAM_TEXT_DIM),
        mird_cfg_int(cfg, MIRD_PARAM_VOCAB_SIZE),
        mird_cfg_int(cfg, MIRD_PARAM_AUDIO_LENGTH),
        mird_cfg_int(cfg, MIRD_PARAM_AUDIO_DIM),
        mird_cfg_int(cfg, MIRD_PARAM_VISION_LENGTH),
        mird_cfg_int(cfg, MIRD_PARAM_VISION_DIM),
    };
    /* Only the fields the text mode uses take part in the signature. */
    if (s.text_mode == MIRD_TEXT_FEATURES)
        s.vocab_size = 0;
    else
        s.text_dim = 0;
    return s;
}

int mird_batch_shape_equal(const mird_batch_shape *a, const mird_batch_shape *b)
{
    /* Field by field: the struct has padding, which memcmp would compare. */
    return a->text_mode == b->text_mode && a->text_length == b->text_length
           && a->text_dim == b->text_dim && a->vocab_size == b->vocab_size
           && a->audio_length == b->audio_length && a->audio_dim == b->audio_dim
           && a->vision_length == b->vision_length && a->vision_dim == b->vision_dim;
}

void mird_batch_shape_difference(const mird_batch_shape *batch, const mird_batch_shape *model,
                                 char *buf, size_t size)
{
    const struct {
        const char *name;
        int64_t have, want;
    } fields[] = {
        {"text_mode", batch->text_mode, model->text_mode},
        {"text_length", batch->text_length, model->text_length},
        {"text_dim", batch->text_dim, model->text_dim},
        {"vocab_size", batch->vocab_size, model->vocab_size},
        {"audio_length", batch->audio_length, model->audio_length},
        {"audio_dim", batch->audio_dim, model->audio_dim},
        {"vision_length", batch->vision_length, model->vision_length},
        {"vision_dim", batch->vision_dim, model->vision_dim},
    };
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (fields[i].have != fields[i].want) {
            snprintf(buf, size, "the batch was made for %s = %lld, the model has %lld",
                     fields[i].name, (long long)fields[i].have, (long long)fields[i].want);
            return;
        }
}

static mird_status batch_failed(mird_batch *b, mird_error *local)
{
    if (b)
        b->err = *local;
    mird_error_publish(local);
    return local->status;
}

mird_status mird_batch_create(const mird_config *cfg, int64_t batch_size, mird_batch **out)
{
    if (!cfg || !out)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_batch_create: %s is NULL",
                                cfg ? "out" : "cfg");
    *out = NULL;
    if (batch_size < 1 || batch_size > 1000000)
        return mird_fail_thread(MIRD_ERR_INVALID_ARGUMENT,
                                "batch_size = %lld is outside 1..1000000", (long long)batch_size);
    mird_batch *b = mird_alloc_zeroed(sizeof *b);
    if (!b)
        return mird_fail_thread(MIRD_ERR_OUT_OF_MEMORY, "cannot allocate a batch");
    b->size = batch_size;
    b->shape = mird_batch_shape_of(cfg);
    *out = b;
    return MIRD_OK;
}

static void release_field(mird_batch *b, int field)
{
    mird_free(b->owned[field][0]);
    mird_free(b->owned[field][1]);
    b->owned[field][0] = b->owned[field][1] = NULL;
}

void mird_batch_destroy(mird_batch *b)
{
    if (!b)
        return;
    for (int f = 0; f < MIRD_FIELD_COUNT_; f++)
        release_field(b, f);
    mird_free(b);
}

int64_t mird_batch_size(const mird_batch *b)
{
    return b ? b->size : 0;
}

const char *mird_batch_error_message(const mird_batch *b)
{
    return b ? b->err.message : "";
}

static mird_status check_lengths(const char *what, const int32_t *lengths, int64_t count,
                                 int64_t padded, mird_error *err)
{
    for (int64_t i = 0; i < count; i++)
        if (lengths[i] < 0 || lengths[i] > padded)
            return mird_fail(err, MIRD_ERR_SHAPE, "%s lengths[%lld] = %d is outside 0..%lld", what,
                             (long long)i, lengths[i], (long long)padded);
    return MIRD_OK;
}

/* Every value, padding included: padded frames still pass through the
 * recurrent encoders, where a NaN would reach the weight gradients. */
static mird_status check_finite(const char *what, const float *x, int64_t batch, int64_t steps,
                                int64_t width, mird_error *err)
{
    int64_t n = batch * steps * width;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) {
            int64_t s = i / (steps * width), t = i / width % steps, d = i % width;
            return mird_fail(err, MIRD_ERR_NONFINITE, "%s[%lld][%lld][%lld] = %g is not finite",
                             what, (long long)s, (long long)t, (long long)d, (double)x[i]);
        }
    return MIRD_OK;
}

/* Stores (borrowed or copied) a data array and its lengths as one field. */
static mird_status store_field(mird_batch *b, int field, const void *data, size_t data_bytes,
                               const int32_t *lengths, mird_ownership own, const void **data_slot,
                               const int32_t **lengths_slot, mird_error *err)
{
    const void *data_ptr = data;
    const int32_t *lengths_ptr = lengths;
    void *data_copy = NULL, *lengths_copy = NULL;
    if (own == MIRD_COPY) {
        data_copy = mird_alloc(data_bytes);
        lengths_copy = lengths ? mird_alloc((size_t)b->size * sizeof(int32_t)) : NULL;
        if (!data_copy || (lengths && !lengths_copy)) {
            mird_free(data_copy);
            mird_free(lengths_copy);
            return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot copy %zu bytes into the batch",
                             data_bytes);
        }
        memcpy(data_copy, data, data_bytes);
        if (lengths)
            memcpy(lengths_copy, lengths, (size_t)b->size * sizeof(int32_t));
        data_ptr = data_copy;
        lengths_ptr = lengths_copy;
    }
    release_field(b, field);
    b->owned[field][0] = data_copy;
    b->owned[field][1] = lengths_copy;
    *data_slot = data_ptr;
    if (lengths_slot)
        *lengths_slot = lengths_ptr;
    b->is_set[field] = 1;
    return MIRD_OK;
}

static mird_status check_ownership(mird_ownership own, mird_error *err)
{
    if (own != MIRD_BORROW && own != MIRD_COPY)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "ownership = %d is neither MIRD_BORROW "
                         "nor MIRD_COPY", (int)own);
    return MIRD_OK;
}

/* The slots a sequence field fills. */
static void sequence_slots(mird_batch *b, int field, const float ***data, const int32_t ***lengths,
                           int64_t *steps, int64_t *width)
{
    switch (field) {
    case MIRD_FIELD_TEXT:
        *data = &b->text_features, *lengths = &b->text_lengths;
        *steps = b->shape.text_length, *width = b->shape.text_dim;
        break;
    case MIRD_FIELD_AUDIO:
        *data = &b->audio, *lengths = &b->audio_lengths;
        *steps = b->shape.audio_length, *width = b->shape.audio_dim;
        break;
    default:
        *data = &b->vision, *lengths = &b->vision_lengths;
        *steps = b->shape.vision_length, *width = b->shape.vision_dim;
        break;
    }
}

static mird_status set_sequence(mird_batch *b, const char *what, int field, const float *x,
                                const int32_t *lengths, mird_ownership own)
{
    mird_error err = {0};
    if (!b || !x || !lengths)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_batch_set_%s: %s is NULL", what,
                                !b ? "batch" : !x ? "data" : "lengths");
    if (field == MIRD_FIELD_TEXT && b->shape.text_mode != MIRD_TEXT_FEATURES) {
        mird_fail(&err, MIRD_ERR_STATE,
                  "the batch's configuration has text_mode = tokens: use mird_batch_set_tokens");
        return batch_failed(b, &err);
    }
    const float **data_slot;
    const int32_t **lengths_slot;
    int64_t steps, width;
    sequence_slots(b, field, &data_slot, &lengths_slot, &steps, &width);
    if (check_ownership(own, &err) != MIRD_OK
        || check_lengths(what, lengths, b->size, steps, &err) != MIRD_OK
        || check_finite(what, x, b->size, steps, width, &err) != MIRD_OK
        || store_field(b, field, x, (size_t)(b->size * steps * width) * sizeof(float), lengths, own,
                       (const void **)data_slot, lengths_slot, &err) != MIRD_OK)
        return batch_failed(b, &err);
    if (field == MIRD_FIELD_TEXT)
        b->text_ids = NULL;
    return MIRD_OK;
}

mird_status mird_batch_set_text(mird_batch *b, const float *features, const int32_t *lengths,
                                mird_ownership own)
{
    return set_sequence(b, "text", MIRD_FIELD_TEXT, features, lengths, own);
}

mird_status mird_batch_set_tokens(mird_batch *b, const int32_t *ids, const int32_t *lengths,
                                  mird_ownership own)
{
    mird_error err = {0};
    if (!b || !ids || !lengths)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_batch_set_tokens: %s is NULL",
                                !b ? "batch" : !ids ? "ids" : "lengths");
    if (b->shape.text_mode != MIRD_TEXT_TOKENS) {
        mird_fail(&err, MIRD_ERR_STATE,
                  "the batch's configuration has text_mode = features: use mird_batch_set_text");
        return batch_failed(b, &err);
    }
    int64_t n = b->size * b->shape.text_length;
    mird_status st = check_ownership(own, &err);
    if (st == MIRD_OK)
        st = check_lengths("text", lengths, b->size, b->shape.text_length, &err);
    for (int64_t i = 0; st == MIRD_OK && i < n; i++)
        if (ids[i] < 0 || ids[i] >= b->shape.vocab_size)
            st = mird_fail(&err, MIRD_ERR_INVALID_ARGUMENT,
                           "token ids[%lld][%lld] = %d is outside 0..%lld",
                           (long long)(i / b->shape.text_length),
                           (long long)(i % b->shape.text_length), ids[i],
                           (long long)b->shape.vocab_size - 1);
    if (st == MIRD_OK)
        st = store_field(b, MIRD_FIELD_TEXT, ids, (size_t)n * sizeof(int32_t), lengths, own,
                         (const void **)&b->text_ids, &b->text_lengths, &err);
    if (st != MIRD_OK)
        return batch_failed(b, &err);
    b->text_features = NULL;
    return MIRD_OK;
}

mird_status mird_batch_set_audio(mird_batch *b, const float *audio, const int32_t *lengths,
                                 mird_ownership own)
{
    return set_sequence(b, "audio", MIRD_FIELD_AUDIO, audio, lengths, own);
}

mird_status mird_batch_set_vision(mird_batch *b, const float *vision, const int32_t *lengths,
                                  mird_ownership own)
{
    return set_sequence(b, "vision", MIRD_FIELD_VISION, vision, lengths, own);
}

mird_status mird_batch_set_labels(mird_batch *b, const float *labels, const uint8_t *labeled,
                                  mird_ownership own)
{
    mird_error err = {0};
    if (!b || !labels)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_batch_set_labels: %s is NULL",
                                b ? "labels" : "batch");
    mird_status st = check_ownership(own, &err);
    for (int64_t i = 0; st == MIRD_OK && i < b->size; i++) {
        int is_labeled = labeled ? labeled[i] != 0 : 1;
        if (labeled && labeled[i] > 1)
            st = mird_fail(&err, MIRD_ERR_INVALID_ARGUMENT, "labeled[%lld] = %d is neither 0 nor 1",
                           (long long)i, labeled[i]);
        else if (is_labeled && !isfinite(labels[i]))
            st = mird_fail(&err, MIRD_ERR_NONFINITE, "labels[%lld] = %g is not finite",
                           (long long)i, (double)labels[i]);
    }
    if (st != MIRD_OK)
        return batch_failed(b, &err);
    /* The labeled mask is stored in the field's second slot, as a copy
     * always (NULL becomes all ones), so the model never checks for NULL. */
    uint8_t *mask = mird_alloc((size_t)b->size);
    const float *label_ptr = labels;
    float *label_copy = NULL;
    if (mask && own == MIRD_COPY) {
        label_copy = mird_alloc((size_t)b->size * sizeof(float));
        if (label_copy)
            memcpy(label_copy, labels, (size_t)b->size * sizeof(float));
        label_ptr = label_copy;
    }
    if (!mask || (own == MIRD_COPY && !label_copy)) {
        mird_free(mask);
        mird_free(label_copy);
        mird_fail(&err, MIRD_ERR_OUT_OF_MEMORY, "cannot copy the labels");
        return batch_failed(b, &err);
    }
    for (int64_t i = 0; i < b->size; i++)
        mask[i] = labeled ? labeled[i] : 1;
    release_field(b, MIRD_FIELD_LABELS);
    b->owned[MIRD_FIELD_LABELS][0] = label_copy;
    b->owned[MIRD_FIELD_LABELS][1] = mask;
    b->labels = label_ptr;
    b->labeled = mask;
    b->is_set[MIRD_FIELD_LABELS] = 1;
    return MIRD_OK;
}
