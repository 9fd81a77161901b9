/* Safetensors: round trips, a hand-built file, every validation failure,
 * deterministic and atomic writes. */
#define _XOPEN_SOURCE 700

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "support/testutil.h"

static void put_le(unsigned char *dst, uint64_t value, int bytes)
{
    for (int b = 0; b < bytes; b++)
        dst[b] = (unsigned char)(value >> (8 * b));
}

/* length field (declaring `declared_length`), header text, then `buffer`. */
static void craft_file(const char *path, uint64_t declared_length, const char *header,
                       const void *buffer, size_t buffer_size)
{
    size_t header_size = strlen(header);
    unsigned char *bytes = malloc(8 + header_size + buffer_size + 1);
    put_le(bytes, declared_length, 8);
    memcpy(bytes + 8, header, header_size);
    if (buffer_size)
        memcpy(bytes + 8 + header_size, buffer, buffer_size);
    tu_write_file(path, bytes, 8 + header_size + buffer_size);
    free(bytes);
}

static void assert_mentions(const mird_error *err, const char *fragment)
{
    if (fragment)
        ck_assert_msg(strstr(err->message, fragment) != NULL, "message \"%s\" lacks \"%s\"",
                      err->message, fragment);
}

/* Opening `path` must fail with `status`, hand back no handle and explain
 * itself with both fragments (either may be NULL). */
static void expect_open_failure(const char *path, mird_status status, const char *fragment,
                                const char *second_fragment)
{
    mird_error err = {0};
    mird_st_file *file = (mird_st_file *)&err; /* must be reset to NULL */
    ck_assert_int_eq(mird_st_open(path, &file, &err), status);
    ck_assert_ptr_null(file);
    ck_assert_int_eq(err.status, status);
    assert_mentions(&err, path);
    assert_mentions(&err, fragment);
    assert_mentions(&err, second_fragment);
}

/* ---- Round trips ------------------------------------------------------ */

typedef struct sample_tensor {
    const char *name;
    mird_st_dtype dtype;
    int ndim;
    int64_t shape[3];
} sample_tensor;

/* Mixed widths, in an order that the writer must regroup widest first. */
static const sample_tensor samples[] = {
    {"encoder.weight", MIRD_ST_F32, 2, {2, 3}},
    {"mask", MIRD_ST_BOOL, 1, {3}},
    {"step", MIRD_ST_I64, 0, {0}},
    {"ids", MIRD_ST_I32, 2, {3, 1}},
    {"bytes", MIRD_ST_U8, 1, {5}},
    {"empty", MIRD_ST_I8, 2, {0, 4}},
    {"half", MIRD_ST_F16, 2, {2, 2}},
    {"moments", MIRD_ST_F64, 1, {4}},
    {"brain", MIRD_ST_BF16, 1, {3}},
    {"shorts", MIRD_ST_I16, 3, {1, 1, 3}},
};
enum { SAMPLE_COUNT = sizeof samples / sizeof samples[0] };
/* Width-descending, insertion order within a width. */
static const char *const expected_layout[SAMPLE_COUNT] = {
    "step", "moments", "encoder.weight", "ids", "half", "brain", "shorts", "mask", "bytes", "empty",
};

static unsigned char sample_data[SAMPLE_COUNT][64];

static mird_st_writer *sample_writer(void)
{
    mird_error err = {0};
    mird_st_writer *writer = NULL;
    ck_assert_int_eq(mird_st_writer_create(&writer, &err), MIRD_OK);
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        for (int b = 0; b < 64; b++)
            sample_data[i][b] = (unsigned char)(37 * i + 11 * b + 1);
        for (int b = 0; samples[i].dtype == MIRD_ST_BOOL && b < 64; b++)
            sample_data[i][b] &= 1;
        ck_assert_int_eq(mird_st_writer_add(writer, samples[i].name, samples[i].dtype,
                                            samples[i].ndim, samples[i].shape, sample_data[i],
                                            &err),
                         MIRD_OK);
    }
    ck_assert_int_eq(mird_st_writer_add_metadata(writer, "format", "pt", &err), MIRD_OK);
    ck_assert_int_eq(mird_st_writer_add_metadata(writer, "config", "{\"preset\": \"tiny\"} / ü",
                                                 &err),
                     MIRD_OK);
    return writer;
}

