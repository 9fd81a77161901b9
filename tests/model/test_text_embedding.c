/* The text embedding module in both text modes: forward against a
 * double-precision reference (padded samples and a length-0 text, which runs
 * as zeros / id 0 with length 1), registration (names, shapes,
 * initialisation), gradients of every tensor by finite differences with
 * dropout live, inference without dropout, and argument errors. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "model/text_embedding.h"
#include "support/modelutil.h"
#include "support/testutil.h"

enum { BATCH = 4 };
/* Sample 1 padded, sample 2 a missing text, sample 3 short. */
static const int32_t text_lengths[BATCH] = {6, 4, 0, 3};

typedef struct embedding_case {
    mird_text_embedding m;
    mird_param_table table;
    mird_config cfg;
    mird_pass pass;
    mird_arena ws;
    mird_text_embedding_acts acts;
    float *features, *w;
    int32_t *ids;
    int64_t steps, dim, width, vocab, n;
} embedding_case;

static double embedding_loss(void *user)
{
    embedding_case *c = user;
    TU_OK(c->pass.ctx, mird_text_embedding_forward(&c->m, &c->pass, c->features, c->ids,
                                                   text_lengths, &c->acts));
    return gc_weighted_sum(c->acts.out, c->w, (size_t)c->n);
}

/* Text as a batch carries it: valid positions N-ish data, padding and the
 * whole length-0 text garbage that must not matter (FEATURES) or non-zero
 * ids (TOKENS). */
static void fill_text(embedding_case *c)
{
    int64_t rows = BATCH * c->steps;
    c->features = tu_alloc_uniform((size_t)(rows * c->dim), -1, 1, 21);
    c->ids = mird_alloc((size_t)rows * sizeof *c->ids);
    float *draw = tu_alloc_uniform((size_t)rows, 0, 1, 22);
    for (int64_t r = 0; r < rows; r++)
        c->ids[r] = 1 + (int32_t)(draw[r] * (float)(c->vocab - 1)) % (int32_t)(c->vocab - 1);
    mird_free(draw);
    for (int64_t b = 0; b < BATCH; b++)
        for (int64_t t = text_lengths[b]; t < c->steps; t++)
            for (int64_t d = 0; d < c->dim; d++)
                c->features[(b * c->steps + t) * c->dim + d] = (d % 2 ? 3.0f : -4.0f);
}

static void setup(embedding_case *c, const char *mode, const char *dropout, int training)
{
    c->cfg = mu_config("tiny", "text_mode", mode, "dropout_hidden", dropout, NULL);
    mird_params_init_table(&c->table);
    mird_text_embedding_register(&c->m, &c->table, &c->cfg, MIRD_STACK_LANGUAGE);
    mu_commit_params(&c->table, 5);
    c->steps = c->m.text_length;
    c->dim = c->m.text_dim;
    c->width = c->m.hidden;
    c->vocab = c->m.vocab;
    c->n = BATCH * c->steps * c->width;
    c->pass = mu_pass(tu_context(), &c->table, &c->cfg, BATCH, training);
    mird_arena_init_plan(&c->ws);
    mird_text_embedding_plan(&c->m, &c->ws, BATCH, &c->acts);
    mird_error err = {0};
    ck_assert_int_eq(mird_arena_commit(&c->ws, &err), MIRD_OK);
    mird_text_embedding_plan(&c->m, &c->ws, BATCH, &c->acts);
    fill_text(c);
    if (!c->m.tokens) {
        mird_free(c->ids);
        c->ids = NULL;
    }
    c->w = tu_alloc_uniform((size_t)c->n, -1, 1, 23);
}

static void teardown(embedding_case *c)
{
    mird_dnnl_destroy(c->pass.ctx);
    mird_arena_release(&c->ws);
    mird_params_release(&c->table);
    mird_free(c->features), mird_free(c->ids), mird_free(c->w);
}

static const float *value(const embedding_case *c, int index)
{
    return mird_param_value(&c->table, index);
}

/* out of the forward with dropout off, in double. */
static void reference_forward(const embedding_case *c, double *out)
{
    int64_t width = c->width;
    double *pre = mird_alloc((size_t)width * sizeof *pre);
    for (int64_t b = 0; b < BATCH; b++)
        for (int64_t t = 0; t < c->steps; t++) {
            for (int64_t k = 0; k < width; k++) {
                double x = value(c, c->m.position)[t * width + k];
                if (c->m.tokens) {
                    int32_t id = text_lengths[b] == 0 ? 0 : c->ids[b * c->steps + t];
                    x += value(c, c->m.word)[id * width + k];
                    x += value(c, c->m.token_type)[k];
                } else {
                    x += value(c, c->m.feature_bias)[k];
                    for (int64_t d = 0; text_lengths[b] > 0 && d < c->dim; d++)
                        x += (double)value(c, c->m.feature_weight)[k * c->dim + d]
                             * c->features[(b * c->steps + t) * c->dim + d];
                }
                pre[k] = x;
            }
            double mean = 0, var = 0;
            for (int64_t k = 0; k < width; k++)
                mean += pre[k] / (double)width;
            for (int64_t k = 0; k < width; k++)
                var += (pre[k] - mean) * (pre[k] - mean) / (double)width;
            for (int64_t k = 0; k < width; k++)
                out[(b * c->steps + t) * width + k] =
                    (pre[k] - mean) / sqrt(var + 1e-12) * value(c, c->m.norm_weight)[k]
                    + value(c, c->m.norm_bias)[k];
        }
    mird_free(pre);
}

