/* The embedded queue: one hub on one machine. The hub and the director inside its
 * process (director/local.h) each hold a handle on one queue in memory: the hub opens
 * its handle push-only, the director opens a taking one beside it
 * (pn_queue_options.beside), and between the two the queue behaves as the Redis engine
 * does between processes, so that the hub has one way to reach whoever runs its
 * predictions. A pushed message waits until a taking handle takes it (`take`), is held
 * by that handle under a lease ("embedded:<handle> <entry>-0 <target>") that its
 * reports carry and the hub checks, and is settled by pn_queue_done: from its holder, an
 * acknowledgement; from any other handle (the hub stored a cancel), the holder's
 * `settled`. A handle freed while holding messages gives them back, as a director whose
 * lease ran out would. Takes and notices are delivered from the loop, in order, never
 * from inside a pn_queue_* call. Nothing outlives the process: a restart is the hub's to
 * recover (prediction_life.c's restore). See docs/internals/queue.md. */
#include "queue/engine.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/map.h"

#include <stdio.h>
#include <string.h>

typedef struct bus bus;
typedef struct handle handle;

typedef struct message {
  char *id;
  char *key;
  json_t *body;
  long entry;     /* this message's number, in the lease */
  handle *holder; /* NULL: waiting */
  struct message *next;
} message;

/* `settled` owed to a handle. */
typedef struct notice {
  handle *to;
  char *id;
  int held;
  struct notice *next;
} notice;

struct handle {
  pn_queue head; /* first: a pn_queue * is a handle * */
  bus *bus;
  int number;
  int taking;
  handle *next;
};

struct bus {
  struct event *deliver; /* runs the takes and notices owed */
  handle *handles;
  int next_number;
  long next_entry;
  pn_map messages;                 /* id -> message, waiting or held */
  message *waiting, *waiting_last; /* oldest first */
  notice *notices, *notices_last;
};

static void wake(bus *b) {
  if (b->deliver)
    event_active(b->deliver, EV_TIMEOUT, 0);
}

static void free_message(message *m) {
  pn_free(m->id);
  pn_free(m->key);
  json_decref(m->body);
  pn_free(m);
}

static void append_waiting(bus *b, message *m) {
  m->holder = NULL;
  m->next = NULL;
  if (b->waiting_last)
    b->waiting_last->next = m;
  else
    b->waiting = m;
  b->waiting_last = m;
}

static void unlink_waiting(bus *b, message *m) {
  message *before = NULL;
  for (message *at = b->waiting; at; before = at, at = at->next)
    if (at == m) {
      if (before)
        before->next = m->next;
      else
        b->waiting = m->next;
      if (b->waiting_last == m)
        b->waiting_last = before;
      m->next = NULL;
      return;
    }
}

static handle *first_taker(const bus *b) {
  for (handle *h = b->handles; h; h = h->next)
    if (h->taking)
      return h;
  return NULL;
}

static void on_deliver(evutil_socket_t fd, short what, void *arg) {
  bus *b = arg;
  /* What was owed when this began; what the callbacks add waits for the next round, so
   * that a consumer giving back what it takes cannot keep the loop here. Each notice is
   * taken off the list before its call, so that a handle freed meanwhile clears the
   * ones still owed to it (embedded_free). */
  size_t notices = 0;
  for (const notice *n = b->notices; n; n = n->next)
    notices++;
  while (notices-- > 0 && b->notices) {
    notice *n = b->notices;
    b->notices = n->next;
    if (!b->notices)
      b->notices_last = NULL;
    if (n->to)
      n->to->head.consumer.settled(n->to->head.consumer.arg, n->id, n->held);
    pn_free(n->id);
    pn_free(n);
  }
  size_t owed = 0;
  for (const message *m = b->waiting; m; m = m->next)
    owed++;
  handle *taker;
  while (owed-- > 0 && b->waiting && (taker = first_taker(b))) {
    message *m = b->waiting;
    b->waiting = m->next;
    if (!b->waiting)
      b->waiting_last = NULL;
    m->next = NULL;
    m->holder = taker;
    /* The consumer may settle or give it back from inside `take`: its own copies. */
    char *id = pn_strdup(m->id);
    json_t *body = json_incref(m->body);
    if (id)
      taker->head.consumer.take(taker->head.consumer.arg, id, body);
    pn_free(id);
    json_decref(body);
  }
  if (b->notices || (b->waiting && first_taker(b)))
    wake(b);
}

static void owe_settled(bus *b, handle *to, const char *id, int held) {
  notice *n = pn_calloc(1, sizeof *n);
  if (!n || !(n->id = pn_strdup(id))) {
    pn_free(n);
    return;
  }
  n->to = to;
  n->held = held;
  if (b->notices_last)
    b->notices_last->next = n;
  else
    b->notices = n;
  b->notices_last = n;
  wake(b);
}

