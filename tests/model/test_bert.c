/* The BERT stack (layers, pooler, projection), alone and behind its text
 * embedding: forward against a double-precision reference (1 and 2 layers)
 * and against the PyTorch reference port's fixtures (z^L of the language
 * encoder, FEATURES and TOKENS, 1 and 2 layers, a length-0 text), gradients
 * of the input and of every tensor by finite differences with dropout live
 * (masks fixed by the pass id), += into dx, NULL dx, inference without
 * dropout, and argument errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "io/safetensors.h"
#include "model/bert.h"
#include "support/modelutil.h"
#include "support/testutil.h"

enum { BATCH = 4 };
/* Text lengths: full, padded, missing (runs as 1), short. */
static const int32_t text_lengths[BATCH] = {6, 4, 0, 3};
static const int32_t effective_lengths[BATCH] = {6, 4, 1, 3};

typedef struct bert_case {
    mird_config cfg;
    mird_param_table table;
    int with_embedding;
    mird_text_embedding embedding;
    mird_bert bert;
    mird_pass pass;
    mird_arena ws;
    mird_text_embedding_acts embedding_acts;
    mird_bert_acts acts;
    int64_t batch, steps, width, latent, n;
    const int32_t *lengths; /* given to the embedding, or to the stack alone */
    float *x;               /* [B, T, H] the stack's input when alone */
    float *features;        /* FEATURES text */
    int32_t *ids;           /* TOKENS text */
    float *z, *w, *d_embedded;
} bert_case;

static const float *stack_input(const bert_case *c)
{
    return c->with_embedding ? c->embedding_acts.out : c->x;
}

static const int32_t *stack_lengths(const bert_case *c)
{
    return c->with_embedding ? c->embedding_acts.lengths : c->lengths;
}

static void forward(bert_case *c)
{
    if (c->with_embedding)
        TU_OK(c->pass.ctx, mird_text_embedding_forward(&c->embedding, &c->pass, c->features,
                                                       c->ids, c->lengths, &c->embedding_acts));
    TU_OK(c->pass.ctx, mird_bert_forward(&c->bert, &c->pass, stack_input(c), stack_lengths(c),
                                         &c->acts, c->z));
}

static double case_loss(void *user)
{
    bert_case *c = user;
    forward(c);
    return gc_weighted_sum(c->z, c->w, (size_t)(c->batch * c->latent));
}

/* Backward of the loss; with the embedding, dx is its output gradient. */
static void backward(bert_case *c, float *dx)
{
    if (!c->with_embedding) {
        TU_OK(c->pass.ctx, mird_bert_backward(&c->bert, &c->pass, c->x, &c->acts, c->w, dx));
        return;
    }
    memset(c->d_embedded, 0, (size_t)c->n * sizeof(float));
    TU_OK(c->pass.ctx, mird_bert_backward(&c->bert, &c->pass, c->embedding_acts.out, &c->acts,
                                          c->w, c->d_embedded));
    TU_OK(c->pass.ctx, mird_text_embedding_backward(&c->embedding, &c->pass, c->features,
                                                    &c->embedding_acts, c->d_embedded));
}

static void plan(bert_case *c)
{
    if (c->with_embedding)
        mird_text_embedding_plan(&c->embedding, &c->ws, c->batch, &c->embedding_acts);
    mird_bert_plan(&c->bert, &c->ws, c->batch, &c->acts);
}

