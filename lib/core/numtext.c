#define _POSIX_C_SOURCE 200809L
#include "core/numtext.h"

#include <ctype.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>

/* Created once and never freed: a process-lifetime C locale object. */
static locale_t shared_c_locale = (locale_t)0;
static once_flag c_locale_once = ONCE_FLAG_INIT;

static void make_c_locale(void)
{
    shared_c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static locale_t c_numeric_locale(void)
{
    call_once(&c_locale_once, make_c_locale);
    return shared_c_locale;
}

bool mird_parse_double(const char *text, double *out)
{
    locale_t c_locale = c_numeric_locale();
    if (!text || c_locale == (locale_t)0)
        return false;
    locale_t previous = uselocale(c_locale);
    char *end;
    double value = strtod(text, &end);
    uselocale(previous);
    if (end == text)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0' || !isfinite(value))
        return false;
    *out = value;
    return true;
}

bool mird_format_double(char *buf, size_t size, double value)
{
    locale_t c_locale = c_numeric_locale();
    if (c_locale == (locale_t)0 || size == 0)
        return false;
    locale_t previous = uselocale(c_locale);
    bool ok = false;
    /* Whole numbers up to 2^53 print as integers ("40", not "4e+01"): the
     * shortest %g form is exact but reads badly in config files. */
    if (value == floor(value) && fabs(value) <= 9007199254740992.0) {
        int n = snprintf(buf, size, "%.0f", value);
        ok = n >= 0 && (size_t)n < size;
        uselocale(previous);
        if (!ok)
            buf[0] = '\0';
        return ok;
    }
    for (int digits = 1; digits <= 17; digits++) {
        int n = snprintf(buf, size, "%.*g", digits, value);
        if (n < 0 || (size_t)n >= size)
            break;
        if (strtod(buf, NULL) == value || digits == 17) {
            ok = true;
            break;
        }
    }
    uselocale(previous);
    if (!ok)
        buf[0] = '\0';
    return ok;
}
