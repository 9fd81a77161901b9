/* Batch storage: shape signatures, and the checks and stores behind the
 * batch and dataset setters. */
#include "model/batch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
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

void mird_batch_shape_difference_from(const mird_batch_shape *batch,
                                      const mird_batch_shape *other_shape, const char *other,
                                      char *buf, size_t size)
{
    const struct {
        const char *name;
        int64_t have, want;
    } fields[] = {
        {"text_mode", batch->text_mode, other_shape->text_mode},
        {"text_length", batch->text_length, other_shape->text_length},
        {"text_dim", batch->text_dim, other_shape->text_dim},
        {"vocab_size", batch->vocab_size, other_shape->vocab_size},
        {"audio_length", batch->audio_length, other_shape->audio_length},
        {"audio_dim", batch->audio_dim, other_shape->audio_dim},
        {"vision_length", batch->vision_length, other_shape->vision_length},
        {"vision_dim", batch->vision_dim, other_shape->vision_dim},
    };
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (fields[i].have != fields[i].want) {
            snprintf(buf, size, "the batch was made for %s = %lld, %s has %lld", fields[i].name,
                     (long long)fields[i].have, other, (long long)fields[i].want);
            return;
        }
}

void mird_batch_shape_difference(const mird_batch_shape *batch, const mird_batch_shape *model,
                                 char *buf, size_t size)
{
    mird_batch_shape_difference_from(batch, model, "the model", buf, size);
}

void mird_batch_release_field(mird_batch *b, int field)
{
    mird_free(b->owned[field][0]);
    mird_free(b->owned[field][1]);
    b->owned[field][0] = b->owned[field][1] = NULL;
    b->is_set[field] = 0;
    switch (field) {
    case MIRD_FIELD_TEXT:
        b->text_features = NULL, b->text_ids = NULL, b->text_lengths = NULL;
        break;
    case MIRD_FIELD_AUDIO:
        b->audio = NULL, b->audio_lengths = NULL;
        break;
    case MIRD_FIELD_VISION:
        b->vision = NULL, b->vision_lengths = NULL;
        break;
    default:
        b->labels = NULL, b->labeled = NULL;
        break;
    }
}

void mird_batch_take_fields(mird_batch *to, mird_batch *from)
{
    for (int f = 0; f < MIRD_FIELD_COUNT_; f++) {
        mird_batch_release_field(to, f);
        to->owned[f][0] = from->owned[f][0];
        to->owned[f][1] = from->owned[f][1];
        from->owned[f][0] = from->owned[f][1] = NULL;
        to->is_set[f] = from->is_set[f];
    }
    to->text_features = from->text_features, to->text_ids = from->text_ids;
    to->text_lengths = from->text_lengths;
    to->audio = from->audio, to->audio_lengths = from->audio_lengths;
    to->vision = from->vision, to->vision_lengths = from->vision_lengths;
    to->labels = from->labels, to->labeled = from->labeled;
}

static mird_status check_ownership(mird_ownership own, mird_error *err)
{
    if (own != MIRD_BORROW && own != MIRD_COPY)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "ownership = %d is neither MIRD_BORROW "
                         "nor MIRD_COPY", (int)own);
    return MIRD_OK;
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
 * recurrent encoders, where a NaN would reach the weight gradients.
 * *found (may be NULL) tells whether a non-finite value was let through. */
static mird_status check_finite(const mird_field_rules *rules, const char *what, const float *x,
                                int64_t batch, int64_t steps, int64_t width, int *found,
                                mird_error *err)
{
    int64_t n = batch * steps * width;
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(x[i]))
            continue;
        if (rules->nonfinite_zero) {
            *found = 1;
            return MIRD_OK;
        }
        int64_t s = i / (steps * width), t = i / width % steps, d = i % width;
        return mird_fail(err, MIRD_ERR_NONFINITE, "%s[%lld][%lld][%lld] = %g is not finite%s",
                         what, (long long)s, (long long)t, (long long)d, (double)x[i],
                         rules->mention_nonfinite_option
                             ? " (the option nonfinite=zero reads such values as 0)" : "");
    }
    *found = 0;
    return MIRD_OK;
}

