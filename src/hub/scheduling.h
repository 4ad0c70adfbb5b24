/* What runs the predictions a hub does not leave to directors elsewhere: the director
 * the CLI gives it, director/local.h's, in the hub's process. The hub reaches it as it
 * reaches any director: it pushes predictions to the queue, which that director takes
 * from, and hears of them through its internal API, where that director reports with a
 * credential the hub made for it. What is left here is what the hub asks of its own
 * machine's instances beside that: the bounds of a deployment it scales itself, their
 * counts for /metrics, their webhooks and uploads arriving on its internal listener, and
 * the container bridge's state. The hub knows no model server (DESIGN: the hub does not
 * use the director); it knows this table of functions and the director they act on,
 * started once its internal listener is bound and its queue open. Everything runs on
 * the hub's loop. See docs/internals/hub.md. */
#ifndef PN_HUB_SCHEDULING_H
#define PN_HUB_SCHEDULING_H

#include "core/http_client.h"
#include "queue/queue.h"

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

typedef struct pn_hub_scheduler_stats {
  int instances; /* running or starting */
  int ready;     /* of which READY */
  int busy;      /* predictions running */
  int queued;    /* predictions waiting for a slot */
} pn_hub_scheduler_stats;

typedef void (*pn_hub_scheduler_target_fn)(void *arg, const char *key,
                                           const pn_hub_scheduler_stats *stats, int min_instances,
                                           int max_instances, int slots);

/* What the hub knows once it listens and its queue is open, for its director. */
typedef struct pn_hub_scheduler_setup {
  struct event_base *base;
  pn_http_client *client;
  /* The queue the hub pushes to: the director opens a handle beside this one when it is
   * embedded (queue_url NULL), its own consumer of queue_url otherwise. */
  pn_queue *queue;
  const char *queue_url;
  double queue_lease;
  /* The director's credential for the internal API (the hub made it; it lives as long
   * as the process). */
  const char *credential;
  const char *data_dir; /* the hub's --data */
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
} pn_hub_scheduler_setup;

/* The director's side, given by the CLI (pn_hub_options.scheduler). `start` makes one
 * (0, or -1 after logging why); the others act on its scheduler, as their names say
 * (director/scheduler.h has each one's contract). */
typedef struct pn_hub_scheduler_ops {
  int (*start)(void *context, const pn_hub_scheduler_setup *setup, void **scheduler);
  void (*free)(void *scheduler);
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

/* The hub's calls. Without a director here (a push-only hub, or start-up failed),
 * configure returns PN_ENOENT and the rest answer as for an unknown key. */
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
