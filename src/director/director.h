/* `pinion director`: runs beside one model server (pinion serve, or a pinion- or
 * Cog-built image) and feeds it from the queue. It waits for the server's READY, takes
 * as many of its target's predictions from the Redis stream as the server has slots
 * (in the consumer group the hubs use; the queue renews the lease while they run),
 * drives the server through the Cog HTTP API (PUT /predictions/{id} with
 * `Prefer: respond-async` and a webhook back to the director), relays the server's
 * webhooks and output uploads to the hub's internal API with a director's credential,
 * and acknowledges a prediction's message only once the hub has stored its terminal
 * state. A cancel stored by any hub reaches it over the queue's `pinion:done` channel.
 * On SIGTERM it stops taking, hands back what it has not started and lets what runs
 * finish (at most the drain timeout). With --serve it starts the model server itself,
 * for a folder version it fetches from the hub (director/model_server.h). See
 * docs/internals/director.md. */
#ifndef PN_DIRECTOR_DIRECTOR_H
#define PN_DIRECTOR_DIRECTOR_H

#include "director/sandbox.h"

typedef struct pn_director_options {
  const char *hub_url;    /* the hub's internal listener, http://HOST:PORT */
  const char *credential; /* the director's credential (its text) */
  const char *queue;      /* redis://[:PASSWORD@]HOST[:PORT][/DB] */
  double queue_lease;     /* seconds (0: PN_QUEUE_LEASE_DEFAULT) */
  const char *model_url;  /* the model server, http://HOST:PORT; NULL with serve */
  /* --serve: the director fetches the folder version of version_id (or the current
   * version of deployment, OWNER/NAME) from the hub and starts the model server itself,
   * sandboxed per isolation (director/model_server.h); it stops it when it ends. */
  int serve;
  const char *version_id;
  const char *deployment;
  const char *python;          /* the model's Python, or NULL */
  enum pn_isolation isolation; /* how the model runs (default: bubblewrap) */
  int instance_network_off;    /* the sandbox has only its own loopback */
  /* The stream to take from: a version id, "<id>:train" for its trainings, or
   * "deployment:OWNER/NAME" (the hub's target keys, queue/queue.h). */
  const char *target;
  /* "predict", or "train" for a version's trainings: a server the director starts runs
   * in that mode (`serve --x-mode train`), as the hub's instances for trainings do. */
  const char *mode;
  const char *listen;      /* HOST:PORT of /health, /metrics, webhooks, uploads */
  const char *port_file;   /* write the bound port here, or NULL */
  int slots;               /* predictions at once (>= 1); 0 with `serve`: what the server it
                              starts reports when READY (pinion_slots) */
  double boot_timeout;     /* seconds to wait for the model's READY */
  double drain_timeout;    /* seconds SIGTERM lets running predictions finish */
} pn_director_options;

/* Runs until SIGTERM/SIGINT (drained) or a fatal error; returns the exit code. */
int pn_director_run(const pn_director_options *options);

#endif
