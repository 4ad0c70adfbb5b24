/* A prediction's life in the hub (hub/prediction_life.h): created into the store and the
 * queue, taken (leased) by a director, running, terminal. Every change of a stored
 * prediction is written here, by one function (`transition`) that uses the store's
 * compare-and-set, so that of the processes moving the same prediction (hub replicas,
 * directors' reports, a cancel, a reclaimed run) the first to conclude it wins and a
 * terminal row never changes again. What moves a prediction along comes here too:
 * directors' reports through the internal API (pn_hub_director_report: the hub's own
 * director in its process reports there as any other does; the hub never runs a
 * prediction itself), the queue's notices, Cancel-After, and, at start and every few
 * seconds, recovery of what a stopped hub left (pn_hub_predictions_restore,
 * pn_hub_predictions_sweep_orphans).
 *
 * The store row is the truth and is saved on every change before anything is told
 * about it. While a prediction is in flight it also has a live entry
 * (hub/prediction_live.h): its stream, its client webhook and the sync requests
 * holding for it. Rows keep what resuming needs after a restart: the queue's target and
 * the request sent to the model, and whether it was dispatched. */
#include "hub/prediction_life.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/url.h"
#include "hub/metrics.h"
#include "hub/prediction_live.h"
#include "hub/webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *text_of(const json_t *row, const char *name) {
  return json_string_value(json_object_get(row, name));
}

static int is_terminal(const char *status) {
  return status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
                    strcmp(status, "canceled") == 0);
}

/* The hub's own word on a prediction ("starting an instance"): kept beside the model's
 * logs in the row (hub_logs) and written to the hub's log, never mixed into `logs`,
 * which hold only what the model printed, as on Replicate. */
static void append_log(json_t *row, const char *line) {
  const char *hub_logs = text_of(row, "hub_logs");
  char *joined = pn_strfmt("%s%s\n", hub_logs ? hub_logs : "", line);
  if (joined)
    json_object_set_new(row, "hub_logs", json_string(joined));
  pn_free(joined);
  pn_info("hub: prediction %s: %s", text_of(row, "id"), line);
}

/* Cancel-After: a prediction still running at its deadline is canceled (also one that
 * never started: clients stop waiting only on succeeded, failed and canceled). */
static void on_deadline(pn_hub *hub, const char *id) {
  json_t *row = NULL;
  if (pn_store_get(hub->store, PN_STORE_PREDICTIONS, id, &row) < 0)
    return;
  pn_hub_life_cancel(hub, row, "pinion: canceled at its Cancel-After deadline");
  json_decref(row);
}

/* A live entry for `row`, its Cancel-After deadline armed; NULL when out of memory. */
static pn_hub_live *track(pn_hub *hub, const json_t *row) {
  pn_hub_live *item = pn_hub_live_add(hub, row);
  uint64_t deadline = (uint64_t)json_integer_value(json_object_get(row, "deadline_ns"));
  if (item && deadline)
    pn_hub_live_arm_deadline(item, deadline, on_deadline);
  return item;
}

static void set_metrics(json_t *row) {
  json_t *metrics = json_object_get(row, "metrics");
  if (!json_is_object(metrics)) {
    metrics = json_object();
    json_object_set_new(row, "metrics", metrics);
  }
  uint64_t created = (uint64_t)json_integer_value(json_object_get(row, "created_ns"));
  if (created) {
    double total = (double)(pn_clock_realtime_ns() - created) / 1e9;
    json_object_set_new(metrics, "total_time", json_real(total));
  }
  if (!json_object_get(metrics, "predict_time")) {
    uint64_t started = (uint64_t)json_integer_value(json_object_get(row, "started_ns"));
    json_object_set_new(
        metrics, "predict_time",
        json_real(started ? (double)(pn_clock_realtime_ns() - started) / 1e9 : 0.0));
  }
}

/* The first prediction of a model's owner that succeeds becomes its default example
 * (what `default_example` and /examples show), until the owner has one. */
static void maybe_default_example(pn_hub *hub, const json_t *row) {
  json_t *model = NULL;
  if (strcmp(text_of(row, "kind"), "prediction") != 0 ||
      pn_store_get(hub->store, PN_STORE_MODELS, text_of(row, "model"), &model) < 0)
    return;
  if (json_is_null(json_object_get(model, "default_example_id")) &&
      strcmp(text_of(model, "owner"), text_of(row, "account")) == 0) {
    json_object_set(model, "default_example_id", json_object_get(row, "id"));
    pn_hub_model_save(hub, model, 0);
  }
  json_decref(model);
}

