#include "core/arena.h"

#include <string.h>

#include "core/alloc.h"

void mird_arena_init_plan(mird_arena *arena)
{
    arena->base = NULL;
    arena->capacity = 0;
    arena->used = 0;
}

mird_status mird_arena_commit(mird_arena *arena, mird_error *err)
{
    size_t bytes = arena->used;
    char *base = mird_alloc_zeroed(bytes);
    if (!base)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY,
                         "cannot allocate an arena of %zu bytes", bytes);
    arena->base = base;
    arena->capacity = bytes;
    arena->used = 0;
    return MIRD_OK;
}

void *mird_arena_reserve(mird_arena *arena, size_t bytes)
{
    size_t start = arena->used;
    size_t end = start + mird_align_up(bytes);
    if (end < start)
        return NULL;
    if (!arena->base) {
        arena->used = end;
        return NULL;
    }
    if (end > arena->capacity)
        return NULL;
    arena->used = end;
    return arena->base + start;
}

void mird_arena_rewind(mird_arena *arena)
{
    arena->used = 0;
}

void mird_arena_release(mird_arena *arena)
{
    mird_free(arena->base);
    mird_arena_init_plan(arena);
}

struct mird_scratch_chunk {
    mird_scratch_chunk *next; /* the next older chunk */
    size_t size;
    size_t offset;
    char *data;
};

enum { SCRATCH_MIN_CHUNK = 1 << 20 };

void mird_scratch_init(mird_scratch *scratch)
{
    memset(scratch, 0, sizeof *scratch);
}

void mird_scratch_release_all(mird_scratch *scratch)
{
    mird_scratch_chunk *chunk = scratch->chunks;
    while (chunk) {
        mird_scratch_chunk *next = chunk->next;
        mird_free(chunk->data);
        mird_free(chunk);
        chunk = next;
    }
    mird_scratch_init(scratch);
}

mird_scratch_mark mird_scratch_get_mark(const mird_scratch *scratch)
{
    mird_scratch_mark mark = {scratch->current,
                              scratch->current ? scratch->current->offset : 0,
                              scratch->live};
    return mark;
}

/* Chunks form a list newest-first; `current` walks towards the newest as
 * allocations need room, reusing chunks freed by an earlier reset. */
static mird_scratch_chunk *next_newer_chunk(mird_scratch *scratch,
                                            mird_scratch_chunk *chunk)
{
    mird_scratch_chunk *it = scratch->chunks;
    if (!chunk)
        return NULL;
    while (it && it->next != chunk)
        it = it->next;
    return it;
}

void *mird_scratch_alloc(mird_scratch *scratch, size_t bytes)
{
    size_t need = mird_align_up(bytes ? bytes : 1);
    mird_scratch_chunk *chunk = scratch->current;
    if (!chunk && scratch->chunks) {
        /* After a reset to the empty mark, start again at the oldest chunk. */
        chunk = scratch->chunks;
        while (chunk->next)
            chunk = chunk->next;
        chunk->offset = 0;
    }
    while (chunk && chunk->size - chunk->offset < need) {
        chunk = next_newer_chunk(scratch, chunk);
        if (chunk)
            chunk->offset = 0;
    }
    if (!chunk) {
        size_t size = need > SCRATCH_MIN_CHUNK ? need : SCRATCH_MIN_CHUNK;
        chunk = mird_alloc(sizeof *chunk);
        if (!chunk)
            return NULL;
        chunk->data = mird_alloc(size);
        if (!chunk->data) {
            mird_free(chunk);
            return NULL;
        }
        chunk->size = size;
        chunk->offset = 0;
        chunk->next = scratch->chunks;
        scratch->chunks = chunk;
    }
    void *ptr = chunk->data + chunk->offset;
    chunk->offset += need;
    scratch->current = chunk;
    scratch->live += need;
    if (scratch->live > scratch->high_water)
        scratch->high_water = scratch->live;
    return ptr;
}

void *mird_scratch_alloc_zeroed(mird_scratch *scratch, size_t bytes)
{
    void *ptr = mird_scratch_alloc(scratch, bytes);
    if (ptr)
        memset(ptr, 0, bytes);
    return ptr;
}

void mird_scratch_reset_to(mird_scratch *scratch, mird_scratch_mark mark)
{
    scratch->current = mark.chunk;
    if (mark.chunk)
        mark.chunk->offset = mark.offset;
    scratch->live = mark.live;
}
