/* The Cog HTTP API server. See server.h.
 *
 * Every prediction the server knows about is an `entry`: its job (serve/job.h), the
 * sync request waiting for it, its webhook and its SSE stream. Entries exist from
 * acceptance to completion; finished predictions are forgotten, as in Cog. Requests
 * are checked in Cog's order: streaming support (406), body (415/400/422), PUT id rules,
 * readiness (503), input validation (422), capacity (409). */
#include "serve/server.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/http_client.h"
#include "core/json.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/version.h"
#include "runtime/ipc.h"
#include "serve/inputs.h"
#include "serve/job.h"
#include "serve/reload.h"
#include "serve/request.h"
#include "serve/sse.h"
#include "serve/webhook.h"
#include "web/web.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/socket.h>

#define REQUEST_BODY_MAX (100u * 1024u * 1024u)
#define REQUEST_HEADERS_MAX (64u * 1024u)
#define HEALTHCHECK_TIMEOUT_SECONDS 5
#define SHUTDOWN_GRACE_SECONDS 30
/* Ids of predictions that just finished, so that a cancel racing the end answers 200
 * {} as Cog does (it keeps the id until the predictor has returned), not 404. */
#define RECENT_IDS 64
#define RECENT_SECONDS 60

typedef struct server server;

typedef struct entry {
  server *owner;
  pn_job *job;
  struct evhttp_request *waiting; /* a sync request to answer at the end */
  struct event *hangup;           /* watches the waiting request's socket for EOF */
  pn_webhook *webhook;
  pn_sse *sse;          /* every prediction of a @streaming model has one, with history */
  int created_as_stream; /* its stream ending early cancels it */
  int training;
  struct entry *next;
} entry;

typedef struct health_wait {
  struct evhttp_request *request;
  struct health_wait *next;
} health_wait;

struct server {
  const pn_server_options *options;
  struct event_base *base;
  struct evhttp *http;
  pn_listen *listen;
  pn_http_client *client;
  pn_model *model;
  entry *entries;
  char *recent_ids[RECENT_IDS]; /* a ring of finished ids, oldest overwritten */
  uint64_t recent_ns[RECENT_IDS];
  unsigned recent_next;
  health_wait *health_waits;
  long health_id;
  struct event *health_timer;
  char *user_health_error;
  struct event *signals[3];
  struct event *drain_timer;
  struct event *trim_timer; /* returns freed memory once predictions stop */
  pn_reload *reload;
  int shutting_down;
  int exit_code;
};

/* --- replies ------------------------------------------------------------------ */

static void reply_text(struct evhttp_request *request, int status, const char *type,
                       const char *body, size_t length) {
  struct evbuffer *buffer = evbuffer_new();
  if (buffer && body)
    evbuffer_add(buffer, body, length);
  evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type", type);
  evhttp_send_reply(request, status, NULL, buffer);
  if (buffer)
    evbuffer_free(buffer);
}

static void free_reply_body(const void *data, size_t length, void *arg) { pn_free((void *)data); }

static void reply_json(struct evhttp_request *request, int status, const json_t *value) {
  pn_buf body;
  pn_buf_init(&body, PN_JSON_TEXT_MAX);
  if (pn_json_write(value, PN_JSON_SERDE_NUMBERS, &body) < 0) {
    pn_buf_free(&body);
    reply_text(request, 500, "application/json", "{\"detail\":\"out of memory\"}", 26);
    return;
  }
  /* Hand the text to libevent without copying it: outputs can be megabytes. */
  struct evbuffer *buffer = evbuffer_new();
  size_t length = body.length;
  char *text = pn_buf_take(&body);
  if (!buffer || evbuffer_add_reference(buffer, text, length, free_reply_body, NULL) < 0) {
    pn_free(text);
    if (buffer)
      evbuffer_free(buffer);
    reply_text(request, 500, "application/json", "{\"detail\":\"out of memory\"}", 26);
    return;
  }
  evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type", "application/json");
  evhttp_send_reply(request, status, NULL, buffer);
  evbuffer_free(buffer);
}

static void reply_new(struct evhttp_request *request, int status, json_t *value) {
  reply_json(request, status, value);
  json_decref(value);
}

static void reply_detail(struct evhttp_request *request, int status, const char *detail) {
  reply_new(request, status, json_pack("{s:s}", "detail", detail));
}

static void reply_failure(struct evhttp_request *request, int status, const char *error) {
  reply_new(request, status, json_pack("{s:s, s:s}", "error", error, "status", "failed"));
}

/* --- entries ------------------------------------------------------------------ */

static entry *find_entry(server *self, const char *id) {
  for (entry *item = self->entries; item; item = item->next)
    if (strcmp(pn_job_id(item->job), id) == 0)
      return item;
  return NULL;
}

static void remember_finished(server *self, const char *id) {
  unsigned slot = self->recent_next++ % RECENT_IDS;
  pn_free(self->recent_ids[slot]);
  self->recent_ids[slot] = pn_strdup(id);
  self->recent_ns[slot] = pn_clock_monotonic_ns();
}

