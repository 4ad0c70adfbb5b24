/* The Cog HTTP API as a client: see cog_client.h. */
#include "core/cog_client.h"

#include "core/alloc.h"
#include "core/error.h"

#include <jansson.h>
#include <string.h>

#define HEALTH_TIMEOUT_MS 5000
#define PUT_TIMEOUT_MS 60000
#define CANCEL_TIMEOUT_MS 10000

/* The last non-empty line of the setup logs: pinion and Cog end them with the error. */
static char *setup_error(const json_t *health) {
  const char *logs = json_string_value(json_object_get(json_object_get(health, "setup"), "logs"));
  if (!logs || !*logs)
    return pn_strdup("no error was reported (see the model server's log)");
  size_t end = strlen(logs);
  while (end && (logs[end - 1] == '\n' || logs[end - 1] == '\r' || logs[end - 1] == ' '))
    end--;
  size_t start = end;
  while (start && logs[start - 1] != '\n')
    start--;
  return pn_strndup(logs + start, end - start);
}

enum pn_cog_health pn_cog_health_read(const pn_http_response *response, char **error) {
  *error = NULL;
  json_t *health = NULL;
  if (response->ok && response->status == 200 && response->body)
    health = json_loadb(response->body->data, response->body->length, 0, NULL);
  const char *status = json_string_value(json_object_get(health, "status"));
  enum pn_cog_health state = PN_COG_STARTING;
  if (status && (strcmp(status, "READY") == 0 || strcmp(status, "BUSY") == 0 ||
                 strcmp(status, "UNHEALTHY") == 0)) {
    state = PN_COG_READY;
  } else if (status && (strcmp(status, "SETUP_FAILED") == 0 || strcmp(status, "DEFUNCT") == 0)) {
    state = PN_COG_FAILED;
    char *reason = setup_error(health);
    *error = strcmp(status, "SETUP_FAILED") == 0
                 ? pn_strfmt("the model's setup failed: %s", reason ? reason : "?")
                 : pn_strfmt("the model's server went DEFUNCT during setup: %s",
                             reason ? reason : "?");
    pn_free(reason);
  }
  json_decref(health);
  return state;
}

static int get_from(pn_http_client *client, const pn_cog_server *server, const char *path,
                    pn_http_done_fn done, void *arg, pn_http_transfer **transfer) {
  char *url = pn_strfmt("%s%s", server->base_url, path);
  if (!url)
    return PN_ENOMEM;
  pn_http_request request = {.method = "GET",
                             .url = url,
                             .timeout_ms = HEALTH_TIMEOUT_MS,
                             .max_response = 1 << 20,
                             .unix_socket = server->unix_socket};
  int rc = pn_http_client_send(client, &request, done, arg, transfer);
  pn_free(url);
  return rc;
}

int pn_cog_health_check(pn_http_client *client, const pn_cog_server *server, pn_http_done_fn done,
                        void *arg, pn_http_transfer **transfer) {
  return get_from(client, server, "/health-check", done, arg, transfer);
}

int pn_cog_get_metrics(pn_http_client *client, const pn_cog_server *server, pn_http_done_fn done,
                       void *arg, pn_http_transfer **transfer) {
  return get_from(client, server, "/metrics", done, arg, transfer);
}

static int send_to(pn_http_client *client, const pn_cog_server *server, const char *method,
                   const char *id, const char *suffix, const char *body, long timeout_ms,
                   pn_http_done_fn done, void *arg, pn_http_transfer **transfer) {
  char *url = pn_strfmt("%s/predictions/%s%s", server->base_url, id, suffix);
  if (!url)
    return PN_ENOMEM;
  static const char *const headers[] = {"Content-Type: application/json", "Prefer: respond-async",
                                        NULL};
  pn_http_request request = {.method = method,
                             .url = url,
                             .headers = headers,
                             .body = body,
                             .body_length = body ? strlen(body) : 0,
                             .timeout_ms = timeout_ms,
                             .max_response = 1 << 20,
                             .unix_socket = server->unix_socket};
  int rc = pn_http_client_send(client, &request, done, arg, transfer);
  pn_free(url);
  return rc;
}

int pn_cog_put_prediction(pn_http_client *client, const pn_cog_server *server, const char *id,
                          const char *body, pn_http_done_fn done, void *arg,
                          pn_http_transfer **transfer) {
  return send_to(client, server, "PUT", id, "", body, PUT_TIMEOUT_MS, done, arg, transfer);
}

int pn_cog_cancel_prediction(pn_http_client *client, const pn_cog_server *server, const char *id,
                             pn_http_done_fn done, void *arg, pn_http_transfer **transfer) {
  return send_to(client, server, "POST", id, "/cancel", "{}", CANCEL_TIMEOUT_MS, done, arg,
                 transfer);
}
