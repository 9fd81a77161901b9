/* mird: the command-line tool.  Until the full tool lands (training on
 * datasets, evaluation, checkpoints), it runs a demonstration through the
 * public API alone: a small MIRD model learns a planted sentiment factor
 * from synthetic language, acoustic and visual sequences, and the held-out
 * error is printed before and after. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mird/mird.h>

typedef struct synthetic {
    int64_t n, Tl, dl, Ta, da, Tv, dv;
    float *text, *audio, *vision, *labels;
    int32_t *text_len, *audio_len, *vision_len;
} synthetic;

/* A small deterministic generator for the demo data (xorshift + Box-Muller). */
static uint64_t demo_state = 0x9E3779B97F4A7C15ull;
static double demo_uniform(void)
{
    demo_state ^= demo_state << 13, demo_state ^= demo_state >> 7, demo_state ^= demo_state << 17;
    return (double)(demo_state >> 11) * (1.0 / 9007199254740992.0);
}
static double demo_normal(void)
{
    double u = demo_uniform() + 1e-12, v = demo_uniform();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Each sample has a shared factor s (the sentiment, label = 1.5 s) that
 * every modality carries in a few feature directions, plus noise. */
static void fill_modality(float *x, int32_t *len, int64_t n, int64_t T, int64_t d,
                          const double *s, int min_len)
{
    for (int64_t i = 0; i < n; i++) {
        len[i] = (int32_t)(min_len + (int64_t)(demo_uniform() * (double)(T - min_len + 1)));
        if (len[i] > T)
            len[i] = (int32_t)T;
        for (int64_t t = 0; t < T; t++)
            for (int64_t k = 0; k < d; k++) {
                double value = 0.0;
                if (t < len[i])
                    value = (k % 3 == 0 ? s[i] : 0.0) + 0.5 * demo_normal();
                x[(i * T + t) * d + k] = (float)value;
            }
    }
}

static synthetic make_data(const mird_config *cfg, int64_t n)
{
    synthetic d = {.n = n,
                   .Tl = mird_config_get_int(cfg, MIRD_PARAM_TEXT_LENGTH),
                   .dl = mird_config_get_int(cfg, MIRD_PARAM_TEXT_DIM),
                   .Ta = mird_config_get_int(cfg, MIRD_PARAM_AUDIO_LENGTH),
                   .da = mird_config_get_int(cfg, MIRD_PARAM_AUDIO_DIM),
                   .Tv = mird_config_get_int(cfg, MIRD_PARAM_VISION_LENGTH),
                   .dv = mird_config_get_int(cfg, MIRD_PARAM_VISION_DIM)};
    d.text = malloc(sizeof(float) * n * d.Tl * d.dl);
    d.audio = malloc(sizeof(float) * n * d.Ta * d.da);
    d.vision = malloc(sizeof(float) * n * d.Tv * d.dv);
    d.labels = malloc(sizeof(float) * n);
    d.text_len = malloc(sizeof(int32_t) * n);
    d.audio_len = malloc(sizeof(int32_t) * n);
    d.vision_len = malloc(sizeof(int32_t) * n);
    double *s = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) {
        s[i] = demo_normal();
        double label = 1.5 * s[i];
        d.labels[i] = (float)(label > 3 ? 3 : label < -3 ? -3 : label);
    }
    fill_modality(d.text, d.text_len, n, d.Tl, d.dl, s, 1);
    fill_modality(d.audio, d.audio_len, n, d.Ta, d.da, s, 1);
    fill_modality(d.vision, d.vision_len, n, d.Tv, d.dv, s, 1);
    free(s);
    return d;
}

static void free_data(synthetic *d)
{
    free(d->text), free(d->audio), free(d->vision), free(d->labels);
    free(d->text_len), free(d->audio_len), free(d->vision_len);
}

/* A batch of samples [first, first + count) of the data, borrowed. */
static mird_status make_batch(const mird_config *cfg, const synthetic *d, int64_t first,
                              int64_t count, mird_batch **out)
{
    mird_batch *b;
    mird_status st = mird_batch_create(cfg, count, &b);
    if (st == MIRD_OK)
        st = mird_batch_set_text(b, d->text + first * d->Tl * d->dl, d->text_len + first,
                                 MIRD_BORROW);
    if (st == MIRD_OK)
        st = mird_batch_set_audio(b, d->audio + first * d->Ta * d->da, d->audio_len + first,
                                  MIRD_BORROW);
    if (st == MIRD_OK)
        st = mird_batch_set_vision(b, d->vision + first * d->Tv * d->dv, d->vision_len + first,
                                   MIRD_BORROW);
    if (st == MIRD_OK)
        st = mird_batch_set_labels(b, d->labels + first, NULL, MIRD_BORROW);
    if (st != MIRD_OK) {
        mird_batch_destroy(b);
        return st;
    }
    *out = b;
    return MIRD_OK;
}