static int finished_recently(const server *self, const char *id) {
  uint64_t now = pn_clock_monotonic_ns();
  for (unsigned i = 0; i < RECENT_IDS; i++)
    if (self->recent_ids[i] && strcmp(self->recent_ids[i], id) == 0 &&
        now - self->recent_ns[i] < (uint64_t)RECENT_SECONDS * 1000000000u)
      return 1;
  return 0;
}

static void remove_entry(server *self, entry *gone) {
  for (entry **at = &self->entries; *at; at = &(*at)->next) {
    if (*at == gone) {
      *at = gone->next;
      break;
    }
  }
  pn_sse_free(gone->sse);
  if (gone->hangup)
    event_free(gone->hangup);
  pn_job_unref(gone->job);
  pn_free(gone);
}

static void check_drained(server *self);

static json_t *snapshot(void *arg) {
  entry *item = arg;
  return pn_job_response(item->job, 0);
}

static void on_sync_request_closed(struct evhttp_connection *connection, void *arg) {
  entry *item = arg;
  /* A client that hangs up on a sync prediction cancels it, as in Cog. */
  pn_listen_release_request(item->waiting);
  item->waiting = NULL;
  if (item->hangup)
    event_del(item->hangup);
  pn_job_cancel(item->job);
}

/* evhttp stops reading a connection while its request is being answered, so it never
 * sees a client hang up on a sync prediction; this event does, by peeking. Bytes of a
 * pipelined request are left for evhttp and end the watch. */
static void on_client_readable(evutil_socket_t fd, short what, void *arg) {
  entry *item = arg;
  char byte;
  ssize_t got = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (got > 0)
    return;
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    event_add(item->hangup, NULL);
    return;
  }
  pn_job_cancel(item->job);
}

static void watch_for_hangup(server *self, entry *item, struct evhttp_connection *connection) {
  struct bufferevent *events = evhttp_connection_get_bufferevent(connection);
  evutil_socket_t fd = events ? bufferevent_getfd(events) : -1;
  if (fd < 0)
    return;
  item->hangup = event_new(self->base, fd, EV_READ, on_client_readable, item);
  if (item->hangup)
    event_add(item->hangup, NULL);
}

/* A failed prediction is diagnosable from the server's log alone: its id, error and
 * the predictor's traceback go to stderr, as `pinion predict` prints them. */
static void log_failure(const pn_prediction *prediction) {
  if (!prediction || prediction->status != PN_PREDICTION_FAILED)
    return;
  const char *traceback = prediction->traceback ? prediction->traceback : "";
  size_t length = strlen(traceback);
  if (length && traceback[length - 1] == '\n')
    length--; /* pn_error ends the line */
  pn_error("prediction %s failed: %s%s%.*s", prediction->id,
           prediction->error ? prediction->error : "unknown error", length ? "\n" : "",
           (int)length, traceback);
}

static void on_job_event(pn_job *job, enum pn_job_event event, const json_t *detail, void *arg) {
  entry *item = arg;
  server *self = item->owner;
  switch (event) {
  case PN_JOB_START:
    if (item->webhook)
      pn_webhook_notify(item->webhook, PN_WEBHOOK_START);
    if (item->sse) {
      json_t *data = json_pack("{s:s, s:s}", "id", pn_job_id(job), "status", "processing");
      pn_sse_publish(item->sse, "start", data);
      json_decref(data);
    }
    break;
  case PN_JOB_OUTPUT:
    if (item->webhook)
      pn_webhook_notify(item->webhook, PN_WEBHOOK_OUTPUT);
    if (item->sse)
      pn_sse_publish(item->sse, "output", detail);
    break;
  case PN_JOB_LOG:
    if (item->webhook)
      pn_webhook_notify(item->webhook, PN_WEBHOOK_LOGS);
    if (item->sse)
      pn_sse_publish(item->sse, "log", detail);
    break;
  case PN_JOB_METRIC:
    if (item->sse)
      pn_sse_publish(item->sse, "metric", detail);
    break;
  case PN_JOB_DONE: {
    log_failure(pn_job_prediction(job));
    json_t *final = pn_job_response(job, 0);
    if (item->webhook) {
      pn_webhook_complete(item->webhook, final);
      item->webhook = NULL;
    }
    if (item->sse) {
      pn_sse_publish(item->sse, "completed", final);
      pn_sse_end(item->sse);
    }
    if (item->hangup)
      event_del(item->hangup);
    if (item->waiting) {
      struct evhttp_connection *connection = evhttp_request_get_connection(item->waiting);
      if (connection)
        evhttp_connection_set_closecb(connection, NULL, NULL);
      reply_json(item->waiting, 200, final);
      item->waiting = NULL;
    }
    json_decref(final);
    remember_finished(self, pn_job_id(job));
    pn_job_detach(job);
    remove_entry(self, item);
    check_drained(self);
    struct timeval idle = {2, 0};
    event_add(self->trim_timer, &idle);
    break;
  }
  }
}

/* The last subscriber left: a prediction made by its stream is canceled, as in Cog; one
 * made otherwise (and joined by a streaming PUT) goes on. */
static void on_stream_empty(pn_sse *sse, void *arg) {
  entry *item = arg;
  if (item->created_as_stream)
    pn_job_cancel(item->job);
}

