/* Server-sent event streams. See sse.h. Each subscriber is an evhttp request in
 * chunked mode; its connection's close callback removes it. */
#include "serve/sse.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/env.h"
#include "core/error.h"
#include "core/json.h"
#include "core/listen.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUBSCRIBERS 1024
#define LAG_LIMIT (8u * 1024u * 1024u) /* bytes queued for one slow reader */
#define KEEPALIVE_SECONDS 15

typedef struct subscriber {
  pn_sse *sse;
  struct evhttp_request *request;
  struct subscriber *next;
} subscriber;

struct pn_sse {
  struct event_base *base;
  char **history; /* formatted events, a ring */
  size_t capacity, start, count, dropped;
  subscriber *subscribers;
  size_t subscriber_count;
  struct event *keepalive;
  pn_sse_empty_fn on_empty;
  void *arg;
  int ended;
};

static void remove_subscriber(pn_sse *sse, subscriber *gone) {
  for (subscriber **at = &sse->subscribers; *at; at = &(*at)->next) {
    if (*at == gone) {
      *at = gone->next;
      sse->subscriber_count--;
      pn_free(gone);
      return;
    }
  }
}

static void on_connection_closed(struct evhttp_connection *connection, void *arg) {
  subscriber *reader = arg;
  pn_sse *sse = reader->sse;
  struct evhttp_request *request = reader->request;
  remove_subscriber(sse, reader);
  pn_listen_release_request(request);
  if (sse->subscriber_count == 0 && !sse->ended && sse->on_empty)
    sse->on_empty(sse, sse->arg);
}

static void end_reply(subscriber *reader) {
  struct evhttp_connection *connection = evhttp_request_get_connection(reader->request);
  if (connection)
    evhttp_connection_set_closecb(connection, NULL, NULL);
  evhttp_send_reply_end(reader->request);
}

static size_t queued_bytes(struct evhttp_request *request) {
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  struct bufferevent *events = connection ? evhttp_connection_get_bufferevent(connection) : NULL;
  return events ? evbuffer_get_length(bufferevent_get_output(events)) : 0;
}

static void send_text(subscriber *reader, const char *text, size_t length) {
  struct evbuffer *chunk = evbuffer_new();
  if (!chunk)
    return;
  evbuffer_add(chunk, text, length);
  evhttp_send_reply_chunk(reader->request, chunk);
  evbuffer_free(chunk);
}

static void drop_lagging(pn_sse *sse, subscriber *reader, size_t skipped) {
  char text[160];
  int length = snprintf(text, sizeof text,
                        "event: error\ndata: {\"error\":\"SSE stream lagged; events were "
                        "dropped\",\"skipped\":%zu}\n\n",
                        skipped);
  send_text(reader, text, (size_t)length);
  end_reply(reader);
  remove_subscriber(sse, reader);
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg) {
  pn_sse *sse = arg;
  for (subscriber *reader = sse->subscribers; reader; reader = reader->next)
    send_text(reader, ": keep-alive\n\n", 14);
}

pn_sse *pn_sse_new(struct event_base *base, long history, pn_sse_empty_fn on_empty, void *arg) {
  pn_sse *sse = pn_calloc(1, sizeof *sse);
  if (!sse)
    return NULL;
  static long configured = -1; /* read once: a bad value is reported once */
  if (configured < 0)
    configured = (long)pn_env_number("COG_STREAM_HISTORY_CAPACITY", "events", 0, 10000000, 1024);
  if (history < 0)
    history = configured;
  sse->base = base;
  sse->capacity = (size_t)history;
  sse->on_empty = on_empty;
  sse->arg = arg;
  sse->history = sse->capacity ? pn_calloc(sse->capacity, sizeof *sse->history) : NULL;
  sse->keepalive = event_new(base, -1, EV_PERSIST, on_keepalive, sse);
  if ((sse->capacity && !sse->history) || !sse->keepalive) {
    pn_sse_free(sse);
    return NULL;
  }
  struct timeval interval = {KEEPALIVE_SECONDS, 0};
  event_add(sse->keepalive, &interval);
  return sse;
}

