/* Unit tests for hub/metrics_targets.c: the predictions a hub concluded, counted per
 * target, with a ceiling on the targets and the deleted ones forgotten. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "hub/metrics_targets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *row(const char *deployment, const char *model, const char *version, const char *kind,
                   const char *status) {
  json_t *prediction = json_pack("{s:s?, s:s?, s:s, s:s, s:I, s:I}", "model", model, "version",
                                 version, "kind", kind, "status", status, "created_ns",
                                 (json_int_t)1000000000, "started_ns", (json_int_t)1500000000);
  if (deployment)
    json_object_set_new(prediction, "deployment", json_string(deployment));
  return prediction;
}

static void conclude(pn_hub_counted *counted, const char *deployment, const char *model,
                     const char *version, const char *kind, const char *status) {
  json_t *prediction = row(deployment, model, version, kind, status);
  assert_non_null(prediction);
  pn_hub_counted_add(counted, prediction);
  json_decref(prediction);
}

static char *text_of(const pn_hub_counted *counted) {
  pn_buf text;
  pn_buf_init(&text, 4u * 1024u * 1024u);
  assert_int_equal(pn_hub_counted_write(counted, &text), 0);
  return pn_buf_take(&text);
}

/* How many lines of `text` hold `needle`. */
static int lines_with(const char *text, const char *needle) {
  int count = 0;
  for (const char *at = text; (at = strstr(at, needle)); at += strlen(needle))
    count++;
  return count;
}

static void each_target_has_its_series_and_the_rest_have_none(void **state) {
  pn_hub_counted *counted = NULL;
  assert_int_equal(pn_hub_counted_new(&counted), 0);
  conclude(counted, "alice/busy", "alice/slow", "v1", "prediction", "succeeded");
  conclude(counted, "alice/busy", "alice/slow", "v1", "prediction", "failed");
  conclude(counted, NULL, "alice/slow", "v1", "training", "succeeded");
  conclude(counted, NULL, "alice/slow", "v1", "prediction", "canceled");
  conclude(counted, NULL, NULL, NULL, "prediction", "succeeded"); /* no version: no target */
  char *text = text_of(counted);
  assert_non_null(strstr(text, "pinion_predictions_total{status=\"succeeded\"} 1\n"));
  assert_non_null(strstr(text, "pinion_predictions_total{deployment=\"alice/busy\",model=\"alice/"
                               "slow\",version=\"v1\",status=\"failed\"} 1\n"));
  assert_non_null(strstr(text, "pinion_predictions_total{model=\"alice/slow\",version=\"v1\","
                               "mode=\"train\",status=\"succeeded\"} 1\n"));
  assert_non_null(strstr(text, "pinion_predictions_total{model=\"alice/slow\",version=\"v1\","
                               "status=\"canceled\"} 1\n"));
  assert_non_null(strstr(text, "pinion_prediction_queue_wait_seconds_sum{deployment=\"alice/busy\","
                               "model=\"alice/slow\",version=\"v1\"} 1\n"));
  /* One header per family: the unlabeled series and three targets under it. */
  assert_int_equal(lines_with(text, "# TYPE pinion_predictions_total counter\n"), 1);
  assert_int_equal(lines_with(text, "pinion_predictions_total{"), 4 * 3);
  pn_free(text);
  pn_hub_counted_free(counted);
}

static void targets_past_the_ceiling_are_counted_without_labels(void **state) {
  pn_hub_counted *counted = NULL;
  assert_int_equal(pn_hub_counted_new(&counted), 0);
  for (int i = 0; i < PN_HUB_METRICS_COUNTED_MAX + 2; i++) {
    char version[16];
    snprintf(version, sizeof version, "v%d", i);
    conclude(counted, NULL, "alice/many", version, "prediction", "succeeded");
  }
  char *text = text_of(counted);
  assert_int_equal(lines_with(text, "pinion_predictions_total{model=\"alice/many\""),
                   PN_HUB_METRICS_COUNTED_MAX * 3);
  assert_int_equal(lines_with(text, "version=\"v127\",status=\"succeeded\"} 1\n"), 1);
  assert_int_equal(lines_with(text, "version=\"v128\""), 0);
  assert_non_null(strstr(text, "pinion_predictions_total{status=\"succeeded\"} 2\n"));
  pn_free(text);
  pn_hub_counted_free(counted);
}

