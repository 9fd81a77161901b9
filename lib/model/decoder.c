#include "model/decoder.h"

#include <stdio.h>
#include <string.h>

#include "ops/linear.h"
#include "ops/losses.h"
#include "ops/lstm.h"

void mird_decoder_register(mird_decoder *m, mird_param_table *t, const mird_config *cfg,
                           mird_sequence_kind kind)
{
    char name[MIRD_PARAM_NAME_MAX];
    m->steps = mird_sequence_length(cfg, kind);
    m->latent = mird_cfg_int(cfg, MIRD_PARAM_LATENT_DIM);
    m->tokens = mird_sequence_is_tokens(cfg, kind);
    m->out_dim = m->tokens ? mird_cfg_int(cfg, MIRD_PARAM_VOCAB_SIZE)
                           : mird_sequence_width(cfg, kind);
    int64_t width = 2 * m->latent;
    snprintf(name, sizeof name, "decoder.%s.lstm", mird_sequence_name(kind));
    mird_lstm_params_register(&m->lstm, t, name, width, width);
    snprintf(name, sizeof name, "decoder.%s.out", mird_sequence_name(kind));
    mird_params_add_linear(t, MIRD_GROUP_MODEL, width, m->out_dim, &m->out_weight, &m->out_bias,
                           "%s", name);
}

mird_status mird_decoder_plan(const mird_decoder *m, mird_dnnl *ctx, mird_arena *ws,
                              int64_t batch, mird_decoder_acts *a)
{
    int64_t width = 2 * m->latent, frames = batch * m->steps;
    memset(a, 0, sizeof *a);
    a->u = mird_ws_floats(ws, batch * width);
    a->h_all = mird_ws_floats(ws, frames * width);
    a->out = mird_ws_floats(ws, frames * m->out_dim);
    if (m->tokens)
        a->log_norm = mird_ws_floats(ws, frames);
    size_t workspace_bytes;
    MIRD_TRY(mird_lstm_decoder_workspace_bytes(ctx, batch, m->steps, width, &workspace_bytes));
    a->workspace = mird_arena_reserve(ws, workspace_bytes);
    a->d_out = mird_ws_floats(ws, frames * m->out_dim);
    a->d_h_all = mird_ws_floats(ws, frames * width);
    a->d_u = mird_ws_floats(ws, batch * width);
    return MIRD_OK;
}

static mird_status check_target(const mird_decoder *m, const mird_pass *pass,
                                const mird_sequence_input *target, const char *op)
{
    mird_error *err = mird_dnnl_error(pass->ctx);
    if (!target)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s: target is NULL", op);
    if (m->tokens && !target->ids)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s: target ids are NULL", op);
    if (!m->tokens && !target->features)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s: target features are NULL", op);
    return MIRD_OK;
}

static int mask_padding(const mird_pass *pass)
{
    return mird_cfg_int(pass->cfg, MIRD_PARAM_MASK_PADDING) != 0;
}

mird_status mird_decoder_forward(const mird_decoder *m, const mird_pass *pass,
                                 const float *code_s, const float *code_m,
                                 const mird_sequence_input *target, mird_decoder_acts *a,
                                 double *loss, int64_t *counted)
{
    static const char op[] = "mird_decoder_forward";
    mird_dnnl *ctx = pass->ctx;
    const mird_param_table *t = pass->params;
    int64_t batch = pass->batch, z = m->latent, width = 2 * z, frames = batch * m->steps;
    a->cached = 0;
    a->counted = 0;
    MIRD_TRY(check_target(m, pass, target, op));
    if (!code_s || !code_m)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT, "%s: %s is NULL", op,
                         code_s ? "code_m" : "code_s");
    for (int64_t b = 0; b < batch; b++) {
        memcpy(a->u + b * width, code_s + b * z, (size_t)z * sizeof(float));
        memcpy(a->u + b * width + z, code_m + b * z, (size_t)z * sizeof(float));
    }
    mird_lstm_weights w = mird_lstm_params_values(&m->lstm, t);
    MIRD_TRY(mird_lstm_decoder_forward(ctx, batch, m->steps, width, a->u, &w, a->h_all,
                                       pass->training ? a->workspace : NULL));
    MIRD_TRY(mird_linear_forward(ctx, a->h_all, mird_param_value(t, m->out_weight),
                                 mird_param_value(t, m->out_bias), a->out, frames, width,
                                 m->out_dim));
    int64_t samples = 0;
    if (m->tokens)
        MIRD_TRY(mird_sequence_cross_entropy_forward(ctx, a->out, target->ids, target->lengths,
                                                     batch, m->steps, m->out_dim,
                                                     mask_padding(pass), loss, &samples,
                                                     a->log_norm));
    else
        MIRD_TRY(mird_sequence_mse_forward(ctx, a->out, target->features, target->lengths,
                                           batch, m->steps, m->out_dim, mask_padding(pass),
                                           loss, &samples));
    a->counted = samples;
    a->cached = pass->training;
    if (counted)
        *counted = samples;
    return MIRD_OK;
}

