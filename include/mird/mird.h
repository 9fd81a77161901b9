/*
 * mird.h -- the public interface of libmird, and its specification.
 *
 * libmird trains and runs MIRD (Qian et al., arXiv 2409.12408), a multimodal
 * sentiment model that learns one modality-agnostic code and three
 * modality-specific codes and keeps them apart by minimising CLUB
 * mutual-information upper bounds.  Everything a caller may rely on is written
 * in this file; anything not written here is an implementation detail.
 *
 * ---------------------------------------------------------------------------
 * A short tour
 * ---------------------------------------------------------------------------
 *
 *   #include <mird/mird.h>
 *
 *   mird_config *cfg;                           // every setting, by enum or name
 *   mird_config_create(&cfg);
 *   mird_config_preset(cfg, "mosi");            // MMSA unaligned MOSI shapes
 *   mird_config_set(cfg, "lambda", "0.1");
 *
 *   mird_model *model;                          // parameters, seeded from cfg
 *   mird_optimizer *opt;                        // AdamW + the estimators' Adam
 *   mird_model_create(cfg, &model);
 *   mird_optimizer_create(model, &opt);
 *
 *   mird_batch *batch;                          // B padded samples from your arrays
 *   mird_batch_create(cfg, B, &batch);
 *   mird_batch_set_text(batch, text, text_lengths, MIRD_BORROW);   // [B, 50, 768]
 *   mird_batch_set_audio(batch, audio, audio_lengths, MIRD_BORROW); // [B, 375, 5]
 *   mird_batch_set_vision(batch, vision, vision_lengths, MIRD_BORROW);
 *   mird_batch_set_labels(batch, labels, labeled, MIRD_BORROW);    // labeled may be NULL
 *
 *   double terms[MIRD_TERM_COUNT];
 *   if (mird_step(model, opt, batch, terms, MIRD_TERM_COUNT) != MIRD_OK)
 *       fprintf(stderr, "%s\n", mird_model_error_message(model));
 *   printf("loss %g, MI(z^S; z^A) %g\n", terms[MIRD_TERM_TOTAL], terms[MIRD_TERM_MI_S_A]);
 *
 *   float predictions[B], codes[B * 4 * 64];    // z^S, z^L, z^A, z^V per sample
 *   mird_infer(model, batch, predictions, codes);
 *
 *   mird_batch_destroy(batch);
 *   mird_optimizer_destroy(opt);
 *   mird_model_destroy(model);
 *   mird_config_destroy(cfg);
 *
 * The same at a higher level: datasets, the training loop, metrics and a
 * checkpoint.
 *
 *   mird_dataset *train, *valid, *test;         // MMSA HDF5; also MFN, .csd, arrays
 *   mird_dataset_read_hdf5("mosi.h5", MIRD_SPLIT_TRAIN, "nonfinite=zero", &train);
 *   mird_dataset_read_hdf5("mosi.h5", MIRD_SPLIT_VALID, "nonfinite=zero", &valid);
 *   mird_dataset_read_hdf5("mosi.h5", MIRD_SPLIT_TEST, "nonfinite=zero", &test);
 *   mird_dataset_apply_shapes(train, cfg);      // the model takes the data's shapes
 *   ...create model and optimizer from cfg as above...
 *
 *   mird_report *report;                        // epochs, validation, best restore
 *   mird_fit(model, opt, train, NULL, valid, progress_fn, user_data, &report);
 *   double metrics[MIRD_METRIC_COUNT];          // MMSA's metrics on the test split
 *   mird_evaluate(model, test, metrics, MIRD_METRIC_COUNT, NULL);
 *   printf("MAE %.4f  Acc-7 %.4f\n", metrics[MIRD_METRIC_MAE], metrics[MIRD_METRIC_ACC7]);
 *   mird_model_save(model, opt, "mosi.safetensors");  // mird_model_load reads it back
 *
 *   mird_report_destroy(report);
 *   mird_dataset_destroy(train); ...
 *
 * Every call returns a mird_status (MIRD_OK is zero); mird_status_string()
 * names it and mird_last_error_message() says exactly what was wrong.
 * mird_set_num_threads() chooses the thread count, mird_set_log_callback()
 * receives diagnostics (the library itself never prints).
 *
 * ---------------------------------------------------------------------------
 * Conventions that hold for every function
 * ---------------------------------------------------------------------------
 *
 * Status and messages.  Every function that can fail returns a mird_status.
 * The numeric values of the enum are pinned: a value, once shipped, keeps its
 * meaning forever.  mird_status_string() gives static text for a status.  A
 * failing call also records a detailed message naming the offending argument
 * (for example "audio lengths[3] = 412 is outside 0..375"); calls made on a
 * handle keep it in the handle (the handle's own error query), and all calls
 * also leave it in a thread-local slot read by mird_last_error_message().
 *
 * Nothing is lost on failure.  A call that fails leaves every handle and file
 * it was given exactly as it was before the call.
 *
 * No output, no exit.  The library never writes to stdout or stderr, never
 * calls exit() or abort() because of anything a caller passed.  Diagnostics go
 * to the log callback, if one is set.
 *
 * Ownership.  Constructors write a new handle through an out-parameter and
 * the caller owns it; every destructor accepts NULL and does nothing with it.
 *
 * Threads.  A handle is used by one thread at a time; different handles may be
 * used concurrently from different threads.  The thread count and the log
 * callback are process-wide settings: set them before starting concurrent work.
 *
 * Numbers.  Arrays are row-major, float32 for values and int32 for lengths and
 * token ids, padded at the end of each sequence.  Randomness comes from a
 * counter-based generator keyed by the seed, so results do not depend on the
 * thread count's effect on scheduling.
 */
#ifndef MIRD_MIRD_H
#define MIRD_MIRD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Visibility                                                                */
/* ------------------------------------------------------------------------ */

/* MIRD_API marks the exported symbols; everything else in the shared library
 * is hidden.  Defining MIRD_STATIC before including this header (for a static
 * build of the library) removes the attribute. */
#if defined(MIRD_STATIC)
#define MIRD_API
#elif defined(_WIN32)
#if defined(MIRD_BUILDING_LIBRARY)
#define MIRD_API __declspec(dllexport)
#else
#define MIRD_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define MIRD_API __attribute__((visibility("default")))
#else
#define MIRD_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                   */
/* ------------------------------------------------------------------------ */

#define MIRD_VERSION_MAJOR 0
#define MIRD_VERSION_MINOR 1
#define MIRD_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH; the shared library's SONAME is
 * libmird.so.MAJOR, and a program built against one MAJOR runs with any later
 * MINOR or PATCH of it. */
#define MIRD_VERSION_NUMBER \
    (MIRD_VERSION_MAJOR * 10000 + MIRD_VERSION_MINOR * 100 + MIRD_VERSION_PATCH)

