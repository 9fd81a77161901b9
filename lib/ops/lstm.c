#include "ops/lstm.h"

#include <string.h>

enum { GATES = 4 };

/* How the primitive's source sequence is laid out; part of every key. */
typedef enum lstm_form {
    FORM_ENCODER = 1, /* the caller's x, batch-major */
    FORM_DECODER = 2  /* our own [u, 0, 0, ...], time-major */
} lstm_form;

typedef struct lstm_call {
    lstm_form form;
    int64_t batch, steps, in, hidden;
} lstm_call;

typedef struct lstm_build {
    const lstm_call *call;
    dnnl_prop_kind_t prop;            /* forward training or inference */
    const_dnnl_primitive_desc_t hint; /* backward: the training forward */
} lstm_build;

/* A [T, B, C] sequence, batch-major (ntc, as every caller buffer is) or
 * time-major (tnc).  oneDNN reads either: it only needs unit stride in C. */
static dnnl_status_t sequence_md(mird_md *md, const lstm_call *c, int64_t channels,
                                 int batch_major)
{
    int64_t dims[3] = {c->steps, c->batch, channels};
    int64_t ntc_strides[3] = {channels, c->steps * channels, 1};
    return mird_md_init(md, 3, dims, batch_major ? ntc_strides : NULL);
}

/* [layers, directions, cols, gates, hidden]; PyTorch's [4H, cols] is ldgoi. */
static dnnl_status_t weights_md(mird_md *md, int64_t cols, int64_t hidden,
                                dnnl_format_tag_t tag)
{
    int64_t dims[5] = {1, 1, cols, GATES, hidden};
    return mird_md_init_tag(md, 5, dims, tag);
}

/* Also the gradients' descriptors: oneDNN wants them shaped as the data.
 * Weights are left to the primitive (`any`); iteration states are absent,
 * which oneDNN reads as h0 = c0 = 0 and no final state wanted. */
static dnnl_status_t describe(mird_lstm_mds *m, const lstm_call *c)
{
    memset(m, 0, sizeof *m);
    mird_md *all[] = {&m->src_layer,     &m->src_iter,     &m->src_iter_c,
                      &m->weights_layer, &m->weights_iter, &m->bias,
                      &m->dst_layer,     &m->dst_iter,     &m->dst_iter_c};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mird_md_init_zero(all[i]);
    int64_t bias_dims[4] = {1, 1, GATES, c->hidden};
    dnnl_status_t st = sequence_md(&m->src_layer, c, c->in, c->form == FORM_ENCODER);
    if (st == dnnl_success)
        st = weights_md(&m->weights_layer, c->in, c->hidden, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = weights_md(&m->weights_iter, c->hidden, c->hidden, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = mird_md_init_tag(&m->bias, 4, bias_dims, dnnl_ldgo);
    if (st == dnnl_success)
        st = sequence_md(&m->dst_layer, c, c->hidden, 1);
    return st;
}

static void release(mird_lstm_mds *m)
{
    mird_md_release(&m->src_layer);
    mird_md_release(&m->weights_layer);
    mird_md_release(&m->weights_iter);
    mird_md_release(&m->bias);
    mird_md_release(&m->dst_layer);
}

static dnnl_status_t build_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                   dnnl_primitive_attr_t attr, const void *raw)
{
    const lstm_build *b = raw;
    mird_lstm_mds m;
    dnnl_status_t st = describe(&m, b->call);
    if (st == dnnl_success)
        st = mird_pd_lstm_forward(pd, engine, b->prop, dnnl_unidirectional_left2right, &m,
                                  attr);
    release(&m);
    return st;
}

static dnnl_status_t build_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                    dnnl_primitive_attr_t attr, const void *raw)
{
    const lstm_build *b = raw;
    mird_lstm_mds m, d;
    dnnl_status_t st = describe(&m, b->call);
    dnnl_status_t diff_st = describe(&d, b->call);
    if (st == dnnl_success)
        st = diff_st;
    if (st == dnnl_success)
        st = mird_pd_lstm_backward(pd, engine, dnnl_unidirectional_left2right, &m, &d, b->hint,
                                   attr);
    release(&m);
    release(&d);
    return st;
}

