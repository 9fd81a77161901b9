#include "train/fit.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "core/threads.h"
#include "model/config.h"
#include "model/rng_purpose.h"
#include "train/metrics.h"

/* Inference runs over datasets this many samples at a time: large enough to
 * keep oneDNN's products efficient, small enough that the inference
 * workspace stays a fraction of the training one. */
enum { EVAL_CHUNK = 64 };

void (*mird_fit_batch_hook)(const mird_batch *batch, void *context);
void *mird_fit_batch_hook_context;

void mird_report_free(mird_report *report)
{
    if (!report)
        return;
    mird_free(report->terms);
    mird_free(report->metrics);
    mird_free(report);
}

static int sample_is_labeled(const mird_batch *b, int64_t i)
{
    return !b->labeled || b->labeled[i];
}

static int64_t count_labeled(const mird_dataset *ds)
{
    const mird_batch *b = &ds->samples;
    if (!b->is_set[MIRD_FIELD_LABELS])
        return 0;
    int64_t n = 0;
    for (int64_t i = 0; i < b->size; i++)
        n += sample_is_labeled(b, i);
    return n;
}

mird_status mird_dataset_check_for(const mird_dataset *ds, const mird_batch_shape *model_shape,
                                   int need_labeled, const char *what, mird_error *err)
{
    MIRD_TRY(mird_dataset_check_complete(ds, what, err));
    MIRD_TRY(mird_dataset_check_shape(ds, model_shape, what, err));
    if (need_labeled && !ds->samples.is_set[MIRD_FIELD_LABELS])
        return mird_fail(err, MIRD_ERR_STATE, "%s has no labels set", what);
    if (need_labeled && count_labeled(ds) == 0)
        return mird_fail(err, MIRD_ERR_STATE, "%s has no labeled sample (all %lld unlabeled)",
                         what, (long long)ds->samples.size);
    return MIRD_OK;
}

/* ------------------------------------------------------------------------ */
/* Evaluation                                                                */
/* ------------------------------------------------------------------------ */

/* Scratch for evaluating one dataset, reused across mird_fit's epochs. */
typedef struct evaluator {
    mird_dataset *chunk;
    int64_t indices[EVAL_CHUNK];
    float *predictions;                  /* [N], every sample */
    float *labeled_predictions, *labels; /* the labeled samples' */
} evaluator;

static void evaluator_release(evaluator *ev)
{
    mird_dataset_free(ev->chunk);
    mird_free(ev->predictions);
    mird_free(ev->labeled_predictions);
    mird_free(ev->labels);
    memset(ev, 0, sizeof *ev);
}

static mird_status evaluator_init(evaluator *ev, mird_model *model, const mird_dataset *ds)
{
    memset(ev, 0, sizeof *ev);
    int64_t n = ds->samples.size;
    mird_batch_shape shape = mird_batch_shape_of(&model->cfg);
    MIRD_TRY(mird_dataset_new(&shape, n < EVAL_CHUNK ? n : EVAL_CHUNK, NULL, &ev->chunk, NULL,
                              &model->err));
    size_t bytes = (size_t)n * sizeof(float);
    ev->predictions = mird_alloc(bytes);
    ev->labeled_predictions = mird_alloc(bytes);
    ev->labels = mird_alloc(bytes);
    if (!ev->predictions || !ev->labeled_predictions || !ev->labels) {
        evaluator_release(ev);
        return mird_fail(&model->err, MIRD_ERR_OUT_OF_MEMORY,
                         "cannot allocate predictions for %lld samples", (long long)n);
    }
    return MIRD_OK;
}

/* A view of the first `count` samples of an internal dataset as a batch. */
static mird_batch leading_samples(const mird_dataset *ds, int64_t count)
{
    mird_batch view = ds->samples;
    view.size = count;
    return view;
}

