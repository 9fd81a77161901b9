/* Synthetic multimodal data with planted shared and private factors.
 *
 * The generative model.  Sample i of split k draws four factors, each N(0, 1):
 * a shared factor s (the "sentiment") and one private factor per modality,
 * p_L, p_A, p_V.  Modality m (padded length T, width d) has two fixed
 * patterns of shape [T, d], U_m for s and V_m for p_m, and the sample's frames
 * are
 *
 *     x_m[t, f] = s * U_m[t, f] + p_m * V_m[t, f] + e[t, f]   for t < n_m,
 *     x_m[t, f] = 0                                           for t >= n_m,
 *
 * with e independent zero-mean noise of standard deviation 0.5 (the sum of
 * two uniforms, triangular: a hundred million values take a fraction of a
 * second) and a length n_m uniform in [ceil(T/2), T], drawn per sample and
 * modality.  The label is
 *
 *     y = clip(1.5 s + 0.5 (p_L + p_A + p_V) / 3, -3, 3),
 *
 * so the shared factor carries almost all of it (corr(y, s) ~ 0.98, corr(y,
 * p_m) ~ 0.1) and the private codes a little, which is what MIRD's regressor
 * over all four codes is built for.
 *
 * The patterns: U_m[t, f] = a_m[f] (1 + 0.5 sin(2 pi c_f t / T + phi_f)), with
 * a loading vector a_m ~ N(0, I_d), a frequency of c_f in [0.5, 3) cycles
 * over the padded length and a phase phi_f per feature; V_m likewise from its
 * own b_m, c and phi.  Before use b_m is made orthogonal to a_m (when d >= 2)
 * and both are scaled to unit root-mean-square, so within every modality the
 * shared and private signals are equally strong and linearly separable.  The
 * slow modulation gives the sequence encoders something to integrate and the
 * reconstruction decoders a smooth trajectory to learn (random per-frame
 * patterns would be unlearnable by an LSTM decoder run from a constant code).
 *
 * Randomness.  Every value is a pure function of the seed and its position:
 * factors (seed, SYNTHETIC, split, 4 i + k), lengths (seed,
 * SYNTHETIC_LENGTHS, split, 3 i + m), noise (seed, SYNTHETIC_NOISE, 3 split +
 * m, elements from T d i), patterns (seed, SYNTHETIC_PATTERNS, a step per
 * modality, pattern and quantity), never the split.  So splits are
 * independent samples of one and the same generative model, a dataset of N
 * samples is the first N of a larger one, and the result does not depend on
 * the thread count. */
#include "io/synthetic.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "model/rng_purpose.h"

enum { MODALITIES = 3, NOISE_CHUNK = 512 };

/* Quantities a pattern draws, one random stream step each. */
enum { PATTERN_LOADING, PATTERN_CYCLES, PATTERN_PHASE, PATTERN_QUANTITIES };

typedef struct modality {
    int64_t steps, width;
    float *data;      /* [N, steps, width] */
    int32_t *lengths; /* [N] */
    float *shared;    /* U_m [steps, width] */
    float *private_;  /* V_m [steps, width] */
} modality;

static mird_rng_stream pattern_stream(uint64_t seed, int m, int which, int quantity)
{
    return mird_rng_make_stream(seed, MIRD_RNG_SYNTHETIC_PATTERNS,
                                (uint64_t)((m * 2 + which) * PATTERN_QUANTITIES + quantity));
}

static void scale_to_unit_rms(float *x, int64_t n)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)x[i] * x[i];
    if (sum <= 0.0)
        return;
    double scale = sqrt((double)n / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(x[i] * scale);
}

/* b -= (a.b / a.a) a: the private direction orthogonal to the shared one. */
static void orthogonalise(const float *a, float *b, int64_t n)
{
    double ab = 0.0, aa = 0.0;
    for (int64_t i = 0; i < n; i++)
        ab += (double)a[i] * b[i], aa += (double)a[i] * a[i];
    if (aa <= 0.0)
        return;
    for (int64_t i = 0; i < n; i++)
        b[i] = (float)(b[i] - ab / aa * a[i]);
}

