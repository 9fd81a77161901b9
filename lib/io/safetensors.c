#define _POSIX_C_SOURCE 200809L

#include "io/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/alloc.h"
#include "core/fault.h"

/* Tensor data goes between the file and memory byte for byte. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and is used in place: build on a little-endian host"
#endif

#define METADATA_KEY "__metadata__"
#define LENGTH_FIELD_BYTES 8

static const struct {
    const char *name;
    size_t size;
} dtype_info[MIRD_ST_DTYPE_COUNT] = {
    [MIRD_ST_F64] = {"F64", 8}, [MIRD_ST_F32] = {"F32", 4}, [MIRD_ST_F16] = {"F16", 2},
    [MIRD_ST_BF16] = {"BF16", 2}, [MIRD_ST_I64] = {"I64", 8}, [MIRD_ST_I32] = {"I32", 4},
    [MIRD_ST_I16] = {"I16", 2}, [MIRD_ST_I8] = {"I8", 1}, [MIRD_ST_U8] = {"U8", 1},
    [MIRD_ST_BOOL] = {"BOOL", 1},
};

static bool dtype_is_valid(mird_st_dtype dtype)
{
    return (int)dtype >= 0 && dtype < MIRD_ST_DTYPE_COUNT;
}

const char *mird_st_dtype_name(mird_st_dtype dtype)
{
    return dtype_is_valid(dtype) ? dtype_info[dtype].name : NULL;
}

size_t mird_st_dtype_size(mird_st_dtype dtype)
{
    return dtype_is_valid(dtype) ? dtype_info[dtype].size : 0;
}

static bool dtype_from_name(const char *name, mird_st_dtype *out)
{
    for (int d = 0; d < MIRD_ST_DTYPE_COUNT; d++) {
        if (strcmp(name, dtype_info[d].name) == 0) {
            *out = (mird_st_dtype)d;
            return true;
        }
    }
    return false;
}

/* numel and bytes of a shape; false if either overflows size_t. */
static bool shape_bytes(mird_st_dtype dtype, int ndim, const int64_t *shape, size_t *numel,
                        size_t *nbytes)
{
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if ((uint64_t)shape[d] > SIZE_MAX || !mird_size_mul(count, (size_t)shape[d], &count))
            return false;
    }
    *numel = count;
    return mird_size_mul(count, dtype_info[dtype].size, nbytes);
}

void mird_st_format_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, d ? ", %" PRId64 : "%" PRId64, shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Room for one more element: the (possibly moved) array, or NULL with the
 * old one untouched. */
static void *reserve_one(void *array, int *capacity, int count, size_t element_size)
{
    if (count < *capacity)
        return array;
    int grown_capacity = *capacity ? 2 * *capacity : 16;
    void *grown = realloc(array, (size_t)grown_capacity * element_size);
    if (grown)
        *capacity = grown_capacity;
    return grown;
}

typedef struct metadata_entry {
    char *key, *value;
} metadata_entry;

static void free_metadata(metadata_entry *entries, int count)
{
    for (int i = 0; i < count; i++) {
        free(entries[i].key);
        free(entries[i].value);
    }
    free(entries);
}

static mird_status fail_system(mird_error *err, const char *path, const char *what, int errnum)
{
    char reason[128];
    if (strerror_r(errnum, reason, sizeof reason) != 0)
        snprintf(reason, sizeof reason, "error %d", errnum);
    return mird_fail(err, MIRD_ERR_IO, "%s: %s: %s", path, what, reason);
}

static mird_status fail_tensor(mird_error *err, mird_status status, const char *path,
                               const char *tensor, const char *fmt, ...) MIRD_PRINTF_LIKE(5, 6);

