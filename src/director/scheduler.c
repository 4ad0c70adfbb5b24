/* The hub's scheduler: a FIFO queue per target and the instances that serve it. All
 * decisions (dispatch, scaling up, stopping stale instances, arming idle timers) are made
 * in one place, schedule(), which runs from a deferred event after anything changes, so
 * no event is ever emitted from inside a call into the scheduler and callbacks may call
 * back in. A prediction is QUEUED on its target, DISPATCHED while its PUT is in flight
 * and RUNNING once the instance accepted it (202) until its `completed` webhook. An
 * instance entry is BOOTING until its health check says READY, READY while it takes
 * work, and STOPPING (moved off its target) from a stop or a failed boot until the
 * process is reaped. Lookups are linear: the hub holds hundreds of predictions in
 * flight, not millions. See docs/internals/scheduler.md. */
#include "director/scheduler.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "director/instance.h"
#include "director/networks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define STOP_GRACE_SECONDS 10.0
#define FREE_GRACE_SECONDS 2.0
#define BUSY_RETRY_SECONDS 0.1
#define LOG_TAIL_BYTES 2048
#define CREDENTIAL_BYTES 32
#define CREDENTIAL_HEX (CREDENTIAL_BYTES * 2)

typedef struct target target;
typedef struct entry entry;
typedef struct prediction prediction;

enum prediction_state { QUEUED, DISPATCHED, RUNNING };
enum entry_state { BOOTING, READY, STOPPING };

struct prediction {
  pn_scheduler *scheduler;
  char *id;
  target *target;
  json_t *request;
  enum prediction_state state;
  entry *instance;     /* DISPATCHED or RUNNING: where */
  entry *waiting_for;  /* QUEUED: the booting instance covering it, if any */
  int booting_emitted; /* a BOOTING event went out: STARTED reports the cold boot */
  int started_emitted;
  int updated; /* a webhook arrived */
  int cancel_requested;
  json_t *last_output;
  pn_http_transfer *put;
  pn_http_transfer *cancel;
  prediction *prev, *next;         /* the target's queue, or the entry's running list */
  prediction *all_prev, *all_next; /* every prediction the scheduler knows */
};

struct entry {
  pn_scheduler *scheduler;
  char token[33]; /* the instance's name (scratch folder, BOOTING events): not a secret */
  /* The instance's credential on the hub's internal routes, the hex of 32 random bytes in
   * its webhook and upload URLs; emptied the moment the instance is stopped. */
  char credential[CREDENTIAL_HEX + 1];
  pn_instance *instance;
  target *target;
  enum entry_state state;
  unsigned generation; /* the target's source when it started */
  double boot_seconds;
  int network_slot; /* an isolated image version's own container network, or -1 */
  int slots; /* predictions it takes at once: its pinion_slots, known once READY */
  int running;
  int blocked; /* answered 409: no dispatch until a completion or the retry timer */
  prediction *first, *last;
  struct event *idle_timer;
  struct event *retry_timer;
  entry *prev, *next; /* the target's instances, or the scheduler's stopping list */
};

struct target {
  char *key;
  char *bundle_dir;
  char *image;
  char *mode;
  int min_instances;
  int max_instances;
  int slots;          /* assumed per instance until one reports its own */
  int reported_slots; /* what the last ready instance of this generation said, or 0 */
  unsigned generation;
  prediction *first, *last; /* the queue */
  int queued;
  entry *instances; /* BOOTING and READY */
  target *next;
};

struct pn_scheduler {
  struct event_base *base;
  /* The container networks of director/networks.h that instances hold: bit N, slot N. */
  uint64_t network_slots;
  pn_http_client *client;
  char *pinion;
  char *python;
  char *scratch_dir;
  char *hub_url;
  char *hub_socket;        /* for sandboxed folder versions */
  char *container_hub_url; /* for image versions unless isolation is none */
  int container_pending;   /* image versions' instances wait for the hub's bridge socket */
  char *container_error;   /* why image versions cannot run, or NULL */
  double idle_timeout;
  double boot_timeout;
  enum pn_isolation isolation;
  int instance_network_off;
  pn_sandbox *sandbox; /* bubblewrap isolation once its probe passed */
  char *sandbox_error; /* why folder versions cannot run here, or NULL */
  pn_scheduler_event_fn on_event;
  void *arg;
  target *targets;
  prediction *predictions;
  entry *stopping;
  struct event *kick;
};

static void kick(pn_scheduler *scheduler) { event_active(scheduler->kick, EV_TIMEOUT, 0); }

static struct timeval seconds_to_timeval(double seconds) {
  struct timeval tv;
  tv.tv_sec = (time_t)seconds;
  tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
  return tv;
}

static void emit(pn_scheduler *scheduler, const char *id, enum pn_scheduler_event event,
                 const char *kind, json_t *detail) {
  scheduler->on_event(scheduler->arg, id, event, kind, detail);
  json_decref(detail);
}

/* --- lists ---------------------------------------------------------------------------- */

static void queue_unlink(prediction *p) {
  target *t = p->target;
  if (p->prev)
    p->prev->next = p->next;
  else
    t->first = p->next;
  if (p->next)
    p->next->prev = p->prev;
  else
    t->last = p->prev;
  p->prev = p->next = NULL;
  p->waiting_for = NULL;
  t->queued--;
}

