#include "model/estimators.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "ops/activations.h"
#include "ops/club.h"
#include "ops/linear.h"
#include "ops/orthogonality.h"

/* Where a pair's y comes from: a code, or one of the two input means. */
enum { Y_AUDIO_MEAN = MIRD_CODE_COUNT, Y_VISUAL_MEAN };

static const struct {
    const char *name;
    int x, y;
} pair_spec[MIRD_CLUB_PAIR_COUNT] = {
    [MIRD_CLUB_L_A] = {"l_a", MIRD_CODE_L, MIRD_CODE_A},
    [MIRD_CLUB_L_V] = {"l_v", MIRD_CODE_L, MIRD_CODE_V},
    [MIRD_CLUB_A_V] = {"a_v", MIRD_CODE_A, MIRD_CODE_V},
    [MIRD_CLUB_S_L] = {"s_l", MIRD_CODE_S, MIRD_CODE_L},
    [MIRD_CLUB_S_A] = {"s_a", MIRD_CODE_S, MIRD_CODE_A},
    [MIRD_CLUB_S_V] = {"s_v", MIRD_CODE_S, MIRD_CODE_V},
    [MIRD_CLUB_S_XA] = {"s_xa", MIRD_CODE_S, Y_AUDIO_MEAN},
    [MIRD_CLUB_S_XV] = {"s_xv", MIRD_CODE_S, Y_VISUAL_MEAN},
};

/* The `oc` constraint pairs the codes as the first six CLUB pairs do. */
#define CODE_PAIR_COUNT 6

const char *mird_club_pair_name(mird_club_pair pair)
{
    return (unsigned)pair < MIRD_CLUB_PAIR_COUNT ? pair_spec[pair].name : NULL;
}

/* ---- registration and planning ---- */

static int64_t y_dim_of(const mird_estimators *est, int y)
{
    switch (y) {
    case Y_AUDIO_MEAN:
        return est->audio_dim;
    case Y_VISUAL_MEAN:
        return est->vision_dim;
    default:
        return est->latent;
    }
}

void mird_estimators_register(mird_estimators *est, mird_param_table *table,
                              const mird_config *cfg)
{
    memset(est, 0, sizeof *est);
    est->latent = mird_cfg_int(cfg, MIRD_PARAM_LATENT_DIM);
    est->half_hidden = mird_cfg_int(cfg, MIRD_PARAM_CLUB_HIDDEN) / 2;
    est->audio_dim = mird_cfg_int(cfg, MIRD_PARAM_AUDIO_DIM);
    est->vision_dim = mird_cfg_int(cfg, MIRD_PARAM_VISION_DIM);
    est->pair_count = mird_cfg_int(cfg, MIRD_PARAM_INPUT_MI) ? MIRD_CLUB_PAIR_COUNT
                                                              : CODE_PAIR_COUNT;
    for (int p = 0; p < est->pair_count; p++) {
        mird_club_net *net = &est->nets[p];
        const char *name = pair_spec[p].name;
        net->x_dim = est->latent;
        net->y_dim = y_dim_of(est, pair_spec[p].y);
        for (int layer = 0; layer < 2; layer++) {
            int64_t in = layer == 0 ? net->x_dim : est->half_hidden;
            int64_t out = layer == 0 ? est->half_hidden : net->y_dim;
            mird_params_add_linear(table, MIRD_GROUP_ESTIMATOR, in, out, &net->mu_weight[layer],
                                   &net->mu_bias[layer],
                                   "club.%s.mu.%d", name, 2 * layer);
        }
        for (int layer = 0; layer < 2; layer++) {
            int64_t in = layer == 0 ? net->x_dim : est->half_hidden;
            int64_t out = layer == 0 ? est->half_hidden : net->y_dim;
            mird_params_add_linear(table, MIRD_GROUP_ESTIMATOR, in, out, &net->logvar_weight[layer],
                                   &net->logvar_bias[layer],
                                   "club.%s.logvar.%d", name, 2 * layer);
        }
    }
}

