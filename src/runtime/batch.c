/* Adaptive batching's queue and its rule. See batch.h.
 *
 * The queue is an array in arrival order. It holds at most the runner's slot count
 * (a few dozen predictions), so taking from the front and removing a canceled one
 * move memory rather than keep a ring: simpler, and far below what a prediction costs. */
#include "runtime/batch.h"

#include "core/alloc.h"
#include "core/error.h"

#include <math.h>
#include <string.h>

int pn_batch_policy_read(const json_t *signature, pn_batch_policy *policy, int *enabled,
                         char **error) {
  *enabled = 0;
  *error = NULL;
  const json_t *batch = json_object_get(signature, "batch");
  if (!batch || json_is_null(batch))
    return 0;
  const json_t *size = json_object_get(batch, "max_size");
  const json_t *wait = json_object_get(batch, "max_wait_ms");
  if (!json_is_object(batch) || !json_is_integer(size) || json_integer_value(size) < 1 ||
      json_integer_value(size) > PN_BATCH_SIZE_MAX) {
    *error = pn_strfmt("the predictor's @cog.batch max_size must be an integer from 1 to %d",
                       PN_BATCH_SIZE_MAX);
    return PN_EINVAL;
  }
  if (!json_is_number(wait) || !isfinite(json_number_value(wait)) ||
      json_number_value(wait) < 0 || json_number_value(wait) > PN_BATCH_WAIT_MS_MAX) {
    *error = pn_strfmt("the predictor's @cog.batch max_wait_ms must be a number of "
                       "milliseconds from 0 to %d",
                       PN_BATCH_WAIT_MS_MAX);
    return PN_EINVAL;
  }
  policy->max_size = (int)json_integer_value(size);
  policy->max_wait_ms = json_number_value(wait);
  *enabled = 1;
  return 0;
}

int pn_batch_queue_init(pn_batch_queue *queue, size_t capacity) {
  memset(queue, 0, sizeof *queue);
  queue->entries = pn_calloc(capacity ? capacity : 1, sizeof *queue->entries);
  if (!queue->entries)
    return PN_ENOMEM;
  queue->capacity = capacity;
  return 0;
}

void pn_batch_queue_free(pn_batch_queue *queue) {
  pn_free(queue->entries);
  memset(queue, 0, sizeof *queue);
}

int pn_batch_queue_push(pn_batch_queue *queue, pn_prediction *prediction, uint64_t now_ns) {
  if (queue->count == queue->capacity)
    return PN_EBUSY;
  queue->entries[queue->count++] = (pn_batch_entry){prediction, now_ns};
  return 0;
}

int pn_batch_queue_remove(pn_batch_queue *queue, const pn_prediction *prediction) {
  for (size_t i = 0; i < queue->count; i++) {
    if (queue->entries[i].prediction == prediction) {
      memmove(queue->entries + i, queue->entries + i + 1,
              (queue->count - i - 1) * sizeof *queue->entries);
      queue->count--;
      return 1;
    }
  }
  return 0;
}

size_t pn_batch_queue_take(pn_batch_queue *queue, size_t max, pn_batch_entry *out) {
  size_t taken = queue->count < max ? queue->count : max;
  memcpy(out, queue->entries, taken * sizeof *out);
  memmove(queue->entries, queue->entries + taken, (queue->count - taken) * sizeof *queue->entries);
  queue->count -= taken;
  return taken;
}

void pn_batch_queue_unshift(pn_batch_queue *queue, pn_batch_entry *entries, size_t count) {
  if (count > queue->capacity - queue->count)
    count = queue->capacity - queue->count; /* cannot happen: they were just taken */
  memmove(queue->entries + count, queue->entries, queue->count * sizeof *queue->entries);
  memcpy(queue->entries, entries, count * sizeof *entries);
  queue->count += count;
}

int64_t pn_batch_due_in_ns(const pn_batch_queue *queue, const pn_batch_policy *policy,
                           uint64_t now_ns) {
  if (queue->count == 0)
    return -1;
  if (queue->count >= (size_t)policy->max_size)
    return 0;
  uint64_t wait_ns = (uint64_t)(policy->max_wait_ms * 1e6);
  uint64_t waited = now_ns > queue->entries[0].queued_ns ? now_ns - queue->entries[0].queued_ns : 0;
  return waited >= wait_ns ? 0 : (int64_t)(wait_ns - waited);
}
