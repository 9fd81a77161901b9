/* Checkpoints through the public API: a saved and reloaded model predicts
 * bit for bit as the original and, with its optimizer, trains on exactly as
 * the original does; settings survive in any locale; every malformed file is
 * refused with a status and a message naming the fault, and nothing is made;
 * a failing save keeps the previous file; pretrained BERT weights load by
 * name; metadata reads. */
#define _XOPEN_SOURCE 700

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mird/mird.h>

#include "core/alloc.h"
#include "core/fault.h"
#include "io/safetensors.h"
#include "support/modelutil.h"
#include "support/testutil.h"
#include "train/trainer.h"

/* ---- Files ------------------------------------------------------------ */

/* A path in the test's directory; static storage, one per slot. */
static const char *temp_file(int slot, const char *name)
{
    static char paths[4][256];
    tu_temp_path(paths[slot], sizeof paths[slot], name);
    return paths[slot];
}

static void assert_same_file(const char *path, const unsigned char *bytes, size_t size)
{
    size_t now_size;
    unsigned char *now = tu_read_file(path, &now_size);
    ck_assert_uint_eq(now_size, size);
    ck_assert_int_eq(memcmp(now, bytes, size), 0);
    free(now);
}

static void assert_error_mentions(const char *fragment)
{
    const char *message = mird_last_error_message();
    ck_assert_msg(strstr(message, fragment) != NULL, "message \"%s\" lacks \"%s\"", message,
                  fragment);
}

/* ---- A tiny model, trained a little ----------------------------------- */

/* The tiny setup after `steps` mird_steps on a linear schedule over 20. */
static void make_trained(mu_tiny *s, int steps)
{
    mu_tiny_make(s);
    ck_assert_int_eq(mird_optimizer_set_total_steps(s->opt, 20), MIRD_OK);
    for (int k = 0; k < steps; k++)
        ck_assert_msg(mird_step(s->model, s->opt, s->batch, NULL, 0) == MIRD_OK, "%s",
                      mird_last_error_message());
}

static void save_ok(mird_model *model, const mird_optimizer *opt, const char *path)
{
    ck_assert_msg(mird_model_save(model, opt, path) == MIRD_OK, "%s", mird_last_error_message());
}

/* make_trained, then saved (with the optimizer or without) to a path it
 * returns. */
static const char *trained_and_saved(mu_tiny *s, int steps, int with_optimizer)
{
    make_trained(s, steps);
    const char *path = temp_file(0, "ckpt.safetensors");
    save_ok(s->model, with_optimizer ? s->opt : NULL, path);
    return path;
}

static mird_model *load_ok(const char *path)
{
    mird_model *model = NULL;
    ck_assert_msg(mird_model_load(path, &model) == MIRD_OK, "%s", mird_last_error_message());
    ck_assert_ptr_nonnull(model);
    return model;
}

static void assert_same_parameters(const mird_model *a, const mird_model *b)
{
    const mird_param_table *x = &a->params, *y = &b->params;
    ck_assert_int_eq(x->count, y->count);
    ck_assert_uint_eq(x->total, y->total);
    for (int i = 0; i < x->count; i++) {
        ck_assert_str_eq(x->entries[i].name, y->entries[i].name);
        ck_assert_msg(memcmp(mird_param_value(x, i), mird_param_value(y, i),
                             x->entries[i].numel * sizeof(float)) == 0,
                      "parameter %s differs", x->entries[i].name);
    }
}

static int same_values(const mird_model *a, const mird_model *b)
{
    return memcmp(a->params.values, b->params.values, a->params.total * sizeof(float)) == 0;
}

/* A byte copy of an optimizer's state. */
typedef struct optimizer_copy {
    float *m, *v;
    size_t n;
    int64_t steps, estimator_steps, total_steps;
} optimizer_copy;

static optimizer_copy copy_optimizer(const mird_optimizer *opt)
{
    size_t n = opt->model->params.total;
    optimizer_copy c = {tu_copy(opt->m, n), tu_copy(opt->v, n), n, opt->steps,
                        opt->estimator_steps, opt->total_steps};
    return c;
}

