/* The director inside the hub's process (local.h). A prediction taken from the queue is
 * held here from `take` until the hub answers its terminal report (then the message is
 * acknowledged) or settles it otherwise (then the scheduler is told to stop it); the
 * scheduler's events for a prediction not held here (late, after a cancel) are dropped.
 * Reports go through the relay, in order per prediction, each under the queue's lease on
 * its message, which the hub checks as it does a remote director's. */
#include "director/local.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/map.h"
#include "core/url.h"
#include "director/relay.h"

#include <string.h>

typedef struct held {
  char *id;
  int reporting; /* its terminal report is queued: the hub's answer ends it */
} held;

struct pn_local_director {
  pn_scheduler *scheduler;
  pn_queue *queue;
  pn_relay *relay;
  char *data_dir;
  pn_map runs; /* id -> held */
  int closing; /* what the scheduler says while it stops its instances goes nowhere */
};

static const char *text_of(const json_t *object, const char *name) {
  return json_string_value(json_object_get(object, name));
}

static int is_terminal(const char *status) {
  return status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
                    strcmp(status, "canceled") == 0);
}

static held *hold(pn_local_director *director, const char *id) {
  held *run = pn_calloc(1, sizeof *run);
  if (!run || !(run->id = pn_strdup(id)) || pn_map_put(&director->runs, run->id, run) < 0) {
    if (run)
      pn_free(run->id);
    pn_free(run);
    return NULL;
  }
  return run;
}

static void drop(pn_local_director *director, const char *id) {
  held *run = pn_map_remove(&director->runs, id);
  if (run) {
    pn_free(run->id);
    pn_free(run);
  }
}

/* Queues `body` (taken) to the hub under the queue's lease on `run`'s message. Without
 * one the message was settled or taken over meanwhile: the notice saying so ends the
 * run, unless this was its last word. */
static void report(pn_local_director *director, held *run, json_t *body, int terminal) {
  char *lease = pn_queue_lease(director->queue, run->id);
  if (terminal)
    run->reporting = 1;
  if (!lease) {
    pn_debug("director: prediction %s: its message is settled; the report is dropped", run->id);
    if (terminal)
      drop(director, run->id);
  } else if (!body || json_object_set_new(body, "lease", json_string(lease)) < 0 ||
             pn_relay_report(director->relay, run->id, body, terminal) < 0) {
    pn_error("director: prediction %s: out of memory queuing a report to the hub", run->id);
  }
  pn_free(lease);
  json_decref(body);
}

static void report_failed(pn_local_director *director, held *run, const char *error) {
  report(director, run, json_pack("{s:s, s:s}", "event", "failed", "error", error), 1);
}

static void on_event(void *arg, const char *id, enum pn_scheduler_event event, const char *kind,
                     const json_t *detail) {
  pn_local_director *director = arg;
  held *run = director->closing ? NULL : pn_map_get(&director->runs, id);
  if (!run || run->reporting)
    return;
  switch (event) {
  case PN_SCHEDULER_BOOTING:
    report(director, run, json_pack("{s:s}", "event", "booting"), 0);
    break;
  case PN_SCHEDULER_STARTED: {
    json_t *boot = json_object_get(detail, "cold_boot_time");
    report(director, run,
           json_pack("{s:s, s:O}", "event", "started", "cold_boot_time",
                     json_is_number(boot) ? boot : json_null()),
           0);
    break;
  }
  case PN_SCHEDULER_UPDATE:
    report(director, run,
           json_pack("{s:s, s:s, s:O}", "event", "update", "kind", kind ? kind : "logs",
                     "prediction", detail),
           kind && strcmp(kind, "completed") == 0 && is_terminal(text_of(detail, "status")));
    break;
  case PN_SCHEDULER_FAILED:
    report_failed(director, run,
                  text_of(detail, "error") ? text_of(detail, "error")
                                           : "the prediction could not be run");
    break;
  }
}

/* --- the queue's consumer ------------------------------------------------------------ */

/* A folder version's bundle as this hub finds it: DATA/bundles/<id> under its own data
 * folder, whatever path the creating hub had for the shared folder (replicas may mount
 * it at different paths). pn_malloc'd, or NULL when `stored` is not a bundle path or
 * there is no such folder here (then the stored path is tried as it is). */
