/* The queue's engines behind queue.h: each one (embedded.c, redis.c) fills a table of
 * functions, and every pn_queue begins with this head, so queue.c forwards each call
 * without knowing which engine it talks to. Internal to src/queue/. */
#ifndef PN_QUEUE_ENGINE_H
#define PN_QUEUE_ENGINE_H

#include "queue/queue.h"

typedef struct pn_queue_engine {
  const char *name; /* "embedded", "Redis" */
  int shared;       /* other processes may share the queue */
  void (*free)(pn_queue *queue);
  int (*push)(pn_queue *queue, const char *key, const char *id, int capacity, const json_t *body);
  int (*done)(pn_queue *queue, const char *id);
  void (*progress)(pn_queue *queue, const char *id); /* NULL: no one else to tell */
  int (*holds)(const pn_queue *queue, const char *id);
  void (*stop_taking)(pn_queue *queue);
  int (*release)(pn_queue *queue, const char *id);
  char *(*lease)(const pn_queue *queue, const char *id);          /* NULL: leases nothing */
  int (*check_lease)(pn_queue *queue, const char *id, const char *lease); /* NULL: ditto */
  void (*forget)(pn_queue *queue, const char *id);                /* NULL: ditto */
  int (*depths)(pn_queue *queue, const char *const *keys, size_t key_count, size_t max,
                pn_queue_depth **depths, size_t *count); /* NULL: PN_EUNSUPPORTED */
  int (*find_absent)(pn_queue *queue, const char *key, const char *const *ids, size_t count,
                     int *absent); /* NULL: PN_EUNSUPPORTED */
  int (*push_absent)(pn_queue *queue, const char *key, const char *id, int capacity,
                     const json_t *body); /* NULL: PN_EUNSUPPORTED */
  int (*count)(pn_queue *queue, const char *name, long window_ms, long *count,
               long *reset_ms); /* NULL: PN_EUNSUPPORTED */
  int (*drop_waiting)(pn_queue *queue, const char *key, const char *id); /* NULL: ditto */
  /* NULL: every claim is this process's (one process shares nothing) */
  int (*claim)(pn_queue *queue, const char *name);
  int (*renew_claims)(pn_queue *queue, const char *const *names, size_t count, int *kept);
  int (*claim_each)(pn_queue *queue, const char *const *names, size_t count, int *got);
  void (*drop_claim)(pn_queue *queue, const char *name);
} pn_queue_engine;

struct pn_queue {
  const pn_queue_engine *engine;
  pn_queue_consumer consumer;
  double lease; /* seconds; 0 for the embedded engine */
};

/* A handle on a new in-process queue, or on `beside`'s (an embedded handle) when given;
 * `taking`: it takes messages (else it only pushes and settles). */
int pn_queue_embedded_open(struct event_base *base, pn_queue *beside, int taking,
                           pn_queue **queue);
/* `options` as pn_queue_open got them, the lease checked. */
int pn_queue_redis_open(struct event_base *base, const pn_queue_redis_url *url,
                        const pn_queue_options *options, double lease, pn_queue **queue,
                        char **error);

#endif
