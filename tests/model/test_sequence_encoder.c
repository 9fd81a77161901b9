/* The recurrent encoders: forward against PyTorch's LSTM stepped in double
 * precision over each sample's valid frames only (so garbage in the padding
 * or in a length-0 sample must not leak in), then the projection; every
 * parameter's gradient by finite differences, for features (audio) and
 * embedded tokens (language); the inference path; += into the table; names
 * and initialisation; misuse. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "model/sequence_encoder.h"
#include "support/modelutil.h"
#include "support/testutil.h"

enum { BATCH = 4 };

typedef struct encoder_case {
    mird_sequence_encoder m;
    mird_param_table table;
    mird_config cfg;
    mird_pass pass;
    mird_arena ws;
    mird_sequence_encoder_acts acts;
    mird_sequence_input input;
    float *features;
    int32_t *ids;
    int32_t lengths[BATCH];
    float *code, *weights; /* weights: the test loss sum_i w_i code_i */
} encoder_case;

/* Valid frames U(-1, 1); padding of magnitude 2..5 with random signs. */
static float *alloc_frames(int64_t steps, int64_t width, const int32_t *lengths, uint32_t stream)
{
    size_t n = (size_t)(BATCH * steps * width);
    float *x = tu_alloc_uniform(n, -1, 1, stream);
    float *garbage = tu_alloc_uniform(n, 2, 5, stream + 1);
    float *sign = tu_alloc_uniform(n, -1, 1, stream + 2);
    for (int64_t b = 0; b < BATCH; b++)
        for (int64_t t = lengths[b]; t < steps; t++)
            for (int64_t k = 0; k < width; k++) {
                size_t i = (size_t)((b * steps + t) * width + k);
                x[i] = sign[i] < 0 ? -garbage[i] : garbage[i];
            }
    mird_free(garbage), mird_free(sign);
    return x;
}

static void setup(encoder_case *c, mird_sequence_kind kind, int tokens, const int32_t *lengths)
{
    memset(c, 0, sizeof *c);
    c->cfg = tokens ? mu_config("tiny", "text_mode", "tokens", "language_encoder", "lstm", NULL)
                    : mu_config("tiny", "language_encoder", "lstm", NULL);
    memcpy(c->lengths, lengths, sizeof c->lengths);
    mird_params_init_table(&c->table);
    mird_sequence_encoder_register(&c->m, &c->table, &c->cfg, kind);
    mu_commit_params(&c->table, 5);
    c->pass = mu_pass(tu_context(), &c->table, &c->cfg, BATCH, 1);
    mird_arena_init_plan(&c->ws);
    TU_OK(c->pass.ctx, mird_sequence_encoder_plan(&c->m, c->pass.ctx, &c->ws, BATCH, 1, &c->acts));
    mird_error err = {0};
    ck_assert_int_eq(mird_arena_commit(&c->ws, &err), MIRD_OK);
    TU_OK(c->pass.ctx, mird_sequence_encoder_plan(&c->m, c->pass.ctx, &c->ws, BATCH, 1, &c->acts));
    int64_t T = c->m.steps;
    if (tokens) {
        /* Every position, padding included, holds a real id. */
        c->ids = mird_alloc((size_t)(BATCH * T) * sizeof *c->ids);
        float *draw = tu_alloc_uniform((size_t)(BATCH * T), 0, 1, 21);
        for (int64_t i = 0; i < BATCH * T; i++)
            c->ids[i] = (int32_t)(draw[i] * (float)c->m.vocab) % (int32_t)c->m.vocab;
        mird_free(draw);
    } else {
        c->features = alloc_frames(T, c->m.in, c->lengths, 22);
    }
    c->input = (mird_sequence_input){c->features, c->ids, c->lengths};
    c->code = tu_alloc_zeros((size_t)(BATCH * c->m.latent));
    c->weights = tu_alloc_uniform((size_t)(BATCH * c->m.latent), -1, 1, 25);
}

static void teardown(encoder_case *c)
{
    mird_dnnl_destroy(c->pass.ctx);
    mird_arena_release(&c->ws);
    mird_params_release(&c->table);
    mird_free(c->features), mird_free(c->ids), mird_free(c->code), mird_free(c->weights);
}

