/* The metrics of predictions that more than one of pinion's processes exports — `pinion
 * serve`, the hub and the directors — defined once, so that where they mean the same
 * thing they have the same name, label, help text and buckets, and a dashboard or a
 * query written for one reads the others (docs/metrics.md, "Shared names"). Each
 * process adds those it can measure to its own set. */
#ifndef PN_CORE_PREDICTION_METRICS_H
#define PN_CORE_PREDICTION_METRICS_H

#include "core/metrics.h"

/* Which metrics to add (or'ed together). */
enum {
  PN_PREDICTION_METRICS_STATUS = 1,     /* pinion_predictions_total{status} */
  PN_PREDICTION_METRICS_DURATION = 2,   /* pinion_prediction_duration_seconds */
  PN_PREDICTION_METRICS_QUEUE_WAIT = 4, /* pinion_prediction_queue_wait_seconds */
};

/* The series of pinion_predictions_total, in this order. */
enum pn_prediction_metrics_status {
  PN_PREDICTION_METRICS_SUCCEEDED,
  PN_PREDICTION_METRICS_FAILED,
  PN_PREDICTION_METRICS_CANCELED,
};

typedef struct pn_prediction_metrics {
  pn_metric *predictions; /* NULL for those not added */
  pn_metric *duration;
  pn_metric *queue_wait;
} pn_prediction_metrics;

/* Adds the metrics `which` names to `set`, in the order above; *metrics points into the
 * set (it lives as long as the set). pn_metrics_add's errors. */
int pn_prediction_metrics_add(pn_metrics *set, unsigned which, pn_prediction_metrics *metrics);

/* The series of a terminal status ("succeeded", "failed" or "canceled"), or -1. */
int pn_prediction_metrics_series(const char *status);

/* One prediction that reached terminal status `series`, `seconds` after its acceptance
 * (not observed when negative). Metrics not added are skipped. */
void pn_prediction_metrics_finished(const pn_prediction_metrics *metrics, int series,
                                    double seconds);
/* One prediction handed to what runs it, `seconds` after its acceptance. */
void pn_prediction_metrics_started(const pn_prediction_metrics *metrics, double seconds);

#endif
