#include "core/tensor.h"

mird_tensor mird_tensor_in_arena(mird_arena *arena, int ndim, const int64_t *dims)
{
    mird_tensor t = {0};
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t.dims[i] = dims[i];
    t.data = mird_arena_reserve(arena, (size_t)mird_tensor_numel(&t) * sizeof(float));
    return t;
}