static void queue_push_back(prediction *p) {
  target *t = p->target;
  p->state = QUEUED;
  p->next = NULL;
  p->prev = t->last;
  if (t->last)
    t->last->next = p;
  else
    t->first = p;
  t->last = p;
  t->queued++;
}

static void queue_push_front(prediction *p) {
  target *t = p->target;
  p->state = QUEUED;
  p->prev = NULL;
  p->next = t->first;
  if (t->first)
    t->first->prev = p;
  else
    t->last = p;
  t->first = p;
  t->queued++;
}

static void running_link(entry *e, prediction *p) {
  p->instance = e;
  p->next = NULL;
  p->prev = e->last;
  if (e->last)
    e->last->next = p;
  else
    e->first = p;
  e->last = p;
  e->running++;
}

static void running_unlink(prediction *p) {
  entry *e = p->instance;
  if (p->prev)
    p->prev->next = p->next;
  else
    e->first = p->next;
  if (p->next)
    p->next->prev = p->prev;
  else
    e->last = p->prev;
  p->prev = p->next = NULL;
  p->instance = NULL;
  e->running--;
}

/* Appends, so that a target's instances are in the order they started. */
static void entry_link(entry **head, entry *e) {
  e->next = NULL;
  e->prev = NULL;
  if (!*head) {
    *head = e;
    return;
  }
  entry *last = *head;
  while (last->next)
    last = last->next;
  last->next = e;
  e->prev = last;
}

static void entry_unlink(entry **head, entry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    *head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  e->prev = e->next = NULL;
}

/* --- predictions ---------------------------------------------------------------------- */

static prediction *find_prediction(const pn_scheduler *scheduler, const char *id) {
  for (prediction *p = scheduler->predictions; p; p = p->all_next)
    if (strcmp(p->id, id) == 0)
      return p;
  return NULL;
}

/* Takes the prediction out of every list (so callbacks can no longer reach it). */
static void detach(prediction *p) {
  pn_scheduler *scheduler = p->scheduler;
  if (p->state == QUEUED)
    queue_unlink(p);
  else if (p->instance)
    running_unlink(p);
  if (p->all_prev)
    p->all_prev->all_next = p->all_next;
  else
    scheduler->predictions = p->all_next;
  if (p->all_next)
    p->all_next->all_prev = p->all_prev;
  p->all_prev = p->all_next = NULL;
  if (p->put)
    pn_http_transfer_cancel(p->put);
  if (p->cancel)
    pn_http_transfer_cancel(p->cancel);
  p->put = p->cancel = NULL;
}

static void free_prediction(prediction *p) {
  json_decref(p->request);
  json_decref(p->last_output);
  pn_free(p->id);
  pn_free(p);
}

/* A list of detached predictions, failed together after the bookkeeping is done. */
typedef struct failing {
  prediction *first;
} failing;

static void failing_add(failing *list, prediction *p) {
  detach(p);
  p->next = list->first;
  list->first = p;
}

static void failing_emit(pn_scheduler *scheduler, failing *list, const char *error) {
  while (list->first) {
    prediction *p = list->first;
    list->first = p->next;
    emit(scheduler, p->id, PN_SCHEDULER_FAILED, NULL, json_pack("{s:s}", "error", error));
    free_prediction(p);
  }
}

static void fail_one(prediction *p, const char *error) {
  failing list = {NULL};
  failing_add(&list, p);
  failing_emit(p->scheduler, &list, error);
}

static json_t *cold_boot_detail(const prediction *p) {
  json_t *seconds =
      p->booting_emitted && p->instance ? json_real(p->instance->boot_seconds) : json_null();
  return json_pack("{s:o}", "cold_boot_time", seconds);
}

static void emit_started(prediction *p) {
  if (p->started_emitted)
    return;
  p->started_emitted = 1;
  emit(p->scheduler, p->id, PN_SCHEDULER_STARTED, NULL, cold_boot_detail(p));
}

/* --- instances ------------------------------------------------------------------------ */

/* The instance holding `credential`: only instances on a target (BOOTING or READY)
 * hold one; a stopping instance's credential is already gone. */
static entry *find_entry(const pn_scheduler *scheduler, const char *credential) {
  if (!credential || strlen(credential) != CREDENTIAL_HEX)
    return NULL;
  for (target *t = scheduler->targets; t; t = t->next)
    for (entry *e = t->instances; e; e = e->next)
      if (e->credential[0] && pn_crypto_equal(e->credential, credential, CREDENTIAL_HEX))
        return e;
  return NULL;
}

static int count_instances(const target *t) {
  int count = 0;
  for (const entry *e = t->instances; e; e = e->next)
    count++;
  return count;
}

static void free_entry(entry *e) {
  /* The process is gone (or never ran), and the container with it. */
  if (e->network_slot >= 0)
    e->scheduler->network_slots &= ~((uint64_t)1 << e->network_slot);
  if (e->idle_timer)
    event_free(e->idle_timer);
  if (e->retry_timer)
    event_free(e->retry_timer);
  pn_free(e);
}

/* Takes the entry off its target; the process is stopped and reaped later. */
static void stop_entry(entry *e) {
  pn_scheduler *scheduler = e->scheduler;
  if (e->state == STOPPING)
    return;
  e->state = STOPPING;
  memset(e->credential, 0, sizeof e->credential); /* revoked before anything else runs */
  event_del(e->idle_timer);
  event_del(e->retry_timer);
  for (prediction *p = e->target->first; p; p = p->next)
    if (p->waiting_for == e)
      p->waiting_for = NULL;
  entry_unlink(&e->target->instances, e);
  entry_link(&scheduler->stopping, e);
  pn_instance_stop(e->instance, STOP_GRACE_SECONDS);
}

