/* The model server's Prometheus metrics, served at GET /metrics (docs/metrics.md).
 * Predictions are counted as they start and end — a few additions to numbers already
 * in place, nothing allocated; everything else (slots, restarts, setup, memory, GPUs)
 * is read when the metrics are asked for, from where it is kept anyway. */
#ifndef PN_SERVE_METRICS_H
#define PN_SERVE_METRICS_H

#include "core/buf.h"
#include "runtime/prediction.h"

struct pn_model;
typedef struct pn_serve_metrics pn_serve_metrics;

/* A new set with every metric of the model server; the caller frees it. */
int pn_serve_metrics_new(pn_serve_metrics **metrics);
void pn_serve_metrics_free(pn_serve_metrics *metrics);

/* The prediction was handed to the worker: observes how long it waited for that, and
 * the size of its batch when it is the first of one. */
void pn_serve_metrics_started(pn_serve_metrics *metrics, const pn_prediction *prediction);
/* The prediction reached its terminal state: counts it by status and observes its
 * duration (acceptance to the end, as its metrics.predict_time). */
void pn_serve_metrics_finished(pn_serve_metrics *metrics, const pn_prediction *prediction);

/* Samples `model` (slots, restarts, setup, its worker's memory), this process and the
 * GPUs into the model's metrics, and appends their text format to `out` (its ceiling
 * should be PN_METRICS_OUTPUT_MAX). GPU metrics appear when NVML is present; the first
 * call on such a machine starts NVML. */
int pn_serve_metrics_write(const struct pn_model *model, pn_buf *out);

#endif