/* Registers (embedding first, as the model does) and plans for `batch`. */
static void setup_modules(bert_case *c, int with_embedding, int64_t batch, int training)
{
    c->with_embedding = with_embedding;
    c->batch = batch;
    mird_params_init_table(&c->table);
    if (with_embedding)
        mird_text_embedding_register(&c->embedding, &c->table, &c->cfg, MIRD_STACK_LANGUAGE);
    mird_bert_register(&c->bert, &c->table, &c->cfg, MIRD_STACK_LANGUAGE);
    mu_commit_params(&c->table, 9);
    c->steps = c->bert.text_length;
    c->width = c->bert.hidden;
    c->latent = c->bert.latent;
    c->n = batch * c->steps * c->width;
    c->pass = mu_pass(tu_context(), &c->table, &c->cfg, batch, training);
    mird_arena_init_plan(&c->ws);
    plan(c);
    mird_error err = {0};
    ck_assert_int_eq(mird_arena_commit(&c->ws, &err), MIRD_OK);
    plan(c);
    c->z = tu_alloc_zeros((size_t)(batch * c->latent));
    c->w = tu_alloc_uniform((size_t)(batch * c->latent), -1, 1, 31);
    c->d_embedded = tu_alloc_zeros((size_t)c->n);
    c->x = c->features = NULL;
    c->ids = NULL;
}

/* Parameters away from the N(0, 0.02) initialisation, so that every layer
 * matters to z and the LayerNorms see rows of unit scale. */
static void spread_parameters(bert_case *c)
{
    for (int i = 0; i < c->table.count; i++) {
        mird_param_entry *e = &c->table.entries[i];
        float *v = mird_param_value(&c->table, i);
        tu_fill_uniform(v, e->numel, -0.5f, 0.5f, 200 + (uint32_t)i);
        if (strstr(e->name, "LayerNorm.weight"))
            for (size_t k = 0; k < e->numel; k++)
                v[k] += 1.0f;
    }
}

/* The batch of BATCH samples: the stack's input when alone, else a text. */
static void setup(bert_case *c, int with_embedding, int training)
{
    setup_modules(c, with_embedding, BATCH, training);
    spread_parameters(c);
    if (!with_embedding) {
        c->lengths = effective_lengths;
        c->x = tu_alloc_uniform((size_t)c->n, -1, 1, 32);
        return;
    }
    c->lengths = text_lengths;
    int64_t rows = BATCH * c->steps;
    if (c->embedding.tokens) {
        float *draw = tu_alloc_uniform((size_t)rows, 0, 1, 33);
        c->ids = mird_alloc((size_t)rows * sizeof *c->ids);
        for (int64_t r = 0; r < rows; r++)
            c->ids[r] = 1 + (int32_t)(draw[r] * (float)(c->embedding.vocab - 2));
        mird_free(draw);
    } else {
        c->features = tu_alloc_uniform((size_t)(rows * c->embedding.text_dim), -1, 1, 34);
    }
}

static void teardown(bert_case *c)
{
    mird_dnnl_destroy(c->pass.ctx);
    mird_arena_release(&c->ws);
    mird_params_release(&c->table);
    mird_free(c->x), mird_free(c->features), mird_free(c->ids);
    mird_free(c->z), mird_free(c->w), mird_free(c->d_embedded);
}

/* ---- Double-precision reference of the stack (dropout off) ------------ */

static const float *param(const bert_case *c, int index)
{
    return mird_param_value(&c->table, index);
}

static void ref_linear(const double *x, const float *W, const float *b, double *y, int64_t rows,
                       int64_t in, int64_t out)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = b[o];
            for (int64_t i = 0; i < in; i++)
                s += x[r * in + i] * W[o * in + i];
            y[r * out + o] = s;
        }
}

static void ref_layernorm(const double *x, const float *gamma, const float *beta, double *y,
                          int64_t rows, int64_t width)
{
    for (int64_t r = 0; r < rows; r++) {
        double mean = 0, var = 0;
        for (int64_t k = 0; k < width; k++)
            mean += x[r * width + k] / (double)width;
        for (int64_t k = 0; k < width; k++)
            var += (x[r * width + k] - mean) * (x[r * width + k] - mean) / (double)width;
        for (int64_t k = 0; k < width; k++)
            y[r * width + k] = (x[r * width + k] - mean) / sqrt(var + 1e-12) * gamma[k] + beta[k];
    }
}