static mird_status evaluate_with(mird_model *model, evaluator *ev, const mird_dataset *ds,
                                 double *metrics)
{
    const mird_batch *b = &ds->samples;
    mird_status st = MIRD_OK;
    for (int64_t first = 0; first < b->size && st == MIRD_OK; first += EVAL_CHUNK) {
        int64_t count = b->size - first < EVAL_CHUNK ? b->size - first : EVAL_CHUNK;
        for (int64_t k = 0; k < count; k++)
            ev->indices[k] = first + k;
        st = mird_dataset_gather(ds, ev->indices, count, ev->chunk, 0, 1, &model->err);
        if (st != MIRD_OK)
            break;
        mird_batch view = leading_samples(ev->chunk, count);
        /* As mird_infer does: a small pass is faster on one thread. */
        mird_threads_apply_at_most(count < 16 ? 1 : 0);
        st = mird_run_inference(model, &view, ev->predictions + first, NULL);
    }
    mird_threads_apply();
    if (st != MIRD_OK || !metrics)
        return st;
    int64_t n = 0;
    for (int64_t i = 0; i < b->size; i++)
        if (sample_is_labeled(b, i)) {
            ev->labeled_predictions[n] = ev->predictions[i];
            ev->labels[n++] = b->labels[i];
        }
    if (n == 0)
        return mird_fail(&model->err, MIRD_ERR_STATE, "no labeled sample to compute metrics on");
    return mird_metrics_of(ev->labeled_predictions, ev->labels, n, metrics, &model->err);
}

mird_status mird_evaluate_dataset(mird_model *model, const mird_dataset *ds, const char *what,
                                  double metrics[MIRD_METRIC_COUNT], float *predictions)
{
    mird_batch_shape shape = mird_batch_shape_of(&model->cfg);
    MIRD_TRY(mird_dataset_check_for(ds, &shape, metrics != NULL, what, &model->err));
    evaluator ev;
    MIRD_TRY(evaluator_init(&ev, model, ds));
    mird_status st = evaluate_with(model, &ev, ds, metrics);
    if (st == MIRD_OK && predictions)
        memcpy(predictions, ev.predictions, (size_t)ds->samples.size * sizeof(float));
    evaluator_release(&ev);
    return st;
}

/* ------------------------------------------------------------------------ */
/* The training loop                                                         */
/* ------------------------------------------------------------------------ */

typedef struct fit_state {
    mird_model *model;
    mird_optimizer *opt;
    const mird_dataset *train, *unlabeled, *valid;
    const mird_fit_callback *callback;
    uint64_t seed;
    /* Shuffles are keyed by the optimizer's step count at the start plus the
     * epoch, so a second mird_fit on the same model draws new orders. */
    uint64_t stream_base;
    int64_t batch_size, epochs, patience, batches, total_steps;
    double unlabeled_ratio;
    mird_metric select_by;

    int64_t n_labeled, *labeled, *order; /* labeled training samples; this epoch's order */
    int64_t n_unlabeled, *unlabeled_order, unlabeled_next, reshuffles;
    mird_dataset *batch;                 /* labeled rows first, then unlabeled */
    evaluator valid_eval;

    float *saved; /* values, m, v when mird_fit began */
    int64_t saved_steps, saved_estimator_steps, saved_total_steps;
    uint64_t saved_passes;

    float *best; /* the values after the best epoch */
    double best_score;
    int64_t stale_epochs, steps_done;
    mird_report *report;
} fit_state;

static void fit_release(fit_state *f)
{
    mird_free(f->labeled);
    mird_free(f->order);
    mird_free(f->unlabeled_order);
    mird_dataset_free(f->batch);
    evaluator_release(&f->valid_eval);
    mird_free(f->saved);
    mird_free(f->best);
    mird_report_free(f->report);
}

static int64_t unlabeled_count_for(const fit_state *f, int64_t labeled_in_batch)
{
    if (f->n_unlabeled == 0)
        return 0;
    return (int64_t)floor(f->unlabeled_ratio * (double)labeled_in_batch + 0.5);
}

static void *alloc_array(size_t count, size_t size)
{
    size_t bytes;
    return mird_size_mul(count ? count : 1, size, &bytes) ? mird_alloc(bytes) : NULL;
}

/* Everything the run needs is allocated before anything changes, so that a
 * failure here leaves nothing to undo. */
