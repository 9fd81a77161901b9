/* CLUB estimates and learning loss: forward against the definitions as
 * double-precision loops (the vCLUB negative term as the full O(N^2 d) mean
 * over pairs) and hand-computed values, backward against finite differences
 * for mu, logvar and y, +=, NULL gradients and bad arguments. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/club.h"
#include "support/gradcheck.h"
#include "support/testutil.h"

/* Forwards accumulate in double, so the differences are accurate. */
static const gc_options tight = {4e-3, 1e-6, 1e-4, 0};
static const double upstream = -1.3;

enum club_variant { VCLUB, SAMPLED, LEARNING };

typedef struct club_case {
    mird_dnnl *ctx;
    enum club_variant variant;
    float *mu, *logvar, *y;
    const int32_t *negatives;
    int64_t N, d;
} club_case;

static double ref_club(const club_case *c)
{
    const int64_t N = c->N, d = c->d;
    double sum = 0.0;
    for (int64_t i = 0; i < N; i++)
        for (int64_t k = 0; k < d; k++) {
            double mu = c->mu[i * d + k], y = c->y[i * d + k];
            double variance = exp((double)c->logvar[i * d + k]);
            if (c->variant == LEARNING) {
                sum += -(-(mu - y) * (mu - y) / variance - c->logvar[i * d + k]);
                continue;
            }
            double negative = 0.0;
            if (c->variant == VCLUB) {
                for (int64_t j = 0; j < N; j++)
                    negative += (c->y[j * d + k] - mu) * (c->y[j * d + k] - mu);
                negative /= N;
            } else {
                double y_negative = c->y[c->negatives[i] * d + k];
                negative = (y_negative - mu) * (y_negative - mu);
            }
            sum += (-(mu - y) * (mu - y) + negative) / (2.0 * variance);
        }
    return sum / N;
}

static mird_status run_forward(const club_case *c, double *out)
{
    switch (c->variant) {
    case VCLUB:
        return mird_club_forward(c->ctx, c->mu, c->logvar, c->y, c->N, c->d, out);
    case SAMPLED:
        return mird_club_sample_forward(c->ctx, c->mu, c->logvar, c->y, c->negatives, c->N, c->d,
                                        out);
    default:
        return mird_club_learning_loss_forward(c->ctx, c->mu, c->logvar, c->y, c->N, c->d, out);
    }
}

static mird_status run_backward(const club_case *c, double g, float *dmu, float *dlogvar,
                                float *dy)
{
    switch (c->variant) {
    case VCLUB:
        return mird_club_backward(c->ctx, c->mu, c->logvar, c->y, c->N, c->d, g, dmu, dlogvar,
                                  dy);
    case SAMPLED:
        return mird_club_sample_backward(c->ctx, c->mu, c->logvar, c->y, c->negatives, c->N,
                                         c->d, g, dmu, dlogvar, dy);
    default:
        return mird_club_learning_loss_backward(c->ctx, c->mu, c->logvar, c->y, c->N, c->d, g,
                                                dmu, dlogvar, dy);
    }
}

static double club_loss(void *user)
{
    club_case *c = user;
    double value;
    TU_OK(c->ctx, run_forward(c, &value));
    return upstream * value;
}

static void check_variant(enum club_variant variant, const int32_t *negatives)
{
    const int64_t N = 6, d = 4, n = N * d;
    club_case c = {tu_context(), variant, tu_alloc_uniform(n, -1, 1, 1),
                   tu_alloc_uniform(n, -1, 1, 2), tu_alloc_uniform(n, -1.5f, 1.5f, 3),
                   negatives, N, d};
    const char *name = variant == VCLUB ? "vclub" : variant == SAMPLED ? "club_sample" : "lq";
    double value;
    TU_OK(c.ctx, run_forward(&c, &value));
    double expected = ref_club(&c);
    ck_assert_msg(fabs(value - expected) <= 1e-12 * (1 + fabs(expected)),
                  "%s forward %.17g, reference %.17g", name, value, expected);

    float *dmu = tu_alloc_zeros(n), *dlogvar = tu_alloc_zeros(n), *dy = tu_alloc_zeros(n);
    TU_OK(c.ctx, run_backward(&c, upstream, dmu, dlogvar, dy));
    char label[64];
    snprintf(label, sizeof label, "%s mu", name);
    gc_check(label, c.mu, n, dmu, club_loss, &c, &tight);
    snprintf(label, sizeof label, "%s logvar", name);
    gc_check(label, c.logvar, n, dlogvar, club_loss, &c, &tight);
    snprintf(label, sizeof label, "%s y", name);
    gc_check(label, c.y, n, dy, club_loss, &c, &tight);

    /* += into prefilled buffers, one at a time, the others NULL. */
    float *fresh[3] = {dmu, dlogvar, dy};
    for (int which = 0; which < 3; which++) {
        float *prefill = tu_alloc_uniform(n, -1, 1, 10 + which);
        float *buffer = tu_copy(prefill, n);
        TU_OK(c.ctx, run_backward(&c, upstream, which == 0 ? buffer : NULL,
                                  which == 1 ? buffer : NULL, which == 2 ? buffer : NULL));
        for (int64_t i = 0; i < n; i++)
            prefill[i] += fresh[which][i];
        tu_assert_close(name, buffer, prefill, n, 1e-6, 1e-6);
        mird_free(prefill), mird_free(buffer);
    }
    TU_OK(c.ctx, run_backward(&c, upstream, NULL, NULL, NULL));
    ck_assert_uint_eq(mird_dnnl_scratch(c.ctx)->live, 0);
    mird_free(dmu), mird_free(dlogvar), mird_free(dy);
    mird_free(c.mu), mird_free(c.logvar), mird_free(c.y);
    mird_dnnl_destroy(c.ctx);
}

