/* LSTM encoder and decoder forms and the last-valid-step gather: forward
 * against PyTorch's equations stepped in double precision, backward against
 * finite differences on a batch with a padded and an empty sample, the +=
 * and NULL-gradient contract, bad sizes and lengths, the primitive cache and
 * thread-count independence. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/threads.h"
#include "ops/lstm.h"
#include "support/gradcheck.h"
#include "support/testutil.h"

/* ------------------------------------------------------------ reference */

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* One PyTorch LSTM step for one sample: h, c [H] are updated in place. */
static void ref_step(const double *x, double *h, double *c, const float *W_ih,
                     const float *W_hh, const float *b_ih, const float *b_hh, int64_t in,
                     int64_t H)
{
    double gates[4 * 64];
    ck_assert_int_le(H, 64);
    for (int64_t r = 0; r < 4 * H; r++) {
        double acc = (double)b_ih[r] + b_hh[r];
        for (int64_t k = 0; k < in; k++)
            acc += (double)W_ih[r * in + k] * x[k];
        for (int64_t k = 0; k < H; k++)
            acc += (double)W_hh[r * H + k] * h[k];
        gates[r] = acc;
    }
    for (int64_t j = 0; j < H; j++) {
        double i = sigmoid(gates[j]), f = sigmoid(gates[H + j]);
        double g = tanh(gates[2 * H + j]), o = sigmoid(gates[3 * H + j]);
        c[j] = f * c[j] + i * g;
        h[j] = o * tanh(c[j]);
    }
}

static void ref_encoder(const float *x, const float *W_ih, const float *W_hh, const float *b_ih,
                        const float *b_hh, float *h_all, int64_t B, int64_t T, int64_t in,
                        int64_t H)
{
    for (int64_t b = 0; b < B; b++) {
        double h[64] = {0}, c[64] = {0}, xt[128];
        for (int64_t t = 0; t < T; t++) {
            for (int64_t k = 0; k < in; k++)
                xt[k] = x[(b * T + t) * in + k];
            ref_step(xt, h, c, W_ih, W_hh, b_ih, b_hh, in, H);
            for (int64_t j = 0; j < H; j++)
                h_all[(b * T + t) * H + j] = (float)h[j];
        }
    }
}

/* Literally x_0 = u, x_t = h_{t-1}, with W_ih and W_hh kept apart. */
static void ref_decoder(const float *u, const float *W_ih, const float *W_hh, const float *b_ih,
                        const float *b_hh, float *h_all, int64_t B, int64_t T, int64_t D)
{
    for (int64_t b = 0; b < B; b++) {
        double h[64] = {0}, c[64] = {0}, xt[64];
        for (int64_t k = 0; k < D; k++)
            xt[k] = u[b * D + k];
        for (int64_t t = 0; t < T; t++) {
            ref_step(xt, h, c, W_ih, W_hh, b_ih, b_hh, D, D);
            for (int64_t j = 0; j < D; j++) {
                h_all[(b * T + t) * D + j] = (float)h[j];
                xt[j] = h[j];
            }
        }
    }
}

/* ------------------------------------------------------------- fixtures */

typedef struct lstm_case {
    mird_dnnl *ctx;
    int decoder;
    mird_lstm_shape shape; /* decoder: in == hidden == D */
    float *x;              /* encoder [B, T, in]; decoder u [B, D] */
    float *W_ih, *W_hh, *b_ih, *b_hh;
    int32_t *lengths;      /* encoder: loss over the last valid steps */
    float *h_all, *out, *weights; /* weights: the loss's, shaped like the loss input */
    void *workspace;
} lstm_case;

static size_t x_count(const lstm_case *c)
{
    mird_lstm_shape s = c->shape;
    return (size_t)(c->decoder ? s.batch * s.in : s.batch * s.steps * s.in);
}

static size_t h_count(const lstm_case *c)
{
    return (size_t)(c->shape.batch * c->shape.steps * c->shape.hidden);
}