static void key_add_call(mird_prim_key *key, const lstm_call *c)
{
    mird_prim_key_add(key, c->form);
    mird_prim_key_add(key, c->batch);
    mird_prim_key_add(key, c->steps);
    mird_prim_key_add(key, c->in);
    mird_prim_key_add(key, c->hidden);
}

static mird_status forward_primitive(mird_dnnl *ctx, const lstm_call *c, dnnl_prop_kind_t prop,
                                     mird_prim **out)
{
    mird_prim_key key;
    mird_prim_key_init(&key, MIRD_PRIM_LSTM_FWD);
    key_add_call(&key, c);
    mird_prim_key_add(&key, prop);
    lstm_build b = {c, prop, NULL};
    return mird_dnnl_primitive(ctx, &key, build_forward, &b, out);
}

static mird_status backward_primitive(mird_dnnl *ctx, const lstm_call *c, mird_prim **out)
{
    mird_prim *forward;
    MIRD_TRY(forward_primitive(ctx, c, dnnl_forward_training, &forward));
    mird_prim_key key;
    mird_prim_key_init(&key, MIRD_PRIM_LSTM_BWD);
    key_add_call(&key, c);
    lstm_build b = {c, dnnl_backward, mird_prim_pd(forward)};
    return mird_dnnl_primitive(ctx, &key, build_backward, &b, out);
}

typedef struct reorder_build {
    mird_md_ref src, dst;
    int accumulate;
} reorder_build;

static dnnl_status_t build_reorder(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                   dnnl_primitive_attr_t attr, const void *raw)
{
    const reorder_build *r = raw;
    dnnl_status_t st = dnnl_success;
    if (r->accumulate) {
        mird_post_op sum = {MIRD_POST_OP_SUM, dnnl_alg_kind_undef, 1.0f, 0.0f};
        st = mird_attr_set_post_ops(attr, &sum, 1);
    }
    return st == dnnl_success ? mird_pd_reorder(pd, engine, r->src, r->dst, attr) : st;
}

/* Which weight argument of which LSTM primitive a layout conversion serves. */
typedef struct weights_site {
    const lstm_call *call;
    mird_prim *lstm;
    dnnl_prop_kind_t prop; /* of `lstm`: forward training, inference or backward */
    int arg;               /* DNNL_ARG_(DIFF_)WEIGHTS_LAYER or _ITER */
} weights_site;

static int64_t site_cols(const weights_site *s)
{
    int is_layer = s->arg == DNNL_ARG_WEIGHTS_LAYER || s->arg == DNNL_ARG_DIFF_WEIGHTS_LAYER;
    return is_layer ? s->call->in : s->call->hidden;
}

/* Converts between the user's PyTorch layout and the primitive's layout for
 * the site: into the primitive's (to_user == 0), or added onto the user's
 * buffer (to_user == 1, the gradients' += contract) with a sum post-op. */
static mird_status reorder_weights(mird_dnnl *ctx, const weights_site *s, mird_md_ref user_md,
                                   const void *src, void *dst, int to_user)
{
    mird_md_ref theirs = mird_pd_arg_md(mird_prim_pd(s->lstm), s->arg);
    reorder_build r = {to_user ? theirs : user_md, to_user ? user_md : theirs, to_user};
    mird_prim_key key;
    mird_prim_key_init(&key, MIRD_PRIM_REORDER);
    key_add_call(&key, s->call);
    mird_prim_key_add(&key, s->prop);
    mird_prim_key_add(&key, s->arg);
    mird_prim_key_add(&key, to_user);
    mird_prim *reorder;
    MIRD_TRY(mird_dnnl_primitive(ctx, &key, build_reorder, &r, &reorder));
    mird_arg args[2] = {{DNNL_ARG_FROM, (void *)src}, {DNNL_ARG_TO, dst}};
    return mird_dnnl_execute(ctx, reorder, 2, args);
}

