/* Task MSE, reconstruction MSE and reconstruction cross-entropy: forward
 * against double-precision loops and hand-computed values, backward against
 * finite differences (padded, zero-length and unlabeled samples), +=, NULL
 * gradients, zero-count terms, bad lengths and ids, and thread-count
 * independence. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/losses.h"
#include "support/gradcheck.h"
#include "support/testutil.h"

/* The forwards accumulate in double from float inputs, so the finite
 * differences are accurate well below gradcheck's defaults. */
static const gc_options tight = {4e-3, 1e-6, 1e-4, 0};

static const double upstream = 0.7; /* g, the upstream gradient of the scalar */

static void assert_scratch_released(mird_dnnl *ctx)
{
    ck_assert_uint_eq(mird_dnnl_scratch(ctx)->live, 0);
}

static void assert_fails_with(mird_dnnl *ctx, mird_status got, mird_status want,
                              const char *message_part)
{
    ck_assert_msg(got == want, "status %s, wanted %s", mird_status_string(got),
                  mird_status_string(want));
    ck_assert_msg(strstr(mird_dnnl_error(ctx)->message, message_part) != NULL,
                  "message '%s' lacks '%s'", mird_dnnl_error(ctx)->message, message_part);
    assert_scratch_released(ctx);
}

/* Adds the prefill back so an accumulated buffer can be compared with a
 * fresh one: after backward, buf = prefill + grad. */
static void assert_accumulated(const char *what, const float *accumulated, const float *prefill,
                               const float *fresh, size_t n)
{
    float *expected = tu_alloc_zeros(n);
    for (size_t i = 0; i < n; i++)
        expected[i] = prefill[i] + fresh[i];
    tu_assert_close(what, accumulated, expected, n, 1e-6, 1e-6);
    mird_free(expected);
}

static void assert_all_equal(const char *what, const float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(x[i] == y[i], "%s[%zu]: %.9g != %.9g", what, i, x[i], y[i]);
}

/* ---------------- task MSE ---------------- */

typedef struct task_case {
    mird_dnnl *ctx;
    float *pred, *label;
    const uint8_t *labeled;
    int64_t n;
} task_case;

static double task_loss(void *user)
{
    task_case *c = user;
    double loss;
    TU_OK(c->ctx, mird_task_mse_forward(c->ctx, c->pred, c->label, c->labeled, c->n, &loss, NULL));
    return upstream * loss;
}

START_TEST(test_task_mse_hand_values)
{
    mird_dnnl *ctx = tu_context();
    float pred[4] = {1, 2, 3, 4}, label[4] = {0, 2, 5, NAN};
    uint8_t labeled[4] = {1, 1, 1, 0};
    double loss;
    int64_t counted;
    TU_OK(ctx, mird_task_mse_forward(ctx, pred, label, labeled, 4, &loss, &counted));
    ck_assert_int_eq(counted, 3);
    ck_assert_double_eq_tol(loss, 5.0 / 3.0, 1e-12);
    float dpred[4] = {0};
    TU_OK(ctx, mird_task_mse_backward(ctx, pred, label, labeled, 4, 1.0, dpred));
    float expected[4] = {2.0f / 3.0f, 0.0f, -4.0f / 3.0f, 0.0f};
    tu_assert_close("task dpred", dpred, expected, 4, 1e-7, 1e-6);
    /* No mask: every sample is labeled. */
    float full_label[2] = {0, 0};
    TU_OK(ctx, mird_task_mse_forward(ctx, pred, full_label, NULL, 2, &loss, &counted));
    ck_assert_int_eq(counted, 2);
    ck_assert_double_eq_tol(loss, 2.5, 1e-12);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_task_mse_gradient)
{
    const int64_t n = 7;
    uint8_t labeled[7] = {1, 0, 1, 1, 0, 1, 1};
    task_case c = {tu_context(), tu_alloc_uniform(n, -2, 2, 1), tu_alloc_uniform(n, -2, 2, 2),
                   labeled, n};
    float *prefill = tu_alloc_uniform(n, -1, 1, 3);
    float *dpred = tu_copy(prefill, n), *fresh = tu_alloc_zeros(n);
    TU_OK(c.ctx, mird_task_mse_backward(c.ctx, c.pred, c.label, labeled, n, upstream, fresh));
    gc_check("task pred", c.pred, n, fresh, task_loss, &c, &tight);
    for (int64_t i = 0; i < n; i++)
        if (!labeled[i])
            ck_assert_float_eq(fresh[i], 0.0f);
    TU_OK(c.ctx, mird_task_mse_backward(c.ctx, c.pred, c.label, labeled, n, upstream, dpred));
    assert_accumulated("task dpred +=", dpred, prefill, fresh, n);
    TU_OK(c.ctx, mird_task_mse_backward(c.ctx, c.pred, c.label, labeled, n, upstream, NULL));
    mird_free(prefill), mird_free(dpred), mird_free(fresh), mird_free(c.pred), mird_free(c.label);
    mird_dnnl_destroy(c.ctx);
}
END_TEST

