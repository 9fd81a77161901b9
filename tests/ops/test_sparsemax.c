/* Sparsemax: forward against the sort-based formula in double and its
 * defining properties, backward against finite differences on scores kept
 * away from the support's edges, padding, zero-length samples, +=, NULL,
 * thread-count independence and error returns. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/sparsemax.h"
#include "support/gradcheck.h"
#include "support/testutil.h"

static int compare_descending(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* The textbook threshold: sort descending, the support is the largest k
 * with 1 + k z_(k) > sum_{j<=k} z_(j), tau = (sum_{j<=k} z_(j) - 1) / k. */
static double ref_threshold(const float *s, int64_t valid)
{
    double *sorted = malloc((size_t)valid * sizeof *sorted);
    ck_assert_ptr_nonnull(sorted);
    for (int64_t i = 0; i < valid; i++)
        sorted[i] = s[i];
    qsort(sorted, (size_t)valid, sizeof *sorted, compare_descending);
    double prefix = 0.0, support_sum = 0.0;
    int64_t support = 0;
    for (int64_t k = 1; k <= valid; k++) {
        prefix += sorted[k - 1];
        if (1.0 + (double)k * sorted[k - 1] > prefix) {
            support = k;
            support_sum = prefix;
        }
    }
    free(sorted);
    return (support_sum - 1.0) / (double)support;
}

static void ref_sparsemax(const float *S, float *P, int64_t rows, int64_t rows_per_sample,
                          int64_t cols, const int32_t *lengths)
{
    for (int64_t r = 0; r < rows; r++) {
        int64_t valid = lengths ? lengths[r / rows_per_sample] : cols;
        double tau = valid > 0 ? ref_threshold(S + r * cols, valid) : 0.0;
        for (int64_t i = 0; i < cols; i++) {
            double above = (double)S[r * cols + i] - tau;
            P[r * cols + i] = (i < valid && above > 0.0) ? (float)above : 0.0f;
        }
    }
}

/* Moves scores that sit within `margin` of their row's threshold below it,
 * so that a finite-difference step cannot change the support. */
static void separate_from_threshold(float *S, int64_t rows, int64_t rows_per_sample,
                                    int64_t cols, const int32_t *lengths, double margin)
{
    for (int64_t r = 0; r < rows; r++) {
        int64_t valid = lengths ? lengths[r / rows_per_sample] : cols;
        float *row = S + r * cols;
        int moved = 1;
        for (int pass = 0; moved && valid > 0; pass++) {
            ck_assert_int_lt(pass, 4 * valid + 10);
            moved = 0;
            double tau = ref_threshold(row, valid);
            for (int64_t i = 0; i < valid && !moved; i++)
                if (fabs(row[i] - tau) < margin) {
                    row[i] = (float)(tau - 3.0 * margin);
                    moved = 1;
                }
        }
    }
}

static void assert_simplex_rows(const float *P, int64_t rows, int64_t rows_per_sample,
                                int64_t cols, const int32_t *lengths)
{
    for (int64_t r = 0; r < rows; r++) {
        int64_t valid = lengths ? lengths[r / rows_per_sample] : cols;
        double sum = 0.0;
        for (int64_t i = 0; i < cols; i++) {
            float p = P[r * cols + i];
            ck_assert_msg(p >= 0.0f, "P[%lld, %lld] = %g is negative", (long long)r,
                          (long long)i, p);
            if (i >= valid)
                ck_assert_msg(p == 0.0f, "padded P[%lld, %lld] = %g", (long long)r,
                              (long long)i, p);
            sum += p;
        }
        ck_assert_msg(fabs(sum - (valid > 0 ? 1.0 : 0.0)) < 1e-5, "row %lld sums to %.9g",
                      (long long)r, sum);
    }
}

typedef struct sparsemax_case {
    mird_dnnl *ctx;
    int64_t batch, rows_per_sample, cols;
    const int32_t *lengths;
    float *S, *P, *w;
} sparsemax_case;

static size_t case_size(const sparsemax_case *c)
{
    return (size_t)(c->batch * c->rows_per_sample * c->cols);
}

static double sparsemax_loss(void *user)
{
    sparsemax_case *c = user;
    TU_OK(c->ctx, mird_sparsemax_forward(c->ctx, c->S, c->P, c->batch, c->rows_per_sample,
                                         c->cols, c->lengths));
    return gc_weighted_sum(c->P, c->w, case_size(c));
}

/* Forward against the reference and the simplex properties, then the
 * backward against finite differences and against its closed form, then
 * accumulation. */
