/* The hub's HTTP front: start-up (data folder, secret, store, scheduler), the route
 * table, authentication, rate limits, replies (JSON, problem+json, pages) and the loop.
 *
 * Every route names the methods it takes, a pattern whose `{}` segments become
 * request->params, and who may call it: an account (Bearer/Token), anyone (stream and
 * signed download URLs carry their own capability), or a running instance (its
 * credential is the first `{}`). The hub listens twice: the public listener serves /v1/
 * and the pages (paths outside /v1/ belong to hub/pages.c) and never /internal/; the
 * internal listener (--internal-listen, 127.0.0.1 on an ephemeral port by default, and
 * a second socket on the container engine's bridge for image versions, hub/bridge.c)
 * serves only /internal/, each route behind a credential, so a proxy on the same host
 * cannot make a caller "local". libevent 2.1 knows no QUERY method: such requests
 * arrive with an unknown type and their body unread, so the router reads the body
 * through the loop first (hub/query_body.c). */
#include "hub/hub.h"

#include "core/loop.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/listen.h"
#include "core/log.h"
#include "core/unix_socket.h"
#include "core/pool.h"
#include "hub/ids.h"
#include "hub/metrics.h"
#include "hub/owner.h"
#include "hub/pages.h"
#include "hub/route.h"
#include "hub/sessions.h"
#include "hub/webhooks.h"
#include "hub/query_body.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define REQUEST_BODY_MAX ((size_t)1 << 30)
#define FILE_BODY_MAX ((size_t)100 * 1024 * 1024)
#define MULTIPART_SLACK ((size_t)1 << 20)
#define JSON_BODY_MAX ((size_t)10 << 20)
#define RATE_WINDOW_SECONDS 60
#define DEFAULT_RATE_LIMIT 3000
/* Threads for blocking work, and jobs (pushes, uploads) that may wait for one (more
 * get 503). */
#define HUB_POOL_THREADS 2
#define HUB_POOL_QUEUE 16

enum { M_GET = 1, M_POST = 2, M_PUT = 4, M_PATCH = 8, M_DELETE = 16, M_QUERY = 32 };
/* INSTANCE, DIRECTOR and SIGNED routes live on the internal listener only: INSTANCE
 * takes a live instance's credential as its first `{}`; DIRECTOR a director's credential
 * (`pinion hub token create --director`) as `Authorization: Bearer`; SIGNED carries a
 * signature its handler checks (the input files instances download). */
enum access { ACCOUNT, ANYONE, INSTANCE, DIRECTOR, SIGNED };

typedef struct route {
  unsigned methods;
  const char *pattern;
  pn_hub_handler handler;
  enum access access;
} route;

static const route routes[] = {
    {M_GET, "/v1/account", pn_hub_account_get, ACCOUNT},
    {M_GET, "/v1/webhooks/default/secret", pn_hub_webhook_secret_get, ACCOUNT},
    {M_GET, "/v1/hardware", pn_hub_hardware_list, ACCOUNT},
    {M_GET, "/v1/collections", pn_hub_collections_list, ACCOUNT},
    {M_GET, "/v1/collections/{}", pn_hub_collection_get, ACCOUNT},
    {M_GET, "/v1/models", pn_hub_models_list, ACCOUNT},
    {M_POST, "/v1/models", pn_hub_models_create, ACCOUNT},
    {M_QUERY, "/v1/models", pn_hub_models_search, ACCOUNT},
    {M_GET, "/v1/models/{}/{}", pn_hub_model_get, ACCOUNT},
    {M_PATCH, "/v1/models/{}/{}", pn_hub_model_update, ACCOUNT},
    {M_DELETE, "/v1/models/{}/{}", pn_hub_model_delete, ACCOUNT},
    {M_GET, "/v1/models/{}/{}/readme", pn_hub_model_readme, ACCOUNT},
    {M_GET, "/v1/models/{}/{}/examples", pn_hub_model_examples, ACCOUNT},
    {M_GET, "/v1/models/{}/{}/versions", pn_hub_versions_list, ACCOUNT},
    {M_POST, "/v1/models/{}/{}/versions", pn_hub_versions_push, ACCOUNT},
    {M_GET, "/v1/models/{}/{}/versions/{}", pn_hub_version_get, ACCOUNT},
    {M_DELETE, "/v1/models/{}/{}/versions/{}", pn_hub_version_delete, ACCOUNT},
    {M_GET, "/v1/models/{}/{}/versions/{}/runtime", pn_hub_version_runtime, ACCOUNT},
    {M_POST, "/v1/models/{}/{}/versions/{}/trainings", pn_hub_trainings_create, ACCOUNT},
    {M_POST, "/v1/models/{}/{}/predictions", pn_hub_model_predictions_create, ACCOUNT},
    {M_POST, "/v1/predictions", pn_hub_predictions_create, ACCOUNT},
    {M_GET, "/v1/predictions", pn_hub_predictions_list, ACCOUNT},
    {M_GET, "/v1/predictions/{}", pn_hub_prediction_get, ACCOUNT},
    {M_POST, "/v1/predictions/{}/cancel", pn_hub_prediction_cancel, ACCOUNT},
    {M_GET, "/v1/trainings", pn_hub_trainings_list, ACCOUNT},
    {M_GET, "/v1/trainings/{}", pn_hub_prediction_get, ACCOUNT},
    {M_POST, "/v1/trainings/{}/cancel", pn_hub_prediction_cancel, ACCOUNT},
    {M_GET, "/v1/streams/{}", pn_hub_stream_get, ANYONE},
    {M_POST, "/v1/files", pn_hub_files_create, ACCOUNT},
    {M_GET, "/v1/files", pn_hub_files_list, ACCOUNT},
    /* Also the stream URL of file-streaming models (it carries a stream token). */
    {M_GET, "/v1/files/{}", pn_hub_file_get, ANYONE},
    {M_DELETE, "/v1/files/{}", pn_hub_file_delete, ACCOUNT},
    {M_GET, "/v1/files/{}/download", pn_hub_file_download, ANYONE},
    /* The same, the file's name after it (what signed URLs carry, for model servers). */
    {M_GET, "/v1/files/{}/download/{}", pn_hub_file_download, ANYONE},
    {M_GET, "/v1/outputs/{}/{}", pn_hub_output_download, ANYONE},
    {M_GET, "/v1/deployments", pn_hub_deployments_list, ACCOUNT},
    {M_POST, "/v1/deployments", pn_hub_deployments_create, ACCOUNT},
    {M_GET, "/v1/deployments/{}/{}", pn_hub_deployment_get, ACCOUNT},
    {M_PATCH, "/v1/deployments/{}/{}", pn_hub_deployment_update, ACCOUNT},
    {M_DELETE, "/v1/deployments/{}/{}", pn_hub_deployment_delete, ACCOUNT},
    {M_POST, "/v1/deployments/{}/{}/predictions", pn_hub_deployment_predictions_create, ACCOUNT},
    {M_POST, "/internal/instances/{}/webhook", pn_hub_instance_webhook, INSTANCE},
    {M_PUT, "/internal/uploads/{}/{}", pn_hub_upload_put, INSTANCE},
    {M_POST, "/internal/director/predictions/{}", pn_hub_director_event, DIRECTOR},
    {M_PUT, "/internal/director/uploads/{}", pn_hub_director_upload_put, DIRECTOR},
    {M_GET, "/internal/director/versions/{}/bundle", pn_hub_director_version_bundle, DIRECTOR},
    {M_GET, "/internal/director/deployments/{}/{}/bundle", pn_hub_director_deployment_bundle,
     DIRECTOR},
    {M_GET, "/internal/files/{}/download", pn_hub_file_download, SIGNED},
    {M_GET, "/internal/files/{}/download/{}", pn_hub_file_download, SIGNED},
};

