/* A tensor is a view: float data owned by an arena (or a caller) plus its
 * shape.  Row-major, densely packed; ops take the raw pointers and sizes, and
 * the model layer uses tensors to keep the pointer and its shape together. */
#ifndef MIRD_CORE_TENSOR_H
#define MIRD_CORE_TENSOR_H

#include <stdint.h>

#include "core/arena.h"

#define MIRD_TENSOR_MAX_DIMS 4

typedef struct mird_tensor {
    float *data;
    int ndim;
    int64_t dims[MIRD_TENSOR_MAX_DIMS];
} mird_tensor;

static inline int64_t mird_tensor_numel(const mird_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->dims[i];
    return n;
}

/* Shapes a tensor and reserves its storage in the arena (NULL data while the
 * arena is planning).  Unused trailing dims are 0 in `dims`. */
mird_tensor mird_tensor_in_arena(mird_arena *arena, int ndim, const int64_t *dims);

#endif