static mird_status fit_prepare(fit_state *f)
{
    mird_model *model = f->model;
    mird_error *err = &model->err;
    const mird_config *cfg = &model->cfg;
    f->seed = (uint64_t)mird_cfg_int(cfg, MIRD_PARAM_SEED);
    f->stream_base = (uint64_t)f->opt->steps;
    f->batch_size = mird_cfg_int(cfg, MIRD_PARAM_BATCH_SIZE);
    f->epochs = mird_cfg_int(cfg, MIRD_PARAM_EPOCHS);
    f->patience = mird_cfg_int(cfg, MIRD_PARAM_PATIENCE);
    f->unlabeled_ratio = mird_cfg_real(cfg, MIRD_PARAM_UNLABELED_RATIO);
    f->select_by = mird_cfg_int(cfg, MIRD_PARAM_SELECT_BY) == MIRD_SELECT_LOSS ? MIRD_METRIC_MSE
                                                                             : MIRD_METRIC_MAE;
    mird_batch_shape shape = mird_batch_shape_of(cfg);
    MIRD_TRY(mird_dataset_check_for(f->train, &shape, 1, "the training set", err));
    if (f->unlabeled)
        MIRD_TRY(mird_dataset_check_for(f->unlabeled, &shape, 0, "the unlabeled set", err));
    if (f->valid)
        MIRD_TRY(mird_dataset_check_for(f->valid, &shape, 1, "the validation set", err));

    const mird_batch *train = &f->train->samples;
    f->n_labeled = count_labeled(f->train);
    f->n_unlabeled = f->unlabeled ? f->unlabeled->samples.size : 0;
    f->batches = (f->n_labeled + f->batch_size - 1) / f->batch_size;
    f->total_steps = f->epochs * f->batches;
    int64_t largest = f->batch_size < f->n_labeled ? f->batch_size : f->n_labeled;
    int64_t batch_samples = largest + unlabeled_count_for(f, largest);
    if (batch_samples > 1000000)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                         "a batch of %lld labeled and %lld unlabeled samples exceeds 1000000 "
                         "(batch_size, unlabeled_ratio)",
                         (long long)largest, (long long)(batch_samples - largest));

    size_t total = model->params.total;
    f->labeled = alloc_array((size_t)f->n_labeled, sizeof(int64_t));
    f->order = alloc_array((size_t)f->n_labeled, sizeof(int64_t));
    f->unlabeled_order = alloc_array((size_t)f->n_unlabeled, sizeof(int64_t));
    f->saved = alloc_array(total, 3 * sizeof(float));
    f->best = f->valid ? alloc_array(total, sizeof(float)) : NULL;
    f->report = mird_alloc_zeroed(sizeof *f->report);
    if (f->report) {
        f->report->terms = alloc_array((size_t)f->epochs, MIRD_TERM_COUNT * sizeof(double));
        f->report->metrics = alloc_array((size_t)f->epochs, MIRD_METRIC_COUNT * sizeof(double));
    }
    if (!f->labeled || !f->order || !f->unlabeled_order || !f->saved || (f->valid && !f->best)
        || !f->report || !f->report->terms || !f->report->metrics)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY,
                         "cannot allocate the state of a run over %lld samples",
                         (long long)train->size);
    MIRD_TRY(mird_dataset_new(&shape, batch_samples, NULL, &f->batch, NULL, err));
    if (f->valid)
        MIRD_TRY(evaluator_init(&f->valid_eval, model, f->valid));
    int64_t n = 0;
    for (int64_t i = 0; i < train->size; i++)
        if (sample_is_labeled(train, i))
            f->labeled[n++] = i;
    return MIRD_OK;
}

static void save_start(fit_state *f)
{
    size_t total = f->model->params.total;
    memcpy(f->saved, f->model->params.values, total * sizeof(float));
    memcpy(f->saved + total, f->opt->m, total * sizeof(float));
    memcpy(f->saved + 2 * total, f->opt->v, total * sizeof(float));
    f->saved_steps = f->opt->steps;
    f->saved_estimator_steps = f->opt->estimator_steps;
    f->saved_total_steps = f->opt->total_steps;
    f->saved_passes = f->model->passes;
}

static void restore_start(fit_state *f)
{
    size_t total = f->model->params.total;
    memcpy(f->model->params.values, f->saved, total * sizeof(float));
    memcpy(f->opt->m, f->saved + total, total * sizeof(float));
    memcpy(f->opt->v, f->saved + 2 * total, total * sizeof(float));
    f->opt->steps = f->saved_steps;
    f->opt->estimator_steps = f->saved_estimator_steps;
    f->opt->total_steps = f->saved_total_steps;
    f->model->passes = f->saved_passes;
}