typedef struct pn_hub_limit {
  char *account;
  uint64_t window_start_ns;
  int count;
  struct pn_hub_limit *next;
} limit;

/* --- small helpers ------------------------------------------------------------------ */

const char *pn_hub_now(char out[40]) { return pn_clock_format(pn_clock_realtime_ns(), 0, out, 40); }

char *pn_hub_url(pn_hub *hub, const char *format, ...) {
  va_list args;
  va_start(args, format);
  pn_buf url;
  pn_buf_init(&url, 1 << 16);
  pn_buf_append_str(&url, hub->public_url);
  int rc = pn_buf_vappendf(&url, format, args);
  va_end(args);
  if (rc < 0) {
    pn_buf_free(&url);
    return NULL;
  }
  return pn_buf_take(&url);
}

const char *pn_hub_request_header(pn_hub_request *request, const char *name) {
  return evhttp_find_header(evhttp_request_get_input_headers(request->request), name);
}

const char *pn_hub_query(pn_hub_request *request, const char *name) {
  return evhttp_find_header(&request->query, name);
}

void pn_hub_header(pn_hub_request *request, const char *name, const char *value) {
  evhttp_add_header(evhttp_request_get_output_headers(request->request), name, value);
}

/* --- replies ------------------------------------------------------------------------ */

static void free_reference(const void *data, size_t length, void *arg) { pn_free((void *)data); }

static void send_owned(pn_hub_request *request, int status, const char *type, char *text,
                       size_t length) {
  struct evbuffer *buffer = evbuffer_new();
  if (buffer && text && evbuffer_add_reference(buffer, text, length, free_reference, NULL) < 0)
    pn_free(text);
  else if (!buffer)
    pn_free(text);
  if (type)
    pn_hub_header(request, "Content-Type", type);
  evhttp_send_reply(request->request, status, NULL, buffer);
  if (buffer)
    evbuffer_free(buffer);
}

static void send_json(pn_hub_request *request, int status, const char *type, json_t *value) {
  pn_buf body;
  pn_buf_init(&body, (size_t)1 << 34);
  int rc = value ? pn_json_write(value, PN_JSON_COMPACT, &body) : PN_ENOMEM;
  json_decref(value);
  if (rc < 0) {
    pn_buf_free(&body);
    send_owned(request, 500, "application/problem+json",
               pn_strdup("{\"detail\":\"The hub ran out of memory.\",\"status\":500}"), 51);
    return;
  }
  size_t length = body.length;
  send_owned(request, status, type, pn_buf_take(&body), length);
}

void pn_hub_reply(pn_hub_request *request, int status, json_t *value) {
  send_json(request, status, "application/json", value);
}

static const char *status_title(int status) {
  switch (status) {
  case 400:
    return "Bad request";
  case 401:
    return "Unauthenticated";
  case 403:
    return "Forbidden";
  case 404:
    return "Not found";
  case 405:
    return "Method not allowed";
  case 409:
    return "Conflict";
  case 413:
    return "Payload too large";
  case 415:
    return "Unsupported media type";
  case 422:
    return "Invalid input";
  case 429:
    return "Too many requests";
  case 503:
    return "Service unavailable";
  default:
    return status >= 500 ? "Internal server error" : "Error";
  }
}

void pn_hub_problem(pn_hub_request *request, int status, const char *title, const char *format,
                    ...) {
  va_list args;
  va_start(args, format);
  pn_buf detail;
  pn_buf_init(&detail, 1 << 16);
  pn_buf_vappendf(&detail, format, args);
  va_end(args);
  json_t *body = json_pack("{s:s, s:s, s:i}", "title", title ? title : status_title(status),
                           "detail", detail.data ? detail.data : "", "status", status);
  pn_buf_free(&detail);
  send_json(request, status, "application/problem+json", body);
}

void pn_hub_problem_invalid(pn_hub_request *request, json_t *entries) {
  pn_buf detail;
  pn_buf_init(&detail, 1 << 16);
  pn_buf_append_str(&detail, "The input is invalid: ");
  size_t index;
  json_t *entry;
  json_array_foreach(entries, index, entry) {
    json_t *location = json_object_get(entry, "loc");
    const char *name = json_string_value(json_array_get(location, json_array_size(location) - 1));
    pn_buf_appendf(&detail, "%s%s: %s", index ? "; " : "", name ? name : "input",
                   json_string_value(json_object_get(entry, "msg")));
  }
  pn_buf_append_str(&detail, ". Fix the input to match the version's openapi_schema.");
  json_t *body = json_pack("{s:s, s:s, s:i, s:o}", "title", "Input validation failed", "detail",
                           detail.data, "status", 422, "errors", entries);
  pn_buf_free(&detail);
  send_json(request, 422, "application/problem+json", body);
}

void pn_hub_reply_bytes(pn_hub_request *request, int status, const char *type, const void *bytes,
                        size_t length) {
  struct evbuffer *buffer = evbuffer_new();
  if (buffer && length)
    evbuffer_add(buffer, bytes, length);
  if (type)
    pn_hub_header(request, "Content-Type", type);
  evhttp_send_reply(request->request, status, NULL, buffer);
  if (buffer)
    evbuffer_free(buffer);
}

void pn_hub_reply_empty(pn_hub_request *request, int status) {
  evhttp_send_reply(request->request, status, NULL, NULL);
}

void pn_hub_problem_not_queued(pn_hub_request *request, int rc, const char *doing) {
  if (rc == PN_EBUSY) {
    pn_hub_header(request, "Retry-After", "5");
    pn_hub_problem(request, 503, NULL,
                   "The hub is busy %s: as many wait as it queues. Retry in a few seconds.",
                   doing);
  } else {
    pn_hub_problem(request, 500, NULL, "The hub ran out of memory. Retry.");
  }
}

void pn_hub_store_failed(pn_hub_request *request, int rc, const char *doing) {
  pn_store *store = request->hub->store;
  const char *engine = pn_store_engine_name(store);
  const char *failure = pn_store_failure(store);
  pn_error("hub: store failed while %s: %s", doing, failure ? failure : pn_strerror(rc));
  /* The engine's own words stay in the log: they name the database's host. */
  if (rc == PN_ECLOSED)
    pn_hub_problem(request, 503, NULL,
                   "The hub's database (%s) is unavailable: the hub could not reach it while "
                   "%s. Retry in a moment; the hub reconnects by itself. If it persists, the "
                   "hub's operator should check the database and the hub's log.",
                   engine, doing);
  else
    pn_hub_problem(request, 503, NULL,
                   "The hub's database (%s) failed while %s (%s). Retry; if it persists, check "
                   "the hub's log and disk.",
                   engine, doing, pn_strerror(rc));
}