START_TEST(test_task_mse_no_labels_and_errors)
{
    mird_dnnl *ctx = tu_context();
    float pred[3] = {1, 2, 3}, label[3] = {NAN, NAN, NAN}, dpred[3] = {5, 6, 7};
    uint8_t none[3] = {0, 0, 0};
    double loss = -1;
    int64_t counted = -1;
    TU_OK(ctx, mird_task_mse_forward(ctx, pred, label, none, 3, &loss, &counted));
    ck_assert_int_eq(counted, 0);
    ck_assert_double_eq(loss, 0.0);
    TU_OK(ctx, mird_task_mse_backward(ctx, pred, label, none, 3, 1.0, dpred));
    float untouched[3] = {5, 6, 7};
    assert_all_equal("task dpred without labels", dpred, untouched, 3);
    TU_OK(ctx, mird_task_mse_forward(ctx, NULL, NULL, NULL, 0, &loss, &counted));
    ck_assert_int_eq(counted, 0);
    assert_fails_with(ctx, mird_task_mse_forward(ctx, pred, label, none, -1, &loss, NULL),
                      MIRD_ERR_SHAPE, "n = -1");
    assert_fails_with(ctx, mird_task_mse_forward(ctx, pred, label, none, 3, NULL, NULL),
                      MIRD_ERR_NULL_ARGUMENT, "loss");
    mird_dnnl_destroy(ctx);
}
END_TEST

/* ---------------- sequence losses: shared reference pieces ---------------- */

static int64_t ref_steps(const int32_t *lengths, int64_t b, int64_t T, int mask_padding)
{
    return mask_padding ? lengths[b] : T;
}

/* mean over counted samples of (per-sample mean of element_loss over its
 * steps), element_loss given per step as a double array [B, T]. */
static double ref_sequence_mean(const double *step_loss, const int32_t *lengths, int64_t B,
                                int64_t T, int mask_padding, int64_t *counted)
{
    double total = 0.0;
    int64_t count = 0;
    for (int64_t b = 0; b < B; b++) {
        int64_t steps = ref_steps(lengths, b, T, mask_padding);
        if (steps == 0)
            continue;
        double sum = 0.0;
        for (int64_t t = 0; t < steps; t++)
            sum += step_loss[b * T + t];
        total += sum / steps;
        count++;
    }
    *counted = count;
    return count ? total / count : 0.0;
}

/* ---------------- reconstruction MSE ---------------- */

typedef struct mse_case {
    mird_dnnl *ctx;
    float *pred, *target;
    const int32_t *lengths;
    int64_t B, T, d;
    int mask_padding;
} mse_case;

static double ref_sequence_mse(const mse_case *c, int64_t *counted)
{
    double *step_loss = mird_alloc_zeroed(sizeof(double) * (size_t)(c->B * c->T + 1));
    for (int64_t r = 0; r < c->B * c->T; r++) {
        for (int64_t k = 0; k < c->d; k++) {
            double diff = (double)c->pred[r * c->d + k] - c->target[r * c->d + k];
            step_loss[r] += diff * diff;
        }
        step_loss[r] /= c->d;
    }
    double loss = ref_sequence_mean(step_loss, c->lengths, c->B, c->T, c->mask_padding, counted);
    mird_free(step_loss);
    return loss;
}

