/* The reconstruction decoders: the loss against a double-precision reference
 * written from MODEL.md 2.4 and the reference port (an explicit feedback loop
 * with W_ih and W_hh kept apart, the out Linear at every step, then
 * reconstruction_loss of mird_torch.py), for MSE and cross-entropy, with
 * mask_padding on and off, over garbage padding and a length-0 sample;
 * gradients of z^S, z^m and every parameter by finite differences; += into
 * the code gradients; the "not counted" case; names; misuse. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "model/decoder.h"
#include "support/modelutil.h"
#include "support/testutil.h"

enum { BATCH = 4, MAX_WIDTH = 16, MAX_STEPS = 10, MAX_OUT = 40 };

/* The upstream gradient the backward is given: as if the loss entered the
 * total with weight 3. */
static const double UPSTREAM = 3.0;

typedef struct decoder_case {
    mird_decoder m;
    mird_param_table table;
    mird_config cfg;
    mird_pass pass;
    mird_arena ws;
    mird_decoder_acts acts;
    mird_sequence_input target;
    float *features;
    int32_t *ids;
    int32_t lengths[BATCH];
    float *code_s, *code_m;
    double loss;
    int64_t counted;
} decoder_case;

/* MSE against audio features, or cross-entropy against token ids. */
typedef enum { VARIANT_MSE, VARIANT_TOKENS } variant;

static void setup(decoder_case *c, variant kind, int mask, const int32_t *lengths)
{
    memset(c, 0, sizeof *c);
    const char *mask_text = mask ? "1" : "0";
    c->cfg = kind == VARIANT_TOKENS
                 ? mu_config("tiny", "text_mode", "tokens", "mask_padding", mask_text, NULL)
                 : mu_config("tiny", "mask_padding", mask_text, NULL);
    memcpy(c->lengths, lengths, sizeof c->lengths);
    mird_params_init_table(&c->table);
    mird_decoder_register(&c->m, &c->table, &c->cfg,
                          kind == VARIANT_TOKENS ? MIRD_SEQUENCE_LANGUAGE : MIRD_SEQUENCE_AUDIO);
    mu_commit_params(&c->table, 9);
    c->pass = mu_pass(tu_context(), &c->table, &c->cfg, BATCH, 1);
    mird_arena_init_plan(&c->ws);
    TU_OK(c->pass.ctx, mird_decoder_plan(&c->m, c->pass.ctx, &c->ws, BATCH, &c->acts));
    mird_error err = {0};
    ck_assert_int_eq(mird_arena_commit(&c->ws, &err), MIRD_OK);
    TU_OK(c->pass.ctx, mird_decoder_plan(&c->m, c->pass.ctx, &c->ws, BATCH, &c->acts));

    int64_t T = c->m.steps, d = c->m.out_dim, z = c->m.latent;
    if (kind == VARIANT_TOKENS) {
        c->ids = mird_alloc((size_t)(BATCH * T) * sizeof *c->ids);
        float *draw = tu_alloc_uniform((size_t)(BATCH * T), 0, 1, 31);
        for (int64_t i = 0; i < BATCH * T; i++)
            c->ids[i] = (int32_t)(draw[i] * (float)d) % (int32_t)d;
        mird_free(draw);
    } else {
        /* Valid frames U(-1, 1); padding of magnitude 2..5, either sign. */
        c->features = tu_alloc_uniform((size_t)(BATCH * T * d), -1, 1, 32);
        for (int64_t b = 0; b < BATCH; b++)
            for (int64_t i = c->lengths[b] * d; i < T * d; i++) {
                float *x = &c->features[b * T * d + i];
                *x = *x < 0 ? -2.0f + 3.0f * *x : 2.0f + 3.0f * *x;
            }
    }
    c->target = (mird_sequence_input){c->features, c->ids, c->lengths};
    c->code_s = tu_alloc_uniform((size_t)(BATCH * z), -1, 1, 33);
    c->code_m = tu_alloc_uniform((size_t)(BATCH * z), -1, 1, 34);
}

