/* Row softmax on oneDNN (accurate algorithm), with an optional mask that
 * keeps each row to its first `valid` columns.
 *
 * Masked columns get probability exactly 0, and a row with no valid column
 * is all zeros (not NaN).  The backward needs no mask: it is computed from
 * the forward's output, whose zeros already stop the gradient of masked
 * columns.  Follows the op convention of ops/linear.h. */
#ifndef MIRD_OPS_SOFTMAX_H
#define MIRD_OPS_SOFTMAX_H

#include <stdint.h>

#include "dnnl/context.h"

/* y[rows, cols] = softmax of each row of x; `valid` is NULL (every column
 * counts) or one count per row in 0..cols.  y may be x.
 * Errors: MIRD_ERR_INVALID_ARGUMENT for negative sizes or a count outside
 * 0..cols (nothing is written then). */
mird_status mird_softmax_forward(mird_dnnl *ctx, const float *x, float *y, int64_t rows,
                                 int64_t cols, const int32_t *valid);

/* The same over x[groups, group_rows, cols] where every row of group g keeps
 * its first valid[g] columns: attention's [samples, heads * queries, keys]
 * masked per sample without a count per row. */
mird_status mird_softmax_forward_grouped(mird_dnnl *ctx, const float *x, float *y,
                                         int64_t groups, int64_t group_rows, int64_t cols,
                                         const int32_t *valid);

/* dx += y * (dy - sum over the row of dy * y), y being the forward's output.
 * dx may be NULL (nothing to do). */
mird_status mird_softmax_backward(mird_dnnl *ctx, const float *y, const float *dy, float *dx,
                                  int64_t rows, int64_t cols);

/* The same, but dx is overwritten rather than added to, and dx may be dy:
 * for ops whose own backward runs through a softmax into a transient
 * buffer (attention), where accumulating would cost a pass and a buffer. */
mird_status mird_softmax_backward_into(mird_dnnl *ctx, const float *y, const float *dy,
                                       float *dx, int64_t rows, int64_t cols);

#endif