/* The instance will not serve the predictions that waited for it. When nothing else of
 * the target is up or coming, every queued prediction would only meet the same failure,
 * so all of them fail. */
static void fail_waiting(entry *e, const char *error) {
  target *t = e->target;
  failing list = {NULL};
  int others = 0;
  for (entry *other = t->instances; other; other = other->next)
    others += other != e;
  prediction *next;
  for (prediction *p = t->first; p; p = next) {
    next = p->next;
    if (p->waiting_for == e || !others)
      failing_add(&list, p);
  }
  failing_emit(e->scheduler, &list, error);
}

static void on_instance_ready(pn_instance *instance, double boot_seconds, void *arg) {
  entry *e = arg;
  e->state = READY;
  e->boot_seconds = boot_seconds;
  e->slots = pn_instance_slots(instance);
  if (e->generation == e->target->generation)
    e->target->reported_slots = e->slots;
  pn_info("hub: an instance of %s is ready after %.2f s", e->target->key, boot_seconds);
  kick(e->scheduler);
}

static void on_instance_boot_failed(pn_instance *instance, const char *error, void *arg) {
  entry *e = arg;
  pn_warn("hub: an instance of %s failed to start: %s", e->target->key, error);
  fail_waiting(e, error);
  stop_entry(e);
  kick(e->scheduler);
}

static void on_instance_exit(pn_instance *instance, const char *diagnosis, int requested,
                             void *arg) {
  entry *e = arg;
  pn_scheduler *scheduler = e->scheduler;
  if (e->state != STOPPING) {
    pn_warn("hub: an instance of %s ended: %s", e->target->key, diagnosis);
    char *error = e->state == BOOTING
                      ? pn_strfmt("the instance ended before it was ready: %s", diagnosis)
                      : NULL;
    if (error)
      fail_waiting(e, error);
    pn_free(error);
    stop_entry(e); /* off the target; the process is already gone */
  }
  if (e->first) {
    char *error = pn_strfmt("the instance running the prediction ended: %s", diagnosis);
    failing list = {NULL};
    while (e->first)
      failing_add(&list, e->first);
    failing_emit(scheduler, &list, error ? error : diagnosis);
    pn_free(error);
  }
  entry_unlink(&scheduler->stopping, e);
  pn_instance_free(e->instance, 0);
  free_entry(e);
  kick(scheduler);
}

static void on_idle(evutil_socket_t fd, short what, void *arg) {
  entry *e = arg;
  if (e->state != READY || e->running)
    return;
  if (count_instances(e->target) <= e->target->min_instances)
    return; /* schedule() re-arms it */
  pn_info("hub: stopping an idle instance of %s", e->target->key);
  stop_entry(e);
  kick(e->scheduler);
}

static void on_retry(evutil_socket_t fd, short what, void *arg) {
  entry *e = arg;
  e->blocked = 0;
  kick(e->scheduler);
}

/* The lowest container network no instance holds, now held; -1 when all are. */
static int take_network_slot(pn_scheduler *scheduler) {
  _Static_assert(PN_NETWORK_SLOTS <= 64, "the slots are the bits of a uint64_t");
  for (int slot = 0; slot < PN_NETWORK_SLOTS; slot++) {
    if (!(scheduler->network_slots & ((uint64_t)1 << slot))) {
      scheduler->network_slots |= (uint64_t)1 << slot;
      return slot;
    }
  }
  return -1;
}

static void make_token(char token[33]) {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
    static unsigned long counter;
    unsigned long mixed =
        (unsigned long)pn_clock_realtime_ns() ^ ((unsigned long)getpid() << 32) ^ ++counter;
    for (size_t i = 0; i < sizeof bytes; i++)
      bytes[i] = (unsigned char)(mixed >> ((i % 8) * 8));
  }
  for (size_t i = 0; i < sizeof bytes; i++)
    snprintf(token + i * 2, 3, "%02x", bytes[i]);
}

/* A fresh credential from the system's CSPRNG, as hex. */
static int make_credential(char credential[CREDENTIAL_HEX + 1]) {
  unsigned char bytes[CREDENTIAL_BYTES];
  int rc = pn_crypto_random(bytes, sizeof bytes);
  for (size_t i = 0; rc == 0 && i < sizeof bytes; i++)
    snprintf(credential + i * 2, 3, "%02x", bytes[i]);
  memset(bytes, 0, sizeof bytes);
  return rc;
}