json_t *pn_hub_body_object(pn_hub_request *request) {
  if (request->body_length == 0)
    return json_object();
  json_error_t error;
  json_t *body = json_loadb((const char *)request->body, request->body_length, 0, &error);
  if (!body) {
    pn_hub_problem(request, 400, NULL,
                   "The request body is not valid JSON (%s at line %d, column %d). Send a JSON "
                   "object with Content-Type: application/json.",
                   error.text, error.line, error.column);
    return NULL;
  }
  if (!json_is_object(body)) {
    json_decref(body);
    pn_hub_problem(request, 400, NULL, "The request body must be a JSON object.");
    return NULL;
  }
  return body;
}

/* --- pages -------------------------------------------------------------------------- */

static const char *row_key(const json_t *row) {
  const char *key = json_string_value(json_object_get(row, "key"));
  return key ? key : json_string_value(json_object_get(row, "id"));
}

static char *page_url(pn_hub_request *request, const json_t *row, int backward) {
  const char *created_at = json_string_value(json_object_get(row, "created_at"));
  const char *key = row_key(row);
  if (!created_at || !key)
    return NULL;
  char *position = pn_strfmt("%s%s", backward ? "<" : "", created_at);
  char *cursor = position ? pn_hub_cursor_encode(position, key) : NULL;
  char *url = cursor ? pn_hub_url(request->hub, "%s?cursor=%s", request->path, cursor) : NULL;
  pn_free(position);
  pn_free(cursor);
  return url;
}

void pn_hub_reply_page(pn_hub_request *request, const char *table, pn_store_query *query,
                       pn_hub_render_fn render) {
  const char *cursor = pn_hub_query(request, "cursor");
  char *created_at = NULL, *key = NULL;
  int backward = 0;
  if (cursor && *cursor) {
    if (pn_hub_cursor_decode(cursor, &created_at, &key) < 0) {
      pn_hub_problem(request, 400, NULL,
                     "The cursor \"%s\" is not one this hub made. Follow the `next` URL of a "
                     "previous page as it is.",
                     cursor);
      return;
    }
    backward = created_at[0] == '<';
    query->after_created_at = created_at + backward;
    query->after_id = key;
  }
  int want_ascending = query->ascending;
  query->ascending = backward ? !want_ascending : want_ascending;
  json_t *rows = NULL;
  int more = 0;
  int rc = pn_store_list(request->hub->store, table, query, &rows, &more);
  if (rc < 0) {
    pn_free(created_at);
    pn_free(key);
    pn_hub_store_failed(request, rc, "listing");
    return;
  }
  if (backward) { /* read in reverse to go back; show in the page's order */
    size_t count = json_array_size(rows);
    for (size_t i = 0; i < count / 2; i++) {
      json_t *first = json_incref(json_array_get(rows, i));
      json_array_set(rows, i, json_array_get(rows, count - 1 - i));
      json_array_set_new(rows, count - 1 - i, first);
    }
  }
  size_t count = json_array_size(rows);
  char *next = NULL, *previous = NULL;
  if (count && (backward ? 1 : more))
    next = page_url(request, json_array_get(rows, count - 1), 0);
  if (count && (backward ? more : cursor != NULL && *cursor))
    previous = page_url(request, json_array_get(rows, 0), 1);
  json_t *results = json_array();
  size_t index;
  json_t *row;
  json_array_foreach(rows, index, row) {
    json_t *item = render(request, row);
    if (item)
      json_array_append_new(results, item);
  }
  json_decref(rows);
  pn_hub_reply(
      request, 200,
      json_pack("{s:s?, s:s?, s:o}", "previous", previous, "next", next, "results", results));
  pn_free(next);
  pn_free(previous);
  pn_free(created_at);
  pn_free(key);
}

/* --- authentication and limits ------------------------------------------------------ */

/* The credential a token of the kind asked for (an account's API token, or a director's)
 * names, PN_ENOENT, or the store's failure. */
static int token_credential(pn_hub *hub, const char *token, int director,
                            pn_store_credential *credential) {
  char hash[65];
  while (*token == ' ')
    token++;
  if (pn_hub_token_is_director(token) != director)
    return PN_ENOENT;
  int rc = *token ? pn_crypto_sha256_hex(token, strlen(token), hash) : PN_ENOENT;
  return rc < 0 ? rc : pn_store_token_find(hub->store, hash, credential);
}

enum pn_hub_auth pn_hub_authenticate(pn_hub *hub, struct evhttp_request *request, char **account) {
  *account = NULL;
  struct evkeyvalq *headers = evhttp_request_get_input_headers(request);
  const char *header = evhttp_find_header(headers, "Authorization");
  pn_store_credential credential = {0};
  enum pn_hub_auth how = PN_HUB_AUTH_NONE;
  if (header) {
    const char *token = strncasecmp(header, "Bearer ", 7) == 0  ? header + 7
                        : strncasecmp(header, "Token ", 6) == 0 ? header + 6
                                                                : NULL;
    int rc = token ? token_credential(hub, token, 0, &credential) : PN_ENOENT;
    how = rc == 0           ? PN_HUB_AUTH_TOKEN
          : rc == PN_ENOENT ? PN_HUB_AUTH_NONE
                            : PN_HUB_AUTH_UNAVAILABLE;
  } else {
    /* A browser sends the cookie with every request to this origin, whoever made the
     * page that caused it; only the hub's own pages know the CSRF token. */
    char *session_id = pn_hub_session_cookie(request);
    int rc = session_id ? pn_hub_session_find(hub, session_id, &credential) : PN_ENOENT;
    if (rc == 0)
      how = pn_hub_session_csrf_valid(hub, session_id,
                                      evhttp_find_header(headers, PN_HUB_CSRF_HEADER))
                ? PN_HUB_AUTH_SESSION
                : PN_HUB_AUTH_COOKIE_ONLY;
    else if (rc != PN_ENOENT)
      how = PN_HUB_AUTH_UNAVAILABLE;
    pn_free(session_id);
  }
  if (how != PN_HUB_AUTH_NONE && how != PN_HUB_AUTH_UNAVAILABLE) {
    pn_hub_credential_used(hub, &credential);
    *account = credential.account;
    credential.account = NULL;
  }
  pn_store_credential_clear(&credential);
  return how;
}

/* Counts the request in this process's window of `key`: *count so far, this one
 * included, and *reset_ns left of the window. */
static void count_here(pn_hub *hub, const char *key, long *count, uint64_t *reset_ns) {
  uint64_t now = pn_clock_monotonic_ns();
  limit *window = hub->limits;
  while (window && strcmp(window->account, key) != 0)
    window = window->next;
  if (!window) {
    window = pn_calloc(1, sizeof *window);
    if (!window || !(window->account = pn_strdup(key))) {
      pn_free(window);
      *count = 0;
      *reset_ns = (uint64_t)RATE_WINDOW_SECONDS * 1000000000u;
      return;
    }
    window->next = hub->limits;
    hub->limits = window;
  }
  if (now - window->window_start_ns >= (uint64_t)RATE_WINDOW_SECONDS * 1000000000u) {
    window->window_start_ns = now;
    window->count = 0;
  }
  window->count++;
  *count = window->count;
  *reset_ns = window->window_start_ns + (uint64_t)RATE_WINDOW_SECONDS * 1000000000u - now;
}

/* Counts the request in the window of `key` that every hub on the shared queue (Redis)
 * counts in, so that --rate-limit N holds across replicas; 0 when counted there. While
 * Redis is unreachable each hub counts on its own (fail open to the per-process limit,
 * said in the log at most once a minute): the API stays up, and a client may then make
 * up to N requests a minute on each replica. */
