/* Configuration through the public API: defaults, presets, typed and named
 * setters with bounds, locale-proof text, error messages, copies. */
#define _POSIX_C_SOURCE 200809L
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mird/mird.h>

#include "support/testutil.h"

START_TEST(test_defaults_and_presets)
{
    mird_config *cfg = NULL;
    ck_assert_int_eq(mird_config_create(&cfg), MIRD_OK);
    /* MODEL.md defaults with the mosi shapes. */
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_TEXT_DIM), 768);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_AUDIO_LENGTH), 375);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_LATENT_DIM), 64);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_CONSTRAINT), MIRD_CONSTRAINT_MIM);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_ESTIMATOR_STEPS), 5);
    ck_assert_double_eq(mird_config_get_real(cfg, MIRD_PARAM_DROPOUT_WSA), 0.5);

    ck_assert_int_eq(mird_config_preset(cfg, "tiny"), MIRD_OK);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_HIDDEN), 16);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_CLUB_HIDDEN), 8);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_VISION_LENGTH), 10);

    /* The demo preset must make a valid model (heads divide the width, ...). */
    ck_assert_int_eq(mird_config_preset(cfg, "demo"), MIRD_OK);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_LATENT_DIM), 16);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_EPOCHS), 30);
    ck_assert_double_eq(mird_config_get_real(cfg, MIRD_PARAM_DROPOUT_WSA), 0.1);
    mird_model *demo_model = NULL;
    ck_assert_int_eq(mird_model_create(cfg, &demo_model), MIRD_OK);
    mird_model_destroy(demo_model);

    ck_assert_int_eq(mird_config_preset(cfg, "mosei"), MIRD_OK);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_AUDIO_DIM), 74);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_HIDDEN), 128); /* reset, not tiny's */

    ck_assert_int_eq(mird_config_preset(cfg, "bert-base"), MIRD_OK);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_TEXT_MODE), MIRD_TEXT_TOKENS);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_LAYERS), 12);
    ck_assert_double_eq(mird_config_get_real(cfg, MIRD_PARAM_LEARNING_RATE), 1e-5);

    ck_assert_int_eq(mird_config_preset(cfg, "huge"), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_config_error_message(cfg), "huge"));
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_LAYERS), 12); /* unchanged */
    mird_config_destroy(cfg);
    mird_config_destroy(NULL);
}
END_TEST

START_TEST(test_bounds_leave_config_unchanged)
{
    mird_config *cfg;
    ck_assert_int_eq(mird_config_create(&cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_set_int(cfg, MIRD_PARAM_LATENT_DIM, 0), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_config_error_message(cfg), "latent_dim = 0"));
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "latent_dim = 0"));
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_LATENT_DIM), 64);

    ck_assert_int_eq(mird_config_set_real(cfg, MIRD_PARAM_DROPOUT_HIDDEN, 1.0),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_config_set_real(cfg, MIRD_PARAM_LAMBDA, NAN), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_config_set_real(cfg, MIRD_PARAM_LAYERS, 2.5), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_config_set_int(cfg, MIRD_PARAM_CONSTRAINT, 3), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_config_set_int(cfg, (mird_param)999, 1), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_config_set_int(NULL, MIRD_PARAM_LAYERS, 1), MIRD_ERR_NULL_ARGUMENT);

    ck_assert_int_eq(mird_config_set_real(cfg, MIRD_PARAM_LAMBDA, 0.1), MIRD_OK);
    ck_assert_double_eq(mird_config_get_real(cfg, MIRD_PARAM_LAMBDA), 0.1);
    ck_assert_int_eq(mird_config_set_int(cfg, MIRD_PARAM_CONSTRAINT, MIRD_CONSTRAINT_OC), MIRD_OK);
    mird_config_destroy(cfg);
}
END_TEST