static double mse_loss(void *user)
{
    mse_case *c = user;
    double loss;
    TU_OK(c->ctx, mird_sequence_mse_forward(c->ctx, c->pred, c->target, c->lengths, c->B, c->T,
                                            c->d, c->mask_padding, &loss, NULL));
    return upstream * loss;
}

START_TEST(test_sequence_mse_hand_values)
{
    mird_dnnl *ctx = tu_context();
    float pred[4] = {1, 2, 3, 4}, target[4] = {0};
    int32_t lengths[2] = {1, 2};
    double loss;
    int64_t counted;
    TU_OK(ctx, mird_sequence_mse_forward(ctx, pred, target, lengths, 2, 2, 1, 1, &loss, &counted));
    ck_assert_int_eq(counted, 2);
    ck_assert_double_eq_tol(loss, (1.0 + 12.5) / 2, 1e-12);
    TU_OK(ctx, mird_sequence_mse_forward(ctx, pred, target, NULL, 2, 2, 1, 0, &loss, &counted));
    ck_assert_int_eq(counted, 2);
    ck_assert_double_eq_tol(loss, (2.5 + 12.5) / 2, 1e-12);
    mird_dnnl_destroy(ctx);
}
END_TEST

static void check_sequence_mse(int mask_padding)
{
    const int64_t B = 4, T = 5, d = 3, n = B * T * d;
    static const int32_t lengths[4] = {5, 2, 0, 3};
    mse_case c = {tu_context(), tu_alloc_uniform(n, -1, 1, 10), tu_alloc_uniform(n, -1, 1, 11),
                  lengths, B, T, d, mask_padding};
    double loss;
    int64_t counted, ref_counted;
    TU_OK(c.ctx, mird_sequence_mse_forward(c.ctx, c.pred, c.target, lengths, B, T, d,
                                           mask_padding, &loss, &counted));
    double expected = ref_sequence_mse(&c, &ref_counted);
    ck_assert_int_eq(counted, ref_counted);
    ck_assert_int_eq(counted, mask_padding ? 3 : 4);
    ck_assert_double_eq_tol(loss, expected, 1e-12);

    float *dpred = tu_alloc_zeros(n), *dtarget = tu_alloc_zeros(n);
    TU_OK(c.ctx, mird_sequence_mse_backward(c.ctx, c.pred, c.target, lengths, B, T, d,
                                            mask_padding, upstream, dpred, dtarget));
    gc_check("sequence mse pred", c.pred, n, dpred, mse_loss, &c, &tight);
    gc_check("sequence mse target", c.target, n, dtarget, mse_loss, &c, &tight);
    if (mask_padding)
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = lengths[b] * d; i < T * d; i++)
                ck_assert_float_eq(dpred[b * T * d + i], 0.0f);

    /* += into a prefilled buffer; NULL target gradient skips it. */
    float *prefill = tu_alloc_uniform(n, -1, 1, 12), *accumulated = tu_copy(prefill, n);
    TU_OK(c.ctx, mird_sequence_mse_backward(c.ctx, c.pred, c.target, lengths, B, T, d,
                                            mask_padding, upstream, accumulated, NULL));
    assert_accumulated("sequence mse dpred +=", accumulated, prefill, dpred, n);
    assert_scratch_released(c.ctx);
    mird_free(prefill), mird_free(accumulated), mird_free(dpred), mird_free(dtarget);
    mird_free(c.pred), mird_free(c.target);
    mird_dnnl_destroy(c.ctx);
}

START_TEST(test_sequence_mse_masked)
{
    check_sequence_mse(1);
}
END_TEST

START_TEST(test_sequence_mse_unmasked)
{
    check_sequence_mse(0);
}
END_TEST