/* What the loss reads: the gathered last states, or every state. */
static size_t loss_count(const lstm_case *c)
{
    return c->lengths ? (size_t)(c->shape.batch * c->shape.hidden) : h_count(c);
}

static mird_lstm_weights case_weights(const lstm_case *c)
{
    mird_lstm_weights w = {c->W_ih, c->W_hh, c->b_ih, c->b_hh};
    return w;
}

static void case_init(lstm_case *c, int decoder, int64_t B, int64_t T, int64_t in, int64_t H,
                      const int32_t *lengths)
{
    memset(c, 0, sizeof *c);
    c->ctx = tu_context();
    c->decoder = decoder;
    c->shape = (mird_lstm_shape){B, T, in, H};
    c->x = tu_alloc_uniform(x_count(c), -1, 1, 11);
    c->W_ih = tu_alloc_uniform((size_t)(4 * H * in), -0.6f, 0.6f, 12);
    c->W_hh = tu_alloc_uniform((size_t)(4 * H * H), -0.6f, 0.6f, 13);
    c->b_ih = tu_alloc_uniform((size_t)(4 * H), -0.5f, 0.5f, 14);
    c->b_hh = tu_alloc_uniform((size_t)(4 * H), -0.5f, 0.5f, 15);
    if (lengths) {
        c->lengths = mird_alloc((size_t)B * sizeof *c->lengths);
        memcpy(c->lengths, lengths, (size_t)B * sizeof *c->lengths);
    }
    c->h_all = tu_alloc_zeros(h_count(c) + 1);
    c->out = tu_alloc_zeros(loss_count(c) + 1);
    c->weights = tu_alloc_uniform(loss_count(c) + 1, -1, 1, 16);
    size_t bytes = 0;
    if (decoder)
        TU_OK(c->ctx, mird_lstm_decoder_workspace_bytes(c->ctx, B, T, H, &bytes));
    else
        TU_OK(c->ctx, mird_lstm_workspace_bytes(c->ctx, c->shape, &bytes));
    c->workspace = mird_alloc(bytes + 64);
    ck_assert_ptr_nonnull(c->workspace);
}

static void case_free(lstm_case *c)
{
    mird_free(c->x), mird_free(c->W_ih), mird_free(c->W_hh), mird_free(c->b_ih);
    mird_free(c->b_hh), mird_free(c->lengths), mird_free(c->h_all), mird_free(c->out);
    mird_free(c->weights), mird_free(c->workspace);
    mird_dnnl_destroy(c->ctx);
}

static void case_forward(lstm_case *c, void *workspace)
{
    mird_lstm_weights w = case_weights(c);
    mird_lstm_shape s = c->shape;
    if (c->decoder)
        TU_OK(c->ctx, mird_lstm_decoder_forward(c->ctx, s.batch, s.steps, s.hidden, c->x, &w,
                                                c->h_all, workspace));
    else
        TU_OK(c->ctx, mird_lstm_forward(c->ctx, s, c->x, &w, c->h_all, workspace));
    if (c->lengths)
        TU_OK(c->ctx, mird_lstm_last_valid_forward(c->ctx, c->h_all, c->lengths, c->out,
                                                   s.batch, s.steps, s.hidden));
}

static double case_loss(void *user)
{
    lstm_case *c = user;
    case_forward(c, c->workspace);
    return gc_weighted_sum(c->lengths ? c->out : c->h_all, c->weights, loss_count(c));
}

typedef struct lstm_gradients {
    float *x, *W_ih, *W_hh, *b_ih, *b_hh;
} lstm_gradients;

static lstm_gradients gradients_alloc(const lstm_case *c)
{
    int64_t H = c->shape.hidden;
    lstm_gradients g = {tu_alloc_zeros(x_count(c)), tu_alloc_zeros((size_t)(4 * H * c->shape.in)),
                        tu_alloc_zeros((size_t)(4 * H * H)), tu_alloc_zeros((size_t)(4 * H)),
                        tu_alloc_zeros((size_t)(4 * H))};
    return g;
}