static mird_status scratch_bytes(mird_dnnl *ctx, size_t bytes, int zeroed, void **out)
{
    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    *out = zeroed ? mird_scratch_alloc_zeroed(scratch, bytes) : mird_scratch_alloc(scratch, bytes);
    if (!*out)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_OUT_OF_MEMORY,
                         "LSTM: cannot allocate %zu bytes of scratch", bytes);
    return MIRD_OK;
}

/* The user's weights as the site wants them: the user's own buffer when the
 * layouts agree, else a reordered copy in the scratch. */
static mird_status weights_for(mird_dnnl *ctx, const weights_site *s, const float *user,
                               const float **out)
{
    mird_md user_md;
    MIRD_TRY(mird_dnnl_check(ctx, weights_md(&user_md, site_cols(s), s->call->hidden, dnnl_ldgoi),
                             "describing LSTM weights"));
    mird_md_ref wanted = mird_pd_arg_md(mird_prim_pd(s->lstm), s->arg);
    mird_status st = MIRD_OK;
    if (dnnl_memory_desc_equal(wanted, mird_md_as_ref(&user_md))) {
        *out = user;
    } else {
        void *copy = NULL;
        st = scratch_bytes(ctx, mird_md_ref_bytes(wanted), 0, &copy);
        if (st == MIRD_OK)
            st = reorder_weights(ctx, s, mird_md_as_ref(&user_md), user, copy, 0);
        *out = copy;
    }
    mird_md_release(&user_md);
    return st;
}

/* user (PyTorch layout) += diff (the backward primitive's layout). */
static mird_status add_diff_weights(mird_dnnl *ctx, const weights_site *s, const float *diff,
                                    float *user)
{
    mird_md user_md;
    MIRD_TRY(mird_dnnl_check(ctx, weights_md(&user_md, site_cols(s), s->call->hidden, dnnl_ldgoi),
                             "describing LSTM weights"));
    mird_status st = reorder_weights(ctx, s, mird_md_as_ref(&user_md), diff, user, 1);
    mird_md_release(&user_md);
    return st;
}

/* oneDNN takes one bias, b_ih + b_hh. */
static mird_status combined_bias(mird_dnnl *ctx, const mird_lstm_weights *w, int64_t hidden,
                                 float **out)
{
    int64_t n = GATES * hidden;
    MIRD_TRY(scratch_bytes(ctx, (size_t)n * sizeof(float), 0, (void **)out));
    for (int64_t i = 0; i < n; i++)
        (*out)[i] = (w->b_ih ? w->b_ih[i] : 0.0f) + (w->b_hh ? w->b_hh[i] : 0.0f);
    return MIRD_OK;
}

