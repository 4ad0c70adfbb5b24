/* Unit tests for the queue's engine-neutral parts (queue/queue.c): the redis:// URL and
 * the embedded engine between the hub's handle and its director's. The Redis engine is tested
 * against a real server in tests/integration/test_hub_redis.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "queue/queue.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

static void expect_url(const char *text, const char *host, int port, int db, const char *password) {
  pn_queue_redis_url url;
  const char *error = "unset";
  assert_int_equal(pn_queue_parse_redis_url(text, &url, &error), 0);
  assert_null(error);
  assert_string_equal(url.host, host);
  assert_int_equal(url.port, port);
  assert_int_equal(url.db, db);
  assert_string_equal(url.password, password);
}

static void expect_refused(const char *text, const char *words) {
  pn_queue_redis_url url;
  const char *error = NULL;
  assert_int_equal(pn_queue_parse_redis_url(text, &url, &error), PN_EINVAL);
  assert_non_null(error);
  assert_non_null(strstr(error, words));
}

static void redis_urls_name_host_port_database_and_password(void **state) {
  expect_url("redis://127.0.0.1:6380/3", "127.0.0.1", 6380, 3, "");
  expect_url("redis://queue.internal", "queue.internal", 6379, 0, "");
  expect_url("redis://queue.internal/", "queue.internal", 6379, 0, "");
  expect_url("REDIS://:s3cret@[::1]:7000/15", "::1", 7000, 15, "s3cret");
  expect_url("redis://default:p@ss@h", "h", 6379, 0, "p@ss");
  expect_refused("http://h", "redis://");
  expect_refused("redis://", "no host");
  expect_refused("redis://h:0", "port");
  expect_refused("redis://h:65536", "port");
  expect_refused("redis://h:80x", "port");
  expect_refused("redis://h/one", "database");
  expect_refused("redis://h/1?ssl=true", "query");
  expect_refused("redis://[::1", "']'");
  expect_refused("redis://user@h", "PASSWORD");
}

/* What each side of an embedded queue heard, in order: "take p1", "settled p1 1". */
typedef struct heard {
  char lines[16][64];
  int count;
  int give_back; /* `take` hands the message straight back (once) */
  pn_queue **queue;
} heard;

static void note(heard *h, const char *what, const char *id, int flag) {
  assert_true(h->count < 16);
  snprintf(h->lines[h->count++], sizeof h->lines[0], flag < 0 ? "%s %s" : "%s %s %d", what, id,
           flag);
}
static void take(void *arg, const char *id, const json_t *body) {
  heard *h = arg;
  note(h, "take", id, (int)json_integer_value(json_object_get(body, "n")));
  if (h->give_back) {
    h->give_back = 0;
    assert_int_equal(pn_queue_release(*h->queue, id), 0);
  }
}
static void settled(void *arg, const char *id, int held) { note(arg, "settled", id, held); }
static void lost(void *arg, const char *id) { note(arg, "lost", id, -1); }

/* Runs what the queue owes (its deliveries run from the loop, never inside a call). */
static void run_loop(struct event_base *base) {
  for (int i = 0; i < 5; i++)
    event_base_loop(base, EVLOOP_NONBLOCK);
}

/* The hub's push-only handle and its director's taking one beside it. */
typedef struct pair {
  struct event_base *base;
  pn_queue *hub, *director;
  heard hub_heard, director_heard;
} pair;

static void open_pair(pair *p) {
  memset(p, 0, sizeof *p);
  p->base = event_base_new();
  char *error = NULL;
  pn_queue_consumer hub_side = {.settled = settled, .arg = &p->hub_heard};
  pn_queue_options hub_options = {.push_only = 1};
  assert_int_equal(pn_queue_open(p->base, &hub_options, &hub_side, &p->hub, &error), 0);
  pn_queue_consumer director_side = {
      .take = take, .settled = settled, .lost = lost, .arg = &p->director_heard};
  pn_queue_options director_options = {.beside = p->hub};
  assert_int_equal(pn_queue_open(p->base, &director_options, &director_side, &p->director, &error),
                   0);
  p->director_heard.queue = &p->director;
  assert_null(error);
}

static void close_pair(pair *p) {
  pn_queue_free(p->hub);
  pn_queue_free(p->director);
  event_base_free(p->base);
}

