/* Client webhooks. See webhooks.h.
 *
 * A hook belongs to a live prediction. Intermediate deliveries are fire-and-forget; a
 * throttled `output`/`logs` waits on a timer and sends the newest snapshot then. The
 * `completed` delivery becomes a `delivery` that outlives the prediction: its row in
 * webhook_deliveries carries the URL and the stable webhook-id, so a restarted hub
 * resumes it. Secrets are per account (GET /v1/webhooks/default/secret). */
#include "hub/webhooks.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "hub/ids.h"
#include "hub/objects.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define THROTTLE_NS (500u * 1000000u)
#define DELIVERY_TIMEOUT_MS 10000

static const double retry_delays[] = {1, 2, 4, 8, 16, 30};
#define RETRIES (sizeof retry_delays / sizeof retry_delays[0])

/* The intermediate deliveries of one prediction still on the wire. `completed` waits
 * for them, so that a receiver sees a prediction's webhooks in order (platform spec
 * §4.2): it outlives the hook when the prediction ends while one is in flight. */
typedef struct hook_sends {
  int refs;
  int in_flight;
  pn_hub *hub;
  json_t *deferred; /* a `completed` delivery row waiting for them */
} hook_sends;

struct pn_hub_hook {
  pn_hub *hub;
  char *prediction_id;
  char *url;
  unsigned events;
  uint64_t last_sent_ns;
  unsigned pending; /* throttled events waiting for the timer */
  struct event *timer;
  hook_sends *sends;
};

typedef struct delivery {
  pn_hub *hub;
  json_t *row; /* the webhook_deliveries row */
  struct event *timer;
  pn_http_transfer *transfer;
  int unsaved; /* ended (done or given up), but the store did not take it yet */
  struct delivery *next;
} delivery;

static delivery *deliveries;
/* With a shared queue, renews the claims on `deliveries` every third of a claim's life. */
static struct event *renew_timer;


int pn_hub_webhook_sign(const char *secret, const char *id, long timestamp, const char *body,
                        size_t length, char **signature) {
  *signature = NULL;
  const char *underscore = secret ? strrchr(secret, '_') : NULL;
  const char *encoded = underscore ? underscore + 1 : secret;
  if (!encoded)
    return PN_EINVAL;
  pn_buf key, message, out;
  pn_buf_init(&key, 1024);
  pn_buf_init(&message, (size_t)1 << 34);
  pn_buf_init(&out, 256);
  int rc = pn_base64_decode(encoded, strlen(encoded), &key);
  if (rc < 0)
    rc = PN_EINVAL;
  if (rc == 0)
    rc = pn_buf_appendf(&message, "%s.%ld.", id, timestamp);
  if (rc == 0 && length)
    rc = pn_buf_append(&message, body, length);
  unsigned char mac[32];
  if (rc == 0)
    rc = pn_crypto_hmac_sha256(key.data ? key.data : "", key.length, message.data, message.length,
                               mac);
  if (rc == 0)
    rc = pn_buf_append_str(&out, "v1,");
  if (rc == 0)
    rc = pn_base64_encode(mac, sizeof mac, &out);
  if (rc == 0)
    *signature = pn_buf_take(&out);
  pn_buf_free(&key);
  pn_buf_free(&message);
  pn_buf_free(&out);
  return rc;
}

/* The body to send: the prediction as GET shows it now. pn_malloc'd. */
static char *snapshot(pn_hub *hub, const char *prediction_id, char **account) {
  json_t *row = NULL;
  if (pn_store_get(hub->store, PN_STORE_PREDICTIONS, prediction_id, &row) < 0)
    return NULL;
  json_t *object = pn_hub_prediction_object(hub, row);
  char *text = pn_json_dump(object, PN_JSON_COMPACT);
  if (account)
    *account = pn_strdup(json_string_value(json_object_get(row, "account")));
  json_decref(object);
  json_decref(row);
  return text;
}

typedef void (*sent_fn)(const pn_http_response *response, void *arg);

