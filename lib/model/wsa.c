#include "model/wsa.h"

#include <math.h>
#include <string.h>

#include "ops/dropout.h"
#include "ops/layernorm.h"
#include "ops/linear.h"
#include "ops/mag.h"
#include "ops/sparsemax.h"

/* As released (torch.nn.LayerNorm's default). */
#define WSA_LAYERNORM_EPS 1e-5f
/* Below this many elements the plain-C loops stay on the calling thread. */
#define WSA_PARALLEL_MIN_ELEMENTS 16384

static const char *const branch_suffix[MIRD_WSA_MODALITIES] = {"a", "v"};
static const char *const branch_name[MIRD_WSA_MODALITIES] = {"audio", "visual"};

void mird_wsa_register(mird_wsa *m, mird_param_table *t, const mird_config *cfg)
{
    m->text_length = mird_cfg_int(cfg, MIRD_PARAM_TEXT_LENGTH);
    m->hidden = mird_cfg_int(cfg, MIRD_PARAM_HIDDEN);
    m->branch[MIRD_WSA_AUDIO].frames = mird_cfg_int(cfg, MIRD_PARAM_AUDIO_LENGTH);
    m->branch[MIRD_WSA_AUDIO].dim = mird_cfg_int(cfg, MIRD_PARAM_AUDIO_DIM);
    m->branch[MIRD_WSA_VISUAL].frames = mird_cfg_int(cfg, MIRD_PARAM_VISION_LENGTH);
    m->branch[MIRD_WSA_VISUAL].dim = mird_cfg_int(cfg, MIRD_PARAM_VISION_DIM);
    int64_t H = m->hidden;
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++) {
        mird_wsa_branch *br = &m->branch[k];
        mird_params_add_linear(t, MIRD_GROUP_MODEL, br->dim, H, &br->key_weight, &br->key_bias,
                               "agnostic.wsa.key_%s", branch_suffix[k]);
        mird_params_add_linear(t, MIRD_GROUP_MODEL, br->dim + H, H, &br->gate_weight, &br->gate_bias,
                               "agnostic.wsa.gate_%s", branch_suffix[k]);
        mird_params_add_linear(t, MIRD_GROUP_MODEL, br->dim, H, &br->shift_weight, &br->shift_bias,
                               "agnostic.wsa.shift_%s", branch_suffix[k]);
    }
    int64_t norm_dims[1] = {H};
    m->norm_weight = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_ONES, 0.0f, 1, norm_dims,
                                     "agnostic.wsa.LayerNorm.weight");
    m->norm_bias = mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_ZEROS, 0.0f, 1, norm_dims,
                                   "agnostic.wsa.LayerNorm.bias");
}

void mird_wsa_plan(const mird_wsa *m, mird_arena *ws, int64_t batch, mird_wsa_acts *a)
{
    int64_t rows = batch * m->text_length, H = m->hidden;
    int64_t most_frames = 0, most_dim = 0;
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++) {
        const mird_wsa_branch *br = &m->branch[k];
        mird_wsa_branch_acts *b = &a->branch[k];
        b->probs = mird_ws_floats(ws, rows * br->frames);
        b->mixed = mird_ws_floats(ws, rows * br->dim);
        b->gate = mird_ws_floats(ws, rows * H);
        b->shift = mird_ws_floats(ws, rows * H);
        most_frames = br->frames > most_frames ? br->frames : most_frames;
        most_dim = br->dim > most_dim ? br->dim : most_dim;
    }
    a->combined = mird_ws_floats(ws, rows * H);
    a->alpha = mird_ws_floats(ws, rows);
    a->norms = mird_ws_floats(ws, rows * MIRD_MAG_NORMS_PER_ROW);
    a->shifted = mird_ws_floats(ws, rows * H);
    a->ln_mean = mird_ws_floats(ws, rows);
    a->ln_var = mird_ws_floats(ws, rows);
    a->mask = mird_ws_floats(ws, rows * H);
    a->query = mird_ws_floats(ws, rows * most_dim);
    a->scores = mird_ws_floats(ws, rows * most_frames);
    a->d_probs = mird_ws_floats(ws, rows * most_frames);
    a->d_mixed = mird_ws_floats(ws, rows * most_dim);
    a->d_gate = mird_ws_floats(ws, rows * H);
    a->d_shift = mird_ws_floats(ws, rows * H);
    a->d_combined = mird_ws_floats(ws, rows * H);
    a->d_shifted = mird_ws_floats(ws, rows * H);
    a->d_normed = mird_ws_floats(ws, rows * H);
}

