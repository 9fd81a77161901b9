#include "support/modelutil.h"

#include <check.h>
#include <stdarg.h>
#include <string.h>

#include "support/testutil.h"

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

void mu_tiny_make(mu_tiny *s)
{
    memset(s, 0, sizeof *s);
    ck_assert_int_eq(mird_config_create(&s->cfg), MIRD_OK);
    ck_assert_int_eq(mird_config_preset(s->cfg, "tiny"), MIRD_OK);
    ck_assert_int_eq(mird_model_create(s->cfg, &s->model), MIRD_OK);
    ck_assert_int_eq(mird_optimizer_create(s->model, &s->opt), MIRD_OK);
    tu_fill_uniform(s->text, sizeof s->text / 4, -1, 1, 1);
    tu_fill_uniform(s->audio, sizeof s->audio / 4, -1, 1, 2);
    tu_fill_uniform(s->vision, sizeof s->vision / 4, -1, 1, 3);
    tu_fill_uniform(s->labels, 5, -3, 3, 4);
    int32_t tl[5] = {6, 2, 6, 1, 4}, al[5] = {8, 3, 0, 8, 1}, vl[5] = {10, 10, 2, 0, 5};
    memcpy(s->text_len, tl, sizeof tl), memcpy(s->audio_len, al, sizeof al);
    memcpy(s->vision_len, vl, sizeof vl);
    ck_assert_int_eq(mird_batch_create(s->cfg, 5, &s->batch), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_text(s->batch, s->text, s->text_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_audio(s->batch, s->audio, s->audio_len, MIRD_BORROW), MIRD_OK);
    ck_assert_int_eq(mird_batch_set_vision(s->batch, s->vision, s->vision_len, MIRD_BORROW),
                     MIRD_OK);
    ck_assert_int_eq(mird_batch_set_labels(s->batch, s->labels, NULL, MIRD_BORROW), MIRD_OK);
}

void mu_tiny_destroy(mu_tiny *s)
{
    mird_batch_destroy(s->batch);
    mird_optimizer_destroy(s->opt);
    mird_model_destroy(s->model);
    mird_config_destroy(s->cfg);
}
