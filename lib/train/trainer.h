/* The training step and inference on a model (MODEL.md section 4), and the
 * optimizer state they use. */
#ifndef MIRD_TRAIN_TRAINER_H
#define MIRD_TRAIN_TRAINER_H

#include "model/model.h"

struct mird_optimizer {
    mird_model *model;
    float *m, *v;     /* Adam moments, laid out like the parameter table */
    float *backup;    /* values, m and v before an update, for rollback */
    int64_t steps;           /* completed mird_step calls */
    int64_t estimator_steps; /* completed estimator updates (K per step) */
    int64_t total_steps;     /* the schedule's length; 0 = constant */
    mird_error err;
};

mird_status mird_optimizer_init(mird_optimizer *opt, mird_model *model);
void mird_optimizer_release(mird_optimizer *opt);

/* terms: MIRD_TERM_COUNT values (NaN where a term does not apply). */
mird_status mird_train_step(mird_model *model, mird_optimizer *opt, const mird_batch *batch,
                            double terms[MIRD_TERM_COUNT]);

/* predictions [B]; codes [B, 4, z] or NULL. */
mird_status mird_run_inference(mird_model *model, const mird_batch *batch, float *predictions,
                               float *codes);

#endif
