/* The Redis Streams queue: a stream per target ("pinion:queue:<key>"), one consumer
 * group ("pinion") that every consumer in every process reads through, and the names of
 * the streams in a set ("pinion:streams") so that consumers find streams pushed by other
 * processes.
 *
 * - push: XADD of {id, capacity, body}; the stream and its group are made on first use.
 *   A PUBLISH on "pinion:pushed:<db>" follows, which every consumer that takes hears on
 *   the connection it keeps subscribed.
 * - take: XREADGROUP, never more of a stream at once than its messages' `capacity`
 *   (so that idle consumers elsewhere get the rest). Event-driven: a stream is read at
 *   once when a push to it is heard (from any process), and when one of its slots frees
 *   here (done, release, a lease lost); a slow poll (SAFETY_POLL_MS) reads every stream
 *   with room in case a notice was lost (pub/sub is fire-and-forget, and the
 *   subscription may be down while Redis restarts).
 * - lease: a held message's idle time is reset every lease/3 (a script that claims it
 *   again only while this consumer still owns it); one whose owner stopped renewing is
 *   taken over with XAUTOCLAIM once idle for the lease, checked every lease/2.
 * - done: XACK and XDEL once the prediction's terminal state is stored (nothing of the
 *   request, secrets included, stays in Redis), then a PUBLISH on "pinion:done" that
 *   other processes hear on a subscribed connection: a holder stops what it runs, a
 *   process with clients waiting answers them.
 *
 * hiredis's blocking calls run on the loop, with a 0.5 s connect and a 2 s command
 * timeout, as the store's calls do; the subscription alone is read when its socket is
 * readable. A lost connection is retried at most every RECONNECT_MS; meanwhile pushes
 * fail (the API answers 503) and held predictions run on. See docs/internals/queue.md. */
#include "queue/engine.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Built without hiredis's headers (the runtime inside a model's image), the engine is
 * only a clear refusal. */
#if __has_include(<hiredis/hiredis.h>)
#include "queue/hiredis_api.h"

#define GROUP "pinion"
#define STREAM_PREFIX "pinion:queue:"
#define STREAMS_SET "pinion:streams"
#define DONE_CHANNEL "pinion:done"
/* + the database number: pub/sub channels are server-wide, and a consumer of another
 * database must not wake for (or discover) streams that are not in its own. */
#define PUSHED_CHANNEL_PREFIX "pinion:pushed:"
#define PROGRESS_CHANNEL_PREFIX "pinion:progress:"
/* Reads are event-driven; this poll only catches a push whose notice was lost. */
#define SAFETY_POLL_MS 1000
#define DISCOVER_MS 1000
#define RECONNECT_MS 500

/* Renews a lease: claims the entry again (resetting its idle time) only while this
 * consumer owns it. 1: renewed; 0: another consumer owns it; -1: it is pending for no
 * one (acknowledged, or gone with a Redis that lost its data). */
static const char renew_script[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)\n"
    "if #p == 0 then return -1 end\n"
    "if p[1][2] ~= ARGV[2] then return 0 end\n"
    "redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')\n"
    "return 1\n";

/* Hands a held entry back (pn_queue_release): claimed again by its owner ARGV[2] with
 * idle time ARGV[4] and its delivery count one lower, since the take it counted ran
 * nothing. 1: done; 0: not pending for ARGV[2]. */
static const char release_script[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)\n"
    "if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end\n"
    "local n = p[1][4] - 1\n"
    "if n < 0 then n = 0 end\n"
    "redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4],\n"
    "           'RETRYCOUNT', n, 'JUSTID')\n"
    "return 1\n";

/* Checks a lease (pn_queue_check_lease): that the entry is prediction ARGV[4]'s message,
 * then who holds it. 1: consumer ARGV[3] does; 0: another consumer; -1: no one (the
 * stream, the group or the pending entry is gone); -2: the entry is another
 * prediction's; -3: the entry id is not one, or the key is not a stream. */
static const char check_lease_script[] =
    "local e = redis.pcall('XRANGE', KEYS[1], ARGV[2], ARGV[2])\n"
    "if e.err then return -3 end\n"
    "if type(e) == 'table' and #e == 1 then\n"
    "  local f, id = e[1][2], nil\n"
    "  for i = 1, #f, 2 do if f[i] == 'id' then id = f[i + 1] end end\n"
    "  if id ~= ARGV[4] then return -2 end\n"
    "end\n"
    "local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)\n"
    "if type(p) ~= 'table' or p.err or #p == 0 then return -1 end\n"
    "if p[1][2] ~= ARGV[3] then return 0 end\n"
    "return 1\n";

typedef struct stream {
  char *key;       /* the Redis key: STREAM_PREFIX + the target's key */
  int capacity;    /* messages one consumer may hold at once (learned from messages) */
  int held;        /* held here now */
  int group_ready; /* the group exists (since the last connection) */
  int woken;       /* to be read by on_read_woken: a push was heard, a slot freed */
  struct stream *next;
} stream;

typedef struct held {
  stream *stream;
  char *entry;     /* the stream entry's id */
  char *id;        /* the prediction's */
  int ack_pending; /* done, but XACK has not gone through yet */
  struct held *next;
} held;

typedef struct redis_queue {
  pn_queue head; /* first: a pn_queue * is a redis_queue * */
  const pn_hiredis_api *api;
  struct event_base *base;
  pn_queue_redis_url url;
  double lease;
  int taking;             /* reads and reclaims (not push-only, not stopped) */
  int fixed_capacity;     /* the options' capacity rules, not the messages' */
  int max_deliveries;     /* takes of one message before it is given up */
  int subscribed_once;    /* a subscription was made before (a new one follows a drop) */
  int only_stream;        /* takes from one stream only: no discovery */
  char name[160];         /* this consumer: host:pid:random */
  redisContext *commands; /* NULL while disconnected */
  char pushed_channel[32]; /* PUSHED_CHANNEL_PREFIX + the database number */
  char progress_channel[32]; /* PROGRESS_CHANNEL_PREFIX + the database number */
  redisContext *listener;  /* subscribed to DONE_CHANNEL and pushed_channel; NULL while
                              disconnected */
  struct event *listen_event;
  struct event *read_event; /* activated (never timed) to read the woken streams */
  struct event *poll_timer, *renew_timer, *reclaim_timer, *discover_timer;
  uint64_t next_attempt_ns; /* no connection attempt before (monotonic) */
  int down;                 /* unreachable, said once in the log */
  stream *streams;
  held *held;
} redis_queue;

static struct timeval ms_to_timeval(long ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  return tv;
}

/* --- connections --------------------------------------------------------------------- */

static int is_error(const redisReply *reply) { return reply && reply->type == REDIS_REPLY_ERROR; }

