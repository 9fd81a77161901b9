#include "support/modelutil.h"

#include <check.h>
#include <stdarg.h>

void mu_commit_params(mird_param_table *table, uint64_t seed)
{
    mird_error err = {0};
    ck_assert_msg(mird_params_commit(table, &err) == MIRD_OK, "%s", err.message);
    mird_params_initialise(table, seed);
}

mird_config mu_config(const char *preset, ...)
{
    mird_config cfg;
    mird_error err = {0};
    mird_config_reset(&cfg);
    ck_assert_msg(mird_config_apply_preset(&cfg, preset, &err) == MIRD_OK, "%s", err.message);
    va_list args;
    va_start(args, preset);
    for (const char *name = va_arg(args, const char *); name; name = va_arg(args, const char *)) {
        const char *value = va_arg(args, const char *);
        ck_assert_msg(mird_config_store_text(&cfg, name, value, &err) == MIRD_OK, "%s",
                      err.message);
    }
    va_end(args);
    return cfg;
}

mird_pass mu_pass(mird_dnnl *ctx, mird_param_table *table, const mird_config *cfg,
                  int64_t batch, int training)
{
    mird_pass pass = {ctx, table, cfg, batch, training, 1234, 7};
    return pass;
}

void mu_check_param_grads(mird_param_table *table, mird_param_group group, gc_loss_fn loss,
                          void *user, const gc_options *options)
{
    for (int i = 0; i < table->count; i++) {
        const mird_param_entry *e = &table->entries[i];
        if (e->group != group)
            continue;
        gc_check(e->name, mird_param_value(table, i), e->numel, mird_param_grad(table, i), loss,
                 user, options);
    }
}