static void ref_attention(const bert_case *c, const double *q, const double *k, const double *v,
                          const int32_t *lengths, double *context)
{
    int64_t steps = c->steps, width = c->width, heads = c->bert.heads, dim = width / heads;
    double scores[64];
    for (int64_t b = 0; b < c->batch; b++)
        for (int64_t h = 0; h < heads; h++)
            for (int64_t i = 0; i < steps; i++) {
                const double *qi = q + (b * steps + i) * width + h * dim;
                double top = -INFINITY, total = 0;
                for (int64_t j = 0; j < lengths[b]; j++) {
                    const double *kj = k + (b * steps + j) * width + h * dim;
                    double s = 0;
                    for (int64_t d = 0; d < dim; d++)
                        s += qi[d] * kj[d];
                    scores[j] = s / sqrt((double)dim);
                    top = fmax(top, scores[j]);
                }
                for (int64_t j = 0; j < lengths[b]; j++)
                    total += scores[j] = exp(scores[j] - top);
                double *out = context + (b * steps + i) * width + h * dim;
                for (int64_t d = 0; d < dim; d++) {
                    double s = 0;
                    for (int64_t j = 0; j < lengths[b]; j++)
                        s += scores[j] / total * v[(b * steps + j) * width + h * dim + d];
                    out[d] = s;
                }
            }
}

/* z [B, latent] from x [B, T, H]. */
static void ref_stack(const bert_case *c, const float *x_in, const int32_t *lengths, double *z)
{
    int64_t rows = c->batch * c->steps, width = c->width, ffn = c->bert.ffn, n = rows * width;
    double *x = mird_alloc((size_t)n * sizeof *x), *q = mird_alloc((size_t)n * sizeof *q);
    double *k = mird_alloc((size_t)n * sizeof *k), *v = mird_alloc((size_t)n * sizeof *v);
    double *ctx = mird_alloc((size_t)n * sizeof *ctx), *h = mird_alloc((size_t)n * sizeof *h);
    double *wide = mird_alloc((size_t)(rows * ffn) * sizeof *wide);
    for (int64_t i = 0; i < n; i++)
        x[i] = x_in[i];
    for (int layer = 0; layer < c->bert.layers; layer++) {
        const mird_bert_layer *w = &c->bert.layer[layer];
        ref_linear(x, param(c, w->query_weight), param(c, w->query_bias), q, rows, width, width);
        ref_linear(x, param(c, w->key_weight), param(c, w->key_bias), k, rows, width, width);
        ref_linear(x, param(c, w->value_weight), param(c, w->value_bias), v, rows, width, width);
        ref_attention(c, q, k, v, lengths, ctx);
        ref_linear(ctx, param(c, w->attention_dense_weight), param(c, w->attention_dense_bias), q,
                   rows, width, width);
        for (int64_t i = 0; i < n; i++)
            q[i] += x[i];
        ref_layernorm(q, param(c, w->attention_norm_weight), param(c, w->attention_norm_bias), h,
                      rows, width);
        ref_linear(h, param(c, w->intermediate_weight), param(c, w->intermediate_bias), wide,
                   rows, width, ffn);
        for (int64_t i = 0; i < rows * ffn; i++)
            wide[i] = 0.5 * wide[i] * (1 + erf(wide[i] / sqrt(2.0)));
        ref_linear(wide, param(c, w->output_dense_weight), param(c, w->output_dense_bias), q,
                   rows, ffn, width);
        for (int64_t i = 0; i < n; i++)
            q[i] += h[i];
        ref_layernorm(q, param(c, w->output_norm_weight), param(c, w->output_norm_bias), x, rows,
                      width);
    }
    for (int64_t b = 0; b < c->batch; b++)
        memcpy(q + b * width, x + b * c->steps * width, (size_t)width * sizeof *q);
    ref_linear(q, param(c, c->bert.pooler_weight), param(c, c->bert.pooler_bias), k, c->batch,
               width, width);
    for (int64_t i = 0; i < c->batch * width; i++)
        k[i] = tanh(k[i]);
    ref_linear(k, param(c, c->bert.proj_weight), param(c, c->bert.proj_bias), z, c->batch, width,
               c->latent);
    mird_free(x), mird_free(q), mird_free(k), mird_free(v), mird_free(ctx), mird_free(h);
    mird_free(wide);
}