/* Connects, authenticates and selects the database; NULL with *error (pn_malloc'd). */
static redisContext *connect_to(redis_queue *q, char **error) {
  redisContext *context = q->api->connect_with_timeout(q->url.host, q->url.port,
                                                       ms_to_timeval(500));
  if (!context || context->err) {
    *error = pn_strfmt("cannot connect to Redis at %s:%d: %s", q->url.host, q->url.port,
                       context ? context->errstr : "out of memory");
    if (context)
      q->api->free(context);
    return NULL;
  }
  q->api->set_timeout(context, ms_to_timeval(2000));
  q->api->enable_keep_alive(context);
  char db[16];
  snprintf(db, sizeof db, "%d", q->url.db);
  const char *auth[] = {"AUTH", q->url.password};
  const char *select[] = {"SELECT", db};
  for (int step = q->url.password[0] ? 0 : 1; step < 2; step++) {
    redisReply *reply = q->api->command_argv(context, 2, step == 0 ? auth : select, NULL);
    if (!reply || is_error(reply)) {
      *error = pn_strfmt("Redis at %s:%d refused %s: %s", q->url.host, q->url.port,
                         step == 0 ? "the password" : "the database number",
                         reply ? reply->str : context->errstr);
      if (reply)
        q->api->free_reply(reply);
      q->api->free(context);
      return NULL;
    }
    q->api->free_reply(reply);
  }
  return context;
}

static void went_down(redis_queue *q, const char *why) {
  if (!q->down)
    pn_error("queue: Redis at %s:%d is unreachable (%s); new predictions are refused with 503 "
             "and running ones go on; the hub reconnects by itself",
             q->url.host, q->url.port, why);
  q->down = 1;
  q->next_attempt_ns = pn_clock_monotonic_ns() + (uint64_t)RECONNECT_MS * 1000000u;
}

/* The command connection, connecting again when it is down and the last attempt is
 * RECONNECT_MS old. */
static redisContext *commands(redis_queue *q) {
  if (q->commands)
    return q->commands;
  if (pn_clock_monotonic_ns() < q->next_attempt_ns)
    return NULL;
  char *error = NULL;
  q->commands = connect_to(q, &error);
  if (!q->commands) {
    went_down(q, error ? error : "out of memory");
    pn_free(error);
    return NULL;
  }
  for (stream *s = q->streams; s; s = s->next)
    s->group_ready = 0; /* a restarted Redis without its data lacks them */
  if (q->down)
    pn_info("queue: Redis at %s:%d answers again", q->url.host, q->url.port);
  q->down = 0;
  return q->commands;
}

/* Runs one command; NULL when the connection failed (it is dropped and retried later).
 * The caller frees the reply. */
static redisReply *command(redis_queue *q, int argc, const char **argv) {
  redisContext *context = commands(q);
  if (!context)
    return NULL;
  redisReply *reply = q->api->command_argv(context, argc, argv, NULL);
  if (!reply) {
    went_down(q, context->errstr[0] ? context->errstr : "the connection closed");
    q->api->free(context);
    q->commands = NULL;
  }
  return reply;
}

/* Runs a command whose answer is only success or not. */
static int command_ok(redis_queue *q, int argc, const char **argv) {
  redisReply *reply = command(q, argc, argv);
  int rc = !reply ? PN_ECLOSED : is_error(reply) ? PN_EIO : 0;
  if (is_error(reply))
    pn_warn("queue: Redis refused %s: %s", argv[0], reply->str);
  if (reply)
    q->api->free_reply(reply);
  return rc;
}

/* --- streams and held messages ------------------------------------------------------- */

static stream *find_stream(redis_queue *q, const char *key, int create) {
  for (stream *s = q->streams; s; s = s->next)
    if (strcmp(s->key, key) == 0)
      return s;
  if (!create)
    return NULL;
  stream *s = pn_calloc(1, sizeof *s);
  if (!s || !(s->key = pn_strdup(key))) {
    pn_free(s);
    return NULL;
  }
  s->capacity = 1;
  s->next = q->streams;
  q->streams = s;
  return s;
}

/* Has stream `s` read on the loop's next turn (on_read_woken), not inside the caller,
 * whose state a `take` could change: a push to it was heard, or one of its slots freed
 * here. Wakes before that turn make one read. */
static void wake(redis_queue *q, stream *s) {
  if (!q->taking || !q->read_event)
    return;
  s->woken = 1;
  event_active(q->read_event, EV_TIMEOUT, 0);
}

static void wake_all(redis_queue *q) {
  for (stream *s = q->streams; s; s = s->next)
    wake(q, s);
}

/* Makes the stream's group (and the stream) when this connection has not yet, and lists
 * the stream for the other processes. */
static int ensure_group(redis_queue *q, stream *s) {
  if (s->group_ready)
    return 0;
  const char *create[] = {"XGROUP", "CREATE", s->key, GROUP, "0", "MKSTREAM"};
  redisReply *reply = command(q, 6, create);
  if (!reply)
    return PN_ECLOSED;
  int rc = is_error(reply) && strncmp(reply->str, "BUSYGROUP", 9) != 0 ? PN_EIO : 0;
  if (rc < 0)
    pn_warn("queue: Redis refused to make the group of %s: %s", s->key, reply->str);
  q->api->free_reply(reply);
  const char *add[] = {"SADD", STREAMS_SET, s->key + strlen(STREAM_PREFIX)};
  if (rc == 0)
    rc = command_ok(q, 3, add);
  s->group_ready = rc == 0;
  return rc;
}

static held *find_held(const redis_queue *q, const char *id) {
  for (held *h = q->held; h; h = h->next)
    if (strcmp(h->id, id) == 0)
      return h;
  return NULL;
}

static void forget(redis_queue *q, held *gone) {
  for (held **at = &q->held; *at; at = &(*at)->next) {
    if (*at == gone) {
      *at = gone->next;
      break;
    }
  }
  gone->stream->held--;
  wake(q, gone->stream); /* a slot is free: the next message need not wait for a poll */
  pn_free(gone->entry);
  pn_free(gone->id);
  pn_free(gone);
}

/* Acknowledges and deletes a held message; forgets it once Redis took both. */
static int acknowledge(redis_queue *q, held *h) {
  const char *ack[] = {"XACK", h->stream->key, GROUP, h->entry};
  const char *del[] = {"XDEL", h->stream->key, h->entry};
  int rc = command_ok(q, 4, ack);
  if (rc == 0)
    rc = command_ok(q, 3, del);
  if (rc == PN_ECLOSED) {
    h->ack_pending = 1; /* the renew timer tries again */
    return rc;
  }
  forget(q, h);
  return 0;
}

static const redisReply *field(const redisReply *fields, const char *name) {
  if (!fields || fields->type != REDIS_REPLY_ARRAY)
    return NULL;
  for (size_t i = 0; i + 1 < fields->elements; i += 2) {
    const redisReply *key = fields->element[i];
    if (key->type == REDIS_REPLY_STRING && strcmp(key->str, name) == 0 &&
        fields->element[i + 1]->type == REDIS_REPLY_STRING)
      return fields->element[i + 1];
  }
  return NULL;
}

/* One entry [entry-id, [field, value, ...]] read from (or reclaimed on) stream `s`: held
 * here and handed to the consumer. `deliveries`: the times it has been taken, this one
 * included, when reclaimed (0 when not known); past max_deliveries the consumer is told
 * it is exhausted instead. */
