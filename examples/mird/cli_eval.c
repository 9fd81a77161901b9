/* mird eval, mird predict and mird info: using a saved checkpoint. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct use_args {
    const char *model, *split, *output;
    data_source data;
} use_args;

static int parse_split(const char *text, mird_split *out)
{
    for (int s = MIRD_SPLIT_TRAIN; s <= MIRD_SPLIT_TEST; s++)
        if (strcmp(text, mird_split_name((mird_split)s)) == 0) {
            *out = (mird_split)s;
            return 0;
        }
    return cli_usage_error("--split %s: expected train, valid or test", text);
}

static int parse_use_args(int argc, char **argv, use_args *a, const char *help)
{
    a->split = "test";
    a->data.synthetic_seed = 1;
    for (int i = 1; i < argc; i++) {
        int r, status;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(help, stdout);
            return -1;
        }
        if (cli_take_data_option(argc, argv, &i, &a->data, &status)) {
            if (status)
                return status;
            continue;
        }
        if ((r = cli_take(argc, argv, &i, "--model", &a->model))
            || (r = cli_take(argc, argv, &i, "--split", &a->split))
            || (r = cli_take(argc, argv, &i, "--output", &a->output))) {
            if (r == 2)
                return 2;
            continue;
        }
        return cli_usage_error("unknown option \"%s\"", argv[i]);
    }
    if (!a->model)
        return cli_usage_error("--model is required");
    return 0;
}

/* The checkpoint's model, its configuration, and the chosen split. */
static int open_model_and_data(const use_args *a, mird_model **model, mird_config **cfg,
                               mird_dataset **ds)
{
    mird_split split = MIRD_SPLIT_TEST;
    int status = parse_split(a->split, &split);
    if (status)
        return status;
    if (mird_model_load(a->model, model) != MIRD_OK)
        return cli_fail("loading the model");
    if (mird_model_get_config(*model, cfg) != MIRD_OK)
        return cli_fail("configuration");
    if (cli_load_split(&a->data, *cfg, split, NULL, ds) != MIRD_OK)
        return cli_fail("data");
    if (!*ds)
        return cli_usage_error("the .csd data has no %s split without folds=", a->split);
    return 0;
}

static const char eval_help[] =
    "usage: mird eval --model FILE [--data PATH | --csd-labels FILE ...] [--split test]\n"
    "\n"
    "Prints the metrics of a saved model on one split (default test) of a dataset\n"
    "(default: the synthetic demo data, --data-seed 1).  Data options as for mird train.\n";

int cli_eval(int argc, char **argv)
{
    use_args a = {0};
    int status = parse_use_args(argc, argv, &a, eval_help);
    if (status)
        return status < 0 ? 0 : status;
    mird_model *model = NULL;
    mird_config *cfg = NULL;
    mird_dataset *ds = NULL;
    double m[MIRD_METRIC_COUNT];
    status = open_model_and_data(&a, &model, &cfg, &ds);
    if (!status && mird_evaluate(model, ds, m, MIRD_METRIC_COUNT, NULL) != MIRD_OK)
        status = cli_fail("evaluation");
    if (!status) {
        cli_print_metrics_header(stdout, "split");
        cli_print_metrics_row(stdout, a.split, m);
    }
    mird_dataset_destroy(ds);
    mird_config_destroy(cfg);
    mird_model_destroy(model);
    return status;
}

static const char predict_help[] =
    "usage: mird predict --model FILE [--data PATH ...] [--split test] [--output FILE.csv]\n"
    "\n"
    "Writes one CSV row per sample: id (or index), prediction, label (empty when the\n"
    "sample is unlabeled).  Without --output the rows go to standard output.\n";