static void gradients_free(lstm_gradients *g)
{
    mird_free(g->x), mird_free(g->W_ih), mird_free(g->W_hh), mird_free(g->b_ih);
    mird_free(g->b_hh);
}

/* Forward in training mode, then the backward of the weighted-sum loss. */
static void case_backward(lstm_case *c, const lstm_gradients *g)
{
    case_forward(c, c->workspace);
    mird_lstm_weights w = case_weights(c);
    mird_lstm_grads grads = {g->W_ih, g->W_hh, g->b_ih, g->b_hh};
    mird_lstm_shape s = c->shape;
    float *dh_all = c->weights;
    float *gathered = NULL;
    if (c->lengths) {
        gathered = tu_alloc_zeros(h_count(c) + 1);
        TU_OK(c->ctx, mird_lstm_last_valid_backward(c->ctx, c->lengths, c->weights, gathered,
                                                    s.batch, s.steps, s.hidden));
        dh_all = gathered;
    }
    if (c->decoder)
        TU_OK(c->ctx, mird_lstm_decoder_backward(c->ctx, s.batch, s.steps, s.hidden, c->x, &w,
                                                 c->h_all, c->workspace, dh_all, g->x, &grads));
    else
        TU_OK(c->ctx, mird_lstm_backward(c->ctx, s, c->x, &w, c->h_all, c->workspace, dh_all,
                                         g->x, &grads));
    mird_free(gathered);
}

static void check_gradients(lstm_case *c)
{
    int64_t H = c->shape.hidden;
    lstm_gradients g = gradients_alloc(c);
    case_backward(c, &g);
    gc_check(c->decoder ? "decoder u" : "encoder x", c->x, x_count(c), g.x, case_loss, c, NULL);
    gc_check("W_ih", c->W_ih, (size_t)(4 * H * c->shape.in), g.W_ih, case_loss, c, NULL);
    gc_check("W_hh", c->W_hh, (size_t)(4 * H * H), g.W_hh, case_loss, c, NULL);
    gc_check("b_ih", c->b_ih, (size_t)(4 * H), g.b_ih, case_loss, c, NULL);
    gc_check("b_hh", c->b_hh, (size_t)(4 * H), g.b_hh, case_loss, c, NULL);
    gradients_free(&g);
}

/* ---------------------------------------------------------------- tests */

static void check_forward(int decoder, int64_t B, int64_t T, int64_t in, int64_t H)
{
    lstm_case c;
    case_init(&c, decoder, B, T, in, H, NULL);
    float *expected = tu_alloc_zeros(h_count(&c));
    if (decoder)
        ref_decoder(c.x, c.W_ih, c.W_hh, c.b_ih, c.b_hh, expected, B, T, H);
    else
        ref_encoder(c.x, c.W_ih, c.W_hh, c.b_ih, c.b_hh, expected, B, T, in, H);
    case_forward(&c, c.workspace);
    tu_assert_close(decoder ? "decoder h_all (training)" : "encoder h_all (training)", c.h_all,
                    expected, h_count(&c), 2e-5, 1e-4);
    memset(c.h_all, 0, h_count(&c) * sizeof(float));
    case_forward(&c, NULL);
    tu_assert_close(decoder ? "decoder h_all (inference)" : "encoder h_all (inference)", c.h_all,
                    expected, h_count(&c), 2e-5, 1e-4);
    mird_free(expected);
    case_free(&c);
}

START_TEST(test_encoder_forward_matches_reference)
{
    check_forward(0, 3, 5, 4, 3);
    check_forward(0, 7, 11, 5, 16);
    check_forward(0, 2, 4, 74, 64);
}
END_TEST

START_TEST(test_decoder_forward_matches_reference)
{
    check_forward(1, 3, 5, 3, 3);
    check_forward(1, 6, 9, 16, 16);
    check_forward(1, 2, 7, 64, 64);
    check_forward(1, 4, 1, 5, 5); /* step 0 alone */
}
END_TEST

