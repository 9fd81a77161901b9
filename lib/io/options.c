/* The option-string parser shared by the dataset makers. */
#include "io/options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/numtext.h"

mird_status mird_options_parse(const char *text, mird_option_fn fn, void *context,
                               mird_error *err)
{
    if (!text)
        return MIRD_OK;
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t pair_len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', pair_len);
        if (!eq || eq == p)
            return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                             "option \"%.*s\" is not of the form key=value", (int)pair_len, p);
        size_t key_len = (size_t)(eq - p), value_len = pair_len - key_len - 1;
        if (key_len >= MIRD_OPTION_TEXT_MAX || value_len >= MIRD_OPTION_TEXT_MAX)
            return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "option \"%.40s...\" is too long", p);
        char key[MIRD_OPTION_TEXT_MAX], value[MIRD_OPTION_TEXT_MAX];
        memcpy(key, p, key_len);
        key[key_len] = '\0';
        memcpy(value, eq + 1, value_len);
        value[value_len] = '\0';
        MIRD_TRY(fn(key, value, context, err));
        if (!end)
            break;
        p = end + 1;
    }
    return MIRD_OK;
}

mird_status mird_option_unknown(const char *key, mird_error *err)
{
    return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "unknown option \"%s\"", key);
}

mird_status mird_option_bad_value(const char *key, const char *value, const char *expected,
                                  mird_error *err)
{
    return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "option %s=%s: expected %s", key, value,
                     expected);
}

mird_status mird_option_int(const char *key, const char *value, long long min, long long max,
                            long long *out, mird_error *err)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max) {
        char expected[96];
        snprintf(expected, sizeof expected, "an integer in %lld..%lld", min, max);
        return mird_option_bad_value(key, value, expected, err);
    }
    *out = v;
    return MIRD_OK;
}

mird_status mird_option_real(const char *key, const char *value, double *out, mird_error *err)
{
    double v;
    if (!mird_parse_double(value, &v) || !isfinite(v))
        return mird_option_bad_value(key, value, "a finite number", err);
    *out = v;
    return MIRD_OK;
}
