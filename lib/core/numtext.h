/* Numbers as text, independent of the process's locale.
 *
 * A host program may call setlocale() with a locale whose decimal separator
 * is a comma; config files, checkpoints' metadata and CSV output must still
 * read and write "0.5".  Both functions switch the calling thread alone to
 * the C numeric locale for the duration of the call. */
#ifndef MIRD_CORE_NUMTEXT_H
#define MIRD_CORE_NUMTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* The whole of `text` (surrounding blanks allowed) as a finite double. */
bool mird_parse_double(const char *text, double *out);

/* The shortest "%.Ng" (N up to 17) that reads back as exactly `value`.
 * Returns false if it does not fit in `size` bytes. */
bool mird_format_double(char *buf, size_t size, double value);

#endif
