#include "model/bert.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/activations.h"
#include "ops/attention.h"
#include "ops/dropout.h"
#include "ops/layernorm.h"
#include "ops/linear.h"

enum { PARALLEL_MIN_ELEMENTS = 1 << 15 };

/* Dropout sites within a layer. */
enum { SITE_PROBABILITIES = 0, SITE_ATTENTION_OUTPUT = 1, SITE_FFN_OUTPUT = 2 };

static void register_layer(mird_bert_layer *l, mird_param_table *t, const char *prefix,
                           int64_t hidden, int64_t ffn)
{
    char name[2 * MIRD_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.attention.self.query", prefix);
    l->query_weight = mird_bert_add_linear(t, name, hidden, hidden, &l->query_bias);
    snprintf(name, sizeof name, "%s.attention.self.key", prefix);
    l->key_weight = mird_bert_add_linear(t, name, hidden, hidden, &l->key_bias);
    snprintf(name, sizeof name, "%s.attention.self.value", prefix);
    l->value_weight = mird_bert_add_linear(t, name, hidden, hidden, &l->value_bias);
    snprintf(name, sizeof name, "%s.attention.output.dense", prefix);
    l->attention_dense_weight = mird_bert_add_linear(t, name, hidden, hidden,
                                                     &l->attention_dense_bias);
    snprintf(name, sizeof name, "%s.attention.output.LayerNorm", prefix);
    l->attention_norm_weight = mird_bert_add_layernorm(t, name, hidden, &l->attention_norm_bias);
    snprintf(name, sizeof name, "%s.intermediate.dense", prefix);
    l->intermediate_weight = mird_bert_add_linear(t, name, hidden, ffn, &l->intermediate_bias);
    snprintf(name, sizeof name, "%s.output.dense", prefix);
    l->output_dense_weight = mird_bert_add_linear(t, name, ffn, hidden, &l->output_dense_bias);
    snprintf(name, sizeof name, "%s.output.LayerNorm", prefix);
    l->output_norm_weight = mird_bert_add_layernorm(t, name, hidden, &l->output_norm_bias);
}

void mird_bert_register(mird_bert *m, mird_param_table *t, const mird_config *cfg,
                        mird_text_stack stack)
{
    const char *stack_name = mird_text_stack_prefix(stack);
    char name[2 * MIRD_PARAM_NAME_MAX];
    m->stack = stack;
    m->text_length = mird_cfg_int(cfg, MIRD_PARAM_TEXT_LENGTH);
    m->hidden = mird_cfg_int(cfg, MIRD_PARAM_HIDDEN);
    m->heads = mird_cfg_int(cfg, MIRD_PARAM_HEADS);
    m->ffn = mird_cfg_int(cfg, MIRD_PARAM_FFN_DIM);
    m->latent = mird_cfg_int(cfg, MIRD_PARAM_LATENT_DIM);
    long long layers = mird_cfg_int(cfg, MIRD_PARAM_LAYERS);
    /* The config bounds layers to 1..64; clamp so a bad table cannot overrun. */
    m->layers = layers < 1 ? 1 : layers > MIRD_BERT_MAX_LAYERS ? MIRD_BERT_MAX_LAYERS : (int)layers;
    for (int i = 0; i < m->layers; i++) {
        char layer_prefix[MIRD_PARAM_NAME_MAX];
        snprintf(layer_prefix, sizeof layer_prefix, "%s.encoder.layer.%d", stack_name, i);
        register_layer(&m->layer[i], t, layer_prefix, m->hidden, m->ffn);
    }
    snprintf(name, sizeof name, "%s.pooler.dense", stack_name);
    m->pooler_weight = mird_bert_add_linear(t, name, m->hidden, m->hidden, &m->pooler_bias);
    /* Not a BERT part: PyTorch's nn.Linear default. */
    int64_t wdims[2] = {m->latent, m->hidden}, bdims[1] = {m->latent};
    float bound = 1.0f / sqrtf((float)m->hidden);
    m->proj_weight = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_UNIFORM, bound, 2, wdims,
                                     "%s.proj.weight", stack_name);
    m->proj_bias = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_UNIFORM, bound, 1, bdims,
                                   "%s.proj.bias", stack_name);
}

