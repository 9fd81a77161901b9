#include "ops/attention.h"

#include <math.h>

#include "core/alloc.h"
#include "ops/linear.h"
#include "ops/softmax.h"

/* Below this many elements a host pass is not worth waking OpenMP's threads. */
#define PARALLEL_MIN_ELEMENTS 32768

/* Q, K, V, C and their gradients seen as [batch, heads, tokens, head_dim]. */
static mird_matmul_view4 head_view(mird_attention_shape s)
{
    int64_t width = s.heads * s.head_dim;
    mird_matmul_view4 v = {{s.batch, s.heads, s.tokens, s.head_dim},
                           {s.tokens * width, s.head_dim, width, 1}};
    return v;
}

/* Scores, probabilities and their gradients: dense [batch, heads, queries, keys]. */
static mird_matmul_view4 probs_view(mird_attention_shape s)
{
    return mird_matmul_dense4(s.batch, s.heads, s.tokens, s.tokens);
}

size_t mird_attention_saved_floats(mird_attention_shape s, int with_dropout)
{
    size_t n;
    if (s.batch < 0 || s.tokens < 0 || s.heads < 0 || s.head_dim < 0)
        return 0;
    if (!mird_size_mul((size_t)s.batch, (size_t)s.heads, &n)
        || !mird_size_mul(n, (size_t)s.tokens, &n) || !mird_size_mul(n, (size_t)s.tokens, &n)
        || !mird_size_mul(n, with_dropout ? 2 : 1, &n))
        return 0;
    return n;
}

static mird_status check_shape(mird_dnnl *ctx, mird_attention_shape s, const char *what)
{
    if (s.batch < 0 || s.tokens < 0 || s.heads < 0 || s.head_dim < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: negative size (batch %lld, tokens %lld, heads %lld, head_dim %lld)",
                         what, (long long)s.batch, (long long)s.tokens, (long long)s.heads,
                         (long long)s.head_dim);
    if (s.batch > 0 && s.heads > 0 && s.tokens > 0 && mird_attention_saved_floats(s, 1) == 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: probabilities of batch %lld, heads %lld, tokens %lld overflow",
                         what, (long long)s.batch, (long long)s.heads, (long long)s.tokens);
    return MIRD_OK;
}

static int is_empty(mird_attention_shape s)
{
    return s.batch == 0 || s.tokens == 0 || s.heads == 0 || s.head_dim == 0;
}

/* out = a * b * scale elementwise; out may be a. */
static void multiply(float *out, const float *a, const float *b, float scale, int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
    for (int64_t i = 0; i < n; i++)
        out[i] = a[i] * b[i] * scale;
}

mird_status mird_attention_forward(mird_dnnl *ctx, mird_attention_shape s, const float *q,
                                   const float *k, const float *v, const int32_t *lengths,
                                   const float *keep, float *context, float *saved)
{
    MIRD_TRY(check_shape(ctx, s, "attention"));
    for (int64_t b = 0; lengths && b < s.batch; b++)
        if (lengths[b] < 0 || lengths[b] > s.tokens)
            return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                             "attention: lengths[%lld] = %d is outside 0..%lld (tokens)",
                             (long long)b, (int)lengths[b], (long long)s.tokens);
    if (is_empty(s))
        return MIRD_OK;
    int64_t prob_count = s.batch * s.heads * s.tokens * s.tokens;
    float *probs = saved;
    mird_matmul_view4 heads = head_view(s), probs_v = probs_view(s);
    float scale = 1.0f / sqrtf((float)s.head_dim);

    MIRD_TRY(mird_matmul4(ctx, q, heads, k, mird_matmul_transposed4(heads), probs, probs_v,
                          scale, 0));
    MIRD_TRY(mird_softmax_forward_grouped(ctx, probs, probs, s.batch, s.heads * s.tokens,
                                          s.tokens, lengths));
    const float *mixing = probs;
    if (keep) {
        float *dropped = saved + prob_count;
        multiply(dropped, probs, keep, 1.0f, prob_count);
        mixing = dropped;
    }
    return mird_matmul4(ctx, mixing, probs_v, v, heads, context, heads, 1.0f, 0);
}

mird_status mird_attention_backward(mird_dnnl *ctx, mird_attention_shape s, const float *q,
                                    const float *k, const float *v, const float *keep,
                                    const float *saved, const float *dcontext, float *dq,
                                    float *dk, float *dv)
{
    MIRD_TRY(check_shape(ctx, s, "attention backward"));
    if (is_empty(s))
        return MIRD_OK;
    int64_t prob_count = s.batch * s.heads * s.tokens * s.tokens;
    const float *probs = saved;
    const float *mixing = keep ? saved + prob_count : probs;
    mird_matmul_view4 heads = head_view(s), probs_v = probs_view(s);
    float scale = 1.0f / sqrtf((float)s.head_dim);

    if (dv)
        MIRD_TRY(mird_matmul4(ctx, mixing, mird_matmul_transposed4(probs_v), dcontext, heads, dv,
                              heads, 1.0f, 1));
    if (!dq && !dk)
        return MIRD_OK;

    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    mird_scratch_mark mark = mird_scratch_get_mark(scratch);
    /* One transient turns from dP' into dP into dS in place.  The softmax
     * backward is linear in its incoming gradient, so the 1 / sqrt(head_dim)
     * of dQ and dK is applied once here (with the dropout multiplier when
     * there is one) rather than by both products. */
    float *dscores = mird_scratch_alloc(scratch, (size_t)prob_count * sizeof *dscores);
    mird_status st = MIRD_OK;
    if (!dscores)
        st = mird_fail(mird_dnnl_error(ctx), MIRD_ERR_OUT_OF_MEMORY,
                       "attention backward: cannot allocate %lld floats", (long long)prob_count);
    if (st == MIRD_OK)
        st = mird_matmul4(ctx, dcontext, heads, v, mird_matmul_transposed4(heads), dscores,
                          probs_v, keep ? 1.0f : scale, 0);
    if (st == MIRD_OK && keep)
        multiply(dscores, dscores, keep, scale, prob_count);
    if (st == MIRD_OK)
        st = mird_softmax_backward_into(ctx, probs, dscores, dscores, s.batch * s.heads * s.tokens,
                                        s.tokens);
    if (st == MIRD_OK && dq)
        st = mird_matmul4(ctx, dscores, probs_v, k, heads, dq, heads, 1.0f, 1);
    if (st == MIRD_OK && dk)
        st = mird_matmul4(ctx, dscores, mird_matmul_transposed4(probs_v), q, heads, dk, heads,
                          1.0f, 1);
    mird_scratch_reset_to(scratch, mark);
    return st;
}