static int start_entry(pn_scheduler *scheduler, target *t, char **error) {
  entry *e = pn_calloc(1, sizeof *e);
  if (!e)
    return PN_ENOMEM;
  if (make_credential(e->credential) < 0) {
    pn_free(e);
    *error = pn_strdup("the system's random number generator failed");
    return PN_EIO;
  }
  e->scheduler = scheduler;
  e->target = t;
  e->generation = t->generation;
  e->state = BOOTING;
  e->network_slot = -1;
  make_token(e->token);
  e->idle_timer = evtimer_new(scheduler->base, on_idle, e);
  e->retry_timer = evtimer_new(scheduler->base, on_retry, e);
  char *scratch = pn_fs_join(scheduler->scratch_dir, e->token);
  char *upload_url = pn_strfmt("%s/internal/uploads/%s/",
                               pn_scheduler_instance_hub_url(scheduler, t->image != NULL),
                               e->credential);
  int rc = PN_ENOMEM;
  if (t->bundle_dir && scheduler->sandbox_error) {
    *error = pn_strdup(scheduler->sandbox_error);
    rc = PN_EUNSUPPORTED;
  } else if (t->image && scheduler->isolation != PN_ISOLATION_NONE &&
             scheduler->instance_network_off) {
    *error = pn_strdup("image versions cannot run on this hub: it runs models without network "
                       "(--instance-network off), and a container needs the container engine's "
                       "network to reach the hub and be reached by it; push the model as a "
                       "folder (without --image), or run it on a hub with the network on");
    rc = PN_EUNSUPPORTED;
  } else if (t->image && scheduler->isolation != PN_ISOLATION_NONE && scheduler->container_error) {
    *error = pn_strfmt("image versions cannot run on this hub: %s", scheduler->container_error);
    rc = PN_EUNSUPPORTED;
  } else if (t->image && scheduler->isolation != PN_ISOLATION_NONE &&
             (e->network_slot = take_network_slot(scheduler)) < 0) {
    *error = pn_strfmt("every one of the hub's %d container networks is in use by a running "
                       "instance of an image version; wait for one to stop",
                       PN_NETWORK_SLOTS);
    rc = PN_EBUSY;
  } else if (e->idle_timer && e->retry_timer && scratch && upload_url) {
    pn_instance_spec spec = {.pinion = scheduler->pinion,
                             .python = scheduler->python,
                             .bundle_dir = t->bundle_dir,
                             .image = t->image,
                             .mode = t->mode,
                             .scratch_dir = scratch,
                             .upload_url = upload_url,
                             .hub_url = scheduler->hub_url,
                             .hub_socket = scheduler->hub_socket,
                             .sandbox = scheduler->sandbox,
                             .isolate_image = scheduler->isolation != PN_ISOLATION_NONE,
                             .network_slot = e->network_slot,
                             .boot_timeout = scheduler->boot_timeout};
    pn_instance_callbacks callbacks = {on_instance_ready, on_instance_boot_failed,
                                       on_instance_exit};
    rc = pn_instance_start(scheduler->base, scheduler->client, &spec, &callbacks, e, &e->instance,
                           error);
  }
  pn_free(scratch);
  pn_free(upload_url);
  if (rc < 0) {
    free_entry(e);
    return rc;
  }
  pn_info("hub: starting an instance of %s (pid %d)", t->key, (int)pn_instance_pid(e->instance));
  entry_link(&t->instances, e);
  return 0;
}

/* --- dispatch ------------------------------------------------------------------------- */

static void on_cancel_done(const pn_http_response *response, void *arg) {
  prediction *p = arg;
  p->cancel = NULL;
}

static void send_cancel(prediction *p) {
  if (p->cancel || !p->instance)
    return;
  if (pn_instance_cancel_prediction(p->instance->instance, p->id, on_cancel_done, p, &p->cancel) <
      0)
    p->cancel = NULL;
}

static char *diagnose_unreachable(entry *e, const char *what) {
  char *tail = pn_instance_log_tail(e->instance, LOG_TAIL_BYTES);
  char *text = pn_strfmt("%s; the instance's log ends with:\n%s", what, tail ? tail : "");
  pn_free(tail);
  return text;
}

static void on_put_done(const pn_http_response *response, void *arg) {
  prediction *p = arg;
  entry *e = p->instance;
  p->put = NULL;
  long status = response->ok ? response->status : 0;
  if (status == 200 || status == 201 || status == 202) {
    p->state = RUNNING;
    emit_started(p);
    /* The callback may have canceled it or the instance may be gone: look again. */
    if (p->cancel_requested && p->state == RUNNING && p->instance)
      send_cancel(p);
    return;
  }
  if (status == 409 || status == 503) {
    /* Busy (or briefly not ready): it goes back to the front, and this instance gets no
     * more work until something completes on it or a moment has passed. */
    running_unlink(p);
    e->blocked = 1;
    if (p->cancel_requested) { /* never started: dropped like a queued one */
      detach(p);
      free_prediction(p);
    } else {
      queue_push_front(p);
    }
    struct timeval retry = seconds_to_timeval(BUSY_RETRY_SECONDS);
    event_add(e->retry_timer, &retry);
    kick(e->scheduler);
    return;
  }
  if (!response->ok && pn_instance_check_exit(e->instance))
    return; /* it died: on_exit fails what it was running, with the diagnosis */
  char *what;
  if (!response->ok) {
    what = pn_strfmt("could not reach the instance at %s: %s", pn_instance_address(e->instance),
                     response->error ? response->error : "?");
  } else {
    const char *body = response->body && response->body->data ? response->body->data : "";
    what = pn_strfmt("the instance refused the prediction with HTTP %ld: %.1000s", status, body);
  }
  char *error = what ? diagnose_unreachable(e, what) : NULL;
  pn_free(what);
  if (!response->ok)
    stop_entry(e); /* unreachable but alive: it is of no use */
  fail_one(p, error ? error : "the instance did not accept the prediction");
  pn_free(error);
  kick(e->scheduler);
}

