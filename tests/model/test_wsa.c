/* The WSA fusion module on the tiny preset: forward against a plain
 * double-precision reference that forms the keys (with their bias), runs
 * sparsemax by the sort formula and applies the MAG alpha rule as MODEL.md
 * writes it; gradients of E and of every parameter by finite differences
 * with dropout live; +=, NULL dE, inference, empty modalities, padded frames
 * full of garbage, error returns and thread-count independence.
 *
 * Finite differences need a loss that is smooth within the step, so the
 * inputs keep away from the kinks: every sparsemax score away from its row's
 * threshold, every gate pre-activation away from ReLU's 0, every token's
 * MAG threshold away from 1.  The test measures these margins on the
 * reference and draws inputs from successive seeds until they all hold (a
 * deterministic search: the same seed is chosen on every run). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/threads.h"
#include "model/wsa.h"
#include "support/modelutil.h"
#include "support/testutil.h"

#define TINY_BATCH 4
#define MAX_FRAMES 512
#define LN_EPS 1e-5

/* Audio sample 2 and visual sample 1 are missing; the others are padded. */
static const int32_t tiny_audio_lengths[TINY_BATCH] = {8, 5, 0, 3};
static const int32_t tiny_visual_lengths[TINY_BATCH] = {10, 0, 7, 4};

typedef struct wsa_case {
    mird_wsa m;
    mird_param_table table;
    mird_config cfg;
    mird_pass pass;
    mird_arena ws;
    mird_wsa_acts acts;
    mird_wsa_inputs in;
    float *text, *frames[MIRD_WSA_MODALITIES], *out, *w;
    int32_t *lengths[MIRD_WSA_MODALITIES];
    int64_t batch, rows, hidden;
} wsa_case;

/* How far the reference's inputs sit from the loss's kinks. */
typedef struct kink_margins {
    double score;      /* min |S_tj - tau_t| over valid frames */
    double gate;       /* min |gate pre-activation| */
    double threshold;  /* min |MAG threshold - 1| */
    int shared_rows;   /* rows whose sparsemax support has >= 2 frames */
    int clipped_rows;  /* tokens with alpha = 1 */
} kink_margins;

static int64_t numel(const wsa_case *c, int k)
{
    return c->batch * c->m.branch[k].frames * c->m.branch[k].dim;
}

static void setup(wsa_case *c, const char *preset, const char *dropout, int64_t batch,
                  const int32_t *audio_lengths, const int32_t *visual_lengths)
{
    memset(c, 0, sizeof *c);
    c->cfg = mu_config(preset, "dropout_wsa", dropout, NULL);
    c->batch = batch;
    mird_params_init_table(&c->table);
    mird_wsa_register(&c->m, &c->table, &c->cfg);
    mu_commit_params(&c->table, 5);
    c->pass = mu_pass(tu_context(), &c->table, &c->cfg, batch, 1);
    mird_arena_init_plan(&c->ws);
    mird_wsa_plan(&c->m, &c->ws, batch, &c->acts);
    mird_error err = {0};
    ck_assert_int_eq(mird_arena_commit(&c->ws, &err), MIRD_OK);
    mird_wsa_plan(&c->m, &c->ws, batch, &c->acts);
    c->hidden = c->m.hidden;
    c->rows = batch * c->m.text_length;
    c->text = tu_alloc_zeros((size_t)(c->rows * c->hidden));
    c->out = tu_alloc_zeros((size_t)(c->rows * c->hidden));
    c->w = tu_alloc_uniform((size_t)(c->rows * c->hidden), -1, 1, 900);
    const int32_t *given[MIRD_WSA_MODALITIES] = {audio_lengths, visual_lengths};
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++) {
        c->frames[k] = tu_alloc_zeros((size_t)numel(c, k));
        c->lengths[k] = mird_alloc((size_t)batch * sizeof(int32_t));
        ck_assert_ptr_nonnull(c->lengths[k]);
        memcpy(c->lengths[k], given[k], (size_t)batch * sizeof(int32_t));
        c->in.frames[k] = c->frames[k];
        c->in.lengths[k] = c->lengths[k];
    }
    c->in.text = c->text;
}

