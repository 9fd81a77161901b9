#include "model/params.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "model/rng_purpose.h"

void mird_params_init_table(mird_param_table *table)
{
    memset(table, 0, sizeof *table);
}

void mird_params_release(mird_param_table *table)
{
    mird_free(table->entries);
    mird_free(table->values);
    mird_free(table->grads);
    mird_params_init_table(table);
}

int mird_params_add(mird_param_table *table, mird_param_group group, mird_init_kind init,
                    float init_scale, int ndim, const int64_t *dims, const char *name_fmt, ...)
{
    if (table->failed)
        return -1;
    if (table->count == table->capacity) {
        int capacity = table->capacity ? 2 * table->capacity : 64;
        mird_param_entry *grown = mird_alloc((size_t)capacity * sizeof *grown);
        if (!grown) {
            table->failed = 1;
            return -1;
        }
        if (table->count)
            memcpy(grown, table->entries, (size_t)table->count * sizeof *grown);
        mird_free(table->entries);
        table->entries = grown;
        table->capacity = capacity;
    }
    mird_param_entry *e = &table->entries[table->count];
    memset(e, 0, sizeof *e);
    va_list args;
    va_start(args, name_fmt);
    vsnprintf(e->name, sizeof e->name, name_fmt, args);
    va_end(args);
    e->ndim = ndim;
    e->numel = 1;
    for (int i = 0; i < ndim; i++) {
        e->dims[i] = dims[i];
        e->numel *= (size_t)dims[i];
    }
    e->init = init;
    e->init_scale = init_scale;
    e->group = group;
    /* The released code's rule (transformers' no_decay list, by substring). */
    e->decay = strstr(e->name, "bias") == NULL && strstr(e->name, "LayerNorm") == NULL;
    return table->count++;
}

void mird_params_add_linear(mird_param_table *table, mird_param_group group, int64_t in,
                            int64_t out, int *weight_index, int *bias_index,
                            const char *prefix_fmt, ...)
{
    char prefix[MIRD_PARAM_NAME_MAX];
    va_list args;
    va_start(args, prefix_fmt);
    vsnprintf(prefix, sizeof prefix, prefix_fmt, args);
    va_end(args);
    int64_t wdims[2] = {out, in}, bdims[1] = {out};
    float bound = 1.0f / sqrtf((float)in);
    *weight_index = mird_params_add(table, group, MIRD_INIT_UNIFORM, bound, 2, wdims, "%s.weight",
                                    prefix);
    *bias_index = mird_params_add(table, group, MIRD_INIT_UNIFORM, bound, 1, bdims, "%s.bias",
                                  prefix);
}

mird_status mird_params_commit(mird_param_table *table, mird_error *err)
{
    if (table->failed)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot allocate the parameter table");
    const size_t floats_per_line = MIRD_ALIGNMENT / sizeof(float);
    size_t offset = 0;
    for (int group = MIRD_GROUP_MODEL; group <= MIRD_GROUP_ESTIMATOR; group++) {
        table->group_begin[group] = offset;
        for (int i = 0; i < table->count; i++) {
            mird_param_entry *e = &table->entries[i];
            if ((int)e->group != group)
                continue;
            e->offset = offset;
            /* Each tensor starts on a cache line: oneDNN reads them fastest so. */
            offset += (e->numel + floats_per_line - 1) / floats_per_line * floats_per_line;
        }
        table->group_end[group] = offset;
    }
    table->total = offset;
    table->values = mird_alloc_zeroed(offset * sizeof(float));
    table->grads = mird_alloc_zeroed(offset * sizeof(float));
    if (!table->values || !table->grads) {
        mird_free(table->values);
        mird_free(table->grads);
        table->values = table->grads = NULL;
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "cannot allocate %zu parameters", offset);
    }
    return MIRD_OK;
}

void mird_params_initialise(mird_param_table *table, uint64_t seed)
{
    for (int i = 0; i < table->count; i++) {
        const mird_param_entry *e = &table->entries[i];
        float *v = mird_param_value(table, i);
        mird_rng_stream s = mird_rng_make_stream(seed, MIRD_RNG_PARAM_INIT, (uint64_t)i);
        switch (e->init) {
        case MIRD_INIT_ZEROS:
            memset(v, 0, e->numel * sizeof(float));
            break;
        case MIRD_INIT_ONES:
            for (size_t k = 0; k < e->numel; k++)
                v[k] = 1.0f;
            break;
        case MIRD_INIT_UNIFORM:
            mird_rng_uniform_range(&s, 0, e->numel, -e->init_scale, e->init_scale, v);
            break;
        case MIRD_INIT_NORMAL:
            mird_rng_normal(&s, 0, e->numel, 0.0f, e->init_scale, v);
            break;
        }
    }
}

void mird_params_zero_grads(mird_param_table *table, mird_param_group group)
{
    size_t begin = table->group_begin[group], end = table->group_end[group];
    memset(table->grads + begin, 0, (end - begin) * sizeof(float));
}

int mird_params_find(const mird_param_table *table, const char *name)
{
    for (int i = 0; i < table->count; i++)
        if (strcmp(table->entries[i].name, name) == 0)
            return i;
    return -1;
}