static void add_into(float *dst, const float *src, int64_t n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* W_layer and W_iter are in PyTorch's layout; bias is already combined. */
static mird_status run_forward(mird_dnnl *ctx, const lstm_call *c, const float *src_layer,
                               const float *W_layer, const float *W_iter, const float *bias,
                               float *h_all, void *workspace)
{
    dnnl_prop_kind_t prop = workspace ? dnnl_forward_training : dnnl_forward_inference;
    mird_prim *lstm;
    MIRD_TRY(forward_primitive(ctx, c, prop, &lstm));
    weights_site layer = {c, lstm, prop, DNNL_ARG_WEIGHTS_LAYER};
    weights_site iter = {c, lstm, prop, DNNL_ARG_WEIGHTS_ITER};
    const float *layer_weights, *iter_weights;
    MIRD_TRY(weights_for(ctx, &layer, W_layer, &layer_weights));
    MIRD_TRY(weights_for(ctx, &iter, W_iter, &iter_weights));
    mird_arg args[6] = {{DNNL_ARG_SRC_LAYER, (void *)src_layer},
                        {DNNL_ARG_WEIGHTS_LAYER, (void *)layer_weights},
                        {DNNL_ARG_WEIGHTS_ITER, (void *)iter_weights},
                        {DNNL_ARG_BIAS, (void *)bias},
                        {DNNL_ARG_DST_LAYER, h_all},
                        {DNNL_ARG_WORKSPACE, workspace}};
    return mird_dnnl_execute(ctx, lstm, workspace ? 6 : 5, args);
}

/* What the backward primitive produced, in scratch, in its own layouts:
 * src_layer's gradient is laid out as src_layer. */
typedef struct lstm_diffs {
    mird_prim *lstm;
    float *src_layer, *weights_layer, *weights_iter, *bias;
} lstm_diffs;

static mird_status run_backward(mird_dnnl *ctx, const lstm_call *c, const float *src_layer,
                                const float *W_layer, const float *W_iter, const float *bias,
                                const float *h_all, const void *workspace, const float *dh_all,
                                lstm_diffs *d)
{
    MIRD_TRY(backward_primitive(ctx, c, &d->lstm));
    mird_prim *lstm = d->lstm;
    weights_site layer = {c, lstm, dnnl_backward, DNNL_ARG_WEIGHTS_LAYER};
    weights_site iter = {c, lstm, dnnl_backward, DNNL_ARG_WEIGHTS_ITER};
    const float *layer_weights, *iter_weights;
    MIRD_TRY(weights_for(ctx, &layer, W_layer, &layer_weights));
    MIRD_TRY(weights_for(ctx, &iter, W_iter, &iter_weights));
    /* oneDNN overwrites diff_src_layer but accumulates the weight and bias
     * gradients (its GEMMs run with beta = 1), so those start from zero. */
    MIRD_TRY(scratch_bytes(ctx, mird_prim_arg_bytes(lstm, DNNL_ARG_DIFF_SRC_LAYER), 0,
                           (void **)&d->src_layer));
    MIRD_TRY(scratch_bytes(ctx, mird_prim_arg_bytes(lstm, DNNL_ARG_DIFF_WEIGHTS_LAYER), 1,
                           (void **)&d->weights_layer));
    MIRD_TRY(scratch_bytes(ctx, mird_prim_arg_bytes(lstm, DNNL_ARG_DIFF_WEIGHTS_ITER), 1,
                           (void **)&d->weights_iter));
    MIRD_TRY(scratch_bytes(ctx, mird_prim_arg_bytes(lstm, DNNL_ARG_DIFF_BIAS), 1,
                           (void **)&d->bias));
    mird_arg args[11] = {{DNNL_ARG_SRC_LAYER, (void *)src_layer},
                         {DNNL_ARG_WEIGHTS_LAYER, (void *)layer_weights},
                         {DNNL_ARG_WEIGHTS_ITER, (void *)iter_weights},
                         {DNNL_ARG_BIAS, (void *)bias},
                         {DNNL_ARG_DST_LAYER, (void *)h_all},
                         {DNNL_ARG_WORKSPACE, (void *)workspace},
                         {DNNL_ARG_DIFF_DST_LAYER, (void *)dh_all},
                         {DNNL_ARG_DIFF_SRC_LAYER, d->src_layer},
                         {DNNL_ARG_DIFF_WEIGHTS_LAYER, d->weights_layer},
                         {DNNL_ARG_DIFF_WEIGHTS_ITER, d->weights_iter},
                         {DNNL_ARG_DIFF_BIAS, d->bias}};
    return mird_dnnl_execute(ctx, lstm, 11, args);
}

static mird_status check_sizes(mird_dnnl *ctx, const char *op, int64_t batch, int64_t steps,
                               int64_t in, int64_t hidden)
{
    const char *names[4] = {"batch", "steps", "input size", "hidden size"};
    int64_t values[4] = {batch, steps, in, hidden};
    int64_t minimum[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++)
        if (values[i] < minimum[i])
            return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                             "%s: %s = %lld, must be at least %lld", op, names[i],
                             (long long)values[i], (long long)minimum[i]);
    return MIRD_OK;
}