/* Asserts `opt` holds exactly the copy's state, then frees the copy. */
static void assert_optimizer_is(const mird_optimizer *opt, optimizer_copy *c)
{
    ck_assert_int_eq(memcmp(opt->m, c->m, c->n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(opt->v, c->v, c->n * sizeof(float)), 0);
    ck_assert_int_eq(opt->steps, c->steps);
    ck_assert_int_eq(opt->estimator_steps, c->estimator_steps);
    ck_assert_int_eq(opt->total_steps, c->total_steps);
    mird_free(c->m), mird_free(c->v);
}

/* ---- Round trips ------------------------------------------------------ */

START_TEST(test_round_trip_predicts_and_trains_on_identically)
{
    mu_tiny s;
    const char *path = trained_and_saved(&s, 3, 1);

    mird_model *loaded = load_ok(path);
    assert_same_parameters(s.model, loaded);
    ck_assert_int_eq(loaded->passes, s.model->passes);
    float pred[2][5], codes[2][5 * 4 * 8];
    ck_assert_int_eq(mird_infer(s.model, s.batch, pred[0], codes[0]), MIRD_OK);
    ck_assert_int_eq(mird_infer(loaded, s.batch, pred[1], codes[1]), MIRD_OK);
    ck_assert_int_eq(memcmp(pred[0], pred[1], sizeof pred[0]), 0);
    ck_assert_int_eq(memcmp(codes[0], codes[1], sizeof codes[0]), 0);

    mird_optimizer *opt;
    ck_assert_int_eq(mird_optimizer_create(loaded, &opt), MIRD_OK);
    ck_assert_msg(mird_optimizer_load(opt, path) == MIRD_OK, "%s", mird_last_error_message());
    optimizer_copy original = copy_optimizer(s.opt);
    assert_optimizer_is(opt, &original);

    /* A fresh optimizer (moments 0, step 1 of the schedule) would step
     * elsewhere: the comparison below can tell. */
    mird_model *fresh_model = load_ok(path);
    mird_optimizer *fresh;
    ck_assert_int_eq(mird_optimizer_create(fresh_model, &fresh), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_set_total_steps(fresh, 20), MIRD_OK);
    ck_assert_int_eq(mird_step(fresh_model, fresh, s.batch, NULL, 0), MIRD_OK);

    double terms[2][MIRD_TERM_COUNT];
    ck_assert_int_eq(mird_step(s.model, s.opt, s.batch, terms[0], MIRD_TERM_COUNT), MIRD_OK);
    ck_assert_int_eq(mird_step(loaded, opt, s.batch, terms[1], MIRD_TERM_COUNT), MIRD_OK);
    assert_same_parameters(s.model, loaded);
    ck_assert_int_eq(memcmp(terms[0], terms[1], sizeof terms[0]), 0);
    ck_assert_int_eq(mird_optimizer_step_count(opt), 4);
    ck_assert(!same_values(s.model, fresh_model));

    mird_optimizer_destroy(fresh);
    mird_model_destroy(fresh_model);
    mird_optimizer_destroy(opt);
    mird_model_destroy(loaded);
    mu_tiny_destroy(&s);
}
END_TEST

START_TEST(test_file_holds_the_documented_layout)
{
    mu_tiny s;
    const char *path = trained_and_saved(&s, 1, 1);

    mird_error err = {0};
    mird_st_file *file = NULL;
    ck_assert_int_eq(mird_st_open(path, &file, &err), MIRD_OK);
    const mird_param_table *t = &s.model->params;
    ck_assert_int_eq(mird_st_count(file), 3 * t->count);
    static const char *const prefixes[3] = {"", "optimizer.m.", "optimizer.v."};
    const float *sources[3] = {t->values, s.opt->m, s.opt->v};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < t->count; i++) {
            char name[160];
            snprintf(name, sizeof name, "%s%s", prefixes[k], t->entries[i].name);
            const mird_st_tensor *tensor = mird_st_find(file, name);
            ck_assert_msg(tensor != NULL, "no tensor %s", name);
            ck_assert_int_eq(tensor->dtype, MIRD_ST_F32);
            ck_assert_int_eq(tensor->ndim, t->entries[i].ndim);
            ck_assert_int_eq(memcmp(tensor->data, sources[k] + t->entries[i].offset,
                                    t->entries[i].numel * sizeof(float)),
                             0);
        }
    ck_assert_str_eq(mird_st_metadata(file, "mird.format"), "1");
    ck_assert_str_eq(mird_st_metadata(file, "mird.version"), mird_version_string());
    ck_assert_str_eq(mird_st_metadata(file, "mird.optimizer.steps"), "1");
    ck_assert_str_eq(mird_st_metadata(file, "mird.optimizer.total_steps"), "20");
    ck_assert_str_eq(mird_st_metadata(file, "mird.optimizer.estimator_steps"), "5");
    ck_assert_str_eq(mird_st_metadata(file, "mird.model.passes"), "6");
    int settings = 0;
    for (int p = 0; mird_param_name((mird_param)p); p++, settings++) {
        char key[96], text[64];
        snprintf(key, sizeof key, "mird.config.%s", mird_param_name((mird_param)p));
        ck_assert_int_eq(mird_config_get_text(s.cfg, (mird_param)p, text, sizeof text), MIRD_OK);
        ck_assert_msg(mird_st_metadata(file, key) != NULL, "no %s", key);
        ck_assert_str_eq(mird_st_metadata(file, key), text);
    }
    ck_assert_int_eq(mird_st_metadata_count(file), 3 + settings + 3);
    mird_st_close(file);
    mu_tiny_destroy(&s);
}
END_TEST

START_TEST(test_checkpoint_without_optimizer_state)
{
    mu_tiny s;
    const char *path = trained_and_saved(&s, 2, 0);
    mird_model *loaded = load_ok(path);
    assert_same_parameters(s.model, loaded);

    optimizer_copy before = copy_optimizer(s.opt);
    ck_assert_int_eq(mird_optimizer_load(s.opt, path), MIRD_ERR_STATE);
    assert_error_mentions(path);
    assert_error_mentions("no optimizer state");
    assert_optimizer_is(s.opt, &before);
    mird_model_destroy(loaded);
    mu_tiny_destroy(&s);
}
END_TEST