/* Signs and posts `body`; `done` (may be NULL) gets the response. */
static int post(pn_hub *hub, const char *url, const char *account, const char *webhook_id,
                const char *body, sent_fn done, void *arg, pn_http_transfer **transfer) {
  char *secret = NULL, *signature = NULL;
  long timestamp = (long)time(NULL);
  int rc = pn_hub_account_secret(hub, account, &secret);
  if (rc == 0)
    rc = pn_hub_webhook_sign(secret, webhook_id, timestamp, body, strlen(body), &signature);
  if (rc < 0) {
    pn_free(secret);
    return rc;
  }
  char id_header[96], timestamp_header[64];
  char *signature_header = pn_strfmt("webhook-signature: %s", signature);
  snprintf(id_header, sizeof id_header, "webhook-id: %s", webhook_id);
  snprintf(timestamp_header, sizeof timestamp_header, "webhook-timestamp: %ld", timestamp);
  const char *headers[] = {"Content-Type: application/json", id_header, timestamp_header,
                           signature_header, NULL};
  pn_http_request request = {
      .method = "POST",
      .url = url,
      .headers = headers,
      .body = body,
      .body_length = strlen(body),
      .max_response = 64 * 1024,
      .timeout_ms = DELIVERY_TIMEOUT_MS,
      .follow_redirects = 0,
  };
  rc = signature_header ? pn_http_client_send(hub->client, &request, done, arg, transfer)
                        : PN_ENOMEM;
  pn_free(signature_header);
  pn_free(signature);
  pn_free(secret);
  return rc;
}

/* --- intermediate events ----------------------------------------------------------- */

static void start_delivery(pn_hub *hub, json_t *row);

static void release_sends(hook_sends *sends) {
  if (--sends->refs > 0)
    return;
  json_decref(sends->deferred);
  pn_free(sends);
}

static void on_intermediate_sent(const pn_http_response *response, void *arg) {
  hook_sends *sends = arg;
  if (--sends->in_flight == 0 && sends->deferred) {
    json_t *row = sends->deferred;
    sends->deferred = NULL;
    start_delivery(sends->hub, row);
  }
  release_sends(sends);
}

static void send_now(pn_hub_hook *hook) {
  char *account = NULL;
  char *body = snapshot(hook->hub, hook->prediction_id, &account);
  char id[27];
  if (body && account && pn_hub_id_random(id) == 0) {
    char webhook_id[32];
    snprintf(webhook_id, sizeof webhook_id, "msg_%s", id);
    hook->sends->refs++;
    hook->sends->in_flight++;
    if (post(hook->hub, hook->url, account, webhook_id, body, on_intermediate_sent, hook->sends,
             NULL) < 0) {
      hook->sends->in_flight--;
      release_sends(hook->sends);
      pn_warn("hub: could not send a webhook for %s", hook->prediction_id);
    }
  }
  hook->last_sent_ns = pn_clock_monotonic_ns();
  pn_free(body);
  pn_free(account);
}

static void on_throttle(evutil_socket_t fd, short what, void *arg) {
  pn_hub_hook *hook = arg;
  hook->pending = 0;
  send_now(hook);
}

pn_hub_hook *pn_hub_hook_new(pn_hub *hub, const char *prediction_id, const char *url,
                             unsigned events) {
  pn_hub_hook *hook = pn_calloc(1, sizeof *hook);
  if (!hook)
    return NULL;
  hook->hub = hub;
  hook->prediction_id = pn_strdup(prediction_id);
  hook->url = pn_strdup(url);
  hook->events = events;
  hook->timer = evtimer_new(hub->base, on_throttle, hook);
  hook->sends = pn_calloc(1, sizeof *hook->sends);
  if (hook->sends) {
    hook->sends->refs = 1;
    hook->sends->hub = hub;
  }
  if (!hook->prediction_id || !hook->url || !hook->timer || !hook->sends) {
    pn_hub_hook_free(hook);
    return NULL;
  }
  return hook;
}