static double held_out_mae(mird_model *model, mird_batch *test, const float *labels, int64_t n)
{
    float *pred = malloc(sizeof(float) * n);
    double mae = NAN;
    if (mird_infer(model, test, pred, NULL) == MIRD_OK) {
        mae = 0.0;
        for (int64_t i = 0; i < n; i++)
            mae += fabs((double)pred[i] - labels[i]) / (double)n;
    }
    free(pred);
    return mae;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const char *what)
{
    fprintf(stderr, "mird: %s: %s\n", what, mird_last_error_message());
    return EXIT_FAILURE;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 200;
    if (steps < 1)
        steps = 200;
    printf("libmird %s: MIRD on synthetic data (a planted sentiment factor), %d threads\n",
           mird_version_string(), mird_get_num_threads());

    mird_config *cfg;
    if (mird_config_create(&cfg) != MIRD_OK || mird_config_preset(cfg, "tiny") != MIRD_OK
        || mird_config_set(cfg, "latent_dim", "16") != MIRD_OK
        || mird_config_set(cfg, "regressor_dim", "16") != MIRD_OK
        || mird_config_set(cfg, "schedule", "constant") != MIRD_OK
        || mird_config_set(cfg, "learning_rate", "3e-3") != MIRD_OK
        || mird_config_set(cfg, "dropout_reg", "0.1") != MIRD_OK
        || mird_config_set(cfg, "dropout_proj", "0.1") != MIRD_OK)
        return fail("configuration");
    const int64_t train_n = 512, test_n = 128, batch_n = 32;
    synthetic train = make_data(cfg, train_n), test = make_data(cfg, test_n);

    mird_model *model;
    mird_optimizer *opt;
    if (mird_model_create(cfg, &model) != MIRD_OK)
        return fail("model");
    if (mird_optimizer_create(model, &opt) != MIRD_OK)
        return fail("optimizer");
    printf("model: tiny preset with z = 16, %lld parameters\n",
           (long long)mird_model_parameter_count(model));

    mird_batch *test_batch;
    if (make_batch(cfg, &test, 0, test_n, &test_batch) != MIRD_OK)
        return fail("test batch");
    double mean = 0.0, baseline = 0.0;
    for (int64_t i = 0; i < test_n; i++)
        mean += test.labels[i] / (double)test_n;
    for (int64_t i = 0; i < test_n; i++)
        baseline += fabs(test.labels[i] - mean) / (double)test_n;
    printf("held-out MAE of the mean predictor: %.3f; of the untrained model: %.3f\n", baseline,
           held_out_mae(model, test_batch, test.labels, test_n));

    double start = seconds_now(), terms[MIRD_TERM_COUNT];
    for (int s = 0; s < steps; s++) {
        mird_batch *b;
        if (make_batch(cfg, &train, (s * batch_n) % train_n, batch_n, &b) != MIRD_OK)
            return fail("batch");
        if (mird_step(model, opt, b, terms, MIRD_TERM_COUNT) != MIRD_OK)
            return fail("step");
        mird_batch_destroy(b);
        if ((s + 1) % 50 == 0 || s == 0)
            printf("step %4d  total %8.4f  task %.4f  rec_l %.4f rec_a %.4f rec_v %.4f  "
                   "MI sum %.4f\n",
                   s + 1, terms[MIRD_TERM_TOTAL], terms[MIRD_TERM_TASK], terms[MIRD_TERM_REC_L],
                   terms[MIRD_TERM_REC_A], terms[MIRD_TERM_REC_V], terms[MIRD_TERM_CONSTRAINT]);
    }
    double elapsed = seconds_now() - start;
    printf("%d steps in %.2f s (%.1f ms a step)\n", steps, elapsed, 1e3 * elapsed / steps);
    printf("held-out MAE after training: %.3f (mean predictor %.3f)\n",
           held_out_mae(model, test_batch, test.labels, test_n), baseline);

    mird_batch_destroy(test_batch);
    mird_optimizer_destroy(opt);
    mird_model_destroy(model);
    mird_config_destroy(cfg);
    free_data(&train);
    free_data(&test);
    return EXIT_SUCCESS;
}
