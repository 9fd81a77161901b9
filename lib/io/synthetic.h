/* Seeded synthetic data with planted factors: the generator behind
 * mird_dataset_synthetic.  The generative model is written out at the top of
 * synthetic.c; its constants are here so that tests can hold the data to
 * them. */
#ifndef MIRD_IO_SYNTHETIC_H
#define MIRD_IO_SYNTHETIC_H

#include <stdint.h>

#include <mird/mird.h>

#include "core/error.h"
#include "io/dataset.h"

/* label = clip(LABEL_SHARED * s + LABEL_PRIVATE * mean(p_L, p_A, p_V), -3, 3) */
#define MIRD_SYNTHETIC_LABEL_SHARED 1.5f
#define MIRD_SYNTHETIC_LABEL_PRIVATE 0.5f
/* Standard deviation of the per-value noise. */
#define MIRD_SYNTHETIC_NOISE 0.5f
/* Depth of the patterns' slow modulation in time (0: constant in time). */
#define MIRD_SYNTHETIC_MODULATION 0.5f

/* N = size samples of split `split` from `seed`, in `shape` (feature text
 * only), with planted factors; options->labels_none leaves them unlabeled. */
mird_status mird_synthetic_generate(const mird_batch_shape *shape, mird_split split, int64_t size,
                                    uint64_t seed, const mird_dataset_options *options,
                                    mird_dataset **out, mird_error *err);

#endif
