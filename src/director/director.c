/* `pinion director` as a process: it binds its listener (the model server's webhooks
 * and uploads, /health, /metrics), waits for the model server's READY, then opens the
 * queue on its target's stream and takes predictions (run.c) until SIGTERM, when it
 * drains: nothing more is taken, what waits for a slot is handed back, and what runs may
 * finish within the drain timeout before the rest is handed back too. A --serve
 * --deployment director follows its deployment: when the hub says it is on another
 * version, the director drains the same way without exiting, stops its server and
 * starts the new version's. See director.h and docs/internals/director.md. */
#include "director/internal.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/cog_client.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/unix_socket.h"
#include "director/model_server.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WEBHOOK_SECRET_BYTES 32
#define UPLOAD_BODY_MAX ((size_t)1 << 30)
#define FIRST_POLL_SECONDS 0.05
#define MAX_POLL_SECONDS 1.0

typedef struct process {
  pn_director director;
  struct evhttp *http;
  pn_listen *listen;
  char secret[2 * WEBHOOK_SECRET_BYTES + 1];
  pn_http_transfer *health;
  struct event *health_timer, *boot_timer, *drain_timer;
  struct event *signals[2];
  double poll_interval;
  uint64_t started_ns;
  int exit_code;
  /* --serve: the model server it started, its scratch folder, the director's origin and
   * the unix socket of its listener that a sandboxed server reaches it through */
  pn_model_server *own;
  char *scratch, *origin, *socket_path;
  /* --serve --deployment: the deployment's version, asked every `version_poll` seconds;
   * when it moved, `next_version` is what the director switches to (nothing is taken
   * meanwhile: `switching`, and director->serving until the old server stops) */
  struct event *version_timer, *switch_timer;
  pn_version_ask *version_ask;
  double version_poll;
  char *next_version;
  int switching; /* 0; SWITCH_DRAINING; SWITCH_STARTING (the new server fetched, booting) */
} process;

enum { SWITCH_DRAINING = 1, SWITCH_STARTING = 2 };

/* Seconds a model server the director started has to stop after SIGTERM. */
#define SERVER_STOP_GRACE 10
/* Seconds between asks for a deployment's version (PINION_DIRECTOR_VERSION_POLL_SECONDS). */
#define VERSION_POLL_SECONDS 10.0

static struct timeval seconds_to_timeval(double seconds) {
  struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
  return tv;
}

static void stop(process *self, int exit_code) {
  self->exit_code = exit_code;
  struct timeval flush = {0, 100000};
  event_base_loopexit(self->director.base, &flush);
}

/* --- replies -------------------------------------------------------------------------- */

static void reply_json(struct evhttp_request *request, int status, json_t *value) {
  char *text = value ? pn_json_dump(value, PN_JSON_COMPACT) : NULL;
  json_decref(value);
  struct evbuffer *body = evbuffer_new();
  if (body && text)
    evbuffer_add(body, text, strlen(text));
  evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type",
                    "application/json");
  evhttp_send_reply(request, status, NULL, body);
  if (body)
    evbuffer_free(body);
  pn_free(text);
}

static void reply_problem(struct evhttp_request *request, int status, const char *detail) {
  reply_json(request, status, json_pack("{s:i, s:s}", "status", status, "detail", detail));
}

/* --- /health and /metrics ------------------------------------------------------------- */

static void answer_health(process *self, struct evhttp_request *request) {
  pn_director *director = &self->director;
  size_t waiting = 0;
  size_t held = pn_director_held(director, &waiting);
  const char *status = director->draining  ? "DRAINING"
                       : self->switching   ? "SWITCHING"
                       : director->serving ? "READY"
                                           : "STARTING";
  json_t *body = json_pack("{s:s, s:s, s:i, s:I, s:I, s:I}", "status", status, "target",
                           director->options->target, "slots", director->slots, "running",
                           (json_int_t)(held - waiting), "waiting", (json_int_t)waiting, "reports",
                           (json_int_t)pn_relay_pending(director->relay));
  /* --serve: the version its server runs (or fetches), and the one it switches to */
  const char *version = pn_model_server_version(self->own);
  if (body && version)
    json_object_set_new(body, "version", json_string(version));
  if (body && self->switching && self->next_version)
    json_object_set_new(body, "switching_to", json_string(self->next_version));
  reply_json(request, director->serving && !director->draining && !self->switching ? 200 : 503,
             body);
}