static int count_shared(pn_hub *hub, const char *key, long *count, uint64_t *reset_ns) {
  if (hub->options->rate_limit <= 0 || !pn_queue_is_shared(hub->queue))
    return PN_EUNSUPPORTED;
  long reset_ms = 0;
  int rc = pn_queue_count(hub->queue, key, (long)RATE_WINDOW_SECONDS * 1000, count, &reset_ms);
  if (rc == 0) {
    *reset_ns = (uint64_t)(reset_ms > 0 ? reset_ms : 0) * 1000000u;
    return 0;
  }
  static uint64_t said_ns;
  uint64_t now = pn_clock_monotonic_ns();
  if (!said_ns || now - said_ns >= 60ull * 1000000000u) {
    said_ns = now;
    pn_warn("hub: the shared rate limit could not be counted in the queue (Redis): %s; "
            "counting on this hub alone until it answers (each replica allows %d a minute)",
            pn_strerror(rc), hub->options->rate_limit);
  }
  return rc;
}

/* Counts the request against the window of `key` (an account, or "address <ip>" for
 * requests without one); 0 when allowed. */
static int count_request(pn_hub_request *request, const char *key) {
  pn_hub *hub = request->hub;
  long count = 0;
  uint64_t reset_ns = 0;
  if (count_shared(hub, key, &count, &reset_ns) < 0)
    count_here(hub, key, &count, &reset_ns);
  int allowed = hub->options->rate_limit > 0 ? hub->options->rate_limit : DEFAULT_RATE_LIMIT;
  char remaining[24], reset[24];
  snprintf(remaining, sizeof remaining, "%ld", count > allowed ? 0 : allowed - count);
  snprintf(reset, sizeof reset, "%llu", (unsigned long long)(reset_ns / 1000000000u + 1));
  pn_hub_header(request, "ratelimit-remaining", remaining);
  pn_hub_header(request, "ratelimit-reset", reset);
  if (hub->options->rate_limit > 0 && count > allowed) {
    pn_hub_header(request, "Retry-After", reset);
    pn_hub_problem(request, 429, NULL,
                   "Request was throttled: this %s may make %d requests a minute. Retry "
                   "in %s seconds.",
                   strncmp(key, "address ", 8) == 0 ? "address" : "account", allowed, reset);
    return -1;
  }
  return 0;
}

/* Unauthenticated requests count per address when --rate-limit is set: "address <ip>". */
static int count_unauthenticated(pn_hub_request *request) {
  if (request->hub->options->rate_limit <= 0)
    return 0;
  struct evhttp_connection *connection = evhttp_request_get_connection(request->request);
  char *address = NULL;
  ev_uint16_t port = 0;
  if (connection)
    evhttp_connection_get_peer(connection, &address, &port);
  char key[80];
  snprintf(key, sizeof key, "address %s", address ? address : "unknown");
  return count_request(request, key);
}

/* The most body a route takes: its uploads' own limit, else that of a JSON document.
 * Checked before the body is copied or parsed. */
static size_t route_body_max(const route *found) {
  if (found->handler == pn_hub_files_create)
    return FILE_BODY_MAX + MULTIPART_SLACK;
  /* A model's output files may be larger than a client's upload (a video). */
  if (found->handler == pn_hub_versions_push || found->handler == pn_hub_instance_webhook ||
      found->handler == pn_hub_upload_put || found->handler == pn_hub_director_event ||
      found->handler == pn_hub_director_upload_put)
    return REQUEST_BODY_MAX;
  return JSON_BODY_MAX;
}

void pn_hub_body_pull(pn_hub_request *request) {
  if (!request->body && request->body_length) {
    struct evbuffer *input = evhttp_request_get_input_buffer(request->request);
    request->body = evbuffer_pullup(input, (ev_ssize_t)request->body_length);
  }
}

struct evbuffer *pn_hub_body_take(pn_hub_request *request) {
  struct evbuffer *taken = evbuffer_new();
  if (taken && evbuffer_add_buffer(taken, evhttp_request_get_input_buffer(request->request)) < 0) {
    evbuffer_free(taken);
    return NULL;
  }
  return taken;
}

/* Routes whose bodies may be large take them as they are (pn_hub_body_take), to be
 * pulled into one piece on the pool: a copy of 100 MB holds the loop for most of a
 * second where page faults are dear. */
static int route_takes_body_unpulled(const route *found) {
  return found->handler == pn_hub_files_create || found->handler == pn_hub_upload_put ||
         found->handler == pn_hub_director_upload_put || found->handler == pn_hub_versions_push;
}

/* --- routing ------------------------------------------------------------------------ */

static unsigned method_bit(struct evhttp_request *request) {
  switch (evhttp_request_get_command(request)) {
  case EVHTTP_REQ_GET:
  case EVHTTP_REQ_HEAD:
    return M_GET;
  case EVHTTP_REQ_POST:
    return M_POST;
  case EVHTTP_REQ_PUT:
    return M_PUT;
  case EVHTTP_REQ_PATCH:
    return M_PATCH;
  case EVHTTP_REQ_DELETE:
    return M_DELETE;
  case EVHTTP_REQ_OPTIONS:
  case EVHTTP_REQ_TRACE:
  case EVHTTP_REQ_CONNECT:
    return 0;
  default:
    return M_QUERY; /* the one non-standard method clients send */
  }
}

/* Routes a request whose body is `body` (borrowed for the call), or, when NULL, the
 * request's input buffer of `body_length` bytes. */
