/* Time: a monotonic clock for durations and RFC 3339 text for timestamps. */
#ifndef PN_CORE_CLOCK_H
#define PN_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Nanoseconds since an arbitrary point; only differences mean anything. */
uint64_t pn_clock_monotonic_ns(void);
/* Nanoseconds since the Unix epoch. */
uint64_t pn_clock_realtime_ns(void);

/* Writes `epoch_ns` as RFC 3339 UTC with microseconds into `out` (at least 33 bytes),
 * ending in "Z" or, when `offset_style` is set, "+00:00" (as Cog's health check does).
 * Returns `out`. */
char *pn_clock_format(uint64_t epoch_ns, int offset_style, char *out, size_t size);

#endif
