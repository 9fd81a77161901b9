/* The CLUB estimators and the constraint: registration, the forward against
 * a double-precision reference (the networks and the CLUB formulas written
 * out, the pair mean taken the slow O(N^2) way), finite-difference checks of
 * the constraint w.r.t. every code (mim with and without the input terms and
 * sampling, oc through and with frozen norms) and of the estimator loss
 * w.r.t. every estimator tensor, the separation of the two backwards, +=,
 * NULL gradients, the frame means and bad arguments; batches of 1 and 5. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "model/estimators.h"
#include "support/modelutil.h"
#include "support/testutil.h"

#define Z 8          /* tiny: latent_dim */
#define HALF 4       /* tiny: club_hidden / 2 */
#define AUDIO_DIM 4  /* tiny: audio_dim, T_a = 8 */
#define VISUAL_DIM 6 /* tiny: vision_dim, T_v = 10 */
#define MAX_BATCH 5
#define MAX_Y_DIM 8 /* the widest y: the codes */
#define AUDIO_MEAN_SLOT (-1)
#define VISUAL_MEAN_SLOT (-2)
#define UPSTREAM 0.75

/* One row (where every CLUB estimate is 0 and oc has nothing to centre) and a few. */
static const int64_t batches[2] = {1, MAX_BATCH};

/* The pairs of MODEL.md 2.6 written out again, independently of the module. */
static const int ref_x[MIRD_CLUB_PAIR_COUNT] = {MIRD_CODE_L, MIRD_CODE_L, MIRD_CODE_A,
                                                MIRD_CODE_S, MIRD_CODE_S, MIRD_CODE_S,
                                                MIRD_CODE_S, MIRD_CODE_S};
static const int ref_y[MIRD_CLUB_PAIR_COUNT] = {MIRD_CODE_A, MIRD_CODE_V, MIRD_CODE_V,
                                                MIRD_CODE_L, MIRD_CODE_A, MIRD_CODE_V,
                                                AUDIO_MEAN_SLOT, VISUAL_MEAN_SLOT};

typedef enum loss_kind { LOSS_CONSTRAINT, LOSS_ESTIMATOR, LOSS_FROZEN_NORM_OC } loss_kind;

typedef struct est_case {
    mird_estimators est;
    mird_param_table table;
    mird_config cfg;
    mird_pass pass;
    mird_arena ws;
    mird_estimator_acts acts;
    mird_estimator_results res;
    mird_estimator_inputs in;
    float *code[MIRD_CODE_COUNT], *audio_mean, *visual_mean;
    double frozen_norm[MIRD_CODE_COUNT][MAX_BATCH];
    int64_t batch;
    loss_kind loss;
} est_case;

static const float *ref_y_data(const est_case *c, int p)
{
    if (ref_y[p] == AUDIO_MEAN_SLOT)
        return c->audio_mean;
    if (ref_y[p] == VISUAL_MEAN_SLOT)
        return c->visual_mean;
    return c->code[ref_y[p]];
}

static int64_t ref_y_dim(int p)
{
    return ref_y[p] == AUDIO_MEAN_SLOT ? AUDIO_DIM : ref_y[p] == VISUAL_MEAN_SLOT ? VISUAL_DIM : Z;
}

static int param(const est_case *c, int p, const char *head, int layer, const char *what)
{
    char name[MIRD_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "club.%s.%s.%d.%s", mird_club_pair_name((mird_club_pair)p), head,
             layer, what);
    int index = mird_params_find(&c->table, name);
    ck_assert_msg(index >= 0, "%s is not registered", name);
    return index;
}

/* Layer-0 pre-activations of one head for row i, in double. */
static void ref_pre_hidden(const est_case *c, int p, const char *head, int64_t i,
                           double pre[HALF])
{
    const float *W = mird_param_value(&c->table, param(c, p, head, 0, "weight"));
    const float *b = mird_param_value(&c->table, param(c, p, head, 0, "bias"));
    const float *x = c->code[ref_x[p]] + i * Z;
    for (int j = 0; j < HALF; j++) {
        pre[j] = b[j];
        for (int k = 0; k < Z; k++)
            pre[j] += (double)W[j * Z + k] * x[k];
    }
}