static void check_forward(const char *layers)
{
    bert_case c;
    c.cfg = mu_config("tiny", "layers", layers, "dropout_hidden", "0", "dropout_proj", "0", NULL);
    setup(&c, 0, 1);
    forward(&c);
    double expected[BATCH * 64];
    ck_assert_int_le(c.latent, 64);
    ref_stack(&c, c.x, effective_lengths, expected);
    for (int64_t i = 0; i < BATCH * c.latent; i++)
        ck_assert_msg(fabs(expected[i] - c.z[i]) < 1e-5 * (1 + fabs(expected[i])),
                      "%s layers: z[%lld] %.7g vs %.7g", layers, (long long)i, c.z[i],
                      expected[i]);
    /* Keys past a sample's length do not matter; its padded rows only
     * change padded rows. */
    float *before = tu_copy(c.z, (size_t)(BATCH * c.latent));
    for (int64_t t = effective_lengths[1]; t < c.steps; t++)
        c.x[(1 * c.steps + t) * c.width] += 5.0f;
    forward(&c);
    ck_assert_int_eq(memcmp(before, c.z, (size_t)(BATCH * c.latent) * sizeof(float)), 0);
    mird_free(before);
    teardown(&c);
}

START_TEST(test_forward_one_layer)
{
    check_forward("1");
}
END_TEST

START_TEST(test_forward_two_layers)
{
    check_forward("2");
}
END_TEST

START_TEST(test_registration)
{
    bert_case c;
    c.cfg = mu_config("tiny", "layers", "2", NULL);
    setup_modules(&c, 0, BATCH, 1);
    ck_assert_int_eq(c.table.count, 2 * 16 + 4);
    static const char *const layer_names[16] = {
        "attention.self.query.weight", "attention.self.query.bias",
        "attention.self.key.weight", "attention.self.key.bias",
        "attention.self.value.weight", "attention.self.value.bias",
        "attention.output.dense.weight", "attention.output.dense.bias",
        "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
        "intermediate.dense.weight", "intermediate.dense.bias",
        "output.dense.weight", "output.dense.bias",
        "output.LayerNorm.weight", "output.LayerNorm.bias"};
    char name[MIRD_PARAM_NAME_MAX];
    for (int layer = 0; layer < 2; layer++)
        for (int i = 0; i < 16; i++) {
            const mird_param_entry *e = &c.table.entries[layer * 16 + i];
            snprintf(name, sizeof name, "language.encoder.layer.%d.%s", layer, layer_names[i]);
            ck_assert_str_eq(e->name, name);
            mird_init_kind kind = strstr(name, "LayerNorm.weight") ? MIRD_INIT_ONES
                                  : strstr(name, "bias")           ? MIRD_INIT_ZEROS
                                                                   : MIRD_INIT_NORMAL;
            ck_assert_int_eq(e->init, kind);
            if (kind == MIRD_INIT_NORMAL)
                ck_assert_float_eq_tol(e->init_scale, 0.02f, 1e-7f);
        }
    const mird_param_entry *e = &c.table.entries[32];
    ck_assert_str_eq(e->name, "language.pooler.dense.weight");
    ck_assert_int_eq(e->init, MIRD_INIT_NORMAL);
    ck_assert_str_eq(c.table.entries[33].name, "language.pooler.dense.bias");
    ck_assert_int_eq(c.table.entries[33].init, MIRD_INIT_ZEROS);
    for (int i = 34; i < 36; i++) {
        e = &c.table.entries[i];
        ck_assert_str_eq(e->name, i == 34 ? "language.proj.weight" : "language.proj.bias");
        ck_assert_int_eq(e->init, MIRD_INIT_UNIFORM);
        ck_assert_float_eq_tol(e->init_scale, 0.25f, 1e-7f); /* 1 / sqrt(H = 16) */
    }
    ck_assert_int_eq(c.table.entries[34].dims[0], 8);
    ck_assert_int_eq(c.table.entries[34].dims[1], 16);
    teardown(&c);
}
END_TEST