static mird_attention_shape attention_shape(const mird_bert *m, int64_t batch)
{
    mird_attention_shape s = {batch, m->text_length, m->heads, m->hidden / m->heads};
    return s;
}

void mird_bert_plan(const mird_bert *m, mird_arena *ws, int64_t batch, mird_bert_acts *a)
{
    int64_t rows = batch * m->text_length, n = rows * m->hidden, wide = rows * m->ffn;
    mird_attention_shape shape = attention_shape(m, batch);
    int64_t probabilities = batch * m->heads * m->text_length * m->text_length;
    a->batch = batch;
    for (int i = 0; i < m->layers; i++) {
        mird_bert_layer_acts *l = &a->layer[i];
        l->query = mird_ws_floats(ws, n);
        l->key = mird_ws_floats(ws, n);
        l->value = mird_ws_floats(ws, n);
        l->context = mird_ws_floats(ws, n);
        l->attention = mird_ws_floats(ws, (int64_t)mird_attention_saved_floats(shape, 1));
        l->attention_keep = mird_ws_floats(ws, probabilities);
        l->attention_sum = mird_ws_floats(ws, n);
        l->attention_mask = mird_ws_floats(ws, n);
        l->attention_mean = mird_ws_floats(ws, rows);
        l->attention_variance = mird_ws_floats(ws, rows);
        l->hidden = mird_ws_floats(ws, n);
        l->intermediate = mird_ws_floats(ws, wide);
        l->activated = mird_ws_floats(ws, wide);
        l->output_sum = mird_ws_floats(ws, n);
        l->output_mask = mird_ws_floats(ws, n);
        l->output_mean = mird_ws_floats(ws, rows);
        l->output_variance = mird_ws_floats(ws, rows);
        l->out = mird_ws_floats(ws, n);
    }
    a->first = mird_ws_floats(ws, batch * m->hidden);
    a->pooled = mird_ws_floats(ws, batch * m->hidden);
    a->dropped = mird_ws_floats(ws, batch * m->hidden);
    a->proj_mask = mird_ws_floats(ws, batch * m->hidden);
    for (int i = 0; i < 3; i++)
        a->d_head[i] = mird_ws_floats(ws, batch * m->hidden);
    for (int i = 0; i < 3; i++)
        a->d_layer[i] = mird_ws_floats(ws, n);
    for (int i = 0; i < 2; i++)
        a->d_wide[i] = mird_ws_floats(ws, wide > n ? wide : n);
}

static unsigned layer_site(const mird_bert *m, int layer, int which)
{
    return MIRD_SITE_BERT_BASE + 3u * ((unsigned)m->stack * 64u + (unsigned)layer)
           + (unsigned)which;
}

static unsigned pooled_site(const mird_bert *m)
{
    return m->stack == MIRD_STACK_AGNOSTIC ? MIRD_SITE_AGNOSTIC_POOLED
                                           : MIRD_SITE_LANGUAGE_POOLED;
}

/* sum = sum * mask + residual with a fresh mask from `site` (p > 0), or
 * sum += residual: the residual connection around a dropped-out branch. */
static mird_status add_residual(const mird_pass *pass, unsigned site, float p, float *sum,
                                const float *residual, float *mask, int64_t n)
{
    if (p > 0.0f) {
        mird_rng_stream stream = mird_pass_dropout_stream(pass, site);
        MIRD_TRY(mird_dropout_multipliers(pass->ctx, &stream, 0, p, mask, n));
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
        for (int64_t i = 0; i < n; i++)
            sum[i] = sum[i] * mask[i] + residual[i];
    } else {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
        for (int64_t i = 0; i < n; i++)
            sum[i] += residual[i];
    }
    return MIRD_OK;
}

