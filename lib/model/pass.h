/* One forward (and possibly backward) pass of the model over a batch.
 *
 * Modules receive the pass rather than the whole model: it carries what every
 * module needs (the oneDNN context, the parameter table, the batch size, the
 * configuration, whether dropout is live) and nothing more, so a module can be
 * tested alone.  Each dropout site draws its mask from the stream (seed,
 * MIRD_RNG_DROPOUT_BASE + site, pass id): a new pass id gives new masks, the
 * same pass id the same masks, on any number of threads. */
#ifndef MIRD_MODEL_PASS_H
#define MIRD_MODEL_PASS_H

#include <stdint.h>

#include "core/arena.h"
#include "core/rng.h"
#include "dnnl/context.h"
#include "model/config.h"
#include "model/params.h"
#include "model/rng_purpose.h"

typedef struct mird_pass {
    mird_dnnl *ctx;
    mird_param_table *params;
    const mird_config *cfg;
    int64_t batch;
    int training;     /* dropout live, and caches kept for a backward */
    uint64_t seed;
    uint64_t pass_id; /* distinct for every training forward */
} mird_pass;

/* Dropout sites, one per place a mask is drawn.  Numbers are part of
 * reproducibility: append, never renumber. */
enum mird_dropout_site {
    MIRD_SITE_AGNOSTIC_EMBEDDINGS = 0,
    MIRD_SITE_AGNOSTIC_WSA = 1,
    MIRD_SITE_AGNOSTIC_POOLED = 2,
    MIRD_SITE_LANGUAGE_EMBEDDINGS = 3,
    MIRD_SITE_LANGUAGE_POOLED = 4,
    MIRD_SITE_REGRESSOR = 5,
    /* BERT layers: base + 3 * (stack * 64 + layer) + {0 attention probs,
     * 1 attention output, 2 feed-forward output}; stack 0 agnostic, 1 language. */
    MIRD_SITE_BERT_BASE = 64
};

static inline mird_rng_stream mird_pass_dropout_stream(const mird_pass *pass, unsigned site)
{
    return mird_rng_make_stream(pass->seed, MIRD_RNG_DROPOUT_BASE + site, pass->pass_id);
}

/* The dropout rate to use at a site given its configured rate: 0 outside
 * training. */
static inline float mird_pass_dropout(const mird_pass *pass, mird_param rate)
{
    return pass->training ? (float)mird_cfg_real(pass->cfg, rate) : 0.0f;
}

/* Reserves floats in a workspace arena (NULL while planning). */
static inline float *mird_ws_floats(mird_arena *ws, int64_t count)
{
    return (float *)mird_arena_reserve(ws, (size_t)count * sizeof(float));
}

#endif
