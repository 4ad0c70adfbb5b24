/* SSE streams of predictions. See stream.h. Each subscriber is an evhttp request in
 * chunked mode whose connection close callback removes it. */
#include "hub/stream.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/json.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEPALIVE_SECONDS 15

typedef struct subscriber {
  pn_hub_stream *stream;
  struct evhttp_request *request;
  struct subscriber *next;
} subscriber;

struct pn_hub_stream {
  char **events; /* formatted, each ending in a blank line */
  size_t count, capacity;
  subscriber *subscribers;
  struct event *keepalive;
  int finished;
};

static void send_text(struct evhttp_request *request, const char *text, size_t length) {
  struct evbuffer *chunk = evbuffer_new();
  if (!chunk)
    return;
  evbuffer_add(chunk, text, length);
  evhttp_send_reply_chunk(request, chunk);
  evbuffer_free(chunk);
}

static void end_reply(struct evhttp_request *request) {
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  if (connection)
    evhttp_connection_set_closecb(connection, NULL, NULL);
  evhttp_send_reply_end(request);
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg) {
  pn_hub_stream *stream = arg;
  for (subscriber *reader = stream->subscribers; reader; reader = reader->next)
    send_text(reader->request, ": keep-alive\n\n", 14);
}

pn_hub_stream *pn_hub_stream_new(struct event_base *base) {
  pn_hub_stream *stream = pn_calloc(1, sizeof *stream);
  if (!stream)
    return NULL;
  stream->keepalive = event_new(base, -1, EV_PERSIST, on_keepalive, stream);
  return stream;
}

static void end_all(pn_hub_stream *stream) {
  while (stream->subscribers) {
    subscriber *reader = stream->subscribers;
    stream->subscribers = reader->next;
    end_reply(reader->request);
    pn_free(reader);
  }
  if (stream->keepalive)
    event_del(stream->keepalive);
}

void pn_hub_stream_free(pn_hub_stream *stream) {
  if (!stream)
    return;
  end_all(stream);
  for (size_t i = 0; i < stream->count; i++)
    pn_free(stream->events[i]);
  pn_free(stream->events);
  if (stream->keepalive)
    event_free(stream->keepalive);
  pn_free(stream);
}

int pn_hub_stream_format(size_t id, const char *event, const char *data, pn_buf *out) {
  int rc = pn_buf_appendf(out, "id: %zu\nevent: %s\n", id, event);
  /* Readers end a line at CRLF, LF or a lone CR: each of them starts a new data line,
   * so that no text can end the data early and start a field of its own. */
  const char *line = data;
  while (rc == 0) {
    size_t length = strcspn(line, "\r\n");
    if ((rc = pn_buf_append_str(out, "data: ")) < 0 || (rc = pn_buf_append(out, line, length)) < 0 ||
        (rc = pn_buf_append_str(out, "\n")) < 0)
      break;
    if (!line[length])
      return pn_buf_append_str(out, "\n");
    line += length + (line[length] == '\r' && line[length + 1] == '\n' ? 2 : 1);
  }
  return rc;
}

int pn_hub_stream_publish(pn_hub_stream *stream, const char *event, const char *data) {
  if (stream->finished)
    return PN_ESTATE;
  if (stream->count == stream->capacity) {
    size_t capacity = stream->capacity ? stream->capacity * 2 : 16;
    char **events = pn_realloc(stream->events, capacity * sizeof *events);
    if (!events)
      return PN_ENOMEM;
    stream->events = events;
    stream->capacity = capacity;
  }
  pn_buf text;
  pn_buf_init(&text, (size_t)1 << 30);
  if (pn_hub_stream_format(stream->count + 1, event, data, &text) < 0) {
    pn_buf_free(&text);
    return PN_ENOMEM;
  }
  size_t length = text.length;
  char *formatted = pn_buf_take(&text);
  if (!formatted)
    return PN_ENOMEM;
  stream->events[stream->count++] = formatted;
  for (subscriber *reader = stream->subscribers; reader; reader = reader->next)
    send_text(reader->request, formatted, length);
  return 0;
}

