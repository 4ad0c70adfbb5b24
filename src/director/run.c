/* The predictions a director holds, from the queue's `take` to the hub's storing their
 * terminal state. A prediction is WAITING for one of the model server's slots, PUTTING
 * while its PUT /predictions/{id} is in flight, RUNNING once the server took it (its
 * webhooks are relayed to the hub), and REPORTING once the server's terminal webhook
 * arrived, until the hub answers that it stored the outcome: then the queue's message
 * is acknowledged and the prediction forgotten. One that is concluded elsewhere (a
 * cancel on any hub) or taken over by another director (this one's lease ran out) while
 * on the server is ABANDONED: the server is asked to cancel it, nothing more of it is
 * relayed, and its slot counts as taken until the server's terminal webhook (or
 * ABANDON_GRACE_SECONDS). The model server's slots are counted here, not by the queue:
 * the queue forgets an abandoned message at once, so it may hand over the next one while
 * the server still winds the old one down; that one waits. */
#include "director/internal.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/cog_client.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"

#include <string.h>

#define BUSY_RETRY_SECONDS 0.1
#define ABANDON_GRACE_SECONDS 30

enum run_state { WAITING, PUTTING, RUNNING, REPORTING, ABANDONED };

struct pn_director_task {
  pn_director *director;
  char *id;
  char *request; /* the PUT body: the hub's request with `id` and `webhook` */
  enum run_state state;
  int started_reported;
  int updated;       /* a webhook arrived */
  int cancel_wanted; /* abandoned while its PUT was in flight */
  json_t *last_output;
  pn_http_transfer *put, *cancel;
  struct event *grace_timer; /* ABANDONED: frees the slot if no webhook ends it */
  pn_director_task *next;
};

static int is_terminal(const char *status) {
  return status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
                    strcmp(status, "canceled") == 0);
}

static pn_director_task *find_run(const pn_director *director, const char *id) {
  for (pn_director_task *run = director->runs; run; run = run->next)
    if (strcmp(run->id, id) == 0)
      return run;
  return NULL;
}

static void update_gauges(pn_director *director) {
  size_t waiting = 0;
  size_t held = pn_director_held(director, &waiting);
  pn_metric_set(director->running_gauge, 0, (double)(held - waiting));
  pn_metric_set(director->waiting_gauge, 0, (double)waiting);
}

static void free_run(pn_director_task *run) {
  pn_director *director = run->director;
  for (pn_director_task **at = &director->runs; *at; at = &(*at)->next)
    if (*at == run) {
      *at = run->next;
      break;
    }
  if (run->put)
    pn_http_transfer_cancel(run->put);
  if (run->cancel)
    pn_http_transfer_cancel(run->cancel);
  if (run->grace_timer)
    event_free(run->grace_timer);
  json_decref(run->last_output);
  pn_free(run->request);
  pn_free(run->id);
  pn_free(run);
  update_gauges(director);
}

/* Frees the run's slot on the model server; the next waiting prediction may go. */
static void slot_freed(pn_director *director) {
  if (director->model_busy > 0)
    director->model_busy--;
  if (!evtimer_pending(director->dispatch_retry, NULL))
    event_active(director->dispatch_retry, EV_TIMEOUT, 0);
}

/* Queues a report to the hub under the queue's lease on the message, which the hub
 * checks: a report from a director whose message was taken over is refused. */
static void report(pn_director_task *run, json_t *body, int terminal) {
  char *lease = pn_queue_lease(run->director->queue, run->id);
  if (!lease)
    pn_warn("director: prediction %s: its message is no longer held here; the report is "
            "dropped",
            run->id);
  else if (!body || json_object_set_new(body, "lease", json_string(lease)) < 0 ||
           pn_relay_report(run->director->relay, run->id, body, terminal) < 0)
    pn_error("director: prediction %s: out of memory queuing a report to the hub", run->id);
  pn_free(lease);
  json_decref(body);
}

