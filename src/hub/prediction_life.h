/* A prediction's life in the hub: created into the store and the queue, taken by a
 * consumer, running, terminal, every change of its row written by one compare-and-set
 * (prediction_life.c). The API's handlers (api_predictions.c) build and read rows;
 * they move one only through these. The rest of this module's surface is in hub.h,
 * where server.c and api_director.c find it: pn_hub_queue_consumer,
 * pn_hub_director_report, pn_hub_predictions_restore,
 * pn_hub_predictions_sweep_orphans and pn_hub_predictions_free. See
 * docs/internals/hub.md. */
#ifndef PN_HUB_PREDICTION_LIFE_H
#define PN_HUB_PREDICTION_LIFE_H

#include "hub/hub.h"

/* Stores a new prediction `row` (status `starting`), gives it a live entry
 * (hub/prediction_live.h) and queues it with `request`, the instance's request body
 * (the real inputs, which the row holds redacted). Returns 0 once it is stored, also
 * when queueing failed otherwise than below (the row is then concluded `failed`,
 * saying why); the store's failure, with nothing stored; or PN_ECLOSED with *unqueued
 * set when the shared queue is unreachable: nothing is kept then, so that the client's
 * retry is the only copy. `row` stays the caller's. */
int pn_hub_life_create(pn_hub *hub, json_t *row, const json_t *request, int *unqueued);

/* Cancels the prediction of `row` (the caller's, read from the store, not terminal):
 * what runs it is told to stop and the row is concluded `canceled`, with `why` in its
 * hub logs unless NULL. `row` becomes the stored terminal row, also when another
 * process concluded it first. Returns 0 or the store's failure. */
int pn_hub_life_cancel(pn_hub *hub, json_t *row, const char *why);

#endif
