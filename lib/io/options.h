/* Option strings: "key=value,key=value", the form every dataset maker takes
 * (mird.h, "Datasets").  One parser walks the pairs; each maker handles its
 * own keys and hands the common ones (nonfinite, labels) to
 * mird_dataset_common_option. */
#ifndef MIRD_IO_OPTIONS_H
#define MIRD_IO_OPTIONS_H

#include "core/error.h"

#define MIRD_OPTION_TEXT_MAX 256

/* Called once per pair, in order.  Returns MIRD_OK, or fails (through err)
 * for a key or value it does not accept. */
typedef mird_status (*mird_option_fn)(const char *key, const char *value, void *context,
                                      mird_error *err);

/* Walks `text` (NULL or "" is no pairs).  A pair without '=', an empty key,
 * or a key or value longer than MIRD_OPTION_TEXT_MAX is
 * MIRD_ERR_INVALID_ARGUMENT. */
mird_status mird_options_parse(const char *text, mird_option_fn fn, void *context,
                               mird_error *err);

/* The fails for an unknown key and for a bad value, with one wording. */
mird_status mird_option_unknown(const char *key, mird_error *err);
mird_status mird_option_bad_value(const char *key, const char *value, const char *expected,
                                  mird_error *err);

/* Integer and real values, locale-proof; failures name the key. */
mird_status mird_option_int(const char *key, const char *value, long long min, long long max,
                            long long *out, mird_error *err);
mird_status mird_option_real(const char *key, const char *value, double *out, mird_error *err);

#endif
