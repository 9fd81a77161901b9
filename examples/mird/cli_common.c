/* What the subcommands share: options, data sources, config files, tables. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

int cli_fail(const char *what)
{
    fprintf(stderr, "mird: %s: %s\n", what, mird_last_error_message());
    return 1;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mird: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (--help lists the options)\n", stderr);
    va_end(ap);
    return 2;
}

int cli_take(int argc, char **argv, int *i, const char *name, const char **value)
{
    if (strcmp(argv[*i], name) != 0)
        return 0;
    if (*i + 1 >= argc) {
        cli_usage_error("%s needs a value", name);
        return 2;
    }
    *value = argv[++*i];
    return 1;
}

int cli_take_data_option(int argc, char **argv, int *i, data_source *src, int *status)
{
    static const char *const csd_names[4] = {"--csd-labels", "--csd-text", "--csd-audio",
                                             "--csd-vision"};
    const char *value = NULL;
    int r;
    *status = 0;
    if ((r = cli_take(argc, argv, i, "--data", &value)) != 0) {
        src->path = value;
    } else if ((r = cli_take(argc, argv, i, "--data-options", &value)) != 0) {
        src->options = value;
    } else if ((r = cli_take(argc, argv, i, "--data-seed", &value)) != 0) {
        if (r == 1) {
            char *end;
            unsigned long long seed = strtoull(value, &end, 10);
            if (*end || end == value) {
                *status = cli_usage_error("--data-seed %s is not a number", value);
                return 1;
            }
            src->synthetic_seed = seed;
        }
    } else {
        for (int k = 0; k < 4 && r == 0; k++)
            if ((r = cli_take(argc, argv, i, csd_names[k], &value)) == 1)
                src->csd[k] = value;
    }
    if (r == 2)
        *status = 2;
    return r != 0;
}

int cli_is_synthetic(const data_source *src)
{
    return !src->path && !src->csd[0];
}

static int is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

mird_status cli_load_split(const data_source *src, const mird_config *cfg, mird_split split,
                           const char *extra, mird_dataset **out)
{
    char options[1024];
    const char *base = src->options ? src->options : "";
    const char *add = extra ? extra : "";
    if (src->csd[0]) {
        /* The .csd reader splits by a folds file; without one every split
         * would be the whole set, so only the training split exists. */
        int has_folds = strstr(base, "folds=") != NULL;
        if (!has_folds && split != MIRD_SPLIT_TRAIN) {
            *out = NULL;
            return MIRD_OK;
        }
        snprintf(options, sizeof options, "%s%s%s%s%s", base, has_folds ? ",split=" : "",
                 has_folds ? mird_split_name(split) : "", *add && (*base || has_folds) ? "," : "",
                 add);
        return mird_dataset_read_csd(src->csd[0], src->csd[1], src->csd[2], src->csd[3],
                                     options, out);
    }
    snprintf(options, sizeof options, "%s%s%s", base, *base && *add ? "," : "", add);
    if (!src->path) {
        static const int64_t sizes[3] = {SYNTHETIC_TRAIN, SYNTHETIC_VALID, SYNTHETIC_TEST};
        return mird_dataset_synthetic(cfg, split, sizes[split], src->synthetic_seed, options, out);
    }
    if (is_directory(src->path))
        return mird_dataset_read_mfn(src->path, split, options, out);
    return mird_dataset_read_hdf5(src->path, split, options, out);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

int cli_apply_setting(mird_config *cfg, const char *assignment)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", assignment);
    char *eq = strchr(buf, '=');
    if (!eq)
        return cli_usage_error("setting \"%s\" is not key=value", assignment);
    *eq = '\0';
    if (mird_config_set(cfg, trim(buf), trim(eq + 1)) != MIRD_OK)
        return cli_fail("setting");
    return 0;
}

int cli_apply_config_file(mird_config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mird: cannot open config file %s\n", path);
        return 1;
    }
    char line[1024];
    int number = 0, status = 0;
    while (status == 0 && fgets(line, sizeof line, f)) {
        number++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *text = trim(line);
        if (!*text)
            continue;
        if (!strchr(text, '=')) {
            fprintf(stderr, "mird: %s:%d: expected key = value\n", path, number);
            status = 1;
        } else if (cli_apply_setting(cfg, text) != 0) {
            fprintf(stderr, "mird: %s:%d: the setting above was refused\n", path, number);
            status = 1;
        }
    }
    fclose(f);
    return status;
}

void cli_print_metrics_header(FILE *out, const char *first_column)
{
    fprintf(out, "%-8s %7s %7s %9s %8s %9s %8s %7s %7s\n", first_column, "MAE", "Corr", "Acc2-has0",
            "F1-has0", "Acc2-non0", "F1-non0", "Acc-5", "Acc-7");
}

void cli_print_metrics_row(FILE *out, const char *name, const double *m)
{
    fprintf(out, "%-8s %7.4f %7.4f %9.4f %8.4f %9.4f %8.4f %7.4f %7.4f\n", name,
            m[MIRD_METRIC_MAE], m[MIRD_METRIC_CORR], m[MIRD_METRIC_ACC2_HAS0],
            m[MIRD_METRIC_F1_HAS0], m[MIRD_METRIC_ACC2_NON0], m[MIRD_METRIC_F1_NON0],
            m[MIRD_METRIC_ACC5], m[MIRD_METRIC_ACC7]);
}

double cli_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
