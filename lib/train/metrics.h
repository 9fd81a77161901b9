/* The evaluation metrics of MODEL.md section 7, defined as the MMSA toolkit
 * computes them (numpy and sklearn), in double precision. */
#ifndef MIRD_TRAIN_METRICS_H
#define MIRD_TRAIN_METRICS_H

#include <stdint.h>

#include "core/error.h"

/* All MIRD_METRIC_COUNT metrics of `count` (>= 1) finite predictions against
 * labels.  Fails only on a non-finite value, naming it. */
mird_status mird_metrics_of(const float *predictions, const float *labels, int64_t count,
                            double metrics[MIRD_METRIC_COUNT], mird_error *err);

#endif
