/* mird train: a configuration, data, mird_fit, the metrics table, and on the
 * synthetic demo data the disentanglement measurements. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "probe.h"

#define MAX_SETTINGS 64
#define MAX_SEEDS 32

typedef struct train_args {
    const char *preset, *config_file, *output, *init_bert, *seeds;
    const char *settings[MAX_SETTINGS];
    int n_settings, quiet;
    data_source data, unlabeled;
} train_args;

static void train_help(void)
{
    printf("usage: mird train [options]\n"
           "\n"
           "With no options: the demo.  A small MIRD model trains on seeded synthetic data\n"
           "with a planted shared factor and private factors per modality, then reports\n"
           "its metrics and how well each code recovers each factor.\n"
           "\n"
           "  --preset NAME          demo (synthetic default), tiny, mosi (default with --data),\n"
           "                         mosei, bert-base\n"
           "  --config FILE          settings as `key = value` lines, after the preset\n"
           "  --set KEY=VALUE        one setting, after the config file (repeatable)\n"
           "  --data PATH            an MMSA HDF5 file, or a directory of MFN .h5 files\n"
           "  --data-options OPTS    reader options, e.g. nonfinite=zero or\n"
           "                         label_offset=-3,label_scale=1.5 (mird.h, Datasets)\n"
           "  --csd-labels FILE      CMU-SDK computational sequences instead of --data;\n"
           "  --csd-text/-audio/-vision FILE   with folds=FILE in --data-options for splits\n"
           "  --data-seed N          seed of the synthetic data (default 1)\n"
           "  --unlabeled PATH       extra unlabeled samples (train split of an MMSA file or\n"
           "                         MFN directory), mixed in at unlabeled_ratio\n"
           "  --seeds A,B,...        several runs, reported as mean and standard deviation\n"
           "  --init-bert FILE       Hugging Face BERT weights (safetensors) for both stacks\n"
           "  --threads N            compute threads (default: all cores)\n"
           "  --output FILE          save the trained model (safetensors checkpoint)\n"
           "  --quiet                no per-epoch lines\n");
}

/* ---- Progress ---------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct progress_view {
    int bar;   /* stderr is a terminal: redraw a bar after every step */
    int quiet;
    double start;
} progress_view;

static double mi_sum(double (*term)(const void *, mird_term), const void *source)
{
    static const mird_term pairs[] = {MIRD_TERM_MI_L_A, MIRD_TERM_MI_L_V, MIRD_TERM_MI_A_V,
                                      MIRD_TERM_MI_S_L, MIRD_TERM_MI_S_A, MIRD_TERM_MI_S_V};
    double sum = 0.0;
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        sum += term(source, pairs[i]);
    return sum;
}

static double progress_term(const void *p, mird_term t)
{
    return mird_progress_term(p, t);
}

static void draw_bar(const mird_progress *p, const progress_view *view)
{
    int64_t step = mird_progress_step(p), total = mird_progress_total_steps(p);
    int width = 30, filled = total > 0 ? (int)(width * step / total) : 0;
    char bar[31];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    double elapsed = cli_seconds() - view->start;
    double eta = step > 0 ? elapsed * (double)(total - step) / (double)step : 0.0;
    fprintf(stderr, "\r  epoch %3lld [%s] %6lld/%lld  loss %8.4f  %4.0fs left ",
            (long long)mird_progress_epoch(p), bar, (long long)step, (long long)total,
            mird_progress_term(p, MIRD_TERM_TOTAL), eta);
    fflush(stderr);
}

