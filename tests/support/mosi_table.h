/* The real CMU-MOSI label table of the shared data folder
 * (mosi_labels_text_gcnet/mosi_labels.tsv: id, video_id, clip_id, split,
 * label, text), read once for the suites that check against it. */
#ifndef MIRD_TESTS_MOSI_TABLE_H
#define MIRD_TESTS_MOSI_TABLE_H

typedef struct mosi_row {
    char id[48];
    char split[8];
    double label;
} mosi_row;

/* Every row of the table (the caller frees the array), or NULL after
 * printing that the test skips when the file is absent under `shared_dir`
 * (tests pass MIRD_SHARED_DATA_DIR). */
mosi_row *mosi_table_load(const char *shared_dir, int *count);

/* The row with that id, or NULL. */
const mosi_row *mosi_table_find(const mosi_row *rows, int count, const char *id);

#endif
