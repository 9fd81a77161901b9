#define _XOPEN_SOURCE 700

#include "support/h5write.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char temp_dir[64];

void hw_make_temp_dir(void)
{
    strcpy(temp_dir, "/tmp/mird_readers_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(temp_dir));
}

static int remove_entry(const char *path, const struct stat *info, int kind, struct FTW *walk)
{
    (void)info, (void)kind, (void)walk;
    return remove(path);
}

void hw_remove_temp_dir(void)
{
    nftw(temp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *hw_path(int slot, const char *name)
{
    static char paths[8][512];
    ck_assert(slot >= 0 && slot < 8);
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", temp_dir, name);
    return paths[slot];
}

hid_t hw_create(const char *path)
{
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_msg(file >= 0, "cannot create %s", path);
    return file;
}

static hid_t intermediate_groups(void)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    ck_assert(lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0);
    return lcpl;
}

void hw_write(hid_t loc, const char *path, hid_t file_type, int rank, const int64_t *dims,
              const double *values, int compress)
{
    hsize_t extent[8];
    ck_assert(rank >= 0 && rank <= 8);
    for (int i = 0; i < rank; i++)
        extent[i] = (hsize_t)dims[i];
    hid_t space = rank ? H5Screate_simple(rank, extent, NULL) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), lcpl = intermediate_groups();
    ck_assert(space >= 0 && dcpl >= 0);
    int empty = 0;
    for (int i = 0; i < rank; i++)
        empty |= extent[i] == 0;
    if (compress && rank > 0 && !empty) {
        ck_assert(H5Pset_chunk(dcpl, rank, extent) >= 0);
        ck_assert(H5Pset_deflate(dcpl, 9) >= 0);
    }
    hid_t dset = H5Dcreate2(loc, path, file_type, space, lcpl, dcpl, H5P_DEFAULT);
    ck_assert_msg(dset >= 0, "cannot create %s", path);
    if (!empty)
        ck_assert(H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
    H5Dclose(dset);
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(space);
}

void hw_write_1d(hid_t loc, const char *path, hid_t file_type, int64_t n, const double *values)
{
    hw_write(loc, path, file_type, 1, &n, values, 0);
}

static void write_strings(hid_t loc, const char *path, hid_t type, int64_t n, const void *data)
{
    hsize_t extent = (hsize_t)n;
    hid_t space = H5Screate_simple(1, &extent, NULL), lcpl = intermediate_groups();
    hid_t dset = H5Dcreate2(loc, path, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_msg(dset >= 0, "cannot create %s", path);
    ck_assert(H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(dset);
    H5Pclose(lcpl);
    H5Sclose(space);
}

void hw_write_vlen_strings(hid_t loc, const char *path, int64_t n, const char *const *strings)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    write_strings(loc, path, type, n, strings);
    H5Tclose(type);
}

void hw_write_fixed_strings(hid_t loc, const char *path, int64_t n, size_t size,
                            const char *const *strings)
{
    char *packed = calloc((size_t)n, size);
    ck_assert_ptr_nonnull(packed);
    for (int64_t i = 0; i < n; i++)
        strncpy(packed + (size_t)i * size, strings[i], size);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, size);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    write_strings(loc, path, type, n, packed);
    H5Tclose(type);
    free(packed);
}

void hw_assert_read_failed(mird_status got, mird_status want, const void *out,
                           const char *word)
{
    const char *message = mird_last_error_message();
    ck_assert_msg(got == want, "got %s (%s), expected %s", mird_status_string(got), message,
                  mird_status_string(want));
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(message, word) != NULL, "message \"%s\" does not name %s", message,
                  word);
}

const char *hw_shared_data(const char *base, const char *relative)
{
    static char path[1024];
    const char *override = getenv("MIRD_SHARED_DATA_DIR");
    snprintf(path, sizeof path, "%s/%s", override && override[0] ? override : base, relative);
    struct stat info;
    if (stat(path, &info) != 0) {
        printf("skipped: %s is absent\n", path);
        return NULL;
    }
    return path;
}