static void store_row(pn_store *store, const char *table, const char *id, const char *parent) {
  json_t *doc = json_pack("{s:s}", "id", id);
  pn_store_keys keys = {
      .id = id, .account = "alice", .parent = parent, .created_at = "2026-12-05T00:00:00Z"};
  assert_int_equal(pn_store_insert(store, table, &keys, doc), 0);
  json_decref(doc);
}

static void a_target_whose_version_or_deployment_was_deleted_is_forgotten(void **state) {
  char path[] = "/tmp/pinion-test-targets-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  pn_store *store = NULL;
  char *error = NULL;
  assert_int_equal(pn_store_open(path, &store, &error), 0);
  store_row(store, PN_STORE_VERSIONS, "alice/slow:kept", "alice/slow");
  store_row(store, PN_STORE_DEPLOYMENTS, "alice/kept", NULL);
  pn_hub_counted *counted = NULL;
  assert_int_equal(pn_hub_counted_new(&counted), 0);
  conclude(counted, NULL, "alice/slow", "kept", "prediction", "succeeded");
  conclude(counted, NULL, "alice/slow", "deleted", "prediction", "succeeded");
  conclude(counted, "alice/kept", "alice/slow", "kept", "prediction", "succeeded");
  conclude(counted, "alice/deleted", "alice/slow", "kept", "prediction", "succeeded");
  pn_hub_counted_prune(counted, store);
  char *text = text_of(counted);
  assert_int_equal(
      lines_with(text, "pinion_predictions_total{model=\"alice/slow\",version=\"kept\""), 3);
  assert_int_equal(lines_with(text, "pinion_predictions_total{deployment=\"alice/kept\""), 3);
  assert_int_equal(lines_with(text, "deleted"), 0);
  /* Forgotten, not moved: the unlabeled series did not get their counts. */
  assert_non_null(strstr(text, "pinion_predictions_total{status=\"succeeded\"} 0\n"));
  pn_free(text);
  /* A target that comes back starts from zero. */
  conclude(counted, NULL, "alice/slow", "deleted", "prediction", "failed");
  text = text_of(counted);
  assert_non_null(
      strstr(text, "{model=\"alice/slow\",version=\"deleted\",status=\"succeeded\"} 0\n"));
  assert_non_null(strstr(text, "{model=\"alice/slow\",version=\"deleted\",status=\"failed\"} 1\n"));
  pn_free(text);
  pn_hub_counted_free(counted);
  pn_store_close(store);
  char other[64];
  unlink(path);
  snprintf(other, sizeof other, "%s-wal", path);
  unlink(other);
  snprintf(other, sizeof other, "%s-shm", path);
  unlink(other);
}

static void a_scrape_looks_up_a_bounded_number_of_targets_in_turn(void **state) {
  char path[] = "/tmp/pinion-test-targets-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  pn_store *store = NULL;
  char *error = NULL;
  assert_int_equal(pn_store_open(path, &store, &error), 0);
  pn_hub_counted *counted = NULL;
  assert_int_equal(pn_hub_counted_new(&counted), 0);
  int targets = PN_HUB_METRICS_PRUNE_PER_TEXT + 8; /* none stored: every one was deleted */
  for (int i = 0; i < targets; i++) {
    char version[16];
    snprintf(version, sizeof version, "v%d", i);
    conclude(counted, NULL, "alice/slow", version, "prediction", "succeeded");
  }
  pn_hub_counted_prune(counted, store);
  char *text = text_of(counted);
  assert_int_equal(lines_with(text, "status=\"failed\""), 1 + 8);
  pn_free(text);
  pn_hub_counted_prune(counted, store);
  text = text_of(counted);
  assert_int_equal(lines_with(text, "status=\"failed\""), 1);
  pn_free(text);
  pn_hub_counted_free(counted);
  pn_store_close(store);
  char other[64];
  unlink(path);
  snprintf(other, sizeof other, "%s-wal", path);
  unlink(other);
  snprintf(other, sizeof other, "%s-shm", path);
  unlink(other);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(each_target_has_its_series_and_the_rest_have_none),
      cmocka_unit_test(targets_past_the_ceiling_are_counted_without_labels),
      cmocka_unit_test(a_target_whose_version_or_deployment_was_deleted_is_forgotten),
      cmocka_unit_test(a_scrape_looks_up_a_bounded_number_of_targets_in_turn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