/* Fills U_m and V_m of modality m; `scratch` holds 6 * width floats. */
static void make_patterns(uint64_t seed, int m, modality *mod, float *scratch)
{
    int64_t T = mod->steps, d = mod->width;
    float *loading[2] = {scratch, scratch + d};
    float *cycles = scratch + 2 * d, *phase = scratch + 4 * d;
    for (int which = 0; which < 2; which++) {
        mird_rng_stream s = pattern_stream(seed, m, which, PATTERN_LOADING);
        mird_rng_normal(&s, 0, (size_t)d, 0.0f, 1.0f, loading[which]);
        s = pattern_stream(seed, m, which, PATTERN_CYCLES);
        mird_rng_uniform_range(&s, 0, (size_t)d, 0.5f, 3.0f, cycles + which * d);
        s = pattern_stream(seed, m, which, PATTERN_PHASE);
        mird_rng_uniform_range(&s, 0, (size_t)d, 0.0f, 6.2831853f, phase + which * d);
    }
    /* With one feature the two directions cannot differ; only their
     * modulations tell the factors apart. */
    if (d >= 2)
        orthogonalise(loading[0], loading[1], d);
    for (int which = 0; which < 2; which++) {
        scale_to_unit_rms(loading[which], d);
        float *pattern = which == 0 ? mod->shared : mod->private_;
        const float *c = cycles + which * d, *phi = phase + which * d;
        for (int64_t t = 0; t < T; t++)
            for (int64_t f = 0; f < d; f++) {
                double angle = 6.283185307179586 * c[f] * (double)t / (double)T + phi[f];
                pattern[t * d + f] = (float)(loading[which][f]
                                             * (1.0 + MIRD_SYNTHETIC_MODULATION * sin(angle)));
            }
    }
}

/* The valid frames of one sample of one modality; padding stays zero. */
static void fill_frames(const modality *mod, uint64_t seed, mird_split split, int m, int64_t i,
                        float shared, float private_)
{
    /* One 24-bit uniform u per value gives two 12-bit ones, the integer
     * and the fractional part of 4096 u (both exact in float).  Each takes
     * k / 4096 for k in 0..4095, mean 1/2 - 1/8192; their centred sum has
     * variance 1/6 (to 6e-8), so this scale gives the noise its deviation. */
    const float noise_scale = MIRD_SYNTHETIC_NOISE * 2.4494897f;
    const float pair_mean = 1.0f - 1.0f / 4096.0f;
    int64_t frame_values = mod->steps * mod->width;
    int64_t valid = (int64_t)mod->lengths[i] * mod->width;
    float *x = mod->data + i * frame_values;
    mird_rng_stream noise = mird_rng_make_stream(seed, MIRD_RNG_SYNTHETIC_NOISE,
                                                 (uint64_t)split * MODALITIES + (uint64_t)m);
    uint64_t first = (uint64_t)i * (uint64_t)frame_values;
    float u[NOISE_CHUNK];
    for (int64_t start = 0; start < valid; start += NOISE_CHUNK) {
        int64_t count = valid - start < NOISE_CHUNK ? valid - start : NOISE_CHUNK;
        mird_rng_uniform(&noise, first + (uint64_t)start, (size_t)count, u);
        const float *U = mod->shared + start, *V = mod->private_ + start;
        float *out = x + start;
        for (int64_t j = 0; j < count; j++) {
            float scaled = u[j] * 4096.0f, high = floorf(scaled);
            float pair_sum = high * (1.0f / 4096.0f) + (scaled - high);
            out[j] = shared * U[j] + private_ * V[j] + noise_scale * (pair_sum - pair_mean);
        }
    }
}

static float clip_label(float y)
{
    return y > 3.0f ? 3.0f : y < -3.0f ? -3.0f : y;
}

