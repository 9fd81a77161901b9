/* Writing small HDF5 files for the dataset reader tests, the way h5py and
 * the CMU-MultimodalSDK write them, plus a temporary directory per test.
 * Every helper fails the test on an HDF5 error. */
#ifndef MIRD_TESTS_H5WRITE_H
#define MIRD_TESTS_H5WRITE_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include <mird/mird.h>

/* A fresh directory under /tmp for the running test, and its removal
 * (checked fixtures). */
void hw_make_temp_dir(void);
void hw_remove_temp_dir(void);
/* "<temp dir>/<name>" in a static buffer per call slot (0..7). */
const char *hw_path(int slot, const char *name);

/* Creates (truncating) a file; close it with H5Fclose. */
hid_t hw_create(const char *path);

/* Writes values given as doubles into a new dataset of `file_type` (e.g.
 * H5T_IEEE_F32LE, H5T_STD_I64LE), creating missing groups on the way.  With
 * `compress` the dataset is chunked and deflated, as the SDK writes. */
void hw_write(hid_t loc, const char *path, hid_t file_type, int rank, const int64_t *dims,
              const double *values, int compress);
/* The same for one dimension. */
void hw_write_1d(hid_t loc, const char *path, hid_t file_type, int64_t n, const double *values);

/* Strings of variable length (h5py's str objects) or of fixed `size` bytes,
 * null-padded (numpy 'S' arrays). */
void hw_write_vlen_strings(hid_t loc, const char *path, int64_t n, const char *const *strings);
void hw_write_fixed_strings(hid_t loc, const char *path, int64_t n, size_t size,
                            const char *const *strings);

/* Asserts that a reader failed with `want`, left its output NULL and
 * published a message (mird_last_error_message) containing `word`. */
void hw_assert_read_failed(mird_status got, mird_status want, const void *out,
                           const char *word);

/* "<base>/<relative>" in a static buffer, or NULL, after printing that the
 * test skips, when that file or folder is absent.  Tests pass
 * MIRD_SHARED_DATA_DIR as the base; the environment variable of that name,
 * when set, replaces it (for a work tree that is not beside shared/). */
const char *hw_shared_data(const char *base, const char *relative);

#endif
