/* Status and error text shared by every layer.
 *
 * Internal functions return a mird_status and, on failure, describe it in a
 * mird_error that belongs to whoever called them (a handle, or a local one in
 * the API layer).  mird_fail() formats the message once; the API layer then
 * publishes it to the thread-local slot read by mird_last_error_message(). */
#ifndef MIRD_CORE_ERROR_H
#define MIRD_CORE_ERROR_H

#include <mird/mird.h>

#define MIRD_ERROR_MESSAGE_MAX 512

typedef struct mird_error {
    mird_status status;
    char message[MIRD_ERROR_MESSAGE_MAX];
} mird_error;

#if defined(__GNUC__)
#define MIRD_PRINTF_LIKE(fmt_index, first_arg) \
    __attribute__((format(printf, fmt_index, first_arg)))
#else
#define MIRD_PRINTF_LIKE(fmt_index, first_arg)
#endif

/* Records status and message in err (which may be NULL) and returns status,
 * so a failing path reads `return mird_fail(err, MIRD_ERR_SHAPE, "...")`. */
mird_status mird_fail(mird_error *err, mird_status status, const char *fmt, ...)
    MIRD_PRINTF_LIKE(3, 4);

void mird_error_clear(mird_error *err);

/* Copies err's message into this thread's last-error slot. */
void mird_error_publish(const mird_error *err);

/* For calls without a handle: formats straight into the thread-local slot. */
mird_status mird_fail_thread(mird_status status, const char *fmt, ...)
    MIRD_PRINTF_LIKE(2, 3);

const char *mird_error_last_thread_message(void);
const char *mird_status_text(mird_status status);

/* Propagate a failing status without touching the message. */
#define MIRD_TRY(expr)                        \
    do {                                      \
        mird_status mird_try_status_ = (expr); \
        if (mird_try_status_ != MIRD_OK)      \
            return mird_try_status_;          \
    } while (0)

#endif
