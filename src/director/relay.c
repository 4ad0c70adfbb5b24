/* The director's reports to the hub: a channel per prediction holding its reports in
 * order, the first one in flight (or waiting for its retry timer). See relay.h. */
#include "director/relay.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "core/url.h"

#include <stdio.h>
#include <string.h>

#define RELAY_BACKLOG_MAX 64
#define REPORT_TIMEOUT_MS 30000
#define UPLOAD_TIMEOUT_MS 20000 /* under serve's 25 s for the whole upload */
#define RETRY_FIRST_SECONDS 0.1
#define RETRY_MAX_SECONDS 5.0

typedef struct report {
  json_t *body;
  int terminal;
  struct report *next;
} report;

typedef struct channel {
  pn_relay *relay;
  char *id;
  report *first, *last;
  size_t waiting;
  pn_http_transfer *transfer;
  struct event *retry_timer;
  double backoff;
  struct channel *next;
} channel;

struct pn_relay {
  struct event_base *base;
  pn_http_client *client;
  char *hub_url;
  char *authorization; /* "Authorization: Bearer <credential>" */
  pn_relay_stored_fn stored;
  pn_relay_refused_fn refused;
  void *arg;
  channel *channels;
  unsigned long retries;
};

static void free_channel(pn_relay *relay, channel *gone) {
  for (channel **at = &relay->channels; *at; at = &(*at)->next)
    if (*at == gone) {
      *at = gone->next;
      break;
    }
  if (gone->transfer)
    pn_http_transfer_cancel(gone->transfer);
  if (gone->retry_timer)
    event_free(gone->retry_timer);
  while (gone->first) {
    report *next = gone->first->next;
    json_decref(gone->first->body);
    pn_free(gone->first);
    gone->first = next;
  }
  pn_free(gone->id);
  pn_free(gone);
}

static channel *find_channel(const pn_relay *relay, const char *id) {
  for (channel *c = relay->channels; c; c = c->next)
    if (strcmp(c->id, id) == 0)
      return c;
  return NULL;
}

static void send_first(channel *c);

static void on_retry(evutil_socket_t fd, short what, void *arg) { send_first(arg); }

static void retry_later(channel *c) {
  c->relay->retries++;
  struct timeval delay = {(time_t)c->backoff, (suseconds_t)((c->backoff - (long)c->backoff) * 1e6)};
  evtimer_add(c->retry_timer, &delay);
  c->backoff = c->backoff * 2 > RETRY_MAX_SECONDS ? RETRY_MAX_SECONDS : c->backoff * 2;
}

/* The hub's answer to the first report. */
static void on_answer(const pn_http_response *response, void *arg) {
  channel *c = arg;
  pn_relay *relay = c->relay;
  c->transfer = NULL;
  long status = response->ok ? response->status : 0;
  /* A terminal report goes again until the hub has stored it (or has no such
   * prediction): a refusal (401 for a revoked credential) must not let the director
   * acknowledge an outcome the hub does not have. */
  int again = status == 0 || status == 429 || status >= 500 ||
              (c->first->terminal && status != 200 && status != 404);
  if (again) {
    if (status)
      pn_warn("director: the hub answered a report on prediction %s with HTTP %ld; it is sent "
              "again in %.1f s",
              c->id, status, c->backoff);
    else
      pn_warn("director: the hub did not answer a report on prediction %s (%s); it is sent "
              "again in %.1f s",
              c->id, response->error ? response->error : "?", c->backoff);
    retry_later(c);
    return;
  }
  if (status == 409) {
    /* Another director holds the message now: its run's outcome counts, not this one. */
    pn_warn("director: the hub refused a report on prediction %s: another director took its "
            "message over after this one's lease ran out; it is dropped here",
            c->id);
    char *id = pn_strdup(c->id);
    free_channel(relay, c);
    if (id)
      relay->refused(relay->arg, id);
    pn_free(id);
    return;
  }
  c->backoff = RETRY_FIRST_SECONDS;
  report *done = c->first;
  c->first = done->next;
  if (!c->first)
    c->last = NULL;
  c->waiting--;
  if (status != 200 && status != 404)
    pn_error("director: the hub refused a report on prediction %s with HTTP %ld: %.500s; the "
             "report is dropped",
             c->id, status, response->body && response->body->data ? response->body->data : "");
  if (done->terminal) {
    json_t *answer = status == 200 && response->body
                         ? json_loadb(response->body->data, response->body->length, 0, NULL)
                         : NULL;
    const char *stored = json_string_value(json_object_get(answer, "status"));
    char *id = pn_strdup(c->id);
    json_decref(done->body);
    pn_free(done);
    free_channel(relay, c); /* nothing follows a terminal report */
    if (id)
      relay->stored(relay->arg, id, status == 404 ? NULL : stored ? stored : "failed");
    pn_free(id);
    json_decref(answer);
    return;
  }
  json_decref(done->body);
  pn_free(done);
  if (c->first)
    send_first(c);
  else
    free_channel(relay, c);
}