static int dispatch(pn_scheduler *scheduler, prediction *p, entry *e) {
  json_t *body = json_deep_copy(p->request);
  char *webhook = pn_strfmt("%s/internal/instances/%s/webhook",
                            pn_scheduler_instance_hub_url(scheduler, e->target->image != NULL),
                            e->credential);
  char *text = NULL;
  if (body && webhook && json_object_set_new(body, "id", json_string(p->id)) == 0 &&
      json_object_set_new(body, "webhook", json_string(webhook)) == 0)
    text = pn_json_dump(body, PN_JSON_COMPACT);
  json_decref(body);
  pn_free(webhook);
  if (!text)
    return PN_ENOMEM;
  queue_unlink(p);
  p->state = DISPATCHED;
  running_link(e, p);
  event_del(e->idle_timer);
  int rc = pn_instance_put_prediction(e->instance, p->id, text, on_put_done, p, &p->put);
  pn_free(text);
  if (rc < 0) {
    p->put = NULL;
    running_unlink(p);
    queue_push_front(p);
  }
  return rc;
}

/* --- schedule ------------------------------------------------------------------------- */

static entry *free_instance_of(target *t) {
  entry *best = NULL;
  for (entry *e = t->instances; e; e = e->next)
    if (e->state == READY && !e->blocked && e->generation == t->generation &&
        e->running < e->slots && (!best || e->running < best->running))
      best = e;
  return best;
}

typedef struct booting_note {
  char *id;
  char token[33];
} booting_note;

/* The slots a booting instance of `t` will have: what its last ready instance reported
 * (`pinion_slots`), else the target's assumption. */
static int expected_slots(const target *t) {
  return t->reported_slots > 0 ? t->reported_slots : t->slots;
}

/* Each booting instance covers `expected_slots` queued predictions, in queue order; those
 * not yet told get a BOOTING event naming it. Returns the notes to emit (pn_malloc'd). */
static booting_note *cover_queue(target *t, size_t *count) {
  *count = 0;
  booting_note *notes = NULL;
  size_t capacity = 0;
  prediction *p = t->first;
  for (entry *e = t->instances; e && p; e = e->next) {
    if (e->state != BOOTING || e->generation != t->generation)
      continue;
    for (int covered = 0; covered < expected_slots(t) && p; covered++, p = p->next) {
      p->waiting_for = e;
      if (p->booting_emitted)
        continue;
      p->booting_emitted = 1;
      if (*count == capacity) {
        size_t grown = capacity ? capacity * 2 : 8;
        booting_note *bigger = pn_realloc(notes, grown * sizeof *notes);
        if (!bigger)
          return notes;
        notes = bigger;
        capacity = grown;
      }
      notes[*count].id = pn_strdup(p->id);
      memcpy(notes[*count].token, e->token, sizeof e->token);
      if (notes[*count].id)
        (*count)++;
    }
  }
  return notes;
}

static void schedule_target(pn_scheduler *scheduler, target *t) {
  entry *next;
  for (entry *e = t->instances; e; e = next) {
    next = e->next;
    if (e->generation != t->generation && !e->running)
      stop_entry(e); /* the target's source changed */
  }
  while (t->first) {
    entry *e = free_instance_of(t);
    if (!e || dispatch(scheduler, t->first, e) < 0)
      break;
  }
  int instances = 0, booting_slots = 0;
  for (entry *e = t->instances; e; e = e->next) {
    instances++;
    if (e->state == BOOTING && e->generation == t->generation)
      booting_slots += expected_slots(t);
  }
  char *error = NULL;
  /* An image version's instance waits until the hub knows its way in (hub/bridge.h);
   * the answer kicks the scheduler. */
  int held = t->image && scheduler->isolation != PN_ISOLATION_NONE && scheduler->container_pending;
  while (!held && (t->queued > booting_slots || instances < t->min_instances) &&
         instances < t->max_instances) {
    if (start_entry(scheduler, t, &error) < 0) {
      char *message = pn_strfmt("could not start an instance of the model: %s",
                                error ? error : "out of memory");
      failing list = {NULL};
      while (t->first)
        failing_add(&list, t->first);
      failing_emit(scheduler, &list, message ? message : "could not start an instance");
      pn_free(message);
      pn_free(error);
      return;
    }
    instances++;
    booting_slots += expected_slots(t);
  }
  for (entry *e = t->instances; e; e = e->next) {
    if (e->state == READY && !e->running) {
      if (!evtimer_pending(e->idle_timer, NULL)) {
        struct timeval idle = seconds_to_timeval(scheduler->idle_timeout);
        event_add(e->idle_timer, &idle);
      }
    } else {
      event_del(e->idle_timer);
    }
  }
  size_t count = 0;
  booting_note *notes = cover_queue(t, &count);
  for (size_t i = 0; i < count; i++) {
    emit(scheduler, notes[i].id, PN_SCHEDULER_BOOTING, NULL,
         json_pack("{s:s}", "instance", notes[i].token));
    pn_free(notes[i].id);
  }
  pn_free(notes);
}

static void on_kick(evutil_socket_t fd, short what, void *arg) {
  pn_scheduler *scheduler = arg;
  for (target *t = scheduler->targets; t; t = t->next)
    schedule_target(scheduler, t);
}

/* --- targets -------------------------------------------------------------------------- */