static void answer_metrics(process *self, struct evhttp_request *request) {
  pn_director *director = &self->director;
  pn_metric_set(director->retries, 0, (double)pn_relay_retries(director->relay));
  pn_buf text;
  pn_buf_init(&text, PN_METRICS_OUTPUT_MAX);
  struct evbuffer *body = evbuffer_new();
  if (pn_metrics_write(director->metrics, &text) < 0 || !body) {
    reply_problem(request, 500, "the director could not write its metrics");
  } else {
    evbuffer_add(body, text.data, text.length);
    evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type",
                      PN_METRICS_CONTENT_TYPE);
    evhttp_send_reply(request, 200, NULL, body);
  }
  if (body)
    evbuffer_free(body);
  pn_buf_free(&text);
}

/* Named as `pinion serve`'s metrics wherever they mean the same (docs/metrics.md). */
static int add_metrics(pn_director *director) {
  const pn_metric_spec specs[] = {
      {.name = "pinion_slots",
       .help = "Predictions the model server runs at once (--slots).",
       .type = PN_METRIC_GAUGE},
      {.name = "pinion_slots_in_use",
       .help = "Predictions on the model server.",
       .type = PN_METRIC_GAUGE},
      {.name = "pinion_director_taken_total",
       .help = "Predictions taken from the queue.",
       .type = PN_METRIC_COUNTER},
      {.name = "pinion_director_waiting",
       .help = "Predictions taken and waiting for a slot on the model server.",
       .type = PN_METRIC_GAUGE},
      {.name = "pinion_director_handed_over_total",
       .help = "Predictions given up to another director: handed back at SIGTERM, or taken "
               "over after this director's lease ran out.",
       .type = PN_METRIC_COUNTER},
      {.name = "pinion_director_report_retries_total",
       .help = "Reports to the hub sent again after a failure.",
       .type = PN_METRIC_COUNTER},
  };
  pn_metric **out[] = {&director->slots_gauge,   &director->running_gauge,
                       &director->taken,         &director->waiting_gauge,
                       &director->handed_over,   &director->retries};
  pn_prediction_metrics shared = {0}; /* only the counter: the hub measures the times */
  int rc = pn_metrics_new(&director->metrics);
  if (rc == 0)
    rc = pn_prediction_metrics_add(director->metrics, PN_PREDICTION_METRICS_STATUS, &shared);
  director->finished = shared.predictions;
  for (size_t i = 0; rc == 0 && i < sizeof specs / sizeof specs[0]; i++)
    rc = pn_metrics_add(director->metrics, &specs[i], out[i]);
  if (rc == 0) {
    pn_metric_set(director->slots_gauge, 0, director->slots);
    pn_metric_set(director->running_gauge, 0, 0);
    pn_metric_set(director->waiting_gauge, 0, 0);
  }
  return rc;
}

/* --- the model server's webhooks and uploads ------------------------------------------ */

static void answer_webhook(process *self, struct evhttp_request *request) {
  struct evbuffer *input = evhttp_request_get_input_buffer(request);
  size_t length = evbuffer_get_length(input);
  const char *data = length ? (const char *)evbuffer_pullup(input, (ev_ssize_t)length) : "";
  json_t *prediction = json_loadb(data, length, 0, NULL);
  if (!json_is_object(prediction)) {
    json_decref(prediction);
    reply_problem(request, 400, "a webhook's body is Cog's prediction object (JSON)");
    return;
  }
  pn_director_on_webhook(&self->director, prediction);
  json_decref(prediction);
  reply_json(request, 200, json_object());
}

