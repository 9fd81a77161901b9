#include "dnnl/compat.h"

#include <string.h>

static void dense_strides(int ndims, const int64_t *dims, dnnl_dims_t strides)
{
    int64_t stride = 1;
    for (int i = ndims - 1; i >= 0; i--) {
        strides[i] = stride;
        stride *= dims[i] > 0 ? dims[i] : 1;
    }
}

static void copy_dims(int ndims, const int64_t *src, dnnl_dims_t dst)
{
    for (int i = 0; i < ndims; i++)
        dst[i] = src[i];
}

#if DNNL_VERSION_MAJOR >= 3
/* ------------------------------------------------------------------ v3 --- */

static const_dnnl_memory_desc_t h(const mird_md *md)
{
    return md ? md->handle : NULL;
}

dnnl_status_t mird_md_init(mird_md *md, int ndims, const int64_t *dims,
                           const int64_t *strides)
{
    dnnl_dims_t d, s;
    copy_dims(ndims, dims, d);
    if (strides)
        copy_dims(ndims, strides, s);
    else
        dense_strides(ndims, dims, s);
    return dnnl_memory_desc_create_with_strides(&md->handle, ndims, d, dnnl_f32, s);
}

dnnl_status_t mird_md_init_tag(mird_md *md, int ndims, const int64_t *dims,
                               dnnl_format_tag_t tag)
{
    dnnl_dims_t d;
    copy_dims(ndims, dims, d);
    return dnnl_memory_desc_create_with_tag(&md->handle, ndims, d, dnnl_f32, tag);
}

dnnl_status_t mird_md_init_bytes(mird_md *md, int64_t bytes)
{
    dnnl_dims_t d = {bytes};
    return dnnl_memory_desc_create_with_tag(&md->handle, 1, d, dnnl_u8, dnnl_a);
}

void mird_md_init_zero(mird_md *md)
{
    md->handle = NULL;
}

void mird_md_release(mird_md *md)
{
    if (md && md->handle) {
        dnnl_memory_desc_destroy(md->handle);
        md->handle = NULL;
    }
}

mird_md_ref mird_md_as_ref(const mird_md *md)
{
    return md->handle;
}

size_t mird_md_ref_bytes(mird_md_ref md)
{
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

mird_md_ref mird_pd_arg_md(const_dnnl_primitive_desc_t pd, int arg)
{
    return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

dnnl_status_t mird_attr_set_post_ops(dnnl_primitive_attr_t attr, const mird_post_op *ops,
                                     int count)
{
    dnnl_post_ops_t list;
    dnnl_status_t st = dnnl_post_ops_create(&list);
    for (int i = 0; st == dnnl_success && i < count; i++)
        st = ops[i].kind == MIRD_POST_OP_SUM
                 ? dnnl_post_ops_append_sum(list, ops[i].alpha, 0, dnnl_data_type_undef)
                 : dnnl_post_ops_append_eltwise(list, ops[i].alg, ops[i].alpha, ops[i].beta);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_post_ops(attr, list);
    dnnl_post_ops_destroy(list);
    return st;
}

dnnl_status_t mird_pd_matmul(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                             const mird_md *src, const mird_md *weights,
                             const mird_md *bias, const mird_md *dst,
                             const_dnnl_primitive_attr_t attr)
{
    return dnnl_matmul_primitive_desc_create(pd, engine, h(src), h(weights), h(bias),
                                             h(dst), attr);
}

dnnl_status_t mird_pd_reorder(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                              mird_md_ref src, mird_md_ref dst,
                              const_dnnl_primitive_attr_t attr)
{
    return dnnl_reorder_primitive_desc_create(pd, src, engine, dst, engine, attr);
}

dnnl_status_t mird_pd_eltwise_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                      dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                                      const mird_md *data, float alpha, float beta,
                                      const_dnnl_primitive_attr_t attr)
{
    return dnnl_eltwise_forward_primitive_desc_create(pd, engine, prop, alg, h(data),
                                                      h(data), alpha, beta, attr);
}

dnnl_status_t mird_pd_eltwise_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                       dnnl_alg_kind_t alg, const mird_md *diff,
                                       const mird_md *data, float alpha, float beta,
                                       const_dnnl_primitive_desc_t hint,
                                       const_dnnl_primitive_attr_t attr)
{
    return dnnl_eltwise_backward_primitive_desc_create(pd, engine, alg, h(diff), h(diff),
                                                       h(data), alpha, beta, hint, attr);
}

