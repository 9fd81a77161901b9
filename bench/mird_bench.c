/*
 * mird_bench -- libmird's side of bench/: the measurements torch_bench.py makes in PyTorch,
 * made through the public API only.
 *
 *   mird_bench [--threads 1,2] [--quick] [--step-repeats N]
 *       every measurement at every thread count, each in a fresh process of its own
 *   mird_bench --measure step|infer [--estimator recompute|cached] [--batch N] [--labeled N]
 *              [--threads T] [--warmup W] [--repeats R]
 *       one measurement in this process
 *
 * The model is the "mosi" preset with its default (training) dropout; the batch holds N(0, 1)
 * features at every padded length, the first `labeled` samples labeled.  Each measurement prints
 * one line of key=value fields starting with "RESULT" (bench/report.py reads them); the peak
 * resident size is the process's own (getrusage), which is why each measurement gets a process.
 */
#define _POSIX_C_SOURCE 200809L

#include <mird/mird.h>

#include <math.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

enum { STEP_BATCH = 144, STEP_LABELED = 48, MAX_REPEATS = 1000, MAX_THREAD_COUNTS = 8 };
static const uint64_t DATA_SEED = 20240918u;

typedef struct bench_options {
    const char *measure; /* "step", "infer", or NULL for the whole plan */
    const char *estimator;
    long batch;
    long labeled;
    int threads[MAX_THREAD_COUNTS];
    int thread_counts;
    int warmup;
    int repeats;
    int threads_given;
    int quick;
    int step_repeats;
} bench_options;