/* --- request bodies ------------------------------------------------------------- */

static const char *header(struct evhttp_request *request, const char *name) {
  return evhttp_find_header(evhttp_request_get_input_headers(request), name);
}

static int is_json_type(const char *type) {
  size_t length = strcspn(type, ";");
  while (length && type[length - 1] == ' ')
    length--;
  if (length == 16 && strncasecmp(type, "application/json", 16) == 0)
    return 1;
  /* application/<anything>+json */
  return length > 17 && strncasecmp(type, "application/", 12) == 0 &&
         strncasecmp(type + length - 5, "+json", 5) == 0;
}

/* Reads and checks the request envelope (spec §4.1, §4.3). Replies and returns -1 on
 * a problem. */
static int read_create_request(struct evhttp_request *request, pn_serve_request *out) {
  memset(out, 0, sizeof *out);
  out->events = PN_WEBHOOK_ALL;
  struct evbuffer *input = evhttp_request_get_input_buffer(request);
  size_t length = evbuffer_get_length(input);
  const char *type = header(request, "Content-Type");
  if (!type) {
    out->body = json_object(); /* Cog ignores a body that says nothing of its type */
    return 0;
  }
  if (!is_json_type(type)) {
    reply_detail(request, 415, "Expected request with `Content-Type: application/json`");
    return -1;
  }
  if (length == 0) {
    out->body = json_object();
    return 0;
  }
  char *detail = NULL;
  int status = pn_serve_request_parse((const char *)evbuffer_pullup(input, (ev_ssize_t)length),
                                      length, out, &detail);
  if (status != 0) {
    reply_detail(request, status, detail ? detail : "the request body could not be read");
    pn_free(detail);
    return -1;
  }
  return 0;
}

static int wants_stream(struct evhttp_request *request) {
  const char *accept = header(request, "Accept");
  return accept && strstr(accept, "text/event-stream") != NULL;
}

static int wants_async(struct evhttp_request *request) {
  const char *prefer = header(request, "Prefer");
  return prefer && strcmp(prefer, "respond-async") == 0;
}

static void not_ready(server *self, struct evhttp_request *request) {
  pn_runner *runner = pn_model_runner(self->model);
  switch (pn_runner_state(runner)) {
  case PN_RUNNER_SETUP_FAILED:
    reply_failure(request, 503, "Setup failed, so the model cannot run predictions. GET "
                                "/health-check for the error.");
    return;
  case PN_RUNNER_DEFUNCT:
    reply_failure(request, 503, "The model's worker died repeatedly and the server is "
                                "DEFUNCT; restart it. GET /health-check for details.");
    return;
  default:
    reply_failure(request, 503, "Setup has not finished yet. Wait until it has finished, or "
                                "GET /health-check for status.");
  }
}

/* --- creating predictions ---------------------------------------------------------- */

/* Room in the worker's frame for what travels beside the input (id, context, ...). */
#define FRAME_ROOM (1024u * 1024u)

/* About how many bytes `value` takes as JSON text, within a few percent: its strings
 * and a few bytes per value. Cheap (string lengths are stored) where serializing an
 * 80 MiB input just to measure it would hold the loop. */
static size_t json_size(const json_t *value) {
  size_t size = 8;
  if (json_is_string(value))
    return size + json_string_length(value);
  if (json_is_array(value)) {
    size_t i;
    json_t *element;
    json_array_foreach(value, i, element) size += json_size(element);
  } else if (json_is_object(value)) {
    const char *key;
    json_t *member;
    json_object_foreach((json_t *)value, key, member) size += strlen(key) + json_size(member);
  }
  return size;
}

/* What the input's values add to the frame sent to the worker: file inputs travel
 * as paths, so a data: URI or URL there costs nothing. */
static size_t inline_input_size(const pn_schema_validator *validator, const json_t *input) {
  size_t size = json_size(input);
  for (size_t i = 0; i < pn_schema_input_count(validator); i++) {
    const pn_schema_input *shape = pn_schema_input_at(validator, i);
    json_t *value = shape->is_file ? json_object_get(input, shape->name) : NULL;
    if (value)
      size -= json_size(value);
  }
  return size;
}

