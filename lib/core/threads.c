#include "core/threads.h"

#include <omp.h>
#include <stdatomic.h>

/* OpenBLAS's own setter; declared here rather than through its cblas.h so
 * that this file does not depend on which cblas header is installed. */
void openblas_set_num_threads(int num_threads);

static atomic_int requested_threads; /* 0 = OpenMP's default */
static atomic_int default_threads;   /* 0 = not read yet */
static atomic_flag openblas_pinned = ATOMIC_FLAG_INIT;

static int openmp_default_threads(void)
{
    int value = atomic_load(&default_threads);
    if (value == 0) {
        /* Read before any omp_set_num_threads() of ours can change it. */
        value = omp_get_max_threads();
        if (value < 1)
            value = 1;
        atomic_store(&default_threads, value);
    }
    return value;
}

void mird_threads_set(int num_threads)
{
    openmp_default_threads();
    atomic_store(&requested_threads, num_threads > 0 ? num_threads : 0);
    mird_threads_apply();
}

int mird_threads_get(void)
{
    int requested = atomic_load(&requested_threads);
    return requested > 0 ? requested : openmp_default_threads();
}

void mird_threads_apply(void)
{
    if (!atomic_flag_test_and_set(&openblas_pinned))
        openblas_set_num_threads(1);
    omp_set_num_threads(mird_threads_get());
}

void mird_threads_apply_at_most(int limit)
{
    int threads = mird_threads_get();
    mird_threads_apply();
    if (limit >= 1 && threads > limit)
        omp_set_num_threads(limit);
}
