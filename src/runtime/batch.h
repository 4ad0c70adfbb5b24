/* Adaptive batching's queue (docs/batching.md): the predictions waiting for a batch,
 * oldest first, and the rule that says when the next batch leaves — once `max_size`
 * wait, or `max_wait_ms` after the oldest arrived, whichever comes first. The runner
 * owns the timer and the worker; this file only keeps the order and does the sums, so
 * the rule is tested apart from any process. */
#ifndef PN_RUNTIME_BATCH_H
#define PN_RUNTIME_BATCH_H

#include "runtime/prediction.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The largest batch and the longest wait a predictor may ask for (docs/limits.md);
 * `@cog.batch` checks the same bounds in Python. */
#define PN_BATCH_SIZE_MAX 1024
#define PN_BATCH_WAIT_MS_MAX 60000

typedef struct pn_batch_policy {
  int max_size;       /* 1 to PN_BATCH_SIZE_MAX */
  double max_wait_ms; /* 0 to PN_BATCH_WAIT_MS_MAX */
} pn_batch_policy;

/* Reads the signature's `batch` entry ({"max_size", "max_wait_ms"}, from the worker,
 * so not trusted). 0 and *enabled 0 when it is absent or null; 0 and *enabled 1 with
 * *policy set when valid; PN_EINVAL with *error (pn_malloc'd, caller frees) saying
 * what was wrong otherwise. */
int pn_batch_policy_read(const json_t *signature, pn_batch_policy *policy, int *enabled,
                         char **error);

typedef struct pn_batch_entry {
  pn_prediction *prediction; /* borrowed: the runner's slot holds the reference */
  uint64_t queued_ns;        /* monotonic time it joined the queue */
} pn_batch_entry;

typedef struct pn_batch_queue {
  pn_batch_entry *entries;
  size_t count, capacity;
} pn_batch_queue;

/* Room for `capacity` predictions (the runner's slot count). Free with
 * pn_batch_queue_free; a zeroed queue is empty and may be freed. */
int pn_batch_queue_init(pn_batch_queue *queue, size_t capacity);
void pn_batch_queue_free(pn_batch_queue *queue);
/* Appends a prediction that arrived at `now_ns`. PN_EBUSY when full. */
int pn_batch_queue_push(pn_batch_queue *queue, pn_prediction *prediction, uint64_t now_ns);
/* Takes `prediction` out wherever it is (a cancel). 1 when it was there, else 0. */
int pn_batch_queue_remove(pn_batch_queue *queue, const pn_prediction *prediction);
/* Moves the oldest min(count, max) entries into `out` (room for `max`), oldest first;
 * returns how many. */
size_t pn_batch_queue_take(pn_batch_queue *queue, size_t max, pn_batch_entry *out);
/* Puts predictions taken a moment ago back at the front, in the same order (a batch
 * whose message was too large leaves in smaller pieces). Keeps their queued times. */
void pn_batch_queue_unshift(pn_batch_queue *queue, pn_batch_entry *entries, size_t count);

/* When the next batch is due, seen at `now_ns`: -1 when the queue is empty, 0 when it
 * should leave now (max_size wait, or the oldest has waited max_wait_ms), else the
 * nanoseconds left until the oldest has waited max_wait_ms. */
int64_t pn_batch_due_in_ns(const pn_batch_queue *queue, const pn_batch_policy *policy,
                           uint64_t now_ns);

#endif