/* The version of the library loaded at run time, as MIRD_VERSION_NUMBER. */
MIRD_API unsigned mird_version_number(void);

/* The same as "MAJOR.MINOR.PATCH"; static storage, never NULL. */
MIRD_API const char *mird_version_string(void);

/* ------------------------------------------------------------------------ */
/* Status codes (values pinned; new codes are only ever appended)            */
/* ------------------------------------------------------------------------ */

typedef enum mird_status {
    MIRD_OK = 0,                  /* success */
    MIRD_ERR_NULL_ARGUMENT = 1,   /* a required pointer or handle was NULL */
    MIRD_ERR_INVALID_ARGUMENT = 2, /* a value is out of its documented range */
    MIRD_ERR_SHAPE = 3,           /* sizes, lengths or shapes do not agree */
    MIRD_ERR_NONFINITE = 4,       /* an input holds NaN or infinity */
    MIRD_ERR_OUT_OF_MEMORY = 5,   /* an allocation failed */
    MIRD_ERR_IO = 6,              /* a file could not be read or written */
    MIRD_ERR_FORMAT = 7,          /* a file's contents are malformed */
    MIRD_ERR_STATE = 8,           /* the call is not valid in the handle's state */
    MIRD_ERR_UNSUPPORTED = 9,     /* valid, but not supported by this build */
    MIRD_ERR_BACKEND = 10,        /* the compute backend (oneDNN) failed */
    MIRD_ERR_CANCELLED = 11,      /* a callback asked to stop */
    MIRD_ERR_INTERNAL = 12        /* a bug in libmird; please report it */
} mird_status;

/* Static English text for a status ("invalid argument", ...); never NULL.
 * An unknown value gives "unknown status". */
MIRD_API const char *mird_status_string(mird_status status);

/* The detailed message of the last failing libmird call made on this thread,
 * or "" if none has failed.  The pointer stays valid until the next libmird
 * call on the same thread. */
MIRD_API const char *mird_last_error_message(void);

/* ------------------------------------------------------------------------ */
/* Handles (opaque; created and destroyed by the library)                    */
/* ------------------------------------------------------------------------ */

typedef struct mird_config mird_config;       /* model and training settings */
typedef struct mird_model mird_model;         /* parameters and workspaces */
typedef struct mird_optimizer mird_optimizer; /* optimizer state and schedule */
typedef struct mird_batch mird_batch;         /* one padded batch of samples */
typedef struct mird_dataset mird_dataset;     /* samples with splits */

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */
/* ------------------------------------------------------------------------ */

/* Sets how many threads libmird's compute uses, from 1 to 1024; 0 restores
 * the default (the OpenMP default, usually the number of cores).  libmird's
 * heavy work runs on oneDNN over OpenMP with this many threads; its small
 * host-side products run on one OpenBLAS thread, so the two pools never
 * compete for cores.  Process-wide.  Reproducibility: on CPUs where oneDNN
 * runs its AVX-512 kernels, the same seed and inputs give bit-identical
 * parameters after a step on any thread count (tested on 1 and 2); on CPUs
 * with only narrower vectors some of oneDNN's products split their sums by
 * thread, and results agree to rounding instead.
 * Errors: MIRD_ERR_INVALID_ARGUMENT for a count outside 0..1024. */
MIRD_API mird_status mird_set_num_threads(int num_threads);

/* The thread count libmird's compute will use now (always >= 1). */
MIRD_API int mird_get_num_threads(void);

/* ------------------------------------------------------------------------ */
/* Logging                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum mird_log_level {
    MIRD_LOG_ERROR = 0,
    MIRD_LOG_WARNING = 1,
    MIRD_LOG_INFO = 2,
    MIRD_LOG_DEBUG = 3
} mird_log_level;

/* Receives one complete message, without a trailing newline.  The text is
 * only valid during the call.  The callback may be called from any thread
 * that is inside a libmird call, and must not call back into libmird. */
typedef void (*mird_log_fn)(mird_log_level level, const char *message,
                            void *user_data);

/* Installs a process-wide log callback that receives messages at `max_level`
 * and below (MIRD_LOG_ERROR is the most severe).  NULL removes it; with no
 * callback, messages are dropped.
 * Errors: MIRD_ERR_INVALID_ARGUMENT for a level outside the enum. */
MIRD_API mird_status mird_set_log_callback(mird_log_fn callback,
                                           mird_log_level max_level,
                                           void *user_data);

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

/* A mird_config holds every setting of the model and its training as one
 * value per mird_param.  Settings are read and written through the enum
 * (values pinned, new ones only appended) or by name (the names below, for
 * config files, command lines and bindings), never through a struct.  Each
 * setting has bounds; a setter given a value out of bounds fails with
 * MIRD_ERR_INVALID_ARGUMENT and changes nothing.  Settings that depend on each
 * other (heads must divide the width, ...) are checked when a model is made.
 *
 *   mird_config *cfg;
 *   mird_config_create(&cfg);                 // defaults: the "mosi" preset
 *   mird_config_preset(cfg, "tiny");          // or "demo", "mosi", "mosei", "bert-base"
 *   mird_config_set_real(cfg, MIRD_PARAM_LAMBDA, 0.1);
 *   mird_config_set(cfg, "constraint", "oc"); // by name, locale-proof
 *   ...
 *   mird_config_destroy(cfg);
 *
 * name (enum)                  kind     range / values              default
 * text_mode (TEXT_MODE)        choice   features, tokens            features
 * text_length (TEXT_LENGTH)    int      1..4096   padded T_l        50
 * text_dim (TEXT_DIM)          int      1..65536  d_l (features)    768
 * vocab_size (VOCAB_SIZE)      int      1..1000000 (tokens)         30522
 * max_positions                int      1..4096   >= text_length    50
 * audio_length, audio_dim      int      1..100000, 1..65536         375, 5
 * vision_length, vision_dim    int      1..100000, 1..65536         500, 20
 * hidden (HIDDEN)              int      1..8192   H                 128
 * layers (LAYERS)              int      1..64                       2
 * heads (HEADS)                int      1..256, divides hidden      4
 * ffn_dim (FFN_DIM)            int      1..65536  d_ff              512
 * latent_dim (LATENT_DIM)      int      1..4096   z                 64
 * regressor_dim                int      1..4096   r                 64
 * club_hidden                  int      2..4096, even               32
 * language_encoder             choice   transformer, lstm           transformer
 * lstm_embedding_dim           int      1..4096 (lstm + tokens)     128
 * constraint                   choice   mim, oc, none               mim
 * oc_detach_norm               int      0..1                        0
 * total                        choice   log, weighted               log
 * lambda                       real     0..1e6                      1
 * weight_rec_l/_a/_v           real     0..1e6 (total = weighted)   1
 * input_mi                     int      0..1                        1
 * mask_padding                 int      0..1                        1
 * club_sample                  int      0..1                        0
 * estimator_inputs             choice   recompute, cached           recompute
 * estimator_steps              int      0..1000   K                 5
 * beta_shift                   real     0..1e6                      1
 * dropout_hidden/_wsa/_proj/_reg real   0..0.99                     0.1, 0.5, 0.5, 0.5
 * learning_rate                real     0..10                       1e-3
 * estimator_learning_rate      real     0..10                       1e-3
 * weight_decay                 real     0..10                       0.01
 * schedule                     choice   constant, linear            linear
 * warmup                       real     0..1 (fraction of steps)    0.1
 * clip_norm                    real     0..1e6 (0 = off)            0
 * seed                         int      0..2^53                     1
 * batch_size                   int      1..100000                   48
 * epochs                       int      1..100000                   100
 * unlabeled_ratio              real     0..1000                     2
 * patience                     int      0..100000 (0 = off)         10
 * select_by                    choice   mae, loss                   mae
 */