static void the_embedded_queue_hands_over_from_the_loop_under_a_lease(void **state) {
  pair p;
  open_pair(&p);
  assert_string_equal(pn_queue_engine_name(p.hub), "embedded");
  assert_false(pn_queue_is_shared(p.hub));
  json_t *body = json_pack("{s:i}", "n", 7);
  assert_int_equal(pn_queue_push(p.hub, "version", "p1", 1, body), 0);
  assert_int_equal(pn_queue_push(p.hub, "version", "p1", 1, body), PN_EEXISTS);
  assert_int_equal(pn_queue_push(p.hub, "", "p2", 1, body), PN_EINVAL);
  assert_int_equal(p.director_heard.count, 0); /* never inside the push */
  run_loop(p.base);
  assert_int_equal(p.director_heard.count, 1);
  assert_string_equal(p.director_heard.lines[0], "take p1 7");
  assert_true(pn_queue_holds(p.director, "p1"));
  assert_false(pn_queue_holds(p.hub, "p1"));
  /* The director reports under its lease; the hub checks it. */
  char *lease = pn_queue_lease(p.director, "p1");
  assert_non_null(lease);
  assert_null(pn_queue_lease(p.hub, "p1"));
  pn_queue_lease_parts parts;
  assert_int_equal(pn_queue_parse_lease(lease, &parts), 0);
  assert_string_equal(parts.key, "version");
  assert_int_equal(pn_queue_check_lease(p.hub, "p1", lease), 0);
  char *other_entry = pn_strfmt("%s 99-0 version", parts.consumer);
  assert_int_equal(pn_queue_check_lease(p.hub, "p1", other_entry), PN_ESTATE);
  char *other_key = pn_strfmt("%s %s deployment:a/b", parts.consumer, parts.entry);
  assert_int_equal(pn_queue_check_lease(p.hub, "p1", other_key), PN_EINVAL);
  assert_int_equal(pn_queue_check_lease(p.hub, "p1", "no lease"), PN_EINVAL);
  /* The hub concludes it (a cancel): the director hears it held it, on the loop. */
  assert_int_equal(pn_queue_done(p.hub, "p1"), 0);
  assert_int_equal(p.director_heard.count, 1);
  run_loop(p.base);
  assert_int_equal(p.director_heard.count, 2);
  assert_string_equal(p.director_heard.lines[1], "settled p1 1");
  assert_false(pn_queue_holds(p.director, "p1"));
  /* Settled: a late report under the old lease is not refused (no one else runs it). */
  assert_int_equal(pn_queue_check_lease(p.hub, "p1", lease), 0);
  assert_null(pn_queue_lease(p.director, "p1"));
  assert_int_equal(p.hub_heard.count, 0);
  pn_free(lease);
  pn_free(other_entry);
  pn_free(other_key);
  json_decref(body);
  close_pair(&p);
}

static void
an_acknowledged_message_is_told_to_the_hub_and_a_given_back_one_comes_again(void **state) {
  pair p;
  open_pair(&p);
  json_t *one = json_pack("{s:i}", "n", 1), *two = json_pack("{s:i}", "n", 2);
  p.director_heard.give_back = 1;
  assert_int_equal(pn_queue_push(p.hub, "v", "p1", 1, one), 0);
  assert_int_equal(pn_queue_push(p.hub, "v", "p2", 1, two), 0);
  run_loop(p.base);
  /* p1 was handed back at its first take and comes again after p2, in order. */
  assert_int_equal(p.director_heard.count, 3);
  assert_string_equal(p.director_heard.lines[0], "take p1 1");
  assert_string_equal(p.director_heard.lines[1], "take p2 2");
  assert_string_equal(p.director_heard.lines[2], "take p1 1");
  assert_int_equal(pn_queue_release(p.hub, "p1"), PN_ENOENT);
  assert_int_equal(pn_queue_done(p.director, "p2"), 0); /* its outcome was stored */
  run_loop(p.base);
  assert_int_equal(p.hub_heard.count, 1);
  assert_string_equal(p.hub_heard.lines[0], "settled p2 0");
  assert_int_equal(p.director_heard.count, 3);
  /* A director that goes while holding p1 leaves it to the next one. */
  pn_queue_free(p.director);
  heard next = {0};
  pn_queue *second = NULL;
  char *error = NULL;
  pn_queue_consumer side = {.take = take, .settled = settled, .lost = lost, .arg = &next};
  pn_queue_options options = {.beside = p.hub};
  assert_int_equal(pn_queue_open(p.base, &options, &side, &second, &error), 0);
  run_loop(p.base);
  assert_int_equal(next.count, 1);
  assert_string_equal(next.lines[0], "take p1 1");
  p.director = second;
  json_decref(one);
  json_decref(two);
  close_pair(&p);
}

/* A director that goes from inside its own `settled` (its hub stopping it) is owed no
 * more notices: the second one, owed to it too, is dropped, not delivered to a freed
 * handle (ASan would say so). */
static int settled_calls;
static pn_queue *closing_director;
static void settled_then_close(void *arg, const char *id, int held) {
  settled_calls++;
  pn_queue_free(closing_director);
  closing_director = NULL;
}

static void a_handle_freed_in_its_callback_hears_nothing_more(void **state) {
  struct event_base *base = event_base_new();
  heard hub_heard = {0};
  pn_queue *hub = NULL;
  char *error = NULL;
  pn_queue_consumer hub_side = {.settled = settled, .arg = &hub_heard};
  pn_queue_options hub_options = {.push_only = 1};
  assert_int_equal(pn_queue_open(base, &hub_options, &hub_side, &hub, &error), 0);
  heard taken = {0};
  pn_queue_consumer director_side = {
      .take = take, .settled = settled_then_close, .lost = lost, .arg = &taken};
  pn_queue_options director_options = {.beside = hub};
  assert_int_equal(
      pn_queue_open(base, &director_options, &director_side, &closing_director, &error), 0);
  json_t *body = json_pack("{s:i}", "n", 1);
  assert_int_equal(pn_queue_push(hub, "v", "p1", 1, body), 0);
  assert_int_equal(pn_queue_push(hub, "v", "p2", 1, body), 0);
  run_loop(base);
  assert_int_equal(taken.count, 2);
  assert_int_equal(pn_queue_done(hub, "p1"), 0);
  assert_int_equal(pn_queue_done(hub, "p2"), 0);
  run_loop(base);
  assert_int_equal(settled_calls, 1);
  assert_null(closing_director);
  assert_int_equal(hub_heard.count, 0);
  json_decref(body);
  pn_queue_free(hub);
  event_base_free(base);
}

