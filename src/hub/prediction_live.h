/* A prediction's presence in this hub process while it is in flight, and for a while
 * after: its SSE stream, its client webhook, the create requests held by `Prefer: wait`
 * and its Cancel-After timer, found by the prediction's id. Finished entries keep only
 * their stream, for readers that reconnect, until it expires or the caps on kept
 * streams evict it. The store row stays the truth: an entry only publishes what the
 * row says (prediction_life.c moves the row, then tells the entry). See
 * docs/internals/hub.md. */
#ifndef PN_HUB_PREDICTION_LIVE_H
#define PN_HUB_PREDICTION_LIVE_H

#include "hub/hub.h"

#include <stdint.h>

/* The longest a `Prefer: wait` holds a create's reply, in seconds (platform spec §2.2). */
#define PN_HUB_WAIT_MAX_SECONDS 60

typedef struct pn_hub_live pn_hub_live;

/* The entry of prediction `id`, in flight or finished, or NULL. */
pn_hub_live *pn_hub_live_find(pn_hub *hub, const char *id);
/* A new entry, in flight, for `row` (its webhook and filter are read from it), or NULL
 * when out of memory. The caller rules out that `row`'s id has one already. The hub
 * owns it until pn_hub_live_free or pn_hub_lives_free. */
pn_hub_live *pn_hub_live_add(pn_hub *hub, const json_t *row);
/* Frees an entry now, answering the requests it holds 503. */
void pn_hub_live_free(pn_hub_live *item);
/* Frees every entry (the hub stops). */
void pn_hub_lives_free(pn_hub *hub);
/* Calls `each` with the id of every entry in flight, from a copy of their ids taken
 * first, so that `each` may finish or free entries. PN_ENOMEM when the copy fails
 * (nothing is called). */
int pn_hub_lives_each_in_flight(pn_hub *hub, void (*each)(pn_hub *hub, const char *id));
/* Whether the entry has finished: only its stream is kept. */
int pn_hub_live_finished(const pn_hub_live *item);
/* Cancel-After: `fn` runs with the prediction's id at `deadline_ns` (realtime), unless
 * the entry finished or was freed first. */
typedef void (*pn_hub_live_deadline_fn)(pn_hub *hub, const char *id);
void pn_hub_live_arm_deadline(pn_hub_live *item, uint64_t deadline_ns, pn_hub_live_deadline_fn fn);

/* Publishes on the entry's stream what `row` has that it has not sent yet: new logs,
 * and (for a streaming output) new output items. */
void pn_hub_live_stream_changes(pn_hub_live *item, const json_t *row);
/* Sends the client webhook's intermediate `event` (PN_WEBHOOK_START, _OUTPUT, _LOGS). */
void pn_hub_live_notify(pn_hub_live *item, unsigned event);
/* Drops the client webhook without sending anything more: another process runs the
 * prediction now and sends them. */
void pn_hub_live_drop_hook(pn_hub_live *item);
/* Ends an entry in flight with the terminal `row`: the stream gets the rest and its
 * end, held requests their reply, and the webhook `completed` when `completed` is set
 * (this process stored the terminal state; else the process that did sends it). The
 * entry is then kept, finished, for its stream. */
void pn_hub_live_finish(pn_hub_live *item, const json_t *row, int completed);

/* Holds `request` (a create's) until the entry finishes or `seconds` pass, then answers
 * it as pn_hub_live_reply_created does; a client that leaves is forgotten. PN_ENOMEM,
 * with nothing held, when out of memory: the caller answers at once. */
int pn_hub_live_hold(pn_hub_live *item, struct evhttp_request *request, int seconds);
/* Answers a create 201 with `row`'s public object: its status `starting` when
 * `force_starting`, Preference-Applied when `wait_seconds` > 0, and Location. */
void pn_hub_live_reply_created(pn_hub *hub, struct evhttp_request *request, const json_t *row,
                               int force_starting, int wait_seconds);

/* The stream the hub keeps for prediction `id` (owned by its entry), or NULL. */
pn_hub_stream *pn_hub_live_stream(pn_hub *hub, const char *id);
/* Answers a reader of a stream the hub does not keep (never here, expired or evicted)
 * with a stream made for it: one rebuilt from `row`, resumed after `last_event_id` when
 * that is one of the rebuilt stream's ids, else (an id of the stream that went) one that
 * says so in an `error` event. PN_ENOMEM, with nothing answered, when out of memory. */
int pn_hub_live_subscribe_rebuilt(pn_hub *hub, struct evhttp_request *request, const json_t *row,
                                  const char *last_event_id);

#endif
