#include "ops/losses.h"

#include <inttypes.h>
#include <math.h>

/* Rows of the sequence losses are independent, so both passes run one row
 * per iteration in parallel, each row summed by one thread in a fixed order;
 * the per-row values are then combined serially, so the result does not
 * depend on the thread count.  Below this many elements a parallel region
 * costs more than it saves. */
#define PARALLEL_MIN_ELEMENTS 32768

static mird_status check_sequence_sizes(mird_dnnl *ctx, const char *op, int64_t B, int64_t T,
                                        int64_t width, const char *width_name)
{
    if (B < 0 || T < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_SHAPE,
                         "%s: B = %" PRId64 " and T = %" PRId64 " must not be negative", op, B,
                         T);
    if (width < 1)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_SHAPE,
                         "%s: %s = %" PRId64 " must be at least 1", op, width_name, width);
    return MIRD_OK;
}

static int64_t sample_steps(const int32_t *lengths, int64_t b, int64_t T, int mask_padding)
{
    return mask_padding ? lengths[b] : T;
}

/* Validates the lengths and counts the samples that enter the mean. */
static mird_status count_samples(mird_dnnl *ctx, const char *op, const int32_t *lengths,
                                 int64_t B, int64_t T, int mask_padding, int64_t *counted)
{
    if (!mask_padding) {
        *counted = T > 0 ? B : 0;
        return MIRD_OK;
    }
    if (!lengths && B > 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT,
                         "%s: lengths is NULL but mask_padding is set", op);
    int64_t count = 0;
    for (int64_t b = 0; b < B; b++) {
        if (lengths[b] < 0 || lengths[b] > T)
            return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_SHAPE,
                             "%s: lengths[%" PRId64 "] = %" PRId32
                             " is outside [0, T = %" PRId64 "]",
                             op, b, lengths[b], T);
        count += lengths[b] > 0;
    }
    *counted = count;
    return MIRD_OK;
}

/* The weight of one element of sample b's sum in the loss:
 * 1 / (counted samples * steps_b * elements per step). */
static double sample_weight(int64_t counted, int64_t steps, int64_t per_step)
{
    return 1.0 / ((double)counted * (double)steps * (double)per_step);
}

/* The loss from per-row values: the weighted sum over contributing rows. */
static double combine_rows(const double *row_value, const int32_t *lengths, int64_t B, int64_t T,
                           int mask_padding, int64_t counted, int64_t per_step)
{
    double loss = 0.0;
    for (int64_t b = 0; b < B; b++) {
        int64_t steps = sample_steps(lengths, b, T, mask_padding);
        if (steps == 0)
            continue;
        double sample_sum = 0.0;
        for (int64_t t = 0; t < steps; t++)
            sample_sum += row_value[b * T + t];
        loss += sample_sum * sample_weight(counted, steps, per_step);
    }
    return loss;
}

static mird_status alloc_row_values(mird_dnnl *ctx, const char *op, int64_t count, double **out)
{
    *out = mird_dnnl_scratch_alloc(ctx, op, count, sizeof **out);
    return *out ? MIRD_OK : MIRD_ERR_OUT_OF_MEMORY;
}

static mird_status require_loss(mird_dnnl *ctx, const char *op, const double *loss)
{
    if (!loss)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT, "%s: loss is NULL", op);
    return MIRD_OK;
}

/* One row's loss: the sum over its elements, before the sample weight. */
typedef double (*row_loss_fn)(const void *inputs, int64_t row);

/* The forward both sequence losses share: row losses in parallel into
 * scratch, then the weighted serial sum.  `width` is the elements per row
 * (the work), `per_step` those the per-sample mean divides by, and `count`
 * comes from count_samples. */