typedef struct upload {
  struct evhttp_request *request;
  pn_http_transfer *transfer;
} upload;

static void on_upload_closed(struct evhttp_connection *connection, void *arg) {
  upload *gone = arg;
  if (gone->transfer)
    pn_http_transfer_cancel(gone->transfer);
  pn_listen_release_request(gone->request);
  pn_free(gone);
}

static void on_uploaded(const pn_http_response *response, void *arg) {
  upload *done = arg;
  struct evhttp_connection *connection = evhttp_request_get_connection(done->request);
  if (connection)
    evhttp_connection_set_closecb(connection, NULL, NULL);
  if (!response->ok) {
    char *detail = pn_strfmt("the director could not reach the hub to store the file: %s",
                             response->error ? response->error : "?");
    reply_problem(done->request, 502, detail ? detail : "the hub is unreachable");
    pn_free(detail);
  } else {
    /* The hub's answer as it is: 201 with the file's URL in Location. */
    struct evkeyvalq *headers = evhttp_request_get_output_headers(done->request);
    if (response->location)
      evhttp_add_header(headers, "Location", response->location);
    evhttp_add_header(headers, "Content-Type",
                      response->content_type ? response->content_type : "application/json");
    struct evbuffer *body = evbuffer_new();
    if (body && response->body && response->body->data)
      evbuffer_add(body, response->body->data, response->body->length);
    evhttp_send_reply(done->request, (int)response->status, NULL, body);
    if (body)
      evbuffer_free(body);
  }
  pn_free(done);
}

static void answer_upload(process *self, struct evhttp_request *request, const char *name) {
  struct evbuffer *input = evhttp_request_get_input_buffer(request);
  size_t length = evbuffer_get_length(input);
  const void *data = length ? (const void *)evbuffer_pullup(input, (ev_ssize_t)length) : "";
  const char *type =
      evhttp_find_header(evhttp_request_get_input_headers(request), "Content-Type");
  upload *item = pn_calloc(1, sizeof *item);
  if (!item || !data) {
    pn_free(item);
    reply_problem(request, 503, "the director ran out of memory; upload the file again");
    return;
  }
  item->request = request;
  if (pn_relay_upload(self->director.relay, name, type, data, length, on_uploaded, item,
                      &item->transfer) < 0) {
    pn_free(item);
    reply_problem(request, 503, "the director could not send the file to the hub");
    return;
  }
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  if (connection)
    evhttp_connection_set_closecb(connection, on_upload_closed, item);
}

/* --- routing --------------------------------------------------------------------------- */

static void route(struct evhttp_request *request, void *arg) {
  process *self = arg;
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(request);
  const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
  enum evhttp_cmd_type method = evhttp_request_get_command(request);
  static const char webhook[] = "/webhook/", uploads[] = "/upload/";
  if (!path) {
    reply_problem(request, 400, "the request has no path");
  } else if (strcmp(path, "/health") == 0 && method == EVHTTP_REQ_GET) {
    answer_health(self, request);
  } else if (strcmp(path, "/metrics") == 0 && method == EVHTTP_REQ_GET) {
    answer_metrics(self, request);
  } else if (strncmp(path, webhook, sizeof webhook - 1) == 0 && method == EVHTTP_REQ_POST) {
    /* The secret keeps anything else on the host from reporting for the model. */
    const char *given = path + sizeof webhook - 1;
    if (strlen(given) != strlen(self->secret) ||
        !pn_crypto_equal(given, self->secret, strlen(self->secret)))
      reply_problem(request, 401, "this is not the webhook URL the director gave its model");
    else
      answer_webhook(self, request);
  } else if (strncmp(path, uploads, sizeof uploads - 1) == 0 && method == EVHTTP_REQ_PUT &&
             path[sizeof uploads - 1] && !strchr(path + sizeof uploads - 1, '/')) {
    char *name = evhttp_uridecode(path + sizeof uploads - 1, 0, NULL);
    if (name && *name && !strchr(name, '/'))
      answer_upload(self, request, name);
    else
      reply_problem(request, 400, "PUT /upload/NAME takes a file name without '/'");
    free(name);
  } else {
    reply_problem(request, 404,
                  "the director serves GET /health, GET /metrics, and its model server's "
                  "webhooks and PUT /upload/NAME");
  }
}