static void embedded_free(pn_queue *queue) {
  handle *self = (handle *)queue;
  bus *b = self->bus;
  for (handle **at = &b->handles; *at; at = &(*at)->next)
    if (*at == self) {
      *at = self->next;
      break;
    }
  for (notice *n = b->notices; n; n = n->next)
    if (n->to == self)
      n->to = NULL;
  if (!b->handles) {
    for (size_t i = 0; i < b->messages.capacity; i++)
      if (b->messages.slots[i].key)
        free_message(b->messages.slots[i].value);
    pn_map_free(&b->messages);
    while (b->notices) {
      notice *next = b->notices->next;
      pn_free(b->notices->id);
      pn_free(b->notices);
      b->notices = next;
    }
    if (b->deliver)
      event_free(b->deliver);
    pn_free(b);
  } else {
    /* What it held goes to the next taker, as after a lease that ran out. */
    for (size_t i = 0; i < b->messages.capacity; i++) {
      message *m = b->messages.slots[i].key ? b->messages.slots[i].value : NULL;
      if (m && m->holder == self)
        append_waiting(b, m);
    }
    wake(b);
  }
  pn_free(self);
}

static int embedded_push(pn_queue *queue, const char *key, const char *id, int capacity,
                         const json_t *body) {
  bus *b = ((handle *)queue)->bus;
  if (pn_map_get(&b->messages, id))
    return PN_EEXISTS;
  message *m = pn_calloc(1, sizeof *m);
  if (!m || !(m->id = pn_strdup(id)) || !(m->key = pn_strdup(key)) ||
      !(m->body = json_deep_copy(body)) || pn_map_put(&b->messages, m->id, m) < 0) {
    if (m)
      free_message(m);
    return PN_ENOMEM;
  }
  m->entry = ++b->next_entry;
  append_waiting(b, m);
  wake(b);
  return 0;
}

/* Settles `id`: its holder acknowledges it, anyone else concluded it (the holder hears
 * `settled`). A waiting message is dropped, as nobody runs it. */
static int embedded_done(pn_queue *queue, const char *id) {
  handle *self = (handle *)queue;
  bus *b = self->bus;
  message *m = pn_map_remove(&b->messages, id);
  if (m && !m->holder)
    unlink_waiting(b, m);
  for (handle *h = b->handles; h; h = h->next)
    if (h != self)
      owe_settled(b, h, id, m && m->holder == h);
  if (m)
    free_message(m);
  return 0;
}

static int embedded_holds(const pn_queue *queue, const char *id) {
  const message *m = pn_map_get(&((const handle *)queue)->bus->messages, id);
  return m && m->holder == (const handle *)queue;
}

static void embedded_stop_taking(pn_queue *queue) { ((handle *)queue)->taking = 0; }

/* Held `id` waits again, for the next take (this handle's, unless it stopped taking). */
static int embedded_release(pn_queue *queue, const char *id) {
  bus *b = ((handle *)queue)->bus;
  message *m = pn_map_get(&b->messages, id);
  if (!m || m->holder != (handle *)queue)
    return PN_ENOENT;
  append_waiting(b, m);
  wake(b);
  return 0;
}

static char *embedded_lease(const pn_queue *queue, const char *id) {
  const handle *self = (const handle *)queue;
  const message *m = pn_map_get(&self->bus->messages, id);
  if (!m || m->holder != self)
    return NULL;
  return pn_strfmt("embedded:%d %ld-0 %s", self->number, m->entry, m->key);
}

/* As the Redis engine's: 0 when the lease's holder still holds the message, or when no
 * one does (it was settled); PN_ESTATE when it waits again or another handle holds it. */
static int embedded_check_lease(pn_queue *queue, const char *id, const char *lease) {
  pn_queue_lease_parts parts;
  if (pn_queue_parse_lease(lease, &parts) < 0)
    return PN_EINVAL;
  const message *m = pn_map_get(&((handle *)queue)->bus->messages, id);
  if (!m)
    return 0;
  if (strcmp(parts.key, m->key) != 0)
    return PN_EINVAL;
  char consumer[32], entry[32];
  snprintf(entry, sizeof entry, "%ld-0", m->entry);
  if (m->holder)
    snprintf(consumer, sizeof consumer, "embedded:%d", m->holder->number);
  return m->holder && strcmp(parts.consumer, consumer) == 0 && strcmp(parts.entry, entry) == 0
             ? 0
             : PN_ESTATE;
}

static const pn_queue_engine embedded_engine = {
    .name = "embedded",
    .shared = 0,
    .free = embedded_free,
    .push = embedded_push,
    .done = embedded_done,
    .holds = embedded_holds,
    .stop_taking = embedded_stop_taking,
    .release = embedded_release,
    .lease = embedded_lease,
    .check_lease = embedded_check_lease,
};

int pn_queue_embedded_open(struct event_base *base, pn_queue *beside, int taking,
                           pn_queue **queue) {
  *queue = NULL;
  if (beside && beside->engine != &embedded_engine)
    return PN_EINVAL;
  handle *self = pn_calloc(1, sizeof *self);
  if (!self)
    return PN_ENOMEM;
  bus *b = beside ? ((handle *)beside)->bus : pn_calloc(1, sizeof *b);
  if (!b || (!beside && base && !(b->deliver = event_new(base, -1, 0, on_deliver, b)))) {
    if (!beside)
      pn_free(b);
    pn_free(self);
    return PN_ENOMEM;
  }
  self->head.engine = &embedded_engine;
  self->bus = b;
  self->number = ++b->next_number;
  self->taking = taking;
  self->next = b->handles;
  b->handles = self;
  *queue = &self->head;
  if (taking && b->waiting)
    wake(b); /* what was pushed before a director came */
  return 0;
}
