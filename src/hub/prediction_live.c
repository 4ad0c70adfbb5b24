/* The live entries of predictions (hub/prediction_live.h): what this process keeps of a
 * prediction beside its store row while it is in flight — its SSE stream, its client
 * webhook, the create requests held by `Prefer: wait`, its Cancel-After timer — and,
 * once it finished, its stream for a while, so that readers who reconnect get the same
 * events with the same ids. An entry never moves the row: prediction_life.c does, then
 * hands the entry the row to publish. */
#include "hub/prediction_live.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/json.h"
#include "core/listen.h"
#include "core/map.h"
#include "hub/objects.h"
#include "hub/stream.h"
#include "hub/webhooks.h"

#include <event2/http.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
  struct event *deadline; /* Cancel-After */
  pn_hub_live_deadline_fn on_deadline;
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

static const char *text_of(const json_t *row, const char *name) {
  return json_string_value(json_object_get(row, name));
}

static int is_terminal(const char *status) {
  return status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
                    strcmp(status, "canceled") == 0);
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

pn_hub_live *pn_hub_live_find(pn_hub *hub, const char *id) {
  return hub->lives && id ? pn_map_get(&hub->lives->by_id, id) : NULL;
}

void pn_hub_streams_retained(const pn_hub *hub, size_t *count, size_t *bytes) {
  *count = hub->lives ? hub->lives->retained.count : 0;
  *bytes = hub->lives ? hub->lives->retained_bytes : 0;
}

pn_hub_live *pn_hub_live_add(pn_hub *hub, const json_t *row) {
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
  return item;
}

/* --- replies held by Prefer: wait ---------------------------------------------------- */

void pn_hub_live_reply_created(pn_hub *hub, struct evhttp_request *request, const json_t *row,
                               int force_starting, int wait_seconds) {
  pn_hub_request reply = {.hub = hub, .request = request};
  json_t *object = pn_hub_prediction_object(hub, row);
  if (force_starting)
    json_object_set_new(object, "status", json_string("starting"));
  if (wait_seconds > 0) {
    char applied[24];
    snprintf(applied, sizeof applied, wait_seconds == PN_HUB_WAIT_MAX_SECONDS ? "wait" : "wait=%d",
             wait_seconds);
    pn_hub_header(&reply, "Preference-Applied", applied);
  }
  const char *get = json_string_value(json_object_get(json_object_get(object, "urls"), "get"));
  if (get)
    pn_hub_header(&reply, "Location", get);
  pn_hub_reply(&reply, 201, object);
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
    pn_hub_live_reply_created(hub, held->request, row, force,
                              seconds ? seconds : PN_HUB_WAIT_MAX_SECONDS);
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

int pn_hub_live_hold(pn_hub_live *item, struct evhttp_request *request, int seconds) {
  waiter *held = pn_calloc(1, sizeof *held);
  if (held)
    held->timer = evtimer_new(item->hub->base, on_wait_elapsed, held);
  if (!held || !held->timer) {
    pn_free(held);
    return PN_ENOMEM;
  }
  held->live = item;
  held->request = request;
  held->next = item->waiters;
  item->waiters = held;
  struct timeval delay = {seconds, 0};
  evtimer_add(held->timer, &delay);
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  if (connection)
    evhttp_connection_set_closecb(connection, on_waiter_closed, held);
  return 0;
}

/* --- the end of a prediction ------------------------------------------------------- */

void pn_hub_live_stream_changes(pn_hub_live *item, const json_t *row) {
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

void pn_hub_live_free(pn_hub_live *item) {
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

static void on_retain_expired(evutil_socket_t fd, short what, void *arg) { pn_hub_live_free(arg); }

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
    pn_hub_live_free(all->retained.head);
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

void pn_hub_live_finish(pn_hub_live *item, const json_t *row, int completed) {
  pn_hub_live_stream_changes(item, row);
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
    pn_hub_live_free(item);
  evict_retained(hub);
}

/* A stream rebuilt from a finished row: logs, each output item, error, done. */
static pn_hub_stream *replay_stream(pn_hub *hub, const json_t *row) {
  pn_hub_stream *stream = pn_hub_stream_new(hub->base, REBUILT_ID_PREFIX);
  if (!stream)
    return NULL;
  live replay = {.hub = hub, .stream = stream};
  pn_hub_live_stream_changes(&replay, row);
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

int pn_hub_live_subscribe_rebuilt(pn_hub *hub, struct evhttp_request *request, const json_t *row,
                                  const char *last_event_id) {
  size_t after;
  int resumes_gone = pn_hub_stream_resume_after(REBUILT_ID_PREFIX, last_event_id, &after) < 0;
  pn_hub_stream *stream = resumes_gone ? expired_stream(hub) : replay_stream(hub, row);
  if (!stream)
    return PN_ENOMEM;
  pn_hub_stream_subscribe(stream, request, resumes_gone ? NULL : last_event_id, NULL);
  pn_hub_stream_free(stream);
  return 0;
}

pn_hub_stream *pn_hub_live_stream(pn_hub *hub, const char *id) {
  live *item = pn_hub_live_find(hub, id);
  return item ? item->stream : NULL;
}

int pn_hub_live_finished(const pn_hub_live *item) { return item->finished; }

static void on_deadline(evutil_socket_t fd, short what, void *arg) {
  live *item = arg;
  item->on_deadline(item->hub, item->id);
}

void pn_hub_live_arm_deadline(pn_hub_live *item, uint64_t deadline_ns, pn_hub_live_deadline_fn fn) {
  uint64_t now = pn_clock_realtime_ns();
  uint64_t wait = deadline_ns > now ? deadline_ns - now : 0;
  if (item->deadline)
    event_free(item->deadline);
  item->on_deadline = fn;
  item->deadline = evtimer_new(item->hub->base, on_deadline, item);
  struct timeval delay = {(time_t)(wait / 1000000000u), (suseconds_t)(wait % 1000000000u / 1000)};
  if (item->deadline)
    evtimer_add(item->deadline, &delay);
}

void pn_hub_live_notify(pn_hub_live *item, unsigned event) {
  pn_hub_hook_notify(item->hook, event);
}

void pn_hub_live_drop_hook(pn_hub_live *item) {
  pn_hub_hook_free(item->hook);
  item->hook = NULL;
}

int pn_hub_lives_each_in_flight(pn_hub *hub, void (*each)(pn_hub *hub, const char *id)) {
  size_t count = hub->lives ? hub->lives->running.count : 0;
  if (count == 0)
    return 0;
  char(*ids)[sizeof ((live *)0)->id] = pn_calloc(count, sizeof *ids);
  if (!ids)
    return PN_ENOMEM;
  size_t n = 0;
  for (live *item = hub->lives->running.head; item && n < count; item = item->next)
    memcpy(ids[n++], item->id, sizeof ids[0]);
  for (size_t i = 0; i < n; i++)
    each(hub, ids[i]);
  pn_free(ids);
  return 0;
}

void pn_hub_lives_free(pn_hub *hub) {
  if (!hub->lives)
    return;
  while (hub->lives->retained.head)
    pn_hub_live_free(hub->lives->retained.head);
  while (hub->lives->running.head)
    pn_hub_live_free(hub->lives->running.head);
  pn_map_free(&hub->lives->by_id);
  pn_free(hub->lives);
  hub->lives = NULL;
}
