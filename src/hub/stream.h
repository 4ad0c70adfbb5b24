/* A prediction's event stream in Replicate's SSE format: events `output`, `logs`,
 * `error` and `done`, each with an `id:` line (the stream's id prefix and a sequence
 * number from 1), data as raw text
 * split into one `data:` line per line, `: keep-alive` comments every 15 s. A stream
 * keeps every event so that late subscribers (and Last-Event-ID) get a replay from
 * the start. Stream URLs carry a token, `<prediction id>.<32 hex of an HMAC>`, so
 * they need no credentials. */
#ifndef PN_HUB_STREAM_H
#define PN_HUB_STREAM_H

#include "core/buf.h"
#include "hub/hub.h"

/* A new stream whose event ids are `id_prefix` and a number: "" for a prediction's own
 * stream, another for a stream rebuilt from a stored row, so that a Last-Event-ID of
 * the stream it stands in for can be told from its own. `id_prefix` is borrowed (a
 * string literal). NULL when out of memory. */
pn_hub_stream *pn_hub_stream_new(struct event_base *base, const char *id_prefix);
/* Ends every subscriber's response and frees. */
void pn_hub_stream_free(pn_hub_stream *stream);
/* Appends one event in the stream's format to `out`: `id: PREFIXID`, `event: EVENT`, then one
 * `data:` line per line of `data` (raw text; CRLF, LF and a lone CR each end a line, as
 * an SSE reader splits them) and a blank line. `event` is one of ours, never outside
 * text. out's error (PN_ETOOBIG past its limit) when it does not fit. */
int pn_hub_stream_format(const char *id_prefix, size_t id, const char *event, const char *data,
                         pn_buf *out);
/* Where a reader that sent `last_event_id` (outside bytes; NULL or empty: none) resumes
 * a stream whose ids have `id_prefix`: `*after` is the sequence number of the last event
 * it saw (0: none, replay from the start). PN_ENOENT when the text is not one of such a
 * stream's ids (`id_prefix` and 1 to 19 digits, no leading zero). */
int pn_hub_stream_resume_after(const char *id_prefix, const char *last_event_id, size_t *after);
/* Appends an event; `data` is raw text (may hold newlines). */
int pn_hub_stream_publish(pn_hub_stream *stream, const char *event, const char *data);
/* Appends `done` with `done_data` ({} or {"reason":...}) and ends every response. */
void pn_hub_stream_finish(pn_hub_stream *stream, const char *done_data);
/* Bytes the stream's kept events take in memory: their text and their index. */
size_t pn_hub_stream_kept_bytes(const pn_hub_stream *stream);
/* Ceilings on streams, from the environment (else the defaults below):
 * subscribers of one stream (PINION_STREAM_SUBSCRIBERS) and of all the streams of one
 * account's predictions (PINION_STREAM_ACCOUNT_SUBSCRIBERS); bytes of history a
 * stream keeps for replays (PINION_STREAM_HISTORY_BYTES: past it the oldest events are
 * forgotten); unsent bytes a reader may hold (PINION_STREAM_READER_BUFFER: past it the
 * reader's connection is closed). */
typedef struct pn_hub_stream_limits {
  size_t subscribers;
  size_t account_subscribers;
  size_t history_bytes;
  size_t reader_buffer_bytes;
} pn_hub_stream_limits;
#define PN_HUB_STREAM_SUBSCRIBERS 64
#define PN_HUB_STREAM_ACCOUNT_SUBSCRIBERS 256
#define PN_HUB_STREAM_HISTORY_BYTES ((size_t)16 << 20)
#define PN_HUB_STREAM_READER_BUFFER ((size_t)4 << 20)
pn_hub_stream_limits pn_hub_stream_limits_now(void);

/* Starts an SSE response on `request` replaying the kept events after `last_event_id`
 * (NULL, or not one of this stream's ids: all), counted against `account` (the
 * prediction's owner; NULL: not counted).
 * A finished stream's response ends at once and counts against nothing. Nothing is
 * sent when a limit is reached: PN_EBUSY (this stream's subscribers) or PN_EAGAIN (the
 * account's); the caller answers. */
int pn_hub_stream_subscribe(pn_hub_stream *stream, struct evhttp_request *request,
                            const char *last_event_id, const char *account);

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
