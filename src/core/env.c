/* Numbers from environment variables. See env.h. */
#include "core/env.h"

#include "core/log.h"

#include <stdlib.h>

double pn_env_number(const char *name, const char *unit, double min, double max, double fallback) {
  const char *text = getenv(name);
  if (!text || !*text)
    return fallback;
  char *end = NULL;
  double value = strtod(text, &end);
  if (*end || !(value >= min && value <= max)) {
    pn_warn("%s=%s is not a number of %s from %.15g to %.15g; using %.15g", name, text, unit, min,
            max, fallback);
    return fallback;
  }
  return value;
}