static void teardown(wsa_case *c)
{
    mird_dnnl_destroy(c->pass.ctx);
    mird_arena_release(&c->ws);
    mird_params_release(&c->table);
    mird_free(c->text), mird_free(c->out), mird_free(c->w);
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++)
        mird_free(c->frames[k]), mird_free(c->lengths[k]);
}

static const float *value(const wsa_case *c, int index)
{
    return mird_param_value(&c->table, index);
}

/* E and the valid frames U(-1, 1) (E rows rescaled so that the MAG
 * threshold lands on both sides of 1); padded frames hold large garbage. */
static void fill_inputs(wsa_case *c, uint32_t seed)
{
    int64_t H = c->hidden;
    tu_fill_uniform(c->text, (size_t)(c->rows * H), -1, 1, 10 * seed);
    float row_scale[1024];
    ck_assert_int_le(c->rows, 1024);
    tu_fill_uniform(row_scale, (size_t)c->rows, 0.1f, 1.2f, 10 * seed + 1);
    for (int64_t r = 0; r < c->rows; r++)
        for (int64_t h = 0; h < H; h++)
            c->text[r * H + h] *= row_scale[r];
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++) {
        int64_t T = c->m.branch[k].frames, d = c->m.branch[k].dim;
        tu_fill_uniform(c->frames[k], (size_t)numel(c, k), -1, 1, 10 * seed + 2 + k);
        for (int64_t s = 0; s < c->batch; s++)
            for (int64_t j = c->lengths[k][s]; j < T; j++)
                for (int64_t i = 0; i < d; i++)
                    c->frames[k][(s * T + j) * d + i] = (float)(40 + 7 * ((j + i) % 5)) *
                                                        (((j + s) & 1) ? -1.0f : 1.0f);
    }
}

/* Scales the tiny preset's initial parameters so the kinks are avoidable:
 * gate biases of alternating sign +-0.6 with halved gate weights keep every
 * gate pre-activation clear of 0 (half the units on, half off), and larger
 * shift weights make ||Hs|| comparable to ||E|| so alpha is sometimes
 * below 1. */
static void shape_parameters(wsa_case *c)
{
    int64_t H = c->hidden;
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++) {
        const mird_wsa_branch *br = &c->m.branch[k];
        float *gate_w = mird_param_value(&c->table, br->gate_weight);
        float *gate_b = mird_param_value(&c->table, br->gate_bias);
        float *shift_w = mird_param_value(&c->table, br->shift_weight);
        for (int64_t i = 0; i < H * (br->dim + H); i++)
            gate_w[i] *= 0.5f;
        for (int64_t o = 0; o < H; o++)
            gate_b[o] = (o + k) % 2 ? -0.6f : 0.6f;
        for (int64_t i = 0; i < H * br->dim; i++)
            shift_w[i] *= 6.0f;
    }
    /* LayerNorm away from its initial 1 and 0, so its gradients mean something. */
    tu_fill_uniform(mird_param_value(&c->table, c->m.norm_weight), (size_t)H, 0.5f, 1.5f, 800);
    tu_fill_uniform(mird_param_value(&c->table, c->m.norm_bias), (size_t)H, -0.5f, 0.5f, 801);
}