static void serve(pn_hub *hub, struct evhttp_request *http_request, const unsigned char *body,
                  size_t body_length) {
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(http_request);
  const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
  if (!path || !*path)
    path = "/";
  unsigned method = method_bit(http_request);
  const char *agent =
      evhttp_find_header(evhttp_request_get_input_headers(http_request), "User-Agent");
  static const char *const names[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "QUERY"};
  const char *name = "OTHER";
  for (unsigned i = 0; i < 6; i++)
    if (method == 1u << i)
      name = names[i];
  int internal = strncmp(path, "/internal/", 10) == 0;
  /* Internal paths hold credentials: they are never logged. */
  pn_debug("hub: %s %s (%s)", name, internal ? "/internal/..." : path,
           agent ? agent : "no User-Agent");
  pn_hub_request request = {.hub = hub, .request = http_request, .path = path};
  TAILQ_INIT(&request.query);
  if (uri && evhttp_uri_get_query(uri))
    evhttp_parse_query_str(evhttp_uri_get_query(uri), &request.query);
  request.body = body;
  request.body_length = body_length;
  if (internal) {
    pn_hub_problem(&request, 404, NULL,
                   "There is no API endpoint at this path. See the API reference for the paths "
                   "under /v1/.");
    goto done;
  }
  if (strncmp(path, "/v1/", 4) != 0 && strcmp(path, "/v1") != 0) {
    pn_hub_body_pull(&request);
    pn_hub_pages_serve(&request);
    goto done;
  }
  if (strncmp(path, "/v1", 3) == 0) {
    /* Browsers may call the API from other origins: tokens are bearer headers, never
     * cookies, so any origin may send one (platform spec §1.8). */
    pn_hub_header(&request, "Access-Control-Allow-Origin", "*");
    pn_hub_header(&request, "Access-Control-Expose-Headers",
                  "ratelimit-remaining, ratelimit-reset, Preference-Applied, Location");
    if (evhttp_request_get_command(http_request) == EVHTTP_REQ_OPTIONS) {
      pn_hub_header(&request, "Access-Control-Allow-Methods",
                    "GET, POST, PATCH, DELETE, QUERY, OPTIONS");
      pn_hub_header(&request, "Access-Control-Allow-Headers",
                    "Authorization, Content-Type, Prefer, Cancel-After, Last-Event-ID");
      pn_hub_header(&request, "Access-Control-Max-Age", "86400");
      pn_hub_reply_empty(&request, 204);
      goto done;
    }
  }
  const route *found = NULL;
  char *params[4] = {0};
  int path_known = 0;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !found; i++) {
    char *candidate[4] = {0};
    if (pn_hub_route_match(routes[i].pattern, path, candidate)) {
      path_known = 1;
      if (routes[i].methods & method) {
        found = &routes[i];
        memcpy(params, candidate, sizeof params);
        continue;
      }
    }
    for (int j = 0; j < 4; j++)
      pn_free(candidate[j]);
  }
  for (int j = 0; j < 4; j++)
    request.params[j] = params[j];
  if (!found) {
    if (path_known)
      pn_hub_problem(&request, 405, NULL, "%s does not take this method.", path);
    else
      pn_hub_problem(&request, 404, NULL,
                     "There is no API endpoint at %s. See the API reference for the paths "
                     "under /v1/.",
                     path);
  } else {
    char *account = NULL;
    enum pn_hub_auth how = pn_hub_authenticate(hub, http_request, &account);
    if (how == PN_HUB_AUTH_COOKIE_ONLY)
      pn_free(account); /* the API takes a cookie only with its CSRF token */
    else
      request.account = account;
    size_t body_max = route_body_max(found);
    if (how == PN_HUB_AUTH_UNAVAILABLE) {
      pn_hub_store_failed(&request, pn_store_failure_code(hub->store),
                          "checking the request's credential");
    } else if (found->access == ACCOUNT && how == PN_HUB_AUTH_COOKIE_ONLY) {
      pn_hub_problem(&request, 403, NULL,
                     "The session cookie alone does not authorize API calls: the hub's pages "
                     "send their X-CSRF-Token header with it. Other clients send "
                     "`Authorization: Bearer <token>`.");
    } else if (found->access == ACCOUNT && !request.account) {
      if (count_unauthenticated(&request) == 0) {
        if (request.body_length)
          pn_hub_header(&request, "Connection", "close");
        pn_hub_problem(&request, 401, "Unauthenticated",
                       "You did not pass a valid authentication token. Send `Authorization: "
                       "Bearer <token>`; create a token with `pinion hub token create "
                       "--account NAME` (a director's credential is for the internal API "
                       "only).");
      }
    } else if (request.account ? count_request(&request, request.account) < 0
                               : count_unauthenticated(&request) < 0) {
      /* answered 429 */
    } else if (request.body_length > body_max) {
      pn_hub_header(&request, "Connection", "close");
      pn_hub_problem(&request, 413, NULL,
                     "The request body is %zu bytes, over the limit of %zu bytes for %s. Send "
                     "large inputs as files (POST /v1/files) or URLs.",
                     request.body_length, body_max, path);
    } else {
      if (!route_takes_body_unpulled(found))
        pn_hub_body_pull(&request);
      found->handler(&request);
    }
  }
  for (int j = 0; j < 4; j++)
    pn_free(params[j]);
done:
  pn_free(request.account);
  evhttp_clear_headers(&request.query);
}

int pn_hub_pool_submit(pn_hub *hub, pn_pool_work_fn work, pn_pool_done_fn done, void *job) {
  if (pn_pool_pending(hub->pool) >= HUB_POOL_QUEUE)
    return PN_EBUSY;
  return pn_pool_submit(hub->pool, work, done, job, NULL);
}

/* QUERY bodies are read through the loop first (hub/query_body.c); evhttp has read
 * every other body. */
static void dispatch(struct evhttp_request *http_request, void *arg) {
  pn_hub *hub = arg;
  if (method_bit(http_request) == M_QUERY) {
    pn_hub_read_unknown_body(hub, http_request, serve);
    return;
  }
  /* The body is copied into one piece only once the request may use it
   * (pn_hub_body_pull), and for large bodies on the pool (pn_hub_body_take). */
  struct evbuffer *input = evhttp_request_get_input_buffer(http_request);
  serve(hub, http_request, NULL, evbuffer_get_length(input));
}

/* 0 when the request carries an unrevoked director's credential; PN_ENOENT when not, or
 * the store's failure. */
static int director_authenticate(pn_hub *hub, struct evhttp_request *request) {
  const char *header =
      evhttp_find_header(evhttp_request_get_input_headers(request), "Authorization");
  if (!header || strncasecmp(header, "Bearer ", 7) != 0)
    return PN_ENOENT;
  size_t length = strlen(hub->local_credential);
  if (length && strlen(header + 7) == length &&
      pn_crypto_equal(header + 7, hub->local_credential, length))
    return 0; /* the hub's own director: no store to ask */
  pn_store_credential credential = {0};
  int rc = token_credential(hub, header + 7, 1, &credential);
  if (rc == 0)
    pn_hub_credential_used(hub, &credential);
  pn_store_credential_clear(&credential);
  if (rc < 0 && rc != PN_ENOENT && !pn_store_failure_code(hub->store))
    rc = PN_ENOENT;
  return rc;
}

/* The internal listener: only /internal/ routes, each behind a credential; anything
 * else, from any address, is 401 (404 outside /internal/). Paths are never logged or
 * echoed: they carry the credentials. */
static void dispatch_internal(struct evhttp_request *http_request, void *arg) {
  pn_hub *hub = arg;
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(http_request);
  const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
  pn_hub_request request = {.hub = hub, .request = http_request, .path = path ? path : "/"};
  TAILQ_INIT(&request.query);
  if (uri && evhttp_uri_get_query(uri))
    evhttp_parse_query_str(evhttp_uri_get_query(uri), &request.query);
  request.body_length = evbuffer_get_length(evhttp_request_get_input_buffer(http_request));
  const route *found = NULL;
  char *params[4] = {0};
  int director = 0;
  unsigned method = method_bit(http_request);
  for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !found; i++) {
    if (routes[i].access != INSTANCE && routes[i].access != DIRECTOR &&
        routes[i].access != SIGNED)
      continue;
    if (pn_hub_route_match(routes[i].pattern, request.path, params) &&
        (routes[i].methods & method))
      found = &routes[i];
    else
      for (int j = 0; j < 4; j++) {
        pn_free(params[j]);
        params[j] = NULL;
      }
  }
  for (int j = 0; j < 4; j++)
    request.params[j] = params[j];
  pn_debug("hub: internal %s", found ? found->pattern : "request without a route");
  if (strncmp(request.path, "/internal/", 10) != 0)
    pn_hub_problem(&request, 404, NULL,
                   "The hub's internal listener serves only /internal/ routes; the API is on "
                   "the public listener.");
  else if (!found ||
           (found->access == INSTANCE &&
            !pn_hub_scheduler_credential_valid(hub->scheduler, params[0])))
    pn_hub_problem(&request, 401, "Unauthenticated",
                   "Internal routes take the credential of a running instance (in the webhook "
                   "and upload URLs the hub gives it); this request has none that is valid, or "
                   "the instance has stopped.");
  else if (found->access == DIRECTOR && (director = director_authenticate(hub, http_request)) ==
                                            PN_ENOENT)
    pn_hub_problem(&request, 401, "Unauthenticated",
                   "The director routes take a director's credential as `Authorization: Bearer "
                   "<credential>` (`pinion hub token create --director`); this request has "
                   "none, an API token, or a revoked one.");
  else if (director < 0)
    pn_hub_store_failed(&request, director, "checking the director's credential");
  else if (request.body_length > route_body_max(found))
    pn_hub_problem(&request, 413, NULL, "The request body is %zu bytes, over the limit of %zu.",
                   request.body_length, route_body_max(found));
  else {
    if (!route_takes_body_unpulled(found))
      pn_hub_body_pull(&request);
    found->handler(&request);
  }
  for (int j = 0; j < 4; j++)
    pn_free(params[j]);
  evhttp_clear_headers(&request.query);
}