static void create(server *self, struct evhttp_request *request, const char *path_id,
                   int training) {
  if (self->shutting_down) {
    reply_failure(request, 503, "The server is shutting down.");
    return;
  }
  int stream = wants_stream(request);
  if (stream && training) {
    reply_new(request, 406,
              json_pack("{s:s}", "error", "Training endpoints do not support streaming responses."));
    return;
  }
  const json_t *signature = pn_runner_signature(pn_model_runner(self->model));
  if (stream && signature && !json_is_true(json_object_get(signature, "streaming"))) {
    reply_new(request, 406,
              json_pack("{s:s}", "error",
                        "This model does not support streaming responses. Add @cog.streaming "
                        "to predict() to enable SSE."));
    return;
  }
  pn_serve_request body;
  if (read_create_request(request, &body) < 0)
    return;
  if (path_id && body.id && strcmp(path_id, body.id) != 0) {
    json_t *detail = json_pack(
        "{s:[{s:[s,s], s:s, s:s}]}", "detail", "loc", "body", "id", "msg",
        training ? "training ID must match the ID supplied in the URL"
                 : "prediction ID must match the ID supplied in the URL",
        "type", "value_error");
    reply_new(request, 422, detail);
    json_decref(body.body);
    return;
  }
  const char *id = path_id ? path_id : body.id;
  entry *existing = id ? find_entry(self, id) : NULL;
  if (existing && path_id) {
    /* Idempotent PUT: the prediction is running; show it, never run it twice. */
    if (stream && existing->sse && pn_sse_subscribe(existing->sse, request) == 0) {
      json_decref(body.body);
      return;
    }
    reply_new(request, 202, pn_job_response(existing->job, 1));
    json_decref(body.body);
    return;
  }
  if (pn_runner_state(pn_model_runner(self->model)) != PN_RUNNER_READY) {
    not_ready(self, request);
    json_decref(body.body);
    return;
  }
  /* /trainings and /predictions reach the same worker, as in Cog, but each is checked
   * against its own inputs when the served document holds both. */
  const pn_schema_validator *validator = pn_model_validator_for(self->model, training);
  json_t *coerced = NULL, *detail = NULL;
  if (pn_schema_validate(validator, body.input, &coerced, &detail) < 0 ||
      pn_inputs_check_remote(validator, coerced, &detail) < 0) {
    json_decref(coerced);
    reply_new(request, 422, json_pack("{s:o}", "detail", detail));
    json_decref(body.body);
    return;
  }
  size_t inline_bytes = inline_input_size(validator, coerced);
  if (inline_bytes > PN_IPC_FRAME_MAX - FRAME_ROOM) {
    char *message = pn_strfmt("input too large (limit %u MiB): the input's values take %zu MiB; "
                              "pass large data as a file input (a URL or data: URI) instead",
                              (PN_IPC_FRAME_MAX - FRAME_ROOM) >> 20, inline_bytes >> 20);
    reply_detail(request, 413, message ? message : "input too large");
    pn_free(message);
    json_decref(coerced);
    json_decref(body.body);
    return;
  }
  char *too_many = NULL;
  if (pn_inputs_check_limits(validator, coerced, &too_many) < 0) {
    reply_new(request, 422,
              json_pack("{s:[{s:[s,s], s:s, s:s}]}", "detail", "loc", "body", "input", "msg",
                        too_many ? too_many : "out of memory", "type", "value_error"));
    pn_free(too_many);
    json_decref(coerced);
    json_decref(body.body);
    return;
  }
  if (existing) {
    reply_failure(request, 409, "A prediction with this ID is already running");
    json_decref(coerced);
    json_decref(body.body);
    return;
  }
  char generated[40];
  if (!id) {
    snprintf(generated, sizeof generated, "pred_%llx",
             (unsigned long long)pn_clock_realtime_ns());
    id = generated;
  }
  entry *item = pn_calloc(1, sizeof *item);
  if (!item) {
    reply_detail(request, 500, "out of memory");
    json_decref(coerced);
    json_decref(body.body);
    return;
  }
  item->owner = self;
  item->training = training;
  pn_job_options job_options = {.upload_url = self->options->upload_url,
                                .traceback_in_logs = self->options->traceback_in_logs};
  int rc = pn_job_start(self->model, self->client, id, coerced, body.context, &job_options,
                        on_job_event, item, &item->job);
  json_decref(coerced);
  if (rc < 0) {
    pn_free(item);
    json_decref(body.body);
    if (rc == PN_EBUSY)
      reply_failure(request, 409, "At capacity - all prediction slots busy");
    else if (rc == PN_ESTATE)
      not_ready(self, request);
    else
      reply_detail(request, 500, pn_strerror(rc));
    return;
  }
  if (body.webhook && *body.webhook) {
    pn_webhook_options webhook_options = {
        .url = body.webhook,
        .events = body.events,
        .throttle_seconds = -1,
        .traceparent = header(request, "traceparent"),
        .tracestate = header(request, "tracestate"),
    };
    item->webhook = pn_webhook_new(self->client, self->base, &webhook_options, snapshot, item);
  }
  item->next = self->entries;
  self->entries = item;
  json_decref(body.body);
  /* A @streaming model's predictions all keep their events, so that a streaming PUT of
   * the same id joins and replays them however the prediction was started (§4.8). */
  int streaming_model = signature && json_is_true(json_object_get(signature, "streaming"));
  if (stream || (streaming_model && !training)) {
    item->created_as_stream = stream;
    item->sse = pn_sse_new(self->base, -1, on_stream_empty, item);
  }
  if (stream) {
    if (!item->sse || pn_sse_subscribe(item->sse, request) < 0) {
      reply_detail(request, 500, "could not start the event stream");
      pn_job_cancel(item->job);
    }
    return;
  }
  if (wants_async(request)) {
    reply_new(request, 202, pn_job_response(item->job, 0));
    return;
  }
  item->waiting = request;
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  if (connection) {
    evhttp_connection_set_closecb(connection, on_sync_request_closed, item);
    watch_for_hangup(self, item, connection);
  }
}