START_TEST(test_optimizer_load_refuses_another_model)
{
    mu_tiny s;
    const char *path = trained_and_saved(&s, 1, 1);
    mird_config narrower = mu_config("tiny", "latent_dim", "6", NULL);
    mird_model *other;
    mird_optimizer *opt;
    ck_assert_int_eq(mird_model_create(&narrower, &other), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(other, &opt), MIRD_OK);
    optimizer_copy before = copy_optimizer(opt);
    ck_assert_int_eq(mird_optimizer_load(opt, path), MIRD_ERR_SHAPE);
    assert_error_mentions("optimizer.m.agnostic.proj.weight");
    assert_error_mentions("[8, 16]");
    assert_error_mentions("[6, 16]");
    assert_optimizer_is(opt, &before);
    mird_optimizer_destroy(opt);
    mird_model_destroy(other);
    mu_tiny_destroy(&s);
}
END_TEST

START_TEST(test_settings_round_trip_in_a_comma_locale)
{
    /* Non-default settings of every kind: integers (one needing all 53 bits),
     * reals that decimal text cannot hold exactly, choices, a flag. */
    mird_config cfg = mu_config(
        "tiny", "hidden", "24", "layers", "2", "latent_dim", "6", "seed", "9007199254740991",
        "estimator_steps", "2", "patience", "0", "club_sample", "true", "input_mi", "false",
        "lambda", "0.1", "learning_rate", "3e-4", "weight_decay", "0.0125", "warmup", "0.3",
        "dropout_reg", "0.35", "beta_shift", "1.7e-7", "weight_rec_a", "2.5",
        "unlabeled_ratio", "0.5", "constraint", "oc", "total", "weighted", "schedule",
        "constant", "select_by", "loss", "estimator_inputs", "cached", NULL);
    const mird_config defaults = mu_config("tiny", NULL);
    locale_t comma = newlocale(LC_NUMERIC_MASK, "de_DE.UTF-8", (locale_t)0);
    ck_assert_msg(comma != (locale_t)0, "the de_DE.UTF-8 test locale is missing (LOCPATH)");
    locale_t previous = uselocale(comma);
    ck_assert_double_eq(strtod("0,5", NULL), 0.5); /* the locale really is active */

    mird_model *model;
    ck_assert_int_eq(mird_model_create(&cfg, &model), MIRD_OK);
    const char *path = temp_file(0, "settings.safetensors");
    save_ok(model, NULL, path);
    mird_model *loaded = load_ok(path);
    mird_config *back;
    ck_assert_int_eq(mird_model_get_config(loaded, &back), MIRD_OK);
    int differ_from_default = 0;
    for (int p = 0; mird_param_name((mird_param)p); p++) {
        double want = mird_config_get_real(&cfg, (mird_param)p);
        double got = mird_config_get_real(back, (mird_param)p);
        ck_assert_msg(memcmp(&want, &got, sizeof want) == 0, "%s: saved %.17g, loaded %.17g",
                      mird_param_name((mird_param)p), want, got);
        differ_from_default += want != mird_config_get_real(&defaults, (mird_param)p);
    }
    ck_assert_int_eq(differ_from_default, 21);
    char text[16];
    ck_assert_int_eq(mird_checkpoint_metadata(path, "mird.config.lambda", text, sizeof text, NULL),
                     MIRD_OK);
    ck_assert_str_eq(text, "0.1");
    assert_same_parameters(model, loaded);

    uselocale(previous);
    freelocale(comma);
    mird_config_destroy(back);
    mird_model_destroy(loaded);
    mird_model_destroy(model);
}
END_TEST

/* ---- Malformed files -------------------------------------------------- */

/* Loading must fail with `want`, make nothing and say so with both words. */
static void expect_load_failure(const char *path, mird_status want, const char *word,
                                const char *second_word)
{
    mird_model *model = (mird_model *)&model; /* must come back NULL */
    mird_status got = mird_model_load(path, &model);
    ck_assert_msg(got == want, "%s: got %s (%s), expected %s", path, mird_status_string(got),
                  mird_last_error_message(), mird_status_string(want));
    ck_assert_ptr_null(model);
    assert_error_mentions(path);
    if (word)
        assert_error_mentions(word);
    if (second_word)
        assert_error_mentions(second_word);
}

/* A good checkpoint of a tiny model with its optimizer. */
static const char *good_checkpoint(void)
{
    mu_tiny s;
    const char *path = trained_and_saved(&s, 1, 1);
    mu_tiny_destroy(&s);
    return path;
}

START_TEST(test_truncated_and_corrupted_files)
{
    const char *good = good_checkpoint(), *bad = temp_file(1, "bad.safetensors");
    size_t size;
    unsigned char *bytes = tu_read_file(good, &size);
    size_t header = 0;
    for (int b = 7; b >= 0; b--)
        header = header << 8 | bytes[b];
    const size_t cuts[] = {0, 5, 8 + header / 2, 8 + header, 8 + header + 1000, size - 1};
    const char *const why[] = {"too short", "too short", "runs past the end", "data_offsets",
                               "data_offsets", "data_offsets"};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        tu_write_file(bad, bytes, cuts[c]);
        expect_load_failure(bad, MIRD_ERR_FORMAT, why[c], NULL);
    }
    /* One byte of JSON syntax broken in the middle of the header. */
    unsigned char *colon = memchr(bytes + 8 + header / 2, ':', header / 2);
    ck_assert_ptr_nonnull(colon);
    *colon = ';';
    tu_write_file(bad, bytes, size);
    expect_load_failure(bad, MIRD_ERR_FORMAT, "not valid JSON", NULL);
    *colon = ':';
    /* A flipped bit that turns a weight into NaN. */
    bytes[size - 2] = 0xFF, bytes[size - 1] = 0x7F;
    tu_write_file(bad, bytes, size);
    expect_load_failure(bad, MIRD_ERR_FORMAT, "non-finite", NULL);
    expect_load_failure(temp_file(2, "absent.safetensors"), MIRD_ERR_IO, "cannot open", NULL);
    free(bytes);
}
END_TEST

