/* Orthogonality (MISA's difference loss): forward against a double loop and
 * a hand-computed value, backward against finite differences of the op
 * (norms differentiated) and of a reference whose norms are frozen at the
 * unperturbed inputs (detach_norm), +=, NULL gradients and bad sizes. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/orthogonality.h"
#include "support/gradcheck.h"
#include "support/testutil.h"

static const gc_options tight = {4e-3, 1e-6, 1e-4, 0};
static const double upstream = 0.9;

/* Centred rows divided by (norm + eps); the norms are computed, or taken
 * from `frozen` when it is not NULL, and returned in `norm`. */
static void ref_normalise(const float *X, int64_t N, int64_t k, const double *frozen,
                          double *rows, double *norm)
{
    for (int64_t j = 0; j < k; j++) {
        double mean = 0.0;
        for (int64_t i = 0; i < N; i++)
            mean += X[i * k + j];
        mean /= N;
        for (int64_t i = 0; i < N; i++)
            rows[i * k + j] = X[i * k + j] - mean;
    }
    for (int64_t i = 0; i < N; i++) {
        double sum_sq = 0.0;
        for (int64_t j = 0; j < k; j++)
            sum_sq += rows[i * k + j] * rows[i * k + j];
        norm[i] = frozen ? frozen[i] : sqrt(sum_sq);
        for (int64_t j = 0; j < k; j++)
            rows[i * k + j] /= norm[i] + 1e-6;
    }
}

typedef struct orth_case {
    mird_dnnl *ctx;
    float *A, *B;
    int64_t N, ka, kb;
    int use_frozen_reference;
    double *frozen_a, *frozen_b; /* [N] norms of the unperturbed codes */
} orth_case;

static double ref_orthogonality(const orth_case *c, const double *frozen_a,
                                const double *frozen_b, double *norm_a, double *norm_b)
{
    double *a = mird_alloc(sizeof(double) * c->N * c->ka);
    double *b = mird_alloc(sizeof(double) * c->N * c->kb);
    ref_normalise(c->A, c->N, c->ka, frozen_a, a, norm_a);
    ref_normalise(c->B, c->N, c->kb, frozen_b, b, norm_b);
    double sum_sq = 0.0;
    for (int64_t j = 0; j < c->ka; j++)
        for (int64_t l = 0; l < c->kb; l++) {
            double entry = 0.0;
            for (int64_t i = 0; i < c->N; i++)
                entry += a[i * c->ka + j] * b[i * c->kb + l];
            sum_sq += entry * entry;
        }
    mird_free(a), mird_free(b);
    return sum_sq / (double)(c->ka * c->kb);
}

static double orth_loss(void *user)
{
    orth_case *c = user;
    double loss;
    if (c->use_frozen_reference) {
        double *scratch = mird_alloc(sizeof(double) * 2 * c->N);
        loss = ref_orthogonality(c, c->frozen_a, c->frozen_b, scratch, scratch + c->N);
        mird_free(scratch);
    } else {
        TU_OK(c->ctx, mird_orthogonality_forward(c->ctx, c->A, c->B, c->N, c->ka, c->kb, &loss));
    }
    return upstream * loss;
}

static orth_case make_case(int64_t N, int64_t ka, int64_t kb, uint32_t stream)
{
    orth_case c = {tu_context(), tu_alloc_uniform(N * ka, -1, 1, stream),
                   tu_alloc_uniform(N * kb, -1, 1, stream + 1), N, ka, kb, 0,
                   mird_alloc(sizeof(double) * N), mird_alloc(sizeof(double) * N)};
    return c;
}

static void free_case(orth_case *c)
{
    mird_free(c->A), mird_free(c->B), mird_free(c->frozen_a), mird_free(c->frozen_b);
    mird_dnnl_destroy(c->ctx);
}

START_TEST(test_orthogonality_hand_value)
{
    /* N = 2, k = 1: A {1, 3} centres to {-1, 1}, B {2, 0} to {1, -1}; each
     * row normalises to +-1/(1 + eps), so the single product entry is
     * -2/(1 + eps)^2 and the loss its square. */
    mird_dnnl *ctx = tu_context();
    float A[2] = {1, 3}, B[2] = {2, 0};
    double loss;
    TU_OK(ctx, mird_orthogonality_forward(ctx, A, B, 2, 1, 1, &loss));
    ck_assert_double_eq_tol(loss, 4.0 / pow(1.0 + 1e-6, 4), 1e-12);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_orthogonality_matches_reference)
{
    orth_case c = make_case(32, 48, 64, 1);
    double loss;
    TU_OK(c.ctx, mird_orthogonality_forward(c.ctx, c.A, c.B, c.N, c.ka, c.kb, &loss));
    double expected = ref_orthogonality(&c, NULL, NULL, c.frozen_a, c.frozen_b);
    ck_assert_double_eq_tol(loss, expected, 1e-12 * expected);
    ck_assert_uint_eq(mird_dnnl_scratch(c.ctx)->live, 0);
    free_case(&c);
}
END_TEST