void mird_estimators_plan(const mird_estimators *est, mird_arena *ws, int64_t batch,
                          mird_estimator_acts *acts)
{
    memset(acts, 0, sizeof *acts);
    acts->batch = batch;
    int64_t widest_y = 0;
    for (int p = 0; p < est->pair_count; p++) {
        const mird_club_net *net = &est->nets[p];
        mird_club_pair_acts *a = &acts->pair[p];
        a->mu_hidden = mird_ws_floats(ws, batch * est->half_hidden);
        a->logvar_hidden = mird_ws_floats(ws, batch * est->half_hidden);
        a->mu = mird_ws_floats(ws, batch * net->y_dim);
        a->logvar = mird_ws_floats(ws, batch * net->y_dim);
        a->negatives = mird_arena_reserve(ws, (size_t)batch * sizeof(int32_t));
        if (net->y_dim > widest_y)
            widest_y = net->y_dim;
    }
    acts->d_mu = mird_ws_floats(ws, batch * widest_y);
    acts->d_logvar = mird_ws_floats(ws, batch * widest_y);
    acts->d_logvar_pre = mird_ws_floats(ws, batch * widest_y);
    acts->d_hidden = mird_ws_floats(ws, batch * est->half_hidden);
    acts->d_hidden_pre = mird_ws_floats(ws, batch * est->half_hidden);
}

/* ---- helpers ---- */

static const float *pair_x(const mird_estimator_inputs *in, int p)
{
    return in->code[pair_spec[p].x];
}

static const float *pair_y(const mird_estimator_inputs *in, int p)
{
    switch (pair_spec[p].y) {
    case Y_AUDIO_MEAN:
        return in->audio_mean;
    case Y_VISUAL_MEAN:
        return in->visual_mean;
    default:
        return in->code[pair_spec[p].y];
    }
}

static mird_status check_call(const mird_estimators *est, const mird_pass *pass,
                              const mird_estimator_inputs *in, const mird_estimator_acts *acts,
                              const char *op)
{
    if (!est || !pass || !pass->ctx)
        return MIRD_ERR_NULL_ARGUMENT; /* no context to describe it in */
    mird_error *err = mird_dnnl_error(pass->ctx);
    if (!in || !acts)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s: %s is NULL", op,
                         !in ? "inputs" : "acts");
    if (pass->batch < 0 || pass->batch > acts->batch)
        return mird_fail(err, MIRD_ERR_SHAPE,
                         "%s: batch = %" PRId64 " is outside [0, planned batch = %" PRId64 "]",
                         op, pass->batch, acts->batch);
    if (pass->batch > 0 && est->pair_count > 0 && !acts->pair[0].mu)
        return mird_fail(err, MIRD_ERR_STATE, "%s: acts were planned on an uncommitted arena",
                         op);
    for (int c = 0; c < MIRD_CODE_COUNT; c++)
        if (!in->code[c])
            return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s: code[%d] is NULL", op, c);
    if (est->pair_count > CODE_PAIR_COUNT && (!in->audio_mean || !in->visual_mean))
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT,
                         "%s: input_mi needs audio_mean and visual_mean, got NULL", op);
    return MIRD_OK;
}

static int sampled(const mird_pass *pass)
{
    return mird_cfg_int(pass->cfg, MIRD_PARAM_CLUB_SAMPLE) != 0;
}

/* A Fisher-Yates shuffle whose swap at position i draws element
 * (pair << 32) + i, so each pair has its own permutation for any B. */
static void draw_permutation(const mird_pass *pass, int pair, int64_t batch, int32_t *perm)
{
    mird_rng_stream stream =
        mird_rng_make_stream(pass->seed, MIRD_RNG_CLUB_PERMUTATION, pass->pass_id);
    for (int64_t i = 0; i < batch; i++)
        perm[i] = (int32_t)i;
    for (int64_t i = batch - 1; i > 0; i--) {
        uint64_t element = ((uint64_t)pair << 32) + (uint64_t)i;
        int64_t j = (int64_t)mird_rng_below(&stream, element, (uint64_t)i + 1);
        int32_t held = perm[i];
        perm[i] = perm[j];
        perm[j] = held;
    }
}

/* ---- the networks ---- */