static void make_sample(const modality *mods, uint64_t seed, mird_split split, int64_t i,
                        float *factors, float *label, uint8_t *labeled, int unlabeled)
{
    mird_rng_stream factor_stream = mird_rng_make_stream(seed, MIRD_RNG_SYNTHETIC, (uint64_t)split);
    mird_rng_stream length_stream =
        mird_rng_make_stream(seed, MIRD_RNG_SYNTHETIC_LENGTHS, (uint64_t)split);
    float *z = factors + i * MIRD_SYNTHETIC_FACTORS;
    mird_rng_normal(&factor_stream, (uint64_t)i * MIRD_SYNTHETIC_FACTORS, MIRD_SYNTHETIC_FACTORS,
                    0.0f, 1.0f, z);
    for (int m = 0; m < MODALITIES; m++) {
        const modality *mod = &mods[m];
        int64_t shortest = (mod->steps + 1) / 2;
        uint64_t spread = (uint64_t)(mod->steps - shortest + 1);
        uint64_t draw = mird_rng_below(&length_stream, (uint64_t)(i * MODALITIES + m), spread);
        mod->lengths[i] = (int32_t)(shortest + (int64_t)draw);
        fill_frames(mod, seed, split, m, i, z[0], z[1 + m]);
    }
    float private_mean = (z[1] + z[2] + z[3]) / 3.0f;
    float y = clip_label(MIRD_SYNTHETIC_LABEL_SHARED * z[0]
                         + MIRD_SYNTHETIC_LABEL_PRIVATE * private_mean);
    labeled[i] = unlabeled ? 0 : 1;
    label[i] = unlabeled ? NAN : y;
}

mird_status mird_synthetic_generate(const mird_batch_shape *shape, mird_split split, int64_t size,
                                    uint64_t seed, const mird_dataset_options *options,
                                    mird_dataset **out, mird_error *err)
{
    *out = NULL;
    if (shape->text_mode != MIRD_TEXT_FEATURES)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "synthetic data has feature text; the "
                         "configuration has text_mode = tokens");
    if ((int)split < MIRD_SPLIT_TRAIN || (int)split > MIRD_SPLIT_TEST)
        return mird_fail(err, MIRD_ERR_INVALID_ARGUMENT, "split = %d is not a mird_split",
                         (int)split);
    mird_dataset *ds;
    mird_dataset_arrays arrays;
    MIRD_TRY(mird_dataset_new(shape, size, options, &ds, &arrays, err));
    modality mods[MODALITIES] = {
        {shape->text_length, shape->text_dim, arrays.text_features, arrays.text_lengths, 0, 0},
        {shape->audio_length, shape->audio_dim, arrays.audio, arrays.audio_lengths, 0, 0},
        {shape->vision_length, shape->vision_dim, arrays.vision, arrays.vision_lengths, 0, 0},
    };
    /* Shapes are bounded by the configuration's ranges, so these sums fit. */
    size_t pattern_floats = 0, widest = 0;
    for (int m = 0; m < MODALITIES; m++) {
        pattern_floats += 2 * (size_t)(mods[m].steps * mods[m].width);
        if ((size_t)mods[m].width > widest)
            widest = (size_t)mods[m].width;
    }
    float *patterns = mird_alloc(pattern_floats * sizeof(float));
    float *scratch = mird_alloc(6 * widest * sizeof(float));
    ds->factors = mird_alloc((size_t)size * MIRD_SYNTHETIC_FACTORS * sizeof(float));
    if (!patterns || !scratch || !ds->factors) {
        mird_free(patterns);
        mird_free(scratch);
        mird_dataset_free(ds);
        return mird_fail(err, MIRD_ERR_OUT_OF_MEMORY,
                         "cannot allocate synthetic data of %lld samples", (long long)size);
    }
    float *next = patterns;
    for (int m = 0; m < MODALITIES; m++) {
        int64_t n = mods[m].steps * mods[m].width;
        mods[m].shared = next, mods[m].private_ = next + n;
        next += 2 * n;
        make_patterns(seed, m, &mods[m], scratch);
    }
    mird_free(scratch);
    int unlabeled = ds->options.labels_none;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < size; i++)
        make_sample(mods, seed, split, i, ds->factors, arrays.labels, arrays.labeled, unlabeled);
    mird_free(patterns);
    *out = ds;
    return MIRD_OK;
}