/* out = layer2(ReLU(layer0(x_i))), tanh'ed for logvar. */
static void ref_head(const est_case *c, int p, const char *head, int64_t i, double *out)
{
    double pre[HALF];
    ref_pre_hidden(c, p, head, i, pre);
    const int64_t d = ref_y_dim(p);
    const float *W = mird_param_value(&c->table, param(c, p, head, 2, "weight"));
    const float *b = mird_param_value(&c->table, param(c, p, head, 2, "bias"));
    for (int64_t k = 0; k < d; k++) {
        out[k] = b[k];
        for (int j = 0; j < HALF; j++)
            out[k] += (double)W[k * HALF + j] * (pre[j] > 0 ? pre[j] : 0);
        if (strcmp(head, "logvar") == 0)
            out[k] = tanh(out[k]);
    }
}

/* vCLUB (negatives NULL) or the sampled estimate, and the learning loss. */
static void ref_club(const est_case *c, int p, const int32_t *negatives, double *estimate,
                     double *learning)
{
    const int64_t N = c->batch, d = ref_y_dim(p);
    const float *y = ref_y_data(c, p);
    double mu[MAX_Y_DIM], logvar[MAX_Y_DIM];
    ck_assert_int_le(d, MAX_Y_DIM);
    *estimate = *learning = 0.0;
    for (int64_t i = 0; i < N; i++) {
        ref_head(c, p, "mu", i, mu);
        ref_head(c, p, "logvar", i, logvar);
        for (int64_t k = 0; k < d; k++) {
            double positive = (mu[k] - y[i * d + k]) * (mu[k] - y[i * d + k]);
            double negative = 0.0;
            if (negatives) {
                double diff = y[negatives[i] * d + k] - mu[k];
                negative = diff * diff;
            } else {
                for (int64_t j = 0; j < N; j++)
                    negative += (y[j * d + k] - mu[k]) * (y[j * d + k] - mu[k]) / (double)N;
            }
            *estimate += (negative - positive) / (2.0 * exp(logvar[k])) / (double)N;
            *learning += (positive / exp(logvar[k]) + logvar[k]) / (double)N;
        }
    }
}

/* MISA's difference loss summed over the six code pairs, in double; row
 * norms taken from c->frozen_norm when `frozen`, else computed and kept there. */
static double ref_oc(est_case *c, int frozen)
{
    double unit[MIRD_CODE_COUNT][MAX_BATCH][Z];
    const int64_t N = c->batch;
    for (int code = 0; code < MIRD_CODE_COUNT; code++) {
        for (int k = 0; k < Z; k++) {
            double mean = 0.0;
            for (int64_t i = 0; i < N; i++)
                mean += c->code[code][i * Z + k] / (double)N;
            for (int64_t i = 0; i < N; i++)
                unit[code][i][k] = c->code[code][i * Z + k] - mean;
        }
        for (int64_t i = 0; i < N; i++) {
            double sum_sq = 0.0;
            for (int k = 0; k < Z; k++)
                sum_sq += unit[code][i][k] * unit[code][i][k];
            double norm = frozen ? c->frozen_norm[code][i] : sqrt(sum_sq);
            if (!frozen)
                c->frozen_norm[code][i] = norm;
            for (int k = 0; k < Z; k++)
                unit[code][i][k] /= norm + 1e-6;
        }
    }
    double total = 0.0;
    for (int p = 0; p < 6; p++)
        for (int j = 0; j < Z; j++)
            for (int l = 0; l < Z; l++) {
                double cross = 0.0;
                for (int64_t i = 0; i < N; i++)
                    cross += unit[ref_x[p]][i][j] * unit[ref_y[p]][i][l];
                total += cross * cross / (Z * Z);
            }
    return total;
}

/* Shifts each hidden unit's layer-0 bias until every row's pre-activation is
 * at least 0.02 from ReLU's kink, well beyond what a finite-difference step
 * (4e-3 times a weight or input below 1) can move it. */
static void keep_relu_off_kinks(est_case *c)
{
    static const char *const heads[2] = {"mu", "logvar"};
    for (int p = 0; p < c->est.pair_count; p++)
        for (int h = 0; h < 2; h++) {
            float *bias = mird_param_value(&c->table, param(c, p, heads[h], 0, "bias"));
            for (int j = 0; j < HALF; j++) {
                for (int attempt = 0;; attempt++) {
                    ck_assert_int_lt(attempt, 200);
                    double closest = INFINITY;
                    for (int64_t i = 0; i < c->batch; i++) {
                        double pre[HALF];
                        ref_pre_hidden(c, p, heads[h], i, pre);
                        closest = fmin(closest, fabs(pre[j]));
                    }
                    if (closest >= 0.02)
                        break;
                    bias[j] += (attempt % 2 ? -1.0f : 1.0f) * 0.01f * (float)(attempt + 1);
                }
            }
        }
}

