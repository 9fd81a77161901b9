/* AdamW (transformers 3.x form) and Adam (torch form) against double-precision
 * transcriptions of their update rules; schedule; clipping. */
#include <math.h>

#include "core/alloc.h"
#include "model/params.h"
#include "support/testutil.h"
#include "train/optimizer.h"

static void make_table(mird_param_table *t)
{
    mird_params_init_table(t);
    int64_t wdims[2] = {3, 4}, bdims[1] = {3};
    ck_assert_int_eq(mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_UNIFORM, 0.5f, 2, wdims,
                                     "layer.weight"), 0);
    ck_assert_int_eq(mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_UNIFORM, 0.5f, 1, bdims,
                                     "layer.bias"), 1);
    ck_assert_int_eq(mird_params_add(t, MIRD_GROUP_ESTIMATOR, MIRD_INIT_UNIFORM, 0.5f, 1, bdims,
                                     "club.x.mu.0.weight"), 2);
    int64_t ldims[1] = {4};
    ck_assert_int_eq(mird_params_add(t, MIRD_GROUP_MODEL, MIRD_INIT_ONES, 0, 1, ldims,
                                     "enc.LayerNorm.weight"), 3);
    mird_error err = {0};
    ck_assert_int_eq(mird_params_commit(t, &err), MIRD_OK);
    mird_params_initialise(t, 7);
}

START_TEST(test_table_layout_and_flags)
{
    mird_param_table t;
    make_table(&t);
    ck_assert(t.entries[0].decay);
    ck_assert(!t.entries[1].decay);
    ck_assert(!t.entries[3].decay);
    /* Model tensors first, estimator tensors after, each on a cache line. */
    ck_assert_uint_lt(t.entries[3].offset, t.entries[2].offset);
    ck_assert_uint_eq(t.group_begin[MIRD_GROUP_ESTIMATOR], t.entries[2].offset);
    for (int i = 0; i < t.count; i++)
        ck_assert_uint_eq(t.entries[i].offset % 16, 0);
    ck_assert_int_eq(mird_params_find(&t, "layer.bias"), 1);
    ck_assert_int_eq(mird_params_find(&t, "layer"), -1);
    float *ln = mird_param_value(&t, 3);
    for (int k = 0; k < 4; k++)
        ck_assert_float_eq(ln[k], 1.0f);
    float *w = mird_param_value(&t, 0);
    for (int k = 0; k < 12; k++)
        ck_assert(fabsf(w[k]) <= 0.5f && w[k] != 0.0f);
    mird_params_release(&t);
}
END_TEST

static void check_rule(mird_update_rule rule, mird_param_group group)
{
    mird_param_table t;
    make_table(&t);
    float *m = mird_alloc_zeroed(t.total * sizeof(float));
    float *v = mird_alloc_zeroed(t.total * sizeof(float));
    double *pr = mird_alloc(t.total * sizeof(double)), *mr = mird_alloc_zeroed(t.total * 8);
    double *vr = mird_alloc_zeroed(t.total * sizeof(double));
    for (size_t k = 0; k < t.total; k++)
        pr[k] = t.values[k];
    mird_adam_settings s = {rule, 0.01, 0.9, 0.999, rule == MIRD_RULE_ADAMW_HF ? 1e-6 : 1e-8,
                            0.1};
    for (long long step = 1; step <= 3; step++) {
        tu_fill_uniform(t.grads, t.total, -1, 1, 40 + (uint32_t)step);
        for (size_t k = 0; k < t.total; k++)
            t.grads[k] *= (float)step; /* varying magnitudes */
        mird_adam_update(&t, group, m, v, step, &s);
        double c1 = 1 - pow(0.9, step), c2 = 1 - pow(0.999, step);
        for (int i = 0; i < t.count; i++) {
            const mird_param_entry *e = &t.entries[i];
            if (e->group != group)
                continue;
            for (size_t k = e->offset; k < e->offset + e->numel; k++) {
                double g = t.grads[k];
                mr[k] = 0.9 * mr[k] + 0.1 * g;
                vr[k] = 0.999 * vr[k] + 0.001 * g * g;
                if (rule == MIRD_RULE_ADAMW_HF) {
                    pr[k] -= 0.01 * sqrt(c2) / c1 * mr[k] / (sqrt(vr[k]) + 1e-6);
                    if (e->decay)
                        pr[k] -= 0.01 * 0.1 * pr[k];
                } else {
                    pr[k] -= 0.01 / c1 * mr[k] / (sqrt(vr[k]) / sqrt(c2) + 1e-8);
                }
            }
        }
    }
    for (int i = 0; i < t.count; i++) {
        const mird_param_entry *e = &t.entries[i];
        for (size_t k = e->offset; k < e->offset + e->numel; k++) {
            if (e->group == group)
                ck_assert_msg(fabs(t.values[k] - pr[k]) < 2e-6, "%s[%zu]: %.8f vs %.8f", e->name,
                              k - e->offset, t.values[k], pr[k]);
            else
                ck_assert_msg(m[k] == 0.0f, "the other group was touched");
        }
    }
    mird_free(m), mird_free(v), mird_free(pr), mird_free(mr), mird_free(vr);
    mird_params_release(&t);
}