static mird_status net_forward(const mird_estimators *est, const mird_pass *pass, int p,
                               const float *x, mird_club_pair_acts *a)
{
    const mird_param_table *t = pass->params;
    const mird_club_net *net = &est->nets[p];
    const int64_t B = pass->batch, h = est->half_hidden;
    mird_dnnl *ctx = pass->ctx;

    MIRD_TRY(mird_linear_forward(ctx, x, mird_param_value(t, net->mu_weight[0]),
                                 mird_param_value(t, net->mu_bias[0]), a->mu_hidden, B,
                                 net->x_dim, h));
    MIRD_TRY(mird_activation_forward(ctx, MIRD_ACTIVATION_RELU, a->mu_hidden, a->mu_hidden,
                                     B * h));
    MIRD_TRY(mird_linear_forward(ctx, a->mu_hidden, mird_param_value(t, net->mu_weight[1]),
                                 mird_param_value(t, net->mu_bias[1]), a->mu, B, h,
                                 net->y_dim));

    MIRD_TRY(mird_linear_forward(ctx, x, mird_param_value(t, net->logvar_weight[0]),
                                 mird_param_value(t, net->logvar_bias[0]), a->logvar_hidden, B,
                                 net->x_dim, h));
    MIRD_TRY(mird_activation_forward(ctx, MIRD_ACTIVATION_RELU, a->logvar_hidden,
                                     a->logvar_hidden, B * h));
    MIRD_TRY(mird_linear_forward(ctx, a->logvar_hidden,
                                 mird_param_value(t, net->logvar_weight[1]),
                                 mird_param_value(t, net->logvar_bias[1]), a->logvar, B, h,
                                 net->y_dim));
    return mird_activation_forward(ctx, MIRD_ACTIVATION_TANH, a->logvar, a->logvar,
                                   B * net->y_dim);
}

/* One head (mu or logvar) backwards from the gradient of its layer-2 output. */
static mird_status head_backward(const mird_pass *pass, const mird_club_net *net, int64_t h,
                                 const int *weight, const int *bias, const float *x,
                                 const float *hidden, const float *d_out,
                                 mird_estimator_acts *acts, int train_params, float *dx)
{
    const mird_param_table *t = pass->params;
    const int64_t B = pass->batch;
    mird_dnnl *ctx = pass->ctx;
    /* The frozen networks of the model update get no parameter gradient. */
    float *dW2 = train_params ? mird_param_grad(t, weight[1]) : NULL;
    float *db2 = train_params ? mird_param_grad(t, bias[1]) : NULL;
    float *dW0 = train_params ? mird_param_grad(t, weight[0]) : NULL;
    float *db0 = train_params ? mird_param_grad(t, bias[0]) : NULL;

    memset(acts->d_hidden, 0, (size_t)(B * h) * sizeof(float));
    MIRD_TRY(mird_linear_backward(ctx, hidden, mird_param_value(t, weight[1]), d_out,
                                  acts->d_hidden, dW2, db2, B, h, net->y_dim));
    memset(acts->d_hidden_pre, 0, (size_t)(B * h) * sizeof(float));
    MIRD_TRY(mird_activation_backward(ctx, MIRD_ACTIVATION_RELU, hidden, acts->d_hidden,
                                      acts->d_hidden_pre, B * h));
    return mird_linear_backward(ctx, x, mird_param_value(t, weight[0]), acts->d_hidden_pre, dx,
                                dW0, db0, B, net->x_dim, h);
}

/* From acts->d_mu and acts->d_logvar (the gradients of mu and of logvar
 * after tanh) into dx and, when train_params, the pair's parameters. */
static mird_status net_backward(const mird_estimators *est, const mird_pass *pass, int p,
                                const float *x, mird_estimator_acts *acts, int train_params,
                                float *dx)
{
    const mird_club_net *net = &est->nets[p];
    const mird_club_pair_acts *a = &acts->pair[p];
    const int64_t n = pass->batch * net->y_dim;
    MIRD_TRY(head_backward(pass, net, est->half_hidden, net->mu_weight, net->mu_bias, x,
                           a->mu_hidden, acts->d_mu, acts, train_params, dx));
    memset(acts->d_logvar_pre, 0, (size_t)n * sizeof(float));
    MIRD_TRY(mird_activation_backward(pass->ctx, MIRD_ACTIVATION_TANH, a->logvar,
                                      acts->d_logvar, acts->d_logvar_pre, n));
    return head_backward(pass, net, est->half_hidden, net->logvar_weight, net->logvar_bias, x,
                         a->logvar_hidden, acts->d_logvar_pre, acts, train_params, dx);
}

static void zero_head_gradients(const mird_pass *pass, const mird_club_net *net,
                                mird_estimator_acts *acts)
{
    size_t bytes = (size_t)(pass->batch * net->y_dim) * sizeof(float);
    memset(acts->d_mu, 0, bytes);
    memset(acts->d_logvar, 0, bytes);
}

/* ---- forward ---- */