static const int32_t permutation[6] = {3, 0, 5, 1, 2, 4};

START_TEST(test_vclub_gradients)
{
    check_variant(VCLUB, NULL);
}
END_TEST

START_TEST(test_club_sample_gradients)
{
    check_variant(SAMPLED, permutation);
    /* Drawn with replacement: rows 0, 2 and 5 share a negative, which must
     * receive all three contributions. */
    static const int32_t repeated[6] = {4, 4, 4, 0, 1, 4};
    check_variant(SAMPLED, repeated);
}
END_TEST

START_TEST(test_learning_loss_gradients)
{
    check_variant(LEARNING, NULL);
}
END_TEST

START_TEST(test_club_hand_values)
{
    /* N = 2, d = 1, logvar 0 (so each term is halved), mu {0, 1}, y {1, 3}.
     * vCLUB: row 0: -(0-1)^2 + ((1-0)^2 + (3-0)^2)/2 = 4; row 1: -(1-3)^2 +
     * ((1-1)^2 + (3-1)^2)/2 = -2; I = (4 - 2) / 2 / 2 = 0.5.
     * Sampled with negatives {1, 0}: row 0: -1 + 9 = 8, row 1: -4 + 0 = -4;
     * I_s = (8 - 4) / 2 / 2 = 1.  Learning loss: (1 + 4) / 2 = 2.5. */
    mird_dnnl *ctx = tu_context();
    float mu[2] = {0, 1}, logvar[2] = {0, 0}, y[2] = {1, 3};
    int32_t swap[2] = {1, 0}, identity[2] = {0, 1};
    double value;
    TU_OK(ctx, mird_club_forward(ctx, mu, logvar, y, 2, 1, &value));
    ck_assert_double_eq_tol(value, 0.5, 1e-12);
    TU_OK(ctx, mird_club_sample_forward(ctx, mu, logvar, y, swap, 2, 1, &value));
    ck_assert_double_eq_tol(value, 1.0, 1e-12);
    TU_OK(ctx, mird_club_sample_forward(ctx, mu, logvar, y, identity, 2, 1, &value));
    ck_assert_double_eq_tol(value, 0.0, 1e-12);
    TU_OK(ctx, mird_club_learning_loss_forward(ctx, mu, logvar, y, 2, 1, &value));
    ck_assert_double_eq_tol(value, 2.5, 1e-12);
    /* logvar = log 2 halves the squared-error terms and adds log 2 to Lq. */
    float logvar_two[2] = {(float)log(2.0), (float)log(2.0)};
    TU_OK(ctx, mird_club_learning_loss_forward(ctx, mu, logvar_two, y, 2, 1, &value));
    ck_assert_double_eq_tol(value, (0.5 + 2.0) / 2 + logvar_two[0], 1e-6);
    TU_OK(ctx, mird_club_forward(ctx, mu, logvar_two, y, 2, 1, &value));
    ck_assert_double_eq_tol(value, 0.25, 1e-6);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_club_empty_and_errors)
{
    mird_dnnl *ctx = tu_context();
    float mu[2] = {0, 1}, logvar[2] = {0, 0}, y[2] = {1, 3}, grad[2] = {4, 4};
    double value = -1;
    TU_OK(ctx, mird_club_forward(ctx, NULL, NULL, NULL, 0, 4, &value));
    ck_assert_double_eq(value, 0.0);
    TU_OK(ctx, mird_club_sample_forward(ctx, NULL, NULL, NULL, NULL, 0, 4, &value));
    ck_assert_double_eq(value, 0.0);
    TU_OK(ctx, mird_club_learning_loss_forward(ctx, NULL, NULL, NULL, 0, 4, &value));
    ck_assert_double_eq(value, 0.0);
    TU_OK(ctx, mird_club_backward(ctx, NULL, NULL, NULL, 0, 4, 1.0, NULL, NULL, NULL));

    int32_t out_of_range[2] = {0, 2}, negative[2] = {-1, 0};
    mird_status st = mird_club_sample_forward(ctx, mu, logvar, y, out_of_range, 2, 1, &value);
    ck_assert_int_eq(st, MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "negatives[1] = 2"));
    st = mird_club_sample_backward(ctx, mu, logvar, y, negative, 2, 1, 1.0, grad, grad, grad);
    ck_assert_int_eq(st, MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "negatives[0] = -1"));
    ck_assert_float_eq(grad[0], 4.0f);
    st = mird_club_forward(ctx, mu, logvar, y, -2, 1, &value);
    ck_assert_int_eq(st, MIRD_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "N = -2"));
    st = mird_club_learning_loss_backward(ctx, mu, logvar, y, 2, -1, 1.0, grad, NULL, NULL);
    ck_assert_int_eq(st, MIRD_ERR_SHAPE);
    st = mird_club_forward(ctx, mu, logvar, y, 2, 1, NULL);
    ck_assert_int_eq(st, MIRD_ERR_NULL_ARGUMENT);
    ck_assert_uint_eq(mird_dnnl_scratch(ctx)->live, 0);
    mird_dnnl_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("club");
    TCase *tc = tcase_create("club");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_vclub_gradients);
    tcase_add_test(tc, test_club_sample_gradients);
    tcase_add_test(tc, test_learning_loss_gradients);
    tcase_add_test(tc, test_club_hand_values);
    tcase_add_test(tc, test_club_empty_and_errors);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
