/* The training loop (MODEL.md section 6) and evaluation on datasets.
 *
 * Both work on internal datasets of batch size: rows of the caller's
 * datasets are gathered into one, and its `samples` go to the trainer.
 * Failures are described in model->err, where the trainer writes too. */
#ifndef MIRD_TRAIN_FIT_H
#define MIRD_TRAIN_FIT_H

#include "io/dataset.h"
#include "train/trainer.h"

struct mird_progress {
    mird_event event;
    int64_t epoch, step, total_steps, run;
    double terms[MIRD_TERM_COUNT];
    double metrics[MIRD_METRIC_COUNT];
    int improved;
};

struct mird_report {
    int64_t epochs, best_epoch;
    mird_stop stop;
    double *terms;   /* [epochs, MIRD_TERM_COUNT] */
    double *metrics; /* [epochs, MIRD_METRIC_COUNT] */
};

void mird_report_free(mird_report *report);

/* Checks that the model accepts the dataset (shapes, every field set) and,
 * with need_labeled, that it has at least one labeled sample.  `what` names
 * it in messages ("the validation set"). */
mird_status mird_dataset_check_for(const mird_dataset *ds, const mird_batch_shape *model_shape,
                                   int need_labeled, const char *what, mird_error *err);

/* Predictions for every sample (predictions may be NULL) and, if metrics is
 * not NULL, the metrics over the labeled ones. */
mird_status mird_evaluate_dataset(mird_model *model, const mird_dataset *ds, const char *what,
                                  double metrics[MIRD_METRIC_COUNT], float *predictions);

typedef struct mird_fit_callback {
    mird_progress_fn fn; /* may be NULL */
    void *user_data;
    int64_t run;
} mird_fit_callback;

/* mird_fit after its argument checks (opt belongs to model).  *report (if
 * report is not NULL) is set on MIRD_OK and MIRD_ERR_CANCELLED only; any
 * other failure leaves the model and optimizer as they were. */
mird_status mird_fit_run(mird_model *model, mird_optimizer *opt, const mird_dataset *train,
                         const mird_dataset *unlabeled, const mird_dataset *valid,
                         const mird_fit_callback *callback, mird_report **report);

/* For tests: when set, sees every training batch just before its step (the
 * symbol is hidden in the shared library, like the fault countdown). */
extern void (*mird_fit_batch_hook)(const mird_batch *batch, void *context);
extern void *mird_fit_batch_hook_context;

#endif
