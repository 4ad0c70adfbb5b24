/* The HTTP handlers of predictions and trainings: creation (from a version, a model's
 * latest version, or a deployment), reads, lists, cancellation, `Prefer: wait`, the SSE
 * stream's GET and the instances' webhook route. A create resolves the version,
 * validates the input, rewrites its file URLs and builds the row; from there the
 * prediction's life (stored, queued, run, concluded) is hub/prediction_life.h's, and
 * its stream, webhook and held replies are its live entry's (hub/prediction_live.h).
 * A handler never writes a prediction row itself.
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
#include "core/error.h"
#include "core/log.h"
#include "hub/ids.h"
#include "hub/objects.h"
#include "hub/prediction_life.h"
#include "hub/prediction_live.h"
#include "hub/stream.h"
#include "hub/webhooks.h"
#include "schema/validate.h"

#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

/* What Cog prints for a Secret (cog-compat.md §2.4). */
#define REDACTED "**********"

static const char *text_of(const json_t *row, const char *name) {
  return json_string_value(json_object_get(row, name));
}

static int is_terminal(const char *status) {
  return status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
                    strcmp(status, "canceled") == 0);
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
    return PN_HUB_WAIT_MAX_SECONDS;
  long seconds = strtol(at + 1, NULL, 10);
  return seconds < 1                         ? 1
         : seconds > PN_HUB_WAIT_MAX_SECONDS ? PN_HUB_WAIT_MAX_SECONDS
                                             : (int)seconds;
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
  /* The hub's own director's instances reach it there; a director elsewhere, or another
   * replica's, points the path at its own hub (the signature holds on every replica). */
  const char *internal_url =
      pn_hub_scheduler_instance_hub_url(request->hub->scheduler, kind && strcmp(kind, "image") == 0);
  if (!internal_url)
    internal_url = request->hub->internal_url;
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
  int unqueued = 0;
  int rc = pn_hub_life_create(request->hub, row, instance_request, &unqueued);
  json_decref(instance_request);
  if (unqueued) {
    json_decref(row);
    pn_hub_header(request, "Retry-After", "1");
    pn_hub_problem(request, 503, NULL,
                   "The hub's queue (%s) is unreachable or refused the prediction, so it was "
                   "not created. Retry; the hub reconnects by itself.",
                   pn_queue_engine_name(request->hub->queue));
    return;
  }
  if (rc < 0) {
    json_decref(row);
    pn_hub_store_failed(request, rc, "saving the prediction");
    return;
  }
  count_run(request->hub, text_of(target->model, "id"));
  /* The scheduler may have reported events already: answer with the stored row. */
  pn_hub_live *item = pn_hub_live_find(request->hub, id);
  if (item && pn_hub_live_finished(item))
    item = NULL;
  json_decref(row);
  row = NULL;
  if (pn_store_get(request->hub->store, PN_STORE_PREDICTIONS, id, &row) < 0) {
    pn_hub_store_failed(request, PN_EIO, "reading the prediction back");
    return;
  }
  if (!(wait > 0 && item && pn_hub_live_hold(item, request->request, wait) == 0))
    pn_hub_live_reply_created(request->hub, request->request, row, 0, wait);
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
    int rc = pn_hub_life_cancel(request->hub, row, NULL);
    if (rc < 0) {
      pn_hub_store_failed(request, rc, "canceling the prediction");
      json_decref(row);
      return;
    }
  }
  pn_hub_reply(request, 200, pn_hub_prediction_object(request->hub, row));
  json_decref(row);
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
  pn_hub_stream *stream = pn_hub_live_stream(request->hub, id);
  if (stream) {
    int rc = pn_hub_stream_subscribe(stream, request->request, last, text_of(row, "account"));
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
  } else if (pn_hub_live_subscribe_rebuilt(request->hub, request->request, row, last) < 0) {
    pn_hub_problem(request, 503, NULL, "The hub ran out of memory. Retry.");
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
  int rc = pn_hub_scheduler_webhook(request->hub->scheduler, request->params[0], body);
  json_decref(body);
  if (rc == PN_ENOENT)
    pn_hub_problem(request, 401, "Unauthenticated", "No running instance holds this credential.");
  else
    pn_hub_reply(request, 200, json_object());
}