static mird_status fail_tensor(mird_error *err, mird_status status, const char *path,
                               const char *tensor, const char *fmt, ...)
{
    char detail[MIRD_ERROR_MESSAGE_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(detail, sizeof detail, fmt, args);
    va_end(args);
    return mird_fail(err, status, "%s: tensor '%s': %s", path, tensor, detail);
}

/* ======================================================================= */
/* Reading                                                                 */
/* ======================================================================= */

struct mird_st_file {
    char *path;
    int count;
    mird_st_tensor *tensors;
    char **names;
    const mird_st_tensor **by_name;
    int metadata_count;
    metadata_entry *metadata;
    unsigned char *buffer; /* NULL when opened header-only */
    size_t buffer_size;
};

void mird_st_close(mird_st_file *file)
{
    if (!file)
        return;
    for (int i = 0; i < file->count; i++)
        free(file->names[i]);
    free(file->names);
    free(file->tensors);
    free(file->by_name);
    free_metadata(file->metadata, file->metadata_count);
    mird_free(file->buffer);
    free(file->path);
    free(file);
}

static mird_status read_exactly(int fd, void *dst, size_t size, const char *path, mird_error *err)
{
    unsigned char *cursor = dst;
    while (size > 0) {
        size_t chunk = size < ((size_t)1 << 30) ? size : ((size_t)1 << 30);
        ssize_t got = read(fd, cursor, chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return fail_system(err, path, "cannot read", errno);
        if (got == 0)
            return mird_fail(err, MIRD_ERR_IO, "%s: the file shrank while being read", path);
        cursor += got;
        size -= (size_t)got;
    }
    return MIRD_OK;
}

/* Reads the length field, the header (NUL-terminated, into *header) and,
 * `with_data`, the data buffer (into file->buffer, 64-byte aligned). */
static mird_status load_file(mird_st_file *file, bool with_data, char **header,
                             size_t *header_size, mird_error *err)
{
    const char *path = file->path;
    /* O_NONBLOCK: a FIFO at `path` is refused below instead of hanging here;
     * it changes nothing for regular files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return fail_system(err, path, "cannot open", errno);

    mird_status status = MIRD_OK;
    struct stat info;
    unsigned char length_field[LENGTH_FIELD_BYTES];
    if (fstat(fd, &info) != 0) {
        status = fail_system(err, path, "cannot stat", errno);
        goto done;
    }
    if (!S_ISREG(info.st_mode)) {
        status = mird_fail(err, MIRD_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    uint64_t file_size = (uint64_t)info.st_size;
    if (file_size < LENGTH_FIELD_BYTES) {
        status = mird_fail(err, MIRD_ERR_FORMAT,
                           "%s: the file is %" PRIu64 " bytes, too short for the 8-byte "
                           "header length",
                           path, file_size);
        goto done;
    }
    status = read_exactly(fd, length_field, sizeof length_field, path, err);
    if (status != MIRD_OK)
        goto done;
    uint64_t header_length = 0;
    for (int b = LENGTH_FIELD_BYTES - 1; b >= 0; b--)
        header_length = (header_length << 8) | length_field[b];
    if (header_length > MIRD_ST_MAX_HEADER_BYTES) {
        status = mird_fail(err, MIRD_ERR_FORMAT,
                           "%s: header length %" PRIu64 " is over the %" PRIu64 "-byte limit",
                           path, header_length, MIRD_ST_MAX_HEADER_BYTES);
        goto done;
    }
    if (header_length > file_size - LENGTH_FIELD_BYTES) {
        status = mird_fail(err, MIRD_ERR_FORMAT,
                           "%s: header length %" PRIu64 " runs past the end of the file "
                           "(%" PRIu64 " bytes follow the length field)",
                           path, header_length, file_size - LENGTH_FIELD_BYTES);
        goto done;
    }
    uint64_t buffer_size = file_size - LENGTH_FIELD_BYTES - header_length;
    if (buffer_size > SIZE_MAX) {
        status = mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: the data buffer does not fit in memory",
                           path);
        goto done;
    }
    *header = malloc((size_t)header_length + 1);
    file->buffer = with_data ? mird_alloc((size_t)buffer_size) : NULL;
    if (!*header || (with_data && !file->buffer)) {
        status = mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory for %" PRIu64 " bytes",
                           path, file_size);
        goto done;
    }
    status = read_exactly(fd, *header, (size_t)header_length, path, err);
    if (status == MIRD_OK && with_data)
        status = read_exactly(fd, file->buffer, (size_t)buffer_size, path, err);
    if (status != MIRD_OK)
        goto done;
    (*header)[header_length] = '\0';
    *header_size = (size_t)header_length;
    file->buffer_size = (size_t)buffer_size;
    if (!with_data)
        goto done;

    unsigned char extra;
    ssize_t got;
    do {
        got = read(fd, &extra, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 0)
        status = mird_fail(err, MIRD_ERR_IO, "%s: the file grew while being read", path);
done:
    close(fd);
    return status;
}

/* json-c keeps only the last of repeated keys and offers no way to see
 * them, so after json-c has accepted the text this walk locates every
 * top-level key (for json-c to decode) and counts the keys directly inside
 * each top-level value; comparing those counts with the parsed objects
 * exposes repeats.  It also refuses what json-c tolerates but JSON forbids
 * or that would silently change a key: single-quoted strings and \u0000. */
typedef struct header_member {
    size_t key_begin, key_end; /* the key's text, quotes included */
    int nested_keys;           /* keys directly inside the value */
} header_member;

static mird_status scan_members(const char *path, const char *text, size_t length,
                                header_member **members, int *count, mird_error *err)
{
    int depth = 0, capacity = 0;
    bool in_string = false;
    size_t string_begin = 0, key_begin = 0, key_end = 0;
    *members = NULL;
    *count = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') {
                if (length - i > 5 && memcmp(text + i + 1, "u0000", 5) == 0)
                    return mird_fail(err, MIRD_ERR_FORMAT,
                                     "%s: header has a \\u0000 escape at byte %zu", path, i);
                i++;
            } else if (c == '"') {
                in_string = false;
                key_begin = string_begin;
                key_end = i + 1;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
            string_begin = i;
        } else if (c == '\'') {
            return mird_fail(err, MIRD_ERR_FORMAT,
                             "%s: header has a single-quoted string at byte %zu, which JSON "
                             "does not allow",
                             path, i);
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ':' && depth == 2 && *count > 0) {
            (*members)[*count - 1].nested_keys++;
        } else if (c == ':' && depth == 1) {
            header_member *grown = reserve_one(*members, &capacity, *count, sizeof *grown);
            if (!grown)
                return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory for the header",
                                 path);
            *members = grown;
            (*members)[(*count)++] = (header_member){key_begin, key_end, 0};
        }
    }
    return MIRD_OK;
}