void pn_hub_hook_notify(pn_hub_hook *hook, unsigned event) {
  if (!hook || !(hook->events & event))
    return;
  if (event == PN_WEBHOOK_START) {
    send_now(hook);
    return;
  }
  if (hook->pending)
    return; /* the timer will send the newest snapshot */
  uint64_t now = pn_clock_monotonic_ns();
  if (hook->last_sent_ns && now - hook->last_sent_ns < THROTTLE_NS) {
    uint64_t wait = THROTTLE_NS - (now - hook->last_sent_ns);
    struct timeval delay = {(time_t)(wait / 1000000000u), (suseconds_t)(wait % 1000000000u / 1000)};
    hook->pending = event;
    evtimer_add(hook->timer, &delay);
    return;
  }
  send_now(hook);
}

void pn_hub_hook_free(pn_hub_hook *hook) {
  if (!hook)
    return;
  if (hook->timer)
    event_free(hook->timer);
  if (hook->sends)
    release_sends(hook->sends);
  pn_free(hook->prediction_id);
  pn_free(hook->url);
  pn_free(hook);
}

/* --- completed deliveries ---------------------------------------------------------- */

static void remove_delivery(delivery *gone) {
  for (delivery **at = &deliveries; *at; at = &(*at)->next) {
    if (*at == gone) {
      *at = gone->next;
      break;
    }
  }
  if (gone->timer)
    event_free(gone->timer);
  json_decref(gone->row);
  pn_free(gone);
}

static int save_delivery(pn_hub *hub, json_t *row) {
  pn_store_keys keys = {.id = json_string_value(json_object_get(row, "id")),
                        .account = json_string_value(json_object_get(row, "account")),
                        .status = json_string_value(json_object_get(row, "status")),
                        .created_at = json_string_value(json_object_get(row, "created_at"))};
  int rc = pn_store_update(hub->store, PN_STORE_DELIVERIES, &keys, row);
  if (rc == PN_ENOENT)
    rc = pn_store_insert(hub->store, PN_STORE_DELIVERIES, &keys, row);
  return rc;
}

/* A delivery that ended: stored as such, its claim given back and forgotten. While the
 * store refuses (the database is away), it stays here, its claim renewed, and saving is
 * tried again every second: a row left `pending` would be resumed and sent twice. */
static void end_delivery(delivery *item) {
  if (save_delivery(item->hub, item->row) < 0) {
    if (!item->unsaved)
      pn_warn("hub: could not store that the completed webhook of %s ended; trying again",
              json_string_value(json_object_get(item->row, "prediction")));
    item->unsaved = 1;
    struct timeval again = {1, 0};
    evtimer_add(item->timer, &again);
    return;
  }
  pn_queue_drop_claim(item->hub->queue, json_string_value(json_object_get(item->row, "id")));
  remove_delivery(item);
}

static void attempt(delivery *item);

static void on_delivered(const pn_http_response *response, void *arg) {
  delivery *item = arg;
  item->transfer = NULL;
  json_t *row = item->row;
  json_int_t attempts = json_integer_value(json_object_get(row, "attempts")) + 1;
  json_object_set_new(row, "attempts", json_integer(attempts));
  int ok = response->ok && response->status >= 200 && response->status < 300;
  if (ok || (size_t)attempts > RETRIES) {
    json_object_set_new(row, "status", json_string(ok ? "done" : "failed"));
    if (!ok)
      pn_warn("hub: gave up the completed webhook of %s after %d attempts",
              json_string_value(json_object_get(row, "prediction")), (int)attempts);
    end_delivery(item);
    return;
  }
  save_delivery(item->hub, row);
  double seconds = retry_delays[attempts - 1];
  struct timeval delay = {(time_t)seconds, 0};
  evtimer_add(item->timer, &delay);
}

static void on_retry(evutil_socket_t fd, short what, void *arg) {
  delivery *item = arg;
  if (item->unsaved)
    end_delivery(item);
  else
    attempt(item);
}