static int same_text(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static target *find_target(const pn_scheduler *scheduler, const char *key) {
  for (target *t = scheduler->targets; t; t = t->next)
    if (strcmp(t->key, key) == 0)
      return t;
  return NULL;
}

static int replace_text(char **field, const char *value) {
  char *copy = NULL;
  if (value && !(copy = pn_strdup(value)))
    return PN_ENOMEM;
  pn_free(*field);
  *field = copy;
  return 0;
}

/* Finds or creates the target and brings it to `spec`; a changed source makes running
 * instances stale (they finish what they run, then stop). */
static int update_target(pn_scheduler *scheduler, const pn_scheduler_target *spec, target **out) {
  if (!spec || !spec->key || (!spec->bundle_dir && !spec->image))
    return PN_EINVAL;
  const char *mode = spec->mode ? spec->mode : "predict";
  if (strcmp(mode, "predict") != 0 && strcmp(mode, "train") != 0)
    return PN_EINVAL;
  target *t = find_target(scheduler, spec->key);
  if (!t) {
    t = pn_calloc(1, sizeof *t);
    if (!t || !(t->key = pn_strdup(spec->key))) {
      pn_free(t);
      return PN_ENOMEM;
    }
    t->next = scheduler->targets;
    scheduler->targets = t;
  }
  if (!same_text(t->bundle_dir, spec->bundle_dir) || !same_text(t->image, spec->image) ||
      !same_text(t->mode, mode)) {
    if (replace_text(&t->bundle_dir, spec->bundle_dir) < 0 ||
        replace_text(&t->image, spec->image) < 0 || replace_text(&t->mode, mode) < 0)
      return PN_ENOMEM;
    t->generation++;
    t->reported_slots = 0; /* another model: its instances will say */
  }
  t->max_instances = spec->max_instances > 0 ? spec->max_instances : 1;
  t->min_instances = spec->min_instances > 0 ? spec->min_instances : 0;
  if (t->min_instances > t->max_instances)
    t->min_instances = t->max_instances;
  t->slots = spec->slots > 0 ? spec->slots : 1;
  *out = t;
  return 0;
}

int pn_scheduler_slots(const pn_scheduler *scheduler, const char *key) {
  const target *t = key ? find_target(scheduler, key) : NULL;
  return t ? expected_slots(t) : 1;
}

static void free_target(target *t) {
  pn_free(t->key);
  pn_free(t->bundle_dir);
  pn_free(t->image);
  pn_free(t->mode);
  pn_free(t);
}

/* --- isolation ----------------------------------------------------------------------- */

/* Scratch folders live as long as their instance. The scratch folder is this
 * scheduler's alone (the hub's owner folder, hub/owner.h): what is in it was left by
 * this process's own earlier use, and goes now, with any sandbox still running over it. */
static int sweep_scratch(const pn_scheduler *scheduler) {
  int killed = pn_sandbox_kill_strays(scheduler->scratch_dir);
  if (killed > 0)
    pn_warn("hub: killed %d process%s of sandboxes that a previous run left behind", killed,
            killed == 1 ? "" : "es");
  int rc = pn_fs_remove_tree(scheduler->scratch_dir);
  if (rc == 0 && mkdir(scheduler->scratch_dir, 0700) < 0)
    rc = PN_EIO;
  return rc;
}

static int setup_isolation(pn_scheduler *scheduler, const pn_scheduler_options *options) {
  scheduler->isolation = options->isolation;
  scheduler->instance_network_off = options->instance_network_off;
  if (options->isolation == PN_ISOLATION_NONE) {
    pn_warn("hub: --isolation none: pushed models run as this hub's user, with its environment "
            "and its files (the data folder's secret and database included). Use it only when "
            "you trust everyone who can push models to this hub.");
    return 0;
  }
  if (options->isolation == PN_ISOLATION_CONTAINER) {
    scheduler->sandbox_error =
        pn_strdup("this hub runs only image versions (--isolation container): push the model as "
                  "an image (pinion push --image), or run the hub with --isolation bubblewrap");
    return scheduler->sandbox_error ? 0 : PN_ENOMEM;
  }
  pn_sandbox_options sandbox_options = pn_sandbox_options_from_env();
  sandbox_options.pinion = scheduler->pinion;
  sandbox_options.network = !scheduler->instance_network_off;
  sandbox_options.python = scheduler->python;
  char *error = NULL;
  char *probe_dir = pn_fs_join(scheduler->scratch_dir, "probe");
  int rc = probe_dir ? pn_sandbox_new(&sandbox_options, &scheduler->sandbox, &error) : PN_ENOMEM;
  if (rc == 0)
    rc = pn_sandbox_probe(scheduler->sandbox, probe_dir, &error);
  pn_free(probe_dir);
  if (rc == PN_ENOMEM) {
    pn_free(error);
    return rc;
  }
  if (rc < 0) {
    pn_sandbox_free(scheduler->sandbox);
    scheduler->sandbox = NULL;
    /* slirp4netns missing: its message says what to do. */
    scheduler->sandbox_error =
        rc == PN_EUNSUPPORTED
            ? pn_strfmt("folder versions cannot run on this hub: %s", error ? error : "?")
            : pn_strfmt(
        "folder versions cannot run on this hub: %s. Install bubblewrap (Debian: apt-get "
        "install bubblewrap) and allow unprivileged user namespaces (sysctl "
        "kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), or start the hub "
        "with --isolation none ONLY if you trust everyone who can push models to it",
        error ? error : "?");
    pn_free(error);
    if (!scheduler->sandbox_error)
      return PN_ENOMEM;
    pn_error("hub: %s", scheduler->sandbox_error);
    return 0;
  }
  pn_info("hub: folder versions run sandboxed by bubblewrap, %s",
          scheduler->instance_network_off
              ? "without network (--instance-network off)"
              : "with network through slirp4netns (not to the host's loopback)");
  return 0;
}

/* --- the interface -------------------------------------------------------------------- */

const char *pn_scheduler_instance_hub_url(const pn_scheduler *scheduler, int image) {
  if (!image || scheduler->isolation == PN_ISOLATION_NONE || !scheduler->container_hub_url)
    return scheduler->hub_url;
  return scheduler->container_hub_url;
}

void pn_scheduler_container_network(pn_scheduler *scheduler, const char *error) {
  scheduler->container_pending = 0;
  pn_free(scheduler->container_error);
  scheduler->container_error = error ? pn_strdup(error) : NULL;
  if (error && !scheduler->container_error)
    scheduler->container_error = pn_strdup("out of memory");
  kick(scheduler);
}

int pn_scheduler_new(struct event_base *base, pn_http_client *client,
                     const pn_scheduler_options *options, pn_scheduler_event_fn on_event, void *arg,
                     pn_scheduler **out) {
  *out = NULL;
  if (!options->pinion || !options->scratch_dir || !options->hub_url || !on_event)
    return PN_EINVAL;
  pn_scheduler *scheduler = pn_calloc(1, sizeof *scheduler);
  if (!scheduler)
    return PN_ENOMEM;
  scheduler->base = base;
  scheduler->client = client;
  scheduler->pinion = pn_strdup(options->pinion);
  /* A sandbox starts from an empty environment: the Python the hub would have let serve
   * find in PINION_PYTHON is passed as --python instead. */
  const char *python = options->python ? options->python : getenv("PINION_PYTHON");
  scheduler->python = python && *python ? pn_strdup(python) : NULL;
  scheduler->scratch_dir = pn_strdup(options->scratch_dir);
  scheduler->hub_url = pn_strdup(options->hub_url);
  size_t length = scheduler->hub_url ? strlen(scheduler->hub_url) : 0;
  while (length && scheduler->hub_url[length - 1] == '/')
    scheduler->hub_url[--length] = '\0';
  scheduler->hub_socket = options->hub_socket ? pn_strdup(options->hub_socket) : NULL;
  scheduler->container_hub_url =
      options->container_hub_url ? pn_strdup(options->container_hub_url) : NULL;
  scheduler->container_pending = options->container_pending;
  scheduler->container_error =
      options->container_error ? pn_strdup(options->container_error) : NULL;
  scheduler->idle_timeout = options->idle_timeout > 0 ? options->idle_timeout : 60;
  scheduler->boot_timeout = options->boot_timeout > 0 ? options->boot_timeout : 600;
  scheduler->on_event = on_event;
  scheduler->arg = arg;
  scheduler->kick = event_new(base, -1, 0, on_kick, scheduler);
  if (!scheduler->pinion || (python && *python && !scheduler->python) || !scheduler->scratch_dir ||
      !scheduler->hub_url || !scheduler->kick || (options->hub_socket && !scheduler->hub_socket) ||
      (options->container_hub_url && !scheduler->container_hub_url) ||
      (options->container_error && !scheduler->container_error)) {
    pn_scheduler_free(scheduler);
    return PN_ENOMEM;
  }
  int rc = sweep_scratch(scheduler);
  if (rc == 0)
    rc = setup_isolation(scheduler, options);
  if (rc < 0) {
    pn_scheduler_free(scheduler);
    return rc;
  }
  *out = scheduler;
  return 0;
}

static size_t collect_entry(entry *e, pn_instance **instances, size_t count) {
  instances[count] = e->instance;
  return count + 1;
}

void pn_scheduler_free(pn_scheduler *scheduler) {
  if (!scheduler)
    return;
  while (scheduler->predictions) {
    prediction *p = scheduler->predictions;
    detach(p);
    free_prediction(p);
  }
  size_t total = 0;
  for (target *t = scheduler->targets; t; t = t->next)
    total += (size_t)count_instances(t);
  for (entry *e = scheduler->stopping; e; e = e->next)
    total++;
  pn_instance **instances = total ? pn_calloc(total, sizeof *instances) : NULL;
  size_t count = 0;
  for (target *t = scheduler->targets; t; t = t->next)
    for (entry *e = t->instances; e && instances; e = e->next)
      count = collect_entry(e, instances, count);
  for (entry *e = scheduler->stopping; e && instances; e = e->next)
    count = collect_entry(e, instances, count);
  if (instances) {
    pn_instance_free_all(instances, count, FREE_GRACE_SECONDS);
    pn_free(instances);
  } else {
    for (target *t = scheduler->targets; t; t = t->next)
      for (entry *e = t->instances; e; e = e->next)
        pn_instance_free(e->instance, 0);
    for (entry *e = scheduler->stopping; e; e = e->next)
      pn_instance_free(e->instance, 0);
  }
  while (scheduler->stopping) {
    entry *e = scheduler->stopping;
    scheduler->stopping = e->next;
    free_entry(e);
  }
  while (scheduler->targets) {
    target *t = scheduler->targets;
    scheduler->targets = t->next;
    while (t->instances) {
      entry *e = t->instances;
      t->instances = e->next;
      free_entry(e);
    }
    free_target(t);
  }
  if (scheduler->kick)
    event_free(scheduler->kick);
  pn_sandbox_free(scheduler->sandbox);
  pn_free(scheduler->sandbox_error);
  pn_free(scheduler->pinion);
  pn_free(scheduler->python);
  pn_free(scheduler->scratch_dir);
  pn_free(scheduler->hub_url);
  pn_free(scheduler->hub_socket);
  pn_free(scheduler->container_hub_url);
  pn_free(scheduler->container_error);
  pn_free(scheduler);
}

static int valid_id(const char *id) {
  if (!id || !*id || strlen(id) > 200)
    return 0;
  for (const char *c = id; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
          *c == '-' || *c == '_' || *c == '.'))
      return 0;
  return 1;
}

