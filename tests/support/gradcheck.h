/* Finite-difference gradient checks.
 *
 * The test reduces an op's output to one double, L = sum_i w_i * y_i with
 * fixed random weights w (gc_weighted_sum), and runs the backward with
 * dy = w.  gc_check then nudges each input element up and down, re-runs the
 * forward, and compares the analytic gradient with the central difference
 * (L(x + h) - L(x - h)) / (x_up - x_down), computed in double precision with
 * the step actually taken in float, so representation error in the step
 * does not pollute the quotient. */
#ifndef MIRD_TESTS_GRADCHECK_H
#define MIRD_TESTS_GRADCHECK_H

#include <stddef.h>

typedef double (*gc_loss_fn)(void *user);

typedef struct gc_options {
    double eps;          /* step, scaled by max(1, |x_i|); default 4e-3 */
    double atol, rtol;   /* pass if |a - n| <= atol + rtol * max(|a|, |n|);
                            defaults 1e-3 and 1e-2 */
    size_t max_elements; /* check at most this many, evenly spread; 0 = all */
} gc_options;

extern const gc_options gc_default_options;

/* The loss as the tests define it: sum w_i y_i accumulated in double. */
double gc_weighted_sum(const float *y, const float *w, size_t n);

/* Checks d loss / d x against `analytic` for the elements of x (restored
 * afterwards).  Fails the running Check test, naming `name` and the worst
 * element, when any element is out of tolerance.  Returns the worst scaled
 * error, |a - n| / (atol + rtol * max(|a|, |n|)), which is <= 1 on success. */
double gc_check(const char *name, float *x, size_t n, const float *analytic, gc_loss_fn loss,
                void *user, const gc_options *options);

#endif
