/* Reading a prediction request's envelope (see request.h). The messages follow Cog's
 * (serde's) wording, which clients and the compatibility tests match. */
#include "serve/request.h"

#include "core/alloc.h"
#include "core/webhook_events.h"

#include <string.h>

/* What is wrong with the envelope, pn_malloc'd, or NULL when nothing is. */
static char *envelope_problem(json_t *body, unsigned *events) {
  char *problem = NULL;
  json_t *value;
  if (!json_is_object(body))
    return pn_strdup("invalid type: expected a JSON object");
  if ((value = json_object_get(body, "id")) && !json_is_null(value) && !json_is_string(value))
    return pn_strdup("id: invalid type: expected a string");
  if ((value = json_object_get(body, "webhook")) && !json_is_null(value) &&
      !json_is_string(value))
    return pn_strdup("webhook: invalid type: expected a string");
  json_t *context = json_object_get(body, "context");
  if (context && !json_is_null(context) && !json_is_object(context))
    return pn_strdup("context: invalid type: expected a map of strings");
  if (pn_webhook_events_parse(json_object_get(body, "webhook_events_filter"), events, &problem) <
      0)
    return problem ? problem : pn_strdup("webhook_events_filter: invalid value");
  const char *key;
  json_object_foreach(json_is_object(context) ? context : NULL, key, value) {
    if (!json_is_string(value))
      return pn_strfmt("context.%s: invalid type: expected a string", key);
  }
  return NULL;
}

int pn_serve_request_parse(const char *text, size_t length, pn_serve_request *out, char **detail) {
  memset(out, 0, sizeof *out);
  *detail = NULL;
  json_error_t error;
  json_t *body = json_loadb(text, length, 0, &error);
  if (!body) {
    *detail = pn_strfmt("Failed to parse the request body as JSON: %s at line %d column %d",
                        error.text, error.line, error.column);
    return 400;
  }
  unsigned events = PN_WEBHOOK_ALL;
  char *problem = envelope_problem(body, &events);
  if (problem) {
    *detail = pn_strfmt("Failed to deserialize the JSON body into the target type: %s", problem);
    pn_free(problem);
    json_decref(body);
    return 422;
  }
  out->body = body;
  out->events = events;
  out->id = json_string_value(json_object_get(body, "id"));
  out->input = json_object_get(body, "input");
  if (json_is_null(out->input))
    out->input = NULL;
  out->webhook = json_string_value(json_object_get(body, "webhook"));
  out->context = json_is_object(json_object_get(body, "context")) ? json_object_get(body, "context")
                                                                  : NULL;
  return 0;
}
