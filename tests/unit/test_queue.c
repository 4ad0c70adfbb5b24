/* Unit tests for the queue's engine-neutral parts (queue/queue.c): the redis:// URL and
 * the embedded engine's hand-off. The Redis engine is tested against a real server in
 * tests/integration/test_hub_redis.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "queue/queue.h"

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

static int taken;
static char taken_id[32];

static void take(void *arg, const char *id, const json_t *body) {
  taken++;
  strncpy(taken_id, id, sizeof taken_id - 1);
  assert_int_equal(json_integer_value(json_object_get(body, "n")), 7);
}
static void settled(void *arg, const char *id, int held) { fail(); }
static void lost(void *arg, const char *id) { fail(); }

static void the_embedded_queue_hands_over_at_once(void **state) {
  pn_queue_consumer consumer = {.take = take, .settled = settled, .lost = lost};
  pn_queue_options options = {0};
  pn_queue *queue = NULL;
  char *error = NULL;
  assert_int_equal(pn_queue_open(NULL, &options, &consumer, &queue, &error), 0);
  assert_string_equal(pn_queue_engine_name(queue), "embedded");
  assert_false(pn_queue_is_shared(queue));
  json_t *body = json_pack("{s:i}", "n", 7);
  assert_int_equal(pn_queue_push(queue, "version", "p1", 1, body), 0);
  assert_int_equal(taken, 1);
  assert_string_equal(taken_id, "p1");
  assert_true(pn_queue_holds(queue, "p1"));
  /* Nothing is leased: no director can report under a lease of this queue. */
  assert_null(pn_queue_lease(queue, "p1"));
  assert_int_equal(pn_queue_check_lease(queue, "p1", "c 1-0 version"), PN_EUNSUPPORTED);
  pn_queue_forget(queue, "p1");
  assert_true(pn_queue_holds(queue, "p1"));
  assert_int_equal(pn_queue_done(queue, "p1"), 0);
  assert_int_equal(pn_queue_push(queue, "", "p2", 1, body), PN_EINVAL);
  assert_int_equal(taken, 1);
  json_decref(body);
  pn_queue_free(queue);
}

static void a_bad_lease_or_url_says_what_to_pass(void **state) {
  pn_queue_consumer consumer = {.take = take, .settled = settled, .lost = lost};
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
  const char *refused[] = {NULL, "", "h:1:ab", "h:1:ab 17-0", "h:1:ab 17-0 ", " 17-0 v",
                           "h  17-0 v", "h 17-0\n v", "h 17-0 v\x01"};
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
      cmocka_unit_test(the_embedded_queue_hands_over_at_once),
      cmocka_unit_test(a_bad_lease_or_url_says_what_to_pass),
      cmocka_unit_test(a_lease_splits_into_consumer_entry_and_target),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
