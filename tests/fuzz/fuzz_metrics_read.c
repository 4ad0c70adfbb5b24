/* libFuzzer target for pn_metrics_read_sample (core/metrics_read.c), which reads
 * `pinion_slots` from an instance's GET /metrics for the hub. Input: the text.
 *
 * Invariants: a comment line put first, or a newline put last, changes nothing; a value
 * found is finite and its line starts with the name and a blank. */
#include "core/alloc.h"
#include "core/error.h"
#include "core/metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NAME "pinion_slots"
#define COMMENT "# HELP pinion_slots x\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  double value = 0;
  int rc = pn_metrics_read_sample((const char *)data, size, NAME, &value);
  if (rc != 0 && rc != PN_ENOENT && rc != PN_EINVAL)
    abort();
  if (rc == 0 && !isfinite(value))
    abort();
  char *longer = pn_malloc(size + sizeof COMMENT);
  if (!longer)
    return 0;
  memcpy(longer, COMMENT, sizeof COMMENT - 1);
  memcpy(longer + sizeof COMMENT - 1, data, size);
  double again = 0;
  int rc_again = pn_metrics_read_sample(longer, size + sizeof COMMENT - 1, NAME, &again);
  if (rc_again != rc || (rc == 0 && again != value))
    abort();
  memcpy(longer, data, size);
  longer[size] = '\n';
  rc_again = pn_metrics_read_sample(longer, size + 1, NAME, &again);
  if (rc_again != rc || (rc == 0 && again != value))
    abort();
  pn_free(longer);
  return 0;
}