static mird_status sequence_forward(mird_dnnl *ctx, const char *op, const int32_t *lengths,
                                    int64_t B, int64_t T, int64_t width, int64_t per_step,
                                    int mask_padding, int64_t count, row_loss_fn row_loss,
                                    const void *inputs, double *loss, int64_t *counted)
{
    *loss = 0.0;
    if (counted)
        *counted = count;
    if (count == 0)
        return MIRD_OK;
    mird_scratch *scratch = mird_dnnl_scratch(ctx);
    mird_scratch_mark mark = mird_scratch_get_mark(scratch);
    const int64_t rows = B * T;
    double *row_value;
    mird_status st = alloc_row_values(ctx, op, rows, &row_value);
    if (st == MIRD_OK) {
        /* Dynamic: padded rows cost nothing, so static chunks would be uneven. */
#pragma omp parallel for schedule(dynamic, 8) if (rows * width >= PARALLEL_MIN_ELEMENTS)
        for (int64_t r = 0; r < rows; r++)
            if (r % T < sample_steps(lengths, r / T, T, mask_padding))
                row_value[r] = row_loss(inputs, r);
        *loss = combine_rows(row_value, lengths, B, T, mask_padding, count, per_step);
    }
    mird_scratch_reset_to(scratch, mark);
    return st;
}

/* ---- task MSE ---- */

static int is_labeled(const uint8_t *labeled, int64_t i)
{
    return !labeled || labeled[i];
}

mird_status mird_task_mse_forward(mird_dnnl *ctx, const float *pred, const float *label,
                                  const uint8_t *labeled, int64_t n, double *loss,
                                  int64_t *counted)
{
    static const char op[] = "mird_task_mse_forward";
    if (n < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_SHAPE,
                         "%s: n = %" PRId64 " must not be negative", op, n);
    MIRD_TRY(require_loss(ctx, op, loss));
    double sum = 0.0;
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!is_labeled(labeled, i))
            continue;
        double diff = (double)pred[i] - label[i];
        sum += diff * diff;
        count++;
    }
    *loss = count > 0 ? sum / (double)count : 0.0;
    if (counted)
        *counted = count;
    return MIRD_OK;
}

mird_status mird_task_mse_backward(mird_dnnl *ctx, const float *pred, const float *label,
                                   const uint8_t *labeled, int64_t n, double g, float *dpred)
{
    if (n < 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_SHAPE,
                         "mird_task_mse_backward: n = %" PRId64 " must not be negative", n);
    if (!dpred)
        return MIRD_OK;
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++)
        count += is_labeled(labeled, i);
    if (count == 0)
        return MIRD_OK;
    double scale = 2.0 * g / (double)count;
    for (int64_t i = 0; i < n; i++)
        if (is_labeled(labeled, i))
            dpred[i] += (float)(scale * ((double)pred[i] - label[i]));
    return MIRD_OK;
}

/* ---- reconstruction MSE ---- */

typedef struct mse_inputs {
    const float *pred, *target;
    int64_t d;
} mse_inputs;

static double mse_row_loss(const void *raw, int64_t row)
{
    const mse_inputs *in = raw;
    const float *p = in->pred + row * in->d, *y = in->target + row * in->d;
    double sum = 0.0;
    for (int64_t k = 0; k < in->d; k++) {
        double diff = (double)p[k] - y[k];
        sum += diff * diff;
    }
    return sum;
}

mird_status mird_sequence_mse_forward(mird_dnnl *ctx, const float *pred, const float *target,
                                      const int32_t *lengths, int64_t B, int64_t T, int64_t d,
                                      int mask_padding, double *loss, int64_t *counted)
{
    static const char op[] = "mird_sequence_mse_forward";
    MIRD_TRY(check_sequence_sizes(ctx, op, B, T, d, "d"));
    MIRD_TRY(require_loss(ctx, op, loss));
    int64_t count;
    MIRD_TRY(count_samples(ctx, op, lengths, B, T, mask_padding, &count));
    mse_inputs inputs = {pred, target, d};
    return sequence_forward(ctx, op, lengths, B, T, d, d, mask_padding, count, mse_row_loss,
                            &inputs, loss, counted);
}