static json_object *parse_json(struct json_tokener *tokener, const char *text, size_t length)
{
    json_tokener_reset(tokener);
    json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    return json_tokener_parse_ex(tokener, text, (int)length);
}

/* A JSON integer in [0, 2^63); json-c saturates larger literals, which the
 * comparison of its two readings catches. */
static bool json_to_count(json_object *value, uint64_t *out)
{
    if (!json_object_is_type(value, json_type_int))
        return false;
    int64_t as_signed = json_object_get_int64(value);
    if (as_signed < 0 || (uint64_t)as_signed != json_object_get_uint64(value))
        return false;
    *out = (uint64_t)as_signed;
    return true;
}

static mird_status parse_shape(const char *path, const char *name, json_object *shape,
                               mird_st_tensor *tensor, mird_error *err)
{
    if (!json_object_is_type(shape, json_type_array))
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name, "shape is not an array");
    size_t ndim = json_object_array_length(shape);
    if (ndim > MIRD_ST_MAX_DIMS)
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name,
                           "shape has %zu dims, more than the %d supported", ndim,
                           MIRD_ST_MAX_DIMS);
    for (size_t d = 0; d < ndim; d++) {
        uint64_t dim;
        if (!json_to_count(json_object_array_get_idx(shape, d), &dim))
            return fail_tensor(err, MIRD_ERR_FORMAT, path, name,
                               "shape[%zu] is not an integer in [0, 2^63)", d);
        tensor->shape[d] = (int64_t)dim;
    }
    tensor->ndim = (int)ndim;
    return MIRD_OK;
}

static mird_status parse_entry(const char *path, const char *name, json_object *entry,
                               int nested_keys, size_t buffer_size, mird_st_tensor *tensor,
                               mird_error *err)
{
    if (!json_object_is_type(entry, json_type_object))
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name, "entry is not a JSON object");
    if ((size_t)nested_keys != (size_t)json_object_object_length(entry))
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name, "a field appears twice");
    json_object_object_foreach(entry, field, field_value) {
        (void)field_value;
        if (strcmp(field, "dtype") && strcmp(field, "shape") && strcmp(field, "data_offsets"))
            return fail_tensor(err, MIRD_ERR_FORMAT, path, name, "unexpected field '%s'", field);
    }

    json_object *dtype, *shape, *offsets;
    if (!json_object_object_get_ex(entry, "dtype", &dtype) ||
        !json_object_object_get_ex(entry, "shape", &shape) ||
        !json_object_object_get_ex(entry, "data_offsets", &offsets))
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name,
                           "needs the fields dtype, shape and data_offsets");
    if (!json_object_is_type(dtype, json_type_string))
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name, "dtype is not a string");
    if (!dtype_from_name(json_object_get_string(dtype), &tensor->dtype))
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name, "unknown dtype '%s'",
                           json_object_get_string(dtype));
    MIRD_TRY(parse_shape(path, name, shape, tensor, err));

    uint64_t begin, end;
    if (!json_object_is_type(offsets, json_type_array) || json_object_array_length(offsets) != 2 ||
        !json_to_count(json_object_array_get_idx(offsets, 0), &begin) ||
        !json_to_count(json_object_array_get_idx(offsets, 1), &end))
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name,
                           "data_offsets is not a pair of integers in [0, 2^63)");
    if (begin > end)
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name,
                           "data_offsets [%" PRIu64 ", %" PRIu64 "] begin after they end", begin,
                           end);
    if (end > buffer_size)
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name,
                           "data_offsets [%" PRIu64 ", %" PRIu64 "] run past the %zu-byte data "
                           "buffer",
                           begin, end, buffer_size);

    char shape_text[160];
    mird_st_format_shape(shape_text, sizeof shape_text, tensor->ndim, tensor->shape);
    const char *dtype_name = dtype_info[tensor->dtype].name;
    if (!shape_bytes(tensor->dtype, tensor->ndim, tensor->shape, &tensor->numel, &tensor->nbytes))
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name,
                           "shape %s of %s needs more bytes than memory can address", shape_text,
                           dtype_name);
    if (end - begin != tensor->nbytes)
        return fail_tensor(err, MIRD_ERR_FORMAT, path, name,
                           "data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                           " bytes but shape %s of %s needs %zu",
                           begin, end, end - begin, shape_text, dtype_name, tensor->nbytes);
    tensor->offset = (size_t)begin;
    return MIRD_OK;
}