static mird_status layer_forward(const mird_bert *m, const mird_pass *pass, int index,
                                 const float *x, const int32_t *lengths, mird_bert_layer_acts *l)
{
    const mird_param_table *t = pass->params;
    const mird_bert_layer *w = &m->layer[index];
    mird_dnnl *ctx = pass->ctx;
    int64_t rows = pass->batch * m->text_length, width = m->hidden, n = rows * width;
    float p = mird_pass_dropout(pass, MIRD_PARAM_DROPOUT_HIDDEN);
    int training = pass->training;

    MIRD_TRY(mird_linear_forward(ctx, x, mird_param_value(t, w->query_weight),
                                 mird_param_value(t, w->query_bias), l->query, rows, width, width));
    MIRD_TRY(mird_linear_forward(ctx, x, mird_param_value(t, w->key_weight),
                                 mird_param_value(t, w->key_bias), l->key, rows, width, width));
    MIRD_TRY(mird_linear_forward(ctx, x, mird_param_value(t, w->value_weight),
                                 mird_param_value(t, w->value_bias), l->value, rows, width, width));
    mird_attention_shape shape = attention_shape(m, pass->batch);
    const float *keep = NULL;
    if (p > 0.0f) {
        mird_rng_stream stream = mird_pass_dropout_stream(pass, layer_site(m, index,
                                                                           SITE_PROBABILITIES));
        int64_t count = pass->batch * m->heads * m->text_length * m->text_length;
        MIRD_TRY(mird_dropout_multipliers(ctx, &stream, 0, p, l->attention_keep, count));
        keep = l->attention_keep;
    }
    MIRD_TRY(mird_attention_forward(ctx, shape, l->query, l->key, l->value, lengths, keep,
                                    l->context, l->attention));

    MIRD_TRY(mird_linear_forward(ctx, l->context, mird_param_value(t, w->attention_dense_weight),
                                 mird_param_value(t, w->attention_dense_bias), l->attention_sum,
                                 rows, width, width));
    MIRD_TRY(add_residual(pass, layer_site(m, index, SITE_ATTENTION_OUTPUT), p, l->attention_sum,
                          x, l->attention_mask, n));
    MIRD_TRY(mird_layernorm_forward(ctx, l->attention_sum,
                                    mird_param_value(t, w->attention_norm_weight),
                                    mird_param_value(t, w->attention_norm_bias), l->hidden,
                                    training ? l->attention_mean : NULL,
                                    training ? l->attention_variance : NULL, rows, width,
                                    MIRD_BERT_LN_EPS));

    MIRD_TRY(mird_linear_forward(ctx, l->hidden, mird_param_value(t, w->intermediate_weight),
                                 mird_param_value(t, w->intermediate_bias), l->intermediate, rows,
                                 width, m->ffn));
    MIRD_TRY(mird_activation_forward(ctx, MIRD_ACTIVATION_GELU_ERF, l->intermediate,
                                     l->activated, rows * m->ffn));
    MIRD_TRY(mird_linear_forward(ctx, l->activated, mird_param_value(t, w->output_dense_weight),
                                 mird_param_value(t, w->output_dense_bias), l->output_sum, rows,
                                 m->ffn, width));
    MIRD_TRY(add_residual(pass, layer_site(m, index, SITE_FFN_OUTPUT), p, l->output_sum,
                          l->hidden, l->output_mask, n));
    return mird_layernorm_forward(ctx, l->output_sum, mird_param_value(t, w->output_norm_weight),
                                  mird_param_value(t, w->output_norm_bias), l->out,
                                  training ? l->output_mean : NULL,
                                  training ? l->output_variance : NULL, rows, width,
                                  MIRD_BERT_LN_EPS);
}

