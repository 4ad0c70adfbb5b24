/* The hub's scaling metrics, the streams it keeps, and their listener. See metrics.h.
 *
 * Each text is made from scratch: the deployments from the store (their bounds), then
 * what waits and runs, from the queue when it is shared (Redis: the streams' lengths,
 * pending entries and consumers, read in one round trip) or from the hub's scheduler
 * when it is embedded. A scrape pays for all that, and scrapes closer together than
 * PN_HUB_METRICS_REFRESH_NS share one text, so a flood of scrapes costs Redis and the
 * store nothing more. On a prediction's path, only its end is counted: the predictions
 * this hub concluded, by status, with their durations and queue waits, under the model
 * server's names (core/prediction_metrics.h), per target (metrics_targets.c). */
#include "hub/metrics.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/metrics.h"
#include "hub/hub.h"
#include "hub/metrics_targets.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPLOYMENT_PREFIX "deployment:"
#define TRAIN_SUFFIX ":train"
#define TOKEN_MAX 4096
#define PAGE 100

/* One series' labels and numbers. */
typedef struct target_row {
  char *deployment; /* owner/name, or NULL for a version */
  char *version;
  int train;
  long waiting, in_flight;
  int instances, min, max, slots;
  int counted; /* waiting, in_flight and instances are known */
} target_row;

typedef struct rows {
  target_row *items;
  size_t count;
} rows;

struct pn_hub_metrics {
  struct evhttp *http;
  pn_listen *listen;
  char *token; /* the bearer token scrapes must carry, or NULL */
  char *text;  /* the last text and when it was made (monotonic) */
  size_t length;
  uint64_t made_ns;
  pn_hub_counted *counted; /* the predictions this hub concluded (pn_hub_metrics_concluded) */
};

int pn_hub_desired_instances(int min_instances, int max_instances, int slots, long waiting,
                             long in_flight) {
  long demand = (waiting > 0 ? waiting : 0) + (in_flight > 0 ? in_flight : 0);
  long per = slots > 0 ? slots : 1;
  long wanted = (demand + per - 1) / per;
  if (wanted > max_instances)
    wanted = max_instances;
  if (wanted < min_instances)
    wanted = min_instances;
  return (int)wanted;
}

/* --- gathering ----------------------------------------------------------------------- */

static const char *text_of(const json_t *row, const char *name) {
  return json_string_value(json_object_get(row, name));
}

static target_row *add_row(rows *list, const char *deployment, const char *version) {
  if (list->count == PN_HUB_METRICS_TARGETS_MAX)
    return NULL;
  target_row *row = &list->items[list->count];
  memset(row, 0, sizeof *row);
  row->deployment = deployment ? pn_strdup(deployment) : NULL;
  row->version = version ? pn_strdup(version) : NULL;
  row->slots = 1;
  if ((deployment && !row->deployment) || (version && !row->version)) {
    pn_free(row->deployment);
    pn_free(row->version);
    return NULL;
  }
  list->count++;
  return row;
}

static void free_rows(rows *list) {
  for (size_t i = 0; i < list->count; i++) {
    pn_free(list->items[i].deployment);
    pn_free(list->items[i].version);
  }
  pn_free(list->items);
}

/* Every deployment, oldest first, with its release's version and bounds. */
static int add_deployments(pn_hub *hub, rows *list) {
  pn_store_query query = {.ascending = 1, .limit = PAGE};
  char *after_created_at = NULL, *after_id = NULL;
  int rc = 0, more = 1;
  while (rc == 0 && more && list->count < PN_HUB_METRICS_TARGETS_MAX) {
    json_t *page = NULL;
    query.after_created_at = after_created_at;
    query.after_id = after_id;
    rc = pn_store_list(hub->store, PN_STORE_DEPLOYMENTS, &query, &page, &more);
    size_t index;
    json_t *deployment;
    json_array_foreach(page, index, deployment) {
      json_t *release = json_object_get(deployment, "current_release");
      json_t *configuration = json_object_get(release, "configuration");
      target_row *row = add_row(list, text_of(deployment, "id"), text_of(release, "version"));
      if (!row)
        break;
      row->min = (int)json_integer_value(json_object_get(configuration, "min_instances"));
      row->max = (int)json_integer_value(json_object_get(configuration, "max_instances"));
      if (row->max < 1)
        row->max = 1; /* as the scheduler reads a deployment's bounds */
      if (row->min > row->max)
        row->min = row->max;
    }
    json_t *last = json_array_get(page, json_array_size(page) - 1);
    pn_free(after_created_at);
    pn_free(after_id);
    after_created_at = last ? pn_strdup(text_of(last, "created_at")) : NULL;
    after_id = last ? pn_strdup(text_of(last, "id")) : NULL;
    more = more && last && after_created_at && after_id;
    json_decref(page);
  }
  pn_free(after_created_at);
  pn_free(after_id);
  return rc;
}

