/* Attention core: forward against a double-precision loop over samples and
 * heads, masked probabilities, backward against finite differences with
 * padded, single-key and empty samples, with and without dropout,
 * accumulation, NULL gradients, bad lengths, the primitive cache and thread
 * count independence. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/threads.h"
#include "ops/attention.h"
#include "support/gradcheck.h"
#include "support/testutil.h"

/* A full, a padded, a single-key and an empty sample. */
static const mird_attention_shape SMALL = {4, 5, 2, 3};
static const int32_t SMALL_LENGTHS[4] = {5, 3, 1, 0};

static size_t token_floats(mird_attention_shape s)
{
    return (size_t)(s.batch * s.tokens * s.heads * s.head_dim);
}

static size_t prob_floats(mird_attention_shape s)
{
    return (size_t)(s.batch * s.heads * s.tokens * s.tokens);
}

/* Attention dropout's multiplier: 0 or 1 / (1 - p) with p = 0.25. */
static float *make_keep(mird_attention_shape s, uint32_t stream)
{
    size_t n = prob_floats(s);
    float *keep = tu_alloc_uniform(n, 0, 1, stream);
    for (size_t i = 0; i < n; i++)
        keep[i] = keep[i] < 0.25f ? 0.0f : 1.0f / 0.75f;
    return keep;
}

/* Probabilities [b, h, i, j] and context [b, i, h * dh] in double. */
static void ref_attention(mird_attention_shape s, const float *q, const float *k,
                          const float *v, const int32_t *lengths, const float *keep,
                          float *probs, float *context)
{
    int64_t T = s.tokens, dh = s.head_dim, H = s.heads * dh;
    double scores[64];
    ck_assert_int_le(T, 64);
    for (int64_t b = 0; b < s.batch; b++)
        for (int64_t h = 0; h < s.heads; h++)
            for (int64_t i = 0; i < T; i++) {
                int64_t n = lengths[b];
                const float *qi = q + (b * T + i) * H + h * dh;
                double max = -INFINITY, sum = 0.0;
                for (int64_t j = 0; j < n; j++) {
                    const float *kj = k + (b * T + j) * H + h * dh;
                    double dot = 0.0;
                    for (int64_t d = 0; d < dh; d++)
                        dot += (double)qi[d] * kj[d];
                    scores[j] = dot / sqrt((double)dh);
                    max = fmax(max, scores[j]);
                }
                for (int64_t j = 0; j < n; j++)
                    sum += exp(scores[j] - max);
                float *prow = probs + ((b * s.heads + h) * T + i) * T;
                for (int64_t j = 0; j < T; j++)
                    prow[j] = j < n ? (float)(exp(scores[j] - max) / sum) : 0.0f;
                for (int64_t d = 0; d < dh; d++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j < n; j++) {
                        double p = exp(scores[j] - max) / sum;
                        if (keep)
                            p *= keep[((b * s.heads + h) * T + i) * T + j];
                        acc += p * v[(b * T + j) * H + h * dh + d];
                    }
                    context[(b * T + i) * H + h * dh + d] = (float)acc;
                }
            }
}

typedef struct attention_case {
    mird_dnnl *ctx;
    mird_attention_shape shape;
    const int32_t *lengths;
    float *q, *k, *v, *keep, *context, *saved, *w;
    float *dq, *dk, *dv; /* zeroed, filled by forward_backward() */
} attention_case;

static attention_case make_case(mird_attention_shape s, const int32_t *lengths, int dropout)
{
    size_t n = token_floats(s);
    attention_case c = {.ctx = tu_context(), .shape = s, .lengths = lengths};
    c.q = tu_alloc_uniform(n, -1, 1, 11);
    c.k = tu_alloc_uniform(n, -1, 1, 12);
    c.v = tu_alloc_uniform(n, -1, 1, 13);
    c.w = tu_alloc_uniform(n, -1, 1, 14);
    c.keep = dropout ? make_keep(s, 15) : NULL;
    c.context = tu_alloc_zeros(n);
    c.saved = tu_alloc_zeros(mird_attention_saved_floats(s, dropout));
    c.dq = tu_alloc_zeros(n);
    c.dk = tu_alloc_zeros(n);
    c.dv = tu_alloc_zeros(n);
    return c;
}

static void free_case(attention_case *c)
{
    mird_free(c->q), mird_free(c->k), mird_free(c->v), mird_free(c->w);
    mird_free(c->keep), mird_free(c->context), mird_free(c->saved);
    mird_free(c->dq), mird_free(c->dk), mird_free(c->dv);
    mird_dnnl_destroy(c->ctx);
}

static void run_forward(attention_case *c)
{
    TU_OK(c->ctx, mird_attention_forward(c->ctx, c->shape, c->q, c->k, c->v, c->lengths,
                                         c->keep, c->context, c->saved));
}

