#include "model/regressor.h"

#include <math.h>
#include <string.h>

#include "ops/activations.h"
#include "ops/dropout.h"
#include "ops/linear.h"

void mird_regressor_register(mird_regressor *m, mird_param_table *t, int64_t in, int64_t hidden)
{
    m->in = in;
    m->hidden = hidden;
    mird_params_add_linear(t, MIRD_GROUP_MODEL, in, hidden, &m->fc1_weight, &m->fc1_bias,
                           "regressor.fc1");
    mird_params_add_linear(t, MIRD_GROUP_MODEL, hidden, 1, &m->fc2_weight, &m->fc2_bias,
                           "regressor.fc2");
}

void mird_regressor_plan(const mird_regressor *m, mird_arena *ws, int64_t batch,
                         mird_regressor_acts *a)
{
    int64_t n = batch * m->hidden;
    a->hidden = mird_ws_floats(ws, n);
    a->dropped = mird_ws_floats(ws, n);
    a->mask = mird_ws_floats(ws, n);
    a->d_hidden = mird_ws_floats(ws, n);
    a->d_dropped = mird_ws_floats(ws, n);
}

mird_status mird_regressor_forward(const mird_regressor *m, const mird_pass *pass,
                                   const float *x, mird_regressor_acts *a, float *pred)
{
    const mird_param_table *t = pass->params;
    int64_t n = pass->batch * m->hidden;
    MIRD_TRY(mird_linear_forward(pass->ctx, x, mird_param_value(t, m->fc1_weight),
                                 mird_param_value(t, m->fc1_bias), a->hidden, pass->batch, m->in,
                                 m->hidden));
    MIRD_TRY(mird_activation_forward(pass->ctx, MIRD_ACTIVATION_RELU, a->hidden, a->hidden, n));
    mird_rng_stream stream = mird_pass_dropout_stream(pass, MIRD_SITE_REGRESSOR);
    MIRD_TRY(mird_dropout_forward(pass->ctx, &stream, mird_pass_dropout(pass, MIRD_PARAM_DROPOUT_REG),
                                  a->hidden, a->dropped, a->mask, n));
    return mird_linear_forward(pass->ctx, a->dropped, mird_param_value(t, m->fc2_weight),
                               mird_param_value(t, m->fc2_bias), pred, pass->batch, m->hidden,
                               1);
}

mird_status mird_regressor_backward(const mird_regressor *m, const mird_pass *pass,
                                    const float *x, mird_regressor_acts *a, const float *d_pred,
                                    float *dx)
{
    const mird_param_table *t = pass->params;
    int64_t n = pass->batch * m->hidden;
    memset(a->d_dropped, 0, (size_t)n * sizeof(float));
    memset(a->d_hidden, 0, (size_t)n * sizeof(float));
    MIRD_TRY(mird_linear_backward(pass->ctx, a->dropped, mird_param_value(t, m->fc2_weight),
                                  d_pred, a->d_dropped, mird_param_grad(t, m->fc2_weight),
                                  mird_param_grad(t, m->fc2_bias), pass->batch, m->hidden, 1));
    MIRD_TRY(mird_dropout_backward(pass->ctx, a->mask, a->d_dropped, a->d_hidden, n));
    /* ReLU's gradient in place: d_hidden becomes the gradient of fc1's output. */
    float *d_pre = a->d_dropped;
    memset(d_pre, 0, (size_t)n * sizeof(float));
    MIRD_TRY(mird_activation_backward(pass->ctx, MIRD_ACTIVATION_RELU, a->hidden, a->d_hidden,
                                      d_pre, n));
    return mird_linear_backward(pass->ctx, x, mird_param_value(t, m->fc1_weight), d_pre, dx,
                                mird_param_grad(t, m->fc1_weight), mird_param_grad(t, m->fc1_bias),
                                pass->batch, m->in, m->hidden);
}