static double case_loss(void *user)
{
    est_case *c = user;
    if (c->loss == LOSS_FROZEN_NORM_OC)
        return UPSTREAM * ref_oc(c, 1);
    TU_OK(c->pass.ctx,
          mird_estimators_forward(&c->est, &c->pass, &c->in, &c->acts, &c->res));
    return UPSTREAM * (c->loss == LOSS_CONSTRAINT ? c->res.constraint : c->res.estimator_loss);
}

static void setup(est_case *c, const mird_config *cfg, int64_t batch)
{
    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    c->batch = batch;
    mird_params_init_table(&c->table);
    mird_estimators_register(&c->est, &c->table, &c->cfg);
    mu_commit_params(&c->table, 5);
    c->pass = mu_pass(tu_context(), &c->table, &c->cfg, batch, 1);
    mird_arena_init_plan(&c->ws);
    mird_estimators_plan(&c->est, &c->ws, batch, &c->acts);
    mird_error err = {0};
    ck_assert_int_eq(mird_arena_commit(&c->ws, &err), MIRD_OK);
    mird_estimators_plan(&c->est, &c->ws, batch, &c->acts);
    for (int code = 0; code < MIRD_CODE_COUNT; code++)
        c->in.code[code] = c->code[code] = tu_alloc_uniform(batch * Z, -1, 1, 20 + code);
    c->in.audio_mean = c->audio_mean = tu_alloc_uniform(batch * AUDIO_DIM, -1, 1, 30);
    c->in.visual_mean = c->visual_mean = tu_alloc_uniform(batch * VISUAL_DIM, -1, 1, 31);
    keep_relu_off_kinks(c);
}

static void teardown(est_case *c)
{
    mird_dnnl_destroy(c->pass.ctx);
    mird_arena_release(&c->ws);
    mird_params_release(&c->table);
    for (int code = 0; code < MIRD_CODE_COUNT; code++)
        mird_free(c->code[code]);
    mird_free(c->audio_mean), mird_free(c->visual_mean);
}

static void alloc_code_grads(float *d_code[MIRD_CODE_COUNT], int64_t batch)
{
    for (int code = 0; code < MIRD_CODE_COUNT; code++)
        d_code[code] = tu_alloc_zeros(batch * Z);
}

static void free_code_grads(float *d_code[MIRD_CODE_COUNT])
{
    for (int code = 0; code < MIRD_CODE_COUNT; code++)
        mird_free(d_code[code]);
}

static void assert_estimator_grads_zero(const est_case *c, const char *after)
{
    const size_t begin = c->table.group_begin[MIRD_GROUP_ESTIMATOR];
    const size_t end = c->table.group_end[MIRD_GROUP_ESTIMATOR];
    ck_assert_uint_gt(end, begin);
    for (size_t i = begin; i < end; i++)
        ck_assert_msg(c->table.grads[i] == 0.0f, "%s touched estimator gradient %zu", after, i);
}