typedef enum mird_param {
    MIRD_PARAM_TEXT_MODE = 0,
    MIRD_PARAM_TEXT_LENGTH = 1,
    MIRD_PARAM_TEXT_DIM = 2,
    MIRD_PARAM_VOCAB_SIZE = 3,
    MIRD_PARAM_MAX_POSITIONS = 4,
    MIRD_PARAM_AUDIO_LENGTH = 5,
    MIRD_PARAM_AUDIO_DIM = 6,
    MIRD_PARAM_VISION_LENGTH = 7,
    MIRD_PARAM_VISION_DIM = 8,
    MIRD_PARAM_HIDDEN = 9,
    MIRD_PARAM_LAYERS = 10,
    MIRD_PARAM_HEADS = 11,
    MIRD_PARAM_FFN_DIM = 12,
    MIRD_PARAM_LATENT_DIM = 13,
    MIRD_PARAM_REGRESSOR_DIM = 14,
    MIRD_PARAM_CLUB_HIDDEN = 15,
    MIRD_PARAM_LANGUAGE_ENCODER = 16,
    MIRD_PARAM_LSTM_EMBEDDING_DIM = 17,
    MIRD_PARAM_CONSTRAINT = 18,
    MIRD_PARAM_OC_DETACH_NORM = 19,
    MIRD_PARAM_TOTAL = 20,
    MIRD_PARAM_LAMBDA = 21,
    MIRD_PARAM_WEIGHT_REC_L = 22,
    MIRD_PARAM_WEIGHT_REC_A = 23,
    MIRD_PARAM_WEIGHT_REC_V = 24,
    MIRD_PARAM_INPUT_MI = 25,
    MIRD_PARAM_MASK_PADDING = 26,
    MIRD_PARAM_CLUB_SAMPLE = 27,
    MIRD_PARAM_ESTIMATOR_INPUTS = 28,
    MIRD_PARAM_ESTIMATOR_STEPS = 29,
    MIRD_PARAM_BETA_SHIFT = 30,
    MIRD_PARAM_DROPOUT_HIDDEN = 31,
    MIRD_PARAM_DROPOUT_WSA = 32,
    MIRD_PARAM_DROPOUT_PROJ = 33,
    MIRD_PARAM_DROPOUT_REG = 34,
    MIRD_PARAM_LEARNING_RATE = 35,
    MIRD_PARAM_ESTIMATOR_LEARNING_RATE = 36,
    MIRD_PARAM_WEIGHT_DECAY = 37,
    MIRD_PARAM_SCHEDULE = 38,
    MIRD_PARAM_WARMUP = 39,
    MIRD_PARAM_CLIP_NORM = 40,
    MIRD_PARAM_SEED = 41,
    MIRD_PARAM_BATCH_SIZE = 42,
    MIRD_PARAM_EPOCHS = 43,
    MIRD_PARAM_UNLABELED_RATIO = 44,
    MIRD_PARAM_PATIENCE = 45,
    MIRD_PARAM_SELECT_BY = 46
} mird_param;

/* Values of the choice settings (pinned). */
enum { MIRD_TEXT_FEATURES = 0, MIRD_TEXT_TOKENS = 1 };
enum { MIRD_LANGUAGE_TRANSFORMER = 0, MIRD_LANGUAGE_LSTM = 1 };
enum { MIRD_CONSTRAINT_MIM = 0, MIRD_CONSTRAINT_OC = 1, MIRD_CONSTRAINT_NONE = 2 };
enum { MIRD_TOTAL_LOG = 0, MIRD_TOTAL_WEIGHTED = 1 };
enum { MIRD_ESTIMATOR_RECOMPUTE = 0, MIRD_ESTIMATOR_CACHED = 1 };
enum { MIRD_SCHEDULE_CONSTANT = 0, MIRD_SCHEDULE_LINEAR = 1 };
enum { MIRD_SELECT_MAE = 0, MIRD_SELECT_LOSS = 1 };

/* A new configuration holding the defaults above.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_config_create(mird_config **out);

/* A new configuration equal to `src`. */
MIRD_API mird_status mird_config_copy(const mird_config *src, mird_config **out);

/* Frees the configuration; NULL is ignored. */
MIRD_API void mird_config_destroy(mird_config *cfg);

/* Resets every setting to its default, then applies a preset of MODEL.md
 * section 8: "tiny" (tests), "mosi", "mosei" (MMSA unaligned features, a
 * small transformer trained from scratch), "bert-base" (tokens, 768/12/12,
 * 512 positions, learning rate 1e-5, MOSI's audio and visual shapes), and
 * "demo", the synthetic demo's model (text 12 x 24, audio 20 x 8, visual
 * 20 x 12, H = 32 with 1 layer and 4 heads, z = r = CLUB h = 16, batch 32,
 * 30 epochs, patience 8, learning rate 2e-3, dropout 0.1 throughout,
 * lambda = 3, input_mi = 0: the synthetic frames carry the shared factor in
 * their means, which the input terms would push out of z^S).
 * Errors: MIRD_ERR_INVALID_ARGUMENT for an unknown name (cfg unchanged). */
MIRD_API mird_status mird_config_preset(mird_config *cfg, const char *preset);

/* Typed setters and getters.  An integer or choice setting given through
 * set_real must hold an integral value.  Getters return 0 for an unknown
 * param or a NULL cfg.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT (unknown param,
 * out of bounds, not integral); cfg is unchanged on error. */
MIRD_API mird_status mird_config_set_int(mird_config *cfg, mird_param param, long long value);
MIRD_API mird_status mird_config_set_real(mird_config *cfg, mird_param param, double value);
MIRD_API long long mird_config_get_int(const mird_config *cfg, mird_param param);
MIRD_API double mird_config_get_real(const mird_config *cfg, mird_param param);