/* One change to a good checkpoint, made by copying it through the reader
 * and writer. */
typedef struct edit {
    const char *label;
    const char *drop;                 /* a tensor or metadata key left out */
    const char *reshape;              /* this tensor shaped [rows, cols] */
    int64_t rows, cols;
    const char *as_f16;               /* this tensor stored as F16 */
    const char *extra;                /* an extra F32 tensor [2] */
    const char *key, *value;          /* metadata set (added if absent) */
    mird_status want;
    const char *word, *second_word;   /* what the message must name */
} edit;

static const edit edits[] = {
    {.label = "wrong shape", .reshape = "audio.proj.weight", .rows = 4, .cols = 16,
     .want = MIRD_ERR_FORMAT, .word = "audio.proj.weight", .second_word = "[4, 16]"},
    {.label = "missing parameter", .drop = "regressor.fc2.bias", .want = MIRD_ERR_FORMAT,
     .word = "regressor.fc2.bias", .second_word = "missing"},
    {.label = "unknown tensor", .extra = "regressor.fc3.bias", .want = MIRD_ERR_FORMAT,
     .word = "regressor.fc3.bias", .second_word = "not a parameter"},
    {.label = "F16 parameter", .as_f16 = "club.s_v.mu.0.weight", .want = MIRD_ERR_FORMAT,
     .word = "club.s_v.mu.0.weight", .second_word = "F16"},
    {.label = "partial optimizer state", .drop = "optimizer.v.visual.lstm.bias_hh_l0",
     .want = MIRD_ERR_FORMAT, .word = "optimizer.v.visual.lstm.bias_hh_l0", .second_word = "missing"},
    {.label = "stray optimizer tensor", .extra = "optimizer.w.audio.proj.bias",
     .want = MIRD_ERR_FORMAT, .word = "optimizer.w.audio.proj.bias"},
    {.label = "optimizer counter missing", .drop = "mird.optimizer.total_steps",
     .want = MIRD_ERR_FORMAT, .word = "mird.optimizer.total_steps"},
    {.label = "newer format", .key = "mird.format", .value = "2", .want = MIRD_ERR_UNSUPPORTED,
     .word = "format 2", .second_word = "newer"},
    {.label = "format not a number", .key = "mird.format", .value = "1.0",
     .want = MIRD_ERR_FORMAT, .word = "mird.format"},
    {.label = "not a checkpoint", .drop = "mird.format", .want = MIRD_ERR_FORMAT,
     .word = "not a libmird checkpoint"},
    {.label = "bad version", .key = "mird.version", .value = "0.1", .want = MIRD_ERR_FORMAT,
     .word = "mird.version"},
    {.label = "missing setting", .drop = "mird.config.lambda", .want = MIRD_ERR_FORMAT,
     .word = "\"lambda\"", .second_word = "missing"},
    {.label = "unknown setting", .key = "mird.config.temperature", .value = "0.7",
     .want = MIRD_ERR_FORMAT, .word = "\"temperature\"", .second_word = "unknown"},
    {.label = "setting out of bounds", .key = "mird.config.hidden", .value = "0",
     .want = MIRD_ERR_FORMAT, .word = "mird.config.hidden", .second_word = "outside"},
    {.label = "settings that contradict", .key = "mird.config.heads", .value = "3",
     .want = MIRD_ERR_FORMAT, .word = "heads = 3"},
    {.label = "locale-formatted number", .key = "mird.config.lambda", .value = "0,5",
     .want = MIRD_ERR_FORMAT, .word = "mird.config.lambda"},
    {.label = "bad pass count", .key = "mird.model.passes", .value = "-1",
     .want = MIRD_ERR_FORMAT, .word = "mird.model.passes"},
};
enum { EDIT_COUNT = sizeof edits / sizeof edits[0] };

static void rewrite(const char *src, const char *dst, const edit *e)
{
    mird_error err = {0};
    mird_st_file *file = NULL;
    mird_st_writer *w = NULL;
    ck_assert_int_eq(mird_st_open(src, &file, &err), MIRD_OK);
    ck_assert_int_eq(mird_st_writer_create(&w, &err), MIRD_OK);
    for (int i = 0; i < mird_st_metadata_count(file); i++) {
        const char *key, *value;
        mird_st_metadata_at(file, i, &key, &value);
        if (e->drop && strcmp(key, e->drop) == 0)
            continue;
        if (e->key && strcmp(key, e->key) == 0)
            value = e->value;
        ck_assert_int_eq(mird_st_writer_add_metadata(w, key, value, &err), MIRD_OK);
    }
    if (e->key && !mird_st_metadata(file, e->key))
        ck_assert_int_eq(mird_st_writer_add_metadata(w, e->key, e->value, &err), MIRD_OK);
    for (int i = 0; i < mird_st_count(file); i++) {
        const mird_st_tensor *t = mird_st_tensor_at(file, i);
        if (e->drop && strcmp(t->name, e->drop) == 0)
            continue;
        int64_t reshaped[2] = {e->rows, e->cols};
        int reshape = e->reshape && strcmp(t->name, e->reshape) == 0;
        if (reshape)
            ck_assert_int_eq(e->rows * e->cols, (int64_t)t->numel);
        mird_st_dtype dtype = e->as_f16 && strcmp(t->name, e->as_f16) == 0 ? MIRD_ST_F16 : t->dtype;
        ck_assert_int_eq(mird_st_writer_add(w, t->name, dtype, reshape ? 2 : t->ndim,
                                            reshape ? reshaped : t->shape, t->data, &err),
                         MIRD_OK);
    }
    static const float extra_values[2] = {0.5f, -0.5f};
    const int64_t extra_shape[1] = {2};
    if (e->extra)
        ck_assert_int_eq(mird_st_writer_add(w, e->extra, MIRD_ST_F32, 1, extra_shape,
                                            extra_values, &err),
                         MIRD_OK);
    ck_assert_int_eq(mird_st_writer_save(w, dst, &err), MIRD_OK);
    mird_st_writer_destroy(w);
    mird_st_close(file);
}

