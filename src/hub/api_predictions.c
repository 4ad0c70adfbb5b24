/* Predictions and trainings: creation (from a version, a model's latest version, or a
 * deployment), reads, lists, cancellation, `Prefer: wait`, the SSE stream, and the
 * scheduler's events that move a prediction along.
 *
 * The store row is the truth and is saved on every change before anything is told
 * about it. While a prediction is in flight it also has a `live` entry: its stream,
 * its client webhook and the sync requests holding for it. Rows keep what resuming
 * needs after a restart: the scheduler target and the request sent to the instance,
 * and whether it was dispatched (see pn_hub_predictions_restore).
 *
 * Secret inputs (x-cog-secret in the version's schema) never reach the row: it holds
 * them as "**********", as Cog shows them, and only the request handed to the
 * scheduler in memory carries the real value. So every reader of the row (the API,
 * webhooks, the stream, the pages) shows the redacted copy, and a prediction with
 * secrets that had not started when the hub stopped cannot run after the restart. */
#include "hub/hub.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/listen.h"
#include "core/map.h"
#include "core/url.h"
#include "hub/ids.h"
#include "hub/metrics.h"
#include "hub/objects.h"
#include "hub/stream.h"
#include "hub/webhooks.h"
#include "schema/validate.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MAX_SECONDS 60
/* How long a finished prediction's stream stays in memory (PINION_STREAM_RETAIN_SECONDS),
 * so that reconnects replay the same events with the same ids. Every prediction finishes
 * with one, so how many are kept (PINION_STREAM_RETAIN_MAX) and the bytes they take
 * (PINION_STREAM_RETAIN_BYTES) are capped too: past either, the oldest goes early, as at
 * its expiry. 4096 keeps the whole window at up to ~7 predictions/s and still several
 * seconds of finishes at bench/hub's ~765/s (reconnects come within seconds), in ~8 MiB
 * for small predictions; 64 MiB holds four of the largest histories
 * (PINION_STREAM_HISTORY_BYTES). Once a stream is gone, a new reader gets one rebuilt from
 * the row, whose ids carry REBUILT_ID_PREFIX; a reader that resumes with an id of the
 * stream that went gets an `error` event saying so, then `done` (EXPIRED_ID_PREFIX). */
#define STREAM_RETAIN_SECONDS 600
#define STREAM_RETAIN_MAX 4096
#define STREAM_RETAIN_BYTES ((size_t)64 << 20)
#define REBUILT_ID_PREFIX "row-"
#define EXPIRED_ID_PREFIX "expired-"

typedef struct waiter {
  struct pn_hub_live *live;
  struct evhttp_request *request;
  struct event *timer;
  struct waiter *next;
} waiter;

typedef struct pn_hub_live {
  pn_hub *hub;
  char id[27];
  pn_hub_stream *stream;
  pn_hub_hook *hook;
  waiter *waiters;
  size_t outputs_streamed; /* output items already sent as events */
  size_t logs_streamed;    /* bytes of logs already sent */
  int finished;            /* terminal: only the stream is kept, until `expiry` */
  size_t retained_bytes;   /* finished: what it and its stream count against the byte cap */
  struct event *expiry;
  struct event *deadline;          /* Cancel-After */
  struct pn_hub_live *prev, *next; /* in `running` or (finished) `retained` */
} live;

typedef struct live_list {
  live *head, *tail;
  size_t count;
} live_list;

/* Every live entry, found by id (the map's keys are the entries' own `id`s); those in
 * flight in `running`, finished ones in `retained`, oldest first, so the cap on kept
 * streams evicts in O(1). */
typedef struct pn_hub_lives {
  pn_map by_id;
  live_list running, retained;
  size_t retained_bytes;
} lives;

/* What Cog prints for a Secret (cog-compat.md §2.4). */
#define REDACTED "**********"

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

static int save_row(pn_hub *hub, const json_t *row, int insert) {
  pn_store_keys keys = {.id = text_of(row, "id"),
                        .account = text_of(row, "account"),
                        .parent = text_of(row, "kind"),
                        .status = text_of(row, "status"),
                        .created_at = text_of(row, "created_at")};
  return insert ? pn_store_insert(hub->store, PN_STORE_PREDICTIONS, &keys, row)
                : pn_store_update(hub->store, PN_STORE_PREDICTIONS, &keys, row);
}

static void list_append(live_list *list, live *item) {
  item->prev = list->tail;
  item->next = NULL;
  if (list->tail)
    list->tail->next = item;
  else
    list->head = item;
  list->tail = item;
  list->count++;
}

static void list_unlink(live_list *list, live *item) {
  if (item->prev)
    item->prev->next = item->next;
  else
    list->head = item->next;
  if (item->next)
    item->next->prev = item->prev;
  else
    list->tail = item->prev;
  item->prev = item->next = NULL;
  list->count--;
}

static live *find_live(pn_hub *hub, const char *id) {
  return hub->lives && id ? pn_map_get(&hub->lives->by_id, id) : NULL;
}

void pn_hub_streams_retained(const pn_hub *hub, size_t *count, size_t *bytes) {
  *count = hub->lives ? hub->lives->retained.count : 0;
  *bytes = hub->lives ? hub->lives->retained_bytes : 0;
}

static int conclude(pn_hub *hub, json_t *row, const char *status, const char *error);

/* Cancel-After: a prediction still running at its deadline is canceled (also one that
 * never started: clients stop waiting only on succeeded, failed and canceled). */
static void on_deadline(evutil_socket_t fd, short what, void *arg) {
  live *item = arg;
  json_t *row = NULL;
  if (pn_store_get(item->hub->store, PN_STORE_PREDICTIONS, item->id, &row) < 0)
    return;
  pn_scheduler_cancel(item->hub->scheduler, item->id);
  append_log(row, "pinion: canceled at its Cancel-After deadline");
  conclude(item->hub, row, "canceled", NULL);
  json_decref(row);
}

static void arm_deadline(live *item, const json_t *row) {
  uint64_t deadline = (uint64_t)json_integer_value(json_object_get(row, "deadline_ns"));
  if (!deadline)
    return;
  uint64_t now = pn_clock_realtime_ns();
  uint64_t wait = deadline > now ? deadline - now : 0;
  item->deadline = evtimer_new(item->hub->base, on_deadline, item);
  struct timeval delay = {(time_t)(wait / 1000000000u), (suseconds_t)(wait % 1000000000u / 1000)};
  if (item->deadline)
    evtimer_add(item->deadline, &delay);
}

/* Parses a Cancel-After duration: seconds, or groups like 1h30m45s. -1 when malformed. */
static long parse_duration(const char *text) {
  long total = 0;
  const char *at = text;
  while (*at == ' ')
    at++;
  if (!*at)
    return -1;
  while (*at) {
    char *end = NULL;
    long value = strtol(at, &end, 10);
    if (end == at || value < 0)
      return -1;
    long unit = *end == 'h' ? 3600 : *end == 'm' ? 60 : 1;
    if (*end == 'h' || *end == 'm' || *end == 's')
      end++;
    else if (*end && *end != ' ')
      return -1;
    total += value * unit;
    at = end;
    while (*at == ' ')
      at++;
  }
  return total;
}

/* A new live entry for `row`, or NULL when out of memory (or, which callers rule out,
 * when `row`'s id has one already). */
static live *add_live(pn_hub *hub, const json_t *row) {
  if (!hub->lives && !(hub->lives = pn_calloc(1, sizeof *hub->lives)))
    return NULL;
  live *item = pn_calloc(1, sizeof *item);
  if (!item)
    return NULL;
  item->hub = hub;
  snprintf(item->id, sizeof item->id, "%s", text_of(row, "id"));
  if (pn_map_put(&hub->lives->by_id, item->id, item) < 0) {
    pn_free(item);
    return NULL;
  }
  list_append(&hub->lives->running, item);
  item->stream = pn_hub_stream_new(hub->base, "");
  const char *webhook = text_of(row, "webhook");
  if (webhook && *webhook) {
    unsigned events = PN_WEBHOOK_ALL;
    pn_webhook_events_parse(json_object_get(row, "webhook_events_filter"), &events, NULL);
    item->hook = pn_hub_hook_new(hub, item->id, webhook, events);
  }
  arm_deadline(item, row);
  return item;
}

/* --- replies held by Prefer: wait ---------------------------------------------------- */

