/* The queue between the API and whoever runs predictions: one interface, two engines.
 * The embedded engine (queue/embedded.c), the default, is one process's: the hub pushes
 * through its handle, the director inside the hub's process takes through another
 * opened beside it, leased and settled as through Redis: one hub on one machine. The
 * Redis Streams engine
 * (queue/redis.c), chosen by a redis:// URL, keeps a stream per target (a version or a
 * deployment) that any number of consumers in any number of processes read through one
 * consumer group, each message leased to the consumer that took it: the consumer renews
 * its lease while the prediction runs, a message whose consumer stopped renewing is
 * reclaimed by another after the lease, and a message is acknowledged only once its
 * prediction's terminal state is stored (pn_queue_done).
 *
 * The queue never decides a prediction's outcome: the store does, with a compare-and-set
 * (pn_store_update_from), so a reclaimed prediction that also finishes where it first ran
 * finishes once. Everything runs on the caller's event loop; callbacks never run from
 * inside a pn_queue_* call.
 * See docs/internals/queue.md. */
#ifndef PN_QUEUE_QUEUE_H
#define PN_QUEUE_QUEUE_H

#include <event2/event.h>
#include <jansson.h>

typedef struct pn_queue pn_queue;

/* Seconds a consumer holds a message without renewing before another may take it over. */
#define PN_QUEUE_LEASE_DEFAULT 30.0
#define PN_QUEUE_LEASE_MIN 0.5
#define PN_QUEUE_LEASE_MAX 3600.0

typedef struct pn_queue_options {
  const char *url; /* NULL or "": embedded; redis://[:PASSWORD@]HOST[:PORT][/DB] */
  double lease;    /* seconds (0: PN_QUEUE_LEASE_DEFAULT) */
  /* What this process takes. By default every stream, as many of each at once as its
   * messages' capacity says (a hub that runs predictions itself). */
  int push_only;      /* nothing: it pushes and hears outcomes (a hub: its own director,
                         or directors elsewhere, take) */
  const char *stream; /* only this target's stream (a director), or NULL */
  int capacity;       /* with `stream`, > 0: at most this many held at once, whatever
                         the messages say (the director's slots) */
  /* Times a message may be taken (read, or taken over from a consumer whose lease ran
   * out) before it is given up: 0 reads PINION_QUEUE_MAX_DELIVERIES (default
   * PN_QUEUE_MAX_DELIVERIES_DEFAULT). A message handed back with pn_queue_release does
   * not count. */
  int max_deliveries;
  /* The embedded engine: a handle on the same in-process queue as this embedded one
   * (the hub's director opens its taking handle beside the hub's push-only one). NULL:
   * a new queue. Ignored with a URL, which says where the queue is. */
  pn_queue *beside;
} pn_queue_options;

/* A prediction whose runners all stopped without finishing it (killed, out of memory,
 * cut off for longer than the lease) is taken over by the next; after this many takes
 * it is failed instead, so that one that kills whatever runs it does not go round for
 * ever. */
#define PN_QUEUE_MAX_DELIVERIES_DEFAULT 3
#define PN_QUEUE_MAX_DELIVERIES_MAX 1000

/* The side that runs predictions. Strings and `body` are borrowed for the call. */
typedef struct pn_queue_consumer {
  /* Run prediction `id` with `body` (what pn_queue_push was given). The message is held
   * here, its lease renewed, until pn_queue_done(id). */
  void (*take)(void *arg, const char *id, const json_t *body);
  /* Another process stored prediction `id`'s terminal state (it finished there, or was
   * canceled there). `held`: this consumer was running it; its message is acknowledged
   * and forgotten here, and what it still does for `id` is wasted. */
  void (*settled)(void *arg, const char *id, int held);
  /* This consumer's lease on `id` ran out and another consumer took the message over:
   * stop running it; its outcome here must not be stored. */
  void (*lost)(void *arg, const char *id);
  /* Another process stored a change of prediction `id` still in flight (its start, logs,
   * an output): readers of its event stream here get it from the store. NULL: not
   * subscribed (a director). */
  void (*progress)(void *arg, const char *id);
  /* Prediction `id`'s message was taken `deliveries` times (more than max_deliveries)
   * and none of its consumers finished it: it is held here, and the consumer stores
   * its failure with pn_queue_exhausted_error's text (then pn_queue_done) instead of
   * running it. NULL: such a message is taken as usual. */
  void (*exhausted)(void *arg, const char *id, long deliveries);
  /* The notices of other processes (`settled`, `progress`) were not heard for a while
   * (the subscription dropped, Redis restarted) and are heard again from now on: what
   * the consumer waits on may have been settled meanwhile. NULL: not told. */
  void (*resubscribed)(void *arg);
  void *arg;
} pn_queue_consumer;

/* The error a prediction given up after `deliveries` takes fails with (pn_malloc'd). */
char *pn_queue_exhausted_error(long deliveries);