static void send_first(channel *c) {
  pn_relay *relay = c->relay;
  char *text = pn_json_dump(c->first->body, PN_JSON_COMPACT);
  char *url = NULL;
  char *base = pn_strfmt("%s/internal/director/predictions", relay->hub_url);
  int rc = text && base ? pn_url_append_segment(base, c->id, &url) : PN_ENOMEM;
  const char *headers[] = {relay->authorization, "Content-Type: application/json", NULL};
  pn_http_request request = {.method = "POST",
                             .url = url,
                             .headers = headers,
                             .body = text,
                             .body_length = text ? strlen(text) : 0,
                             .timeout_ms = REPORT_TIMEOUT_MS,
                             .max_response = 1 << 20};
  if (rc == 0)
    rc = pn_http_client_send(relay->client, &request, on_answer, c, &c->transfer);
  if (rc < 0) {
    c->transfer = NULL;
    retry_later(c);
  }
  pn_free(base);
  pn_free(url);
  pn_free(text);
}

int pn_relay_report(pn_relay *relay, const char *id, json_t *body, int terminal) {
  channel *c = find_channel(relay, id);
  if (!c) {
    c = pn_calloc(1, sizeof *c);
    if (!c || !(c->id = pn_strdup(id)) ||
        !(c->retry_timer = evtimer_new(relay->base, on_retry, c))) {
      if (c)
        pn_free(c->id);
      pn_free(c);
      return PN_ENOMEM;
    }
    c->relay = relay;
    c->backoff = RETRY_FIRST_SECONDS;
    c->next = relay->channels;
    relay->channels = c;
  }
  /* A long backlog of intermediate reports keeps only the newest state at its end. */
  if (!terminal && c->waiting >= RELAY_BACKLOG_MAX && c->last != c->first &&
      !c->last->terminal) {
    json_decref(c->last->body);
    c->last->body = json_incref(body);
    return 0;
  }
  report *item = pn_calloc(1, sizeof *item);
  if (!item)
    return PN_ENOMEM;
  item->body = json_incref(body);
  item->terminal = terminal;
  if (c->last)
    c->last->next = item;
  else
    c->first = item;
  c->last = item;
  c->waiting++;
  if (c->first == item && !c->transfer && !evtimer_pending(c->retry_timer, NULL))
    send_first(c);
  return 0;
}

void pn_relay_forget(pn_relay *relay, const char *id) {
  channel *c = find_channel(relay, id);
  if (c)
    free_channel(relay, c);
}

size_t pn_relay_pending(const pn_relay *relay) {
  size_t count = 0;
  for (const channel *c = relay->channels; c; c = c->next)
    count++;
  return count;
}

unsigned long pn_relay_retries(const pn_relay *relay) { return relay->retries; }

int pn_relay_upload(pn_relay *relay, const char *name, const char *content_type,
                    const void *body, size_t length, pn_http_done_fn done, void *arg,
                    pn_http_transfer **transfer) {
  char *base = pn_strfmt("%s/internal/director/uploads", relay->hub_url);
  char *url = NULL;
  char *type = pn_strfmt("Content-Type: %s", content_type ? content_type
                                                          : "application/octet-stream");
  int rc = base && type ? pn_url_append_segment(base, name, &url) : PN_ENOMEM;
  const char *headers[] = {relay->authorization, type, NULL};
  pn_http_request request = {.method = "PUT",
                             .url = url,
                             .headers = headers,
                             .body = body,
                             .body_length = length,
                             .timeout_ms = UPLOAD_TIMEOUT_MS,
                             .max_response = 1 << 20};
  if (rc == 0)
    rc = pn_http_client_send(relay->client, &request, done, arg, transfer);
  pn_free(base);
  pn_free(url);
  pn_free(type);
  return rc;
}

int pn_relay_new(struct event_base *base, pn_http_client *client, const char *hub_url,
                 const char *credential, pn_relay_stored_fn stored, pn_relay_refused_fn refused,
                 void *arg, pn_relay **out) {
  *out = NULL;
  pn_relay *relay = pn_calloc(1, sizeof *relay);
  if (!relay)
    return PN_ENOMEM;
  relay->base = base;
  relay->client = client;
  relay->stored = stored;
  relay->refused = refused;
  relay->arg = arg;
  size_t length = strlen(hub_url);
  while (length && hub_url[length - 1] == '/')
    length--;
  relay->hub_url = pn_strndup(hub_url, length);
  relay->authorization = pn_strfmt("Authorization: Bearer %s", credential);
  if (!relay->hub_url || !relay->authorization) {
    pn_relay_free(relay);
    return PN_ENOMEM;
  }
  *out = relay;
  return 0;
}

void pn_relay_free(pn_relay *relay) {
  if (!relay)
    return;
  while (relay->channels)
    free_channel(relay, relay->channels);
  pn_free(relay->hub_url);
  if (relay->authorization) /* it holds the credential */
    memset(relay->authorization, 0, strlen(relay->authorization));
  pn_free(relay->authorization);
  pn_free(relay);
}
