/* Arenas (plan, commit, reserve) and the scratch stack (mark, reset, reuse). */
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/tensor.h"
#include "support/testutil.h"

START_TEST(test_arena_plan_then_commit)
{
    mird_arena arena;
    mird_arena_init_plan(&arena);
    int64_t a_dims[2] = {3, 5}, b_dims[1] = {7};
    mird_tensor a = mird_tensor_in_arena(&arena, 2, a_dims);
    mird_tensor b = mird_tensor_in_arena(&arena, 1, b_dims);
    ck_assert_ptr_null(a.data);
    ck_assert_ptr_null(b.data);
    size_t planned = arena.used;
    ck_assert_uint_ge(planned, (15 + 7) * sizeof(float));

    mird_error err = {0};
    ck_assert_int_eq(mird_arena_commit(&arena, &err), MIRD_OK);
    a = mird_tensor_in_arena(&arena, 2, a_dims);
    b = mird_tensor_in_arena(&arena, 1, b_dims);
    ck_assert_ptr_nonnull(a.data);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_int_eq(mird_tensor_numel(&a), 15);
    ck_assert_uint_eq((uintptr_t)a.data % 64, 0);
    ck_assert_uint_eq((uintptr_t)b.data % 64, 0);
    ck_assert((char *)b.data >= (char *)(a.data + 15));
    ck_assert_uint_eq(arena.used, planned);
    for (int i = 0; i < 15; i++)
        ck_assert_float_eq(a.data[i], 0.0f); /* committed arenas start zeroed */
    /* Past the plan there is no room. */
    ck_assert_ptr_null(mird_arena_reserve(&arena, 4));
    mird_arena_release(&arena);
    mird_arena_release(&arena); /* releasing twice is harmless */
}
END_TEST

START_TEST(test_scratch_mark_and_reuse)
{
    mird_scratch scratch;
    mird_scratch_init(&scratch);
    mird_scratch_mark empty = mird_scratch_get_mark(&scratch);
    char *a = mird_scratch_alloc(&scratch, 100);
    mird_scratch_mark after_a = mird_scratch_get_mark(&scratch);
    char *b = mird_scratch_alloc(&scratch, 3 << 20); /* bigger than a chunk */
    memset(a, 1, 100);
    memset(b, 2, 3 << 20);
    ck_assert_uint_eq((uintptr_t)b % 64, 0);
    ck_assert_int_eq(a[99], 1); /* b did not move or overwrite a */
    size_t peak = scratch.high_water;
    ck_assert_uint_ge(peak, (3u << 20) + 100);

    mird_scratch_reset_to(&scratch, after_a);
    char *b_again = mird_scratch_alloc(&scratch, 3 << 20);
    ck_assert_ptr_eq(b_again, b); /* the big chunk is reused, not reallocated */

    mird_scratch_reset_to(&scratch, empty);
    char *a_again = mird_scratch_alloc(&scratch, 100);
    ck_assert_ptr_eq(a_again, a);
    char *z = mird_scratch_alloc_zeroed(&scratch, 64);
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(z[i], 0);
    ck_assert_uint_eq(scratch.high_water, peak);
    mird_scratch_release_all(&scratch);
}
END_TEST

START_TEST(test_size_overflow_is_detected)
{
    size_t out = 7;
    ck_assert(!mird_size_mul(SIZE_MAX / 2 + 1, 2, &out));
    ck_assert_uint_eq(out, 7);
    ck_assert(mird_size_mul(1u << 20, 1u << 10, &out));
    ck_assert_uint_eq(out, (size_t)1 << 30);
    ck_assert(!mird_size_add(SIZE_MAX, 1, &out));
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("arena");
    TCase *tc = tcase_create("arena");
    tcase_add_test(tc, test_arena_plan_then_commit);
    tcase_add_test(tc, test_scratch_mark_and_reuse);
    tcase_add_test(tc, test_size_overflow_is_detected);
    suite_add_tcase(suite, tc);
    return tu_run_suite(suite);
}