START_TEST(test_last_valid_gather)
{
    mird_dnnl *ctx = tu_context();
    const int64_t B = 3, T = 4, H = 2;
    int32_t lengths[3] = {4, 1, 0};
    float *h_all = tu_alloc_uniform(B * T * H, -1, 1, 21);
    float out[6], dout[6] = {1, 2, 3, 4, 5, 6};
    TU_OK(ctx, mird_lstm_last_valid_forward(ctx, h_all, lengths, out, B, T, H));
    float expected[6] = {h_all[(0 * T + 3) * H], h_all[(0 * T + 3) * H + 1],
                         h_all[(1 * T + 0) * H], h_all[(1 * T + 0) * H + 1], 0, 0};
    tu_assert_close("gathered", out, expected, 6, 0, 0);

    float *dh_all = tu_alloc_zeros(B * T * H);
    dh_all[(1 * T + 0) * H] = 0.5f;
    TU_OK(ctx, mird_lstm_last_valid_backward(ctx, lengths, dout, dh_all, B, T, H));
    for (int64_t i = 0; i < B * T * H; i++) {
        float want = 0;
        if (i == (0 * T + 3) * H || i == (0 * T + 3) * H + 1)
            want = dout[i - (0 * T + 3) * H];
        if (i == (1 * T + 0) * H)
            want = 0.5f + dout[2];
        if (i == (1 * T + 0) * H + 1)
            want = dout[3];
        ck_assert_msg(dh_all[i] == want, "dh_all[%lld] = %g, expected %g", (long long)i,
                      dh_all[i], want);
    }
    mird_free(h_all), mird_free(dh_all);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_encoder_gradients_through_last_valid)
{
    /* Sample 1 is padded after step 3, sample 2 is empty. */
    const int32_t lengths[3] = {5, 3, 0};
    lstm_case c;
    case_init(&c, 0, 3, 5, 4, 3, lengths);
    check_gradients(&c);

    /* Causality: padded frames and the empty sample get no gradient. */
    lstm_gradients g = gradients_alloc(&c);
    case_backward(&c, &g);
    for (int64_t b = 0; b < 3; b++)
        for (int64_t t = lengths[b]; t < 5; t++)
            for (int64_t k = 0; k < 4; k++)
                ck_assert_float_eq(g.x[(b * 5 + t) * 4 + k], 0.0f);
    gradients_free(&g);
    case_free(&c);
}
END_TEST

START_TEST(test_encoder_gradients_every_step)
{
    lstm_case c;
    case_init(&c, 0, 2, 4, 3, 4, NULL);
    check_gradients(&c);
    case_free(&c);
}
END_TEST

START_TEST(test_decoder_gradients)
{
    lstm_case c;
    case_init(&c, 1, 3, 5, 3, 3, NULL);
    check_gradients(&c);
    case_free(&c);
    /* One step: no recurrence, so W_hh gets exactly nothing. */
    case_init(&c, 1, 2, 1, 3, 3, NULL);
    check_gradients(&c);
    lstm_gradients g = gradients_alloc(&c);
    case_backward(&c, &g);
    for (int i = 0; i < 4 * 3 * 3; i++)
        ck_assert_float_eq(g.W_hh[i], 0.0f);
    gradients_free(&g);
    case_free(&c);
}
END_TEST

static void assert_scaled(const char *what, const float *got, const float *once, size_t n,
                          float factor)
{
    float *want = tu_copy(once, n);
    for (size_t i = 0; i < n; i++)
        want[i] *= factor;
    tu_assert_close(what, got, want, n, 1e-6, 1e-6);
    mird_free(want);
}

