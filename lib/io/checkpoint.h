/* Checkpoints: a model's parameters and configuration, and optionally its
 * optimizer's state, in one safetensors file (mird.h, "Checkpoints"); and
 * pretrained weights loaded into a model by name.
 *
 * Format 1, as written by this release:
 *   tensors   every parameter under its table name (MODEL.md section 9), F32;
 *             with an optimizer, "optimizer.m.<name>" and "optimizer.v.<name>"
 *   metadata  "mird.format" = "1", "mird.version" = "MAJOR.MINOR.PATCH",
 *             "mird.config.<setting>" for every setting (in
 *             mird_config_set's text form), "mird.model.passes" (training
 *             passes run so far: they key the next pass's dropout masks, so a
 *             resumed run draws the masks the uninterrupted one would have),
 *             and with an optimizer "mird.optimizer.steps",
 *             "mird.optimizer.estimator_steps", "mird.optimizer.total_steps"
 *
 * Reading is all or nothing: everything the file says is checked (every
 * tensor's presence, dtype, shape and finiteness, every setting) before
 * anything is handed out or changed.
 *
 * Settings across releases: mird_param values are only ever appended, so a
 * release knows a prefix of them.  A checkpoint must hold every setting the
 * release that wrote it (its "mird.version") knew; a setting added by a later
 * release keeps its default, which by that rule reproduces what the older
 * release did; a setting this release does not know is an error (the file
 * asks for behaviour this release cannot give). */
#ifndef MIRD_IO_CHECKPOINT_H
#define MIRD_IO_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The newest checkpoint format this release reads, and the one it writes. */
#define MIRD_CHECKPOINT_FORMAT 1

/* `opt` may be NULL; otherwise it belongs to `model` (the caller checks). */
mird_status mird_checkpoint_save(const mird_model *model, const mird_optimizer *opt,
                                  const char *path, mird_error *err);

/* A new model built from the checkpoint's settings and holding its
 * parameters; *out stays NULL on failure. */
mird_status mird_checkpoint_load_model(const char *path, mird_model **out, mird_error *err);

/* The checkpoint's optimizer state into `opt`, whose model must have the
 * checkpoint's parameter names and shapes. */
mird_status mird_checkpoint_load_optimizer(mird_optimizer *opt, const char *path,
                                           mird_error *err);

/* mird_model_load_weights: tensors named from_prefix + rest into the
 * parameters named to_prefix + rest. */
mird_status mird_checkpoint_load_weights(mird_model *model, const char *path,
                                         const char *from_prefix, const char *to_prefix,
                                         int64_t *loaded, mird_error *err);

/* One metadata value into buf (NUL-terminated); reads the header alone. */
mird_status mird_checkpoint_read_metadata(const char *path, const char *key, char *buf,
                                          size_t size, size_t *needed, mird_error *err);

#endif