/* dst[b] += the half of d_u[b] that starts at `offset`. */
static void add_half(float *dst, const float *d_u, int64_t batch, int64_t z, int64_t offset)
{
    if (!dst)
        return;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t j = 0; j < z; j++)
            dst[b * z + j] += d_u[b * 2 * z + offset + j];
}

mird_status mird_decoder_backward(const mird_decoder *m, const mird_pass *pass,
                                  const mird_sequence_input *target, mird_decoder_acts *a,
                                  double g, float *d_code_s, float *d_code_m)
{
    static const char op[] = "mird_decoder_backward";
    mird_dnnl *ctx = pass->ctx;
    const mird_param_table *t = pass->params;
    int64_t batch = pass->batch, z = m->latent, width = 2 * z, frames = batch * m->steps;
    if (a->counted == 0)
        return MIRD_OK;
    MIRD_TRY(check_target(m, pass, target, op));
    if (!a->cached)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_STATE,
                         "%s: the last forward was not a training forward", op);
    memset(a->d_out, 0, (size_t)(frames * m->out_dim) * sizeof(float));
    if (m->tokens)
        MIRD_TRY(mird_sequence_cross_entropy_backward(ctx, a->out, target->ids, target->lengths,
                                                      batch, m->steps, m->out_dim,
                                                      mask_padding(pass), a->log_norm, g,
                                                      a->d_out));
    else
        MIRD_TRY(mird_sequence_mse_backward(ctx, a->out, target->features, target->lengths,
                                            batch, m->steps, m->out_dim, mask_padding(pass), g,
                                            a->d_out, NULL));
    /* d_h_all = d_out W is written, not added, which saves zeroing it first. */
    const float *W_out = mird_param_value(t, m->out_weight);
    MIRD_TRY(mird_matmul(ctx, a->d_out, mird_matmul_dense(1, frames, m->out_dim), W_out,
                         mird_matmul_dense(1, m->out_dim, width), a->d_h_all,
                         mird_matmul_dense(1, frames, width), 1.0f, 0));
    MIRD_TRY(mird_linear_backward(ctx, a->h_all, W_out, a->d_out, NULL,
                                  mird_param_grad(t, m->out_weight),
                                  mird_param_grad(t, m->out_bias), frames, width, m->out_dim));
    int want_codes = d_code_s || d_code_m;
    if (want_codes)
        memset(a->d_u, 0, (size_t)(batch * width) * sizeof(float));
    mird_lstm_weights w = mird_lstm_params_values(&m->lstm, t);
    mird_lstm_grads grads = mird_lstm_params_grads(&m->lstm, t);
    MIRD_TRY(mird_lstm_decoder_backward(ctx, batch, m->steps, width, a->u, &w, a->h_all,
                                        a->workspace, a->d_h_all, want_codes ? a->d_u : NULL,
                                        &grads));
    add_half(d_code_s, a->d_u, batch, z, 0);
    add_half(d_code_m, a->d_u, batch, z, z);
    return MIRD_OK;
}
