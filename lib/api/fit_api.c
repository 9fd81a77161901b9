/* Exported training-loop calls: mird_fit, mird_fit_seeds, and the read-only
 * views of progress and reports. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/threads.h"
#include "model/config.h"
#include "train/fit.h"

mird_event mird_progress_event(const mird_progress *p)
{
    return p ? p->event : MIRD_EVENT_STEP;
}

int64_t mird_progress_epoch(const mird_progress *p)
{
    return p ? p->epoch : 0;
}

int64_t mird_progress_step(const mird_progress *p)
{
    return p ? p->step : 0;
}

int64_t mird_progress_total_steps(const mird_progress *p)
{
    return p ? p->total_steps : 0;
}

double mird_progress_term(const mird_progress *p, mird_term term)
{
    if (!p || (int)term < 0 || (int)term >= MIRD_TERM_COUNT)
        return NAN;
    return p->terms[term];
}

double mird_progress_metric(const mird_progress *p, mird_metric metric)
{
    if (!p || (int)metric < 0 || (int)metric >= MIRD_METRIC_COUNT)
        return NAN;
    return p->metrics[metric];
}

int mird_progress_improved(const mird_progress *p)
{
    return p ? p->improved : 0;
}

int64_t mird_progress_run(const mird_progress *p)
{
    return p ? p->run : 0;
}

void mird_report_destroy(mird_report *report)
{
    mird_report_free(report);
}

int64_t mird_report_epochs(const mird_report *report)
{
    return report ? report->epochs : 0;
}

int64_t mird_report_best_epoch(const mird_report *report)
{
    return report ? report->best_epoch : 0;
}

mird_stop mird_report_stop(const mird_report *report)
{
    return report ? report->stop : MIRD_STOP_EPOCHS;
}

double mird_report_term(const mird_report *report, int64_t epoch, mird_term term)
{
    if (!report || epoch < 1 || epoch > report->epochs || (int)term < 0
        || (int)term >= MIRD_TERM_COUNT)
        return NAN;
    return report->terms[(epoch - 1) * MIRD_TERM_COUNT + term];
}

double mird_report_metric(const mird_report *report, int64_t epoch, mird_metric metric)
{
    if (!report || epoch < 1 || epoch > report->epochs || (int)metric < 0
        || (int)metric >= MIRD_METRIC_COUNT)
        return NAN;
    return report->metrics[(epoch - 1) * MIRD_METRIC_COUNT + metric];
}

mird_status mird_fit(mird_model *model, mird_optimizer *opt, const mird_dataset *train,
                     const mird_dataset *unlabeled, const mird_dataset *valid,
                     mird_progress_fn progress, void *user_data, mird_report **report)
{
    if (report)
        *report = NULL;
    if (!model || !opt || !train)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_fit: %s is NULL",
                                !model ? "model" : !opt ? "opt" : "train");
    mird_error_clear(&model->err);
    if (opt->model != model) {
        mird_fail(&model->err, MIRD_ERR_INVALID_ARGUMENT,
                  "mird_fit: the optimizer was made for another model");
        mird_error_publish(&model->err);
        return MIRD_ERR_INVALID_ARGUMENT;
    }
    mird_threads_apply();
    mird_fit_callback callback = {progress, user_data, 0};
    mird_status st = mird_fit_run(model, opt, train, unlabeled, valid, &callback, report);
    if (st != MIRD_OK)
        mird_error_publish(&model->err);
    return st;
}

/* One run of mird_fit_seeds: a fresh model and optimizer from cfg with
 * `seed`, trained, then its test metrics. */
static mird_status one_seed(mird_config *cfg, uint64_t seed, int64_t run,
                            const mird_dataset *train, const mird_dataset *unlabeled,
                            const mird_dataset *valid, const mird_dataset *test,
                            mird_progress_fn progress, void *user_data,
                            double metrics[MIRD_METRIC_COUNT])
{
    MIRD_TRY(mird_config_set_int(cfg, MIRD_PARAM_SEED, (long long)seed));
    mird_model *model;
    mird_optimizer *opt = NULL;
    MIRD_TRY(mird_model_create(cfg, &model));
    mird_status st = mird_optimizer_create(model, &opt);
    if (st == MIRD_OK) {
        /* The test set is checked first: a run should not train for hours
         * only to find its test set unusable. */
        mird_batch_shape shape = mird_batch_shape_of(&model->cfg);
        st = mird_dataset_check_for(test, &shape, 1, "the test set", &model->err);
        mird_fit_callback callback = {progress, user_data, run};
        if (st == MIRD_OK)
            st = mird_fit_run(model, opt, train, unlabeled, valid, &callback, NULL);
        if (st == MIRD_OK)
            st = mird_evaluate_dataset(model, test, "the test set", metrics, NULL);
        if (st != MIRD_OK)
            mird_error_publish(&model->err);
    }
    mird_optimizer_destroy(opt);
    mird_model_destroy(model);
    return st;
}

mird_status mird_fit_seeds(const mird_config *cfg, const uint64_t *seeds, size_t n_seeds,
                           const mird_dataset *train, const mird_dataset *unlabeled,
                           const mird_dataset *valid, const mird_dataset *test,
                           mird_progress_fn progress, void *user_data, double *per_run,
                           double *mean, double *stddev)
{
    if (!cfg || !seeds || !train || !test)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_fit_seeds: %s is NULL",
                                !cfg ? "cfg" : !seeds ? "seeds" : !train ? "train" : "test");
    if (n_seeds < 1)
        return mird_fail_thread(MIRD_ERR_INVALID_ARGUMENT, "mird_fit_seeds: n_seeds = 0");
    size_t values;
    double *results = NULL;
    if (mird_size_mul(n_seeds, MIRD_METRIC_COUNT, &values)
        && mird_size_mul(values, sizeof(double), &values))
        results = mird_alloc(values);
    mird_config *run_cfg = NULL;
    if (!results || mird_config_copy(cfg, &run_cfg) != MIRD_OK) {
        mird_free(results);
        return mird_fail_thread(MIRD_ERR_OUT_OF_MEMORY, "cannot allocate %zu runs' results",
                                n_seeds);
    }
    mird_status st = MIRD_OK;
    for (size_t r = 0; r < n_seeds && st == MIRD_OK; r++)
        st = one_seed(run_cfg, seeds[r], (int64_t)r, train, unlabeled, valid, test, progress,
                      user_data, results + r * MIRD_METRIC_COUNT);
    mird_config_destroy(run_cfg);
    if (st != MIRD_OK) {
        mird_free(results);
        return st;
    }
    for (int k = 0; k < MIRD_METRIC_COUNT; k++) {
        double sum = 0.0, squares = 0.0;
        for (size_t r = 0; r < n_seeds; r++)
            sum += results[r * MIRD_METRIC_COUNT + k];
        double average = sum / (double)n_seeds;
        for (size_t r = 0; r < n_seeds; r++) {
            double d = results[r * MIRD_METRIC_COUNT + k] - average;
            squares += d * d;
        }
        if (mean)
            mean[k] = average;
        if (stddev)
            stddev[k] = sqrt(squares / (double)n_seeds);
    }
    if (per_run)
        memcpy(per_run, results, n_seeds * MIRD_METRIC_COUNT * sizeof(double));
    mird_free(results);
    return MIRD_OK;
}
