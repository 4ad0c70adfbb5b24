/* The hub's /metrics: per deployment (and per version with traffic) how many predictions
 * wait, how many run, how many instances serve them, their bounds and how many the
 * scaling rule wants, for Prometheus and for whatever scales directors (KEDA on
 * Kubernetes reads the same streams). Served on a listener of its own
 * (`--metrics-listen`), never on the public one. See docs/metrics.md. */
#ifndef PN_HUB_METRICS_H
#define PN_HUB_METRICS_H

#include "core/buf.h"

#include <jansson.h>

#include <stddef.h>

struct pn_hub;

/* Targets (deployments, then versions with traffic) in one text; those past it are left
 * out (docs/limits.md). */
#define PN_HUB_METRICS_TARGETS_MAX 1000
/* The text is made again at most this often; scrapes in between get the last one. */
#define PN_HUB_METRICS_REFRESH_NS 1000000000ull

/* The instances a target wants: enough for what waits and runs, `slots` predictions
 * each, within [min, max] (the rule the hub's scheduler follows, and the one KEDA's
 * stream-length trigger follows for `pinion deploy kubernetes`). */
int pn_hub_desired_instances(int min_instances, int max_instances, int slots, long waiting,
                             long in_flight);

/* Starts the listener when --metrics-listen was given (reading --metrics-token-file);
 * 0, or -1 after saying on stderr what was wrong. */
int pn_hub_metrics_open(struct pn_hub *hub);
/* Stops the listener; frees what pn_hub_metrics_open made. */
void pn_hub_metrics_close(struct pn_hub *hub);

/* Appends the metrics' text: reads the store's deployments and the queue (Redis: one
 * round trip) or the scheduler (embedded), then the predictions this hub concluded, after
 * forgetting the targets whose version or deployment was deleted (metrics_targets.h). */
int pn_hub_metrics_write(struct pn_hub *hub, pn_buf *out);

/* Counts a prediction (or training) that this hub stored in a terminal state, from its
 * stored row (status, created_ns, started_ns): pinion_predictions_total{status}, the
 * duration from its creation, and its wait from creation to start when it started, under
 * its target's labels (deployment, model, version, mode; metrics_targets.h). Nothing when
 * the hub serves no metrics. */
void pn_hub_metrics_concluded(struct pn_hub *hub, const json_t *row);

#endif
