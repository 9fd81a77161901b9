/* The MAG combination: forward against a double-precision reference,
 * backward against finite differences with alpha below 1 (gradient through
 * both norms) and clipped at 1 (none through alpha), and analytically where
 * finite differences cannot see PyTorch's choices: Hs exactly 0 (where()
 * blocks the norm's gradient), E exactly 0, and a tie thresh == 1.  Also
 * other betas, +=, NULL, thread-count independence and error returns. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/alloc.h"
#include "ops/mag.h"
#include "support/gradcheck.h"
#include "support/testutil.h"

static double ref_norm(const float *x, int64_t width)
{
    double sum = 0.0;
    for (int64_t i = 0; i < width; i++)
        sum += (double)x[i] * x[i];
    return sqrt(sum);
}

static double ref_alpha(const float *e, const float *hs, int64_t width, double beta)
{
    double hs_norm = ref_norm(hs, width);
    double thresh = beta * ref_norm(e, width) / ((hs_norm == 0.0 ? 1.0 : hs_norm) + 1e-6);
    return fmin(thresh, 1.0);
}

typedef struct mag_case {
    mird_dnnl *ctx;
    int64_t rows, width;
    float beta;
    float *E, *Hs, *y, *w, *alpha, *norms;
} mag_case;

static double mag_loss(void *user)
{
    mag_case *c = user;
    TU_OK(c->ctx, mird_mag_forward(c->ctx, c->E, c->Hs, c->y, c->alpha, c->norms, c->rows,
                                   c->width, c->beta));
    return gc_weighted_sum(c->y, c->w, (size_t)(c->rows * c->width));
}

static mag_case make_case(int64_t rows, int64_t width, float beta, float e_scale,
                          float hs_scale, uint32_t stream)
{
    size_t n = (size_t)(rows * width);
    mag_case c = {tu_context(), rows, width, beta, NULL, NULL, NULL, NULL, NULL, NULL};
    c.E = tu_alloc_uniform(n, -e_scale, e_scale, stream);
    c.Hs = tu_alloc_uniform(n, -hs_scale, hs_scale, stream + 1);
    c.w = tu_alloc_uniform(n, -1, 1, stream + 2);
    c.y = tu_alloc_zeros(n);
    c.alpha = tu_alloc_zeros((size_t)rows);
    c.norms = tu_alloc_zeros((size_t)rows * MIRD_MAG_NORMS_PER_ROW);
    return c;
}

static void free_case(mag_case *c)
{
    mird_free(c->E), mird_free(c->Hs), mird_free(c->w), mird_free(c->y);
    mird_free(c->alpha), mird_free(c->norms);
    mird_dnnl_destroy(c->ctx);
}

static void check_forward(mag_case *c)
{
    size_t n = (size_t)(c->rows * c->width);
    float *expected_y = tu_alloc_zeros(n), *expected_alpha = tu_alloc_zeros((size_t)c->rows);
    mag_loss(c);
    for (int64_t t = 0; t < c->rows; t++) {
        const float *e = c->E + t * c->width, *hs = c->Hs + t * c->width;
        double a = ref_alpha(e, hs, c->width, c->beta);
        expected_alpha[t] = (float)a;
        for (int64_t i = 0; i < c->width; i++)
            expected_y[t * c->width + i] = (float)(a * hs[i] + e[i]);
        ck_assert_float_eq_tol(c->norms[2 * t], ref_norm(e, c->width), 1e-5);
        ck_assert_float_eq_tol(c->norms[2 * t + 1], ref_norm(hs, c->width), 1e-5);
    }
    tu_assert_close("mag alpha", c->alpha, expected_alpha, (size_t)c->rows, 1e-6, 1e-5);
    tu_assert_close("mag y", c->y, expected_y, n, 1e-6, 1e-5);
    mird_free(expected_y), mird_free(expected_alpha);
}

enum regime { ALPHA_BELOW_ONE, ALPHA_CLIPPED, ALPHA_MIXED };

/* Forward against the reference, backward against finite differences,
 * then accumulation and a NULL dE. */
