/* The director inside the hub's process: what runs a hub's predictions on its own
 * machine (every hub but one whose targets only directors elsewhere serve). It is a
 * director as `pinion director` is, with the hub's local instances for a model server:
 * it takes predictions from the queue (a handle opened beside the hub's embedded one,
 * or its own consumer of the same Redis), runs them on the scheduler's instances
 * (director/scheduler.h: started, scaled and stopped per target), and reports every
 * event to the hub's internal API over HTTP under the queue's lease, with a credential
 * the hub made for it (director/relay.h); it acknowledges a message once the hub
 * answers that the terminal state is stored, and stops what runs when the hub settles
 * a prediction otherwise (a cancel). So the hub learns of a prediction's life one way,
 * whoever runs it. See docs/internals/director.md. */
#ifndef PN_DIRECTOR_LOCAL_H
#define PN_DIRECTOR_LOCAL_H

#include "core/http_client.h"
#include "director/scheduler.h"
#include "queue/queue.h"

#include <event2/event.h>

typedef struct pn_local_director pn_local_director;

typedef struct pn_local_director_options {
  /* How instances run; its hub_url (the hub's internal listener) is also where the
   * reports go. */
  const pn_scheduler_options *scheduler;
  /* The queue: the hub's embedded one to open a handle beside (queue_url NULL), or a
   * redis:// URL with its lease. */
  pn_queue *beside;
  const char *queue_url;
  double queue_lease;
  const char *credential; /* the hub's internal API takes it as a director's */
  /* The hub's data folder: a folder version's bundle is found under its bundles/, where
   * the hub that created the prediction may have had another path for the same shared
   * folder. */
  const char *data_dir;
} pn_local_director_options;

/* Starts the scheduler and opens the queue. 0, or -1 with *error (pn_malloc'd) saying
 * why. */
int pn_local_director_new(struct event_base *base, pn_http_client *client,
                          const pn_local_director_options *options, pn_local_director **director,
                          char **error);
/* Stops taking, drops the reports not sent (the hub's restart, or the lease, settles
 * those predictions), stops every instance and frees. */
void pn_local_director_free(pn_local_director *director);

/* Its scheduler, for what the hub asks of its local instances (bounds, counts, their
 * webhooks). */
pn_scheduler *pn_local_director_scheduler(const pn_local_director *director);

#endif