static void attempt(delivery *item) {
  json_t *row = item->row;
  const char *prediction_id = json_string_value(json_object_get(row, "prediction"));
  char *body = snapshot(item->hub, prediction_id, NULL);
  int rc = body ? post(item->hub, json_string_value(json_object_get(row, "url")),
                       json_string_value(json_object_get(row, "account")),
                       json_string_value(json_object_get(row, "webhook_id")), body, on_delivered,
                       item, &item->transfer)
                : PN_ENOENT;
  pn_free(body);
  if (rc < 0) {
    pn_http_response failed = {.ok = 0, .error = pn_strerror(rc)};
    on_delivered(&failed, item);
  }
}

/* Whether a delivery of this row (its id is "<prediction>:completed") is already on its
 * way: starting it twice would send the same `completed` twice. */
static int delivery_started(const json_t *row) {
  const char *id = json_string_value(json_object_get(row, "id"));
  for (delivery *item = deliveries; item && id; item = item->next)
    if (strcmp(json_string_value(json_object_get(item->row, "id")), id) == 0)
      return 1;
  return 0;
}

/* Renews every claim held here; a delivery whose claim went (this hub stalled past the
 * lease, or Redis lost it, and another hub took it over) stops here without a word to
 * the store: the other hub sends it. */
static void on_renew(evutil_socket_t fd, short what, void *arg) {
  pn_hub *hub = arg;
  size_t count = 0;
  for (delivery *item = deliveries; item; item = item->next)
    count++;
  const char **names = pn_calloc(count ? count : 1, sizeof *names);
  int *kept = pn_calloc(count ? count : 1, sizeof *kept);
  size_t i = 0;
  for (delivery *item = deliveries; names && item; item = item->next)
    names[i++] = json_string_value(json_object_get(item->row, "id"));
  if (names && kept && pn_queue_renew_claims(hub->queue, names, count, kept) == 0) {
    i = 0;
    for (delivery *item = deliveries, *next; item; item = next, i++) {
      next = item->next;
      if (kept[i])
        continue;
      pn_warn("hub: another hub took over the completed webhook of %s (this hub did not "
              "renew its claim in time); it stops here",
              json_string_value(json_object_get(item->row, "prediction")));
      if (item->transfer)
        pn_http_transfer_cancel(item->transfer);
      remove_delivery(item);
    }
  }
  pn_free(kept);
  pn_free(names);
}

/* Claims the delivery for this hub (or renews the claim it holds), so that of the hubs
 * sharing a queue exactly one sends it: 0 when another hub holds it. With the queue unreachable it is sent all the
 * same (a lost webhook is worse than a rare second one). */
static int claim_delivery(pn_hub *hub, const json_t *row) {
  double seconds = pn_queue_claim_seconds(hub->queue);
  if (seconds > 0 && !renew_timer) {
    renew_timer = event_new(hub->base, -1, EV_PERSIST, on_renew, hub);
    double every = seconds / 3;
    struct timeval interval = {(time_t)every, (suseconds_t)((every - (time_t)every) * 1e6)};
    if (renew_timer)
      event_add(renew_timer, &interval);
  }
  int rc = pn_queue_claim(hub->queue, json_string_value(json_object_get(row, "id")));
  if (rc < 0)
    pn_warn("hub: could not claim the completed webhook of %s (%s); sending it anyway",
            json_string_value(json_object_get(row, "prediction")), pn_strerror(rc));
  return rc != 0;
}

static void start_delivery(pn_hub *hub, json_t *row) {
  if (delivery_started(row) || !claim_delivery(hub, row)) {
    json_decref(row);
    return;
  }
  delivery *item = pn_calloc(1, sizeof *item);
  if (!item) {
    json_decref(row);
    return;
  }
  item->hub = hub;
  item->row = row;
  item->timer = evtimer_new(hub->base, on_retry, item);
  item->next = deliveries;
  deliveries = item;
  struct timeval now = {0, 0};
  evtimer_add(item->timer, &now);
}