/* Sets a setting by its name from text: a number ("0.1", "1e-3", "48"),
 * "true"/"false" for 0..1 settings, or a choice's name ("oc").  Parsing does
 * not depend on the process's locale.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT (unknown name,
 * unparsable text, out of bounds); cfg unchanged on error. */
MIRD_API mird_status mird_config_set(mird_config *cfg, const char *name, const char *value);

/* The name of a setting ("latent_dim"), or NULL for an unknown param;
 * static storage. */
MIRD_API const char *mird_param_name(mird_param param);

/* The setting called `name`.  Errors: MIRD_ERR_NULL_ARGUMENT,
 * MIRD_ERR_INVALID_ARGUMENT for an unknown name. */
MIRD_API mird_status mird_param_from_name(const char *name, mird_param *out);

/* Writes the current value of a setting as text, as mird_config_set()
 * accepts it (choice names for choices, shortest round-trip numbers
 * otherwise), NUL-terminated, into buf of `size` bytes.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT (unknown param,
 * or buf too small: then buf holds "" if size > 0). */
MIRD_API mird_status mird_config_get_text(const mird_config *cfg, mird_param param, char *buf,
                                          size_t size);

/* The message of the last failing call on this configuration, or "". */
MIRD_API const char *mird_config_error_message(const mird_config *cfg);

/* ------------------------------------------------------------------------ */
/* Batches                                                                   */
/* ------------------------------------------------------------------------ */

/* A batch holds B samples in the padded shapes of the configuration it was
 * made for: text [B, text_length, text_dim] float features (text_mode =
 * features) or [B, text_length] int32 token ids (text_mode = tokens), audio
 * [B, audio_length, audio_dim], vision [B, vision_length, vision_dim], each
 * with int32 lengths [B] giving the valid prefix of every sample (0 is a
 * missing modality), and float labels [B] with an optional labeled mask.
 * Arrays are row-major and dense.  A model accepts a batch only if it was
 * made for a configuration with the same shapes.
 *
 * Ownership: with MIRD_BORROW the batch keeps the caller's pointers, which
 * must stay valid and unchanged until the batch is destroyed or the field is
 * set again; with MIRD_COPY the batch copies the arrays at once.  Every array
 * is validated when it is set, padding included: lengths within 0..T, values
 * finite, token ids within the vocabulary.  A failing setter leaves the field
 * as it was. */
typedef enum mird_ownership { MIRD_BORROW = 0, MIRD_COPY = 1 } mird_ownership;

/* A new, empty batch of `batch_size` samples (1..1000000) shaped by cfg (cfg
 * is only read; it may be destroyed afterwards).
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT, MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_batch_create(const mird_config *cfg, int64_t batch_size,
                                       mird_batch **out);

/* Frees the batch and its copies (never borrowed arrays); NULL is ignored. */
MIRD_API void mird_batch_destroy(mird_batch *batch);

/* The number of samples, or 0 for NULL. */
MIRD_API int64_t mird_batch_size(const mird_batch *batch);

/* Text features (text_mode = features).  Errors: MIRD_ERR_NULL_ARGUMENT,
 * MIRD_ERR_STATE (tokens configuration), MIRD_ERR_SHAPE (a length outside
 * 0..text_length), MIRD_ERR_NONFINITE, MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_batch_set_text(mird_batch *batch, const float *features,
                                         const int32_t *lengths, mird_ownership own);

/* Token ids (text_mode = tokens), [CLS] first.  Errors as above, plus
 * MIRD_ERR_INVALID_ARGUMENT for an id outside 0..vocab_size-1. */
MIRD_API mird_status mird_batch_set_tokens(mird_batch *batch, const int32_t *ids,
                                           const int32_t *lengths, mird_ownership own);

/* Acoustic and visual sequences.  Errors as for mird_batch_set_text. */
MIRD_API mird_status mird_batch_set_audio(mird_batch *batch, const float *audio,
                                          const int32_t *lengths, mird_ownership own);
MIRD_API mird_status mird_batch_set_vision(mird_batch *batch, const float *vision,
                                           const int32_t *lengths, mird_ownership own);

/* Labels.  `labeled` (0 or 1 per sample) marks which samples carry a label;
 * NULL means all do.  The labels of unlabeled samples are ignored (NaN is
 * fine there); a labeled sample's label must be finite.  The labeled mask is
 * always copied.  Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_NONFINITE,
 * MIRD_ERR_INVALID_ARGUMENT (a mask value other than 0 or 1),
 * MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_batch_set_labels(mird_batch *batch, const float *labels,
                                           const uint8_t *labeled, mird_ownership own);

/* The message of the last failing call on this batch, or "". */
MIRD_API const char *mird_batch_error_message(const mird_batch *batch);

/* ------------------------------------------------------------------------ */
/* Models, optimizers, training steps and inference                          */
/* ------------------------------------------------------------------------ */

/* A model holds MIRD's parameters (model and CLUB estimators, named as in
 * MODEL.md section 9), its oneDNN primitives and the workspaces of a pass.
 * It keeps its own copy of the configuration.  Parameters are initialised
 * from the configuration's seed as MODEL.md section 5 says.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT (settings that
 * contradict each other, named in the message), MIRD_ERR_OUT_OF_MEMORY,
 * MIRD_ERR_BACKEND. */
MIRD_API mird_status mird_model_create(const mird_config *cfg, mird_model **out);

/* Frees the model; NULL is ignored.  Destroy its optimizers first. */
MIRD_API void mird_model_destroy(mird_model *model);

/* The message of the last failing call on this model, or "". */
MIRD_API const char *mird_model_error_message(const mird_model *model);

/* A copy of the model's configuration, owned by the caller. */
MIRD_API mird_status mird_model_get_config(const mird_model *model, mird_config **out);

/* Learnable values in the model (estimators included), or 0 for NULL. */
MIRD_API int64_t mird_model_parameter_count(const mird_model *model);

/* An optimizer bound to one model: AdamW for the model's parameters and
 * Adam for the estimators (MODEL.md section 4), with the configuration's
 * learning rates, weight decay, schedule and clipping.  The linear schedule
 * needs the run's length: set it with mird_optimizer_set_total_steps (until
 * then the schedule is constant).
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_optimizer_create(mird_model *model, mird_optimizer **out);

/* Frees the optimizer; NULL is ignored. */
MIRD_API void mird_optimizer_destroy(mird_optimizer *opt);

/* The number of mird_step calls the schedule spans (>= 1).
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT. */
MIRD_API mird_status mird_optimizer_set_total_steps(mird_optimizer *opt, int64_t total_steps);

/* Completed mird_step calls with this optimizer. */
MIRD_API int64_t mird_optimizer_step_count(const mird_optimizer *opt);