static int on_progress(const mird_progress *p, void *user)
{
    const progress_view *view = user;
    if (interrupted)
        return 1;
    if (mird_progress_event(p) == MIRD_EVENT_STEP) {
        if (view->bar && !view->quiet)
            draw_bar(p, view);
        return 0;
    }
    if (view->bar && !view->quiet)
        fprintf(stderr, "\r%80s\r", "");
    if (view->quiet)
        return 0;
    printf("%s epoch %3lld  loss %8.4f  task %7.4f  MI %8.4f | valid MAE %7.4f  Corr %7.4f  "
           "Acc-2 %6.4f %s\n",
           mird_progress_run(p) > 0 ? "  " : "", (long long)mird_progress_epoch(p),
           mird_progress_term(p, MIRD_TERM_TOTAL), mird_progress_term(p, MIRD_TERM_TASK),
           mi_sum(progress_term, p), mird_progress_metric(p, MIRD_METRIC_MAE),
           mird_progress_metric(p, MIRD_METRIC_CORR),
           mird_progress_metric(p, MIRD_METRIC_ACC2_NON0), mird_progress_improved(p) ? "*" : "");
    fflush(stdout);
    return 0;
}

/* ---- Arguments --------------------------------------------------------- */

static int parse_args(int argc, char **argv, train_args *a)
{
    a->data.synthetic_seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        int r, status;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            train_help();
            return -1;
        }
        if (strcmp(argv[i], "--quiet") == 0) {
            a->quiet = 1;
            continue;
        }
        if (cli_take_data_option(argc, argv, &i, &a->data, &status)) {
            if (status)
                return status;
            continue;
        }
        if ((r = cli_take(argc, argv, &i, "--preset", &a->preset))
            || (r = cli_take(argc, argv, &i, "--config", &a->config_file))
            || (r = cli_take(argc, argv, &i, "--output", &a->output))
            || (r = cli_take(argc, argv, &i, "--init-bert", &a->init_bert))
            || (r = cli_take(argc, argv, &i, "--seeds", &a->seeds))
            || (r = cli_take(argc, argv, &i, "--unlabeled", &a->unlabeled.path))) {
            if (r == 2)
                return 2;
            continue;
        }
        if ((r = cli_take(argc, argv, &i, "--set", &value)) != 0) {
            if (r == 2)
                return 2;
            if (a->n_settings == MAX_SETTINGS)
                return cli_usage_error("more than %d --set options", MAX_SETTINGS);
            a->settings[a->n_settings++] = value;
            continue;
        }
        if ((r = cli_take(argc, argv, &i, "--threads", &value)) != 0) {
            if (r == 2)
                return 2;
            if (mird_set_num_threads(atoi(value)) != MIRD_OK)
                return cli_fail("--threads");
            continue;
        }
        return cli_usage_error("unknown option \"%s\"", argv[i]);
    }
    return 0;
}

static int build_config(const train_args *a, mird_config **out)
{
    mird_config *cfg;
    if (mird_config_create(&cfg) != MIRD_OK)
        return cli_fail("configuration");
    const char *preset = a->preset ? a->preset : cli_is_synthetic(&a->data) ? "demo" : "mosi";
    int status = 0;
    if (mird_config_preset(cfg, preset) != MIRD_OK)
        status = cli_fail("--preset");
    if (!status && a->config_file)
        status = cli_apply_config_file(cfg, a->config_file);
    for (int i = 0; !status && i < a->n_settings; i++)
        status = cli_apply_setting(cfg, a->settings[i]);
    if (status) {
        mird_config_destroy(cfg);
        return status;
    }
    *out = cfg;
    return 0;
}

static int parse_seeds(const char *text, uint64_t *seeds, size_t *count)
{
    *count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || (*end && *end != ',') || *count == MAX_SEEDS)
            return cli_usage_error("--seeds %s: expected up to %d numbers separated by commas",
                                   text, MAX_SEEDS);
        seeds[(*count)++] = v;
        p = *end ? end + 1 : end;
    }
    return *count ? 0 : cli_usage_error("--seeds is empty");
}

/* ---- The synthetic demo's disentanglement report ------------------------ */