/* --- transitions ----------------------------------------------------------------------- */

/* Where a status stands in a prediction's life, which only goes forward: starting (queued,
 * or its instance booting), processing, then one terminal status that is never left.
 * -1 for a word that is no status. */
static int status_rank(const char *status) {
  if (!status)
    return -1;
  if (strcmp(status, "starting") == 0)
    return 0;
  if (strcmp(status, "processing") == 0)
    return 1;
  return is_terminal(status) ? 2 : -1;
}

/* Another process moved the prediction first. When it concluded it, `row` becomes the
 * stored row and the live entry here ends without sending `completed` (the one that
 * concluded it sends it); a later status in flight leaves `row` as it is. */
static int moved_elsewhere(pn_hub *hub, json_t *row) {
  json_t *stored = NULL;
  int rc = pn_store_get(hub->store, PN_STORE_PREDICTIONS, text_of(row, "id"), &stored);
  if (rc < 0)
    return rc;
  if (is_terminal(text_of(stored, "status"))) {
    json_object_update(row, stored);
    pn_hub_live *item = pn_hub_live_find(hub, text_of(row, "id"));
    if (item && !pn_hub_live_finished(item))
      pn_hub_live_finish(item, row, 0);
  }
  json_decref(stored);
  return 0;
}

/* Writes `row`, its status set to `status`, over the stored prediction. This is the one
 * write of a prediction after its creation, and it is a compare-and-set: it replaces
 * the row only while the stored status is one that `status` may follow (`starting`
 * follows only itself; `processing` and the terminal statuses follow both statuses in
 * flight), so that whoever writes meanwhile, a status never goes back and a terminal
 * row never changes; of everyone concluding the same prediction (a cancel here, its run
 * elsewhere, a reclaimed run) exactly one stores it. Returns 0 when stored; PN_ESTATE
 * when another process moved it first, `row` then being the stored one if that
 * concluded it (moved_elsewhere); or the store's failure. */
static int transition(pn_hub *hub, json_t *row, const char *status) {
  static const char *const after_starting[] = {"starting", NULL};
  static const char *const after_in_flight[] = {"starting", "processing", NULL};
  if (status != text_of(row, "status")) /* else setting it would free `status` */
    json_object_set_new(row, "status", json_string(status));
  pn_store_keys keys = {.id = text_of(row, "id"),
                        .account = text_of(row, "account"),
                        .parent = text_of(row, "kind"),
                        .status = text_of(row, "status"),
                        .created_at = text_of(row, "created_at")};
  int rc = pn_store_update_from(hub->store, PN_STORE_PREDICTIONS, &keys, row,
                                status_rank(keys.status) == 0 ? after_starting : after_in_flight);
  if (rc == PN_ESTATE) {
    int read = moved_elsewhere(hub, row);
    if (read < 0)
      return read;
  }
  return rc;
}

/* A change of a prediction in flight (new logs, output, its instance's state), stored
 * under its status, unless another process moved it on meanwhile: PN_ESTATE then, and
 * nothing is to be told about this change. */
static int transition_in_flight(pn_hub *hub, json_t *row) {
  return transition(hub, row, text_of(row, "status"));
}

/* A prediction canceled while its message waits in a shared queue (no consumer took it,
 * or one on another process did): the message is deleted unless a consumer holds it, so
 * that the stream's length, which KEDA scales on and /metrics shows, drops now rather
 * than when some consumer takes the message and finds the row terminal. A held one is
 * left to its holder, which hears `pinion:done` and acknowledges it. */
static void drop_waiting_message(pn_hub *hub, const json_t *row) {
  const char *key = text_of(json_object_get(row, "target"), "key");
  if (!pn_queue_is_shared(hub->queue) || !key)
    return;
  int rc = pn_queue_drop_waiting(hub->queue, key, text_of(row, "id"));
  if (rc < 0)
    pn_warn("prediction %s: canceled, but its queued message could not be deleted (%s); "
            "the consumer that takes it drops it",
            text_of(row, "id"), pn_strerror(rc));
}