START_TEST(test_malformed_checkpoint_makes_nothing)
{
    const edit *e = &edits[_i];
    const char *good = good_checkpoint(), *bad = temp_file(1, "bad.safetensors");
    rewrite(good, bad, e);
    expect_load_failure(bad, e->want, e->word, e->second_word);
}
END_TEST

START_TEST(test_rewrite_without_edits_loads)
{
    /* The editing copy itself keeps a checkpoint loadable: the failures
     * above come from the edits alone. */
    const char *good = good_checkpoint(), *copy = temp_file(1, "copy.safetensors");
    const edit none = {.label = "none"};
    rewrite(good, copy, &none);
    mird_model *a = load_ok(good), *b = load_ok(copy);
    assert_same_parameters(a, b);
    mird_model_destroy(a);
    mird_model_destroy(b);
}
END_TEST

START_TEST(test_failed_load_makes_nothing)
{
    const char *good = good_checkpoint();
    for (int countdown = 1; countdown <= 40; countdown += 13) {
        mird_fault_countdown = countdown;
        mird_model *model = (mird_model *)&model;
        ck_assert_int_eq(mird_model_load(good, &model), MIRD_ERR_INTERNAL);
        ck_assert_int_eq(mird_fault_countdown, 0);
        ck_assert_ptr_null(model);
        assert_error_mentions("injected fault");
    }
    mird_model_destroy(load_ok(good));
}
END_TEST

/* ---- Failed saves ----------------------------------------------------- */

START_TEST(test_failed_save_keeps_the_previous_file)
{
    mu_tiny s;
    const char *path = trained_and_saved(&s, 1, 1);
    size_t size;
    unsigned char *before = tu_read_file(path, &size);
    ck_assert_int_eq(mird_step(s.model, s.opt, s.batch, NULL, 0), MIRD_OK);

    /* Half way through the tensors. */
    mird_fault_countdown = s.model->params.count;
    ck_assert_int_eq(mird_model_save(s.model, s.opt, path), MIRD_ERR_IO);
    ck_assert_int_eq(mird_fault_countdown, 0);
    assert_error_mentions(path);
    assert_error_mentions("cannot write the temporary file");
    assert_same_file(path, before, size);
    ck_assert_int_eq(tu_count_entries(tu_temp_dir), 1);

    /* The same save without the fault does change the file. */
    const char *second = temp_file(1, "second.safetensors");
    save_ok(s.model, s.opt, second);
    size_t second_size;
    unsigned char *after = tu_read_file(second, &second_size);
    ck_assert(second_size != size || memcmp(after, before, size) != 0);
    free(after);
    free(before);
    mu_tiny_destroy(&s);
}
END_TEST

START_TEST(test_save_into_an_unwritable_directory)
{
    mu_tiny s;
    const char *path = trained_and_saved(&s, 1, 0);
    size_t size;
    unsigned char *before = tu_read_file(path, &size);

    /* Root ignores permission bits, so the attempt runs as nobody. */
    ck_assert_int_eq(chmod(tu_temp_dir, 0555), 0);
    int as_root = geteuid() == 0;
    if (as_root)
        ck_assert_int_eq(seteuid(65534), 0);
    mird_status status = mird_model_save(s.model, s.opt, path);
    if (as_root)
        ck_assert_int_eq(seteuid(0), 0);
    ck_assert_int_eq(chmod(tu_temp_dir, 0700), 0);

    ck_assert_int_eq(status, MIRD_ERR_IO);
    assert_error_mentions(path);
    assert_error_mentions("temporary file");
    assert_same_file(path, before, size);
    ck_assert_int_eq(tu_count_entries(tu_temp_dir), 1);
    free(before);
    mu_tiny_destroy(&s);
}
END_TEST

/* ---- Pretrained weights ----------------------------------------------- */

/* F16 and BF16 bit patterns with their values computed from the formats'
 * definitions (normal and subnormal halves, signs, the exponent range). */
static uint16_t half_pattern(size_t k, float *value)
{
    unsigned sign = k % 2, exponent = (unsigned)((k * 7 + 3) % 31), mantissa = (unsigned)(k * 97 % 1024);
    double magnitude = exponent == 0 ? ldexp(mantissa, -24)
                                     : ldexp(1.0 + mantissa / 1024.0, (int)exponent - 15);
    *value = (float)(sign ? -magnitude : magnitude);
    return (uint16_t)(sign << 15 | exponent << 10 | mantissa);
}