static char *local_bundle_dir(const pn_local_director *director, const char *stored) {
  const char *at = stored ? strstr(stored, "/bundles/") : NULL;
  const char *id = at ? at + strlen("/bundles/") : NULL;
  if (!id || !*id || strchr(id, '/') || !director->data_dir)
    return NULL;
  char *local = pn_strfmt("%s/bundles/%s", director->data_dir, id);
  if (local && !pn_fs_is_dir(local)) {
    pn_free(local);
    local = NULL;
  }
  return local;
}

/* The instance's request with the input files' signed URLs pointed at this hub's own
 * internal listener: the hub that created the prediction signed them for its own, and
 * another replica (sharing the secret, so the signatures hold) runs it here. A new
 * reference. */
static json_t *local_request(const pn_local_director *director, const json_t *request, int image) {
  json_t *copy = json_deep_copy(request);
  json_t *input = json_object_get(copy, "input");
  const char *own = pn_scheduler_instance_hub_url(director->scheduler, image);
  size_t own_length = own ? strlen(own) : 0;
  const char *key;
  json_t *value;
  json_object_foreach(input, key, value) {
    json_t *items = json_is_array(value) ? value : NULL;
    size_t count = items ? json_array_size(items) : 1;
    for (size_t i = 0; own && i < count; i++) {
      json_t *item = items ? json_array_get(items, i) : value;
      const char *text = json_string_value(item), *path = NULL;
      if (!text || !(path = pn_url_internal_file_path(text)) ||
          ((size_t)(path - text) == own_length && strncmp(text, own, own_length) == 0))
        continue;
      char *url = pn_strfmt("%s%s", own, path);
      if (url)
        json_string_set(item, url);
      pn_free(url);
    }
  }
  return copy;
}

/* Runs a prediction the queue handed over: queued by this hub, or by another replica
 * on the same Redis, or taken over from a consumer that died. */
static void on_take(void *arg, const char *id, const json_t *body) {
  pn_local_director *director = arg;
  if (pn_map_get(&director->runs, id))
    return; /* held already */
  held *run = hold(director, id);
  if (!run) {
    pn_error("director: prediction %s: out of memory; it is handed back", id);
    pn_queue_release(director->queue, id);
    return;
  }
  json_t *target_row = json_object_get(body, "target");
  int max = (int)json_integer_value(json_object_get(target_row, "max_instances"));
  char *bundle_dir = local_bundle_dir(director, text_of(target_row, "bundle_dir"));
  pn_scheduler_target target = {
      .key = text_of(target_row, "key"),
      .bundle_dir = bundle_dir ? bundle_dir : text_of(target_row, "bundle_dir"),
      .image = text_of(target_row, "image"),
      .mode = text_of(target_row, "mode"),
      .min_instances = (int)json_integer_value(json_object_get(target_row, "min_instances")),
      .max_instances = max < 1 ? 1 : max,
      .slots = 1,
  };
  json_t *request =
      json_is_object(json_object_get(body, "request")) && target.key
          ? local_request(director, json_object_get(body, "request"), target.image != NULL)
          : NULL;
  int rc = request ? pn_scheduler_submit(director->scheduler, &target, id, request) : PN_EINVAL;
  json_decref(request);
  pn_free(bundle_dir);
  /* The scheduler may have failed it itself already (its event came first). */
  run = pn_map_get(&director->runs, id);
  if (rc < 0 && rc != PN_EEXISTS && run && !run->reporting) {
    char *error =
        pn_strfmt("the hub could not queue the prediction: %s",
                  rc == PN_EINVAL ? "its message has no target or request" : pn_strerror(rc));
    report_failed(director, run, error ? error : "the hub could not queue the prediction");
    pn_free(error);
  }
}

/* The queue gave up `id` (taken too often, never finished): the hub stores it failed
 * with the queue's reason; no instance sees it. */
