#include "ops/linear.h"

#include <string.h>

mird_matmul_view mird_matmul_dense(int64_t batch, int64_t rows, int64_t cols)
{
    mird_matmul_view v = {{batch, rows, cols}, {rows * cols, cols, 1}};
    return v;
}

mird_matmul_view mird_matmul_transposed(mird_matmul_view v)
{
    mird_matmul_view t = {{v.dims[0], v.dims[2], v.dims[1]},
                          {v.strides[0], v.strides[2], v.strides[1]}};
    return t;
}

mird_matmul_view4 mird_matmul_dense4(int64_t batch, int64_t group, int64_t rows, int64_t cols)
{
    mird_matmul_view4 v = {{batch, group, rows, cols},
                           {group * rows * cols, rows * cols, cols, 1}};
    return v;
}

mird_matmul_view4 mird_matmul_transposed4(mird_matmul_view4 v)
{
    mird_matmul_view4 t = {{v.dims[0], v.dims[1], v.dims[3], v.dims[2]},
                           {v.strides[0], v.strides[1], v.strides[3], v.strides[2]}};
    return t;
}

/* A 3-d view is the 4-d one with a leading group of 1; `ndims` keeps the
 * descriptor (and so the primitive oneDNN picks) as the caller shaped it. */
static mird_matmul_view4 view4_of(mird_matmul_view v)
{
    mird_matmul_view4 w = {{1, v.dims[0], v.dims[1], v.dims[2]},
                           {0, v.strides[0], v.strides[1], v.strides[2]}};
    return w;
}

typedef struct matmul_params {
    int ndims; /* 3 or 4: the trailing ndims entries of each view are used */
    mird_matmul_view4 a, b, c;
    float alpha;
    int accumulate;
    int with_bias; /* bias [1, .., 1, cols] dense, added before the scale */
} matmul_params;

static dnnl_status_t md_of_view(mird_md *md, int ndims, const mird_matmul_view4 *v)
{
    return mird_md_init(md, ndims, v->dims + 4 - ndims, v->strides + 4 - ndims);
}

static dnnl_status_t build_matmul(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                  dnnl_primitive_attr_t attr, const void *raw)
{
    const matmul_params *p = raw;
    mird_md a, b, c, bias;
    int64_t bias_dims[4] = {1, 1, 1, p->c.dims[3]};
    dnnl_status_t st = md_of_view(&a, p->ndims, &p->a);
    if (st == dnnl_success)
        st = md_of_view(&b, p->ndims, &p->b);
    if (st == dnnl_success)
        st = md_of_view(&c, p->ndims, &p->c);
    mird_md_init_zero(&bias);
    if (st == dnnl_success && p->with_bias)
        st = mird_md_init(&bias, p->ndims, bias_dims + 4 - p->ndims, NULL);
    /* oneDNN applies post-ops in order: scale the product, then add dst. */
    mird_post_op ops[2];
    int op_count = 0;
    if (p->alpha != 1.0f)
        ops[op_count++] = (mird_post_op){MIRD_POST_OP_ELTWISE, dnnl_eltwise_linear, p->alpha, 0};
    if (p->accumulate)
        ops[op_count++] = (mird_post_op){MIRD_POST_OP_SUM, dnnl_alg_kind_undef, 1.0f, 0};
    if (st == dnnl_success && op_count > 0)
        st = mird_attr_set_post_ops(attr, ops, op_count);
    if (st == dnnl_success)
        st = mird_pd_matmul(pd, engine, &a, &b, p->with_bias ? &bias : NULL, &c, attr);
    mird_md_release(&a);
    mird_md_release(&b);
    mird_md_release(&c);
    mird_md_release(&bias);
    return st;
}

static void key_add_view(mird_prim_key *key, int ndims, const mird_matmul_view4 *v)
{
    for (int i = 4 - ndims; i < 4; i++) {
        mird_prim_key_add(key, v->dims[i]);
        mird_prim_key_add(key, v->strides[i]);
    }
}