START_TEST(test_named_text_round_trips_in_any_locale)
{
    mird_config *cfg, *copy;
    ck_assert_int_eq(mird_config_create(&cfg), MIRD_OK);
    /* A host program in a comma-decimal locale must not change parsing. */
    locale_t comma = newlocale(LC_NUMERIC_MASK, "de_DE.UTF-8", (locale_t)0);
    ck_assert_msg(comma != (locale_t)0, "the de_DE.UTF-8 test locale is missing (LOCPATH)");
    locale_t previous = uselocale(comma);
    ck_assert_double_eq(strtod("0,5", NULL), 0.5); /* the locale really is active */

    ck_assert_int_eq(mird_config_set(cfg, "lambda", "0.25"), MIRD_OK);
    ck_assert_double_eq(mird_config_get_real(cfg, MIRD_PARAM_LAMBDA), 0.25);
    ck_assert_int_eq(mird_config_set(cfg, "constraint", "oc"), MIRD_OK);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_CONSTRAINT), MIRD_CONSTRAINT_OC);
    ck_assert_int_eq(mird_config_set(cfg, "input_mi", "false"), MIRD_OK);
    ck_assert_int_eq(mird_config_get_int(cfg, MIRD_PARAM_INPUT_MI), 0);
    ck_assert_int_eq(mird_config_set(cfg, "learning_rate", "3e-4"), MIRD_OK);

    ck_assert_int_eq(mird_config_set(cfg, "constraint", "orthogonal"), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_config_error_message(cfg), "mim, oc, none"));
    ck_assert_int_eq(mird_config_set(cfg, "lambda", "0,5"), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_config_set(cfg, "no_such_thing", "1"), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_double_eq(mird_config_get_real(cfg, MIRD_PARAM_LAMBDA), 0.25);

    char text[32];
    ck_assert_int_eq(mird_config_get_text(cfg, MIRD_PARAM_LEARNING_RATE, text, sizeof text),
                     MIRD_OK);
    ck_assert_str_eq(text, "0.0003");
    /* Whole numbers read as integers, not "4e+01". */
    ck_assert_int_eq(mird_config_set(cfg, "vision_dim", "400"), MIRD_OK);
    ck_assert_int_eq(mird_config_get_text(cfg, MIRD_PARAM_VISION_DIM, text, sizeof text), MIRD_OK);
    ck_assert_str_eq(text, "400");
    ck_assert_int_eq(mird_config_set(cfg, "seed", "9007199254740992"), MIRD_OK);
    ck_assert_int_eq(mird_config_get_text(cfg, MIRD_PARAM_SEED, text, sizeof text), MIRD_OK);
    ck_assert_str_eq(text, "9007199254740992");
    ck_assert_int_eq(mird_config_get_text(cfg, MIRD_PARAM_CONSTRAINT, text, sizeof text), MIRD_OK);
    ck_assert_str_eq(text, "oc");
    ck_assert_int_eq(mird_config_get_text(cfg, MIRD_PARAM_CONSTRAINT, text, 2),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_str_eq(text, "");

    /* Every setting written as text reads back to the same value. */
    ck_assert_int_eq(mird_config_copy(cfg, &copy), MIRD_OK);
    ck_assert_int_eq(mird_config_preset(copy, "tiny"), MIRD_OK);
    for (int p = 0; mird_param_name((mird_param)p); p++) {
        ck_assert_int_eq(mird_config_get_text(cfg, (mird_param)p, text, sizeof text), MIRD_OK);
        ck_assert_int_eq(mird_config_set(copy, mird_param_name((mird_param)p), text), MIRD_OK);
        ck_assert_msg(mird_config_get_real(copy, (mird_param)p)
                          == mird_config_get_real(cfg, (mird_param)p),
                      "%s did not round-trip through \"%s\"", mird_param_name((mird_param)p), text);
    }
    mird_param param;
    ck_assert_int_eq(mird_param_from_name("vision_dim", &param), MIRD_OK);
    ck_assert_int_eq(param, MIRD_PARAM_VISION_DIM);
    ck_assert_int_eq(mird_param_from_name("vision", &param), MIRD_ERR_INVALID_ARGUMENT);

    uselocale(previous);
    freelocale(comma);
    mird_config_destroy(copy);
    mird_config_destroy(cfg);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_defaults_and_presets);
    tcase_add_test(tc, test_bounds_leave_config_unchanged);
    tcase_add_test(tc, test_named_text_round_trips_in_any_locale);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