static void cancel(server *self, struct evhttp_request *request, const char *id) {
  entry *item = find_entry(self, id);
  if (!item) {
    if (finished_recently(self, id))
      reply_text(request, 200, "application/json", "{}", 2);
    else
      reply_text(request, 404, "application/json", "{}", 2);
    return;
  }
  pn_job_cancel(item->job);
  reply_text(request, 200, "application/json", "{}", 2);
}

/* --- health ----------------------------------------------------------------------- */

static json_t *timestamp_or_null(uint64_t ns) {
  char text[40];
  return ns ? json_string(pn_clock_format(ns, 1, text, sizeof text)) : NULL;
}

static json_t *health_document(server *self, const char *user_error) {
  pn_runner *runner = pn_model_runner(self->model);
  const char *status = user_error ? "UNHEALTHY" : pn_runner_health(runner);
  /* A slot reserved by a prediction whose inputs are still downloading is busy too:
   * the worker has not seen it yet, but the server takes nothing more. */
  if (strcmp(status, "READY") == 0 && pn_model_free_slots(self->model) <= 0)
    status = "BUSY";
  json_t *setup = json_object();
  json_t *started = timestamp_or_null(pn_runner_setup_started_ns(runner));
  if (started)
    json_object_set_new(setup, "started_at", started);
  json_t *completed = timestamp_or_null(pn_runner_setup_completed_ns(runner));
  if (completed)
    json_object_set_new(setup, "completed_at", completed);
  static const char *setup_words[] = {"starting", "succeeded", "failed"};
  json_object_set_new(setup, "status", json_string(setup_words[pn_runner_setup_status(runner)]));
  pn_buf logs;
  pn_buf_init(&logs, PN_PREDICTION_LOGS_MAX * 2);
  pn_buf_append_str(&logs, pn_runner_setup_logs(runner));
  if (pn_runner_setup_status(runner) == PN_SETUP_FAILED) {
    if (pn_runner_setup_traceback(runner))
      pn_buf_append_str(&logs, pn_runner_setup_traceback(runner));
    if (pn_runner_setup_error(runner))
      pn_buf_appendf(&logs, "%s\n", pn_runner_setup_error(runner));
  }
  if (logs.length) {
    json_t *text = json_stringn(logs.data, logs.length);
    if (text)
      json_object_set_new(setup, "logs", text);
  }
  pn_buf_free(&logs);
  json_t *version = json_pack("{s:s, s:s}", "pinion", PINION_VERSION, "cog", PN_COG_VERSION);
  const char *python = pn_runner_python_version(runner);
  const char *sdk = pn_runner_sdk_version(runner);
  if (sdk)
    json_object_set_new(version, "python_sdk", json_string(sdk));
  if (python)
    json_object_set_new(version, "python", json_string(python));
  json_t *document = json_pack("{s:s, s:o, s:o}", "status", status, "setup", setup, "version",
                               version);
  if (user_error)
    json_object_set_new(document, "user_healthcheck_error", json_string(user_error));
  return document;
}

static void answer_health_waits(server *self, const char *user_error) {
  while (self->health_waits) {
    health_wait *wait = self->health_waits;
    self->health_waits = wait->next;
    reply_new(wait->request, 200, health_document(self, user_error));
    pn_free(wait);
  }
}

static void on_user_health(void *arg, int healthy, const char *error) {
  server *self = arg;
  self->health_id = 0;
  event_del(self->health_timer);
  char *text = NULL;
  if (!healthy)
    text = error && strncmp(error, "healthcheck returned", 20) == 0
               ? pn_strfmt("Healthcheck failed: user-defined %s", error)
               : pn_strfmt("Healthcheck failed: %s", error ? error : "unknown error");
  answer_health_waits(self, text);
  pn_free(text);
}

static void on_health_timeout(evutil_socket_t fd, short what, void *arg) {
  server *self = arg;
  pn_runner_forget_healthcheck(pn_model_runner(self->model), self->health_id);
  self->health_id = 0;
  answer_health_waits(self, "Healthcheck failed: user-defined healthcheck timed out after 5.0 "
                            "seconds");
}

static void health_check(server *self, struct evhttp_request *request) {
  pn_runner *runner = pn_model_runner(self->model);
  const json_t *signature = pn_runner_signature(runner);
  int user_check = signature && json_is_true(json_object_get(signature, "has_healthcheck")) &&
                   pn_runner_state(runner) == PN_RUNNER_READY &&
                   (json_is_true(json_object_get(signature, "is_async")) ||
                    pn_runner_in_flight(runner) == 0);
  if (!user_check) {
    reply_new(request, 200, health_document(self, NULL));
    return;
  }
  health_wait *wait = pn_calloc(1, sizeof *wait);
  if (!wait) {
    reply_new(request, 200, health_document(self, NULL));
    return;
  }
  wait->request = request;
  wait->next = self->health_waits;
  self->health_waits = wait;
  if (self->health_id)
    return; /* concurrent polls share the check in flight */
  if (pn_runner_healthcheck(runner, on_user_health, self, &self->health_id) < 0) {
    answer_health_waits(self, NULL);
    return;
  }
  struct timeval timeout = {HEALTHCHECK_TIMEOUT_SECONDS, 0};
  event_add(self->health_timer, &timeout);
}

