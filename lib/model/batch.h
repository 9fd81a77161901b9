/* A batch: B padded samples in the shapes of the configuration it was made
 * for, borrowed from or copied out of caller arrays.  Every array is checked
 * when it is set (lengths within the padded length, finite values, token ids
 * within the vocabulary), so the model can trust a batch it is given once its
 * shape signature matches the model's.
 *
 * A dataset keeps its samples in a mird_batch too, and its setters are these
 * same checks and stores: mird_field_rules says whose setter is speaking and
 * which leniencies (a dataset's options) apply. */
#ifndef MIRD_MODEL_BATCH_H
#define MIRD_MODEL_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include <mird/mird.h>

#include "core/error.h"

/* The shapes a batch was made for; a model accepts a batch whose signature
 * equals its own. */
typedef struct mird_batch_shape {
    int text_mode;
    int64_t text_length, text_dim, vocab_size;
    int64_t audio_length, audio_dim;
    int64_t vision_length, vision_dim;
} mird_batch_shape;

enum mird_batch_field { MIRD_FIELD_TEXT, MIRD_FIELD_AUDIO, MIRD_FIELD_VISION, MIRD_FIELD_LABELS,
                        MIRD_FIELD_COUNT_ };

struct mird_batch {
    int64_t size;
    mird_batch_shape shape;
    const float *text_features; /* [B, T_l, d_l] (FEATURES) */
    const int32_t *text_ids;    /* [B, T_l] (TOKENS) */
    const int32_t *text_lengths;
    const float *audio;         /* [B, T_a, d_a] */
    const int32_t *audio_lengths;
    const float *vision;        /* [B, T_v, d_v] */
    const int32_t *vision_lengths;
    const float *labels;        /* [B] */
    const uint8_t *labeled;     /* [B], 1 = labeled */
    int is_set[MIRD_FIELD_COUNT_];
    void *owned[MIRD_FIELD_COUNT_][2]; /* copies made for MIRD_COPY */
    mird_error err;
};

mird_batch_shape mird_batch_shape_of(const mird_config *cfg);
int mird_batch_shape_equal(const mird_batch_shape *a, const mird_batch_shape *b);
/* Names the first difference, for error messages ("the batch was made for
 * audio_dim = 4, the model has 5"); "" when equal. */
void mird_batch_shape_difference(const mird_batch_shape *batch, const mird_batch_shape *model,
                                 char *buf, size_t size);
/* The same against the shapes of `other` ("the dataset"). */
void mird_batch_shape_difference_from(const mird_batch_shape *batch,
                                      const mird_batch_shape *other_shape, const char *other,
                                      char *buf, size_t size);

/* Whose setter runs, and what it lets through. */
typedef struct mird_field_rules {
    const char *owner;  /* "batch" or "dataset": messages say "the <owner>", "mird_<owner>_set_x" */
    int nonfinite_zero; /* non-finite values read as 0; a borrowed array holding any is copied */
    int mention_nonfinite_option; /* the owner has a nonfinite option: say so when refusing */
    int labels_none;    /* every sample is stored unlabeled */
} mird_field_rules;

/* Validates and stores one field; on failure the batch is as it was.  The
 * handle itself must not be NULL (the caller checks it, naming its argument). */
mird_status mird_batch_store_sequence(mird_batch *b, const mird_field_rules *rules, int field,
                                      const float *x, const int32_t *lengths, mird_ownership own,
                                      mird_error *err);
mird_status mird_batch_store_tokens(mird_batch *b, const mird_field_rules *rules,
                                    const int32_t *ids, const int32_t *lengths,
                                    mird_ownership own, mird_error *err);
mird_status mird_batch_store_labels(mird_batch *b, const mird_field_rules *rules,
                                    const float *labels, const uint8_t *labeled,
                                    mird_ownership own, mird_error *err);

/* Frees a field's copies and marks it unset. */
void mird_batch_release_field(mird_batch *b, int field);
/* Moves every field (pointers, copies, set marks) of `from` into `to`,
 * releasing what `to` held; `from` is left with no copies to free.  The two
 * must have the same size and shapes. */
void mird_batch_take_fields(mird_batch *to, mird_batch *from);

#endif