static void take_entry(redis_queue *q, stream *s, const redisReply *entry, int reclaimed,
                       long deliveries) {
  if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 ||
      entry->element[0]->type != REDIS_REPLY_STRING)
    return;
  const char *entry_id = entry->element[0]->str;
  const redisReply *id = field(entry->element[1], "id");
  const redisReply *body_text = field(entry->element[1], "body");
  const redisReply *capacity = field(entry->element[1], "capacity");
  for (held *h = q->held; h; h = h->next)
    if (h->stream == s && strcmp(h->entry, entry_id) == 0)
      return; /* ours already (reclaimed from ourselves after an outage): renewed now */
  json_t *body = body_text ? json_loads(body_text->str, 0, NULL) : NULL;
  held *h = body && id ? pn_calloc(1, sizeof *h) : NULL;
  if (h) {
    h->stream = s;
    h->entry = pn_strdup(entry_id);
    h->id = pn_strdup(id->str);
  }
  if (!h || !h->entry || !h->id) {
    if (h) {
      pn_free(h->entry);
      pn_free(h->id);
      pn_free(h);
    }
    if (!body || !id) {
      /* Not a message of pinion's: dropped, so that it cannot block the stream. */
      pn_error("queue: the entry %s of %s has no prediction id or no JSON body; it is dropped",
               entry_id, s->key);
      const char *ack[] = {"XACK", s->key, GROUP, entry_id};
      command_ok(q, 4, ack);
    }
    json_decref(body);
    return;
  }
  if (capacity && !q->fixed_capacity) {
    long value = strtol(capacity->str, NULL, 10);
    s->capacity = value < 1 ? 1 : value > 100000 ? 100000 : (int)value;
  }
  h->next = q->held;
  q->held = h;
  s->held++;
  int exhausted = deliveries > q->max_deliveries && q->head.consumer.exhausted;
  if (exhausted)
    pn_warn("queue: prediction %s was taken %ld times and no consumer finished it; it is "
            "given up (PINION_QUEUE_MAX_DELIVERIES=%d)",
            h->id, deliveries, q->max_deliveries);
  else if (reclaimed)
    pn_info("queue: took over prediction %s, whose consumer's lease ran out (take %ld)",
            h->id, deliveries);
  char *taken_id = pn_strdup(h->id);
  if (taken_id && exhausted)
    q->head.consumer.exhausted(q->head.consumer.arg, taken_id, deliveries);
  else if (taken_id)
    q->head.consumer.take(q->head.consumer.arg, taken_id, body);
  pn_free(taken_id);
  json_decref(body);
}

/* Takes the entries of a reply's list [[entry-id, fields], ...]; `counts`, when given,
 * is XPENDING's extended reply [[entry-id, consumer, idle, deliveries], ...] for them. */
static void take_entries(redis_queue *q, stream *s, const redisReply *entries, int reclaimed,
                         const redisReply *counts) {
  if (!entries || entries->type != REDIS_REPLY_ARRAY)
    return;
  for (size_t i = 0; i < entries->elements; i++) {
    const redisReply *entry = entries->element[i];
    long deliveries = 0;
    if (counts && counts->type == REDIS_REPLY_ARRAY && entry->type == REDIS_REPLY_ARRAY &&
        entry->elements >= 1 && entry->element[0]->type == REDIS_REPLY_STRING)
      for (size_t j = 0; j < counts->elements; j++) {
        const redisReply *pending = counts->element[j];
        if (pending->type == REDIS_REPLY_ARRAY && pending->elements == 4 &&
            pending->element[0]->type == REDIS_REPLY_STRING &&
            strcmp(pending->element[0]->str, entry->element[0]->str) == 0 &&
            pending->element[3]->type == REDIS_REPLY_INTEGER)
          deliveries = (long)pending->element[3]->integer;
      }
    take_entry(q, s, entry, reclaimed, deliveries);
  }
}

/* --- timers -------------------------------------------------------------------------- */

/* Takes new messages of stream `s`, never more than its free slots. Returns 0, or < 0
 * when Redis is unreachable or refused the group (the caller reads no further streams
 * now; the safety poll tries again). */
static int read_stream(redis_queue *q, stream *s) {
  s->woken = 0;
  int free_slots = s->capacity - s->held;
  if (free_slots <= 0)
    return 0; /* woken again when a slot frees */
  int rc = ensure_group(q, s);
  if (rc < 0)
    return rc;
  char count[16];
  snprintf(count, sizeof count, "%d", free_slots);
  const char *read[] = {"XREADGROUP", "GROUP", GROUP, q->name, "COUNT", count,
                        "STREAMS",    s->key, ">"};
  redisReply *reply = command(q, 9, read);
  if (!reply)
    return PN_ECLOSED;
  if (is_error(reply))
    s->group_ready = 0; /* NOGROUP: Redis lost it; made again on the next read */
  else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
           reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2)
    take_entries(q, s, reply->element[0]->element[1], 0, NULL);
  q->api->free_reply(reply);
  return 0;
}

/* The streams that wake() marked. A `take` may wake a stream again (a message handed
 * back frees its slot): read_event is active again then, and this runs once more. */
static void on_read_woken(evutil_socket_t fd, short what, void *arg) {
  redis_queue *q = arg;
  for (stream *s = q->streams; s && q->taking; s = s->next)
    if (s->woken && read_stream(q, s) < 0)
      return;
}

/* Every SAFETY_POLL_MS: every stream with room, for a push whose notice was lost. */
static void on_poll(evutil_socket_t fd, short what, void *arg) {
  redis_queue *q = arg;
  for (stream *s = q->streams; s && q->taking; s = s->next)
    if (read_stream(q, s) < 0)
      return;
}

static void on_reclaim(evutil_socket_t fd, short what, void *arg) {
  redis_queue *q = arg;
  if (!q->taking)
    return;
  char idle[24];
  snprintf(idle, sizeof idle, "%ld", (long)(q->lease * 1000));
  for (stream *s = q->streams; s; s = s->next) {
    int free_slots = s->capacity - s->held;
    if (free_slots <= 0)
      continue;
    if (ensure_group(q, s) < 0)
      return;
    char count[16];
    snprintf(count, sizeof count, "%d", free_slots);
    const char *claim[] = {"XAUTOCLAIM", s->key, GROUP, q->name, idle, "0-0", "COUNT", count};
    redisReply *reply = command(q, 8, claim);
    if (!reply)
      return;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
        reply->element[1]->type == REDIS_REPLY_ARRAY && reply->element[1]->elements > 0) {
      /* How often each was taken (XAUTOCLAIM counted this take): this consumer's pending
       * entries of the stream, the ones just claimed among them. */
      char pending_count[16];
      snprintf(pending_count, sizeof pending_count, "%zu",
               reply->element[1]->elements + (size_t)s->held);
      const char *pending[] = {"XPENDING", s->key, GROUP, "-", "+", pending_count, q->name};
      redisReply *counts = command(q, 7, pending);
      take_entries(q, s, reply->element[1], 1, counts && !is_error(counts) ? counts : NULL);
      if (counts)
        q->api->free_reply(counts);
    }
    q->api->free_reply(reply);
  }
}

