#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error_message[MIRD_ERROR_MESSAGE_MAX];

mird_status mird_fail(mird_error *err, mird_status status, const char *fmt, ...)
{
    if (err) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, args);
        va_end(args);
        err->status = status;
    }
    return status;
}

void mird_error_clear(mird_error *err)
{
    if (err) {
        err->status = MIRD_OK;
        err->message[0] = '\0';
    }
}

void mird_error_publish(const mird_error *err)
{
    if (!err) {
        last_error_message[0] = '\0';
        return;
    }
    snprintf(last_error_message, sizeof last_error_message, "%s", err->message);
}

mird_status mird_fail_thread(mird_status status, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(last_error_message, sizeof last_error_message, fmt, args);
    va_end(args);
    return status;
}

const char *mird_error_last_thread_message(void)
{
    return last_error_message;
}

const char *mird_status_text(mird_status status)
{
    switch (status) {
    case MIRD_OK: return "ok";
    case MIRD_ERR_NULL_ARGUMENT: return "null argument";
    case MIRD_ERR_INVALID_ARGUMENT: return "invalid argument";
    case MIRD_ERR_SHAPE: return "shape mismatch";
    case MIRD_ERR_NONFINITE: return "non-finite value";
    case MIRD_ERR_OUT_OF_MEMORY: return "out of memory";
    case MIRD_ERR_IO: return "input/output error";
    case MIRD_ERR_FORMAT: return "malformed file";
    case MIRD_ERR_STATE: return "invalid state";
    case MIRD_ERR_UNSUPPORTED: return "unsupported";
    case MIRD_ERR_BACKEND: return "backend failure";
    case MIRD_ERR_CANCELLED: return "cancelled";
    case MIRD_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}