/* --- routing ---------------------------------------------------------------------- */

/* An embedded page file (web/), or 404. The files only change with the binary, so
 * browsers may keep them for a while without asking again. */
static void static_file(struct evhttp_request *request, const char *path) {
  const unsigned char *bytes = NULL;
  size_t length = 0;
  const char *type = NULL;
  if (pn_web_asset(path, &bytes, &length, &type) < 0) {
    reply_detail(request, 404, "Not Found");
    return;
  }
  struct evbuffer *buffer = evbuffer_new();
  if (buffer)
    evbuffer_add_reference(buffer, bytes, length, NULL, NULL);
  struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
  evhttp_add_header(headers, "Content-Type", type);
  evhttp_add_header(headers, "Cache-Control", "max-age=300");
  evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
  if (strncmp(type, "text/html", 9) == 0)
    evhttp_add_header(headers, "Content-Security-Policy", PN_WEB_CSP);
  evhttp_send_reply(request, 200, NULL, buffer);
  if (buffer)
    evbuffer_free(buffer);
}

/* GET /: Cog's discovery document for API clients, and the model's page (web/serve.html)
 * for a browser, which asks for text/html first. */
static void root(server *self, struct evhttp_request *request) {
  if (pn_web_prefers_html(header(request, "Accept"))) {
    static_file(request, "serve.html");
    return;
  }
  json_t *document = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "cog_version", PN_COG_VERSION, "docs_url",
      "/docs", "openapi_url", "/openapi.json", "shutdown_url", "/shutdown", "healthcheck_url",
      "/health-check", "predictions_url", "/predictions", "predictions_idempotent_url",
      "/predictions/{prediction_id}", "predictions_cancel_url",
      "/predictions/{prediction_id}/cancel");
  const json_t *schema = pn_model_schema(self->model);
  if (schema &&
      json_object_get(json_object_get(json_object_get(schema, "components"), "schemas"),
                      "TrainingInput")) {
    json_object_set_new(document, "trainings_url", json_string("/trainings"));
    json_object_set_new(document, "trainings_idempotent_url",
                        json_string("/trainings/{training_id}"));
    json_object_set_new(document, "trainings_cancel_url",
                        json_string("/trainings/{training_id}/cancel"));
  }
  reply_new(request, 200, document);
}

/* GET /metrics: Prometheus's text format (serve/metrics.h, docs/metrics.md). */
static void metrics(server *self, struct evhttp_request *request) {
  pn_buf text;
  pn_buf_init(&text, PN_METRICS_OUTPUT_MAX);
  int rc = pn_serve_metrics_write(self->model, &text);
  if (rc < 0)
    reply_detail(request, 500, pn_strerror(rc));
  else
    reply_text(request, 200, PN_METRICS_CONTENT_TYPE, text.data, text.length);
  pn_buf_free(&text);
}

static void begin_shutdown(server *self);

static int method_is(struct evhttp_request *request, enum evhttp_cmd_type method) {
  return evhttp_request_get_command(request) == method;
}

/* Matches "/<collection>/<id>" or "/<collection>/<id>/cancel"; *id is pn_malloc'd. */
static int match_item(const char *path, const char *collection, const char *suffix, char **id) {
  size_t length = strlen(collection);
  if (strncmp(path, collection, length) != 0 || path[length] != '/')
    return 0;
  const char *start = path + length + 1;
  const char *slash = strchr(start, '/');
  if (suffix) {
    if (!slash || strcmp(slash + 1, suffix) != 0)
      return 0;
  } else if (slash) {
    return 0;
  }
  size_t id_length = slash ? (size_t)(slash - start) : strlen(start);
  if (id_length == 0)
    return 0;
  *id = pn_strndup(start, id_length);
  return *id != NULL;
}

static void route(struct evhttp_request *request, void *arg) {
  server *self = arg;
  /* libevent writes 16 KiB per loop turn by default; outputs are often megabytes. */
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  struct bufferevent *events = connection ? evhttp_connection_get_bufferevent(connection) : NULL;
  if (events)
    bufferevent_set_max_single_write(events, 4 * 1024 * 1024);
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(request);
  const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
  if (!path || !*path)
    path = "/";
  char *id = NULL;
  int known = 1, allowed = 1;
  if (strcmp(path, "/") == 0) {
    if ((allowed = method_is(request, EVHTTP_REQ_GET)))
      root(self, request);
  } else if (strncmp(path, "/static/", 8) == 0) {
    if ((allowed = method_is(request, EVHTTP_REQ_GET) || method_is(request, EVHTTP_REQ_HEAD)))
      static_file(request, path + 8);
  } else if (strcmp(path, "/health-check") == 0) {
    if ((allowed = method_is(request, EVHTTP_REQ_GET)))
      health_check(self, request);
  } else if (strcmp(path, "/openapi.json") == 0) {
    if ((allowed = method_is(request, EVHTTP_REQ_GET))) {
      const json_t *schema = pn_model_schema(self->model);
      if (schema)
        reply_json(request, 200, schema);
      else
        reply_new(request, 503, json_pack("{s:s}", "error", "OpenAPI schema not available"));
    }
  } else if (strcmp(path, "/predictions") == 0 || strcmp(path, "/trainings") == 0) {
    if ((allowed = method_is(request, EVHTTP_REQ_POST)))
      create(self, request, NULL, path[1] == 't');
  } else if (match_item(path, "/predictions", "cancel", &id) ||
             match_item(path, "/trainings", "cancel", &id)) {
    if ((allowed = method_is(request, EVHTTP_REQ_POST)))
      cancel(self, request, id);
  } else if (match_item(path, "/predictions", NULL, &id) ||
             match_item(path, "/trainings", NULL, &id)) {
    if ((allowed = method_is(request, EVHTTP_REQ_PUT)))
      create(self, request, id, path[1] == 't');
  } else if (strcmp(path, "/metrics") == 0) {
    if ((allowed = method_is(request, EVHTTP_REQ_GET)))
      metrics(self, request);
  } else if (strcmp(path, "/shutdown") == 0) {
    if ((allowed = method_is(request, EVHTTP_REQ_POST))) {
      reply_text(request, 200, "application/json", "{}", 2);
      begin_shutdown(self);
    }
  } else {
    known = 0;
  }
  pn_free(id);
  if (!known)
    reply_detail(request, 404, "Not Found");
  else if (!allowed)
    reply_detail(request, 405, "Method Not Allowed");
}