mird_status mird_sequence_mse_backward(mird_dnnl *ctx, const float *pred, const float *target,
                                       const int32_t *lengths, int64_t B, int64_t T, int64_t d,
                                       int mask_padding, double g, float *dpred, float *dtarget)
{
    static const char op[] = "mird_sequence_mse_backward";
    MIRD_TRY(check_sequence_sizes(ctx, op, B, T, d, "d"));
    int64_t count;
    MIRD_TRY(count_samples(ctx, op, lengths, B, T, mask_padding, &count));
    if (count == 0 || (!dpred && !dtarget))
        return MIRD_OK;
    const int64_t rows = B * T;
#pragma omp parallel for schedule(static) if (rows * d >= PARALLEL_MIN_ELEMENTS)
    for (int64_t r = 0; r < rows; r++) {
        int64_t steps = sample_steps(lengths, r / T, T, mask_padding);
        if (r % T >= steps)
            continue;
        const float scale = (float)(2.0 * g * sample_weight(count, steps, d));
        const float *p = pred + r * d, *y = target + r * d;
        for (int64_t k = 0; k < d; k++) {
            float grad = scale * (p[k] - y[k]);
            if (dpred)
                dpred[r * d + k] += grad;
            if (dtarget)
                dtarget[r * d + k] -= grad;
        }
    }
    return MIRD_OK;
}

/* ---- reconstruction cross-entropy ---- */

static mird_status check_ids(mird_dnnl *ctx, const char *op, const int32_t *ids,
                             const int32_t *lengths, int64_t B, int64_t T, int64_t V,
                             int mask_padding)
{
    if (!ids && B > 0 && T > 0)
        return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_NULL_ARGUMENT, "%s: ids is NULL", op);
    for (int64_t b = 0; b < B; b++) {
        int64_t steps = sample_steps(lengths, b, T, mask_padding);
        for (int64_t t = 0; t < steps; t++) {
            int32_t id = ids[b * T + t];
            if (id < 0 || id >= V)
                return mird_fail(mird_dnnl_error(ctx), MIRD_ERR_INVALID_ARGUMENT,
                                 "%s: ids[%" PRId64 ", %" PRId64 "] = %" PRId32
                                 " is outside [0, V = %" PRId64 ")",
                                 op, b, t, id, V);
        }
    }
    return MIRD_OK;
}

/* exp(x) for -87 <= x <= 0, written so that `omp simd` loops vectorise it
 * (glibc's expf is a scalar call, which made a 30522-word softmax the slowest
 * op).  x = n ln2 + r with |r| <= ln2/2; e^r by its degree-6 Taylor
 * polynomial (truncation below 2e-10 relative, so float rounding dominates);
 * 2^n is built in the exponent bits, which is why x must stay above -87.
 * The range is checked per row, not per element: a float comparison in the
 * loop would stop GCC vectorising it under the default -ftrapping-math. */
#define FAST_EXP_LOWEST -87.0f

/* The build targets baseline x86-64 (SSE2); these loops are worth wider
 * vectors, so GCC compiles them for each width and the loader picks the
 * widest the CPU has (the choice is per machine, so results stay the same
 * whatever the thread count). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

static inline float fast_exp(float x)
{
    const float log2e = 1.44269504f, ln2_hi = 0.693145752f, ln2_lo = 1.42860677e-6f;
    const float round_shift = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * log2e + round_shift) - round_shift;
    float r = (x - n * ln2_hi) - n * ln2_lo;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union {
        int32_t bits;
        float value;
    } power = {.bits = ((int32_t)n + 127) << 23};
    return p * power.value;
}

typedef struct row_range {
    float lowest, highest;
} row_range;

VECTOR_CLONES static row_range range_of_row(const float *row, int64_t V)
{
    float lowest = row[0], highest = row[0];
#pragma omp simd reduction(min : lowest) reduction(max : highest)
    for (int64_t v = 1; v < V; v++) {
        lowest = row[v] < lowest ? row[v] : lowest;
        highest = row[v] > highest ? row[v] : highest;
    }
    return (row_range){lowest, highest};
}

/* Whether every exp(row[v] - shift) may take the fast path. */
static int fast_exp_covers(row_range range, float shift)
{
    return range.lowest - shift >= FAST_EXP_LOWEST;
}

/* log sum_v exp(row[v]), shifted by the maximum so no exp overflows.  The
 * simd reduction fixes the summation order at compile time, so the result
 * is the same whatever the thread count. */