/* Moves a non-terminal row to a terminal status (transition): the one process that
 * stored it ends its live entry, sends `completed` and acknowledges the queue's
 * message. When another was first, `row` becomes what it stored and this returns 0
 * too. */
static int conclude_now(pn_hub *hub, json_t *row, const char *status, const char *error) {
  char now[40];
  if (error)
    json_object_set_new(row, "error", json_string(error));
  json_object_set_new(row, "completed_at", json_string(pn_hub_now(now)));
  set_metrics(row);
  int rc = transition(hub, row, status);
  if (rc == PN_ESTATE) {
    pn_queue_done(hub->queue, text_of(row, "id"));
    return 0;
  }
  if (rc < 0)
    return rc;
  pn_hub_metrics_concluded(hub, row);
  if (strcmp(status, "succeeded") == 0)
    maybe_default_example(hub, row);
  pn_hub_live *item = pn_hub_live_find(hub, text_of(row, "id"));
  if (item && !pn_hub_live_finished(item)) {
    pn_hub_live_finish(item, row, 1);
  } else if (!item && text_of(row, "webhook") && *text_of(row, "webhook")) {
    /* Concluded on a hub that neither created nor ran it (a cancel): the hook is made
     * here, to send `completed` once. */
    unsigned events = PN_WEBHOOK_ALL;
    pn_webhook_events_parse(json_object_get(row, "webhook_events_filter"), &events, NULL);
    pn_hub_hook_complete(pn_hub_hook_new(hub, text_of(row, "id"), text_of(row, "webhook"), events));
  }
  /* Settled: the director holding its message (if one does) stops what still runs. */
  pn_queue_done(hub->queue, text_of(row, "id"));
  if (strcmp(status, "canceled") == 0)
    drop_waiting_message(hub, row);
  return 0;
}

static void on_published(pn_hub *hub, json_t *row, int rc, const char *error);

/* Moves a non-terminal row to a terminal status, saves it and ends its live entry. A
 * succeeded training first publishes its weights as a version, off the loop
 * (training_publish.c); on_published concludes it then. */
static int conclude(pn_hub *hub, json_t *row, const char *status, const char *error) {
  char *training_error = NULL;
  if (strcmp(status, "succeeded") == 0 && strcmp(text_of(row, "kind"), "training") == 0) {
    if (pn_hub_training_publish(hub, row, on_published, &training_error) == 0)
      return 0;
    on_published(hub, row, PN_EINVAL, training_error);
    pn_free(training_error);
    return 0;
  }
  return conclude_now(hub, row, status, error);
}

/* A training whose weights were published (rc 0) or could not be. A cancel or a
 * deadline that concluded it meanwhile wins: terminal rows never change. */
static void on_published(pn_hub *hub, json_t *row, int rc, const char *error) {
  json_t *stored = NULL;
  if (pn_store_get(hub->store, PN_STORE_PREDICTIONS, text_of(row, "id"), &stored) == 0 &&
      is_terminal(text_of(stored, "status"))) {
    pn_info("hub: training %s: %s before its weights were published; the version is not "
            "recorded",
            text_of(row, "id"), text_of(stored, "status"));
    json_decref(stored);
    return;
  }
  json_decref(stored);
  if (rc < 0) {
    append_log(row, "pinion: the trained weights could not become a version");
    char *message = pn_strfmt("the trained weights could not become a version: %s", error);
    json_object_set_new(row, "error", json_string(message ? message : error));
    pn_free(message);
  }
  conclude_now(hub, row, rc < 0 ? "failed" : "succeeded", NULL);
}

/* --- directors' reports ------------------------------------------------------------ */

/* Takes an instance's update (Cog's prediction response) into the row. Its status
 * counts only when later than the row's (status_rank): updates may land out of order,
 * and a `processing` prediction never goes back to `starting`. */