/* --- life cycle ------------------------------------------------------------------- */

/* Leaves the loop a moment later, not at once: replies already queued (the 200 for
 * POST /shutdown, a drained sync prediction's body) are written by evhttp on a later
 * turn of the loop, and exiting first would close their connections unanswered. */
static void finish_now(server *self) {
  struct timeval flush = {0, 200000};
  event_base_loopexit(self->base, &flush);
}

static void check_drained(server *self) {
  if (self->shutting_down && !self->entries && pn_webhook_outstanding() == 0)
    finish_now(self);
}

/* Two seconds after the last prediction ended: give back what the burst freed
 * (pn_alloc_keep_large_buffers keeps it for reuse while predictions run). */
static void on_trim_timer(evutil_socket_t fd, short what, void *arg) {
  server *self = arg;
  if (!self->entries)
    pn_alloc_release_free_memory();
}

static void on_drain_timer(evutil_socket_t fd, short what, void *arg) {
  server *self = arg;
  if (self->entries || pn_webhook_outstanding())
    pn_warn("shutting down with %s still in flight after %d s",
            self->entries ? "predictions" : "webhooks", SHUTDOWN_GRACE_SECONDS);
  finish_now(self);
}

static void begin_shutdown(server *self) {
  if (self->shutting_down)
    return;
  self->shutting_down = 1;
  pn_info("shutting down: waiting for %s", self->entries ? "running predictions" : "nothing");
  struct timeval grace = {SHUTDOWN_GRACE_SECONDS, 0};
  event_add(self->drain_timer, &grace);
  check_drained(self);
}

static void on_signal(evutil_socket_t signal_number, short what, void *arg) {
  server *self = arg;
  if (signal_number == SIGTERM && self->options->await_explicit_shutdown)
    return;
  if (self->shutting_down && signal_number == SIGINT) {
    finish_now(self);
    return;
  }
  begin_shutdown(self);
}

static void on_state(pn_model *model, void *arg) {
  server *self = arg;
  pn_runner *runner = pn_model_runner(model);
  switch (pn_runner_state(runner)) {
  case PN_RUNNER_READY:
    pn_info("ready: %d slot%s", pn_runner_slots(runner), pn_runner_slots(runner) == 1 ? "" : "s");
    break;
  case PN_RUNNER_SETUP_FAILED:
    pn_error("setup failed: %s", pn_runner_setup_error(runner));
    break;
  case PN_RUNNER_DEFUNCT:
    pn_error("the worker cannot be kept running: the server is DEFUNCT");
    break;
  default:
    break;
  }
  (void)self;
}

static void on_output(pn_model *model, int stream, const char *bytes, size_t length, void *arg) {
  fwrite(bytes, 1, length, stderr);
}

static void on_code_changed(void *arg) {
  server *self = arg;
  pn_info("the model's code changed: reloading");
  pn_model_reload(self->model);
}

static int listen_on(server *self, const char *host, int port) {
  const char *unix_socket = self->options->unix_socket;
  pn_listen_options listen_options = {
      .host = host,
      .port = port,
      .unix_path = unix_socket,
      .max_headers = REQUEST_HEADERS_MAX,
      .max_body = REQUEST_BODY_MAX,
  };
  int actual = port;
  int rc = pn_listen_open(self->base, self->http, &listen_options, route, self, &self->listen,
                          &actual);
  if (rc < 0 && unix_socket) {
    fprintf(stderr, "error: cannot listen on the unix socket \"%s\": %s\n", unix_socket,
            rc == PN_EEXISTS ? "a file that is not a socket is there (remove it or choose "
                               "another path)"
                             : strerror(errno));
    return -1;
  }
  if (rc < 0) {
    fprintf(stderr, "error: cannot listen on %s:%d (is the port in use? choose another with "
                    "--port)\n",
            host, port);
    return -1;
  }
  if (unix_socket) {
    pn_info("pinion serve: listening on unix:%s", unix_socket);
    return 0;
  }
  pn_info("pinion serve: listening on http://%s:%d", host, actual);
  if (self->options->port_file) {
    char text[16];
    int length = snprintf(text, sizeof text, "%d\n", actual);
    FILE *file = fopen(self->options->port_file, "w");
    if (file) {
      fwrite(text, 1, (size_t)length, file);
      fclose(file);
    }
  }
  return 0;
}

