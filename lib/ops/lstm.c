#include "ops/lstm.h"

#include <string.h>

#include "core/alloc.h"

enum { GATES = 4 };

/* The three LSTMs this file runs.  The decoder is split in two because a
 * single LSTM over [u, 0, 0, ...] would spend half its work multiplying the
 * zero inputs by W_ih: a one-step head reads u, and a tail with a one-wide
 * zero input runs the remaining steps from the head's final state. */
typedef enum lstm_form {
    FORM_ENCODER = 1,  /* source: the caller's x, batch-major */
    FORM_DECODER_HEAD, /* step 0: source u; also writes its final h and c */
    FORM_DECODER_TAIL  /* steps 1..T-1: zero source, starts from the head's h and c */
} lstm_form;

typedef struct lstm_call {
    lstm_form form;
    int64_t batch, steps, in, hidden;
    int64_t row_steps; /* steps in a sample's row of the caller's h_all */
} lstm_call;

typedef struct lstm_build {
    const lstm_call *call;
    dnnl_prop_kind_t prop;            /* forward training or inference */
    const_dnnl_primitive_desc_t hint; /* backward: the training forward */
} lstm_build;

/* [layers, directions, cols, gates, hidden]; PyTorch's [4H, cols] is ldgoi. */
static dnnl_status_t weights_md(mird_md *md, int64_t cols, int64_t hidden,
                                dnnl_format_tag_t tag)
{
    int64_t dims[5] = {1, 1, cols, GATES, hidden};
    return mird_md_init_tag(md, 5, dims, tag);
}

static dnnl_status_t state_md(mird_md *md, const lstm_call *c)
{
    int64_t dims[4] = {1, 1, c->batch, c->hidden};
    return mird_md_init_tag(md, 4, dims, dnnl_ldnc);
}

/* Serves the gradients too: oneDNN wants them described as the data.
 * Sequences are [T, B, C] views that only need unit stride in C, so the
 * caller's batch-major buffers are used in place: x, and h_all (whose rows
 * may be longer than this call's steps, for the decoder's pieces).  Weights
 * are left to the primitive (`any`).  Absent iteration states read as zero. */
