/* mird_fit, mird_fit_seeds and mird_evaluate on the tiny preset: which
 * samples each step sees, model selection and early stopping, cancelling,
 * rollback on failure, reproducibility, and evaluation against mird_infer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mird/mird.h>

#include "core/alloc.h"
#include "core/fault.h"
#include "io/dataset.h"
#include "support/testutil.h"
#include "train/fit.h"

/* tiny: text 6 x 16, audio 8 x 4, vision 10 x 6. */
enum { TL = 6, DL = 16, TA = 8, DA = 4, TV = 10, DV = 6 };

static mird_config *tiny_config(void)
{
    mird_config *cfg;
    ck_assert_int_eq(mird_config_create(&cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_preset(cfg, "tiny"), MIRD_OK);
    ck_assert_int_eq(mird_config_set(cfg, "batch_size", "5"), MIRD_OK);
    ck_assert_int_eq(mird_config_set(cfg, "epochs", "3"), MIRD_OK);
    ck_assert_int_eq(mird_config_set(cfg, "estimator_steps", "2"), MIRD_OK);
    ck_assert_int_eq(mird_config_set(cfg, "unlabeled_ratio", "0"), MIRD_OK);
    return cfg;
}

/* Every sample carries its id in the last audio frame, which is always
 * padding (audio lengths stay below 8), so the batch hook can tell which
 * samples a step got without the id affecting training. */
static float id_value(int64_t id)
{
    return 0.01f * (float)id;
}

static int64_t id_of(const mird_batch *b, int64_t i)
{
    return lrintf(b->audio[(i * TA + TA - 1) * DA] * 100.0f);
}

/* n samples with ids first_id.., labels learnable from the text (or random),
 * `unlabeled` (may be NULL) listing samples without a label. */
static mird_dataset *make_data(const mird_config *cfg, int64_t n, int64_t first_id,
                               uint32_t stream, int random_labels, const uint8_t *unlabeled)
{
    mird_batch_shape shape = mird_batch_shape_of(cfg);
    mird_dataset *ds;
    mird_dataset_arrays a;
    mird_error err = {0};
    ck_assert_int_eq(mird_dataset_new(&shape, n, NULL, &ds, &a, &err), MIRD_OK);
    tu_fill_uniform(a.text_features, (size_t)n * TL * DL, -1, 1, stream);
    tu_fill_uniform(a.audio, (size_t)n * TA * DA, -1, 1, stream + 1);
    tu_fill_uniform(a.vision, (size_t)n * TV * DV, -1, 1, stream + 2);
    tu_fill_uniform(a.labels, (size_t)n, -3, 3, stream + 3);
    for (int64_t i = 0; i < n; i++) {
        a.text_lengths[i] = (int32_t)(1 + (i * 5) % TL);
        a.audio_lengths[i] = (int32_t)(1 + (i * 3) % (TA - 1));
        a.vision_lengths[i] = (int32_t)(1 + (i * 7) % TV);
        a.audio[(i * TA + TA - 1) * DA] = id_value(first_id + i);
        if (!random_labels)
            a.labels[i] = 2.5f * a.text_features[i * TL * DL];
        a.labeled[i] = unlabeled ? !unlabeled[i] : 1;
    }
    ck_assert_int_eq(mird_dataset_finish(ds, "test data", &err), MIRD_OK);
    return ds;
}

/* ------------------------------------------------------------------------ */
/* What every step sees                                                      */
/* ------------------------------------------------------------------------ */

enum { MAX_STEPS = 64, MAX_BATCH = 16 };

typedef struct batch_log {
    int64_t steps;
    int64_t labeled[MAX_STEPS], unlabeled[MAX_STEPS];
    int64_t ids[MAX_STEPS][MAX_BATCH]; /* labeled ids first */
} batch_log;

static void record_batch(const mird_batch *b, void *context)
{
    batch_log *log = context;
    ck_assert_int_lt(log->steps, MAX_STEPS);
    ck_assert_int_le(b->size, MAX_BATCH);
    int64_t s = log->steps++, labeled = 0;
    for (int64_t i = 0; i < b->size; i++) {
        /* Labeled rows come first, each with a finite label. */
        if (b->labeled[i]) {
            ck_assert_int_eq(labeled, i);
            ck_assert(isfinite(b->labels[i]));
            labeled++;
        }
        log->ids[s][i] = id_of(b, i);
    }
    log->labeled[s] = labeled;
    log->unlabeled[s] = b->size - labeled;
}

/* 24 training samples, 3 of them unlabeled (21 labeled: batches of 5, 5, 5,
 * 5, 1), and 7 unlabeled samples with ids 100..106. */
static const uint8_t train_unlabeled[24] = {[3] = 1, [10] = 1, [17] = 1};

static void run_logged(mird_config *cfg, batch_log *log)
{
    mird_dataset *train = make_data(cfg, 24, 0, 10, 0, train_unlabeled);
    mird_dataset *pool = make_data(cfg, 7, 100, 20, 0, NULL);
    mird_model *model;
    mird_optimizer *opt;
    ck_assert_int_eq(mird_model_create(cfg, &model), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(model, &opt), MIRD_OK);
    memset(log, 0, sizeof *log);
    mird_fit_batch_hook = record_batch;
    mird_fit_batch_hook_context = log;
    mird_status st = mird_fit(model, opt, train, pool, NULL, NULL, NULL, NULL);
    mird_fit_batch_hook = NULL;
    ck_assert_msg(st == MIRD_OK, "%s", mird_last_error_message());
    mird_optimizer_destroy(opt);
    mird_model_destroy(model);
    mird_dataset_free(pool);
    mird_dataset_free(train);
}

START_TEST(test_every_labeled_sample_once_per_epoch)
{
    mird_config *cfg = tiny_config();
    ck_assert_int_eq(mird_config_set(cfg, "unlabeled_ratio", "0.5"), MIRD_OK);
    batch_log log;
    run_logged(cfg, &log);
    ck_assert_int_eq(log.steps, 3 * 5);
    for (int epoch = 0; epoch < 3; epoch++) {
        int seen[24] = {0}, pool_seen[7] = {0};
        int64_t drawn = 0;
        for (int b = 0; b < 5; b++) {
            int64_t s = epoch * 5 + b;
            ck_assert_int_eq(log.labeled[s], b < 4 ? 5 : 1);
            /* round(0.5 x 5) = 3, round(0.5 x 1) = 1. */
            ck_assert_int_eq(log.unlabeled[s], lround(0.5 * (double)log.labeled[s]));
            for (int64_t i = 0; i < log.labeled[s]; i++) {
                int64_t id = log.ids[s][i];
                ck_assert(id >= 0 && id < 24 && !train_unlabeled[id]);
                seen[id]++;
            }
            for (int64_t i = log.labeled[s]; i < log.labeled[s] + log.unlabeled[s]; i++) {
                int64_t id = log.ids[s][i] - 100;
                ck_assert(id >= 0 && id < 7);
                /* No repeats while the pool lasts: draw 8 starts a new round. */
                if (drawn++ % 7 == 0)
                    memset(pool_seen, 0, sizeof pool_seen);
                ck_assert_int_eq(pool_seen[id]++, 0);
            }
        }
        ck_assert_int_eq(drawn, 4 * 3 + 1);
        for (int id = 0; id < 24; id++)
            ck_assert_int_eq(seen[id], train_unlabeled[id] ? 0 : 1);
    }
    /* Each epoch has its own order of the labeled samples. */
    int same_order = 1;
    for (int b = 0; b < 5; b++)
        for (int64_t i = 0; i < log.labeled[b]; i++)
            same_order &= log.ids[b][i] == log.ids[5 + b][i];
    ck_assert(!same_order);
    mird_config_destroy(cfg);
}
END_TEST

START_TEST(test_shuffling_follows_the_seed)
{
    mird_config *cfg = tiny_config();
    ck_assert_int_eq(mird_config_set(cfg, "unlabeled_ratio", "1"), MIRD_OK);
    batch_log *first = malloc(sizeof *first), *again = malloc(sizeof *again);
    batch_log *other = malloc(sizeof *other);
    run_logged(cfg, first);
    run_logged(cfg, again);
    ck_assert_int_eq(memcmp(first, again, sizeof *first), 0);
    ck_assert_int_eq(mird_config_set(cfg, "seed", "2"), MIRD_OK);
    run_logged(cfg, other);
    ck_assert_int_eq(other->steps, first->steps);
    ck_assert(memcmp(first->ids, other->ids, sizeof first->ids) != 0);
    free(first), free(again), free(other);
    mird_config_destroy(cfg);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Progress, selection, early stopping, cancelling                           */
/* ------------------------------------------------------------------------ */

typedef struct progress_log {
    int64_t step_events, epoch_events, cancel_at_step, cancel_at_epoch, runs_seen;
    int64_t last_step, last_epoch;
    double step_terms[MAX_STEPS][MIRD_TERM_COUNT];
    int64_t step_epochs[MAX_STEPS];
    int improved[MAX_STEPS];
    double epoch_metrics[MAX_STEPS][MIRD_METRIC_COUNT];
} progress_log;

static int on_progress(const mird_progress *p, void *user_data)
{
    progress_log *log = user_data;
    ck_assert_int_eq(mird_progress_total_steps(p), 3 * 5); /* the tests' 3 epochs of 5 */
    if (mird_progress_run(p) + 1 > log->runs_seen)
        log->runs_seen = mird_progress_run(p) + 1;
    if (mird_progress_event(p) == MIRD_EVENT_STEP) {
        int64_t s = log->step_events++;
        /* Counted from 1 in each run (mird_fit_seeds makes several). */
        ck_assert(mird_progress_step(p) == log->last_step + 1 || mird_progress_step(p) == 1);
        log->last_step = mird_progress_step(p);
        if (s < MAX_STEPS) {
            for (int t = 0; t < MIRD_TERM_COUNT; t++)
                log->step_terms[s][t] = mird_progress_term(p, (mird_term)t);
            log->step_epochs[s] = mird_progress_epoch(p);
        }
        ck_assert(isnan(mird_progress_metric(p, MIRD_METRIC_MAE)));
        return log->cancel_at_step == mird_progress_step(p);
    }
    int64_t e = log->epoch_events++;
    ck_assert(mird_progress_epoch(p) == log->last_epoch + 1 || mird_progress_epoch(p) == 1);
    log->last_epoch = mird_progress_epoch(p);
    ck_assert_int_eq(mird_progress_step(p), log->last_step);
    if (e < MAX_STEPS) {
        log->improved[e] = mird_progress_improved(p);
        for (int k = 0; k < MIRD_METRIC_COUNT; k++)
            log->epoch_metrics[e][k] = mird_progress_metric(p, (mird_metric)k);
    }
    ck_assert(isnan(mird_progress_term(p, (mird_term)MIRD_TERM_COUNT)));
    ck_assert(isnan(mird_progress_metric(p, (mird_metric)MIRD_METRIC_COUNT)));
    return log->cancel_at_epoch == mird_progress_epoch(p);
}

typedef struct fit_setup {
    mird_config *cfg;
    mird_model *model;
    mird_optimizer *opt;
    mird_dataset *train, *valid;
} fit_setup;

static void setup_fit(fit_setup *s, int random_valid)
{
    s->cfg = tiny_config();
    s->train = make_data(s->cfg, 24, 0, 10, 0, train_unlabeled);
    s->valid = make_data(s->cfg, 16, 200, 30, random_valid, NULL);
    ck_assert_int_eq(mird_model_create(s->cfg, &s->model), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(s->model, &s->opt), MIRD_OK);
}

static void teardown_fit(fit_setup *s)
{
    mird_optimizer_destroy(s->opt);
    mird_model_destroy(s->model);
    mird_dataset_free(s->valid);
    mird_dataset_free(s->train);
    mird_config_destroy(s->cfg);
}

/* Validation metrics of the model as it is now, against a report's epoch:
 * bit for bit (NaN matches NaN). */
static void assert_holds_epoch(mird_model *model, const mird_dataset *valid, const mird_report *r,
                               int64_t epoch)
{
    double now[MIRD_METRIC_COUNT];
    ck_assert_int_eq(mird_evaluate(model, valid, now, MIRD_METRIC_COUNT, NULL), MIRD_OK);
    for (int k = 0; k < MIRD_METRIC_COUNT; k++) {
        double then = mird_report_metric(r, epoch, (mird_metric)k);
        ck_assert_msg(now[k] == then || (isnan(now[k]) && isnan(then)),
                      "%s: model %.17g, epoch %lld %.17g", mird_metric_name((mird_metric)k),
                      now[k], (long long)epoch, then);
    }
}

START_TEST(test_progress_and_report)
{
    fit_setup s;
    setup_fit(&s, 0);
    progress_log *log = calloc(1, sizeof *log);
    mird_report *r;
    ck_assert_int_eq(mird_fit(s.model, s.opt, s.train, NULL, s.valid, on_progress, log, &r),
                     MIRD_OK);
    ck_assert_int_eq(log->step_events, 15);
    ck_assert_int_eq(log->epoch_events, 3);
    ck_assert_int_eq(mird_report_epochs(r), 3);
    ck_assert_int_eq(mird_report_stop(r), MIRD_STOP_EPOCHS);
    ck_assert_int_eq(mird_optimizer_step_count(s.opt), 15);
    ck_assert_int_eq(s.opt->total_steps, 15);
    for (int64_t e = 1; e <= 3; e++) {
        /* The epoch's term is the mean of its steps' terms. */
        for (int t = 0; t < MIRD_TERM_COUNT; t++) {
            double sum = 0.0;
            int count = 0;
            for (int st = 0; st < 15; st++)
                if (log->step_epochs[st] == e && !isnan(log->step_terms[st][t]))
                    sum += log->step_terms[st][t], count++;
            double mean = count ? sum / count : NAN;
            double got = mird_report_term(r, e, (mird_term)t);
            ck_assert_msg(got == mean || (isnan(got) && isnan(mean)), "epoch %lld %s: %g vs %g",
                          (long long)e, mird_term_name((mird_term)t), got, mean);
        }
        for (int k = 0; k < MIRD_METRIC_COUNT; k++)
            ck_assert(log->epoch_metrics[e - 1][k] == mird_report_metric(r, e, (mird_metric)k)
                      || isnan(log->epoch_metrics[e - 1][k]));
    }
    /* improved marks each new strict minimum of the validation MAE. */
    double best = INFINITY;
    int64_t best_epoch = 0;
    for (int64_t e = 1; e <= 3; e++) {
        double mae = mird_report_metric(r, e, MIRD_METRIC_MAE);
        ck_assert_int_eq(log->improved[e - 1], mae < best);
        if (mae < best)
            best = mae, best_epoch = e;
    }
    ck_assert_int_eq(mird_report_best_epoch(r), best_epoch);
    assert_holds_epoch(s.model, s.valid, r, best_epoch);
    ck_assert(isnan(mird_report_term(r, 0, MIRD_TERM_TOTAL)));
    ck_assert(isnan(mird_report_metric(r, 4, MIRD_METRIC_MAE)));
    ck_assert(isnan(mird_report_metric(r, 1, (mird_metric)-1)));
    mird_report_destroy(r);

    /* A second run's schedule spans it on top of the steps already taken. */
    ck_assert_int_eq(mird_fit(s.model, s.opt, s.train, NULL, NULL, NULL, NULL, &r), MIRD_OK);
    ck_assert_int_eq(s.opt->total_steps, 30);
    ck_assert_int_eq(mird_report_best_epoch(r), 0); /* no validation set */
    ck_assert(isnan(mird_report_metric(r, 1, MIRD_METRIC_MAE)));
    ck_assert(!isnan(mird_report_term(r, 1, MIRD_TERM_TASK)));
    mird_report_destroy(r);
    mird_report_destroy(NULL);
    free(log);
    teardown_fit(&s);
}
END_TEST

/* A second mird_fit on the same model continues training: its shuffles
 * must not replay the first run's orders. */
START_TEST(test_a_second_run_draws_new_orders)
{
    mird_config *cfg = tiny_config();
    ck_assert_int_eq(mird_config_set(cfg, "epochs", "1"), MIRD_OK);
    mird_dataset *train = make_data(cfg, 24, 0, 10, 0, NULL);
    mird_model *model;
    mird_optimizer *opt;
    ck_assert_int_eq(mird_model_create(cfg, &model), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(model, &opt), MIRD_OK);
    batch_log *logs = calloc(2, sizeof *logs);
    mird_fit_batch_hook = record_batch;
    for (int run = 0; run < 2; run++) {
        mird_fit_batch_hook_context = &logs[run];
        ck_assert_int_eq(mird_fit(model, opt, train, NULL, NULL, NULL, NULL, NULL), MIRD_OK);
    }
    mird_fit_batch_hook = NULL;
    ck_assert_int_eq(logs[0].steps, logs[1].steps);
    int differ = 0;
    for (int64_t st = 0; st < logs[0].steps; st++)
        for (int64_t i = 0; i < logs[0].labeled[st]; i++)
            differ |= logs[0].ids[st][i] != logs[1].ids[st][i];
    ck_assert_msg(differ, "the second run replayed the first run's sample order");
    free(logs);
    mird_optimizer_destroy(opt);
    mird_model_destroy(model);
    mird_dataset_free(train);
    mird_config_destroy(cfg);
}
END_TEST

START_TEST(test_patience_keeps_the_best_epoch)
{
    fit_setup s;
    setup_fit(&s, 1); /* validation labels are noise: nothing to learn */
    ck_assert_int_eq(mird_config_set(s.cfg, "epochs", "40"), MIRD_OK);
    ck_assert_int_eq(mird_config_set(s.cfg, "patience", "2"), MIRD_OK);
    ck_assert_int_eq(mird_config_set(s.cfg, "learning_rate", "0.01"), MIRD_OK);
    for (int select = 0; select < 2; select++) {
        ck_assert_int_eq(mird_config_set(s.cfg, "select_by", select ? "loss" : "mae"), MIRD_OK);
        mird_model *model;
        mird_optimizer *opt;
        ck_assert_int_eq(mird_model_create(s.cfg, &model), MIRD_OK);
        ck_assert_int_eq(mird_optimizer_create(model, &opt), MIRD_OK);
        mird_report *r;
        ck_assert_int_eq(mird_fit(model, opt, s.train, NULL, s.valid, NULL, NULL, &r), MIRD_OK);
        int64_t epochs = mird_report_epochs(r), best = mird_report_best_epoch(r);
        ck_assert_int_eq(mird_report_stop(r), MIRD_STOP_PATIENCE);
        ck_assert_int_lt(epochs, 40);
        ck_assert_int_eq(epochs, best + 2);
        /* The best epoch is the first with the lowest selected metric. */
        mird_metric by = select ? MIRD_METRIC_MSE : MIRD_METRIC_MAE;
        for (int64_t e = 1; e <= epochs; e++) {
            double v = mird_report_metric(r, e, by), b = mird_report_metric(r, best, by);
            ck_assert(e < best ? v > b : v >= b);
        }
        assert_holds_epoch(model, s.valid, r, best);
        mird_report_destroy(r);
        mird_optimizer_destroy(opt);
        mird_model_destroy(model);
    }
    teardown_fit(&s);
}
END_TEST

/* With a learning rate of 0 the predictions never change: every epoch ties
 * with the first, which stays the best. */
START_TEST(test_ties_keep_the_earlier_epoch)
{
    fit_setup s;
    setup_fit(&s, 0);
    ck_assert_int_eq(mird_config_set(s.cfg, "learning_rate", "0"), MIRD_OK);
    ck_assert_int_eq(mird_config_set(s.cfg, "patience", "2"), MIRD_OK);
    mird_model *model;
    mird_optimizer *opt;
    ck_assert_int_eq(mird_model_create(s.cfg, &model), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(model, &opt), MIRD_OK);
    progress_log *log = calloc(1, sizeof *log);
    mird_report *r;
    ck_assert_int_eq(mird_fit(model, opt, s.train, NULL, s.valid, on_progress, log, &r), MIRD_OK);
    ck_assert_int_eq(mird_report_stop(r), MIRD_STOP_PATIENCE);
    ck_assert_int_eq(mird_report_epochs(r), 3);
    ck_assert_int_eq(mird_report_best_epoch(r), 1);
    ck_assert_double_eq(mird_report_metric(r, 3, MIRD_METRIC_MAE),
                        mird_report_metric(r, 1, MIRD_METRIC_MAE));
    ck_assert(log->improved[0] && !log->improved[1] && !log->improved[2]);
    mird_report_destroy(r);
    free(log);
    mird_optimizer_destroy(opt);
    mird_model_destroy(model);
    teardown_fit(&s);
}
END_TEST

START_TEST(test_cancel_at_a_step)
{
    fit_setup s;
    setup_fit(&s, 0);
    progress_log *log = calloc(1, sizeof *log);
    log->cancel_at_step = 7; /* the second step of epoch 2 */
    mird_report *r;
    ck_assert_int_eq(mird_fit(s.model, s.opt, s.train, NULL, s.valid, on_progress, log, &r),
                     MIRD_ERR_CANCELLED);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "after 7 of 15 steps"));
    ck_assert_int_eq(log->step_events, 7);
    ck_assert_int_eq(mird_optimizer_step_count(s.opt), 7);
    ck_assert_int_eq(mird_report_stop(r), MIRD_STOP_CANCELLED);
    ck_assert_int_eq(mird_report_epochs(r), 1);
    ck_assert_int_eq(mird_report_best_epoch(r), 1);
    assert_holds_epoch(s.model, s.valid, r, 1);
    mird_report_destroy(r);

    /* Stopping at an epoch's event keeps that epoch in the report. */
    memset(log, 0, sizeof *log);
    log->cancel_at_epoch = 2;
    ck_assert_int_eq(mird_fit(s.model, s.opt, s.train, NULL, s.valid, on_progress, log, &r),
                     MIRD_ERR_CANCELLED);
    ck_assert_int_eq(log->step_events, 10);
    ck_assert_int_eq(mird_report_epochs(r), 2);
    assert_holds_epoch(s.model, s.valid, r, mird_report_best_epoch(r));
    mird_report_destroy(r);
    free(log);
    teardown_fit(&s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Failures leave the model and optimizer as they were                       */
/* ------------------------------------------------------------------------ */

typedef struct state_copy {
    float *values, *m, *v;
    int64_t steps, estimator_steps, total_steps;
    uint64_t passes;
} state_copy;

static state_copy copy_state(const fit_setup *s)
{
    size_t n = s->model->params.total;
    state_copy c = {tu_copy(s->model->params.values, n), tu_copy(s->opt->m, n),
                    tu_copy(s->opt->v, n), s->opt->steps, s->opt->estimator_steps,
                    s->opt->total_steps, s->model->passes};
    return c;
}

static void assert_unchanged(const fit_setup *s, state_copy *c)
{
    size_t bytes = s->model->params.total * sizeof(float);
    ck_assert_int_eq(memcmp(c->values, s->model->params.values, bytes), 0);
    ck_assert_int_eq(memcmp(c->m, s->opt->m, bytes), 0);
    ck_assert_int_eq(memcmp(c->v, s->opt->v, bytes), 0);
    ck_assert_int_eq(c->steps, s->opt->steps);
    ck_assert_int_eq(c->estimator_steps, s->opt->estimator_steps);
    ck_assert_int_eq(c->total_steps, s->opt->total_steps);
    ck_assert_uint_eq(c->passes, s->model->passes);
    mird_free(c->values), mird_free(c->m), mird_free(c->v);
}

static void expect_failure(fit_setup *s, mird_status got, mird_status want, const char *word)
{
    ck_assert_msg(got == want, "got %s, expected %s: %s", mird_status_string(got),
                  mird_status_string(want), mird_last_error_message());
    ck_assert_msg(strstr(mird_last_error_message(), word) != NULL,
                  "message \"%s\" does not name %s", mird_last_error_message(), word);
    ck_assert_str_eq(mird_model_error_message(s->model), mird_last_error_message());
}

START_TEST(test_failures_change_nothing)
{
    fit_setup s;
    setup_fit(&s, 0);
    /* A run first, so that the optimizer has state to lose. */
    ck_assert_int_eq(mird_fit(s.model, s.opt, s.train, NULL, NULL, NULL, NULL, NULL), MIRD_OK);
    state_copy c = copy_state(&s);
    /* A failing call sets the report to NULL: start from something else. */
    mird_report *r = (mird_report *)(void *)&c;

    ck_assert_int_eq(mird_fit(NULL, s.opt, s.train, NULL, NULL, NULL, NULL, &r),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "model"));
    ck_assert_int_eq(mird_fit(s.model, s.opt, NULL, NULL, NULL, NULL, NULL, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "train"));

    mird_model *other;
    mird_optimizer *other_opt;
    ck_assert_int_eq(mird_model_create(s.cfg, &other), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(other, &other_opt), MIRD_OK);
    expect_failure(&s, mird_fit(s.model, other_opt, s.train, NULL, NULL, NULL, NULL, &r),
                   MIRD_ERR_INVALID_ARGUMENT, "another model");
    mird_optimizer_destroy(other_opt);
    mird_model_destroy(other);

    /* Shapes of another configuration, as training, unlabeled or validation data. */
    mird_config *wide = tiny_config();
    ck_assert_int_eq(mird_config_set(wide, "audio_dim", "5"), MIRD_OK);
    mird_dataset *misfit = make_data(wide, 8, 0, 40, 0, NULL);
    expect_failure(&s, mird_fit(s.model, s.opt, misfit, NULL, NULL, NULL, NULL, &r),
                   MIRD_ERR_SHAPE, "the training set");
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "audio_dim"));
    expect_failure(&s, mird_fit(s.model, s.opt, s.train, misfit, NULL, NULL, NULL, &r),
                   MIRD_ERR_SHAPE, "the unlabeled set");
    expect_failure(&s, mird_fit(s.model, s.opt, s.train, NULL, misfit, NULL, NULL, &r),
                   MIRD_ERR_SHAPE, "the validation set");
    mird_dataset_free(misfit);
    mird_config_destroy(wide);

    /* Training data without labels: all unlabeled, or never set. */
    static const uint8_t none[6] = {1, 1, 1, 1, 1, 1};
    mird_dataset *unlabeled = make_data(s.cfg, 6, 0, 50, 0, none);
    expect_failure(&s, mird_fit(s.model, s.opt, unlabeled, NULL, NULL, NULL, NULL, &r),
                   MIRD_ERR_STATE, "no labeled sample");
    expect_failure(&s, mird_fit(s.model, s.opt, s.train, NULL, unlabeled, NULL, NULL, &r),
                   MIRD_ERR_STATE, "the validation set");
    unlabeled->samples.is_set[MIRD_FIELD_LABELS] = 0;
    expect_failure(&s, mird_fit(s.model, s.opt, unlabeled, NULL, NULL, NULL, NULL, &r),
                   MIRD_ERR_STATE, "no labels set");
    unlabeled->samples.is_set[MIRD_FIELD_AUDIO] = 0;
    expect_failure(&s, mird_fit(s.model, s.opt, s.train, unlabeled, NULL, NULL, NULL, &r),
                   MIRD_ERR_STATE, "no audio");
    mird_dataset_free(unlabeled);
    ck_assert_ptr_null(r);

    /* A failure in the middle of epoch 2, after epoch 1 was validated and
     * kept as the best: 2 estimator updates per step, so the 13th is in
     * step 7. */
    mird_fault_countdown = 13;
    expect_failure(&s, mird_fit(s.model, s.opt, s.train, NULL, s.valid, NULL, NULL, &r),
                   MIRD_ERR_INTERNAL, "injected fault");
    ck_assert_int_eq(mird_fault_countdown, 0);
    ck_assert_ptr_null(r);
    assert_unchanged(&s, &c);
    teardown_fit(&s);
}
END_TEST

