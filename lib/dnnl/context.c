#include "dnnl/context.h"

#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/threads.h"

/* Execution arguments a primitive may take; one memory object each, made on
 * first use and re-pointed at the caller's buffer on every execution. */
#define PRIM_MAX_ARGS 24

struct mird_prim {
    mird_prim_key key;
    uint64_t hash;
    uint64_t last_used;
    mird_prim *next_in_bucket;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t primitive;
    size_t scratchpad_bytes;
    dnnl_memory_t scratchpad_memory;
    int arg_ids[PRIM_MAX_ARGS];
    dnnl_memory_t arg_memory[PRIM_MAX_ARGS];
    int arg_count;
};

struct mird_dnnl {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    mird_prim **buckets;
    size_t bucket_count;
    size_t capacity;
    uint64_t clock;
    mird_dnnl_stats stats;
    void *scratchpad;
    size_t scratchpad_size;
    mird_scratch scratch;
    mird_error err;
};

enum { BUCKET_COUNT = 256, DEFAULT_CAPACITY = 512 };

void mird_prim_key_init(mird_prim_key *key, mird_prim_kind kind)
{
    memset(key, 0, sizeof *key);
    key->kind = (uint32_t)kind;
}

void mird_prim_key_add(mird_prim_key *key, int64_t value)
{
    /* A key that overflows would silently alias others; make it unusable
     * instead (count past the end never matches a valid key's count). */
    if (key->count < MIRD_PRIM_KEY_MAX)
        key->values[key->count] = value;
    key->count++;
}

static uint64_t key_hash(const mird_prim_key *key)
{
    /* FNV-1a over the meaningful words. */
    uint64_t hash = 1469598103934665603ull;
    uint64_t words[MIRD_PRIM_KEY_MAX + 1];
    size_t n = key->count < MIRD_PRIM_KEY_MAX ? key->count : MIRD_PRIM_KEY_MAX;
    words[0] = ((uint64_t)key->kind << 32) | key->count;
    memcpy(words + 1, key->values, n * sizeof(int64_t));
    const unsigned char *bytes = (const unsigned char *)words;
    for (size_t i = 0; i < (n + 1) * sizeof(uint64_t); i++) {
        hash ^= bytes[i];
        hash *= 1099511628211ull;
    }
    return hash;
}

static int key_equal(const mird_prim_key *a, const mird_prim_key *b)
{
    return a->kind == b->kind && a->count == b->count
           && memcmp(a->values, b->values, a->count * sizeof(int64_t)) == 0;
}

mird_status mird_dnnl_check(mird_dnnl *ctx, dnnl_status_t status, const char *what)
{
    if (status == dnnl_success)
        return MIRD_OK;
    mird_status ours = status == dnnl_out_of_memory ? MIRD_ERR_OUT_OF_MEMORY
                       : status == dnnl_unimplemented ? MIRD_ERR_UNSUPPORTED
                                                      : MIRD_ERR_BACKEND;
    return mird_fail(ctx ? &ctx->err : NULL, ours, "oneDNN: %s failed (dnnl status %d)", what,
                     (int)status);
}

mird_status mird_dnnl_create(mird_dnnl **out, mird_error *err)
{
    *out = NULL;
    mird_dnnl *ctx = mird_alloc_zeroed(sizeof *ctx);
    if (!ctx)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot allocate a oneDNN context");
    ctx->bucket_count = BUCKET_COUNT;
    ctx->capacity = DEFAULT_CAPACITY;
    ctx->buckets = mird_alloc_zeroed(BUCKET_COUNT * sizeof *ctx->buckets);
    mird_scratch_init(&ctx->scratch);
    if (!ctx->buckets) {
        mird_dnnl_destroy(ctx);
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot allocate the primitive cache");
    }
    mird_status st = mird_dnnl_check(ctx, dnnl_engine_create(&ctx->engine, dnnl_cpu, 0),
                                     "creating the CPU engine");
    if (st == MIRD_OK)
        st = mird_dnnl_check(ctx,
                             dnnl_stream_create(&ctx->stream, ctx->engine,
                                                dnnl_stream_default_flags),
                             "creating a stream");
    if (st != MIRD_OK) {
        mird_fail(err, st, "%s", ctx->err.message);
        mird_dnnl_destroy(ctx);
        return st;
    }
    *out = ctx;
    return MIRD_OK;
}

static void prim_free(mird_prim *prim)
{
    for (int i = 0; i < prim->arg_count; i++)
        dnnl_memory_destroy(prim->arg_memory[i]);
    if (prim->scratchpad_memory)
        dnnl_memory_destroy(prim->scratchpad_memory);
    if (prim->primitive)
        dnnl_primitive_destroy(prim->primitive);
    if (prim->pd)
        dnnl_primitive_desc_destroy(prim->pd);
    mird_free(prim);
}