int pn_scheduler_submit(pn_scheduler *scheduler, const pn_scheduler_target *spec,
                        const char *prediction_id, const json_t *request) {
  if (!valid_id(prediction_id) || (request && !json_is_object(request)))
    return PN_EINVAL;
  if (find_prediction(scheduler, prediction_id))
    return PN_EEXISTS;
  target *t = NULL;
  int rc = update_target(scheduler, spec, &t);
  if (rc < 0)
    return rc;
  prediction *p = pn_calloc(1, sizeof *p);
  if (!p)
    return PN_ENOMEM;
  p->scheduler = scheduler;
  p->target = t;
  p->id = pn_strdup(prediction_id);
  p->request = request ? json_deep_copy(request) : json_pack("{s:{}}", "input");
  if (!p->id || !p->request) {
    free_prediction(p);
    return PN_ENOMEM;
  }
  json_object_del(p->request, "id");
  json_object_del(p->request, "webhook");
  queue_push_back(p);
  p->all_next = scheduler->predictions;
  if (scheduler->predictions)
    scheduler->predictions->all_prev = p;
  scheduler->predictions = p;
  kick(scheduler);
  return 0;
}

int pn_scheduler_cancel(pn_scheduler *scheduler, const char *prediction_id) {
  prediction *p = prediction_id ? find_prediction(scheduler, prediction_id) : NULL;
  if (!p)
    return PN_ENOENT;
  switch (p->state) {
  case QUEUED:
    detach(p);
    free_prediction(p);
    kick(scheduler);
    break;
  case DISPATCHED: /* the cancel goes out once the instance has accepted it */
    p->cancel_requested = 1;
    break;
  case RUNNING:
    p->cancel_requested = 1;
    send_cancel(p);
    break;
  }
  return 0;
}

