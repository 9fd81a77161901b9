/* libhdf5 helpers for the dataset readers: quiet opening, numeric and string
 * datasets with shape checks, group listings, HDF5 failures as statuses. */
#define _POSIX_C_SOURCE 200809L

#include "io/hdf5_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"

#define REASON_MAX 160

void mird_hdf5_quiet_begin(mird_hdf5_quiet *saved)
{
    saved->func = NULL;
    saved->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &saved->func, &saved->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void mird_hdf5_quiet_end(const mird_hdf5_quiet *saved)
{
    H5Eset_auto2(H5E_DEFAULT, saved->func, saved->data);
}

static herr_t keep_innermost(unsigned n, const H5E_error2_t *entry, void *data)
{
    if (n == 0 && entry->desc)
        snprintf(data, REASON_MAX, "%s", entry->desc);
    return 0;
}

/* What HDF5 recorded about its last failure on this thread, most specific
 * first ("file signature not found", "can't open directory"). */
static const char *hdf5_reason(char buf[REASON_MAX])
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, buf);
    if (!buf[0])
        snprintf(buf, REASON_MAX, "no reason given");
    return buf;
}

mird_status mird_hdf5_open(const char *path, hid_t *file, mird_error *err)
{
    *file = H5I_INVALID_HID;
    struct stat info;
    if (stat(path, &info) != 0)
        return mird_fail(err, MIRD_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (S_ISDIR(info.st_mode))
        return mird_fail(err, MIRD_ERR_IO, "cannot open %s: it is a directory", path);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return mird_fail(err, MIRD_ERR_IO, "cannot open %s: HDF5 cannot make a property list",
                         path);
    /* Closing the file then closes whatever a failed read left open in it. */
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
#if H5_VERSION_GE(1, 10, 7)
    /* Reading needs no lock; do not fail on file systems without locks. */
    H5Pset_file_locking(fapl, 1, 1);
#endif
    hid_t id = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    char reason[REASON_MAX];
    if (id < 0)
        hdf5_reason(reason);
    H5Pclose(fapl);
    if (id < 0)
        return mird_fail(err, MIRD_ERR_IO, "cannot open %s as HDF5 (%s)", path, reason);
    *file = id;
    return MIRD_OK;
}

void mird_hdf5_close(hid_t file)
{
    if (file >= 0)
        H5Fclose(file);
}

int mird_hdf5_exists(hid_t loc, const char *path)
{
    char prefix[MIRD_HDF5_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof prefix)
        return 0;
    memcpy(prefix, path, n + 1);
    /* H5Lexists fails, rather than answering no, below a missing group. */
    for (size_t i = 1; i <= n; i++) {
        if (prefix[i] != '/' && prefix[i] != '\0')
            continue;
        char kept = prefix[i];
        prefix[i] = '\0';
        htri_t found = H5Lexists(loc, prefix, H5P_DEFAULT);
        prefix[i] = kept;
        if (found <= 0)
            return 0;
    }
    return 1;
}

static const char *class_name(H5T_class_t type_class)
{
    switch (type_class) {
    case H5T_STRING: return "strings";
    case H5T_COMPOUND: return "compound records";
    case H5T_ENUM: return "enum values";
    case H5T_VLEN: return "variable-length sequences";
    case H5T_ARRAY: return "array elements";
    case H5T_REFERENCE: return "references";
    case H5T_OPAQUE: return "opaque bytes";
    case H5T_BITFIELD: return "bit fields";
    default: return "values of an unknown type";
    }
}

/* Opens a dataset that must exist; its type and rank are checked by the
 * callers. */
static mird_status open_dataset(hid_t loc, const char *source, const char *path, hid_t *dset,
                                mird_error *err)
{
    if (!mird_hdf5_exists(loc, path))
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: no dataset %s", source, path);
    *dset = H5Dopen2(loc, path, H5P_DEFAULT);
    if (*dset < 0) {
        char reason[REASON_MAX];
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s is not a readable dataset (%s)", source,
                         path, hdf5_reason(reason));
    }
    return MIRD_OK;
}