START_TEST(test_round_trip_of_every_dtype)
{
    char path[256];
    tu_temp_path(path, sizeof path, "round.safetensors");
    mird_error err = {0};
    mird_st_writer *writer = sample_writer();
    ck_assert_int_eq(mird_st_writer_save(writer, path, &err), MIRD_OK);
    mird_st_writer_destroy(writer);

    mird_st_file *file = NULL;
    ck_assert_msg(mird_st_open(path, &file, &err) == MIRD_OK, "%s", err.message);
    ck_assert_int_eq(mird_st_count(file), SAMPLE_COUNT);
    size_t expected_offset = 0;
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        const mird_st_tensor *t = mird_st_tensor_at(file, i);
        ck_assert_str_eq(t->name, expected_layout[i]);
        ck_assert_uint_eq(t->offset, expected_offset); /* contiguous, in header order */
        expected_offset += t->nbytes;
        ck_assert_uint_eq((uintptr_t)t->data % mird_st_dtype_size(t->dtype), 0);
    }
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        const mird_st_tensor *t = mird_st_find(file, samples[i].name);
        ck_assert_ptr_nonnull(t);
        ck_assert_str_eq(t->name, samples[i].name);
        ck_assert_int_eq(t->dtype, samples[i].dtype);
        ck_assert_int_eq(t->ndim, samples[i].ndim);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            ck_assert_int_eq(t->shape[d], samples[i].shape[d]);
            numel *= (size_t)samples[i].shape[d];
        }
        ck_assert_uint_eq(t->numel, numel);
        ck_assert_uint_eq(t->nbytes, numel * mird_st_dtype_size(samples[i].dtype));
        ck_assert_int_eq(memcmp(t->data, sample_data[i], t->nbytes), 0);
    }
    ck_assert_uint_eq(mird_st_find(file, "step")->numel, 1); /* a scalar holds one value */
    ck_assert_uint_eq(mird_st_find(file, "empty")->nbytes, 0);
    ck_assert_ptr_null(mird_st_find(file, "missing"));
    ck_assert_ptr_null(mird_st_tensor_at(file, SAMPLE_COUNT));
    ck_assert_ptr_null(mird_st_tensor_at(file, -1));

    ck_assert_int_eq(mird_st_metadata_count(file), 2);
    const char *key, *value;
    mird_st_metadata_at(file, 1, &key, &value);
    ck_assert_str_eq(key, "config");
    ck_assert_str_eq(value, "{\"preset\": \"tiny\"} / ü");
    ck_assert_str_eq(mird_st_metadata(file, "format"), "pt");
    ck_assert_ptr_null(mird_st_metadata(file, "absent"));
    mird_st_metadata_at(file, 2, &key, &value);
    ck_assert_ptr_null(key);
    mird_st_close(file);
}
END_TEST

START_TEST(test_copy_checks_dtype_and_shape)
{
    char path[256];
    tu_temp_path(path, sizeof path, "copy.safetensors");
    mird_error err = {0};
    mird_st_writer *writer = sample_writer();
    ck_assert_int_eq(mird_st_writer_save(writer, path, &err), MIRD_OK);
    mird_st_writer_destroy(writer);
    mird_st_file *file = NULL;
    ck_assert_int_eq(mird_st_open(path, &file, &err), MIRD_OK);

    float weights[6];
    int32_t ids[3];
    const int64_t weight_shape[2] = {2, 3}, ids_shape[2] = {3, 1}, transposed[2] = {3, 2};
    ck_assert_int_eq(mird_st_copy_f32(file, "encoder.weight", 2, weight_shape, weights, &err),
                     MIRD_OK);
    ck_assert_int_eq(memcmp(weights, sample_data[0], sizeof weights), 0);
    ck_assert_int_eq(mird_st_copy_i32(file, "ids", 2, ids_shape, ids, &err), MIRD_OK);
    ck_assert_int_eq(memcmp(ids, sample_data[3], sizeof ids), 0);

    ck_assert_int_eq(mird_st_copy_f32(file, "encoder.weight", 2, transposed, weights, &err),
                     MIRD_ERR_SHAPE);
    assert_mentions(&err, "tensor 'encoder.weight': shape [2, 3], expected [3, 2]");
    ck_assert_int_eq(mird_st_copy_f32(file, "encoder.weight", 1, transposed, weights, &err),
                     MIRD_ERR_SHAPE);
    ck_assert_int_eq(mird_st_copy_f32(file, "ids", 2, ids_shape, weights, &err), MIRD_ERR_FORMAT);
    assert_mentions(&err, "dtype I32, expected F32");
    ck_assert_int_eq(mird_st_copy_i32(file, "nothing", 0, NULL, ids, &err), MIRD_ERR_FORMAT);
    assert_mentions(&err, "no tensor 'nothing'");
    ck_assert_int_eq(mird_st_copy_f32(file, "encoder.weight", 9, weight_shape, weights, &err),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_st_copy_f32(file, "encoder.weight", 2, weight_shape, NULL, &err),
                     MIRD_ERR_NULL_ARGUMENT);
    mird_st_close(file);
}
END_TEST

