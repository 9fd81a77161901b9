#include "support/gradcheck.h"

#include <check.h>
#include <math.h>

const gc_options gc_default_options = {4e-3, 1e-3, 1e-2, 0};

double gc_weighted_sum(const float *y, const float *w, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)y[i] * w[i];
    return sum;
}

double gc_check(const char *name, float *x, size_t n, const float *analytic, gc_loss_fn loss,
                void *user, const gc_options *options)
{
    const gc_options *o = options ? options : &gc_default_options;
    size_t stride = 1;
    if (o->max_elements && n > o->max_elements)
        stride = (n + o->max_elements - 1) / o->max_elements;
    double worst = 0.0;
    size_t worst_index = 0;
    double worst_numeric = 0.0;
    for (size_t i = 0; i < n; i += stride) {
        float original = x[i];
        double step = o->eps * fmax(1.0, fabs((double)original));
        float up = (float)(original + step);
        float down = (float)(original - step);
        x[i] = up;
        double loss_up = loss(user);
        x[i] = down;
        double loss_down = loss(user);
        x[i] = original;
        double numeric = (loss_up - loss_down) / ((double)up - (double)down);
        double a = analytic[i];
        double scaled = fabs(a - numeric) / (o->atol + o->rtol * fmax(fabs(a), fabs(numeric)));
        if (!(scaled <= worst) || isnan(scaled)) {
            worst = isnan(scaled) ? INFINITY : scaled;
            worst_index = i;
            worst_numeric = numeric;
        }
    }
    ck_assert_msg(worst <= 1.0,
                  "gradient of %s[%zu]: analytic %.7g, finite difference %.7g "
                  "(scaled error %.3g > 1)",
                  name, worst_index, n ? analytic[worst_index] : 0.0, worst_numeric, worst);
    return worst;
}