dnnl_status_t mird_pd_softmax_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                      dnnl_prop_kind_t prop, const mird_md *data, int axis,
                                      const_dnnl_primitive_attr_t attr)
{
    return dnnl_softmax_forward_primitive_desc_create(pd, engine, prop, dnnl_softmax_accurate,
                                                      h(data), h(data), axis, attr);
}

dnnl_status_t mird_pd_softmax_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                       const mird_md *diff, const mird_md *dst, int axis,
                                       const_dnnl_primitive_desc_t hint,
                                       const_dnnl_primitive_attr_t attr)
{
    return dnnl_softmax_backward_primitive_desc_create(pd, engine, dnnl_softmax_accurate,
                                                       h(diff), h(diff), h(dst), axis, hint,
                                                       attr);
}

dnnl_status_t mird_pd_layernorm_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                        dnnl_prop_kind_t prop, const mird_md *data,
                                        const mird_md *stat, float epsilon, unsigned flags,
                                        const_dnnl_primitive_attr_t attr)
{
    return dnnl_layer_normalization_forward_primitive_desc_create(
        pd, engine, prop, h(data), h(data), h(stat), epsilon, flags, attr);
}

dnnl_status_t mird_pd_layernorm_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                         dnnl_prop_kind_t prop, const mird_md *diff,
                                         const mird_md *data, const mird_md *stat,
                                         float epsilon, unsigned flags,
                                         const_dnnl_primitive_desc_t hint,
                                         const_dnnl_primitive_attr_t attr)
{
    return dnnl_layer_normalization_backward_primitive_desc_create(
        pd, engine, prop, h(diff), h(diff), h(data), h(stat), epsilon, flags, hint, attr);
}

dnnl_status_t mird_pd_lstm_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                   dnnl_prop_kind_t prop, dnnl_rnn_direction_t direction,
                                   const mird_lstm_mds *m,
                                   const_dnnl_primitive_attr_t attr)
{
    return dnnl_lstm_forward_primitive_desc_create(
        pd, engine, prop, direction, h(&m->src_layer), h(&m->src_iter), h(&m->src_iter_c),
        NULL, h(&m->weights_layer), h(&m->weights_iter), NULL, NULL, h(&m->bias),
        h(&m->dst_layer), h(&m->dst_iter), h(&m->dst_iter_c), 0, attr);
}

dnnl_status_t mird_pd_lstm_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                    dnnl_rnn_direction_t direction,
                                    const mird_lstm_mds *m, const mird_lstm_mds *d,
                                    const_dnnl_primitive_desc_t hint,
                                    const_dnnl_primitive_attr_t attr)
{
    return dnnl_lstm_backward_primitive_desc_create(
        pd, engine, dnnl_backward, direction, h(&m->src_layer), h(&m->src_iter),
        h(&m->src_iter_c), NULL, h(&m->weights_layer), h(&m->weights_iter), NULL, NULL,
        h(&m->bias), h(&m->dst_layer), h(&m->dst_iter), h(&m->dst_iter_c),
        h(&d->src_layer), h(&d->src_iter), h(&d->src_iter_c), NULL, h(&d->weights_layer),
        h(&d->weights_iter), NULL, NULL, h(&d->bias), h(&d->dst_layer), h(&d->dst_iter),
        h(&d->dst_iter_c), 0, hint, attr);
}

#else
/* ------------------------------------------------------------------ v2 --- */

/* A zero descriptor (ndims == 0) means "absent" to oneDNN 2.x. */
static const dnnl_memory_desc_t *p(const mird_md *md)
{
    return md && md->desc.ndims > 0 ? &md->desc : NULL;
}

