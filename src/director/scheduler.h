/* The scheduler that runs a hub's predictions on its own machine (the hub holds it
 * through hub/scheduling.h; cli/hub_scheduler.c composes the two): a queue per target (a
 * model version, or a deployment), and the instances that serve it. An instance is a
 * `pinion serve` child process (for folder versions; a container through the engine for
 * image versions) that the scheduler starts, waits for (READY), dispatches predictions
 * to over the Cog HTTP API (`PUT /predictions/{id}` with `Prefer: respond-async` and a
 * webhook back to the hub), and stops when idle. Everything runs on the hub's loop;
 * nothing here touches the store: the hub persists, the scheduler only runs. See
 * docs/internals/scheduler.md. */
#ifndef PN_DIRECTOR_SCHEDULER_H
#define PN_DIRECTOR_SCHEDULER_H

#include "core/http_client.h"
#include "director/sandbox.h"

#include <event2/event.h>
#include <jansson.h>

typedef struct pn_scheduler pn_scheduler;

typedef struct pn_scheduler_options {
  const char *pinion;          /* the pinion binary to start instances with (/proc/self/exe) */
  const char *python;          /* the models' Python (passed as --python), or NULL */
  /* Instances get their scratch folders in it. It is this scheduler's alone (a hub's
   * owner folder, hub/owner.h: several hubs may share a data folder): what is there at
   * start is swept, with any sandbox still running over it. */
  const char *scratch_dir;
  const char *hub_url;         /* the hub's internal listener: http://127.0.0.1:PORT */
  /* Its unix socket, which sandboxed folder versions reach it through (they have no
   * network of the host's); NULL without bubblewrap isolation. */
  const char *hub_socket;
  /* The same on the container engine's bridge (http://host.containers.internal:PORT),
   * for image versions unless isolation is none (hub/bridge.h). While
   * container_pending, the hub does not know yet whether it can listen there, and
   * image versions' instances wait; container_error says why it cannot, and image
   * versions' predictions fail with it. */
  const char *container_hub_url;
  int container_pending;
  const char *container_error;
  double idle_timeout;         /* seconds an instance above min_instances may sit idle (60) */
  double boot_timeout;         /* seconds an instance may take to become READY (600) */
  enum pn_isolation isolation; /* how instances run (default: folder versions sandboxed) */
  /* Sandboxes without slirp4netns (only their own loopback); image versions are refused
   * unless isolation is none. */
  int instance_network_off;
} pn_scheduler_options;

/* What to run a prediction on. Strings are copied. */
typedef struct pn_scheduler_target {
  const char *key;          /* the queue: a version id, or "deployment:owner/name" */
  const char *bundle_dir;   /* a folder version's extracted bundle, or NULL */
  const char *image;        /* an image version's reference, or NULL */
  const char *mode;         /* "predict" or "train" */
  int min_instances;        /* kept running even when idle */
  int max_instances;        /* at most this many at once (>= 1) */
  int slots;                /* predictions one instance is assumed to run at once (>= 1) until
                               it reports its own: each instance's `pinion_slots` (GET
                               /metrics, read when it is READY: COG_MAX_CONCURRENCY, or a
                               batching model's 2 x max_size) is what it gets */
} pn_scheduler_target;

enum pn_scheduler_event {
  PN_SCHEDULER_BOOTING,   /* no instance was free: one is starting; detail {"instance"} */
  PN_SCHEDULER_STARTED,   /* dispatched to an instance; detail {"cold_boot_time": s or null} */
  PN_SCHEDULER_UPDATE,    /* the instance's webhook: detail = Cog's prediction object; `kind`
                             says which of start/output/logs/completed it was */
  PN_SCHEDULER_FAILED,    /* the scheduler could not run it (boot failed, instance died);
                             detail {"error": "..."}; terminal */
};

/* `kind` is the Cog webhook event for UPDATE ("start", "output", "logs", "completed"),
 * NULL otherwise. `detail` is borrowed. */
