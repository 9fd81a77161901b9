#include "train/metrics.h"

#include <math.h>

/* numpy's rint under the default rounding mode, written out so that a host
 * program that changed the FPU's rounding mode does not change Acc-5/Acc-7
 * (52 of MOSI's 2199 labels sit exactly on x.5). */
static double round_half_even(double x)
{
    double below = floor(x), fraction = x - below;
    if (fraction > 0.5)
        return below + 1.0;
    if (fraction < 0.5)
        return below;
    return fmod(below, 2.0) == 0.0 ? below : below + 1.0;
}

static double clip(double x, double bound)
{
    return x < -bound ? -bound : x > bound ? bound : x;
}

/* Counts of a two-class confusion matrix (positive = class 1). */
typedef struct binary_counts {
    int64_t tp, fp, fn, tn;
} binary_counts;

static void count_binary(binary_counts *c, int truth, int predicted)
{
    if (truth)
        predicted ? c->tp++ : c->fn++;
    else
        predicted ? c->fp++ : c->tn++;
}

static double binary_accuracy(const binary_counts *c)
{
    int64_t n = c->tp + c->fp + c->fn + c->tn;
    return n ? (double)(c->tp + c->tn) / (double)n : NAN;
}

/* One class's F1, 2 tp / (2 tp + fp + fn): what sklearn gives, including 0
 * for a class never predicted (its precision counts as 0). */
static double class_f1(int64_t tp, int64_t fp, int64_t fn)
{
    int64_t denominator = 2 * tp + fp + fn;
    return denominator ? 2.0 * (double)tp / (double)denominator : 0.0;
}

/* sklearn's f1_score(average='weighted'): the classes' F1 weighted by how
 * many true samples each has (a class only predicted weighs nothing). */
static double weighted_f1(const binary_counts *c)
{
    int64_t positives = c->tp + c->fn, negatives = c->tn + c->fp;
    if (positives + negatives == 0)
        return NAN;
    double f1_positive = class_f1(c->tp, c->fp, c->fn);
    double f1_negative = class_f1(c->tn, c->fn, c->fp);
    return ((double)positives * f1_positive + (double)negatives * f1_negative) /
           (double)(positives + negatives);
}

/* numpy's corrcoef: NaN when either side is constant, clipped to [-1, 1]. */
static double pearson(const float *p, const float *y, int64_t n)
{
    double mean_p = 0.0, mean_y = 0.0;
    for (int64_t i = 0; i < n; i++)
        mean_p += p[i], mean_y += y[i];
    mean_p /= (double)n, mean_y /= (double)n;
    double spy = 0.0, spp = 0.0, syy = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double dp = p[i] - mean_p, dy = y[i] - mean_y;
        spy += dp * dy, spp += dp * dp, syy += dy * dy;
    }
    if (spp == 0.0 || syy == 0.0)
        return NAN;
    double r = spy / sqrt(spp * syy);
    return r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
}

mird_status mird_metrics_of(const float *predictions, const float *labels, int64_t count,
                            double metrics[MIRD_METRIC_COUNT], mird_error *err)
{
    for (int64_t i = 0; i < count; i++) {
        if (!isfinite(predictions[i]))
            return mird_fail(err, MIRD_ERR_NONFINITE, "predictions[%lld] = %g is not finite",
                             (long long)i, predictions[i]);
        if (!isfinite(labels[i]))
            return mird_fail(err, MIRD_ERR_NONFINITE, "labels[%lld] = %g is not finite",
                             (long long)i, labels[i]);
    }
    double abs_sum = 0.0, sq_sum = 0.0;
    int64_t same5 = 0, same7 = 0;
    binary_counts has0 = {0, 0, 0, 0}, non0 = {0, 0, 0, 0};
    for (int64_t i = 0; i < count; i++) {
        double p = predictions[i], y = labels[i];
        abs_sum += fabs(p - y);
        sq_sum += (p - y) * (p - y);
        same5 += round_half_even(clip(p, 2.0)) == round_half_even(clip(y, 2.0));
        same7 += round_half_even(clip(p, 3.0)) == round_half_even(clip(y, 3.0));
        count_binary(&has0, y >= 0.0, p >= 0.0);
        if (y != 0.0)
            count_binary(&non0, y > 0.0, p > 0.0);
    }
    double n = (double)count;
    metrics[MIRD_METRIC_MAE] = abs_sum / n;
    metrics[MIRD_METRIC_CORR] = pearson(predictions, labels, count);
    metrics[MIRD_METRIC_ACC2_HAS0] = binary_accuracy(&has0);
    metrics[MIRD_METRIC_F1_HAS0] = weighted_f1(&has0);
    metrics[MIRD_METRIC_ACC2_NON0] = binary_accuracy(&non0);
    metrics[MIRD_METRIC_F1_NON0] = weighted_f1(&non0);
    metrics[MIRD_METRIC_ACC5] = (double)same5 / n;
    metrics[MIRD_METRIC_ACC7] = (double)same7 / n;
    metrics[MIRD_METRIC_MSE] = sq_sum / n;
    return MIRD_OK;
}