static mird_status check_pass(const mird_bert *m, const mird_pass *pass, const mird_bert_acts *a,
                              const char *what)
{
    if (pass->batch < 0 || pass->batch > a->batch)
        return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_SHAPE,
                         "%s %s: batch %lld is outside the planned 0..%lld",
                         mird_text_stack_prefix(m->stack), what, (long long)pass->batch,
                         (long long)a->batch);
    if (m->heads < 1 || m->hidden % m->heads != 0)
        return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s %s: heads = %lld does not divide hidden = %lld",
                         mird_text_stack_prefix(m->stack), what, (long long)m->heads,
                         (long long)m->hidden);
    return MIRD_OK;
}

/* The pooler's and the projection's dropout input. */
static const float *projection_input(const mird_pass *pass, const mird_bert_acts *a)
{
    return mird_pass_dropout(pass, MIRD_PARAM_DROPOUT_PROJ) > 0.0f ? a->dropped : a->pooled;
}

mird_status mird_bert_forward(const mird_bert *m, const mird_pass *pass, const float *x,
                              const int32_t *lengths, mird_bert_acts *a, float *z)
{
    const char *what = "bert forward";
    MIRD_TRY(check_pass(m, pass, a, what));
    if (!x || !lengths || !z)
        return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s %s: x, lengths and z are required", mird_text_stack_prefix(m->stack),
                         what);
    for (int64_t b = 0; b < pass->batch; b++)
        if (lengths[b] < 1 || lengths[b] > m->text_length)
            return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_INVALID_ARGUMENT,
                             "%s %s: lengths[%lld] = %d is outside 1..%lld (pass the "
                             "embedding's effective lengths)",
                             mird_text_stack_prefix(m->stack), what, (long long)b,
                             (int)lengths[b], (long long)m->text_length);
    const mird_param_table *t = pass->params;
    int64_t batch = pass->batch, width = m->hidden;
    const float *input = x;
    for (int i = 0; i < m->layers; i++) {
        MIRD_TRY(layer_forward(m, pass, i, input, lengths, &a->layer[i]));
        input = a->layer[i].out;
    }
    for (int64_t b = 0; b < batch; b++)
        memcpy(a->first + b * width, input + b * m->text_length * width,
               (size_t)width * sizeof(float));
    MIRD_TRY(mird_linear_forward(pass->ctx, a->first, mird_param_value(t, m->pooler_weight),
                                 mird_param_value(t, m->pooler_bias), a->pooled, batch, width,
                                 width));
    MIRD_TRY(mird_activation_forward(pass->ctx, MIRD_ACTIVATION_TANH, a->pooled, a->pooled,
                                     batch * width));
    float p = mird_pass_dropout(pass, MIRD_PARAM_DROPOUT_PROJ);
    if (p > 0.0f) {
        mird_rng_stream stream = mird_pass_dropout_stream(pass, pooled_site(m));
        MIRD_TRY(mird_dropout_forward(pass->ctx, &stream, p, a->pooled, a->dropped, a->proj_mask,
                                      batch * width));
    }
    return mird_linear_forward(pass->ctx, projection_input(pass, a),
                               mird_param_value(t, m->proj_weight),
                               mird_param_value(t, m->proj_bias), z, batch, width, m->latent);
}

static void zero(float *x, int64_t n)
{
    memset(x, 0, (size_t)n * sizeof *x);
}

/* Backward passes that overwrite their output spare the zeroing of a buffer
 * of the size of an activation: the layers' gradients are large (mosi:
 * 3.7 MB per [B, T, H]), so each memset saved is a pass over memory. */

/* d_branch = dy * mask: the dropout backward into a fresh buffer. */
static void dropout_backward_overwrite(const float *mask, const float *dy, float *d_branch,
                                       int64_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
    for (int64_t i = 0; i < n; i++)
        d_branch[i] = dy[i] * mask[i];
}

