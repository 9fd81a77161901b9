/* Batches through the public API: shapes from the configuration, borrow and
 * copy, and every validation failure leaving the batch as it was. */
#include <math.h>
#include <string.h>

#include <mird/mird.h>

#include "model/batch.h"
#include "support/testutil.h"

typedef struct tiny_arrays {
    float text[3 * 6 * 16], audio[3 * 8 * 4], vision[3 * 10 * 6], labels[3];
    int32_t text_len[3], audio_len[3], vision_len[3];
} tiny_arrays;

static mird_config *tiny_config(void)
{
    mird_config *cfg;
    ck_assert_int_eq(mird_config_create(&cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_preset(cfg, "tiny"), MIRD_OK);
    return cfg;
}

static void fill(tiny_arrays *a)
{
    tu_fill_uniform(a->text, 3 * 6 * 16, -1, 1, 1);
    tu_fill_uniform(a->audio, 3 * 8 * 4, -1, 1, 2);
    tu_fill_uniform(a->vision, 3 * 10 * 6, -1, 1, 3);
    int32_t tl[3] = {6, 3, 0}, al[3] = {8, 0, 2}, vl[3] = {1, 10, 5};
    memcpy(a->text_len, tl, sizeof tl);
    memcpy(a->audio_len, al, sizeof al);
    memcpy(a->vision_len, vl, sizeof vl);
    a->labels[0] = 1.5f, a->labels[1] = NAN, a->labels[2] = -3.0f;
}

START_TEST(test_borrow_and_copy)
{
    mird_config *cfg = tiny_config();
    mird_batch *b;
    tiny_arrays a;
    fill(&a);
    ck_assert_int_eq(mird_batch_create(cfg, 3, &b), MIRD_OK);
    mird_config_destroy(cfg); /* the batch does not keep it */
    ck_assert_int_eq(mird_batch_size(b), 3);
    ck_assert_int_eq(mird_batch_set_text(b, a.text, a.text_len, MIRD_BORROW), MIRD_OK);
    ck_assert_ptr_eq(b->text_features, a.text); /* borrowed: the caller's own buffer */
    ck_assert_int_eq(mird_batch_set_audio(b, a.audio, a.audio_len, MIRD_COPY), MIRD_OK);
    ck_assert_ptr_ne(b->audio, a.audio);
    ck_assert_int_eq(memcmp(b->audio, a.audio, sizeof a.audio), 0);
    a.audio[0] = 99.0f; /* a copy does not follow later changes */
    ck_assert_float_ne(b->audio[0], 99.0f);
    ck_assert_int_eq(mird_batch_set_vision(b, a.vision, a.vision_len, MIRD_COPY), MIRD_OK);
    uint8_t labeled[3] = {1, 0, 1};
    ck_assert_int_eq(mird_batch_set_labels(b, a.labels, labeled, MIRD_COPY), MIRD_OK);
    ck_assert_int_eq(b->labeled[1], 0);
    /* Setting a field again replaces it (and frees the earlier copy). */
    ck_assert_int_eq(mird_batch_set_audio(b, a.audio, a.audio_len, MIRD_BORROW), MIRD_OK);
    ck_assert_ptr_eq(b->audio, a.audio);
    mird_batch_destroy(b);
    mird_batch_destroy(NULL);
}
END_TEST

START_TEST(test_bad_input_is_named_and_changes_nothing)
{
    mird_config *cfg = tiny_config();
    mird_batch *b;
    tiny_arrays a;
    fill(&a);
    ck_assert_int_eq(mird_batch_create(cfg, 3, &b), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_audio(b, a.audio, a.audio_len, MIRD_COPY), MIRD_OK);
    const float *before = b->audio;

    int32_t long_len[3] = {8, 9, 0};
    ck_assert_int_eq(mird_batch_set_audio(b, a.audio, long_len, MIRD_COPY), MIRD_ERR_SHAPE);
    ck_assert_str_eq(mird_batch_error_message(b), "audio lengths[1] = 9 is outside 0..8");
    int32_t negative[3] = {-1, 0, 0};
    ck_assert_int_eq(mird_batch_set_vision(b, a.vision, negative, MIRD_COPY), MIRD_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "vision lengths[0] = -1"));

    a.audio[1 * 8 * 4 + 5 * 4 + 2] = -INFINITY; /* in padding: still rejected */
    ck_assert_int_eq(mird_batch_set_audio(b, a.audio, a.audio_len, MIRD_COPY), MIRD_ERR_NONFINITE);
    ck_assert_str_eq(mird_batch_error_message(b), "audio[1][5][2] = -inf is not finite");
    ck_assert_ptr_eq(b->audio, before); /* the earlier copy is still there */

    float bad_labels[3] = {0.0f, INFINITY, NAN};
    uint8_t only_first[3] = {1, 0, 0};
    ck_assert_int_eq(mird_batch_set_labels(b, bad_labels, only_first, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_labels(b, bad_labels, NULL, MIRD_BORROW), MIRD_ERR_NONFINITE);
    ck_assert_ptr_nonnull(strstr(mird_batch_error_message(b), "labels[1]"));
    uint8_t two[3] = {1, 2, 0};
    ck_assert_int_eq(mird_batch_set_labels(b, a.labels, two, MIRD_BORROW),
                     MIRD_ERR_INVALID_ARGUMENT);

    ck_assert_int_eq(mird_batch_set_text(b, NULL, a.text_len, MIRD_BORROW), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_batch_set_text(NULL, a.text, a.text_len, MIRD_BORROW),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_batch_set_text(b, a.text, a.text_len, (mird_ownership)5),
                     MIRD_ERR_INVALID_ARGUMENT);
    int32_t ids[18] = {0};
    ck_assert_int_eq(mird_batch_set_tokens(b, ids, a.text_len, MIRD_COPY), MIRD_ERR_STATE);
    mird_batch *empty = b;
    ck_assert_int_eq(mird_batch_create(cfg, 0, &empty), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(empty);
    mird_batch_destroy(b);
    mird_config_destroy(cfg);
}
END_TEST

START_TEST(test_tokens_are_checked_against_the_vocabulary)
{
    mird_config *cfg = tiny_config();
    ck_assert_int_eq(mird_config_set(cfg, "text_mode", "tokens"), MIRD_OK);
    mird_batch *b;
    ck_assert_int_eq(mird_batch_create(cfg, 2, &b), MIRD_OK);
    int32_t ids[12] = {1, 5, 39, 0, 0, 0, 2, 40, 0, 0, 0, 0}, len[2] = {3, 2};
    ck_assert_int_eq(mird_batch_set_tokens(b, ids, len, MIRD_COPY), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_str_eq(mird_batch_error_message(b), "token ids[1][1] = 40 is outside 0..39");
    ids[7] = 39;
    ck_assert_int_eq(mird_batch_set_tokens(b, ids, len, MIRD_COPY), MIRD_OK);
    float features[2 * 6 * 16] = {0};
    ck_assert_int_eq(mird_batch_set_text(b, features, len, MIRD_COPY), MIRD_ERR_STATE);

    /* A batch knows the shapes it was made for. */
    mird_config *other = tiny_config();
    mird_batch_shape want = mird_batch_shape_of(other);
    char why[128];
    mird_batch_shape_difference(&b->shape, &want, why, sizeof why);
    ck_assert_str_eq(why, "the batch was made for text_mode = 1, the model has 0");
    mird_batch_destroy(b);
    mird_config_destroy(cfg);
    mird_config_destroy(other);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_add_test(tc, test_borrow_and_copy);
    tcase_add_test(tc, test_bad_input_is_named_and_changes_nothing);
    tcase_add_test(tc, test_tokens_are_checked_against_the_vocabulary);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