typedef void (*pn_scheduler_event_fn)(void *arg, const char *prediction_id,
                                      enum pn_scheduler_event event, const char *kind,
                                      const json_t *detail);

/* The internal listener's URL an instance of an image version (`image`) or of a
 * folder version reaches the hub at (borrowed; without a trailing slash). */
const char *pn_scheduler_instance_hub_url(const pn_scheduler *scheduler, int image);

/* The hub's answer to container_pending: NULL when it listens on the bridge now (image
 * versions' instances start), else why it cannot (copied; their predictions fail with
 * it). */
void pn_scheduler_container_network(pn_scheduler *scheduler, const char *error);

/* Removes the scratch folders a previous run left under DATA/instances/ and, with
 * bubblewrap isolation, probes the sandbox once (blocking, at most 10 s); when the probe
 * fails the scheduler still starts, logs why, and fails folder versions' predictions
 * with that reason. */
int pn_scheduler_new(struct event_base *base, pn_http_client *client,
                     const pn_scheduler_options *options, pn_scheduler_event_fn on_event,
                     void *arg, pn_scheduler **scheduler);
/* Stops every instance (SIGTERM, then SIGKILL after a grace) and frees. */
void pn_scheduler_free(pn_scheduler *scheduler);

/* Queues a prediction. `request` is Cog's request body without `id`/`webhook`
 * ({"input": {...}, "context"?}); the scheduler adds those. Events follow on the loop. */
int pn_scheduler_submit(pn_scheduler *scheduler, const pn_scheduler_target *target,
                        const char *prediction_id, const json_t *request);
/* Cancels: a queued prediction is dropped (no further events); a dispatched one gets
 * `POST /predictions/{id}/cancel` on its instance (its `completed` update follows).
 * PN_ENOENT when the scheduler does not know the id. */
int pn_scheduler_cancel(pn_scheduler *scheduler, const char *prediction_id);
/* Changes a target's bounds (a deployment was updated); instances follow. */
int pn_scheduler_configure(pn_scheduler *scheduler, const pn_scheduler_target *target);
/* The predictions one instance of target `key` takes at once: what its instances
 * reported (`pinion_slots`), else what it was given; 1 for a target not known yet. */
int pn_scheduler_slots(const pn_scheduler *scheduler, const char *key);

/* Each instance gets a credential when it starts (256 bits from the CSPRNG, in its
 * webhook and upload URLs: `<hub>/internal/instances/<credential>/webhook`,
 * `<hub>/internal/uploads/<credential>/`), revoked the moment it is stopped. Returns 1
 * when a running or booting instance holds `credential` (compared in constant time). */
int pn_scheduler_credential_valid(const pn_scheduler *scheduler, const char *credential);

/* The hub routes `POST /internal/instances/<credential>/webhook` here. Returns 0, or
 * PN_ENOENT when no live instance holds the credential (the hub answers 401). */
int pn_scheduler_webhook(pn_scheduler *scheduler, const char *credential, const json_t *body);

typedef struct pn_scheduler_stats {
  int instances; /* running or starting */
  int ready;     /* of which READY */
  int busy;      /* predictions running */
  int queued;    /* predictions waiting for a slot */
} pn_scheduler_stats;

/* Counts for a target key (zeros for an unknown key). */
pn_scheduler_stats pn_scheduler_target_stats(const pn_scheduler *scheduler, const char *key);

/* Calls `each` for every target the scheduler has been given (in no particular order),
 * with its counts and bounds; `key` is borrowed for the call. */
typedef void (*pn_scheduler_target_fn)(void *arg, const char *key, const pn_scheduler_stats *stats,
                                       int min_instances, int max_instances, int slots);
void pn_scheduler_each_target(const pn_scheduler *scheduler, pn_scheduler_target_fn each,
                              void *arg);

#endif