static void on_renew(evutil_socket_t fd, short what, void *arg) {
  redis_queue *q = arg;
  /* Lost ones are collected first: the consumer's `lost` may call back in. */
  char **lost = NULL;
  size_t lost_count = 0;
  for (held *h = q->held, *next = NULL; h; h = next) {
    next = h->next;
    if (h->ack_pending) {
      if (acknowledge(q, h) == PN_ECLOSED)
        break;
      continue;
    }
    const char *renew[] = {"EVAL", renew_script, "1", h->stream->key, GROUP, q->name, h->entry};
    redisReply *reply = command(q, 7, renew);
    if (!reply)
      break;
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
      char **grown = pn_realloc(lost, (lost_count + 1) * sizeof *lost);
      if (grown) {
        lost = grown;
        lost[lost_count] = pn_strdup(h->id);
        if (lost[lost_count])
          lost_count++;
      }
      forget(q, h);
    }
    q->api->free_reply(reply);
  }
  for (size_t i = 0; i < lost_count; i++) {
    pn_warn("queue: the lease on prediction %s ran out and another consumer took it over; "
            "it is stopped here",
            lost[i]);
    q->head.consumer.lost(q->head.consumer.arg, lost[i]);
    pn_free(lost[i]);
  }
  pn_free(lost);
}

/* --- the subscription to DONE_CHANNEL and pushed_channel ---------------------------- */

static void drop_listener(redis_queue *q) {
  if (q->listen_event)
    event_free(q->listen_event);
  q->listen_event = NULL;
  if (q->listener)
    q->api->free(q->listener);
  q->listener = NULL;
}

/* The text after "<consumer> " in a notice from another process; NULL for this
 * consumer's own notices and for text that is not pinion's. */
static const char *from_another(const redis_queue *q, const char *payload) {
  const char *space = strchr(payload, ' ');
  if (!space || ((size_t)(space - payload) == strlen(q->name) &&
                 strncmp(payload, q->name, (size_t)(space - payload)) == 0))
    return NULL;
  return space + 1;
}

/* A message "<consumer> <prediction id>" from another process that stored a terminal
 * state. */
static void on_done_message(redis_queue *q, const char *payload) {
  const char *id = from_another(q, payload);
  if (!id)
    return;
  held *h = find_held(q, id);
  int was_held = h != NULL;
  if (h)
    acknowledge(q, h);
  q->head.consumer.settled(q->head.consumer.arg, id, was_held);
}

/* A message "<consumer> <target>" from another process that pushed to the target's
 * stream: read now if this consumer takes from it. A consumer of every stream learns a
 * new stream here rather than at the next discovery. */
static void on_pushed_message(redis_queue *q, const char *payload) {
  const char *target = from_another(q, payload);
  if (!target || !q->taking)
    return; /* this process's own push woke its streams already */
  char *key = pn_strfmt(STREAM_PREFIX "%s", target);
  stream *s = key ? find_stream(q, key, !q->only_stream) : NULL;
  pn_free(key);
  if (s)
    wake(q, s);
}

/* A message "<consumer> <prediction id>" from another process that stored a change of a
 * prediction still in flight (logs, an output, its start). */
static void on_progress_message(redis_queue *q, const char *payload) {
  const char *id = from_another(q, payload);
  if (id && q->head.consumer.progress)
    q->head.consumer.progress(q->head.consumer.arg, id);
}

/* Reads the subscription when its socket is readable (EV_READ), and what hiredis holds
 * read already but not yet parsed (also after subscribing: EV_TIMEOUT). */
static void on_listener_readable(evutil_socket_t fd, short what, void *arg) {
  redis_queue *q = arg;
  if ((what & EV_READ) && q->api->buffer_read(q->listener) != REDIS_OK) {
    pn_warn("queue: the subscription to Redis closed (%s); it is made again within a second",
            q->listener->errstr);
    drop_listener(q);
    return;
  }
  void *reply = NULL;
  while (q->listener && q->api->get_reply_from_reader(q->listener, &reply) == REDIS_OK && reply) {
    redisReply *message = reply;
    if (message->type == REDIS_REPLY_ARRAY && message->elements == 3 &&
        message->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(message->element[0]->str, "message") == 0 &&
        message->element[1]->type == REDIS_REPLY_STRING &&
        message->element[2]->type == REDIS_REPLY_STRING) {
      if (strcmp(message->element[1]->str, DONE_CHANNEL) == 0)
        on_done_message(q, message->element[2]->str);
      else if (strcmp(message->element[1]->str, q->pushed_channel) == 0)
        on_pushed_message(q, message->element[2]->str);
      else if (strcmp(message->element[1]->str, q->progress_channel) == 0)
        on_progress_message(q, message->element[2]->str);
    }
    q->api->free_reply(reply);
    reply = NULL;
  }
}

/* Subscribes a new connection to DONE_CHANNEL, to progress_channel for a hub (for its
 * SSE readers), and to pushed_channel when this consumer
 * takes messages, and waits until Redis confirms it (one round trip, on the loop as
 * every command), then reads every stream: a push made before the subscription took
 * effect was not heard, but its XADD came before this read. */
static void listen_for_notices(redis_queue *q) {
  char *error = NULL;
  q->listener = connect_to(q, &error);
  pn_free(error); /* the command connection says it in the log */
  if (!q->listener)
    return;
  const char *subscribe[4] = {"SUBSCRIBE", DONE_CHANNEL};
  int channels = 1;
  if (!q->only_stream) /* a hub (a director takes one stream, and streams to no one) */
    subscribe[1 + channels++] = q->progress_channel;
  if (q->taking)
    subscribe[1 + channels++] = q->pushed_channel;
  if (q->api->append_command_argv(q->listener, 1 + channels, subscribe, NULL) != REDIS_OK) {
    drop_listener(q);
    return;
  }
  for (int confirmed = 0; confirmed < channels; confirmed++) {
    redisReply *reply = NULL;
    int ok = q->api->get_reply(q->listener, (void **)&reply) == REDIS_OK && reply &&
             reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
             reply->element[0]->type == REDIS_REPLY_STRING &&
             strcmp(reply->element[0]->str, "subscribe") == 0;
    if (reply)
      q->api->free_reply(reply);
    if (!ok) {
      drop_listener(q);
      return;
    }
  }
  q->listen_event =
      event_new(q->base, q->listener->fd, EV_READ | EV_PERSIST, on_listener_readable, q);
  if (!q->listen_event || event_add(q->listen_event, NULL) < 0) {
    drop_listener(q);
    return;
  }
  /* A notice that came in with the confirmations is in hiredis's buffer already, and
   * the socket will not say so. */
  event_active(q->listen_event, EV_TIMEOUT, 0);
  wake_all(q);
  if (q->subscribed_once && q->head.consumer.resubscribed) {
    pn_info("queue: subscribed to Redis's notices again; what they may have said meanwhile "
            "is read from the store");
    q->head.consumer.resubscribed(q->head.consumer.arg);
  }
  q->subscribed_once = 1;
}

/* Every DISCOVER_MS: the streams other processes made, and the subscription when it is
 * down. */
static void on_discover(evutil_socket_t fd, short what, void *arg) {
  redis_queue *q = arg;
  if (!q->listener && commands(q))
    listen_for_notices(q);
  if (!q->taking || q->only_stream)
    return; /* the streams it takes from are known */
  const char *members[] = {"SMEMBERS", STREAMS_SET};
  redisReply *reply = command(q, 2, members);
  if (!reply)
    return;
  for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
    if (reply->element[i]->type != REDIS_REPLY_STRING)
      continue;
    char *key = pn_strfmt(STREAM_PREFIX "%s", reply->element[i]->str);
    stream *s = key && !find_stream(q, key, 0) ? find_stream(q, key, 1) : NULL;
    if (s)
      wake(q, s);
    pn_free(key);
  }
  q->api->free_reply(reply);
}