static void check_sparsemax(int64_t batch, int64_t rows_per_sample, int64_t cols,
                            const int32_t *lengths, float scale, uint32_t stream)
{
    sparsemax_case c = {tu_context(), batch, rows_per_sample, cols, lengths, NULL, NULL, NULL};
    int64_t rows = batch * rows_per_sample;
    size_t n = case_size(&c);
    c.S = tu_alloc_uniform(n, -scale, scale, stream);
    c.P = tu_alloc_zeros(n);
    c.w = tu_alloc_uniform(n, -1, 1, stream + 1);
    /* Large scores in the padding: they must still be ignored. */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = lengths ? lengths[r / rows_per_sample] : cols; i < cols; i++)
            c.S[r * cols + i] = 5.0f + (float)i;
    separate_from_threshold(c.S, rows, rows_per_sample, cols, lengths, 0.03);

    float *expected = tu_alloc_zeros(n);
    ref_sparsemax(c.S, expected, rows, rows_per_sample, cols, lengths);
    sparsemax_loss(&c);
    tu_assert_close("sparsemax P", c.P, expected, n, 1e-6, 1e-5);
    assert_simplex_rows(c.P, rows, rows_per_sample, cols, lengths);

    float *dS = tu_alloc_zeros(n);
    TU_OK(c.ctx, mird_sparsemax_backward(c.ctx, c.P, c.w, dS, batch, rows_per_sample, cols,
                                         lengths));
    gc_check("sparsemax S", c.S, n, dS, sparsemax_loss, &c, NULL);
    sparsemax_loss(&c); /* P of the unperturbed scores again */

    float *closed_form = tu_alloc_zeros(n);
    for (int64_t r = 0; r < rows; r++) {
        double sum = 0.0;
        int support = 0;
        for (int64_t i = 0; i < cols; i++)
            if (expected[r * cols + i] > 0.0f) {
                sum += c.w[r * cols + i];
                support++;
            }
        for (int64_t i = 0; i < cols; i++)
            if (expected[r * cols + i] > 0.0f)
                closed_form[r * cols + i] = (float)(c.w[r * cols + i] - sum / support);
    }
    tu_assert_close("sparsemax dS closed form", dS, closed_form, n, 1e-6, 1e-5);

    /* A second backward adds the same again; padding stays exactly 0. */
    TU_OK(c.ctx, mird_sparsemax_backward(c.ctx, c.P, c.w, dS, batch, rows_per_sample, cols,
                                         lengths));
    for (size_t i = 0; i < n; i++)
        closed_form[i] *= 2.0f;
    tu_assert_close("accumulated dS", dS, closed_form, n, 1e-6, 1e-5);

    mird_free(closed_form), mird_free(dS), mird_free(expected);
    mird_free(c.S), mird_free(c.P), mird_free(c.w);
    mird_dnnl_destroy(c.ctx);
}

START_TEST(test_sparsemax_grouped_rows_with_padding)
{
    const int32_t lengths[3] = {9, 5, 0};
    check_sparsemax(3, 4, 9, lengths, 1.0f, 10);
    /* Wider scores: sparser supports, often a single winner. */
    check_sparsemax(3, 4, 9, lengths, 3.0f, 20);
}
END_TEST

START_TEST(test_sparsemax_per_row_counts_and_no_lengths)
{
    const int32_t per_row[6] = {4, 1, 0, 6, 6, 2};
    check_sparsemax(6, 1, 6, per_row, 1.0f, 30);
    check_sparsemax(2, 3, 7, NULL, 0.5f, 40);
    /* Close scores: every column in the support. */
    check_sparsemax(2, 3, 8, NULL, 0.02f, 45);
}
END_TEST

START_TEST(test_sparsemax_long_rows)
{
    /* T_m up to 500: compared with the sort-based reference. */
    const int32_t lengths[2] = {500, 317};
    check_sparsemax(2, 2, 500, lengths, 2.0f, 50);
    check_sparsemax(2, 2, 500, lengths, 0.5f, 60);
}
END_TEST

