#include "model/text_embedding.h"

#include <stdio.h>
#include <string.h>

#include "ops/dropout.h"
#include "ops/embedding.h"
#include "ops/layernorm.h"
#include "ops/linear.h"

enum { PARALLEL_MIN_ELEMENTS = 1 << 15 };

const char *mird_text_stack_prefix(mird_text_stack stack)
{
    return stack == MIRD_STACK_AGNOSTIC ? "agnostic" : "language";
}

int mird_bert_add_linear(mird_param_table *t, const char *prefix, int64_t in, int64_t out,
                         int *bias_index)
{
    int64_t wdims[2] = {out, in}, bdims[1] = {out};
    int w = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_NORMAL, MIRD_BERT_INIT_STD, 2, wdims,
                            "%s.weight", prefix);
    *bias_index = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_ZEROS, 0.0f, 1, bdims,
                                  "%s.bias", prefix);
    return w;
}

int mird_bert_add_layernorm(mird_param_table *t, const char *prefix, int64_t width,
                            int *bias_index)
{
    int64_t dims[1] = {width};
    int w = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_ONES, 0.0f, 1, dims, "%s.weight",
                            prefix);
    *bias_index = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_ZEROS, 0.0f, 1, dims,
                                  "%s.bias", prefix);
    return w;
}

static int add_table(mird_param_table *t, const char *prefix, const char *name, int64_t rows,
                     int64_t width)
{
    int64_t dims[2] = {rows, width};
    return mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_NORMAL, MIRD_BERT_INIT_STD, 2, dims,
                           "%s.%s.weight", prefix, name);
}

void mird_text_embedding_register(mird_text_embedding *m, mird_param_table *t,
                                  const mird_config *cfg, mird_text_stack stack)
{
    char prefix[MIRD_PARAM_NAME_MAX], name[2 * MIRD_PARAM_NAME_MAX];
    snprintf(prefix, sizeof prefix, "%s.embeddings", mird_text_stack_prefix(stack));
    m->stack = stack;
    m->tokens = mird_cfg_int(cfg, MIRD_PARAM_TEXT_MODE) == MIRD_TEXT_TOKENS;
    m->text_length = mird_cfg_int(cfg, MIRD_PARAM_TEXT_LENGTH);
    m->text_dim = mird_cfg_int(cfg, MIRD_PARAM_TEXT_DIM);
    m->vocab = mird_cfg_int(cfg, MIRD_PARAM_VOCAB_SIZE);
    m->hidden = mird_cfg_int(cfg, MIRD_PARAM_HIDDEN);
    m->word = m->token_type = m->feature_weight = m->feature_bias = -1;
    /* Hugging Face's order (BertEmbeddings, then feature_proj in its place). */
    if (m->tokens) {
        m->word = add_table(t, prefix, "word_embeddings", m->vocab, m->hidden);
    } else {
        snprintf(name, sizeof name, "%s.feature_proj", prefix);
        m->feature_weight = mird_bert_add_linear(t, name, m->text_dim, m->hidden,
                                                 &m->feature_bias);
    }
    m->position = add_table(t, prefix, "position_embeddings",
                            mird_cfg_int(cfg, MIRD_PARAM_MAX_POSITIONS), m->hidden);
    if (m->tokens)
        m->token_type = add_table(t, prefix, "token_type_embeddings", MIRD_BERT_TYPE_VOCAB,
                                  m->hidden);
    snprintf(name, sizeof name, "%s.LayerNorm", prefix);
    m->norm_weight = mird_bert_add_layernorm(t, name, m->hidden, &m->norm_bias);
}

void mird_text_embedding_plan(const mird_text_embedding *m, mird_arena *ws, int64_t batch,
                              mird_text_embedding_acts *a)
{
    int64_t rows = batch * m->text_length, n = rows * m->hidden;
    a->batch = batch;
    a->lengths = mird_arena_reserve(ws, (size_t)batch * sizeof *a->lengths);
    a->empty = mird_arena_reserve(ws, (size_t)batch * sizeof *a->empty);
    a->ids = m->tokens ? mird_arena_reserve(ws, (size_t)rows * sizeof *a->ids) : NULL;
    a->sum = mird_ws_floats(ws, n);
    a->mean = mird_ws_floats(ws, rows);
    a->variance = mird_ws_floats(ws, rows);
    a->out = mird_ws_floats(ws, n);
    a->mask = mird_ws_floats(ws, n);
    a->d_normed = mird_ws_floats(ws, n);
    a->d_sum = mird_ws_floats(ws, n);
    a->position_sums = mird_ws_floats(ws, m->text_length * m->hidden);
}