/* What one training step reports (values pinned; new ones only appended).
 * A term that does not apply to the step is NaN: the task loss of a batch
 * without labeled samples, a reconstruction term no sample counts in, the
 * input MI terms without input_mi. */
typedef enum mird_term {
    MIRD_TERM_TOTAL = 0,      /* the loss the model was updated on */
    MIRD_TERM_TASK = 1,       /* MSE over the labeled samples */
    MIRD_TERM_REC_L = 2,      /* reconstruction terms (MODEL.md 2.4, 3) */
    MIRD_TERM_REC_A = 3,
    MIRD_TERM_REC_V = 4,
    MIRD_TERM_CONSTRAINT = 5, /* before lambda: MI sum (mim), OC sum (oc), 0 (none) */
    MIRD_TERM_ESTIMATOR = 6,  /* learning loss of the last estimator step */
    MIRD_TERM_MI_L_A = 7,     /* the CLUB estimates of the model step */
    MIRD_TERM_MI_L_V = 8,
    MIRD_TERM_MI_A_V = 9,
    MIRD_TERM_MI_S_L = 10,
    MIRD_TERM_MI_S_A = 11,
    MIRD_TERM_MI_S_V = 12,
    MIRD_TERM_MI_S_XA = 13,
    MIRD_TERM_MI_S_XV = 14,
    MIRD_TERM_GRAD_NORM = 15, /* model gradient norm before clipping */
    MIRD_TERM_LEARNING_RATE = 16 /* the model learning rate this step used */
} mird_term;

/* How many terms this version reports (MIRD_TERM_LEARNING_RATE + 1). */
#define MIRD_TERM_COUNT 17

/* "total", "task", "rec_l", ..., "mi_s_xv", "grad_norm", "learning_rate";
 * NULL for an unknown term. */
MIRD_API const char *mird_term_name(mird_term term);

/* One training step on the batch (MODEL.md section 4): a training-mode
 * forward, the total loss, its backward, optional clipping and an AdamW
 * update of the model, then estimator_steps Adam updates of the CLUB
 * estimators.  `terms` (may be NULL) receives min(n_terms, MIRD_TERM_COUNT)
 * values indexed by mird_term.  The batch needs text, audio, vision and
 * labels set (labels may mark every sample unlabeled).
 * On any error the model and the optimizer are left bit-for-bit as they
 * were, and `terms` is untouched.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT (an optimizer
 * of another model), MIRD_ERR_SHAPE (a batch made for other shapes),
 * MIRD_ERR_STATE (a batch field not set), MIRD_ERR_NONFINITE (the loss or
 * a gradient is not finite), MIRD_ERR_OUT_OF_MEMORY, MIRD_ERR_BACKEND. */
MIRD_API mird_status mird_step(mird_model *model, mird_optimizer *opt, const mird_batch *batch,
                               double *terms, size_t n_terms);

/* Predictions for every sample of the batch in inference mode (no dropout):
 * predictions [B]; codes, if not NULL, [B, 4, latent_dim] holding z^S, z^L,
 * z^A, z^V per sample.  Needs text, audio and vision; labels are ignored.
 * The model's parameters are not changed.  A batch of fewer than 16 samples
 * runs on one thread whatever mird_set_num_threads() says: at that size
 * synchronising threads costs more than it gains.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_SHAPE, MIRD_ERR_STATE,
 * MIRD_ERR_OUT_OF_MEMORY, MIRD_ERR_BACKEND. */
MIRD_API mird_status mird_infer(mird_model *model, const mird_batch *batch, float *predictions,
                                float *codes);

/* ------------------------------------------------------------------------ */
/* Datasets                                                                  */
/* ------------------------------------------------------------------------ */

/* A dataset is N samples in padded shapes, like a batch of N, plus an
 * optional string id per sample and, for synthetic data, the planted
 * factors.  A dataset made from arrays takes its shapes from the
 * configuration it was made for; one read from a file takes them from the
 * file, and mird_dataset_apply_shapes() copies them into a configuration so
 * that a model made from it accepts the dataset.  Datasets are read-only once
 * made: training and evaluation never change them, so one dataset may serve
 * several models (one thread at a time).
 *
 * Options.  The functions that make datasets take an options string of
 * comma-separated key=value pairs ("nonfinite=zero,labels=none"); NULL or ""
 * means the defaults.  Every maker knows
 *   nonfinite=error|zero  a NaN or infinity in a feature array is an error
 *                         (default), or is read as 0 (as MMSA's loader does
 *                         with the -inf of COVAREP audio)
 *   labels=yes|none       none makes every sample unlabeled (an unlabeled
 *                         set for mird_fit, whatever the source holds)
 * and the keys listed with each maker.  The two file readers with splits,
 * mird_dataset_read_hdf5 and mird_dataset_read_mfn, also know
 *   standardize=none|train  train turns every feature (text features, audio,
 *                         vision) into z-scores with the mean and standard
 *                         deviation of that feature over the valid frames of
 *                         the same source's training split (read for the
 *                         purpose when another split is asked for), so every
 *                         split gets the same affine map and no statistic
 *                         comes from validation or test data; padding stays
 *                         0, a feature with a standard deviation below 1e-8
 *                         is only centred, and a modality the training split
 *                         lacks is left as read.  Raw COVAREP audio spans
 *                         hundreds of units and saturates recurrent encoders.
 *                         Give the same option when evaluating a model.  An unknown key or value fails with
 * MIRD_ERR_INVALID_ARGUMENT naming it. */

typedef enum mird_split { MIRD_SPLIT_TRAIN = 0, MIRD_SPLIT_VALID = 1, MIRD_SPLIT_TEST = 2 } mird_split;

/* "train", "valid", "test"; NULL outside the enum. */
MIRD_API const char *mird_split_name(mird_split split);

/* An empty dataset of `size` samples (1..1000000) shaped by cfg, to be
 * filled by the setters below (the same rules as the batch setters: borrow
 * or copy, validated when set, a failing setter changes nothing).  With
 * nonfinite=zero a borrowed array holding non-finite values is copied and
 * the copy zeroed; the caller's array is never written.  With labels=none
 * the dataset has labels from the start, every sample unlabeled, and labels
 * set later are checked (mask values) but stored unlabeled too.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT,
 * MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_dataset_create(const mird_config *cfg, int64_t size, const char *options,
                                         mird_dataset **out);
MIRD_API mird_status mird_dataset_set_text(mird_dataset *ds, const float *features,
                                           const int32_t *lengths, mird_ownership own);
MIRD_API mird_status mird_dataset_set_tokens(mird_dataset *ds, const int32_t *ids,
                                             const int32_t *lengths, mird_ownership own);
MIRD_API mird_status mird_dataset_set_audio(mird_dataset *ds, const float *audio,
                                            const int32_t *lengths, mird_ownership own);
MIRD_API mird_status mird_dataset_set_vision(mird_dataset *ds, const float *vision,
                                             const int32_t *lengths, mird_ownership own);
MIRD_API mird_status mird_dataset_set_labels(mird_dataset *ds, const float *labels,
                                             const uint8_t *labeled, mird_ownership own);
/* Sample ids (copied), e.g. "03bSnISJMiM_1"; every id non-NULL.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_dataset_set_ids(mird_dataset *ds, const char *const *ids);

/* Frees the dataset and its copies (never borrowed arrays); NULL is ignored. */
MIRD_API void mird_dataset_destroy(mird_dataset *ds);