/* ------------------------------------------------------------------------------------------ */
/* Synthetic data: splitmix64 and Box-Muller, so the benchmark needs nothing but libmird       */
/* ------------------------------------------------------------------------------------------ */

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so the logarithm below stays finite. */
static double next_uniform(uint64_t *state)
{
    return ((double)(next_random(state) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

static void fill_normal(float *values, size_t count, uint64_t *state)
{
    const double two_pi = 6.283185307179586;
    for (size_t i = 0; i < count; i += 2) {
        double radius = sqrt(-2.0 * log(next_uniform(state)));
        double angle = two_pi * next_uniform(state);
        values[i] = (float)(radius * cos(angle));
        if (i + 1 < count)
            values[i + 1] = (float)(radius * sin(angle));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Clocks and memory                                                                           */
/* ------------------------------------------------------------------------------------------ */

static double clock_ms(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (double)now.tv_sec * 1e3 + (double)now.tv_nsec * 1e-6;
}

static long peak_rss_kb(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts `values` in place. */
static double median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, compare_doubles);
    return count % 2 ? values[count / 2] : 0.5 * (values[count / 2 - 1] + values[count / 2]);
}

/* ------------------------------------------------------------------------------------------ */
/* One measurement                                                                             */
/* ------------------------------------------------------------------------------------------ */

typedef struct bench_state {
    mird_config *config;
    mird_model *model;
    mird_optimizer *optimizer;
    mird_batch *batch;
    float *text, *audio, *vision, *labels, *predictions;
    int32_t *text_lengths, *audio_lengths, *vision_lengths;
    uint8_t *labeled;
} bench_state;

static int report_failure(const char *what, mird_status status, const char *detail)
{
    fprintf(stderr, "mird_bench: %s: %s: %s\n", what, mird_status_string(status),
            detail && *detail ? detail : mird_last_error_message());
    return 1;
}

static void release_state(bench_state *s)
{
    mird_optimizer_destroy(s->optimizer);
    mird_model_destroy(s->model);
    mird_batch_destroy(s->batch);
    mird_config_destroy(s->config);
    free(s->text);
    free(s->audio);
    free(s->vision);
    free(s->labels);
    free(s->predictions);
    free(s->text_lengths);
    free(s->audio_lengths);
    free(s->vision_lengths);
    free(s->labeled);
}

static int32_t *full_lengths(long batch, long steps)
{
    int32_t *lengths = malloc((size_t)batch * sizeof *lengths);
    for (long i = 0; lengths && i < batch; i++)
        lengths[i] = (int32_t)steps;
    return lengths;
}

/* The configuration, the model and a batch of `batch` samples at full length. */
static int prepare(bench_state *s, const bench_options *o, int training)
{
    mird_status status;
    if ((status = mird_config_create(&s->config)) != MIRD_OK
        || (status = mird_config_preset(s->config, "mosi")) != MIRD_OK
        || (status = mird_config_set(s->config, "estimator_inputs", o->estimator)) != MIRD_OK)
        return report_failure("configuration", status, NULL);

    long text_length = (long)mird_config_get_int(s->config, MIRD_PARAM_TEXT_LENGTH);
    long text_dim = (long)mird_config_get_int(s->config, MIRD_PARAM_TEXT_DIM);
    long audio_length = (long)mird_config_get_int(s->config, MIRD_PARAM_AUDIO_LENGTH);
    long audio_dim = (long)mird_config_get_int(s->config, MIRD_PARAM_AUDIO_DIM);
    long vision_length = (long)mird_config_get_int(s->config, MIRD_PARAM_VISION_LENGTH);
    long vision_dim = (long)mird_config_get_int(s->config, MIRD_PARAM_VISION_DIM);
    size_t text_count = (size_t)(o->batch * text_length * text_dim);
    size_t audio_count = (size_t)(o->batch * audio_length * audio_dim);
    size_t vision_count = (size_t)(o->batch * vision_length * vision_dim);
    s->text = malloc(text_count * sizeof *s->text);
    s->audio = malloc(audio_count * sizeof *s->audio);
    s->vision = malloc(vision_count * sizeof *s->vision);
    s->labels = malloc((size_t)o->batch * sizeof *s->labels);
    s->predictions = malloc((size_t)o->batch * sizeof *s->predictions);
    s->labeled = malloc((size_t)o->batch);
    s->text_lengths = full_lengths(o->batch, text_length);
    s->audio_lengths = full_lengths(o->batch, audio_length);
    s->vision_lengths = full_lengths(o->batch, vision_length);
    if (!s->text || !s->audio || !s->vision || !s->labels || !s->predictions || !s->labeled
        || !s->text_lengths || !s->audio_lengths || !s->vision_lengths)
        return report_failure("input arrays", MIRD_ERR_OUT_OF_MEMORY, "malloc failed");

    uint64_t rng = DATA_SEED;
    fill_normal(s->text, text_count, &rng);
    fill_normal(s->audio, audio_count, &rng);
    fill_normal(s->vision, vision_count, &rng);
    for (long i = 0; i < o->batch; i++) {
        int is_labeled = training && i < o->labeled;
        s->labeled[i] = (uint8_t)is_labeled;
        s->labels[i] = is_labeled ? (float)(6.0 * next_uniform(&rng) - 3.0) : 0.0f;
    }

    if ((status = mird_batch_create(s->config, o->batch, &s->batch)) != MIRD_OK)
        return report_failure("mird_batch_create", status, NULL);
    if ((status = mird_batch_set_text(s->batch, s->text, s->text_lengths, MIRD_BORROW)) != MIRD_OK
        || (status = mird_batch_set_audio(s->batch, s->audio, s->audio_lengths, MIRD_BORROW))
               != MIRD_OK
        || (status = mird_batch_set_vision(s->batch, s->vision, s->vision_lengths, MIRD_BORROW))
               != MIRD_OK
        || (status = mird_batch_set_labels(s->batch, s->labels, s->labeled, MIRD_BORROW))
               != MIRD_OK)
        return report_failure("batch", status, mird_batch_error_message(s->batch));

    if ((status = mird_model_create(s->config, &s->model)) != MIRD_OK)
        return report_failure("mird_model_create", status, NULL);
    if (training && (status = mird_optimizer_create(s->model, &s->optimizer)) != MIRD_OK)
        return report_failure("mird_optimizer_create", status, mird_model_error_message(s->model));
    return 0;
}

static mird_status run_once(bench_state *s, int training)
{
    if (training)
        return mird_step(s->model, s->optimizer, s->batch, NULL, 0);
    return mird_infer(s->model, s->batch, s->predictions, NULL);
}

static int measure_one(const bench_options *o)
{
    int training = strcmp(o->measure, "step") == 0;
    mird_status status = mird_set_num_threads(o->threads[0]);
    if (status != MIRD_OK)
        return report_failure("mird_set_num_threads", status, NULL);

    bench_state state = {0};
    int failed = prepare(&state, o, training);
    long base_rss = peak_rss_kb();
    double wall[MAX_REPEATS], cpu[MAX_REPEATS];
    for (int i = 0; !failed && i < o->warmup + o->repeats; i++) {
        double wall_start = clock_ms(CLOCK_MONOTONIC);
        double cpu_start = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        status = run_once(&state, training);
        if (status != MIRD_OK) {
            failed = report_failure(training ? "mird_step" : "mird_infer", status,
                                    mird_model_error_message(state.model));
            break;
        }
        if (i >= o->warmup) {
            wall[i - o->warmup] = clock_ms(CLOCK_MONOTONIC) - wall_start;
            cpu[i - o->warmup] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
        }
    }
    if (!failed) {
        double wall_median = median(wall, o->repeats); /* sorts wall */
        printf("RESULT side=mird measure=%s estimator=%s batch=%ld labeled=%ld threads=%d "
               "warmup=%d repeats=%d median_ms=%.3f min_ms=%.3f max_ms=%.3f "
               "cpu_median_ms=%.3f base_rss_kb=%ld peak_rss_kb=%ld version=%s\n",
               o->measure, training ? o->estimator : "-", o->batch, training ? o->labeled : 0,
               mird_get_num_threads(), o->warmup, o->repeats, wall_median, wall[0],
               wall[o->repeats - 1],
               median(cpu, o->repeats), base_rss, peak_rss_kb(), mird_version_string());
        fflush(stdout);
    }
    release_state(&state);
    return failed;
}

/* ------------------------------------------------------------------------------------------ */
/* The plan: every measurement in a fresh process of this program                              */
/* ------------------------------------------------------------------------------------------ */

static int run_child(const char *self, const char *measure, const char *estimator, long batch,
                     int threads, int warmup, int repeats)
{
    char batch_text[24], threads_text[16], warmup_text[16], repeats_text[16];
    snprintf(batch_text, sizeof batch_text, "%ld", batch);
    snprintf(threads_text, sizeof threads_text, "%d", threads);
    snprintf(warmup_text, sizeof warmup_text, "%d", warmup);
    snprintf(repeats_text, sizeof repeats_text, "%d", repeats);
    char *argv[] = {(char *)self, "--measure", (char *)measure, "--estimator", (char *)estimator,
                    "--batch", batch_text, "--threads", threads_text, "--warmup", warmup_text,
                    "--repeats", repeats_text, NULL};
    int training = strcmp(measure, "step") == 0;
    fprintf(stderr, "mird: %s%s%s batch %ld, %d thread(s) ...\n", measure, training ? " " : "",
            training ? estimator : "", batch, threads);
    fflush(stdout);
    fflush(stderr);

    pid_t child;
    int wait_status;
    /* /proc/self/exe rather than argv[0]: the same binary whatever PATH says. */
    if (posix_spawn(&child, "/proc/self/exe", NULL, NULL, argv, environ) != 0) {
        perror("mird_bench: posix_spawn");
        return 1;
    }
    if (waitpid(child, &wait_status, 0) < 0) {
        perror("mird_bench: waitpid");
        return 1;
    }
    return !(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0);
}

static int run_plan(const bench_options *o, const char *self)
{
    int step_warmup = 1, step_repeats = o->quick ? 1 : 5;
    int small_warmup = o->quick ? 1 : 5, small_repeats = o->quick ? 3 : 31;
    int large_warmup = o->quick ? 1 : 2, large_repeats = o->quick ? 1 : 11;
    if (o->step_repeats > 0)
        step_repeats = o->step_repeats;
    int failures = 0;
    for (int t = 0; t < o->thread_counts; t++) {
        int threads = o->threads[t];
        failures += run_child(self, "infer", "recompute", 1, threads, small_warmup, small_repeats);
        failures += run_child(self, "infer", "recompute", 64, threads, large_warmup,
                              large_repeats);
        failures += run_child(self, "step", "recompute", STEP_BATCH, threads, step_warmup,
                              step_repeats);
        failures += run_child(self, "step", "cached", STEP_BATCH, threads, step_warmup,
                              step_repeats);
    }
    if (failures)
        fprintf(stderr, "mird_bench: %d measurement(s) failed\n", failures);
    return failures ? 1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Command line                                                                                */
/* ------------------------------------------------------------------------------------------ */

static int parse_long(const char *text, long low, long high, long *out)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || value < low || value > high)
        return 0;
    *out = value;
    return 1;
}

/* "1,2" -> {1, 2} */
static int parse_thread_list(const char *text, bench_options *o)
{
    char buffer[128];
    snprintf(buffer, sizeof buffer, "%s", text);
    o->thread_counts = 0;
    for (char *item = strtok(buffer, ","); item; item = strtok(NULL, ",")) {
        long value;
        if (o->thread_counts == MAX_THREAD_COUNTS || !parse_long(item, 1, 1024, &value))
            return 0;
        o->threads[o->thread_counts++] = (int)value;
    }
    return o->thread_counts > 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: mird_bench [--threads 1,2] [--quick] [--step-repeats N]\n"
            "       mird_bench --measure step|infer [--estimator recompute|cached] [--batch N]\n"
            "                  [--labeled N] [--threads T] [--warmup W] [--repeats R]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bench_options o = {.estimator = "recompute", .batch = -1, .labeled = STEP_LABELED,
                       .threads = {1, 2}, .thread_counts = 2, .warmup = 1, .repeats = 5};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        long value;
        if (strcmp(flag, "--quick") == 0) {
            o.quick = 1;
            continue;
        }
        if (i + 1 == argc)
            return usage();
        const char *arg = argv[++i];
        if (strcmp(flag, "--measure") == 0 && (!strcmp(arg, "step") || !strcmp(arg, "infer")))
            o.measure = arg;
        else if (strcmp(flag, "--estimator") == 0
                 && (!strcmp(arg, "recompute") || !strcmp(arg, "cached")))
            o.estimator = arg;
        else if (strcmp(flag, "--batch") == 0 && parse_long(arg, 1, 1000000, &value))
            o.batch = value;
        else if (strcmp(flag, "--labeled") == 0 && parse_long(arg, 0, 1000000, &value))
            o.labeled = value;
        else if (strcmp(flag, "--threads") == 0 && parse_thread_list(arg, &o))
            o.threads_given = 1;
        else if (strcmp(flag, "--warmup") == 0 && parse_long(arg, 0, MAX_REPEATS, &value))
            o.warmup = (int)value;
        else if (strcmp(flag, "--repeats") == 0 && parse_long(arg, 1, MAX_REPEATS, &value))
            o.repeats = (int)value;
        else if (strcmp(flag, "--step-repeats") == 0 && parse_long(arg, 1, MAX_REPEATS, &value))
            o.step_repeats = (int)value;
        else
            return usage();
    }
    if (!o.measure)
        return run_plan(&o, argv[0]);
    if (o.batch < 0)
        o.batch = strcmp(o.measure, "step") == 0 ? STEP_BATCH : 1;
    if (!o.threads_given)
        o.thread_counts = 1; /* the plan's default list starts with 1 */
    if (o.thread_counts != 1)
        return usage();
    return measure_one(&o);
}