static int descending(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* tau of sparsemax by the sort formula: with z sorted descending, the
 * support size is the largest k with 1 + k z_k > sum_{i<=k} z_i. */
static double ref_sparsemax_tau(const double *scores, int64_t n)
{
    double sorted[MAX_FRAMES], sum = 0.0, support_sum = 0.0;
    memcpy(sorted, scores, (size_t)n * sizeof(double));
    qsort(sorted, (size_t)n, sizeof(double), descending);
    int64_t support = 0;
    for (int64_t k = 1; k <= n; k++) {
        sum += sorted[k - 1];
        if (1.0 + (double)k * sorted[k - 1] > sum) {
            support = k;
            support_sum = sum;
        }
    }
    return (support_sum - 1.0) / (double)support;
}

/* One modality's contribution to Hs for token (s, t), accumulated into hs. */
static void ref_branch(const wsa_case *c, int k, int64_t s, const float *e, double *hs,
                       kink_margins *mg)
{
    const mird_wsa_branch *br = &c->m.branch[k];
    int64_t H = c->hidden, T = br->frames, d = br->dim, n = c->lengths[k][s];
    const float *X = c->frames[k] + s * T * d;
    const float *Wk = value(c, br->key_weight), *bk = value(c, br->key_bias);
    const float *Wg = value(c, br->gate_weight), *bg = value(c, br->gate_bias);
    const float *Ws = value(c, br->shift_weight), *bs = value(c, br->shift_bias);
    double scores[MAX_FRAMES], mixed[64] = {0};
    ck_assert_int_le(d, 64);
    for (int64_t j = 0; j < n; j++) {
        scores[j] = 0.0;
        for (int64_t h = 0; h < H; h++) {
            double key = bk[h];
            for (int64_t i = 0; i < d; i++)
                key += (double)Wk[h * d + i] * X[j * d + i];
            scores[j] += e[h] * key;
        }
    }
    if (n > 0) {
        double tau = ref_sparsemax_tau(scores, n);
        int support = 0;
        for (int64_t j = 0; j < n; j++) {
            double p = fmax(scores[j] - tau, 0.0);
            support += p > 0.0;
            mg->score = fmin(mg->score, fabs(scores[j] - tau));
            for (int64_t i = 0; i < d; i++)
                mixed[i] += p * X[j * d + i];
        }
        mg->shared_rows += support >= 2;
    }
    for (int64_t o = 0; o < H; o++) {
        const float *wg = Wg + o * (d + H);
        double pre = bg[o], shift = bs[o];
        for (int64_t i = 0; i < d; i++) {
            pre += wg[i] * mixed[i];
            shift += (double)Ws[o * d + i] * mixed[i];
        }
        for (int64_t h = 0; h < H; h++)
            pre += (double)wg[d + h] * e[h];
        mg->gate = fmin(mg->gate, fabs(pre));
        hs[o] += (pre > 0.0 ? pre : 0.0) * (n > 0 ? shift : 0.0);
    }
}

/* F in double, times the dropout multipliers `mask` (NULL: none). */
static void ref_forward(const wsa_case *c, const float *mask, double *F, kink_margins *mg)
{
    int64_t H = c->hidden, T_l = c->m.text_length;
    double beta = mird_cfg_real(&c->cfg, MIRD_PARAM_BETA_SHIFT);
    const float *gamma = value(c, c->m.norm_weight), *ln_beta = value(c, c->m.norm_bias);
    kink_margins none = {INFINITY, INFINITY, INFINITY, 0, 0};
    *mg = none;
    for (int64_t r = 0; r < c->rows; r++) {
        const float *e = c->text + r * H;
        double hs[256] = {0}, y[256], e_norm = 0.0, hs_norm = 0.0;
        ck_assert_int_le(H, 256);
        for (int k = 0; k < MIRD_WSA_MODALITIES; k++)
            ref_branch(c, k, r / T_l, e, hs, mg);
        for (int64_t h = 0; h < H; h++) {
            e_norm += (double)e[h] * e[h];
            hs_norm += hs[h] * hs[h];
        }
        e_norm = sqrt(e_norm), hs_norm = sqrt(hs_norm);
        double thresh = beta * e_norm / ((hs_norm == 0.0 ? 1.0 : hs_norm) + 1e-6);
        double alpha = fmin(thresh, 1.0);
        mg->threshold = fmin(mg->threshold, fabs(thresh - 1.0));
        mg->clipped_rows += thresh >= 1.0;
        double mean = 0.0, var = 0.0;
        for (int64_t h = 0; h < H; h++)
            mean += (y[h] = alpha * hs[h] + e[h]) / (double)H;
        for (int64_t h = 0; h < H; h++)
            var += (y[h] - mean) * (y[h] - mean) / (double)H;
        if (!F)
            continue;
        for (int64_t h = 0; h < H; h++)
            F[r * H + h] = ((y[h] - mean) / sqrt(var + LN_EPS) * gamma[h] + ln_beta[h]) *
                           (mask ? mask[r * H + h] : 1.0);
    }
}

/* The first input seed whose margins clear the finite-difference steps
 * (gc step 2e-3 moves a score by well under 0.01 on these sizes). */
static void choose_inputs(wsa_case *c)
{
    kink_margins mg;
    shape_parameters(c);
    for (uint32_t seed = 1; seed < 2000; seed++) {
        fill_inputs(c, seed);
        ref_forward(c, NULL, NULL, &mg);
        if (mg.score > 0.01 && mg.gate > 0.02 && mg.threshold > 0.03 && mg.shared_rows >= 8 &&
            mg.clipped_rows > 2 && mg.clipped_rows < c->rows - 2)
            return;
    }
    ck_abort_msg("no input seed keeps clear of the kinks");
}

static void setup_tiny(wsa_case *c, const char *dropout)
{
    setup(c, "tiny", dropout, TINY_BATCH, tiny_audio_lengths, tiny_visual_lengths);
    choose_inputs(c);
}

static double wsa_loss(void *user)
{
    wsa_case *c = user;
    TU_OK(c->pass.ctx, mird_wsa_forward(&c->m, &c->pass, &c->in, &c->acts, c->out));
    return gc_weighted_sum(c->out, c->w, (size_t)(c->rows * c->hidden));
}

static void assert_close_to_reference(const wsa_case *c, const float *mask)
{
    size_t n = (size_t)(c->rows * c->hidden);
    double *expected = mird_alloc(n * sizeof(double));
    float *expected_f = tu_alloc_zeros(n);
    kink_margins mg;
    ref_forward(c, mask, expected, &mg);
    for (size_t i = 0; i < n; i++)
        expected_f[i] = (float)expected[i];
    tu_assert_close("F", c->out, expected_f, n, 2e-4, 1e-4);
    mird_free(expected), mird_free(expected_f);
}

START_TEST(test_forward_matches_reference)
{
    wsa_case c;
    setup_tiny(&c, "0.5");
    wsa_loss(&c);
    int64_t n = c.rows * c.hidden, dropped = 0;
    for (int64_t i = 0; i < n; i++) {
        ck_assert(c.acts.mask[i] == 0.0f || c.acts.mask[i] == 2.0f);
        dropped += c.acts.mask[i] == 0.0f;
    }
    ck_assert_int_gt(dropped, n / 4);
    ck_assert_int_lt(dropped, 3 * n / 4);
    assert_close_to_reference(&c, c.acts.mask);
    /* Missing modalities: s^m is exactly 0 there (no shift bias leaks in),
     * and no probability falls on a padded frame. */
    int64_t sample_floats = c.m.text_length * c.hidden;
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++) {
        int64_t T = c.m.branch[k].frames;
        for (int64_t s = 0; s < c.batch; s++) {
            for (int64_t i = 0; c.lengths[k][s] == 0 && i < sample_floats; i++)
                ck_assert_float_eq(c.acts.branch[k].shift[s * sample_floats + i], 0.0f);
            for (int64_t t = 0; t < c.m.text_length; t++)
                for (int64_t j = c.lengths[k][s]; j < T; j++)
                    ck_assert_float_eq(c.acts.branch[k].probs[(s * c.m.text_length + t) * T + j],
                                       0.0f);
        }
    }
    teardown(&c);
}
END_TEST