static void check_gradients(mag_case *c, enum regime regime)
{
    size_t n = (size_t)(c->rows * c->width);
    int clipped_rows = 0;
    check_forward(c);
    for (int64_t t = 0; t < c->rows; t++) {
        /* thresh well away from the kink at 1, so no finite-difference step
         * crosses it. */
        const float *e = c->E + t * c->width, *hs = c->Hs + t * c->width;
        double thresh = c->beta * ref_norm(e, c->width) / (ref_norm(hs, c->width) + 1e-6);
        ck_assert_msg(fabs(thresh - 1.0) > 0.05, "row %lld: thresh %g too close to 1",
                      (long long)t, thresh);
        clipped_rows += thresh > 1.0;
    }
    if (regime == ALPHA_MIXED)
        ck_assert_msg(clipped_rows > 0 && clipped_rows < c->rows, "%d of %lld rows clipped",
                      clipped_rows, (long long)c->rows);
    else
        ck_assert_int_eq(clipped_rows, regime == ALPHA_CLIPPED ? c->rows : 0);
    float *dE = tu_alloc_zeros(n), *dHs = tu_alloc_zeros(n);
    TU_OK(c->ctx, mird_mag_backward(c->ctx, c->E, c->Hs, c->w, c->alpha, c->norms, dE, dHs,
                                    c->rows, c->width, c->beta));
    gc_check("mag E", c->E, n, dE, mag_loss, c, NULL);
    gc_check("mag Hs", c->Hs, n, dHs, mag_loss, c, NULL);
    mag_loss(c); /* the saved alpha and norms of the unperturbed inputs again */
    if (regime == ALPHA_CLIPPED) {
        /* No gradient through alpha: exactly dy and alpha * dy = dy. */
        tu_assert_close("clipped dE", dE, c->w, n, 0, 0);
        tu_assert_close("clipped dHs", dHs, c->w, n, 0, 0);
    }

    float *twice = tu_copy(dHs, n), *dHs_only = tu_alloc_zeros(n);
    TU_OK(c->ctx, mird_mag_backward(c->ctx, c->E, c->Hs, c->w, c->alpha, c->norms, NULL,
                                    dHs_only, c->rows, c->width, c->beta));
    tu_assert_close("dHs without dE", dHs_only, dHs, n, 0, 0);
    TU_OK(c->ctx, mird_mag_backward(c->ctx, c->E, c->Hs, c->w, c->alpha, c->norms, NULL, dHs,
                                    c->rows, c->width, c->beta));
    for (size_t i = 0; i < n; i++)
        twice[i] *= 2.0f;
    tu_assert_close("accumulated dHs", dHs, twice, n, 1e-6, 1e-6);
    mird_free(twice), mird_free(dHs_only), mird_free(dE), mird_free(dHs);
}

START_TEST(test_mag_alpha_below_one)
{
    /* ||Hs|| well above beta ||E||: thresh around 0.2-0.4. */
    mag_case c = make_case(5, 6, 1.0f, 0.5f, 3.0f, 10);
    check_gradients(&c, ALPHA_BELOW_ONE);
    free_case(&c);
}
END_TEST

START_TEST(test_mag_alpha_clipped)
{
    mag_case c = make_case(4, 7, 1.0f, 1.0f, 0.1f, 20);
    check_gradients(&c, ALPHA_CLIPPED);
    free_case(&c);
}
END_TEST

START_TEST(test_mag_other_betas)
{
    /* The same inputs land on either side of 1 depending on beta. */
    mag_case small = make_case(4, 5, 0.3f, 1.0f, 1.0f, 30);
    check_gradients(&small, ALPHA_BELOW_ONE);
    free_case(&small);
    mag_case large = make_case(4, 5, 8.0f, 1.0f, 1.0f, 30);
    check_gradients(&large, ALPHA_CLIPPED);
    free_case(&large);
    /* Rows on both sides of 1 in one call. */
    mag_case mixed = make_case(8, 4, 1.7f, 1.0f, 1.0f, 50);
    check_gradients(&mixed, ALPHA_MIXED);
    free_case(&mixed);
}
END_TEST

/* dE and dHs of one row in closed form, in double, for the analytic
 * checks: gate is how much of d alpha reaches thresh. */
static void ref_row_backward(const float *e, const float *hs, const float *dy, int64_t width,
                             double beta, double gate, float *dE, float *dHs)
{
    double e_norm = ref_norm(e, width), hs_norm = ref_norm(hs, width);
    double denom = (hs_norm == 0.0 ? 1.0 : hs_norm) + 1e-6;
    double alpha = fmin(beta * e_norm / denom, 1.0), d_alpha = 0.0;
    for (int64_t i = 0; i < width; i++)
        d_alpha += (double)dy[i] * hs[i];
    double d_thresh = gate * d_alpha;
    double e_scale = e_norm > 0 ? d_thresh * beta / denom / e_norm : 0.0;
    double hs_scale = hs_norm > 0 ? -d_thresh * beta * e_norm / (denom * denom) / hs_norm : 0.0;
    for (int64_t i = 0; i < width; i++) {
        dE[i] = (float)(dy[i] + e_scale * e[i]);
        dHs[i] = (float)(alpha * dy[i] + hs_scale * hs[i]);
    }
}