static mird_status parse_metadata(mird_st_file *file, json_object *metadata, int nested_keys,
                                  mird_error *err)
{
    const char *path = file->path;
    if (!json_object_is_type(metadata, json_type_object))
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: " METADATA_KEY " is not a JSON object", path);
    int count = json_object_object_length(metadata);
    if (nested_keys != count)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: " METADATA_KEY ": a key appears twice", path);
    json_object_object_foreach(metadata, key, value) {
        if (!json_object_is_type(value, json_type_string))
            return mird_fail(err, MIRD_ERR_FORMAT,
                             "%s: " METADATA_KEY ": the value of '%s' is not a string", path, key);
    }
    file->metadata = calloc((size_t)count + 1, sizeof *file->metadata);
    if (!file->metadata)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory for the metadata", path);
    json_object_object_foreach(metadata, copied_key, copied_value) {
        metadata_entry *entry = &file->metadata[file->metadata_count++];
        entry->key = strdup(copied_key);
        entry->value = strdup(json_object_get_string(copied_value));
        if (!entry->key || !entry->value)
            return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory for the metadata", path);
    }
    return MIRD_OK;
}

static int compare_by_name(const void *a, const void *b)
{
    const mird_st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Ties (same range) are broken by name so the message names the same pair
 * whatever qsort does with equal elements. */
static int compare_by_offset(const void *a, const void *b)
{
    const mird_st_tensor *x = *(const mird_st_tensor *const *)a;
    const mird_st_tensor *y = *(const mird_st_tensor *const *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The tensors must tile the buffer: each begins where the last one ended. */
static mird_status check_tiling(const mird_st_file *file, mird_error *err)
{
    const char *path = file->path;
    const mird_st_tensor **sorted = malloc(((size_t)file->count + 1) * sizeof *sorted);
    if (!sorted)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory for the header", path);
    for (int i = 0; i < file->count; i++)
        sorted[i] = &file->tensors[i];
    qsort(sorted, (size_t)file->count, sizeof *sorted, compare_by_offset);

    mird_status status = MIRD_OK;
    size_t covered = 0;
    const mird_st_tensor *previous = NULL;
    for (int i = 0; i < file->count && status == MIRD_OK; i++) {
        const mird_st_tensor *t = sorted[i];
        if (t->offset < covered)
            status = mird_fail(err, MIRD_ERR_FORMAT,
                               "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap", path,
                               previous->name, previous->offset, covered, t->name, t->offset,
                               t->offset + t->nbytes);
        else if (t->offset > covered)
            status = mird_fail(err, MIRD_ERR_FORMAT,
                               "%s: bytes [%zu, %zu) of the data buffer belong to no tensor "
                               "(a hole before tensor '%s')",
                               path, covered, t->offset, t->name);
        covered = t->offset + t->nbytes;
        previous = t;
    }
    if (status == MIRD_OK && covered != file->buffer_size)
        status = mird_fail(err, MIRD_ERR_FORMAT,
                           "%s: bytes [%zu, %zu) at the end of the data buffer belong to no tensor",
                           path, covered, file->buffer_size);
    free(sorted);
    return status;
}

/* Decodes every top-level key, sorts the tensor names and refuses repeats. */
static mird_status collect_names(mird_st_file *file, struct json_tokener *tokener,
                                 const char *text, const header_member *members, int member_count,
                                 int *metadata_member, mird_error *err)
{
    const char *path = file->path;
    file->tensors = calloc((size_t)member_count + 1, sizeof *file->tensors);
    file->names = calloc((size_t)member_count + 1, sizeof *file->names);
    file->by_name = calloc((size_t)member_count + 1, sizeof *file->by_name);
    if (!file->tensors || !file->names || !file->by_name)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory for the header", path);
    *metadata_member = -1;
    for (int m = 0; m < member_count; m++) {
        const header_member *member = &members[m];
        json_object *key = parse_json(tokener, text + member->key_begin,
                                      member->key_end - member->key_begin);
        if (!json_object_is_type(key, json_type_string)) {
            json_object_put(key);
            return mird_fail(err, MIRD_ERR_FORMAT, "%s: cannot decode the key at byte %zu", path,
                             member->key_begin);
        }
        bool is_metadata = strcmp(json_object_get_string(key), METADATA_KEY) == 0;
        if (is_metadata && *metadata_member >= 0) {
            json_object_put(key);
            return mird_fail(err, MIRD_ERR_FORMAT, "%s: " METADATA_KEY " appears twice", path);
        }
        if (is_metadata) {
            *metadata_member = m;
        } else {
            char *name = strdup(json_object_get_string(key));
            if (!name) {
                json_object_put(key);
                return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory for the header",
                                 path);
            }
            file->names[file->count] = name;
            file->tensors[file->count].name = name;
            file->by_name[file->count] = &file->tensors[file->count];
            file->count++;
        }
        json_object_put(key);
    }
    qsort(file->by_name, (size_t)file->count, sizeof *file->by_name, compare_by_name);
    for (int i = 1; i < file->count; i++) {
        if (strcmp(file->by_name[i - 1]->name, file->by_name[i]->name) == 0)
            return fail_tensor(err, MIRD_ERR_FORMAT, path, file->by_name[i]->name,
                               "the name appears more than once");
    }
    return MIRD_OK;
}

static mird_status parse_header(mird_st_file *file, const char *text, size_t length,
                                mird_error *err)
{
    const char *path = file->path;
    if (length == 0 || text[0] != '{')
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: header does not start with '{'", path);
    struct json_tokener *tokener = json_tokener_new();
    if (!tokener)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory for the JSON parser", path);

    header_member *members = NULL;
    int member_count = 0, metadata_member = -1;
    mird_status status = MIRD_OK;
    json_object *root = parse_json(tokener, text, length);
    size_t json_end = json_tokener_get_parse_end(tokener);
    if (!root) {
        enum json_tokener_error error = json_tokener_get_error(tokener);
        status = mird_fail(err, MIRD_ERR_FORMAT, "%s: header is not valid JSON: %s at byte %zu",
                           path,
                           json_tokener_error_desc(error == json_tokener_continue
                                                       ? json_tokener_error_parse_eof
                                                       : error),
                           json_end);
        goto done;
    }
    for (size_t i = json_end; i < length && status == MIRD_OK; i++) {
        if (!strchr(" \t\r\n", text[i]) || text[i] == '\0')
            status = mird_fail(err, MIRD_ERR_FORMAT,
                               "%s: header has bytes other than padding after its JSON object "
                               "(at byte %zu)",
                               path, i);
    }
    if (status == MIRD_OK)
        status = scan_members(path, text, json_end, &members, &member_count, err);
    if (status == MIRD_OK)
        status = collect_names(file, tokener, text, members, member_count, &metadata_member, err);
    if (status == MIRD_OK && member_count != json_object_object_length(root))
        status = mird_fail(err, MIRD_ERR_FORMAT, "%s: header keys do not add up (%d found, %d "
                           "parsed)", path, member_count, json_object_object_length(root));
    for (int m = 0, t = 0; m < member_count && status == MIRD_OK; m++) {
        if (m == metadata_member)
            continue;
        mird_st_tensor *tensor = &file->tensors[t++];
        json_object *entry = NULL;
        json_object_object_get_ex(root, tensor->name, &entry);
        status = parse_entry(path, tensor->name, entry, members[m].nested_keys, file->buffer_size,
                             tensor, err);
        tensor->data = file->buffer ? file->buffer + tensor->offset : NULL;
    }
    if (status == MIRD_OK && metadata_member >= 0) {
        json_object *metadata = NULL;
        json_object_object_get_ex(root, METADATA_KEY, &metadata);
        status = parse_metadata(file, metadata, members[metadata_member].nested_keys, err);
    }
    if (status == MIRD_OK)
        status = check_tiling(file, err);
done:
    free(members);
    json_object_put(root);
    json_tokener_free(tokener);
    return status;
}

static mird_status open_file(const char *path, bool with_data, mird_st_file **out,
                             mird_error *err)
{
    if (!out)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "mird_st_open: out is NULL");
    *out = NULL;
    if (!path)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "mird_st_open: path is NULL");
    mird_st_file *file = calloc(1, sizeof *file);
    if (file)
        file->path = strdup(path);
    if (!file || !file->path) {
        free(file);
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "%s: no memory to open it", path);
    }
    char *header = NULL;
    size_t header_size = 0;
    mird_status status = load_file(file, with_data, &header, &header_size, err);
    if (status == MIRD_OK)
        status = parse_header(file, header, header_size, err);
    free(header);
    if (status != MIRD_OK) {
        mird_st_close(file);
        return status;
    }
    *out = file;
    return MIRD_OK;
}