static void check_accumulation(int decoder)
{
    const int32_t lengths[3] = {5, 2, 0};
    lstm_case c;
    case_init(&c, decoder, 3, 5, decoder ? 3 : 4, 3, decoder ? NULL : lengths);
    int64_t H = c.shape.hidden;
    size_t nwi = (size_t)(4 * H * c.shape.in), nwh = (size_t)(4 * H * H), nb = (size_t)(4 * H);
    lstm_gradients once = gradients_alloc(&c), twice = gradients_alloc(&c);
    case_backward(&c, &once);
    case_backward(&c, &twice);
    case_backward(&c, &twice);
    assert_scaled("twice x", twice.x, once.x, x_count(&c), 2);
    assert_scaled("twice W_ih", twice.W_ih, once.W_ih, nwi, 2);
    assert_scaled("twice W_hh", twice.W_hh, once.W_hh, nwh, 2);
    assert_scaled("twice b_ih", twice.b_ih, once.b_ih, nb, 2);
    assert_scaled("twice b_hh", twice.b_hh, once.b_hh, nb, 2);

    /* One gradient at a time: the others NULL, the one asked for exact. */
    float **slots[5] = {&twice.x, &twice.W_ih, &twice.W_hh, &twice.b_ih, &twice.b_hh};
    const float *full[5] = {once.x, once.W_ih, once.W_hh, once.b_ih, once.b_hh};
    size_t counts[5] = {x_count(&c), nwi, nwh, nb, nb};
    for (int keep = 0; keep < 5; keep++) {
        lstm_gradients only = {NULL, NULL, NULL, NULL, NULL};
        float **only_slots[5] = {&only.x, &only.W_ih, &only.W_hh, &only.b_ih, &only.b_hh};
        memset(*slots[keep], 0, counts[keep] * sizeof(float));
        *only_slots[keep] = *slots[keep];
        case_backward(&c, &only);
        assert_scaled("one gradient alone", *slots[keep], full[keep], counts[keep], 1);
    }
    /* Nothing asked for: nothing to do, and no workspace needed. */
    mird_lstm_weights w = case_weights(&c);
    if (decoder)
        TU_OK(c.ctx, mird_lstm_decoder_backward(c.ctx, 3, 5, 3, c.x, &w, c.h_all, NULL, c.h_all,
                                                NULL, NULL));
    else
        TU_OK(c.ctx, mird_lstm_backward(c.ctx, c.shape, c.x, &w, c.h_all, NULL, c.h_all, NULL,
                                        NULL));
    gradients_free(&once), gradients_free(&twice);
    case_free(&c);
}

START_TEST(test_backward_accumulates_and_skips_null)
{
    check_accumulation(0);
    check_accumulation(1);
}
END_TEST

static void assert_error(mird_dnnl *ctx, mird_status got, mird_status want, const char *text)
{
    ck_assert_msg(got == want, "status %s, expected %s (%s)", mird_status_string(got),
                  mird_status_string(want), mird_dnnl_error(ctx)->message);
    ck_assert_msg(strstr(mird_dnnl_error(ctx)->message, text) != NULL,
                  "message \"%s\" does not mention \"%s\"", mird_dnnl_error(ctx)->message, text);
}