static void teardown(decoder_case *c)
{
    mird_dnnl_destroy(c->pass.ctx);
    mird_arena_release(&c->ws);
    mird_params_release(&c->table);
    mird_free(c->features), mird_free(c->ids), mird_free(c->code_s), mird_free(c->code_m);
}

static void run_forward(decoder_case *c)
{
    TU_OK(c->pass.ctx, mird_decoder_forward(&c->m, &c->pass, c->code_s, c->code_m, &c->target,
                                            &c->acts, &c->loss, &c->counted));
}

static double scaled_loss(void *user)
{
    decoder_case *c = user;
    run_forward(c);
    return UPSTREAM * c->loss;
}

/* ------------------------------------------------------------ reference */

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* h_t of sample b for every step: x_0 = u, x_t = h_{t-1}, W_ih x + W_hh h. */
static void reference_states(const decoder_case *c, int64_t b, double h_all[][MAX_WIDTH])
{
    const mird_param_table *t = &c->table;
    const float *W_ih = mird_param_value(t, c->m.lstm.W_ih);
    const float *W_hh = mird_param_value(t, c->m.lstm.W_hh);
    const float *b_ih = mird_param_value(t, c->m.lstm.b_ih);
    const float *b_hh = mird_param_value(t, c->m.lstm.b_hh);
    int64_t z = c->m.latent, D = 2 * z;
    double x[MAX_WIDTH], h[MAX_WIDTH] = {0}, cell[MAX_WIDTH] = {0}, gates[4 * MAX_WIDTH];
    for (int64_t j = 0; j < z; j++) {
        x[j] = c->code_s[b * z + j];
        x[z + j] = c->code_m[b * z + j];
    }
    for (int64_t step = 0; step < c->m.steps; step++) {
        for (int64_t r = 0; r < 4 * D; r++) {
            double from_input = b_ih[r], from_state = b_hh[r];
            for (int64_t k = 0; k < D; k++) {
                from_input += (double)W_ih[r * D + k] * x[k];
                from_state += (double)W_hh[r * D + k] * h[k];
            }
            gates[r] = from_input + from_state;
        }
        for (int64_t j = 0; j < D; j++) {
            double i = sigmoid(gates[j]), f = sigmoid(gates[D + j]);
            double g = tanh(gates[2 * D + j]), o = sigmoid(gates[3 * D + j]);
            cell[j] = f * cell[j] + i * g;
            h[j] = o * tanh(cell[j]);
        }
        for (int64_t j = 0; j < D; j++)
            h_all[step][j] = x[j] = h[j];
    }
}

/* The per-step loss of sample b: MSE averaged over features, or the
 * cross-entropy of the step's logits. */
static void reference_per_step(const decoder_case *c, int64_t b, double *per_step)
{
    double h_all[MAX_STEPS][MAX_WIDTH], out[MAX_OUT];
    const float *W = mird_param_value(&c->table, c->m.out_weight);
    const float *bias = mird_param_value(&c->table, c->m.out_bias);
    int64_t T = c->m.steps, d = c->m.out_dim, D = 2 * c->m.latent;
    reference_states(c, b, h_all);
    for (int64_t step = 0; step < T; step++) {
        for (int64_t k = 0; k < d; k++) {
            out[k] = bias[k];
            for (int64_t j = 0; j < D; j++)
                out[k] += (double)W[k * D + j] * h_all[step][j];
        }
        double value = 0;
        if (c->m.tokens) {
            double largest = out[0], sum = 0;
            for (int64_t k = 1; k < d; k++)
                largest = fmax(largest, out[k]);
            for (int64_t k = 0; k < d; k++)
                sum += exp(out[k] - largest);
            value = largest + log(sum) - out[c->ids[b * T + step]];
        } else {
            for (int64_t k = 0; k < d; k++) {
                double diff = out[k] - c->features[(b * T + step) * d + k];
                value += diff * diff / (double)d;
            }
        }
        per_step[step] = value;
    }
}