static uint16_t bfloat_pattern(size_t k, float *value)
{
    unsigned sign = k % 2, exponent = (unsigned)(100 + k * 5 % 50), mantissa = (unsigned)(k * 37 % 128);
    double magnitude = ldexp(1.0 + mantissa / 128.0, (int)exponent - 127);
    *value = (float)(sign ? -magnitude : magnitude);
    return (uint16_t)(sign << 15 | exponent << 7 | mantissa);
}

/* A Hugging Face BertForPreTraining-shaped file for the model's agnostic
 * stack: the expected values of every tensor that maps to a parameter go
 * into expected (by parameter index; NULL for the rest). */
typedef struct bert_file {
    float **expected;  /* [params.count] */
    int mapped;
} bert_file;

static const char *const bert_parts[] = {"embeddings.", "encoder.", "pooler."};

static const char *bert_rest(const char *name)
{
    if (strncmp(name, "agnostic.", 9) != 0)
        return NULL;
    for (size_t p = 0; p < sizeof bert_parts / sizeof bert_parts[0]; p++)
        if (strncmp(name + 9, bert_parts[p], strlen(bert_parts[p])) == 0)
            return name + 9;
    return NULL;
}

/* `bad_shape` (may be NULL) names the one tensor written with a row more. */
static void write_bert_file(const mird_model *model, const char *path, const char *bad_shape,
                            bert_file *out)
{
    const mird_param_table *t = &model->params;
    mird_error err = {0};
    mird_st_writer *w = NULL;
    ck_assert_int_eq(mird_st_writer_create(&w, &err), MIRD_OK);
    out->expected = calloc((size_t)t->count, sizeof *out->expected);
    out->mapped = 0;
    void **buffers = calloc((size_t)t->count + 3, sizeof *buffers);
    for (int i = 0; i < t->count; i++) {
        const mird_param_entry *e = &t->entries[i];
        const char *rest = bert_rest(e->name);
        if (!rest)
            continue;
        char name[160];
        snprintf(name, sizeof name, "bert.%s", rest);
        /* The old spelling for two of the LayerNorms. */
        char *norm = strstr(name, "LayerNorm.");
        if (norm && (strstr(name, "embeddings.") || strstr(name, "attention.output.")))
            strcpy(norm + 10, strcmp(norm + 10, "weight") == 0 ? "gamma" : "beta");
        float *values = malloc(e->numel * sizeof *values);
        mird_st_dtype dtype = MIRD_ST_F32;
        void *data = values;
        if (strcmp(rest, "pooler.dense.bias") == 0 || strcmp(rest, "pooler.dense.weight") == 0) {
            int half = strcmp(rest, "pooler.dense.bias") == 0;
            uint16_t *bits = malloc(e->numel * sizeof *bits);
            for (size_t k = 0; k < e->numel; k++)
                bits[k] = half ? half_pattern(k, &values[k]) : bfloat_pattern(k, &values[k]);
            dtype = half ? MIRD_ST_F16 : MIRD_ST_BF16;
            data = bits;
            buffers[t->count + half] = bits;
        } else {
            tu_fill_uniform(values, e->numel, -2, 2, 1000 + (uint32_t)i);
        }
        int64_t shape[4];
        memcpy(shape, e->dims, sizeof shape);
        if (bad_shape && strcmp(name, bad_shape) == 0)
            shape[0]++;
        float *padded = NULL;
        if (shape[0] != e->dims[0]) { /* room for the extra row */
            padded = calloc(e->numel * 2, sizeof *padded);
            memcpy(padded, values, e->numel * sizeof *values);
            data = padded;
            buffers[t->count + 2] = padded;
        }
        ck_assert_int_eq(mird_st_writer_add(w, name, dtype, e->ndim, shape, data, &err), MIRD_OK);
        out->expected[i] = values;
        out->mapped++;
    }
    /* What a BertForPreTraining file holds besides the encoder. */
    static float head_bias[40], transform[16 * 16];
    static const int64_t position_ids[6] = {0, 1, 2, 3, 4, 5};
    const int64_t bias_shape[1] = {40}, transform_shape[2] = {16, 16}, ids_shape[2] = {1, 6};
    ck_assert_int_eq(mird_st_writer_add(w, "cls.predictions.bias", MIRD_ST_F32, 1, bias_shape,
                                        head_bias, &err),
                     MIRD_OK);
    ck_assert_int_eq(mird_st_writer_add(w, "cls.predictions.transform.dense.weight", MIRD_ST_F32,
                                        2, transform_shape, transform, &err),
                     MIRD_OK);
    ck_assert_int_eq(mird_st_writer_add(w, "bert.embeddings.position_ids", MIRD_ST_I64, 2,
                                        ids_shape, position_ids, &err),
                     MIRD_OK);
    ck_assert_int_eq(mird_st_writer_save(w, path, &err), MIRD_OK);
    mird_st_writer_destroy(w);
    for (int b = 0; b < 3; b++)
        free(buffers[t->count + b]);
    free(buffers);
}

static void free_bert_file(const mird_model *model, bert_file *f)
{
    for (int i = 0; i < model->params.count; i++)
        free(f->expected[i]);
    free(f->expected);
}

static mird_model *tokens_model(void)
{
    mird_config cfg = mu_config("tiny", "text_mode", "tokens", "language_encoder", "transformer",
                                NULL);
    mird_model *model;
    ck_assert_int_eq(mird_model_create(&cfg, &model), MIRD_OK);
    return model;
}