int pn_scheduler_configure(pn_scheduler *scheduler, const pn_scheduler_target *spec) {
  target *t = NULL;
  int rc = update_target(scheduler, spec, &t);
  if (rc == 0)
    kick(scheduler);
  return rc;
}

static int is_terminal(const char *status) {
  return status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
                    strcmp(status, "canceled") == 0);
}

int pn_scheduler_credential_valid(const pn_scheduler *scheduler, const char *credential) {
  return find_entry(scheduler, credential) != NULL;
}

int pn_scheduler_webhook(pn_scheduler *scheduler, const char *credential, const json_t *body) {
  entry *e = find_entry(scheduler, credential);
  if (!e)
    return PN_ENOENT;
  const char *id = json_string_value(json_object_get(body, "id"));
  prediction *p = id ? find_prediction(scheduler, id) : NULL;
  if (!p || p->instance != e)
    return 0; /* late (after `completed`) or not this instance's: nothing to do */
  /* A webhook can overtake the answer to the PUT. */
  emit_started(p);
  const char *status = json_string_value(json_object_get(body, "status"));
  json_t *output = json_object_get(body, "output");
  if (is_terminal(status)) {
    detach(p);
    e->blocked = 0;
    kick(scheduler);
    emit(scheduler, p->id, PN_SCHEDULER_UPDATE, "completed", json_incref((json_t *)body));
    free_prediction(p);
    return 0;
  }
  const char *kind = "logs";
  if (!p->updated && status && strcmp(status, "processing") == 0)
    kind = "start";
  else if (output && !json_equal(output, p->last_output))
    kind = "output";
  p->updated = 1;
  if (output && !json_equal(output, p->last_output)) {
    json_decref(p->last_output);
    p->last_output = json_deep_copy(output);
  }
  emit(scheduler, p->id, PN_SCHEDULER_UPDATE, kind, json_incref((json_t *)body));
  return 0;
}

pn_scheduler_stats pn_scheduler_target_stats(const pn_scheduler *scheduler, const char *key) {
  pn_scheduler_stats stats = {0, 0, 0, 0};
  const target *t = key ? find_target(scheduler, key) : NULL;
  if (!t)
    return stats;
  for (const entry *e = t->instances; e; e = e->next) {
    stats.instances++;
    stats.ready += e->state == READY;
    stats.busy += e->running;
  }
  stats.queued = t->queued;
  return stats;
}

void pn_scheduler_each_target(const pn_scheduler *scheduler, pn_scheduler_target_fn each,
                              void *arg) {
  for (const target *t = scheduler->targets; t; t = t->next) {
    pn_scheduler_stats stats = pn_scheduler_target_stats(scheduler, t->key);
    each(arg, t->key, &stats, t->min_instances, t->max_instances, t->slots);
  }
}