/* The four codes of every sample, [N, 4, z]. */
static float *codes_of(mird_model *model, const mird_config *cfg, const mird_dataset *ds)
{
    int64_t n = mird_dataset_size(ds), z = mird_config_get_int(cfg, MIRD_PARAM_LATENT_DIM);
    int64_t chunk = 128;
    float *codes = malloc(sizeof(float) * (size_t)(n * 4 * z));
    float *pred = malloc(sizeof(float) * (size_t)chunk);
    mird_batch *full = NULL;
    int ok = codes && pred && mird_batch_create(cfg, chunk, &full) == MIRD_OK;
    for (int64_t first = 0; ok && first < n; first += chunk) {
        int64_t count = n - first < chunk ? n - first : chunk;
        mird_batch *b = full;
        if (count != chunk)
            ok = mird_batch_create(cfg, count, &b) == MIRD_OK;
        ok = ok && mird_dataset_fill_batch(ds, first, count, b) == MIRD_OK
             && mird_infer(model, b, pred, codes + first * 4 * z) == MIRD_OK;
        if (b != full)
            mird_batch_destroy(b);
    }
    mird_batch_destroy(full);
    free(pred);
    if (!ok) {
        free(codes);
        return NULL;
    }
    return codes;
}

static double report_term(const void *r, mird_term t)
{
    return mird_report_term(r, mird_report_epochs(r), t);
}

static int disentanglement_report(mird_model *model, const mird_config *cfg,
                                  const mird_dataset *train, const mird_dataset *test,
                                  const mird_report *report)
{
    static const char *const code_names[4] = {"z^S", "z^L", "z^A", "z^V"};
    int64_t n_fit = mird_dataset_size(train), n_eval = mird_dataset_size(test);
    int64_t z = mird_config_get_int(cfg, MIRD_PARAM_LATENT_DIM);
    float *fit_codes = codes_of(model, cfg, train), *eval_codes = codes_of(model, cfg, test);
    float *fit_factors = malloc(sizeof(float) * (size_t)(n_fit * MIRD_SYNTHETIC_FACTORS));
    float *eval_factors = malloc(sizeof(float) * (size_t)(n_eval * MIRD_SYNTHETIC_FACTORS));
    int status = 0;
    if (!fit_codes || !eval_codes || !fit_factors || !eval_factors
        || mird_dataset_get_factors(train, fit_factors) != MIRD_OK
        || mird_dataset_get_factors(test, eval_factors) != MIRD_OK) {
        status = cli_fail("codes");
        goto done;
    }
    printf("\nDisentanglement: R^2 of a linear probe from each code to each planted factor\n"
           "(fit on the training split, scored on the test split)\n");
    printf("%-6s %8s %9s %9s %9s\n", "code", "shared", "language", "acoustic", "visual");
    for (int c = 0; c < 4; c++) {
        printf("%-6s", code_names[c]);
        for (int f = 0; f < MIRD_SYNTHETIC_FACTORS; f++)
            printf(" %*.3f", f == 0 ? 8 : 9,
                   probe_r2(fit_codes + c * z, fit_factors + f, n_fit, eval_codes + c * z,
                            eval_factors + f, n_eval, z, 4 * z, MIRD_SYNTHETIC_FACTORS));
        printf("\n");
    }
    if (report && mird_report_epochs(report) > 0)
        printf("\nCLUB MI estimates, mean over the last epoch: S-L %.4f  S-A %.4f  S-V %.4f  "
               "L-A %.4f  L-V %.4f  A-V %.4f  (sum %.4f)\n",
               report_term(report, MIRD_TERM_MI_S_L), report_term(report, MIRD_TERM_MI_S_A),
               report_term(report, MIRD_TERM_MI_S_V), report_term(report, MIRD_TERM_MI_L_A),
               report_term(report, MIRD_TERM_MI_L_V), report_term(report, MIRD_TERM_MI_A_V),
               mi_sum(report_term, report));
done:
    free(fit_codes);
    free(eval_codes);
    free(fit_factors);
    free(eval_factors);
    return status;
}

/* ---- Training ---------------------------------------------------------- */

typedef struct splits {
    mird_dataset *train, *valid, *test, *unlabeled;
} splits;

static void free_splits(splits *s)
{
    mird_dataset_destroy(s->train);
    mird_dataset_destroy(s->valid);
    mird_dataset_destroy(s->test);
    mird_dataset_destroy(s->unlabeled);
}

