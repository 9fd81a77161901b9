/* Exported metric calls: names, metrics of caller arrays, evaluation of a
 * model on a dataset. */
#include <string.h>

#include "core/threads.h"
#include "train/fit.h"
#include "train/metrics.h"

const char *mird_metric_name(mird_metric metric)
{
    static const char *const names[MIRD_METRIC_COUNT] = {
        "mae", "corr", "acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc5", "acc7", "mse"};
    if ((int)metric < 0 || (int)metric >= MIRD_METRIC_COUNT)
        return NULL;
    return names[metric];
}

mird_status mird_metrics_compute(const float *predictions, const float *labels, int64_t count,
                                 double *metrics, size_t n_metrics)
{
    if (!predictions || !labels || !metrics)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_metrics_compute: %s is NULL",
                                !predictions ? "predictions" : !labels ? "labels" : "metrics");
    if (count < 1)
        return mird_fail_thread(MIRD_ERR_INVALID_ARGUMENT,
                                "mird_metrics_compute: count = %lld must be >= 1",
                                (long long)count);
    mird_error err = {0};
    double values[MIRD_METRIC_COUNT];
    if (mird_metrics_of(predictions, labels, count, values, &err) != MIRD_OK) {
        mird_error_publish(&err);
        return err.status;
    }
    memcpy(metrics, values,
           (n_metrics < MIRD_METRIC_COUNT ? n_metrics : MIRD_METRIC_COUNT) * sizeof(double));
    return MIRD_OK;
}

mird_status mird_evaluate(mird_model *model, const mird_dataset *ds, double *metrics,
                          size_t n_metrics, float *predictions)
{
    if (!model || !ds)
        return mird_fail_thread(MIRD_ERR_NULL_ARGUMENT, "mird_evaluate: %s is NULL",
                                model ? "ds" : "model");
    mird_error_clear(&model->err);
    mird_threads_apply();
    double values[MIRD_METRIC_COUNT];
    int want_metrics = metrics && n_metrics > 0;
    mird_status st = mird_evaluate_dataset(model, ds, "the dataset", want_metrics ? values : NULL,
                                           predictions);
    if (st != MIRD_OK) {
        mird_error_publish(&model->err);
        return st;
    }
    if (want_metrics)
        memcpy(metrics, values,
               (n_metrics < MIRD_METRIC_COUNT ? n_metrics : MIRD_METRIC_COUNT) * sizeof(double));
    return MIRD_OK;
}