static unsigned dropout_site(const mird_text_embedding *m)
{
    return m->stack == MIRD_STACK_AGNOSTIC ? MIRD_SITE_AGNOSTIC_EMBEDDINGS
                                           : MIRD_SITE_LANGUAGE_EMBEDDINGS;
}

static mird_status check_inputs(const mird_text_embedding *m, const mird_pass *pass,
                                const float *features, const int32_t *ids,
                                const int32_t *lengths, const mird_text_embedding_acts *a)
{
    mird_error *err = mird_dnnl_error(pass->ctx);
    if (!lengths || (m->tokens ? !ids : !features))
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s embeddings: %s and lengths are required",
                         mird_text_stack_prefix(m->stack), m->tokens ? "ids" : "features");
    if (pass->batch < 0 || pass->batch > a->batch)
        return mird_fail(err, MIRD_ERR_SHAPE,
                         "%s embeddings: batch %lld is outside the planned 0..%lld",
                         mird_text_stack_prefix(m->stack), (long long)pass->batch,
                         (long long)a->batch);
    for (int64_t b = 0; b < pass->batch; b++)
        if (lengths[b] < 0 || lengths[b] > m->text_length)
            return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                             "%s embeddings: text lengths[%lld] = %d is outside 0..%lld",
                             mird_text_stack_prefix(m->stack), (long long)b, (int)lengths[b],
                             (long long)m->text_length);
    return MIRD_OK;
}

/* sum[b, t] += position[t] (+ shared); where `empty` marks a length-0 text
 * (FEATURES), sum[b, t] = base + position[t] instead. */
static void add_positions(const mird_text_embedding *m, int64_t batch, const uint8_t *empty,
                          const float *base, const float *positions, const float *shared,
                          float *sum)
{
    int64_t steps = m->text_length, width = m->hidden;
#pragma omp parallel for schedule(static) if (batch * steps * width >= PARALLEL_MIN_ELEMENTS)
    for (int64_t row = 0; row < batch * steps; row++) {
        float *y = sum + row * width;
        const float *position = positions + (row % steps) * width;
        if (empty && empty[row / steps])
            for (int64_t c = 0; c < width; c++)
                y[c] = base[c];
        if (shared)
            for (int64_t c = 0; c < width; c++)
                y[c] += position[c] + shared[c];
        else
            for (int64_t c = 0; c < width; c++)
                y[c] += position[c];
    }
}

mird_status mird_text_embedding_forward(const mird_text_embedding *m, const mird_pass *pass,
                                        const float *features, const int32_t *ids,
                                        const int32_t *lengths, mird_text_embedding_acts *a)
{
    MIRD_TRY(check_inputs(m, pass, features, ids, lengths, a));
    const mird_param_table *t = pass->params;
    int64_t batch = pass->batch, steps = m->text_length, width = m->hidden;
    int64_t rows = batch * steps, n = rows * width;
    for (int64_t b = 0; b < batch; b++) {
        a->empty[b] = lengths[b] == 0;
        a->lengths[b] = lengths[b] > 0 ? lengths[b] : 1;
    }
    if (m->tokens) {
        for (int64_t b = 0; b < batch; b++) {
            if (a->empty[b])
                memset(a->ids + b * steps, 0, (size_t)steps * sizeof *a->ids);
            else
                memcpy(a->ids + b * steps, ids + b * steps, (size_t)steps * sizeof *a->ids);
        }
        MIRD_TRY(mird_embedding_forward(pass->ctx, a->ids, mird_param_value(t, m->word), a->sum,
                                        rows, m->vocab, width));
        add_positions(m, batch, NULL, NULL, mird_param_value(t, m->position),
                      mird_param_value(t, m->token_type), a->sum);
    } else {
        const float *bias = mird_param_value(t, m->feature_bias);
        MIRD_TRY(mird_linear_forward(pass->ctx, features, mird_param_value(t, m->feature_weight),
                                     bias, a->sum, rows, m->text_dim, width));
        /* A length-0 text is a zero input: its projection is the bias alone. */
        add_positions(m, batch, a->empty, bias, mird_param_value(t, m->position), NULL, a->sum);
    }
    int training = pass->training;
    MIRD_TRY(mird_layernorm_forward(pass->ctx, a->sum, mird_param_value(t, m->norm_weight),
                                    mird_param_value(t, m->norm_bias), a->out,
                                    training ? a->mean : NULL, training ? a->variance : NULL,
                                    rows, width, MIRD_BERT_LN_EPS));
    float p = mird_pass_dropout(pass, MIRD_PARAM_DROPOUT_HIDDEN);
    if (p == 0.0f)
        return MIRD_OK;
    mird_rng_stream stream = mird_pass_dropout_stream(pass, dropout_site(m));
    return mird_dropout_forward(pass->ctx, &stream, p, a->out, a->out, a->mask, n);
}

