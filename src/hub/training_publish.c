/* A succeeded training's weights become a new version of its destination: the weights
 * file (an output uploaded to this hub) is added as `weights` to the trained version's
 * bundle, and that tar is published as a push is. Reading gigabytes of weights,
 * packing, hashing and unpacking them would hold the loop for seconds, so they run on
 * the hub's pool; the store is read before and written after, on the loop. */
#include "hub/hub.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/tar.h"
#include "hub/blobs.h"

#include <string.h>

/* The largest weights file read into memory, and the tar made with it. */
#define WEIGHTS_MAX ((size_t)8 << 30)
#define TAR_MAX ((size_t)16 << 30)

typedef struct pn_hub_publish {
  pn_hub *hub;
  json_t *row;
  pn_hub_published_fn done;
  char *id;
  /* what the pool needs: copies, so that it touches nothing the loop owns */
  char *blob, *bundle_dir, *data_dir, *owner, *name, *weights_url;
  pn_tar_limits limits;
  pn_hub_bundle found;
  struct pn_hub_publish *next;
} publish;

static const char *text_of(const json_t *row, const char *name) {
  return json_string_value(json_object_get(row, name));
}

/* The file row behind one of this hub's file or output URLs, or NULL. */
static json_t *file_of_url(pn_hub *hub, const char *url) {
  const char *at = NULL;
  if (url && (at = strstr(url, "/v1/outputs/")))
    at += strlen("/v1/outputs/");
  else if (url && (at = strstr(url, "/v1/files/")))
    at += strlen("/v1/files/");
  if (!at)
    return NULL;
  size_t length = strcspn(at, "/?.");
  char *id = pn_strndup(at, length);
  json_t *file = NULL;
  if (id)
    pn_store_get(hub->store, PN_STORE_FILES, id, &file);
  pn_free(id);
  return file;
}

static void publish_free(publish *job) {
  pn_hub *hub = job->hub;
  for (publish **at = &hub->publishing; *at; at = &(*at)->next)
    if (*at == job) {
      *at = job->next;
      break;
    }
  json_decref(job->row);
  pn_free(job->id);
  pn_free(job->blob);
  pn_free(job->bundle_dir);
  pn_free(job->data_dir);
  pn_free(job->owner);
  pn_free(job->name);
  pn_free(job->weights_url);
  pn_hub_bundle_free(&job->found);
  pn_free(job);
}

/* On a pool thread. */
static void publish_work(void *arg) {
  publish *job = arg;
  char *weights = NULL;
  size_t weights_length = 0;
  int rc = pn_fs_read(job->blob, WEIGHTS_MAX, &weights, &weights_length);
  if (rc < 0) {
    job->found.rc = rc;
    job->found.error = pn_strfmt("the weights file could not be read (%s)", pn_strerror(rc));
    return;
  }
  pn_buf tar;
  pn_buf_init(&tar, TAR_MAX);
  pn_tar_extra extra = {"weights", weights, weights_length};
  rc = pn_tar_pack(job->bundle_dir, NULL, NULL, &extra, 1, &tar, &job->found.error);
  pn_free(weights);
  if (rc == 0)
    pn_hub_bundle_prepare(job->data_dir, tar.data, tar.length, &job->limits, &job->found);
  else
    job->found.rc = rc;
  pn_buf_free(&tar);
}

static void publish_done(void *arg, int canceled) {
  publish *job = arg;
  if (canceled) {
    pn_warn("hub: training %s: the hub stopped while its weights were being published; its "
            "next start fails it as interrupted",
            job->id);
    publish_free(job);
    return;
  }
  pn_hub *hub = job->hub;
  json_t *version = NULL;
  char *error = NULL;
  int rc = job->found.rc;
  if (rc == 0)
    rc = pn_hub_bundle_record(hub, text_of(job->row, "account"), job->owner, job->name, &job->found,
                              &version, &error);
  /* Replicate's form, owner/name:version_id: its clients parse it (the Python client
   * fails on a bare id). */
  char *reference =
      rc == 0 ? pn_strfmt("%s/%s:%s", job->owner, job->name, text_of(version, "id")) : NULL;
  if (rc == 0 && !reference)
    rc = PN_ENOMEM;
  if (rc == 0)
    json_object_set_new(job->row, "output",
                        json_pack("{s:s, s:s}", "version", reference, "weights", job->weights_url));
  if (!error) { /* kept past publish_free */
    error = job->found.error;
    job->found.error = NULL;
  }
  const char *why = error ? error : pn_strerror(rc);
  /* Off the list first: `done` concludes the row, and may look. */
  json_t *row = json_incref(job->row);
  pn_hub_published_fn done = job->done;
  publish_free(job);
  done(hub, row, rc, rc < 0 ? why : NULL);
  json_decref(row);
  json_decref(version);
  pn_free(reference);
  pn_free(error);
}

int pn_hub_training_publish(pn_hub *hub, json_t *row, pn_hub_published_fn done, char **error) {
  *error = NULL;
  json_t *output = json_object_get(row, "output");
  const char *weights_url =
      json_is_string(output) ? json_string_value(output) : text_of(output, "weights");
  json_t *file = file_of_url(hub, weights_url);
  const char *bundle_dir = text_of(json_object_get(row, "target"), "bundle_dir");
  const char *destination = text_of(row, "destination");
  const char *slash = destination ? strchr(destination, '/') : NULL;
  if (!file || !bundle_dir || !slash) {
    json_decref(file);
    *error = pn_strdup(!file ? "the training's output has no weights file from this hub"
                             : "only folder versions can publish trained weights");
    return PN_EINVAL;
  }
  publish *job = pn_calloc(1, sizeof *job);
  if (job) {
    job->hub = hub;
    job->row = json_incref(row);
    job->done = done;
    job->id = pn_strdup(text_of(row, "id") ? text_of(row, "id") : "");
    job->blob = pn_hub_blob_path(hub->data_dir, text_of(file, "sha256"));
    job->bundle_dir = pn_strdup(bundle_dir);
    job->data_dir = pn_strdup(hub->data_dir);
    job->owner = pn_strndup(destination, (size_t)(slash - destination));
    job->name = pn_strdup(slash + 1);
    job->weights_url = pn_strdup(weights_url);
    job->limits = pn_hub_bundle_limits(hub);
    job->next = hub->publishing;
    hub->publishing = job;
  }
  json_decref(file);
  /* Not pn_hub_pool_submit's queue ceiling: that one turns clients away with 503, and
   * the number of trainings finishing at once is bounded by the instances. */
  int rc = !job || !job->id || !job->blob || !job->bundle_dir || !job->data_dir || !job->owner ||
                   !job->name || !job->weights_url
               ? PN_ENOMEM
               : pn_pool_submit(hub->pool, publish_work, publish_done, job, NULL);
  if (rc < 0) {
    if (job)
      publish_free(job);
    *error = pn_strfmt("the weights could not be queued for publishing (%s)", pn_strerror(rc));
  }
  return rc;
}

int pn_hub_training_publishing(const pn_hub *hub, const char *id) {
  for (const publish *job = hub->publishing; job; job = job->next)
    if (strcmp(job->id, id) == 0)
      return 1;
  return 0;
}