START_TEST(test_inference_has_no_dropout)
{
    wsa_case c;
    setup_tiny(&c, "0.5");
    c.pass.training = 0;
    wsa_loss(&c);
    assert_close_to_reference(&c, NULL);
    float *first = tu_copy(c.out, (size_t)(c.rows * c.hidden));
    c.pass.pass_id++;
    wsa_loss(&c);
    ck_assert_int_eq(memcmp(first, c.out, (size_t)(c.rows * c.hidden) * sizeof(float)), 0);
    mird_free(first);
    teardown(&c);
}
END_TEST

START_TEST(test_gradients_with_dropout)
{
    wsa_case c;
    setup_tiny(&c, "0.5");
    size_t n = (size_t)(c.rows * c.hidden);
    /* dE starts non-zero: the backward must add to it. */
    float *d_text = tu_alloc_uniform(n, -1, 1, 901), *before = tu_copy(d_text, n);
    wsa_loss(&c);
    TU_OK(c.pass.ctx, mird_wsa_backward(&c.m, &c.pass, &c.in, &c.acts, c.w, d_text));
    for (size_t i = 0; i < n; i++)
        d_text[i] -= before[i];
    /* Half the default step, so a step stays well inside the margins that
     * choose_inputs() guarantees; the tolerances are the defaults. */
    gc_options options = gc_default_options;
    options.eps = 2e-3;
    gc_check("wsa E", c.text, n, d_text, wsa_loss, &c, &options);
    mu_check_param_grads(&c.table, MIRD_GROUP_MODEL, wsa_loss, &c, &options);
    /* The key bias shifts whole score rows, which sparsemax ignores. */
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++)
        for (int64_t h = 0; h < c.hidden; h++)
            ck_assert_float_eq(mird_param_grad(&c.table, c.m.branch[k].key_bias)[h], 0.0f);
    mird_free(d_text), mird_free(before);
    teardown(&c);
}
END_TEST

