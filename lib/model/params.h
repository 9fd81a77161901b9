/* The parameter table: every learnable tensor of the model, by name.
 *
 * Modules register their tensors while the model is being described (name,
 * shape, initialisation, group); the table then lays them out in one value
 * arena and a mirrored gradient arena, model tensors first and estimator
 * tensors after, so that each optimizer walks one contiguous range.  Names
 * are the checkpoint names of MODEL.md section 9.  Modules keep the index
 * that registration returned and reach their storage through it. */
#ifndef MIRD_MODEL_PARAMS_H
#define MIRD_MODEL_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define MIRD_PARAM_NAME_MAX 96

typedef enum mird_init_kind {
    MIRD_INIT_ZEROS,
    MIRD_INIT_ONES,
    MIRD_INIT_UNIFORM, /* U(-scale, scale) */
    MIRD_INIT_NORMAL   /* N(0, scale^2) */
} mird_init_kind;

typedef enum mird_param_group {
    MIRD_GROUP_MODEL = 0,    /* trained by AdamW on the total loss */
    MIRD_GROUP_ESTIMATOR = 1 /* the CLUB networks, trained by Adam */
} mird_param_group;

typedef struct mird_param_entry {
    char name[MIRD_PARAM_NAME_MAX];
    int ndim;
    int64_t dims[4];
    size_t numel;
    size_t offset; /* in floats, into values and grads */
    mird_init_kind init;
    float init_scale;
    mird_param_group group;
    int decay; /* AdamW weight decay applies (not biases, not LayerNorm) */
} mird_param_entry;

typedef struct mird_param_table {
    mird_param_entry *entries;
    int count, capacity;
    float *values, *grads; /* NULL until committed */
    size_t total;          /* floats, including alignment padding */
    size_t group_begin[2], group_end[2];
    int failed;            /* a registration ran out of memory */
} mird_param_table;

void mird_params_init_table(mird_param_table *table);
void mird_params_release(mird_param_table *table);

/* Registers a tensor; returns its index, or -1 (and marks the table failed)
 * when out of memory.  `name` is printf-style for numbered layers. */
int mird_params_add(mird_param_table *table, mird_param_group group, mird_init_kind init,
                    float init_scale, int ndim, const int64_t *dims, const char *name_fmt, ...)
    MIRD_PRINTF_LIKE(7, 8);

/* Registers `<prefix>.weight` [out, in] and `<prefix>.bias` [out] of an
 * nn.Linear(in -> out) with PyTorch's default initialisation,
 * U(-1/sqrt(in), 1/sqrt(in)) for both; `prefix` is printf-style. */
void mird_params_add_linear(mird_param_table *table, mird_param_group group, int64_t in,
                            int64_t out, int *weight_index, int *bias_index,
                            const char *prefix_fmt, ...) MIRD_PRINTF_LIKE(7, 8);

/* Lays out and allocates values and gradients (all zero). */
mird_status mird_params_commit(mird_param_table *table, mird_error *err);

/* Fills every tensor from its initialiser; tensor i draws from the stream
 * (seed, purpose = parameter-init, step = i), so one tensor's values do not
 * depend on which others exist. */
void mird_params_initialise(mird_param_table *table, uint64_t seed);

void mird_params_zero_grads(mird_param_table *table, mird_param_group group);

/* Index of the tensor called `name`, or -1. */
int mird_params_find(const mird_param_table *table, const char *name);

static inline float *mird_param_value(const mird_param_table *table, int index)
{
    return table->values + table->entries[index].offset;
}

static inline float *mird_param_grad(const mird_param_table *table, int index)
{
    return table->grads + table->entries[index].offset;
}

#endif