/* ---- The PyTorch port's fixtures ------------------------------------------ */

static void fixture_path(char *path, size_t size, const char *name)
{
    /* This file sits in tests/model/; the fixtures in tests/reference/fixtures/. */
    const char *file = __FILE__;
    const char *cut = strstr(file, "model/test_bert.c");
    ck_assert_ptr_nonnull(cut);
    snprintf(path, size, "%.*sreference/fixtures/%s.safetensors", (int)(cut - file), file, name);
}

/* z^L of the fixture's training-mode forward (every dropout rate 0), from
 * the fixture's own weights, looked up by this module's tensor names. */
static void check_fixture(const char *name, mird_config cfg, int64_t batch)
{
    char path[4096];
    fixture_path(path, sizeof path, name);
    mird_st_file *file = NULL;
    mird_error err = {0};
    ck_assert_msg(mird_st_open(path, &file, &err) == MIRD_OK, "%s", err.message);
    bert_case c;
    c.cfg = cfg;
    setup_modules(&c, 1, batch, 1);
    int expected_count = 0;
    for (int i = 0; i < mird_st_count(file); i++)
        expected_count += strncmp(mird_st_tensor_at(file, i)->name, "param.language.", 15) == 0;
    ck_assert_int_eq(c.table.count, expected_count);
    char tensor[MIRD_PARAM_NAME_MAX + 8];
    for (int i = 0; i < c.table.count; i++) {
        const mird_param_entry *e = &c.table.entries[i];
        snprintf(tensor, sizeof tensor, "param.%s", e->name);
        ck_assert_msg(mird_st_copy_f32(file, tensor, e->ndim, e->dims,
                                       mird_param_value(&c.table, i), &err) == MIRD_OK,
                      "%s", err.message);
    }
    int64_t text_shape[3] = {batch, c.steps, c.embedding.text_dim};
    int64_t rows = batch * c.steps;
    int32_t lengths[16];
    ck_assert_int_le(batch, 16);
    if (c.embedding.tokens) {
        c.ids = mird_alloc((size_t)rows * sizeof *c.ids);
        ck_assert_msg(mird_st_copy_i32(file, "batch.text", 2, text_shape, c.ids, &err) == MIRD_OK,
                      "%s", err.message);
    } else {
        c.features = mird_alloc((size_t)(rows * c.embedding.text_dim) * sizeof *c.features);
        ck_assert_msg(mird_st_copy_f32(file, "batch.text", 3, text_shape, c.features, &err)
                          == MIRD_OK,
                      "%s", err.message);
    }
    ck_assert_msg(mird_st_copy_i32(file, "batch.text_lengths", 1, &batch, lengths, &err)
                      == MIRD_OK,
                  "%s", err.message);
    int empty = 0;
    for (int64_t b = 0; b < batch; b++)
        empty += lengths[b] == 0;
    ck_assert_int_gt(empty, 0);
    c.lengths = lengths;
    forward(&c);
    int64_t code_shape[2] = {batch, c.latent};
    float *expected = mird_alloc((size_t)(batch * c.latent) * sizeof *expected);
    ck_assert_msg(mird_st_copy_f32(file, "out.code_l", 2, code_shape, expected, &err) == MIRD_OK,
                  "%s", err.message);
    /* The README's comparison rule: relative to the tensor's largest entry. */
    double largest = 0;
    for (int64_t i = 0; i < batch * c.latent; i++)
        largest = fmax(largest, fabs(expected[i]));
    for (int64_t i = 0; i < batch * c.latent; i++)
        ck_assert_msg(fabs(expected[i] - c.z[i]) <= 1e-5 * largest + 1e-7,
                      "%s: z[%lld] %.8g vs torch %.8g", name, (long long)i, c.z[i], expected[i]);
    mird_free(expected);
    mird_st_close(file);
    teardown(&c);
}