static float *copy_grads(const mird_param_table *t)
{
    return tu_copy(t->grads, t->total);
}

START_TEST(test_backward_accumulates_and_null_text)
{
    wsa_case c;
    setup_tiny(&c, "0.5");
    size_t n = (size_t)(c.rows * c.hidden);
    float *d_text = tu_alloc_zeros(n);
    wsa_loss(&c);
    TU_OK(c.pass.ctx, mird_wsa_backward(&c.m, &c.pass, &c.in, &c.acts, c.w, d_text));
    float *once = copy_grads(&c.table), *d_text_once = tu_copy(d_text, n);
    TU_OK(c.pass.ctx, mird_wsa_backward(&c.m, &c.pass, &c.in, &c.acts, c.w, d_text));
    float *twice_expected = tu_copy(once, c.table.total);
    for (size_t i = 0; i < c.table.total; i++)
        twice_expected[i] *= 2.0f;
    tu_assert_close("grads after two backwards", c.table.grads, twice_expected, c.table.total,
                    1e-6, 1e-5);
    for (size_t i = 0; i < n; i++)
        d_text_once[i] *= 2.0f;
    tu_assert_close("dE after two backwards", d_text, d_text_once, n, 1e-6, 1e-5);
    /* Without dE the parameter gradients are the same. */
    mird_params_zero_grads(&c.table, MIRD_GROUP_MODEL);
    TU_OK(c.pass.ctx, mird_wsa_backward(&c.m, &c.pass, &c.in, &c.acts, c.w, NULL));
    ck_assert_int_eq(memcmp(c.table.grads, once, c.table.total * sizeof(float)), 0);
    mird_free(d_text), mird_free(once), mird_free(d_text_once), mird_free(twice_expected);
    teardown(&c);
}
END_TEST

START_TEST(test_every_frame_missing)
{
    /* With no frames at all Hs = 0: F = Dropout(LayerNorm(E)). */
    static const int32_t none[TINY_BATCH] = {0, 0, 0, 0};
    wsa_case c;
    setup(&c, "tiny", "0", TINY_BATCH, none, none);
    fill_inputs(&c, 3);
    wsa_loss(&c);
    assert_close_to_reference(&c, NULL);
    float *d_text = tu_alloc_zeros((size_t)(c.rows * c.hidden));
    TU_OK(c.pass.ctx, mird_wsa_backward(&c.m, &c.pass, &c.in, &c.acts, c.w, d_text));
    for (int k = 0; k < MIRD_WSA_MODALITIES; k++) {
        const mird_param_entry *e = &c.table.entries[c.m.branch[k].shift_bias];
        for (size_t i = 0; i < e->numel; i++)
            ck_assert_float_eq(mird_param_grad(&c.table, c.m.branch[k].shift_bias)[i], 0.0f);
    }
    mird_free(d_text);
    teardown(&c);
}
END_TEST