static char *deployment_key(const char *deployment) {
  return pn_strfmt(DEPLOYMENT_PREFIX "%s", deployment);
}

/* A version's target key: "<id>" or "<id>:train". */
static target_row *add_version_row(rows *list, const char *key) {
  size_t length = strlen(key), suffix = sizeof TRAIN_SUFFIX - 1;
  int train = length > suffix && strcmp(key + length - suffix, TRAIN_SUFFIX) == 0;
  char *version = pn_strndup(key, train ? length - suffix : length);
  target_row *row = version ? add_row(list, NULL, version) : NULL;
  pn_free(version);
  if (row) {
    row->train = train;
    row->max = 1;
  }
  return row;
}

/* The shared queue's view: every deployment's stream, then the versions' streams that
 * hold something or are read. */
static int count_from_queue(pn_hub *hub, rows *list) {
  size_t deployments = list->count;
  char **keys = pn_calloc(deployments ? deployments : 1, sizeof *keys);
  int rc = keys ? 0 : PN_ENOMEM;
  for (size_t i = 0; i < deployments && rc == 0; i++)
    if (!(keys[i] = deployment_key(list->items[i].deployment)))
      rc = PN_ENOMEM;
  pn_queue_depth *depths = NULL;
  size_t count = 0;
  if (rc == 0)
    rc = pn_queue_depths(hub->queue, (const char *const *)keys, deployments,
                         PN_HUB_METRICS_TARGETS_MAX, &depths, &count);
  for (size_t i = 0; i < count; i++) {
    target_row *row = NULL;
    if (i < deployments) {
      row = &list->items[i];
    } else if (strncmp(depths[i].key, DEPLOYMENT_PREFIX, sizeof DEPLOYMENT_PREFIX - 1) != 0 &&
               (depths[i].waiting || depths[i].held || depths[i].consumers)) {
      row = add_version_row(list, depths[i].key);
    }
    if (!row)
      continue; /* a deleted deployment's stream, or a version without traffic */
    row->waiting = depths[i].waiting;
    row->in_flight = depths[i].held;
    row->instances = depths[i].consumers;
    row->counted = 1;
  }
  pn_queue_depths_free(depths, count);
  for (size_t i = 0; keys && i < deployments; i++)
    pn_free(keys[i]);
  pn_free(keys);
  return rc;
}

static void add_scheduled_version(void *arg, const char *key, const pn_hub_scheduler_stats *stats,
                                  int min_instances, int max_instances, int slots) {
  rows *list = arg;
  if (strncmp(key, DEPLOYMENT_PREFIX, sizeof DEPLOYMENT_PREFIX - 1) == 0 ||
      (!stats->queued && !stats->busy && !stats->instances))
    return;
  target_row *row = add_version_row(list, key);
  if (!row)
    return;
  row->waiting = stats->queued;
  row->in_flight = stats->busy;
  row->instances = stats->instances;
  row->min = min_instances;
  row->max = max_instances;
  row->slots = slots;
  row->counted = 1;
}

/* The embedded queue's view: the hub's own scheduler. */
static int count_from_scheduler(pn_hub *hub, rows *list) {
  for (size_t i = 0; i < list->count; i++) {
    target_row *row = &list->items[i];
    char *key = deployment_key(row->deployment);
    if (!key)
      return PN_ENOMEM;
    pn_hub_scheduler_stats stats = pn_hub_scheduler_target_stats(hub->scheduler, key);
    pn_free(key);
    row->waiting = stats.queued;
    row->in_flight = stats.busy;
    row->instances = stats.instances;
    row->counted = 1;
  }
  pn_hub_scheduler_each_target(hub->scheduler, add_scheduled_version, list);
  return 0;
}

