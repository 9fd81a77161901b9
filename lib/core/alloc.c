#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

void *mird_alloc(size_t bytes)
{
    size_t rounded = mird_align_up(bytes ? bytes : 1);
    if (rounded < bytes)
        return NULL;
    return aligned_alloc(MIRD_ALIGNMENT, rounded);
}

void *mird_alloc_zeroed(size_t bytes)
{
    void *ptr = mird_alloc(bytes);
    if (ptr)
        memset(ptr, 0, bytes);
    return ptr;
}

void mird_free(void *ptr)
{
    free(ptr);
}

bool mird_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > (size_t)-1 / a)
        return false;
    *out = a * b;
    return true;
}

bool mird_size_add(size_t a, size_t b, size_t *out)
{
    if (b > (size_t)-1 - a)
        return false;
    *out = a + b;
    return true;
}
