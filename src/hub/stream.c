/* SSE streams of predictions. See stream.h. Each subscriber is an evhttp request in
 * chunked mode whose connection close callback removes it.
 *
 * Limits (stream.h): subscribers per stream and per account are counted here (the
 * account table is small: one row per account with a subscriber); the history keeps
 * the newest events within its byte ceiling; and a reader whose connection holds more
 * unsent output than its ceiling and has taken none of it for two ticks of a one-second
 * watch timer is cut off, so that a client that stops reading cannot make the hub
 * buffer a prediction's whole output for it. Progress, not the amount alone, decides:
 * one instance update may publish megabytes at once, before the loop had a chance to
 * write any of it to even the fastest reader. And ticks, not wall time, count: libevent
 * runs the writes of an iteration before its timers, so a reader always had its chance
 * to take bytes before a tick judges it, even after the loop was held up. */
#include "hub/stream.h"

#include "core/alloc.h"
#include "core/listen.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/env.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEPALIVE_SECONDS 15
#define STALLED_TICKS_MAX 2

typedef struct account_count {
  char *account;
  size_t subscribers;
  struct account_count *next;
} account_count;

typedef struct subscriber {
  pn_hub_stream *stream;
  struct evhttp_request *request;
  account_count *account;
  struct evbuffer_cb_entry *progress; /* on its connection's output buffer */
  int progressed;                     /* it drained some bytes since the last watch tick */
  int stalled_ticks;                  /* ticks in a row over the ceiling without progress */
  struct subscriber *next;
} subscriber;

struct pn_hub_stream {
  char **events;   /* formatted, each ending in a blank line; events[0] has first_id */
  size_t *lengths; /* of each event */
  size_t count, capacity;
  size_t first_id;      /* the id of events[0] (ids count from 1) */
  size_t history_bytes; /* the sum of lengths */
  subscriber *subscribers;
  size_t subscriber_count;
  struct event *keepalive;
  struct event *watch;   /* the slow-reader check, while there are readers */
  const char *id_prefix; /* borrowed: a string literal */
  int finished;
};

static account_count *accounts;

pn_hub_stream_limits pn_hub_stream_limits_now(void) {
  pn_hub_stream_limits limits = {
      .subscribers = (size_t)pn_env_number("PINION_STREAM_SUBSCRIBERS", "subscribers", 1, 1e6,
                                           PN_HUB_STREAM_SUBSCRIBERS),
      .account_subscribers =
          (size_t)pn_env_number("PINION_STREAM_ACCOUNT_SUBSCRIBERS", "subscribers", 1, 1e7,
                                PN_HUB_STREAM_ACCOUNT_SUBSCRIBERS),
      .history_bytes = (size_t)pn_env_number("PINION_STREAM_HISTORY_BYTES", "bytes", 1024, 1e12,
                                             (double)PN_HUB_STREAM_HISTORY_BYTES),
      .reader_buffer_bytes = (size_t)pn_env_number("PINION_STREAM_READER_BUFFER", "bytes", 1024,
                                                   1e12, (double)PN_HUB_STREAM_READER_BUFFER),
  };
  return limits;
}

static account_count *find_account(const char *account) {
  for (account_count *row = accounts; row; row = row->next)
    if (strcmp(row->account, account) == 0)
      return row;
  return NULL;
}

static void release_account(account_count *row) {
  if (!row || --row->subscribers > 0)
    return;
  for (account_count **at = &accounts; *at; at = &(*at)->next) {
    if (*at == row) {
      *at = row->next;
      break;
    }
  }
  pn_free(row->account);
  pn_free(row);
}

/* The output buffer of a reader's connection (NULL once it is gone). */
static struct evbuffer *output_of(struct evhttp_request *request) {
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  struct bufferevent *events = connection ? evhttp_connection_get_bufferevent(connection) : NULL;
  return events ? bufferevent_get_output(events) : NULL;
}

static void on_output_changed(struct evbuffer *output, const struct evbuffer_cb_info *change,
                              void *arg) {
  subscriber *reader = arg;
  if (change->n_deleted)
    reader->progressed = 1;
}

static void unlink_subscriber(subscriber *gone) {
  pn_hub_stream *stream = gone->stream;
  struct evbuffer *output = gone->progress ? output_of(gone->request) : NULL;
  if (output)
    evbuffer_remove_cb_entry(output, gone->progress);
  gone->progress = NULL;
  for (subscriber **at = &stream->subscribers; *at; at = &(*at)->next) {
    if (*at == gone) {
      *at = gone->next;
      stream->subscriber_count--;
      break;
    }
  }
  release_account(gone->account);
}

/* Unsent bytes on the reader's connection. */
static size_t unsent(struct evhttp_request *request) {
  struct evbuffer *output = output_of(request);
  return output ? evbuffer_get_length(output) : 0;
}

