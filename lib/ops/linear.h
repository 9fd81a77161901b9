/* Linear layers: y = x W^T + b, PyTorch's layout (W is [out, in]).
 *
 * The convention every op in lib/ops follows:
 *  - a forward and a backward with explicit buffers, sizes as arguments;
 *  - backward ADDS into every gradient buffer it is given (parameter and input
 *    gradients alike), so a tensor used twice simply receives both
 *    contributions; zeroing is the caller's separate step;
 *  - a NULL gradient pointer means "not needed" and skips that work;
 *  - failures are reported in mird_dnnl_error(ctx) and returned as a status.
 */
#ifndef MIRD_OPS_LINEAR_H
#define MIRD_OPS_LINEAR_H

#include <stdint.h>

#include "dnnl/context.h"

/* y[rows, out] = x[rows, in] W[out, in]^T + b[out]; b may be NULL. */
mird_status mird_linear_forward(mird_dnnl *ctx, const float *x, const float *W,
                                const float *b, float *y, int64_t rows, int64_t in,
                                int64_t out);

/* dx[rows, in] += dy W;  dW[out, in] += dy^T x;  db[out] += sum over rows of dy.
 * Any of dx, dW, db may be NULL. */
mird_status mird_linear_backward(mird_dnnl *ctx, const float *x, const float *W,
                                 const float *dy, float *dx, float *dW, float *db,
                                 int64_t rows, int64_t in, int64_t out);

/* A general strided matmul on oneDNN for the other ops: batched
 * C[b] (+)= A[b] B[b] with each operand given as a 3-d view
 * [batch, rows, cols] with explicit strides, so transposes are free. */
typedef struct mird_matmul_view {
    int64_t dims[3];    /* batch, rows, cols */
    int64_t strides[3]; /* in elements; a batch stride of 0 broadcasts */
} mird_matmul_view;

/* Dense row-major [batch, rows, cols], and its transpose view. */
mird_matmul_view mird_matmul_dense(int64_t batch, int64_t rows, int64_t cols);
mird_matmul_view mird_matmul_transposed(mird_matmul_view v);

/* C = alpha * A B (accumulate = 0) or C += alpha * A B (accumulate = 1). */
mird_status mird_matmul(mird_dnnl *ctx, const float *A, mird_matmul_view a,
                        const float *B, mird_matmul_view b, float *C, mird_matmul_view c,
                        float alpha, int accumulate);

/* The same with two batch dimensions, [batch, group, rows, cols], for
 * operands whose batch is not one stride apart: attention's heads inside
 * [samples, tokens, heads * width] sit `width` apart within a sample and
 * tokens * heads * width apart across samples. */
typedef struct mird_matmul_view4 {
    int64_t dims[4];    /* batch, group, rows, cols */
    int64_t strides[4]; /* in elements; a stride of 0 broadcasts */
} mird_matmul_view4;

mird_matmul_view4 mird_matmul_dense4(int64_t batch, int64_t group, int64_t rows, int64_t cols);
mird_matmul_view4 mird_matmul_transposed4(mird_matmul_view4 v);

mird_status mird_matmul4(mird_dnnl *ctx, const float *A, mird_matmul_view4 a,
                         const float *B, mird_matmul_view4 b, float *C, mird_matmul_view4 c,
                         float alpha, int accumulate);

#endif