START_TEST(test_sequence_mse_zero_count_and_errors)
{
    mird_dnnl *ctx = tu_context();
    float pred[6] = {1, 2, 3, 4, 5, 6}, target[6] = {0}, dpred[6] = {9, 9, 9, 9, 9, 9};
    float untouched[6] = {9, 9, 9, 9, 9, 9};
    int32_t empty[2] = {0, 0};
    double loss = -1;
    int64_t counted = -1;
    TU_OK(ctx, mird_sequence_mse_forward(ctx, pred, target, empty, 2, 3, 1, 1, &loss, &counted));
    ck_assert_int_eq(counted, 0);
    ck_assert_double_eq(loss, 0.0);
    TU_OK(ctx, mird_sequence_mse_backward(ctx, pred, target, empty, 2, 3, 1, 1, 1.0, dpred,
                                          NULL));
    assert_all_equal("mse dpred at zero count", dpred, untouched, 6);
    /* Unmasked with no steps at all counts nothing either. */
    TU_OK(ctx, mird_sequence_mse_forward(ctx, pred, target, NULL, 2, 0, 3, 0, &loss, &counted));
    ck_assert_int_eq(counted, 0);

    int32_t too_long[2] = {1, 4}, negative[2] = {-1, 1};
    assert_fails_with(ctx,
                      mird_sequence_mse_forward(ctx, pred, target, too_long, 2, 3, 1, 1, &loss,
                                                NULL),
                      MIRD_ERR_SHAPE, "lengths[1] = 4");
    assert_fails_with(ctx,
                      mird_sequence_mse_backward(ctx, pred, target, negative, 2, 3, 1, 1, 1.0,
                                                 dpred, NULL),
                      MIRD_ERR_SHAPE, "lengths[0] = -1");
    assert_fails_with(ctx,
                      mird_sequence_mse_forward(ctx, pred, target, NULL, 2, 3, 1, 1, &loss, NULL),
                      MIRD_ERR_NULL_ARGUMENT, "lengths");
    assert_fails_with(ctx,
                      mird_sequence_mse_forward(ctx, pred, target, empty, 2, 3, 0, 1, &loss, NULL),
                      MIRD_ERR_SHAPE, "d = 0");
    assert_fails_with(ctx,
                      mird_sequence_mse_forward(ctx, pred, target, empty, -2, 3, 1, 1, &loss,
                                                NULL),
                      MIRD_ERR_SHAPE, "B = -2");
    assert_all_equal("mse dpred after errors", dpred, untouched, 6);
    mird_dnnl_destroy(ctx);
}
END_TEST

/* ---------------- reconstruction cross-entropy ---------------- */

typedef struct ce_case {
    mird_dnnl *ctx;
    float *logits;
    int32_t *ids;
    const int32_t *lengths;
    int64_t B, T, V;
    int mask_padding;
} ce_case;

static double ref_cross_entropy(const ce_case *c, int64_t *counted)
{
    double *step_loss = mird_alloc_zeroed(sizeof(double) * (size_t)(c->B * c->T + 1));
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t t = 0; t < ref_steps(c->lengths, b, c->T, c->mask_padding); t++) {
            const float *row = c->logits + (b * c->T + t) * c->V;
            double sum = 0.0;
            for (int64_t v = 0; v < c->V; v++)
                sum += exp((double)row[v]);
            step_loss[b * c->T + t] = log(sum) - row[c->ids[b * c->T + t]];
        }
    double loss = ref_sequence_mean(step_loss, c->lengths, c->B, c->T, c->mask_padding, counted);
    mird_free(step_loss);
    return loss;
}

static double ce_loss(void *user)
{
    ce_case *c = user;
    double loss;
    TU_OK(c->ctx, mird_sequence_cross_entropy_forward(c->ctx, c->logits, c->ids, c->lengths,
                                                      c->B, c->T, c->V, c->mask_padding, &loss,
                                                      NULL, NULL));
    return upstream * loss;
}

static void fill_ids(int32_t *ids, int64_t n, int64_t V, uint32_t stream)
{
    float *u = tu_alloc_uniform(n, 0, 1, stream);
    for (int64_t i = 0; i < n; i++)
        ids[i] = (int32_t)(u[i] * V) % (int32_t)V;
    mird_free(u);
}

