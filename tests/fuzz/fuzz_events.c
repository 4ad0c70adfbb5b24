/* libFuzzer target for the event writers: the SSE events of `pinion serve`
 * (serve/sse.c, JSON data) and of the hub (hub/stream.c, raw text data that comes from
 * a model's output and logs), and the webhook_events_filter a request names
 * (core/webhook_events.c). Each event is written, read back with an SSE reader that
 * follows the HTML standard's rules, and compared.
 *
 * Invariants: a hub event reads back with its id, its name and its text (line breaks
 * become "\n", all that SSE can carry), and the id read back is where a reader that
 * sends it as Last-Event-ID resumes; a Last-Event-ID that resumes anywhere is exactly
 * the id of that position (hub/stream.c); a serve event's data reads back as equal JSON;
 * a filter that parses maps to a mask whose JSON form parses to the same mask. */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/webhook_events.h"
#include "hub/stream.h"
#include "serve/sse.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT ((size_t)1 << 24)

/* One event as an SSE reader sees it. */
typedef struct read_event {
  pn_buf id, name, data;
  int lines; /* data lines seen */
  int count; /* events dispatched */
} read_event;

static void read_field(read_event *event, const char *line, size_t length) {
  if (length && line[0] == ':')
    return; /* a comment */
  const char *colon = memchr(line, ':', length);
  size_t name_length = colon ? (size_t)(colon - line) : length;
  const char *value = colon ? colon + 1 : line + length;
  if (value < line + length && *value == ' ')
    value++;
  size_t value_length = (size_t)(line + length - value);
  if (name_length == 4 && memcmp(line, "data", 4) == 0) {
    if (event->lines++)
      pn_buf_append(&event->data, "\n", 1);
    pn_buf_append(&event->data, value, value_length);
  } else if (name_length == 5 && memcmp(line, "event", 5) == 0) {
    pn_buf_reset(&event->name);
    pn_buf_append(&event->name, value, value_length);
  } else if (name_length == 2 && memcmp(line, "id", 2) == 0) {
    pn_buf_reset(&event->id);
    pn_buf_append(&event->id, value, value_length);
  } else {
    abort(); /* our writers send no other field */
  }
}

/* Reads a stream that should hold exactly one event. */
static void read_stream(const char *text, size_t length, read_event *event) {
  const char *at = text, *end = text + length;
  while (at < end) {
    const char *stop = at;
    while (stop < end && *stop != '\r' && *stop != '\n')
      stop++;
    if (stop == end)
      abort(); /* a line without its end */
    if (stop == at)
      event->count++;
    else if (event->count)
      abort(); /* more after the event's blank line */
    else
      read_field(event, at, (size_t)(stop - at));
    at = stop + (*stop == '\r' && stop + 1 < end && stop[1] == '\n' ? 2 : 1);
  }
  if (event->count != 1)
    abort();
}

static void read_event_init(read_event *event) {
  memset(event, 0, sizeof *event);
  pn_buf_init(&event->id, LIMIT);
  pn_buf_init(&event->name, LIMIT);
  pn_buf_init(&event->data, LIMIT);
}

static void read_event_free(read_event *event) {
  pn_buf_free(&event->id);
  pn_buf_free(&event->name);
  pn_buf_free(&event->data);
}

static int same(const pn_buf *buf, const char *text, size_t length) {
  return buf->length == length && (length == 0 || memcmp(buf->data, text, length) == 0);
}

static void check_hub_event(const char *text, size_t id) {
  static const char *const names[] = {"output", "logs", "error", "done"};
  const char *name = names[id % 4];
  const char *prefix = id % 2 ? "row-" : "";
  pn_buf written, expected;
  pn_buf_init(&written, LIMIT);
  pn_buf_init(&expected, LIMIT);
  if (pn_hub_stream_format(prefix, id, name, text, &written) < 0)
    abort();
  for (const char *at = text; *at; at++) {
    if (*at == '\r' && at[1] == '\n')
      continue;
    pn_buf_append(&expected, *at == '\r' ? "\n" : at, 1);
  }
  read_event event;
  read_event_init(&event);
  read_stream(written.data, written.length, &event);
  char id_text[40];
  int id_length = snprintf(id_text, sizeof id_text, "%s%zu", prefix, id);
  if (!same(&event.id, id_text, (size_t)id_length) || !same(&event.name, name, strlen(name)) ||
      !same(&event.data, expected.data ? expected.data : "", expected.length))
    abort();
  size_t after = 0;
  if (id && (pn_hub_stream_resume_after(prefix, id_text, &after) < 0 || after != id))
    abort();
  read_event_free(&event);
  pn_buf_free(&written);
  pn_buf_free(&expected);
}

/* A Last-Event-ID that a stream resumes after is the id it would have sent there. */
static void check_resume(const char *last_event_id) {
  static const char *const prefixes[] = {"", "row-", "expired-"};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
    size_t after = 0;
    if (pn_hub_stream_resume_after(prefixes[i], last_event_id, &after) < 0) {
      if (after)
        abort();
      continue;
    }
    char id_text[40];
    if (after)
      snprintf(id_text, sizeof id_text, "%s%zu", prefixes[i], after);
    else
      id_text[0] = '\0'; /* none: from the start */
    if (strcmp(id_text, last_event_id) != 0)
      abort();
  }
}

static void check_serve_event(const json_t *data) {
  pn_buf written;
  pn_buf_init(&written, LIMIT);
  if (pn_sse_format("output", data, &written) < 0)
    abort();
  read_event event;
  read_event_init(&event);
  read_stream(written.data, written.length, &event);
  json_t *again = json_loadb(event.data.data ? event.data.data : "", event.data.length,
                             JSON_DECODE_ANY, NULL);
  if (event.lines != 1 || !same(&event.name, "output", 6) || !again || !json_equal(data, again))
    abort();
  json_decref(again);
  read_event_free(&event);
  pn_buf_free(&written);
}

static void check_filter(const json_t *filter) {
  unsigned mask = 0, again = 0;
  char *error = NULL;
  if (pn_webhook_events_parse(filter, &mask, &error) < 0) {
    if (!error)
      abort();
    pn_free(error);
    return;
  }
  json_t *canonical = pn_webhook_events_json(mask);
  if (!canonical || pn_webhook_events_parse(canonical, &again, NULL) < 0 || again != mask ||
      (mask & ~(unsigned)PN_WEBHOOK_ALL))
    abort();
  json_decref(canonical);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pn_alloc_install_json();
  char *text = pn_strndup((const char *)data, size); /* C strings: up to the first NUL */
  if (!text)
    return 0;
  check_hub_event(text, size);
  check_resume(text);
  pn_free(text);
  json_t *value = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
  if (value) {
    check_serve_event(value);
    check_filter(value);
    json_decref(value);
  }
  return 0;
}