static void on_exhausted(void *arg, const char *id, long deliveries) {
  pn_local_director *director = arg;
  if (pn_map_get(&director->runs, id))
    return;
  held *run = hold(director, id);
  char *error = pn_queue_exhausted_error(deliveries);
  if (run && error) {
    report_failed(director, run, error);
  } else {
    if (run)
      drop(director, id);
    pn_error("director: prediction %s: out of memory; it is handed back", id);
    pn_queue_release(director->queue, id);
  }
  pn_free(error);
}

/* The hub stored `id`'s terminal state otherwise (a cancel, a deadline), or another
 * process did: what runs it stops, and nothing more of it is reported. */
static void on_settled(void *arg, const char *id, int was_held) {
  pn_local_director *director = arg;
  held *run = pn_map_get(&director->runs, id);
  if (!run || run->reporting)
    return; /* not held here, or the terminal report's answer ends it */
  pn_scheduler_cancel(director->scheduler, id);
  pn_relay_forget(director->relay, id);
  drop(director, id);
}

/* Another consumer took `id` over after this one's lease ran out: the hub refuses what
 * is reported of it from here on. */
static void on_lost(void *arg, const char *id) {
  pn_local_director *director = arg;
  if (!pn_map_get(&director->runs, id))
    return;
  pn_scheduler_cancel(director->scheduler, id);
  pn_relay_forget(director->relay, id);
  drop(director, id);
}

/* --- the hub's answers ------------------------------------------------------------------ */

static void on_stored(void *arg, const char *id, const char *status) {
  pn_local_director *director = arg;
  /* Acknowledged only now: had this process died before, another consumer (or the
   * hub's restart) would have settled it, and the store's compare-and-set would have
   * kept one outcome. */
  pn_queue_done(director->queue, id);
  if (!status)
    pn_warn("director: the hub has no prediction %s (deleted?); its message is dropped", id);
  drop(director, id);
}

static void on_refused(void *arg, const char *id) {
  pn_local_director *director = arg;
  pn_queue_forget(director->queue, id);
  on_lost(director, id);
}

/* --- start and stop --------------------------------------------------------------------- */

int pn_local_director_new(struct event_base *base, pn_http_client *client,
                          const pn_local_director_options *options, pn_local_director **out,
                          char **error) {
  *out = NULL;
  *error = NULL;
  pn_local_director *director = pn_calloc(1, sizeof *director);
  if (!director || (options->data_dir && !(director->data_dir = pn_strdup(options->data_dir)))) {
    pn_free(director);
    *error = pn_strdup("out of memory");
    return -1;
  }
  if (pn_scheduler_new(base, client, options->scheduler, on_event, director, &director->scheduler) <
      0) {
    *error = pn_strdup("could not start the scheduler");
  } else if (pn_relay_new(base, client, options->scheduler->hub_url, options->credential, on_stored,
                          on_refused, director, &director->relay) < 0) {
    *error = pn_strdup("out of memory");
  } else {
    pn_queue_options queue_options = {.url = options->queue_url,
                                      .lease = options->queue_lease,
                                      .beside = options->queue_url ? NULL : options->beside};
    pn_queue_consumer consumer = {.take = on_take,
                                  .settled = on_settled,
                                  .lost = on_lost,
                                  .exhausted = on_exhausted,
                                  .arg = director};
    if (pn_queue_open(base, &queue_options, &consumer, &director->queue, error) == 0) {
      *out = director;
      return 0;
    }
  }
  pn_local_director_free(director);
  return -1;
}

void pn_local_director_free(pn_local_director *director) {
  if (!director)
    return;
  director->closing = 1;
  pn_queue_free(director->queue); /* first: no take reaches a scheduler being freed */
  pn_relay_free(director->relay);
  pn_scheduler_free(director->scheduler);
  for (size_t i = 0; i < director->runs.capacity; i++) {
    held *run = director->runs.slots[i].key ? director->runs.slots[i].value : NULL;
    if (run) {
      pn_free(run->id);
      pn_free(run);
    }
  }
  pn_map_free(&director->runs);
  pn_free(director->data_dir);
  pn_free(director);
}

pn_scheduler *pn_local_director_scheduler(const pn_local_director *director) {
  return director->scheduler;
}