START_TEST(test_cross_entropy_hand_values)
{
    mird_dnnl *ctx = tu_context();
    /* Sample 0: uniform logits over 3 words -> log 3.  Sample 1: logits
     * {1, 2, 3} with target 2 -> log(e + e^2 + e^3) - 3; its second position
     * is padding with an id that is never read. */
    float logits[12] = {0, 0, 0, 7, 7, 7, 1, 2, 3, 0, 0, 0};
    int32_t ids[4] = {1, 0, 2, -5}, lengths[2] = {1, 1};
    double loss;
    int64_t counted;
    float log_norm[4] = {0};
    TU_OK(ctx, mird_sequence_cross_entropy_forward(ctx, logits, ids, lengths, 2, 2, 3, 1, &loss,
                                                   &counted, log_norm));
    double sample1 = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
    ck_assert_int_eq(counted, 2);
    ck_assert_double_eq_tol(loss, (log(3.0) + sample1) / 2, 1e-6);
    ck_assert_double_eq_tol(log_norm[0], log(3.0), 1e-6);
    ck_assert_double_eq_tol(log_norm[2], log(exp(1.0) + exp(2.0) + exp(3.0)), 1e-6);
    /* Stable for large logits: a shift by 1000 changes nothing. */
    for (int i = 0; i < 12; i++)
        logits[i] += 1000.0f;
    double shifted;
    TU_OK(ctx, mird_sequence_cross_entropy_forward(ctx, logits, ids, lengths, 2, 2, 3, 1,
                                                   &shifted, NULL, NULL));
    ck_assert_double_eq_tol(shifted, loss, 1e-4);

    /* A row spread wider than the fast exp's range (-87) takes the exact
     * path: logits {0, -100, 5}, target 1. */
    float wide[3] = {0, -100, 5}, dwide[3] = {0};
    int32_t wide_id = 1, one = 1;
    TU_OK(ctx, mird_sequence_cross_entropy_forward(ctx, wide, &wide_id, &one, 1, 1, 3, 1, &loss,
                                                   NULL, NULL));
    ck_assert_double_eq_tol(loss, 105.0 + log1p(exp(-5.0) + exp(-105.0)), 1e-5);
    TU_OK(ctx, mird_sequence_cross_entropy_backward(ctx, wide, &wide_id, &one, 1, 1, 3, 1, NULL,
                                                    1.0, dwide));
    double denominator = exp(-5.0) + exp(-105.0) + 1.0;
    float expected_wide[3] = {(float)(exp(-5.0) / denominator), -1.0f,
                              (float)(1.0 / denominator)};
    tu_assert_close("cross-entropy wide-row gradient", dwide, expected_wide, 3, 1e-7, 1e-5);
    mird_dnnl_destroy(ctx);
}
END_TEST

static void check_cross_entropy(int mask_padding)
{
    const int64_t B = 3, T = 4, V = 6, rows = B * T, n = rows * V;
    static const int32_t lengths[3] = {4, 0, 2};
    ce_case c = {tu_context(), tu_alloc_uniform(n, -2, 2, 20), mird_alloc(rows * sizeof(int32_t)),
                 lengths, B, T, V, mask_padding};
    fill_ids(c.ids, rows, V, 21);
    if (mask_padding) /* padded ids are never read, so they may be anything */
        c.ids[1 * T + 0] = -1, c.ids[2 * T + 3] = (int32_t)V;
    double loss;
    int64_t counted, ref_counted;
    float *log_norm = tu_alloc_zeros(rows);
    TU_OK(c.ctx, mird_sequence_cross_entropy_forward(c.ctx, c.logits, c.ids, lengths, B, T, V,
                                                     mask_padding, &loss, &counted, log_norm));
    double expected = ref_cross_entropy(&c, &ref_counted);
    ck_assert_int_eq(counted, ref_counted);
    ck_assert_int_eq(counted, mask_padding ? 2 : 3);
    ck_assert_double_eq_tol(loss, expected, 1e-6 * fabs(expected));

    float *dlogits = tu_alloc_zeros(n);
    TU_OK(c.ctx, mird_sequence_cross_entropy_backward(c.ctx, c.logits, c.ids, lengths, B, T, V,
                                                      mask_padding, NULL, upstream, dlogits));
    gc_check("cross-entropy logits", c.logits, n, dlogits, ce_loss, &c, &tight);
    if (mask_padding)
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = lengths[b] * V; i < T * V; i++)
                ck_assert_float_eq(dlogits[b * T * V + i], 0.0f);

    /* The cached log-normaliser gives the same gradient, added with +=. */
    float *prefill = tu_alloc_uniform(n, -1, 1, 22), *accumulated = tu_copy(prefill, n);
    TU_OK(c.ctx, mird_sequence_cross_entropy_backward(c.ctx, c.logits, c.ids, lengths, B, T, V,
                                                      mask_padding, log_norm, upstream,
                                                      accumulated));
    assert_accumulated("cross-entropy dlogits +=", accumulated, prefill, dlogits, n);
    TU_OK(c.ctx, mird_sequence_cross_entropy_backward(c.ctx, c.logits, c.ids, lengths, B, T, V,
                                                      mask_padding, log_norm, upstream, NULL));
    assert_scratch_released(c.ctx);
    mird_free(prefill), mird_free(accumulated), mird_free(dlogits), mird_free(log_norm);
    mird_free(c.logits), mird_free(c.ids);
    mird_dnnl_destroy(c.ctx);
}