START_TEST(test_mag_zero_rows)
{
    /* Row 0: Hs = 0 with beta ||E|| < 1, so alpha = ||E|| / (1 + 1e-6) < 1:
     * dHs = alpha * dy (where() cuts the norm's gradient; a finite
     * difference would see ||Hs|| > 0 and alpha = 1 instead), and
     * dE = dy because d alpha = dy . Hs = 0.  Row 1: Hs = 0 with alpha
     * clipped.  Row 2: E = 0, so alpha = 0, dE = dy (no gradient through a
     * zero norm) and dHs = 0.  Row 3: an ordinary row next to them. */
    const int64_t rows = 4, width = 3;
    float E[4][3] = {{0.2f, -0.3f, 0.1f}, {1.5f, 0.5f, -2.0f}, {0, 0, 0}, {0.3f, 0.2f, -0.1f}};
    float Hs[4][3] = {{0, 0, 0}, {0, 0, 0}, {0.4f, -0.8f, 0.6f}, {1.2f, -0.7f, 0.9f}};
    float dy[4][3] = {{0.5f, -1.0f, 0.25f}, {-0.3f, 0.7f, 1.1f}, {0.9f, 0.2f, -0.4f},
                      {0.1f, -0.6f, 0.8f}};
    float y[12], alpha[4], norms[8], dE[12], dHs[12], want_dE[12], want_dHs[12];
    mird_dnnl *ctx = tu_context();
    TU_OK(ctx, mird_mag_forward(ctx, &E[0][0], &Hs[0][0], &y[0], alpha, norms, rows, width,
                                1.0f));
    ck_assert_float_eq_tol(alpha[0], ref_alpha(E[0], Hs[0], width, 1.0), 1e-7);
    ck_assert(alpha[0] < 0.5f);
    ck_assert_float_eq(alpha[1], 1.0f);
    ck_assert_float_eq(alpha[2], 0.0f);
    memset(dE, 0, sizeof dE), memset(dHs, 0, sizeof dHs);
    TU_OK(ctx, mird_mag_backward(ctx, &E[0][0], &Hs[0][0], &dy[0][0], alpha, norms, dE, dHs,
                                 rows, width, 1.0f));
    for (int64_t t = 0; t < rows; t++)
        ref_row_backward(E[t], Hs[t], dy[t], width, 1.0, alpha[t] < 1.0f ? 1.0 : 0.0,
                         want_dE + t * width, want_dHs + t * width);
    for (int i = 0; i < 3; i++) {
        ck_assert_float_eq(dE[i], dy[0][i]);
        ck_assert_float_eq_tol(dHs[i], alpha[0] * dy[0][i], 1e-7);
        ck_assert_float_eq(dE[6 + i], dy[2][i]);
        ck_assert_float_eq(dHs[6 + i], 0.0f);
    }
    tu_assert_close("zero rows dE", dE, want_dE, 12, 1e-6, 1e-5);
    tu_assert_close("zero rows dHs", dHs, want_dHs, 12, 1e-6, 1e-5);
    /* The ordinary row really has a gradient through the norms. */
    ck_assert(fabsf(dE[9] - dy[3][0]) > 1e-3f);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_mag_tie_splits_gradient)
{
    /* ||Hs|| = 1 and ||E|| = 1 + 1e-6 (in float) make thresh exactly 1:
     * torch.min passes half of the gradient on, as PyTorch 1.13 does. */
    const int64_t width = 2;
    float denom = 1.0f + 1e-6f;
    float E[2] = {0.0f, denom}, Hs[2] = {1.0f, 0.0f}, dy[2] = {0.75f, -0.5f};
    float y[2], alpha[1], norms[2], dE[2] = {0}, dHs[2] = {0}, want_dE[2], want_dHs[2];
    mird_dnnl *ctx = tu_context();
    TU_OK(ctx, mird_mag_forward(ctx, E, Hs, y, alpha, norms, 1, width, 1.0f));
    ck_assert_float_eq(alpha[0], 1.0f);
    TU_OK(ctx, mird_mag_backward(ctx, E, Hs, dy, alpha, norms, dE, dHs, 1, width, 1.0f));
    ref_row_backward(E, Hs, dy, width, 1.0, 0.5, want_dE, want_dHs);
    tu_assert_close("tie dE", dE, want_dE, 2, 1e-7, 1e-6);
    tu_assert_close("tie dHs", dHs, want_dHs, 2, 1e-7, 1e-6);
    /* Half of d alpha = 0.75 reaches ||E||: dE[1] = dy[1] + 0.375 / denom. */
    ck_assert_float_eq_tol(dE[1], -0.5f + 0.375f / denom, 1e-6);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_mag_same_result_on_one_or_two_threads)
{
    mag_case c = make_case(600, 128, 1.0f, 1.0f, 1.2f, 40);
    size_t n = (size_t)(c.rows * c.width);
    float *y[2] = {tu_alloc_zeros(n), tu_alloc_zeros(n)};
    float *dE[2] = {tu_alloc_zeros(n), tu_alloc_zeros(n)};
    float *dHs[2] = {tu_alloc_zeros(n), tu_alloc_zeros(n)};
    int saved_threads = omp_get_max_threads(), clipped = 0;
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        TU_OK(c.ctx, mird_mag_forward(c.ctx, c.E, c.Hs, y[t], c.alpha, c.norms, c.rows,
                                      c.width, c.beta));
        TU_OK(c.ctx, mird_mag_backward(c.ctx, c.E, c.Hs, c.w, c.alpha, c.norms, dE[t], dHs[t],
                                       c.rows, c.width, c.beta));
    }
    omp_set_num_threads(saved_threads);
    for (int64_t t = 0; t < c.rows; t++)
        clipped += c.alpha[t] == 1.0f;
    ck_assert_msg(clipped > 0 && clipped < c.rows, "%d rows clipped: want both regimes", clipped);
    ck_assert(memcmp(y[0], y[1], n * sizeof(float)) == 0);
    ck_assert(memcmp(dE[0], dE[1], n * sizeof(float)) == 0);
    ck_assert(memcmp(dHs[0], dHs[1], n * sizeof(float)) == 0);
    for (int t = 0; t < 2; t++)
        mird_free(y[t]), mird_free(dE[t]), mird_free(dHs[t]);
    free_case(&c);
}
END_TEST


