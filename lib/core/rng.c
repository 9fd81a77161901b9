#include "core/rng.h"

#include <math.h>

/* Constants from the Random123 reference description of Philox4x32. */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t product = (uint64_t)a * b;
    *hi = (uint32_t)(product >> 32);
    *lo = (uint32_t)product;
}

void mird_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n1 = lo1;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        uint32_t n3 = lo0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void mird_rng_block(const mird_rng_stream *s, uint64_t block, uint32_t out[4])
{
    uint32_t counter[4] = {
        (uint32_t)block,
        (uint32_t)(block >> 32),
        (uint32_t)s->step,
        ((s->purpose & 0xFFFFu) << 16) | (uint32_t)((s->step >> 32) & 0xFFFFu),
    };
    uint32_t key[2] = {(uint32_t)s->seed, (uint32_t)(s->seed >> 32)};
    mird_philox4x32_10(counter, key, out);
}

static inline float bits_to_unit(uint32_t bits)
{
    return (float)(bits >> 8) * (1.0f / 16777216.0f);
}

static uint32_t stream_word(const mird_rng_stream *s, uint64_t index)
{
    uint32_t block[4];
    mird_rng_block(s, index >> 2, block);
    return block[index & 3];
}

/* Whole blocks at a time: the ten rounds run over BATCH independent
 * counters held lane by lane, a loop the compiler turns into vector
 * multiplies (each 32x32->64 product is one vpmuludq lane).  The numbers are
 * exactly those of mird_philox4x32_10, block by block. */
enum { BATCH = 16 };

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define RNG_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RNG_VECTOR_CLONES
#endif

RNG_VECTOR_CLONES
static void uniform_blocks(const mird_rng_stream *s, uint64_t first_block, size_t blocks,
                           float *out)
{
    const uint32_t c2 = (uint32_t)s->step;
    const uint32_t c3 = ((s->purpose & 0xFFFFu) << 16) | (uint32_t)((s->step >> 32) & 0xFFFFu);
    for (size_t base = 0; base < blocks; base += BATCH) {
        size_t count = blocks - base < BATCH ? blocks - base : BATCH;
        uint32_t x0[BATCH], x1[BATCH], x2[BATCH], x3[BATCH];
        for (size_t j = 0; j < BATCH; j++) {
            uint64_t block = first_block + base + j;
            x0[j] = (uint32_t)block, x1[j] = (uint32_t)(block >> 32), x2[j] = c2, x3[j] = c3;
        }
        uint32_t k0 = (uint32_t)s->seed, k1 = (uint32_t)(s->seed >> 32);
        for (int round = 0; round < 10; round++) {
#pragma omp simd
            for (size_t j = 0; j < BATCH; j++) {
                uint64_t p0 = (uint64_t)PHILOX_M0 * x0[j], p1 = (uint64_t)PHILOX_M1 * x2[j];
                uint32_t n0 = (uint32_t)(p1 >> 32) ^ x1[j] ^ k0;
                uint32_t n2 = (uint32_t)(p0 >> 32) ^ x3[j] ^ k1;
                x1[j] = (uint32_t)p1, x3[j] = (uint32_t)p0, x0[j] = n0, x2[j] = n2;
            }
            k0 += PHILOX_W0, k1 += PHILOX_W1;
        }
        float *dst = out + 4 * base;
        for (size_t j = 0; j < count; j++) {
            dst[4 * j + 0] = (float)(x0[j] >> 8) * (1.0f / 16777216.0f);
            dst[4 * j + 1] = (float)(x1[j] >> 8) * (1.0f / 16777216.0f);
            dst[4 * j + 2] = (float)(x2[j] >> 8) * (1.0f / 16777216.0f);
            dst[4 * j + 3] = (float)(x3[j] >> 8) * (1.0f / 16777216.0f);
        }
    }
}

void mird_rng_uniform(const mird_rng_stream *s, uint64_t first, size_t n, float *out)
{
    size_t i = 0;
    /* Unaligned head, whole blocks, then the tail. */
    while (i < n && ((first + i) & 3) != 0) {
        out[i] = bits_to_unit(stream_word(s, first + i));
        i++;
    }
    size_t blocks = (n - i) / 4;
    if (blocks) {
        uniform_blocks(s, (first + i) >> 2, blocks, out + i);
        i += 4 * blocks;
    }
    for (; i < n; i++)
        out[i] = bits_to_unit(stream_word(s, first + i));
}

void mird_rng_uniform_range(const mird_rng_stream *s, uint64_t first, size_t n,
                            float low, float high, float *out)
{
    mird_rng_uniform(s, first, n, out);
    for (size_t i = 0; i < n; i++)
        out[i] = low + (high - low) * out[i];
}

void mird_rng_normal(const mird_rng_stream *s, uint64_t first, size_t n,
                     float mean, float stddev, float *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t block[4];
        uint64_t element = 2 * (first + i);
        mird_rng_block(s, element >> 2, block);
        uint32_t a = block[element & 3], b = block[(element & 3) + 1];
        /* (bits + 0.5) / 2^32 keeps u1 away from 0 so log() is finite. */
        double u1 = ((double)a + 0.5) * (1.0 / 4294967296.0);
        double u2 = ((double)b + 0.5) * (1.0 / 4294967296.0);
        double radius = sqrt(-2.0 * log(u1));
        out[i] = mean + stddev * (float)(radius * cos(6.283185307179586 * u2));
    }
}

uint64_t mird_rng_below(const mird_rng_stream *s, uint64_t index, uint64_t bound)
{
    uint32_t block[4];
    mird_rng_block(s, index, block);
    uint64_t bits = ((uint64_t)block[0] << 32) | block[1];
    return bits % bound;
}
