/* Start-up timing (bench/startup): with PINION_STARTUP_TRACE=FILE in the environment,
 * `pinion serve` and its worker append a line "<step> <CLOCK_MONOTONIC ns>" to FILE at
 * each step of a start (docs/internals/worker.md, "Start-up"). Unset, a step costs one
 * test of a cached flag. */
#ifndef PN_CORE_STARTUP_TRACE_H
#define PN_CORE_STARTUP_TRACE_H

/* Appends `step` (one word) and the monotonic clock's reading; failures are ignored
 * (a measurement must not change what it measures). */
void pn_startup_mark(const char *step);

#endif