START_TEST(test_same_seed_same_run)
{
    double metrics[2][MIRD_METRIC_COUNT];
    float *values[2];
    size_t n = 0;
    for (int run = 0; run < 2; run++) {
        fit_setup s;
        setup_fit(&s, 0);
        ck_assert_int_eq(mird_config_set(s.cfg, "unlabeled_ratio", "1"), MIRD_OK);
        mird_dataset *pool = make_data(s.cfg, 9, 100, 60, 0, NULL);
        pool->samples.is_set[MIRD_FIELD_LABELS] = 0; /* an unlabeled set needs none */
        mird_report *r;
        ck_assert_int_eq(mird_fit(s.model, s.opt, s.train, pool, s.valid, NULL, NULL, &r),
                         MIRD_OK);
        ck_assert_int_eq(mird_evaluate(s.model, s.valid, metrics[run], MIRD_METRIC_COUNT, NULL),
                         MIRD_OK);
        n = s.model->params.total;
        values[run] = tu_copy(s.model->params.values, n);
        mird_report_destroy(r);
        mird_dataset_free(pool);
        teardown_fit(&s);
    }
    ck_assert_int_eq(memcmp(values[0], values[1], n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(metrics[0], metrics[1], sizeof metrics[0]), 0);
    mird_free(values[0]), mird_free(values[1]);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* mird_fit_seeds                                                            */
/* ------------------------------------------------------------------------ */

START_TEST(test_fit_seeds_aggregates_runs)
{
    fit_setup s;
    setup_fit(&s, 0);
    mird_dataset *test = make_data(s.cfg, 12, 300, 70, 0, NULL);
    const uint64_t seeds[3] = {3, 4, 5};
    double per_run[3][MIRD_METRIC_COUNT], mean[MIRD_METRIC_COUNT], stddev[MIRD_METRIC_COUNT];
    progress_log *log = calloc(1, sizeof *log);
    ck_assert_int_eq(mird_fit_seeds(s.cfg, seeds, 3, s.train, NULL, s.valid, test, on_progress,
                                    log, &per_run[0][0], mean, stddev),
                     MIRD_OK);
    ck_assert_int_eq(log->runs_seen, 3);
    ck_assert_int_eq(log->epoch_events, 9);
    for (int k = 0; k < MIRD_METRIC_COUNT; k++) {
        double m = (per_run[0][k] + per_run[1][k] + per_run[2][k]) / 3.0, sq = 0.0;
        for (int r = 0; r < 3; r++)
            sq += (per_run[r][k] - m) * (per_run[r][k] - m);
        ck_assert_double_eq_tol(mean[k], m, 1e-12);
        ck_assert_double_eq_tol(stddev[k], sqrt(sq / 3.0), 1e-12);
    }
    ck_assert(stddev[MIRD_METRIC_MAE] > 0.0); /* the seeds made different models */

    /* Run 2 is mird_fit and mird_evaluate with seed 5. */
    mird_config *cfg;
    ck_assert_int_eq(mird_config_copy(s.cfg, &cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_set(cfg, "seed", "5"), MIRD_OK);
    mird_model *model;
    mird_optimizer *opt;
    ck_assert_int_eq(mird_model_create(cfg, &model), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(model, &opt), MIRD_OK);
    ck_assert_int_eq(mird_fit(model, opt, s.train, NULL, s.valid, NULL, NULL, NULL), MIRD_OK);
    double alone[MIRD_METRIC_COUNT];
    ck_assert_int_eq(mird_evaluate(model, test, alone, MIRD_METRIC_COUNT, NULL), MIRD_OK);
    ck_assert_int_eq(memcmp(alone, per_run[2], sizeof alone), 0);
    mird_optimizer_destroy(opt);
    mird_model_destroy(model);
    mird_config_destroy(cfg);

    /* Misuse: nothing trains, nothing is written. */
    ck_assert_int_eq(mird_fit_seeds(s.cfg, seeds, 0, s.train, NULL, s.valid, test, NULL, NULL,
                                    NULL, mean, NULL),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_fit_seeds(s.cfg, seeds, 1, s.train, NULL, s.valid, NULL, NULL, NULL,
                                    NULL, mean, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "test"));
    static const uint8_t none[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    mird_dataset *unlabeled_test = make_data(s.cfg, 12, 300, 70, 0, none);
    memset(log, 0, sizeof *log);
    double before = mean[0];
    ck_assert_int_eq(mird_fit_seeds(s.cfg, seeds, 3, s.train, NULL, s.valid, unlabeled_test,
                                    on_progress, log, NULL, mean, NULL),
                     MIRD_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "the test set"));
    ck_assert_int_eq(log->step_events, 0);
    ck_assert_double_eq(mean[0], before);
    mird_dataset_free(unlabeled_test);
    free(log);
    mird_dataset_free(test);
    teardown_fit(&s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* mird_evaluate                                                             */
/* ------------------------------------------------------------------------ */

START_TEST(test_evaluate_matches_infer)
{
    fit_setup s;
    setup_fit(&s, 0);
    ck_assert_int_eq(mird_fit(s.model, s.opt, s.train, NULL, NULL, NULL, NULL, NULL), MIRD_OK);
    /* 70 samples: a chunk of 64 and one of 6; every fifth unlabeled. */
    uint8_t unlabeled[70] = {0};
    for (int i = 0; i < 70; i += 5)
        unlabeled[i] = 1;
    mird_dataset *ds = make_data(s.cfg, 70, 0, 80, 0, unlabeled);
    float predictions[70];
    double metrics[MIRD_METRIC_COUNT];
    ck_assert_int_eq(mird_evaluate(s.model, ds, metrics, MIRD_METRIC_COUNT, predictions),
                     MIRD_OK);

    const mird_batch *all = &ds->samples;
    for (int64_t first = 0; first < 70; first += 64) {
        int64_t count = 70 - first < 64 ? 70 - first : 64;
        mird_batch *b;
        ck_assert_int_eq(mird_batch_create(s.cfg, count, &b), MIRD_OK);
        ck_assert_int_eq(mird_batch_set_text(b, all->text_features + first * TL * DL,
                                             all->text_lengths + first, MIRD_BORROW), MIRD_OK);
        ck_assert_int_eq(mird_batch_set_audio(b, all->audio + first * TA * DA,
                                              all->audio_lengths + first, MIRD_BORROW), MIRD_OK);
        ck_assert_int_eq(mird_batch_set_vision(b, all->vision + first * TV * DV,
                                               all->vision_lengths + first, MIRD_BORROW),
                         MIRD_OK);
        float inferred[64];
        ck_assert_int_eq(mird_infer(s.model, b, inferred, NULL), MIRD_OK);
        ck_assert_int_eq(memcmp(inferred, predictions + first, (size_t)count * sizeof(float)), 0);
        mird_batch_destroy(b);
    }

    /* The metrics count the labeled samples only. */
    float labeled_p[70], labeled_y[70];
    int64_t n = 0;
    for (int i = 0; i < 70; i++)
        if (!unlabeled[i])
            labeled_p[n] = predictions[i], labeled_y[n++] = all->labels[i];
    double expected[MIRD_METRIC_COUNT];
    ck_assert_int_eq(mird_metrics_compute(labeled_p, labeled_y, n, expected, MIRD_METRIC_COUNT),
                     MIRD_OK);
    ck_assert_int_eq(memcmp(expected, metrics, sizeof metrics), 0);

    /* Fewer metrics, or predictions only. */
    double two[3] = {-1, -1, -1};
    ck_assert_int_eq(mird_evaluate(s.model, ds, two, 2, NULL), MIRD_OK);
    ck_assert(two[0] == metrics[0] && two[1] == metrics[1] && two[2] == -1);
    /* Without labels, predictions only: the same as with them. */
    static const uint8_t none[4] = {1, 1, 1, 1};
    mird_dataset *blind = make_data(s.cfg, 4, 0, 90, 0, none);
    mird_dataset *sighted = make_data(s.cfg, 4, 0, 90, 0, NULL);
    float blind_p[4], sighted_p[4];
    ck_assert_int_eq(mird_evaluate(s.model, blind, NULL, 0, blind_p), MIRD_OK);
    ck_assert_int_eq(mird_evaluate(s.model, sighted, metrics, 1, sighted_p), MIRD_OK);
    ck_assert_int_eq(memcmp(blind_p, sighted_p, sizeof blind_p), 0);
    mird_dataset_free(sighted);
    expect_failure(&s, mird_evaluate(s.model, blind, metrics, MIRD_METRIC_COUNT, NULL),
                   MIRD_ERR_STATE, "no labeled sample");
    blind->samples.is_set[MIRD_FIELD_VISION] = 0;
    expect_failure(&s, mird_evaluate(s.model, blind, NULL, 0, predictions), MIRD_ERR_STATE,
                   "no vision");
    mird_dataset_free(blind);
    ck_assert_int_eq(mird_evaluate(NULL, ds, metrics, 1, NULL), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_evaluate(s.model, NULL, metrics, 1, NULL), MIRD_ERR_NULL_ARGUMENT);

    mird_config *wide = tiny_config();
    ck_assert_int_eq(mird_config_set(wide, "vision_length", "11"), MIRD_OK);
    mird_dataset *misfit = make_data(wide, 3, 0, 95, 0, NULL);
    expect_failure(&s, mird_evaluate(s.model, misfit, metrics, 1, NULL), MIRD_ERR_SHAPE,
                   "vision_length");
    mird_dataset_free(misfit);
    mird_config_destroy(wide);
    mird_dataset_free(ds);
    teardown_fit(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fit");
    TCase *tc = tcase_create("fit");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_every_labeled_sample_once_per_epoch);
    tcase_add_test(tc, test_a_second_run_draws_new_orders);
    tcase_add_test(tc, test_shuffling_follows_the_seed);
    tcase_add_test(tc, test_progress_and_report);
    tcase_add_test(tc, test_patience_keeps_the_best_epoch);
    tcase_add_test(tc, test_ties_keep_the_earlier_epoch);
    tcase_add_test(tc, test_cancel_at_a_step);
    tcase_add_test(tc, test_failures_change_nothing);
    tcase_add_test(tc, test_same_seed_same_run);
    tcase_add_test(tc, test_fit_seeds_aggregates_runs);
    tcase_add_test(tc, test_evaluate_matches_infer);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
