/* Helpers for testing lib/model modules alone: a committed parameter table,
 * a pass, and a finite-difference check of every registered tensor; and a
 * tiny model with its optimizer and a batch, made through the public API. */
#ifndef MIRD_TESTS_MODELUTIL_H
#define MIRD_TESTS_MODELUTIL_H

#include "model/pass.h"
#include "support/gradcheck.h"

/* Commits the table and initialises it from `seed`; fails the test on error. */
void mu_commit_params(mird_param_table *table, uint64_t seed);

/* A configuration from a preset, with settings overridden by name=value
 * pairs (NULL-terminated list of strings, e.g. "dropout_reg", "0.3", NULL). */
mird_config mu_config(const char *preset, ...);

/* A pass over `batch` samples in training mode with a fixed pass id. */
mird_pass mu_pass(mird_dnnl *ctx, mird_param_table *table, const mird_config *cfg,
                  int64_t batch, int training);

/* gc_check for every tensor of `group` in the table against the gradients
 * stored in the table. */
void mu_check_param_grads(mird_param_table *table, mird_param_group group, gc_loss_fn loss,
                          void *user, const gc_options *options);

/* A tiny-preset model, its optimizer and a batch of five labeled samples
 * with padding, a missing audio and a missing vision; the batch borrows the
 * arrays here. */
typedef struct mu_tiny {
    mird_config *cfg;
    mird_model *model;
    mird_optimizer *opt;
    mird_batch *batch;
    float text[5 * 6 * 16], audio[5 * 8 * 4], vision[5 * 10 * 6], labels[5];
    int32_t text_len[5], audio_len[5], vision_len[5];
} mu_tiny;

void mu_tiny_make(mu_tiny *s);
void mu_tiny_destroy(mu_tiny *s);

#endif
