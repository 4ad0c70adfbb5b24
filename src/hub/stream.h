/* A prediction's event stream in Replicate's SSE format: events `output`, `logs`,
 * `error` and `done`, each with an `id:` line (a sequence number), data as raw text
 * split into one `data:` line per line, `: keep-alive` comments every 15 s. A stream
 * keeps every event so that late subscribers (and Last-Event-ID) get a replay from
 * the start. Stream URLs carry a token, `<prediction id>.<32 hex of an HMAC>`, so
 * they need no credentials. */
#ifndef PN_HUB_STREAM_H
#define PN_HUB_STREAM_H

#include "core/buf.h"
#include "hub/hub.h"

pn_hub_stream *pn_hub_stream_new(struct event_base *base);
/* Ends every subscriber's response and frees. */
void pn_hub_stream_free(pn_hub_stream *stream);
/* Appends one event in the stream's format to `out`: `id: ID`, `event: EVENT`, then one
 * `data:` line per line of `data` (raw text; CRLF, LF and a lone CR each end a line, as
 * an SSE reader splits them) and a blank line. `event` is one of ours, never outside
 * text. out's error (PN_ETOOBIG past its limit) when it does not fit. */
int pn_hub_stream_format(size_t id, const char *event, const char *data, pn_buf *out);
/* Appends an event; `data` is raw text (may hold newlines). */
int pn_hub_stream_publish(pn_hub_stream *stream, const char *event, const char *data);
/* Appends `done` with `done_data` ({} or {"reason":...}) and ends every response. */
void pn_hub_stream_finish(pn_hub_stream *stream, const char *done_data);
/* Starts an SSE response on `request` replaying events after `last_event_id` (NULL:
 * all). A finished stream's response ends at once. */
int pn_hub_stream_subscribe(pn_hub_stream *stream, struct evhttp_request *request,
                            const char *last_event_id);

/* The data of an `output` event for one output value: strings as they are, anything
 * else as JSON. pn_malloc'd. */
char *pn_hub_stream_output_text(const json_t *value);
/* The stream token of a prediction into `out` (60 bytes). */
int pn_hub_stream_token(pn_hub *hub, const char *prediction_id, char out[60]);
/* Whether `token` has a stream token's shape (it still needs checking). */
int pn_hub_stream_token_is_ours(const char *token);
/* The prediction id of a valid token into `id` (27 bytes); PN_EINVAL otherwise. */
int pn_hub_stream_token_check(pn_hub *hub, const char *token, char id[27]);

#endif