static void apply_update(json_t *row, const json_t *cog) {
  const char *status = text_of(cog, "status");
  if (status_rank(status) > status_rank(text_of(row, "status")))
    json_object_set_new(row, "status", json_string(status));
  if (strcmp(text_of(row, "status"), "processing") == 0 &&
      !json_integer_value(json_object_get(row, "started_ns"))) {
    uint64_t now = pn_clock_realtime_ns();
    char text[40];
    json_object_set_new(row, "started_ns", json_integer((json_int_t)now));
    json_object_set_new(row, "started_at", json_string(pn_clock_format(now, 0, text, sizeof text)));
  }
  json_t *output = json_object_get(cog, "output");
  if (output)
    json_object_set(row, "output", output);
  const char *logs = text_of(cog, "logs");
  json_object_set_new(row, "logs", json_string(logs ? logs : ""));
  if (json_is_string(json_object_get(cog, "error")))
    json_object_set(row, "error", json_object_get(cog, "error"));
  const char *started = text_of(cog, "started_at");
  if (started) {
    /* Cog writes "+00:00"; Replicate's API writes "Z": keep one form in the hub. */
    size_t length = strlen(started);
    if (length > 6 && strcmp(started + length - 6, "+00:00") == 0) {
      char *utc = pn_strfmt("%.*sZ", (int)(length - 6), started);
      json_object_set_new(row, "started_at", json_string(utc ? utc : started));
      pn_free(utc);
    } else {
      json_object_set(row, "started_at", json_object_get(cog, "started_at"));
    }
  }
  /* The model's metrics (predict_time, what it recorded, a batch's batch_size) pass
   * through, as Replicate's extra keys do; total_time and cold_boot_time are the hub's. */
  json_t *metrics = json_object_get(row, "metrics");
  const char *key;
  json_t *value;
  json_object_foreach(json_object_get(cog, "metrics"), key, value) {
    if (json_is_object(metrics) && strcmp(key, "total_time") != 0 &&
        strcmp(key, "cold_boot_time") != 0)
      json_object_set(metrics, key, value);
  }
}

/* Moves prediction `prediction_id` along with what the director that runs it reported
 * (the hub's own director, or one elsewhere): the one way the hub hears of a prediction
 * it queued. A report counts only under a `lease` that still holds the message: a
 * director cut off past its lease, whose message another director took over, is
 * refused, so that its late results cannot win over the run that replaced it. A
 * terminal report the store cannot take is answered with the store's failure, and the
 * director, which holds the queue's message until the hub stored the outcome, sends it
 * again. Returns 0 (the stored row in *stored, when asked for), PN_ENOENT, the lease's
 * refusal (pn_queue_check_lease), or the store's failure. */
int pn_hub_director_report(pn_hub *hub, const char *prediction_id, const char *lease,
                           enum pn_hub_report event, const char *kind, const json_t *detail,
                           json_t **stored) {
  json_t *row = NULL;
  int rc = pn_store_get(hub->store, PN_STORE_PREDICTIONS, prediction_id, &row);
  if (rc < 0)
    return rc;
  if (is_terminal(text_of(row, "status")) || pn_hub_training_publishing(hub, prediction_id)) {
    /* Concluded already (terminal rows never change), or its outcome is being
     * published. */
    if (stored)
      *stored = row;
    else
      json_decref(row);
    return 0;
  }
  if ((rc = pn_queue_check_lease(hub->queue, prediction_id, lease)) < 0) {
    json_decref(row);
    return rc;
  }
  pn_hub_live *item = pn_hub_live_find(hub, prediction_id);
  /* A director may report to a replica that did not make the prediction (or to one that
   * restarted since): the replica that stores its changes sends its intermediate
   * webhooks and streams it. */
  if (!item)
    item = track(hub, row);
  switch (event) {
  case PN_HUB_REPORT_BOOTING:
    append_log(row, "starting an instance");
    if (transition_in_flight(hub, row) != PN_ESTATE)
      pn_queue_progress(hub->queue, prediction_id);
    break;
  case PN_HUB_REPORT_STARTED: {
    json_object_set_new(row, "dispatched", json_true());
    json_t *boot = json_object_get(detail, "cold_boot_time");
    if (json_is_number(boot)) {
      char line[96];
      snprintf(line, sizeof line, "started an instance in %.2f s", json_number_value(boot));
      append_log(row, line);
      json_object_set(json_object_get(row, "metrics"), "cold_boot_time", boot);
    }
    if (transition_in_flight(hub, row) != PN_ESTATE)
      pn_queue_progress(hub->queue, prediction_id);
    break;
  }
  case PN_HUB_REPORT_UPDATE: {
    apply_update(row, detail);
    const char *status = text_of(row, "status");
    if (kind && strcmp(kind, "completed") == 0 && is_terminal(text_of(detail, "status"))) {
      rc = conclude(hub, row, text_of(detail, "status"), text_of(detail, "error"));
      break;
    }
    if (is_terminal(status))
      json_object_set_new(row, "status", json_string("processing"));
    /* Moved on elsewhere meanwhile (concluded, whose `completed` was sent): nothing of
     * this change is told. A store that failed drops it, as the next change or the
     * outcome carries its logs and output. */
    if (transition_in_flight(hub, row) == PN_ESTATE)
      break;
    pn_queue_progress(hub->queue, prediction_id);
    if (item) {
      pn_hub_live_stream_changes(item, row);
      unsigned hook_event = !kind                         ? 0
                            : strcmp(kind, "start") == 0  ? PN_WEBHOOK_START
                            : strcmp(kind, "output") == 0 ? PN_WEBHOOK_OUTPUT
                            : strcmp(kind, "logs") == 0   ? PN_WEBHOOK_LOGS
                                                          : 0;
      if (hook_event)
        pn_hub_live_notify(item, hook_event);
    }
    break;
  }
  case PN_HUB_REPORT_FAILED: {
    const char *error = text_of(detail, "error");
    rc = conclude(hub, row, "failed", error ? error : "the prediction could not be run");
    break;
  }
  }
  if (stored && rc == 0)
    *stored = row;
  else
    json_decref(row);
  return rc;
}