VECTOR_CLONES static double row_log_sum_exp(const float *row, int64_t V)
{
    row_range range = range_of_row(row, V);
    const float shift = range.highest;
    double sum = 0.0;
    if (fast_exp_covers(range, shift)) {
#pragma omp simd reduction(+ : sum)
        for (int64_t v = 0; v < V; v++)
            sum += (double)fast_exp(row[v] - shift);
    } else {
        for (int64_t v = 0; v < V; v++)
            sum += (double)expf(row[v] - shift);
    }
    return (double)shift + log(sum);
}

/* grad[v] += scale * softmax(row)[v], the softmax as exp(row[v] - lse). */
VECTOR_CLONES static void add_softmax(float *grad, const float *row, int64_t V, float lse, float scale)
{
    if (fast_exp_covers(range_of_row(row, V), lse)) {
#pragma omp simd
        for (int64_t v = 0; v < V; v++)
            grad[v] += scale * fast_exp(row[v] - lse);
    } else {
        for (int64_t v = 0; v < V; v++)
            grad[v] += scale * expf(row[v] - lse);
    }
}

typedef struct cross_entropy_inputs {
    const float *logits;
    const int32_t *ids;
    int64_t V;
    float *log_norm; /* may be NULL */
} cross_entropy_inputs;

static double cross_entropy_row_loss(const void *raw, int64_t row)
{
    const cross_entropy_inputs *in = raw;
    const float *logits = in->logits + row * in->V;
    double lse = row_log_sum_exp(logits, in->V);
    if (in->log_norm)
        in->log_norm[row] = (float)lse;
    return lse - logits[in->ids[row]];
}

mird_status mird_sequence_cross_entropy_forward(mird_dnnl *ctx, const float *logits,
                                                const int32_t *ids, const int32_t *lengths,
                                                int64_t B, int64_t T, int64_t V,
                                                int mask_padding, double *loss,
                                                int64_t *counted, float *log_norm)
{
    static const char op[] = "mird_sequence_cross_entropy_forward";
    MIRD_TRY(check_sequence_sizes(ctx, op, B, T, V, "V"));
    MIRD_TRY(require_loss(ctx, op, loss));
    int64_t count;
    MIRD_TRY(count_samples(ctx, op, lengths, B, T, mask_padding, &count));
    MIRD_TRY(check_ids(ctx, op, ids, lengths, B, T, V, mask_padding));
    cross_entropy_inputs inputs = {logits, ids, V, log_norm};
    return sequence_forward(ctx, op, lengths, B, T, V, 1, mask_padding, count,
                            cross_entropy_row_loss, &inputs, loss, counted);
}

mird_status mird_sequence_cross_entropy_backward(mird_dnnl *ctx, const float *logits,
                                                 const int32_t *ids, const int32_t *lengths,
                                                 int64_t B, int64_t T, int64_t V,
                                                 int mask_padding, const float *log_norm,
                                                 double g, float *dlogits)
{
    static const char op[] = "mird_sequence_cross_entropy_backward";
    MIRD_TRY(check_sequence_sizes(ctx, op, B, T, V, "V"));
    int64_t count;
    MIRD_TRY(count_samples(ctx, op, lengths, B, T, mask_padding, &count));
    MIRD_TRY(check_ids(ctx, op, ids, lengths, B, T, V, mask_padding));
    if (count == 0 || !dlogits)
        return MIRD_OK;
    const int64_t rows = B * T;
#pragma omp parallel for schedule(dynamic, 8) if (rows * V >= PARALLEL_MIN_ELEMENTS)
    for (int64_t r = 0; r < rows; r++) {
        int64_t steps = sample_steps(lengths, r / T, T, mask_padding);
        if (r % T >= steps)
            continue;
        const float *row = logits + r * V;
        float *grad = dlogits + r * V;
        const float lse = log_norm ? log_norm[r] : (float)row_log_sum_exp(row, V);
        const float scale = (float)(g * sample_weight(count, steps, 1));
        add_softmax(grad, row, V, lse, scale);
        grad[ids[r]] -= scale;
    }
    return MIRD_OK;
}
