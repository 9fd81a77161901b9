/* Reading the CMU-MOSI label table. */
#define _POSIX_C_SOURCE 200809L
#include "support/mosi_table.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/h5write.h"

mosi_row *mosi_table_load(const char *shared_dir, int *count)
{
    *count = 0;
    const char *path = hw_shared_data(shared_dir, "mosi_labels_text_gcnet/mosi_labels.tsv");
    if (!path)
        return NULL;
    FILE *in = fopen(path, "r");
    ck_assert_ptr_nonnull(in);
    mosi_row *rows = calloc(4096, sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    char *line = NULL;
    size_t size = 0;
    for (int number = 0; getline(&line, &size, in) >= 0; number++) {
        char video_id[32];
        int clip;
        if (number == 0) /* the heading */
            continue;
        ck_assert(*count < 4096);
        mosi_row *r = &rows[*count];
        int fields = sscanf(line, "%47[^\t]\t%31[^\t]\t%d\t%7[^\t]\t%lf", r->id, video_id,
                            &clip, r->split, &r->label);
        ck_assert_int_eq(fields, 5);
        (*count)++;
    }
    free(line);
    fclose(in);
    return rows;
}

const mosi_row *mosi_table_find(const mosi_row *rows, int count, const char *id)
{
    for (int i = 0; i < count; i++)
        if (strcmp(rows[i].id, id) == 0)
            return &rows[i];
    return NULL;
}
