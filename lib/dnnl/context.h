/* The oneDNN context: engine, stream, primitive cache and scratchpads.
 *
 * One context belongs to one model handle and is used by one thread at a time
 * (the API's thread rule), which is what lets a single user-managed scratchpad
 * serve every primitive: oneDNN never allocates behind our back, and a
 * primitive may run on whichever thread the caller uses.
 *
 * Primitives are created once per shape and reused.  An op describes the
 * primitive it wants with a key (its kind plus every size and flag that
 * affects the primitive) and a builder; mird_dnnl_primitive() returns the
 * cached primitive for the key, building it the first time.  The thread count
 * is part of every key because oneDNN sizes some kernels and scratchpads by it.
 * Execution wraps the caller's buffers in memory objects cached with the
 * primitive, so user-format data is never copied. */
#ifndef MIRD_DNNL_CONTEXT_H
#define MIRD_DNNL_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"
#include "dnnl/compat.h"

typedef struct mird_dnnl mird_dnnl;
typedef struct mird_prim mird_prim;

/* Which op family a key belongs to.  Values only need to be distinct. */
typedef enum mird_prim_kind {
    MIRD_PRIM_MATMUL = 1,
    MIRD_PRIM_REORDER,
    MIRD_PRIM_ELTWISE_FWD,
    MIRD_PRIM_ELTWISE_BWD,
    MIRD_PRIM_SOFTMAX_FWD,
    MIRD_PRIM_SOFTMAX_BWD,
    MIRD_PRIM_LAYERNORM_FWD,
    MIRD_PRIM_LAYERNORM_BWD,
    MIRD_PRIM_LSTM_FWD,
    MIRD_PRIM_LSTM_BWD,
    MIRD_PRIM_BINARY,
    MIRD_PRIM_OTHER
} mird_prim_kind;

#define MIRD_PRIM_KEY_MAX 32

typedef struct mird_prim_key {
    uint32_t kind;
    uint32_t count;
    int64_t values[MIRD_PRIM_KEY_MAX];
} mird_prim_key;

void mird_prim_key_init(mird_prim_key *key, mird_prim_kind kind);
/* Appends one size or flag; the key must identify the primitive completely. */
void mird_prim_key_add(mird_prim_key *key, int64_t value);

/* Builds the primitive descriptor for a key.  `attr` already asks for a
 * user-managed scratchpad; the builder may add post-ops to it. */
typedef dnnl_status_t (*mird_pd_builder)(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                         dnnl_primitive_attr_t attr, const void *params);

typedef struct mird_dnnl_stats {
    uint64_t primitives_created; /* cache misses that built a primitive */
    uint64_t cache_hits;
    uint64_t evictions;
    size_t cached;               /* primitives held now */
    size_t scratchpad_bytes;     /* size of the shared oneDNN scratchpad */
} mird_dnnl_stats;

mird_status mird_dnnl_create(mird_dnnl **out, mird_error *err);
void mird_dnnl_destroy(mird_dnnl *ctx);

/* Where ops describe failures; the owner of the context reads it. */
mird_error *mird_dnnl_error(mird_dnnl *ctx);
/* Transient host buffers for ops: take a mark, allocate, reset to the mark
 * before returning. */
mird_scratch *mird_dnnl_scratch(mird_dnnl *ctx);
/* `count` elements of `size` bytes from the context scratch; on failure
 * NULL, with an out-of-memory message naming `op` in the context's error. */
void *mird_dnnl_scratch_alloc(mird_dnnl *ctx, const char *op, int64_t count, size_t size);
dnnl_engine_t mird_dnnl_engine(mird_dnnl *ctx);
mird_dnnl_stats mird_dnnl_get_stats(const mird_dnnl *ctx);
/* How many primitives the cache keeps before evicting the least recently
 * used (default 512). */
void mird_dnnl_set_cache_capacity(mird_dnnl *ctx, size_t capacity);

/* The cached primitive for `key`, built with `build(params)` on a miss. */
mird_status mird_dnnl_primitive(mird_dnnl *ctx, const mird_prim_key *key,
                                mird_pd_builder build, const void *params,
                                mird_prim **out);

const_dnnl_primitive_desc_t mird_prim_pd(const mird_prim *prim);
/* Bytes of an execution argument's memory as the primitive wants it (for
 * workspaces and primitive-chosen weight formats). */
size_t mird_prim_arg_bytes(const mird_prim *prim, int arg);

typedef struct mird_arg {
    int arg;    /* DNNL_ARG_* */
    void *data; /* the caller's buffer, in the format the key described */
} mird_arg;

/* Runs the primitive on the context's stream and waits for it. */
mird_status mird_dnnl_execute(mird_dnnl *ctx, mird_prim *prim, int nargs,
                              const mird_arg *args);

/* Whether oneDNN runs its AVX-512 kernels here (1) or narrower ones (0).
 * Their work split differs: with AVX-512 kernels a step gives the same bits
 * on any thread count; with narrower ones (AVX2 CPUs, or valgrind's
 * emulated CPU) some products split their sums by thread and the last bits
 * can differ. */
int mird_dnnl_uses_avx512(void);

/* Turns a oneDNN status into ours, with `what` in the message. */
mird_status mird_dnnl_check(mird_dnnl *ctx, dnnl_status_t status, const char *what);

#endif
