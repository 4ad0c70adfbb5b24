/* The internal API of directors (`pinion director`, and the hub's own director in its
 * process), behind a director's credential (server.c checks it): what a director reports
 * about a prediction it took from the queue, and the output files its model server
 * uploads through it. A report's answer carries the status stored afterwards, so that
 * the director acknowledges the queue's message only once the hub has stored the
 * terminal state; and the bundle of the folder version a director serves itself
 * (`pinion director --serve`). See docs/internals/director.md. */
#include "hub/hub.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/tar.h"
#include "hub/owner.h"

#include <errno.h>
#include <event2/http.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *text_of(const json_t *object, const char *name) {
  return json_string_value(json_object_get(object, name));
}

/* POST /internal/director/predictions/{id} with one of
 *   {"event": "booting"}  (no instance was free: one is starting)
 *   {"event": "started", "cold_boot_time": s}  (the time optional)
 *   {"event": "update", "kind": "start"|"output"|"logs"|"completed", "prediction": {Cog's}}
 *   {"event": "failed", "error": "..."}
 * each with "lease": the queue's lease on the message (pn_queue_lease), answered
 * {"id", "status"} with the prediction's status once the event is stored, or 409 when
 * another director holds the message now. The hub's own director reports here too. */
void pn_hub_director_event(pn_hub_request *request) {
  json_t *body = pn_hub_body_object(request);
  if (!body)
    return;
  const char *event = text_of(body, "event");
  const char *kind = text_of(body, "kind");
  json_t *prediction = json_object_get(body, "prediction");
  json_t *boot = json_object_get(body, "cold_boot_time");
  enum pn_hub_report type;
  json_t *detail = NULL;
  if (event && strcmp(event, "booting") == 0) {
    type = PN_HUB_REPORT_BOOTING;
    detail = json_object();
  } else if (event && strcmp(event, "started") == 0 &&
             (!boot || json_is_null(boot) || (json_is_number(boot) && json_number_value(boot) >= 0))) {
    type = PN_HUB_REPORT_STARTED;
    detail = json_pack("{s:O}", "cold_boot_time", json_is_number(boot) ? boot : json_null());
  } else if (event && strcmp(event, "update") == 0 && json_is_object(prediction) && kind &&
             (strcmp(kind, "start") == 0 || strcmp(kind, "output") == 0 ||
              strcmp(kind, "logs") == 0 || strcmp(kind, "completed") == 0)) {
    type = PN_HUB_REPORT_UPDATE;
    detail = json_incref(prediction);
  } else if (event && strcmp(event, "failed") == 0 && text_of(body, "error")) {
    type = PN_HUB_REPORT_FAILED;
    detail = json_pack("{s:s}", "error", text_of(body, "error"));
  } else {
    json_decref(body);
    pn_hub_problem(request, 400, NULL,
                   "A director's report is {\"event\": \"booting\"}, {\"event\": \"started\", "
                   "\"cold_boot_time\": SECONDS (optional)}, {\"event\": \"update\", \"kind\": "
                   "\"start\"|\"output\"|\"logs\"|\"completed\", \"prediction\": {...}} or "
                   "{\"event\": \"failed\", \"error\": \"...\"}.");
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
  else if (rc == PN_EINVAL)
    pn_hub_problem(request, 400, NULL,
                   "A director's report carries \"lease\": the queue's lease on prediction "
                   "%s's message (\"CONSUMER ENTRY TARGET\"), and this one has none, a "
                   "malformed one, or another prediction's.",
                   request->params[0]);
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

/* --- bundles for `pinion director --serve` -------------------------------------------- */

/* The bundle packed on the pool, into a file in this hub's scratch folder (hub/owner.h)
 * that is unlinked as soon as it is made: the reply sends it with sendfile from the open
 * descriptor, and the bytes go when the descriptor closes (the reply sent, or the
 * client gone). A folder of gigabytes never holds the loop, nor the hub's memory. */
typedef struct bundle_job {
  pn_hub *hub;
  struct evhttp_request *request;
  char *dir;     /* the version's unpacked bundle (its row's `source`) */
  char *version; /* owner/name:id, answered in X-Pinion-Version */
  char *scratch; /* where the file goes */
  int fd;        /* the packed tar, or -1 */
  uint64_t length;
  int rc;
  char *error;
} bundle_job;

static void bundle_job_free(bundle_job *job) {
  if (job->fd >= 0)
    close(job->fd);
  pn_free(job->dir);
  pn_free(job->version);
  pn_free(job->scratch);
  pn_free(job->error);
  pn_free(job);
}

static void bundle_work(void *arg) {
  bundle_job *job = arg;
  char *path = pn_strfmt("%s/bundle-XXXXXX", job->scratch);
  job->fd = path ? mkostemp(path, O_CLOEXEC) : -1;
  if (job->fd < 0) {
    job->rc = path ? PN_EIO : PN_ENOMEM;
    job->error =
        path ? pn_strfmt("cannot create a file in %s: %s", job->scratch, strerror(errno)) : NULL;
    pn_free(path);
    return;
  }
  unlink(path); /* the descriptor keeps it until the reply is done with it */
  pn_free(path);
  job->rc = pn_tar_pack_fd(job->dir, NULL, NULL, NULL, 0, job->fd, &job->error);
  struct stat info;
  if (job->rc == 0 && fstat(job->fd, &info) < 0) {
    job->rc = PN_EIO;
    job->error = pn_strfmt("cannot read the packed file back: %s", strerror(errno));
  }
  if (job->rc == 0)
    job->length = (uint64_t)info.st_size;
}

static void bundle_done(void *arg, int canceled) {
  bundle_job *job = arg;
  pn_hub_request reply = {.hub = job->hub, .request = job->request};
  if (canceled) {
    pn_hub_problem(&reply, 503, NULL, "The hub stopped before it packed the bundle. Ask again.");
  } else if (job->rc < 0) {
    pn_hub_problem(&reply, 500, NULL, "The hub could not pack the bundle of %s: %s.", job->version,
                   job->error ? job->error : pn_strerror(job->rc));
  } else {
    pn_hub_header(&reply, "X-Pinion-Version", job->version);
    pn_hub_header(&reply, "Content-Type", "application/x-tar");
    pn_hub_send_file_segment(&reply, 200, job->fd, 0, job->length, "bundle");
    job->fd = -1; /* the reply's now */
  }
  bundle_job_free(job);
}

/* Whether the request asks for the version only (`Accept: application/json`), which a
 * director polls to follow its deployment: answered without packing anything. */
static int wants_version_only(pn_hub_request *request) {
  const char *accept = pn_hub_request_header(request, "Accept");
  return accept && strstr(accept, "application/json") && !strstr(accept, "application/x-tar");
}

/* Answers the bundle of `version` (a row, borrowed): the tar, or with `Accept:
 * application/json` (or HEAD) only which version it is. */
static void reply_bundle(pn_hub_request *request, const json_t *version) {
  const char *kind = text_of(version, "kind");
  const char *source = text_of(version, "source");
  const char *key = text_of(version, "key") ? text_of(version, "key") : "?";
  if (kind && strcmp(kind, "image") == 0) {
    pn_hub_problem(request, 409, NULL,
                   "The version %s is an image version (%s): a director cannot serve it from a "
                   "bundle. Run the image (`pinion serve --image %s`, or the container engine) "
                   "and give its address to `pinion director --model-url`.",
                   key, source ? source : "?", source ? source : "IMAGE");
    return;
  }
  if (wants_version_only(request) ||
      evhttp_request_get_command(request->request) == EVHTTP_REQ_HEAD) {
    const char *colon = strrchr(key, ':');
    pn_hub_header(request, "X-Pinion-Version", key);
    pn_hub_reply(request, 200,
                 json_pack("{s:s, s:s}", "version", key, "id", colon ? colon + 1 : key));
    return;
  }
  bundle_job *job = pn_calloc(1, sizeof *job);
  if (job) {
    job->hub = request->hub;
    job->request = request->request;
    job->fd = -1;
    job->dir = source ? pn_strdup(source) : NULL;
    job->version = pn_strdup(key);
    job->scratch = pn_strdup(pn_hub_owner_scratch(request->hub->owner));
  }
  int rc = job && job->dir && job->version && job->scratch
               ? pn_hub_pool_submit(request->hub, bundle_work, bundle_done, job)
               : PN_ENOMEM;
  if (rc == 0)
    return;
  if (job)
    bundle_job_free(job);
  pn_hub_problem_not_queued(request, rc, "packing bundles");
}

static int is_version_id(const char *text) {
  size_t length = strlen(text);
  for (size_t i = 0; i < length; i++)
    if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
      return 0;
  return length == 64;
}

void pn_hub_director_version_bundle(pn_hub_request *request) {
  const char *id = request->params[0];
  json_t *rows = NULL;
  int more = 0, rc = PN_ENOENT;
  if (is_version_id(id)) {
    /* Versions carry their id in the status column: an indexed lookup. */
    const char *ids[] = {id, NULL};
    pn_store_query query = {.statuses = ids, .limit = 1};
    rc = pn_store_list(request->hub->store, PN_STORE_VERSIONS, &query, &rows, &more);
  }
  if (rc < 0 && rc != PN_ENOENT) {
    pn_hub_store_failed(request, rc, "looking up the version");
  } else if (json_array_size(rows) == 0) {
    pn_hub_problem(request, 404, NULL,
                   "The hub has no version %s: give `pinion director --version` the id of a "
                   "pushed version (OWNER/NAME:ID, where ID is 64 hex digits).",
                   id);
  } else {
    reply_bundle(request, json_array_get(rows, 0));
  }
  json_decref(rows);
}

void pn_hub_director_deployment_bundle(pn_hub_request *request) {
  pn_hub *hub = request->hub;
  char *id = pn_strfmt("%s/%s", request->params[0], request->params[1]);
  json_t *deployment = NULL, *version = NULL;
  int rc = id ? pn_store_get(hub->store, PN_STORE_DEPLOYMENTS, id, &deployment) : PN_ENOMEM;
  json_t *release = json_object_get(deployment, "current_release");
  char *key =
      rc == 0 ? pn_strfmt("%s:%s", text_of(release, "model"), text_of(release, "version")) : NULL;
  if (rc == 0)
    rc = key ? pn_store_get(hub->store, PN_STORE_VERSIONS, key, &version) : PN_ENOMEM;
  if (rc == PN_ENOENT)
    pn_hub_problem(request, 404, NULL,
                   "The hub has no deployment %s (or its version is gone): give `pinion director "
                   "--deployment` OWNER/NAME of a deployment on this hub.",
                   id ? id : "?");
  else if (rc < 0)
    pn_hub_store_failed(request, rc, "looking up the deployment");
  else
    reply_bundle(request, version);
  json_decref(deployment);
  json_decref(version);
  pn_free(key);
  pn_free(id);
}