static int load_splits(const train_args *a, mird_config *cfg, splits *s)
{
    if (cli_load_split(&a->data, cfg, MIRD_SPLIT_TRAIN, NULL, &s->train) != MIRD_OK)
        return cli_fail("training data");
    /* Real data brings its own shapes; the synthetic data takes the config's. */
    if (!cli_is_synthetic(&a->data) && mird_dataset_apply_shapes(s->train, cfg) != MIRD_OK)
        return cli_fail("data shapes");
    if (cli_load_split(&a->data, cfg, MIRD_SPLIT_VALID, NULL, &s->valid) != MIRD_OK)
        return cli_fail("validation data");
    if (cli_load_split(&a->data, cfg, MIRD_SPLIT_TEST, NULL, &s->test) != MIRD_OK)
        return cli_fail("test data");
    if (a->unlabeled.path
        && cli_load_split(&a->unlabeled, cfg, MIRD_SPLIT_TRAIN, "labels=none", &s->unlabeled)
               != MIRD_OK)
        return cli_fail("unlabeled data");
    return 0;
}

static void print_mean_predictor(const mird_dataset *train, const mird_dataset *test)
{
    int64_t n_train = mird_dataset_size(train), n_test = mird_dataset_size(test);
    float *labels = malloc(sizeof(float) * (size_t)(n_train > n_test ? n_train : n_test));
    uint8_t *labeled = malloc((size_t)(n_train > n_test ? n_train : n_test));
    double mean = 0.0, mae = 0.0;
    int64_t count = 0;
    if (labels && labeled && mird_dataset_get_labels(train, labels, labeled) == MIRD_OK) {
        for (int64_t i = 0; i < n_train; i++)
            if (labeled[i])
                mean += labels[i], count++;
        mean /= count ? (double)count : 1.0;
        count = 0;
        if (mird_dataset_get_labels(test, labels, labeled) == MIRD_OK) {
            for (int64_t i = 0; i < n_test; i++)
                if (labeled[i])
                    mae += fabs(labels[i] - mean), count++;
            if (count)
                printf("(a constant prediction of the training mean, %.4f, has test MAE %.4f)\n",
                       mean, mae / (double)count);
        }
    }
    free(labels);
    free(labeled);
}

static int run_seeds(const train_args *a, const mird_config *cfg, const splits *s,
                     progress_view *view)
{
    uint64_t seeds[MAX_SEEDS];
    size_t n;
    int status = parse_seeds(a->seeds, seeds, &n);
    if (status)
        return status;
    if (!s->test)
        return cli_usage_error("--seeds needs a test split to report on");
    double *per_run = malloc(sizeof(double) * n * MIRD_METRIC_COUNT);
    double mean[MIRD_METRIC_COUNT], stddev[MIRD_METRIC_COUNT];
    if (!per_run)
        return cli_usage_error("out of memory");
    if (mird_fit_seeds(cfg, seeds, n, s->train, s->unlabeled, s->valid, s->test, on_progress,
                       view, per_run, mean, stddev) != MIRD_OK) {
        free(per_run);
        return cli_fail(interrupted ? "interrupted" : "training");
    }
    printf("\nTest metrics per seed\n");
    cli_print_metrics_header(stdout, "seed");
    for (size_t r = 0; r < n; r++) {
        char name[32];
        snprintf(name, sizeof name, "%llu", (unsigned long long)seeds[r]);
        cli_print_metrics_row(stdout, name, per_run + r * MIRD_METRIC_COUNT);
    }
    cli_print_metrics_row(stdout, "mean", mean);
    cli_print_metrics_row(stdout, "std", stddev);
    free(per_run);
    return 0;
}

