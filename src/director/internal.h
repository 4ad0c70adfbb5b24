/* What director.c (the process: readiness, listener, signals, metrics) and run.c (the
 * predictions it holds) share. Internal to src/director/. */
#ifndef PN_DIRECTOR_INTERNAL_H
#define PN_DIRECTOR_INTERNAL_H

#include "core/cog_client.h"
#include "core/http_client.h"
#include "core/metrics.h"
#include "core/prediction_metrics.h"
#include "director/director.h"
#include "director/relay.h"
#include "queue/queue.h"

#include <event2/event.h>
#include <jansson.h>

typedef struct pn_director_task pn_director_task;

typedef struct pn_director {
  const pn_director_options *options;
  struct event_base *base;
  pn_http_client *client;
  pn_queue *queue;
  pn_relay *relay;
  char *model_url;   /* without a trailing slash */
  pn_cog_server model; /* model_url, over the network */
  char *webhook_url; /* the director's own, with its secret, given to the model server */
  int serving;       /* the model is READY and the queue open */
  int draining;      /* SIGTERM: nothing more is taken */
  int slots;         /* predictions the model server runs at once: --slots, or what a
                        server it started reports (--serve without --slots) */
  int model_busy;    /* the model server's slots in use (PUT sent, not yet completed) */
  pn_director_task *runs;   /* every prediction held, oldest first */
  struct event *dispatch_retry; /* after a 409: the model's slots were taken */
  pn_metrics *metrics;
  pn_metric *taken, *finished, *handed_over, *running_gauge, *waiting_gauge, *slots_gauge,
      *retries;
} pn_director;

/* run.c */
int pn_director_runs_init(pn_director *director);
/* The queue's consumer: what is taken runs on the model server. */
pn_queue_consumer pn_director_consumer(pn_director *director);
/* A webhook from the model server (Cog's prediction object, borrowed). */
void pn_director_on_webhook(pn_director *director, const json_t *prediction);
/* The relay's callback: a terminal report was stored by the hub. */
void pn_director_on_stored(void *arg, const char *id, const char *status);
/* The relay's callback: the hub refused a report because another director holds the
 * prediction's message now. */
void pn_director_on_refused(void *arg, const char *id);
/* Predictions held: in all, and of those, waiting for a slot. */
size_t pn_director_held(const pn_director *director, size_t *waiting);
/* Hands back every held prediction not yet sent to the model (all of them with `all`):
 * another director takes them over at once. */
void pn_director_hand_back(pn_director *director, int all);
void pn_director_runs_free(pn_director *director);

/* director.c: every held prediction is gone while draining: the process ends. */
void pn_director_check_drained(pn_director *director);

#endif
