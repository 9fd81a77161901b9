/* The process-wide API: version, status text, thread count, error messages
 * and the log callback, called exactly as a user would. */
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include <mird/mird.h>

#include "support/testutil.h"
#include "ops/linear.h"

START_TEST(test_version_agrees_with_header)
{
    ck_assert_uint_eq(mird_version_number(), MIRD_VERSION_NUMBER);
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", MIRD_VERSION_MAJOR, MIRD_VERSION_MINOR,
             MIRD_VERSION_PATCH);
    ck_assert_str_eq(mird_version_string(), expected);
}
END_TEST

START_TEST(test_every_status_has_distinct_text)
{
    const char *seen[MIRD_ERR_INTERNAL + 1];
    for (int s = MIRD_OK; s <= MIRD_ERR_INTERNAL; s++) {
        seen[s] = mird_status_string((mird_status)s);
        ck_assert_ptr_nonnull(seen[s]);
        ck_assert_str_ne(seen[s], "unknown status");
        for (int t = 0; t < s; t++)
            ck_assert_str_ne(seen[s], seen[t]);
    }
    ck_assert_str_eq(mird_status_string((mird_status)999), "unknown status");
    ck_assert_str_eq(mird_status_string((mird_status)-1), "unknown status");
    /* The values are pinned: a change here breaks every caller. */
    ck_assert_int_eq(MIRD_ERR_SHAPE, 3);
    ck_assert_int_eq(MIRD_ERR_BACKEND, 10);
    ck_assert_int_eq(MIRD_ERR_INTERNAL, 12);
}
END_TEST

START_TEST(test_thread_count_bounds_and_effect)
{
    ck_assert_int_eq(mird_set_num_threads(1), MIRD_OK);
    ck_assert_int_eq(mird_get_num_threads(), 1);
    ck_assert_int_eq(omp_get_max_threads(), 1);
    ck_assert_int_eq(mird_set_num_threads(2), MIRD_OK);
    ck_assert_int_eq(mird_get_num_threads(), 2);

    ck_assert_int_eq(mird_set_num_threads(-1), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(mird_last_error_message(), "num_threads = -1"));
    ck_assert_int_eq(mird_set_num_threads(1025), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_get_num_threads(), 2); /* a failed call changed nothing */

    ck_assert_int_eq(mird_set_num_threads(0), MIRD_OK);
    ck_assert_int_ge(mird_get_num_threads(), 1);
}
END_TEST

typedef struct log_record {
    int calls;
    mird_log_level last_level;
    char last_message[256];
} log_record;

static void record_log(mird_log_level level, const char *message, void *user)
{
    log_record *r = user;
    r->calls++;
    r->last_level = level;
    snprintf(r->last_message, sizeof r->last_message, "%s", message);
}

START_TEST(test_log_callback_receives_and_filters)
{
    log_record record = {0};
    ck_assert_int_eq(mird_set_log_callback(record_log, (mird_log_level)7, &record),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_set_log_callback(record_log, MIRD_LOG_DEBUG, &record), MIRD_OK);

    /* Building a primitive is logged at debug level. */
    mird_dnnl *ctx = tu_context();
    float x[6] = {1, 2, 3, 4, 5, 6}, W[6] = {1, 0, 0, 0, 1, 0}, y[4];
    TU_OK(ctx, mird_linear_forward(ctx, x, W, NULL, y, 2, 3, 2));
    ck_assert_int_ge(record.calls, 1);
    ck_assert_int_eq(record.last_level, MIRD_LOG_DEBUG);
    ck_assert_ptr_nonnull(strstr(record.last_message, "primitive"));

    /* Above the threshold nothing arrives; without a callback nothing breaks. */
    int before = record.calls;
    ck_assert_int_eq(mird_set_log_callback(record_log, MIRD_LOG_WARNING, &record), MIRD_OK);
    float y2[2];
    TU_OK(ctx, mird_linear_forward(ctx, x, W, NULL, y2, 1, 3, 2));
    ck_assert_int_eq(record.calls, before);
    ck_assert_int_eq(mird_set_log_callback(NULL, MIRD_LOG_DEBUG, NULL), MIRD_OK);
    TU_OK(ctx, mird_linear_forward(ctx, x, W, NULL, y2, 1, 2, 1));
    mird_dnnl_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("runtime");
    TCase *tc = tcase_create("runtime");
    tcase_add_test(tc, test_version_agrees_with_header);
    tcase_add_test(tc, test_every_status_has_distinct_text);
    tcase_add_test(tc, test_thread_count_bounds_and_effect);
    tcase_add_test(tc, test_log_callback_receives_and_filters);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