START_TEST(test_header_only_open_reads_no_data)
{
    char path[256];
    tu_temp_path(path, sizeof path, "header.safetensors");
    mird_error err = {0};
    mird_st_writer *writer = sample_writer();
    ck_assert_int_eq(mird_st_writer_save(writer, path, &err), MIRD_OK);
    mird_st_writer_destroy(writer);
    mird_st_file *whole = NULL, *header = NULL;
    ck_assert_int_eq(mird_st_open(path, &whole, &err), MIRD_OK);
    ck_assert_int_eq(mird_st_open_header(path, &header, &err), MIRD_OK);
    ck_assert_int_eq(mird_st_count(header), SAMPLE_COUNT);
    for (int i = 0; i < SAMPLE_COUNT; i++) {
        const mird_st_tensor *a = mird_st_tensor_at(whole, i), *b = mird_st_tensor_at(header, i);
        ck_assert_str_eq(a->name, b->name);
        ck_assert_int_eq(a->ndim, b->ndim);
        ck_assert_uint_eq(a->offset, b->offset);
        ck_assert_uint_eq(a->nbytes, b->nbytes);
        ck_assert_ptr_null(b->data);
    }
    ck_assert_str_eq(mird_st_metadata(header, "format"), "pt");
    float weights[6];
    const int64_t weight_shape[2] = {2, 3};
    ck_assert_int_eq(mird_st_copy_f32(header, "encoder.weight", 2, weight_shape, weights, &err),
                     MIRD_ERR_INVALID_ARGUMENT);
    assert_mentions(&err, "header-only");
    mird_st_close(whole);
    mird_st_close(header);

    /* Offsets are still checked, against the file's size. */
    size_t size;
    unsigned char *bytes = tu_read_file(path, &size);
    tu_write_file(path, bytes, size - 1);
    ck_assert_int_eq(mird_st_open_header(path, &header, &err), MIRD_ERR_FORMAT);
    ck_assert_ptr_null(header);
    assert_mentions(&err, "data_offsets");
    free(bytes);
}
END_TEST

START_TEST(test_writes_are_deterministic_and_aligned)
{
    char first[256], second[256];
    tu_temp_path(first, sizeof first, "first.safetensors");
    tu_temp_path(second, sizeof second, "second.safetensors");
    mird_error err = {0};
    mird_st_writer *writer = sample_writer();
    ck_assert_int_eq(mird_st_writer_save(writer, first, &err), MIRD_OK);
    mird_st_writer_destroy(writer);
    writer = sample_writer();
    ck_assert_int_eq(mird_st_writer_save(writer, second, &err), MIRD_OK);
    mird_st_writer_destroy(writer);

    size_t first_size, second_size;
    unsigned char *a = tu_read_file(first, &first_size);
    unsigned char *b = tu_read_file(second, &second_size);
    ck_assert_uint_eq(first_size, second_size);
    ck_assert_int_eq(memcmp(a, b, first_size), 0);
    uint64_t header_length = 0;
    for (int i = 7; i >= 0; i--)
        header_length = (header_length << 8) | a[i];
    ck_assert_uint_eq(header_length % 8, 0);
    ck_assert_int_eq(a[8], '{');
    ck_assert_int_eq(a[8 + header_length - 1] == ' ' || a[8 + header_length - 1] == '}', 1);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_writer_emits_the_exact_format)
{
    char path[256];
    tu_temp_path(path, sizeof path, "exact.safetensors");
    mird_error err = {0};
    mird_st_writer *writer = NULL;
    ck_assert_int_eq(mird_st_writer_create(&writer, &err), MIRD_OK);
    const float values[2] = {1.5f, -2.0f};
    const int64_t shape[1] = {2};
    ck_assert_int_eq(mird_st_writer_add(writer, "a/b", MIRD_ST_F32, 1, shape, values, &err),
                     MIRD_OK);
    ck_assert_int_eq(mird_st_writer_add_metadata(writer, "k", "v", &err), MIRD_OK);
    ck_assert_int_eq(mird_st_writer_save(writer, path, &err), MIRD_OK);
    mird_st_writer_destroy(writer);

    const char json[] = "{\"__metadata__\":{\"k\":\"v\"},\"a/b\":{\"dtype\":\"F32\",\"shape\":[2],"
                        "\"data_offsets\":[0,8]}}";
    size_t padded = (sizeof json - 1 + 7) / 8 * 8;
    unsigned char expected[256];
    put_le(expected, padded, 8);
    memcpy(expected + 8, json, sizeof json - 1);
    memset(expected + 8 + sizeof json - 1, ' ', padded - (sizeof json - 1));
    put_le(expected + 8 + padded, 0x3FC00000u, 4);
    put_le(expected + 12 + padded, 0xC0000000u, 4);
    size_t size;
    unsigned char *bytes = tu_read_file(path, &size);
    ck_assert_uint_eq(size, 8 + padded + 8);
    ck_assert_int_eq(memcmp(bytes, expected, size), 0);
    free(bytes);
}
END_TEST