static mird_status check_inputs(const mird_wsa *m, const mird_pass *pass,
                                const mird_wsa_inputs *in, const char *op)
{
    mird_error *err = mird_dnnl_error(pass->ctx);
    if (pass->batch < 0)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "%s: batch = %lld is negative", op,
                         (long long)pass->batch);
    if (!in || !in->text)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s: the text embedding is NULL", op);
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++) {
        if (!in->frames[k] || !in->lengths[k])
            return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s: %s %s are NULL", op,
                             branch_name[k], !in->frames[k] ? "frames" : "lengths");
        for (int64_t s = 0; s < pass->batch; s++)
            if (in->lengths[k][s] < 0 || in->lengths[k][s] > m->branch[k].frames)
                return mird_fail(err, MIRD_ERR_SHAPE,
                                 "%s: %s lengths[%lld] = %d is outside 0..%lld", op,
                                 branch_name[k], (long long)s, (int)in->lengths[k][s],
                                 (long long)m->branch[k].frames);
    }
    return MIRD_OK;
}

/* A [batch, rows, cols] view whose rows are `row_stride` apart. */
static mird_matmul_view strided(int64_t batch, int64_t rows, int64_t cols, int64_t row_stride)
{
    mird_matmul_view v = {{batch, rows, cols}, {rows * row_stride, row_stride, 1}};
    return v;
}

/* One modality's operands: its shapes, buffers and the views its products
 * take them through (all dense but the gate weight's). */
typedef struct branch_operands {
    const mird_wsa_branch *br;
    mird_wsa_branch_acts *b;
    const float *E, *X, *W_gate;
    int64_t rows, d; /* B*T_l, d_m */
    mird_matmul_view hidden;     /* [1, B*T_l, H]: E, g, s and their gradients */
    mird_matmul_view mixed;      /* [1, B*T_l, d]: Q, X~ and their gradients */
    mird_matmul_view mixed_each; /* the same as [B, T_l, d], sample by sample */
    mird_matmul_view frames;     /* [B, T_m, d]: X */
    mird_matmul_view attention;  /* [B, T_l, T_m]: S, P and their gradients */
    mird_matmul_view key;        /* [1, H, d]: W_k */
    /* The gate weight [H, d + H] as its two column blocks: the one that meets
     * X~ (columns 0..d-1, at W_gate) and the one that meets E (at W_gate + d). */
    mird_matmul_view gate_mixed, gate_text;
} branch_operands;

static branch_operands operands_of(const mird_wsa *m, const mird_pass *pass, int k,
                                   const mird_wsa_inputs *in, mird_wsa_acts *a)
{
    const mird_wsa_branch *br = &m->branch[k];
    int64_t B = pass->batch, T_l = m->text_length, H = m->hidden, T = br->frames, d = br->dim;
    branch_operands o = {br,
                         &a->branch[k],
                         in->text,
                         in->frames[k],
                         mird_param_value(pass->params, br->gate_weight),
                         B * T_l,
                         d,
                         mird_matmul_dense(1, B * T_l, H),
                         mird_matmul_dense(1, B * T_l, d),
                         mird_matmul_dense(B, T_l, d),
                         mird_matmul_dense(B, T, d),
                         mird_matmul_dense(B, T_l, T),
                         mird_matmul_dense(1, H, d),
                         strided(1, H, d, d + H),
                         strided(1, H, H, d + H)};
    return o;
}

/* g = ReLU(g + b) in place, rows of `width`.  (`omp simd` because -O2
 * would leave this loop scalar and branchy: half the units are off.) */