/* --- the engine ------------------------------------------------------------------------ */

/* Wakes every consumer of stream `s` (in this process too) after an XADD. A notice that
 * is lost (the PUBLISH failed, a subscription was down) costs at most one safety poll. */
static void announce_push(redis_queue *q, stream *s) {
  wake(q, s);
  char *payload = pn_strfmt("%s %s", q->name, s->key + strlen(STREAM_PREFIX));
  const char *publish[] = {"PUBLISH", q->pushed_channel, payload};
  if (payload)
    command_ok(q, 3, publish);
  pn_free(payload);
}

/* What a push of `body` to target `key` needs: its stream (made here on first use) and
 * the body as JSON text (*text, pn_malloc'd). NULL when out of memory. */
static stream *push_stream(redis_queue *q, const char *key, const json_t *body, char **text) {
  char *stream_key = pn_strfmt(STREAM_PREFIX "%s", key);
  stream *s = stream_key ? find_stream(q, stream_key, 1) : NULL;
  pn_free(stream_key);
  *text = pn_json_dump(body, PN_JSON_COMPACT);
  if (!s || !*text) {
    pn_free(*text);
    *text = NULL;
    return NULL;
  }
  return s;
}

static int redis_push(pn_queue *queue, const char *key, const char *id, int capacity,
                      const json_t *body) {
  redis_queue *q = (redis_queue *)queue;
  char *text = NULL;
  stream *s = push_stream(q, key, body, &text);
  if (!s)
    return PN_ENOMEM;
  if (!q->fixed_capacity)
    s->capacity = capacity;
  int rc = ensure_group(q, s);
  char count[16];
  snprintf(count, sizeof count, "%d", capacity);
  const char *add[] = {"XADD", s->key, "*", "id", id, "capacity", count, "body", text};
  redisReply *reply = rc == 0 ? command(q, 9, add) : NULL;
  /* Refused (LOADING after a restart, out of memory) is as good as unreachable: the
   * client is told to retry. */
  if (rc == 0 && (!reply || reply->type != REDIS_REPLY_STRING))
    rc = PN_ECLOSED;
  else if (rc == PN_EIO)
    rc = PN_ECLOSED;
  if (is_error(reply))
    pn_error("queue: Redis refused to queue prediction %s: %s", id, reply->str);
  if (reply)
    q->api->free_reply(reply);
  pn_free(text);
  if (rc == 0)
    announce_push(q, s);
  return rc;
}

static int redis_done(pn_queue *queue, const char *id) {
  redis_queue *q = (redis_queue *)queue;
  held *h = find_held(q, id);
  int rc = h ? acknowledge(q, h) : 0;
  char *payload = pn_strfmt("%s %s", q->name, id);
  const char *publish[] = {"PUBLISH", DONE_CHANNEL, payload};
  if (payload)
    command_ok(q, 3, publish);
  pn_free(payload);
  return rc;
}

static void redis_progress(pn_queue *queue, const char *id) {
  redis_queue *q = (redis_queue *)queue;
  char *payload = pn_strfmt("%s %s", q->name, id);
  const char *publish[] = {"PUBLISH", q->progress_channel, payload};
  if (payload)
    command_ok(q, 3, publish);
  pn_free(payload);
}

static int redis_holds(const pn_queue *queue, const char *id) {
  const held *h = find_held((const redis_queue *)queue, id);
  return h && !h->ack_pending;
}

static void redis_stop_taking(pn_queue *queue) { ((redis_queue *)queue)->taking = 0; }

static int redis_release(pn_queue *queue, const char *id) {
  redis_queue *q = (redis_queue *)queue;
  held *h = find_held(q, id);
  if (!h || h->ack_pending)
    return PN_ENOENT;
  /* Claimed by this consumer again with an idle time past the lease, and its take
   * uncounted: the next XAUTOCLAIM of any consumer takes it, as a take of its own. */
  char idle[24];
  snprintf(idle, sizeof idle, "%ld", (long)(q->lease * 1000) + 1000);
  const char *release[] = {"EVAL", release_script, "1", h->stream->key, GROUP,
                           q->name, h->entry, idle};
  int rc = command_ok(q, 8, release);
  forget(q, h);
  return rc;
}

static char *redis_lease(const pn_queue *queue, const char *id) {
  const redis_queue *q = (const redis_queue *)queue;
  const held *h = find_held(q, id);
  if (!h || h->ack_pending)
    return NULL;
  return pn_strfmt("%s %s %s", q->name, h->entry, h->stream->key + strlen(STREAM_PREFIX));
}

static int redis_check_lease(pn_queue *queue, const char *id, const char *lease) {
  redis_queue *q = (redis_queue *)queue;
  pn_queue_lease_parts parts;
  if (pn_queue_parse_lease(lease, &parts) < 0)
    return PN_EINVAL;
  char *key = pn_strfmt(STREAM_PREFIX "%s", parts.key);
  if (!key)
    return PN_ENOMEM;
  const char *check[] = {"EVAL", check_lease_script, "1", key, GROUP, parts.entry,
                         parts.consumer, id};
  redisReply *reply = command(q, 8, check);
  int rc = !reply                                        ? PN_ECLOSED
           : reply->type != REDIS_REPLY_INTEGER          ? PN_EINVAL
           : reply->integer == 1 || reply->integer == -1 ? 0
           : reply->integer == 0                         ? PN_ESTATE
                                                         : PN_EINVAL;
  if (reply)
    q->api->free_reply(reply);
  pn_free(key);
  return rc;
}

static void redis_forget(pn_queue *queue, const char *id) {
  redis_queue *q = (redis_queue *)queue;
  held *h = find_held(q, id);
  if (h)
    forget(q, h);
}

static void redis_free(pn_queue *queue) {
  redis_queue *q = (redis_queue *)queue;
  q->taking = 0; /* forget() below wakes nothing */
  struct event *timers[] = {q->read_event,   q->poll_timer,    q->renew_timer,
                            q->reclaim_timer, q->discover_timer};
  for (size_t i = 0; i < sizeof timers / sizeof *timers; i++)
    if (timers[i])
      event_free(timers[i]);
  drop_listener(q);
  if (q->commands)
    q->api->free(q->commands);
  while (q->held)
    forget(q, q->held);
  while (q->streams) {
    stream *next = q->streams->next;
    pn_free(q->streams->key);
    pn_free(q->streams);
    q->streams = next;
  }
  pn_free(q);
}


/* --- depths (the hub's /metrics) -------------------------------------------------------- */

static int has_depth(const pn_queue_depth *depths, size_t count, const char *key) {
  for (size_t i = 0; i < count; i++)
    if (strcmp(depths[i].key, key) == 0)
      return 1;
  return 0;
}

static int add_depth(pn_queue_depth *depths, size_t *count, const char *key) {
  depths[*count].key = pn_strdup(key);
  return depths[*count].key ? (int)++*count : PN_ENOMEM;
}

/* Consumers in an XINFO CONSUMERS answer (RESP2: a flat name/value array each) whose
 * `idle` is below the lease. */