/* Poll rather than sleep while the worker owes a reply (core/loop.h). */
static int prediction_in_flight(void *arg) {
  server *self = arg;
  pn_runner *runner = pn_model_runner(self->model);
  return runner && pn_runner_in_flight(runner) > 0;
}

/* Blocks until the hub writes its byte to `fd` (the sandbox's network is up and guarded):
 * nothing of the model's, its Python included, runs before. -1 when it closed instead. */
static int wait_for_go(int fd) {
  char byte;
  ssize_t got;
  while ((got = read(fd, &byte, 1)) < 0 && errno == EINTR) {
  }
  close(fd);
  if (got == 1)
    return 0;
  fprintf(stderr, "error: the hub did not let the model start (--x-wait-fd %d: %s); the "
                  "hub's log says why\n",
          fd, got == 0 ? "closed" : strerror(errno));
  return -1;
}

int pn_server_run(const pn_server_options *options) {
  server self = {0};
  self.options = options;
  pn_alloc_keep_large_buffers();
  self.base = pn_loop_new();
  if (!self.base || pn_http_client_new(self.base, &self.client) < 0 ||
      (options->hub_url && options->hub_socket &&
       pn_http_client_route_unix(self.client, options->hub_url, options->hub_socket) < 0)) {
    fprintf(stderr, "error: could not start the event loop\n");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  static const pn_model_callbacks callbacks = {on_state, on_output, on_output};
  pn_diag_list diags;
  pn_diag_list_init(&diags);
  char *error = NULL;
  long poll_us = pn_poll_budget_us();
  pn_model_options model_options = options->model;
  model_options.poll_us = poll_us;
  if (options->wait_fd >= 0 && wait_for_go(options->wait_fd) < 0) {
    pn_http_client_free(self.client);
    event_base_free(self.base);
    return 1;
  }
  int rc = pn_model_open(self.base, &model_options, &callbacks, &self, &self.model, &diags, &error);
  pn_diag_print(&diags, stderr);
  pn_diag_list_free(&diags);
  if (rc < 0) {
    if (error)
      fprintf(stderr, "error: %s\n", error);
    pn_free(error);
    pn_http_client_free(self.client);
    event_base_free(self.base);
    return 1;
  }
  self.http = evhttp_new(self.base);
  evhttp_set_allowed_methods(self.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
  evhttp_set_max_body_size(self.http, REQUEST_BODY_MAX);
  evhttp_set_max_headers_size(self.http, REQUEST_HEADERS_MAX);
  evhttp_set_timeout(self.http, (int)pn_env_number("PINION_HTTP_TIMEOUT", "seconds", 1, 86400, 60));
  self.health_timer = evtimer_new(self.base, on_health_timeout, &self);
  self.drain_timer = evtimer_new(self.base, on_drain_timer, &self);
  self.trim_timer = evtimer_new(self.base, on_trim_timer, &self);
  int signals[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) {
    self.signals[i] = evsignal_new(self.base, signals[i], on_signal, &self);
    event_add(self.signals[i], NULL);
  }
  const char *host = options->host ? options->host : "0.0.0.0";
  int port = options->port;
  if (port < 0) {
    const char *text = getenv("PORT");
    port = text && *text ? atoi(text) : 5000;
  }
  if (options->reload)
    self.reload = pn_reload_watch(self.base, pn_model_config(self.model)->dir, on_code_changed,
                                  &self);
  if (listen_on(&self, host, port) < 0) {
    self.exit_code = 1;
  } else if (pn_loop_run(self.base, poll_us, prediction_in_flight, &self) < 0) {
    fprintf(stderr, "error: the event loop failed\n");
    self.exit_code = 1;
  }
  while (self.entries) {
    entry *item = self.entries;
    pn_job_detach(item->job);
    if (item->waiting)
      reply_failure(item->waiting, 503, "The server is shutting down.");
    if (item->webhook) {
      json_t *final = pn_job_response(item->job, 0);
      pn_webhook_complete(item->webhook, final);
      json_decref(final);
    }
    remove_entry(&self, item);
  }
  answer_health_waits(&self, NULL);
  pn_reload_free(self.reload);
  evhttp_free(self.http);
  pn_listen_free(self.listen);
  pn_model_free(self.model);
  pn_webhook_free_all();
  pn_http_client_free(self.client);
  for (int i = 0; i < 3; i++)
    event_free(self.signals[i]);
  event_free(self.health_timer);
  event_free(self.drain_timer);
  event_free(self.trim_timer);
  for (unsigned i = 0; i < RECENT_IDS; i++)
    pn_free(self.recent_ids[i]);
  event_base_free(self.base);
  return self.exit_code;
}