static double encoder_loss(void *user)
{
    encoder_case *c = user;
    TU_OK(c->pass.ctx,
          mird_sequence_encoder_forward(&c->m, &c->pass, &c->input, &c->acts, c->code));
    return gc_weighted_sum(c->code, c->weights, (size_t)(BATCH * c->m.latent));
}

/* ------------------------------------------------------------ reference */

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

static double dot(const float *row, const double *v, int64_t n)
{
    double sum = 0;
    for (int64_t k = 0; k < n; k++)
        sum += row[k] * v[k];
    return sum;
}

/* The code of sample b: PyTorch's LSTM over frames 0..n-1 only (h = 0 for
 * n = 0), then proj, all in double. */
static void reference_code(const encoder_case *c, int64_t b, double *code)
{
    const mird_param_table *t = &c->table;
    const float *W_ih = mird_param_value(t, c->m.lstm.W_ih);
    const float *W_hh = mird_param_value(t, c->m.lstm.W_hh);
    const float *b_ih = mird_param_value(t, c->m.lstm.b_ih);
    const float *b_hh = mird_param_value(t, c->m.lstm.b_hh);
    const float *table = c->m.embedding >= 0 ? mird_param_value(t, c->m.embedding) : NULL;
    int64_t H = c->m.latent, in = c->m.in, T = c->m.steps;
    double h[16] = {0}, cell[16] = {0}, x[16], gates[64];
    ck_assert_int_le(H, 16);
    ck_assert_int_le(in, 16);
    for (int64_t step = 0; step < c->lengths[b]; step++) {
        const float *frame = table ? table + (int64_t)c->ids[b * T + step] * in
                                   : c->features + (b * T + step) * in;
        for (int64_t k = 0; k < in; k++)
            x[k] = frame[k];
        for (int64_t r = 0; r < 4 * H; r++)
            gates[r] = dot(W_ih + r * in, x, in) + b_ih[r] + dot(W_hh + r * H, h, H) + b_hh[r];
        for (int64_t j = 0; j < H; j++) {
            cell[j] = sigmoid(gates[H + j]) * cell[j] + sigmoid(gates[j]) * tanh(gates[2 * H + j]);
            h[j] = sigmoid(gates[3 * H + j]) * tanh(cell[j]);
        }
    }
    const float *P = mird_param_value(t, c->m.proj_weight);
    const float *p = mird_param_value(t, c->m.proj_bias);
    for (int64_t i = 0; i < H; i++)
        code[i] = p[i] + dot(P + i * H, h, H);
}

static void check_against_reference(encoder_case *c)
{
    for (int64_t b = 0; b < BATCH; b++) {
        double expected[16];
        reference_code(c, b, expected);
        for (int64_t i = 0; i < c->m.latent; i++) {
            float got = c->code[b * c->m.latent + i];
            ck_assert_msg(fabs(got - expected[i]) < 2e-5, "code[%lld][%lld] = %.7g, expected %.7g",
                          (long long)b, (long long)i, got, expected[i]);
        }
    }
}

/* ---------------------------------------------------------------- tests */

/* A full sample, padded ones, and a missing modality. */
static const int32_t mixed_lengths[BATCH] = {8, 5, 0, 3};
static const int32_t mixed_text_lengths[BATCH] = {6, 2, 0, 4};

START_TEST(test_forward_matches_reference_over_garbage_padding)
{
    encoder_case c;
    setup(&c, MIRD_SEQUENCE_AUDIO, 0, mixed_lengths);
    encoder_loss(&c);
    check_against_reference(&c);
    /* The length-0 sample's code is the projection's bias. */
    const float *bias = mird_param_value(&c.table, c.m.proj_bias);
    for (int64_t i = 0; i < c.m.latent; i++)
        ck_assert_float_eq(c.code[2 * c.m.latent + i], bias[i]);
    teardown(&c);
}
END_TEST

START_TEST(test_token_forward_matches_reference)
{
    encoder_case c;
    setup(&c, MIRD_SEQUENCE_LANGUAGE, 1, mixed_text_lengths);
    encoder_loss(&c);
    check_against_reference(&c);
    teardown(&c);
}
END_TEST

/* A training forward, then the backward of the test loss into the table. */
static void forward_backward(encoder_case *c)
{
    encoder_loss(c);
    TU_OK(c->pass.ctx,
          mird_sequence_encoder_backward(&c->m, &c->pass, &c->input, &c->acts, c->weights));
}