static int active_consumers(const redisReply *reply, long lease_ms) {
  int active = 0;
  for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
    const redisReply *consumer = reply->element[i];
    for (size_t j = 0; consumer->type == REDIS_REPLY_ARRAY && j + 1 < consumer->elements; j += 2) {
      const redisReply *name = consumer->element[j], *value = consumer->element[j + 1];
      if (name->type == REDIS_REPLY_STRING && strcmp(name->str, "idle") == 0 &&
          value->type == REDIS_REPLY_INTEGER && value->integer < lease_ms)
        active++;
    }
  }
  return active;
}

/* Reads the three answers of one stream (an error, such as a stream or group not made
 * yet, counts as empty). Returns 0, or PN_ECLOSED when the connection failed. */
static int read_depth(redis_queue *q, redisContext *context, pn_queue_depth *depth) {
  long length = 0, pending = 0;
  for (int step = 0; step < 3; step++) {
    redisReply *reply = NULL;
    if (q->api->get_reply(context, (void **)&reply) != REDIS_OK || !reply)
      return PN_ECLOSED;
    if (step == 0 && reply->type == REDIS_REPLY_INTEGER)
      length = (long)reply->integer;
    else if (step == 1 && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
             reply->element[0]->type == REDIS_REPLY_INTEGER)
      pending = (long)reply->element[0]->integer;
    else if (step == 2)
      depth->consumers = active_consumers(reply, (long)(q->lease * 1000));
    q->api->free_reply(reply);
  }
  depth->held = pending;
  depth->waiting = length > pending ? length - pending : 0;
  return 0;
}

static int redis_depths(pn_queue *queue, const char *const *keys, size_t key_count, size_t max,
                        pn_queue_depth **out, size_t *count) {
  redis_queue *q = (redis_queue *)queue;
  const char *members_command[] = {"SMEMBERS", STREAMS_SET};
  redisReply *members = command(q, 2, members_command);
  if (!members)
    return PN_ECLOSED;
  pn_queue_depth *depths = pn_calloc(max ? max : 1, sizeof *depths);
  int rc = depths ? 0 : PN_ENOMEM;
  size_t found = 0;
  for (size_t i = 0; i < key_count && found < max && rc >= 0; i++)
    if (!has_depth(depths, found, keys[i]))
      rc = add_depth(depths, &found, keys[i]);
  for (size_t i = 0; members->type == REDIS_REPLY_ARRAY && i < members->elements &&
                     found < max && rc >= 0;
       i++)
    if (members->element[i]->type == REDIS_REPLY_STRING &&
        !has_depth(depths, found, members->element[i]->str))
      rc = add_depth(depths, &found, members->element[i]->str);
  q->api->free_reply(members);
  redisContext *context = rc >= 0 ? commands(q) : NULL;
  if (rc >= 0 && !context)
    rc = PN_ECLOSED;
  /* Every command is written first and the answers read after: one round trip. */
  for (size_t i = 0; i < found && rc >= 0; i++) {
    char *stream_key = pn_strfmt(STREAM_PREFIX "%s", depths[i].key);
    const char *length[] = {"XLEN", stream_key};
    const char *pending[] = {"XPENDING", stream_key, GROUP};
    const char *consumers[] = {"XINFO", "CONSUMERS", stream_key, GROUP};
    if (!stream_key || q->api->append_command_argv(context, 2, length, NULL) != REDIS_OK ||
        q->api->append_command_argv(context, 3, pending, NULL) != REDIS_OK ||
        q->api->append_command_argv(context, 4, consumers, NULL) != REDIS_OK)
      rc = stream_key ? PN_ECLOSED : PN_ENOMEM;
    pn_free(stream_key);
  }
  for (size_t i = 0; i < found && rc >= 0; i++)
    rc = read_depth(q, context, &depths[i]);
  if (rc < 0 && context) {
    /* Answers may be left unread on it: the connection is not reused. */
    went_down(q, context->errstr[0] ? context->errstr : "the connection closed");
    q->api->free(context);
    q->commands = NULL;
  }
  if (rc < 0) {
    pn_queue_depths_free(depths, found);
    return rc;
  }
  *out = depths;
  *count = found;
  return 0;
}

/* --- predictions stored but never queued ------------------------------------------------ */

/* The `id` fields of stream KEYS[1]'s entries, read a page at a time inside Redis so
 * that no body (inputs of up to 63 MiB) crosses the connection. */
#define SCAN_IDS                                                                      \
  "local found, start = {}, '-'\n"                                                    \
  "while true do\n"                                                                   \
  "  local page = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 256)\n"          \
  "  for _, e in ipairs(page) do\n"                                                   \
  "    local f = e[2]\n"                                                              \
  "    for j = 1, #f, 2 do if f[j] == 'id' then found[f[j + 1]] = true end end\n"     \
  "  end\n"                                                                           \
  "  if #page < 256 then break end\n"                                                 \
  "  start = '(' .. page[#page][1]\n"                                                 \
  "end\n"

/* Which of the predictions ARGV have no message in stream KEYS[1]. */
static const char absent_script[] = SCAN_IDS
    "local absent = {}\n"
    "for i = 1, #ARGV do if not found[ARGV[i]] then absent[#absent + 1] = ARGV[i] end end\n"
    "return absent\n";

/* XADD of prediction ARGV[1]'s message (capacity ARGV[2], body ARGV[3]) unless the
 * stream already holds one: 1 added, 0 there. Atomic, so of several hubs sweeping at
 * once exactly one adds it. */
static const char add_absent_script[] = SCAN_IDS
    "if found[ARGV[1]] then return 0 end\n"
    "redis.call('XADD', KEYS[1], '*', 'id', ARGV[1], 'capacity', ARGV[2], 'body', ARGV[3])\n"
    "return 1\n";

static int redis_find_absent(pn_queue *queue, const char *key, const char *const *ids,
                             size_t count, int *absent) {
  redis_queue *q = (redis_queue *)queue;
  char *stream_key = pn_strfmt(STREAM_PREFIX "%s", key);
  const char **argv = pn_calloc(count + 3, sizeof *argv);
  if (!stream_key || !argv) {
    pn_free(stream_key);
    pn_free(argv);
    return PN_ENOMEM;
  }
  argv[0] = "EVAL";
  argv[1] = absent_script;
  argv[2] = "1";
  argv[3] = stream_key;
  for (size_t i = 0; i < count; i++) {
    argv[4 + i] = ids[i];
    absent[i] = 0;
  }
  redisReply *reply = command(q, (int)count + 4, argv);
  int rc = !reply ? PN_ECLOSED : reply->type != REDIS_REPLY_ARRAY ? PN_EIO : 0;
  if (is_error(reply))
    pn_warn("queue: Redis refused to list the messages of %s: %s", stream_key, reply->str);
  for (size_t j = 0; rc == 0 && j < reply->elements; j++) {
    const redisReply *id = reply->element[j];
    for (size_t i = 0; id->type == REDIS_REPLY_STRING && i < count; i++)
      if (strcmp(ids[i], id->str) == 0)
        absent[i] = 1;
  }
  if (reply)
    q->api->free_reply(reply);
  pn_free(argv);
  pn_free(stream_key);
  return rc;
}