static mird_status constraint_forward(const mird_estimators *est, const mird_pass *pass,
                                      const mird_estimator_inputs *in,
                                      mird_estimator_results *results)
{
    long long kind = mird_cfg_int(pass->cfg, MIRD_PARAM_CONSTRAINT);
    results->constraint = 0.0;
    switch (kind) {
    case MIRD_CONSTRAINT_MIM:
        for (int p = 0; p < est->pair_count; p++)
            results->constraint += results->estimate[p];
        return MIRD_OK;
    case MIRD_CONSTRAINT_OC:
        for (int p = 0; p < CODE_PAIR_COUNT; p++) {
            double loss;
            MIRD_TRY(mird_orthogonality_forward(pass->ctx, pair_x(in, p), pair_y(in, p),
                                                pass->batch, est->latent, est->latent, &loss));
            results->constraint += loss;
        }
        return MIRD_OK;
    case MIRD_CONSTRAINT_NONE:
        return MIRD_OK;
    default:
        return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "mird_estimators: unknown constraint %lld", kind);
    }
}

mird_status mird_estimators_forward(const mird_estimators *est, const mird_pass *pass,
                                    const mird_estimator_inputs *in,
                                    mird_estimator_acts *acts,
                                    mird_estimator_results *results)
{
    MIRD_TRY(check_call(est, pass, in, acts, "mird_estimators_forward"));
    if (!results)
        return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_NULL_ARGUMENT,
                         "mird_estimators_forward: results is NULL");
    const int64_t B = pass->batch;
    results->estimator_loss = 0.0;
    results->constraint = 0.0;
    for (int p = 0; p < MIRD_CLUB_PAIR_COUNT; p++) {
        int present = p < est->pair_count;
        results->estimate[p] = results->learning_loss[p] = present ? 0.0 : NAN;
    }
    if (B == 0)
        return MIRD_OK; /* every mean over no rows is 0, as the ops define it */
    for (int p = 0; p < est->pair_count; p++) {
        mird_club_pair_acts *a = &acts->pair[p];
        const int64_t d = est->nets[p].y_dim;
        const float *y = pair_y(in, p);
        MIRD_TRY(net_forward(est, pass, p, pair_x(in, p), a));
        if (sampled(pass)) {
            draw_permutation(pass, p, B, a->negatives);
            MIRD_TRY(mird_club_sample_forward(pass->ctx, a->mu, a->logvar, y, a->negatives, B,
                                              d, &results->estimate[p]));
        } else {
            MIRD_TRY(mird_club_forward(pass->ctx, a->mu, a->logvar, y, B, d,
                                       &results->estimate[p]));
        }
        MIRD_TRY(mird_club_learning_loss_forward(pass->ctx, a->mu, a->logvar, y, B, d,
                                                 &results->learning_loss[p]));
        results->estimator_loss += results->learning_loss[p];
    }
    return constraint_forward(est, pass, in, results);
}

/* ---- backward ---- */

static mird_status mim_backward(const mird_estimators *est, const mird_pass *pass,
                                const mird_estimator_inputs *in, mird_estimator_acts *acts,
                                double g, float *const d_code[MIRD_CODE_COUNT])
{
    for (int p = 0; p < est->pair_count; p++) {
        const mird_club_pair_acts *a = &acts->pair[p];
        const mird_club_net *net = &est->nets[p];
        /* The input means are data: only code targets receive a gradient. */
        float *dy = pair_spec[p].y < MIRD_CODE_COUNT ? d_code[pair_spec[p].y] : NULL;
        float *dx = d_code[pair_spec[p].x];
        if (!dx && !dy)
            continue;
        zero_head_gradients(pass, net, acts);
        if (sampled(pass))
            MIRD_TRY(mird_club_sample_backward(pass->ctx, a->mu, a->logvar, pair_y(in, p),
                                               a->negatives, pass->batch, net->y_dim, g,
                                               acts->d_mu, acts->d_logvar, dy));
        else
            MIRD_TRY(mird_club_backward(pass->ctx, a->mu, a->logvar, pair_y(in, p),
                                        pass->batch, net->y_dim, g, acts->d_mu, acts->d_logvar,
                                        dy));
        if (dx)
            MIRD_TRY(net_backward(est, pass, p, pair_x(in, p), acts, 0, dx));
    }
    return MIRD_OK;
}