START_TEST(test_adamw_matches_reference)
{
    check_rule(MIRD_RULE_ADAMW_HF, MIRD_GROUP_MODEL);
}
END_TEST

START_TEST(test_adam_matches_reference)
{
    check_rule(MIRD_RULE_ADAM_TORCH, MIRD_GROUP_ESTIMATOR);
}
END_TEST

START_TEST(test_linear_schedule)
{
    /* 10 steps, 20% warm-up: 0, 0.5, then 1 decaying to 1/8 at step 9. */
    ck_assert_double_eq(mird_schedule_factor(1, 0.2, 10, 0), 0.0);
    ck_assert_double_eq(mird_schedule_factor(1, 0.2, 10, 1), 0.5);
    ck_assert_double_eq(mird_schedule_factor(1, 0.2, 10, 2), 1.0);
    ck_assert_double_eq(mird_schedule_factor(1, 0.2, 10, 9), 1.0 / 8);
    ck_assert_double_eq(mird_schedule_factor(1, 0.2, 10, 12), 0.0);
    ck_assert_double_eq(mird_schedule_factor(0, 0.2, 10, 0), 1.0);
    ck_assert_double_eq(mird_schedule_factor(1, 0.0, 4, 0), 1.0);
}
END_TEST

START_TEST(test_clipping)
{
    mird_param_table t;
    make_table(&t);
    for (size_t k = 0; k < t.total; k++)
        t.grads[k] = 0.0f;
    mird_param_grad(&t, 0)[0] = 3.0f;
    mird_param_grad(&t, 1)[2] = 4.0f;
    mird_param_grad(&t, 2)[0] = 100.0f; /* estimator: not part of the model norm */
    ck_assert_double_eq_tol(mird_grad_norm(&t, MIRD_GROUP_MODEL), 5.0, 1e-12);
    double before = mird_clip_grad_norm(&t, MIRD_GROUP_MODEL, 1.0);
    ck_assert_double_eq_tol(before, 5.0, 1e-12);
    ck_assert_double_eq_tol(mird_grad_norm(&t, MIRD_GROUP_MODEL), 1.0, 1e-6);
    ck_assert_float_eq(mird_param_grad(&t, 2)[0], 100.0f);
    /* Below the limit nothing changes. */
    mird_clip_grad_norm(&t, MIRD_GROUP_MODEL, 10.0);
    ck_assert_double_eq_tol(mird_grad_norm(&t, MIRD_GROUP_MODEL), 1.0, 1e-6);
    mird_params_release(&t);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("optimizer");
    TCase *tc = tcase_create("optimizer");
    tcase_add_test(tc, test_table_layout_and_flags);
    tcase_add_test(tc, test_adamw_matches_reference);
    tcase_add_test(tc, test_adam_matches_reference);
    tcase_add_test(tc, test_linear_schedule);
    tcase_add_test(tc, test_clipping);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