/* The rank and extent of an open dataset. */
static mird_status dataset_extent(hid_t dset, const char *source, const char *path, int *rank,
                                  hsize_t dims[MIRD_HDF5_MAX_RANK], mird_error *err)
{
    hid_t space = H5Dget_space(dset);
    int r = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (r > MIRD_HDF5_MAX_RANK) {
        H5Sclose(space);
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has rank %d, more than %d", source, path,
                         r, MIRD_HDF5_MAX_RANK);
    }
    if (r >= 0)
        r = H5Sget_simple_extent_dims(space, dims, NULL);
    if (space >= 0)
        H5Sclose(space);
    if (r < 0) {
        char reason[REASON_MAX];
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: cannot read the extent of %s (%s)", source,
                         path, hdf5_reason(reason));
    }
    *rank = r;
    return MIRD_OK;
}

mird_status mird_hdf5_array_open(hid_t loc, const char *source, const char *path, int rank,
                                 mird_hdf5_array *array, mird_error *err)
{
    memset(array, 0, sizeof *array);
    array->dset = H5I_INVALID_HID;
    array->source = source;
    snprintf(array->path, sizeof array->path, "%s", path);
    hid_t dset;
    MIRD_TRY(open_dataset(loc, source, path, &dset, err));
    hid_t type = H5Dget_type(dset);
    H5T_class_t type_class = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    if (type >= 0)
        H5Tclose(type);
    if (type_class != H5T_INTEGER && type_class != H5T_FLOAT) {
        H5Dclose(dset);
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s holds %s, expected numbers", source, path,
                         class_name(type_class));
    }
    hsize_t dims[MIRD_HDF5_MAX_RANK];
    int have;
    mird_status st = dataset_extent(dset, source, path, &have, dims, err);
    if (st == MIRD_OK && (rank > 0 ? have != rank : have < 1)) {
        if (rank > 0)
            st = mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has rank %d, expected %d", source, path,
                           have, rank);
        else
            st = mird_fail(err, MIRD_ERR_FORMAT, "%s: %s is a scalar, expected an array", source,
                           path);
    }
    if (st != MIRD_OK) {
        H5Dclose(dset);
        return st;
    }
    array->dset = dset;
    array->rank = have;
    for (int i = 0; i < have; i++)
        array->dims[i] = (int64_t)dims[i];
    return MIRD_OK;
}

void mird_hdf5_array_close(mird_hdf5_array *array)
{
    if (array->dset >= 0)
        H5Dclose(array->dset);
    array->dset = H5I_INVALID_HID;
}

int64_t mird_hdf5_array_count(const mird_hdf5_array *array)
{
    int64_t n = 1;
    for (int i = 0; i < array->rank; i++)
        n *= array->dims[i];
    return n;
}

static mird_status read_as(const mird_hdf5_array *array, hid_t memory_type, void *out,
                           mird_error *err)
{
    if (mird_hdf5_array_count(array) == 0)
        return MIRD_OK;
    if (H5Dread(array->dset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        char reason[REASON_MAX];
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: cannot read %s (%s)", array->source,
                         array->path, hdf5_reason(reason));
    }
    return MIRD_OK;
}

mird_status mird_hdf5_array_read_float(const mird_hdf5_array *array, float *out, mird_error *err)
{
    return read_as(array, H5T_NATIVE_FLOAT, out, err);
}

mird_status mird_hdf5_array_read_double(const mird_hdf5_array *array, double *out,
                                        mird_error *err)
{
    return read_as(array, H5T_NATIVE_DOUBLE, out, err);
}

/* "[3][0][7]" for the flat index of an element. */
static void format_index(const mird_hdf5_array *array, int64_t flat, char *buf, size_t size)
{
    int64_t index[MIRD_HDF5_MAX_RANK];
    for (int i = array->rank - 1; i >= 0; i--) {
        index[i] = array->dims[i] ? flat % array->dims[i] : 0;
        flat = array->dims[i] ? flat / array->dims[i] : 0;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < array->rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "[%lld]", (long long)index[i]);
}