static void reply_prediction(pn_hub *hub, struct evhttp_request *request, int status, json_t *row,
                             int force_starting, int wait_seconds) {
  pn_hub_request reply = {.hub = hub, .request = request};
  json_t *object = pn_hub_prediction_object(hub, row);
  if (force_starting)
    json_object_set_new(object, "status", json_string("starting"));
  if (wait_seconds > 0) {
    char applied[24];
    snprintf(applied, sizeof applied, wait_seconds == WAIT_MAX_SECONDS ? "wait" : "wait=%d",
             wait_seconds);
    pn_hub_header(&reply, "Preference-Applied", applied);
  }
  const char *get = json_string_value(json_object_get(json_object_get(object, "urls"), "get"));
  if (get && status == 201)
    pn_hub_header(&reply, "Location", get);
  pn_hub_reply(&reply, status, object);
}

static void drop_waiter(waiter *gone) {
  live *item = gone->live;
  for (waiter **at = &item->waiters; *at; at = &(*at)->next) {
    if (*at == gone) {
      *at = gone->next;
      break;
    }
  }
  struct evhttp_connection *connection = evhttp_request_get_connection(gone->request);
  if (connection)
    evhttp_connection_set_closecb(connection, NULL, NULL);
  event_free(gone->timer);
  pn_free(gone);
}

static void answer_waiter(waiter *held, int timed_out) {
  pn_hub *hub = held->live->hub;
  json_t *row = NULL;
  if (pn_store_get(hub->store, PN_STORE_PREDICTIONS, held->live->id, &row) == 0) {
    /* A reply before the output is final says `starting` (platform spec §2.2). */
    int force = timed_out && !is_terminal(text_of(row, "status"));
    int seconds = (int)json_integer_value(json_object_get(row, "wait_seconds"));
    reply_prediction(hub, held->request, 201, row, force, seconds ? seconds : WAIT_MAX_SECONDS);
  } else {
    evhttp_send_reply(held->request, 503, NULL, NULL);
  }
  json_decref(row);
  drop_waiter(held);
}

static void on_wait_elapsed(evutil_socket_t fd, short what, void *arg) { answer_waiter(arg, 1); }

static void on_waiter_closed(struct evhttp_connection *connection, void *arg) {
  /* The client left; the prediction runs on. */
  waiter *gone = arg;
  pn_listen_release_request(gone->request);
  gone->request = NULL;
  live *item = gone->live;
  for (waiter **at = &item->waiters; *at; at = &(*at)->next) {
    if (*at == gone) {
      *at = gone->next;
      break;
    }
  }
  event_free(gone->timer);
  pn_free(gone);
}

static void hold(live *item, struct evhttp_request *request, int seconds) {
  waiter *held = pn_calloc(1, sizeof *held);
  if (!held)
    return;
  held->live = item;
  held->request = request;
  held->timer = evtimer_new(item->hub->base, on_wait_elapsed, held);
  held->next = item->waiters;
  item->waiters = held;
  struct timeval delay = {seconds, 0};
  evtimer_add(held->timer, &delay);
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  if (connection)
    evhttp_connection_set_closecb(connection, on_waiter_closed, held);
}

/* Parses `Prefer: wait` / `wait=N` (N clamped to 1..60); 0 when absent. */
static int wait_seconds(pn_hub_request *request) {
  const char *prefer = pn_hub_request_header(request, "Prefer");
  if (!prefer)
    return 0;
  const char *at = strstr(prefer, "wait");
  if (!at)
    return 0;
  at += 4;
  while (*at == ' ')
    at++;
  if (*at != '=')
    return WAIT_MAX_SECONDS;
  long seconds = strtol(at + 1, NULL, 10);
  return seconds < 1 ? 1 : seconds > WAIT_MAX_SECONDS ? WAIT_MAX_SECONDS : (int)seconds;
}

/* --- the end of a prediction ------------------------------------------------------- */

static void stream_changes(live *item, const json_t *row) {
  if (!item->stream)
    return;
  const char *logs = text_of(row, "logs");
  size_t logs_length = logs ? strlen(logs) : 0;
  if (logs_length > item->logs_streamed) {
    pn_hub_stream_publish(item->stream, "logs", logs + item->logs_streamed);
    item->logs_streamed = logs_length;
  }
  json_t *output = json_object_get(row, "output");
  size_t count = json_array_size(output);
  /* An instance's updates may land out of order: one with fewer items than already
   * streamed sends nothing (and the next items are sent once, when they come). */
  if (json_is_array(output) && text_of(row, "stream") && count > item->outputs_streamed) {
    for (size_t i = item->outputs_streamed; i < count; i++) {
      char *text = pn_hub_stream_output_text(json_array_get(output, i));
      if (text)
        pn_hub_stream_publish(item->stream, "output", text);
      pn_free(text);
    }
    item->outputs_streamed = count;
  }
}

static void free_live(live *item) {
  lives *all = item->hub->lives;
  pn_map_remove(&all->by_id, item->id);
  if (item->finished) {
    list_unlink(&all->retained, item);
    all->retained_bytes -= item->retained_bytes;
  } else {
    list_unlink(&all->running, item);
  }
  while (item->waiters) {
    waiter *held = item->waiters;
    evhttp_send_reply(held->request, 503, NULL, NULL);
    drop_waiter(held);
  }
  pn_hub_stream_free(item->stream);
  pn_hub_hook_free(item->hook);
  if (item->expiry)
    event_free(item->expiry);
  if (item->deadline)
    event_free(item->deadline);
  pn_free(item);
}

static void on_retain_expired(evutil_socket_t fd, short what, void *arg) { free_live(arg); }

/* Frees the oldest finished entries while more are kept than PINION_STREAM_RETAIN_MAX
 * or they take more than PINION_STREAM_RETAIN_BYTES: their later readers get a stream
 * rebuilt from the row, as after the expiry. Running entries are never touched. */
static void evict_retained(pn_hub *hub) {
  lives *all = hub->lives;
  size_t max =
      (size_t)pn_env_number("PINION_STREAM_RETAIN_MAX", "streams", 0, 1e7, STREAM_RETAIN_MAX);
  size_t budget = (size_t)pn_env_number("PINION_STREAM_RETAIN_BYTES", "bytes", 0, 1e12,
                                        (double)STREAM_RETAIN_BYTES);
  while (all->retained.head && (all->retained.count > max || all->retained_bytes > budget))
    free_live(all->retained.head);
}

/* Ends `stream` as the terminal `row` did: an `error` event when it failed, then
 * `done` with its reason. */
static void finish_stream(pn_hub_stream *stream, const json_t *row) {
  const char *status = text_of(row, "status");
  if (strcmp(status, "failed") == 0) {
    json_t *error = json_pack("{s:s}", "detail",
                              text_of(row, "error") ? text_of(row, "error") : "prediction failed");
    char *text = pn_json_dump(error, PN_JSON_COMPACT);
    pn_hub_stream_publish(stream, "error", text ? text : "{}");
    pn_free(text);
    json_decref(error);
  }
  pn_hub_stream_finish(stream, strcmp(status, "succeeded") == 0  ? "{}"
                               : strcmp(status, "canceled") == 0 ? "{\"reason\":\"canceled\"}"
                                                                 : "{\"reason\":\"error\"}");
}

/* Ends the live entry with the terminal `row`. `completed`: this hub stored the terminal
 * state, so its hook sends `completed`; else another process did, and sends it. */