static mird_status workspace_bytes(mird_dnnl *ctx, const lstm_call *c, size_t *bytes)
{
    *bytes = 0;
    if (c->batch == 0 || c->steps == 0)
        return MIRD_OK;
    mird_prim *lstm;
    MIRD_TRY(forward_primitive(ctx, c, dnnl_forward_training, &lstm));
    *bytes = mird_prim_arg_bytes(lstm, DNNL_ARG_WORKSPACE);
    return MIRD_OK;
}

/* The standard LSTM a call runs, beside the input weights W_ih. */
typedef struct lstm_inputs {
    const float *src_layer, *W_iter; /* W_iter in PyTorch's layout */
    float *bias;
} lstm_inputs;

/* The encoder runs on the caller's x and W_hh.  The decoder runs on
 * [u, 0, 0, ...] (time-major, so u is the first B x D block) with recurrent
 * weights W_ih + W_hh: h_{t-1} is both its input and its recurrent state. */
static mird_status prepare_inputs(mird_dnnl *ctx, const lstm_call *c, const float *x,
                                  const mird_lstm_weights *w, lstm_inputs *in)
{
    MIRD_TRY(combined_bias(ctx, w, c->hidden, &in->bias));
    if (c->form == FORM_ENCODER) {
        in->src_layer = x;
        in->W_iter = w->W_hh;
        return MIRD_OK;
    }
    int64_t first = c->batch * c->in, total = c->steps * first;
    int64_t weights = GATES * c->hidden * c->hidden;
    float *src, *W_iter;
    MIRD_TRY(scratch_bytes(ctx, (size_t)total * sizeof(float), 0, (void **)&src));
    memcpy(src, x, (size_t)first * sizeof(float));
    memset(src + first, 0, (size_t)(total - first) * sizeof(float));
    MIRD_TRY(scratch_bytes(ctx, (size_t)weights * sizeof(float), 0, (void **)&W_iter));
    for (int64_t i = 0; i < weights; i++)
        W_iter[i] = w->W_ih[i] + w->W_hh[i];
    in->src_layer = src;
    in->W_iter = W_iter;
    return MIRD_OK;
}

static mird_status forward(mird_dnnl *ctx, const lstm_call *c, const float *x,
                           const mird_lstm_weights *w, float *h_all, void *workspace)
{
    lstm_inputs in;
    MIRD_TRY(prepare_inputs(ctx, c, x, w, &in));
    return run_forward(ctx, c, in.src_layer, w->W_ih, in.W_iter, in.bias, h_all, workspace);
}

static mird_status backward(mird_dnnl *ctx, const lstm_call *c, const float *x,
                            const mird_lstm_weights *w, const float *h_all,
                            const void *workspace, const float *dh_all, float *dx,
                            const mird_lstm_grads *g)
{
    lstm_inputs in;
    MIRD_TRY(prepare_inputs(ctx, c, x, w, &in));
    lstm_diffs d;
    MIRD_TRY(run_backward(ctx, c, in.src_layer, w->W_ih, in.W_iter, in.bias, h_all, workspace,
                          dh_all, &d));
    int decoder = c->form == FORM_DECODER;
    /* The decoder's u is step 0 of its time-major source. */
    if (dx)
        add_into(dx, d.src_layer, c->batch * (decoder ? 1 : c->steps) * c->in);
    weights_site layer = {c, d.lstm, dnnl_backward, DNNL_ARG_DIFF_WEIGHTS_LAYER};
    weights_site iter = {c, d.lstm, dnnl_backward, DNNL_ARG_DIFF_WEIGHTS_ITER};
    if (g->W_ih)
        MIRD_TRY(add_diff_weights(ctx, &layer, d.weights_layer, g->W_ih));
    /* The decoder's W_ih is also half of its recurrent weights. */
    if (g->W_ih && decoder)
        MIRD_TRY(add_diff_weights(ctx, &iter, d.weights_iter, g->W_ih));
    if (g->W_hh)
        MIRD_TRY(add_diff_weights(ctx, &iter, d.weights_iter, g->W_hh));
    if (g->b_ih)
        add_into(g->b_ih, d.bias, GATES * c->hidden);
    if (g->b_hh)
        add_into(g->b_hh, d.bias, GATES * c->hidden);
    return MIRD_OK;
}

