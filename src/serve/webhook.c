/* Sending a prediction's webhooks. See webhook.h. */
#include "serve/webhook.h"

#include "core/alloc.h"
#include "core/env.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "core/version.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define COMPLETED_ATTEMPTS 12
#define FIRST_BACKOFF 0.2
#define MAX_BACKOFF 102.4
/* The most `completed` bodies, in bytes, kept for retries at once. A receiver that is
 * down would otherwise make the server hold every prediction's final body for the
 * ~7 minutes of its 12 attempts (a busy model with file outputs: gigabytes). Past it a
 * failed delivery is given up at once. PINION_WEBHOOK_RETRY_BYTES changes it. */
#define RETRY_BYTES_DEFAULT ((size_t)64 * 1024 * 1024)
#define ENV_BYTES_MAX 1099511627776.0 /* 1 TiB */

struct pn_webhook {
  pn_http_client *client;
  struct event_base *base;
  char *url;
  unsigned events;
  double throttle;
  char *headers[5];
  pn_webhook_snapshot_fn snapshot;
  void *arg;
  double last_sent;   /* monotonic seconds */
  unsigned throttled; /* events waiting for the throttle timer */
  struct event *throttle_timer;
  struct event *retry_timer;
  char *completed_body;
  int attempts;
  size_t retry_held; /* bytes counted in `retrying_bytes` while a retry is scheduled */
  int sends_in_flight;
  int finished; /* pn_webhook_complete was called */
  struct pn_webhook *prev, *next; /* every live webhook, for pn_webhook_free_all */
};

static size_t outstanding;
static pn_webhook *live;
static size_t retrying_bytes;

static size_t retry_bytes_limit(void) {
  static size_t limit;
  if (!limit)
    limit = (size_t)pn_env_number("PINION_WEBHOOK_RETRY_BYTES", "bytes", 1, ENV_BYTES_MAX,
                                  (double)RETRY_BYTES_DEFAULT);
  return limit;
}

static void release_retry(pn_webhook *webhook) {
  retrying_bytes -= webhook->retry_held;
  webhook->retry_held = 0;
}

size_t pn_webhook_outstanding(void) { return outstanding; }

static double now_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void free_webhook(pn_webhook *webhook) {
  release_retry(webhook);
  for (int i = 0; webhook->headers[i]; i++)
    pn_free(webhook->headers[i]);
  if (webhook->throttle_timer)
    event_free(webhook->throttle_timer);
  if (webhook->retry_timer)
    event_free(webhook->retry_timer);
  pn_free(webhook->completed_body);
  pn_free(webhook->url);
  if (webhook->prev)
    webhook->prev->next = webhook->next;
  else
    live = webhook->next;
  if (webhook->next)
    webhook->next->prev = webhook->prev;
  pn_free(webhook);
  outstanding--;
}

void pn_webhook_free_all(void) {
  while (live)
    free_webhook(live);
}

static void maybe_free(pn_webhook *webhook) {
  if (webhook->finished && webhook->sends_in_flight == 0 && !webhook->completed_body)
    free_webhook(webhook);
}

static void on_sent(const pn_http_response *response, void *arg) {
  pn_webhook *webhook = arg;
  webhook->sends_in_flight--;
  if (!response->ok || response->status >= 300)
    pn_debug("webhook to %s: %s", webhook->url,
             response->ok ? "the receiver answered an error" : response->error);
  maybe_free(webhook);
}

static int send_body(pn_webhook *webhook, const char *body, pn_http_done_fn done) {
  pn_http_request request = {
      .method = "POST",
      .url = webhook->url,
      .headers = (const char *const *)webhook->headers,
      .body = body,
      .body_length = strlen(body),
      .timeout_ms = 30000,
      .max_response = 1024 * 1024,
  };
  int rc = pn_http_client_send(webhook->client, &request, done, webhook, NULL);
  if (rc == 0)
    webhook->sends_in_flight++;
  return rc;
}

static void send_snapshot(pn_webhook *webhook, const json_t *snapshot) {
  char *body = pn_json_dump(snapshot, PN_JSON_SERDE_NUMBERS);
  if (body)
    send_body(webhook, body, on_sent);
  pn_free(body);
  webhook->last_sent = now_seconds();
}

/* Sends the prediction as it is now; that also carries whatever a throttled event was
 * holding back, so nothing stays pending. */
static void send_current(pn_webhook *webhook) {
  json_t *snapshot = webhook->snapshot(webhook->arg);
  if (snapshot)
    send_snapshot(webhook, snapshot);
  json_decref(snapshot);
  webhook->throttled = 0;
  event_del(webhook->throttle_timer);
}

/* The final snapshot as it was just before the end: still processing, no error, no
 * predict_time. A `logs` event held back by the throttle and sent after the prediction
 * ended carries this, since Cog never sends a terminal state for that event. */
static json_t *as_still_running(const json_t *final) {
  json_t *snapshot = json_deep_copy(final);
  if (!snapshot)
    return NULL;
  json_object_set_new(snapshot, "status", json_string("processing"));
  json_object_del(snapshot, "error");
  json_object_del(snapshot, "completed_at");
  json_t *metrics = json_object_get(snapshot, "metrics");
  if (json_is_object(metrics))
    json_object_del(metrics, "predict_time");
  return snapshot;
}

static void on_throttle_timer(evutil_socket_t fd, short what, void *arg) {
  pn_webhook *webhook = arg;
  if (!webhook->throttled || webhook->finished)
    return;
  send_current(webhook);
}

