/* Exported batch calls: argument checks and error publication around the
 * stores of lib/model/batch. */
#include "core/alloc.h"
#include "model/batch.h"

static const mird_field_rules batch_rules = {"batch", 0, 0, 0};

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

void mird_batch_destroy(mird_batch *b)
{
    if (!b)
        return;
    for (int f = 0; f < MIRD_FIELD_COUNT_; f++)
        mird_batch_release_field(b, f);
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

static mird_status set_sequence(mird_batch *b, const char *setter, int field, const float *x,
                                const int32_t *lengths, mird_ownership own)
{
    mird_error err = {0};
    if (!b)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "%s: batch is NULL", setter);
    if (mird_batch_store_sequence(b, &batch_rules, field, x, lengths, own, &err) != MIRD_OK)
        return batch_failed(b, &err);
    return MIRD_OK;
}

mird_status mird_batch_set_text(mird_batch *b, const float *features, const int32_t *lengths,
                                mird_ownership own)
{
    return set_sequence(b, "mird_batch_set_text", MIRD_FIELD_TEXT, features, lengths, own);
}

mird_status mird_batch_set_tokens(mird_batch *b, const int32_t *ids, const int32_t *lengths,
                                  mird_ownership own)
{
    mird_error err = {0};
    if (!b)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_batch_set_tokens: batch is NULL");
    if (mird_batch_store_tokens(b, &batch_rules, ids, lengths, own, &err) != MIRD_OK)
        return batch_failed(b, &err);
    return MIRD_OK;
}

mird_status mird_batch_set_audio(mird_batch *b, const float *audio, const int32_t *lengths,
                                 mird_ownership own)
{
    return set_sequence(b, "mird_batch_set_audio", MIRD_FIELD_AUDIO, audio, lengths, own);
}

mird_status mird_batch_set_vision(mird_batch *b, const float *vision, const int32_t *lengths,
                                  mird_ownership own)
{
    return set_sequence(b, "mird_batch_set_vision", MIRD_FIELD_VISION, vision, lengths, own);
}

mird_status mird_batch_set_labels(mird_batch *b, const float *labels, const uint8_t *labeled,
                                  mird_ownership own)
{
    mird_error err = {0};
    if (!b)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_batch_set_labels: batch is NULL");
    if (mird_batch_store_labels(b, &batch_rules, labels, labeled, own, &err) != MIRD_OK)
        return batch_failed(b, &err);
    return MIRD_OK;
}