void pn_hub_stream_finish(pn_hub_stream *stream, const char *done_data) {
  if (stream->finished)
    return;
  pn_hub_stream_publish(stream, "done", done_data);
  stream->finished = 1;
  end_all(stream);
}

static void on_connection_closed(struct evhttp_connection *connection, void *arg) {
  subscriber *gone = arg;
  pn_hub_stream *stream = gone->stream;
  for (subscriber **at = &stream->subscribers; *at; at = &(*at)->next) {
    if (*at == gone) {
      *at = gone->next;
      break;
    }
  }
  pn_free(gone);
}

int pn_hub_stream_subscribe(pn_hub_stream *stream, struct evhttp_request *request,
                            const char *last_event_id) {
  struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
  evhttp_add_header(headers, "Content-Type", "text/event-stream");
  evhttp_add_header(headers, "Cache-Control", "no-cache");
  evhttp_add_header(headers, "X-Accel-Buffering", "no");
  evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
  evhttp_send_reply_start(request, 200, "OK");
  size_t start = last_event_id ? (size_t)strtoul(last_event_id, NULL, 10) : 0;
  for (size_t i = start; i < stream->count; i++)
    send_text(request, stream->events[i], strlen(stream->events[i]));
  if (stream->finished) {
    evhttp_send_reply_end(request);
    return 0;
  }
  subscriber *reader = pn_calloc(1, sizeof *reader);
  if (!reader) {
    evhttp_send_reply_end(request);
    return PN_ENOMEM;
  }
  reader->stream = stream;
  reader->request = request;
  reader->next = stream->subscribers;
  stream->subscribers = reader;
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  if (connection)
    evhttp_connection_set_closecb(connection, on_connection_closed, reader);
  if (stream->keepalive && !event_pending(stream->keepalive, EV_TIMEOUT, NULL)) {
    struct timeval interval = {KEEPALIVE_SECONDS, 0};
    event_add(stream->keepalive, &interval);
  }
  return 0;
}

char *pn_hub_stream_output_text(const json_t *value) {
  if (json_is_string(value))
    return pn_strdup(json_string_value(value));
  return pn_json_dump(value, PN_JSON_COMPACT);
}

static int token_mac(pn_hub *hub, const char *prediction_id, char hex[33]) {
  unsigned char mac[32];
  char *message = pn_strfmt("stream %s", prediction_id);
  int rc = message ? pn_crypto_hmac_sha256(hub->secret, sizeof hub->secret, message,
                                           strlen(message), mac)
                   : PN_ENOMEM;
  pn_free(message);
  if (rc < 0)
    return rc;
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    hex[2 * i] = digits[mac[i] >> 4];
    hex[2 * i + 1] = digits[mac[i] & 15];
  }
  hex[32] = '\0';
  return 0;
}

int pn_hub_stream_token(pn_hub *hub, const char *prediction_id, char out[60]) {
  char hex[33];
  int rc = token_mac(hub, prediction_id, hex);
  if (rc == 0)
    snprintf(out, 60, "%s.%s", prediction_id, hex);
  return rc;
}

int pn_hub_stream_token_is_ours(const char *token) {
  const char *dot = strchr(token, '.');
  return dot && dot - token == 26 && strlen(dot + 1) == 32;
}

int pn_hub_stream_token_check(pn_hub *hub, const char *token, char id[27]) {
  if (!pn_hub_stream_token_is_ours(token))
    return PN_EINVAL;
  memcpy(id, token, 26);
  id[26] = '\0';
  char hex[33];
  if (token_mac(hub, id, hex) < 0)
    return PN_EINVAL;
  unsigned char difference = 0;
  for (int i = 0; i < 32; i++)
    difference |= (unsigned char)(hex[i] ^ token[27 + i]);
  return difference == 0 ? 0 : PN_EINVAL;
}