START_TEST(test_empty_writer_writes_a_valid_file)
{
    char path[256];
    tu_temp_path(path, sizeof path, "empty.safetensors");
    mird_error err = {0};
    mird_st_writer *writer = NULL;
    ck_assert_int_eq(mird_st_writer_create(&writer, &err), MIRD_OK);
    ck_assert_int_eq(mird_st_writer_save(writer, path, &err), MIRD_OK);
    mird_st_writer_destroy(writer);
    mird_st_file *file = NULL;
    ck_assert_int_eq(mird_st_open(path, &file, &err), MIRD_OK);
    ck_assert_int_eq(mird_st_count(file), 0);
    ck_assert_int_eq(mird_st_metadata_count(file), 0);
    mird_st_close(file);
}
END_TEST

/* ---- Interoperability: a file built byte by byte from the spec -------- */

START_TEST(test_reads_a_hand_built_file)
{
    /* Header order differs from data order, metadata comes last, the JSON
     * has insignificant whitespace and escapes, padding is spaces. */
    const char header[] =
        "{\n  \"b\": {\"dtype\": \"I32\", \"shape\": [2], \"data_offsets\": [8, 16]},\n"
        "  \"w\\u00e9ight\" : {\"shape\":[1,2],\"dtype\":\"F32\",\"data_offsets\":[0,8]},\n"
        "  \"scalar\": {\"dtype\": \"F64\", \"shape\": [], \"data_offsets\": [16, 24]},\n"
        "  \"none\": {\"dtype\": \"BF16\", \"shape\": [3, 0], \"data_offsets\": [24, 24]},\n"
        "  \"__metadata__\": {\"format\": \"pt\", \"note\": \"colons: {inside} [strings]\"}\n"
        "}   ";
    unsigned char buffer[24];
    put_le(buffer, 0x3FC00000u, 4);      /* 1.5f */
    put_le(buffer + 4, 0xC0000000u, 4);  /* -2.0f */
    put_le(buffer + 8, 7, 4);
    put_le(buffer + 12, (uint32_t)-9, 4);
    put_le(buffer + 16, 0x4009200000000000ull, 8); /* 3.140625 */
    char path[256];
    tu_temp_path(path, sizeof path, "hand.safetensors");
    craft_file(path, sizeof header - 1, header, buffer, sizeof buffer);

    mird_error err = {0};
    mird_st_file *file = NULL;
    ck_assert_msg(mird_st_open(path, &file, &err) == MIRD_OK, "%s", err.message);
    ck_assert_int_eq(mird_st_count(file), 4);
    ck_assert_str_eq(mird_st_tensor_at(file, 0)->name, "b");
    ck_assert_str_eq(mird_st_tensor_at(file, 1)->name, "w\xc3\xa9ight");

    float weights[2];
    const int64_t weight_shape[2] = {1, 2}, b_shape[1] = {2};
    ck_assert_int_eq(mird_st_copy_f32(file, "w\xc3\xa9ight", 2, weight_shape, weights, &err),
                     MIRD_OK);
    ck_assert_float_eq(weights[0], 1.5f);
    ck_assert_float_eq(weights[1], -2.0f);
    int32_t b[2];
    ck_assert_int_eq(mird_st_copy_i32(file, "b", 1, b_shape, b, &err), MIRD_OK);
    ck_assert_int_eq(b[0], 7);
    ck_assert_int_eq(b[1], -9);
    const mird_st_tensor *scalar = mird_st_find(file, "scalar");
    ck_assert_int_eq(scalar->ndim, 0);
    double scalar_value;
    memcpy(&scalar_value, scalar->data, sizeof scalar_value);
    ck_assert_double_eq(scalar_value, 3.140625);
    ck_assert_uint_eq(mird_st_find(file, "none")->numel, 0);
    ck_assert_str_eq(mird_st_metadata(file, "note"), "colons: {inside} [strings]");
    mird_st_close(file);
}
END_TEST

/* ---- Validation: one crafted header per fault ------------------------- */

typedef struct bad_header {
    const char *header;
    size_t buffer_size;
    const char *fragment, *second_fragment;
} bad_header;

#define ENTRY(dtype, shape, offsets) \
    "{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

