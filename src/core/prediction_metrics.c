/* The shared prediction metrics. See prediction_metrics.h. */
#include "core/prediction_metrics.h"

#include <string.h>

/* Predictions take from milliseconds (a classifier) to minutes (a video model). */
static const double duration_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                         2.5,   5,    10,    30,   60,  120,  300, 600};
/* Waiting is about a millisecond for plain inputs and seconds when files download first
 * or a queue is long. */
static const double wait_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
static const char *const statuses[] = {"succeeded", "failed", "canceled"};

int pn_prediction_metrics_add(pn_metrics *set, unsigned which, pn_prediction_metrics *metrics) {
  memset(metrics, 0, sizeof *metrics);
  int rc = 0;
  if (which & PN_PREDICTION_METRICS_STATUS)
    rc = pn_metrics_add(set,
                        &(pn_metric_spec){.name = "pinion_predictions_total",
                                          .help = "Predictions (and trainings) that reached a "
                                                  "terminal status, by status.",
                                          .type = PN_METRIC_COUNTER,
                                          .label = "status",
                                          .label_values = statuses,
                                          .label_count = 3},
                        &metrics->predictions);
  if (rc == 0 && (which & PN_PREDICTION_METRICS_DURATION))
    rc = pn_metrics_add(set,
                        &(pn_metric_spec){.name = "pinion_prediction_duration_seconds",
                                          .help = "Seconds from a prediction's acceptance to "
                                                  "its terminal status.",
                                          .type = PN_METRIC_HISTOGRAM,
                                          .bounds = duration_bounds,
                                          .bound_count = sizeof duration_bounds /
                                                         sizeof duration_bounds[0]},
                        &metrics->duration);
  if (rc == 0 && (which & PN_PREDICTION_METRICS_QUEUE_WAIT))
    rc = pn_metrics_add(set,
                        &(pn_metric_spec){.name = "pinion_prediction_queue_wait_seconds",
                                          .help = "Seconds from a prediction's acceptance "
                                                  "until it was handed to what runs it.",
                                          .type = PN_METRIC_HISTOGRAM,
                                          .bounds = wait_bounds,
                                          .bound_count =
                                              sizeof wait_bounds / sizeof wait_bounds[0]},
                        &metrics->queue_wait);
  return rc;
}

int pn_prediction_metrics_series(const char *status) {
  for (int i = 0; status && i < 3; i++)
    if (strcmp(status, statuses[i]) == 0)
      return i;
  return -1;
}

void pn_prediction_metrics_finished(const pn_prediction_metrics *metrics, int series,
                                    double seconds) {
  if (series < 0)
    return;
  if (metrics->predictions)
    pn_metric_add(metrics->predictions, (size_t)series, 1);
  if (metrics->duration && seconds >= 0)
    pn_metric_observe(metrics->duration, 0, seconds);
}

void pn_prediction_metrics_started(const pn_prediction_metrics *metrics, double seconds) {
  if (metrics->queue_wait && seconds >= 0)
    pn_metric_observe(metrics->queue_wait, 0, seconds);
}
