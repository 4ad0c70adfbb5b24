/* The reader of one sample of Prometheus's text format (core/metrics.h): the hub asks
 * each instance's GET /metrics how many prediction slots it has (`pinion_slots`). The
 * text comes from another process, so every byte is checked and nothing is read past
 * `length`. */
#include "core/error.h"
#include "core/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A number is at most this long (Prometheus writes doubles with %.17g or so). */
#define VALUE_LENGTH_MAX 63

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* The value starting at `line[at]`, up to the end of the line or a blank. */
static int read_value(const char *line, size_t line_length, size_t at, double *value) {
  while (at < line_length && is_blank(line[at]))
    at++;
  size_t end = at;
  while (end < line_length && !is_blank(line[end]))
    end++;
  if (end == at || end - at > VALUE_LENGTH_MAX)
    return PN_EINVAL;
  char number[VALUE_LENGTH_MAX + 1];
  memcpy(number, line + at, end - at);
  number[end - at] = '\0';
  char *stop = NULL;
  double parsed = strtod(number, &stop);
  if (stop != number + (end - at) || !isfinite(parsed))
    return PN_EINVAL;
  *value = parsed;
  return 0;
}

int pn_metrics_read_sample(const char *text, size_t length, const char *name, double *value) {
  size_t name_length = strlen(name);
  if (!text || name_length == 0)
    return PN_ENOENT;
  size_t start = 0;
  while (start < length) {
    const char *newline = memchr(text + start, '\n', length - start);
    size_t line_length = newline ? (size_t)(newline - (text + start)) : length - start;
    const char *line = text + start;
    if (line_length > name_length && memcmp(line, name, name_length) == 0 &&
        is_blank(line[name_length]))
      return read_value(line, line_length, name_length, value);
    start += line_length + 1;
  }
  return PN_ENOENT;
}
