/* What runs the predictions a hub takes from its queue itself (every hub but a push-only
 * one): a scheduler the CLI gives it, director/scheduler.h's on one machine. The hub
 * knows no model server (DESIGN: the hub does not use the director); it knows this
 * interface, a table of functions and the scheduler they act on, and starts it once
 * its internal listener is bound, since the scheduler's instances need its addresses.
 * Everything runs on the hub's loop; the scheduler never touches the store: the hub
 * persists, the scheduler only runs. See docs/internals/hub.md. */
#ifndef PN_HUB_SCHEDULING_H
#define PN_HUB_SCHEDULING_H

#include "core/http_client.h"

#include <event2/event.h>
#include <jansson.h>

/* What to run a prediction on. The scheduler copies the strings. */
typedef struct pn_hub_scheduler_target {
  const char *key;        /* the queue: a version id, or "deployment:owner/name" */
  const char *bundle_dir; /* a folder version's extracted bundle, or NULL */
  const char *image;      /* an image version's reference, or NULL */
  const char *mode;       /* "predict" or "train" */
  int min_instances;      /* kept running even when idle */
  int max_instances;      /* at most this many at once (>= 1) */
  int slots;              /* predictions one instance is assumed to run at once (>= 1) */
} pn_hub_scheduler_target;

enum pn_hub_scheduler_event {
  PN_HUB_SCHEDULER_BOOTING, /* no instance was free: one is starting; detail {"instance"} */
  PN_HUB_SCHEDULER_STARTED, /* dispatched to an instance; detail {"cold_boot_time": s or null} */
  PN_HUB_SCHEDULER_UPDATE,  /* the instance's webhook: detail = Cog's prediction object;
                               `kind` says which of start/output/logs/completed it was */
  PN_HUB_SCHEDULER_FAILED,  /* it could not be run (boot failed, instance died);
                               detail {"error": "..."}; terminal */
};

/* `kind` is the Cog webhook event for UPDATE, NULL otherwise. `detail` is borrowed. */
typedef void (*pn_hub_scheduler_event_fn)(void *arg, const char *prediction_id,
                                          enum pn_hub_scheduler_event event, const char *kind,
                                          const json_t *detail);

typedef struct pn_hub_scheduler_stats {
  int instances; /* running or starting */
  int ready;     /* of which READY */
  int busy;      /* predictions running */
  int queued;    /* predictions waiting for a slot */
} pn_hub_scheduler_stats;

typedef void (*pn_hub_scheduler_target_fn)(void *arg, const char *key,
                                           const pn_hub_scheduler_stats *stats, int min_instances,
                                           int max_instances, int slots);

/* What the hub knows once it listens, for the scheduler's instances. */
typedef struct pn_hub_scheduler_setup {
  struct event_base *base;
  pn_http_client *client;
  /* This hub's own part of the data folder (hub/owner.h), the instances' scratch space */
  const char *scratch_dir;
  const char *hub_url;    /* the internal listener: http://127.0.0.1:PORT */
  const char *hub_socket; /* its unix socket for sandboxed folder versions, or NULL */
  /* The same on the container engine's bridge (hub/bridge.h), or NULL; while
   * container_pending the hub does not know yet whether it can listen there, and
   * container_error says why it cannot. */
  const char *container_hub_url;
  int container_pending;
  const char *container_error;
  pn_hub_scheduler_event_fn on_event;
  void *arg;
} pn_hub_scheduler_setup;

/* The scheduler's side, given by the CLI (pn_hub_options.scheduler). `start` makes one
 * (0, or -1 after logging why); the others act on what it made, as their names say
 * (director/scheduler.h has each one's contract). */
typedef struct pn_hub_scheduler_ops {
  int (*start)(void *context, const pn_hub_scheduler_setup *setup, void **scheduler);
  void (*free)(void *scheduler);
  int (*submit)(void *scheduler, const pn_hub_scheduler_target *target, const char *prediction_id,
                const json_t *request);
  int (*cancel)(void *scheduler, const char *prediction_id);
  int (*configure)(void *scheduler, const pn_hub_scheduler_target *target);
  int (*slots)(const void *scheduler, const char *key);
  int (*credential_valid)(const void *scheduler, const char *credential);
  int (*webhook)(void *scheduler, const char *credential, const json_t *body);
  const char *(*instance_hub_url)(const void *scheduler, int image);
  void (*container_network)(void *scheduler, const char *error);
  pn_hub_scheduler_stats (*target_stats)(const void *scheduler, const char *key);
  void (*each_target)(const void *scheduler, pn_hub_scheduler_target_fn each, void *arg);
  /* Kills what sandboxes under `dir` a dead hub left running: the number killed. Used
   * by the sweep of dead hubs' parts of the data folder (hub/owner.h). */
  int (*kill_strays)(const char *dir);
} pn_hub_scheduler_ops;

/* The started scheduler as the hub holds it. */
typedef struct pn_hub_scheduler {
  const pn_hub_scheduler_ops *ops;
  void *scheduler;
} pn_hub_scheduler;

/* The hub's calls. Without a scheduler (a push-only hub, or start-up failed), submit,
 * cancel and configure return PN_ENOENT and the rest answer as for an unknown key. */
int pn_hub_scheduler_submit(pn_hub_scheduler *scheduler, const pn_hub_scheduler_target *target,
                            const char *prediction_id, const json_t *request);
int pn_hub_scheduler_cancel(pn_hub_scheduler *scheduler, const char *prediction_id);
int pn_hub_scheduler_configure(pn_hub_scheduler *scheduler, const pn_hub_scheduler_target *target);
int pn_hub_scheduler_slots(const pn_hub_scheduler *scheduler, const char *key);
int pn_hub_scheduler_credential_valid(const pn_hub_scheduler *scheduler, const char *credential);
int pn_hub_scheduler_webhook(pn_hub_scheduler *scheduler, const char *credential,
                             const json_t *body);
const char *pn_hub_scheduler_instance_hub_url(const pn_hub_scheduler *scheduler, int image);
void pn_hub_scheduler_container_network(pn_hub_scheduler *scheduler, const char *error);
pn_hub_scheduler_stats pn_hub_scheduler_target_stats(const pn_hub_scheduler *scheduler,
                                                     const char *key);
void pn_hub_scheduler_each_target(const pn_hub_scheduler *scheduler,
                                  pn_hub_scheduler_target_fn each, void *arg);

#endif
