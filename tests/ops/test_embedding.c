/* Embedding: gather and scatter-add against plain loops with repeated ids,
 * bad ids rejected before anything is written, NULL dtable, and the
 * scatter bit-identical on 1 and 2 threads. */
#include <string.h>

#include "core/alloc.h"
#include "core/threads.h"
#include "ops/embedding.h"
#include "support/testutil.h"

static void reference_scatter(const int32_t *ids, const float *dout, float *dtable,
                              int64_t count, int64_t width)
{
    for (int64_t t = 0; t < count; t++)
        for (int64_t c = 0; c < width; c++)
            dtable[ids[t] * width + c] += dout[t * width + c];
}

START_TEST(test_embedding_forward_and_backward)
{
    mird_dnnl *ctx = tu_context();
    const int64_t vocab = 11, width = 37, count = 9;
    const int32_t ids[9] = {3, 0, 10, 3, 7, 3, 0, 5, 10};
    float *table = tu_alloc_uniform(vocab * width, -1, 1, 1);
    float *out = tu_alloc_zeros(count * width);
    TU_OK(ctx, mird_embedding_forward(ctx, ids, table, out, count, vocab, width));
    for (int64_t t = 0; t < count; t++)
        ck_assert_mem_eq(out + t * width, table + ids[t] * width, width * sizeof(float));

    float *dout = tu_alloc_uniform(count * width, -1, 1, 2);
    float *dtable = tu_alloc_uniform(vocab * width, -1, 1, 3);
    float *expected = tu_copy(dtable, vocab * width);
    reference_scatter(ids, dout, expected, count, width);
    TU_OK(ctx, mird_embedding_backward(ctx, ids, dout, dtable, count, vocab, width));
    /* Same additions in the same order: exactly equal. */
    ck_assert_mem_eq(dtable, expected, vocab * width * sizeof(float));
    /* Rows no id points at are untouched, and a NULL dtable is skipped. */
    TU_OK(ctx, mird_embedding_backward(ctx, ids, dout, NULL, count, vocab, width));
    mird_free(table), mird_free(out), mird_free(dout), mird_free(dtable), mird_free(expected);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_embedding_rejects_bad_ids_without_writing)
{
    mird_dnnl *ctx = tu_context();
    const int64_t vocab = 4, width = 3;
    float table[12], out[9], dtable[12], dout[9];
    for (int i = 0; i < 12; i++)
        table[i] = (float)i, dtable[i] = 0.5f;
    for (int i = 0; i < 9; i++)
        out[i] = -1.0f, dout[i] = 1.0f;
    const int32_t too_big[3] = {1, 2, 4}, negative[3] = {0, -1, 2};

    ck_assert_int_eq(mird_embedding_forward(ctx, too_big, table, out, 3, vocab, width),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "ids[2] = 4"));
    ck_assert_int_eq(mird_embedding_backward(ctx, negative, dout, dtable, 3, vocab, width),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "ids[1] = -1"));
    ck_assert_int_eq(mird_embedding_forward(ctx, negative, table, out, 3, vocab, width),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_embedding_backward(ctx, too_big, dout, dtable, 3, vocab, width),
                     MIRD_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(out[i], -1.0f);
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(dtable[i], 0.5f);

    ck_assert_int_eq(mird_embedding_forward(ctx, too_big, table, out, -1, vocab, width),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_embedding_forward(ctx, too_big, table, out, 3, vocab, -3),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_embedding_forward(ctx, NULL, table, out, 3, vocab, width),
                     MIRD_ERR_NULL_ARGUMENT);
    /* An empty vocabulary admits no id at all. */
    const int32_t zero[1] = {0};
    ck_assert_int_eq(mird_embedding_forward(ctx, zero, table, out, 1, 0, width),
                     MIRD_ERR_INVALID_ARGUMENT);
    TU_OK(ctx, mird_embedding_forward(ctx, NULL, NULL, NULL, 0, vocab, width));
    mird_dnnl_destroy(ctx);
}
END_TEST

/* Many repeats of few ids, wide enough that the scatter is split over
 * threads: the same bits on 1 and 2 threads, and equal to the serial loop. */
START_TEST(test_embedding_scatter_same_bits_on_1_and_2_threads)
{
    mird_dnnl *ctx = tu_context();
    const int64_t vocab = 5, width = 200, count = 3000;
    int32_t *ids = mird_alloc(count * sizeof *ids);
    ck_assert_ptr_nonnull(ids);
    for (int64_t t = 0; t < count; t++)
        ids[t] = (int32_t)((t * 7 + t / 3) % vocab);
    float *dout = tu_alloc_uniform(count * width, -1, 1, 4);
    float *expected = tu_alloc_zeros(vocab * width);
    reference_scatter(ids, dout, expected, count, width);
    for (int threads = 1; threads <= 2; threads++) {
        mird_threads_set(threads);
        float *dtable = tu_alloc_zeros(vocab * width);
        TU_OK(ctx, mird_embedding_backward(ctx, ids, dout, dtable, count, vocab, width));
        ck_assert_mem_eq(dtable, expected, vocab * width * sizeof(float));
        mird_free(dtable);
    }
    mird_threads_set(0);
    mird_free(ids), mird_free(dout), mird_free(expected);
    mird_dnnl_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("embedding");
    TCase *tc = tcase_create("embedding");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_embedding_forward_and_backward);
    tcase_add_test(tc, test_embedding_rejects_bad_ids_without_writing);
    tcase_add_test(tc, test_embedding_scatter_same_bits_on_1_and_2_threads);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