/* Every parameter under `prefix` that the file maps holds the file's values;
 * every other one is as in `before`. */
static void assert_loaded_under(const mird_model *model, const bert_file *f, const char *prefix,
                                const float *before)
{
    const mird_param_table *t = &model->params;
    for (int i = 0; i < t->count; i++) {
        const mird_param_entry *e = &t->entries[i];
        const float *now = mird_param_value(t, i);
        int under = strncmp(e->name, prefix, strlen(prefix)) == 0;
        char agnostic_name[MIRD_PARAM_NAME_MAX + 16];
        snprintf(agnostic_name, sizeof agnostic_name, "agnostic.%s",
                 under ? e->name + strlen(prefix) : e->name);
        int source = under ? mird_params_find(t, agnostic_name) : -1;
        if (source >= 0 && f->expected[source])
            ck_assert_msg(memcmp(now, f->expected[source], e->numel * sizeof(float)) == 0,
                          "%s does not hold the file's values", e->name);
        else
            ck_assert_msg(memcmp(now, before + e->offset, e->numel * sizeof(float)) == 0,
                          "%s changed", e->name);
    }
}

START_TEST(test_load_bert_weights_by_name)
{
    mird_model *model = tokens_model();
    const char *path = temp_file(0, "bert.safetensors");
    bert_file f;
    write_bert_file(model, path, NULL, &f);
    ck_assert_int_eq(f.mapped, 5 + 16 + 2); /* embeddings, one layer, pooler */
    const mird_param_table *t = &model->params;
    float *initial = tu_copy(t->values, t->total);

    int64_t loaded = -1;
    ck_assert_msg(mird_model_load_weights(model, path, "bert.", "agnostic.", &loaded) == MIRD_OK,
                  "%s", mird_last_error_message());
    ck_assert_int_eq(loaded, f.mapped);
    assert_loaded_under(model, &f, "agnostic.", initial);
    float *after_agnostic = tu_copy(t->values, t->total);
    loaded = -1;
    ck_assert_int_eq(mird_model_load_weights(model, path, "bert.", "language.", &loaded), MIRD_OK);
    ck_assert_int_eq(loaded, f.mapped);
    assert_loaded_under(model, &f, "language.", after_agnostic);

    /* What loaded is what a checkpoint keeps. */
    const char *saved = temp_file(1, "fine-tune.safetensors");
    save_ok(model, NULL, saved);
    mird_model *reloaded = load_ok(saved);
    assert_same_parameters(model, reloaded);
    mird_model_destroy(reloaded);

    free_bert_file(model, &f);
    mird_free(initial);
    mird_free(after_agnostic);
    mird_model_destroy(model);
}
END_TEST

static void expect_weights_failure(mird_model *model, const char *path, const char *from,
                                   const char *to, mird_status want, const char *word)
{
    const mird_param_table *t = &model->params;
    float *before = tu_copy(t->values, t->total);
    int64_t loaded = -7;
    mird_status got = mird_model_load_weights(model, path, from, to, &loaded);
    ck_assert_msg(got == want, "got %s (%s)", mird_status_string(got), mird_last_error_message());
    ck_assert_int_eq(loaded, -7);
    ck_assert_int_eq(memcmp(before, t->values, t->total * sizeof(float)), 0);
    ck_assert_str_eq(mird_model_error_message(model), mird_last_error_message());
    assert_error_mentions(word);
    mird_free(before);
}

START_TEST(test_load_weights_all_or_nothing)
{
    mird_model *model = tokens_model();
    const char *path = temp_file(0, "bert.safetensors");
    bert_file f;
    /* A layer late in the file: the tensors before it match and must not load. */
    write_bert_file(model, path, "bert.encoder.layer.0.output.dense.weight", &f);
    expect_weights_failure(model, path, "bert.", "agnostic.", MIRD_ERR_SHAPE,
                           "bert.encoder.layer.0.output.dense.weight");
    assert_error_mentions("[17, 32]");
    free_bert_file(model, &f);

    write_bert_file(model, path, NULL, &f);
    expect_weights_failure(model, path, "roberta.", "agnostic.", MIRD_ERR_STATE, "roberta.");
    expect_weights_failure(model, path, "bert.", "vision.", MIRD_ERR_STATE, "vision.");
    free_bert_file(model, &f);

    /* Both spellings of one LayerNorm weight. */
    const char *both = temp_file(1, "both.safetensors");
    edit duplicate = {.label = "both spellings", .extra = "bert.embeddings.LayerNorm.weight"};
    write_bert_file(model, path, NULL, &f);
    rewrite(path, both, &duplicate);
    free_bert_file(model, &f);
    /* Caught before the extra tensor's shape ([2]) is looked at. */
    expect_weights_failure(model, both, "bert.", "agnostic.", MIRD_ERR_FORMAT,
                           "agnostic.embeddings.LayerNorm.weight");
    mird_model_destroy(model);
}
END_TEST

/* ---- Metadata and misuse ---------------------------------------------- */