int cli_predict(int argc, char **argv)
{
    use_args a = {0};
    int status = parse_use_args(argc, argv, &a, predict_help);
    if (status)
        return status < 0 ? 0 : status;
    mird_model *model = NULL;
    mird_config *cfg = NULL;
    mird_dataset *ds = NULL;
    float *pred = NULL, *labels = NULL;
    uint8_t *labeled = NULL;
    FILE *out = stdout;
    status = open_model_and_data(&a, &model, &cfg, &ds);
    int64_t n = mird_dataset_size(ds);
    if (!status) {
        pred = malloc(sizeof(float) * (size_t)n);
        labels = malloc(sizeof(float) * (size_t)n);
        labeled = malloc((size_t)n);
        if (!pred || !labels || !labeled)
            status = cli_usage_error("out of memory");
    }
    if (!status && mird_evaluate(model, ds, NULL, 0, pred) != MIRD_OK)
        status = cli_fail("prediction");
    if (!status && mird_dataset_get_labels(ds, labels, labeled) != MIRD_OK)
        memset(labeled, 0, (size_t)n);
    if (!status && a.output && !(out = fopen(a.output, "w"))) {
        fprintf(stderr, "mird: cannot write %s\n", a.output);
        status = 1;
    }
    if (!status) {
        /* %.9g prints every float exactly, and C's default locale keeps '.'. */
        fprintf(out, "id,prediction,label\n");
        for (int64_t i = 0; i < n; i++) {
            const char *id = mird_dataset_id(ds, i);
            if (id)
                fprintf(out, "%s,%.9g,", id, (double)pred[i]);
            else
                fprintf(out, "%lld,%.9g,", (long long)i, (double)pred[i]);
            if (labeled[i])
                fprintf(out, "%.9g", (double)labels[i]);
            fputc('\n', out);
        }
        if (out != stdout && fclose(out) != 0) {
            fprintf(stderr, "mird: writing %s failed\n", a.output);
            status = 1;
        }
    }
    free(pred);
    free(labels);
    free(labeled);
    mird_dataset_destroy(ds);
    mird_config_destroy(cfg);
    mird_model_destroy(model);
    return status;
}

/* A metadata value, or "-" when the checkpoint lacks it. */
static const char *metadata(const char *path, const char *key, char *buf, size_t size)
{
    return mird_checkpoint_metadata(path, key, buf, size, NULL) == MIRD_OK ? buf : "-";
}

int cli_info(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        printf("usage: mird info FILE\n\nPrints what a checkpoint holds: the library that wrote "
               "it, its settings,\nits parameter count and whether optimizer state is included.\n");
        return argc == 2 ? 0 : 2;
    }
    const char *path = argv[1];
    mird_model *model;
    if (mird_model_load(path, &model) != MIRD_OK)
        return cli_fail(path);
    mird_config *cfg;
    if (mird_model_get_config(model, &cfg) != MIRD_OK) {
        mird_model_destroy(model);
        return cli_fail("configuration");
    }
    char buf[256];
    printf("checkpoint     %s\n", path);
    printf("written by     libmird %s (format %s)\n", metadata(path, "mird.version", buf, sizeof buf),
           metadata(path, "mird.format", buf + 128, 128));
    printf("parameters     %lld\n", (long long)mird_model_parameter_count(model));
    printf("optimizer      %s", mird_checkpoint_metadata(path, "mird.optimizer.steps", buf,
                                                         sizeof buf, NULL) == MIRD_OK
                                    ? "included, steps "
                                    : "not included");
    printf("%s\n", mird_checkpoint_metadata(path, "mird.optimizer.steps", buf, sizeof buf, NULL)
                           == MIRD_OK
                       ? buf
                       : "");
    printf("settings\n");
    for (int p = 0;; p++) {
        const char *name = mird_param_name((mird_param)p);
        if (!name)
            break;
        if (mird_config_get_text(cfg, (mird_param)p, buf, sizeof buf) == MIRD_OK)
            printf("  %-24s %s\n", name, buf);
    }
    mird_config_destroy(cfg);
    mird_model_destroy(model);
    return 0;
}