mird_status mird_hdf5_array_read_int32(const mird_hdf5_array *array, int32_t *out,
                                       mird_error *err)
{
    int64_t n = mird_hdf5_array_count(array);
    size_t bytes;
    if (!mird_size_mul((size_t)n, sizeof(double), &bytes))
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: %s is too large", array->source,
                         array->path);
    double *values = mird_alloc(bytes ? bytes : 1);
    if (!values)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot allocate %s", array->source,
                         array->path);
    mird_status st = mird_hdf5_array_read_double(array, values, err);
    for (int64_t i = 0; st == MIRD_OK && i < n; i++) {
        double v = values[i];
        if (v == floor(v) && v >= INT32_MIN && v <= INT32_MAX) {
            out[i] = (int32_t)v;
            continue;
        }
        char index[64];
        format_index(array, i, index, sizeof index);
        st = mird_fail(err, MIRD_ERR_FORMAT, "%s: %s%s = %g is not a whole number within "
                       "int32", array->source, array->path, index, v);
    }
    mird_free(values);
    return st;
}

void mird_hdf5_free_strings(char **strings, int64_t count)
{
    if (!strings)
        return;
    for (int64_t i = 0; i < count; i++)
        mird_free(strings[i]);
    mird_free(strings);
}

static char *copy_string(const char *s, size_t max_len)
{
    size_t n = s ? strnlen(s, max_len) : 0;
    char *copy = mird_alloc(n + 1);
    if (copy) {
        if (n)
            memcpy(copy, s, n);
        copy[n] = '\0';
    }
    return copy;
}

static char **alloc_string_table(int64_t count)
{
    size_t bytes;
    if (count < 0 || !mird_size_mul((size_t)count, sizeof(char *), &bytes))
        return NULL;
    return mird_alloc_zeroed(bytes ? bytes : 1);
}