/* The entry points' common part, after their size checks: empty calls do
 * nothing, and the scratch is released on every path. */
static mird_status forward_entry(mird_dnnl *ctx, const lstm_call *c, const float *x,
                                 const mird_lstm_weights *w, float *h_all, void *workspace)
{
    if (c->batch == 0 || c->steps == 0)
        return MIRD_OK;
    mird_scratch_mark mark = mird_scratch_get_mark(mird_dnnl_scratch(ctx));
    mird_status st = forward(ctx, c, x, w, h_all, workspace);
    mird_scratch_reset_to(mird_dnnl_scratch(ctx), mark);
    return st;
}

static mird_status backward_entry(mird_dnnl *ctx, const char *op, const lstm_call *c,
                                  const float *x, const mird_lstm_weights *w,
                                  const float *h_all, const void *workspace,
                                  const float *dh_all, float *dx, const mird_lstm_grads *grads)
{
    static const mird_lstm_grads none = {NULL, NULL, NULL, NULL};
    const mird_lstm_grads *g = grads ? grads : &none;
    int wanted = dx || g->W_ih || g->W_hh || g->b_ih || g->b_hh;
    if (c->batch == 0 || c->steps == 0 || !wanted)
        return MIRD_OK;
    if (!workspace)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: no workspace; the backward needs the one a training forward "
                         "wrote",
                         op);
    mird_scratch_mark mark = mird_scratch_get_mark(mird_dnnl_scratch(ctx));
    mird_status st = backward(ctx, c, x, w, h_all, workspace, dh_all, dx, g);
    mird_scratch_reset_to(mird_dnnl_scratch(ctx), mark);
    return st;
}

/* ---------------------------------------------------------------- encoder */

static lstm_call encoder_call(mird_lstm_shape s)
{
    lstm_call c = {FORM_ENCODER, s.batch, s.steps, s.in, s.hidden};
    return c;
}

static mird_status check_shape(mird_dnnl *ctx, const char *op, mird_lstm_shape s)
{
    return check_sizes(ctx, op, s.batch, s.steps, s.in, s.hidden);
}

mird_status mird_lstm_workspace_bytes(mird_dnnl *ctx, mird_lstm_shape shape, size_t *bytes)
{
    MIRD_TRY(check_shape(ctx, "mird_lstm_workspace_bytes", shape));
    lstm_call c = encoder_call(shape);
    return workspace_bytes(ctx, &c, bytes);
}

mird_status mird_lstm_forward(mird_dnnl *ctx, mird_lstm_shape shape, const float *x,
                              const mird_lstm_weights *w, float *h_all, void *workspace)
{
    MIRD_TRY(check_shape(ctx, "mird_lstm_forward", shape));
    lstm_call c = encoder_call(shape);
    return forward_entry(ctx, &c, x, w, h_all, workspace);
}

mird_status mird_lstm_backward(mird_dnnl *ctx, mird_lstm_shape shape, const float *x,
                               const mird_lstm_weights *w, const float *h_all,
                               const void *workspace, const float *dh_all, float *dx,
                               const mird_lstm_grads *grads)
{
    static const char op[] = "mird_lstm_backward";
    MIRD_TRY(check_shape(ctx, op, shape));
    lstm_call c = encoder_call(shape);
    return backward_entry(ctx, op, &c, x, w, h_all, workspace, dh_all, dx, grads);
}