static void a_push_without_a_director_waits_for_one(void **state) {
  struct event_base *base = event_base_new();
  heard hub_heard = {0}, director_heard = {0};
  pn_queue *hub = NULL, *director = NULL;
  char *error = NULL;
  pn_queue_consumer hub_side = {.settled = settled, .arg = &hub_heard};
  pn_queue_options hub_options = {.push_only = 1};
  assert_int_equal(pn_queue_open(base, &hub_options, &hub_side, &hub, &error), 0);
  json_t *body = json_pack("{s:i}", "n", 3);
  assert_int_equal(pn_queue_push(hub, "v", "p1", 1, body), 0);
  assert_int_equal(pn_queue_push(hub, "v", "p2", 1, body), 0);
  run_loop(base);
  /* Canceled while it waited: no one ever takes it. */
  assert_int_equal(pn_queue_done(hub, "p2"), 0);
  pn_queue_consumer director_side = {
      .take = take, .settled = settled, .lost = lost, .arg = &director_heard};
  pn_queue_options director_options = {.beside = hub};
  assert_int_equal(pn_queue_open(base, &director_options, &director_side, &director, &error), 0);
  run_loop(base);
  assert_int_equal(director_heard.count, 1);
  assert_string_equal(director_heard.lines[0], "take p1 3");
  assert_int_equal(hub_heard.count, 0);
  /* Only the embedded engine opens beside an embedded queue; one director per target
   * stream needs Redis. */
  pn_queue_options stream_options = {.stream = "v"};
  pn_queue *refused = NULL;
  assert_int_equal(pn_queue_open(base, &stream_options, &director_side, &refused, &error),
                   PN_EINVAL);
  assert_non_null(strstr(error, "--queue redis://"));
  pn_free(error);
  json_decref(body);
  pn_queue_free(director);
  pn_queue_free(hub);
  event_base_free(base);
}

static void a_bad_lease_or_url_says_what_to_pass(void **state) {
  heard nothing = {0};
  pn_queue_consumer consumer = {.take = take, .settled = settled, .lost = lost, .arg = &nothing};
  pn_queue_options options = {.url = "redis://h", .lease = 0.1};
  pn_queue *queue = NULL;
  char *error = NULL;
  assert_int_equal(pn_queue_open(NULL, &options, &consumer, &queue, &error), PN_EINVAL);
  assert_non_null(strstr(error, "lease must be from 0.5 to 3600 seconds"));
  pn_free(error);
  options = (pn_queue_options){.url = "redis://h:x"};
  assert_int_equal(pn_queue_open(NULL, &options, &consumer, &queue, &error), PN_EINVAL);
  assert_non_null(strstr(error, "--queue takes redis://"));
  assert_null(queue);
  pn_free(error);
}

static void a_lease_splits_into_consumer_entry_and_target(void **state) {
  pn_queue_lease_parts parts;
  assert_int_equal(pn_queue_parse_lease("h:1:ab 17-0 deployment:alice/a b", &parts), 0);
  assert_string_equal(parts.consumer, "h:1:ab");
  assert_string_equal(parts.entry, "17-0");
  assert_string_equal(parts.key, "deployment:alice/a b"); /* the target is the rest */
  const char *refused[] = {NULL,      "",          "h:1:ab",     "h:1:ab 17-0", "h:1:ab 17-0 ",
                           " 17-0 v", "h  17-0 v", "h 17-0\n v", "h 17-0 v\x01"};
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
    assert_int_equal(pn_queue_parse_lease(refused[i], &parts), PN_EINVAL);
  char long_entry[100];
  memset(long_entry, '1', sizeof long_entry - 1);
  long_entry[sizeof long_entry - 1] = '\0';
  char *lease = pn_strfmt("h %s v", long_entry);
  assert_int_equal(pn_queue_parse_lease(lease, &parts), PN_EINVAL);
  pn_free(lease);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(redis_urls_name_host_port_database_and_password),
      cmocka_unit_test(the_embedded_queue_hands_over_from_the_loop_under_a_lease),
      cmocka_unit_test(an_acknowledged_message_is_told_to_the_hub_and_a_given_back_one_comes_again),
      cmocka_unit_test(a_push_without_a_director_waits_for_one),
      cmocka_unit_test(a_handle_freed_in_its_callback_hears_nothing_more),
      cmocka_unit_test(a_bad_lease_or_url_says_what_to_pass),
      cmocka_unit_test(a_lease_splits_into_consumer_entry_and_target),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