static mird_status run_matmul(mird_dnnl *ctx, const matmul_params *p, const float *A,
                              const float *B, const float *bias, float *C)
{
    mird_prim_key key;
    union {
        float f;
        int32_t i;
    } alpha_bits = {p->alpha};
    mird_prim_key_init(&key, MIRD_PRIM_MATMUL);
    mird_prim_key_add(&key, p->ndims);
    key_add_view(&key, p->ndims, &p->a);
    key_add_view(&key, p->ndims, &p->b);
    key_add_view(&key, p->ndims, &p->c);
    mird_prim_key_add(&key, alpha_bits.i);
    mird_prim_key_add(&key, p->accumulate * 2 + p->with_bias);
    mird_prim *prim;
    MIRD_TRY(mird_dnnl_primitive(ctx, &key, build_matmul, p, &prim));
    mird_arg args[4] = {{DNNL_ARG_SRC, (void *)A},
                        {DNNL_ARG_WEIGHTS, (void *)B},
                        {DNNL_ARG_DST, C},
                        {DNNL_ARG_BIAS, (void *)bias}};
    return mird_dnnl_execute(ctx, prim, p->with_bias ? 4 : 3, args);
}

static mird_status matmul_any(mird_dnnl *ctx, int ndims, const float *A, mird_matmul_view4 a,
                              const float *B, mird_matmul_view4 b, float *C,
                              mird_matmul_view4 c, float alpha, int accumulate)
{
    if (c.dims[0] * c.dims[1] * c.dims[2] * c.dims[3] == 0)
        return MIRD_OK;
    if (a.dims[3] == 0) {
        /* An empty inner dimension: the product is zero. */
        if (!accumulate)
            for (int64_t i = 0; i < c.dims[0]; i++)
                for (int64_t g = 0; g < c.dims[1]; g++)
                    for (int64_t r = 0; r < c.dims[2]; r++)
                        for (int64_t k = 0; k < c.dims[3]; k++)
                            C[i * c.strides[0] + g * c.strides[1] + r * c.strides[2]
                              + k * c.strides[3]] = 0.0f;
        return MIRD_OK;
    }
    matmul_params p = {ndims, a, b, c, alpha, accumulate != 0, 0};
    return run_matmul(ctx, &p, A, B, NULL, C);
}

mird_status mird_matmul(mird_dnnl *ctx, const float *A, mird_matmul_view a,
                        const float *B, mird_matmul_view b, float *C, mird_matmul_view c,
                        float alpha, int accumulate)
{
    return matmul_any(ctx, 3, A, view4_of(a), B, view4_of(b), C, view4_of(c), alpha,
                      accumulate);
}

mird_status mird_matmul4(mird_dnnl *ctx, const float *A, mird_matmul_view4 a,
                         const float *B, mird_matmul_view4 b, float *C, mird_matmul_view4 c,
                         float alpha, int accumulate)
{
    return matmul_any(ctx, 4, A, a, B, b, C, c, alpha, accumulate);
}

mird_status mird_linear_forward(mird_dnnl *ctx, const float *x, const float *W,
                                const float *b, float *y, int64_t rows, int64_t in,
                                int64_t out)
{
    if (rows == 0 || out == 0)
        return MIRD_OK;
    if (in == 0) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t o = 0; o < out; o++)
                y[r * out + o] = b ? b[o] : 0.0f;
        return MIRD_OK;
    }
    matmul_params p = {3,
                       view4_of(mird_matmul_dense(1, rows, in)),
                       view4_of(mird_matmul_transposed(mird_matmul_dense(1, out, in))),
                       view4_of(mird_matmul_dense(1, rows, out)),
                       1.0f,
                       0,
                       b != NULL};
    return run_matmul(ctx, &p, x, W, b, y);
}

mird_status mird_linear_backward(mird_dnnl *ctx, const float *x, const float *W,
                                 const float *dy, float *dx, float *dW, float *db,
                                 int64_t rows, int64_t in, int64_t out)
{
    if (rows == 0 || out == 0)
        return MIRD_OK;
    mird_matmul_view dy_view = mird_matmul_dense(1, rows, out);
    if (dx && in > 0)
        MIRD_TRY(mird_matmul(ctx, dy, dy_view, W, mird_matmul_dense(1, out, in), dx,
                             mird_matmul_dense(1, rows, in), 1.0f, 1));
    if (dW && in > 0)
        MIRD_TRY(mird_matmul(ctx, dy, mird_matmul_transposed(dy_view), x,
                             mird_matmul_dense(1, rows, in), dW,
                             mird_matmul_dense(1, out, in), 1.0f, 1));
    if (db) {
        /* Column sums; small (out values), so plain C in row order keeps
         * the summation order fixed whatever the thread count. */
        for (int64_t r = 0; r < rows; r++) {
            const float *row = dy + r * out;
            for (int64_t o = 0; o < out; o++)
                db[o] += row[o];
        }
    }
    return MIRD_OK;
}