/* Cuts a reader off: its connection (and request) go at once. */
static void drop_reader(subscriber *reader, size_t buffered) {
  struct evhttp_connection *connection = evhttp_request_get_connection(reader->request);
  pn_warn("hub: dropped a stream reader that stopped reading (%zu bytes unsent for %d s, "
          "limit PINION_STREAM_READER_BUFFER)",
          buffered, STALLED_TICKS_MAX);
  unlink_subscriber(reader);
  pn_free(reader);
  if (connection) {
    evhttp_connection_set_closecb(connection, NULL, NULL);
    evhttp_connection_free(connection);
  }
}

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

/* Sends to every reader. */
static void send_all(pn_hub_stream *stream, const char *text, size_t length) {
  for (subscriber *reader = stream->subscribers; reader; reader = reader->next)
    send_text(reader->request, text, length);
}

/* Once a second: drops the readers over the unsent ceiling that took nothing for
 * STALLED_TICKS_MAX ticks. */
static void on_watch(evutil_socket_t fd, short what, void *arg) {
  pn_hub_stream *stream = arg;
  size_t ceiling = pn_hub_stream_limits_now().reader_buffer_bytes;
  subscriber *reader = stream->subscribers;
  while (reader) {
    subscriber *next = reader->next;
    size_t buffered = unsent(reader->request);
    if (reader->progressed || buffered <= ceiling) {
      reader->stalled_ticks = 0;
      reader->progressed = 0;
    } else if (++reader->stalled_ticks >= STALLED_TICKS_MAX) {
      drop_reader(reader, buffered);
    }
    reader = next;
  }
}

static void on_keepalive(evutil_socket_t fd, short what, void *arg) {
  send_all(arg, ": keep-alive\n\n", 14);
}

pn_hub_stream *pn_hub_stream_new(struct event_base *base, const char *id_prefix) {
  pn_hub_stream *stream = pn_calloc(1, sizeof *stream);
  if (!stream)
    return NULL;
  stream->id_prefix = id_prefix;
  stream->keepalive = event_new(base, -1, EV_PERSIST, on_keepalive, stream);
  stream->watch = event_new(base, -1, EV_PERSIST, on_watch, stream);
  return stream;
}

/* Ends every reply; a reader already stalled over its ceiling is cut off instead, as
 * the watch would have done. */
static void end_all(pn_hub_stream *stream) {
  size_t ceiling = pn_hub_stream_limits_now().reader_buffer_bytes;
  while (stream->subscribers) {
    subscriber *reader = stream->subscribers;
    size_t buffered = unsent(reader->request);
    if (reader->stalled_ticks && !reader->progressed && buffered > ceiling) {
      drop_reader(reader, buffered);
      continue;
    }
    unlink_subscriber(reader);
    end_reply(reader->request);
    pn_free(reader);
  }
  if (stream->keepalive)
    event_del(stream->keepalive);
  if (stream->watch)
    event_del(stream->watch);
}

void pn_hub_stream_free(pn_hub_stream *stream) {
  if (!stream)
    return;
  end_all(stream);
  for (size_t i = 0; i < stream->count; i++)
    pn_free(stream->events[i]);
  pn_free(stream->events);
  pn_free(stream->lengths);
  if (stream->keepalive)
    event_free(stream->keepalive);
  if (stream->watch)
    event_free(stream->watch);
  pn_free(stream);
}

