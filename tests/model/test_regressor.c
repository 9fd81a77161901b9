/* The regressor module: forward against a hand-written reference, gradients
 * of every parameter and of the input by finite differences, with dropout
 * live (masks are fixed by the pass id, so the loss is a smooth function). */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "model/regressor.h"
#include "support/modelutil.h"
#include "support/testutil.h"

typedef struct regressor_case {
    mird_regressor m;
    mird_param_table table;
    mird_config cfg;
    mird_pass pass;
    mird_arena ws;
    mird_regressor_acts acts;
    float *x, *pred, *w;
    int64_t batch;
} regressor_case;

static double regressor_loss(void *user)
{
    regressor_case *c = user;
    TU_OK(c->pass.ctx, mird_regressor_forward(&c->m, &c->pass, c->x, &c->acts, c->pred));
    return gc_weighted_sum(c->pred, c->w, (size_t)c->batch);
}

static void setup(regressor_case *c, const char *dropout)
{
    c->cfg = mu_config("tiny", "dropout_reg", dropout, NULL);
    c->batch = 5;
    mird_params_init_table(&c->table);
    mird_regressor_register(&c->m, &c->table, 32, 8);
    mu_commit_params(&c->table, 3);
    c->pass = mu_pass(tu_context(), &c->table, &c->cfg, c->batch, 1);
    mird_arena_init_plan(&c->ws);
    mird_regressor_plan(&c->m, &c->ws, c->batch, &c->acts);
    mird_error err = {0};
    ck_assert_int_eq(mird_arena_commit(&c->ws, &err), MIRD_OK);
    mird_regressor_plan(&c->m, &c->ws, c->batch, &c->acts);
    c->x = tu_alloc_uniform(c->batch * 32, -1, 1, 11);
    c->pred = tu_alloc_zeros(c->batch);
    c->w = tu_alloc_uniform(c->batch, -1, 1, 12);
}

static void teardown(regressor_case *c)
{
    mird_dnnl_destroy(c->pass.ctx);
    mird_arena_release(&c->ws);
    mird_params_release(&c->table);
    mird_free(c->x), mird_free(c->pred), mird_free(c->w);
}

START_TEST(test_forward_matches_reference)
{
    regressor_case c;
    setup(&c, "0");
    TU_OK(c.pass.ctx, mird_regressor_forward(&c.m, &c.pass, c.x, &c.acts, c.pred));
    const float *W1 = mird_param_value(&c.table, c.m.fc1_weight);
    const float *b1 = mird_param_value(&c.table, c.m.fc1_bias);
    const float *W2 = mird_param_value(&c.table, c.m.fc2_weight);
    const float *b2 = mird_param_value(&c.table, c.m.fc2_bias);
    for (int64_t s = 0; s < c.batch; s++) {
        double y = b2[0];
        for (int j = 0; j < 8; j++) {
            double h = b1[j];
            for (int i = 0; i < 32; i++)
                h += (double)W1[j * 32 + i] * c.x[s * 32 + i];
            y += W2[j] * (h > 0 ? h : 0);
        }
        ck_assert_msg(fabs(y - c.pred[s]) < 1e-5, "pred[%lld] %g vs %g", (long long)s, c.pred[s],
                      y);
    }
    teardown(&c);
}
END_TEST

START_TEST(test_gradients_with_dropout)
{
    regressor_case c;
    setup(&c, "0.5");
    regressor_loss(&c);
    /* Dropout really dropped something, and the same pass id repeats the mask. */
    int zeros = 0;
    for (int64_t i = 0; i < c.batch * 8; i++)
        zeros += c.acts.mask[i] == 0.0f;
    ck_assert_int_gt(zeros, 0);
    float *dx = tu_alloc_zeros(c.batch * 32);
    TU_OK(c.pass.ctx, mird_regressor_backward(&c.m, &c.pass, c.x, &c.acts, c.w, dx));
    gc_check("regressor x", c.x, c.batch * 32, dx, regressor_loss, &c, NULL);
    mu_check_param_grads(&c.table, MIRD_GROUP_MODEL, regressor_loss, &c, NULL);
    mird_free(dx);
    teardown(&c);
}
END_TEST

START_TEST(test_inference_has_no_dropout)
{
    regressor_case c;
    setup(&c, "0.5");
    c.pass.training = 0;
    TU_OK(c.pass.ctx, mird_regressor_forward(&c.m, &c.pass, c.x, &c.acts, c.pred));
    float first = c.pred[0];
    c.pass.pass_id++;
    TU_OK(c.pass.ctx, mird_regressor_forward(&c.m, &c.pass, c.x, &c.acts, c.pred));
    ck_assert_float_eq(first, c.pred[0]);
    for (int64_t i = 0; i < c.batch * 8; i++)
        ck_assert_float_eq(c.acts.mask[i], 1.0f);
    teardown(&c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("regressor");
    TCase *tc = tcase_create("regressor");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_forward_matches_reference);
    tcase_add_test(tc, test_gradients_with_dropout);
    tcase_add_test(tc, test_inference_has_no_dropout);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