void mird_dnnl_destroy(mird_dnnl *ctx)
{
    if (!ctx)
        return;
    if (ctx->buckets) {
        for (size_t b = 0; b < ctx->bucket_count; b++) {
            mird_prim *prim = ctx->buckets[b];
            while (prim) {
                mird_prim *next = prim->next_in_bucket;
                prim_free(prim);
                prim = next;
            }
        }
        mird_free(ctx->buckets);
    }
    if (ctx->stream)
        dnnl_stream_destroy(ctx->stream);
    if (ctx->engine)
        dnnl_engine_destroy(ctx->engine);
    mird_free(ctx->scratchpad);
    mird_scratch_release_all(&ctx->scratch);
    mird_free(ctx);
}

int mird_dnnl_uses_avx512(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core) == (unsigned)dnnl_cpu_isa_avx512_core;
}

mird_error *mird_dnnl_error(mird_dnnl *ctx)
{
    return &ctx->err;
}

mird_scratch *mird_dnnl_scratch(mird_dnnl *ctx)
{
    return &ctx->scratch;
}

void *mird_dnnl_scratch_alloc(mird_dnnl *ctx, const char *op, int64_t count, size_t size)
{
    size_t bytes = 0;
    void *ptr = NULL;
    if (count >= 0 && mird_size_mul((size_t)(count > 0 ? count : 1), size, &bytes))
        ptr = mird_scratch_alloc(&ctx->scratch, bytes);
    if (!ptr)
        mird_fail(&ctx->err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory for %lld values of %zu bytes",
                  op, (long long)count, size);
    return ptr;
}

dnnl_engine_t mird_dnnl_engine(mird_dnnl *ctx)
{
    return ctx->engine;
}

mird_dnnl_stats mird_dnnl_get_stats(const mird_dnnl *ctx)
{
    mird_dnnl_stats stats = ctx->stats;
    stats.scratchpad_bytes = ctx->scratchpad_size;
    return stats;
}

const_dnnl_primitive_desc_t mird_prim_pd(const mird_prim *prim)
{
    return prim->pd;
}

size_t mird_prim_arg_bytes(const mird_prim *prim, int arg)
{
    return mird_md_ref_bytes(mird_pd_arg_md(prim->pd, arg));
}

static void evict_least_recent(mird_dnnl *ctx)
{
    mird_prim **oldest_link = NULL;
    uint64_t oldest_time = UINT64_MAX;
    for (size_t b = 0; b < ctx->bucket_count; b++)
        for (mird_prim **link = &ctx->buckets[b]; *link; link = &(*link)->next_in_bucket)
            if ((*link)->last_used < oldest_time) {
                oldest_time = (*link)->last_used;
                oldest_link = link;
            }
    if (oldest_link) {
        mird_prim *victim = *oldest_link;
        *oldest_link = victim->next_in_bucket;
        prim_free(victim);
        ctx->stats.cached--;
        ctx->stats.evictions++;
    }
}

void mird_dnnl_set_cache_capacity(mird_dnnl *ctx, size_t capacity)
{
    ctx->capacity = capacity > 0 ? capacity : 1;
    while (ctx->stats.cached > ctx->capacity)
        evict_least_recent(ctx);
}

static mird_status build_primitive(mird_dnnl *ctx, const mird_prim_key *key,
                                   mird_pd_builder build, const void *params,
                                   mird_prim *prim)
{
    dnnl_primitive_attr_t attr = NULL;
    mird_status st = mird_dnnl_check(ctx, dnnl_primitive_attr_create(&attr),
                                     "creating primitive attributes");
    if (st == MIRD_OK)
        st = mird_dnnl_check(ctx,
                             dnnl_primitive_attr_set_scratchpad_mode(attr,
                                                                     dnnl_scratchpad_mode_user),
                             "asking for a user scratchpad");
    if (st == MIRD_OK)
        st = mird_dnnl_check(ctx, build(&prim->pd, ctx->engine, attr, params),
                             "creating a primitive descriptor");
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (st == MIRD_OK)
        st = mird_dnnl_check(ctx, dnnl_primitive_create(&prim->primitive, prim->pd),
                             "creating a primitive");
    if (st != MIRD_OK)
        return st;

    mird_md_ref scratch_md = dnnl_primitive_desc_query_md(prim->pd, dnnl_query_scratchpad_md, 0);
    prim->scratchpad_bytes = mird_md_ref_bytes(scratch_md);
    if (prim->scratchpad_bytes > 0)
        st = mird_dnnl_check(ctx,
                             dnnl_memory_create(&prim->scratchpad_memory, scratch_md,
                                                ctx->engine, DNNL_MEMORY_NONE),
                             "creating scratchpad memory");
    if (st == MIRD_OK && prim->scratchpad_bytes > ctx->scratchpad_size) {
        void *bigger = mird_alloc(prim->scratchpad_bytes);
        if (!bigger)
            return mird_fail(&ctx->err, MIRD_ERR_OUT_OF_MEMORY,
                             "cannot allocate a %zu-byte oneDNN scratchpad",
                             prim->scratchpad_bytes);
        mird_free(ctx->scratchpad);
        ctx->scratchpad = bigger;
        ctx->scratchpad_size = prim->scratchpad_bytes;
    }
    return st;
}