/* Fisher-Yates driven by the counter-based generator: swap i draws element
 * first + i of the stream, so a permutation depends only on the stream. */
static void shuffle(int64_t *items, int64_t n, const mird_rng_stream *stream, uint64_t first)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)mird_rng_below(stream, first + (uint64_t)i, (uint64_t)i + 1);
        int64_t t = items[i];
        items[i] = items[j];
        items[j] = t;
    }
}

/* The epoch's labeled order, from (seed, shuffle, stream_base + epoch) alone; and a fresh
 * unlabeled permutation to draw from. */
static void start_epoch(fit_state *f, int64_t epoch)
{
    memcpy(f->order, f->labeled, (size_t)f->n_labeled * sizeof(int64_t));
    mird_rng_stream stream = mird_rng_make_stream(f->seed, MIRD_RNG_SHUFFLE,
                                                   f->stream_base + (uint64_t)epoch);
    shuffle(f->order, f->n_labeled, &stream, 0);
    f->unlabeled_next = f->n_unlabeled;
    f->reshuffles = 0;
}

/* `count` unlabeled samples into the batch at `offset`, taken in order from
 * a permutation of the unlabeled set that is drawn anew whenever it runs
 * out: no repeats within an epoch while the set lasts. */
static mird_status draw_unlabeled(fit_state *f, int64_t epoch, int64_t count, int64_t offset)
{
    while (count > 0) {
        if (f->unlabeled_next == f->n_unlabeled) {
            for (int64_t i = 0; i < f->n_unlabeled; i++)
                f->unlabeled_order[i] = i;
            mird_rng_stream stream =
                mird_rng_make_stream(f->seed, MIRD_RNG_UNLABELED, f->stream_base + (uint64_t)epoch);
            shuffle(f->unlabeled_order, f->n_unlabeled, &stream,
                    (uint64_t)f->reshuffles * (uint64_t)f->n_unlabeled);
            f->reshuffles++;
            f->unlabeled_next = 0;
        }
        int64_t left = f->n_unlabeled - f->unlabeled_next;
        int64_t take = count < left ? count : left;
        MIRD_TRY(mird_dataset_gather(f->unlabeled, f->unlabeled_order + f->unlabeled_next, take,
                                     f->batch, offset, 1, &f->model->err));
        f->unlabeled_next += take;
        offset += take;
        count -= take;
    }
    return MIRD_OK;
}

static mird_progress new_progress(const fit_state *f, mird_event event, int64_t epoch)
{
    mird_progress p;
    memset(&p, 0, sizeof p);
    p.event = event;
    p.epoch = epoch;
    p.step = f->steps_done;
    p.total_steps = f->total_steps;
    p.run = f->callback ? f->callback->run : 0;
    for (int k = 0; k < MIRD_METRIC_COUNT; k++)
        p.metrics[k] = NAN;
    return p;
}

static int wants_stop(const fit_state *f, const mird_progress *p)
{
    return f->callback && f->callback->fn && f->callback->fn(p, f->callback->user_data) != 0;
}

/* One epoch's steps; *cancelled when the callback asked to stop. */
static mird_status train_epoch(fit_state *f, int64_t epoch, double mean_terms[MIRD_TERM_COUNT],
                               int *cancelled)
{
    double sums[MIRD_TERM_COUNT] = {0};
    int64_t counts[MIRD_TERM_COUNT] = {0};
    start_epoch(f, epoch - 1);
    for (int64_t first = 0; first < f->n_labeled; first += f->batch_size) {
        int64_t labeled = f->n_labeled - first < f->batch_size ? f->n_labeled - first
                                                               : f->batch_size;
        int64_t unlabeled = unlabeled_count_for(f, labeled);
        MIRD_TRY(mird_dataset_gather(f->train, f->order + first, labeled, f->batch, 0, 0,
                                     &f->model->err));
        MIRD_TRY(draw_unlabeled(f, epoch - 1, unlabeled, labeled));
        mird_batch view = leading_samples(f->batch, labeled + unlabeled);
        if (mird_fit_batch_hook)
            mird_fit_batch_hook(&view, mird_fit_batch_hook_context);
        mird_progress p = new_progress(f, MIRD_EVENT_STEP, epoch);
        MIRD_TRY(mird_train_step(f->model, f->opt, &view, p.terms));
        f->steps_done++;
        p.step = f->steps_done;
        for (int t = 0; t < MIRD_TERM_COUNT; t++)
            if (!isnan(p.terms[t]))
                sums[t] += p.terms[t], counts[t]++;
        if (wants_stop(f, &p)) {
            *cancelled = 1;
            return MIRD_OK;
        }
    }
    for (int t = 0; t < MIRD_TERM_COUNT; t++)
        mean_terms[t] = counts[t] ? sums[t] / (double)counts[t] : NAN;
    return MIRD_OK;
}