static void finish_live(live *item, const json_t *row, int completed) {
  stream_changes(item, row);
  if (item->stream)
    finish_stream(item->stream, row);
  while (item->waiters)
    answer_waiter(item->waiters, 0);
  if (completed)
    pn_hub_hook_complete(item->hook);
  else
    pn_hub_hook_free(item->hook);
  item->hook = NULL;
  if (item->deadline)
    event_del(item->deadline);
  pn_hub *hub = item->hub;
  list_unlink(&hub->lives->running, item);
  item->finished = 1;
  item->retained_bytes = sizeof *item + (item->stream ? pn_hub_stream_kept_bytes(item->stream) : 0);
  list_append(&hub->lives->retained, item);
  hub->lives->retained_bytes += item->retained_bytes;
  item->expiry = evtimer_new(hub->base, on_retain_expired, item);
  struct timeval retain = {(time_t)pn_env_number("PINION_STREAM_RETAIN_SECONDS", "seconds", 1,
                                                 86400, STREAM_RETAIN_SECONDS),
                           0};
  if (!item->expiry || evtimer_add(item->expiry, &retain) < 0)
    free_live(item);
  evict_retained(hub);
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

/* The statuses a prediction is moved on from; a terminal one is never left. */
static const char *const active_statuses[] = {"starting", "processing", NULL};

/* Saves a change to a prediction still in flight, unless another process concluded it
 * meanwhile (a hub replica, or the director's report on another): a terminal row is
 * never overwritten. */
static void save_active(pn_hub *hub, const json_t *row) {
  pn_store_keys keys = {.id = text_of(row, "id"),
                        .account = text_of(row, "account"),
                        .parent = text_of(row, "kind"),
                        .status = text_of(row, "status"),
                        .created_at = text_of(row, "created_at")};
  pn_store_update_from(hub->store, PN_STORE_PREDICTIONS, &keys, row, active_statuses);
}

/* Another process stored the terminal state first: `row` becomes the stored one and the
 * live entry here ends without sending `completed` (the winner sends it). */
static int concluded_elsewhere(pn_hub *hub, json_t *row) {
  json_t *stored = NULL;
  int rc = pn_store_get(hub->store, PN_STORE_PREDICTIONS, text_of(row, "id"), &stored);
  if (rc < 0)
    return rc;
  json_object_update(row, stored);
  json_decref(stored);
  live *item = find_live(hub, text_of(row, "id"));
  if (item && !item->finished)
    finish_live(item, row, 0);
  return 0;
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

/* Moves a non-terminal row to a terminal status and stores it with a compare-and-set, so
 * that of everyone concluding the same prediction (a cancel here, its run elsewhere, a
 * reclaimed run) exactly one does: the one that stored it ends its live entry, sends
 * `completed` and acknowledges the queue's message. When another was first, `row`
 * becomes what it stored and this returns 0 too. */
static int conclude_now(pn_hub *hub, json_t *row, const char *status, const char *error) {
  char now[40];
  json_object_set_new(row, "status", json_string(status));
  if (error)
    json_object_set_new(row, "error", json_string(error));
  json_object_set_new(row, "completed_at", json_string(pn_hub_now(now)));
  set_metrics(row);
  pn_store_keys keys = {.id = text_of(row, "id"),
                        .account = text_of(row, "account"),
                        .parent = text_of(row, "kind"),
                        .status = status,
                        .created_at = text_of(row, "created_at")};
  int rc = pn_store_update_from(hub->store, PN_STORE_PREDICTIONS, &keys, row, active_statuses);
  if (rc == PN_ESTATE) {
    rc = concluded_elsewhere(hub, row);
    if (rc == 0)
      pn_queue_done(hub->queue, text_of(row, "id"));
    return rc;
  }
  if (rc < 0)
    return rc;
  pn_hub_metrics_concluded(hub, row);
  if (strcmp(status, "succeeded") == 0)
    maybe_default_example(hub, row);
  live *item = find_live(hub, text_of(row, "id"));
  if (item && !item->finished) {
    finish_live(item, row, 1);
  } else if (!item && text_of(row, "webhook") && *text_of(row, "webhook")) {
    /* Concluded on a hub that neither created nor ran it (a cancel): the hook is made
     * here, to send `completed` once. */
    unsigned events = PN_WEBHOOK_ALL;
    pn_webhook_events_parse(json_object_get(row, "webhook_events_filter"), &events, NULL);
    pn_hub_hook_complete(pn_hub_hook_new(hub, text_of(row, "id"), text_of(row, "webhook"), events));
  }
  int held = pn_queue_holds(hub->queue, text_of(row, "id"));
  pn_queue_done(hub->queue, text_of(row, "id"));
  if (!held && strcmp(status, "canceled") == 0)
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

/* --- scheduler events -------------------------------------------------------------- */

static void apply_update(json_t *row, const json_t *cog) {
  const char *status = text_of(cog, "status");
  if (status && !is_terminal(text_of(row, "status")))
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

/* A terminal scheduler event that arrived while the store could not read its row (the
 * database was away): offered again every second until the store takes it, so that the
 * prediction still reaches its terminal state, without restarting the hub. Earlier,
 * non-terminal events are dropped: the terminal one carries the final output and logs. */
typedef struct pn_hub_held {
  char *id;
  enum pn_scheduler_event event;
  char *kind;
  json_t *detail;
  struct pn_hub_held *next;
} held;

/* At most this many outcomes are held, so that a long outage cannot grow the list
 * without bound; past it a prediction is failed as interrupted at the hub's next start,
 * as after a crash. */
#define HELD_MAX 10000

/* Who reports an event: this hub's scheduler, the replay of one the store could not
 * take, or a director through the internal API. */
enum reporter { SCHEDULER, REPLAY, DIRECTOR };

static int apply_event(pn_hub *hub, const char *prediction_id, enum pn_scheduler_event event,
                       const char *kind, const json_t *detail, enum reporter from,
                       const char *lease, json_t **stored);

static void on_replay(evutil_socket_t fd, short what, void *arg) {
  pn_hub *hub = arg;
  held *pending = hub->held;
  hub->held = NULL;
  /* Each event either lands or is held again (at the end of the new list). */
  while (pending) {
    held *next = pending->next;
    apply_event(hub, pending->id, pending->event, pending->kind, pending->detail, REPLAY, NULL,
                NULL);
    pn_free(pending->id);
    pn_free(pending->kind);
    json_decref(pending->detail);
    pn_free(pending);
    pending = next;
  }
  if (!hub->held) {
    event_del(hub->replay);
    pn_info("hub: the held prediction outcomes are stored");
  }
}

static void hold_event(pn_hub *hub, const char *prediction_id, enum pn_scheduler_event event,
                       const char *kind, const json_t *detail) {
  size_t count = 0;
  held **tail = &hub->held;
  for (; *tail; tail = &(*tail)->next)
    count++;
  held *item = count < HELD_MAX ? pn_calloc(1, sizeof *item) : NULL;
  if (item) {
    item->id = pn_strdup(prediction_id);
    item->event = event;
    item->kind = kind ? pn_strdup(kind) : NULL;
    item->detail = detail ? json_deep_copy(detail) : NULL;
  }
  if (!item || !item->id || (kind && !item->kind) || (detail && !item->detail)) {
    pn_error("hub: prediction %s: its outcome could not be kept for later; the hub's next "
             "start fails it as interrupted",
             prediction_id);
    if (item) {
      pn_free(item->id);
      pn_free(item->kind);
      json_decref(item->detail);
      pn_free(item);
    }
    return;
  }
  *tail = item;
  if (!hub->replay)
    hub->replay = event_new(hub->base, -1, EV_PERSIST, on_replay, hub);
  struct timeval every = {1, 0};
  if (hub->replay && !event_pending(hub->replay, EV_TIMEOUT, NULL))
    event_add(hub->replay, &every);
}

static int is_terminal_event(enum pn_scheduler_event event, const char *kind,
                             const json_t *detail) {
  return event == PN_SCHEDULER_FAILED ||
         (event == PN_SCHEDULER_UPDATE && kind && strcmp(kind, "completed") == 0 &&
          is_terminal(text_of(detail, "status")));
}

void pn_hub_on_scheduler_event(void *arg, const char *prediction_id, enum pn_scheduler_event event,
                               const char *kind, const json_t *detail) {
  apply_event(arg, prediction_id, event, kind, detail, SCHEDULER, NULL, NULL);
}

int pn_hub_director_report(pn_hub *hub, const char *prediction_id, const char *lease,
                           enum pn_scheduler_event event, const char *kind, const json_t *detail,
                           json_t **row) {
  return apply_event(hub, prediction_id, event, kind, detail, DIRECTOR, lease, row);
}

/* Moves prediction `prediction_id` along. A terminal event the store cannot take is held
 * and offered again (hold_event), except a director's: it is answered with the failure
 * and the director, which holds the queue's message until the hub stored the outcome,
 * sends it again. A director's event counts only under a `lease` that still holds the
 * message: one cut off past its lease, whose message another director took over, is
 * refused, so that its late results cannot win over the run that replaced it. Returns 0
 * (the stored row in *stored, when asked for), PN_ENOENT, the lease's refusal
 * (pn_queue_check_lease), or the store's failure. */
static int apply_event(pn_hub *hub, const char *prediction_id, enum pn_scheduler_event event,
                       const char *kind, const json_t *detail, enum reporter from,
                       const char *lease, json_t **stored) {
  json_t *row = NULL;
  int rc = pn_store_get(hub->store, PN_STORE_PREDICTIONS, prediction_id, &row);
  if (rc < 0) {
    if (rc != PN_ENOENT && from != DIRECTOR && is_terminal_event(event, kind, detail)) {
      if (from != REPLAY)
        pn_error("hub: prediction %s: the store failed (%s); its outcome is kept and stored "
                 "once the store answers again",
                 prediction_id,
                 pn_store_failure(hub->store) ? pn_store_failure(hub->store) : pn_strerror(rc));
      hold_event(hub, prediction_id, event, kind, detail);
    }
    return rc;
  }
  /* A director holds the queue's message itself; the hub holds it for its scheduler. */
  if (is_terminal(text_of(row, "status")) ||
      (from != DIRECTOR && !pn_queue_holds(hub->queue, prediction_id)) ||
      pn_hub_training_publishing(hub, prediction_id)) {
    /* Concluded already (terminal rows never change), taken over by another consumer
     * after this one's lease ran out (what runs here is no longer wanted), or its
     * outcome is being published. */
    if (stored)
      *stored = row;
    else
      json_decref(row);
    return 0;
  }
  if (from == DIRECTOR && (rc = pn_queue_check_lease(hub->queue, prediction_id, lease)) < 0) {
    json_decref(row);
    return rc;
  }
  live *item = find_live(hub, prediction_id);
  /* A director may report to a replica that neither made nor took the prediction: the
   * replica that stores its changes sends its intermediate webhooks and streams it. */
  if (!item && from == DIRECTOR)
    item = add_live(hub, row);
  switch (event) {
  case PN_SCHEDULER_BOOTING:
    append_log(row, "starting an instance");
    save_active(hub, row);
    pn_queue_progress(hub->queue, prediction_id);
    break;
  case PN_SCHEDULER_STARTED: {
    json_object_set_new(row, "dispatched", json_true());
    json_t *boot = json_object_get(detail, "cold_boot_time");
    if (json_is_number(boot)) {
      char line[96];
      snprintf(line, sizeof line, "started an instance in %.2f s", json_number_value(boot));
      append_log(row, line);
      json_object_set(json_object_get(row, "metrics"), "cold_boot_time", boot);
    }
    save_active(hub, row);
    pn_queue_progress(hub->queue, prediction_id);
    break;
  }
  case PN_SCHEDULER_UPDATE: {
    apply_update(row, detail);
    const char *status = text_of(row, "status");
    if (kind && strcmp(kind, "completed") == 0 && is_terminal(text_of(detail, "status"))) {
      rc = conclude(hub, row, text_of(detail, "status"), text_of(detail, "error"));
      if (rc < 0 && from != DIRECTOR)
        hold_event(hub, prediction_id, event, kind, detail);
      break;
    }
    if (is_terminal(status))
      json_object_set_new(row, "status", json_string("processing"));
    save_active(hub, row);
    pn_queue_progress(hub->queue, prediction_id);
    if (item) {
      stream_changes(item, row);
      unsigned hook_event = !kind                         ? 0
                            : strcmp(kind, "start") == 0  ? PN_WEBHOOK_START
                            : strcmp(kind, "output") == 0 ? PN_WEBHOOK_OUTPUT
                            : strcmp(kind, "logs") == 0   ? PN_WEBHOOK_LOGS
                                                          : 0;
      if (hook_event)
        pn_hub_hook_notify(item->hook, hook_event);
    }
    break;
  }
  case PN_SCHEDULER_FAILED: {
    const char *error = text_of(detail, "error");
    rc = conclude(hub, row, "failed", error ? error : "the prediction could not be run");
    if (rc < 0 && from != DIRECTOR)
      hold_event(hub, prediction_id, event, kind, detail);
    break;
  }
  }
  if (stored && rc == 0)
    *stored = row;
  else
    json_decref(row);
  return rc;
}

/* --- creating ------------------------------------------------------------------------ */

/* What a create request resolved to. */
typedef struct resolved {
  json_t *model;      /* the model row */
  json_t *version;    /* the version row */
  json_t *deployment; /* the deployment row, or NULL */
} resolved;

static void resolved_free(resolved *target) {
  json_decref(target->model);
  json_decref(target->version);
  json_decref(target->deployment);
}

static int load_version(pn_hub_request *request, json_t *model, const char *version_id,
                        resolved *out) {
  char *key = pn_strfmt("%s:%s", text_of(model, "id"), version_id);
  int rc =
      key ? pn_store_get(request->hub->store, PN_STORE_VERSIONS, key, &out->version) : PN_ENOMEM;
  pn_free(key);
  if (rc < 0) {
    pn_hub_problem(request, 404, NULL,
                   "The model %s has no version %s. List its versions at "
                   "/v1/models/%s/versions.",
                   text_of(model, "id"), version_id, text_of(model, "id"));
    return -1;
  }
  out->model = json_incref(model);
  return 0;
}

static int resolve_latest(pn_hub_request *request, const char *owner, const char *name,
                          resolved *out) {
  json_t *model = pn_hub_model_visible(request, owner, name);
  if (!model)
    return -1;
  const char *latest = text_of(model, "latest_version_id");
  int rc = -1;
  if (!latest)
    pn_hub_problem(request, 404, NULL,
                   "The model %s has no versions yet. Publish one with `pinion push`.",
                   text_of(model, "id"));
  else
    rc = load_version(request, model, latest, out);
  json_decref(model);
  return rc;
}

static int is_hex64(const char *text) {
  if (strlen(text) != 64)
    return 0;
  for (const char *at = text; *at; at++)
    if (!((*at >= '0' && *at <= '9') || (*at >= 'a' && *at <= 'f')))
      return 0;
  return 1;
}

/* `version`: a 64-hex id, owner/name:id, or owner/name. */
static int resolve_version(pn_hub_request *request, const char *version, resolved *out) {
  const char *slash = strchr(version, '/');
  const char *colon = strchr(version, ':');
  if (slash && colon && colon > slash) {
    char *owner = pn_strndup(version, (size_t)(slash - version));
    char *name = pn_strndup(slash + 1, (size_t)(colon - slash - 1));
    json_t *model = owner && name ? pn_hub_model_visible(request, owner, name) : NULL;
    int rc = model ? load_version(request, model, colon + 1, out) : -1;
    json_decref(model);
    pn_free(owner);
    pn_free(name);
    return rc;
  }
  if (slash && !colon) {
    char *owner = pn_strndup(version, (size_t)(slash - version));
    int rc = owner ? resolve_latest(request, owner, slash + 1, out) : -1;
    pn_free(owner);
    return rc;
  }
  if (is_hex64(version)) {
    /* Versions carry their id in the status column, so this is an indexed lookup. */
    const char *ids[] = {version, NULL};
    pn_store_query query = {.statuses = ids, .limit = 100};
    json_t *rows = NULL;
    int more = 0;
    if (pn_store_list(request->hub->store, PN_STORE_VERSIONS, &query, &rows, &more) == 0) {
      size_t index;
      json_t *row;
      json_array_foreach(rows, index, row) {
        json_t *model = NULL;
        if (pn_store_get(request->hub->store, PN_STORE_MODELS, text_of(row, "model"), &model) ==
                0 &&
            (strcmp(text_of(model, "visibility"), "public") == 0 ||
             strcmp(text_of(model, "owner"), request->account) == 0)) {
          out->model = model;
          out->version = json_incref(row);
          json_decref(rows);
          return 0;
        }
        json_decref(model);
      }
    }
    json_decref(rows);
  }
  pn_hub_problem(request, 404, NULL,
                 "The version \"%s\" does not exist or is not visible to you. Pass a 64-character "
                 "version id, owner/name:id, or owner/name.",
                 version);
  return -1;
}

/* Rewrites this hub's own /v1/files/{id} URLs in `input` (top level and in lists) to
 * signed URLs on the internal listener that the target's instance can reach (its
 * loopback socket, or its bridge socket for a container), and keeps those files as
 * long as the prediction (its page shows them). Returns a new object. */
static json_t *rewrite_file_urls(pn_hub_request *request, const json_t *input,
                                 const json_t *version) {
  const char *kind = text_of(version, "kind");
  const char *internal_url = pn_scheduler_instance_hub_url(
      request->hub->scheduler, kind && strcmp(kind, "image") == 0);
  json_t *copy = json_deep_copy(input);
  char *prefix = pn_hub_url(request->hub, "/v1/files/");
  size_t prefix_length = prefix ? strlen(prefix) : 0;
  const char *key;
  json_t *value;
  json_object_foreach(copy, key, value) {
    json_t *items = json_is_array(value) ? value : NULL;
    size_t count = items ? json_array_size(items) : 1;
    for (size_t i = 0; i < count; i++) {
      json_t *item = items ? json_array_get(items, i) : value;
      const char *text = json_string_value(item);
      if (!text || !prefix || strncmp(text, prefix, prefix_length) != 0 ||
          strchr(text + prefix_length, '/'))
        continue;
      json_t *file = NULL;
      if (pn_store_get(request->hub->store, PN_STORE_FILES, text + prefix_length, &file) == 0 &&
          strcmp(text_of(file, "account"), request->account) == 0) {
        int kept = pn_hub_file_keep(request->hub, file);
        if (kept < 0 && kept != PN_ENOENT)
          pn_warn("could not keep the input file %s with its prediction", text_of(file, "id"));
        char *url = pn_hub_file_signed_url(request->hub, file, 24 * 3600, internal_url);
        if (url)
          json_string_set(item, url);
        pn_free(url);
      }
      json_decref(file);
    }
  }
  pn_free(prefix);
  return copy;
}

/* What the output of a version's schema streams: "text", "file" or NULL. */
static const char *stream_kind(const json_t *version, int training) {
  json_t *schemas = json_object_get(
      json_object_get(json_object_get(version, "openapi_schema"), "components"), "schemas");
  json_t *output = json_object_get(schemas, training ? "TrainingOutput" : "Output");
  const char *type = text_of(output, "type");
  const char *array_type = text_of(output, "x-cog-array-type");
  if (!type || strcmp(type, "array") != 0 || !array_type || strcmp(array_type, "iterator") != 0)
    return NULL;
  const char *format = text_of(json_object_get(output, "items"), "format");
  return format && strcmp(format, "uri") == 0 ? "file" : "text";
}

static json_t *target_json(const resolved *target, const char *mode) {
  const json_t *version = target->version;
  const char *kind = text_of(version, "kind");
  int image = kind && strcmp(kind, "image") == 0;
  json_t *release = json_object_get(target->deployment, "current_release");
  json_t *configuration = json_object_get(release, "configuration");
  char *key = target->deployment ? pn_strfmt("deployment:%s", text_of(target->deployment, "id"))
              : strcmp(mode, "train") == 0 ? pn_strfmt("%s:train", text_of(version, "id"))
                                           : pn_strdup(text_of(version, "id"));
  json_t *out = json_pack(
      "{s:s?, s:s?, s:s?, s:s, s:I, s:I, s:i}", "key", key, "bundle_dir",
      image ? NULL : text_of(version, "source"), "image", image ? text_of(version, "source") : NULL,
      "mode", mode, "min_instances",
      configuration ? json_integer_value(json_object_get(configuration, "min_instances")) : 0,
      "max_instances",
      configuration ? json_integer_value(json_object_get(configuration, "max_instances")) : 1,
      "slots", 1);
  pn_free(key);
  return out;
}

/* Queues the row's prediction with `request`, the instance's request body: the real
 * one (secrets included) at creation, the stored one after a restart. The message
 * carries the target and the request; whoever takes it runs it (on_take). With
 * `unless_queued`, only when no message for it is in the queue by then (the orphan
 * sweep): 1 when queued, 0 when one was there. */
static int submit_message(pn_hub *hub, const json_t *row, const json_t *request,
                          int unless_queued) {
  json_t *target_row = json_object_get(row, "target");
  int max = (int)json_integer_value(json_object_get(target_row, "max_instances"));
  int capacity = (max < 1 ? 1 : max) * pn_scheduler_slots(hub->scheduler, text_of(target_row, "key"));
  json_t *body = json_pack("{s:O, s:O}", "target", target_row, "request", request);
  const char *key = text_of(target_row, "key"), *id = text_of(row, "id");
  int rc = !body          ? PN_ENOMEM
           : unless_queued ? pn_queue_push_absent(hub->queue, key, id, capacity, body)
                           : pn_queue_push(hub->queue, key, id, capacity, body);
  json_decref(body);
  return rc;
}

static int submit(pn_hub *hub, const json_t *row, const json_t *request) {
  return submit_message(hub, row, request, 0);
}

/* --- the queue's consumer ----------------------------------------------------------- */

/* A folder version's bundle as this hub finds it: DATA/bundles/<id> under its own
 * --data, whatever path the creating hub had for the shared folder (replicas may mount
 * it at different paths). pn_malloc'd, or NULL when `stored` is not a bundle path or
 * this hub has no such folder (then the stored path is tried as it is). */
static char *local_bundle_dir(const pn_hub *hub, const char *stored) {
  const char *at = stored ? strstr(stored, "/bundles/") : NULL;
  const char *id = at ? at + strlen("/bundles/") : NULL;
  if (!id || !*id || strchr(id, '/'))
    return NULL;
  char *local = pn_strfmt("%s/bundles/%s", hub->data_dir, id);
  if (local && !pn_fs_is_dir(local)) {
    pn_free(local);
    local = NULL;
  }
  return local;
}

/* The instance's request with the input files' signed URLs pointed at this hub's own
 * internal listener: the hub that created the prediction signed them for its own, and
 * another replica (sharing the secret, so the signatures hold) runs it here. A new
 * reference. */
static json_t *local_request(pn_hub *hub, const json_t *request, int image) {
  json_t *copy = json_deep_copy(request);
  json_t *input = json_object_get(copy, "input");
  const char *own = pn_scheduler_instance_hub_url(hub->scheduler, image);
  size_t own_length = own ? strlen(own) : 0;
  const char *key;
  json_t *value;
  json_object_foreach(input, key, value) {
    json_t *items = json_is_array(value) ? value : NULL;
    size_t count = items ? json_array_size(items) : 1;
    for (size_t i = 0; own && i < count; i++) {
      json_t *item = items ? json_array_get(items, i) : value;
      const char *text = json_string_value(item), *path = NULL;
      if (!text || !(path = pn_url_internal_file_path(text)) ||
          ((size_t)(path - text) == own_length && strncmp(text, own, own_length) == 0))
        continue;
      char *url = pn_strfmt("%s%s", own, path);
      if (url)
        json_string_set(item, url);
      pn_free(url);
    }
  }
  return copy;
}

/* Runs a prediction the queue handed over: here from the start (the embedded queue, or
 * Redis to the hub that created it), or taken over from a consumer that died. */
static void on_take(void *arg, const char *id, const json_t *body) {
  pn_hub *hub = arg;
  json_t *row = NULL;
  int rc = pn_store_get(hub->store, PN_STORE_PREDICTIONS, id, &row);
  if (rc == PN_ENOENT || (rc == 0 && is_terminal(text_of(row, "status")))) {
    json_decref(row); /* deleted, or concluded before it ran (a cancel): nothing to run */
    pn_queue_done(hub->queue, id);
    return;
  }
  if (rc == 0 && !find_live(hub, id))
    add_live(hub, row);
  json_t *target_row = json_object_get(body, "target");
  int max = (int)json_integer_value(json_object_get(target_row, "max_instances"));
  char *bundle_dir = local_bundle_dir(hub, text_of(target_row, "bundle_dir"));
  pn_scheduler_target target = {
      .key = text_of(target_row, "key"),
      .bundle_dir = bundle_dir ? bundle_dir : text_of(target_row, "bundle_dir"),
      .image = text_of(target_row, "image"),
      .mode = text_of(target_row, "mode"),
      .min_instances = (int)json_integer_value(json_object_get(target_row, "min_instances")),
      .max_instances = max < 1 ? 1 : max,
      .slots = 1,
  };
  json_t *request = local_request(hub, json_object_get(body, "request"), target.image != NULL);
  rc = request ? pn_scheduler_submit(hub->scheduler, &target, id, request) : PN_ENOMEM;
  json_decref(request);
  pn_free(bundle_dir);
  if (rc < 0 && rc != PN_EEXISTS && row) {
    char *error = pn_strfmt("the hub could not queue the prediction: %s", pn_strerror(rc));
    conclude(hub, row, "failed", error);
    pn_free(error);
  }
  json_decref(row);
}

/* The queue gave up `id` (taken `deliveries` times, never finished): it fails here with
 * the queue's reason, its `completed` webhook sent from here. Should the store refuse,
 * the message goes back, for the next take to try the same. */
static void on_exhausted(void *arg, const char *id, long deliveries) {
  pn_hub *hub = arg;
  json_t *row = NULL;
  int rc = pn_store_get(hub->store, PN_STORE_PREDICTIONS, id, &row);
  if (rc == PN_ENOENT || (rc == 0 && is_terminal(text_of(row, "status")))) {
    json_decref(row);
    pn_queue_done(hub->queue, id);
    return;
  }
  char *error = rc == 0 ? pn_queue_exhausted_error(deliveries) : NULL;
  if (rc == 0 && !find_live(hub, id))
    add_live(hub, row);
  if (rc == 0)
    rc = error ? conclude(hub, row, "failed", error) : PN_ENOMEM;
  if (rc < 0) {
    pn_error("queue: prediction %s could not be failed (%s); it goes back to the queue", id,
             pn_strerror(rc));
    pn_queue_release(hub->queue, id);
  }
  pn_free(error);
  json_decref(row);
}

/* Another process stored `id`'s terminal state: what runs here stops, and clients
 * waiting here get the stored outcome. */
static void on_settled(void *arg, const char *id, int was_held) {
  pn_hub *hub = arg;
  if (was_held)
    pn_scheduler_cancel(hub->scheduler, id);
  live *item = find_live(hub, id);
  json_t *row = NULL;
  if (item && !item->finished && pn_store_get(hub->store, PN_STORE_PREDICTIONS, id, &row) == 0 &&
      is_terminal(text_of(row, "status")))
    finish_live(item, row, 0);
  json_decref(row);
}

/* Another consumer took `id` over: stop running it here. Clients waiting here keep
 * waiting for the outcome the other one stores (on_settled); intermediate webhooks are
 * the other one's to send. */
static void on_lost(void *arg, const char *id) {
  pn_hub *hub = arg;
  pn_scheduler_cancel(hub->scheduler, id);
  live *item = find_live(hub, id);
  if (item) {
    pn_hub_hook_free(item->hook);
    item->hook = NULL;
  }
}

/* Another replica stored a change of `id`: readers of its stream here get it. Webhooks
 * stay with the replica that stored the change (its own live entry sends them). */
static void on_progress(void *arg, const char *id) {
  pn_hub *hub = arg;
  live *item = find_live(hub, id);
  json_t *row = NULL;
  if (item && !item->finished && item->stream &&
      pn_store_get(hub->store, PN_STORE_PREDICTIONS, id, &row) == 0 &&
      !is_terminal(text_of(row, "status")))
    stream_changes(item, row);
  json_decref(row);
}

pn_queue_consumer pn_hub_queue_consumer(pn_hub *hub) {
  pn_queue_consumer consumer = {.take = on_take,
                                .settled = on_settled,
                                .lost = on_lost,
                                .progress = on_progress,
                                .exhausted = on_exhausted,
                                .arg = hub};
  return consumer;
}

static void count_run(pn_hub *hub, const char *model_id) {
  json_t *model = NULL;
  if (pn_store_get(hub->store, PN_STORE_MODELS, model_id, &model) == 0) {
    json_object_set_new(model, "run_count",
                        json_integer(json_integer_value(json_object_get(model, "run_count")) + 1));
    pn_hub_model_save(hub, model, 0);
  }
  json_decref(model);
}

/* A copy of `input` with each secret input's value replaced by REDACTED; *count says
 * how many were. The caller releases the copy. */
static json_t *redact_secrets(const pn_schema_validator *validator, const json_t *input,
                              int *count) {
  json_t *copy = json_deep_copy(input);
  *count = 0;
  const char *name;
  json_t *value;
  json_object_foreach(copy, name, value) {
    const pn_schema_input *shape = pn_schema_input_find(validator, name);
    if (shape && shape->is_secret && !json_is_null(value)) {
      json_object_set_new(copy, name, json_string(REDACTED));
      (*count)++;
    }
  }
  return copy;
}

/* The common path of every create route once the version is known. */
static void create(pn_hub_request *request, json_t *body, resolved *target, const char *kind,
                   const char *destination) {
  int training = strcmp(kind, "training") == 0;
  json_t *input = json_object_get(body, "input");
  if (!json_is_object(input)) {
    pn_hub_problem(request, 400, NULL,
                   "The body needs an `input` object with the model's inputs, e.g. "
                   "{\"input\": {\"prompt\": \"...\"}}.");
    return;
  }
  json_t *webhook = json_object_get(body, "webhook");
  json_t *filter = json_object_get(body, "webhook_events_filter");
  unsigned events = PN_WEBHOOK_ALL;
  const char *legacy = text_of(body, "webhook_completed");
  if (webhook && !json_is_null(webhook) && !json_is_string(webhook)) {
    pn_hub_problem(request, 400, NULL, "`webhook` must be a URL string.");
    return;
  }
  if (pn_webhook_events_parse(filter, &events, NULL) < 0) {
    pn_hub_problem(request, 400, NULL,
                   "`webhook_events_filter` must be a list of \"start\", \"output\", \"logs\" "
                   "and \"completed\".");
    return;
  }
  const char *webhook_url = json_string_value(webhook);
  if ((!webhook_url || !*webhook_url) && legacy && *legacy) {
    webhook_url = legacy;
    events = PN_WEBHOOK_COMPLETED;
  }
  if (webhook_url && strncmp(webhook_url, "http://", 7) != 0 &&
      strncmp(webhook_url, "https://", 8) != 0) {
    pn_hub_problem(request, 400, NULL, "`webhook` must be an http or https URL, not \"%s\".",
                   webhook_url);
    return;
  }
  const char *cancel_after = pn_hub_request_header(request, "Cancel-After");
  long deadline_seconds = cancel_after ? parse_duration(cancel_after) : 0;
  if (cancel_after && deadline_seconds < 5) {
    pn_hub_problem(request, 400, NULL,
                   "Cancel-After \"%s\" is not a duration of at least 5 seconds: use seconds "
                   "(90) or units (90s, 5m, 1h30m).",
                   cancel_after);
    return;
  }
  pn_schema_validator *validator = NULL;
  char *schema_error = NULL;
  if (pn_schema_validator_new(json_object_get(target->version, "openapi_schema"),
                              training ? "TrainingInput" : "Input", &validator,
                              &schema_error) < 0) {
    pn_hub_problem(request, training ? 400 : 500, NULL, "The version %s cannot take %s: %s.",
                   text_of(target->version, "id"), training ? "trainings" : "predictions",
                   schema_error ? schema_error : "its schema is unusable");
    pn_free(schema_error);
    return;
  }
  json_t *coerced = NULL, *detail = NULL;
  int valid = pn_schema_validate(validator, input, &coerced, &detail);
  json_decref(coerced);
  /* The instance gets the real inputs, in memory only; the row keeps copies with the
   * secrets redacted, the request to resume with too (a secret is never a file URL). */
  int secrets = 0;
  json_t *shown_input = NULL, *instance_input = NULL, *stored_request_input = NULL;
  if (valid == 0 && (instance_input = rewrite_file_urls(request, input, target->version))) {
    shown_input = redact_secrets(validator, input, &secrets);
    stored_request_input = redact_secrets(validator, instance_input, &secrets);
  }
  pn_schema_validator_free(validator);
  if (valid < 0) {
    if (detail)
      pn_hub_problem_invalid(request, detail);
    else
      pn_hub_problem(request, 500, NULL, "The hub ran out of memory validating the input.");
    return;
  }
  json_t *instance_request = json_pack("{s:o}", "input", instance_input);
  json_t *stored_request = json_pack("{s:o}", "input", stored_request_input);
  char id[27], now[40], token[60];
  uint64_t now_ns = pn_clock_realtime_ns();
  if (!shown_input || !instance_request || !stored_request ||
      pn_hub_id_uuid7(now_ns / 1000000u, id) < 0 ||
      pn_hub_stream_token(request->hub, id, token) < 0) {
    json_decref(shown_input);
    json_decref(instance_request);
    json_decref(stored_request);
    pn_hub_problem(request, 500, NULL, "The hub could not make an id.");
    return;
  }
  pn_clock_format(now_ns, 0, now, sizeof now);
  const char *stream = stream_kind(target->version, training);
  int wait = wait_seconds(request);
  json_t *row = json_pack(
      "{s:s, s:s, s:s, s:O, s:O, s:O, s:n, s:s, s:n, s:s, s:s, s:s?, s:o, s:{}, s:s, s:I, "
      "s:n, s:n, s:b, s:s, s:s?, s:b, s:o, s:O, s:i, s:b}",
      "id", id, "kind", kind, "account", request->account, "model",
      json_object_get(target->model, "id"), "version", json_object_get(target->version, "id"),
      "input", shown_input, "output", "logs", "", "error", "status", "starting", "source", "api",
      "webhook", webhook_url, "webhook_events_filter", pn_webhook_events_json(events), "metrics",
      "created_at", now, "created_ns", (json_int_t)now_ns, "started_at", "completed_at",
      "data_removed", 0, "stream_token", token, "stream", stream, "dispatched", 0, "target",
      target_json(target, training ? "train" : "predict"), "request", stored_request,
      "wait_seconds", wait, "has_secrets", secrets > 0);
  json_decref(shown_input);
  json_decref(stored_request);
  if (!row || !instance_request) {
    json_decref(row);
    json_decref(instance_request);
    pn_hub_problem(request, 500, NULL, "The hub ran out of memory.");
    return;
  }
  if (target->deployment)
    json_object_set(row, "deployment", json_object_get(target->deployment, "id"));
  if (destination)
    json_object_set_new(row, "destination", json_string(destination));
  if (deadline_seconds > 0) {
    uint64_t deadline_ns = now_ns + (uint64_t)deadline_seconds * 1000000000u;
    char deadline_text[40];
    json_object_set_new(
        row, "deadline",
        json_string(pn_clock_format(deadline_ns, 0, deadline_text, sizeof deadline_text)));
    json_object_set_new(row, "deadline_ns", json_integer((json_int_t)deadline_ns));
  }
  int rc = save_row(request->hub, row, 1);
  if (rc < 0) {
    json_decref(row);
    json_decref(instance_request);
    pn_hub_store_failed(request, rc, "saving the prediction");
    return;
  }
  add_live(request->hub, row);
  rc = submit(request->hub, row, instance_request);
  json_decref(instance_request);
  if (rc == PN_ECLOSED) {
    /* The shared queue is unreachable: nothing is kept, so that the client's retry is
     * the only copy. */
    live *item = find_live(request->hub, id);
    if (item)
      free_live(item);
    pn_store_delete(request->hub->store, PN_STORE_PREDICTIONS, id);
    json_decref(row);
    pn_hub_header(request, "Retry-After", "1");
    pn_hub_problem(request, 503, NULL,
                   "The hub's queue (%s) is unreachable or refused the prediction, so it was "
                   "not created. Retry; the hub reconnects by itself.",
                   pn_queue_engine_name(request->hub->queue));
    return;
  }
  count_run(request->hub, text_of(target->model, "id"));
  if (rc < 0) {
    char *error = pn_strfmt("the hub could not queue the prediction: %s", pn_strerror(rc));
    conclude(request->hub, row, "failed", error);
    pn_free(error);
  }
  /* The scheduler may have reported events already: answer with the stored row. */
  live *item = find_live(request->hub, id);
  if (item && item->finished)
    item = NULL;
  json_decref(row);
  row = NULL;
  if (pn_store_get(request->hub->store, PN_STORE_PREDICTIONS, id, &row) < 0) {
    pn_hub_store_failed(request, PN_EIO, "reading the prediction back");
    return;
  }
  if (wait > 0 && item)
    hold(item, request->request, wait);
  else
    reply_prediction(request->hub, request->request, 201, row, 0, wait);
  json_decref(row);
}

void pn_hub_predictions_create(pn_hub_request *request) {
  json_t *body = pn_hub_body_object(request);
  if (!body)
    return;
  const char *version = text_of(body, "version");
  resolved target = {0};
  if (!version)
    pn_hub_problem(request, 400, NULL,
                   "The body needs `version`: a version id, owner/name:id, or owner/name.");
  else if (resolve_version(request, version, &target) == 0)
    create(request, body, &target, "prediction", NULL);
  resolved_free(&target);
  json_decref(body);
}

void pn_hub_model_predictions_create(pn_hub_request *request) {
  json_t *body = pn_hub_body_object(request);
  if (!body)
    return;
  resolved target = {0};
  if (resolve_latest(request, request->params[0], request->params[1], &target) == 0)
    create(request, body, &target, "prediction", NULL);
  resolved_free(&target);
  json_decref(body);
}

void pn_hub_deployment_predictions_create(pn_hub_request *request) {
  json_t *body = pn_hub_body_object(request);
  if (!body)
    return;
  char *id = pn_strfmt("%s/%s", request->params[0], request->params[1]);
  resolved target = {0};
  if (!id || pn_store_get(request->hub->store, PN_STORE_DEPLOYMENTS, id, &target.deployment) < 0 ||
      strcmp(text_of(target.deployment, "owner"), request->account) != 0) {
    pn_hub_problem(request, 404, NULL,
                   "There is no deployment %s in your account. List them at /v1/deployments.",
                   id ? id : "");
  } else {
    json_t *release = json_object_get(target.deployment, "current_release");
    const char *model = text_of(release, "model");
    const char *slash = model ? strchr(model, '/') : NULL;
    char *owner = slash ? pn_strndup(model, (size_t)(slash - model)) : NULL;
    json_t *model_row = owner ? pn_hub_model_visible(request, owner, slash + 1) : NULL;
    if (model_row && load_version(request, model_row, text_of(release, "version"), &target) == 0)
      create(request, body, &target, "prediction", NULL);
    json_decref(model_row);
    pn_free(owner);
  }
  pn_free(id);
  resolved_free(&target);
  json_decref(body);
}

void pn_hub_trainings_create(pn_hub_request *request) {
  json_t *body = pn_hub_body_object(request);
  if (!body)
    return;
  const char *destination = text_of(body, "destination");
  const char *slash = destination ? strchr(destination, '/') : NULL;
  json_t *destination_model = NULL;
  if (slash)
    pn_store_get(request->hub->store, PN_STORE_MODELS, destination, &destination_model);
  resolved target = {0};
  json_t *model = NULL;
  if (!destination) {
    pn_hub_problem(request, 400, NULL,
                   "A training needs `destination`: an existing model of yours, owner/name, "
                   "that receives the trained version.");
  } else if (!destination_model ||
             strcmp(text_of(destination_model, "owner"), request->account) != 0) {
    pn_hub_problem(request, 404, NULL,
                   "The destination %s does not exist. Create it first (POST /v1/models).",
                   destination);
  } else if ((model = pn_hub_model_visible(request, request->params[0], request->params[1])) &&
             load_version(request, model, request->params[2], &target) == 0) {
    create(request, body, &target, "training", destination);
  }
  json_decref(model);
  json_decref(destination_model);
  resolved_free(&target);
  json_decref(body);
}

/* --- reading and canceling ------------------------------------------------------------ */

static json_t *render_prediction(pn_hub_request *request, const json_t *row) {
  return pn_hub_prediction_object(request->hub, row);
}

void pn_hub_predictions_list(pn_hub_request *request) {
  /* created_after/created_before compare as text: RFC 3339 UTC sorts like time. */
  pn_store_query query = {.account = request->account,
                          .parent = "prediction",
                          .created_after = pn_hub_query(request, "created_after"),
                          .created_before = pn_hub_query(request, "created_before")};
  pn_hub_reply_page(request, PN_STORE_PREDICTIONS, &query, render_prediction);
}

void pn_hub_trainings_list(pn_hub_request *request) {
  pn_store_query query = {.account = request->account, .parent = "training"};
  pn_hub_reply_page(request, PN_STORE_PREDICTIONS, &query, render_prediction);
}

static json_t *own_prediction(pn_hub_request *request) {
  json_t *row = NULL;
  if (pn_store_get(request->hub->store, PN_STORE_PREDICTIONS, request->params[0], &row) == 0 &&
      strcmp(text_of(row, "account"), request->account) == 0)
    return row;
  json_decref(row);
  pn_hub_problem(request, 404, NULL,
                 "There is no prediction %s in your account. List yours at /v1/predictions.",
                 request->params[0]);
  return NULL;
}

void pn_hub_prediction_get(pn_hub_request *request) {
  json_t *row = own_prediction(request);
  if (!row)
    return;
  pn_hub_reply(request, 200, pn_hub_prediction_object(request->hub, row));
  json_decref(row);
}

void pn_hub_prediction_cancel(pn_hub_request *request) {
  json_t *row = own_prediction(request);
  if (!row)
    return;
  if (!is_terminal(text_of(row, "status"))) {
    /* A queued one is dropped; a running one gets the instance's cancel. Either way
     * the reply is already the terminal object, as JS run() takes it for final. */
    pn_scheduler_cancel(request->hub->scheduler, request->params[0]);
    int rc = conclude(request->hub, row, "canceled", NULL);
    if (rc < 0) {
      pn_hub_store_failed(request, rc, "canceling the prediction");
      json_decref(row);
      return;
    }
  }
  pn_hub_reply(request, 200, pn_hub_prediction_object(request->hub, row));
  json_decref(row);
}

/* A stream rebuilt from a finished row: logs, each output item, error, done. */
static pn_hub_stream *replay_stream(pn_hub *hub, const json_t *row) {
  pn_hub_stream *stream = pn_hub_stream_new(hub->base, REBUILT_ID_PREFIX);
  if (!stream)
    return NULL;
  live replay = {.hub = hub, .stream = stream};
  stream_changes(&replay, row);
  finish_stream(stream, row);
  return stream;
}

/* What a reader gets that resumes, with Last-Event-ID, a stream the hub no longer
 * keeps: which of its events it missed is not known any more, and a rebuilt stream
 * numbers its own, so an `error` event says so (every client raises it) and `done`
 * ends the response, rather than a silent gap or an end without `done`, on which Go's
 * client reconnects again and again. */
static pn_hub_stream *expired_stream(pn_hub *hub) {
  pn_hub_stream *stream = pn_hub_stream_new(hub->base, EXPIRED_ID_PREFIX);
  if (!stream)
    return NULL;
  if (pn_hub_stream_publish(
          stream, "error",
          "{\"detail\":\"This prediction has finished and the hub no longer keeps its stream's "
          "events, so it cannot resume after your Last-Event-ID: a finished stream is kept for "
          "PINION_STREAM_RETAIN_SECONDS, or less once PINION_STREAM_RETAIN_MAX or "
          "PINION_STREAM_RETAIN_BYTES is reached. Get the prediction for its output, or read "
          "the stream again without Last-Event-ID for all of it.\"}") < 0) {
    pn_hub_stream_free(stream);
    return NULL;
  }
  pn_hub_stream_finish(stream, "{\"reason\":\"error\"}");
  return stream;
}

/* Answers a reader of a stream the hub does not keep (never here, expired or evicted):
 * one rebuilt from `row`, resumed after `last_event_id` when that is one of the rebuilt
 * stream's ids, else (an id of the stream that went) the expired answer. */
static void answer_without_stream(pn_hub_request *request, const json_t *row,
                                  const char *last_event_id) {
  size_t after;
  int resumes_gone = pn_hub_stream_resume_after(REBUILT_ID_PREFIX, last_event_id, &after) < 0;
  pn_hub_stream *stream =
      resumes_gone ? expired_stream(request->hub) : replay_stream(request->hub, row);
  if (!stream) {
    pn_hub_problem(request, 503, NULL, "The hub ran out of memory. Retry.");
    return;
  }
  pn_hub_stream_subscribe(stream, request->request, resumes_gone ? NULL : last_event_id, NULL);
  pn_hub_stream_free(stream);
}

void pn_hub_stream_get(pn_hub_request *request) {
  char id[27];
  json_t *row = NULL;
  if (pn_hub_stream_token_check(request->hub, request->params[0], id) < 0 ||
      pn_store_get(request->hub->store, PN_STORE_PREDICTIONS, id, &row) < 0) {
    pn_hub_problem(request, 404, NULL,
                   "This stream URL is not valid. Use `urls.stream` of the prediction as it "
                   "is.");
    return;
  }
  const char *last = pn_hub_request_header(request, "Last-Event-ID");
  live *item = find_live(request->hub, id);
  if (item && item->stream) {
    int rc = pn_hub_stream_subscribe(item->stream, request->request, last, text_of(row, "account"));
    if (rc < 0) {
      pn_hub_stream_limits limits = pn_hub_stream_limits_now();
      pn_hub_header(request, "Retry-After", "5");
      if (rc == PN_EBUSY)
        pn_hub_problem(request, 429, NULL,
                       "This prediction's stream has %zu readers, its limit "
                       "(PINION_STREAM_SUBSCRIBERS). Close one, or poll the prediction instead.",
                       limits.subscribers);
      else if (rc == PN_EAGAIN)
        pn_hub_problem(request, 429, NULL,
                       "The streams of this account's predictions have %zu readers, the limit "
                       "(PINION_STREAM_ACCOUNT_SUBSCRIBERS). Close some, or poll instead.",
                       limits.account_subscribers);
      else
        pn_hub_problem(request, 503, NULL, "The hub ran out of memory. Retry.");
    }
  } else {
    answer_without_stream(request, row, last);
  }
  json_decref(row);
}

/* The webhook's body with every copy of the instance's credential replaced: a model
 * server may quote its own URLs in an error or a log line (a failed upload), and what
 * it sends becomes visible to the prediction's creator. Returns a new pn_buf the caller
 * frees, or leaves `out` empty when there is nothing to replace. */
static int redact_credential(const pn_hub_request *request, pn_buf *out) {
  const char *credential = request->params[0];
  size_t length = strlen(credential);
  const char *at = (const char *)request->body, *end = at + request->body_length;
  const char *found = memmem(at, request->body_length, credential, length);
  if (!found)
    return 0;
  pn_buf_init(out, request->body_length + 1);
  for (; found; found = memmem(at, (size_t)(end - at), credential, length)) {
    pn_buf_append(out, at, (size_t)(found - at));
    pn_buf_append_str(out, "REDACTED");
    at = found + length;
  }
  return pn_buf_append(out, at, (size_t)(end - at));
}

void pn_hub_instance_webhook(pn_hub_request *request) {
  pn_buf redacted = {0};
  if (redact_credential(request, &redacted) < 0) {
    pn_buf_free(&redacted);
    pn_hub_problem(request, 503, NULL, "The hub ran out of memory; send the webhook again.");
    return;
  }
  if (redacted.data) {
    request->body = (const unsigned char *)redacted.data;
    request->body_length = redacted.length;
  }
  json_t *body = pn_hub_body_object(request);
  pn_buf_free(&redacted);
  if (!body)
    return;
  int rc = pn_scheduler_webhook(request->hub->scheduler, request->params[0], body);
  json_decref(body);
  if (rc == PN_ENOENT)
    pn_hub_problem(request, 401, "Unauthenticated", "No running instance holds this credential.");
  else
    pn_hub_reply(request, 200, json_object());
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
      add_live(hub, row);
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
            "stopped first); its secret inputs are not stored, so it fails", id);
    conclude(hub, row, "failed",
             "the hub that created the prediction stopped before queueing it; secret inputs "
             "are not stored, create the prediction again");
    return;
  }
  int rc = submit_message(hub, row, json_object_get(row, "request"), 1);
  if (rc == 1)
    pn_warn("hub: prediction %s was stored but never queued (the hub that created it "
            "stopped first); queued it now", id);
  else if (rc < 0)
    pn_warn("hub: prediction %s was stored but never queued, and queueing it failed: %s "
            "(tried again on the next sweep)", id, pn_strerror(rc));
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
  double age = pn_env_number("PINION_QUEUE_ORPHAN_SECONDS", "seconds", 1, 86400,
                             ORPHAN_AGE_SECONDS);
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
  const char **ids = pn_calloc(count ? count : 1, sizeof *ids);
  int *absent = pn_calloc(count ? count : 1, sizeof *absent);
  char *asked = pn_calloc(count ? count : 1, 1);
  for (size_t first = 0; ids && absent && asked && first < count; first++) {
    if (asked[first])
      continue;
    /* Every row of this target, in one question. */
    const char *key = text_of(json_object_get(json_array_get(rows, first), "target"), "key");
    size_t of_key = 0;
    size_t *at = pn_calloc(count, sizeof *at);
    for (size_t i = first; at && key && i < count; i++) {
      json_t *row = json_array_get(rows, i);
      const char *row_key = text_of(json_object_get(row, "target"), "key");
      if (!asked[i] && row_key && strcmp(row_key, key) == 0) {
        asked[i] = 1;
        at[of_key] = i;
        ids[of_key++] = text_of(row, "id");
      }
    }
    asked[first] = 1;
    if (at && of_key && pn_queue_find_absent(hub->queue, key, ids, of_key, absent) == 0)
      for (size_t j = 0; j < of_key; j++)
        if (absent[j])
          requeue_orphan(hub, json_array_get(rows, at[j]));
    pn_free(at);
  }
  pn_free(asked);
  pn_free(absent);
  pn_free(ids);
  json_decref(rows);
}

void pn_hub_predictions_free(pn_hub *hub) {
  if (hub->lives) {
    while (hub->lives->retained.head)
      free_live(hub->lives->retained.head);
    while (hub->lives->running.head)
      free_live(hub->lives->running.head);
    pn_map_free(&hub->lives->by_id);
    pn_free(hub->lives);
    hub->lives = NULL;
  }
  while (hub->held) {
    held *next = hub->held->next;
    pn_free(hub->held->id);
    pn_free(hub->held->kind);
    json_decref(hub->held->detail);
    pn_free(hub->held);
    hub->held = next;
  }
  if (hub->replay)
    event_free(hub->replay);
  hub->replay = NULL;
  pn_hub_deliveries_free();
}