/* --- the text ------------------------------------------------------------------------ */

enum series { WAITING, IN_FLIGHT, INSTANCES, MIN, MAX, DESIRED };

static const struct family {
  const char *name;
  const char *help;
  int needs_counts;
} families[] = {
    [WAITING] = {"pinion_queue_depth",
                 "Predictions queued for the target and not yet taken by an instance or a "
                 "director.",
                 1},
    [IN_FLIGHT] = {"pinion_predictions_in_flight",
                   "Predictions taken by an instance or a director and not yet finished.", 1},
    [INSTANCES] = {"pinion_instances",
                   "Instances serving the target: the hub's own, running or starting (embedded "
                   "queue), or consumers of its stream seen within the lease (Redis).",
                   1},
    [MIN] = {"pinion_instances_min", "The target's min_instances.", 0},
    [MAX] = {"pinion_instances_max", "The target's max_instances.", 0},
    [DESIRED] = {"pinion_instances_desired",
                 "Instances the scaling rule wants: enough for what waits and runs, within "
                 "min and max.",
                 1},
};

static double value_of(const target_row *row, enum series which) {
  switch (which) {
  case WAITING:
    return (double)row->waiting;
  case IN_FLIGHT:
    return (double)row->in_flight;
  case INSTANCES:
    return row->instances;
  case MIN:
    return row->min;
  case MAX:
    return row->max;
  case DESIRED:
    return pn_hub_desired_instances(row->min, row->max, row->slots, row->waiting, row->in_flight);
  }
  return 0;
}

static int write_rows(const rows *list, int queue_up, pn_buf *out) {
  int rc = pn_metrics_write_header(out, "pinion_queue_up", PN_METRIC_GAUGE,
                                   "1 when the hub could read its queue for this text, 0 when "
                                   "not (Redis unreachable): the per-target counts are then "
                                   "absent.");
  if (rc == 0)
    rc = pn_metrics_write_sample(out, "pinion_queue_up", NULL, 0, queue_up);
  for (size_t f = 0; f < sizeof families / sizeof families[0] && rc == 0; f++) {
    int any = 0;
    for (size_t i = 0; i < list->count; i++)
      any |= !families[f].needs_counts || list->items[i].counted;
    if (!any)
      continue;
    rc = pn_metrics_write_header(out, families[f].name, PN_METRIC_GAUGE, families[f].help);
    for (size_t i = 0; i < list->count && rc == 0; i++) {
      const target_row *row = &list->items[i];
      if (families[f].needs_counts && !row->counted)
        continue;
      pn_metric_label labels[] = {{"deployment", row->deployment},
                                  {"version", row->version},
                                  {"mode", row->train ? "train" : NULL}};
      rc = pn_metrics_write_sample(out, families[f].name, labels, 3, value_of(row, (enum series)f));
    }
  }
  return rc;
}

/* The finished predictions' streams the hub keeps for replays (prediction_live.c). */
static int write_retained_streams(const pn_hub *hub, pn_buf *out) {
  size_t count, bytes;
  pn_hub_streams_retained(hub, &count, &bytes);
  int rc = pn_metrics_write_header(out, "pinion_streams_retained", PN_METRIC_GAUGE,
                                   "Finished predictions whose event streams the hub keeps in "
                                   "memory for replays (at most PINION_STREAM_RETAIN_MAX).");
  if (rc == 0)
    rc = pn_metrics_write_sample(out, "pinion_streams_retained", NULL, 0, (double)count);
  if (rc == 0)
    rc = pn_metrics_write_header(out, "pinion_streams_retained_bytes", PN_METRIC_GAUGE,
                                 "Bytes the events of those streams take (at most "
                                 "PINION_STREAM_RETAIN_BYTES).");
  if (rc == 0)
    rc = pn_metrics_write_sample(out, "pinion_streams_retained_bytes", NULL, 0, (double)bytes);
  return rc;
}

