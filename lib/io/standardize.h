/* Feature standardisation with a training split's statistics (the dataset
 * option standardize=train).  Raw COVAREP audio spans hundreds of units
 * while FACET and GloVe stay near one; recurrent encoders saturate on the
 * former, so real feature sets are usually z-scored per feature.  The
 * statistics come from the training split alone, so validation and test
 * never leak into them, and from valid frames alone, so padding neither
 * counts nor changes (it stays zero). */
#ifndef MIRD_IO_STANDARDIZE_H
#define MIRD_IO_STANDARDIZE_H

#include "io/dataset.h"

/* Per-feature mean and standard deviation of each feature modality. */
typedef struct mird_feature_stats {
    int64_t width[3];     /* text (0 with token text), audio, vision */
    double *mean[3], *std[3];
} mird_feature_stats;

mird_status mird_feature_stats_compute(const mird_dataset *reference, mird_feature_stats *stats,
                                       mird_error *err);
void mird_feature_stats_release(mird_feature_stats *stats);

/* x = (x - mean) / std over ds's valid frames; a feature whose std is below
 * 1e-8 (or that the reference never saw) is only centred.  ds must own its
 * arrays (datasets from the readers do) and have the reference's widths. */
mird_status mird_feature_stats_apply(const mird_feature_stats *stats, mird_dataset *ds,
                                     mird_error *err);

#endif
