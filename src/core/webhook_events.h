/* webhook_events_filter: the four events a prediction's webhook can be sent for, as Cog
 * and Replicate name them, and the request field that picks some of them. Shared by
 * `pinion serve` (serve/webhook.c) and the hub (hub/webhooks.c). */
#ifndef PN_CORE_WEBHOOK_EVENTS_H
#define PN_CORE_WEBHOOK_EVENTS_H

#include <jansson.h>

enum pn_webhook_event {
  PN_WEBHOOK_START = 1,
  PN_WEBHOOK_OUTPUT = 2,
  PN_WEBHOOK_LOGS = 4,
  PN_WEBHOOK_COMPLETED = 8,
  PN_WEBHOOK_ALL = 15,
};

/* Reads a webhook_events_filter value into a PN_WEBHOOK_* mask (NULL or null: all four).
 * PN_EINVAL for anything but a list of the four names; then, when `error` is not NULL,
 * *error (pn_malloc'd) names the bad entry. */
int pn_webhook_events_parse(const json_t *filter, unsigned *mask, char **error);

/* The mask as a webhook_events_filter list, in the canonical order (a new reference). */
json_t *pn_webhook_events_json(unsigned mask);

#endif