int pn_hub_metrics_write(pn_hub *hub, pn_buf *out) {
  rows list = {pn_calloc(PN_HUB_METRICS_TARGETS_MAX, sizeof *list.items), 0};
  if (!list.items)
    return PN_ENOMEM;
  int rc = add_deployments(hub, &list);
  int queue_up = 1;
  if (rc == 0) {
    int counted = pn_queue_is_shared(hub->queue) ? count_from_queue(hub, &list)
                                                 : count_from_scheduler(hub, &list);
    if (counted == PN_ENOMEM)
      rc = counted;
    queue_up = counted == 0;
  }
  if (rc == 0)
    rc = write_rows(&list, queue_up, out);
  if (rc == 0)
    rc = write_retained_streams(hub, out);
  if (rc == 0 && hub->metrics && hub->metrics->counted) {
    pn_hub_counted_prune(hub->metrics->counted, hub->store);
    rc = pn_hub_counted_write(hub->metrics->counted, out);
  }
  free_rows(&list);
  return rc;
}

void pn_hub_metrics_concluded(pn_hub *hub, const json_t *row) {
  if (hub->metrics && hub->metrics->counted)
    pn_hub_counted_add(hub->metrics->counted, row);
}

/* --- the listener -------------------------------------------------------------------- */

static void reply_text(struct evhttp_request *request, int status, const char *type,
                       const char *text, size_t length) {
  struct evbuffer *body = evbuffer_new();
  if (body)
    evbuffer_add(body, text, length);
  evhttp_add_header(evhttp_request_get_output_headers(request), "Content-Type", type);
  evhttp_send_reply(request, status, NULL, body);
  if (body)
    evbuffer_free(body);
}

static void reply_problem(struct evhttp_request *request, int status, const char *detail) {
  json_t *problem = json_pack("{s:s, s:i}", "detail", detail, "status", status);
  char *text = problem ? json_dumps(problem, JSON_COMPACT) : NULL;
  json_decref(problem);
  if (status == 401)
    evhttp_add_header(evhttp_request_get_output_headers(request), "WWW-Authenticate",
                      "Bearer realm=\"pinion hub metrics\"");
  reply_text(request, status, "application/problem+json", text ? text : "{}",
             text ? strlen(text) : 2);
  free(text);
}

static int authorized(const struct pn_hub_metrics *metrics, struct evhttp_request *request) {
  if (!metrics->token)
    return 1;
  const char *header =
      evhttp_find_header(evhttp_request_get_input_headers(request), "Authorization");
  static const char bearer[] = "Bearer ";
  size_t expected = strlen(metrics->token);
  return header && strncmp(header, bearer, sizeof bearer - 1) == 0 &&
         strlen(header + sizeof bearer - 1) == expected &&
         pn_crypto_equal(header + sizeof bearer - 1, metrics->token, expected);
}

static void dispatch_metrics(struct evhttp_request *request, void *arg) {
  pn_hub *hub = arg;
  struct pn_hub_metrics *metrics = hub->metrics;
  const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(request));
  if (!path || strcmp(path, "/metrics") != 0) {
    reply_problem(request, 404,
                  "The hub's metrics listener serves only GET /metrics; the API is on the "
                  "hub's --listen address.");
    return;
  }
  if (evhttp_request_get_command(request) != EVHTTP_REQ_GET) {
    evhttp_add_header(evhttp_request_get_output_headers(request), "Allow", "GET");
    reply_problem(request, 405, "/metrics takes GET.");
    return;
  }
  if (!authorized(metrics, request)) {
    reply_problem(request, 401,
                  "/metrics takes the token in the hub's --metrics-token-file as "
                  "`Authorization: Bearer TOKEN` (Prometheus: authorization.credentials_file).");
    return;
  }
  uint64_t now = pn_clock_monotonic_ns();
  if (!metrics->text || now - metrics->made_ns >= PN_HUB_METRICS_REFRESH_NS) {
    pn_buf text;
    pn_buf_init(&text, PN_METRICS_OUTPUT_MAX);
    int rc = pn_hub_metrics_write(hub, &text);
    if (rc < 0) {
      pn_buf_free(&text);
      pn_warn("hub: could not make the metrics' text: %s", pn_strerror(rc));
      reply_problem(request, 503,
                    "The hub could not read its state for the metrics (its database is "
                    "unavailable, or it ran out of memory); the next scrape tries again.");
      return;
    }
    pn_free(metrics->text);
    metrics->length = text.length;
    metrics->text = pn_buf_take(&text);
    metrics->made_ns = now;
  }
  reply_text(request, 200, PN_METRICS_CONTENT_TYPE, metrics->text ? metrics->text : "",
             metrics->text ? metrics->length : 0);
}