/* Parameters away from the N(0, 0.02) initialisation, so that the LayerNorm
 * sees rows of unit scale and central differences stay accurate. */
static void spread_parameters(embedding_case *c)
{
    for (int i = 0; i < c->table.count; i++)
        tu_fill_uniform(mird_param_value(&c->table, i), c->table.entries[i].numel, -0.6f, 0.6f,
                        100 + (uint32_t)i);
    float *gamma = mird_param_value(&c->table, c->m.norm_weight);
    for (int64_t k = 0; k < c->width; k++)
        gamma[k] += 1.0f;
}

static void check_forward(const char *mode)
{
    embedding_case c;
    setup(&c, mode, "0", 1);
    spread_parameters(&c);
    TU_OK(c.pass.ctx, mird_text_embedding_forward(&c.m, &c.pass, c.features, c.ids, text_lengths,
                                                  &c.acts));
    double *expected = mird_alloc((size_t)c.n * sizeof *expected);
    reference_forward(&c, expected);
    for (int64_t i = 0; i < c.n; i++)
        ck_assert_msg(fabs(expected[i] - c.acts.out[i]) < 1e-4 * (1 + fabs(expected[i])),
                      "%s out[%lld] %g vs %g", mode, (long long)i, c.acts.out[i], expected[i]);
    for (int b = 0; b < BATCH; b++)
        ck_assert_int_eq(c.acts.lengths[b], text_lengths[b] > 0 ? text_lengths[b] : 1);
    mird_free(expected);
    teardown(&c);
}

START_TEST(test_forward_features)
{
    check_forward("features");
}
END_TEST

START_TEST(test_forward_tokens)
{
    check_forward("tokens");
}
END_TEST

static void assert_entry(const embedding_case *c, int index, const char *name,
                         mird_init_kind init, float scale, int64_t rows, int64_t cols)
{
    ck_assert_int_ge(index, 0);
    const mird_param_entry *e = &c->table.entries[index];
    ck_assert_str_eq(e->name, name);
    ck_assert_int_eq(e->init, init);
    ck_assert_float_eq_tol(e->init_scale, scale, 1e-7f);
    ck_assert_int_eq(e->ndim, cols ? 2 : 1);
    ck_assert_int_eq(e->dims[0], rows);
    if (cols)
        ck_assert_int_eq(e->dims[1], cols);
}

START_TEST(test_registration)
{
    embedding_case c;
    setup(&c, "features", "0", 1);
    ck_assert_int_eq(c.table.count, 5);
    assert_entry(&c, 0, "language.embeddings.feature_proj.weight", MIRD_INIT_NORMAL, 0.02f, 16,
                 16);
    assert_entry(&c, 1, "language.embeddings.feature_proj.bias", MIRD_INIT_ZEROS, 0, 16, 0);
    assert_entry(&c, 2, "language.embeddings.position_embeddings.weight", MIRD_INIT_NORMAL, 0.02f,
                 6, 16);
    assert_entry(&c, 3, "language.embeddings.LayerNorm.weight", MIRD_INIT_ONES, 0, 16, 0);
    assert_entry(&c, 4, "language.embeddings.LayerNorm.bias", MIRD_INIT_ZEROS, 0, 16, 0);
    teardown(&c);

    mird_config cfg = mu_config("tiny", "text_mode", "tokens", "max_positions", "9", NULL);
    mird_params_init_table(&c.table);
    mird_text_embedding_register(&c.m, &c.table, &cfg, MIRD_STACK_AGNOSTIC);
    ck_assert_int_eq(c.table.count, 5);
    assert_entry(&c, 0, "agnostic.embeddings.word_embeddings.weight", MIRD_INIT_NORMAL, 0.02f, 40,
                 16);
    assert_entry(&c, 1, "agnostic.embeddings.position_embeddings.weight", MIRD_INIT_NORMAL, 0.02f,
                 9, 16);
    assert_entry(&c, 2, "agnostic.embeddings.token_type_embeddings.weight", MIRD_INIT_NORMAL,
                 0.02f, 2, 16);
    assert_entry(&c, 3, "agnostic.embeddings.LayerNorm.weight", MIRD_INIT_ONES, 0, 16, 0);
    assert_entry(&c, 4, "agnostic.embeddings.LayerNorm.bias", MIRD_INIT_ZEROS, 0, 16, 0);
    mird_params_release(&c.table);
}
END_TEST

