/* Datasets made from arrays through the public API: the setters' borrow and
 * copy rules and options, every misuse named and harmless, shapes into a
 * configuration, labels, ids, subsets and batches; and the internal
 * gathering and shape checks the trainer builds on. */
#include <math.h>
#include <string.h>

#include <mird/mird.h>

#include "io/dataset.h"
#include "model/config.h"
#include "support/testutil.h"

enum { N = 4, TL = 6, DL = 16, TA = 8, DA = 4, TV = 10, DV = 6 };

typedef struct sample_arrays {
    float text[N * TL * DL], audio[N * TA * DA], vision[N * TV * DV], labels[N];
    int32_t text_len[N], audio_len[N], vision_len[N];
    uint8_t labeled[N];
} sample_arrays;

static void fill(sample_arrays *a)
{
    tu_fill_uniform(a->text, N * TL * DL, -1, 1, 11);
    tu_fill_uniform(a->audio, N * TA * DA, -1, 1, 12);
    tu_fill_uniform(a->vision, N * TV * DV, -1, 1, 13);
    int32_t tl[N] = {6, 3, 0, 1}, al[N] = {8, 0, 2, 5}, vl[N] = {1, 10, 5, 0};
    float labels[N] = {1.5f, NAN, -3.0f, 0.25f};
    uint8_t labeled[N] = {1, 0, 1, 1};
    memcpy(a->text_len, tl, sizeof tl), memcpy(a->audio_len, al, sizeof al);
    memcpy(a->vision_len, vl, sizeof vl), memcpy(a->labels, labels, sizeof labels);
    memcpy(a->labeled, labeled, sizeof labeled);
}