START_TEST(test_fixture_features)
{
    check_fixture("tiny_features_transformer_mim_log",
                  mu_config("tiny", "dropout_hidden", "0", "dropout_proj", "0", NULL), 5);
}
END_TEST

START_TEST(test_fixture_tokens)
{
    check_fixture("tiny_tokens_transformer_mim_log",
                  mu_config("tiny", "text_mode", "tokens", "dropout_hidden", "0", "dropout_proj",
                            "0", NULL),
                  5);
}
END_TEST

START_TEST(test_fixture_two_layers)
{
    check_fixture("small_features_transformer_mim_log",
                  mu_config("tiny", "text_length", "12", "max_positions", "12", "text_dim", "18",
                            "hidden", "20", "layers", "2", "heads", "4", "ffn_dim", "36",
                            "latent_dim", "10", "dropout_hidden", "0", "dropout_proj", "0", NULL),
                  6);
}
END_TEST

/* ---- Gradients ------------------------------------------------------------- */

static mird_config live_dropout(const char *mode, const char *layers)
{
    return mu_config("tiny", "text_mode", mode, "layers", layers, "dropout_hidden", "0.2",
                     "dropout_proj", "0.5", NULL);
}

static void assert_some_dropped(const float *mask, int64_t n)
{
    int zeros = 0;
    for (int64_t i = 0; i < n; i++)
        zeros += mask[i] == 0.0f;
    ck_assert_int_gt(zeros, 0);
}

static void check_gradients(const char *mode, const char *layers, int with_embedding)
{
    bert_case c;
    c.cfg = live_dropout(mode, layers);
    setup(&c, with_embedding, 1);
    case_loss(&c);
    for (int i = 0; i < c.bert.layers; i++) {
        assert_some_dropped(c.acts.layer[i].attention_keep,
                            BATCH * c.bert.heads * c.steps * c.steps);
        assert_some_dropped(c.acts.layer[i].attention_mask, c.n);
        assert_some_dropped(c.acts.layer[i].output_mask, c.n);
    }
    assert_some_dropped(c.acts.proj_mask, BATCH * c.width);
    float *dx = tu_alloc_zeros((size_t)c.n);
    backward(&c, dx);
    /* Each difference costs two forwards of ~40 oneDNN calls, slow with two
     * OpenMP threads on a loaded machine: check an even spread of up to 48
     * elements of every tensor (all of the small ones). */
    gc_options sampled = gc_default_options;
    sampled.max_elements = 48;
    if (!with_embedding) {
        gc_check("x", c.x, (size_t)c.n, dx, case_loss, &c, c.bert.layers > 1 ? &sampled : NULL);
        /* Padded rows reach nothing. */
        for (int64_t t = effective_lengths[3]; t < c.steps; t++)
            for (int64_t k = 0; k < c.width; k++)
                ck_assert_float_eq(dx[(3 * c.steps + t) * c.width + k], 0.0f);
    }
    mu_check_param_grads(&c.table, MIRD_GROUP_MODEL, case_loss, &c, &sampled);
    mird_free(dx);
    teardown(&c);
}

START_TEST(test_gradients_one_layer)
{
    check_gradients("features", "1", 0);
}
END_TEST

START_TEST(test_gradients_two_layers)
{
    check_gradients("features", "2", 0);
}
END_TEST

START_TEST(test_gradients_with_features_embedding)
{
    check_gradients("features", "2", 1);
}
END_TEST

START_TEST(test_gradients_with_tokens_embedding)
{
    check_gradients("tokens", "1", 1);
}
END_TEST