START_TEST(test_bad_lengths_and_sizes_rejected)
{
    mird_dnnl *ctx = tu_context();
    float h_all[2 * 3 * 2] = {0}, out[4], dh_all[2 * 3 * 2] = {0};
    int32_t too_long[2] = {3, 4}, negative[2] = {-1, 0};
    assert_error(ctx, mird_lstm_last_valid_forward(ctx, h_all, too_long, out, 2, 3, 2),
                 MIRD_ERR_SHAPE, "lengths[1] = 4 exceeds steps = 3");
    assert_error(ctx, mird_lstm_last_valid_backward(ctx, negative, out, dh_all, 2, 3, 2),
                 MIRD_ERR_INVALID_ARGUMENT, "lengths[0] = -1 is negative");
    assert_error(ctx, mird_lstm_last_valid_forward(ctx, h_all, negative, out, -2, 3, 2),
                 MIRD_ERR_INVALID_ARGUMENT, "batch = -2");
    assert_error(ctx, mird_lstm_last_valid_backward(ctx, too_long, out, dh_all, 2, 3, -1),
                 MIRD_ERR_INVALID_ARGUMENT, "hidden size = -1");

    float W[4 * 2 * 2] = {0};
    mird_lstm_weights w = {W, W, NULL, NULL};
    mird_lstm_shape no_hidden = {2, 3, 2, 0}, negative_steps = {2, -3, 2, 2};
    size_t bytes;
    assert_error(ctx, mird_lstm_forward(ctx, no_hidden, h_all, &w, out, NULL),
                 MIRD_ERR_INVALID_ARGUMENT, "hidden size = 0");
    assert_error(ctx, mird_lstm_workspace_bytes(ctx, negative_steps, &bytes),
                 MIRD_ERR_INVALID_ARGUMENT, "steps = -3");
    assert_error(ctx, mird_lstm_decoder_forward(ctx, 2, 3, 0, h_all, &w, out, NULL),
                 MIRD_ERR_INVALID_ARGUMENT, "input size = 0");

    float dW[4 * 2 * 2] = {0};
    mird_lstm_grads g = {dW, NULL, NULL, NULL};
    mird_lstm_shape shape = {2, 3, 2, 2};
    assert_error(ctx, mird_lstm_backward(ctx, shape, h_all, &w, h_all, NULL, dh_all, NULL, &g),
                 MIRD_ERR_INVALID_ARGUMENT, "no workspace");
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_empty_batch_or_steps)
{
    mird_dnnl *ctx = tu_context();
    float W[4 * 3 * 3], b[12], dW[4 * 3 * 3] = {0}, out[2 * 3] = {1, 1, 1, 1, 1, 1};
    tu_fill_uniform(W, 36, -1, 1, 31);
    tu_fill_uniform(b, 12, -1, 1, 32);
    mird_lstm_weights w = {W, W, b, b};
    mird_lstm_grads g = {dW, dW, NULL, NULL};
    mird_lstm_shape shapes[2] = {{0, 5, 3, 3}, {2, 0, 3, 3}};
    char fake_workspace[64];
    for (int i = 0; i < 2; i++) {
        size_t bytes = 1;
        TU_OK(ctx, mird_lstm_workspace_bytes(ctx, shapes[i], &bytes));
        ck_assert_uint_eq(bytes, 0);
        TU_OK(ctx, mird_lstm_decoder_workspace_bytes(ctx, shapes[i].batch, shapes[i].steps, 3,
                                                     &bytes));
        ck_assert_uint_eq(bytes, 0);
        TU_OK(ctx, mird_lstm_forward(ctx, shapes[i], NULL, &w, NULL, fake_workspace));
        TU_OK(ctx, mird_lstm_backward(ctx, shapes[i], NULL, &w, NULL, fake_workspace, NULL,
                                      NULL, &g));
        TU_OK(ctx, mird_lstm_decoder_forward(ctx, shapes[i].batch, shapes[i].steps, 3, W, &w,
                                             NULL, fake_workspace));
        TU_OK(ctx, mird_lstm_decoder_backward(ctx, shapes[i].batch, shapes[i].steps, 3, W, &w,
                                              NULL, fake_workspace, NULL, dW, &g));
    }
    for (int i = 0; i < 36; i++)
        ck_assert_float_eq(dW[i], 0.0f);
    ck_assert_uint_eq(mird_dnnl_get_stats(ctx).primitives_created, 0);

    /* With no steps every length is 0 and every gathered state is zero. */
    int32_t lengths[2] = {0, 0};
    TU_OK(ctx, mird_lstm_last_valid_forward(ctx, NULL, lengths, out, 2, 0, 3));
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(out[i], 0.0f);
    mird_dnnl_destroy(ctx);
}
END_TEST