START_TEST(test_cross_entropy_masked)
{
    check_cross_entropy(1);
}
END_TEST

START_TEST(test_cross_entropy_unmasked)
{
    check_cross_entropy(0);
}
END_TEST

START_TEST(test_cross_entropy_zero_count_and_errors)
{
    mird_dnnl *ctx = tu_context();
    float logits[8] = {1, 2, 3, 4, 5, 6, 7, 8}, dlogits[8] = {0};
    float untouched[8] = {0};
    int32_t ids[4] = {0, 1, 1, 0}, empty[2] = {0, 0};
    double loss = -1;
    int64_t counted = -1;
    TU_OK(ctx, mird_sequence_cross_entropy_forward(ctx, logits, ids, empty, 2, 2, 2, 1, &loss,
                                                   &counted, NULL));
    ck_assert_int_eq(counted, 0);
    ck_assert_double_eq(loss, 0.0);
    TU_OK(ctx, mird_sequence_cross_entropy_backward(ctx, logits, ids, empty, 2, 2, 2, 1, NULL,
                                                    1.0, dlogits));
    assert_all_equal("cross-entropy dlogits at zero count", dlogits, untouched, 8);

    int32_t full[2] = {2, 2}, bad_high[4] = {0, 1, 2, 0}, bad_low[4] = {0, -3, 1, 0};
    assert_fails_with(ctx,
                      mird_sequence_cross_entropy_forward(ctx, logits, bad_high, full, 2, 2, 2, 1,
                                                          &loss, NULL, NULL),
                      MIRD_ERR_INVALID_ARGUMENT, "ids[1, 0] = 2");
    assert_fails_with(ctx,
                      mird_sequence_cross_entropy_backward(ctx, logits, bad_low, NULL, 2, 2, 2, 0,
                                                           NULL, 1.0, dlogits),
                      MIRD_ERR_INVALID_ARGUMENT, "ids[0, 1] = -3");
    int32_t too_long[2] = {3, 1};
    assert_fails_with(ctx,
                      mird_sequence_cross_entropy_forward(ctx, logits, ids, too_long, 2, 2, 2, 1,
                                                          &loss, NULL, NULL),
                      MIRD_ERR_SHAPE, "lengths[0] = 3");
    assert_fails_with(ctx,
                      mird_sequence_cross_entropy_forward(ctx, logits, ids, full, 2, 2, 0, 1,
                                                          &loss, NULL, NULL),
                      MIRD_ERR_SHAPE, "V = 0");
    assert_all_equal("cross-entropy dlogits after errors", dlogits, untouched, 8);
    mird_dnnl_destroy(ctx);
}
END_TEST

/* ---------------- full vocabulary, threads ---------------- */