/* The number of samples, or 0 for NULL. */
MIRD_API int64_t mird_dataset_size(const mird_dataset *ds);

/* The message of the last failing call on this dataset, or "". */
MIRD_API const char *mird_dataset_error_message(const mird_dataset *ds);

/* Writes the dataset's shapes into cfg: text_mode, text_length, text_dim
 * (features) or, for token ids, raises vocab_size when it is too small for
 * the data; raises max_positions to text_length when it is below it; sets
 * audio_length, audio_dim, vision_length, vision_dim.  Nothing else changes.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT (a shape outside
 * the settings' bounds; cfg unchanged). */
MIRD_API mird_status mird_dataset_apply_shapes(const mird_dataset *ds, mird_config *cfg);

/* Copies the labels [N] and the labeled mask [N] (1 = labeled); either
 * pointer may be NULL.  Unlabeled samples' labels read as NaN.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_STATE (labels never set). */
MIRD_API mird_status mird_dataset_get_labels(const mird_dataset *ds, float *labels,
                                             uint8_t *labeled);

/* The id of sample `index`, or NULL when the dataset has no ids or the index
 * is out of range.  Valid while the dataset lives. */
MIRD_API const char *mird_dataset_id(const mird_dataset *ds, int64_t index);

/* A new dataset holding copies of the samples at `indices` (in that order;
 * repeats allowed), with their ids and factors (and no labels when the
 * dataset has none).
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT (an index out of
 * range, count outside 1..1000000), MIRD_ERR_STATE (a field never set),
 * MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_dataset_subset(const mird_dataset *ds, const int64_t *indices,
                                         int64_t count, mird_dataset **out);

/* Copies samples [first, first + count) into a batch of exactly `count`
 * samples made for the same shapes (a larger vocabulary will do for token
 * ids): every field is copied, unlabeled samples keep their mark, and a
 * dataset without labels leaves the batch without labels.  On error the
 * batch is unchanged.  Errors: MIRD_ERR_NULL_ARGUMENT,
 * MIRD_ERR_INVALID_ARGUMENT (range), MIRD_ERR_SHAPE (batch size or shapes),
 * MIRD_ERR_STATE (text, audio or vision never set), MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_dataset_fill_batch(const mird_dataset *ds, int64_t first, int64_t count,
                                             mird_batch *batch);

/* HDF5 in the MMSA layout: /<split>/{text | text_bert, audio, vision,
 * audio_lengths, vision_lengths, regression_labels, id} as written by the
 * Python converter from MMSA's unaligned_50.pkl.  text is [N, T_l, d_l]
 * features with position 0 the [CLS] vector; text_bert is [N, 3, T_l]
 * (token ids, attention mask, segment ids) and the text length is the mask's
 * sum (also for features; without text_bert, the count of leading rows that
 * are not all zero).  Numbers may be stored in any integer or floating type
 * (token ids and lengths must be whole int32 values), ids as fixed- or
 * variable-length strings.  Extra key: text=features|tokens (default:
 * features when /<split>/text exists, tokens otherwise).
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT, MIRD_ERR_IO (the
 * file cannot be opened), MIRD_ERR_FORMAT (a missing dataset, a wrong rank,
 * sizes that disagree between fields, lengths beyond the padding),
 * MIRD_ERR_NONFINITE, MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_dataset_read_hdf5(const char *path, mird_split split,
                                            const char *options, mird_dataset **out);

/* The word-aligned HDF5 files of the Memory Fusion Network release (ICT-MMMO,
 * YouTube, POM): directory/{text_<split>_emb,audio_<split>,video_<split>,
 * y_<split>}.h5, each holding one numeric dataset (whatever its name).
 * A modality whose file is absent is missing for every sample (length 0; its
 * padded length and width are taken from another split's file when one
 * exists, else it is shaped 1 x 1).  A sequence's valid frames run from its
 * first to its last frame that is not all zeros and are moved to the front
 * (libmird pads at the end); a sequence with no such frame has length 0.
 * Extra keys: label_column=N (for [N, k] labels; default 0),
 * label_offset=x and label_scale=y (a label l becomes (l + x) * y; ICT-MMMO's
 * 1..5 maps to [-3, 3] with label_offset=-3,label_scale=1.5).
 * Errors as for mird_dataset_read_hdf5. */
MIRD_API mird_status mird_dataset_read_mfn(const char *directory, mird_split split,
                                           const char *options, mird_dataset **out);

/* CMU-MultimodalSDK computational sequences (.csd, HDF5): a label sequence
 * and up to three feature sequences (NULL for a modality without one, which
 * is then missing: length 0, shaped 1 x 1).  Samples are the label
 * sequence's segments (the label is the first feature column), ordered by
 * video id and then as the file stores them; a segment's id is
 * "<video>_<k>" with k its position from 1 among its video's stored
 * segments.  That is the CMU-MOSI clip numbering, which is time order except
 * for a few segments added later.  A feature sequence contributes, for each
 * segment, the frames of the same video whose intervals lie inside the
 * segment's interval (to within 0.1 ms), in time order; a segment whose video
 * the feature file lacks is an error.  Extra keys: folds=<path> and
 * split=train|valid|test (keep the videos a "video_id<TAB>split" file assigns
 * to that split; a first line "video_id<TAB>split" is a heading),
 * text_length=N, audio_length=N, vision_length=N (pad or keep the first N
 * frames of a modality that has a sequence; default: the longest segment's
 * count, at least 1).
 * Errors as for mird_dataset_read_hdf5. */
MIRD_API mird_status mird_dataset_read_csd(const char *labels_path, const char *text_path,
                                           const char *audio_path, const char *vision_path,
                                           const char *options, mird_dataset **out);

/* How many planted factors a synthetic sample has: shared, then the
 * language, acoustic and visual private factors. */
#define MIRD_SYNTHETIC_FACTORS 4