static void add_bias_relu(float *g, const float *bias, int64_t rows, int64_t width)
{
#pragma omp parallel for schedule(static) if (rows * width >= WSA_PARALLEL_MIN_ELEMENTS)
    for (int64_t r = 0; r < rows; r++) {
        float *row = g + r * width;
#pragma omp simd
        for (int64_t o = 0; o < width; o++) {
            float v = row[o] + bias[o];
            row[o] = v > 0.0f ? v : 0.0f;
        }
    }
}

/* Zeroes the rows of samples without frames (s^m = 0 for n_m = 0). */
static void zero_empty_samples(float *x, const int32_t *lengths, int64_t batch,
                               int64_t sample_floats)
{
    for (int64_t s = 0; s < batch; s++)
        if (lengths[s] == 0)
            memset(x + s * sample_floats, 0, (size_t)sample_floats * sizeof(float));
}

static mird_status branch_forward(const mird_wsa *m, const mird_pass *pass, int k,
                                  const mird_wsa_inputs *in, mird_wsa_acts *a)
{
    const mird_param_table *t = pass->params;
    mird_dnnl *ctx = pass->ctx;
    branch_operands o = operands_of(m, pass, k, in, a);
    const mird_wsa_branch *br = o.br;
    mird_wsa_branch_acts *b = o.b;

    /* Q = E W_k, S = Q X^T (see wsa.h for why the keys are never formed). */
    MIRD_TRY(mird_matmul(ctx, o.E, o.hidden, mird_param_value(t, br->key_weight), o.key,
                         a->query, o.mixed, 1.0f, 0));
    MIRD_TRY(mird_matmul(ctx, a->query, o.mixed_each, o.X, mird_matmul_transposed(o.frames),
                         a->scores, o.attention, 1.0f, 0));
    MIRD_TRY(mird_sparsemax_forward(ctx, a->scores, b->probs, pass->batch, m->text_length,
                                    br->frames, in->lengths[k]));
    /* Padded frames meet exact zeros of P: their (finite) values do not matter. */
    MIRD_TRY(mird_matmul(ctx, b->probs, o.attention, o.X, o.frames, b->mixed, o.mixed_each, 1.0f,
                         0));

    MIRD_TRY(mird_matmul(ctx, o.E, o.hidden, o.W_gate + o.d, mird_matmul_transposed(o.gate_text),
                         b->gate, o.hidden, 1.0f, 0));
    MIRD_TRY(mird_matmul(ctx, b->mixed, o.mixed, o.W_gate, mird_matmul_transposed(o.gate_mixed),
                         b->gate, o.hidden, 1.0f, 1));
    add_bias_relu(b->gate, mird_param_value(t, br->gate_bias), o.rows, m->hidden);

    MIRD_TRY(mird_linear_forward(ctx, b->mixed, mird_param_value(t, br->shift_weight),
                                 mird_param_value(t, br->shift_bias), b->shift, o.rows, o.d,
                                 m->hidden));
    zero_empty_samples(b->shift, in->lengths[k], pass->batch, m->text_length * m->hidden);
    return MIRD_OK;
}

mird_status mird_wsa_forward(const mird_wsa *m, const mird_pass *pass, const mird_wsa_inputs *in,
                             mird_wsa_acts *a, float *out)
{
    MIRD_TRY(check_inputs(m, pass, in, "wsa forward"));
    if (!out)
        return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_NULL_ARGUMENT,
                         "wsa forward: out is NULL");
    int64_t rows = pass->batch * m->text_length, H = m->hidden, n = rows * H;
    if (rows == 0)
        return MIRD_OK;
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++)
        MIRD_TRY(branch_forward(m, pass, k, in, a));

    const float *g_a = a->branch[MIRD_WSA_AUDIO].gate, *s_a = a->branch[MIRD_WSA_AUDIO].shift;
    const float *g_v = a->branch[MIRD_WSA_VISUAL].gate, *s_v = a->branch[MIRD_WSA_VISUAL].shift;