/* Stores (borrowed or copied) a data array and its lengths as one field.
 * zero_nonfinite copies the data even when borrowed, with non-finite values
 * replaced by 0, so the caller's array is never written. */
static mird_status store_field(mird_batch *b, const mird_field_rules *rules, int field,
                               const void *data, size_t data_bytes, int zero_nonfinite,
                               const int32_t *lengths, mird_ownership own,
                               const void **data_slot, const int32_t **lengths_slot,
                               mird_error *err)
{
    const void *data_ptr = data;
    const int32_t *lengths_ptr = lengths;
    void *data_copy = NULL, *lengths_copy = NULL;
    if (own == MIRD_COPY || zero_nonfinite) {
        data_copy = mird_alloc(data_bytes);
        if (!data_copy)
            return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot copy %zu bytes into the %s",
                             data_bytes, rules->owner);
        if (zero_nonfinite) {
            const float *x = data;
            float *y = data_copy;
            for (size_t i = 0; i < data_bytes / sizeof(float); i++)
                y[i] = isfinite(x[i]) ? x[i] : 0.0f;
        } else {
            memcpy(data_copy, data, data_bytes);
        }
        data_ptr = data_copy;
    }
    if (own == MIRD_COPY) {
        size_t lengths_bytes = (size_t)b->size * sizeof(int32_t);
        lengths_copy = mird_alloc(lengths_bytes);
        if (!lengths_copy) {
            mird_free(data_copy);
            return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot copy %zu bytes into the %s",
                             lengths_bytes, rules->owner);
        }
        memcpy(lengths_copy, lengths, lengths_bytes);
        lengths_ptr = lengths_copy;
    }
    mird_batch_release_field(b, field);
    b->owned[field][0] = data_copy;
    b->owned[field][1] = lengths_copy;
    *data_slot = data_ptr;
    *lengths_slot = lengths_ptr;
    b->is_set[field] = 1;
    return MIRD_OK;
}

/* The slots a sequence field fills, and the setter's argument name. */
static void sequence_slots(mird_batch *b, int field, const float ***data, const int32_t ***lengths,
                           int64_t *steps, int64_t *width, const char **what,
                           const char **argument)
{
    switch (field) {
    case MIRD_FIELD_TEXT:
        *data = &b->text_features, *lengths = &b->text_lengths;
        *steps = b->shape.text_length, *width = b->shape.text_dim;
        *what = "text", *argument = "features";
        break;
    case MIRD_FIELD_AUDIO:
        *data = &b->audio, *lengths = &b->audio_lengths;
        *steps = b->shape.audio_length, *width = b->shape.audio_dim;
        *what = *argument = "audio";
        break;
    default:
        *data = &b->vision, *lengths = &b->vision_lengths;
        *steps = b->shape.vision_length, *width = b->shape.vision_dim;
        *what = *argument = "vision";
        break;
    }
}

mird_status mird_batch_store_sequence(mird_batch *b, const mird_field_rules *rules, int field,
                                      const float *x, const int32_t *lengths, mird_ownership own,
                                      mird_error *err)
{
    const float **data_slot;
    const int32_t **lengths_slot;
    int64_t steps, width;
    const char *what, *argument;
    sequence_slots(b, field, &data_slot, &lengths_slot, &steps, &width, &what, &argument);
    if (!x || !lengths)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "mird_%s_set_%s: %s is NULL", rules->owner,
                         what, !x ? argument : "lengths");
    if (field == MIRD_FIELD_TEXT && b->shape.text_mode != MIRD_TEXT_FEATURES)
        return mird_fail(err, MIRD_ERR_STATE, "the %s's configuration has text_mode = tokens: "
                         "use mird_%s_set_tokens", rules->owner, rules->owner);
    int nonfinite;
    MIRD_TRY(check_ownership(own, err));
    MIRD_TRY(check_lengths(what, lengths, b->size, steps, err));
    MIRD_TRY(check_finite(rules, what, x, b->size, steps, width, &nonfinite, err));
    MIRD_TRY(store_field(b, rules, field, x, (size_t)(b->size * steps * width) * sizeof(float),
                         nonfinite, lengths, own, (const void **)data_slot, lengths_slot, err));
    return MIRD_OK;
}

