#include "model/sequence_encoder.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/embedding.h"
#include "ops/linear.h"

const char *mird_sequence_name(mird_sequence_kind kind)
{
    switch (kind) {
    case MIRD_SEQUENCE_LANGUAGE:
        return "language";
    case MIRD_SEQUENCE_AUDIO:
        return "audio";
    case MIRD_SEQUENCE_VISUAL:
        return "visual";
    }
    return "unknown";
}

void mird_lstm_params_register(mird_lstm_params *p, mird_param_table *t, const char *prefix,
                               int64_t in, int64_t hidden)
{
    int64_t ih[2] = {4 * hidden, in}, hh[2] = {4 * hidden, hidden}, bias[1] = {4 * hidden};
    float bound = 1.0f / sqrtf((float)hidden);
    p->W_ih = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_UNIFORM, bound, 2, ih,
                              "%s.weight_ih_l0", prefix);
    p->W_hh = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_UNIFORM, bound, 2, hh,
                              "%s.weight_hh_l0", prefix);
    p->b_ih = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_UNIFORM, bound, 1, bias,
                              "%s.bias_ih_l0", prefix);
    p->b_hh = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_UNIFORM, bound, 1, bias,
                              "%s.bias_hh_l0", prefix);
}

mird_lstm_weights mird_lstm_params_values(const mird_lstm_params *p, const mird_param_table *t)
{
    mird_lstm_weights w = {mird_param_value(t, p->W_ih), mird_param_value(t, p->W_hh),
                           mird_param_value(t, p->b_ih), mird_param_value(t, p->b_hh)};
    return w;
}

mird_lstm_grads mird_lstm_params_grads(const mird_lstm_params *p, const mird_param_table *t)
{
    mird_lstm_grads g = {mird_param_grad(t, p->W_ih), mird_param_grad(t, p->W_hh),
                         mird_param_grad(t, p->b_ih), mird_param_grad(t, p->b_hh)};
    return g;
}


int mird_sequence_is_tokens(const mird_config *cfg, mird_sequence_kind kind)
{
    return kind == MIRD_SEQUENCE_LANGUAGE &&
           mird_cfg_int(cfg, MIRD_PARAM_TEXT_MODE) == MIRD_TEXT_TOKENS;
}

int64_t mird_sequence_length(const mird_config *cfg, mird_sequence_kind kind)
{
    static const mird_param length[] = {MIRD_PARAM_TEXT_LENGTH, MIRD_PARAM_AUDIO_LENGTH,
                                        MIRD_PARAM_VISION_LENGTH};
    return mird_cfg_int(cfg, length[kind]);
}

int64_t mird_sequence_width(const mird_config *cfg, mird_sequence_kind kind)
{
    static const mird_param width[] = {MIRD_PARAM_TEXT_DIM, MIRD_PARAM_AUDIO_DIM,
                                       MIRD_PARAM_VISION_DIM};
    return mird_cfg_int(cfg, width[kind]);
}

void mird_sequence_encoder_register(mird_sequence_encoder *m, mird_param_table *t,
                                    const mird_config *cfg, mird_sequence_kind kind)
{
    const char *prefix = mird_sequence_name(kind);
    char name[MIRD_PARAM_NAME_MAX];
    m->steps = mird_sequence_length(cfg, kind);
    m->latent = mird_cfg_int(cfg, MIRD_PARAM_LATENT_DIM);
    m->embedding = -1;
    m->vocab = 0;
    m->in = mird_sequence_width(cfg, kind);
    if (mird_sequence_is_tokens(cfg, kind)) {
        m->vocab = mird_cfg_int(cfg, MIRD_PARAM_VOCAB_SIZE);
        m->in = mird_cfg_int(cfg, MIRD_PARAM_LSTM_EMBEDDING_DIM);
        int64_t dims[2] = {m->vocab, m->in};
        /* nn.Embedding's default: N(0, 1), every row trained (no padding_idx). */
        m->embedding = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_NORMAL, 1.0f, 2, dims,
                                       "%s.embedding.weight", prefix);
    }
    snprintf(name, sizeof name, "%s.lstm", prefix);
    mird_lstm_params_register(&m->lstm, t, name, m->in, m->latent);
    snprintf(name, sizeof name, "%s.proj", prefix);
    mird_params_add_linear(t, MIRD_GROUP_MODEL, m->latent, m->latent, &m->proj_weight,
                           &m->proj_bias, "%s", name);
}

mird_status mird_sequence_encoder_plan(const mird_sequence_encoder *m, mird_dnnl *ctx,
                                       mird_arena *ws, int64_t batch, int training,
                                       mird_sequence_encoder_acts *a)
{
    int64_t frames = batch * m->steps;
    memset(a, 0, sizeof *a);
    a->training = training;
    if (m->embedding >= 0)
        a->embedded = mird_ws_floats(ws, frames * m->in);
    a->h_all = mird_ws_floats(ws, frames * m->latent);
    a->last = mird_ws_floats(ws, batch * m->latent);
    if (!training)
        return MIRD_OK;
    size_t workspace_bytes;
    mird_lstm_shape shape = {batch, m->steps, m->in, m->latent};
    MIRD_TRY(mird_lstm_workspace_bytes(ctx, shape, &workspace_bytes));
    a->workspace = mird_arena_reserve(ws, workspace_bytes);
    if (m->embedding >= 0)
        a->d_embedded = mird_ws_floats(ws, frames * m->in);
    a->d_h_all = mird_ws_floats(ws, frames * m->latent);
    a->d_last = mird_ws_floats(ws, batch * m->latent);
    return MIRD_OK;
}

