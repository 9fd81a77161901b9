/* The one file that knows which oneDNN major version we build against.
 *
 * oneDNN 2.x (Debian bookworm ships 2.6) describes a primitive in two steps,
 * an op descriptor then a primitive descriptor, and keeps memory descriptors
 * as plain structs.  oneDNN 3.x creates primitive descriptors in one call and
 * makes memory descriptors opaque handles that must be destroyed.  Everything
 * else in lib/dnnl and lib/ops uses the wrappers below and never looks at
 * DNNL_VERSION_MAJOR, so moving to v3 touches this header and compat.c only.
 * The v3 branches follow the v3 C API as documented; they are not built on
 * this project's machines (bookworm has no v3), so treat them as a map. */
#ifndef MIRD_DNNL_COMPAT_H
#define MIRD_DNNL_COMPAT_H

#include <stdint.h>

#include <oneapi/dnnl/dnnl.h>

#if DNNL_VERSION_MAJOR >= 3
/* A memory descriptor we own (must be released) and a borrowed one. */
typedef struct mird_md {
    dnnl_memory_desc_t handle;
} mird_md;
typedef const_dnnl_memory_desc_t mird_md_ref;
#else
typedef struct mird_md {
    dnnl_memory_desc_t desc;
} mird_md;
typedef const dnnl_memory_desc_t *mird_md_ref;
#endif

/* f32 descriptors; `strides` NULL means dense row-major. */
dnnl_status_t mird_md_init(mird_md *md, int ndims, const int64_t *dims,
                           const int64_t *strides);
dnnl_status_t mird_md_init_tag(mird_md *md, int ndims, const int64_t *dims,
                               dnnl_format_tag_t tag);
/* For raw bytes (scratchpads). */
dnnl_status_t mird_md_init_bytes(mird_md *md, int64_t bytes);
void mird_md_release(mird_md *md);
mird_md_ref mird_md_as_ref(const mird_md *md);
size_t mird_md_ref_bytes(mird_md_ref md);
/* A zero descriptor, for "no such argument" (e.g. no bias). */
void mird_md_init_zero(mird_md *md);

/* The descriptor of an execution argument (DNNL_ARG_*) of a primitive
 * descriptor; owned by the primitive descriptor.  Zero-sized if absent. */
mird_md_ref mird_pd_arg_md(const_dnnl_primitive_desc_t pd, int arg);

/* Post-ops, applied in order to a primitive's result: `sum` adds what the
 * destination held before (dst = result + scale * dst), `eltwise` applies
 * an element-wise function (e.g. dnnl_eltwise_linear: alpha * x + beta). */
typedef enum mird_post_op_kind { MIRD_POST_OP_SUM, MIRD_POST_OP_ELTWISE } mird_post_op_kind;

typedef struct mird_post_op {
    mird_post_op_kind kind;
    dnnl_alg_kind_t alg; /* eltwise only */
    float alpha, beta;   /* eltwise parameters; alpha is the scale for sum */
} mird_post_op;

dnnl_status_t mird_attr_set_post_ops(dnnl_primitive_attr_t attr, const mird_post_op *ops,
                                     int count);

/* Primitive descriptors.  `bias` and `stat` may be NULL; `hint` is the
 * forward primitive descriptor a backward one needs. */
dnnl_status_t mird_pd_matmul(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                             const mird_md *src, const mird_md *weights,
                             const mird_md *bias, const mird_md *dst,
                             const_dnnl_primitive_attr_t attr);
dnnl_status_t mird_pd_reorder(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                              mird_md_ref src, mird_md_ref dst,
                              const_dnnl_primitive_attr_t attr);
dnnl_status_t mird_pd_eltwise_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                      dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                                      const mird_md *data, float alpha, float beta,
                                      const_dnnl_primitive_attr_t attr);
/* `data` is the forward's source, or its destination for the *_use_dst_for_bwd
 * algorithms. */
dnnl_status_t mird_pd_eltwise_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                       dnnl_alg_kind_t alg, const mird_md *diff,
                                       const mird_md *data, float alpha, float beta,
                                       const_dnnl_primitive_desc_t hint,
                                       const_dnnl_primitive_attr_t attr);
dnnl_status_t mird_pd_softmax_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                      dnnl_prop_kind_t prop, const mird_md *data, int axis,
                                      const_dnnl_primitive_attr_t attr);
/* `dst` is the forward's output. */
dnnl_status_t mird_pd_softmax_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                       const mird_md *diff, const mird_md *dst, int axis,
                                       const_dnnl_primitive_desc_t hint,
                                       const_dnnl_primitive_attr_t attr);
dnnl_status_t mird_pd_layernorm_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                        dnnl_prop_kind_t prop, const mird_md *data,
                                        const mird_md *stat, float epsilon, unsigned flags,
                                        const_dnnl_primitive_attr_t attr);
dnnl_status_t mird_pd_layernorm_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                         dnnl_prop_kind_t prop, const mird_md *diff,
                                         const mird_md *data, const mird_md *stat,
                                         float epsilon, unsigned flags,
                                         const_dnnl_primitive_desc_t hint,
                                         const_dnnl_primitive_attr_t attr);

/* The descriptors of an LSTM, grouped because there are so many. */
typedef struct mird_lstm_mds {
    mird_md src_layer, src_iter, src_iter_c;
    mird_md weights_layer, weights_iter, bias;
    mird_md dst_layer, dst_iter, dst_iter_c;
} mird_lstm_mds;

dnnl_status_t mird_pd_lstm_forward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                   dnnl_prop_kind_t prop, dnnl_rnn_direction_t direction,
                                   const mird_lstm_mds *mds,
                                   const_dnnl_primitive_attr_t attr);
dnnl_status_t mird_pd_lstm_backward(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                    dnnl_rnn_direction_t direction,
                                    const mird_lstm_mds *mds, const mird_lstm_mds *diff,
                                    const_dnnl_primitive_desc_t hint,
                                    const_dnnl_primitive_attr_t attr);

#endif
