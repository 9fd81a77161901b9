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
 *   // Every call returns a mird_status; MIRD_OK is zero.
 *   if (mird_version_number() / 10000 != MIRD_VERSION_MAJOR) {
 *       // the library found at run time is not the one compiled against
 *   }
 *   mird_set_num_threads(2);                   // process-wide, see below
 *   mird_set_log_callback(my_logger, my_data); // the library never prints
 *
 *   mird_status s = some_mird_call(...);
 *   if (s != MIRD_OK)
 *       fprintf(stderr, "%s: %s\n", mird_status_string(s),
 *               mird_last_error_message());
 *
 * The model, its configuration, optimizers, batches and datasets are opaque
 * handles (see "Handles" below); the calls that create and use them arrive in
 * later releases and are documented here as they land (see CHANGELOG.md).
 *
 * ---------------------------------------------------------------------------
 * Conventions that hold for every function
 * ---------------------------------------------------------------------------
 *
 * Status and messages.  Every function that can fail returns a mird_status.
 * The numeric values of the enum are pinned: a value, once shipped, keeps its
 * meaning forever.  mird_status_string() gives static text for a status.  A
 * failing call also records a detailed message naming the offending argument
 * (for example "audio lengths[3] = 412 exceeds T_a = 375"); calls made on a
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
 * compete for cores.  Process-wide; results are the same at any count up to
 * floating-point reassociation inside oneDNN.
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

#ifdef __cplusplus
}
#endif

#endif /* MIRD_MIRD_H */