START_TEST(test_sparsemax_known_values)
{
    mird_dnnl *ctx = tu_context();
    /* tau = 0.25 by hand; ties share equally; one dominant score wins alone. */
    const float S[3][4] = {{1.0f, 0.5f, 0.0f, -2.0f},
                           {0.0f, 0.0f, 0.0f, 0.0f},
                           {0.1f, 2.5f, 0.3f, -1.0f}};
    const float expected[3][4] = {{0.75f, 0.25f, 0.0f, 0.0f},
                                  {0.25f, 0.25f, 0.25f, 0.25f},
                                  {0.0f, 1.0f, 0.0f, 0.0f}};
    float P[3][4];
    TU_OK(ctx, mird_sparsemax_forward(ctx, &S[0][0], &P[0][0], 3, 1, 4, NULL));
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 4; i++)
            ck_assert_float_eq(P[r][i], expected[r][i]);
    /* A single winner has no gradient: moving any score does not move P. */
    float dP[4] = {0.3f, -1.2f, 0.7f, 2.0f}, dS[4] = {0};
    TU_OK(ctx, mird_sparsemax_backward(ctx, P[2], dP, dS, 1, 1, 4, NULL));
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(dS[i], 0.0f);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_sparsemax_zero_length_sample_and_null)
{
    mird_dnnl *ctx = tu_context();
    const int32_t lengths[2] = {0, 3};
    float S[2][2][3] = {{{1, 2, 3}, {4, 5, 6}}, {{0.2f, 0.1f, 0.4f}, {1, 1, 1}}};
    float P[2][2][3];
    memset(P, 0x7f, sizeof P);
    TU_OK(ctx, mird_sparsemax_forward(ctx, &S[0][0][0], &P[0][0][0], 2, 2, 3, lengths));
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 3; i++)
            ck_assert_float_eq(P[0][r][i], 0.0f);
    /* The empty sample's gradient stays untouched (only += into it). */
    float dP[12], dS[12];
    for (int i = 0; i < 12; i++)
        dP[i] = (float)i - 4.0f, dS[i] = 7.0f;
    TU_OK(ctx, mird_sparsemax_backward(ctx, &P[0][0][0], dP, dS, 2, 2, 3, lengths));
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(dS[i], 7.0f);
    /* No dS: nothing to do, and P / dP are not even read. */
    TU_OK(ctx, mird_sparsemax_backward(ctx, NULL, NULL, NULL, 2, 2, 3, lengths));
    /* Empty shapes are no-ops. */
    TU_OK(ctx, mird_sparsemax_forward(ctx, NULL, NULL, 0, 4, 5, NULL));
    TU_OK(ctx, mird_sparsemax_forward(ctx, NULL, NULL, 3, 4, 0, NULL));
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_sparsemax_same_result_on_one_or_two_threads)
{
    mird_dnnl *ctx = tu_context();
    const int64_t batch = 4, rows_per_sample = 50, cols = 500;
    const int32_t lengths[4] = {500, 120, 0, 377};
    size_t n = (size_t)(batch * rows_per_sample * cols);
    float *S = tu_alloc_uniform(n, -2, 2, 70), *dP = tu_alloc_uniform(n, -1, 1, 71);
    float *P[2] = {tu_alloc_zeros(n), tu_alloc_zeros(n)};
    float *dS[2] = {tu_alloc_zeros(n), tu_alloc_zeros(n)};
    int saved_threads = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        TU_OK(ctx, mird_sparsemax_forward(ctx, S, P[t], batch, rows_per_sample, cols, lengths));
        TU_OK(ctx, mird_sparsemax_backward(ctx, P[t], dP, dS[t], batch, rows_per_sample, cols,
                                           lengths));
    }
    omp_set_num_threads(saved_threads);
    ck_assert(memcmp(P[0], P[1], n * sizeof(float)) == 0);
    ck_assert(memcmp(dS[0], dS[1], n * sizeof(float)) == 0);
    assert_simplex_rows(P[0], batch * rows_per_sample, rows_per_sample, cols, lengths);
    mird_free(S), mird_free(dP), mird_free(P[0]), mird_free(P[1]);
    mird_free(dS[0]), mird_free(dS[1]);
    mird_dnnl_destroy(ctx);
}
END_TEST


START_TEST(test_sparsemax_bad_sizes)
{
    mird_dnnl *ctx = tu_context();
    float S[6] = {0}, P[6], dS[6] = {0};
    const int32_t too_long[2] = {3, 4}, negative[2] = {-1, 2};
    tu_assert_failure(ctx, mird_sparsemax_forward(ctx, S, P, -1, 1, 3, NULL),
                   MIRD_ERR_INVALID_ARGUMENT, "batch");
    tu_assert_failure(ctx, mird_sparsemax_forward(ctx, S, P, 2, -1, 3, NULL),
                   MIRD_ERR_INVALID_ARGUMENT, "rows_per_sample");
    tu_assert_failure(ctx, mird_sparsemax_backward(ctx, P, S, dS, 2, 1, -3, NULL),
                   MIRD_ERR_INVALID_ARGUMENT, "cols");
    tu_assert_failure(ctx, mird_sparsemax_forward(ctx, S, P, 2, 1, 3, too_long), MIRD_ERR_SHAPE,
                   "lengths[1] = 4");
    tu_assert_failure(ctx, mird_sparsemax_backward(ctx, P, S, dS, 2, 1, 3, negative),
                   MIRD_ERR_SHAPE, "lengths[0] = -1");
    tu_assert_failure(ctx, mird_sparsemax_forward(ctx, NULL, P, 2, 1, 3, NULL),
                   MIRD_ERR_NULL_ARGUMENT, "S");
    tu_assert_failure(ctx, mird_sparsemax_backward(ctx, P, NULL, dS, 2, 1, 3, NULL),
                   MIRD_ERR_NULL_ARGUMENT, "dP");
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(dS[i], 0.0f);
    mird_dnnl_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("sparsemax");
    TCase *tc = tcase_create("sparsemax");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_sparsemax_grouped_rows_with_padding);
    tcase_add_test(tc, test_sparsemax_per_row_counts_and_no_lengths);
    tcase_add_test(tc, test_sparsemax_long_rows);
    tcase_add_test(tc, test_sparsemax_known_values);
    tcase_add_test(tc, test_sparsemax_zero_length_sample_and_null);
    tcase_add_test(tc, test_sparsemax_same_result_on_one_or_two_threads);
    tcase_add_test(tc, test_sparsemax_bad_sizes);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