START_TEST(test_primitives_created_once_per_shape)
{
    for (int decoder = 0; decoder < 2; decoder++) {
        lstm_case c;
        case_init(&c, decoder, 3, 6, decoder ? 4 : 5, 4, NULL);
        lstm_gradients g = gradients_alloc(&c);
        case_backward(&c, &g);
        case_forward(&c, NULL);
        mird_dnnl_stats first = mird_dnnl_get_stats(c.ctx);
        /* Training forward, inference forward and backward, at least. */
        ck_assert_uint_ge(first.primitives_created, 3);
        for (int i = 0; i < 3; i++) {
            case_backward(&c, &g);
            case_forward(&c, NULL);
        }
        mird_dnnl_stats again = mird_dnnl_get_stats(c.ctx);
        ck_assert_uint_eq(again.primitives_created, first.primitives_created);
        ck_assert_uint_gt(again.cache_hits, first.cache_hits);

        /* Another batch size is another primitive. */
        mird_lstm_weights w = case_weights(&c);
        mird_lstm_shape s = c.shape;
        if (decoder)
            TU_OK(c.ctx, mird_lstm_decoder_forward(c.ctx, 2, s.steps, s.hidden, c.x, &w, c.h_all,
                                                   NULL));
        else
            TU_OK(c.ctx, mird_lstm_forward(c.ctx, (mird_lstm_shape){2, s.steps, s.in, s.hidden},
                                           c.x, &w, c.h_all, NULL));
        ck_assert_uint_gt(mird_dnnl_get_stats(c.ctx).primitives_created,
                          again.primitives_created);
        gradients_free(&g);
        case_free(&c);
    }
}
END_TEST

/* Everything the op produces, at one thread count. */
static void run_all(lstm_case *c, int threads, float *h_all, lstm_gradients *g)
{
    mird_threads_set(threads);
    case_backward(c, g);
    memcpy(h_all, c->h_all, h_count(c) * sizeof(float));
    mird_threads_set(0);
}

static void assert_same(const char *what, const float *a, const float *b, size_t n)
{
    ck_assert_msg(memcmp(a, b, n * sizeof(float)) == 0, "%s differs between 1 and 2 threads",
                  what);
}

START_TEST(test_same_result_on_one_and_two_threads)
{
    for (int decoder = 0; decoder < 2; decoder++) {
        lstm_case c;
        case_init(&c, decoder, 24, 30, decoder ? 32 : 20, 32, NULL);
        int64_t H = c.shape.hidden;
        float *h1 = tu_alloc_zeros(h_count(&c)), *h2 = tu_alloc_zeros(h_count(&c));
        lstm_gradients g1 = gradients_alloc(&c), g2 = gradients_alloc(&c);
        run_all(&c, 1, h1, &g1);
        run_all(&c, 2, h2, &g2);
        assert_same("h_all", h1, h2, h_count(&c));
        assert_same("dx", g1.x, g2.x, x_count(&c));
        assert_same("dW_ih", g1.W_ih, g2.W_ih, (size_t)(4 * H * c.shape.in));
        assert_same("dW_hh", g1.W_hh, g2.W_hh, (size_t)(4 * H * H));
        assert_same("db_ih", g1.b_ih, g2.b_ih, (size_t)(4 * H));
        mird_free(h1), mird_free(h2);
        gradients_free(&g1), gradients_free(&g2);
        case_free(&c);
    }
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("lstm");
    TCase *tc = tcase_create("lstm");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_encoder_forward_matches_reference);
    tcase_add_test(tc, test_decoder_forward_matches_reference);
    tcase_add_test(tc, test_last_valid_gather);
    tcase_add_test(tc, test_encoder_gradients_through_last_valid);
    tcase_add_test(tc, test_encoder_gradients_every_step);
    tcase_add_test(tc, test_decoder_gradients);
    tcase_add_test(tc, test_backward_accumulates_and_skips_null);
    tcase_add_test(tc, test_bad_lengths_and_sizes_rejected);
    tcase_add_test(tc, test_empty_batch_or_steps);
    tcase_add_test(tc, test_primitives_created_once_per_shape);
    tcase_add_test(tc, test_same_result_on_one_and_two_threads);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