int pn_hub_stream_format(const char *id_prefix, size_t id, const char *event, const char *data,
                         pn_buf *out) {
  int rc = pn_buf_appendf(out, "id: %s%zu\nevent: %s\n", id_prefix, id, event);
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

/* Drops the oldest events while the history is over `ceiling` (the newest stays). */
static void forget_oldest(pn_hub_stream *stream, size_t ceiling) {
  size_t drop = 0;
  while (stream->history_bytes > ceiling && stream->count - drop > 1) {
    stream->history_bytes -= stream->lengths[drop];
    pn_free(stream->events[drop]);
    drop++;
  }
  if (!drop)
    return;
  stream->count -= drop;
  memmove(stream->events, stream->events + drop, stream->count * sizeof *stream->events);
  memmove(stream->lengths, stream->lengths + drop, stream->count * sizeof *stream->lengths);
  stream->first_id += drop;
}

int pn_hub_stream_publish(pn_hub_stream *stream, const char *event, const char *data) {
  if (stream->finished)
    return PN_ESTATE;
  if (stream->count == stream->capacity) {
    size_t capacity = stream->capacity ? stream->capacity * 2 : 16;
    char **events = pn_realloc(stream->events, capacity * sizeof *events);
    if (events)
      stream->events = events;
    size_t *lengths = events ? pn_realloc(stream->lengths, capacity * sizeof *lengths) : NULL;
    if (!lengths)
      return PN_ENOMEM;
    stream->lengths = lengths;
    stream->capacity = capacity;
  }
  if (!stream->first_id)
    stream->first_id = 1;
  pn_buf text;
  pn_buf_init(&text, (size_t)1 << 30);
  if (pn_hub_stream_format(stream->id_prefix, stream->first_id + stream->count, event, data,
                           &text) < 0) {
    pn_buf_free(&text);
    return PN_ENOMEM;
  }
  size_t length = text.length;
  char *formatted = pn_buf_take(&text);
  if (!formatted)
    return PN_ENOMEM;
  stream->events[stream->count] = formatted;
  stream->lengths[stream->count++] = length;
  stream->history_bytes += length;
  forget_oldest(stream, pn_hub_stream_limits_now().history_bytes);
  send_all(stream, formatted, length);
  return 0;
}

size_t pn_hub_stream_kept_bytes(const pn_hub_stream *stream) {
  return sizeof *stream + stream->history_bytes +
         stream->capacity * (sizeof *stream->events + sizeof *stream->lengths);
}

void pn_hub_stream_finish(pn_hub_stream *stream, const char *done_data) {
  if (stream->finished)
    return;
  pn_hub_stream_publish(stream, "done", done_data);
  stream->finished = 1;
  end_all(stream);
}

int pn_hub_stream_resume_after(const char *id_prefix, const char *last_event_id, size_t *after) {
  *after = 0;
  if (!last_event_id || !*last_event_id)
    return 0;
  size_t prefix_length = strlen(id_prefix);
  if (strncmp(last_event_id, id_prefix, prefix_length) != 0)
    return PN_ENOENT;
  const char *digits = last_event_id + prefix_length;
  size_t count = strspn(digits, "0123456789");
  /* 19 digits always fit a 64-bit size_t; ids past them were never sent. */
  if (count == 0 || count > 19 || digits[count] || digits[0] == '0')
    return PN_ENOENT;
  size_t number = 0;
  for (size_t i = 0; i < count; i++)
    number = number * 10 + (size_t)(digits[i] - '0');
  *after = number;
  return 0;
}

static void on_connection_closed(struct evhttp_connection *connection, void *arg) {
  subscriber *gone = arg;
  struct evhttp_request *request = gone->request;
  unlink_subscriber(gone);
  pn_free(gone);
  pn_listen_release_request(request);
}

int pn_hub_stream_subscribe(pn_hub_stream *stream, struct evhttp_request *request,
                            const char *last_event_id, const char *account) {
  account_count *counted = NULL;
  if (!stream->finished) {
    pn_hub_stream_limits limits = pn_hub_stream_limits_now();
    if (stream->subscriber_count >= limits.subscribers)
      return PN_EBUSY;
    counted = account ? find_account(account) : NULL;
    if (counted && counted->subscribers >= limits.account_subscribers)
      return PN_EAGAIN;
    if (account && !counted) {
      counted = pn_calloc(1, sizeof *counted);
      if (counted)
        counted->account = pn_strdup(account);
      if (!counted || !counted->account) {
        pn_free(counted);
        return PN_ENOMEM;
      }
      counted->next = accounts;
      accounts = counted;
    }
    if (counted)
      counted->subscribers++;
  }
  struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
  evhttp_add_header(headers, "Content-Type", "text/event-stream");
  evhttp_add_header(headers, "Cache-Control", "no-cache");
  evhttp_add_header(headers, "X-Accel-Buffering", "no");
  evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
  evhttp_send_reply_start(request, 200, "OK");
  /* Replays the events after Last-Event-ID that the history still holds. */
  size_t after = 0;
  if (pn_hub_stream_resume_after(stream->id_prefix, last_event_id, &after) < 0)
    after = 0;
  size_t start = after >= stream->first_id ? after - stream->first_id + 1 : 0;
  for (size_t i = start; i < stream->count; i++)
    send_text(request, stream->events[i], stream->lengths[i]);
  if (stream->finished) {
    evhttp_send_reply_end(request);
    return 0;
  }
  subscriber *reader = pn_calloc(1, sizeof *reader);
  if (!reader) {
    release_account(counted);
    evhttp_send_reply_end(request);
    return 0;
  }
  reader->stream = stream;
  reader->request = request;
  reader->account = counted;
  struct evbuffer *output = output_of(request);
  reader->progress = output ? evbuffer_add_cb(output, on_output_changed, reader) : NULL;
  reader->next = stream->subscribers;
  stream->subscribers = reader;
  stream->subscriber_count++;
  struct evhttp_connection *connection = evhttp_request_get_connection(request);
  if (connection)
    evhttp_connection_set_closecb(connection, on_connection_closed, reader);
  if (stream->keepalive && !event_pending(stream->keepalive, EV_TIMEOUT, NULL)) {
    struct timeval interval = {KEEPALIVE_SECONDS, 0};
    event_add(stream->keepalive, &interval);
  }
  if (stream->watch && !event_pending(stream->watch, EV_TIMEOUT, NULL)) {
    struct timeval tick = {1, 0};
    event_add(stream->watch, &tick);
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
