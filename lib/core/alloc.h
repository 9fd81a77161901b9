/* Aligned allocation with overflow-checked sizes.
 *
 * Everything numeric is 64-byte aligned: one cache line, and what oneDNN's
 * AVX-512 kernels load best from. */
#ifndef MIRD_CORE_ALLOC_H
#define MIRD_CORE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#define MIRD_ALIGNMENT 64

/* NULL on failure or for zero bytes' worth of nothing useful (bytes == 0
 * still returns a valid, freeable pointer). */
void *mird_alloc(size_t bytes);
/* Like mird_alloc, then zero-filled. */
void *mird_alloc_zeroed(size_t bytes);
void mird_free(void *ptr);

/* *out = a * b; false (and *out untouched) if the product overflows. */
bool mird_size_mul(size_t a, size_t b, size_t *out);
/* *out = a + b; false on overflow. */
bool mird_size_add(size_t a, size_t b, size_t *out);

static inline size_t mird_align_up(size_t n)
{
    return (n + (MIRD_ALIGNMENT - 1)) & ~(size_t)(MIRD_ALIGNMENT - 1);
}

#endif