#pragma omp parallel for schedule(static) if (n >= WSA_PARALLEL_MIN_ELEMENTS)
    for (int64_t r = 0; r < rows; r++) {
        float *hs = a->combined + r * H;
        int64_t at = r * H;
#pragma omp simd
        for (int64_t i = 0; i < H; i++)
            hs[i] = g_a[at + i] * s_a[at + i] + g_v[at + i] * s_v[at + i];
    }

    const mird_param_table *t = pass->params;
    MIRD_TRY(mird_mag_forward(pass->ctx, in->text, a->combined, a->shifted, a->alpha, a->norms,
                              rows, H, (float)mird_cfg_real(pass->cfg, MIRD_PARAM_BETA_SHIFT)));
    MIRD_TRY(mird_layernorm_forward(pass->ctx, a->shifted, mird_param_value(t, m->norm_weight),
                                    mird_param_value(t, m->norm_bias), out,
                                    pass->training ? a->ln_mean : NULL,
                                    pass->training ? a->ln_var : NULL, rows, H,
                                    WSA_LAYERNORM_EPS));
    mird_rng_stream stream = mird_pass_dropout_stream(pass, MIRD_SITE_AGNOSTIC_WSA);
    return mird_dropout_forward(pass->ctx, &stream,
                                mird_pass_dropout(pass, MIRD_PARAM_DROPOUT_WSA), out, out,
                                a->mask, n);
}

/* From dHs: ds = dHs * g (nothing for a sample without frames, whose s was
 * forced to 0) and the gate's pre-activation gradient dHs * s where g > 0. */
static void split_combined_gradient(const float *d_combined, const float *gate,
                                    const float *shift, const int32_t *lengths, float *d_gate,
                                    float *d_shift, int64_t batch, int64_t sample_floats)
{
#pragma omp parallel for schedule(static) if (batch * sample_floats >= WSA_PARALLEL_MIN_ELEMENTS)
    for (int64_t s = 0; s < batch; s++) {
        int64_t at = s * sample_floats;
        const float *dhs = d_combined + at, *g = gate + at, *sh = shift + at;
        float *dg = d_gate + at, *ds = d_shift + at;
        /* ReLU's derivative as a 0/1 factor: a product under a condition
         * stays scalar and branchy at -O2 (trapping math forbids
         * if-converting it); this form vectorises. */
#pragma omp simd
        for (int64_t i = 0; i < sample_floats; i++) {
            float on = g[i] > 0.0f ? 1.0f : 0.0f;
            dg[i] = on * (dhs[i] * sh[i]);
        }
        if (lengths[s] == 0) {
            memset(ds, 0, (size_t)sample_floats * sizeof(float));
            continue;
        }
#pragma omp simd
        for (int64_t i = 0; i < sample_floats; i++)
            ds[i] = dhs[i] * g[i];
    }
}