/* Validation after an epoch and the choice of the best parameters: lower
 * is better, a tie keeps the earlier epoch. */
static mird_status validate(fit_state *f, int64_t epoch, mird_progress *p)
{
    if (!f->valid)
        return MIRD_OK;
    MIRD_TRY(evaluate_with(f->model, &f->valid_eval, f->valid, p->metrics));
    double score = p->metrics[f->select_by];
    if (f->report->best_epoch == 0 || score < f->best_score) {
        memcpy(f->best, f->model->params.values, f->model->params.total * sizeof(float));
        f->report->best_epoch = epoch;
        f->best_score = score;
        f->stale_epochs = 0;
        p->improved = 1;
    } else {
        f->stale_epochs++;
    }
    return MIRD_OK;
}

static mird_status run_epochs(fit_state *f)
{
    mird_report *r = f->report;
    r->stop = MIRD_STOP_EPOCHS;
    for (int64_t epoch = 1; epoch <= f->epochs; epoch++) {
        mird_progress p = new_progress(f, MIRD_EVENT_EPOCH, epoch);
        int cancelled = 0;
        MIRD_TRY(train_epoch(f, epoch, p.terms, &cancelled));
        if (cancelled) {
            r->stop = MIRD_STOP_CANCELLED;
            return MIRD_OK;
        }
        MIRD_TRY(validate(f, epoch, &p));
        p.step = f->steps_done;
        memcpy(r->terms + (epoch - 1) * MIRD_TERM_COUNT, p.terms, sizeof p.terms);
        memcpy(r->metrics + (epoch - 1) * MIRD_METRIC_COUNT, p.metrics, sizeof p.metrics);
        r->epochs = epoch;
        if (wants_stop(f, &p)) {
            r->stop = MIRD_STOP_CANCELLED;
            return MIRD_OK;
        }
        if (f->valid && f->patience > 0 && f->stale_epochs >= f->patience) {
            r->stop = MIRD_STOP_PATIENCE;
            return MIRD_OK;
        }
    }
    return MIRD_OK;
}

mird_status mird_fit_run(mird_model *model, mird_optimizer *opt, const mird_dataset *train,
                         const mird_dataset *unlabeled, const mird_dataset *valid,
                         const mird_fit_callback *callback, mird_report **report)
{
    fit_state f;
    memset(&f, 0, sizeof f);
    f.model = model, f.opt = opt, f.callback = callback;
    f.train = train, f.unlabeled = unlabeled, f.valid = valid;
    mird_status st = fit_prepare(&f);
    if (st != MIRD_OK) {
        fit_release(&f);
        return st;
    }
    save_start(&f);
    opt->total_steps = opt->steps + f.total_steps;
    st = run_epochs(&f);
    if (st != MIRD_OK) {
        restore_start(&f);
        fit_release(&f);
        return st;
    }
    if (f.report->best_epoch > 0)
        memcpy(model->params.values, f.best, model->params.total * sizeof(float));
    if (f.report->stop == MIRD_STOP_CANCELLED)
        st = mird_fail(&model->err, MIRD_ERR_CANCELLED,
                       "the progress callback stopped the run after %lld of %lld steps",
                       (long long)f.steps_done, (long long)f.total_steps);
    if (report) {
        *report = f.report;
        f.report = NULL;
    }
    fit_release(&f);
    return st;
}