/* Opens the engine `options->url` names. The Redis engine connects at once (a refusal is
 * an error, *error saying where and what to do), then reconnects by itself whenever the
 * connection drops. *error is pn_malloc'd; the caller frees it. */
int pn_queue_open(struct event_base *base, const pn_queue_options *options,
                  const pn_queue_consumer *consumer, pn_queue **queue, char **error);
/* Stops reading and renewing; held messages stay unacknowledged (another consumer takes
 * them over after the lease). */
void pn_queue_free(pn_queue *queue);

/* "embedded" or "Redis" (static text). */
const char *pn_queue_engine_name(const pn_queue *queue);
/* Whether other processes share this queue (then a prediction not held here may be
 * running elsewhere, and one in the store without a message here is not lost). */
int pn_queue_is_shared(const pn_queue *queue);

/* Queues prediction `id` on stream `key` (a target: a version id, "<id>:train" or
 * "deployment:owner/name"). `capacity` is how many of this stream's messages one
 * consumer may run at once (the target's instances times their slots); `body` is what
 * `take` gets. Returns once the engine has it (Redis: XADD answered), PN_ECLOSED when
 * the queue is unreachable or refused it (the client should retry). */
int pn_queue_push(pn_queue *queue, const char *key, const char *id, int capacity,
                  const json_t *body);
/* Prediction `id`'s terminal state is stored: a message held here is acknowledged (and
 * deleted) and the other processes are told (their `settled`). */
int pn_queue_done(pn_queue *queue, const char *id);
/* This process stored a change of prediction `id` still in flight: the other processes
 * are told (their `progress`), so that a client streaming it from another hub replica
 * sees it as it happens. Fire-and-forget; a no-op for the embedded engine. */
void pn_queue_progress(pn_queue *queue, const char *id);
/* Whether this consumer holds prediction `id`. */
int pn_queue_holds(const pn_queue *queue, const char *id);
/* Takes nothing more from now on (a director draining): what is held is still renewed
 * and acknowledged. */
void pn_queue_stop_taking(pn_queue *queue);
/* Gives held message `id` back without acknowledging it: its idle time is set past the
 * lease, so that another consumer's next reclaim takes it over at once instead of a
 * lease later (the embedded engine: it waits again for the next take). It is forgotten
 * here (no `lost` follows). PN_ENOENT when not held here. */
int pn_queue_release(pn_queue *queue, const char *id);

/* The lease on held message `id`, for the reports of the process that holds it:
 * "<consumer> <entry> <target key>" (pn_malloc'd; the caller frees it), or NULL when it
 * is not held here. */
char *pn_queue_lease(const pn_queue *queue, const char *id);
/* Whether `lease` (pn_queue_lease's text, from any process) still holds prediction
 * `id`'s message, so that a report made under it may be stored: 0 when its consumer
 * holds the message, or when no one does (it was acknowledged, or Redis lost it: then
 * no one else can report on it either); PN_ESTATE when another consumer took it over;
 * PN_EINVAL when `lease` is malformed or names another prediction's message;
 * PN_ECLOSED when Redis is unreachable. Redis: one round trip (a script reading the entry
 * and its pending owner). */
int pn_queue_check_lease(pn_queue *queue, const char *id, const char *lease);
/* A lease's parts, as pn_queue_check_lease reads them from a director's report. */
typedef struct pn_queue_lease_parts {
  char consumer[160]; /* the holder, host:pid:random */
  char entry[48];     /* the stream entry's id, as Redis wrote it */
  char key[768];      /* the target's key: a version id or deployment:OWNER/NAME */
} pn_queue_lease_parts;
/* Splits "<consumer> <entry> <key>" (three non-empty parts, the first two without spaces
 * or control bytes, each within its buffer). PN_EINVAL when it is not one. */
int pn_queue_parse_lease(const char *lease, pn_queue_lease_parts *out);
/* Forgets held message `id` without acknowledging it or touching its lease (the hub said
 * another consumer holds it now); nothing follows. No-op when not held. */
void pn_queue_forget(pn_queue *queue, const char *id);

/* Predictions stored but never queued: a hub that stored a prediction and died before
 * its XADD leaves a row that no consumer will ever take. The hubs' sweep
 * (pn_hub_predictions_sweep_orphans) finds old unfinished rows and asks the queue:
 * pn_queue_find_absent sets absent[i] to 1 for each of `ids` (predictions of target
 * `key`) that has no message in the queue, in one round trip that reads only ids;
 * pn_queue_push_absent is pn_queue_push unless a message for `id` is there by now,
 * atomically (1: pushed, 0: there). Both PN_EUNSUPPORTED for the embedded engine (its
 * only hub restores its rows at start), PN_ECLOSED when Redis is unreachable. */
int pn_queue_find_absent(pn_queue *queue, const char *key, const char *const *ids, size_t count,
                         int *absent);