/* dx = dy W overwritten; dW and db accumulate as in mird_linear_backward. */
static mird_status linear_backward_overwrite(mird_dnnl *ctx, const float *x, const float *W,
                                             const float *dy, float *dx, float *dW, float *db,
                                             int64_t rows, int64_t in, int64_t out)
{
    MIRD_TRY(mird_matmul(ctx, dy, mird_matmul_dense(1, rows, out), W,
                         mird_matmul_dense(1, out, in), dx, mird_matmul_dense(1, rows, in), 1.0f,
                         0));
    return mird_linear_backward(ctx, x, W, dy, NULL, dW, db, rows, in, out);
}

/* Through one layer: d_out arrives in a->d_layer[0], which ends holding the
 * residual part of dL/dx; the projections' parts go to `dx` (layer 0: the
 * caller's buffer, which also receives that residual part) or stay in
 * d_layer[0] for the layer below. */
static mird_status layer_backward(const mird_bert *m, const mird_pass *pass, int index,
                                  const float *x, mird_bert_acts *a, float *dx)
{
    const mird_param_table *t = pass->params;
    const mird_bert_layer *w = &m->layer[index];
    mird_bert_layer_acts *l = &a->layer[index];
    mird_dnnl *ctx = pass->ctx;
    int64_t rows = pass->batch * m->text_length, width = m->hidden, n = rows * width;
    int64_t wide = rows * m->ffn;
    int dropout = mird_pass_dropout(pass, MIRD_PARAM_DROPOUT_HIDDEN) > 0.0f;
    float *d_carry = a->d_layer[0], *d_sum = a->d_layer[1], *d_branch = a->d_layer[2];
    float *d_activated = a->d_wide[0], *d_intermediate = a->d_wide[1];

    zero(d_sum, n);
    MIRD_TRY(mird_layernorm_backward(ctx, l->output_sum,
                                     mird_param_value(t, w->output_norm_weight), l->output_mean,
                                     l->output_variance, d_carry, d_sum,
                                     mird_param_grad(t, w->output_norm_weight),
                                     mird_param_grad(t, w->output_norm_bias), rows, width,
                                     MIRD_BERT_LN_EPS));
    const float *d_ffn_out = d_sum;
    if (dropout) {
        dropout_backward_overwrite(l->output_mask, d_sum, d_branch, n);
        d_ffn_out = d_branch;
    }
    MIRD_TRY(linear_backward_overwrite(ctx, l->activated,
                                       mird_param_value(t, w->output_dense_weight), d_ffn_out,
                                       d_activated, mird_param_grad(t, w->output_dense_weight),
                                       mird_param_grad(t, w->output_dense_bias), rows, m->ffn,
                                       width));
    zero(d_intermediate, wide);
    MIRD_TRY(mird_activation_backward(ctx, MIRD_ACTIVATION_GELU_ERF, l->intermediate, d_activated,
                                      d_intermediate, wide));
    /* d_sum already holds the residual path's share of dL/dh. */
    float *d_hidden = d_sum;
    MIRD_TRY(mird_linear_backward(ctx, l->hidden, mird_param_value(t, w->intermediate_weight),
                                  d_intermediate, d_hidden,
                                  mird_param_grad(t, w->intermediate_weight),
                                  mird_param_grad(t, w->intermediate_bias), rows, width, m->ffn));

    float *d_attention_sum = d_carry;
    zero(d_attention_sum, n);
    MIRD_TRY(mird_layernorm_backward(ctx, l->attention_sum,
                                     mird_param_value(t, w->attention_norm_weight),
                                     l->attention_mean, l->attention_variance, d_hidden,
                                     d_attention_sum, mird_param_grad(t, w->attention_norm_weight),
                                     mird_param_grad(t, w->attention_norm_bias), rows, width,
                                     MIRD_BERT_LN_EPS));
    const float *d_attention_out = d_attention_sum;
    if (dropout) {
        dropout_backward_overwrite(l->attention_mask, d_attention_sum, d_branch, n);
        d_attention_out = d_branch;
    }
    float *d_context = d_sum;
    MIRD_TRY(linear_backward_overwrite(ctx, l->context,
                                       mird_param_value(t, w->attention_dense_weight),
                                       d_attention_out, d_context,
                                       mird_param_grad(t, w->attention_dense_weight),
                                       mird_param_grad(t, w->attention_dense_bias), rows, width,
                                       width));
    float *d_query = d_branch, *d_key = a->d_wide[0], *d_value = a->d_wide[1];
    zero(d_query, n);
    zero(d_key, n);
    zero(d_value, n);
    MIRD_TRY(mird_attention_backward(ctx, attention_shape(m, pass->batch), l->query, l->key,
                                     l->value, dropout ? l->attention_keep : NULL, l->attention,
                                     d_context, d_query, d_key, d_value));
    if (dx && dx != d_carry) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
        for (int64_t i = 0; i < n; i++)
            dx[i] += d_carry[i];
    }
    MIRD_TRY(mird_linear_backward(ctx, x, mird_param_value(t, w->query_weight), d_query, dx,
                                  mird_param_grad(t, w->query_weight),
                                  mird_param_grad(t, w->query_bias), rows, width, width));
    MIRD_TRY(mird_linear_backward(ctx, x, mird_param_value(t, w->key_weight), d_key, dx,
                                  mird_param_grad(t, w->key_weight),
                                  mird_param_grad(t, w->key_bias), rows, width, width));
    return mird_linear_backward(ctx, x, mird_param_value(t, w->value_weight), d_value, dx,
                                mird_param_grad(t, w->value_weight),
                                mird_param_grad(t, w->value_bias), rows, width, width);
}

