/* The director's reports to the hub: each prediction's events (started, the model's
 * webhooks, failed) go to the hub's internal API in the order they happened, one at a
 * time per prediction, with the director's credential. A report that does not get
 * through (the hub unreachable, restarting, its database away: no answer, 429 or 5xx)
 * is sent again after a pause that doubles up to RETRY_MAX_SECONDS, for as long as the
 * director holds the prediction (the queue's lease is renewed meanwhile, so nothing is
 * lost while the hub is away). The terminal report's answer says what the hub stored,
 * which is when the director may acknowledge the queue's message. See
 * docs/internals/director.md. */
#ifndef PN_DIRECTOR_RELAY_H
#define PN_DIRECTOR_RELAY_H

#include "core/http_client.h"

#include <event2/event.h>
#include <jansson.h>

typedef struct pn_relay pn_relay;

/* A terminal report was answered. `status` (borrowed) is the prediction's status as the
 * hub stored it ("canceled" when a cancel came first), or NULL when the hub has no such
 * prediction (404: deleted); either way the prediction is over for the director. */
typedef void (*pn_relay_stored_fn)(void *arg, const char *id, const char *status);
/* The hub refused a report on `id` with 409: the lease the report carried no longer
 * holds the message (another director took it over). What was still to send for `id`
 * is dropped; nothing more of it may be reported or acknowledged. */
typedef void (*pn_relay_refused_fn)(void *arg, const char *id);

/* `hub_url`: the hub's internal listener (http://HOST:PORT); `credential`: the
 * director's (copied). */
int pn_relay_new(struct event_base *base, pn_http_client *client, const char *hub_url,
                 const char *credential, pn_relay_stored_fn stored, pn_relay_refused_fn refused,
                 void *arg, pn_relay **relay);
/* Drops what is still to send (without callbacks) and frees. */
void pn_relay_free(pn_relay *relay);

/* Queues `report` (a reference is taken) for prediction `id`, after its earlier ones.
 * `terminal`: the last one, sent until the hub answers, then `stored` runs. Intermediate
 * reports beyond RELAY_BACKLOG_MAX waiting for one prediction replace the newest
 * waiting one (each carries the whole prediction so far). */
int pn_relay_report(pn_relay *relay, const char *id, json_t *report, int terminal);
/* Drops what is still to send for `id`, the report in flight included (the hub concluded
 * it otherwise, or another director took it over). */
void pn_relay_forget(pn_relay *relay, const char *id);
/* Predictions with reports still to send. */
size_t pn_relay_pending(const pn_relay *relay);
/* Reports sent again after a failure, since the start. */
unsigned long pn_relay_retries(const pn_relay *relay);

/* Stores an output file the model server uploaded through the director: PUT of `length`
 * bytes (borrowed until `done`) to the hub's upload route for `name`; `done` gets the
 * hub's answer (201 with the file's URL in Location). */
int pn_relay_upload(pn_relay *relay, const char *name, const char *content_type,
                    const void *body, size_t length, pn_http_done_fn done, void *arg,
                    pn_http_transfer **transfer);

#endif
