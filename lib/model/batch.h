/* A batch: B padded samples in the shapes of the configuration it was made
 * for, borrowed from or copied out of caller arrays.  Every array is checked
 * when it is set (lengths within the padded length, finite values, token ids
 * within the vocabulary), so the model can trust a batch it is given once its
 * shape signature matches the model's. */
#ifndef MIRD_MODEL_BATCH_H
#define MIRD_MODEL_BATCH_H

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
/* Names the first difference, for error messages; "" when equal. */
void mird_batch_shape_difference(const mird_batch_shape *batch, const mird_batch_shape *model,
                                 char *buf, size_t size);

#endif