/* position_sums[t] = sum over samples of d_sum[b, t], in sample order. */
static void sum_over_samples(const float *d_sum, int64_t batch, int64_t steps, int64_t width,
                             float *position_sums)
{
#pragma omp parallel for schedule(static) if (batch * steps * width >= PARALLEL_MIN_ELEMENTS)
    for (int64_t s = 0; s < steps; s++) {
        float *y = position_sums + s * width;
        memset(y, 0, (size_t)width * sizeof *y);
        for (int64_t b = 0; b < batch; b++) {
            const float *x = d_sum + (b * steps + s) * width;
            for (int64_t c = 0; c < width; c++)
                y[c] += x[c];
        }
    }
}

mird_status mird_text_embedding_backward(const mird_text_embedding *m, const mird_pass *pass,
                                         const float *features, mird_text_embedding_acts *a,
                                         const float *d_out)
{
    const mird_param_table *t = pass->params;
    int64_t batch = pass->batch, steps = m->text_length, width = m->hidden;
    int64_t rows = batch * steps, n = rows * width;
    if (!d_out || (!m->tokens && !features))
        return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s embeddings backward: d_out%s is required",
                         mird_text_stack_prefix(m->stack), m->tokens ? "" : " and features");
    if (pass->batch < 0 || pass->batch > a->batch)
        return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_SHAPE,
                         "%s embeddings backward: batch %lld is outside the planned 0..%lld",
                         mird_text_stack_prefix(m->stack), (long long)pass->batch,
                         (long long)a->batch);
    const float *d_normed = d_out;
    if (mird_pass_dropout(pass, MIRD_PARAM_DROPOUT_HIDDEN) > 0.0f) {
        memset(a->d_normed, 0, (size_t)n * sizeof(float));
        MIRD_TRY(mird_dropout_backward(pass->ctx, a->mask, d_out, a->d_normed, n));
        d_normed = a->d_normed;
    }
    memset(a->d_sum, 0, (size_t)n * sizeof(float));
    MIRD_TRY(mird_layernorm_backward(pass->ctx, a->sum, mird_param_value(t, m->norm_weight),
                                     a->mean, a->variance, d_normed, a->d_sum,
                                     mird_param_grad(t, m->norm_weight),
                                     mird_param_grad(t, m->norm_bias), rows, width,
                                     MIRD_BERT_LN_EPS));

    /* Every position row, the token-type row 0 and the feature bias see the
     * per-position sums; summing those in position order keeps every
     * reduction's order fixed. */
    sum_over_samples(a->d_sum, batch, steps, width, a->position_sums);
    float *d_position = mird_param_grad(t, m->position);
    float *d_shared = mird_param_grad(t, m->tokens ? m->token_type : m->feature_bias);
    for (int64_t s = 0; s < steps; s++)
        for (int64_t c = 0; c < width; c++) {
            d_position[s * width + c] += a->position_sums[s * width + c];
            d_shared[c] += a->position_sums[s * width + c];
        }

    if (m->tokens)
        return mird_embedding_backward(pass->ctx, a->ids, a->d_sum, mird_param_grad(t, m->word),
                                       rows, m->vocab, width);
    /* A length-0 text was a zero input: its rows add nothing to the weight
     * gradient (features holds whatever the caller padded with). */
    for (int64_t b = 0; b < batch; b++)
        if (a->empty[b])
            memset(a->d_sum + b * steps * width, 0, (size_t)(steps * width) * sizeof(float));
    return mird_linear_backward(pass->ctx, features, mird_param_value(t, m->feature_weight),
                                a->d_sum, NULL, mird_param_grad(t, m->feature_weight), NULL, rows,
                                m->text_dim, width);
}