static mird_status branch_backward(const mird_wsa *m, const mird_pass *pass, int k,
                                   const mird_wsa_inputs *in, mird_wsa_acts *a, float *d_text)
{
    const mird_param_table *t = pass->params;
    mird_dnnl *ctx = pass->ctx;
    branch_operands o = operands_of(m, pass, k, in, a);
    const mird_wsa_branch *br = o.br;
    mird_wsa_branch_acts *b = o.b;
    float *dW_gate = mird_param_grad(t, br->gate_weight);

    split_combined_gradient(a->d_combined, b->gate, b->shift, in->lengths[k], a->d_gate,
                            a->d_shift, pass->batch, m->text_length * m->hidden);

    /* Gate: dW = d_gate^T [X~ ; E] block by block, db = column sums (the
     * Linear's backward with only the bias asked for), dX~ = d_gate W_gx,
     * dE += d_gate W_ge. */
    mird_matmul_view d_gate_t = mird_matmul_transposed(o.hidden);
    MIRD_TRY(mird_matmul(ctx, a->d_gate, d_gate_t, b->mixed, o.mixed, dW_gate, o.gate_mixed, 1.0f,
                         1));
    MIRD_TRY(mird_matmul(ctx, a->d_gate, d_gate_t, o.E, o.hidden, dW_gate + o.d, o.gate_text,
                         1.0f, 1));
    MIRD_TRY(mird_linear_backward(ctx, NULL, NULL, a->d_gate, NULL, NULL,
                                  mird_param_grad(t, br->gate_bias), o.rows, o.d + m->hidden,
                                  m->hidden));
    MIRD_TRY(mird_matmul(ctx, a->d_gate, o.hidden, o.W_gate, o.gate_mixed, a->d_mixed, o.mixed,
                         1.0f, 0));
    if (d_text)
        MIRD_TRY(mird_matmul(ctx, a->d_gate, o.hidden, o.W_gate + o.d, o.gate_text, d_text,
                             o.hidden, 1.0f, 1));
    MIRD_TRY(mird_linear_backward(ctx, b->mixed, mird_param_value(t, br->shift_weight),
                                  a->d_shift, a->d_mixed, mird_param_grad(t, br->shift_weight),
                                  mird_param_grad(t, br->shift_bias), o.rows, o.d, m->hidden));

    /* dP = dX~ X^T; dS through sparsemax (nothing reaches frames >= n_m). */
    MIRD_TRY(mird_matmul(ctx, a->d_mixed, o.mixed_each, o.X, mird_matmul_transposed(o.frames),
                         a->d_probs, o.attention, 1.0f, 0));
    memset(a->scores, 0, (size_t)(o.rows * br->frames) * sizeof(float));
    MIRD_TRY(mird_sparsemax_backward(ctx, b->probs, a->d_probs, a->scores, pass->batch,
                                     m->text_length, br->frames, in->lengths[k]));

    /* dQ = dS X; then dE += dQ W_k^T and dW_k += E^T dQ.  The key bias gets
     * no gradient: each row of dS sums to zero (wsa.h). */
    MIRD_TRY(mird_matmul(ctx, a->scores, o.attention, o.X, o.frames, a->query, o.mixed_each, 1.0f,
                         0));
    if (d_text)
        MIRD_TRY(mird_matmul(ctx, a->query, o.mixed, mird_param_value(t, br->key_weight),
                             mird_matmul_transposed(o.key), d_text, o.hidden, 1.0f, 1));
    return mird_matmul(ctx, o.E, mird_matmul_transposed(o.hidden), a->query, o.mixed,
                       mird_param_grad(t, br->key_weight), o.key, 1.0f, 1);
}

mird_status mird_wsa_backward(const mird_wsa *m, const mird_pass *pass,
                              const mird_wsa_inputs *in, mird_wsa_acts *a, const float *d_out,
                              float *d_text)
{
    MIRD_TRY(check_inputs(m, pass, in, "wsa backward"));
    if (!d_out)
        return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_NULL_ARGUMENT,
                         "wsa backward: d_out is NULL");
    const mird_param_table *t = pass->params;
    int64_t rows = pass->batch * m->text_length, H = m->hidden, n = rows * H;
    if (rows == 0)
        return MIRD_OK;
    size_t bytes = (size_t)n * sizeof(float);
    memset(a->d_normed, 0, bytes);
    MIRD_TRY(mird_dropout_backward(pass->ctx, a->mask, d_out, a->d_normed, n));
    memset(a->d_shifted, 0, bytes);
    MIRD_TRY(mird_layernorm_backward(pass->ctx, a->shifted, mird_param_value(t, m->norm_weight),
                                     a->ln_mean, a->ln_var, a->d_normed, a->d_shifted,
                                     mird_param_grad(t, m->norm_weight),
                                     mird_param_grad(t, m->norm_bias), rows, H,
                                     WSA_LAYERNORM_EPS));
    memset(a->d_combined, 0, bytes);
    MIRD_TRY(mird_mag_backward(pass->ctx, in->text, a->combined, a->d_shifted, a->alpha, a->norms,
                               d_text, a->d_combined, rows, H,
                               (float)mird_cfg_real(pass->cfg, MIRD_PARAM_BETA_SHIFT)));
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++)
        MIRD_TRY(branch_backward(m, pass, k, in, a, d_text));
    return MIRD_OK;
}
