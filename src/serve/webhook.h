/* Webhooks for one prediction, as Cog sends them (spec §5): POST of the prediction's
 * snapshot on `start`, `output`, `logs` and `completed`, filtered by
 * webhook_events_filter. `logs` go at most once per throttle interval
 * (COG_THROTTLE_RESPONSE_INTERVAL, 0.5 s), coalesced into the newest snapshot and never
 * lost at the end (a late one still says `processing`); `start`, `output` and
 * `completed` are never throttled, as in Cog; `completed` is retried
 * with backoff on connection errors and 429/500/502/503/504. A webhook that cannot be
 * delivered never fails the prediction. */
#ifndef PN_SERVE_WEBHOOK_H
#define PN_SERVE_WEBHOOK_H

#include "core/http_client.h"
#include "core/webhook_events.h"

#include <event2/event.h>
#include <jansson.h>

/* The prediction's current snapshot (a new reference). */
typedef json_t *(*pn_webhook_snapshot_fn)(void *arg);

typedef struct pn_webhook pn_webhook;

typedef struct pn_webhook_options {
  const char *url;
  unsigned events;           /* PN_WEBHOOK_* mask */
  double throttle_seconds;   /* < 0: COG_THROTTLE_RESPONSE_INTERVAL, else 0.5 */
  const char *traceparent;   /* copied from the creating request, or NULL */
  const char *tracestate;
} pn_webhook_options;

pn_webhook *pn_webhook_new(pn_http_client *client, struct event_base *base,
                           const pn_webhook_options *options, pn_webhook_snapshot_fn snapshot,
                           void *arg);
/* The prediction started, produced output or wrote logs. */
void pn_webhook_notify(pn_webhook *webhook, enum pn_webhook_event event);
/* The prediction ended with `final` (borrowed). Flushes what is pending, sends
 * `completed` with retries, and frees the webhook when delivery is over: the caller
 * must not use it afterwards. */
void pn_webhook_complete(pn_webhook *webhook, const json_t *final);
/* Webhooks still delivering (for a graceful shutdown to wait on). */
size_t pn_webhook_outstanding(void);
/* Frees every webhook still delivering, at exit after the grace period; call it
 * before freeing the HTTP client they send through. */
void pn_webhook_free_all(void);

#endif