mird_status mird_bert_backward(const mird_bert *m, const mird_pass *pass, const float *x,
                               mird_bert_acts *a, const float *dz, float *dx)
{
    const char *what = "bert backward";
    MIRD_TRY(check_pass(m, pass, a, what));
    if (!x || !dz)
        return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s %s: x and dz are required", mird_text_stack_prefix(m->stack), what);
    const mird_param_table *t = pass->params;
    mird_dnnl *ctx = pass->ctx;
    int64_t batch = pass->batch, width = m->hidden, head = batch * width;
    float *d_dropped = a->d_head[0], *d_pooled = a->d_head[1], *d_pre = a->d_head[2];

    zero(d_dropped, head);
    MIRD_TRY(mird_linear_backward(ctx, projection_input(pass, a),
                                  mird_param_value(t, m->proj_weight), dz, d_dropped,
                                  mird_param_grad(t, m->proj_weight),
                                  mird_param_grad(t, m->proj_bias), batch, width, m->latent));
    if (mird_pass_dropout(pass, MIRD_PARAM_DROPOUT_PROJ) > 0.0f) {
        zero(d_pooled, head);
        MIRD_TRY(mird_dropout_backward(ctx, a->proj_mask, d_dropped, d_pooled, head));
    } else {
        d_pooled = d_dropped;
    }
    zero(d_pre, head);
    MIRD_TRY(mird_activation_backward(ctx, MIRD_ACTIVATION_TANH, a->pooled, d_pooled, d_pre,
                                      head));
    float *d_first = a->d_head[0];
    zero(d_first, head);
    MIRD_TRY(mird_linear_backward(ctx, a->first, mird_param_value(t, m->pooler_weight), d_pre,
                                  d_first, mird_param_grad(t, m->pooler_weight),
                                  mird_param_grad(t, m->pooler_bias), batch, width, width));

    float *d_carry = a->d_layer[0];
    zero(d_carry, head * m->text_length);
    for (int64_t b = 0; b < batch; b++)
        memcpy(d_carry + b * m->text_length * width, d_first + b * width,
               (size_t)width * sizeof(float));
    for (int i = m->layers - 1; i >= 0; i--) {
        const float *input = i > 0 ? a->layer[i - 1].out : x;
        MIRD_TRY(layer_backward(m, pass, i, input, a, i > 0 ? d_carry : dx));
    }
    return MIRD_OK;
}
