/* The internal API of directors (`pinion director`), behind a director's credential
 * (server.c checks it): what a director reports about a prediction it took from the
 * queue, and the output files its model server uploads through it. A report is the
 * scheduler's event in JSON, applied as the hub's own scheduler's would be; its answer
 * carries the status stored afterwards, so that the director acknowledges the queue's
 * message only once the hub has stored the terminal state. See
 * docs/internals/director.md. */
#include "hub/hub.h"

#include "core/error.h"

#include <string.h>

static const char *text_of(const json_t *object, const char *name) {
  return json_string_value(json_object_get(object, name));
}

/* POST /internal/director/predictions/{id} with one of
 *   {"event": "started"}
 *   {"event": "update", "kind": "start"|"output"|"logs"|"completed", "prediction": {Cog's}}
 *   {"event": "failed", "error": "..."}
 * each with "lease": the queue's lease on the message (pn_queue_lease), answered
 * {"id", "status"} with the prediction's status once the event is stored, or 409 when
 * another director holds the message now. */
void pn_hub_director_event(pn_hub_request *request) {
  json_t *body = pn_hub_body_object(request);
  if (!body)
    return;
  const char *event = text_of(body, "event");
  const char *kind = text_of(body, "kind");
  json_t *prediction = json_object_get(body, "prediction");
  enum pn_hub_scheduler_event type;
  json_t *detail = NULL;
  if (event && strcmp(event, "started") == 0) {
    type = PN_HUB_SCHEDULER_STARTED;
    detail = json_pack("{s:n}", "cold_boot_time");
  } else if (event && strcmp(event, "update") == 0 && json_is_object(prediction) && kind &&
             (strcmp(kind, "start") == 0 || strcmp(kind, "output") == 0 ||
              strcmp(kind, "logs") == 0 || strcmp(kind, "completed") == 0)) {
    type = PN_HUB_SCHEDULER_UPDATE;
    detail = json_incref(prediction);
  } else if (event && strcmp(event, "failed") == 0 && text_of(body, "error")) {
    type = PN_HUB_SCHEDULER_FAILED;
    detail = json_pack("{s:s}", "error", text_of(body, "error"));
  } else {
    json_decref(body);
    pn_hub_problem(request, 400, NULL,
                   "A director's report is {\"event\": \"started\"}, {\"event\": \"update\", "
                   "\"kind\": \"start\"|\"output\"|\"logs\"|\"completed\", \"prediction\": "
                   "{...}} or {\"event\": \"failed\", \"error\": \"...\"}.");
    return;
  }
  json_t *row = NULL;
  int rc = detail ? pn_hub_director_report(request->hub, request->params[0],
                                           text_of(body, "lease"), type, kind, detail, &row)
                  : PN_ENOMEM;
  json_decref(detail);
  json_decref(body);
  if (rc == PN_ENOENT)
    pn_hub_problem(request, 404, NULL,
                   "There is no prediction %s (deleted, or from another hub's database); "
                   "acknowledge its message and drop it.",
                   request->params[0]);
  else if (rc == PN_ESTATE)
    pn_hub_problem(request, 409, NULL,
                   "The lease in this report no longer holds prediction %s: its message went "
                   "to another director after the lease ran out, and that one's outcome "
                   "counts. Stop running it, and neither report on it nor acknowledge it.",
                   request->params[0]);
  else if (rc == PN_EINVAL || rc == PN_EUNSUPPORTED)
    pn_hub_problem(request, 400, NULL,
                   "A director's report carries \"lease\": the queue's lease on prediction "
                   "%s's message (\"CONSUMER ENTRY TARGET\"), and this one %s.",
                   request->params[0],
                   rc == PN_EUNSUPPORTED ? "went to a hub whose queue is embedded (no director "
                                           "takes from it)"
                                         : "has none, a malformed one, or another prediction's");
  else if (rc == PN_ECLOSED)
    pn_hub_problem(request, 503, NULL,
                   "The hub's queue is unreachable, so it cannot check that this director "
                   "still holds prediction %s; send the report again.",
                   request->params[0]);
  else if (rc < 0)
    pn_hub_store_failed(request, rc, "storing the director's report");
  else
    pn_hub_reply(request, 200,
                 json_pack("{s:s, s:s}", "id", request->params[0], "status",
                           text_of(row, "status") ? text_of(row, "status") : "starting"));
  json_decref(row);
}

/* PUT /internal/director/uploads/{name}: an output file, stored as the instances' are. */
void pn_hub_director_upload_put(pn_hub_request *request) {
  request->params[1] = request->params[0];
  pn_hub_upload_put(request);
}