static void gradients(orth_case *c, int detach_norm, float **dA, float **dB)
{
    *dA = tu_alloc_zeros(c->N * c->ka);
    *dB = tu_alloc_zeros(c->N * c->kb);
    TU_OK(c->ctx, mird_orthogonality_backward(c->ctx, c->A, c->B, c->N, c->ka, c->kb,
                                              detach_norm, upstream, *dA, *dB));
}

START_TEST(test_orthogonality_gradient_through_norms)
{
    orth_case c = make_case(5, 3, 4, 3);
    float *dA, *dB;
    gradients(&c, 0, &dA, &dB);
    gc_check("orthogonality A", c.A, c.N * c.ka, dA, orth_loss, &c, &tight);
    gc_check("orthogonality B", c.B, c.N * c.kb, dB, orth_loss, &c, &tight);
    mird_free(dA), mird_free(dB);
    free_case(&c);
}
END_TEST

START_TEST(test_orthogonality_gradient_detached_norms)
{
    orth_case c = make_case(5, 3, 4, 5);
    ref_orthogonality(&c, NULL, NULL, c.frozen_a, c.frozen_b);
    c.use_frozen_reference = 1;
    float *dA, *dB, *through_A, *through_B;
    gradients(&c, 1, &dA, &dB);
    gc_check("orthogonality A, frozen norms", c.A, c.N * c.ka, dA, orth_loss, &c, &tight);
    gc_check("orthogonality B, frozen norms", c.B, c.N * c.kb, dB, orth_loss, &c, &tight);
    /* The switch matters: the full gradient differs. */
    gradients(&c, 0, &through_A, &through_B);
    double largest_difference = 0.0;
    for (int64_t i = 0; i < c.N * c.ka; i++)
        largest_difference = fmax(largest_difference, fabs((double)dA[i] - through_A[i]));
    ck_assert_double_gt(largest_difference, 1e-3);
    mird_free(dA), mird_free(dB), mird_free(through_A), mird_free(through_B);
    free_case(&c);
}
END_TEST

START_TEST(test_orthogonality_accumulates_and_skips)
{
    orth_case c = make_case(6, 4, 2, 7);
    for (int detach_norm = 0; detach_norm <= 1; detach_norm++) {
        float *dA, *dB;
        gradients(&c, detach_norm, &dA, &dB);
        float *prefill = tu_alloc_uniform(c.N * c.ka, -1, 1, 9);
        float *buffer = tu_copy(prefill, c.N * c.ka);
        TU_OK(c.ctx, mird_orthogonality_backward(c.ctx, c.A, c.B, c.N, c.ka, c.kb, detach_norm,
                                                 upstream, buffer, NULL));
        for (int64_t i = 0; i < c.N * c.ka; i++)
            prefill[i] += dA[i];
        tu_assert_close("orthogonality dA +=", buffer, prefill, c.N * c.ka, 1e-6, 1e-6);
        mird_free(prefill), mird_free(buffer), mird_free(dA), mird_free(dB);
    }
    TU_OK(c.ctx, mird_orthogonality_backward(c.ctx, c.A, c.B, c.N, c.ka, c.kb, 0, 1.0, NULL,
                                             NULL));
    ck_assert_uint_eq(mird_dnnl_scratch(c.ctx)->live, 0);
    free_case(&c);
}
END_TEST

START_TEST(test_orthogonality_degenerate_and_errors)
{
    mird_dnnl *ctx = tu_context();
    float A[3] = {1, 2, 3}, B[3] = {4, 5, 6}, dA[3] = {0}, dB[3] = {0};
    double loss = -1;
    TU_OK(ctx, mird_orthogonality_forward(ctx, NULL, NULL, 0, 3, 3, &loss));
    ck_assert_double_eq(loss, 0.0);
    /* One row centres to zero: no loss and no gradient. */
    TU_OK(ctx, mird_orthogonality_forward(ctx, A, B, 1, 3, 3, &loss));
    ck_assert_double_eq(loss, 0.0);
    TU_OK(ctx, mird_orthogonality_backward(ctx, A, B, 1, 3, 3, 0, 1.0, dA, dB));
    for (int i = 0; i < 3; i++)
        ck_assert(dA[i] == 0.0f && dB[i] == 0.0f);

    mird_status st = mird_orthogonality_forward(ctx, A, B, 3, -1, 1, &loss);
    ck_assert_int_eq(st, MIRD_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "ka = -1"));
    st = mird_orthogonality_backward(ctx, A, B, -3, 1, 1, 0, 1.0, dA, dB);
    ck_assert_int_eq(st, MIRD_ERR_SHAPE);
    st = mird_orthogonality_forward(ctx, A, B, 3, 1, 1, NULL);
    ck_assert_int_eq(st, MIRD_ERR_NULL_ARGUMENT);
    ck_assert_uint_eq(mird_dnnl_scratch(ctx)->live, 0);
    mird_dnnl_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("orthogonality");
    TCase *tc = tcase_create("orthogonality");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_orthogonality_hand_value);
    tcase_add_test(tc, test_orthogonality_matches_reference);
    tcase_add_test(tc, test_orthogonality_gradient_through_norms);
    tcase_add_test(tc, test_orthogonality_gradient_detached_norms);
    tcase_add_test(tc, test_orthogonality_accumulates_and_skips);
    tcase_add_test(tc, test_orthogonality_degenerate_and_errors);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
