/* The CLUB estimators and the disentanglement constraint (MODEL.md 2.6, 3).
 *
 * Eight estimator networks, one per pair (x -> y), each a Gaussian q(y|x):
 *   mu(x)     = mu.2(ReLU(mu.0(x)))                  Linear(d_x -> h/2), Linear(h/2 -> d_y)
 *   logvar(x) = tanh(logvar.2(ReLU(logvar.0(x))))    likewise, with its own weights
 * registered in MIRD_GROUP_ESTIMATOR as club.<pair>.{mu,logvar}.{0,2}.{weight,bias}.
 * The pairs are the six code pairs and, with input_mi, z^S against the frame
 * means of the acoustic and visual inputs (whose networks are then not
 * registered at all when input_mi is off).
 *
 * One forward serves both users of the estimators:
 *  - the model update reads `constraint` (mim: sum of the CLUB estimates; oc:
 *    the orthogonality loss over the six code pairs; none: 0), scales it by
 *    lambda itself, and calls mird_estimators_backward_constraint, which sends
 *    the gradient into the codes only: through the networks (frozen, so their
 *    parameter gradients are left untouched) into x, and directly into y when
 *    y is a code (the input means are data and get none);
 *  - the estimators' step reads `estimator_loss` (sum of the learning losses)
 *    and calls mird_estimators_backward_learning, which adds into the
 *    estimator parameter gradients only; the codes count as detached, so it
 *    has no code-gradient argument at all.
 *
 * With club_sample the estimate of pair p uses a random permutation of the
 * batch drawn from the stream (seed, MIRD_RNG_CLUB_PERMUTATION, pass id),
 * elements p * 2^32 + i (a Fisher-Yates shuffle, swap i drawing element i),
 * so a pass id repeats its permutations and pairs never share one.
 *
 * constraint, oc_detach_norm and club_sample are read from the pass's
 * configuration at every call: a backward must get the same pass (and the
 * same inputs) as the forward it follows. */
#ifndef MIRD_MODEL_ESTIMATORS_H
#define MIRD_MODEL_ESTIMATORS_H

#include "model/pass.h"

typedef enum mird_code {
    MIRD_CODE_S = 0, /* agnostic */
    MIRD_CODE_L = 1,
    MIRD_CODE_A = 2,
    MIRD_CODE_V = 3,
    MIRD_CODE_COUNT = 4
} mird_code;

/* In registration and reporting order; the input terms come last so that
 * without input_mi the first six are all there is. */
typedef enum mird_club_pair {
    MIRD_CLUB_L_A = 0,
    MIRD_CLUB_L_V = 1,
    MIRD_CLUB_A_V = 2,
    MIRD_CLUB_S_L = 3,
    MIRD_CLUB_S_A = 4,
    MIRD_CLUB_S_V = 5,
    MIRD_CLUB_S_XA = 6, /* z^S -> frame mean of X^A */
    MIRD_CLUB_S_XV = 7, /* z^S -> frame mean of X^V */
    MIRD_CLUB_PAIR_COUNT = 8
} mird_club_pair;

/* "l_a", ..., "s_xv" (the checkpoint name's middle part); NULL if unknown. */
const char *mird_club_pair_name(mird_club_pair pair);

typedef struct mird_club_net {
    int mu_weight[2], mu_bias[2];         /* [0] layer 0, [1] layer 2 */
    int logvar_weight[2], logvar_bias[2];
    int64_t x_dim, y_dim;
} mird_club_net;

typedef struct mird_estimators {
    mird_club_net nets[MIRD_CLUB_PAIR_COUNT];
    int pair_count; /* 6, or 8 with input_mi */
    int64_t half_hidden, latent, audio_dim, vision_dim;
} mird_estimators;

typedef struct mird_estimator_inputs {
    const float *code[MIRD_CODE_COUNT]; /* [B, z] each */
    const float *audio_mean;            /* [B, d_a], read only with input_mi */
    const float *visual_mean;           /* [B, d_v], likewise */
} mird_estimator_inputs;

typedef struct mird_club_pair_acts {
    float *mu_hidden, *logvar_hidden; /* [B, h/2] after ReLU */
    float *mu, *logvar;               /* [B, d_y], logvar after tanh */
    int32_t *negatives;               /* [B] the permutation, with club_sample */
} mird_club_pair_acts;

typedef struct mird_estimator_acts {
    mird_club_pair_acts pair[MIRD_CLUB_PAIR_COUNT];
    /* Backward buffers, reused pair after pair. */
    float *d_mu, *d_logvar, *d_logvar_pre; /* [B, max d_y] */
    float *d_hidden, *d_hidden_pre;        /* [B, h/2] */
    int64_t batch;                         /* the planned batch: passes may be smaller */
} mird_estimator_acts;

typedef struct mird_estimator_results {
    double estimate[MIRD_CLUB_PAIR_COUNT];      /* CLUB estimates; NaN for absent pairs */
    double learning_loss[MIRD_CLUB_PAIR_COUNT]; /* likewise */
    double constraint;                          /* raw, before lambda */
    double estimator_loss;                      /* sum of the learning losses */
} mird_estimator_results;

/* Registers the networks from cfg's latent_dim, club_hidden, audio_dim,
 * vision_dim and input_mi.  Failures surface at mird_params_commit. */
void mird_estimators_register(mird_estimators *est, mird_param_table *table,
                              const mird_config *cfg);

void mird_estimators_plan(const mird_estimators *est, mird_arena *ws, int64_t batch,
                          mird_estimator_acts *acts);

/* Runs every network, the estimates, the learning losses and the
 * constraint.  Errors: NULL arguments (a code, or an input mean with
 * input_mi), a batch outside [0, planned batch], an unknown constraint. */
mird_status mird_estimators_forward(const mird_estimators *est, const mird_pass *pass,
                                    const mird_estimator_inputs *in,
                                    mird_estimator_acts *acts,
                                    mird_estimator_results *results);

/* d_code[c] += g * d constraint / d z^c, for each non-NULL d_code[c] ([B, z]).
 * Estimator parameter gradients are not touched. */
mird_status mird_estimators_backward_constraint(const mird_estimators *est,
                                                const mird_pass *pass,
                                                const mird_estimator_inputs *in,
                                                mird_estimator_acts *acts, double g,
                                                float *const d_code[MIRD_CODE_COUNT]);

/* Adds g * d estimator_loss / d theta into the estimator parameter gradients
 * of the table; the codes are treated as constants. */
mird_status mird_estimators_backward_learning(const mird_estimators *est,
                                              const mird_pass *pass,
                                              const mird_estimator_inputs *in,
                                              mird_estimator_acts *acts, double g);

/* mean[b, :] = mean of x[b, t, :] over t < lengths[b] (0 when the length is
 * 0), x [B, T, d] zero-padded.  Inputs are data, so there is no backward.
 * Errors: negative sizes, NULL pointers, a length outside [0, T]. */
mird_status mird_estimators_frame_means(mird_dnnl *ctx, const float *x, const int32_t *lengths,
                                        int64_t batch, int64_t T, int64_t d, float *mean);

#endif