/* Reads `count` strings of file type `file_type` into `table`. */
static mird_status read_string_values(hid_t dset, hid_t file_type, const char *source,
                                      const char *path, int64_t count, char **table,
                                      mird_error *err)
{
    int variable = H5Tis_variable_str(file_type) > 0;
    size_t fixed_size = variable ? 0 : H5Tget_size(file_type);
    size_t slot = variable ? sizeof(char *) : fixed_size + 1, bytes;
    hid_t memory_type = H5Tcopy(H5T_C_S1);
    void *raw = NULL;
    if (mird_size_mul(slot, (size_t)count, &bytes))
        raw = mird_alloc_zeroed(bytes ? bytes : 1);
    if (memory_type < 0 || !raw) {
        if (memory_type >= 0)
            H5Tclose(memory_type);
        mird_free(raw);
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot allocate %s", source, path);
    }
    /* HDF5 converts between paddings and sizes but not between character
     * sets: read in the file's own. */
    H5Tset_cset(memory_type, H5Tget_cset(file_type));
    H5Tset_size(memory_type, variable ? H5T_VARIABLE : slot);
    if (!variable)
        H5Tset_strpad(memory_type, H5T_STR_NULLTERM);
    mird_status st = MIRD_OK;
    if (count > 0 && H5Dread(dset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0) {
        char reason[REASON_MAX];
        st = mird_fail(err, MIRD_ERR_FORMAT, "%s: cannot read the strings of %s (%s)", source,
                       path, hdf5_reason(reason));
    } else {
        for (int64_t i = 0; i < count && st == MIRD_OK; i++) {
            const char *s = variable ? ((char **)raw)[i] : (char *)raw + (size_t)i * slot;
            table[i] = copy_string(s, variable ? SIZE_MAX : fixed_size);
            if (!table[i])
                st = mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot copy %s", source, path);
        }
        if (variable && count > 0) {
            hid_t space = H5Dget_space(dset);
#if H5_VERSION_GE(1, 12, 0)
            H5Treclaim(memory_type, space, H5P_DEFAULT, raw);
#else
            H5Dvlen_reclaim(memory_type, space, H5P_DEFAULT, raw);
#endif
            H5Sclose(space);
        }
    }
    H5Tclose(memory_type);
    mird_free(raw);
    return st;
}

mird_status mird_hdf5_read_strings(hid_t loc, const char *source, const char *path, int64_t count,
                                   char ***out, mird_error *err)
{
    *out = NULL;
    hid_t dset;
    MIRD_TRY(open_dataset(loc, source, path, &dset, err));
    hid_t type = H5Dget_type(dset);
    H5T_class_t type_class = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    int rank = 0;
    hsize_t dims[MIRD_HDF5_MAX_RANK];
    mird_status st = MIRD_OK;
    if (type_class != H5T_STRING)
        st = mird_fail(err, MIRD_ERR_FORMAT, "%s: %s holds %s, expected strings", source, path,
                       type_class == H5T_INTEGER || type_class == H5T_FLOAT
                           ? "numbers" : class_name(type_class));
    if (st == MIRD_OK)
        st = dataset_extent(dset, source, path, &rank, dims, err);
    if (st == MIRD_OK && rank != 1)
        st = mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has rank %d, expected 1", source, path,
                       rank);
    if (st == MIRD_OK && (int64_t)dims[0] != count)
        st = mird_fail(err, MIRD_ERR_FORMAT, "%s: %s has %lld strings, expected %lld", source,
                       path, (long long)dims[0], (long long)count);
    char **table = NULL;
    if (st == MIRD_OK && !(table = alloc_string_table(count)))
        st = mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot allocate %s", source, path);
    if (st == MIRD_OK)
        st = read_string_values(dset, type, source, path, count, table, err);
    if (type >= 0)
        H5Tclose(type);
    H5Dclose(dset);
    if (st != MIRD_OK) {
        mird_hdf5_free_strings(table, count);
        return st;
    }
    *out = table;
    return MIRD_OK;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether the link `name` in `group` leads to an object of `kind`. */
static int is_kind(hid_t group, const char *name, mird_hdf5_kind kind)
{
    hid_t object = H5Oopen(group, name, H5P_DEFAULT);
    if (object < 0)
        return 0; /* a dangling link leads nowhere */
    H5I_type_t type = H5Iget_type(object);
    H5Oclose(object);
    return type == (kind == MIRD_HDF5_GROUPS ? H5I_GROUP : H5I_DATASET);
}

/* The name of link `index` of `group` as a new string, or NULL. */
static char *link_name(hid_t group, hsize_t index)
{
    ssize_t n = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, NULL, 0,
                                   H5P_DEFAULT);
    char *name = n >= 0 ? mird_alloc((size_t)n + 1) : NULL;
    if (name && H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, name,
                                   (size_t)n + 1, H5P_DEFAULT) < 0) {
        mird_free(name);
        name = NULL;
    }
    return name;
}

mird_status mird_hdf5_list(hid_t loc, const char *source, const char *path, mird_hdf5_kind kind,
                           char ***names, int64_t *count, mird_error *err)
{
    *names = NULL;
    *count = 0;
    if (strcmp(path, ".") != 0 && !mird_hdf5_exists(loc, path))
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: no group %s", source, path);
    hid_t group = H5Gopen2(loc, path, H5P_DEFAULT);
    H5G_info_t info;
    if (group < 0 || H5Gget_info(group, &info) < 0) {
        char reason[REASON_MAX];
        hdf5_reason(reason);
        if (group >= 0)
            H5Gclose(group);
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: %s is not a readable group (%s)", source,
                         path, reason);
    }
    char **table = alloc_string_table((int64_t)info.nlinks);
    mird_status st = table ? MIRD_OK
                           : mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: cannot list %s", source,
                                       path);
    int64_t kept = 0;
    for (hsize_t i = 0; st == MIRD_OK && i < info.nlinks; i++) {
        char *name = link_name(group, i);
        if (!name) {
            char reason[REASON_MAX];
            st = mird_fail(err, MIRD_ERR_FORMAT, "%s: cannot list %s (%s)", source, path,
                           hdf5_reason(reason));
        } else if (is_kind(group, name, kind)) {
            table[kept++] = name;
        } else {
            mird_free(name);
        }
    }
    H5Gclose(group);
    if (st != MIRD_OK) {
        mird_hdf5_free_strings(table, kept);
        return st;
    }
    qsort(table, (size_t)kept, sizeof *table, compare_names);
    *names = table;
    *count = kept;
    return MIRD_OK;
}