static int bind_listener(process *self, int *port) {
  const char *listen = self->director.options->listen ? self->director.options->listen
                                                      : "127.0.0.1:0";
  const char *colon = strrchr(listen, ':');
  char *host = colon ? pn_strndup(listen, (size_t)(colon - listen)) : pn_strdup("127.0.0.1");
  int wanted = atoi(colon ? colon + 1 : listen);
  self->http = evhttp_new(self->director.base);
  if (!host || !self->http) {
    pn_free(host);
    return PN_ENOMEM;
  }
  evhttp_set_allowed_methods(self->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
  evhttp_set_max_body_size(self->http, UPLOAD_BODY_MAX);
  evhttp_set_max_headers_size(self->http, 64 * 1024);
  evhttp_set_timeout(self->http, 120);
  pn_listen_options options = {
      .host = host, .port = wanted, .max_headers = 64 * 1024, .max_body = UPLOAD_BODY_MAX};
  int rc = pn_listen_open(self->director.base, self->http, &options, route, self, &self->listen,
                          port);
  if (rc < 0)
    fprintf(stderr,
            "error: cannot listen on %s (is the port in use? choose another with --listen)\n",
            listen);
  else
    self->origin =
        pn_strfmt("http://%s:%d", strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host, *port);
  if (self->origin)
    self->director.webhook_url = pn_strfmt("%s/webhook/%s", self->origin, self->secret);
  pn_free(host);
  return rc < 0 ? rc : self->director.webhook_url ? 0 : PN_ENOMEM;
}

/* --- readiness ------------------------------------------------------------------------- */

static void start_serving(process *self) {
  pn_director *director = &self->director;
  const pn_director_options *options = director->options;
  pn_queue_options queue_options = {.url = options->queue,
                                    .lease = options->queue_lease,
                                    .stream = options->target,
                                    .capacity = director->slots};
  pn_queue_consumer consumer = pn_director_consumer(director);
  char *error = NULL;
  if (pn_queue_open(director->base, &queue_options, &consumer, &director->queue, &error) < 0) {
    fprintf(stderr, "error: %s\n", error ? error : "could not open the queue");
    pn_free(error);
    stop(self, 1);
    return;
  }
  director->serving = 1;
  if (self->switching) {
    self->switching = 0;
    pn_free(self->next_version);
    self->next_version = NULL;
  }
  pn_info("director: the model server at %s is ready after %.2f s; taking %s with %d slot%s",
          director->model_url, (double)(pn_clock_monotonic_ns() - self->started_ns) / 1e9,
          options->target, director->slots, director->slots == 1 ? "" : "s");
}

static void on_health(const pn_http_response *response, void *arg) {
  process *self = arg;
  self->health = NULL;
  char *error = NULL;
  switch (pn_cog_health_read(response, &error)) {
  case PN_COG_READY:
    event_del(self->boot_timer);
    start_serving(self);
    return;
  case PN_COG_FAILED:
    fprintf(stderr, "error: the model server at %s will not serve: %s\n",
            self->director.model_url, error ? error : "its setup failed");
    pn_free(error);
    stop(self, 1);
    return;
  case PN_COG_STARTING: {
    struct timeval next = seconds_to_timeval(self->poll_interval);
    self->poll_interval = self->poll_interval * 1.5 > MAX_POLL_SECONDS ? MAX_POLL_SECONDS
                                                                       : self->poll_interval * 1.5;
    evtimer_add(self->health_timer, &next);
    return;
  }
  }
}

static void on_health_timer(evutil_socket_t fd, short what, void *arg) {
  process *self = arg;
  if (pn_cog_health_check(self->director.client, &self->director.model, on_health, self,
                          &self->health) < 0) {
    self->health = NULL;
    struct timeval next = seconds_to_timeval(MAX_POLL_SECONDS);
    evtimer_add(self->health_timer, &next);
  }
}

static void on_boot_timeout(evutil_socket_t fd, short what, void *arg) {
  process *self = arg;
  fprintf(stderr,
          "error: the model server at %s was not READY within %g s (--boot-timeout); is it "
          "running, and is --model-url its address?\n",
          self->director.model_url, self->director.options->boot_timeout);
  stop(self, 1);
}

/* --- the model server it starts (--serve) ---------------------------------------------- */

static void on_own_ready(void *arg, const pn_cog_server *server, const char *address, int slots) {
  process *self = arg;
  pn_director *director = &self->director;
  director->model = *server;
  pn_free(director->model_url);
  director->model_url = pn_strdup(address ? address : "the model server");
  if (!director->options->slots) { /* no --slots: as many as the server says it runs */
    director->slots = slots > 0 ? slots : 1;
    pn_metric_set(director->slots_gauge, 0, director->slots);
  } else if (slots != director->slots) {
    pn_info("director: the model server reports %d slot%s; taking %d at once (--slots)", slots,
            slots == 1 ? "" : "s", director->slots);
  }
  start_serving(self);
}

static void on_own_failed(void *arg, const char *error) {
  process *self = arg;
  fprintf(stderr, "error: %s\n", error);
  stop(self, 1);
}

/* The scratch folder (under $TMPDIR), and the listener's unix socket in it for a sandboxed
 * server, which has no network of the host's. */
static int prepare_serve(process *self) {
  const pn_director_options *options = self->director.options;
  const char *tmp = getenv("TMPDIR");
  self->scratch = pn_strfmt("%s/pinion-director-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!self->scratch || !mkdtemp(self->scratch)) {
    fprintf(stderr, "error: cannot create the director's scratch folder %s: %s\n",
            self->scratch ? self->scratch : "?", strerror(errno));
    pn_free(self->scratch);
    self->scratch = NULL;
    return -1;
  }
  if (options->isolation != PN_ISOLATION_BUBBLEWRAP)
    return 0;
  int fd = -1;
  self->socket_path = pn_fs_join(self->scratch, "director.sock");
  int rc = self->socket_path ? pn_unix_listen(self->socket_path, &fd) : PN_ENOMEM;
  if (rc == 0 && !evhttp_accept_socket_with_handle(self->http, fd)) {
    close(fd);
    rc = PN_EIO;
  }
  if (rc < 0) {
    fprintf(stderr, "error: cannot listen on the unix socket %s for the sandboxed model: %s\n",
            self->socket_path ? self->socket_path : "?", strerror(errno));
    return -1;
  }
  return 0;
}

static int start_own_server(process *self) {
  pn_director *director = &self->director;
  const pn_director_options *options = director->options;
  pn_model_server_options own = {.hub_url = options->hub_url,
                                 .credential = options->credential,
                                 .version_id = options->version_id,
                                 .deployment = options->deployment,
                                 .mode = options->mode,
                                 .scratch_dir = self->scratch,
                                 .director_url = self->origin,
                                 .director_socket = self->socket_path,
                                 .python = options->python,
                                 .isolation = options->isolation,
                                 .network_off = options->instance_network_off,
                                 .boot_timeout = options->boot_timeout};
  pn_model_server_callbacks callbacks = {on_own_ready, on_own_failed};
  self->started_ns = pn_clock_monotonic_ns();
  if (pn_model_server_start(director->base, director->client, &own, &callbacks, self, &self->own) <
      0) {
    fprintf(stderr, "error: could not start fetching the model (out of memory)\n");
    return -1;
  }
  return 0;
}

/* --- following a deployment (--serve --deployment) --------------------------------------- */

/* PINION_DIRECTOR_VERSION_POLL_SECONDS (> 0), else VERSION_POLL_SECONDS. */
static double version_poll_seconds(void) {
  const char *text = getenv("PINION_DIRECTOR_VERSION_POLL_SECONDS");
  char *end = NULL;
  double seconds = text && *text ? strtod(text, &end) : 0;
  if (text && *text && (!end || *end || !(seconds > 0) || seconds > 86400)) {
    pn_warn("director: PINION_DIRECTOR_VERSION_POLL_SECONDS=%s is not a number of seconds "
            "(above 0, at most 86400); asking every %g s",
            text, VERSION_POLL_SECONDS);
    seconds = 0;
  }
  return seconds > 0 ? seconds : VERSION_POLL_SECONDS;
}

static void schedule_version_poll(process *self) {
  struct timeval next = seconds_to_timeval(self->version_poll);
  evtimer_add(self->version_timer, &next);
}

/* Nothing held any more (or the switch's drain timeout passed): from the loop, never
 * from inside the queue's or the relay's callbacks, the queue closes, the old server
 * stops and the new version is fetched; taking starts again once it is READY. */
static void on_switch_step(evutil_socket_t fd, short what, void *arg) {
  process *self = arg;
  pn_director *director = &self->director;
  if (self->switching != SWITCH_DRAINING || director->draining)
    return;
  size_t waiting = 0;
  if (pn_director_held(director, &waiting) > 0) { /* the drain timeout passed */
    pn_warn("director: the drain timeout passed while switching versions; what still runs "
            "is handed back to the queue");
    pn_director_hand_back(director, 1);
  }
  if (pn_relay_pending(director->relay) > 0) {
    /* Reports still on their way are acknowledged on the queue when stored: it stays
     * open until they are (looked at again each second, and at each one's end). */
    struct timeval again = {1, 0};
    evtimer_add(self->switch_timer, &again);
    return;
  }
  self->switching = SWITCH_STARTING;
  pn_queue_free(director->queue);
  director->queue = NULL;
  director->serving = 0;
  director->model_busy = 0;
  pn_info("director: stopping the model server of %s; starting %s",
          pn_model_server_version(self->own) ? pn_model_server_version(self->own) : "?",
          self->next_version);
  pn_model_server_free(self->own, SERVER_STOP_GRACE);
  self->own = NULL;
  if (start_own_server(self) < 0)
    stop(self, 1);
}

/* Drained of what it held while switching: the next step, from the loop. */
static void check_switch(process *self) {
  size_t waiting = 0;
  if (self->switching == SWITCH_DRAINING && !self->director.draining &&
      pn_director_held(&self->director, &waiting) == 0 &&
      pn_relay_pending(self->director.relay) == 0) {
    event_del(self->switch_timer); /* the drain timeout */
    event_active(self->switch_timer, EV_TIMEOUT, 0);
  }
}

/* The deployment moved to `version`: nothing more is taken, what waits for a slot is
 * handed back, and what runs may finish within the drain timeout (as at SIGTERM); then
 * on_switch_step. Predictions queued meanwhile wait in the deployment's stream. */
static void begin_switch(process *self, const char *version) {
  pn_director *director = &self->director;
  self->next_version = pn_strdup(version);
  if (!self->next_version)
    return; /* out of memory: asked again at the next poll */
  self->switching = SWITCH_DRAINING;
  pn_queue_stop_taking(director->queue);
  pn_director_hand_back(director, 0);
  size_t waiting = 0;
  pn_info("director: the deployment %s moved from %s to %s: taking nothing more; %zu "
          "prediction(s) may finish within %g s",
          director->options->deployment, pn_model_server_version(self->own), version,
          pn_director_held(director, &waiting), director->options->drain_timeout);
  struct timeval drain = seconds_to_timeval(director->options->drain_timeout);
  evtimer_add(self->switch_timer, &drain);
  check_switch(self);
}

static void on_version_answer(void *arg, const char *version, const char *id, const char *error) {
  process *self = arg;
  self->version_ask = NULL;
  const char *serving = pn_model_server_version(self->own);
  if (!version)
    pn_warn("director: %s; asking again in %g s", error, self->version_poll);
  else if (self->director.serving && !self->switching && !self->director.draining && serving &&
           strcmp(version, serving) != 0)
    begin_switch(self, version);
  schedule_version_poll(self);
}

static void on_version_timer(evutil_socket_t fd, short what, void *arg) {
  process *self = arg;
  pn_director *director = &self->director;
  /* Only while serving: a switch, a start or a drain under way is not interrupted. */
  if (!director->serving || self->switching || director->draining || self->version_ask) {
    schedule_version_poll(self);
    return;
  }
  const pn_director_options *options = director->options;
  pn_model_server_options ask = {.hub_url = options->hub_url,
                                 .credential = options->credential,
                                 .deployment = options->deployment};
  if (pn_model_server_ask_version(director->client, &ask, on_version_answer, self,
                                  &self->version_ask) < 0) {
    self->version_ask = NULL;
    schedule_version_poll(self);
  }
}

/* --- draining -------------------------------------------------------------------------- */

void pn_director_check_drained(pn_director *director) {
  size_t waiting = 0;
  if (director->draining && pn_director_held(director, &waiting) == 0 &&
      pn_relay_pending(director->relay) == 0)
    stop((process *)director, 0);
  else
    check_switch((process *)director);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg) {
  process *self = arg;
  pn_warn("director: the drain timeout passed; what still runs is handed back to the queue");
  pn_director_hand_back(&self->director, 1);
  stop(self, 0);
}

static void on_signal(evutil_socket_t signal_number, short what, void *arg) {
  process *self = arg;
  pn_director *director = &self->director;
  if (director->draining || !director->serving) {
    stop(self, 0); /* a second signal, or nothing taken yet: at once */
    return;
  }
  director->draining = 1;
  if (self->switching) /* what it was draining for is moot: the drain goes on, to the end */
    event_del(self->switch_timer);
  pn_queue_stop_taking(director->queue);
  pn_director_hand_back(director, 0);
  size_t waiting = 0;
  pn_info("director: draining: %zu prediction(s) may finish within %g s",
          pn_director_held(director, &waiting), director->options->drain_timeout);
  struct timeval drain = seconds_to_timeval(director->options->drain_timeout);
  evtimer_add(self->drain_timer, &drain);
  pn_director_check_drained(director);
}

/* --- the process ----------------------------------------------------------------------- */

int pn_director_run(const pn_director_options *options) {
  process *self = pn_calloc(1, sizeof *self);
  if (!self)
    return 1;
  pn_director *director = &self->director;
  director->options = options;
  director->slots = options->slots > 0 ? options->slots : 1;
  signal(SIGPIPE, SIG_IGN);
  int rc = 0;
  unsigned char secret[WEBHOOK_SECRET_BYTES];
  if (pn_crypto_error() || pn_crypto_random(secret, sizeof secret) < 0) {
    fprintf(stderr, "error: %s\n",
            pn_crypto_error() ? pn_crypto_error() : "no random bytes for the webhook secret");
    pn_free(self);
    return 1;
  }
  for (size_t i = 0; i < sizeof secret; i++)
    snprintf(self->secret + 2 * i, 3, "%02x", secret[i]);
  const char *model_url = options->model_url ? options->model_url : "";
  size_t length = strlen(model_url);
  while (length && model_url[length - 1] == '/')
    length--;
  director->model_url = pn_strndup(model_url, length);
  director->model = (pn_cog_server){director->model_url, NULL};
  director->base = pn_loop_new();
  int port = 0;
  if (!director->model_url || !director->base ||
      pn_http_client_new(director->base, &director->client) < 0 ||
      pn_relay_new(director->base, director->client, options->hub_url, options->credential,
                   pn_director_on_stored, pn_director_on_refused, director,
                   &director->relay) < 0 ||
      pn_director_runs_init(director) < 0 || add_metrics(director) < 0) {
    fprintf(stderr, "error: could not start the director (out of memory)\n");
    rc = 1;
  } else if (bind_listener(self, &port) < 0 || (options->serve && prepare_serve(self) < 0)) {
    rc = 1;
  }
  if (rc == 0) {
    self->health_timer = evtimer_new(director->base, on_health_timer, self);
    self->boot_timer = evtimer_new(director->base, on_boot_timeout, self);
    self->drain_timer = evtimer_new(director->base, on_drain_timeout, self);
    self->version_timer = evtimer_new(director->base, on_version_timer, self);
    self->switch_timer = evtimer_new(director->base, on_switch_step, self);
    int numbers[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
      self->signals[i] = evsignal_new(director->base, numbers[i], on_signal, self);
      if (self->signals[i])
        event_add(self->signals[i], NULL);
    }
    if (!self->health_timer || !self->boot_timer || !self->drain_timer || !self->signals[0] ||
        !self->signals[1] || !self->version_timer || !self->switch_timer)
      rc = 1;
  }
  if (rc == 0 && options->serve && start_own_server(self) < 0)
    rc = 1;
  if (rc == 0) {
    if (options->serve)
      pn_info("director: listening on port %d; starting the model server itself", port);
    else
      pn_info("director: listening on port %d; waiting for the model server at %s", port,
              director->model_url);
    if (options->port_file) {
      char text[16];
      int written = snprintf(text, sizeof text, "%d\n", port);
      pn_fs_write(options->port_file, text, (size_t)written);
    }
    if (!options->serve)
      self->started_ns = pn_clock_monotonic_ns();
    self->poll_interval = FIRST_POLL_SECONDS;
    if (options->serve && options->deployment) { /* follows its deployment's version */
      self->version_poll = version_poll_seconds();
      schedule_version_poll(self);
    }
    if (!options->serve) { /* a server it starts says when it is READY (model_server.h) */
      struct timeval boot = seconds_to_timeval(options->boot_timeout);
      evtimer_add(self->boot_timer, &boot);
      event_active(self->health_timer, EV_TIMEOUT, 0);
    }
    event_base_dispatch(director->base);
    rc = self->exit_code;
  }
  /* Held messages stay unacknowledged: another director takes them over. */
  pn_queue_free(director->queue);
  director->queue = NULL;
  pn_director_runs_free(director);
  /* Drained (or failed): the model server it started stops now. */
  pn_model_server_free(self->own, SERVER_STOP_GRACE);
  pn_version_ask_cancel(self->version_ask);
  if (self->socket_path)
    unlink(self->socket_path);
  if (self->scratch)
    pn_fs_remove_tree(self->scratch);
  if (self->health)
    pn_http_transfer_cancel(self->health);
  struct event *events[] = {self->health_timer,  self->boot_timer,   self->drain_timer,
                            self->version_timer, self->switch_timer, self->signals[0],
                            self->signals[1]};
  for (size_t i = 0; i < sizeof events / sizeof events[0]; i++)
    if (events[i])
      event_free(events[i]);
  pn_relay_free(director->relay);
  if (self->http)
    evhttp_free(self->http);
  pn_listen_free(self->listen);
  pn_http_client_free(director->client);
  if (director->base)
    event_base_free(director->base);
  pn_metrics_free(director->metrics);
  pn_free(director->model_url);
  pn_free(director->webhook_url);
  pn_free(self->scratch);
  pn_free(self->origin);
  pn_free(self->socket_path);
  pn_free(self->next_version);
  pn_free(self);
  return rc;
}