/* -------------------------------------------------------- last valid step */

static mird_status check_lengths(mird_dnnl *ctx, const char *op, const int32_t *lengths,
                                 int64_t batch, int64_t steps, int64_t hidden)
{
    MIRD_TRY(check_sizes(ctx, op, batch, steps, 1, hidden > 0 ? hidden : 1));
    for (int64_t b = 0; b < batch; b++) {
        if (lengths[b] < 0)
            return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                             "%s: lengths[%lld] = %d is negative", op, (long long)b,
                             (int)lengths[b]);
        if (lengths[b] > steps)
            return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_SHAPE,
                             "%s: lengths[%lld] = %d exceeds steps = %lld", op, (long long)b,
                             (int)lengths[b], (long long)steps);
    }
    return MIRD_OK;
}

mird_status mird_lstm_last_valid_forward(mird_dnnl *ctx, const float *h_all,
                                         const int32_t *lengths, float *out, int64_t batch,
                                         int64_t steps, int64_t hidden)
{
    MIRD_TRY(check_lengths(ctx, "mird_lstm_last_valid_forward", lengths, batch, steps, hidden));
    for (int64_t b = 0; b < batch; b++) {
        float *row = out + b * hidden;
        if (lengths[b] == 0)
            memset(row, 0, (size_t)hidden * sizeof *row);
        else
            memcpy(row, h_all + (b * steps + lengths[b] - 1) * hidden,
                   (size_t)hidden * sizeof *row);
    }
    return MIRD_OK;
}

mird_status mird_lstm_last_valid_backward(mird_dnnl *ctx, const int32_t *lengths,
                                          const float *dout, float *dh_all, int64_t batch,
                                          int64_t steps, int64_t hidden)
{
    MIRD_TRY(check_lengths(ctx, "mird_lstm_last_valid_backward", lengths, batch, steps, hidden));
    for (int64_t b = 0; b < batch; b++)
        if (lengths[b] > 0)
            add_into(dh_all + (b * steps + lengths[b] - 1) * hidden, dout + b * hidden, hidden);
    return MIRD_OK;
}

/* ---------------------------------------------------------------- decoder */

static lstm_call decoder_call(int64_t batch, int64_t steps, int64_t dim)
{
    lstm_call c = {FORM_DECODER, batch, steps, dim, dim};
    return c;
}

mird_status mird_lstm_decoder_workspace_bytes(mird_dnnl *ctx, int64_t batch, int64_t steps,
                                              int64_t dim, size_t *bytes)
{
    MIRD_TRY(check_sizes(ctx, "mird_lstm_decoder_workspace_bytes", batch, steps, dim, dim));
    lstm_call c = decoder_call(batch, steps, dim);
    return workspace_bytes(ctx, &c, bytes);
}

mird_status mird_lstm_decoder_forward(mird_dnnl *ctx, int64_t batch, int64_t steps,
                                      int64_t dim, const float *u, const mird_lstm_weights *w,
                                      float *h_all, void *workspace)
{
    MIRD_TRY(check_sizes(ctx, "mird_lstm_decoder_forward", batch, steps, dim, dim));
    lstm_call c = decoder_call(batch, steps, dim);
    return forward_entry(ctx, &c, u, w, h_all, workspace);
}

mird_status mird_lstm_decoder_backward(mird_dnnl *ctx, int64_t batch, int64_t steps,
                                       int64_t dim, const float *u,
                                       const mird_lstm_weights *w, const float *h_all,
                                       const void *workspace, const float *dh_all, float *du,
                                       const mird_lstm_grads *grads)
{
    static const char op[] = "mird_lstm_decoder_backward";
    MIRD_TRY(check_sizes(ctx, op, batch, steps, dim, dim));
    lstm_call c = decoder_call(batch, steps, dim);
    return backward_entry(ctx, op, &c, u, w, h_all, workspace, dh_all, du, grads);
}