/* reconstruction_loss of mird_torch.py; *counted = 0 where it gives None. */
static double reference_loss(const decoder_case *c, int64_t *counted)
{
    int64_t T = c->m.steps;
    int mask = mird_cfg_int(&c->cfg, MIRD_PARAM_MASK_PADDING) != 0;
    double total = 0;
    *counted = 0;
    for (int64_t b = 0; b < BATCH; b++) {
        double per_step[MAX_STEPS], sample = 0;
        reference_per_step(c, b, per_step);
        int64_t steps = mask ? c->lengths[b] : T;
        for (int64_t step = 0; step < steps; step++)
            sample += per_step[step];
        if (steps > 0) {
            total += sample / (double)steps;
            (*counted)++;
        }
    }
    return *counted ? total / (double)*counted : 0.0;
}

/* ---------------------------------------------------------------- tests */

static const int32_t mixed_audio[BATCH] = {8, 0, 5, 2};
static const int32_t mixed_text[BATCH] = {3, 6, 0, 1};

static void check_forward(variant kind, int mask, const int32_t *lengths)
{
    decoder_case c;
    setup(&c, kind, mask, lengths);
    run_forward(&c);
    int64_t counted;
    double expected = reference_loss(&c, &counted);
    ck_assert_int_eq(c.counted, counted);
    ck_assert_int_eq(c.acts.counted, counted);
    ck_assert_msg(fabs(c.loss - expected) <= 1e-5 * fabs(expected) + 1e-7,
                  "loss %.9g, expected %.9g (mask %d)", c.loss, expected, mask);
    teardown(&c);
}

START_TEST(test_mse_loss_matches_reference)
{
    check_forward(VARIANT_MSE, 1, mixed_audio);
    check_forward(VARIANT_MSE, 0, mixed_audio);
}
END_TEST

START_TEST(test_cross_entropy_loss_matches_reference)
{
    check_forward(VARIANT_TOKENS, 1, mixed_text);
    check_forward(VARIANT_TOKENS, 0, mixed_text);
}
END_TEST

/* Backward into zeroed code gradients, then finite differences of z^S, z^m
 * and every parameter (up to `max_elements` of each, evenly spread). */
static void check_gradients(variant kind, int mask, const int32_t *lengths, size_t max_elements)
{
    decoder_case c;
    setup(&c, kind, mask, lengths);
    int64_t n = BATCH * c.m.latent;
    float *d_code_s = tu_alloc_zeros((size_t)n), *d_code_m = tu_alloc_zeros((size_t)n);
    run_forward(&c);
    ck_assert_int_gt(c.counted, 0);
    TU_OK(c.pass.ctx, mird_decoder_backward(&c.m, &c.pass, &c.target, &c.acts, UPSTREAM,
                                            d_code_s, d_code_m));
    gc_options options = gc_default_options;
    options.max_elements = max_elements;
    gc_check("z^S", c.code_s, (size_t)n, d_code_s, scaled_loss, &c, NULL);
    gc_check("z^m", c.code_m, (size_t)n, d_code_m, scaled_loss, &c, NULL);
    mu_check_param_grads(&c.table, MIRD_GROUP_MODEL, scaled_loss, &c, &options);
    /* A sample that does not count gets exactly nothing. */
    for (int64_t b = 0; b < BATCH; b++)
        for (int64_t j = 0; mask && lengths[b] == 0 && j < c.m.latent; j++) {
            ck_assert_float_eq(d_code_s[b * c.m.latent + j], 0.0f);
            ck_assert_float_eq(d_code_m[b * c.m.latent + j], 0.0f);
        }
    mird_free(d_code_s), mird_free(d_code_m);
    teardown(&c);
}

/* Loop index: bit 0 masks padding, bit 1 selects cross-entropy.  The
 * masked MSE case checks every element; the others a spread of 256. */
