/* The `purpose` field of every random stream the model draws from.  Each use
 * of randomness has its own purpose so that streams never overlap; values
 * are part of reproducibility (same seed, same numbers across versions), so
 * never renumber an existing entry. */
#ifndef MIRD_MODEL_RNG_PURPOSE_H
#define MIRD_MODEL_RNG_PURPOSE_H

enum mird_rng_purpose {
    MIRD_RNG_PARAM_INIT = 1,
    MIRD_RNG_SHUFFLE = 2,
    MIRD_RNG_UNLABELED = 3,
    MIRD_RNG_CLUB_PERMUTATION = 4,
    MIRD_RNG_SYNTHETIC = 5, /* synthetic data: the planted factors */
    MIRD_RNG_SYNTHETIC_LENGTHS = 6,
    MIRD_RNG_SYNTHETIC_PATTERNS = 7,
    MIRD_RNG_SYNTHETIC_NOISE = 8,
    /* Dropout sites: MIRD_RNG_DROPOUT_BASE + site number (< 4096 sites). */
    MIRD_RNG_DROPOUT_BASE = 0x1000
};

#endif