/* --- start-up ----------------------------------------------------------------------- */

/* The data folder and every folder in it are the hub's alone; one made wider by an
 * older pinion is narrowed. */
static int make_private_dir(const char *path) {
  if (mkdir(path, 0700) < 0 && errno != EEXIST)
    return PN_EIO;
  struct stat info;
  if (stat(path, &info) < 0 || !S_ISDIR(info.st_mode))
    return PN_EIO;
  if ((info.st_mode & 077) && chmod(path, info.st_mode & 0700) < 0)
    return PN_EIO;
  return 0;
}

/* DATA/secret: made once, by whichever hub starts first on a new data folder. Replicas
 * sharing the folder may start together: each writes its candidate to a file of its own
 * and links it into place only if no secret is there (link fails then), and every hub
 * uses what the file holds, so all of them sign with the same key. */
static int load_secret(pn_hub *hub) {
  char *path = pn_fs_join(hub->data_dir, "secret");
  char *data = NULL;
  size_t length = 0;
  int rc = path ? pn_fs_read(path, 64, &data, &length) : PN_ENOMEM;
  int found = rc == 0; /* a file is there, maybe of the wrong size */
  if (rc != PN_ENOMEM && (rc < 0 || length != sizeof hub->secret)) {
    pn_free(data);
    data = NULL;
    unsigned char candidate[sizeof hub->secret], tag[4];
    char *staging = NULL;
    rc = pn_crypto_random(candidate, sizeof candidate);
    if (rc == 0)
      rc = pn_crypto_random(tag, sizeof tag);
    if (rc == 0)
      staging = pn_strfmt("%s.%ld-%02x%02x%02x%02x", path, (long)getpid(), tag[0], tag[1],
                          tag[2], tag[3]);
    if (rc == 0 && !staging)
      rc = PN_ENOMEM;
    if (rc == 0) /* 0600 from the start: the umask of open_store */
      rc = pn_fs_write(staging, candidate, sizeof candidate);
    /* A secret of the wrong size (an older pinion wrote it in place and crashed) is
     * replaced; a new one only ever appears whole, through link. */
    if (rc == 0 && found)
      unlink(path);
    if (rc == 0 && link(staging, path) < 0 && errno != EEXIST)
      rc = PN_EIO;
    if (staging)
      unlink(staging);
    pn_free(staging);
    if (rc == 0)
      rc = pn_fs_read(path, 64, &data, &length);
  }
  if (rc == 0 && length != sizeof hub->secret)
    rc = PN_EIO;
  if (rc == 0)
    memcpy(hub->secret, data, sizeof hub->secret);
  else
    fprintf(stderr, "error: cannot read or create the hub's secret \"%s\": %s\n",
            path ? path : "secret", pn_strerror(rc));
  pn_free(data);
  pn_free(path);
  return rc;
}

static int prepare_data_dir(const char *data_dir) {
  static const char *const folders[] = {"", "blobs", "bundles", "instances", "tmp"};
  for (size_t i = 0; i < sizeof folders / sizeof folders[0]; i++) {
    char *path = *folders[i] ? pn_fs_join(data_dir, folders[i]) : pn_strdup(data_dir);
    int rc = path ? make_private_dir(path) : PN_ENOMEM;
    pn_free(path);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Opens the store: PostgreSQL when `database` is a URL, else SQLite at DATA/hub.db. The
 * data folder is prepared either way: it holds the secret, blobs and bundles. */
static int open_store(const char *data_dir, const char *database, pn_store **store) {
  /* Everything the hub creates from here on (the database and its -wal and -shm, the
   * secret, blobs, bundles, scratch folders) is created private rather than narrowed
   * afterwards. The umask is the process's: the hub and the token commands create
   * nothing meant for others. */
  umask(077);
  if (prepare_data_dir(data_dir) < 0) {
    fprintf(stderr, "error: cannot create the data folder %s\n", data_dir);
    return -1;
  }
  if (database && !pn_store_is_postgres(database)) {
    fprintf(stderr,
            "error: --database takes a PostgreSQL URL (postgres://USER[:PASSWORD]@HOST[:PORT]/"
            "DATABASE); without it the state is a SQLite file in the data folder\n");
    return -1;
  }
  char *path = database ? pn_strdup(database) : pn_fs_join(data_dir, "hub.db");
  char *error = NULL;
  int rc = path ? pn_store_open(path, store, &error) : PN_ENOMEM;
  if (rc < 0)
    fprintf(stderr, "error: %s\n", error ? error : pn_strerror(rc));
  pn_free(error);
  pn_free(path);
  return rc < 0 ? -1 : 0;
}

int pn_hub_split_listen(const char *listen, char **host, int *port) {
  const char *colon = strrchr(listen, ':');
  if (!colon) {
    *host = pn_strdup("127.0.0.1");
    *port = atoi(listen);
  } else {
    *host = pn_strndup(listen, (size_t)(colon - listen));
    *port = atoi(colon + 1);
  }
  return *host && *port >= 0 && *port < 65536 ? 0 : -1;
}

static int bind_http(pn_hub *hub, int *actual_port) {
  char *host = NULL;
  int port = 0;
  if (pn_hub_split_listen(hub->options->listen ? hub->options->listen : "127.0.0.1:8080", &host, &port) <
      0) {
    fprintf(stderr, "error: --listen takes HOST:PORT, e.g. 127.0.0.1:8080\n");
    pn_free(host);
    return -1;
  }
  /* Connection cap, time per request, back-off when out of descriptors, JSON errors:
   * see core/listen.h. */
  pn_listen_options listen_options = {
      .host = host,
      .port = port,
      .max_headers = 64 * 1024,
      .max_body = REQUEST_BODY_MAX,
  };
  if (pn_listen_open(hub->base, hub->http, &listen_options, dispatch, hub, &hub->listen,
                     actual_port) < 0) {
    fprintf(stderr,
            "error: cannot listen on %s:%d (is the port in use? choose another with "
            "--listen)\n",
            host, port);
    pn_free(host);
    return -1;
  }
  const char *public_url = hub->options->public_url;
  hub->public_url =
      public_url ? pn_strdup(public_url)
                 : pn_strfmt("http://%s:%d", strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host,
                             *actual_port);
  size_t length = hub->public_url ? strlen(hub->public_url) : 0;
  while (length && hub->public_url[length - 1] == '/')
    hub->public_url[--length] = '\0';
  pn_info("pinion hub: listening on %s:%d, public URL %s", host, *actual_port, hub->public_url);
  pn_free(host);
  return 0;
}

/* The internal listener's unix socket, for sandboxed folder versions: a sandbox has a
 * network namespace of its own, where the hub's 127.0.0.1 is not. The same evhttp, so
 * the same routes and credentials. Created 0700 (the hub's umask 077) in the data
 * folder, which only the hub can enter. */
static int bind_internal_socket(pn_hub *hub) {
  if (!hub->options->internal_unix_socket)
    return 0;
  /* This process's own, beside its scratch folder: replicas may share the data folder. */
  hub->internal_socket = pn_strdup(pn_hub_owner_socket(hub->owner));
  int fd = -1;
  int rc = hub->internal_socket ? pn_unix_listen(hub->internal_socket, &fd) : PN_ENOMEM;
  if (rc == 0 && !evhttp_accept_socket_with_handle(hub->internal_http, fd)) {
    close(fd);
    rc = PN_EIO;
  }
  if (rc < 0) {
    fprintf(stderr, "error: cannot listen on the unix socket \"%s\" for sandboxed models: %s\n",
            hub->internal_socket ? hub->internal_socket : "internal.sock",
            rc == PN_EEXISTS ? "a file that is not a socket is there; remove it" : strerror(errno));
    pn_free(hub->internal_socket);
    hub->internal_socket = NULL;
    return -1;
  }
  return 0;
}

/* The internal listener (instances' webhooks, uploads and input files): its own evhttp,
 * so that nothing the public listener accepts reaches /internal/ and back. Sets
 * hub->internal_url, which instances are given. */
static int bind_internal(pn_hub *hub) {
  const char *listen =
      hub->options->internal_listen ? hub->options->internal_listen : "127.0.0.1:0";
  char *host = NULL;
  int port = 0;
  if (pn_hub_split_listen(listen, &host, &port) < 0) {
    fprintf(stderr, "error: --internal-listen takes HOST:PORT, e.g. 127.0.0.1:0\n");
    pn_free(host);
    return -1;
  }
  hub->internal_http = evhttp_new(hub->base);
  struct evhttp_bound_socket *bound =
      hub->internal_http
          ? evhttp_bind_socket_with_handle(hub->internal_http, host, (ev_uint16_t)port)
          : NULL;
  if (!bound) {
    fprintf(stderr,
            "error: cannot listen on %s:%d for the internal routes (choose another address "
            "with --internal-listen)\n",
            host, port);
    pn_free(host);
    return -1;
  }
  evhttp_set_allowed_methods(hub->internal_http, 0xffff); /* all reach dispatch_internal: 401 */
  evhttp_set_max_body_size(hub->internal_http, REQUEST_BODY_MAX);
  evhttp_set_max_headers_size(hub->internal_http, 64 * 1024);
  evhttp_set_timeout(hub->internal_http, 120);
  evhttp_set_gencb(hub->internal_http, dispatch_internal, hub);
  struct sockaddr_storage address;
  socklen_t size = sizeof address;
  if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&address, &size) == 0)
    port = address.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&address)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&address)->sin_port);
  hub->internal_url =
      pn_strfmt("http://%s:%d", strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host, port);
  pn_info("pinion hub: internal routes on %s:%d", host, port);
  int rc = hub->internal_url ? pn_hub_bridge_open(hub, host, port) : -1;
  pn_free(host);
  return rc < 0 ? rc : bind_internal_socket(hub);
}