void pn_sse_end(pn_sse *sse) {
  sse->ended = 1;
  while (sse->subscribers) {
    subscriber *reader = sse->subscribers;
    end_reply(reader);
    remove_subscriber(sse, reader);
  }
}

void pn_sse_free(pn_sse *sse) {
  if (!sse)
    return;
  pn_sse_end(sse);
  for (size_t i = 0; i < sse->count; i++)
    pn_free(sse->history[(sse->start + i) % sse->capacity]);
  pn_free(sse->history);
  if (sse->keepalive)
    event_free(sse->keepalive);
  pn_free(sse);
}

int pn_sse_subscribe(pn_sse *sse, struct evhttp_request *request) {
  if (sse->subscriber_count >= MAX_SUBSCRIBERS)
    return PN_EBUSY;
  subscriber *reader = pn_calloc(1, sizeof *reader);
  if (!reader)
    return PN_ENOMEM;
  reader->sse = sse;
  reader->request = request;
  struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
  evhttp_add_header(headers, "Content-Type", "text/event-stream");
  evhttp_add_header(headers, "Cache-Control", "no-cache");
  evhttp_add_header(headers, "X-Accel-Buffering", "no");
  evhttp_send_reply_start(request, 200, "OK");
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  if (connection)
    evhttp_connection_set_closecb(connection, on_connection_closed, reader);
  if (sse->dropped > 0) {
    char text[160];
    int length = snprintf(text, sizeof text,
                          "event: error\ndata: {\"error\":\"SSE stream replay truncated; events "
                          "were dropped\",\"skipped\":%zu}\n\n",
                          sse->dropped);
    send_text(reader, text, (size_t)length);
    end_reply(reader);
    pn_free(reader);
    return 0;
  }
  for (size_t i = 0; i < sse->count; i++) {
    const char *text = sse->history[(sse->start + i) % sse->capacity];
    send_text(reader, text, strlen(text));
  }
  if (sse->ended) {
    end_reply(reader);
    pn_free(reader);
    return 0;
  }
  reader->next = sse->subscribers;
  sse->subscribers = reader;
  sse->subscriber_count++;
  return 0;
}

int pn_sse_format(const char *event, const json_t *data, pn_buf *out) {
  int rc = pn_buf_appendf(out, "event: %s\ndata: ", event);
  if (rc == 0)
    rc = pn_json_write(data, PN_JSON_SERDE_NUMBERS, out);
  return rc < 0 ? rc : pn_buf_append_str(out, "\n\n");
}

void pn_sse_publish(pn_sse *sse, const char *event, const json_t *data) {
  pn_buf text;
  pn_buf_init(&text, PN_JSON_TEXT_MAX);
  if (pn_sse_format(event, data, &text) < 0) {
    pn_buf_free(&text);
    return;
  }
  subscriber *reader = sse->subscribers;
  while (reader) {
    subscriber *next = reader->next;
    if (queued_bytes(reader->request) > LAG_LIMIT)
      drop_lagging(sse, reader, 1);
    else
      send_text(reader, text.data, text.length);
    reader = next;
  }
  if (sse->capacity == 0) {
    sse->dropped++;
  } else if (sse->count == sse->capacity) {
    pn_free(sse->history[sse->start]);
    sse->history[sse->start] = pn_buf_take(&text);
    sse->start = (sse->start + 1) % sse->capacity;
    sse->dropped++;
  } else {
    sse->history[(sse->start + sse->count) % sse->capacity] = pn_buf_take(&text);
    sse->count++;
  }
  pn_buf_free(&text);
}

size_t pn_sse_subscriber_count(const pn_sse *sse) { return sse->subscriber_count; }
