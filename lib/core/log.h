/* Logging through the caller's callback; without one, messages are dropped.
 * The library never writes to stdout or stderr itself. */
#ifndef MIRD_CORE_LOG_H
#define MIRD_CORE_LOG_H

#include "core/error.h"

void mird_log_set(mird_log_fn callback, mird_log_level max_level, void *user_data);
void mird_log(mird_log_level level, const char *fmt, ...) MIRD_PRINTF_LIKE(2, 3);

#endif