static double largest_magnitude(const float *x, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

/* The constraint's gradient w.r.t. every code by finite differences, and
 * the estimators' parameter gradients left alone. */
static void check_constraint_gradients(est_case *c, loss_kind reference)
{
    float *d_code[MIRD_CODE_COUNT];
    alloc_code_grads(d_code, c->batch);
    mird_params_zero_grads(&c->table, MIRD_GROUP_ESTIMATOR);
    c->loss = LOSS_CONSTRAINT;
    case_loss(c);
    if (reference == LOSS_FROZEN_NORM_OC) {
        ck_assert_double_lt(fabs(ref_oc(c, 0) - c->res.constraint), 1e-5);
        c->loss = LOSS_FROZEN_NORM_OC;
    }
    TU_OK(c->pass.ctx, mird_estimators_backward_constraint(&c->est, &c->pass, &c->in, &c->acts,
                                                           UPSTREAM, d_code));
    assert_estimator_grads_zero(c, "the constraint backward");
    static const char *const names[MIRD_CODE_COUNT] = {"z^S", "z^L", "z^A", "z^V"};
    for (int code = 0; code < MIRD_CODE_COUNT; code++) {
        if (c->batch > 1)
            ck_assert_msg(largest_magnitude(d_code[code], c->batch * Z) > 1e-4,
                          "%s got no gradient", names[code]);
        gc_check(names[code], c->code[code], (size_t)(c->batch * Z), d_code[code], case_loss, c,
                 NULL);
    }
    free_code_grads(d_code);
}

START_TEST(test_registration)
{
    for (int input_mi = 0; input_mi <= 1; input_mi++) {
        mird_config cfg = mu_config("tiny", "input_mi", input_mi ? "1" : "0", NULL);
        est_case c;
        setup(&c, &cfg, 2);
        int estimator_tensors = 0;
        for (int i = 0; i < c.table.count; i++) {
            ck_assert_int_eq(c.table.entries[i].group, MIRD_GROUP_ESTIMATOR);
            ck_assert_ptr_nonnull(strstr(c.table.entries[i].name, "club."));
            estimator_tensors++;
        }
        ck_assert_int_eq(estimator_tensors, input_mi ? 64 : 48);
        ck_assert_int_eq(mird_params_find(&c.table, "club.s_xa.mu.0.weight") >= 0, input_mi);
        const mird_param_entry *e = &c.table.entries[param(&c, MIRD_CLUB_L_V, "logvar", 2,
                                                           "weight")];
        ck_assert(e->ndim == 2 && e->dims[0] == Z && e->dims[1] == HALF);
        e = &c.table.entries[param(&c, MIRD_CLUB_S_L, "mu", 0, "weight")];
        ck_assert(e->ndim == 2 && e->dims[0] == HALF && e->dims[1] == Z);
        ck_assert_float_eq_tol(e->init_scale, 1.0f / sqrtf(Z), 1e-7f);
        e = &c.table.entries[param(&c, MIRD_CLUB_S_L, "mu", 2, "bias")];
        ck_assert_float_eq_tol(e->init_scale, 1.0f / sqrtf(HALF), 1e-7f);
        if (input_mi) {
            e = &c.table.entries[param(&c, MIRD_CLUB_S_XA, "mu", 2, "bias")];
            ck_assert(e->ndim == 1 && e->dims[0] == AUDIO_DIM);
            e = &c.table.entries[param(&c, MIRD_CLUB_S_XV, "logvar", 2, "weight")];
            ck_assert(e->dims[0] == VISUAL_DIM && e->dims[1] == HALF);
        }
        teardown(&c);
    }
    ck_assert_str_eq(mird_club_pair_name(MIRD_CLUB_A_V), "a_v");
    ck_assert_ptr_null(mird_club_pair_name(MIRD_CLUB_PAIR_COUNT));
}
END_TEST

START_TEST(test_forward_matches_reference)
{
    for (int b = 0; b < 2; b++)
        for (int sample = 0; sample <= 1; sample++) {
            mird_config cfg = mu_config("tiny", "club_sample", sample ? "1" : "0", NULL);
            est_case c;
            setup(&c, &cfg, batches[b]);
            TU_OK(c.pass.ctx,
                  mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, &c.res));
            double estimates = 0.0, learning = 0.0;
            for (int p = 0; p < MIRD_CLUB_PAIR_COUNT; p++) {
                const int32_t *negatives = sample ? c.acts.pair[p].negatives : NULL;
                if (sample) {
                    int seen[MAX_BATCH] = {0};
                    for (int64_t i = 0; i < c.batch; i++) {
                        ck_assert(negatives[i] >= 0 && negatives[i] < c.batch);
                        ck_assert_int_eq(seen[negatives[i]]++, 0);
                    }
                }
                double ref_estimate, ref_learning;
                ref_club(&c, p, negatives, &ref_estimate, &ref_learning);
                ck_assert_msg(fabs(ref_estimate - c.res.estimate[p]) < 1e-5,
                              "pair %d estimate %g vs %g", p, c.res.estimate[p], ref_estimate);
                ck_assert_msg(fabs(ref_learning - c.res.learning_loss[p]) < 1e-5,
                              "pair %d learning loss %g vs %g", p, c.res.learning_loss[p],
                              ref_learning);
                estimates += ref_estimate;
                learning += ref_learning;
            }
            if (c.batch > 1)
                ck_assert_double_gt(fabs(estimates), 1e-3);
            else
                ck_assert_double_lt(fabs(estimates), 1e-6); /* one row: no MI to bound */
            ck_assert_double_lt(fabs(c.res.constraint - estimates), 1e-5);
            ck_assert_double_lt(fabs(c.res.estimator_loss - learning), 1e-5);
            teardown(&c);
        }
}
END_TEST

