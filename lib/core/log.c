#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

/* Set before concurrent work starts (the header says so); read-only after. */
static mird_log_fn log_callback;
static mird_log_level log_max_level = MIRD_LOG_WARNING;
static void *log_user_data;

void mird_log_set(mird_log_fn callback, mird_log_level max_level, void *user_data)
{
    log_callback = callback;
    log_max_level = max_level;
    log_user_data = user_data;
}

void mird_log(mird_log_level level, const char *fmt, ...)
{
    mird_log_fn callback = log_callback;
    if (!callback || level > log_max_level)
        return;
    char message[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    callback(level, message, log_user_data);
}