static void run_backward(attention_case *c, float *dq, float *dk, float *dv)
{
    TU_OK(c->ctx, mird_attention_backward(c->ctx, c->shape, c->q, c->k, c->v, c->keep,
                                          c->saved, c->w, dq, dk, dv));
}

/* The loss sum(w * context) and its gradients, dcontext = w. */
static void forward_backward(attention_case *c)
{
    run_forward(c);
    run_backward(c, c->dq, c->dk, c->dv);
}

static double attention_loss(void *user)
{
    attention_case *c = user;
    run_forward(c);
    return gc_weighted_sum(c->context, c->w, token_floats(c->shape));
}

static void check_forward(int dropout)
{
    attention_case c = make_case(SMALL, SMALL_LENGTHS, dropout);
    size_t n = token_floats(SMALL), np = prob_floats(SMALL);
    float *probs = tu_alloc_zeros(np), *context = tu_alloc_zeros(n);
    ref_attention(SMALL, c.q, c.k, c.v, c.lengths, c.keep, probs, context);
    run_forward(&c);
    tu_assert_close("context", c.context, context, n, 1e-6, 1e-5);
    tu_assert_close("probabilities", c.saved, probs, np, 1e-7, 1e-5);
    if (!dropout) {
        /* No lengths is every key valid. */
        const int32_t full[4] = {5, 5, 5, 5};
        ref_attention(SMALL, c.q, c.k, c.v, full, NULL, probs, context);
        TU_OK(c.ctx, mird_attention_forward(c.ctx, SMALL, c.q, c.k, c.v, NULL, NULL, c.context,
                                            c.saved));
        tu_assert_close("unmasked context", c.context, context, n, 1e-6, 1e-5);
        ref_attention(SMALL, c.q, c.k, c.v, c.lengths, NULL, probs, context);
        run_forward(&c);
    }
    if (dropout)
        for (size_t i = 0; i < np; i++)
            ck_assert_float_eq(c.saved[np + i], c.saved[i] * c.keep[i]);

    /* Valid keys sum to 1, masked keys are exactly 0, an empty sample is 0. */
    int64_t T = SMALL.tokens;
    for (int64_t row = 0; row < SMALL.batch * SMALL.heads * T; row++) {
        int64_t length = c.lengths[row / (SMALL.heads * T)];
        double sum = 0.0;
        for (int64_t j = 0; j < T; j++) {
            float p = c.saved[row * T + j];
            if (j >= length)
                ck_assert_msg(p == 0.0f, "P[row %lld][key %lld] = %g is masked", (long long)row,
                              (long long)j, p);
            sum += p;
        }
        ck_assert_msg(fabs(sum - (length > 0 ? 1.0 : 0.0)) < 1e-6, "row %lld sums to %.9g",
                      (long long)row, sum);
    }
    int64_t H = SMALL.heads * SMALL.head_dim;
    for (int64_t i = 0; i < T * H; i++)
        ck_assert_float_eq(c.context[3 * T * H + i], 0.0f);
    mird_free(probs), mird_free(context);
    free_case(&c);
}

START_TEST(test_forward_matches_reference)
{
    check_forward(0);
    check_forward(1);
}
END_TEST

static void check_gradients(int dropout)
{
    attention_case c = make_case(SMALL, SMALL_LENGTHS, dropout);
    size_t n = token_floats(SMALL);
    forward_backward(&c);
    gc_check("attention q", c.q, n, c.dq, attention_loss, &c, NULL);
    gc_check("attention k", c.k, n, c.dk, attention_loss, &c, NULL);
    gc_check("attention v", c.v, n, c.dv, attention_loss, &c, NULL);

    /* Masked keys and values get exactly nothing, nor does any query of
     * the empty sample; padded queries of the others do get gradients. */
    int64_t H = SMALL.heads * SMALL.head_dim;
    for (int64_t b = 0; b < SMALL.batch; b++)
        for (int64_t t = 0; t < SMALL.tokens; t++)
            for (int64_t d = 0; d < H; d++) {
                size_t i = (size_t)((b * SMALL.tokens + t) * H + d);
                if (t >= SMALL_LENGTHS[b]) {
                    ck_assert_msg(c.dk[i] == 0.0f && c.dv[i] == 0.0f,
                                  "masked key %lld of sample %lld has a gradient",
                                  (long long)t, (long long)b);
                }
                if (SMALL_LENGTHS[b] == 0)
                    ck_assert_float_eq(c.dq[i], 0.0f);
            }
    ck_assert_float_ne(c.dq[(1 * SMALL.tokens + 4) * H], 0.0f);
    free_case(&c);
}

START_TEST(test_gradients_without_dropout)
{
    check_gradients(0);
}
END_TEST

START_TEST(test_gradients_with_dropout)
{
    check_gradients(1);
}
END_TEST