mird_status mird_batch_store_tokens(mird_batch *b, const mird_field_rules *rules,
                                    const int32_t *ids, const int32_t *lengths,
                                    mird_ownership own, mird_error *err)
{
    if (!ids || !lengths)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "mird_%s_set_tokens: %s is NULL",
                         rules->owner, !ids ? "ids" : "lengths");
    if (b->shape.text_mode != MIRD_TEXT_TOKENS)
        return mird_fail(err, MIRD_ERR_STATE, "the %s's configuration has text_mode = features: "
                         "use mird_%s_set_text", rules->owner, rules->owner);
    MIRD_TRY(check_ownership(own, err));
    MIRD_TRY(check_lengths("text", lengths, b->size, b->shape.text_length, err));
    int64_t n = b->size * b->shape.text_length;
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= b->shape.vocab_size)
            return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                             "token ids[%lld][%lld] = %d is outside 0..%lld",
                             (long long)(i / b->shape.text_length),
                             (long long)(i % b->shape.text_length), ids[i],
                             (long long)b->shape.vocab_size - 1);
    return store_field(b, rules, MIRD_FIELD_TEXT, ids, (size_t)n * sizeof(int32_t), 0, lengths,
                       own, (const void **)&b->text_ids, &b->text_lengths, err);
}

mird_status mird_batch_store_labels(mird_batch *b, const mird_field_rules *rules,
                                    const float *labels, const uint8_t *labeled,
                                    mird_ownership own, mird_error *err)
{
    if (!labels)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "mird_%s_set_labels: labels is NULL",
                         rules->owner);
    MIRD_TRY(check_ownership(own, err));
    for (int64_t i = 0; i < b->size; i++) {
        if (labeled && labeled[i] > 1)
            return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "labeled[%lld] = %d is neither 0 "
                             "nor 1", (long long)i, labeled[i]);
        int is_labeled = (labeled ? labeled[i] : 1) && !rules->labels_none;
        if (is_labeled && !isfinite(labels[i]))
            return mird_fail(err, MIRD_ERR_NONFINITE, "labels[%lld] = %g is not finite",
                             (long long)i, (double)labels[i]);
    }
    /* The labeled mask is stored in the field's second slot, as a copy
     * always (NULL becomes all ones), so the model never checks for NULL. */
    size_t label_bytes = (size_t)b->size * sizeof(float);
    uint8_t *mask = mird_alloc((size_t)b->size);
    float *label_copy = own == MIRD_COPY ? mird_alloc(label_bytes) : NULL;
    if (!mask || (own == MIRD_COPY && !label_copy)) {
        mird_free(mask);
        mird_free(label_copy);
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot copy the labels into the %s",
                         rules->owner);
    }
    if (label_copy)
        memcpy(label_copy, labels, label_bytes);
    for (int64_t i = 0; i < b->size; i++)
        mask[i] = rules->labels_none ? 0 : labeled ? labeled[i] : 1;
    mird_batch_release_field(b, MIRD_FIELD_LABELS);
    b->owned[MIRD_FIELD_LABELS][0] = label_copy;
    b->owned[MIRD_FIELD_LABELS][1] = mask;
    b->labels = label_copy ? label_copy : labels;
    b->labeled = mask;
    b->is_set[MIRD_FIELD_LABELS] = 1;
    return MIRD_OK;
}