/* A tiny dataset of N samples from `a` (every field borrowed but audio). */
static mird_dataset *make_dataset(const sample_arrays *a, const char *options)
{
    mird_config *cfg = tu_preset("tiny");
    mird_dataset *ds;
    ck_assert_int_eq(mird_dataset_create(cfg, N, options, &ds), MIRD_OK);
    mird_config_destroy(cfg); /* the dataset does not keep it */
    ck_assert_int_eq(mird_dataset_set_text(ds, a->text, a->text_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_dataset_set_audio(ds, a->audio, a->audio_len, MIRD_COPY), MIRD_OK);
    ck_assert_int_eq(mird_dataset_set_vision(ds, a->vision, a->vision_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_dataset_set_labels(ds, a->labels, a->labeled, MIRD_BORROW), MIRD_OK);
    return ds;
}

static const char *const sample_ids[N] = {"s0", "s1", "s2", "s3"};

/* make_dataset with the ids sample_ids. */
static mird_dataset *make_dataset_with_ids(const sample_arrays *a)
{
    mird_dataset *ds = make_dataset(a, NULL);
    ck_assert_int_eq(mird_dataset_set_ids(ds, sample_ids), MIRD_OK);
    return ds;
}

/* The status, and the word named both by the dataset (when there is one)
 * and by the thread's last message. */
static void assert_failed(const mird_dataset *ds, mird_status got, mird_status want,
                          const char *word)
{
    ck_assert_msg(got == want, "got %s, expected %s (%s)", mird_status_string(got),
                  mird_status_string(want), mird_last_error_message());
    ck_assert_msg(strstr(mird_last_error_message(), word) != NULL,
                  "message \"%s\" does not name %s", mird_last_error_message(), word);
    if (ds)
        ck_assert_msg(strstr(mird_dataset_error_message(ds), word) != NULL,
                      "dataset message \"%s\" does not name %s", mird_dataset_error_message(ds),
                      word);
}

/* What a failing call must leave alone: every field's pointers, copies and
 * set marks, and the ids. */
typedef struct snapshot {
    const void *pointers[9];
    void *owned[MIRD_FIELD_COUNT_][2];
    int is_set[MIRD_FIELD_COUNT_];
    char **ids;
} snapshot;

static snapshot take_snapshot(const mird_dataset *ds)
{
    const mird_batch *b = &ds->samples;
    snapshot s = {{b->text_features, b->text_ids, b->text_lengths, b->audio, b->audio_lengths,
                   b->vision, b->vision_lengths, b->labels, b->labeled},
                  {{0}},
                  {0},
                  ds->ids};
    memcpy(s.owned, b->owned, sizeof s.owned);
    memcpy(s.is_set, b->is_set, sizeof s.is_set);
    return s;
}

static void assert_unchanged(const mird_dataset *ds, const snapshot *before)
{
    snapshot now = take_snapshot(ds);
    ck_assert_int_eq(memcmp(now.pointers, before->pointers, sizeof now.pointers), 0);
    ck_assert_int_eq(memcmp(now.owned, before->owned, sizeof now.owned), 0);
    ck_assert_int_eq(memcmp(now.is_set, before->is_set, sizeof now.is_set), 0);
    ck_assert_ptr_eq(now.ids, before->ids);
}

START_TEST(test_create_borrow_copy_and_read_back)
{
    sample_arrays a;
    fill(&a);
    mird_dataset *ds = make_dataset(&a, NULL);
    ck_assert_int_eq(mird_dataset_size(ds), N);
    ck_assert_int_eq(mird_dataset_size(NULL), 0);
    /* Borrowed fields are the caller's own arrays, copies are not. */
    ck_assert_ptr_eq(ds->samples.text_features, a.text);
    ck_assert_ptr_eq(ds->samples.text_lengths, a.text_len);
    ck_assert_ptr_eq(ds->samples.vision, a.vision);
    ck_assert_ptr_ne(ds->samples.audio, a.audio);
    ck_assert_int_eq(memcmp(ds->samples.audio, a.audio, sizeof a.audio), 0);

    float labels[N];
    uint8_t labeled[N];
    ck_assert_int_eq(mird_dataset_get_labels(ds, labels, labeled), MIRD_OK);
    ck_assert_float_eq(labels[0], 1.5f);
    ck_assert(isnan(labels[1]));
    ck_assert_float_eq(labels[2], -3.0f);
    ck_assert_int_eq(memcmp(labeled, a.labeled, N), 0);
    ck_assert_int_eq(mird_dataset_get_labels(ds, NULL, labeled), MIRD_OK);
    ck_assert_int_eq(mird_dataset_get_labels(ds, labels, NULL), MIRD_OK);

    ck_assert_ptr_null(mird_dataset_id(ds, 0)); /* no ids yet */
    const char *ids[N] = {"03bSnISJMiM_1", "b", "", "d"};
    ck_assert_int_eq(mird_dataset_set_ids(ds, ids), MIRD_OK);
    ck_assert_str_eq(mird_dataset_id(ds, 0), "03bSnISJMiM_1");
    ck_assert_ptr_ne(mird_dataset_id(ds, 0), ids[0]); /* copied */
    ck_assert_str_eq(mird_dataset_id(ds, 2), "");
    ck_assert_ptr_null(mird_dataset_id(ds, N));
    ck_assert_ptr_null(mird_dataset_id(ds, -1));
    ck_assert_ptr_null(mird_dataset_id(NULL, 0));
    const char *renamed[N] = {"w", "x", "y", "z"};
    ck_assert_int_eq(mird_dataset_set_ids(ds, renamed), MIRD_OK);
    ck_assert_str_eq(mird_dataset_id(ds, 3), "z");

    /* Setting a field again replaces it and frees the earlier copy. */
    ck_assert_int_eq(mird_dataset_set_audio(ds, a.audio, a.audio_len, MIRD_BORROW), MIRD_OK);
    ck_assert_ptr_eq(ds->samples.audio, a.audio);
    ck_assert_ptr_null(ds->samples.owned[MIRD_FIELD_AUDIO][0]);
    ck_assert_str_eq(mird_dataset_error_message(ds), "");
    mird_dataset_destroy(ds);
    mird_dataset_destroy(NULL);

    ck_assert_str_eq(mird_split_name(MIRD_SPLIT_TRAIN), "train");
    ck_assert_str_eq(mird_split_name(MIRD_SPLIT_VALID), "valid");
    ck_assert_str_eq(mird_split_name(MIRD_SPLIT_TEST), "test");
    ck_assert_ptr_null(mird_split_name((mird_split)3));
    ck_assert_ptr_null(mird_split_name((mird_split)-1));
    ck_assert_str_eq(mird_dataset_error_message(NULL), "");
}
END_TEST

START_TEST(test_misuse_is_named_and_changes_nothing)
{
    sample_arrays a;
    fill(&a);
    mird_dataset *ds = make_dataset_with_ids(&a);
    snapshot before = take_snapshot(ds);

    assert_failed(NULL, mird_dataset_set_audio(NULL, a.audio, a.audio_len, MIRD_COPY),
                  MIRD_ERR_NULL_ARGUMENT, "mird_dataset_set_audio: ds is NULL");
    assert_failed(ds, mird_dataset_set_audio(ds, NULL, a.audio_len, MIRD_COPY),
                  MIRD_ERR_NULL_ARGUMENT, "mird_dataset_set_audio: audio is NULL");
    assert_failed(ds, mird_dataset_set_text(ds, a.text, NULL, MIRD_COPY),
                  MIRD_ERR_NULL_ARGUMENT, "mird_dataset_set_text: lengths is NULL");
    assert_failed(ds, mird_dataset_set_labels(ds, NULL, NULL, MIRD_COPY),
                  MIRD_ERR_NULL_ARGUMENT, "labels is NULL");
    assert_failed(NULL, mird_dataset_set_ids(NULL, sample_ids), MIRD_ERR_NULL_ARGUMENT, "ds");
    assert_failed(ds, mird_dataset_set_vision(ds, a.vision, a.vision_len, (mird_ownership)5),
                  MIRD_ERR_INVALID_ARGUMENT, "ownership = 5");

    int32_t too_long[N] = {8, 9, 0, 0};
    assert_failed(ds, mird_dataset_set_audio(ds, a.audio, too_long, MIRD_COPY), MIRD_ERR_SHAPE,
                  "audio lengths[1] = 9 is outside 0..8");
    int32_t negative[N] = {0, 0, 0, -2};
    assert_failed(ds, mird_dataset_set_text(ds, a.text, negative, MIRD_BORROW), MIRD_ERR_SHAPE,
                  "text lengths[3] = -2 is outside 0..6");

    float saved = a.vision[2 * TV * DV + 7 * DV + 4];
    a.vision[2 * TV * DV + 7 * DV + 4] = NAN; /* in the padding: still refused */
    assert_failed(ds, mird_dataset_set_vision(ds, a.vision, a.vision_len, MIRD_COPY),
                  MIRD_ERR_NONFINITE, "vision[2][7][4] = nan is not finite");
    ck_assert_ptr_nonnull(strstr(mird_dataset_error_message(ds), "nonfinite=zero"));
    a.vision[2 * TV * DV + 7 * DV + 4] = saved;

    int32_t tokens[N * TL] = {0};
    assert_failed(ds, mird_dataset_set_tokens(ds, tokens, a.text_len, MIRD_COPY), MIRD_ERR_STATE,
                  "text_mode = features: use mird_dataset_set_text");

    float bad_labels[N] = {0.0f, 1.0f, INFINITY, 2.0f};
    assert_failed(ds, mird_dataset_set_labels(ds, bad_labels, NULL, MIRD_COPY),
                  MIRD_ERR_NONFINITE, "labels[2] = inf is not finite");
    uint8_t two[N] = {1, 2, 0, 0};
    assert_failed(ds, mird_dataset_set_labels(ds, a.labels, two, MIRD_COPY),
                  MIRD_ERR_INVALID_ARGUMENT, "labeled[1] = 2");

    const char *missing[N] = {"a", "b", NULL, "d"};
    assert_failed(ds, mird_dataset_set_ids(ds, missing), MIRD_ERR_NULL_ARGUMENT, "ids[2] is NULL");
    ck_assert_str_eq(mird_dataset_id(ds, 1), "s1");
    assert_unchanged(ds, &before);

    /* A failing maker makes nothing. */
    mird_config *cfg = tu_preset("tiny");
    mird_dataset *none = ds;
    assert_failed(NULL, mird_dataset_create(cfg, 0, NULL, &none), MIRD_ERR_INVALID_ARGUMENT,
                  "size = 0 is outside 1..1000000");
    ck_assert_ptr_null(none);
    assert_failed(NULL, mird_dataset_create(NULL, 2, NULL, &none), MIRD_ERR_NULL_ARGUMENT, "cfg");
    assert_failed(NULL, mird_dataset_create(cfg, 2, NULL, NULL), MIRD_ERR_NULL_ARGUMENT, "out");
    mird_config_destroy(cfg);
    mird_dataset_destroy(ds);
}
END_TEST

START_TEST(test_tokens_dataset)
{
    mird_config *cfg = tu_preset("tiny");
    ck_assert_int_eq(mird_config_set(cfg, "text_mode", "tokens"), MIRD_OK);
    mird_dataset *ds;
    ck_assert_int_eq(mird_dataset_create(cfg, 2, NULL, &ds), MIRD_OK);
    int32_t ids[2 * TL] = {1, 5, 39, 0, 0, 0, 2, 40, 0, 0, 0, 0}, len[2] = {3, 2};
    assert_failed(ds, mird_dataset_set_tokens(ds, ids, len, MIRD_COPY), MIRD_ERR_INVALID_ARGUMENT,
                  "token ids[1][1] = 40 is outside 0..39");
    ck_assert_int_eq(ds->samples.is_set[MIRD_FIELD_TEXT], 0);
    ids[7] = 39;
    ck_assert_int_eq(mird_dataset_set_tokens(ds, ids, len, MIRD_BORROW), MIRD_OK);
    ck_assert_ptr_eq(ds->samples.text_ids, ids);
    float features[2 * TL * DL] = {0};
    assert_failed(ds, mird_dataset_set_text(ds, features, len, MIRD_COPY), MIRD_ERR_STATE,
                  "use mird_dataset_set_tokens");
    ck_assert_ptr_eq(ds->samples.text_ids, ids);

    /* A batch with a larger vocabulary takes the ids; a smaller one not. */
    float audio[2 * TA * DA] = {0}, vision[2 * TV * DV] = {0};
    int32_t frames[2] = {1, 1};
    ck_assert_int_eq(mird_dataset_set_audio(ds, audio, frames, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_dataset_set_vision(ds, vision, frames, MIRD_BORROW), MIRD_OK);
    mird_batch *batch;
    ck_assert_int_eq(mird_config_set(cfg, "vocab_size", "50"), MIRD_OK);
    ck_assert_int_eq(mird_batch_create(cfg, 2, &batch), MIRD_OK);
    ck_assert_int_eq(mird_dataset_fill_batch(ds, 0, 2, batch), MIRD_OK);
    ck_assert_int_eq(memcmp(batch->text_ids, ids, sizeof ids), 0);
    ck_assert_int_eq(memcmp(batch->text_lengths, len, sizeof len), 0);
    mird_batch_destroy(batch);
    ck_assert_int_eq(mird_config_set(cfg, "vocab_size", "30"), MIRD_OK);
    ck_assert_int_eq(mird_batch_create(cfg, 2, &batch), MIRD_OK);
    assert_failed(ds, mird_dataset_fill_batch(ds, 0, 2, batch), MIRD_ERR_SHAPE,
                  "the batch was made for vocab_size = 30, the dataset has 40");
    mird_batch_destroy(batch);
    mird_dataset_destroy(ds);
    mird_config_destroy(cfg);
}
END_TEST

START_TEST(test_nonfinite_zero_copies_and_never_writes_the_caller)
{
    sample_arrays a;
    fill(&a);
    mird_dataset *ds = make_dataset(&a, "nonfinite=zero");
    size_t at_inf = 1 * TA * DA + 5 * DA + 2, at_nan = 3 * TA * DA;
    a.audio[at_inf] = -INFINITY;
    a.audio[at_nan] = NAN;
    ck_assert_int_eq(mird_dataset_set_audio(ds, a.audio, a.audio_len, MIRD_BORROW), MIRD_OK);
    const float *stored = ds->samples.audio;
    ck_assert_ptr_ne(stored, a.audio); /* borrowing would expose the non-finite values */
    ck_assert_ptr_eq(ds->samples.audio_lengths, a.audio_len); /* the lengths stay borrowed */
    ck_assert(isinf(a.audio[at_inf]) && isnan(a.audio[at_nan]));
    for (size_t i = 0; i < N * TA * DA; i++)
        ck_assert_float_eq(stored[i], i == at_inf || i == at_nan ? 0.0f : a.audio[i]);

    ck_assert_int_eq(mird_dataset_set_audio(ds, a.audio, a.audio_len, MIRD_COPY), MIRD_OK);
    ck_assert_float_eq(ds->samples.audio[at_nan], 0.0f);
    ck_assert(isnan(a.audio[at_nan]));
    /* Finite arrays are still borrowed as they are. */
    ck_assert_int_eq(mird_dataset_set_vision(ds, a.vision, a.vision_len, MIRD_BORROW), MIRD_OK);
    ck_assert_ptr_eq(ds->samples.vision, a.vision);
    /* Labels are not features: a labeled sample's label must be finite. */
    a.labels[0] = NAN;
    assert_failed(ds, mird_dataset_set_labels(ds, a.labels, a.labeled, MIRD_BORROW),
                  MIRD_ERR_NONFINITE, "labels[0]");
    mird_dataset_destroy(ds);
}
END_TEST

START_TEST(test_labels_none_and_labels_never_set)
{
    sample_arrays a;
    fill(&a);
    mird_config *cfg = tu_preset("tiny");
    mird_dataset *ds;
    ck_assert_int_eq(mird_dataset_create(cfg, N, "labels=none", &ds), MIRD_OK);
    float labels[N];
    uint8_t labeled[N];
    memset(labeled, 7, sizeof labeled);
    ck_assert_int_eq(mird_dataset_get_labels(ds, labels, labeled), MIRD_OK);
    for (int i = 0; i < N; i++)
        ck_assert(isnan(labels[i]) && labeled[i] == 0);
    /* Labels given anyway are ignored, so they need not be finite... */
    float given[N] = {1.0f, NAN, 2.0f, 3.0f};
    ck_assert_int_eq(mird_dataset_set_labels(ds, given, NULL, MIRD_COPY), MIRD_OK);
    ck_assert_int_eq(mird_dataset_get_labels(ds, labels, labeled), MIRD_OK);
    for (int i = 0; i < N; i++)
        ck_assert(isnan(labels[i]) && labeled[i] == 0);
    /* ...but a malformed mask is still a mistake. */
    uint8_t three[N] = {3, 0, 0, 0};
    assert_failed(ds, mird_dataset_set_labels(ds, given, three, MIRD_COPY),
                  MIRD_ERR_INVALID_ARGUMENT, "labeled[0] = 3");
    mird_dataset_destroy(ds);

    ck_assert_int_eq(mird_dataset_create(cfg, N, NULL, &ds), MIRD_OK);
    assert_failed(ds, mird_dataset_get_labels(ds, labels, labeled), MIRD_ERR_STATE, "no labels");
    assert_failed(NULL, mird_dataset_get_labels(NULL, labels, labeled), MIRD_ERR_NULL_ARGUMENT,
                  "ds");
    mird_dataset_destroy(ds);
    mird_config_destroy(cfg);
}
END_TEST

START_TEST(test_options_are_parsed_strictly)
{
    mird_config *cfg = tu_preset("tiny");
    static char sentinel;
    mird_dataset *const untouched = (mird_dataset *)(void *)&sentinel, *ds;
    const struct {
        const char *options, *named;
    } bad[] = {
        {"colour=red", "unknown option \"colour\""},
        {"nonfinite=maybe", "nonfinite=maybe"},
        {"labels=some", "labels=some"},
        {"nonfinite", "\"nonfinite\" is not of the form key=value"},
        {"labels=none,=zero", "\"=zero\" is not of the form key=value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *options = bad[i].options;
        ds = untouched;
        assert_failed(NULL, mird_dataset_create(cfg, 2, options, &ds), MIRD_ERR_INVALID_ARGUMENT,
                      bad[i].named);
        ck_assert_ptr_null(ds);
        ds = untouched;
        assert_failed(NULL, mird_dataset_synthetic(cfg, MIRD_SPLIT_TRAIN, 2, 1, options, &ds),
                      MIRD_ERR_INVALID_ARGUMENT, bad[i].named);
        ck_assert_ptr_null(ds);
    }
    ck_assert_int_eq(mird_dataset_create(cfg, 2, "nonfinite=zero,labels=none", &ds), MIRD_OK);
    ck_assert_int_eq(ds->options.nonfinite_zero, 1);
    ck_assert_int_eq(ds->options.labels_none, 1);
    mird_dataset_destroy(ds);
    ck_assert_int_eq(mird_dataset_create(cfg, 2, "", &ds), MIRD_OK);
    ck_assert_int_eq(ds->options.nonfinite_zero + ds->options.labels_none, 0);
    mird_dataset_destroy(ds);
    mird_config_destroy(cfg);
}
END_TEST

/* A dataset with its own storage in `shape`, all lengths 1, as a file
 * reader makes it; token ids 0..max_id. */
static mird_dataset *stored_dataset(const mird_batch_shape *shape, int64_t size, int32_t max_id)
{
    mird_dataset *ds;
    mird_dataset_arrays arrays;
    mird_error err = {0};
    ck_assert_int_eq(mird_dataset_new(shape, size, NULL, &ds, &arrays, &err), MIRD_OK);
    for (int64_t i = 0; i < size; i++) {
        arrays.text_lengths[i] = arrays.audio_lengths[i] = arrays.vision_lengths[i] = 1;
        arrays.labeled[i] = 1;
    }
    if (arrays.text_ids)
        arrays.text_ids[0] = max_id;
    ck_assert_int_eq(mird_dataset_finish(ds, "test.h5", &err), MIRD_OK);
    return ds;
}

START_TEST(test_apply_shapes)
{
    sample_arrays a;
    fill(&a);
    mird_dataset *ds = make_dataset(&a, NULL);
    mird_config *cfg;
    ck_assert_int_eq(mird_config_create(&cfg), MIRD_OK); /* mosi */
    ck_assert_int_eq(mird_dataset_apply_shapes(ds, cfg), MIRD_OK);
    const struct {
        mird_param param;
        long long value;
    } want[] = {
        {MIRD_PARAM_TEXT_MODE, MIRD_TEXT_FEATURES}, {MIRD_PARAM_TEXT_LENGTH, TL},
        {MIRD_PARAM_TEXT_DIM, DL}, {MIRD_PARAM_AUDIO_LENGTH, TA}, {MIRD_PARAM_AUDIO_DIM, DA},
        {MIRD_PARAM_VISION_LENGTH, TV}, {MIRD_PARAM_VISION_DIM, DV},
        {MIRD_PARAM_MAX_POSITIONS, 50}, {MIRD_PARAM_VOCAB_SIZE, 30522}, {MIRD_PARAM_HIDDEN, 128},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_int_eq(mird_config_get_int(cfg, want[i].param), want[i].value);
    mird_dataset_destroy(ds);

    /* Token ids: the vocabulary and the position table grow to fit. */
    mird_batch_shape tokens = {MIRD_TEXT_TOKENS, 60, 0, 0, 3, 2, 4, 5};
    ds = stored_dataset(&tokens, 2, 40000);
    ck_assert_int_eq(ds->samples.shape.vocab_size, 40001);
    ck_assert_int_eq(mird_dataset_apply_shapes(ds, cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_TEXT_MODE), MIRD_TEXT_TOKENS);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_VOCAB_SIZE), 40001);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_MAX_POSITIONS), 60);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_TEXT_DIM), DL); /* untouched */
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_VISION_DIM), 5);
    /* ...but never shrink. */
    ck_assert_int_eq(mird_config_set_int(cfg, MIRD_PARAM_VOCAB_SIZE, 50000), MIRD_OK);
    ck_assert_int_eq(mird_config_set_int(cfg, MIRD_PARAM_MAX_POSITIONS, 512), MIRD_OK);
    ck_assert_int_eq(mird_dataset_apply_shapes(ds, cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_VOCAB_SIZE), 50000);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_MAX_POSITIONS), 512);
    mird_dataset_destroy(ds);

    /* A shape beyond a setting's bounds changes nothing at all. */
    mird_batch_shape huge = {MIRD_TEXT_TOKENS, 5000, 0, 0, 3, 2, 4, 5};
    ds = stored_dataset(&huge, 1, 3);
    mird_config before = *cfg;
    mird_status st = mird_dataset_apply_shapes(ds, cfg);
    ck_assert_int_eq(st, MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_config_error_message(cfg), "text_length"));
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "5000"));
    ck_assert_int_eq(memcmp(before.values, cfg->values, sizeof cfg->values), 0);
    assert_failed(NULL, mird_dataset_apply_shapes(NULL, cfg), MIRD_ERR_NULL_ARGUMENT, "ds");
    assert_failed(NULL, mird_dataset_apply_shapes(ds, NULL), MIRD_ERR_NULL_ARGUMENT, "cfg");
    mird_dataset_destroy(ds);
    mird_config_destroy(cfg);
}
END_TEST