dnnl_status_t mird_md_init(mird_md *md, int ndims, const int64_t *dims,
                           const int64_t *strides)
{
    dnnl_dims_t d, s;
    copy_dims(ndims, dims, d);
    if (strides)
        copy_dims(ndims, strides, s);
    else
        dense_strides(ndims, dims, s);
    return dnnl_memory_desc_init_by_strides(&md->desc, ndims, d, dnnl_f32, s);
}

dnnl_status_t mird_md_init_tag(mird_md *md, int ndims, const int64_t *dims,
                               dnnl_format_tag_t tag)
{
    dnnl_dims_t d;
    copy_dims(ndims, dims, d);
    return dnnl_memory_desc_init_by_tag(&md->desc, ndims, d, dnnl_f32, tag);
}

dnnl_status_t mird_md_init_bytes(mird_md *md, int64_t bytes)
{
    dnnl_dims_t d = {bytes};
    return dnnl_memory_desc_init_by_tag(&md->desc, 1, d, dnnl_u8, dnnl_a);
}

void mird_md_init_zero(mird_md *md)
{
    memset(&md->desc, 0, sizeof md->desc);
}

void mird_md_release(mird_md *md)
{
    (void)md; /* plain structs in 2.x */
}

mird_md_ref mird_md_as_ref(const mird_md *md)
{
    return &md->desc;
}

size_t mird_md_ref_bytes(mird_md_ref md)
{
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

mird_md_ref mird_pd_arg_md(const_dnnl_primitive_desc_t pd, int arg)
{
    return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

dnnl_status_t mird_attr_set_post_ops(dnnl_primitive_attr_t attr, const mird_post_op *ops,
                                     int count)
{
    dnnl_post_ops_t list;
    dnnl_status_t st = dnnl_post_ops_create(&list);
    if (st != dnnl_success)
        return st;
    for (int i = 0; st == dnnl_success && i < count; i++)
        st = ops[i].kind == MIRD_POST_OP_SUM
                 ? dnnl_post_ops_append_sum(list, ops[i].alpha)
                 : dnnl_post_ops_append_eltwise(list, 1.0f, ops[i].alg, ops[i].alpha,
                                                ops[i].beta);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_post_ops(attr, list);
    dnnl_post_ops_destroy(list);
    return st;
}

/* 2.x: op descriptor first, then the primitive descriptor. */
#define CREATE_PD(pd, desc, attr, engine, hint) \
    dnnl_primitive_desc_create((pd), &(desc), (attr), (engine), (hint))

dnnl_status_t mird_pd_matmul(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                             const mird_md *src, const mird_md *weights,
                             const mird_md *bias, const mird_md *dst,
                             const_dnnl_primitive_attr_t attr)
{
    dnnl_matmul_desc_t desc;
    dnnl_status_t st = dnnl_matmul_desc_init(&desc, p(src), p(weights), p(bias), p(dst));
    return st != dnnl_success ? st : CREATE_PD(pd, desc, attr, engine, NULL);
}

dnnl_status_t mird_pd_reorder(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                              mird_md_ref src, mird_md_ref dst,
                              const_dnnl_primitive_attr_t attr)
{
    return dnnl_reorder_primitive_desc_create(pd, src, engine, dst, engine, attr);
}

dnnl_status_t mird_pd_eltwise_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                      dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                                      const mird_md *data, float alpha, float beta,
                                      const_dnnl_primitive_attr_t attr)
{
    dnnl_eltwise_desc_t desc;
    dnnl_status_t st = dnnl_eltwise_forward_desc_init(&desc, prop, alg, p(data), alpha, beta);
    return st != dnnl_success ? st : CREATE_PD(pd, desc, attr, engine, NULL);
}

dnnl_status_t mird_pd_eltwise_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                       dnnl_alg_kind_t alg, const mird_md *diff,
                                       const mird_md *data, float alpha, float beta,
                                       const_dnnl_primitive_desc_t hint,
                                       const_dnnl_primitive_attr_t attr)
{
    dnnl_eltwise_desc_t desc;
    dnnl_status_t st = dnnl_eltwise_backward_desc_init(&desc, alg, p(diff), p(data), alpha, beta);
    return st != dnnl_success ? st : CREATE_PD(pd, desc, attr, engine, hint);
}