/* dx receives +=; a NULL dx changes none of the parameter gradients. */
START_TEST(test_dx_accumulates_and_may_be_null)
{
    bert_case c;
    c.cfg = live_dropout("features", "2");
    setup(&c, 0, 1);
    case_loss(&c);
    float *fresh = tu_alloc_zeros((size_t)c.n);
    backward(&c, fresh);
    float *grads = tu_copy(c.table.grads, c.table.total);
    float *added = tu_alloc_zeros((size_t)c.n);
    for (int64_t i = 0; i < c.n; i++)
        added[i] = 0.5f;
    mird_params_zero_grads(&c.table, MIRD_GROUP_MODEL);
    backward(&c, added);
    for (int64_t i = 0; i < c.n; i++)
        ck_assert_float_eq_tol(added[i] - 0.5f, fresh[i], 1e-6f);
    mird_params_zero_grads(&c.table, MIRD_GROUP_MODEL);
    backward(&c, NULL);
    ck_assert_int_eq(memcmp(grads, c.table.grads, c.table.total * sizeof(float)), 0);
    mird_free(fresh), mird_free(grads), mird_free(added);
    teardown(&c);
}
END_TEST

START_TEST(test_inference_has_no_dropout)
{
    bert_case c;
    c.cfg = live_dropout("tokens", "2");
    setup(&c, 1, 0);
    forward(&c);
    float *first = tu_copy(c.z, (size_t)(BATCH * c.latent));
    c.pass.pass_id++;
    forward(&c);
    ck_assert_int_eq(memcmp(first, c.z, (size_t)(BATCH * c.latent) * sizeof(float)), 0);
    double expected[BATCH * 64];
    ref_stack(&c, c.embedding_acts.out, effective_lengths, expected);
    for (int64_t i = 0; i < BATCH * c.latent; i++)
        ck_assert_msg(fabs(expected[i] - c.z[i]) < 1e-5 * (1 + fabs(expected[i])),
                      "z[%lld] %.7g vs %.7g", (long long)i, c.z[i], expected[i]);
    /* Training mode with the same pass does drop. */
    c.pass.training = 1;
    forward(&c);
    ck_assert_int_ne(memcmp(first, c.z, (size_t)(BATCH * c.latent) * sizeof(float)), 0);
    mird_free(first);
    teardown(&c);
}
END_TEST

START_TEST(test_errors)
{
    bert_case c;
    c.cfg = live_dropout("features", "1");
    setup(&c, 0, 1);
    mird_dnnl *ctx = c.pass.ctx;
    int32_t lengths[BATCH] = {6, 4, 0, 3};
    ck_assert_int_eq(mird_bert_forward(&c.bert, &c.pass, c.x, lengths, &c.acts, c.z),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "lengths[2] = 0"));
    lengths[2] = 7;
    ck_assert_int_eq(mird_bert_forward(&c.bert, &c.pass, c.x, lengths, &c.acts, c.z),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_bert_forward(&c.bert, &c.pass, c.x, effective_lengths, &c.acts, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_bert_backward(&c.bert, &c.pass, c.x, &c.acts, NULL, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    c.pass.batch = BATCH + 1;
    ck_assert_int_eq(mird_bert_forward(&c.bert, &c.pass, c.x, effective_lengths, &c.acts, c.z),
                     MIRD_ERR_SHAPE);
    ck_assert_int_eq(mird_bert_backward(&c.bert, &c.pass, c.x, &c.acts, c.w, NULL),
                     MIRD_ERR_SHAPE);
    /* A smaller batch than planned runs. */
    c.pass.batch = 2;
    TU_OK(ctx, mird_bert_forward(&c.bert, &c.pass, c.x, effective_lengths, &c.acts, c.z));
    teardown(&c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("bert");
    TCase *tc = tcase_create("bert");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_forward_one_layer);
    tcase_add_test(tc, test_forward_two_layers);
    tcase_add_test(tc, test_registration);
    tcase_add_test(tc, test_fixture_features);
    tcase_add_test(tc, test_fixture_tokens);
    tcase_add_test(tc, test_fixture_two_layers);
    tcase_add_test(tc, test_gradients_one_layer);
    tcase_add_test(tc, test_gradients_two_layers);
    tcase_add_test(tc, test_gradients_with_features_embedding);
    tcase_add_test(tc, test_gradients_with_tokens_embedding);
    tcase_add_test(tc, test_dx_accumulates_and_may_be_null);
    tcase_add_test(tc, test_inference_has_no_dropout);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
