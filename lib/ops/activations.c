#include "ops/activations.h"

enum { PARALLEL_MIN_ELEMENTS = 1 << 15 };

/* The same algorithm serves forward and backward, so that the backward's
 * forward hint matches; the *_use_dst_for_bwd kinds compute the same
 * forward and let the backward read y. */
static int algorithm_of(mird_activation activation, dnnl_alg_kind_t *alg)
{
    switch (activation) {
    case MIRD_ACTIVATION_GELU_ERF:
        *alg = dnnl_eltwise_gelu_erf;
        return 1;
    case MIRD_ACTIVATION_RELU:
        *alg = dnnl_eltwise_relu_use_dst_for_bwd;
        return 1;
    case MIRD_ACTIVATION_TANH:
        *alg = dnnl_eltwise_tanh_use_dst_for_bwd;
        return 1;
    }
    return 0;
}

int mird_activation_backward_reads_output(mird_activation activation)
{
    switch (activation) {
    case MIRD_ACTIVATION_GELU_ERF:
        return 0;
    case MIRD_ACTIVATION_RELU:
    case MIRD_ACTIVATION_TANH:
        return 1;
    }
    return -1;
}

typedef struct eltwise_params {
    dnnl_alg_kind_t alg;
    int64_t n;
} eltwise_params;

static dnnl_status_t build_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                   dnnl_primitive_attr_t attr, const void *raw)
{
    const eltwise_params *p = raw;
    mird_md data;
    dnnl_status_t st = mird_md_init(&data, 1, &p->n, NULL);
    if (st == dnnl_success)
        st = mird_pd_eltwise_forward(pd, engine, dnnl_forward_training, p->alg, &data, 0.0f,
                                     0.0f, attr);
    mird_md_release(&data);
    return st;
}

static dnnl_status_t build_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                    dnnl_primitive_attr_t attr, const void *raw)
{
    const eltwise_params *p = raw;
    mird_md data;
    dnnl_primitive_desc_t hint = NULL;
    dnnl_status_t st = mird_md_init(&data, 1, &p->n, NULL);
    if (st == dnnl_success)
        st = mird_pd_eltwise_forward(&hint, engine, dnnl_forward_training, p->alg, &data,
                                     0.0f, 0.0f, attr);
    if (st == dnnl_success)
        st = mird_pd_eltwise_backward(pd, engine, p->alg, &data, &data, 0.0f, 0.0f, hint, attr);
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    mird_md_release(&data);
    return st;
}

/* Validates the activation and the count, and finds the algorithm. */
static mird_status check_args(mird_dnnl *ctx, const char *op, mird_activation activation,
                              int64_t n, dnnl_alg_kind_t *alg)
{
    if (!algorithm_of(activation, alg))
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: unknown activation %d", op, (int)activation);
    if (n < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                         "%s: n = %lld is negative", op, (long long)n);
    return MIRD_OK;
}

static mird_status get_primitive(mird_dnnl *ctx, dnnl_alg_kind_t alg, int64_t n,
                                 mird_prim_kind kind, mird_pd_builder build, mird_prim **prim)
{
    eltwise_params p = {alg, n};
    mird_prim_key key;
    mird_prim_key_init(&key, kind);
    mird_prim_key_add(&key, (int64_t)alg);
    mird_prim_key_add(&key, n);
    return mird_dnnl_primitive(ctx, &key, build, &p, prim);
}

mird_status mird_activation_forward(mird_dnnl *ctx, mird_activation activation,
                                    const float *x, float *y, int64_t n)
{
    const char *op = "activation_forward";
    dnnl_alg_kind_t alg = dnnl_alg_kind_undef;
    MIRD_TRY(check_args(ctx, op, activation, n, &alg));
    if (n == 0)
        return MIRD_OK;
    if (!x || !y)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s: x and y are required", op);
    mird_prim *prim;
    MIRD_TRY(get_primitive(ctx, alg, n, MIRD_PRIM_ELTWISE_FWD, build_forward, &prim));
    mird_arg args[2] = {{DNNL_ARG_SRC, (void *)x}, {DNNL_ARG_DST, y}};
    return mird_dnnl_execute(ctx, prim, 2, args);
}

mird_status mird_activation_backward(mird_dnnl *ctx, mird_activation activation,
                                     const float *saved, const float *dy, float *dx, int64_t n)
{
    const char *op = "activation_backward";
    dnnl_alg_kind_t alg = dnnl_alg_kind_undef;
    MIRD_TRY(check_args(ctx, op, activation, n, &alg));
    if (n == 0 || !dx)
        return MIRD_OK;
    if (!saved || !dy)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s: saved and dy are required", op);
    mird_prim *prim;
    MIRD_TRY(get_primitive(ctx, alg, n, MIRD_PRIM_ELTWISE_BWD, build_backward, &prim));

    /* oneDNN overwrites diff_src: compute into scratch, then add. */
    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    mird_scratch_mark mark = mird_scratch_get_mark(scratch);
    float *dx_fresh = mird_scratch_alloc(scratch, (size_t)n * sizeof *dx_fresh);
    if (!dx_fresh) {
        mird_scratch_reset_to(scratch, mark);
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_OUT_OF_MEMORY,
                         "%s: no scratch for %lld gradient values", op, (long long)n);
    }
    int reads_output = mird_activation_backward_reads_output(activation);
    mird_arg args[3] = {{reads_output ? DNNL_ARG_DST : DNNL_ARG_SRC, (void *)saved},
                        {DNNL_ARG_DIFF_DST, (void *)dy},
                        {DNNL_ARG_DIFF_SRC, dx_fresh}};
    mird_status st = mird_dnnl_execute(ctx, prim, 3, args);
    if (st == MIRD_OK) {
#pragma omp parallel for simd schedule(static) if (n >= PARALLEL_MIN_ELEMENTS)
        for (int64_t i = 0; i < n; i++)
            dx[i] += dx_fresh[i];
    }
    mird_scratch_reset_to(scratch, mark);
    return st;
}