mird_status mird_st_open(const char *path, mird_st_file **out, mird_error *err)
{
    return open_file(path, true, out, err);
}

mird_status mird_st_open_header(const char *path, mird_st_file **out, mird_error *err)
{
    return open_file(path, false, out, err);
}

int mird_st_count(const mird_st_file *file)
{
    return file ? file->count : 0;
}

const mird_st_tensor *mird_st_tensor_at(const mird_st_file *file, int index)
{
    if (!file || index < 0 || index >= file->count)
        return NULL;
    return &file->tensors[index];
}

const mird_st_tensor *mird_st_find(const mird_st_file *file, const char *name)
{
    if (!file || !name)
        return NULL;
    mird_st_tensor probe = {.name = name};
    const mird_st_tensor *probe_ptr = &probe;
    const mird_st_tensor **found = bsearch(&probe_ptr, file->by_name, (size_t)file->count,
                                           sizeof *file->by_name, compare_by_name);
    return found ? *found : NULL;
}

int mird_st_metadata_count(const mird_st_file *file)
{
    return file ? file->metadata_count : 0;
}

void mird_st_metadata_at(const mird_st_file *file, int index, const char **key,
                         const char **value)
{
    bool valid = file && index >= 0 && index < file->metadata_count;
    if (key)
        *key = valid ? file->metadata[index].key : NULL;
    if (value)
        *value = valid ? file->metadata[index].value : NULL;
}

const char *mird_st_metadata(const mird_st_file *file, const char *key)
{
    for (int i = 0; file && key && i < file->metadata_count; i++) {
        if (strcmp(file->metadata[i].key, key) == 0)
            return file->metadata[i].value;
    }
    return NULL;
}