/* --- created and queued --------------------------------------------------------------- */

/* Queues the row's prediction with `request`, the instance's request body: the real
 * one (secrets included) at creation, the stored one after a restart. The message
 * carries the target and the request; whoever takes it runs it (on_take). With
 * `unless_queued`, only when no message for it is in the queue by then (the orphan
 * sweep): 1 when queued, 0 when one was there. */
static int submit_message(pn_hub *hub, const json_t *row, const json_t *request,
                          int unless_queued) {
  json_t *target_row = json_object_get(row, "target");
  int max = (int)json_integer_value(json_object_get(target_row, "max_instances"));
  int capacity =
      (max < 1 ? 1 : max) * pn_hub_scheduler_slots(hub->scheduler, text_of(target_row, "key"));
  json_t *body = json_pack("{s:O, s:O}", "target", target_row, "request", request);
  const char *key = text_of(target_row, "key"), *id = text_of(row, "id");
  int rc = !body           ? PN_ENOMEM
           : unless_queued ? pn_queue_push_absent(hub->queue, key, id, capacity, body)
                           : pn_queue_push(hub->queue, key, id, capacity, body);
  json_decref(body);
  return rc;
}

static int submit(pn_hub *hub, const json_t *row, const json_t *request) {
  return submit_message(hub, row, request, 0);
}

int pn_hub_life_create(pn_hub *hub, json_t *row, const json_t *request, int *unqueued) {
  *unqueued = 0;
  pn_store_keys keys = {.id = text_of(row, "id"),
                        .account = text_of(row, "account"),
                        .parent = text_of(row, "kind"),
                        .status = text_of(row, "status"),
                        .created_at = text_of(row, "created_at")};
  int rc = pn_store_insert(hub->store, PN_STORE_PREDICTIONS, &keys, row);
  if (rc < 0)
    return rc;
  track(hub, row);
  rc = submit(hub, row, request);
  if (rc == PN_ECLOSED) {
    /* The shared queue is unreachable: nothing is kept, so that the client's retry is
     * the only copy. */
    pn_hub_live *item = pn_hub_live_find(hub, text_of(row, "id"));
    if (item)
      pn_hub_live_free(item);
    pn_store_delete(hub->store, PN_STORE_PREDICTIONS, text_of(row, "id"));
    *unqueued = 1;
    return rc;
  }
  if (rc < 0) {
    char *error = pn_strfmt("the hub could not queue the prediction: %s", pn_strerror(rc));
    conclude(hub, row, "failed", error);
    pn_free(error);
  }
  return 0;
}

int pn_hub_life_cancel(pn_hub *hub, json_t *row, const char *why) {
  /* Concluding it settles its message: the director that holds it stops it. */
  if (why)
    append_log(row, why);
  return conclude(hub, row, "canceled", NULL);
}

/* --- what the queue tells the hub ------------------------------------------------- */

/* Another process stored `id`'s terminal state: clients waiting here get the stored
 * outcome. */