static dnnl_status_t describe(mird_lstm_mds *m, const lstm_call *c)
{
    mird_md *all[] = {&m->src_layer,     &m->src_iter,     &m->src_iter_c,
                      &m->weights_layer, &m->weights_iter, &m->bias,
                      &m->dst_layer,     &m->dst_iter,     &m->dst_iter_c};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mird_md_init_zero(all[i]);
    int64_t src_dims[3] = {c->steps, c->batch, c->in};
    int64_t batch_major_src[3] = {c->in, c->steps * c->in, 1};
    int64_t dst_dims[3] = {c->steps, c->batch, c->hidden};
    int64_t dst_strides[3] = {c->hidden, c->row_steps * c->hidden, 1};
    int64_t bias_dims[4] = {1, 1, GATES, c->hidden};
    dnnl_status_t st = mird_md_init(&m->src_layer, 3, src_dims,
                                    c->form == FORM_ENCODER ? batch_major_src : NULL);
    if (st == dnnl_success)
        st = weights_md(&m->weights_layer, c->in, c->hidden, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = weights_md(&m->weights_iter, c->hidden, c->hidden, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = mird_md_init_tag(&m->bias, 4, bias_dims, dnnl_ldgo);
    if (st == dnnl_success)
        st = mird_md_init(&m->dst_layer, 3, dst_dims, dst_strides);
    if (st == dnnl_success && c->form == FORM_DECODER_TAIL) {
        st = state_md(&m->src_iter, c);
        if (st == dnnl_success)
            st = state_md(&m->src_iter_c, c);
    }
    if (st == dnnl_success && c->form == FORM_DECODER_HEAD) {
        st = state_md(&m->dst_iter, c);
        if (st == dnnl_success)
            st = state_md(&m->dst_iter_c, c);
    }
    return st;
}

static void release(mird_lstm_mds *m)
{
    mird_md *all[] = {&m->src_layer,     &m->src_iter,     &m->src_iter_c,
                      &m->weights_layer, &m->weights_iter, &m->bias,
                      &m->dst_layer,     &m->dst_iter,     &m->dst_iter_c};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        mird_md_release(all[i]);
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
    mird_prim_key_add(key, c->row_steps);
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

/* Reorders one weight tensor for the site, in either direction; with
 * `accumulate` it adds onto the destination (the gradients' += contract). */
static mird_status run_reorder(mird_dnnl *ctx, const weights_site *s, mird_md_ref from,
                               mird_md_ref to, int accumulate, const void *src, void *dst)
{
    reorder_build r = {from, to, accumulate};
    mird_prim_key key;
    mird_prim_key_init(&key, MIRD_PRIM_REORDER);
    key_add_call(&key, s->call);
    mird_prim_key_add(&key, s->prop);
    mird_prim_key_add(&key, s->arg);
    mird_prim_key_add(&key, accumulate);
    mird_prim *reorder;
    MIRD_TRY(mird_dnnl_primitive(ctx, &key, build_reorder, &r, &reorder));
    mird_arg args[2] = {{DNNL_ARG_FROM, (void *)src}, {DNNL_ARG_TO, dst}};
    return mird_dnnl_execute(ctx, reorder, 2, args);
}

static mird_status user_weights_md(mird_dnnl *ctx, const weights_site *s, mird_md *md)
{
    int is_layer = s->arg == DNNL_ARG_WEIGHTS_LAYER || s->arg == DNNL_ARG_DIFF_WEIGHTS_LAYER;
    int64_t cols = is_layer ? s->call->in : s->call->hidden;
    return mird_dnnl_check(ctx, weights_md(md, cols, s->call->hidden, dnnl_ldgoi),
                           "describing LSTM weights");
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
    mird_md ours;
    MIRD_TRY(user_weights_md(ctx, s, &ours));
    mird_md_ref theirs = mird_pd_arg_md(mird_prim_pd(s->lstm), s->arg);
    mird_status st = MIRD_OK;
    *out = user;
    if (!dnnl_memory_desc_equal(theirs, mird_md_as_ref(&ours))) {
        void *copy = NULL;
        st = scratch_bytes(ctx, mird_md_ref_bytes(theirs), 0, &copy);
        if (st == MIRD_OK)
            st = run_reorder(ctx, s, mird_md_as_ref(&ours), theirs, 0, user, copy);
        *out = copy;
    }
    mird_md_release(&ours);
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

/* Buffers of one LSTM execution besides weights and bias; those a form does
 * not use stay NULL. */
typedef struct lstm_io {
    const float *src_layer, *src_iter, *src_iter_c;
    float *dst_layer, *dst_iter, *dst_iter_c;
    void *workspace; /* NULL: inference */
} lstm_io;

/* The gradients flowing into a backward: of dst_layer and, for the decoder's
 * head, of its final state. */
typedef struct lstm_grad_in {
    const float *dst_layer, *dst_iter, *dst_iter_c;
} lstm_grad_in;

/* What a backward produced, in scratch, in its own layouts; the source
 * gradients are laid out as the sources. */
typedef struct lstm_diffs {
    mird_prim *lstm;
    float *src_layer, *src_iter, *src_iter_c, *weights_layer, *weights_iter, *bias;
} lstm_diffs;

typedef struct arg_list {
    mird_arg items[16];
    int count;
} arg_list;

/* Optional arguments are passed only when present. */
static void arg_push(arg_list *list, int arg, const void *data)
{
    if (data)
        list->items[list->count++] = (mird_arg){arg, (void *)data};
}

static void push_forward_args(arg_list *list, const lstm_io *io, const float *layer_weights,
                              const float *iter_weights, const float *bias)
{
    arg_push(list, DNNL_ARG_SRC_LAYER, io->src_layer);
    arg_push(list, DNNL_ARG_SRC_ITER, io->src_iter);
    arg_push(list, DNNL_ARG_SRC_ITER_C, io->src_iter_c);
    arg_push(list, DNNL_ARG_WEIGHTS_LAYER, layer_weights);
    arg_push(list, DNNL_ARG_WEIGHTS_ITER, iter_weights);
    arg_push(list, DNNL_ARG_BIAS, bias);
    arg_push(list, DNNL_ARG_DST_LAYER, io->dst_layer);
    arg_push(list, DNNL_ARG_DST_ITER, io->dst_iter);
    arg_push(list, DNNL_ARG_DST_ITER_C, io->dst_iter_c);
    arg_push(list, DNNL_ARG_WORKSPACE, io->workspace);
}

/* W_layer and W_iter are in PyTorch's layout; bias is already combined. */
static mird_status run_forward(mird_dnnl *ctx, const lstm_call *c, const lstm_io *io,
                               const float *W_layer, const float *W_iter, const float *bias)
{
    dnnl_prop_kind_t prop = io->workspace ? dnnl_forward_training : dnnl_forward_inference;
    mird_prim *lstm;
    MIRD_TRY(forward_primitive(ctx, c, prop, &lstm));
    weights_site layer = {c, lstm, prop, DNNL_ARG_WEIGHTS_LAYER};
    weights_site iter = {c, lstm, prop, DNNL_ARG_WEIGHTS_ITER};
    const float *layer_weights, *iter_weights;
    MIRD_TRY(weights_for(ctx, &layer, W_layer, &layer_weights));
    MIRD_TRY(weights_for(ctx, &iter, W_iter, &iter_weights));
    arg_list args = {.count = 0};
    push_forward_args(&args, io, layer_weights, iter_weights, bias);
    return mird_dnnl_execute(ctx, lstm, args.count, args.items);
}

/* A scratch buffer for a gradient the primitive writes; NULL when the
 * primitive has no such argument. */
static mird_status diff_buffer(mird_dnnl *ctx, mird_prim *lstm, int arg, int zeroed,
                               float **out)
{
    size_t bytes = mird_prim_arg_bytes(lstm, arg);
    *out = NULL;
    return bytes ? scratch_bytes(ctx, bytes, zeroed, (void **)out) : MIRD_OK;
}

static mird_status run_backward(mird_dnnl *ctx, const lstm_call *c, const lstm_io *io,
                                const float *W_layer, const float *W_iter, const float *bias,
                                const lstm_grad_in *grad, lstm_diffs *d)
{
    MIRD_TRY(backward_primitive(ctx, c, &d->lstm));
    mird_prim *lstm = d->lstm;
    weights_site layer = {c, lstm, dnnl_backward, DNNL_ARG_WEIGHTS_LAYER};
    weights_site iter = {c, lstm, dnnl_backward, DNNL_ARG_WEIGHTS_ITER};
    const float *layer_weights, *iter_weights;
    MIRD_TRY(weights_for(ctx, &layer, W_layer, &layer_weights));
    MIRD_TRY(weights_for(ctx, &iter, W_iter, &iter_weights));
    /* oneDNN overwrites the source gradients but accumulates the weight and
     * bias gradients (its GEMMs run with beta = 1), so those start at zero. */
    MIRD_TRY(diff_buffer(ctx, lstm, DNNL_ARG_DIFF_SRC_LAYER, 0, &d->src_layer));
    MIRD_TRY(diff_buffer(ctx, lstm, DNNL_ARG_DIFF_SRC_ITER, 0, &d->src_iter));
    MIRD_TRY(diff_buffer(ctx, lstm, DNNL_ARG_DIFF_SRC_ITER_C, 0, &d->src_iter_c));
    MIRD_TRY(diff_buffer(ctx, lstm, DNNL_ARG_DIFF_WEIGHTS_LAYER, 1, &d->weights_layer));
    MIRD_TRY(diff_buffer(ctx, lstm, DNNL_ARG_DIFF_WEIGHTS_ITER, 1, &d->weights_iter));
    MIRD_TRY(diff_buffer(ctx, lstm, DNNL_ARG_DIFF_BIAS, 1, &d->bias));
    arg_list args = {.count = 0};
    push_forward_args(&args, io, layer_weights, iter_weights, bias);
    arg_push(&args, DNNL_ARG_DIFF_DST_LAYER, grad->dst_layer);
    arg_push(&args, DNNL_ARG_DIFF_DST_ITER, grad->dst_iter);
    arg_push(&args, DNNL_ARG_DIFF_DST_ITER_C, grad->dst_iter_c);
    arg_push(&args, DNNL_ARG_DIFF_SRC_LAYER, d->src_layer);
    arg_push(&args, DNNL_ARG_DIFF_SRC_ITER, d->src_iter);
    arg_push(&args, DNNL_ARG_DIFF_SRC_ITER_C, d->src_iter_c);
    arg_push(&args, DNNL_ARG_DIFF_WEIGHTS_LAYER, d->weights_layer);
    arg_push(&args, DNNL_ARG_DIFF_WEIGHTS_ITER, d->weights_iter);
    arg_push(&args, DNNL_ARG_DIFF_BIAS, d->bias);
    return mird_dnnl_execute(ctx, lstm, args.count, args.items);
}

/* user (PyTorch layout) += the backward's gradient of one weight argument. */
static mird_status add_weights_grad(mird_dnnl *ctx, const lstm_call *c, const lstm_diffs *d,
                                    int diff_arg, float *user)
{
    if (!user)
        return MIRD_OK;
    weights_site site = {c, d->lstm, dnnl_backward, diff_arg};
    const float *diff =
        diff_arg == DNNL_ARG_DIFF_WEIGHTS_LAYER ? d->weights_layer : d->weights_iter;
    mird_md ours;
    MIRD_TRY(user_weights_md(ctx, &site, &ours));
    mird_md_ref theirs = mird_pd_arg_md(mird_prim_pd(d->lstm), diff_arg);
    mird_status st = run_reorder(ctx, &site, theirs, mird_md_as_ref(&ours), 1, diff, user);
    mird_md_release(&ours);
    return st;
}

/* oneDNN's one bias gradient belongs to both of PyTorch's biases. */
static void add_bias_grads(const lstm_diffs *d, const mird_lstm_grads *g, int64_t hidden)
{
    if (g->b_ih)
        add_into(g->b_ih, d->bias, GATES * hidden);
    if (g->b_hh)
        add_into(g->b_hh, d->bias, GATES * hidden);
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

/* oneDNN's training workspace for one LSTM; none for an empty one. */
static mird_status workspace_of(mird_dnnl *ctx, const lstm_call *c, size_t *bytes)
{
    *bytes = 0;
    if (c->batch == 0 || c->steps == 0)
        return MIRD_OK;
    mird_prim *lstm;
    MIRD_TRY(forward_primitive(ctx, c, dnnl_forward_training, &lstm));
    *bytes = mird_align_up(mird_prim_arg_bytes(lstm, DNNL_ARG_WORKSPACE));
    return MIRD_OK;
}

/* Everything an entry point was given; x is the decoder's u. */
typedef struct lstm_args {
    int64_t batch, steps, in, hidden;
    const float *x;
    const mird_lstm_weights *w;
    float *h_out;       /* forward */
    const float *h_in;  /* backward: what the forward wrote */
    void *workspace;
    const float *dh_all;
    float *dx;
    const mird_lstm_grads *g;
} lstm_args;

typedef mird_status (*lstm_pass)(mird_dnnl *ctx, const lstm_args *a);

/* The entry points' common part, after their size checks: empty calls do
 * nothing, a backward (a->g set) with nothing to compute does nothing and
 * otherwise needs a workspace, the scratch is released on every path. */
static mird_status run_pass(mird_dnnl *ctx, const char *op, lstm_pass pass, const lstm_args *a)
{
    if (a->batch == 0 || a->steps == 0)
        return MIRD_OK;
    if (a->g) {
        const mird_lstm_grads *g = a->g;
        if (!a->dx && !g->W_ih && !g->W_hh && !g->b_ih && !g->b_hh)
            return MIRD_OK;
        if (!a->workspace)
            return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                             "%s: no workspace; the backward needs the one a training "
                             "forward wrote",
                             op);
    }
    mird_scratch_mark mark = mird_scratch_get_mark(mird_dnnl_scratch(ctx));
    mird_status st = pass(ctx, a);
    mird_scratch_reset_to(mird_dnnl_scratch(ctx), mark);
    return st;
}

static const mird_lstm_grads no_grads = {NULL, NULL, NULL, NULL};

/* ---------------------------------------------------------------- encoder */

static lstm_call encoder_call(const lstm_args *a)
{
    lstm_call c = {FORM_ENCODER, a->batch, a->steps, a->in, a->hidden, a->steps};
    return c;
}

static mird_status encoder_forward(mird_dnnl *ctx, const lstm_args *a)
{
    lstm_call c = encoder_call(a);
    float *bias;
    MIRD_TRY(combined_bias(ctx, a->w, a->hidden, &bias));
    lstm_io io = {.src_layer = a->x, .dst_layer = a->h_out, .workspace = a->workspace};
    return run_forward(ctx, &c, &io, a->w->W_ih, a->w->W_hh, bias);
}

static mird_status encoder_backward(mird_dnnl *ctx, const lstm_args *a)
{
    lstm_call c = encoder_call(a);
    float *bias;
    MIRD_TRY(combined_bias(ctx, a->w, a->hidden, &bias));
    lstm_io io = {.src_layer = a->x, .dst_layer = (float *)a->h_in, .workspace = a->workspace};
    lstm_grad_in grad = {.dst_layer = a->dh_all};
    lstm_diffs d;
    MIRD_TRY(run_backward(ctx, &c, &io, a->w->W_ih, a->w->W_hh, bias, &grad, &d));
    if (a->dx)
        add_into(a->dx, d.src_layer, a->batch * a->steps * a->in);
    MIRD_TRY(add_weights_grad(ctx, &c, &d, DNNL_ARG_DIFF_WEIGHTS_LAYER, a->g->W_ih));
    MIRD_TRY(add_weights_grad(ctx, &c, &d, DNNL_ARG_DIFF_WEIGHTS_ITER, a->g->W_hh));
    add_bias_grads(&d, a->g, a->hidden);
    return MIRD_OK;
}

mird_status mird_lstm_workspace_bytes(mird_dnnl *ctx, mird_lstm_shape shape, size_t *bytes)
{
    MIRD_TRY(check_sizes(ctx, "mird_lstm_workspace_bytes", shape.batch, shape.steps, shape.in,
                         shape.hidden));
    lstm_args a = {.batch = shape.batch, .steps = shape.steps, .in = shape.in,
                   .hidden = shape.hidden};
    lstm_call c = encoder_call(&a);
    return workspace_of(ctx, &c, bytes);
}

mird_status mird_lstm_forward(mird_dnnl *ctx, mird_lstm_shape shape, const float *x,
                              const mird_lstm_weights *w, float *h_all, void *workspace)
{
    static const char op[] = "mird_lstm_forward";
    MIRD_TRY(check_sizes(ctx, op, shape.batch, shape.steps, shape.in, shape.hidden));
    lstm_args a = {.batch = shape.batch, .steps = shape.steps, .in = shape.in,
                   .hidden = shape.hidden, .x = x, .w = w, .h_out = h_all,
                   .workspace = workspace};
    return run_pass(ctx, op, encoder_forward, &a);
}

mird_status mird_lstm_backward(mird_dnnl *ctx, mird_lstm_shape shape, const float *x,
                               const mird_lstm_weights *w, const float *h_all,
                               const void *workspace, const float *dh_all, float *dx,
                               const mird_lstm_grads *grads)
{
    static const char op[] = "mird_lstm_backward";
    MIRD_TRY(check_sizes(ctx, op, shape.batch, shape.steps, shape.in, shape.hidden));
    lstm_args a = {.batch = shape.batch, .steps = shape.steps, .in = shape.in,
                   .hidden = shape.hidden, .x = x, .w = w, .h_in = h_all,
                   .workspace = (void *)workspace, .dh_all = dh_all, .dx = dx,
                   .g = grads ? grads : &no_grads};
    return run_pass(ctx, op, encoder_backward, &a);
}

/* -------------------------------------------------------- last valid step */

static mird_status check_lengths(mird_dnnl *ctx, const char *op, const int32_t *lengths,
                                 int64_t batch, int64_t steps, int64_t hidden)
{
    MIRD_TRY(check_sizes(ctx, op, batch, steps, 1, 1));
    if (hidden < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: hidden size = %lld is negative", op, (long long)hidden);
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

typedef struct decoder_plan {
    lstm_call head, tail; /* the tail has no steps when T == 1 */
} decoder_plan;

static decoder_plan decoder_plan_for(int64_t batch, int64_t steps, int64_t dim)
{
    decoder_plan p = {{FORM_DECODER_HEAD, batch, 1, dim, dim, steps},
                      {FORM_DECODER_TAIL, batch, steps - 1, 1, dim, steps}};
    return p;
}

/* Where the decoder keeps what lives from forward to backward: in training,
 * the caller's workspace holds the head's and the tail's oneDNN workspaces,
 * then the head's final h and c, which the tail starts from. */
typedef struct decoder_memory {
    void *head_workspace, *tail_workspace;
    float *h0, *c0;
} decoder_memory;

static mird_status decoder_memory_sizes(mird_dnnl *ctx, const decoder_plan *p,
                                        size_t sizes[3])
{
    MIRD_TRY(workspace_of(ctx, &p->head, &sizes[0]));
    MIRD_TRY(workspace_of(ctx, &p->tail, &sizes[1]));
    sizes[2] = mird_align_up((size_t)(p->head.batch * p->head.hidden) * sizeof(float));
    return MIRD_OK;
}

/* The decoder's two LSTMs with what they read and write besides the
 * caller's weights: one bias, the recurrent weights W_ih + W_hh (h_{t-1} is
 * both the input and the state), and the tail's zero input weights. */
typedef struct decoder_run {
    decoder_plan plan;
    lstm_io head, tail;
    float *bias, *W_iter, *zero_weights;
} decoder_run;

static mird_status decoder_states(mird_dnnl *ctx, const decoder_plan *p, void *workspace,
                                  decoder_memory *m)
{
    size_t sizes[3];
    if (!workspace) {
        /* Inference: the states only pass from head to tail. */
        size_t state = (size_t)(p->head.batch * p->head.hidden) * sizeof(float);
        m->head_workspace = m->tail_workspace = NULL;
        MIRD_TRY(scratch_bytes(ctx, state, 0, (void **)&m->h0));
        return scratch_bytes(ctx, state, 0, (void **)&m->c0);
    }
    MIRD_TRY(decoder_memory_sizes(ctx, p, sizes));
    char *base = workspace;
    m->head_workspace = base;
    m->tail_workspace = base + sizes[0];
    m->h0 = (float *)(base + sizes[0] + sizes[1]);
    m->c0 = (float *)(base + sizes[0] + sizes[1] + sizes[2]);
    return MIRD_OK;
}

static mird_status decoder_setup(mird_dnnl *ctx, const lstm_args *a, float *h_all,
                                 decoder_run *r)
{
    int64_t dim = a->hidden, weights = GATES * dim * dim;
    r->plan = decoder_plan_for(a->batch, a->steps, dim);
    decoder_memory m;
    MIRD_TRY(decoder_states(ctx, &r->plan, a->workspace, &m));
    MIRD_TRY(combined_bias(ctx, a->w, dim, &r->bias));
    MIRD_TRY(scratch_bytes(ctx, (size_t)weights * sizeof(float), 0, (void **)&r->W_iter));
    for (int64_t i = 0; i < weights; i++)
        r->W_iter[i] = a->w->W_ih[i] + a->w->W_hh[i];
    MIRD_TRY(scratch_bytes(ctx, (size_t)(GATES * dim) * sizeof(float), 1,
                           (void **)&r->zero_weights));
    float *zero_src;
    size_t zero_src_bytes = (size_t)(r->plan.tail.steps * a->batch) * sizeof(float);
    MIRD_TRY(scratch_bytes(ctx, zero_src_bytes ? zero_src_bytes : 1, 1, (void **)&zero_src));
    r->head = (lstm_io){.src_layer = a->x, .dst_layer = h_all, .dst_iter = m.h0,
                        .dst_iter_c = m.c0, .workspace = m.head_workspace};
    r->tail = (lstm_io){.src_layer = zero_src, .src_iter = m.h0, .src_iter_c = m.c0,
                        .dst_layer = h_all + dim, .workspace = m.tail_workspace};
    return MIRD_OK;
}

static mird_status decoder_forward(mird_dnnl *ctx, const lstm_args *a)
{
    decoder_run r;
    MIRD_TRY(decoder_setup(ctx, a, a->h_out, &r));
    MIRD_TRY(run_forward(ctx, &r.plan.head, &r.head, a->w->W_ih, r.W_iter, r.bias));
    if (r.plan.tail.steps == 0)
        return MIRD_OK;
    return run_forward(ctx, &r.plan.tail, &r.tail, r.zero_weights, r.W_iter, r.bias);
}

static mird_status decoder_backward(mird_dnnl *ctx, const lstm_args *a)
{
    decoder_run r;
    MIRD_TRY(decoder_setup(ctx, a, (float *)a->h_in, &r));
    const mird_lstm_grads *g = a->g;
    /* The tail first: its gradient of the initial state is the head's
     * gradient of the final state (zero when there is no tail). */
    lstm_grad_in head_grad = {.dst_layer = a->dh_all};
    if (r.plan.tail.steps > 0) {
        lstm_grad_in tail_grad = {.dst_layer = a->dh_all + a->hidden};
        lstm_diffs d;
        MIRD_TRY(run_backward(ctx, &r.plan.tail, &r.tail, r.zero_weights, r.W_iter, r.bias,
                              &tail_grad, &d));
        head_grad.dst_iter = d.src_iter;
        head_grad.dst_iter_c = d.src_iter_c;
        MIRD_TRY(add_weights_grad(ctx, &r.plan.tail, &d, DNNL_ARG_DIFF_WEIGHTS_ITER, g->W_ih));
        MIRD_TRY(add_weights_grad(ctx, &r.plan.tail, &d, DNNL_ARG_DIFF_WEIGHTS_ITER, g->W_hh));
        add_bias_grads(&d, g, a->hidden);
    } else {
        size_t state = (size_t)(a->batch * a->hidden) * sizeof(float);
        MIRD_TRY(scratch_bytes(ctx, state, 1, (void **)&head_grad.dst_iter));
        MIRD_TRY(scratch_bytes(ctx, state, 1, (void **)&head_grad.dst_iter_c));
    }
    /* The head's recurrent weights meet h_{-1} = 0 and get no gradient. */
    lstm_diffs d;
    MIRD_TRY(run_backward(ctx, &r.plan.head, &r.head, a->w->W_ih, r.W_iter, r.bias, &head_grad,
                          &d));
    if (a->dx)
        add_into(a->dx, d.src_layer, a->batch * a->hidden);
    MIRD_TRY(add_weights_grad(ctx, &r.plan.head, &d, DNNL_ARG_DIFF_WEIGHTS_LAYER, g->W_ih));
    add_bias_grads(&d, g, a->hidden);
    return MIRD_OK;
}

mird_status mird_lstm_decoder_workspace_bytes(mird_dnnl *ctx, int64_t batch, int64_t steps,
                                              int64_t dim, size_t *bytes)
{
    MIRD_TRY(check_sizes(ctx, "mird_lstm_decoder_workspace_bytes", batch, steps, dim, dim));
    *bytes = 0;
    if (batch == 0 || steps == 0)
        return MIRD_OK;
    decoder_plan p = decoder_plan_for(batch, steps, dim);
    size_t sizes[3];
    MIRD_TRY(decoder_memory_sizes(ctx, &p, sizes));
    *bytes = sizes[0] + sizes[1] + 2 * sizes[2];
    return MIRD_OK;
}

mird_status mird_lstm_decoder_forward(mird_dnnl *ctx, int64_t batch, int64_t steps,
                                      int64_t dim, const float *u, const mird_lstm_weights *w,
                                      float *h_all, void *workspace)
{
    static const char op[] = "mird_lstm_decoder_forward";
    MIRD_TRY(check_sizes(ctx, op, batch, steps, dim, dim));
    lstm_args a = {.batch = batch, .steps = steps, .in = dim, .hidden = dim, .x = u, .w = w,
                   .h_out = h_all, .workspace = workspace};
    return run_pass(ctx, op, decoder_forward, &a);
}

mird_status mird_lstm_decoder_backward(mird_dnnl *ctx, int64_t batch, int64_t steps,
                                       int64_t dim, const float *u,
                                       const mird_lstm_weights *w, const float *h_all,
                                       const void *workspace, const float *dh_all, float *du,
                                       const mird_lstm_grads *grads)
{
    static const char op[] = "mird_lstm_decoder_backward";
    MIRD_TRY(check_sizes(ctx, op, batch, steps, dim, dim));
    lstm_args a = {.batch = batch, .steps = steps, .in = dim, .hidden = dim, .x = u, .w = w,
                   .h_in = h_all, .workspace = (void *)workspace, .dh_all = dh_all, .dx = du,
                   .g = grads ? grads : &no_grads};
    return run_pass(ctx, op, decoder_backward, &a);
}