mird_status mird_st_copy(const mird_st_file *file, const char *name, mird_st_dtype dtype,
                         int ndim, const int64_t *shape, void *dst, mird_error *err)
{
    if (!file || !name || (ndim > 0 && !shape))
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "mird_st_copy: file, name or shape is NULL");
    if (ndim < 0 || ndim > MIRD_ST_MAX_DIMS)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                         "mird_st_copy: ndim %d is outside 0..%d", ndim, MIRD_ST_MAX_DIMS);
    if (!dtype_is_valid(dtype))
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "mird_st_copy: dtype %d is unknown",
                         (int)dtype);
    const mird_st_tensor *tensor = mird_st_find(file, name);
    if (!tensor)
        return mird_fail(err, MIRD_ERR_FORMAT, "%s: no tensor '%s'", file->path, name);
    if (tensor->dtype != dtype)
        return fail_tensor(err, MIRD_ERR_FORMAT, file->path, name, "dtype %s, expected %s",
                           dtype_info[tensor->dtype].name, dtype_info[dtype].name);
    bool same_shape = tensor->ndim == ndim;
    for (int d = 0; d < ndim && same_shape; d++)
        same_shape = tensor->shape[d] == shape[d];
    if (!same_shape) {
        char actual[160], expected[160];
        mird_st_format_shape(actual, sizeof actual, tensor->ndim, tensor->shape);
        mird_st_format_shape(expected, sizeof expected, ndim, shape);
        return fail_tensor(err, MIRD_ERR_SHAPE, file->path, name, "shape %s, expected %s", actual,
                           expected);
    }
    if (tensor->nbytes > 0 && !dst)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "mird_st_copy: dst is NULL");
    if (tensor->nbytes > 0 && !tensor->data)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                         "%s: opened header-only, so tensor '%s' has no data to copy", file->path,
                         name);
    if (tensor->nbytes > 0)
        memcpy(dst, tensor->data, tensor->nbytes);
    return MIRD_OK;
}

mird_status mird_st_copy_f32(const mird_st_file *file, const char *name, int ndim,
                             const int64_t *shape, float *dst, mird_error *err)
{
    return mird_st_copy(file, name, MIRD_ST_F32, ndim, shape, dst, err);
}

mird_status mird_st_copy_i32(const mird_st_file *file, const char *name, int ndim,
                             const int64_t *shape, int32_t *dst, mird_error *err)
{
    return mird_st_copy(file, name, MIRD_ST_I32, ndim, shape, dst, err);
}

/* ======================================================================= */
/* Writing                                                                 */
/* ======================================================================= */

typedef struct pending_tensor {
    char *name;
    mird_st_dtype dtype;
    int ndim;
    int64_t shape[MIRD_ST_MAX_DIMS];
    size_t nbytes;
    const void *data; /* borrowed */
} pending_tensor;

struct mird_st_writer {
    pending_tensor *tensors;
    int count, capacity;
    metadata_entry *metadata;
    int metadata_count, metadata_capacity;
};

mird_status mird_st_writer_create(mird_st_writer **out, mird_error *err)
{
    if (!out)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "mird_st_writer_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "mird_st_writer_create: no memory");
    return MIRD_OK;
}

void mird_st_writer_destroy(mird_st_writer *writer)
{
    if (!writer)
        return;
    for (int i = 0; i < writer->count; i++)
        free(writer->tensors[i].name);
    free(writer->tensors);
    free_metadata(writer->metadata, writer->metadata_count);
    free(writer);
}

/* Rejects overlong forms, surrogates and code points past U+10FFFF, as the
 * reader's JSON parser does, so that whatever we write reads back. */
static bool is_valid_utf8(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        int extra;
        uint32_t code, smallest;
        if (*s < 0x80) {
            s++;
            continue;
        } else if ((*s & 0xE0) == 0xC0) {
            extra = 1, code = *s & 0x1F, smallest = 0x80;
        } else if ((*s & 0xF0) == 0xE0) {
            extra = 2, code = *s & 0x0F, smallest = 0x800;
        } else if ((*s & 0xF8) == 0xF0) {
            extra = 3, code = *s & 0x07, smallest = 0x10000;
        } else {
            return false;
        }
        for (int k = 1; k <= extra; k++) {
            if ((s[k] & 0xC0) != 0x80)
                return false;
            code = (code << 6) | (s[k] & 0x3F);
        }
        if (code < smallest || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
            return false;
        s += extra + 1;
    }
    return true;
}