START_TEST(test_permutations_follow_the_pass)
{
    mird_config cfg = mu_config("tiny", "club_sample", "1", NULL);
    est_case c;
    setup(&c, &cfg, 5);
    int32_t first[MIRD_CLUB_PAIR_COUNT][MAX_BATCH];
    TU_OK(c.pass.ctx, mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, &c.res));
    double estimate = c.res.constraint;
    int pairs_differ = 0, identities = 0;
    for (int p = 0; p < MIRD_CLUB_PAIR_COUNT; p++) {
        memcpy(first[p], c.acts.pair[p].negatives, sizeof first[p]);
        pairs_differ |= memcmp(first[p], first[0], sizeof first[p]) != 0;
        int identity = 1;
        for (int i = 0; i < MAX_BATCH; i++)
            identity &= first[p][i] == i;
        identities += identity;
    }
    ck_assert(pairs_differ);
    ck_assert_int_lt(identities, MIRD_CLUB_PAIR_COUNT);
    TU_OK(c.pass.ctx, mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, &c.res));
    ck_assert_double_eq(estimate, c.res.constraint);
    c.pass.pass_id++;
    TU_OK(c.pass.ctx, mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, &c.res));
    int changed = 0;
    for (int p = 0; p < MIRD_CLUB_PAIR_COUNT; p++)
        changed |= memcmp(first[p], c.acts.pair[p].negatives, sizeof first[p]) != 0;
    ck_assert(changed);
    teardown(&c);
}
END_TEST

START_TEST(test_mim_gradients)
{
    for (int input_mi = 0; input_mi <= 1; input_mi++)
        for (int sample = 0; sample <= 1; sample++)
            for (int b = 0; b < 2; b++) {
                mird_config cfg = mu_config("tiny", "constraint", "mim", "input_mi",
                                            input_mi ? "1" : "0", "club_sample",
                                            sample ? "1" : "0", NULL);
                est_case c;
                setup(&c, &cfg, batches[b]);
                if (!input_mi)
                    c.in.audio_mean = c.in.visual_mean = NULL; /* not read */
                check_constraint_gradients(&c, LOSS_CONSTRAINT);
                ck_assert_int_eq(isnan(c.res.estimate[MIRD_CLUB_S_XV]), !input_mi);
                teardown(&c);
            }
}
END_TEST

START_TEST(test_oc_gradients)
{
    for (int detach = 0; detach <= 1; detach++)
        for (int b = 0; b < 2; b++) {
            mird_config cfg = mu_config("tiny", "constraint", "oc", "oc_detach_norm",
                                        detach ? "1" : "0", NULL);
            est_case c;
            setup(&c, &cfg, batches[b]);
            /* With detached norms the backward is the gradient of the loss whose
             * norms are frozen at the current codes: check against that. */
            check_constraint_gradients(&c, detach ? LOSS_FROZEN_NORM_OC : LOSS_CONSTRAINT);
            teardown(&c);
        }
}
END_TEST

START_TEST(test_none_is_zero)
{
    mird_config cfg = mu_config("tiny", "constraint", "none", NULL);
    est_case c;
    setup(&c, &cfg, 5);
    float *d_code[MIRD_CODE_COUNT];
    alloc_code_grads(d_code, c.batch);
    for (int code = 0; code < MIRD_CODE_COUNT; code++)
        tu_fill_uniform(d_code[code], (size_t)(c.batch * Z), -1, 1, 40 + code);
    float *before = tu_copy(d_code[MIRD_CODE_S], (size_t)(c.batch * Z));
    TU_OK(c.pass.ctx, mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, &c.res));
    ck_assert_double_eq(c.res.constraint, 0.0);
    ck_assert(isfinite(c.res.estimate[MIRD_CLUB_S_A]) && c.res.estimator_loss != 0.0);
    TU_OK(c.pass.ctx, mird_estimators_backward_constraint(&c.est, &c.pass, &c.in, &c.acts, 1.0,
                                                          d_code));
    tu_assert_close("none: z^S gradient", d_code[MIRD_CODE_S], before, (size_t)(c.batch * Z), 0,
                    0);
    mird_free(before);
    free_code_grads(d_code);
    teardown(&c);
}
END_TEST