START_TEST(test_mag_bad_arguments)
{
    mird_dnnl *ctx = tu_context();
    float E[6] = {1, 2, 3, 4, 5, 6}, Hs[6] = {0}, y[6], alpha[2], norms[4], dE[6] = {0};
    tu_assert_failure(ctx, mird_mag_forward(ctx, E, Hs, y, alpha, norms, -1, 3, 1.0f),
                   MIRD_ERR_INVALID_ARGUMENT, "rows");
    tu_assert_failure(ctx, mird_mag_backward(ctx, E, Hs, E, alpha, norms, dE, NULL, 2, -3, 1.0f),
                   MIRD_ERR_INVALID_ARGUMENT, "width");
    tu_assert_failure(ctx, mird_mag_forward(ctx, E, Hs, y, alpha, norms, 2, 3, NAN),
                   MIRD_ERR_INVALID_ARGUMENT, "beta");
    tu_assert_failure(ctx, mird_mag_backward(ctx, E, Hs, E, alpha, norms, dE, NULL, 2, 3, INFINITY),
                   MIRD_ERR_INVALID_ARGUMENT, "beta");
    tu_assert_failure(ctx, mird_mag_forward(ctx, E, Hs, y, alpha, NULL, 2, 3, 1.0f),
                   MIRD_ERR_NULL_ARGUMENT, "norms");
    tu_assert_failure(ctx, mird_mag_backward(ctx, E, Hs, NULL, alpha, norms, dE, NULL, 2, 3, 1.0f),
                   MIRD_ERR_NULL_ARGUMENT, "dy");
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(dE[i], 0.0f);
    /* Nothing to compute: no buffers needed. */
    TU_OK(ctx, mird_mag_forward(ctx, NULL, NULL, NULL, NULL, NULL, 0, 3, 1.0f));
    TU_OK(ctx, mird_mag_backward(ctx, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 2, 3, 1.0f));
    mird_dnnl_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("mag");
    TCase *tc = tcase_create("mag");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mag_alpha_below_one);
    tcase_add_test(tc, test_mag_alpha_clipped);
    tcase_add_test(tc, test_mag_other_betas);
    tcase_add_test(tc, test_mag_zero_rows);
    tcase_add_test(tc, test_mag_tie_splits_gradient);
    tcase_add_test(tc, test_mag_same_result_on_one_or_two_threads);
    tcase_add_test(tc, test_mag_bad_arguments);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