START_TEST(test_metadata_reads_one_value)
{
    const char *good = good_checkpoint();
    char buf[32];
    size_t needed = 0;
    ck_assert_int_eq(mird_checkpoint_metadata(good, "mird.version", buf, sizeof buf, &needed),
                     MIRD_OK);
    ck_assert_str_eq(buf, mird_version_string());
    ck_assert_uint_eq(needed, strlen(mird_version_string()) + 1);
    ck_assert_int_eq(mird_checkpoint_metadata(good, "mird.config.hidden", buf, sizeof buf, NULL),
                     MIRD_OK);
    ck_assert_str_eq(buf, "16");
    ck_assert_int_eq(mird_checkpoint_metadata(good, "mird.config.constraint", buf, sizeof buf,
                                              NULL),
                     MIRD_OK);
    ck_assert_str_eq(buf, "mim");

    ck_assert_int_eq(mird_checkpoint_metadata(good, "mird.config.colour", buf, sizeof buf, NULL),
                     MIRD_ERR_INVALID_ARGUMENT);
    assert_error_mentions("mird.config.colour");

    strcpy(buf, "untouched");
    needed = 0;
    ck_assert_int_eq(mird_checkpoint_metadata(good, "mird.config.constraint", buf, 3, &needed),
                     MIRD_ERR_SHAPE);
    ck_assert_uint_eq(needed, 4);
    ck_assert_str_eq(buf, "untouched");
    assert_error_mentions("needs 4 bytes");
    needed = 0;
    ck_assert_int_eq(mird_checkpoint_metadata(good, "mird.format", NULL, 0, &needed),
                     MIRD_ERR_SHAPE);
    ck_assert_uint_eq(needed, 2);
    ck_assert_int_eq(mird_checkpoint_metadata(temp_file(1, "absent"), "mird.format", buf,
                                              sizeof buf, NULL),
                     MIRD_ERR_IO);
    /* Only the header is read: a data section cut short does not matter. */
    size_t size;
    unsigned char *bytes = tu_read_file(good, &size);
    tu_write_file(temp_file(2, "cut.safetensors"), bytes, size - 1);
    ck_assert_int_eq(mird_checkpoint_metadata(temp_file(2, "cut.safetensors"), "mird.format", buf,
                                              sizeof buf, NULL),
                     MIRD_ERR_FORMAT);
    free(bytes);
}
END_TEST

START_TEST(test_misuse_is_refused)
{
    mu_tiny s, other;
    make_trained(&s, 1);
    make_trained(&other, 0);
    ck_assert(!same_values(s.model, other.model));
    const char *path = temp_file(0, "ckpt.safetensors");
    ck_assert_int_eq(mird_model_save(NULL, NULL, path), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_model_save(s.model, NULL, NULL), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_model_save(s.model, other.opt, path), MIRD_ERR_INVALID_ARGUMENT);
    assert_error_mentions("another model");
    ck_assert_str_eq(mird_model_error_message(s.model), mird_last_error_message());
    ck_assert_int_eq(tu_count_entries(tu_temp_dir), 0);

    save_ok(s.model, s.opt, path);
    mird_model *out = (mird_model *)&out;
    ck_assert_int_eq(mird_model_load(NULL, &out), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(mird_model_load(path, NULL), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_optimizer_load(NULL, path), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_optimizer_load(s.opt, NULL), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_model_load_weights(NULL, path, "", "", NULL), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_model_load_weights(s.model, path, NULL, "", NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    assert_error_mentions("from_prefix");
    ck_assert_int_eq(mird_model_load_weights(s.model, path, "", NULL, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    char buf[8];
    ck_assert_int_eq(mird_checkpoint_metadata(NULL, "mird.format", buf, 8, NULL),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_checkpoint_metadata(path, NULL, buf, 8, NULL), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_checkpoint_metadata(path, "mird.format", NULL, 8, NULL),
                     MIRD_ERR_NULL_ARGUMENT);

    /* A checkpoint loads back as weights, every parameter matched. */
    int64_t loaded = 0;
    ck_assert_int_eq(mird_model_load_weights(other.model, path, "", "", &loaded), MIRD_OK);
    ck_assert_int_eq(loaded, other.model->params.count);
    assert_same_parameters(s.model, other.model);
    mu_tiny_destroy(&other);
    mu_tiny_destroy(&s);
}
END_TEST

static Suite *checkpoint_suite(void)
{
    Suite *suite = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_checked_fixture(tc, tu_make_temp_dir, tu_remove_temp_dir);
    tcase_add_test(tc, test_round_trip_predicts_and_trains_on_identically);
    tcase_add_test(tc, test_file_holds_the_documented_layout);
    tcase_add_test(tc, test_checkpoint_without_optimizer_state);
    tcase_add_test(tc, test_optimizer_load_refuses_another_model);
    tcase_add_test(tc, test_settings_round_trip_in_a_comma_locale);
    tcase_add_test(tc, test_truncated_and_corrupted_files);
    tcase_add_loop_test(tc, test_malformed_checkpoint_makes_nothing, 0, EDIT_COUNT);
    tcase_add_test(tc, test_rewrite_without_edits_loads);
    tcase_add_test(tc, test_failed_load_makes_nothing);
    tcase_add_test(tc, test_failed_save_keeps_the_previous_file);
    tcase_add_test(tc, test_save_into_an_unwritable_directory);
    tcase_add_test(tc, test_load_bert_weights_by_name);
    tcase_add_test(tc, test_load_weights_all_or_nothing);
    tcase_add_test(tc, test_metadata_reads_one_value);
    tcase_add_test(tc, test_misuse_is_refused);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    return tu_run_suite(checkpoint_suite());
}