void pn_hub_hook_complete(pn_hub_hook *hook) {
  if (!hook)
    return;
  if (hook->events & PN_WEBHOOK_COMPLETED) {
    json_t *prediction = NULL;
    char id[27], now[40];
    if (pn_store_get(hook->hub->store, PN_STORE_PREDICTIONS, hook->prediction_id, &prediction) ==
            0 &&
        pn_hub_id_random(id) == 0) {
      char *key = pn_strfmt("%s:completed", hook->prediction_id);
      char *webhook_id = pn_strfmt("msg_%s", id);
      json_t *row =
          json_pack("{s:s?, s:s, s:O, s:s, s:s?, s:i, s:s, s:s}", "id", key, "prediction",
                    hook->prediction_id, "account", json_object_get(prediction, "account"), "url",
                    hook->url, "webhook_id", webhook_id, "attempts", 0, "status", "pending",
                    "created_at", pn_hub_now(now));
      pn_free(key);
      pn_free(webhook_id);
      if (row) {
        save_delivery(hook->hub, row);
        /* Claimed from the start, so that no other hub's sweep resumes it while it waits
         * for the intermediate webhooks (start_delivery claims it again: still ours). */
        claim_delivery(hook->hub, row);
        if (hook->sends->in_flight > 0)
          hook->sends->deferred = row; /* after the intermediate ones land */
        else
          start_delivery(hook->hub, row);
      }
    }
    json_decref(prediction);
  }
  pn_hub_hook_free(hook);
}

/* A pending delivery from the list, claimed for this hub by now: what the list said may
 * be stale. Another hub may have sent it, stored it as ended and given its claim back
 * since; it stores the end before it gives the claim back, so once the claim is ours
 * the stored row says whether it still waits. */
static void resume_claimed(pn_hub *hub, const char *id) {
  json_t *row = NULL;
  const char *status = NULL;
  if (pn_store_get(hub->store, PN_STORE_DELIVERIES, id, &row) == 0)
    status = json_string_value(json_object_get(row, "status"));
  if (!status || strcmp(status, "pending") != 0) {
    json_decref(row);
    pn_queue_drop_claim(hub->queue, id);
    return;
  }
  start_delivery(hub, row); /* claims it again: ours, renewed */
}

/* Claims per round trip when resuming: a receiver down for long at a high rate leaves
 * thousands pending, nearly all of them held by the live hubs that retry them. */
#define RESUME_CLAIM_BATCH 256

void pn_hub_deliveries_resume(pn_hub *hub) {
  static const char *const pending[] = {"pending", NULL};
  pn_store_query query = {.statuses = pending, .ascending = 1, .limit = 10000};
  json_t *rows = NULL;
  int more = 0;
  if (pn_store_list(hub->store, PN_STORE_DELIVERIES, &query, &rows, &more) < 0)
    return;
  const char *ids[RESUME_CLAIM_BATCH];
  int got[RESUME_CLAIM_BATCH];
  size_t count = 0, index;
  json_t *row;
  json_array_foreach(rows, index, row) {
    const char *id = json_string_value(json_object_get(row, "id"));
    /* Unlike a new delivery, one that cannot be claimed now waits for the next sweep. */
    if (id && !delivery_started(row))
      ids[count++] = id;
    if (count == RESUME_CLAIM_BATCH || (count > 0 && index + 1 == json_array_size(rows))) {
      if (pn_queue_claim_each(hub->queue, ids, count, got) < 0)
        break;
      for (size_t i = 0; i < count; i++)
        if (got[i])
          resume_claimed(hub, ids[i]);
      count = 0;
    }
  }
  json_decref(rows);
}

void pn_hub_deliveries_free(void) {
  if (renew_timer)
    event_free(renew_timer);
  renew_timer = NULL;
  while (deliveries) {
    if (deliveries->transfer)
      pn_http_transfer_cancel(deliveries->transfer);
    /* Given back, so that another hub (or this one, restarted) resumes it at once. */
    pn_queue_drop_claim(deliveries->hub->queue,
                        json_string_value(json_object_get(deliveries->row, "id")));
    remove_delivery(deliveries);
  }
}
