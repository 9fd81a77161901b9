/* Datasets: N samples held like one batch of N, plus ids and planted factors.
 *
 * A dataset's `samples` member is an ordinary mird_batch, so a dataset
 * passes the same validation as a batch and a small dataset *is* a batch:
 * mird_fit and mird_evaluate gather rows into an internal dataset of batch
 * size and hand its `samples` to the trainer.  Readers of files allocate a
 * dataset with its own storage (mird_dataset_new), fill the writable arrays,
 * then call mird_dataset_finish, which applies the options and checks every
 * value the way the batch setters do. */
#ifndef MIRD_IO_DATASET_H
#define MIRD_IO_DATASET_H

#include <stdint.h>

#include <mird/mird.h>

#include "core/error.h"
#include "model/batch.h"

/* The options every dataset maker knows (mird.h, "Datasets"). */
typedef struct mird_dataset_options {
    int nonfinite_zero; /* nonfinite=zero */
    int labels_none;    /* labels=none */
    int standardize_train; /* standardize=train (split-aware readers only) */
} mird_dataset_options;

struct mird_dataset {
    mird_batch samples;
    mird_dataset_options options;
    char **ids;     /* [N] owned strings, or NULL */
    float *factors; /* [N, MIRD_SYNTHETIC_FACTORS] owned, or NULL */
    mird_error err;
};

/* Writable views of the storage mird_dataset_new allocated. */
typedef struct mird_dataset_arrays {
    float *text_features; /* features mode, else NULL */
    int32_t *text_ids;    /* tokens mode, else NULL */
    int32_t *text_lengths;
    float *audio;
    int32_t *audio_lengths;
    float *vision;
    int32_t *vision_lengths;
    float *labels;
    uint8_t *labeled;
} mird_dataset_arrays;

/* If `key` is one of the common options, stores it and sets *handled;
 * a bad value fails.  Other keys leave *handled = 0. */
mird_status mird_dataset_common_option(const char *key, const char *value,
                                       mird_dataset_options *options, int *handled,
                                       mird_error *err);
/* Parses a string that may hold only the common options (and not
 * standardize=train, which needs a source with a training split). */
mird_status mird_dataset_parse_options(const char *text, mird_dataset_options *options,
                                       mird_error *err);

/* A dataset of `size` samples shaped `shape`, every field allocated,
 * zeroed (labeled = 0) and marked set; `arrays` (may be NULL) receives the
 * writable views.  For token text, shape->vocab_size may be 0: then
 * mird_dataset_finish sets it from the largest id. */
mird_status mird_dataset_new(const mird_batch_shape *shape, int64_t size,
                             const mird_dataset_options *options, mird_dataset **out,
                             mird_dataset_arrays *arrays, mird_error *err);
void mird_dataset_free(mird_dataset *ds);

/* Gives every sample an id slot (NULL until set). */
mird_status mird_dataset_alloc_ids(mird_dataset *ds, mird_error *err);
mird_status mird_dataset_set_id(mird_dataset *ds, int64_t index, const char *id, mird_error *err);

/* For datasets from mird_dataset_new, once filled: applies nonfinite and
 * labels, then checks lengths, values, token ids and labels; `source`
 * (a file name) prefixes the messages. */
mird_status mird_dataset_finish(mird_dataset *ds, const char *source, mird_error *err);

/* Copies samples indices[0..count) of src into dst at dst_offset onwards.
 * dst must come from mird_dataset_new with src's shapes (its vocabulary may
 * be larger).  With as_unlabeled (or when src has no labels) the copies are
 * unlabeled.  Ids and factors are copied where both sides have them. */
mird_status mird_dataset_gather(const mird_dataset *src, const int64_t *indices, int64_t count,
                                mird_dataset *dst, int64_t dst_offset, int as_unlabeled,
                                mird_error *err);

/* Checks that a model with `model_shape` accepts the dataset's samples: the
 * same shapes, token ids within the model's vocabulary.  `what` names the
 * dataset in the message ("the validation set"). */
mird_status mird_dataset_check_shape(const mird_dataset *ds, const mird_batch_shape *model_shape,
                                     const char *what, mird_error *err);

/* Fails with MIRD_ERR_STATE, naming the field, if text, audio or vision was
 * never set. */
mird_status mird_dataset_check_complete(const mird_dataset *ds, const char *what, mird_error *err);

#endif
