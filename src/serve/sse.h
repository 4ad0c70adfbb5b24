/* Server-sent events for one prediction (spec §4.10): subscribers get the events
 * kept so far (the last COG_STREAM_HISTORY_CAPACITY, 1024 by default), then new ones
 * as they happen, each as `event: NAME` + `data: JSON`; a `: keep-alive` comment every
 * 15 s; the stream ends after `completed`. A subscriber that falls too far behind gets
 * an `error` event and is dropped rather than buffered without bound. */
#ifndef PN_SERVE_SSE_H
#define PN_SERVE_SSE_H

#include "core/buf.h"

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

typedef struct pn_sse pn_sse;

/* Called when the last subscriber went away before the stream ended. */
typedef void (*pn_sse_empty_fn)(pn_sse *sse, void *arg);

/* `history` < 0 reads COG_STREAM_HISTORY_CAPACITY (default 1024); 0 keeps none. */
pn_sse *pn_sse_new(struct event_base *base, long history, pn_sse_empty_fn on_empty, void *arg);
/* Ends every stream and frees. */
void pn_sse_free(pn_sse *sse);
/* Starts a 200 text/event-stream reply on `request` and replays the history.
 * PN_EBUSY past 1024 subscribers (the caller answers 429). */
int pn_sse_subscribe(pn_sse *sse, struct evhttp_request *request);
/* Appends one event as subscribers get it to `out`: `event: EVENT`, `data: ` and
 * `data` as compact JSON on one line (JSON escapes every line break), a blank line.
 * `event` is one of ours, never outside text. A negative PN_E* when it does not fit. */
int pn_sse_format(const char *event, const json_t *data, pn_buf *out);
/* Sends an event to every subscriber and keeps it in the history. */
void pn_sse_publish(pn_sse *sse, const char *event, const json_t *data);
/* Ends every subscriber's stream (after the last event). */
void pn_sse_end(pn_sse *sse);
size_t pn_sse_subscriber_count(const pn_sse *sse);

#endif
