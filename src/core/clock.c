/* Monotonic and wall-clock time, and RFC 3339 formatting. */
#include "core/clock.h"

#include <stdio.h>
#include <time.h>

uint64_t pn_clock_monotonic_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

uint64_t pn_clock_realtime_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

char *pn_clock_format(uint64_t epoch_ns, int offset_style, char *out, size_t size) {
  time_t seconds = (time_t)(epoch_ns / 1000000000u);
  unsigned micros = (unsigned)((epoch_ns % 1000000000u) / 1000u);
  struct tm utc;
  gmtime_r(&seconds, &utc);
  snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06u%s", utc.tm_year + 1900,
           utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, micros,
           offset_style ? "+00:00" : "Z");
  return out;
}