START_TEST(test_estimator_loss_gradients)
{
    for (int input_mi = 0; input_mi <= 1; input_mi++)
        for (int b = 0; b < 2; b++) {
            mird_config cfg = mu_config("tiny", "input_mi", input_mi ? "1" : "0", "club_sample",
                                        "1", NULL);
            est_case c;
            setup(&c, &cfg, batches[b]);
            c.loss = LOSS_ESTIMATOR;
            case_loss(&c);
            mird_params_zero_grads(&c.table, MIRD_GROUP_ESTIMATOR);
            TU_OK(c.pass.ctx, mird_estimators_backward_learning(&c.est, &c.pass, &c.in,
                                                                &c.acts, UPSTREAM));
            mu_check_param_grads(&c.table, MIRD_GROUP_ESTIMATOR, case_loss, &c, NULL);
            teardown(&c);
        }
}
END_TEST

/* The two backwards share one forward and internal buffers; run in either
 * order they give the same results, each adding only into its own targets
 * (the learning backward has no code gradient to touch), and both add. */
START_TEST(test_backwards_are_separate_and_accumulate)
{
    mird_config cfg = mu_config("tiny", NULL);
    est_case c;
    setup(&c, &cfg, 5);
    const size_t code_size = (size_t)(c.batch * Z);
    const mird_param_table *t = &c.table;
    const size_t begin = t->group_begin[MIRD_GROUP_ESTIMATOR];
    const size_t count = t->group_end[MIRD_GROUP_ESTIMATOR] - begin;
    float *once[MIRD_CODE_COUNT], *twice[MIRD_CODE_COUNT];
    alloc_code_grads(once, c.batch);
    alloc_code_grads(twice, c.batch);
    TU_OK(c.pass.ctx, mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, &c.res));

    mird_params_zero_grads(&c.table, MIRD_GROUP_ESTIMATOR);
    TU_OK(c.pass.ctx, mird_estimators_backward_learning(&c.est, &c.pass, &c.in, &c.acts, 1.0));
    float *learning_once = tu_copy(t->grads + begin, count);
    TU_OK(c.pass.ctx,
          mird_estimators_backward_constraint(&c.est, &c.pass, &c.in, &c.acts, 1.0, once));
    tu_assert_close("constraint backward left estimator grads", t->grads + begin, learning_once,
                    count, 0, 0);

    TU_OK(c.pass.ctx,
          mird_estimators_backward_constraint(&c.est, &c.pass, &c.in, &c.acts, 1.0, twice));
    TU_OK(c.pass.ctx, mird_estimators_backward_learning(&c.est, &c.pass, &c.in, &c.acts, 1.0));
    TU_OK(c.pass.ctx,
          mird_estimators_backward_constraint(&c.est, &c.pass, &c.in, &c.acts, 1.0, twice));
    for (int code = 0; code < MIRD_CODE_COUNT; code++) {
        for (size_t i = 0; i < code_size; i++)
            once[code][i] *= 2.0f;
        tu_assert_close("constraint backward +=", twice[code], once[code], code_size, 1e-6,
                        1e-5);
    }
    for (size_t i = 0; i < count; i++)
        learning_once[i] *= 2.0f;
    tu_assert_close("learning backward +=", t->grads + begin, learning_once, count, 1e-6, 1e-5);

    /* A NULL code gradient is skipped; the others get the same values. */
    float *partial[MIRD_CODE_COUNT];
    alloc_code_grads(partial, c.batch);
    mird_free(partial[MIRD_CODE_S]);
    partial[MIRD_CODE_S] = NULL;
    TU_OK(c.pass.ctx,
          mird_estimators_backward_constraint(&c.est, &c.pass, &c.in, &c.acts, 2.0, partial));
    tu_assert_close("z^V without z^S", partial[MIRD_CODE_V], once[MIRD_CODE_V], code_size, 1e-6,
                    1e-5);
    free_code_grads(partial);
    free_code_grads(once);
    free_code_grads(twice);
    mird_free(learning_once);
    teardown(&c);
}
END_TEST

