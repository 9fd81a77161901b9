#define _XOPEN_SOURCE 700

#include "support/testutil.h"

#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/rng.h"

mird_dnnl *tu_context(void)
{
    mird_dnnl *ctx = NULL;
    mird_error err = {0};
    mird_status st = mird_dnnl_create(&ctx, &err);
    ck_assert_msg(st == MIRD_OK, "mird_dnnl_create: %s", err.message);
    return ctx;
}

void tu_fill_uniform(float *x, size_t n, float low, float high, uint32_t stream)
{
    mird_rng_stream s = mird_rng_make_stream(20261126u, 0xFFF0u, stream);
    mird_rng_uniform_range(&s, 0, n, low, high, x);
}

float *tu_alloc_uniform(size_t n, float low, float high, uint32_t stream)
{
    float *x = mird_alloc(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    tu_fill_uniform(x, n, low, high, stream);
    return x;
}

float *tu_alloc_zeros(size_t n)
{
    float *x = mird_alloc_zeroed(n * sizeof *x);
    ck_assert_ptr_nonnull(x);
    return x;
}

float *tu_copy(const float *x, size_t n)
{
    float *y = mird_alloc(n * sizeof *y);
    ck_assert_ptr_nonnull(y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

void tu_ref_linear(const float *x, const float *W, const float *b, float *y, int64_t rows,
                   int64_t in, int64_t out)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int64_t i = 0; i < in; i++)
                acc += (double)x[r * in + i] * W[o * in + i];
            y[r * out + o] = (float)acc;
        }
}

void tu_assert_close(const char *what, const float *a, const float *b, size_t n, double atol,
                     double rtol)
{
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)a[i] - b[i]);
        ck_assert_msg(diff <= atol + rtol * fabs((double)b[i]) && !isnan(a[i]),
                      "%s[%zu]: got %.9g, expected %.9g (|diff| %.3g)", what, i, a[i], b[i],
                      diff);
    }
}

void tu_assert_same_across_threads(const char *what, const float *a, const float *b, size_t n)
{
    size_t differ = 0;
    double worst = 0.0, scale = 1e-30;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)a[i]));
    for (size_t i = 0; i < n; i++) {
        differ += memcmp(&a[i], &b[i], sizeof(float)) != 0;
        worst = fmax(worst, fabs((double)a[i] - b[i]) / scale);
    }
    if (mird_dnnl_uses_avx512())
        ck_assert_msg(differ == 0, "%s: %zu of %zu values differ between 1 and 2 threads", what,
                      differ, n);
    else
        ck_assert_msg(worst < 1e-5, "%s: 1 and 2 threads differ by %g (relative) in %zu of %zu",
                      what, worst, differ, n);
}

void tu_assert_failure(mird_dnnl *ctx, mird_status got, mird_status want, const char *word)
{
    ck_assert_msg(got == want, "got %s, expected %s", mird_status_string(got),
                  mird_status_string(want));
    ck_assert_msg(strstr(mird_dnnl_error(ctx)->message, word) != NULL,
                  "message \"%s\" does not name %s", mird_dnnl_error(ctx)->message, word);
}

char tu_temp_dir[64];

void tu_make_temp_dir(void)
{
    strcpy(tu_temp_dir, "/tmp/mird_test_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tu_temp_dir));
}

static int remove_entry(const char *path, const struct stat *info, int kind, struct FTW *walk)
{
    (void)info, (void)kind, (void)walk;
    chmod(path, 0700);
    return remove(path);
}

void tu_remove_temp_dir(void)
{
    chmod(tu_temp_dir, 0700);
    nftw(tu_temp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_temp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tu_temp_dir, name);
}

int tu_count_entries(const char *dir)
{
    DIR *handle = opendir(dir);
    ck_assert_ptr_nonnull(handle);
    int count = 0;
    for (struct dirent *entry; (entry = readdir(handle)) != NULL;)
        count += strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0;
    closedir(handle);
    return count;
}

unsigned char *tu_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long length = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)length + 1);
    ck_assert_uint_eq(fread(data, 1, (size_t)length, f), (size_t)length);
    fclose(f);
    *size = (size_t)length;
    return data;
}

void tu_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

mird_config *tu_preset(const char *name)
{
    mird_config *cfg = NULL;
    ck_assert_int_eq(mird_config_create(&cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_preset(cfg, name), MIRD_OK);
    return cfg;
}

int tu_run_suite(Suite *suite)
{
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
