/* The client's webhooks for a prediction: Standard Webhooks signing (as Replicate and
 * Svix do), the event filter, throttling of `output`/`logs` to one delivery per
 * 500 ms, and `completed` deliveries that are persisted (webhook_deliveries) and
 * retried 1, 2, 4, 8, 16 and 30 s apart, across restarts. Bodies are the prediction
 * object as GET shows it at the moment of sending. */
#ifndef PN_HUB_WEBHOOKS_H
#define PN_HUB_WEBHOOKS_H

#include "core/webhook_events.h"
#include "hub/hub.h"

/* The `webhook-signature` value for one delivery: "v1,<base64 HMAC-SHA256 of
 * id.timestamp.body>" under the key in `secret` ("whsec_<base64>"). *signature is
 * pn_malloc'd; the caller frees it. PN_EINVAL for a malformed secret. */
int pn_hub_webhook_sign(const char *secret, const char *id, long timestamp, const char *body,
                        size_t length, char **signature);

/* A prediction's webhook. The hook reads the prediction from the store when it sends. */
pn_hub_hook *pn_hub_hook_new(pn_hub *hub, const char *prediction_id, const char *url,
                             unsigned events);
/* An intermediate event (PN_WEBHOOK_START/OUTPUT/LOGS): sent once, when filtered in. */
void pn_hub_hook_notify(pn_hub_hook *hook, unsigned event);
/* The terminal delivery: persisted, then sent and retried on its own; frees the hook. */
void pn_hub_hook_complete(pn_hub_hook *hook);
/* Frees the hook without a terminal delivery (the hub is stopping). */
void pn_hub_hook_free(pn_hub_hook *hook);

/* Resumes `completed` deliveries that were pending when the hub stopped. With a shared
 * queue (hub replicas) each delivery is claimed by the hub that made it and renewed
 * while that hub sends it (pn_queue_claim); the hubs call this every few seconds too, and
 * resume the pending deliveries that no hub holds: a dead replica's. */
void pn_hub_deliveries_resume(pn_hub *hub);
/* Stops deliveries in flight (at exit); their rows stay pending and their claims are
 * given back. */
void pn_hub_deliveries_free(void);

#endif