START_TEST(test_backward_accumulates_and_skips_null)
{
    attention_case c = make_case(SMALL, SMALL_LENGTHS, 1);
    size_t n = token_floats(SMALL);
    forward_backward(&c);

    /* Into non-zero buffers: prior + gradient. */
    float *prior = tu_alloc_uniform(n, -1, 1, 21);
    float *expected = tu_alloc_zeros(n);
    float *grads[3] = {c.dq, c.dk, c.dv};
    const char *names[3] = {"dq", "dk", "dv"};
    for (int which = 0; which < 3; which++) {
        float *acc[3] = {NULL, NULL, NULL};
        acc[which] = tu_copy(prior, n);
        /* One gradient at a time, the others NULL. */
        run_backward(&c, acc[0], acc[1], acc[2]);
        for (size_t i = 0; i < n; i++)
            expected[i] = prior[i] + grads[which][i];
        tu_assert_close(names[which], acc[which], expected, n, 1e-6, 1e-6);
        mird_free(acc[which]);
    }
    run_backward(&c, NULL, NULL, NULL);
    mird_free(prior), mird_free(expected);
    free_case(&c);
}
END_TEST

START_TEST(test_bad_lengths_rejected)
{
    attention_case c = make_case(SMALL, SMALL_LENGTHS, 0);
    size_t n = token_floats(SMALL);
    for (size_t i = 0; i < n; i++)
        c.context[i] = 42.0f;
    const int32_t too_long[4] = {5, 6, 1, 0}, negative[4] = {5, 3, -1, 0};
    ck_assert_int_eq(mird_attention_forward(c.ctx, SMALL, c.q, c.k, c.v, too_long, NULL,
                                            c.context, c.saved),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(mird_dnnl_error(c.ctx)->message, "lengths[1] = 6") != NULL,
                  "message: %s", mird_dnnl_error(c.ctx)->message);
    ck_assert_int_eq(mird_attention_forward(c.ctx, SMALL, c.q, c.k, c.v, negative, NULL,
                                            c.context, c.saved),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_msg(strstr(mird_dnnl_error(c.ctx)->message, "lengths[2] = -1") != NULL,
                  "message: %s", mird_dnnl_error(c.ctx)->message);
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq(c.context[i], 42.0f);

    mird_attention_shape negative_heads = {4, 5, -2, 3};
    ck_assert_int_eq(mird_attention_forward(c.ctx, negative_heads, c.q, c.k, c.v, NULL, NULL,
                                            c.context, c.saved),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_attention_backward(c.ctx, negative_heads, c.q, c.k, c.v, NULL,
                                             c.saved, c.w, NULL, NULL, NULL),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(mird_attention_saved_floats(negative_heads, 0), 0);
    /* An empty batch does nothing. */
    mird_attention_shape empty = {0, 5, 2, 3};
    TU_OK(c.ctx, mird_attention_forward(c.ctx, empty, NULL, NULL, NULL, NULL, NULL, NULL, NULL));
    free_case(&c);
}
END_TEST

START_TEST(test_primitives_created_once)
{
    attention_case c = make_case(SMALL, SMALL_LENGTHS, 1);
    forward_backward(&c);
    uint64_t created = mird_dnnl_get_stats(c.ctx).primitives_created;
    forward_backward(&c);
    ck_assert_uint_eq(mird_dnnl_get_stats(c.ctx).primitives_created, created);
    free_case(&c);
}
END_TEST

/* Forward and backward at a model-like size under 1 and 2 threads. */
static void run_with_threads(attention_case *c, int threads, float *out)
{
    size_t n = token_floats(c->shape);
    mird_threads_set(threads);
    memset(out, 0, 4 * n * sizeof *out);
    run_forward(c);
    memcpy(out, c->context, n * sizeof *out);
    run_backward(c, out + n, out + 2 * n, out + 3 * n);
    mird_threads_set(0);
}

START_TEST(test_same_bits_on_one_and_two_threads)
{
    const mird_attention_shape shape = {6, 50, 4, 32};
    const int32_t lengths[6] = {50, 17, 1, 0, 49, 33};
    attention_case c = make_case(shape, lengths, 1);
    size_t n = token_floats(shape);
    float *one = tu_alloc_zeros(4 * n), *two = tu_alloc_zeros(4 * n);
    run_with_threads(&c, 1, one);
    run_with_threads(&c, 2, two);
    ck_assert_msg(memcmp(one, two, 4 * n * sizeof *one) == 0,
                  "attention differs between 1 and 2 threads");
    mird_free(one), mird_free(two);
    free_case(&c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("attention");
    TCase *tc = tcase_create("attention");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_forward_matches_reference);
    tcase_add_test(tc, test_gradients_without_dropout);
    tcase_add_test(tc, test_gradients_with_dropout);
    tcase_add_test(tc, test_backward_accumulates_and_skips_null);
    tcase_add_test(tc, test_bad_lengths_rejected);
    tcase_add_test(tc, test_primitives_created_once);
    tcase_add_test(tc, test_same_bits_on_one_and_two_threads);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