/* Seeded synthetic data in cfg's shapes (features text): every sample draws
 * a shared factor s and one private factor per modality p_L, p_A, p_V, each
 * N(0, 1); each modality's frames mix the shared factor and its own private
 * factor through fixed random patterns (the same for every split of one
 * seed; orthogonal in feature space, slowly modulated in time) plus noise of
 * standard deviation 0.5; lengths are uniform in [ceil(T/2), T] per sample
 * and modality; the label is clip(1.5 s + 0.5 (p_L + p_A + p_V) / 3, -3, 3),
 * so it depends mostly on the shared factor.  `split` picks an independent
 * stream of samples, so train, valid and test never overlap; sample i is the
 * same whatever `size` and the thread count.  The factors are kept
 * (mird_dataset_get_factors) for evaluating the codes.  Options: the common
 * ones (labels=none gives an unlabeled set).
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT (size, split,
 * options, a tokens configuration), MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_dataset_synthetic(const mird_config *cfg, mird_split split, int64_t size,
                                            uint64_t seed, const char *options, mird_dataset **out);

/* Copies the planted factors, [N, MIRD_SYNTHETIC_FACTORS].
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_STATE (not synthetic data). */
MIRD_API mird_status mird_dataset_get_factors(const mird_dataset *ds, float *factors);

/* ------------------------------------------------------------------------ */
/* Metrics and evaluation                                                    */
/* ------------------------------------------------------------------------ */

/* The metrics of MODEL.md section 7, computed as the MMSA toolkit does
 * (values pinned; new ones only appended).  Accuracies and F1 scores are
 * fractions in [0, 1]. */
typedef enum mird_metric {
    MIRD_METRIC_MAE = 0,       /* mean absolute error */
    MIRD_METRIC_CORR = 1,      /* Pearson correlation (NaN if either side is constant) */
    MIRD_METRIC_ACC2_HAS0 = 2, /* (p >= 0) vs (y >= 0), all samples */
    MIRD_METRIC_F1_HAS0 = 3,   /* weighted F1 of the same */
    MIRD_METRIC_ACC2_NON0 = 4, /* (p > 0) vs (y > 0) over samples with y != 0 */
    MIRD_METRIC_F1_NON0 = 5,
    MIRD_METRIC_ACC5 = 6,      /* clip to [-2, 2], round half to even, class accuracy */
    MIRD_METRIC_ACC7 = 7,      /* clip to [-3, 3], the same */
    MIRD_METRIC_MSE = 8        /* mean squared error (select_by = loss) */
} mird_metric;

#define MIRD_METRIC_COUNT 9

/* "mae", "corr", "acc2_has0", "f1_has0", "acc2_non0", "f1_non0", "acc5",
 * "acc7", "mse"; NULL outside the enum. */
MIRD_API const char *mird_metric_name(mird_metric metric);

/* Metrics of `count` predictions against labels; `metrics` receives
 * min(n_metrics, MIRD_METRIC_COUNT) values indexed by mird_metric.  A metric
 * without samples to count (non0 with every label 0) is NaN.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT (count < 1),
 * MIRD_ERR_NONFINITE (a prediction or label). */
MIRD_API mird_status mird_metrics_compute(const float *predictions, const float *labels,
                                          int64_t count, double *metrics, size_t n_metrics);

/* Runs the model over the dataset in inference mode and computes the metrics
 * over its labeled samples.  `predictions` (may be NULL) receives [N]
 * predictions for every sample, labeled or not; `metrics` (may be NULL)
 * min(n_metrics, MIRD_METRIC_COUNT) values.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_SHAPE (shapes differ from the
 * model's), MIRD_ERR_STATE (a field never set, or no labeled sample while
 * metrics are asked for), MIRD_ERR_OUT_OF_MEMORY, MIRD_ERR_BACKEND. */
MIRD_API mird_status mird_evaluate(mird_model *model, const mird_dataset *ds, double *metrics,
                                   size_t n_metrics, float *predictions);

/* ------------------------------------------------------------------------ */
/* Training loop                                                             */
/* ------------------------------------------------------------------------ */

/* What the progress callback is told about. */
typedef enum mird_event {
    MIRD_EVENT_STEP = 0, /* after every mird_step */
    MIRD_EVENT_EPOCH = 1 /* after every epoch and its validation */
} mird_event;

/* Read-only view of the run's state, valid only during the callback. */
typedef struct mird_progress mird_progress;

/* Return 0 to go on, anything else to stop the run (MIRD_ERR_CANCELLED). */
typedef int (*mird_progress_fn)(const mird_progress *progress, void *user_data);

MIRD_API mird_event mird_progress_event(const mird_progress *p);
/* The epoch (from 1) the event belongs to. */
MIRD_API int64_t mird_progress_epoch(const mird_progress *p);
/* Steps completed in this run, and the most it can take (epochs x batches). */
MIRD_API int64_t mird_progress_step(const mird_progress *p);
MIRD_API int64_t mird_progress_total_steps(const mird_progress *p);
/* STEP: the step's term; EPOCH: its mean over the epoch's steps (NaN where
 * a term never applied).  NaN for an unknown term. */
MIRD_API double mird_progress_term(const mird_progress *p, mird_term term);
/* EPOCH: the validation metric (NaN without a validation set); STEP: NaN. */
MIRD_API double mird_progress_metric(const mird_progress *p, mird_metric metric);
/* EPOCH: 1 when this epoch is the best so far by select_by; else 0. */
MIRD_API int mird_progress_improved(const mird_progress *p);
/* With mird_fit_seeds: which run (from 0); 0 otherwise. */
MIRD_API int64_t mird_progress_run(const mird_progress *p);

/* How a run ended. */
typedef enum mird_stop {
    MIRD_STOP_EPOCHS = 0,    /* all configured epochs ran */
    MIRD_STOP_PATIENCE = 1,  /* patience epochs without improvement */
    MIRD_STOP_CANCELLED = 2  /* the progress callback asked to stop */
} mird_stop;

/* A run's history, made by mird_fit. */
typedef struct mird_report mird_report;

MIRD_API void mird_report_destroy(mird_report *report);
MIRD_API int64_t mird_report_epochs(const mird_report *report);
/* The epoch (from 1) whose parameters the model holds at the end, or 0 when
 * there was no validation set (the model holds the last epoch's). */
MIRD_API int64_t mird_report_best_epoch(const mird_report *report);
MIRD_API mird_stop mird_report_stop(const mird_report *report);
/* Epoch `epoch` (from 1): mean training term, validation metric; NaN for an
 * epoch, term or metric out of range. */
MIRD_API double mird_report_term(const mird_report *report, int64_t epoch, mird_term term);
MIRD_API double mird_report_metric(const mird_report *report, int64_t epoch, mird_metric metric);