/* The director could not run it: the hub stores `failed` with `error`. */
static void report_failed(pn_director_task *run, const char *error) {
  pn_warn("director: prediction %s failed: %s", run->id, error);
  run->state = REPORTING;
  report(run, json_pack("{s:s, s:s}", "event", "failed", "error", error), 1);
}

static void report_started(pn_director_task *run) {
  if (run->started_reported)
    return;
  run->started_reported = 1;
  report(run, json_pack("{s:s}", "event", "started"), 0);
}

static void on_cancel_done(const pn_http_response *response, void *arg) {
  pn_director_task *run = arg;
  run->cancel = NULL;
}

static void on_grace(evutil_socket_t fd, short what, void *arg) {
  pn_director_task *run = arg;
  pn_warn("director: prediction %s was canceled on the model server %d s ago and it has not "
          "ended it; its slot is counted free again",
          run->id, ABANDON_GRACE_SECONDS);
  pn_director *director = run->director;
  free_run(run);
  slot_freed(director);
  pn_director_check_drained(director);
}

/* Stops what the model server runs of `run` and relays nothing more of it. */
static void abandon(pn_director_task *run) {
  pn_director *director = run->director;
  pn_relay_forget(director->relay, run->id);
  if (run->state == WAITING) { /* never sent to the model server */
    free_run(run);
    pn_director_check_drained(director);
    return;
  }
  enum run_state was = run->state;
  run->state = ABANDONED;
  run->grace_timer = evtimer_new(director->base, on_grace, run);
  struct timeval grace = {ABANDON_GRACE_SECONDS, 0};
  if (run->grace_timer)
    evtimer_add(run->grace_timer, &grace);
  if (was == PUTTING) {
    run->cancel_wanted = 1; /* once the server answers the PUT */
    return;
  }
  if (pn_cog_cancel_prediction(director->client, &director->model, run->id, on_cancel_done,
                               run, &run->cancel) < 0)
    run->cancel = NULL;
}

static void on_put_done(const pn_http_response *response, void *arg) {
  pn_director_task *run = arg;
  pn_director *director = run->director;
  run->put = NULL;
  long status = response->ok ? response->status : 0;
  if (status == 200 || status == 201 || status == 202) {
    if (run->state == ABANDONED) {
      if (run->cancel_wanted &&
          pn_cog_cancel_prediction(director->client, &director->model, run->id,
                                   on_cancel_done, run, &run->cancel) < 0)
        run->cancel = NULL;
      return;
    }
    if (run->state == PUTTING) /* a webhook may have moved it on already */
      run->state = RUNNING;
    report_started(run);
    return;
  }
  if (run->state == ABANDONED) { /* never started there */
    free_run(run);
    slot_freed(director);
    pn_director_check_drained(director);
    return;
  }
  if (status == 409) {
    /* The server's slots are taken (one canceled is still ending, or --slots is more
     * than the server has): it waits at the front and goes again in a moment. */
    run->state = WAITING;
    if (director->model_busy > 0)
      director->model_busy--;
    struct timeval retry = {0, (suseconds_t)(BUSY_RETRY_SECONDS * 1e6)};
    evtimer_add(director->dispatch_retry, &retry);
    return;
  }
  char *error =
      status ? pn_strfmt("the model server at %s refused the prediction with HTTP %ld: %.1000s",
                         director->model_url, status,
                         response->body && response->body->data ? response->body->data : "")
             : pn_strfmt("could not reach the model server at %s: %s", director->model_url,
                         response->error ? response->error : "?");
  report_failed(run, error ? error : "the model server did not take the prediction");
  pn_free(error);
  slot_freed(director);
}

static void put(pn_director_task *run) {
  pn_director *director = run->director;
  run->state = PUTTING;
  director->model_busy++;
  if (pn_cog_put_prediction(director->client, &director->model, run->id, run->request,
                            on_put_done, run, &run->put) < 0) {
    run->put = NULL;
    director->model_busy--;
    report_failed(run, "the director could not send the prediction to the model server");
  }
}

/* Sends waiting predictions, oldest first, while the model server has free slots. */
static void send_waiting(pn_director *director) {
  for (pn_director_task *run = director->runs;
       run && director->model_busy < director->slots; run = run->next)
    if (run->state == WAITING)
      put(run);
  update_gauges(director);
}