static void check_gradients(const char *mode)
{
    embedding_case c;
    setup(&c, mode, "0.3", 1);
    spread_parameters(&c);
    embedding_loss(&c);
    int zeros = 0;
    for (int64_t i = 0; i < c.n; i++)
        zeros += c.acts.mask[i] == 0.0f;
    ck_assert_int_gt(zeros, 0);
    TU_OK(c.pass.ctx, mird_text_embedding_backward(&c.m, &c.pass, c.features, &c.acts, c.w));
    mu_check_param_grads(&c.table, MIRD_GROUP_MODEL, embedding_loss, &c, NULL);
    if (c.m.tokens) {
        /* Row 1 of the token types is never used; id 0 only by the empty text. */
        const float *d_type = mird_param_grad(&c.table, c.m.token_type);
        for (int64_t k = 0; k < c.width; k++)
            ck_assert_float_eq(d_type[c.width + k], 0.0f);
        const float *d_word = mird_param_grad(&c.table, c.m.word);
        float row0 = 0;
        for (int64_t k = 0; k < c.width; k++)
            row0 += fabsf(d_word[k]);
        ck_assert_float_gt(row0, 0.0f);
    }
    teardown(&c);
}

START_TEST(test_gradients_features)
{
    check_gradients("features");
}
END_TEST

START_TEST(test_gradients_tokens)
{
    check_gradients("tokens");
}
END_TEST

/* Backward adds into the table: a second call doubles every gradient. */
START_TEST(test_backward_accumulates)
{
    embedding_case c;
    setup(&c, "features", "0.3", 1);
    embedding_loss(&c);
    TU_OK(c.pass.ctx, mird_text_embedding_backward(&c.m, &c.pass, c.features, &c.acts, c.w));
    float *once = tu_copy(c.table.grads, c.table.total);
    TU_OK(c.pass.ctx, mird_text_embedding_backward(&c.m, &c.pass, c.features, &c.acts, c.w));
    /* Not bit-exact: the second call adds partial results onto non-zero
     * buffers, which rounds differently from doubling. */
    for (size_t i = 0; i < c.table.total; i++)
        ck_assert_float_eq_tol(c.table.grads[i], 2 * once[i], 1e-5f * (1 + fabsf(once[i])));
    mird_free(once);
    teardown(&c);
}
END_TEST

START_TEST(test_inference_has_no_dropout)
{
    embedding_case c;
    setup(&c, "tokens", "0.5", 0);
    TU_OK(c.pass.ctx, mird_text_embedding_forward(&c.m, &c.pass, c.features, c.ids, text_lengths,
                                                  &c.acts));
    float *first = tu_copy(c.acts.out, (size_t)c.n);
    double *expected = mird_alloc((size_t)c.n * sizeof *expected);
    reference_forward(&c, expected);
    for (int64_t i = 0; i < c.n; i++)
        ck_assert_msg(fabs(expected[i] - first[i]) < 1e-4 * (1 + fabs(expected[i])),
                      "out[%lld] %g vs %g", (long long)i, first[i], expected[i]);
    c.pass.pass_id++;
    TU_OK(c.pass.ctx, mird_text_embedding_forward(&c.m, &c.pass, c.features, c.ids, text_lengths,
                                                  &c.acts));
    ck_assert_int_eq(memcmp(first, c.acts.out, (size_t)c.n * sizeof *first), 0);
    mird_free(first), mird_free(expected);
    teardown(&c);
}
END_TEST

START_TEST(test_errors)
{
    embedding_case c;
    setup(&c, "tokens", "0.1", 1);
    mird_dnnl *ctx = c.pass.ctx;
    int32_t bad_lengths[BATCH] = {6, 7, 0, 3};
    ck_assert_int_eq(mird_text_embedding_forward(&c.m, &c.pass, NULL, c.ids, bad_lengths, &c.acts),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "lengths[1] = 7"));
    bad_lengths[1] = -1;
    ck_assert_int_eq(mird_text_embedding_forward(&c.m, &c.pass, NULL, c.ids, bad_lengths, &c.acts),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_text_embedding_forward(&c.m, &c.pass, c.features, NULL, text_lengths,
                                                 &c.acts),
                     MIRD_ERR_NULL_ARGUMENT);
    c.ids[5] = 40;
    ck_assert_int_eq(mird_text_embedding_forward(&c.m, &c.pass, NULL, c.ids, text_lengths,
                                                 &c.acts),
                     MIRD_ERR_INVALID_ARGUMENT);
    /* An out-of-range id in a length-0 text is never looked up. */
    c.ids[5] = 1;
    c.ids[2 * c.steps + 1] = -3;
    TU_OK(ctx, mird_text_embedding_forward(&c.m, &c.pass, NULL, c.ids, text_lengths, &c.acts));
    c.pass.batch = BATCH + 1;
    ck_assert_int_eq(mird_text_embedding_forward(&c.m, &c.pass, NULL, c.ids, text_lengths,
                                                 &c.acts),
                     MIRD_ERR_SHAPE);
    teardown(&c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("text_embedding");
    TCase *tc = tcase_create("text_embedding");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_forward_features);
    tcase_add_test(tc, test_forward_tokens);
    tcase_add_test(tc, test_registration);
    tcase_add_test(tc, test_gradients_features);
    tcase_add_test(tc, test_gradients_tokens);
    tcase_add_test(tc, test_backward_accumulates);
    tcase_add_test(tc, test_inference_has_no_dropout);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
