/* Arenas: where tensors live.
 *
 * mird_arena is one contiguous block filled front to back.  Parameters sit in
 * one arena and their gradients in a second of identical layout, so that an
 * optimizer can walk both as flat arrays (llm.c's layout).  A plan-then-
 * allocate pattern keeps it to one allocation: reserve every tensor with
 * mird_arena_reserve() on an arena whose base is NULL (it only counts), then
 * call mird_arena_commit() and reserve the same tensors again in the same order.
 *
 * mird_scratch is a stack of transient buffers for one op at a time: take a
 * mark, allocate, release to the mark.  It grows in chunks that never move, so
 * pointers stay valid until released, and keeps its chunks for reuse. */
#ifndef MIRD_CORE_ARENA_H
#define MIRD_CORE_ARENA_H

#include <stddef.h>

#include "core/error.h"

typedef struct mird_arena {
    char *base;       /* NULL while planning */
    size_t capacity;  /* bytes available after commit */
    size_t used;      /* bytes reserved so far, each reservation aligned */
} mird_arena;

void mird_arena_init_plan(mird_arena *arena);
/* Allocates `used` bytes (zeroed) and rewinds so the same reservations can be
 * made again for real. */
mird_status mird_arena_commit(mird_arena *arena, mird_error *err);
/* Returns the next aligned block of `bytes`; NULL while planning, or if the
 * committed capacity is exceeded (a planning bug, reported by the caller). */
void *mird_arena_reserve(mird_arena *arena, size_t bytes);
void mird_arena_rewind(mird_arena *arena);
void mird_arena_release(mird_arena *arena);

typedef struct mird_scratch_chunk mird_scratch_chunk;

typedef struct mird_scratch {
    mird_scratch_chunk *chunks; /* singly linked, newest first */
    mird_scratch_chunk *current;
    size_t high_water;          /* most bytes ever live at once */
    size_t live;
} mird_scratch;

typedef struct mird_scratch_mark {
    mird_scratch_chunk *chunk;
    size_t offset;
    size_t live;
} mird_scratch_mark;

void mird_scratch_init(mird_scratch *scratch);
void mird_scratch_release_all(mird_scratch *scratch);
mird_scratch_mark mird_scratch_get_mark(const mird_scratch *scratch);
/* Aligned, uninitialised; NULL only when memory runs out. */
void *mird_scratch_alloc(mird_scratch *scratch, size_t bytes);
/* Like mird_scratch_alloc, zero-filled. */
void *mird_scratch_alloc_zeroed(mird_scratch *scratch, size_t bytes);
void mird_scratch_reset_to(mird_scratch *scratch, mird_scratch_mark mark);

#endif