START_TEST(test_gradients)
{
    int mask = _i & 1, tokens = _i >> 1;
    check_gradients(tokens ? VARIANT_TOKENS : VARIANT_MSE, mask,
                    tokens ? mixed_text : mixed_audio, mask && !tokens ? 0 : 256);
}
END_TEST

START_TEST(test_backward_accumulates_into_codes)
{
    decoder_case c;
    setup(&c, VARIANT_TOKENS, 1, mixed_text);
    size_t n = (size_t)(BATCH * c.m.latent);
    float *fresh_s = tu_alloc_zeros(n), *fresh_m = tu_alloc_zeros(n);
    float *d_code_s = tu_alloc_uniform(n, -1, 1, 41), *d_code_m = tu_alloc_uniform(n, -1, 1, 42);
    float *start_s = tu_copy(d_code_s, n), *start_m = tu_copy(d_code_m, n);
    run_forward(&c);
    TU_OK(c.pass.ctx, mird_decoder_backward(&c.m, &c.pass, &c.target, &c.acts, UPSTREAM,
                                            fresh_s, fresh_m));
    float *once = tu_copy(c.table.grads, c.table.total);
    TU_OK(c.pass.ctx, mird_decoder_backward(&c.m, &c.pass, &c.target, &c.acts, UPSTREAM,
                                            d_code_s, d_code_m));
    for (size_t i = 0; i < n; i++) {
        start_s[i] += fresh_s[i];
        start_m[i] += fresh_m[i];
    }
    tu_assert_close("dz^S +=", d_code_s, start_s, n, 1e-6, 1e-5);
    tu_assert_close("dz^m +=", d_code_m, start_m, n, 1e-6, 1e-5);
    for (size_t i = 0; i < c.table.total; i++)
        once[i] *= 2.0f;
    tu_assert_close("parameter gradients +=", c.table.grads, once, c.table.total, 1e-6, 1e-5);
    /* Without code gradients the parameters still receive theirs. */
    mird_params_zero_grads(&c.table, MIRD_GROUP_MODEL);
    TU_OK(c.pass.ctx,
          mird_decoder_backward(&c.m, &c.pass, &c.target, &c.acts, UPSTREAM, NULL, NULL));
    for (size_t i = 0; i < c.table.total; i++)
        once[i] *= 0.5f;
    tu_assert_close("gradients without codes", c.table.grads, once, c.table.total, 1e-6, 1e-5);
    mird_free(fresh_s), mird_free(fresh_m), mird_free(d_code_s), mird_free(d_code_m);
    mird_free(start_s), mird_free(start_m), mird_free(once);
    teardown(&c);
}
END_TEST

START_TEST(test_not_counted)
{
    decoder_case c;
    setup(&c, VARIANT_MSE, 1, (const int32_t[BATCH]){0, 0, 0, 0});
    size_t n = (size_t)(BATCH * c.m.latent);
    float *d_code_s = tu_alloc_uniform(n, -1, 1, 43), *start = tu_copy(d_code_s, n);
    c.loss = 99;
    run_forward(&c);
    ck_assert_int_eq(c.counted, 0);
    ck_assert(c.loss == 0.0);
    TU_OK(c.pass.ctx, mird_decoder_backward(&c.m, &c.pass, &c.target, &c.acts, UPSTREAM,
                                            d_code_s, NULL));
    tu_assert_close("untouched dz^S", d_code_s, start, n, 0, 0);
    for (size_t i = 0; i < c.table.total; i++)
        ck_assert_float_eq(c.table.grads[i], 0.0f);
    mird_free(d_code_s), mird_free(start);
    teardown(&c);
}
END_TEST

