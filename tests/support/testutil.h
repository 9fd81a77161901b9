/* Shared helpers for the Check suites: a oneDNN context per test, seeded
 * random inputs, naive reference products, and the suite runner. */
#ifndef MIRD_TESTS_TESTUTIL_H
#define MIRD_TESTS_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "dnnl/context.h"

/* A fresh context; fails the test if it cannot be made. */
mird_dnnl *tu_context(void);

/* Fills with U(low, high) from a fixed test seed and `stream` id. */
void tu_fill_uniform(float *x, size_t n, float low, float high, uint32_t stream);
float *tu_alloc_uniform(size_t n, float low, float high, uint32_t stream);
float *tu_alloc_zeros(size_t n);
float *tu_copy(const float *x, size_t n);

/* Reference y[rows, out] = x W^T + b in double, returned as float. */
void tu_ref_linear(const float *x, const float *W, const float *b, float *y, int64_t rows,
                   int64_t in, int64_t out);

/* Asserts |a - b| <= atol + rtol * |b| elementwise, naming the first miss. */
void tu_assert_close(const char *what, const float *a, const float *b, size_t n, double atol,
                     double rtol);

/* Asserts that a status is MIRD_OK, printing the context's message if not. */
#define TU_OK(ctx, expr)                                                             \
    do {                                                                             \
        mird_status tu_status_ = (expr);                                             \
        ck_assert_msg(tu_status_ == MIRD_OK, "%s -> %s: %s", #expr,                  \
                      mird_status_string(tu_status_), mird_dnnl_error(ctx)->message); \
    } while (0)

/* Results of the same computation on 1 and 2 threads: bit-identical where
 * oneDNN runs its AVX-512 kernels, equal to rounding (within 1e-5 of the
 * largest |a|) where it runs narrower ones, such as on valgrind's emulated
 * CPU (see mird_dnnl_uses_avx512). */
void tu_assert_same_across_threads(const char *what, const float *a, const float *b, size_t n);

/* Asserts that `got` is `want` and that the context's message contains
 * `word` (the argument or value the message must name). */
void tu_assert_failure(mird_dnnl *ctx, mird_status got, mird_status want, const char *word);

/* A fresh directory per test (a checked fixture's setup and teardown: the
 * teardown removes it with everything in it, whatever its modes). */
extern char tu_temp_dir[64];
void tu_make_temp_dir(void);
void tu_remove_temp_dir(void);
/* tu_temp_dir + "/" + name. */
void tu_temp_path(char *buf, size_t size, const char *name);
/* Entries of a directory other than . and .. */
int tu_count_entries(const char *dir);
/* A whole file, malloc'ed (free it); fails the test if unreadable. */
unsigned char *tu_read_file(const char *path, size_t *size);
void tu_write_file(const char *path, const void *data, size_t size);

/* A new configuration holding a preset ("tiny", "mosi", ...); fails the test
 * if it cannot be made.  The caller destroys it. */
mird_config *tu_preset(const char *name);

/* Runs one suite and returns the process exit code. */
int tu_run_suite(Suite *suite);

#endif
