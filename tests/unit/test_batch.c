/* Unit tests for adaptive batching's queue and rule (runtime/batch.c): when a batch is
 * due, what it takes, a cancel from the middle, a too-large batch put back, and the
 * signature's `batch` entry read with its bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "runtime/batch.h"

#include <string.h>

#define MS 1000000ull

static pn_prediction predictions[6];

static pn_batch_queue queue_of(size_t capacity, size_t count, uint64_t first_ns) {
  pn_batch_queue queue;
  assert_int_equal(pn_batch_queue_init(&queue, capacity), 0);
  for (size_t i = 0; i < count; i++)
    assert_int_equal(pn_batch_queue_push(&queue, &predictions[i], first_ns + i * MS), 0);
  return queue;
}

static void due_when_full_or_when_the_oldest_has_waited(void **state) {
  pn_batch_policy policy = {.max_size = 4, .max_wait_ms = 10};
  pn_batch_queue queue = queue_of(8, 0, 0);
  assert_int_equal(pn_batch_due_in_ns(&queue, &policy, 100 * MS), -1);
  pn_batch_queue_free(&queue);

  queue = queue_of(8, 2, 100 * MS); /* arrived at 100 and 101 ms */
  assert_int_equal(pn_batch_due_in_ns(&queue, &policy, 100 * MS), 10 * MS);
  assert_int_equal(pn_batch_due_in_ns(&queue, &policy, 104 * MS), 6 * MS);
  assert_int_equal(pn_batch_due_in_ns(&queue, &policy, 110 * MS), 0);
  assert_int_equal(pn_batch_due_in_ns(&queue, &policy, 500 * MS), 0);
  pn_batch_queue_free(&queue);

  queue = queue_of(8, 4, 100 * MS); /* max_size waiting: due at once */
  assert_int_equal(pn_batch_due_in_ns(&queue, &policy, 100 * MS), 0);
  pn_batch_queue_free(&queue);

  policy.max_wait_ms = 0; /* take what is there */
  queue = queue_of(8, 1, 100 * MS);
  assert_int_equal(pn_batch_due_in_ns(&queue, &policy, 100 * MS), 0);
  pn_batch_queue_free(&queue);
}

static void take_is_oldest_first_and_at_most_max(void **state) {
  pn_batch_queue queue = queue_of(6, 6, 0);
  pn_batch_entry taken[4];
  assert_int_equal(pn_batch_queue_take(&queue, 4, taken), 4);
  for (int i = 0; i < 4; i++)
    assert_ptr_equal(taken[i].prediction, &predictions[i]);
  assert_int_equal(queue.count, 2);
  assert_ptr_equal(queue.entries[0].prediction, &predictions[4]);
  assert_int_equal(queue.entries[0].queued_ns, 4 * MS);
  assert_int_equal(pn_batch_queue_take(&queue, 4, taken), 2);
  assert_ptr_equal(taken[1].prediction, &predictions[5]);
  assert_int_equal(queue.count, 0);
  pn_batch_queue_free(&queue);
}

static void a_cancel_leaves_from_the_middle_and_the_wait_follows_the_new_oldest(void **state) {
  pn_batch_policy policy = {.max_size = 4, .max_wait_ms = 10};
  pn_batch_queue queue = queue_of(4, 3, 0);
  assert_int_equal(pn_batch_queue_remove(&queue, &predictions[1]), 1);
  assert_int_equal(pn_batch_queue_remove(&queue, &predictions[1]), 0);
  assert_int_equal(queue.count, 2);
  assert_ptr_equal(queue.entries[1].prediction, &predictions[2]);
  assert_int_equal(pn_batch_queue_remove(&queue, &predictions[0]), 1);
  /* The oldest now arrived at 2 ms: due at 12 ms. */
  assert_int_equal(pn_batch_due_in_ns(&queue, &policy, 5 * MS), 7 * MS);
  pn_batch_queue_free(&queue);
}

static void full_queue_refuses_and_taken_entries_go_back_in_front(void **state) {
  pn_batch_queue queue = queue_of(3, 3, 0);
  assert_int_equal(pn_batch_queue_push(&queue, &predictions[3], 9 * MS), PN_EBUSY);
  pn_batch_entry taken[3];
  assert_int_equal(pn_batch_queue_take(&queue, 3, taken), 3);
  assert_int_equal(pn_batch_queue_push(&queue, &predictions[3], 9 * MS), 0);
  pn_batch_queue_unshift(&queue, taken + 1, 2); /* the back half of a batch too large */
  assert_int_equal(queue.count, 3);
  assert_ptr_equal(queue.entries[0].prediction, &predictions[1]);
  assert_ptr_equal(queue.entries[1].prediction, &predictions[2]);
  assert_ptr_equal(queue.entries[2].prediction, &predictions[3]);
  assert_int_equal(queue.entries[0].queued_ns, 1 * MS); /* keeps its arrival */
  pn_batch_queue_free(&queue);
}

static int read_policy(const char *text, pn_batch_policy *policy, int *enabled, char **error) {
  json_t *signature = json_loads(text, 0, NULL);
  assert_non_null(signature);
  int rc = pn_batch_policy_read(signature, policy, enabled, error);
  json_decref(signature);
  return rc;
}

static void the_signature_batch_entry_is_checked(void **state) {
  pn_batch_policy policy = {0};
  int enabled = -1;
  char *error = NULL;
  assert_int_equal(read_policy("{\"batch\": null}", &policy, &enabled, &error), 0);
  assert_int_equal(enabled, 0);
  assert_int_equal(read_policy("{}", &policy, &enabled, &error), 0);
  assert_int_equal(enabled, 0);
  assert_int_equal(
      read_policy("{\"batch\": {\"max_size\": 16, \"max_wait_ms\": 2.5}}", &policy, &enabled, &error), 0);
  assert_int_equal(enabled, 1);
  assert_int_equal(policy.max_size, 16);
  assert_true(policy.max_wait_ms == 2.5);
  static const char *const bad[] = {
      "{\"batch\": {\"max_size\": 0, \"max_wait_ms\": 1}}",
      "{\"batch\": {\"max_size\": 1025, \"max_wait_ms\": 1}}",
      "{\"batch\": {\"max_size\": \"8\", \"max_wait_ms\": 1}}",
      "{\"batch\": {\"max_size\": 8, \"max_wait_ms\": -1}}",
      "{\"batch\": {\"max_size\": 8, \"max_wait_ms\": 60001}}",
      "{\"batch\": {\"max_size\": 8}}",
      "{\"batch\": true}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(read_policy(bad[i], &policy, &enabled, &error), PN_EINVAL);
    assert_int_equal(enabled, 0);
    assert_non_null(error);
    assert_non_null(strstr(error, "@cog.batch"));
    pn_free(error);
    error = NULL;
  }
}

int main(void) {
  pn_alloc_install_json();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(due_when_full_or_when_the_oldest_has_waited),
      cmocka_unit_test(take_is_oldest_first_and_at_most_max),
      cmocka_unit_test(a_cancel_leaves_from_the_middle_and_the_wait_follows_the_new_oldest),
      cmocka_unit_test(full_queue_refuses_and_taken_entries_go_back_in_front),
      cmocka_unit_test(the_signature_batch_entry_is_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