START_TEST(test_cross_entropy_bert_vocabulary_any_thread_count)
{
    const int64_t B = 3, T = 7, V = 30522, rows = B * T, n = rows * V;
    static const int32_t lengths[3] = {7, 3, 5};
    ce_case c = {tu_context(), tu_alloc_uniform(n, -8, 8, 30), mird_alloc(rows * sizeof(int32_t)),
                 lengths, B, T, V, 1};
    fill_ids(c.ids, rows, V, 31);
    int64_t ref_counted;
    double expected = ref_cross_entropy(&c, &ref_counted);
    double loss[2];
    float *dlogits[2] = {tu_alloc_zeros(n), tu_alloc_zeros(n)};
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        TU_OK(c.ctx, mird_sequence_cross_entropy_forward(c.ctx, c.logits, c.ids, lengths, B, T,
                                                         V, 1, &loss[threads - 1], NULL, NULL));
        TU_OK(c.ctx, mird_sequence_cross_entropy_backward(c.ctx, c.logits, c.ids, lengths, B, T,
                                                          V, 1, NULL, 1.0,
                                                          dlogits[threads - 1]));
    }
    ck_assert_double_eq_tol(loss[0], expected, 1e-6 * expected);
    ck_assert_msg(loss[0] == loss[1], "loss differs across thread counts: %.17g vs %.17g",
                  loss[0], loss[1]);
    ck_assert_int_eq(memcmp(dlogits[0], dlogits[1], n * sizeof(float)), 0);
    /* Each contributing row's gradient sums to zero (softmax minus one-hot). */
    for (int64_t r = 0; r < rows; r++) {
        double row_sum = 0.0;
        for (int64_t v = 0; v < V; v++)
            row_sum += dlogits[0][r * V + v];
        ck_assert_double_eq_tol(row_sum, 0.0, 1e-6);
    }
    mird_free(dlogits[0]), mird_free(dlogits[1]), mird_free(c.logits), mird_free(c.ids);
    mird_dnnl_destroy(c.ctx);
}
END_TEST

START_TEST(test_sequence_mse_any_thread_count)
{
    const int64_t B = 8, T = 60, d = 74, n = B * T * d;
    static const int32_t lengths[8] = {60, 1, 0, 33, 59, 12, 60, 7};
    mird_dnnl *ctx = tu_context();
    float *pred = tu_alloc_uniform(n, -1, 1, 40), *target = tu_alloc_uniform(n, -1, 1, 41);
    double loss[2];
    float *dpred[2] = {tu_alloc_zeros(n), tu_alloc_zeros(n)};
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        TU_OK(ctx, mird_sequence_mse_forward(ctx, pred, target, lengths, B, T, d, 1,
                                             &loss[threads - 1], NULL));
        TU_OK(ctx, mird_sequence_mse_backward(ctx, pred, target, lengths, B, T, d, 1, 1.0,
                                              dpred[threads - 1], NULL));
    }
    ck_assert_msg(loss[0] == loss[1], "loss differs across thread counts");
    ck_assert_int_eq(memcmp(dpred[0], dpred[1], n * sizeof(float)), 0);
    mird_free(dpred[0]), mird_free(dpred[1]), mird_free(pred), mird_free(target);
    mird_dnnl_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("losses");
    TCase *tc = tcase_create("losses");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_task_mse_hand_values);
    tcase_add_test(tc, test_task_mse_gradient);
    tcase_add_test(tc, test_task_mse_no_labels_and_errors);
    tcase_add_test(tc, test_sequence_mse_hand_values);
    tcase_add_test(tc, test_sequence_mse_masked);
    tcase_add_test(tc, test_sequence_mse_unmasked);
    tcase_add_test(tc, test_sequence_mse_zero_count_and_errors);
    tcase_add_test(tc, test_cross_entropy_hand_values);
    tcase_add_test(tc, test_cross_entropy_masked);
    tcase_add_test(tc, test_cross_entropy_unmasked);
    tcase_add_test(tc, test_cross_entropy_zero_count_and_errors);
    tcase_add_test(tc, test_cross_entropy_bert_vocabulary_any_thread_count);
    tcase_add_test(tc, test_sequence_mse_any_thread_count);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