dnnl_status_t mird_pd_softmax_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                      dnnl_prop_kind_t prop, const mird_md *data, int axis,
                                      const_dnnl_primitive_attr_t attr)
{
    dnnl_softmax_v2_desc_t desc;
    dnnl_status_t st = dnnl_softmax_v2_forward_desc_init(&desc, prop, dnnl_softmax_accurate,
                                                         p(data), p(data), axis);
    return st != dnnl_success ? st : CREATE_PD(pd, desc, attr, engine, NULL);
}

dnnl_status_t mird_pd_softmax_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                       const mird_md *diff, const mird_md *dst, int axis,
                                       const_dnnl_primitive_desc_t hint,
                                       const_dnnl_primitive_attr_t attr)
{
    dnnl_softmax_v2_desc_t desc;
    dnnl_status_t st = dnnl_softmax_v2_backward_desc_init(&desc, dnnl_softmax_accurate, p(diff),
                                                          p(diff), p(dst), axis);
    return st != dnnl_success ? st : CREATE_PD(pd, desc, attr, engine, hint);
}

dnnl_status_t mird_pd_layernorm_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                        dnnl_prop_kind_t prop, const mird_md *data,
                                        const mird_md *stat, float epsilon, unsigned flags,
                                        const_dnnl_primitive_attr_t attr)
{
    dnnl_layer_normalization_desc_t desc;
    dnnl_status_t st = dnnl_layer_normalization_forward_desc_init(&desc, prop, p(data), p(stat),
                                                                  epsilon, flags);
    return st != dnnl_success ? st : CREATE_PD(pd, desc, attr, engine, NULL);
}

dnnl_status_t mird_pd_layernorm_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                         dnnl_prop_kind_t prop, const mird_md *diff,
                                         const mird_md *data, const mird_md *stat,
                                         float epsilon, unsigned flags,
                                         const_dnnl_primitive_desc_t hint,
                                         const_dnnl_primitive_attr_t attr)
{
    dnnl_layer_normalization_desc_t desc;
    dnnl_status_t st = dnnl_layer_normalization_backward_desc_init(&desc, prop, p(diff), p(data),
                                                                   p(stat), epsilon, flags);
    return st != dnnl_success ? st : CREATE_PD(pd, desc, attr, engine, hint);
}

dnnl_status_t mird_pd_lstm_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                   dnnl_prop_kind_t prop, dnnl_rnn_direction_t direction,
                                   const mird_lstm_mds *m,
                                   const_dnnl_primitive_attr_t attr)
{
    dnnl_rnn_desc_t desc;
    dnnl_status_t st = dnnl_lstm_forward_desc_init(
        &desc, prop, direction, p(&m->src_layer), p(&m->src_iter), p(&m->src_iter_c),
        p(&m->weights_layer), p(&m->weights_iter), p(&m->bias), p(&m->dst_layer),
        p(&m->dst_iter), p(&m->dst_iter_c), 0);
    return st != dnnl_success ? st : CREATE_PD(pd, desc, attr, engine, NULL);
}

dnnl_status_t mird_pd_lstm_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                    dnnl_rnn_direction_t direction,
                                    const mird_lstm_mds *m, const mird_lstm_mds *d,
                                    const_dnnl_primitive_desc_t hint,
                                    const_dnnl_primitive_attr_t attr)
{
    dnnl_rnn_desc_t desc;
    dnnl_status_t st = dnnl_lstm_backward_desc_init(
        &desc, dnnl_backward, direction, p(&m->src_layer), p(&m->src_iter),
        p(&m->src_iter_c), p(&m->weights_layer), p(&m->weights_iter), p(&m->bias),
        p(&m->dst_layer), p(&m->dst_iter), p(&m->dst_iter_c), p(&d->src_layer),
        p(&d->src_iter), p(&d->src_iter_c), p(&d->weights_layer), p(&d->weights_iter),
        p(&d->bias), p(&d->dst_layer), p(&d->dst_iter), p(&d->dst_iter_c), 0);
    return st != dnnl_success ? st : CREATE_PD(pd, desc, attr, engine, hint);
}

#endif
