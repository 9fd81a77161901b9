/* mird: the command-line tool.  For now it shows the op layer at work: a
 * linear layer's forward and backward on oneDNN, and what the primitive
 * cache did. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mird/mird.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "dnnl/context.h"
#include "ops/linear.h"

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(mird_dnnl *ctx, mird_status st)
{
    fprintf(stderr, "mird: %s: %s\n", mird_status_string(st),
            ctx ? mird_dnnl_error(ctx)->message : "");
    return EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("libmird %s (op-layer demo)\n", mird_version_string());
    printf("threads: %d\n", mird_get_num_threads());

    mird_dnnl *ctx = NULL;
    mird_error err = {0};
    mird_status st = mird_dnnl_create(&ctx, &err);
    if (st != MIRD_OK) {
        fprintf(stderr, "mird: %s\n", err.message);
        return EXIT_FAILURE;
    }
    const int64_t rows = 144, in = 128, out = 64;
    float *x = mird_alloc(rows * in * sizeof(float)), *W = mird_alloc(out * in * sizeof(float));
    float *b = mird_alloc_zeroed(out * sizeof(float)), *y = mird_alloc(rows * out * sizeof(float));
    float *dW = mird_alloc_zeroed(out * in * sizeof(float));
    float *dx = mird_alloc_zeroed(rows * in * sizeof(float));
    mird_rng_stream s = mird_rng_make_stream(1, 1, 0);
    mird_rng_normal(&s, 0, rows * in, 0.0f, 1.0f, x);
    mird_rng_uniform_range(&s, rows * in, out * in, -0.088f, 0.088f, W);

    double start = seconds_now();
    const int steps = 100;
    double loss = 0.0;
    for (int step = 0; step < steps; step++) {
        if ((st = mird_linear_forward(ctx, x, W, b, y, rows, in, out)) != MIRD_OK)
            return fail(ctx, st);
        /* L = 0.5 * mean(y^2), so dL/dy = y / n. */
        loss = 0.0;
        for (int64_t i = 0; i < rows * out; i++) {
            loss += 0.5 * y[i] * y[i] / (rows * out);
            y[i] /= (float)(rows * out);
        }
        memset(dW, 0, out * in * sizeof(float));
        if ((st = mird_linear_backward(ctx, x, W, y, dx, dW, b, rows, in, out)) != MIRD_OK)
            return fail(ctx, st);
        for (int64_t i = 0; i < out * in; i++)
            W[i] -= 0.5f * dW[i];
    }
    double elapsed = seconds_now() - start;
    mird_dnnl_stats stats = mird_dnnl_get_stats(ctx);
    printf("linear %lldx%lld -> %lld: %d forward+backward+SGD steps in %.3f s\n",
           (long long)rows, (long long)in, (long long)out, steps, elapsed);
    printf("final loss 0.5*mean(y^2) = %.6f\n", loss);
    printf("oneDNN primitives created: %llu, reused: %llu\n",
           (unsigned long long)stats.primitives_created, (unsigned long long)stats.cache_hits);

    mird_free(x), mird_free(W), mird_free(b), mird_free(y), mird_free(dW), mird_free(dx);
    mird_dnnl_destroy(ctx);
    return EXIT_SUCCESS;
}