static int run_once(const train_args *a, const mird_config *cfg, const splits *s,
                    progress_view *view)
{
    mird_model *model = NULL;
    mird_optimizer *opt = NULL;
    mird_report *report = NULL;
    int status = 0;
    if (mird_model_create(cfg, &model) != MIRD_OK)
        return cli_fail("model");
    if (a->init_bert) {
        int64_t loaded = 0, more = 0;
        if (mird_model_load_weights(model, a->init_bert, "bert.", "agnostic.", &loaded) != MIRD_OK
            || (mird_config_get_int(cfg, MIRD_PARAM_LANGUAGE_ENCODER) == MIRD_LANGUAGE_TRANSFORMER
                && mird_model_load_weights(model, a->init_bert, "bert.", "language.", &more)
                       != MIRD_OK)) {
            mird_model_destroy(model);
            return cli_fail("--init-bert");
        }
        printf("loaded %lld pretrained tensors from %s\n", (long long)(loaded + more),
               a->init_bert);
    }
    if (mird_optimizer_create(model, &opt) != MIRD_OK) {
        mird_model_destroy(model);
        return cli_fail("optimizer");
    }
    printf("model: %lld parameters; %lld training, %lld validation, %lld test samples\n",
           (long long)mird_model_parameter_count(model), (long long)mird_dataset_size(s->train),
           (long long)mird_dataset_size(s->valid), (long long)mird_dataset_size(s->test));
    double start = cli_seconds();
    mird_status fit = mird_fit(model, opt, s->train, s->unlabeled, s->valid, on_progress, view,
                               &report);
    if (fit != MIRD_OK && fit != MIRD_ERR_CANCELLED) {
        status = cli_fail("training");
        goto done;
    }
    int early = mird_report_stop(report) == MIRD_STOP_PATIENCE
                && mird_report_epochs(report) < mird_config_get_int(cfg, MIRD_PARAM_EPOCHS);
    printf("%s after %lld epochs in %.1f s; the model holds epoch %lld (best by validation %s)\n",
           fit == MIRD_ERR_CANCELLED ? "interrupted" : early ? "stopped early" : "finished",
           (long long)mird_report_epochs(report), cli_seconds() - start,
           (long long)mird_report_best_epoch(report),
           mird_config_get_int(cfg, MIRD_PARAM_SELECT_BY) == MIRD_SELECT_LOSS ? "loss" : "MAE");

    printf("\n");
    cli_print_metrics_header(stdout, "split");
    const struct {
        const char *name;
        const mird_dataset *ds;
    } rows[] = {{"train", s->train}, {"valid", s->valid}, {"test", s->test}};
    for (size_t r = 0; r < 3; r++) {
        double m[MIRD_METRIC_COUNT];
        if (!rows[r].ds)
            continue;
        if (mird_evaluate(model, rows[r].ds, m, MIRD_METRIC_COUNT, NULL) != MIRD_OK) {
            status = cli_fail("evaluation");
            goto done;
        }
        cli_print_metrics_row(stdout, rows[r].name, m);
    }
    if (s->test)
        print_mean_predictor(s->train, s->test);
    if (cli_is_synthetic(&a->data) && s->test)
        status = disentanglement_report(model, cfg, s->train, s->test, report);
    if (!status && a->output) {
        if (mird_model_save(model, opt, a->output) != MIRD_OK)
            status = cli_fail("saving");
        else
            printf("\nsaved the model to %s\n", a->output);
    }
done:
    mird_report_destroy(report);
    mird_optimizer_destroy(opt);
    mird_model_destroy(model);
    return status;
}

int cli_train(int argc, char **argv)
{
    train_args a = {0};
    int status = parse_args(argc, argv, &a);
    if (status)
        return status < 0 ? 0 : status;
    mird_config *cfg = NULL;
    if ((status = build_config(&a, &cfg)) != 0)
        return status;
    splits s = {0};
    if (cli_is_synthetic(&a.data))
        printf("libmird %s: MIRD on synthetic data (seed %llu) with a planted shared factor\n"
               "and one private factor per modality; %d threads\n",
               mird_version_string(), (unsigned long long)a.data.synthetic_seed,
               mird_get_num_threads());
    status = load_splits(&a, cfg, &s);
    if (!status) {
        progress_view view = {isatty(STDERR_FILENO), a.quiet, cli_seconds()};
        struct sigaction action = {0};
        action.sa_handler = on_interrupt;
        sigaction(SIGINT, &action, NULL);
        status = a.seeds ? run_seeds(&a, cfg, &s, &view) : run_once(&a, cfg, &s, &view);
    }
    free_splits(&s);
    mird_config_destroy(cfg);
    return status;
}