static void on_signal(evutil_socket_t signal_number, short what, void *arg) {
  pn_hub *hub = arg;
  struct timeval flush = {0, 100000};
  event_base_loopexit(hub->base, &flush);
}

static void write_port_file(const char *path, int port) {
  char text[16];
  int length = snprintf(text, sizeof text, "%d\n", port);
  pn_fs_write(path, text, (size_t)length);
}

/* Expired uploads, and what hubs that died left in the (maybe shared) data folder's
 * instances/: this hub's replicas may die at any time, not only before it starts. */
static void on_sweep(evutil_socket_t fd, short what, void *arg) {
  pn_hub *hub = arg;
  pn_hub_files_sweep(hub);
  pn_hub_owner_sweep(hub->data_dir, hub->options->scheduler ? hub->options->scheduler->kill_strays
                                                             : NULL);
}

/* How often a hub on a shared queue looks for what a dead replica left undone. */
#define ORPHAN_SWEEP_SECONDS 5

/* What a dead hub replica left: predictions it stored and never queued, and `completed`
 * webhooks it did not finish sending. */
static void on_orphan_sweep(evutil_socket_t fd, short what, void *arg) {
  pn_hub_predictions_sweep_orphans(arg);
  pn_hub_deliveries_resume(arg);
}

int pn_hub_run(const pn_hub_options *options) {
  pn_hub hub = {0};
  pn_hub_scheduler scheduler = {.ops = options->scheduler};
  hub.options = options;
  hub.scheduler = &scheduler;
  hub.data_dir = pn_strdup(options->data_dir ? options->data_dir : ".pinion");
  signal(SIGPIPE, SIG_IGN);
  if (pn_crypto_error()) {
    fprintf(stderr, "error: %s\n", pn_crypto_error());
    return 1;
  }
  if (open_store(hub.data_dir, options->database, &hub.store) < 0 || load_secret(&hub) < 0) {
    pn_store_close(hub.store);
    pn_free(hub.data_dir);
    return 1;
  }
  /* Its own part of the data folder first, then what dead hubs left: never a part a
   * live replica holds (hub/owner.h). */
  char *owner_error = NULL;
  if (pn_hub_owner_claim(hub.data_dir, &hub.owner, &owner_error) < 0) {
    fprintf(stderr, "error: %s\n", owner_error ? owner_error : "out of memory");
    pn_free(owner_error);
    pn_store_close(hub.store);
    pn_free(hub.data_dir);
    return 1;
  }
  pn_hub_owner_sweep(hub.data_dir, options->scheduler ? options->scheduler->kill_strays : NULL);
  pn_info("pinion hub: this process's part of the data folder is instances/%s",
          pn_hub_owner_name(hub.owner));
  hub.base = pn_loop_new();
  if (!hub.base || pn_http_client_new(hub.base, &hub.client) < 0) {
    fprintf(stderr, "error: could not start the event loop\n");
    return 1;
  }
  hub.http = evhttp_new(hub.base);
  evhttp_set_allowed_methods(hub.http, 0xffff);
  evhttp_set_max_body_size(hub.http, REQUEST_BODY_MAX);
  evhttp_set_max_headers_size(hub.http, 64 * 1024);
  evhttp_set_timeout(hub.http, 120);
  int exit_code = 0, port = 0;
  if (bind_http(&hub, &port) < 0 || bind_internal(&hub) < 0) {
    exit_code = 1;
  } else {
    /* The hub only pushes; whoever runs its predictions takes them: its own director
     * (below, unless directors elsewhere serve every target) or directors elsewhere. */
    if (options->queue_push_only && (!options->queue || !*options->queue)) {
      fprintf(stderr, "error: --queue-consumers directors leaves every prediction to "
                      "directors elsewhere, and they reach the queue only through Redis: "
                      "give --queue redis://HOST[:PORT][/DB] too\n");
      exit_code = 1;
    }
    pn_queue_options queue_options = {
        .url = options->queue, .lease = options->queue_lease, .push_only = 1};
    pn_queue_consumer consumer = pn_hub_queue_consumer(&hub);
    char *queue_error = NULL;
    if (exit_code == 0 &&
        pn_queue_open(hub.base, &queue_options, &consumer, &hub.queue, &queue_error) < 0) {
      fprintf(stderr, "error: %s\n", queue_error ? queue_error : "could not open the queue");
      exit_code = 1;
    }
    pn_free(queue_error);
    pn_hub_scheduler_setup setup = {
        .base = hub.base,
        .client = hub.client,
        .queue = hub.queue,
        .queue_url = options->queue,
        .queue_lease = options->queue_lease,
        .credential = hub.local_credential,
        .data_dir = hub.data_dir,
        .scratch_dir = pn_hub_owner_scratch(hub.owner),
        .hub_url = hub.internal_url,
        .hub_socket = hub.internal_socket,
        .container_hub_url = hub.container_internal_url,
        .container_pending = pn_hub_bridge_pending(&hub),
        .container_error = pn_hub_bridge_error(&hub),
    };
    if (exit_code == 0 && !options->queue_push_only &&
        (pn_hub_token_new("pnl_", hub.local_credential) < 0 || !options->scheduler ||
         options->scheduler->start(options->scheduler_context, &setup,
                                   &scheduler.scheduler) < 0)) {
      fprintf(stderr, "error: could not start the hub's director\n");
      exit_code = 1;
    }
    if (exit_code == 0 && pn_pool_new(hub.base, HUB_POOL_THREADS, &hub.pool) < 0) {
      fprintf(stderr, "error: could not start the hub's worker threads\n");
      exit_code = 1;
    }
    if (exit_code == 0 && pn_hub_metrics_open(&hub) < 0)
      exit_code = 1;
  }
  struct event *signals[2] = {NULL, NULL};
  struct event *sweep = NULL, *orphan_sweep = NULL;
  if (exit_code == 0) {
    pn_hub_predictions_restore(&hub);
    /* Expired uploads go once the hub serves, then every few minutes (sooner when files
     * live shorter than that). */
    long every = pn_hub_file_lifetime() / 2;
    struct timeval interval = {every < 1 ? 1 : every > 300 ? 300 : every, 0};
    sweep = event_new(hub.base, -1, EV_PERSIST, on_sweep, &hub);
    if (sweep) {
      event_add(sweep, &interval);
      event_active(sweep, EV_TIMEOUT, 0);
    }
    if (pn_queue_is_shared(hub.queue)) {
      struct timeval orphan_interval = {ORPHAN_SWEEP_SECONDS, 0};
      orphan_sweep = event_new(hub.base, -1, EV_PERSIST, on_orphan_sweep, &hub);
      if (orphan_sweep)
        event_add(orphan_sweep, &orphan_interval);
    }
    int numbers[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
      signals[i] = evsignal_new(hub.base, numbers[i], on_signal, &hub);
      event_add(signals[i], NULL);
    }
    if (options->port_file)
      write_port_file(options->port_file, port);
    event_base_dispatch(hub.base);
  }
  for (int i = 0; i < 2; i++)
    if (signals[i])
      event_free(signals[i]);
  if (sweep)
    event_free(sweep);
  if (orphan_sweep)
    event_free(orphan_sweep);
  pn_pool_free(hub.pool); /* before evhttp_free: its jobs answer their requests */
  pn_hub_predictions_free(&hub);
  pn_hub_bridge_close(&hub); /* its probe's answer would go to the scheduler */
  pn_hub_metrics_close(&hub);
  if (scheduler.scheduler)
    scheduler.ops->free(scheduler.scheduler);
  pn_queue_free(hub.queue);
  explicit_bzero(hub.local_credential, sizeof hub.local_credential);
  evhttp_free(hub.http);
  if (hub.internal_http)
    evhttp_free(hub.internal_http);
  pn_listen_free(hub.listen);
  pn_http_client_free(hub.client);
  event_base_free(hub.base);
  pn_store_close(hub.store);
  while (hub.limits) {
    limit *next = hub.limits->next;
    pn_free(hub.limits->account);
    pn_free(hub.limits);
    hub.limits = next;
  }
  pn_free(hub.internal_socket);
  pn_hub_owner_release(hub.owner); /* its scratch folder and socket go with it */
  pn_free(hub.public_url);
  pn_free(hub.internal_url);
  pn_free(hub.container_internal_url);
  pn_free(hub.data_dir);
  return exit_code;
}