void pn_webhook_notify(pn_webhook *webhook, enum pn_webhook_event event) {
  if (webhook->finished || !(webhook->events & event))
    return;
  /* `start` is the first send, and `output` is never throttled (as in Cog: an output is
   * the result a director must not miss); `logs` waits for the interval. */
  if (event == PN_WEBHOOK_START || event == PN_WEBHOOK_OUTPUT) {
    send_current(webhook);
    return;
  }
  double wait = webhook->last_sent + webhook->throttle - now_seconds();
  if (wait <= 0 && !webhook->throttled) {
    send_current(webhook);
    return;
  }
  if (!webhook->throttled) {
    struct timeval delay = {(time_t)wait, (suseconds_t)((wait - floor(wait)) * 1e6)};
    event_add(webhook->throttle_timer, &delay);
  }
  webhook->throttled |= event;
}

static void send_completed(pn_webhook *webhook);

static void on_retry_timer(evutil_socket_t fd, short what, void *arg) {
  release_retry(arg);
  send_completed(arg);
}

static int retryable(const pn_http_response *response) {
  if (!response->ok)
    return 1;
  long status = response->status;
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static void on_completed_sent(const pn_http_response *response, void *arg) {
  pn_webhook *webhook = arg;
  webhook->sends_in_flight--;
  size_t size = strlen(webhook->completed_body);
  int retry = retryable(response) && webhook->attempts < COMPLETED_ATTEMPTS;
  if (retry && retrying_bytes + size > retry_bytes_limit()) {
    pn_warn("webhook to %s failed (%s); not retried: %zu bytes of webhooks already wait for "
            "a retry (the limit is PINION_WEBHOOK_RETRY_BYTES=%zu)",
            webhook->url, response->ok ? "the receiver answered an error" : response->error,
            retrying_bytes, retry_bytes_limit());
  } else if (retry) {
    double backoff = FIRST_BACKOFF * pow(2, webhook->attempts - 1);
    if (backoff > MAX_BACKOFF)
      backoff = MAX_BACKOFF;
    pn_warn("webhook to %s failed (%s); retrying in %.1f s", webhook->url,
            response->ok ? "the receiver answered an error" : response->error, backoff);
    struct timeval delay = {(time_t)backoff, (suseconds_t)((backoff - floor(backoff)) * 1e6)};
    event_add(webhook->retry_timer, &delay);
    webhook->retry_held = size;
    retrying_bytes += size;
    return;
  } else if (!response->ok || response->status >= 300) {
    pn_warn("webhook to %s: the completed event could not be delivered (%s%ld)", webhook->url,
            response->ok ? "HTTP " : response->error, response->ok ? response->status : 0L);
  }
  pn_free(webhook->completed_body);
  webhook->completed_body = NULL;
  maybe_free(webhook);
}

static void send_completed(pn_webhook *webhook) {
  webhook->attempts++;
  if (send_body(webhook, webhook->completed_body, on_completed_sent) < 0) {
    pn_free(webhook->completed_body);
    webhook->completed_body = NULL;
    maybe_free(webhook);
  }
}

void pn_webhook_complete(pn_webhook *webhook, const json_t *final) {
  event_del(webhook->throttle_timer);
  webhook->finished = 1;
  /* A held-back `logs` event still goes out when `completed` is not wanted (it would
   * carry the same text), with the state it had, never the terminal one. */
  if (webhook->throttled && !(webhook->events & PN_WEBHOOK_COMPLETED)) {
    json_t *running = as_still_running(final);
    if (running)
      send_snapshot(webhook, running);
    json_decref(running);
  }
  webhook->throttled = 0;
  if (webhook->events & PN_WEBHOOK_COMPLETED) {
    webhook->completed_body = pn_json_dump(final, PN_JSON_SERDE_NUMBERS);
    if (webhook->completed_body)
      send_completed(webhook);
  }
  maybe_free(webhook);
}

pn_webhook *pn_webhook_new(pn_http_client *client, struct event_base *base,
                           const pn_webhook_options *options, pn_webhook_snapshot_fn snapshot,
                           void *arg) {
  pn_webhook *webhook = pn_calloc(1, sizeof *webhook);
  if (!webhook)
    return NULL;
  outstanding++;
  webhook->next = live;
  if (live)
    live->prev = webhook;
  live = webhook;
  webhook->client = client;
  webhook->base = base;
  webhook->url = pn_strdup(options->url);
  webhook->events = options->events;
  webhook->snapshot = snapshot;
  webhook->arg = arg;
  webhook->throttle = options->throttle_seconds;
  static double configured = -1; /* read once: a bad value is reported once */
  if (configured < 0)
    configured = pn_env_number("COG_THROTTLE_RESPONSE_INTERVAL", "seconds", 0, 86400, 0.5);
  if (webhook->throttle < 0)
    webhook->throttle = configured;
  webhook->last_sent = now_seconds() - 10;
  int count = 0;
  webhook->headers[count++] = pn_strdup("Content-Type: application/json");
  const char *token = getenv("WEBHOOK_AUTH_TOKEN");
  if (token && *token)
    webhook->headers[count++] = pn_strfmt("Authorization: Bearer %s", token);
  if (options->traceparent)
    webhook->headers[count++] = pn_strfmt("traceparent: %s", options->traceparent);
  if (options->tracestate)
    webhook->headers[count++] = pn_strfmt("tracestate: %s", options->tracestate);
  webhook->throttle_timer = evtimer_new(base, on_throttle_timer, webhook);
  webhook->retry_timer = evtimer_new(base, on_retry_timer, webhook);
  int ok = webhook->url && webhook->throttle_timer && webhook->retry_timer;
  for (int i = 0; i < count; i++)
    ok &= webhook->headers[i] != NULL;
  if (!ok) {
    free_webhook(webhook);
    return NULL;
  }
  return webhook;
}
