/* Thread setup.
 *
 * oneDNN runs on OpenMP here, and OpenMP's thread count is a per-thread
 * setting: a count set on the caller's thread is not seen by another thread
 * that calls in later.  So the chosen count is kept process-wide and applied
 * to the calling thread at the start of every compute entry point. */
#ifndef MIRD_CORE_THREADS_H
#define MIRD_CORE_THREADS_H

/* 0 restores OpenMP's default; the API layer checks the range. */
void mird_threads_set(int num_threads);
/* The count compute will use (>= 1). */
int mird_threads_get(void);

/* Applies the process-wide thread count to the calling thread and makes sure
 * OpenBLAS runs single-threaded (its own pool would compete with OpenMP's).
 * Cheap; call it at the top of every entry point that computes. */
void mird_threads_apply(void);

/* Like mird_threads_apply, but with at most `limit` threads (>= 1). */
void mird_threads_apply_at_most(int limit);

#endif