static mird_status check_input(const mird_sequence_encoder *m, const mird_pass *pass,
                               const mird_sequence_input *input, const char *op)
{
    mird_error *err = mird_dnnl_error(pass->ctx);
    if (!input || !input->lengths)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s: no lengths", op);
    if (m->embedding >= 0 && !input->ids)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s: token ids are NULL", op);
    if (m->embedding < 0 && !input->features)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s: features are NULL", op);
    return MIRD_OK;
}

/* What the LSTM reads: the features themselves, or the embedded tokens. */
static const float *lstm_source(const mird_sequence_encoder *m, const mird_sequence_input *input,
                                const mird_sequence_encoder_acts *a)
{
    return m->embedding >= 0 ? a->embedded : input->features;
}

mird_status mird_sequence_encoder_forward(const mird_sequence_encoder *m, const mird_pass *pass,
                                          const mird_sequence_input *input,
                                          mird_sequence_encoder_acts *a, float *code)
{
    static const char op[] = "mird_sequence_encoder_forward";
    mird_dnnl *ctx = pass->ctx;
    const mird_param_table *t = pass->params;
    int64_t batch = pass->batch;
    a->cached = 0;
    MIRD_TRY(check_input(m, pass, input, op));
    if (pass->training && !a->training)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_STATE,
                         "%s: a training pass over buffers planned for inference", op);
    if (m->embedding >= 0)
        MIRD_TRY(mird_embedding_forward(ctx, input->ids, mird_param_value(t, m->embedding),
                                        a->embedded, batch * m->steps, m->vocab, m->in));
    mird_lstm_shape shape = {batch, m->steps, m->in, m->latent};
    mird_lstm_weights w = mird_lstm_params_values(&m->lstm, t);
    MIRD_TRY(mird_lstm_forward(ctx, shape, lstm_source(m, input, a), &w, a->h_all,
                               pass->training ? a->workspace : NULL));
    MIRD_TRY(mird_lstm_last_valid_forward(ctx, a->h_all, input->lengths, a->last, batch,
                                          m->steps, m->latent));
    MIRD_TRY(mird_linear_forward(ctx, a->last, mird_param_value(t, m->proj_weight),
                                 mird_param_value(t, m->proj_bias), code, batch, m->latent,
                                 m->latent));
    a->cached = pass->training;
    return MIRD_OK;
}

mird_status mird_sequence_encoder_backward(const mird_sequence_encoder *m,
                                           const mird_pass *pass,
                                           const mird_sequence_input *input,
                                           mird_sequence_encoder_acts *a, const float *d_code)
{
    static const char op[] = "mird_sequence_encoder_backward";
    mird_dnnl *ctx = pass->ctx;
    const mird_param_table *t = pass->params;
    int64_t batch = pass->batch, frames = batch * m->steps;
    MIRD_TRY(check_input(m, pass, input, op));
    if (!a->cached)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_STATE,
                         "%s: the last forward was not a training forward", op);
    memset(a->d_last, 0, (size_t)(batch * m->latent) * sizeof(float));
    MIRD_TRY(mird_linear_backward(ctx, a->last, mird_param_value(t, m->proj_weight), d_code,
                                  a->d_last, mird_param_grad(t, m->proj_weight),
                                  mird_param_grad(t, m->proj_bias), batch, m->latent,
                                  m->latent));
    /* Only the gathered step receives a gradient; oneDNN reads a dense one. */
    memset(a->d_h_all, 0, (size_t)(frames * m->latent) * sizeof(float));
    MIRD_TRY(mird_lstm_last_valid_backward(ctx, input->lengths, a->d_last, a->d_h_all, batch,
                                           m->steps, m->latent));
    float *d_source = NULL;
    if (m->embedding >= 0) {
        d_source = a->d_embedded;
        memset(d_source, 0, (size_t)(frames * m->in) * sizeof(float));
    }
    mird_lstm_shape shape = {batch, m->steps, m->in, m->latent};
    mird_lstm_weights w = mird_lstm_params_values(&m->lstm, t);
    mird_lstm_grads g = mird_lstm_params_grads(&m->lstm, t);
    MIRD_TRY(mird_lstm_backward(ctx, shape, lstm_source(m, input, a), &w, a->h_all,
                                a->workspace, a->d_h_all, d_source, &g));
    if (m->embedding < 0)
        return MIRD_OK;
    return mird_embedding_backward(ctx, input->ids, d_source, mird_param_grad(t, m->embedding),
                                   frames, m->vocab, m->in);
}
