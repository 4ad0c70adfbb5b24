/* The predictions a hub concluded, per target. See metrics_targets.h.
 *
 * Each target owns a set of the shared prediction metrics, so counting stays the
 * model server's hot path (numbers already in place); the writer puts every target's
 * series under one HELP and TYPE per family (pn_metrics_write_groups). Finding a
 * target is a scan of at most PN_HUB_METRICS_COUNTED_MAX entries when a prediction
 * ends, a few microseconds, which keeps the order stable and needs no index. */
#include "hub/metrics_targets.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/prediction_metrics.h"

#include <string.h>

enum { DEPLOYMENT, MODEL, VERSION, MODE, LABELS };
static const char *const label_names[LABELS] = {"deployment", "model", "version", "mode"};

typedef struct target {
  char *values[LABELS]; /* NULL where the prediction had none (deployment, mode) */
  pn_metric_label labels[LABELS];
  pn_metrics *set;
  pn_prediction_metrics predictions;
} target;

struct pn_hub_counted {
  target others; /* no target labels: targets past the ceiling, or without a version */
  target *targets[PN_HUB_METRICS_COUNTED_MAX];
  size_t count;
  size_t next_check; /* where pn_hub_counted_prune goes on from */
};

static const unsigned every_metric = PN_PREDICTION_METRICS_STATUS | PN_PREDICTION_METRICS_DURATION |
                                     PN_PREDICTION_METRICS_QUEUE_WAIT;

static void target_clear(target *item) {
  for (int i = 0; i < LABELS; i++)
    pn_free(item->values[i]);
  pn_metrics_free(item->set);
}

static int target_init(target *item, const char *const values[LABELS]) {
  memset(item, 0, sizeof *item);
  for (int i = 0; i < LABELS; i++) {
    item->labels[i].name = label_names[i];
    if (values[i] && *values[i]) {
      item->values[i] = pn_strdup(values[i]);
      if (!item->values[i])
        return PN_ENOMEM;
    }
    item->labels[i].value = item->values[i];
  }
  int rc = pn_metrics_new(&item->set);
  return rc == 0 ? pn_prediction_metrics_add(item->set, every_metric, &item->predictions) : rc;
}

int pn_hub_counted_new(pn_hub_counted **out) {
  pn_hub_counted *counted = pn_calloc(1, sizeof *counted);
  const char *const none[LABELS] = {NULL};
  int rc = counted ? target_init(&counted->others, none) : PN_ENOMEM;
  if (rc < 0) {
    pn_hub_counted_free(counted);
    counted = NULL;
  }
  *out = counted;
  return rc;
}

void pn_hub_counted_free(pn_hub_counted *counted) {
  if (!counted)
    return;
  target_clear(&counted->others);
  for (size_t i = 0; i < counted->count; i++) {
    target_clear(counted->targets[i]);
    pn_free(counted->targets[i]);
  }
  pn_free(counted);
}

static int same_value(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The target named by `values`, made when there is room; `others` otherwise. */
static target *find_target(pn_hub_counted *counted, const char *const values[LABELS]) {
  if (!values[MODEL] || !values[VERSION])
    return &counted->others;
  for (size_t i = 0; i < counted->count; i++) {
    target *item = counted->targets[i];
    int found = 1;
    for (int l = 0; l < LABELS && found; l++) { /* the version first: it tells most apart */
      int label = (VERSION + l) % LABELS;
      found = same_value(item->values[label], values[label]);
    }
    if (found)
      return item;
  }
  if (counted->count == PN_HUB_METRICS_COUNTED_MAX)
    return &counted->others;
  target *item = pn_calloc(1, sizeof *item);
  if (!item || target_init(item, values) < 0) {
    if (item)
      target_clear(item);
    pn_free(item);
    return &counted->others;
  }
  counted->targets[counted->count++] = item;
  return item;
}

static const char *text_of(const json_t *row, const char *name) {
  const char *text = json_string_value(json_object_get(row, name));
  return text && *text ? text : NULL;
}

static double seconds_between(json_int_t start_ns, json_int_t end_ns) {
  return start_ns > 0 && end_ns >= start_ns ? (double)(end_ns - start_ns) / 1e9 : -1;
}

void pn_hub_counted_add(pn_hub_counted *counted, const json_t *row) {
  const char *kind = text_of(row, "kind");
  const char *const values[LABELS] = {[DEPLOYMENT] = text_of(row, "deployment"),
                                      [MODEL] = text_of(row, "model"),
                                      [VERSION] = text_of(row, "version"),
                                      [MODE] =
                                          kind && strcmp(kind, "training") == 0 ? "train" : NULL};
  const pn_prediction_metrics *predictions = &find_target(counted, values)->predictions;
  json_int_t created = json_integer_value(json_object_get(row, "created_ns"));
  json_int_t started = json_integer_value(json_object_get(row, "started_ns"));
  json_int_t now = (json_int_t)pn_clock_realtime_ns();
  if (started)
    pn_prediction_metrics_started(predictions, seconds_between(created, started));
  pn_prediction_metrics_finished(predictions, pn_prediction_metrics_series(text_of(row, "status")),
                                 seconds_between(created, now));
}

/* Whether the store says a row is gone (an unreachable store says nothing). */
static int deleted(pn_store *store, const char *table, const char *id) {
  json_t *doc = NULL;
  int rc = pn_store_get(store, table, id, &doc);
  json_decref(doc);
  return rc == PN_ENOENT;
}

static int target_deleted(pn_store *store, const target *item) {
  char *version_key = pn_strfmt("%s:%s", item->values[MODEL], item->values[VERSION]);
  int gone = version_key && deleted(store, PN_STORE_VERSIONS, version_key);
  pn_free(version_key);
  return gone || (item->values[DEPLOYMENT] &&
                  deleted(store, PN_STORE_DEPLOYMENTS, item->values[DEPLOYMENT]));
}

void pn_hub_counted_prune(pn_hub_counted *counted, pn_store *store) {
  size_t checks = counted->count < PN_HUB_METRICS_PRUNE_PER_TEXT ? counted->count
                                                                 : PN_HUB_METRICS_PRUNE_PER_TEXT;
  for (size_t n = 0; n < checks && counted->count; n++) {
    if (counted->next_check >= counted->count)
      counted->next_check = 0;
    size_t at = counted->next_check;
    target *item = counted->targets[at];
    if (!target_deleted(store, item)) {
      counted->next_check++;
      continue;
    }
    target_clear(item);
    pn_free(item);
    memmove(&counted->targets[at], &counted->targets[at + 1],
            (counted->count - at - 1) * sizeof *counted->targets);
    counted->count--;
  }
}

int pn_hub_counted_write(const pn_hub_counted *counted, pn_buf *out) {
  pn_metrics_group groups[PN_HUB_METRICS_COUNTED_MAX + 1];
  groups[0] = (pn_metrics_group){.set = counted->others.set};
  for (size_t i = 0; i < counted->count; i++)
    groups[i + 1] =
        (pn_metrics_group){counted->targets[i]->set, counted->targets[i]->labels, LABELS};
  return pn_metrics_write_groups(groups, counted->count + 1, out);
}