/* Row `row` of `got` holds sample `from` of `a`; labeled_expected is 1, 0,
 * or -1 for a batch without labels. */
static void assert_row_equal(const mird_batch *got, int64_t row, const sample_arrays *a,
                             int64_t from, int labeled_expected)
{
    ck_assert_int_eq(memcmp(got->text_features + row * TL * DL, a->text + from * TL * DL,
                            TL * DL * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(got->audio + row * TA * DA, a->audio + from * TA * DA,
                            TA * DA * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(got->vision + row * TV * DV, a->vision + from * TV * DV,
                            TV * DV * sizeof(float)), 0);
    ck_assert_int_eq(got->text_lengths[row], a->text_len[from]);
    ck_assert_int_eq(got->audio_lengths[row], a->audio_len[from]);
    ck_assert_int_eq(got->vision_lengths[row], a->vision_len[from]);
    ck_assert_int_eq(got->is_set[MIRD_FIELD_LABELS], labeled_expected >= 0);
    if (labeled_expected < 0)
        return;
    ck_assert_int_eq(got->labeled[row], labeled_expected);
    if (labeled_expected)
        ck_assert_float_eq(got->labels[row], a->labels[from]);
    else
        ck_assert(isnan(got->labels[row]));
}

START_TEST(test_subset)
{
    sample_arrays a;
    fill(&a);
    mird_dataset *ds = make_dataset_with_ids(&a);
    int64_t pick[3] = {3, 1, 3};
    mird_dataset *sub;
    ck_assert_int_eq(mird_dataset_subset(ds, pick, 3, &sub), MIRD_OK);
    ck_assert_int_eq(mird_dataset_size(sub), 3);
    for (int k = 0; k < 3; k++) {
        assert_row_equal(&sub->samples, k, &a, pick[k], a.labeled[pick[k]]);
        ck_assert_str_eq(mird_dataset_id(sub, k), sample_ids[pick[k]]);
    }
    /* A copy: the subset lives on after its source. */
    ck_assert_ptr_ne(sub->samples.text_features, a.text);
    mird_dataset_destroy(ds);
    ck_assert_float_eq(sub->samples.labels[0], 0.25f);
    ck_assert_ptr_null(sub->factors);

    int64_t out_of_range[2] = {0, 3};
    mird_dataset *none = sub;
    assert_failed(sub, mird_dataset_subset(sub, out_of_range, 2, &none),
                  MIRD_ERR_INVALID_ARGUMENT, "indices[1] = 3 is outside 0..2");
    ck_assert_ptr_null(none);
    assert_failed(sub, mird_dataset_subset(sub, pick, 0, &none), MIRD_ERR_INVALID_ARGUMENT,
                  "count = 0");
    assert_failed(NULL, mird_dataset_subset(sub, NULL, 1, &none), MIRD_ERR_NULL_ARGUMENT,
                  "indices");
    mird_dataset_destroy(sub);

    /* Fields never set: no subset without them, and no labels invented. */
    mird_config *cfg = tu_preset("tiny");
    ck_assert_int_eq(mird_dataset_create(cfg, N, NULL, &ds), MIRD_OK);
    ck_assert_int_eq(mird_dataset_set_text(ds, a.text, a.text_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_dataset_set_audio(ds, a.audio, a.audio_len, MIRD_BORROW), MIRD_OK);
    assert_failed(ds, mird_dataset_subset(ds, pick, 3, &none), MIRD_ERR_STATE, "no vision");
    ck_assert_int_eq(mird_dataset_set_vision(ds, a.vision, a.vision_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_dataset_subset(ds, pick, 3, &sub), MIRD_OK);
    float labels[3];
    ck_assert_int_eq(mird_dataset_get_labels(sub, labels, NULL), MIRD_ERR_STATE);
    ck_assert_ptr_null(mird_dataset_id(sub, 0));
    mird_dataset_destroy(sub);
    mird_dataset_destroy(ds);

    /* Planted factors follow their samples. */
    ck_assert_int_eq(mird_dataset_synthetic(cfg, MIRD_SPLIT_TRAIN, 5, 3, NULL, &ds), MIRD_OK);
    int64_t order[2] = {4, 2};
    ck_assert_int_eq(mird_dataset_subset(ds, order, 2, &sub), MIRD_OK);
    float all[5 * MIRD_SYNTHETIC_FACTORS], picked[2 * MIRD_SYNTHETIC_FACTORS];
    ck_assert_int_eq(mird_dataset_get_factors(ds, all), MIRD_OK);
    ck_assert_int_eq(mird_dataset_get_factors(sub, picked), MIRD_OK);
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(memcmp(picked + k * MIRD_SYNTHETIC_FACTORS,
                                all + order[k] * MIRD_SYNTHETIC_FACTORS,
                                sizeof(float) * MIRD_SYNTHETIC_FACTORS), 0);
    mird_dataset_destroy(sub);
    mird_dataset_destroy(ds);
    mird_config_destroy(cfg);
}
END_TEST

START_TEST(test_fill_batch_then_infer_as_a_direct_batch)
{
    sample_arrays a;
    fill(&a);
    mird_dataset *ds = make_dataset(&a, NULL);
    mird_config *cfg = tu_preset("tiny");
    mird_model *model;
    ck_assert_int_eq(mird_model_create(cfg, &model), MIRD_OK);
    mird_batch *filled, *direct;
    ck_assert_int_eq(mird_batch_create(cfg, 3, &filled), MIRD_OK);
    ck_assert_int_eq(mird_batch_create(cfg, 3, &direct), MIRD_OK);
    ck_assert_int_eq(mird_dataset_fill_batch(ds, 1, 3, filled), MIRD_OK);
    for (int k = 0; k < 3; k++)
        assert_row_equal(filled, k, &a, 1 + k, a.labeled[1 + k]);
    ck_assert_ptr_ne(filled->text_features, a.text + TL * DL); /* the batch holds copies */

    ck_assert_int_eq(mird_batch_set_text(direct, a.text + TL * DL, a.text_len + 1, MIRD_BORROW),
                     MIRD_OK);
    ck_assert_int_eq(mird_batch_set_audio(direct, a.audio + TA * DA, a.audio_len + 1, MIRD_BORROW),
                     MIRD_OK);
    ck_assert_int_eq(mird_batch_set_vision(direct, a.vision + TV * DV, a.vision_len + 1,
                                           MIRD_BORROW), MIRD_OK);
    float pred_filled[3], pred_direct[3], codes_filled[3 * 4 * 8], codes_direct[3 * 4 * 8];
    ck_assert_int_eq(mird_infer(model, filled, pred_filled, codes_filled), MIRD_OK);
    ck_assert_int_eq(mird_infer(model, direct, pred_direct, codes_direct), MIRD_OK);
    ck_assert_int_eq(memcmp(pred_filled, pred_direct, sizeof pred_filled), 0);
    ck_assert_int_eq(memcmp(codes_filled, codes_direct, sizeof codes_filled), 0);
    ck_assert(isfinite(pred_filled[0]));

    /* Refusals leave the batch as it was. */
    const float *text_before = filled->text_features;
    assert_failed(ds, mird_dataset_fill_batch(ds, 2, 3, filled), MIRD_ERR_INVALID_ARGUMENT,
                  "samples 2..4 are outside the dataset's 0..3");
    assert_failed(ds, mird_dataset_fill_batch(ds, -1, 3, filled), MIRD_ERR_INVALID_ARGUMENT,
                  "outside");
    assert_failed(ds, mird_dataset_fill_batch(ds, 0, 0, filled), MIRD_ERR_INVALID_ARGUMENT,
                  "outside");
    assert_failed(ds, mird_dataset_fill_batch(ds, 0, 2, filled), MIRD_ERR_SHAPE,
                  "the batch holds 3 samples, not count = 2");
    assert_failed(NULL, mird_dataset_fill_batch(ds, 0, 3, NULL), MIRD_ERR_NULL_ARGUMENT, "batch");
    mird_config *wider = tu_preset("tiny");
    ck_assert_int_eq(mird_config_set(wider, "audio_dim", "5"), MIRD_OK);
    mird_batch *other;
    ck_assert_int_eq(mird_batch_create(wider, 3, &other), MIRD_OK);
    assert_failed(ds, mird_dataset_fill_batch(ds, 0, 3, other), MIRD_ERR_SHAPE,
                  "the batch was made for audio_dim = 5, the dataset has 4");
    ck_assert_int_eq(other->is_set[MIRD_FIELD_TEXT], 0);
    ck_assert_ptr_eq(filled->text_features, text_before);
    mird_batch_destroy(other);
    mird_config_destroy(wider);

    /* A dataset without labels fills a batch without labels. */
    mird_dataset *unlabeled;
    ck_assert_int_eq(mird_dataset_create(cfg, N, NULL, &unlabeled), MIRD_OK);
    ck_assert_int_eq(mird_dataset_set_text(unlabeled, a.text, a.text_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_dataset_set_audio(unlabeled, a.audio, a.audio_len, MIRD_BORROW),
                     MIRD_OK);
    assert_failed(unlabeled, mird_dataset_fill_batch(unlabeled, 0, 3, filled), MIRD_ERR_STATE,
                  "no vision");
    ck_assert_ptr_eq(filled->text_features, text_before);
    ck_assert_int_eq(mird_dataset_set_vision(unlabeled, a.vision, a.vision_len, MIRD_BORROW),
                     MIRD_OK);
    ck_assert_int_eq(mird_dataset_fill_batch(unlabeled, 0, 3, filled), MIRD_OK);
    ck_assert_ptr_null(filled->labels);
    assert_row_equal(filled, 2, &a, 2, -1);
    mird_dataset_destroy(unlabeled);

    mird_batch_destroy(filled);
    mird_batch_destroy(direct);
    mird_model_destroy(model);
    mird_config_destroy(cfg);
    mird_dataset_destroy(ds);
}
END_TEST

START_TEST(test_gather_and_check_shape)
{
    sample_arrays a;
    fill(&a);
    mird_dataset *src = make_dataset_with_ids(&a);
    mird_dataset *dst;
    mird_error err = {0};
    ck_assert_int_eq(mird_dataset_new(&src->samples.shape, 5, NULL, &dst, NULL, &err), MIRD_OK);
    ck_assert_int_eq(mird_dataset_alloc_ids(dst, &err), MIRD_OK);
    int64_t first[2] = {2, 0}, second[2] = {0, 3};
    ck_assert_int_eq(mird_dataset_gather(src, first, 2, dst, 0, 0, &err), MIRD_OK);
    ck_assert_int_eq(mird_dataset_gather(src, second, 2, dst, 3, 1, &err), MIRD_OK);
    assert_row_equal(&dst->samples, 0, &a, 2, 1);
    assert_row_equal(&dst->samples, 1, &a, 0, 1);
    assert_row_equal(&dst->samples, 3, &a, 0, 0); /* as_unlabeled */
    assert_row_equal(&dst->samples, 4, &a, 3, 0);
    ck_assert_int_eq(dst->samples.text_lengths[2], 0); /* row 2 untouched */
    ck_assert_str_eq(dst->ids[4], "s3");
    ck_assert_ptr_null(dst->ids[2]);
    int64_t beyond[1] = {4};
    ck_assert_int_eq(mird_dataset_gather(src, beyond, 1, dst, 0, 0, &err),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(err.message, "sample index 4 is outside 0..3"));
    ck_assert_int_eq(mird_dataset_gather(src, first, 2, dst, 4, 0, &err), MIRD_ERR_INTERNAL);

    /* The trainer's shape check names the dataset and the difference. */
    mird_config *mosi;
    ck_assert_int_eq(mird_config_create(&mosi), MIRD_OK);
    mird_batch_shape model_shape = mird_batch_shape_of(mosi);
    ck_assert_int_eq(mird_dataset_check_shape(src, &model_shape, "the validation set", &err),
                     MIRD_ERR_SHAPE);
    ck_assert_str_eq(err.message, "the validation set was made for text_length = 6, the model "
                     "has 50");
    mird_config *tiny = tu_preset("tiny");
    model_shape = mird_batch_shape_of(tiny);
    ck_assert_int_eq(mird_dataset_check_shape(src, &model_shape, "the validation set", &err),
                     MIRD_OK);
    mird_batch_shape tokens = {MIRD_TEXT_TOKENS, TL, 0, 0, TA, DA, TV, DV};
    mird_dataset *read = stored_dataset(&tokens, 2, 40);
    ck_assert_int_eq(mird_config_set(tiny, "text_mode", "tokens"), MIRD_OK);
    model_shape = mird_batch_shape_of(tiny); /* vocab_size 40 */
    ck_assert_int_eq(mird_dataset_check_shape(read, &model_shape, "the training set", &err),
                     MIRD_ERR_SHAPE);
    ck_assert_str_eq(err.message, "the training set holds token ids up to 40, beyond the model's "
                     "vocab_size = 40");
    model_shape.vocab_size = 41;
    ck_assert_int_eq(mird_dataset_check_shape(read, &model_shape, "the training set", &err),
                     MIRD_OK);

    mird_dataset *partial;
    ck_assert_int_eq(mird_dataset_create(tiny, 1, NULL, &partial), MIRD_OK);
    ck_assert_int_eq(mird_dataset_check_complete(partial, "the test set", &err), MIRD_ERR_STATE);
    ck_assert_str_eq(err.message, "the test set has no text set");
    mird_dataset_destroy(partial);
    mird_dataset_destroy(read);
    mird_config_destroy(tiny);
    mird_config_destroy(mosi);
    mird_dataset_destroy(dst);
    mird_dataset_destroy(src);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("dataset");
    TCase *tc = tcase_create("dataset");
    tcase_add_test(tc, test_create_borrow_copy_and_read_back);
    tcase_add_test(tc, test_misuse_is_named_and_changes_nothing);
    tcase_add_test(tc, test_tokens_dataset);
    tcase_add_test(tc, test_nonfinite_zero_copies_and_never_writes_the_caller);
    tcase_add_test(tc, test_labels_none_and_labels_never_set);
    tcase_add_test(tc, test_options_are_parsed_strictly);
    tcase_add_test(tc, test_apply_shapes);
    tcase_add_test(tc, test_subset);
    tcase_add_test(tc, test_fill_batch_then_infer_as_a_direct_batch);
    tcase_add_test(tc, test_gather_and_check_shape);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