/* Trains the model as MODEL.md section 6 says, with the settings of the
 * model's configuration: `epochs` epochs over `train` in batches of
 * `batch_size` labeled samples (shuffled per epoch from the seed; the last
 * batch of an epoch may be smaller), each joined by round(unlabeled_ratio x
 * its size) samples of `unlabeled` (may be NULL) drawn without replacement
 * and without repeats within an epoch while they last; after each epoch the
 * metrics on `valid` (may be NULL), keeping the best parameters by
 * select_by (validation MAE or MSE) and stopping after `patience` epochs
 * without improvement (0: never early).  At the end the model holds the best
 * epoch's parameters.  The optimizer's schedule is set to span the run (on
 * top of steps it already took).  The test split is never looked at.
 * `train` must have labels; its unlabeled samples are skipped.
 * progress (may be NULL) is called after every step and epoch; a nonzero
 * return stops the run: mird_fit then returns MIRD_ERR_CANCELLED with the
 * model holding the best parameters so far (the last ones without a
 * validation set), and the report covering the epochs done.
 * report (may be NULL) receives the history; the caller destroys it.
 * On any other error the model and optimizer are restored to what they were
 * before the call.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT (an optimizer of
 * another model), MIRD_ERR_SHAPE, MIRD_ERR_STATE (a dataset field never set,
 * no labeled training sample), MIRD_ERR_NONFINITE, MIRD_ERR_CANCELLED,
 * MIRD_ERR_OUT_OF_MEMORY, MIRD_ERR_BACKEND. */
MIRD_API mird_status mird_fit(mird_model *model, mird_optimizer *opt, const mird_dataset *train,
                              const mird_dataset *unlabeled, const mird_dataset *valid,
                              mird_progress_fn progress, void *user_data, mird_report **report);

/* Several runs of mird_fit on the same data, as the MMSA toolkit reports
 * results: for each seed a model made from cfg with that seed, trained, then
 * evaluated on `test`.  per_run (may be NULL) receives [n_seeds,
 * MIRD_METRIC_COUNT] test metrics; mean and stddev (either may be NULL)
 * [MIRD_METRIC_COUNT] each; the standard deviation is numpy's default
 * (population, ddof = 0), as MMSA prints it.
 * Errors: those of mird_model_create, mird_fit and mird_evaluate, and
 * MIRD_ERR_INVALID_ARGUMENT for n_seeds < 1. */
MIRD_API mird_status mird_fit_seeds(const mird_config *cfg, const uint64_t *seeds, size_t n_seeds,
                                    const mird_dataset *train, const mird_dataset *unlabeled,
                                    const mird_dataset *valid, const mird_dataset *test,
                                    mird_progress_fn progress, void *user_data, double *per_run,
                                    double *mean, double *stddev);

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                               */
/* ------------------------------------------------------------------------ */

/* A checkpoint is a safetensors file: every parameter under its MODEL.md
 * section 9 name as float32, and in the header's metadata the format
 * ("mird.format" = "1"), the library version ("mird.version"), every
 * setting of the configuration ("mird.config.<name>" in mird_config_set's
 * text form) and the number of training passes the model has run
 * ("mird.model.passes"; they key the dropout masks of the next step, so a
 * resumed run continues exactly as an uninterrupted one).  With an
 * optimizer, its Adam moments ("optimizer.m.<name>", "optimizer.v.<name>")
 * and step counts ("mird.optimizer.steps", "mird.optimizer.estimator_steps",
 * "mird.optimizer.total_steps") too.
 * Saving writes a temporary file in the same directory, flushes it to disk
 * and renames it over `path`, so `path` holds either the old file or the
 * complete new one.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_INVALID_ARGUMENT (an optimizer of
 * another model), MIRD_ERR_IO, MIRD_ERR_OUT_OF_MEMORY. */
MIRD_API mird_status mird_model_save(mird_model *model, const mird_optimizer *opt,
                                     const char *path);

/* A new model with the configuration and parameters of a checkpoint.  Every
 * parameter must be present with its shape (float32, finite), and nothing
 * else but optimizer state (complete, or none at all); otherwise nothing is
 * made.  The file must hold every setting the release that wrote it
 * ("mird.version") knew; a setting added by a later release takes its
 * default (new settings default to the behaviour of the releases before
 * them); a setting this release does not know is an error.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_IO, MIRD_ERR_FORMAT (naming the
 * tensor or setting), MIRD_ERR_UNSUPPORTED (a newer format),
 * MIRD_ERR_OUT_OF_MEMORY, MIRD_ERR_BACKEND. */
MIRD_API mird_status mird_model_load(const char *path, mird_model **out);

/* Restores the optimizer state a checkpoint holds (moments and step counts)
 * into an optimizer of a model with the same parameter names and shapes.
 * All or nothing.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_IO, MIRD_ERR_FORMAT,
 * MIRD_ERR_UNSUPPORTED (a newer format), MIRD_ERR_SHAPE (the checkpoint's
 * parameters differ from the model's, naming the tensor), MIRD_ERR_STATE
 * (the checkpoint holds no optimizer state). */
MIRD_API mird_status mird_optimizer_load(mird_optimizer *opt, const char *path);

/* Loads pretrained weights by name: every tensor of the safetensors file at
 * `path` whose name starts with `from_prefix` (may be "") is loaded into the
 * model's parameter named `to_prefix` + the rest of its name, when the model
 * has one.  The older Hugging Face spellings LayerNorm.gamma/.beta load as
 * .weight/.bias; F32, F16 and BF16 tensors are accepted.  For
 * bert-base-uncased: from "bert." to "agnostic." and again to "language.".
 * Shapes must match, and at least one tensor must load; otherwise nothing
 * changes.  `loaded` (may be NULL) receives the number of tensors loaded.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_IO, MIRD_ERR_FORMAT (a loading
 * tensor of another dtype or with a non-finite value, two tensors loading
 * into one parameter), MIRD_ERR_SHAPE (naming the tensor), MIRD_ERR_STATE
 * (nothing matched). */
MIRD_API mird_status mird_model_load_weights(mird_model *model, const char *path,
                                             const char *from_prefix, const char *to_prefix,
                                             int64_t *loaded);

/* Reads one metadata value of a safetensors file (for example
 * "mird.version" or "mird.config.hidden") into buf, NUL-terminated;
 * *needed, when needed is not NULL, receives the size that takes, with the
 * NUL.  Only the file's header is read.  buf may be NULL when size is 0, to
 * ask for the size alone.
 * Errors: MIRD_ERR_NULL_ARGUMENT, MIRD_ERR_IO, MIRD_ERR_FORMAT,
 * MIRD_ERR_INVALID_ARGUMENT (no such key), MIRD_ERR_SHAPE (buf too small;
 * buf is left as it was, *needed is still set). */
MIRD_API mird_status mird_checkpoint_metadata(const char *path, const char *key, char *buf,
                                              size_t size, size_t *needed);

#ifdef __cplusplus
}
#endif

#endif /* MIRD_MIRD_H */
