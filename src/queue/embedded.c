/* The embedded queue: one hub on one machine. A pushed message goes to the consumer in
 * the same process at once, from inside pn_queue_push (the hub's scheduler keeps its own
 * FIFO per target), so nothing is leased, acknowledged or reclaimed: the process that
 * queued a prediction is the one that runs it, and a restart is the hub's to recover
 * (prediction_life.c's restore). See docs/internals/queue.md. */
#include "queue/engine.h"

#include "core/alloc.h"
#include "core/error.h"

static void embedded_free(pn_queue *queue) { pn_free(queue); }

static int embedded_push(pn_queue *queue, const char *key, const char *id, int capacity,
                         const json_t *body) {
  queue->consumer.take(queue->consumer.arg, id, body);
  return 0;
}

static int embedded_done(pn_queue *queue, const char *id) { return 0; }

static int embedded_holds(const pn_queue *queue, const char *id) { return 1; }

static void embedded_stop_taking(pn_queue *queue) {}

static int embedded_release(pn_queue *queue, const char *id) { return PN_EUNSUPPORTED; }

static const pn_queue_engine embedded_engine = {
    .name = "embedded",
    .shared = 0,
    .free = embedded_free,
    .push = embedded_push,
    .done = embedded_done,
    .holds = embedded_holds,
    .stop_taking = embedded_stop_taking,
    .release = embedded_release,
};

int pn_queue_embedded_open(pn_queue **queue) {
  *queue = pn_calloc(1, sizeof **queue);
  if (!*queue)
    return PN_ENOMEM;
  (*queue)->engine = &embedded_engine;
  return 0;
}
