/* Safetensors files: a strict reader and an atomic writer.
 *
 * The format (Hugging Face safetensors): an 8-byte little-endian header
 * length N, N bytes of UTF-8 JSON mapping each tensor name to
 * {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
 * "__metadata__" object of string values, then the data buffer, which the
 * offsets index.  Checkpoints and the PyTorch reference fixtures use it.
 *
 * The reader trusts nothing: mird_st_open() checks the header length, the
 * JSON (parsed by json-c), every dtype, shape and offset, that the tensors
 * tile the buffer exactly (no overlap, no hole), that names are unique and
 * that metadata values are strings, before it returns a handle.  Any
 * violation is MIRD_ERR_FORMAT with a message naming the file, the tensor
 * and the fault; open and read failures are MIRD_ERR_IO.  On failure nothing
 * stays allocated.
 *
 * "st" in the names below stands for safetensors. */
#ifndef MIRD_IO_SAFETENSORS_H
#define MIRD_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define MIRD_ST_MAX_DIMS 8
/* Headers beyond this are refused unread (the reference implementation's
 * own limit); real headers are a few hundred kilobytes at most. */
#define MIRD_ST_MAX_HEADER_BYTES ((uint64_t)100000000)

typedef enum mird_st_dtype {
    MIRD_ST_F64,
    MIRD_ST_F32,
    MIRD_ST_F16,
    MIRD_ST_BF16,
    MIRD_ST_I64,
    MIRD_ST_I32,
    MIRD_ST_I16,
    MIRD_ST_I8,
    MIRD_ST_U8,
    MIRD_ST_BOOL,
    MIRD_ST_DTYPE_COUNT
} mird_st_dtype;

/* The format's spelling ("F32"), or NULL outside the enum. */
const char *mird_st_dtype_name(mird_st_dtype dtype);
/* Bytes per element, or 0 outside the enum. */
size_t mird_st_dtype_size(mird_st_dtype dtype);
/* "[2, 3]", for messages; cut short if `size` is too small. */
void mird_st_format_shape(char *buf, size_t size, int ndim, const int64_t *shape);

/* One tensor as the file describes it.  `data` points into the handle's
 * buffer, which starts 64-byte aligned, so it is aligned to the element size
 * whenever the file's offsets are (true of files from mird_st_writer_save()
 * and from the Hugging Face library); mird_st_copy() works either way.
 * After mird_st_open_header() `data` is NULL. */
typedef struct mird_st_tensor {
    const char *name;
    mird_st_dtype dtype;
    int ndim; /* 0 for a scalar */
    int64_t shape[MIRD_ST_MAX_DIMS];
    size_t numel;
    size_t nbytes;
    size_t offset; /* data_offsets[0], from the start of the buffer */
    const void *data;
} mird_st_tensor;

/* ---- Reading ---------------------------------------------------------- */

typedef struct mird_st_file mird_st_file;

/* Reads and validates the whole file at `path`; *out is NULL on failure. */
mird_status mird_st_open(const char *path, mird_st_file **out, mird_error *err);
/* Reads and validates the header alone (offsets are checked against the
 * file's size), for reading metadata and shapes without loading the data:
 * every tensor's `data` is NULL and mird_st_copy() refuses to copy. */
mird_status mird_st_open_header(const char *path, mird_st_file **out, mird_error *err);
/* NULL is harmless. */
void mird_st_close(mird_st_file *file);

/* Tensors in the order of the file's header. */
int mird_st_count(const mird_st_file *file);
const mird_st_tensor *mird_st_tensor_at(const mird_st_file *file, int index);
/* The tensor called `name`, or NULL. */
const mird_st_tensor *mird_st_find(const mird_st_file *file, const char *name);

/* "__metadata__" entries, in the file's order. */
int mird_st_metadata_count(const mird_st_file *file);
void mird_st_metadata_at(const mird_st_file *file, int index, const char **key,
                         const char **value);
/* The value for `key`, or NULL. */
const char *mird_st_metadata(const mird_st_file *file, const char *key);

/* Copies tensor `name` into dst after checking that it exists and has
 * `dtype` (else MIRD_ERR_FORMAT) and exactly the expected shape (else
 * MIRD_ERR_SHAPE, naming both shapes).  dst holds numel(shape) elements. */
mird_status mird_st_copy(const mird_st_file *file, const char *name, mird_st_dtype dtype,
                         int ndim, const int64_t *shape, void *dst, mird_error *err);
mird_status mird_st_copy_f32(const mird_st_file *file, const char *name, int ndim,
                             const int64_t *shape, float *dst, mird_error *err);
mird_status mird_st_copy_i32(const mird_st_file *file, const char *name, int ndim,
                             const int64_t *shape, int32_t *dst, mird_error *err);

/* ---- Writing ---------------------------------------------------------- */

/* Collects tensors and metadata, then writes them in one go.
 *
 * Tensor data is BORROWED: the caller keeps each buffer alive and unchanged
 * until mird_st_writer_save() returns (checkpoints point straight into the
 * parameter arena; copying it would double peak memory).  Names, shapes and
 * metadata are copied.
 *
 * Layout, identical in the JSON header and the data buffer: tensors sorted
 * by element size, widest first, and in insertion order within one size, so
 * that every tensor is aligned to its element size without padding between
 * tensors; for a file of one dtype that is plain insertion order.  The
 * header lists "__metadata__" first (keys in insertion order) and is padded
 * with spaces to a multiple of 8 bytes.  The same calls give the same bytes. */
typedef struct mird_st_writer mird_st_writer;

mird_status mird_st_writer_create(mird_st_writer **out, mird_error *err);
/* NULL is harmless. */
void mird_st_writer_destroy(mird_st_writer *writer);

/* Errors: MIRD_ERR_INVALID_ARGUMENT for an empty, duplicate, reserved
 * ("__metadata__") or non-UTF-8 name, a dtype outside the enum, ndim outside
 * 0..MIRD_ST_MAX_DIMS or a negative dim; MIRD_ERR_SHAPE when the byte size
 * overflows; MIRD_ERR_NULL_ARGUMENT for NULL data with a non-empty shape. */
mird_status mird_st_writer_add(mird_st_writer *writer, const char *name, mird_st_dtype dtype,
                               int ndim, const int64_t *shape, const void *data,
                               mird_error *err);
/* Errors: MIRD_ERR_INVALID_ARGUMENT for a duplicate key or non-UTF-8 text. */
mird_status mird_st_writer_add_metadata(mird_st_writer *writer, const char *key,
                                        const char *value, mird_error *err);

/* Writes atomically: a temporary file in the target's directory (mkstemp),
 * fsync, rename over `path`, fsync of the directory.  Before the rename any
 * failure removes the temporary and leaves an existing `path` untouched.
 * The new file takes the permission bits of the file it replaces, or 0644.
 * Errors: MIRD_ERR_IO naming the path and the system's reason. */
mird_status mird_st_writer_save(const mird_st_writer *writer, const char *path,
                                mird_error *err);

#endif
