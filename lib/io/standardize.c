/* Per-feature z-scores over valid frames, statistics in double. */
#include "io/standardize.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "model/config.h"

#define MIRD_STD_FLOOR 1e-8

/* The three feature fields of a dataset: values, lengths, steps, width. */
typedef struct feature_view {
    const float *x;
    const int32_t *lengths;
    int64_t steps, width;
} feature_view;

static feature_view view_of(const mird_dataset *ds, int m)
{
    const mird_batch *b = &ds->samples;
    const mird_batch_shape *s = &b->shape;
    switch (m) {
    case 0:
        return s->text_mode == MIRD_TEXT_FEATURES
                   ? (feature_view){b->text_features, b->text_lengths, s->text_length, s->text_dim}
                   : (feature_view){NULL, NULL, 0, 0};
    case 1:
        return (feature_view){b->audio, b->audio_lengths, s->audio_length, s->audio_dim};
    default:
        return (feature_view){b->vision, b->vision_lengths, s->vision_length, s->vision_dim};
    }
}

void mird_feature_stats_release(mird_feature_stats *stats)
{
    for (int m = 0; m < 3; m++) {
        mird_free(stats->mean[m]);
        mird_free(stats->std[m]);
        stats->mean[m] = stats->std[m] = NULL;
    }
}

mird_status mird_feature_stats_compute(const mird_dataset *reference, mird_feature_stats *stats,
                                       mird_error *err)
{
    memset(stats, 0, sizeof *stats);
    for (int m = 0; m < 3; m++) {
        feature_view v = view_of(reference, m);
        stats->width[m] = v.width;
        if (!v.x)
            continue;
        double *mean = mird_alloc_zeroed((size_t)v.width * sizeof(double));
        double *sq = mird_alloc_zeroed((size_t)v.width * sizeof(double));
        stats->mean[m] = mean, stats->std[m] = sq;
        if (!mean || !sq) {
            mird_feature_stats_release(stats);
            return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot allocate feature statistics");
        }
        /* Two passes (mean, then squared deviations): exact enough in double
         * for features in the hundreds, without the one-pass cancellation. */
        int64_t frames = 0;
        for (int64_t i = 0; i < reference->samples.size; i++)
            for (int64_t t = 0; t < v.lengths[i]; t++, frames++)
                for (int64_t f = 0; f < v.width; f++)
                    mean[f] += v.x[(i * v.steps + t) * v.width + f];
        for (int64_t f = 0; f < v.width; f++)
            mean[f] = frames ? mean[f] / (double)frames : 0.0;
        for (int64_t i = 0; i < reference->samples.size; i++)
            for (int64_t t = 0; t < v.lengths[i]; t++)
                for (int64_t f = 0; f < v.width; f++) {
                    double d = v.x[(i * v.steps + t) * v.width + f] - mean[f];
                    sq[f] += d * d;
                }
        for (int64_t f = 0; f < v.width; f++)
            sq[f] = frames ? sqrt(sq[f] / (double)frames) : 0.0;
    }
    return MIRD_OK;
}

mird_status mird_feature_stats_apply(const mird_feature_stats *stats, mird_dataset *ds,
                                     mird_error *err)
{
    static const int fields[3] = {MIRD_FIELD_TEXT, MIRD_FIELD_AUDIO, MIRD_FIELD_VISION};
    for (int m = 0; m < 3; m++) {
        feature_view v = view_of(ds, m);
        if (!v.x || !stats->mean[m])
            continue;
        float *x = ds->samples.owned[fields[m]][0];
        if (x != v.x || v.width != stats->width[m])
            return mird_fail(err, MIRD_ERR_INTERNAL, "standardising a dataset that does not own "
                             "its arrays or has other widths");
    }
    for (int m = 0; m < 3; m++) {
        feature_view v = view_of(ds, m);
        if (!v.x || !stats->mean[m])
            continue;
        float *x = ds->samples.owned[fields[m]][0];
        for (int64_t i = 0; i < ds->samples.size; i++)
            for (int64_t t = 0; t < v.lengths[i]; t++)
                for (int64_t f = 0; f < v.width; f++) {
                    double sd = stats->std[m][f] >= MIRD_STD_FLOOR ? stats->std[m][f] : 1.0;
                    float *value = &x[(i * v.steps + t) * v.width + f];
                    *value = (float)((*value - stats->mean[m][f]) / sd);
                }
    }
    return MIRD_OK;
}
