/* Process-wide entry points: version, status text, threads, logging. */
#include <mird/mird.h>

#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"

#define MIRD_STRINGIFY_(x) #x
#define MIRD_STRINGIFY(x) MIRD_STRINGIFY_(x)

unsigned mird_version_number(void)
{
    return MIRD_VERSION_NUMBER;
}

const char *mird_version_string(void)
{
    return MIRD_STRINGIFY(MIRD_VERSION_MAJOR) "." MIRD_STRINGIFY(
        MIRD_VERSION_MINOR) "." MIRD_STRINGIFY(MIRD_VERSION_PATCH);
}

const char *mird_status_string(mird_status status)
{
    return mird_status_text(status);
}

const char *mird_last_error_message(void)
{
    return mird_error_last_thread_message();
}

mird_status mird_set_num_threads(int num_threads)
{
    if (num_threads < 0 || num_threads > 1024)
        return mird_fail_thread(MIRD_ERR_INVALID_ARGUMENT,
                                "num_threads = %d is outside 0..1024", num_threads);
    mird_threads_set(num_threads);
    return MIRD_OK;
}

int mird_get_num_threads(void)
{
    return mird_threads_get();
}

mird_status mird_set_log_callback(mird_log_fn callback, mird_log_level max_level,
                                  void *user_data)
{
    if ((int)max_level < MIRD_LOG_ERROR || (int)max_level > MIRD_LOG_DEBUG)
        return mird_fail_thread(MIRD_ERR_INVALID_ARGUMENT,
                                "max_level = %d is not a mird_log_level", (int)max_level);
    mird_log_set(callback, max_level, user_data);
    return MIRD_OK;
}