static int redis_push_absent(pn_queue *queue, const char *key, const char *id, int capacity,
                             const json_t *body) {
  redis_queue *q = (redis_queue *)queue;
  char *text = NULL;
  stream *s = push_stream(q, key, body, &text);
  if (!s)
    return PN_ENOMEM;
  int rc = ensure_group(q, s);
  char count[16];
  snprintf(count, sizeof count, "%d", capacity);
  const char *add[] = {"EVAL", add_absent_script, "1", s->key, id, count, text};
  redisReply *reply = rc == 0 ? command(q, 7, add) : NULL;
  if (rc == 0)
    rc = !reply ? PN_ECLOSED : reply->type != REDIS_REPLY_INTEGER ? PN_EIO : (int)reply->integer;
  if (is_error(reply))
    pn_warn("queue: Redis refused to queue prediction %s again: %s", id, reply->str);
  if (reply)
    q->api->free_reply(reply);
  pn_free(text);
  if (rc == 1)
    announce_push(q, s);
  return rc;
}

/* --- named leases (work that one process of several does: a webhook's delivery) --------- */

#define CLAIM_PREFIX "pinion:claim:"

/* Renews each claim KEYS[i] that consumer ARGV[1] still owns, for ARGV[2] ms: a 1 for
 * each kept, a 0 for each another owns or that expired. */
static const char renew_claims_script[] =
    "local kept = {}\n"
    "for i = 1, #KEYS do\n"
    "  if redis.call('GET', KEYS[i]) == ARGV[1] then\n"
    "    redis.call('PEXPIRE', KEYS[i], ARGV[2])\n"
    "    kept[i] = 1\n"
    "  else kept[i] = 0 end\n"
    "end\n"
    "return kept\n";

/* Claims KEYS[1] for consumer ARGV[1] for ARGV[2] ms: 1 when it is now its (taken, or
 * renewed because it already was), 0 when another consumer holds it. */
static const char claim_script[] =
    "local owner = redis.call('GET', KEYS[1])\n"
    "if owner == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end\n"
    "if owner then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "return 1\n";

/* claim_script for each of KEYS: a 1 for each that is ARGV[1]'s now, a 0 for each
 * another consumer holds. */
static const char claim_each_script[] =
    "local got = {}\n"
    "for i = 1, #KEYS do\n"
    "  local owner = redis.call('GET', KEYS[i])\n"
    "  if owner == ARGV[1] then redis.call('PEXPIRE', KEYS[i], ARGV[2]) got[i] = 1\n"
    "  elseif owner then got[i] = 0\n"
    "  else redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2]) got[i] = 1 end\n"
    "end\n"
    "return got\n";

/* Ends claim KEYS[1] if consumer ARGV[1] owns it. */
static const char drop_claim_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* How long a claim lasts unrenewed (pn_queue_claim_seconds). */
static long claim_ms(const redis_queue *q) {
  return (long)(pn_queue_claim_seconds(&q->head) * 1000);
}

static int redis_claim(pn_queue *queue, const char *name) {
  redis_queue *q = (redis_queue *)queue;
  char *key = pn_strfmt(CLAIM_PREFIX "%s", name);
  char ms[24];
  snprintf(ms, sizeof ms, "%ld", claim_ms(q));
  const char *claim[] = {"EVAL", claim_script, "1", key, q->name, ms};
  redisReply *reply = key ? command(q, 6, claim) : NULL;
  int rc = !key                                 ? PN_ENOMEM
           : !reply                             ? PN_ECLOSED
           : reply->type == REDIS_REPLY_INTEGER ? (int)reply->integer
                                                : PN_EIO;
  if (is_error(reply))
    pn_warn("queue: Redis refused the claim on %s: %s", name, reply->str);
  if (reply)
    q->api->free_reply(reply);
  pn_free(key);
  return rc;
}

/* Runs `script` over the claim keys of `names` (KEYS), this consumer (ARGV[1]) and a
 * claim's life in ms (ARGV[2]); the script answers a 0 or 1 for each, set in out[i]. */
static int claims_script(redis_queue *q, const char *script, const char *const *names,
                         size_t count, int *out) {
  const char **argv = pn_calloc(count + 5, sizeof *argv);
  char **keys = pn_calloc(count ? count : 1, sizeof *keys);
  char number[24], ms[24];
  snprintf(number, sizeof number, "%zu", count);
  snprintf(ms, sizeof ms, "%ld", claim_ms(q));
  int rc = argv && keys ? 0 : PN_ENOMEM;
  for (size_t i = 0; rc == 0 && i < count; i++)
    if (!(keys[i] = pn_strfmt(CLAIM_PREFIX "%s", names[i])))
      rc = PN_ENOMEM;
  redisReply *reply = NULL;
  if (rc == 0) {
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = number;
    for (size_t i = 0; i < count; i++)
      argv[3 + i] = keys[i];
    argv[3 + count] = q->name;
    argv[4 + count] = ms;
    reply = command(q, (int)count + 5, argv);
    rc = !reply                                                            ? PN_ECLOSED
         : reply->type != REDIS_REPLY_ARRAY || reply->elements != count ? PN_EIO
                                                                           : 0;
  }
  for (size_t i = 0; rc == 0 && i < count; i++)
    out[i] = reply->element[i]->type == REDIS_REPLY_INTEGER && reply->element[i]->integer == 1;
  if (is_error(reply))
    pn_warn("queue: Redis refused a script on claims: %s", reply->str);
  if (reply)
    q->api->free_reply(reply);
  for (size_t i = 0; keys && i < count; i++)
    pn_free(keys[i]);
  pn_free(keys);
  pn_free(argv);
  return rc;
}

static int redis_renew_claims(pn_queue *queue, const char *const *names, size_t count, int *kept) {
  return claims_script((redis_queue *)queue, renew_claims_script, names, count, kept);
}

static int redis_claim_each(pn_queue *queue, const char *const *names, size_t count, int *got) {
  return claims_script((redis_queue *)queue, claim_each_script, names, count, got);
}

static void redis_drop_claim(pn_queue *queue, const char *name) {
  redis_queue *q = (redis_queue *)queue;
  char *key = pn_strfmt(CLAIM_PREFIX "%s", name);
  const char *drop[] = {"EVAL", drop_claim_script, "1", key, q->name};
  if (key)
    command_ok(q, 5, drop);
  pn_free(key);
}

/* --- shared rate limits ---------------------------------------------------------------- */

#define RATE_PREFIX "pinion:rate:"

/* Counts a request in window KEYS[1] of ARGV[1] ms: {requests so far, ms left}. The
 * expiry is set by the window's first request (and mended if a key lost it). */