/* --- tokens ------------------------------------------------------------------------- */

int pn_hub_token_create(const char *data_dir, const char *database, const char *account,
                        const char *name, char **token, char **error) {
  *token = NULL;
  *error = NULL;
  pn_store *store = NULL;
  if (open_store(data_dir, database, &store) < 0)
    return PN_EIO;
  char now[40], text[PN_HUB_TOKEN_SIZE], hash[65], id[27];
  pn_hub_now(now);
  json_t *existing = NULL;
  int rc = 0;
  int director = !account;
  if (director)
    account = PN_HUB_DIRECTOR_ACCOUNT;
  else if (pn_store_get(store, PN_STORE_ACCOUNTS, account, &existing) == PN_ENOENT) {
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", account, "username", account, "name",
                            account, "type", "user", "created_at", now);
    pn_store_keys keys = {.id = account, .account = account, .created_at = now};
    rc = pn_store_insert(store, PN_STORE_ACCOUNTS, &keys, doc);
    json_decref(doc);
  }
  json_decref(existing);
  if (rc == 0)
    rc = pn_hub_token_new(director ? PN_HUB_DIRECTOR_TOKEN_PREFIX : PN_HUB_TOKEN_PREFIX, text);
  if (rc == 0)
    rc = pn_crypto_sha256_hex(text, strlen(text), hash);
  if (rc == 0)
    rc = pn_hub_id_random(id);
  if (rc == 0) {
    id[12] = '\0';
    rc = pn_store_token_add(store, id, hash, account, name, now);
  }
  if (rc == 0)
    *token = pn_strdup(text);
  else
    *error = pn_strfmt("cannot create the token: %s", pn_strerror(rc));
  pn_store_close(store);
  return rc;
}

int pn_hub_token_list(const char *data_dir, const char *database, json_t **tokens) {
  pn_store *store = NULL;
  if (open_store(data_dir, database, &store) < 0)
    return PN_EIO;
  int rc = pn_store_token_list(store, tokens);
  pn_store_close(store);
  return rc;
}

int pn_hub_token_revoke(const char *data_dir, const char *database, const char *id) {
  pn_store *store = NULL;
  if (open_store(data_dir, database, &store) < 0)
    return PN_EIO;
  int rc = pn_store_token_revoke(store, id);
  pn_store_close(store);
  return rc;
}

int pn_hub_migrate(const char *data_dir, const char *database) {
  pn_store *store = NULL;
  if (open_store(data_dir, database, &store) < 0)
    return PN_EIO;
  int version = 0;
  int rc = pn_store_schema_version(store, &version);
  if (rc == 0)
    printf("%s database at schema version %d\n", pn_store_engine_name(store), version);
  else
    fprintf(stderr, "error: cannot read the schema version: %s\n",
            pn_store_failure(store) ? pn_store_failure(store) : pn_strerror(rc));
  pn_store_close(store);
  return rc;
}
