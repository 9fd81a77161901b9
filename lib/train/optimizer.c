#include "train/optimizer.h"

#include <math.h>

void mird_adam_update(mird_param_table *table, mird_param_group group, float *m, float *v,
                      long long step, const mird_adam_settings *s)
{
    const float b1 = (float)s->beta1, b2 = (float)s->beta2, eps = (float)s->eps;
    const double correction1 = 1.0 - pow(s->beta1, (double)step);
    const double correction2 = 1.0 - pow(s->beta2, (double)step);
    /* Python computes these scalars in double, then the tensor op casts. */
    const float hf_step = (float)(s->lr * sqrt(correction2) / correction1);
    const float torch_step = (float)(s->lr / correction1);
    const float torch_sqrt2 = (float)sqrt(correction2);
    const float decay_step = (float)(s->lr * s->weight_decay);

    for (int i = 0; i < table->count; i++) {
        const mird_param_entry *e = &table->entries[i];
        if (e->group != group)
            continue;
        float *p = table->values + e->offset, *g = table->grads + e->offset;
        float *mi = m + e->offset, *vi = v + e->offset;
        const int decay = s->rule == MIRD_RULE_ADAMW_HF && e->decay && s->weight_decay != 0.0;
        const long long n = (long long)e->numel;
#pragma omp parallel for schedule(static) if (n > 16384)
        for (long long k = 0; k < n; k++) {
            float grad = g[k];
            mi[k] = mi[k] * b1 + grad * (1.0f - b1);
            vi[k] = vi[k] * b2 + (1.0f - b2) * grad * grad;
            if (s->rule == MIRD_RULE_ADAMW_HF) {
                float denom = sqrtf(vi[k]) + eps;
                p[k] = p[k] - hf_step * (mi[k] / denom);
                if (decay)
                    p[k] = p[k] - decay_step * p[k];
            } else {
                float denom = sqrtf(vi[k]) / torch_sqrt2 + eps;
                p[k] = p[k] - torch_step * (mi[k] / denom);
            }
        }
    }
}

double mird_schedule_factor(int linear, double warmup_fraction, long long total_steps,
                            long long step)
{
    if (!linear)
        return 1.0;
    long long warmup = (long long)floor(warmup_fraction * (double)total_steps);
    if (step < warmup)
        return (double)step / (double)(warmup > 1 ? warmup : 1);
    long long remaining = total_steps - warmup;
    double factor = (double)(total_steps - step) / (double)(remaining > 1 ? remaining : 1);
    return factor > 0.0 ? factor : 0.0;
}

double mird_grad_norm(const mird_param_table *table, mird_param_group group)
{
    /* Per-tensor sums in double, each summed sequentially, then added in
     * table order: a fixed order, whatever the thread count. */
    double total = 0.0;
    for (int i = 0; i < table->count; i++) {
        const mird_param_entry *e = &table->entries[i];
        if (e->group != group)
            continue;
        const float *g = table->grads + e->offset;
        double sum = 0.0;
        for (size_t k = 0; k < e->numel; k++)
            sum += (double)g[k] * g[k];
        total += sum;
    }
    return sqrt(total);
}

double mird_clip_grad_norm(mird_param_table *table, mird_param_group group, double max_norm)
{
    double norm = mird_grad_norm(table, group);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        float scale = (float)coef;
        size_t begin = table->group_begin[group], end = table->group_end[group];
        for (size_t k = begin; k < end; k++)
            table->grads[k] *= scale;
    }
    return norm;
}