START_TEST(test_errors)
{
    wsa_case c;
    setup_tiny(&c, "0");
    mird_dnnl *ctx = c.pass.ctx;
    c.lengths[MIRD_WSA_VISUAL][3] = 11;
    ck_assert_int_eq(mird_wsa_forward(&c.m, &c.pass, &c.in, &c.acts, c.out), MIRD_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "visual lengths[3] = 11"));
    c.lengths[MIRD_WSA_VISUAL][3] = 4;
    c.lengths[MIRD_WSA_AUDIO][0] = -1;
    ck_assert_int_eq(mird_wsa_backward(&c.m, &c.pass, &c.in, &c.acts, c.w, NULL),
                     MIRD_ERR_SHAPE);
    c.lengths[MIRD_WSA_AUDIO][0] = 8;
    c.in.frames[MIRD_WSA_AUDIO] = NULL;
    ck_assert_int_eq(mird_wsa_forward(&c.m, &c.pass, &c.in, &c.acts, c.out),
                     MIRD_ERR_NULL_ARGUMENT);
    c.in.frames[MIRD_WSA_AUDIO] = c.frames[MIRD_WSA_AUDIO];
    ck_assert_int_eq(mird_wsa_forward(&c.m, &c.pass, &c.in, &c.acts, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_wsa_backward(&c.m, &c.pass, &c.in, &c.acts, NULL, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    c.pass.batch = -1;
    ck_assert_int_eq(mird_wsa_forward(&c.m, &c.pass, &c.in, &c.acts, c.out),
                     MIRD_ERR_INVALID_ARGUMENT);
    c.pass.batch = 0;
    TU_OK(ctx, mird_wsa_forward(&c.m, &c.pass, &c.in, &c.acts, c.out));
    teardown(&c);
}
END_TEST

/* The mosi preset's shapes (large enough for the parallel paths): forward
 * and backward give the same bits on 1 and 2 threads. */
START_TEST(test_same_bits_on_1_and_2_threads)
{
    static const int32_t audio[3] = {375, 120, 0}, visual[3] = {0, 500, 33};
    wsa_case c;
    setup(&c, "mosi", "0.5", 3, audio, visual);
    fill_inputs(&c, 1);
    size_t n = (size_t)(c.rows * c.hidden);
    float *results[2][3];
    for (int threads = 1; threads <= 2; threads++) {
        mird_threads_set(threads);
        mird_threads_apply();
        float *d_text = tu_alloc_zeros(n);
        mird_params_zero_grads(&c.table, MIRD_GROUP_MODEL);
        wsa_loss(&c);
        TU_OK(c.pass.ctx, mird_wsa_backward(&c.m, &c.pass, &c.in, &c.acts, c.w, d_text));
        results[threads - 1][0] = tu_copy(c.out, n);
        results[threads - 1][1] = d_text;
        results[threads - 1][2] = copy_grads(&c.table);
    }
    mird_threads_set(0);
    mird_threads_apply();
    tu_assert_same_across_threads("WSA output", results[0][0], results[1][0], n);
    tu_assert_same_across_threads("dE", results[0][1], results[1][1], n);
    tu_assert_same_across_threads("parameter gradients", results[0][2], results[1][2],
                                  c.table.total);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            mird_free(results[i][j]);
    teardown(&c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("wsa");
    TCase *tc = tcase_create("wsa");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_forward_matches_reference);
    tcase_add_test(tc, test_inference_has_no_dropout);
    tcase_add_test(tc, test_gradients_with_dropout);
    tcase_add_test(tc, test_backward_accumulates_and_null_text);
    tcase_add_test(tc, test_every_frame_missing);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_same_bits_on_1_and_2_threads);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
