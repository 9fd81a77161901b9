/* The few libhdf5 calls the dataset readers share, with HDF5's failures
 * turned into mird statuses whose messages name the file and the dataset.
 *
 * HDF5 prints its error stack to stderr by default; the library never
 * prints, so every reader runs between mird_hdf5_quiet_begin and
 * mird_hdf5_quiet_end, which switch the automatic printing off and restore
 * whatever handler the host program had.  Debian's libhdf5 is built thread
 * safe, where that handler belongs to the calling thread. */
#ifndef MIRD_IO_HDF5_UTIL_H
#define MIRD_IO_HDF5_UTIL_H

#include <stdint.h>

#include <hdf5.h>

#include "core/error.h"

typedef struct mird_hdf5_quiet {
    H5E_auto2_t func;
    void *data;
} mird_hdf5_quiet;

void mird_hdf5_quiet_begin(mird_hdf5_quiet *saved);
void mird_hdf5_quiet_end(const mird_hdf5_quiet *saved);

/* Opens read-only.  A file that is absent, unreadable or not HDF5 is
 * MIRD_ERR_IO naming the path. */
mird_status mird_hdf5_open(const char *path, hid_t *file, mird_error *err);
/* Closes a file opened above (and anything still open in it); a negative
 * id is ignored. */
void mird_hdf5_close(hid_t file);

/* True when `path` (which may have several components) names an object. */
int mird_hdf5_exists(hid_t loc, const char *path);

#define MIRD_HDF5_MAX_RANK 4
#define MIRD_HDF5_PATH_MAX 256

/* An open numeric dataset and what its messages call it. */
typedef struct mird_hdf5_array {
    hid_t dset;
    int rank;
    int64_t dims[MIRD_HDF5_MAX_RANK];
    const char *source;             /* the file */
    char path[MIRD_HDF5_PATH_MAX]; /* the dataset inside it */
} mird_hdf5_array;

/* Opens the dataset at `path` and checks that it holds numbers (any integer
 * or floating type) in `rank` dimensions (0: any rank up to
 * MIRD_HDF5_MAX_RANK).  A missing dataset, a non-numeric one or another rank
 * is MIRD_ERR_FORMAT.  `source` must outlive the array. */
mird_status mird_hdf5_array_open(hid_t loc, const char *source, const char *path, int rank,
                                 mird_hdf5_array *array, mird_error *err);
void mird_hdf5_array_close(mird_hdf5_array *array);
/* The number of values. */
int64_t mird_hdf5_array_count(const mird_hdf5_array *array);

/* Every value, converted by HDF5 (a double beyond float's range becomes an
 * infinity, which the dataset checks then report). */
mird_status mird_hdf5_array_read_float(const mird_hdf5_array *array, float *out, mird_error *err);
mird_status mird_hdf5_array_read_double(const mird_hdf5_array *array, double *out,
                                        mird_error *err);
/* Every value as int32: a value that is not a whole number or lies outside
 * int32 is MIRD_ERR_FORMAT naming its index (HDF5's own conversion would
 * clamp or truncate silently). */
mird_status mird_hdf5_array_read_int32(const mird_hdf5_array *array, int32_t *out,
                                       mird_error *err);

/* A rank-1 dataset of exactly `count` strings, fixed or variable length (h5py
 * writes numpy bytes arrays as the first and Python str objects as the
 * second), as `count` new strings owned by the caller (mird_free each, then
 * the array; mird_hdf5_free_strings does both).  A missing variable-length
 * string reads as "". */
mird_status mird_hdf5_read_strings(hid_t loc, const char *source, const char *path, int64_t count,
                                   char ***out, mird_error *err);
void mird_hdf5_free_strings(char **strings, int64_t count);

/* The kinds of object mird_hdf5_list keeps. */
typedef enum mird_hdf5_kind { MIRD_HDF5_GROUPS, MIRD_HDF5_DATASETS } mird_hdf5_kind;

/* The names of the groups or datasets directly inside the group `path` ("."
 * for loc itself), sorted by strcmp; strings owned as above.  A missing
 * group is MIRD_ERR_FORMAT. */
mird_status mird_hdf5_list(hid_t loc, const char *source, const char *path, mird_hdf5_kind kind,
                           char ***names, int64_t *count, mird_error *err);

#endif