int pn_queue_push_absent(pn_queue *queue, const char *key, const char *id, int capacity,
                         const json_t *body);

/* Claims: work of which exactly one process of those sharing the queue should do each
 * piece (a `completed` webhook's delivery, which any hub can resume). A claim is held
 * for pn_queue_claim_seconds and must be renewed within it; one whose holder stopped
 * renewing (killed, cut off) expires, and another process can claim it. Redis: a key per
 * claim holding the consumer's name, with that expiry (taken, renewed and dropped by
 * scripts that check the owner). The embedded engine shares nothing: every claim is
 * granted and kept. pn_queue_claim: 1 when it is this process's now (taken, or already
 * held here and renewed), 0 when another holds it, PN_ECLOSED when Redis is
 * unreachable. pn_queue_renew_claims sets kept[i] to whether `names[i]` is still held
 * here (0: it expired, or another took it). */
int pn_queue_claim(pn_queue *queue, const char *name);
int pn_queue_renew_claims(pn_queue *queue, const char *const *names, size_t count, int *kept);
/* pn_queue_claim for each of `names` in one round trip: got[i] is 1 when `names[i]` is
 * this process's now, 0 when another holds it. 0, or PN_ECLOSED (nothing claimed). */
int pn_queue_claim_each(pn_queue *queue, const char *const *names, size_t count, int *got);
void pn_queue_drop_claim(pn_queue *queue, const char *name);
/* Seconds a claim lasts unrenewed: three leases, and at least CLAIM_MIN_SECONDS (the
 * embedded engine: 0, never expires). Longer than a lease because a claim's holder
 * renews it from its loop, which a slow store or a loaded machine can stall for a
 * second, and a claim lost that way stops a delivery in flight; a dead hub's claims
 * are taken over a little later instead. */
#define CLAIM_MIN_SECONDS 10.0
double pn_queue_claim_seconds(const pn_queue *queue);

/* Counts one request against window `name` (an account, "address <ip>"), shared by
 * every process on the queue, so that a rate limit holds across hub replicas: *count is
 * the requests in the window so far, this one included, *reset_ms how long the window
 * has left. A window starts at its first request and lasts `window_ms`. Redis: a key
 * per window (pinion:rate:<name>), INCR and the expiry in one script, one round trip.
 * PN_EUNSUPPORTED for the embedded engine (nothing is shared: the caller counts),
 * PN_ECLOSED when Redis is unreachable. */
int pn_queue_count(pn_queue *queue, const char *name, long window_ms, long *count,
                   long *reset_ms);

/* Deletes prediction `id`'s message from stream `key` if no consumer holds it (it was
 * never taken, or its holder acknowledged it): a prediction canceled while it waited, so
 * that the stream's length (what KEDA and /metrics read) drops at once rather than when
 * a consumer takes the message and drops it. 1: deleted; 0: a consumer holds it (it
 * sees the terminal row) or none is there. One script that scans the stream's ids
 * inside Redis. PN_EUNSUPPORTED for the embedded engine, PN_ECLOSED when unreachable. */
int pn_queue_drop_waiting(pn_queue *queue, const char *key, const char *id);

/* One target's stream as the queue sees it, for the hub's /metrics. */
typedef struct pn_queue_depth {
  char *key;     /* the target's key (pn_malloc'd) */
  long waiting;  /* queued and not yet taken by any consumer */
  long held;     /* taken by a consumer and not yet done (its lease renewed or running out) */
  int consumers; /* consumers that read or renewed it within the lease: directors, or hubs
                    that run predictions themselves */
} pn_queue_depth;

/* The depth of the stream of each target in `keys` (always, in that order) and then of
 * the other targets the queue has streams for, `max` in all. Redis: SMEMBERS, then XLEN,
 * XPENDING and XINFO CONSUMERS of every stream in one round trip: a scrape's worth of
 * work, never a prediction's. *depths is pn_malloc'd (free it with pn_queue_depths_free).
 * PN_EUNSUPPORTED for the embedded engine (its consumer, the hub's scheduler, knows),
 * PN_ECLOSED when Redis is unreachable. */
int pn_queue_depths(pn_queue *queue, const char *const *keys, size_t key_count, size_t max,
                    pn_queue_depth **depths, size_t *count);
void pn_queue_depths_free(pn_queue_depth *depths, size_t count);

/* A parsed redis:// URL. */
typedef struct pn_queue_redis_url {
  char host[256];
  int port;          /* 6379 when absent */
  int db;            /* 0 when absent */
  char password[256]; /* "" when absent */
} pn_queue_redis_url;

/* Parses redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (HOST may be [IPv6]). PN_EINVAL
 * when malformed; *error (static text) says which part. */
int pn_queue_parse_redis_url(const char *url, pn_queue_redis_url *out, const char **error);

#endif