mird_status mird_estimators_backward_constraint(const mird_estimators *est,
                                                const mird_pass *pass,
                                                const mird_estimator_inputs *in,
                                                mird_estimator_acts *acts, double g,
                                                float *const d_code[MIRD_CODE_COUNT])
{
    static const char op[] = "mird_estimators_backward_constraint";
    MIRD_TRY(check_call(est, pass, in, acts, op));
    if (!d_code || pass->batch == 0)
        return MIRD_OK;
    long long kind = mird_cfg_int(pass->cfg, MIRD_PARAM_CONSTRAINT);
    switch (kind) {
    case MIRD_CONSTRAINT_MIM:
        return mim_backward(est, pass, in, acts, g, d_code);
    case MIRD_CONSTRAINT_OC: {
        int detach = mird_cfg_int(pass->cfg, MIRD_PARAM_OC_DETACH_NORM) != 0;
        for (int p = 0; p < CODE_PAIR_COUNT; p++)
            MIRD_TRY(mird_orthogonality_backward(pass->ctx, pair_x(in, p), pair_y(in, p),
                                                 pass->batch, est->latent, est->latent, detach,
                                                 g, d_code[pair_spec[p].x],
                                                 d_code[pair_spec[p].y]));
        return MIRD_OK;
    }
    case MIRD_CONSTRAINT_NONE:
        return MIRD_OK;
    default:
        return mird_fail(mird_dnnl_error(pass->ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: unknown constraint %lld", op, kind);
    }
}

mird_status mird_estimators_backward_learning(const mird_estimators *est,
                                              const mird_pass *pass,
                                              const mird_estimator_inputs *in,
                                              mird_estimator_acts *acts, double g)
{
    MIRD_TRY(check_call(est, pass, in, acts, "mird_estimators_backward_learning"));
    if (pass->batch == 0)
        return MIRD_OK;
    for (int p = 0; p < est->pair_count; p++) {
        const mird_club_pair_acts *a = &acts->pair[p];
        const mird_club_net *net = &est->nets[p];
        zero_head_gradients(pass, net, acts);
        MIRD_TRY(mird_club_learning_loss_backward(pass->ctx, a->mu, a->logvar, pair_y(in, p),
                                                  pass->batch, net->y_dim, g, acts->d_mu,
                                                  acts->d_logvar, NULL));
        MIRD_TRY(net_backward(est, pass, p, pair_x(in, p), acts, 1, NULL));
    }
    return MIRD_OK;
}

/* ---- input frame means ---- */

#define FRAME_MEAN_BLOCK 64

mird_status mird_estimators_frame_means(mird_dnnl *ctx, const float *x, const int32_t *lengths,
                                        int64_t batch, int64_t T, int64_t d, float *mean)
{
    static const char op[] = "mird_estimators_frame_means";
    mird_error *err = mird_dnnl_error(ctx);
    if (batch < 0 || T < 0 || d < 0)
        return mird_fail(err, MIRD_ERR_SHAPE,
                         "%s: batch = %" PRId64 ", T = %" PRId64 " and d = %" PRId64
                         " must not be negative",
                         op, batch, T, d);
    if (batch > 0 && d > 0 && (!x || !lengths || !mean))
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "%s: %s is NULL", op,
                         !x ? "x" : !lengths ? "lengths" : "mean");
    if (d == 0)
        return MIRD_OK;
    for (int64_t b = 0; b < batch; b++)
        if (lengths[b] < 0 || lengths[b] > T)
            return mird_fail(err, MIRD_ERR_SHAPE,
                             "%s: lengths[%" PRId64 "] = %" PRId32 " is outside [0, T = %" PRId64
                             "]",
                             op, b, lengths[b], T);
    /* Each sample is summed by one thread in frame order (thread-count proof),
     * a block of features at a time so the frames are read contiguously. */
#pragma omp parallel for schedule(static) if (batch * T * d >= 65536)
    for (int64_t b = 0; b < batch; b++) {
        const float *sample = x + b * T * d;
        const int64_t n = lengths[b];
        for (int64_t first = 0; first < d; first += FRAME_MEAN_BLOCK) {
            const int64_t width = d - first < FRAME_MEAN_BLOCK ? d - first : FRAME_MEAN_BLOCK;
            double sum[FRAME_MEAN_BLOCK] = {0};
            for (int64_t t = 0; t < n; t++)
                for (int64_t k = 0; k < width; k++)
                    sum[k] += sample[t * d + first + k];
            for (int64_t k = 0; k < width; k++)
                mean[b * d + first + k] = n > 0 ? (float)(sum[k] / (double)n) : 0.0f;
        }
    }
    return MIRD_OK;
}