mird_status mird_st_writer_add(mird_st_writer *writer, const char *name, mird_st_dtype dtype,
                               int ndim, const int64_t *shape, const void *data,
                               mird_error *err)
{
    if (!writer || !name || (ndim > 0 && !shape))
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT,
                         "mird_st_writer_add: writer, name or shape is NULL");
    if (!name[0] || strcmp(name, METADATA_KEY) == 0 || !is_valid_utf8(name))
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                         "mird_st_writer_add: name '%s' is empty, reserved or not UTF-8", name);
    for (int i = 0; i < writer->count; i++) {
        if (strcmp(writer->tensors[i].name, name) == 0)
            return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                             "mird_st_writer_add: tensor '%s' was already added", name);
    }
    if (!dtype_is_valid(dtype))
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                         "mird_st_writer_add: tensor '%s': dtype %d is unknown", name, (int)dtype);
    if (ndim < 0 || ndim > MIRD_ST_MAX_DIMS)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                         "mird_st_writer_add: tensor '%s': ndim %d is outside 0..%d", name, ndim,
                         MIRD_ST_MAX_DIMS);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                             "mird_st_writer_add: tensor '%s': shape[%d] = %" PRId64
                             " is negative",
                             name, d, shape[d]);
    }
    size_t numel, nbytes;
    if (!shape_bytes(dtype, ndim, shape, &numel, &nbytes))
        return mird_fail(err, MIRD_ERR_SHAPE,
                         "mird_st_writer_add: tensor '%s': its byte size overflows", name);
    if (nbytes > 0 && !data)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "mird_st_writer_add: tensor '%s': data is NULL",
                         name);
    pending_tensor *grown = reserve_one(writer->tensors, &writer->capacity, writer->count,
                                        sizeof *grown);
    char *name_copy = grown ? strdup(name) : NULL;
    if (grown)
        writer->tensors = grown;
    if (!name_copy)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "mird_st_writer_add: no memory");
    pending_tensor *tensor = &writer->tensors[writer->count++];
    *tensor = (pending_tensor){.name = name_copy, .dtype = dtype, .ndim = ndim,
                               .nbytes = nbytes, .data = data};
    for (int d = 0; d < ndim; d++)
        tensor->shape[d] = shape[d];
    return MIRD_OK;
}

mird_status mird_st_writer_add_metadata(mird_st_writer *writer, const char *key,
                                        const char *value, mird_error *err)
{
    if (!writer || !key || !value)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT,
                         "mird_st_writer_add_metadata: writer, key or value is NULL");
    if (!is_valid_utf8(key) || !is_valid_utf8(value))
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                         "mird_st_writer_add_metadata: key or value of '%s' is not UTF-8", key);
    for (int i = 0; i < writer->metadata_count; i++) {
        if (strcmp(writer->metadata[i].key, key) == 0)
            return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                             "mird_st_writer_add_metadata: key '%s' was already added", key);
    }
    metadata_entry *grown = reserve_one(writer->metadata, &writer->metadata_capacity,
                                        writer->metadata_count, sizeof *grown);
    if (grown)
        writer->metadata = grown;
    char *key_copy = grown ? strdup(key) : NULL, *value_copy = grown ? strdup(value) : NULL;
    if (!key_copy || !value_copy) {
        free(key_copy);
        free(value_copy);
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "mird_st_writer_add_metadata: no memory");
    }
    writer->metadata[writer->metadata_count++] = (metadata_entry){key_copy, value_copy};
    return MIRD_OK;
}

/* Widest element first, insertion order within a width (the array index). */
static int compare_by_width(const void *a, const void *b)
{
    const pending_tensor *x = *(const pending_tensor *const *)a;
    const pending_tensor *y = *(const pending_tensor *const *)b;
    size_t x_width = dtype_info[x->dtype].size, y_width = dtype_info[y->dtype].size;
    if (x_width != y_width)
        return x_width > y_width ? -1 : 1;
    return x < y ? -1 : (x > y);
}

/* json-c takes ownership of `value` only when the add succeeds. */
static bool add_field(json_object *object, const char *key, json_object *value)
{
    if (value && json_object_object_add(object, key, value) == 0)
        return true;
    json_object_put(value);
    return false;
}

static bool add_element(json_object *array, json_object *value)
{
    if (value && json_object_array_add(array, value) == 0)
        return true;
    json_object_put(value);
    return false;
}

/* Each add_field either hands its value to `entry` or frees it, so on
 * failure only `entry` is left to free. */
static json_object *describe_tensor(const pending_tensor *tensor, size_t begin)
{
    json_object *entry = json_object_new_object();
    if (!entry)
        return NULL;
    bool ok = add_field(entry, "dtype", json_object_new_string(dtype_info[tensor->dtype].name));
    json_object *shape = json_object_new_array();
    ok = add_field(entry, "shape", shape) && ok;
    json_object *offsets = json_object_new_array();
    ok = add_field(entry, "data_offsets", offsets) && ok;
    for (int d = 0; d < tensor->ndim && ok; d++)
        ok = add_element(shape, json_object_new_int64(tensor->shape[d]));
    ok = ok && add_element(offsets, json_object_new_int64((int64_t)begin)) &&
         add_element(offsets, json_object_new_int64((int64_t)(begin + tensor->nbytes)));
    if (ok)
        return entry;
    json_object_put(entry);
    return NULL;
}

/* The JSON header padded with spaces to a multiple of 8 bytes. */
static mird_status build_header(const mird_st_writer *writer, const pending_tensor *const *order,
                                char **header, size_t *header_size, mird_error *err)
{
    json_object *root = json_object_new_object();
    bool ok = root != NULL;
    if (ok && writer->metadata_count > 0) {
        json_object *metadata = json_object_new_object();
        for (int i = 0; i < writer->metadata_count && metadata; i++) {
            if (!add_field(metadata, writer->metadata[i].key,
                           json_object_new_string(writer->metadata[i].value))) {
                json_object_put(metadata);
                metadata = NULL;
            }
        }
        ok = add_field(root, METADATA_KEY, metadata);
    }
    size_t begin = 0;
    for (int i = 0; i < writer->count && ok; i++) {
        ok = add_field(root, order[i]->name, describe_tensor(order[i], begin));
        begin += order[i]->nbytes;
    }
    size_t json_length = 0;
    const char *json = ok ? json_object_to_json_string_length(
                                root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                &json_length)
                          : NULL;
    size_t padded = (json_length + 7) & ~(size_t)7;
    *header = json ? malloc(padded) : NULL;
    if (*header) {
        memcpy(*header, json, json_length);
        memset(*header + json_length, ' ', padded - json_length);
        *header_size = padded;
    }
    json_object_put(root);
    if (!*header)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "mird_st_writer_save: no memory for the header");
    return MIRD_OK;
}