/* The token: the file's first line, at least 16 bytes. */
static int read_token(const char *path, char **token) {
  char *text = NULL;
  size_t length = 0;
  int rc = pn_fs_read(path, TOKEN_MAX, &text, &length);
  if (rc < 0) {
    fprintf(stderr, "error: cannot read --metrics-token-file %s: %s\n", path, pn_strerror(rc));
    return -1;
  }
  length = strcspn(text, "\r\n");
  text[length] = '\0';
  if (length < 16) {
    fprintf(stderr,
            "error: --metrics-token-file %s holds %zu bytes on its first line; give a token of "
            "at least 16 (e.g. `openssl rand -hex 32 > %s`)\n",
            path, length, path);
    pn_free(text);
    return -1;
  }
  *token = text;
  return 0;
}

int pn_hub_metrics_open(pn_hub *hub) {
  const pn_hub_options *options = hub->options;
  if (!options->metrics_listen) {
    if (options->metrics_token_file)
      fprintf(stderr, "warning: --metrics-token-file without --metrics-listen: the hub serves "
                      "no metrics\n");
    return 0;
  }
  struct pn_hub_metrics *metrics = pn_calloc(1, sizeof *metrics);
  char *host = NULL;
  int port = 0;
  if (!metrics || pn_hub_split_listen(options->metrics_listen, &host, &port) < 0) {
    fprintf(stderr, "error: --metrics-listen takes HOST:PORT, e.g. 127.0.0.1:9090\n");
    pn_free(metrics);
    pn_free(host);
    return -1;
  }
  hub->metrics = metrics;
  if (pn_hub_counted_new(&metrics->counted) < 0) {
    fprintf(stderr, "error: out of memory for the hub's metrics\n");
    pn_free(host);
    return -1;
  }
  if (options->metrics_token_file && read_token(options->metrics_token_file, &metrics->token) < 0) {
    pn_free(host);
    return -1;
  }
  metrics->http = evhttp_new(hub->base);
  if (!metrics->http) {
    pn_free(host);
    return -1;
  }
  evhttp_set_allowed_methods(metrics->http, 0xffff);
  evhttp_set_max_body_size(metrics->http, 0);
  evhttp_set_max_headers_size(metrics->http, 16 * 1024);
  evhttp_set_timeout(metrics->http, 30);
  pn_listen_options listen_options = {
      .host = host, .port = port, .max_connections = 64, .max_headers = 16 * 1024};
  int bound = 0;
  if (pn_listen_open(hub->base, metrics->http, &listen_options, dispatch_metrics, hub,
                     &metrics->listen, &bound) < 0) {
    fprintf(stderr, "error: cannot listen on %s:%d for the metrics (choose another address "
                    "with --metrics-listen)\n",
            host, port);
    pn_free(host);
    return -1;
  }
  pn_info("pinion hub: metrics on http://%s:%d/metrics%s", host, bound,
          metrics->token ? " (bearer token)" : "");
  pn_free(host);
  return 0;
}

void pn_hub_metrics_close(pn_hub *hub) {
  struct pn_hub_metrics *metrics = hub->metrics;
  if (!metrics)
    return;
  if (metrics->http)
    evhttp_free(metrics->http);
  pn_listen_free(metrics->listen);
  pn_free(metrics->token);
  pn_free(metrics->text);
  pn_hub_counted_free(metrics->counted);
  pn_free(metrics);
  hub->metrics = NULL;
}