START_TEST(test_feature_gradients)
{
    encoder_case c;
    setup(&c, MIRD_SEQUENCE_VISUAL, 0, (const int32_t[BATCH]){10, 0, 7, 1});
    forward_backward(&c);
    mu_check_param_grads(&c.table, MIRD_GROUP_MODEL, encoder_loss, &c, NULL);
    teardown(&c);
}
END_TEST

START_TEST(test_token_gradients)
{
    encoder_case c;
    setup(&c, MIRD_SEQUENCE_LANGUAGE, 1, mixed_text_lengths);
    forward_backward(&c);
    mu_check_param_grads(&c.table, MIRD_GROUP_MODEL, encoder_loss, &c, NULL);
    /* Rows of ids that occur only in padding (or nowhere) get nothing. */
    const float *dtable = mird_param_grad(&c.table, c.m.embedding);
    for (int64_t v = 0; v < c.m.vocab; v++) {
        int used = 0;
        for (int64_t b = 0; b < BATCH; b++)
            for (int64_t t = 0; t < c.lengths[b]; t++)
                used |= c.ids[b * c.m.steps + t] == v;
        for (int64_t k = 0; !used && k < c.m.in; k++)
            ck_assert_float_eq(dtable[v * c.m.in + k], 0.0f);
    }
    teardown(&c);
}
END_TEST

START_TEST(test_backward_accumulates)
{
    encoder_case c;
    setup(&c, MIRD_SEQUENCE_LANGUAGE, 1, mixed_text_lengths);
    forward_backward(&c);
    float *once = tu_copy(c.table.grads, c.table.total);
    TU_OK(c.pass.ctx,
          mird_sequence_encoder_backward(&c.m, &c.pass, &c.input, &c.acts, c.weights));
    for (size_t i = 0; i < c.table.total; i++)
        once[i] *= 2.0f;
    tu_assert_close("twice the gradients", c.table.grads, once, c.table.total, 1e-6, 1e-5);
    mird_free(once);
    teardown(&c);
}
END_TEST

START_TEST(test_inference_plan_and_pass)
{
    encoder_case c;
    setup(&c, MIRD_SEQUENCE_AUDIO, 0, mixed_lengths);
    encoder_loss(&c);
    float *trained = tu_copy(c.code, (size_t)(BATCH * c.m.latent));

    mird_arena ws;
    mird_sequence_encoder_acts acts;
    mird_arena_init_plan(&ws);
    TU_OK(c.pass.ctx, mird_sequence_encoder_plan(&c.m, c.pass.ctx, &ws, BATCH, 0, &acts));
    size_t inference_bytes = ws.used;
    ck_assert_uint_lt(inference_bytes, c.ws.used);
    mird_error err = {0};
    ck_assert_int_eq(mird_arena_commit(&ws, &err), MIRD_OK);
    TU_OK(c.pass.ctx, mird_sequence_encoder_plan(&c.m, c.pass.ctx, &ws, BATCH, 0, &acts));
    ck_assert_ptr_null(acts.workspace);
    ck_assert_ptr_null(acts.d_h_all);

    mird_pass inference = c.pass;
    inference.training = 0;
    memset(c.code, 0, (size_t)(BATCH * c.m.latent) * sizeof(float));
    TU_OK(c.pass.ctx, mird_sequence_encoder_forward(&c.m, &inference, &c.input, &acts, c.code));
    tu_assert_close("inference code", c.code, trained, (size_t)(BATCH * c.m.latent), 1e-6, 1e-5);
    check_against_reference(&c);

    /* A training pass needs a training plan; a backward needs a training forward. */
    ck_assert_int_eq(mird_sequence_encoder_forward(&c.m, &c.pass, &c.input, &acts, c.code),
                     MIRD_ERR_STATE);
    ck_assert_int_eq(mird_sequence_encoder_backward(&c.m, &inference, &c.input, &acts, c.weights),
                     MIRD_ERR_STATE);
    TU_OK(c.pass.ctx, mird_sequence_encoder_forward(&c.m, &inference, &c.input, &c.acts, c.code));
    ck_assert_int_eq(
        mird_sequence_encoder_backward(&c.m, &c.pass, &c.input, &c.acts, c.weights),
        MIRD_ERR_STATE);
    mird_free(trained);
    mird_arena_release(&ws);
    teardown(&c);
}
END_TEST