static void on_settled(void *arg, const char *id, int was_held) {
  pn_hub *hub = arg;
  pn_hub_live *item = pn_hub_live_find(hub, id);
  json_t *row = NULL;
  if (item && !pn_hub_live_finished(item) &&
      pn_store_get(hub->store, PN_STORE_PREDICTIONS, id, &row) == 0 &&
      is_terminal(text_of(row, "status")))
    pn_hub_live_finish(item, row, 0);
  json_decref(row);
}

/* Another replica stored a change of `id`: readers of its stream here get it. Webhooks
 * stay with the replica that stored the change (its own live entry sends them). */
static void on_progress(void *arg, const char *id) {
  pn_hub *hub = arg;
  pn_hub_live *item = pn_hub_live_find(hub, id);
  json_t *row = NULL;
  if (item && !pn_hub_live_finished(item) && pn_hub_live_stream(hub, id) &&
      pn_store_get(hub->store, PN_STORE_PREDICTIONS, id, &row) == 0 &&
      !is_terminal(text_of(row, "status")))
    pn_hub_live_stream_changes(item, row);
  json_decref(row);
}

/* What a missed notice would have said of `id`: concluded elsewhere (a cancel on
 * another hub: held requests answered), or changed (its readers here get the
 * change). */
static void recheck(pn_hub *hub, const char *id) {
  pn_hub_live *item = pn_hub_live_find(hub, id);
  json_t *row = NULL;
  if (!item || pn_hub_live_finished(item) ||
      pn_store_get(hub->store, PN_STORE_PREDICTIONS, id, &row) < 0)
    return;
  if (is_terminal(text_of(row, "status"))) {
    pn_hub_live_finish(item, row, 0);
  } else if (pn_hub_live_stream(hub, id)) {
    pn_hub_live_stream_changes(item, row);
  }
  json_decref(row);
}

/* The queue's notices were away for a while: every prediction in flight here is read
 * again, as the notices it missed would have made it. */
static void on_resubscribed(void *arg) {
  pn_hub *hub = arg;
  if (pn_hub_lives_each_in_flight(hub, recheck) < 0)
    pn_error("hub: out of memory reading the predictions in flight again after the queue's "
             "notices came back");
}

pn_queue_consumer pn_hub_queue_consumer(pn_hub *hub) {
  pn_queue_consumer consumer = {.settled = on_settled,
                                .progress = on_progress,
                                .resubscribed = on_resubscribed,
                                .arg = hub};
  return consumer;
}

/* --- start and stop --------------------------------------------------------------------- */

/* Deliveries still pending from the last run resume first: the predictions concluded
 * below then add only their own, so none is both resumed and sent anew. */
void pn_hub_predictions_restore(pn_hub *hub) {
  pn_hub_deliveries_resume(hub);
  /* A shared queue still holds what was queued, and what this hub ran is taken over by
   * a consumer once its lease runs out. */
  if (pn_queue_is_shared(hub->queue))
    return;
  static const char *const active[] = {"starting", "processing", NULL};
  pn_store_query query = {.statuses = active, .ascending = 1, .limit = 100000};
  json_t *rows = NULL;
  int more = 0;
  if (pn_store_list(hub->store, PN_STORE_PREDICTIONS, &query, &rows, &more) == 0) {
    size_t index;
    json_t *row;
    json_array_foreach(rows, index, row) {
      track(hub, row);
      if (json_is_true(json_object_get(row, "dispatched"))) {
        conclude(hub, row, "failed", "the hub restarted while the prediction was running");
      } else if (json_is_true(json_object_get(row, "has_secrets"))) {
        conclude(hub, row, "failed",
                 "the hub restarted before the prediction started; secret inputs are not "
                 "stored, create the prediction again");
      } else if (submit(hub, row, json_object_get(row, "request")) < 0) {
        conclude(hub, row, "failed",
                 "the hub could not queue the prediction again after a "
                 "restart");
      }
    }
  }
  json_decref(rows);
}

/* --- predictions stored but never queued ------------------------------------------------ */

/* How old an unfinished row must be before the sweep asks the queue about it
 * (PINION_QUEUE_ORPHAN_SECONDS): far past
 * the longest a live hub's create takes between storing the row and its XADD (a 0.5 s
 * connect and a 2 s command timeout), and past small clock differences between hosts,
 * so that no live hub's create is taken for a dead one's. */
#define ORPHAN_AGE_SECONDS 15
#define ORPHAN_BATCH 256

