/* What counting a prediction in the metrics costs, on the paths that run once per
 * prediction (docs/metrics.md): `pinion serve`'s start and end (a histogram each and a
 * counter, with the monotonic clock read), and the hub's count of a prediction it
 * concluded (its stored row's fields read, the wall clock read, its target found among
 * PN_HUB_METRICS_COUNTED_MAX). Prints nanoseconds per prediction for each, the median
 * of 5 rounds: serve, hub with the first of 128 targets, hub with the last of 128 (the
 * longest scan), hub with the row's target not among them (ceiling reached). */
#include "core/alloc.h"
#include "core/clock.h"
#include "hub/metrics_targets.h"
#include "runtime/prediction.h"
#include "serve/metrics.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ROUNDS 5

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *values) {
  qsort(values, ROUNDS, sizeof *values, by_value);
  return values[ROUNDS / 2];
}

static double serve_ns(long count) {
  pn_serve_metrics *metrics = NULL;
  pn_prediction *prediction = pn_prediction_new("bench", json_object(), NULL);
  if (pn_serve_metrics_new(&metrics) < 0 || !prediction)
    exit(1);
  prediction->status = PN_PREDICTION_SUCCEEDED;
  double rounds[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    uint64_t start = pn_clock_monotonic_ns();
    for (long i = 0; i < count; i++) {
      prediction->accepted_mono_ns = start;
      pn_serve_metrics_started(metrics, prediction);
      prediction->completed_mono_ns = pn_clock_monotonic_ns();
      pn_serve_metrics_finished(metrics, prediction);
    }
    rounds[r] = (double)(pn_clock_monotonic_ns() - start) / (double)count;
  }
  pn_prediction_unref(prediction);
  pn_serve_metrics_free(metrics);
  return median(rounds);
}

/* A version id like a real one: 64 hex digits that differ from the first (a sha256). */
static json_t *row_of(int target) {
  char version[80];
  uint64_t state = 0x9e3779b97f4a7c15ull * (uint64_t)(target + 1);
  for (int i = 0; i < 64; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    version[i] = "0123456789abcdef"[state >> 60];
  }
  version[64] = '\0';
  json_int_t now = (json_int_t)pn_clock_realtime_ns();
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "kind", "prediction", "deployment",
                   "alice/deployed", "model", "alice/model", "version", version, "status",
                   "succeeded", "created_ns", now - 2000000, "started_ns", now - 1000000);
}

static double hub_ns(pn_hub_counted *counted, int target, long count) {
  json_t *row = row_of(target);
  double rounds[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    uint64_t start = pn_clock_monotonic_ns();
    for (long i = 0; i < count; i++)
      pn_hub_counted_add(counted, row);
    rounds[r] = (double)(pn_clock_monotonic_ns() - start) / (double)count;
  }
  json_decref(row);
  return median(rounds);
}

int main(int argc, char **argv) {
  long count = argc > 1 ? atol(argv[1]) : 1000000;
  if (count < 1)
    count = 1;
  pn_hub_counted *counted = NULL;
  if (pn_hub_counted_new(&counted) < 0)
    return 1;
  for (int target = 0; target < PN_HUB_METRICS_COUNTED_MAX; target++) {
    json_t *row = row_of(target);
    pn_hub_counted_add(counted, row);
    json_decref(row);
  }
  printf("%.1f %.1f %.1f %.1f\n", serve_ns(count), hub_ns(counted, 0, count),
         hub_ns(counted, PN_HUB_METRICS_COUNTED_MAX - 1, count),
         hub_ns(counted, PN_HUB_METRICS_COUNTED_MAX, count));
  pn_hub_counted_free(counted);
  return 0;
}