START_TEST(test_frame_means)
{
    enum { B = 4, T = 5, D = 3 };
    mird_dnnl *ctx = tu_context();
    /* Padding holds garbage on purpose: only valid frames may count. */
    float *x = tu_alloc_uniform(B * T * D, -2, 2, 50);
    int32_t lengths[B] = {3, 0, 5, 1};
    float mean[B * D];
    memset(mean, 0x7f, sizeof mean);
    TU_OK(ctx, mird_estimators_frame_means(ctx, x, lengths, B, T, D, mean));
    for (int b = 0; b < B; b++)
        for (int k = 0; k < D; k++) {
            double sum = 0.0;
            for (int t = 0; t < lengths[b]; t++)
                sum += x[(b * T + t) * D + k];
            double expected = lengths[b] ? sum / lengths[b] : 0.0;
            ck_assert_msg(fabs(mean[b * D + k] - expected) < 1e-6, "mean[%d][%d] %g vs %g", b, k,
                          mean[b * D + k], expected);
        }
    lengths[2] = T + 1;
    ck_assert_int_eq(mird_estimators_frame_means(ctx, x, lengths, B, T, D, mean), MIRD_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "lengths[2] = 6"));
    lengths[2] = -1;
    ck_assert_int_eq(mird_estimators_frame_means(ctx, x, lengths, B, T, D, mean), MIRD_ERR_SHAPE);
    ck_assert_int_eq(mird_estimators_frame_means(ctx, x, lengths, -1, T, D, mean),
                     MIRD_ERR_SHAPE);
    ck_assert_int_eq(mird_estimators_frame_means(ctx, x, NULL, B, T, D, mean),
                     MIRD_ERR_NULL_ARGUMENT);
    mird_free(x);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_bad_arguments)
{
    mird_config cfg = mu_config("tiny", NULL);
    est_case c;
    setup(&c, &cfg, 3);
    mird_dnnl *ctx = c.pass.ctx;
    c.pass.batch = 4;
    ck_assert_int_eq(mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, &c.res),
                     MIRD_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "planned batch = 3"));
    c.pass.batch = -1;
    ck_assert_int_eq(mird_estimators_backward_learning(&c.est, &c.pass, &c.in, &c.acts, 1.0),
                     MIRD_ERR_SHAPE);
    c.pass.batch = 3;
    c.in.visual_mean = NULL;
    ck_assert_int_eq(mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, &c.res),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(ctx)->message, "input_mi"));
    c.in.visual_mean = c.visual_mean;
    c.in.code[MIRD_CODE_A] = NULL;
    ck_assert_int_eq(mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, &c.res),
                     MIRD_ERR_NULL_ARGUMENT);
    c.in.code[MIRD_CODE_A] = c.code[MIRD_CODE_A];
    ck_assert_int_eq(mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    c.cfg.values[MIRD_PARAM_CONSTRAINT] = 7;
    ck_assert_int_eq(mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, &c.res),
                     MIRD_ERR_INVALID_ARGUMENT);
    c.cfg.values[MIRD_PARAM_CONSTRAINT] = MIRD_CONSTRAINT_MIM;
    /* An empty pass is legal: every mean over no rows is 0. */
    c.pass.batch = 0;
    TU_OK(ctx, mird_estimators_forward(&c.est, &c.pass, &c.in, &c.acts, &c.res));
    ck_assert(c.res.constraint == 0.0 && c.res.estimator_loss == 0.0);
    TU_OK(ctx, mird_estimators_backward_learning(&c.est, &c.pass, &c.in, &c.acts, 1.0));
    ck_assert_uint_eq(mird_dnnl_scratch(ctx)->live, 0);
    teardown(&c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("estimators");
    TCase *tc = tcase_create("estimators");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_registration);
    tcase_add_test(tc, test_forward_matches_reference);
    tcase_add_test(tc, test_permutations_follow_the_pass);
    tcase_add_test(tc, test_mim_gradients);
    tcase_add_test(tc, test_oc_gradients);
    tcase_add_test(tc, test_none_is_zero);
    tcase_add_test(tc, test_estimator_loss_gradients);
    tcase_add_test(tc, test_backwards_are_separate_and_accumulate);
    tcase_add_test(tc, test_frame_means);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