/* Queues an orphan again as a restart of a single hub would (pn_hub_predictions_restore):
 * its stored request, or a failure for one whose secrets were never stored. */
static void requeue_orphan(pn_hub *hub, json_t *row) {
  const char *id = text_of(row, "id");
  if (json_is_true(json_object_get(row, "has_secrets"))) {
    pn_warn("hub: prediction %s was stored but never queued (the hub that created it "
            "stopped first); its secret inputs are not stored, so it fails",
            id);
    conclude(hub, row, "failed",
             "the hub that created the prediction stopped before queueing it; secret inputs "
             "are not stored, create the prediction again");
    return;
  }
  int rc = submit_message(hub, row, json_object_get(row, "request"), 1);
  if (rc == 1)
    pn_warn("hub: prediction %s was stored but never queued (the hub that created it "
            "stopped first); queued it now",
            id);
  else if (rc < 0)
    pn_warn("hub: prediction %s was stored but never queued, and queueing it failed: %s "
            "(tried again on the next sweep)",
            id, pn_strerror(rc));
}

/* An unfinished row the sweep asks the queue about, by its target's queue. */
typedef struct candidate {
  const char *key;
  size_t index; /* in the rows listed, oldest first */
} candidate;

/* By target, and within one target oldest first. */
static int by_target(const void *a, const void *b) {
  const candidate *left = a, *right = b;
  int order = strcmp(left->key, right->key);
  return order ? order : (left->index > right->index) - (left->index < right->index);
}

/* A hub that stored a prediction and died before queueing it (kill -9 between the two,
 * a crash) leaves a row no consumer will ever take, and with a shared queue no restart
 * of that hub comes to restore it. Every hub looks, every few seconds, at the oldest
 * unfinished rows older than ORPHAN_AGE_SECONDS and asks the queue which of them have
 * no message; those it queues again, atomically in Redis, so that of several hubs
 * sweeping at once one does. A row that finished meanwhile gets a message all the same,
 * which whoever takes it drops (on_take). The work is a store query and one Redis script
 * per target with old unfinished rows: nothing while the queue keeps up. */
void pn_hub_predictions_sweep_orphans(pn_hub *hub) {
  if (!pn_queue_is_shared(hub->queue))
    return;
  double age =
      pn_env_number("PINION_QUEUE_ORPHAN_SECONDS", "seconds", 1, 86400, ORPHAN_AGE_SECONDS);
  char before[40];
  pn_clock_format(pn_clock_realtime_ns() - (uint64_t)(age * 1e9), 0, before, sizeof before);
  static const char *const waiting[] = {"starting", NULL};
  pn_store_query query = {
      .statuses = waiting, .created_before = before, .ascending = 1, .limit = ORPHAN_BATCH};
  json_t *rows = NULL;
  int more = 0;
  if (pn_store_list(hub->store, PN_STORE_PREDICTIONS, &query, &rows, &more) < 0) {
    json_decref(rows);
    return;
  }
  size_t count = json_array_size(rows);
  candidate *sorted = pn_calloc(count ? count : 1, sizeof *sorted);
  const char **ids = pn_calloc(count ? count : 1, sizeof *ids);
  int *absent = pn_calloc(count ? count : 1, sizeof *absent);
  size_t candidates = 0;
  for (size_t i = 0; sorted && i < count; i++) {
    const char *key = text_of(json_object_get(json_array_get(rows, i), "target"), "key");
    if (key)
      sorted[candidates++] = (candidate){.key = key, .index = i};
  }
  if (sorted)
    qsort(sorted, candidates, sizeof *sorted, by_target);
  /* Every row of a target, in one question. */
  for (size_t first = 0, end; ids && absent && first < candidates; first = end) {
    for (end = first; end < candidates && strcmp(sorted[end].key, sorted[first].key) == 0; end++)
      ids[end - first] = text_of(json_array_get(rows, sorted[end].index), "id");
    if (pn_queue_find_absent(hub->queue, sorted[first].key, ids, end - first, absent) == 0)
      for (size_t j = 0; j < end - first; j++)
        if (absent[j])
          requeue_orphan(hub, json_array_get(rows, sorted[first + j].index));
  }
  pn_free(absent);
  pn_free(ids);
  pn_free(sorted);
  json_decref(rows);
}

void pn_hub_predictions_free(pn_hub *hub) {
  pn_hub_lives_free(hub);
  pn_hub_deliveries_free();
}