static void dispatch(pn_director *director) {
  if (!evtimer_pending(director->dispatch_retry, NULL)) /* after a 409: at the retry */
    send_waiting(director);
}

static void on_dispatch_retry(evutil_socket_t fd, short what, void *arg) { send_waiting(arg); }

/* --- the queue's consumer ------------------------------------------------------------ */

static void on_take(void *arg, const char *id, const json_t *body) {
  pn_director *director = arg;
  if (find_run(director, id))
    return; /* held already */
  json_t *request = json_deep_copy(json_object_get(body, "request"));
  pn_director_task *run = pn_calloc(1, sizeof *run);
  if (run) {
    run->director = director;
    run->id = pn_strdup(id);
  }
  if (json_is_object(request) && director->webhook_url) {
    json_object_set_new(request, "id", json_string(id));
    json_object_set_new(request, "webhook", json_string(director->webhook_url));
    /* Every event, so that logs and outputs reach the hub as they come. */
    json_object_del(request, "webhook_events_filter");
  }
  if (run && run->id && json_is_object(request))
    run->request = pn_json_dump(request, PN_JSON_COMPACT);
  json_decref(request);
  if (!run || !run->id || !run->request) {
    if (run) {
      pn_free(run->id);
      pn_free(run);
    }
    /* Another director takes it over after the lease. */
    pn_error("director: prediction %s: its message has no request, or the director ran out "
             "of memory; it is handed back",
             id);
    pn_queue_release(director->queue, id);
    return;
  }
  pn_director_task **tail = &director->runs;
  while (*tail)
    tail = &(*tail)->next;
  *tail = run;
  pn_metric_add(director->taken, 0, 1);
  pn_info("director: took prediction %s", id);
  if (director->draining) {
    pn_queue_release(director->queue, id);
    free_run(run);
    return;
  }
  dispatch(director);
}

/* The queue gave up `id` (taken too often, never finished): the hub stores it failed
 * with the queue's reason, and the message is acknowledged on its answer, as after any
 * report. The model server never sees it. */
static void on_exhausted(void *arg, const char *id, long deliveries) {
  pn_director *director = arg;
  if (find_run(director, id))
    return;
  pn_director_task *run = pn_calloc(1, sizeof *run);
  char *error = pn_queue_exhausted_error(deliveries);
  if (run)
    run->id = pn_strdup(id);
  if (!run || !run->id || !error) {
    if (run)
      pn_free(run->id);
    pn_free(run);
    pn_free(error);
    pn_error("director: prediction %s: out of memory; it is handed back", id);
    pn_queue_release(director->queue, id);
    return;
  }
  run->director = director;
  pn_director_task **tail = &director->runs;
  while (*tail)
    tail = &(*tail)->next;
  *tail = run;
  report_failed(run, error);
  pn_free(error);
}

/* The hub stored `id`'s terminal state (a cancel, or this director's own report racing
 * the notice): what the model server still runs of it stops. */
static void on_settled(void *arg, const char *id, int held) {
  pn_director *director = arg;
  pn_director_task *run = find_run(director, id);
  if (!run || run->state == REPORTING || run->state == ABANDONED)
    return; /* the report's answer ends it */
  pn_info("director: prediction %s was concluded by the hub (canceled); it is stopped", id);
  pn_metric_add(director->finished, PN_PREDICTION_METRICS_CANCELED, 1);
  abandon(run);
}

/* The queue's lease on `id` ran out and another director took it over (this one was cut
 * off, or too slow to renew): the hub refuses this one's reports on it from now on, so
 * what it still runs or reports of it is dropped. */
static void on_lost(void *arg, const char *id) {
  pn_director *director = arg;
  pn_director_task *run = find_run(director, id);
  if (!run || run->state == ABANDONED)
    return;
  pn_metric_add(director->handed_over, 0, 1);
  if (run->state == REPORTING) { /* the model is done with it: only the report is left */
    pn_relay_forget(director->relay, id);
    free_run(run);
    pn_director_check_drained(director);
    return;
  }
  abandon(run);
}