mird_status mird_dnnl_primitive(mird_dnnl *ctx, const mird_prim_key *key_in,
                                mird_pd_builder build, const void *params, mird_prim **out)
{
    mird_prim_key key = *key_in;
    mird_prim_key_add(&key, mird_threads_get());
    if (key.count > MIRD_PRIM_KEY_MAX)
        return mird_fail(&ctx->err, MIRD_ERR_INTERNAL,
                         "primitive key of kind %u has %u values, more than %d", key.kind,
                         key.count, MIRD_PRIM_KEY_MAX);
    uint64_t hash = key_hash(&key);
    size_t bucket = hash % ctx->bucket_count;
    ctx->clock++;
    for (mird_prim *prim = ctx->buckets[bucket]; prim; prim = prim->next_in_bucket) {
        if (prim->hash == hash && key_equal(&prim->key, &key)) {
            prim->last_used = ctx->clock;
            ctx->stats.cache_hits++;
            *out = prim;
            return MIRD_OK;
        }
    }

    mird_prim *prim = mird_alloc_zeroed(sizeof *prim);
    if (!prim)
        return mird_fail(&ctx->err, MIRD_ERR_OUT_OF_MEMORY, "cannot allocate a primitive entry");
    prim->key = key;
    prim->hash = hash;
    prim->last_used = ctx->clock;
    mird_status st = build_primitive(ctx, &key, build, params, prim);
    if (st != MIRD_OK) {
        prim_free(prim);
        return st;
    }
    while (ctx->stats.cached >= ctx->capacity)
        evict_least_recent(ctx);
    prim->next_in_bucket = ctx->buckets[bucket];
    ctx->buckets[bucket] = prim;
    ctx->stats.cached++;
    ctx->stats.primitives_created++;
    mird_log(MIRD_LOG_DEBUG, "oneDNN primitive of kind %u built (%zu cached, scratchpad %zu bytes)",
             key.kind, ctx->stats.cached, prim->scratchpad_bytes);
    *out = prim;
    return MIRD_OK;
}

static mird_status arg_memory(mird_dnnl *ctx, mird_prim *prim, int arg, dnnl_memory_t *out)
{
    for (int i = 0; i < prim->arg_count; i++)
        if (prim->arg_ids[i] == arg) {
            *out = prim->arg_memory[i];
            return MIRD_OK;
        }
    if (prim->arg_count == PRIM_MAX_ARGS)
        return mird_fail(&ctx->err, MIRD_ERR_INTERNAL, "primitive has more than %d arguments",
                         PRIM_MAX_ARGS);
    dnnl_memory_t memory = NULL;
    MIRD_TRY(mird_dnnl_check(ctx,
                             dnnl_memory_create(&memory, mird_pd_arg_md(prim->pd, arg),
                                                ctx->engine, DNNL_MEMORY_NONE),
                             "wrapping an argument in a memory object"));
    prim->arg_ids[prim->arg_count] = arg;
    prim->arg_memory[prim->arg_count] = memory;
    prim->arg_count++;
    *out = memory;
    return MIRD_OK;
}

mird_status mird_dnnl_execute(mird_dnnl *ctx, mird_prim *prim, int nargs, const mird_arg *args)
{
    dnnl_exec_arg_t exec_args[PRIM_MAX_ARGS + 1];
    if (nargs > PRIM_MAX_ARGS)
        return mird_fail(&ctx->err, MIRD_ERR_INTERNAL, "%d arguments, more than %d", nargs,
                         PRIM_MAX_ARGS);
    for (int i = 0; i < nargs; i++) {
        dnnl_memory_t memory = NULL;
        MIRD_TRY(arg_memory(ctx, prim, args[i].arg, &memory));
        MIRD_TRY(mird_dnnl_check(ctx, dnnl_memory_set_data_handle(memory, args[i].data),
                                 "pointing a memory object at a buffer"));
        exec_args[i].arg = args[i].arg;
        exec_args[i].memory = memory;
    }
    int count = nargs;
    if (prim->scratchpad_memory) {
        MIRD_TRY(mird_dnnl_check(ctx,
                                 dnnl_memory_set_data_handle(prim->scratchpad_memory,
                                                             ctx->scratchpad),
                                 "attaching the scratchpad"));
        exec_args[count].arg = DNNL_ARG_SCRATCHPAD;
        exec_args[count].memory = prim->scratchpad_memory;
        count++;
    }
    MIRD_TRY(mird_dnnl_check(ctx,
                             dnnl_primitive_execute(prim->primitive, ctx->stream, count,
                                                    exec_args),
                             "executing a primitive"));
    return mird_dnnl_check(ctx, dnnl_stream_wait(ctx->stream), "waiting for the stream");
}
