/* The predictions (and trainings) a hub concluded, counted per target — the deployment,
 * model, version and mode they ran under — with the model server's shared metrics
 * (core/prediction_metrics.h): one set of them per target, up to
 * PN_HUB_METRICS_COUNTED_MAX targets, and one without labels for the rest. A target
 * lives as long as what it names: once its version (or its deployment) is deleted, its
 * series leave the text. See docs/metrics.md, "The hub". */
#ifndef PN_HUB_METRICS_TARGETS_H
#define PN_HUB_METRICS_TARGETS_H

#include "core/buf.h"
#include "store/store.h"

#include <jansson.h>

/* Targets with labels of their own; predictions of further targets are counted in the
 * series without target labels until a target is deleted (docs/limits.md). */
#define PN_HUB_METRICS_COUNTED_MAX 128
/* Targets whose version and deployment are looked up in the store per text, in turn, so
 * that a scrape costs at most this many lookups however many targets there are. */
#define PN_HUB_METRICS_PRUNE_PER_TEXT 32

typedef struct pn_hub_counted pn_hub_counted;

/* An empty count, with the unlabeled series at 0. The caller frees it with
 * pn_hub_counted_free. */
int pn_hub_counted_new(pn_hub_counted **counted);
void pn_hub_counted_free(pn_hub_counted *counted);

/* Counts one concluded prediction from its stored row: `status`, `created_ns`,
 * `started_ns`, and its target from `deployment`, `model`, `version` and `kind`. The
 * first prediction of a target allocates its set; when that fails, or the targets are
 * at their ceiling, it is counted without target labels. */
void pn_hub_counted_add(pn_hub_counted *counted, const json_t *row);

/* Looks up the next PN_HUB_METRICS_PRUNE_PER_TEXT targets' versions (and deployments) in
 * `store` and forgets those deleted. A lookup that fails otherwise keeps its target. */
void pn_hub_counted_prune(pn_hub_counted *counted, pn_store *store);

/* Appends the three shared families: the unlabeled series, then each target's. */
int pn_hub_counted_write(const pn_hub_counted *counted, pn_buf *out);

#endif
