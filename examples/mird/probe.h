/* Linear probes: how well a linear read-out of a code recovers a factor.
 *
 * The disentanglement evidence of the demo and of its test: a ridge
 * least-squares fit of one planted factor on the codes of the training
 * samples (plus a bias), scored by R^2 on held-out samples.  A code that
 * carries the factor scores near 1, one that does not scores near 0 (or
 * below, on held-out data). */
#ifndef MIRD_EXAMPLES_PROBE_H
#define MIRD_EXAMPLES_PROBE_H

#include <stdint.h>

/* Fits target[i] ~ w . x[i] + b over n_fit rows of width d (rows `stride`
 * floats apart, so one code can be read out of [N, 4, z] codes), then
 * returns R^2 on the n_eval rows of x_eval / target_eval.  Returns NaN when
 * the held-out targets have no variance or memory runs out. */
double probe_r2(const float *x_fit, const float *target_fit, int64_t n_fit, const float *x_eval,
                const float *target_eval, int64_t n_eval, int64_t d, int64_t x_stride,
                int64_t target_stride);

#endif