START_TEST(test_inference_pass_keeps_no_cache)
{
    decoder_case c;
    setup(&c, VARIANT_MSE, 1, mixed_audio);
    run_forward(&c);
    double trained = c.loss;
    c.pass.training = 0;
    run_forward(&c);
    ck_assert_msg(fabs(c.loss - trained) <= 1e-6 * fabs(trained), "%g vs %g", c.loss, trained);
    ck_assert_int_eq(mird_decoder_backward(&c.m, &c.pass, &c.target, &c.acts, 1.0, NULL, NULL),
                     MIRD_ERR_STATE);
    teardown(&c);
}
END_TEST

START_TEST(test_names_shapes_and_initialisation)
{
    decoder_case c;
    setup(&c, VARIANT_TOKENS, 1, mixed_text);
    static const char *const names[] = {
        "decoder.language.lstm.weight_ih_l0", "decoder.language.lstm.weight_hh_l0",
        "decoder.language.lstm.bias_ih_l0",   "decoder.language.lstm.bias_hh_l0",
        "decoder.language.out.weight",        "decoder.language.out.bias"};
    static const int64_t rows[] = {64, 64, 64, 64, 40, 40};
    static const int64_t cols[] = {16, 16, 0, 0, 16, 0};
    ck_assert_int_eq(c.table.count, 6);
    for (int i = 0; i < 6; i++) {
        int index = mird_params_find(&c.table, names[i]);
        ck_assert_msg(index >= 0, "%s is missing", names[i]);
        const mird_param_entry *e = &c.table.entries[index];
        ck_assert_int_eq(e->ndim, cols[i] ? 2 : 1);
        ck_assert_int_eq(e->dims[0], rows[i]);
        if (cols[i])
            ck_assert_int_eq(e->dims[1], cols[i]);
        ck_assert_int_eq(e->init, MIRD_INIT_UNIFORM);
        ck_assert_float_eq_tol(e->init_scale, 0.25f, 1e-7);
    }
    teardown(&c);
    setup(&c, VARIANT_MSE, 1, mixed_audio);
    ck_assert_int_ge(mird_params_find(&c.table, "decoder.audio.out.weight"), 0);
    ck_assert_int_eq(c.m.out_dim, 4);
    ck_assert_int_eq(c.m.steps, 8);
    teardown(&c);
}
END_TEST

START_TEST(test_bad_inputs)
{
    decoder_case c;
    setup(&c, VARIANT_MSE, 1, mixed_audio);
    c.lengths[3] = 9;
    ck_assert_int_eq(mird_decoder_forward(&c.m, &c.pass, c.code_s, c.code_m, &c.target,
                                          &c.acts, &c.loss, NULL),
                     MIRD_ERR_SHAPE);
    c.lengths[3] = 2;
    ck_assert_int_eq(mird_decoder_forward(&c.m, &c.pass, c.code_s, NULL, &c.target, &c.acts,
                                          &c.loss, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    c.target.features = NULL;
    ck_assert_int_eq(mird_decoder_forward(&c.m, &c.pass, c.code_s, c.code_m, &c.target,
                                          &c.acts, &c.loss, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    teardown(&c);
    setup(&c, VARIANT_TOKENS, 0, mixed_text);
    c.ids[BATCH * c.m.steps - 1] = -1; /* a padded position, read without the mask */
    ck_assert_int_eq(mird_decoder_forward(&c.m, &c.pass, c.code_s, c.code_m, &c.target,
                                          &c.acts, &c.loss, NULL),
                     MIRD_ERR_INVALID_ARGUMENT);
    teardown(&c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("decoder");
    TCase *tc = tcase_create("decoder");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_mse_loss_matches_reference);
    tcase_add_test(tc, test_cross_entropy_loss_matches_reference);
    tcase_add_loop_test(tc, test_gradients, 0, 4);
    tcase_add_test(tc, test_backward_accumulates_into_codes);
    tcase_add_test(tc, test_not_counted);
    tcase_add_test(tc, test_inference_pass_keeps_no_cache);
    tcase_add_test(tc, test_names_shapes_and_initialisation);
    tcase_add_test(tc, test_bad_inputs);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