static int write_all(int fd, const void *data, size_t size)
{
    const unsigned char *cursor = data;
    while (size > 0) {
        size_t chunk = size < ((size_t)1 << 30) ? size : ((size_t)1 << 30);
        ssize_t written = write(fd, cursor, chunk);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return written < 0 ? errno : EIO;
        cursor += written;
        size -= (size_t)written;
    }
    return 0;
}

/* Makes the rename itself durable.  Some file systems cannot sync a
 * directory (EINVAL); the rename is then as durable as they allow. */
static int sync_parent_directory(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *directory = slash == NULL   ? strdup(".")
                      : slash == path ? strdup("/")
                                      : strndup(path, (size_t)(slash - path));
    if (!directory)
        return ENOMEM;
    int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(directory);
    if (fd < 0)
        return errno;
    int result = fsync(fd) == 0 || errno == EINVAL ? 0 : errno;
    close(fd);
    return result;
}

static mird_status write_atomically(const char *path, const char *header, size_t header_size,
                                    const pending_tensor *const *order, int count,
                                    mird_error *err)
{
    static const char suffix[] = ".tmp-XXXXXX";
    size_t path_length = strlen(path);
    if (path_length == 0 || path[path_length - 1] == '/')
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT,
                         "mird_st_writer_save: '%s' does not name a file", path);
    char *temp_path = malloc(path_length + sizeof suffix);
    if (!temp_path)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "mird_st_writer_save: no memory");
    memcpy(temp_path, path, path_length);
    memcpy(temp_path + path_length, suffix, sizeof suffix);

    int fd = mkstemp(temp_path);
    if (fd < 0) {
        mird_status status = fail_system(err, path, "cannot create a temporary file beside it",
                                         errno);
        free(temp_path);
        return status;
    }
    mird_status status = MIRD_OK;
    struct stat existing;
    mode_t mode = stat(path, &existing) == 0 ? existing.st_mode & 07777 : 0644;
    unsigned char length_field[LENGTH_FIELD_BYTES];
    for (int b = 0; b < LENGTH_FIELD_BYTES; b++)
        length_field[b] = (unsigned char)((uint64_t)header_size >> (8 * b));

    int error = fchmod(fd, mode) != 0 ? errno : 0;
    if (!error)
        error = write_all(fd, length_field, sizeof length_field);
    if (!error)
        error = write_all(fd, header, header_size);
    for (int i = 0; i < count && !error; i++) {
        error = write_all(fd, order[i]->data, order[i]->nbytes);
        /* Tests fail a write here, half way through the file. */
        if (!error && mird_fault_hit())
            error = EIO;
    }
    if (!error && fsync(fd) != 0)
        error = errno;
    if (error)
        status = fail_system(err, path, "cannot write the temporary file", error);
    if (close(fd) != 0 && status == MIRD_OK)
        status = fail_system(err, path, "cannot close the temporary file", errno);
    if (status == MIRD_OK && rename(temp_path, path) != 0)
        status = fail_system(err, path, "cannot replace it with the temporary file", errno);
    if (status != MIRD_OK) {
        unlink(temp_path);
    } else if ((error = sync_parent_directory(path)) != 0) {
        status = fail_system(err, path, "written, but its directory could not be synced", error);
    }
    free(temp_path);
    return status;
}

mird_status mird_st_writer_save(const mird_st_writer *writer, const char *path,
                                mird_error *err)
{
    if (!writer || !path)
        return mird_fail(err, MIRD_ERR_NULL_ARGUMENT, "mird_st_writer_save: writer or path is NULL");
    size_t total = 0;
    for (int i = 0; i < writer->count; i++) {
        if (!mird_size_add(total, writer->tensors[i].nbytes, &total) || total > INT64_MAX)
            return mird_fail(err, MIRD_ERR_SHAPE, "%s: the tensors hold more bytes than a file can",
                             path);
    }
    const pending_tensor **order = malloc(((size_t)writer->count + 1) * sizeof *order);
    if (!order)
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY, "mird_st_writer_save: no memory");
    for (int i = 0; i < writer->count; i++)
        order[i] = &writer->tensors[i];
    qsort(order, (size_t)writer->count, sizeof *order, compare_by_width);

    char *header = NULL;
    size_t header_size = 0;
    mird_status status = build_header(writer, order, &header, &header_size, err);
    if (status == MIRD_OK)
        status = write_atomically(path, header, header_size, order, writer->count, err);
    free(header);
    free(order);
    return status;
}