pn_queue_consumer pn_director_consumer(pn_director *director) {
  pn_queue_consumer consumer = {
      .take = on_take,
      .settled = on_settled,
      .lost = on_lost,
      .exhausted = on_exhausted,
      .arg = director};
  return consumer;
}

/* --- the model server's webhooks and the hub's answers -------------------------------- */

void pn_director_on_webhook(pn_director *director, const json_t *prediction) {
  const char *id = json_string_value(json_object_get(prediction, "id"));
  pn_director_task *run = id ? find_run(director, id) : NULL;
  if (!run || run->state == WAITING || run->state == REPORTING)
    return; /* late, or not this director's */
  const char *status = json_string_value(json_object_get(prediction, "status"));
  if (run->state == ABANDONED) {
    if (is_terminal(status)) {
      free_run(run);
      slot_freed(director);
      pn_director_check_drained(director);
    }
    return;
  }
  if (run->state == PUTTING)
    run->state = RUNNING; /* a webhook can overtake the answer to the PUT */
  report_started(run);
  json_t *output = json_object_get(prediction, "output");
  if (is_terminal(status)) {
    run->state = REPORTING;
    report(run,
           json_pack("{s:s, s:s, s:O}", "event", "update", "kind", "completed", "prediction",
                     prediction),
           1);
    slot_freed(director);
    return;
  }
  const char *kind = "logs";
  if (!run->updated && status && strcmp(status, "processing") == 0)
    kind = "start";
  else if (output && !json_equal(output, run->last_output))
    kind = "output";
  run->updated = 1;
  if (output && !json_equal(output, run->last_output)) {
    json_decref(run->last_output);
    run->last_output = json_deep_copy(output);
  }
  report(run, json_pack("{s:s, s:s, s:O}", "event", "update", "kind", kind, "prediction", prediction),
         0);
}

void pn_director_on_stored(void *arg, const char *id, const char *status) {
  pn_director *director = arg;
  /* Acknowledged (and deleted) only now: had the director died before, another would
   * have run it again, and the store's compare-and-set would have kept one outcome. */
  pn_queue_done(director->queue, id);
  pn_director_task *run = find_run(director, id);
  if (status)
    pn_info("director: prediction %s is %s", id, status);
  else
    pn_warn("director: the hub has no prediction %s (deleted?); its message is dropped", id);
  if (run && run->state == REPORTING) {
    int series = pn_prediction_metrics_series(status);
    pn_metric_add(director->finished,
                  series < 0 ? PN_PREDICTION_METRICS_FAILED : (size_t)series, 1);
    free_run(run);
  }
  pn_director_check_drained(director);
}

void pn_director_on_refused(void *arg, const char *id) {
  pn_director *director = arg;
  /* Not acknowledged: the message is the other director's now. */
  pn_queue_forget(director->queue, id);
  on_lost(director, id);
}

size_t pn_director_held(const pn_director *director, size_t *waiting) {
  size_t held = 0;
  *waiting = 0;
  for (const pn_director_task *run = director->runs; run; run = run->next) {
    held++;
    *waiting += run->state == WAITING;
  }
  return held;
}

void pn_director_hand_back(pn_director *director, int all) {
  for (pn_director_task *run = director->runs, *next = NULL; run; run = next) {
    next = run->next;
    if (!all && run->state != WAITING)
      continue;
    if (run->state != ABANDONED) {
      pn_info("director: prediction %s is handed back to the queue", run->id);
      pn_metric_add(director->handed_over, 0, 1);
      pn_queue_release(director->queue, run->id);
    }
    free_run(run);
  }
}

void pn_director_runs_free(pn_director *director) {
  while (director->runs)
    free_run(director->runs);
  if (director->dispatch_retry)
    event_free(director->dispatch_retry);
  director->dispatch_retry = NULL;
}

int pn_director_runs_init(pn_director *director) {
  director->dispatch_retry = evtimer_new(director->base, on_dispatch_retry, director);
  return director->dispatch_retry ? 0 : PN_ENOMEM;
}