static const bad_header bad_headers[] = {
    /* JSON itself */
    {"{\"a\":" ENTRY("F32", "[2]", "[0,8]"), 8, "not valid JSON", NULL},
    {"{\"a\":" ENTRY("F32", "[2]", "[0,8]") ",}", 8, "not valid JSON", NULL},
    {"[1, 2]", 0, "does not start with '{'", NULL},
    {"", 0, "does not start with '{'", NULL},
    {"{} x", 0, "not valid JSON", NULL},
    {"{'a':" ENTRY("F32", "[2]", "[0,8]") "}", 8, "single-quoted", NULL},
    {"{\"a\\u0000b\":" ENTRY("F32", "[2]", "[0,8]") "}", 8, "\\u0000", NULL},
    {"{\"\xff\":" ENTRY("F32", "[2]", "[0,8]") "}", 8, "not valid JSON", NULL},
    /* entries */
    {"{\"a\":[1]}", 0, "tensor 'a'", "not a JSON object"},
    {"{\"a\":" ENTRY("F8", "[2]", "[0,2]") "}", 2, "tensor 'a'", "unknown dtype 'F8'"},
    {"{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a'",
     "dtype is not a string"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, "tensor 'a'", "needs the fields"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4,
     "tensor 'a'", "unexpected field 'extra'"},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "tensor 'a'", "a field appears twice"},
    {"{\"a\":" ENTRY("F32", "[-1]", "[0,4]") "}", 4, "tensor 'a'", "shape[0] is not"},
    {"{\"a\":" ENTRY("F32", "[2.0]", "[0,8]") "}", 8, "tensor 'a'", "shape[0] is not"},
    {"{\"a\":" ENTRY("F32", "2", "[0,8]") "}", 8, "tensor 'a'", "shape is not an array"},
    {"{\"a\":" ENTRY("U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 1, "tensor 'a'", "9 dims"},
    {"{\"a\":" ENTRY("F32", "[1]", "[0]") "}", 4, "tensor 'a'", "not a pair"},
    {"{\"a\":" ENTRY("F32", "[1]", "[-4,0]") "}", 4, "tensor 'a'", "not a pair"},
    {"{\"a\":" ENTRY("F32", "[1]", "[0,18446744073709551615]") "}", 4, "tensor 'a'",
     "not a pair"},
    {"{\"a\":" ENTRY("F32", "[0]", "[4,0]") "}", 4, "tensor 'a'", "begin after they end"},
    {"{\"a\":" ENTRY("F32", "[4]", "[0,16]") "}", 8, "tensor 'a'",
     "data_offsets [0, 16] run past the 8-byte data buffer"},
    {"{\"a\":" ENTRY("F64", "[4611686018427387904,4]", "[0,8]") "}", 8, "tensor 'a'",
     "more bytes than memory"},
    {"{\"a\":" ENTRY("F32", "[1]", "[0,8]") "}", 8, "tensor 'a'",
     "data_offsets [0, 8] hold 8 bytes but shape [1] of F32 needs 4"},
    /* names and tiling */
    {"{\"a\":" ENTRY("F32", "[1]", "[0,4]") ",\"a\":" ENTRY("F32", "[1]", "[0,4]") "}", 4,
     "tensor 'a'", "appears more than once"},
    {"{\"a\":" ENTRY("F32", "[2]", "[0,8]") ",\"b\":" ENTRY("F32", "[2]", "[4,12]") "}", 12,
     "tensors 'a' [0, 8] and 'b' [4, 12] overlap", NULL},
    {"{\"a\":" ENTRY("F32", "[2]", "[0,8]") ",\"z\":" ENTRY("F32", "[0]", "[4,4]") "}", 8,
     "'z'", "overlap"},
    {"{\"a\":" ENTRY("F32", "[1]", "[0,4]") ",\"b\":" ENTRY("F32", "[1]", "[8,12]") "}", 12,
     "bytes [4, 8)", "hole before tensor 'b'"},
    {"{\"a\":" ENTRY("F32", "[1]", "[4,8]") "}", 8, "bytes [0, 4)", "'a'"},
    {"{\"a\":" ENTRY("F32", "[1]", "[0,4]") "}", 8, "bytes [4, 8) at the end", NULL},
    /* metadata */
    {"{\"__metadata__\":{\"n\":3}}", 0, "'n'", "not a string"},
    {"{\"__metadata__\":[\"x\"]}", 0, "__metadata__ is not a JSON object", NULL},
    {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "__metadata__", "appears twice"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ appears twice", NULL},
};
enum { BAD_HEADER_COUNT = sizeof bad_headers / sizeof bad_headers[0] };

START_TEST(test_rejects_bad_header)
{
    const bad_header *bad = &bad_headers[_i];
    char path[256];
    tu_temp_path(path, sizeof path, "bad.safetensors");
    unsigned char buffer[64] = {0};
    ck_assert_uint_le(bad->buffer_size, sizeof buffer);
    craft_file(path, strlen(bad->header), bad->header, buffer, bad->buffer_size);
    expect_open_failure(path, MIRD_ERR_FORMAT, bad->fragment, bad->second_fragment);
}
END_TEST

START_TEST(test_size_mismatch_message_is_exact)
{
    char path[256];
    tu_temp_path(path, sizeof path, "x.safetensors");
    const char header[] = "{\"a.weight\":" ENTRY("F32", "[2, 3]", "[0, 12]") "}";
    unsigned char buffer[12] = {0};
    craft_file(path, sizeof header - 1, header, buffer, sizeof buffer);
    mird_error err = {0};
    mird_st_file *file = NULL;
    ck_assert_int_eq(mird_st_open(path, &file, &err), MIRD_ERR_FORMAT);
    char expected[512];
    snprintf(expected, sizeof expected,
             "%s: tensor 'a.weight': data_offsets [0, 12] hold 12 bytes but shape [2, 3] of F32 "
             "needs 24",
             path);
    ck_assert_str_eq(err.message, expected);
}
END_TEST

START_TEST(test_rejects_truncated_files)
{
    char path[256];
    tu_temp_path(path, sizeof path, "short.safetensors");
    const unsigned char five[5] = {2, 0, 0, 0, 0};
    tu_write_file(path, five, sizeof five);
    expect_open_failure(path, MIRD_ERR_FORMAT, "5 bytes", "too short");

    tu_write_file(path, five, 0);
    expect_open_failure(path, MIRD_ERR_FORMAT, "0 bytes", NULL);

    /* The header is cut short: its length promises more than is there. */
    const char header[] = "{\"a\":" ENTRY("F32", "[1]", "[0,4]") "}";
    craft_file(path, sizeof header - 1 + 100, header, NULL, 0);
    expect_open_failure(path, MIRD_ERR_FORMAT, "runs past the end of the file", NULL);

    /* The data buffer is cut short. */
    unsigned char buffer[4] = {0};
    craft_file(path, sizeof header - 1, header, buffer, 2);
    expect_open_failure(path, MIRD_ERR_FORMAT, "tensor 'a'", "run past the 2-byte");

    craft_file(path, (uint64_t)1 << 40, header, buffer, sizeof buffer);
    expect_open_failure(path, MIRD_ERR_FORMAT, "limit", NULL);

    /* Padding must be whitespace; json-c would stop quietly at a NUL. */
    unsigned char nul_padded[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', 0, ' ', ' ', ' ', ' '};
    tu_write_file(path, nul_padded, sizeof nul_padded);
    expect_open_failure(path, MIRD_ERR_FORMAT, "after its JSON object", "byte 3");
}
END_TEST

START_TEST(test_open_failures_are_io_errors)
{
    char path[256];
    tu_temp_path(path, sizeof path, "does-not-exist.safetensors");
    expect_open_failure(path, MIRD_ERR_IO, "cannot open", NULL);
    expect_open_failure(tu_temp_dir, MIRD_ERR_IO, "not a regular file", NULL);
    tu_temp_path(path, sizeof path, "fifo");
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    expect_open_failure(path, MIRD_ERR_IO, "not a regular file", NULL); /* without blocking */
    tu_temp_path(path, sizeof path, "does-not-exist.safetensors");

    mird_error err = {0};
    mird_st_file *file = NULL;
    ck_assert_int_eq(mird_st_open(NULL, &file, &err), MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_st_open(path, NULL, &err), MIRD_ERR_NULL_ARGUMENT);
    mird_st_close(NULL);
    ck_assert_int_eq(mird_st_count(NULL), 0);
}
END_TEST

/* ---- Writer arguments ------------------------------------------------- */

START_TEST(test_writer_rejects_bad_arguments)
{
    mird_error err = {0};
    mird_st_writer *writer = NULL;
    ck_assert_int_eq(mird_st_writer_create(&writer, &err), MIRD_OK);
    const float data[4] = {0};
    const int64_t shape[1] = {4}, negative[1] = {-1};
    const int64_t huge[2] = {INT64_MAX, INT64_MAX};
    ck_assert_int_eq(mird_st_writer_add(writer, "w", MIRD_ST_F32, 1, shape, data, &err), MIRD_OK);
    ck_assert_int_eq(mird_st_writer_add(writer, "w", MIRD_ST_F32, 1, shape, data, &err),
                     MIRD_ERR_INVALID_ARGUMENT);
    assert_mentions(&err, "'w' was already added");
    ck_assert_int_eq(mird_st_writer_add(writer, "", MIRD_ST_F32, 1, shape, data, &err),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_st_writer_add(writer, "__metadata__", MIRD_ST_F32, 1, shape, data, &err),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_st_writer_add(writer, "bad\xff", MIRD_ST_F32, 1, shape, data, &err),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_st_writer_add(writer, "bad\xc0\xaf", MIRD_ST_F32, 1, shape, data, &err),
                     MIRD_ERR_INVALID_ARGUMENT); /* an overlong '/' */
    ck_assert_int_eq(mird_st_writer_add(writer, "x", MIRD_ST_DTYPE_COUNT, 1, shape, data, &err),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_st_writer_add(writer, "x", MIRD_ST_F32, 9, shape, data, &err),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_st_writer_add(writer, "x", MIRD_ST_F32, 1, negative, data, &err),
                     MIRD_ERR_INVALID_ARGUMENT);
    assert_mentions(&err, "shape[0]");
    ck_assert_int_eq(mird_st_writer_add(writer, "x", MIRD_ST_F32, 2, huge, data, &err),
                     MIRD_ERR_SHAPE);
    ck_assert_int_eq(mird_st_writer_add(writer, "x", MIRD_ST_F32, 1, shape, NULL, &err),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_st_writer_add(writer, "x", MIRD_ST_F32, 1, NULL, data, &err),
                     MIRD_ERR_NULL_ARGUMENT);
    ck_assert_int_eq(mird_st_writer_add_metadata(writer, "k", "v", &err), MIRD_OK);
    ck_assert_int_eq(mird_st_writer_add_metadata(writer, "k", "w", &err),
                     MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_st_writer_add_metadata(writer, "k2", "\xed\xa0\x80", &err),
                     MIRD_ERR_INVALID_ARGUMENT); /* a UTF-16 surrogate */
    ck_assert_int_eq(mird_st_writer_add_metadata(writer, "k2", NULL, &err),
                     MIRD_ERR_NULL_ARGUMENT);
    char path[256];
    tu_temp_path(path, sizeof path, "dir/");
    ck_assert_int_eq(mird_st_writer_save(writer, path, &err), MIRD_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(mird_st_writer_save(writer, NULL, &err), MIRD_ERR_NULL_ARGUMENT);

    /* The rejected calls left the writer as it was: one tensor, one key. */
    tu_temp_path(path, sizeof path, "after.safetensors");
    ck_assert_int_eq(mird_st_writer_save(writer, path, &err), MIRD_OK);
    mird_st_writer_destroy(writer);
    mird_st_file *file = NULL;
    ck_assert_int_eq(mird_st_open(path, &file, &err), MIRD_OK);
    ck_assert_int_eq(mird_st_count(file), 1);
    ck_assert_int_eq(mird_st_metadata_count(file), 1);
    mird_st_close(file);
}
END_TEST

/* ---- Atomic writes ---------------------------------------------------- */

static mird_status save_filled(const char *path, size_t floats, float fill, mird_error *err)
{
    float *data = malloc(floats * sizeof *data);
    for (size_t i = 0; i < floats; i++)
        data[i] = fill;
    mird_st_writer *writer = NULL;
    ck_assert_int_eq(mird_st_writer_create(&writer, err), MIRD_OK);
    const int64_t shape[1] = {(int64_t)floats};
    ck_assert_int_eq(mird_st_writer_add(writer, "values", MIRD_ST_F32, 1, shape, data, err),
                     MIRD_OK);
    mird_status status = mird_st_writer_save(writer, path, err);
    mird_st_writer_destroy(writer);
    free(data);
    return status;
}

START_TEST(test_overwrite_keeps_mode_and_leaves_no_temporary)
{
    char path[256];
    tu_temp_path(path, sizeof path, "ckpt.safetensors");
    mird_error err = {0};
    ck_assert_int_eq(save_filled(path, 4, 1.0f, &err), MIRD_OK);
    struct stat info;
    ck_assert_int_eq(stat(path, &info), 0);
    ck_assert_int_eq(info.st_mode & 0777, 0644);
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(save_filled(path, 8, 2.0f, &err), MIRD_OK);
    ck_assert_int_eq(stat(path, &info), 0);
    ck_assert_int_eq(info.st_mode & 0777, 0600);
    ck_assert_int_eq(tu_count_entries(tu_temp_dir), 1);

    mird_st_file *file = NULL;
    ck_assert_int_eq(mird_st_open(path, &file, &err), MIRD_OK);
    const mird_st_tensor *values = mird_st_find(file, "values");
    ck_assert_int_eq(values->shape[0], 8);
    ck_assert_float_eq(((const float *)values->data)[7], 2.0f);
    mird_st_close(file);
}
END_TEST

/* A file-size limit binds root too, so the write fails half way through the
 * temporary file whoever runs the test. */
START_TEST(test_failed_write_keeps_the_previous_file)
{
    char path[256];
    tu_temp_path(path, sizeof path, "ckpt.safetensors");
    mird_error err = {0};
    ck_assert_int_eq(save_filled(path, 16, 1.0f, &err), MIRD_OK);
    size_t before_size;
    unsigned char *before = tu_read_file(path, &before_size);

    struct rlimit saved, limited;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    limited = saved;
    limited.rlim_cur = 4096;
    void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limited), 0);
    mird_status status = save_filled(path, 1 << 16, 2.0f, &err);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, saved_handler);

    ck_assert_int_eq(status, MIRD_ERR_IO);
    assert_mentions(&err, path);
    assert_mentions(&err, "cannot write the temporary file");
    ck_assert_int_eq(tu_count_entries(tu_temp_dir), 1); /* the temporary is gone */
    size_t after_size;
    unsigned char *after = tu_read_file(path, &after_size);
    ck_assert_uint_eq(after_size, before_size);
    ck_assert_int_eq(memcmp(after, before, before_size), 0);
    free(before);
    free(after);
}
END_TEST

START_TEST(test_failed_rename_removes_the_temporary)
{
    /* The target is a non-empty directory: everything up to the rename
     * succeeds, the rename cannot. */
    char target[256], inside[300];
    tu_temp_path(target, sizeof target, "occupied");
    ck_assert_int_eq(mkdir(target, 0700), 0);
    snprintf(inside, sizeof inside, "%s/keep", target);
    tu_write_file(inside, "x", 1);
    mird_error err = {0};
    ck_assert_int_eq(save_filled(target, 4, 1.0f, &err), MIRD_ERR_IO);
    assert_mentions(&err, "cannot replace it");
    ck_assert_int_eq(tu_count_entries(tu_temp_dir), 1);
    ck_assert_int_eq(tu_count_entries(target), 1);
}
END_TEST

START_TEST(test_save_under_a_regular_file_fails_cleanly)
{
    char parent[256], path[300];
    tu_temp_path(parent, sizeof parent, "plain-file");
    tu_write_file(parent, "x", 1);
    snprintf(path, sizeof path, "%s/ckpt.safetensors", parent);
    mird_error err = {0};
    ck_assert_int_eq(save_filled(path, 4, 1.0f, &err), MIRD_ERR_IO);
    assert_mentions(&err, path);
    assert_mentions(&err, "temporary");
    ck_assert_int_eq(tu_count_entries(tu_temp_dir), 1);
}
END_TEST

static Suite *safetensors_suite(void)
{
    Suite *suite = suite_create("safetensors");
    TCase *tc = tcase_create("safetensors");
    tcase_add_checked_fixture(tc, tu_make_temp_dir, tu_remove_temp_dir);
    tcase_add_test(tc, test_round_trip_of_every_dtype);
    tcase_add_test(tc, test_copy_checks_dtype_and_shape);
    tcase_add_test(tc, test_header_only_open_reads_no_data);
    tcase_add_test(tc, test_writes_are_deterministic_and_aligned);
    tcase_add_test(tc, test_writer_emits_the_exact_format);
    tcase_add_test(tc, test_empty_writer_writes_a_valid_file);
    tcase_add_test(tc, test_reads_a_hand_built_file);
    tcase_add_loop_test(tc, test_rejects_bad_header, 0, BAD_HEADER_COUNT);
    tcase_add_test(tc, test_size_mismatch_message_is_exact);
    tcase_add_test(tc, test_rejects_truncated_files);
    tcase_add_test(tc, test_open_failures_are_io_errors);
    tcase_add_test(tc, test_writer_rejects_bad_arguments);
    tcase_add_test(tc, test_overwrite_keeps_mode_and_leaves_no_temporary);
    tcase_add_test(tc, test_failed_write_keeps_the_previous_file);
    tcase_add_test(tc, test_failed_rename_removes_the_temporary);
    tcase_add_test(tc, test_save_under_a_regular_file_fails_cleanly);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    /* glibc 2.36's newlocale() leaks its copy of LOCPATH on every call while
     * LOCPATH is set, and json-c calls newlocale() on every parse; ctest sets
     * LOCPATH for the locale tests, which this suite does not need. */
    unsetenv("LOCPATH");
    return tu_run_suite(safetensors_suite());
}
