/* Embedding lookup: rows of a [vocab, width] table gathered by int32 ids.
 *
 * Follows the op convention of ops/linear.h.  Every id is checked before
 * anything is written, so a bad id leaves the outputs untouched.  The
 * backward scatters in position order within each column, parallel over
 * columns only, so repeated ids accumulate identically whatever the thread
 * count. */
#ifndef MIRD_OPS_EMBEDDING_H
#define MIRD_OPS_EMBEDDING_H

#include <stdint.h>

#include "dnnl/context.h"

/* out[t, :] = table[ids[t], :] for t < count.
 * Errors: negative count, vocab or width (MIRD_ERR_INVALID_ARGUMENT); an id
 * outside [0, vocab) (MIRD_ERR_INVALID_ARGUMENT naming position and id). */
mird_status mird_embedding_forward(mird_dnnl *ctx, const int32_t *ids, const float *table,
                                   float *out, int64_t count, int64_t vocab, int64_t width);

/* dtable[ids[t], :] += dout[t, :] for t = 0, 1, ... in order; dtable NULL
 * does nothing.  Same errors as the forward. */
mird_status mird_embedding_backward(mird_dnnl *ctx, const int32_t *ids, const float *dout,
                                    float *dtable, int64_t count, int64_t vocab, int64_t width);

#endif