START_TEST(test_names_shapes_and_initialisation)
{
    encoder_case c;
    setup(&c, MIRD_SEQUENCE_LANGUAGE, 1, mixed_text_lengths);
    static const char *const names[] = {
        "language.embedding.weight", "language.lstm.weight_ih_l0", "language.lstm.weight_hh_l0",
        "language.lstm.bias_ih_l0",  "language.lstm.bias_hh_l0",   "language.proj.weight",
        "language.proj.bias"};
    static const int64_t rows[] = {40, 32, 32, 32, 32, 8, 8};
    static const int64_t cols[] = {8, 8, 8, 0, 0, 8, 0};
    static const float bound[] = {0, 0.35355339f, 0.35355339f, 0.35355339f, 0.35355339f,
                                  0.35355339f, 0.35355339f};
    ck_assert_int_eq(c.table.count, 7);
    for (int i = 0; i < 7; i++) {
        int index = mird_params_find(&c.table, names[i]);
        ck_assert_msg(index >= 0, "%s is missing", names[i]);
        const mird_param_entry *e = &c.table.entries[index];
        ck_assert_int_eq(e->dims[0], rows[i]);
        ck_assert_int_eq(e->ndim, cols[i] ? 2 : 1);
        if (cols[i])
            ck_assert_int_eq(e->dims[1], cols[i]);
        if (i == 0) {
            ck_assert_int_eq(e->init, MIRD_INIT_NORMAL);
            ck_assert_float_eq(e->init_scale, 1.0f);
        } else {
            ck_assert_int_eq(e->init, MIRD_INIT_UNIFORM);
            ck_assert_float_eq_tol(e->init_scale, bound[i], 1e-7);
        }
    }
    teardown(&c);

    setup(&c, MIRD_SEQUENCE_AUDIO, 0, mixed_lengths);
    ck_assert_int_eq(c.table.count, 6);
    ck_assert_int_ge(mird_params_find(&c.table, "audio.lstm.weight_ih_l0"), 0);
    ck_assert_int_eq(c.table.entries[c.m.lstm.W_ih].dims[1], 4);
    ck_assert_int_ge(mird_params_find(&c.table, "audio.proj.bias"), 0);
    teardown(&c);
}
END_TEST

START_TEST(test_bad_inputs)
{
    encoder_case c;
    setup(&c, MIRD_SEQUENCE_AUDIO, 0, mixed_lengths);
    c.lengths[1] = 9;
    ck_assert_int_eq(mird_sequence_encoder_forward(&c.m, &c.pass, &c.input, &c.acts, c.code),
                     MIRD_ERR_SHAPE);
    c.lengths[1] = -1;
    ck_assert_int_eq(mird_sequence_encoder_forward(&c.m, &c.pass, &c.input, &c.acts, c.code),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_dnnl_error(c.pass.ctx)->message, "lengths[1]"));
    c.lengths[1] = 5;
    c.input.features = NULL;
    ck_assert_int_eq(mird_sequence_encoder_forward(&c.m, &c.pass, &c.input, &c.acts, c.code),
                     MIRD_ERR_NULL_ARGUMENT);
    teardown(&c);

    setup(&c, MIRD_SEQUENCE_LANGUAGE, 1, mixed_text_lengths);
    c.ids[3] = 40;
    ck_assert_int_eq(mird_sequence_encoder_forward(&c.m, &c.pass, &c.input, &c.acts, c.code),
                     MIRD_ERR_INVALID_ARGUMENT);
    teardown(&c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("sequence_encoder");
    TCase *tc = tcase_create("sequence_encoder");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_forward_matches_reference_over_garbage_padding);
    tcase_add_test(tc, test_token_forward_matches_reference);
    tcase_add_test(tc, test_feature_gradients);
    tcase_add_test(tc, test_token_gradients);
    tcase_add_test(tc, test_backward_accumulates);
    tcase_add_test(tc, test_inference_plan_and_pass);
    tcase_add_test(tc, test_names_shapes_and_initialisation);
    tcase_add_test(tc, test_bad_inputs);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