static const char count_script[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "local left = redis.call('PTTL', KEYS[1])\n"
    "if left < 0 then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "  left = tonumber(ARGV[1])\n"
    "end\n"
    "return {n, left}\n";

static int redis_count(pn_queue *queue, const char *name, long window_ms, long *count,
                       long *reset_ms) {
  redis_queue *q = (redis_queue *)queue;
  char *key = pn_strfmt(RATE_PREFIX "%s", name);
  char ms[24];
  snprintf(ms, sizeof ms, "%ld", window_ms);
  const char *argv[] = {"EVAL", count_script, "1", key, ms};
  redisReply *reply = key ? command(q, 5, argv) : NULL;
  int rc = !key ? PN_ENOMEM : !reply ? PN_ECLOSED : 0;
  if (rc == 0 && (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
                  reply->element[0]->type != REDIS_REPLY_INTEGER ||
                  reply->element[1]->type != REDIS_REPLY_INTEGER))
    rc = PN_EIO;
  if (rc == 0) {
    *count = (long)reply->element[0]->integer;
    *reset_ms = (long)reply->element[1]->integer;
  }
  if (is_error(reply))
    pn_warn("queue: Redis refused to count a request against %s: %s", key, reply->str);
  if (reply)
    q->api->free_reply(reply);
  pn_free(key);
  return rc;
}

/* --- canceled while waiting ------------------------------------------------------------ */

/* Deletes prediction ARGV[2]'s entry from stream KEYS[1] unless group ARGV[1] has it
 * pending (a consumer took it): 1 deleted, 0 held or absent. The entry is found by
 * reading the ids a page at a time inside Redis, as SCAN_IDS does. */
static const char drop_waiting_script[] =
    "local start = '-'\n"
    "while true do\n"
    "  local page = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 256)\n"
    "  for _, e in ipairs(page) do\n"
    "    local f = e[2]\n"
    "    for j = 1, #f, 2 do\n"
    "      if f[j] == 'id' and f[j + 1] == ARGV[2] then\n"
    "        local p = redis.pcall('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)\n"
    "        if type(p) == 'table' and not p.err and #p > 0 then return 0 end\n"
    "        return redis.call('XDEL', KEYS[1], e[1])\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if #page < 256 then return 0 end\n"
    "  start = '(' .. page[#page][1]\n"
    "end\n";

static int redis_drop_waiting(pn_queue *queue, const char *key, const char *id) {
  redis_queue *q = (redis_queue *)queue;
  char *stream_key = pn_strfmt(STREAM_PREFIX "%s", key);
  const char *argv[] = {"EVAL", drop_waiting_script, "1", stream_key, GROUP, id};
  redisReply *reply = stream_key ? command(q, 6, argv) : NULL;
  int rc = !stream_key                          ? PN_ENOMEM
           : !reply                             ? PN_ECLOSED
           : reply->type == REDIS_REPLY_INTEGER ? (int)reply->integer
                                                : PN_EIO;
  if (is_error(reply))
    pn_warn("queue: Redis refused to drop the message of canceled prediction %s: %s", id,
            reply->str);
  if (reply)
    q->api->free_reply(reply);
  pn_free(stream_key);
  return rc;
}

static const pn_queue_engine redis_engine = {
    .name = "Redis",
    .shared = 1,
    .free = redis_free,
    .push = redis_push,
    .done = redis_done,
    .progress = redis_progress,
    .holds = redis_holds,
    .stop_taking = redis_stop_taking,
    .release = redis_release,
    .lease = redis_lease,
    .check_lease = redis_check_lease,
    .forget = redis_forget,
    .depths = redis_depths,
    .find_absent = redis_find_absent,
    .push_absent = redis_push_absent,
    .claim = redis_claim,
    .renew_claims = redis_renew_claims,
    .claim_each = redis_claim_each,
    .drop_claim = redis_drop_claim,
    .count = redis_count,
    .drop_waiting = redis_drop_waiting,
};

static struct event *start_timer(redis_queue *q, long ms, event_callback_fn callback) {
  struct event *timer = event_new(q->base, -1, EV_PERSIST, callback, q);
  struct timeval every = ms_to_timeval(ms);
  if (timer && event_add(timer, &every) < 0) {
    event_free(timer);
    return NULL;
  }
  return timer;
}

int pn_queue_redis_open(struct event_base *base, const pn_queue_redis_url *url,
                        const pn_queue_options *options, double lease, pn_queue **queue,
                        char **error) {
  const char *load_error = NULL;
  const pn_hiredis_api *api = pn_hiredis(&load_error);
  if (!api) {
    *error = pn_strfmt("%s", load_error);
    return PN_EUNSUPPORTED;
  }
  redis_queue *q = pn_calloc(1, sizeof *q);
  if (!q)
    return PN_ENOMEM;
  q->head.engine = &redis_engine;
  q->api = api;
  q->base = base;
  q->url = *url;
  q->lease = lease;
  q->taking = !options->push_only;
  q->fixed_capacity = options->capacity > 0;
  q->max_deliveries = options->max_deliveries > 0 ? options->max_deliveries
                                                  : PN_QUEUE_MAX_DELIVERIES_DEFAULT;
  snprintf(q->pushed_channel, sizeof q->pushed_channel, PUSHED_CHANNEL_PREFIX "%d", url->db);
  snprintf(q->progress_channel, sizeof q->progress_channel, PROGRESS_CHANNEL_PREFIX "%d",
           url->db);
  if (options->stream) {
    char *key = pn_strfmt(STREAM_PREFIX "%s", options->stream);
    stream *s = key ? find_stream(q, key, 1) : NULL;
    pn_free(key);
    if (!s) {
      redis_free(&q->head);
      return PN_ENOMEM;
    }
    s->capacity = q->fixed_capacity ? options->capacity : 1;
    q->only_stream = 1;
  }
  char host[64] = "";
  gethostname(host, sizeof host - 1);
  unsigned random = (unsigned)(pn_clock_realtime_ns() ^ ((uint64_t)getpid() << 20));
  snprintf(q->name, sizeof q->name, "%s:%d:%08x", host, (int)getpid(), random);
  q->commands = connect_to(q, error);
  if (!q->commands) {
    redis_free(&q->head);
    return PN_ECLOSED;
  }
  q->read_event = event_new(base, -1, 0, on_read_woken, q);
  long lease_ms = (long)(lease * 1000);
  q->poll_timer = start_timer(q, SAFETY_POLL_MS, on_poll);
  q->renew_timer = start_timer(q, lease_ms / 3 > 0 ? lease_ms / 3 : 1, on_renew);
  q->reclaim_timer = start_timer(q, lease_ms / 2 > 0 ? lease_ms / 2 : 1, on_reclaim);
  q->discover_timer = start_timer(q, DISCOVER_MS, on_discover);
  if (!q->read_event || !q->poll_timer || !q->renew_timer || !q->reclaim_timer ||
      !q->discover_timer) {
    redis_free(&q->head);
    return PN_ENOMEM;
  }
  /* Subscribed before the first read (which it starts), so that no push falls between. */
  listen_for_notices(q);
  /* What other processes queued, and what consumers that died left, from the start. */
  event_active(q->discover_timer, EV_TIMEOUT, 0);
  event_active(q->reclaim_timer, EV_TIMEOUT, 0);
  pn_info("queue: Redis at %s:%d (database %d), consumer %s, lease %.1f s%s%s", url->host,
          url->port, url->db, q->name, lease,
          q->taking ? (options->stream ? ", taking from " : "") : ", push only",
          q->taking && options->stream ? options->stream : "");
  *queue = &q->head;
  return 0;
}

#else

int pn_queue_redis_open(struct event_base *base, const pn_queue_redis_url *url,
                        const pn_queue_options *options, double lease, pn_queue **queue,
                        char **error) {
  *error = pn_strfmt("this pinion was built without hiredis's headers, so it has no Redis "
                     "queue: build it with libhiredis-dev installed, or leave out --queue");
  return PN_EUNSUPPORTED;
}

#endif
