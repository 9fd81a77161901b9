/* Fault injection for tests: proves that a failure in the middle of a
 * multi-stage call (after some state has changed) is rolled back.  A test
 * sets a countdown; the marked point that brings it to zero fails once.  The
 * symbols are hidden in the shared library, so only the tests' static link of
 * the library can reach them, and the cost in normal runs is one load and
 * one branch per marked point. */
#ifndef MIRD_CORE_FAULT_H
#define MIRD_CORE_FAULT_H

extern int mird_fault_countdown; /* 0 = off */

/* True once, when the countdown reaches zero at this call. */
static inline int mird_fault_hit(void)
{
    return mird_fault_countdown > 0 && --mird_fault_countdown == 0;
}

#endif
