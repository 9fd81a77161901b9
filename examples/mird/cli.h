/* The `mird` command-line tool: what its subcommands share.
 *
 * The tool uses nothing but the public API (include/mird/mird.h), so it is
 * also the largest example of how a host program drives libmird. */
#ifndef MIRD_CLI_H
#define MIRD_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <mird/mird.h>

/* Where samples come from: nothing (the synthetic demo data), an MMSA HDF5
 * file, a directory of MFN files, or CMU-SDK .csd files. */
typedef struct data_source {
    const char *path;      /* --data; NULL = synthetic */
    const char *options;   /* --data-options */
    const char *csd[4];    /* --csd-labels, --csd-text, --csd-audio, --csd-vision */
    uint64_t synthetic_seed;
} data_source;

/* Sizes of the synthetic demo splits. */
#define SYNTHETIC_TRAIN 1200
#define SYNTHETIC_VALID 300
#define SYNTHETIC_TEST 400

/* Prints "mird: <what>: <library message>" to stderr; returns 1. */
int cli_fail(const char *what);
/* Prints a usage error to stderr; returns 2. */
int cli_usage_error(const char *fmt, ...);

/* Consumes one "--name value" option at argv[*i] if it is `name`; returns
 * 1 and sets *value (or 2 on a missing value, after printing), else 0. */
int cli_take(int argc, char **argv, int *i, const char *name, const char **value);

/* Recognises --data, --data-options, --csd-*, --data-seed. */
int cli_take_data_option(int argc, char **argv, int *i, data_source *src, int *status);

int cli_is_synthetic(const data_source *src);
/* Reads one split (cfg supplies the synthetic shapes); `extra` is appended
 * to the reader options (may be NULL). */
mird_status cli_load_split(const data_source *src, const mird_config *cfg, mird_split split,
                           const char *extra, mird_dataset **out);

/* "key = value" lines, '#' starts a comment. */
int cli_apply_config_file(mird_config *cfg, const char *path);
/* "key=value". */
int cli_apply_setting(mird_config *cfg, const char *assignment);

/* The metrics table: one row per named set of metrics. */
void cli_print_metrics_header(FILE *out, const char *first_column);
void cli_print_metrics_row(FILE *out, const char *name, const double *metrics);

double cli_seconds(void);

int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_info(int argc, char **argv);

#endif
