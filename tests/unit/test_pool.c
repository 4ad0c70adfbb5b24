/* Unit tests for the worker pool (core/pool.c): work runs off the loop's thread and
 * its result comes back on the loop, in order; canceled tasks still free their
 * argument; freeing the pool hands back what is left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/pool.h"

#include <event2/event.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

typedef struct job {
  pthread_t worker;   /* the thread `work` ran on */
  int value, result;  /* result = value * 2, set by work */
  int done, canceled; /* set by done */
  int *done_order;    /* the loop appends `value` here */
  int *done_count;
  pthread_mutex_t *gate; /* work waits on it, when set */
} job;

static void work(void *arg) {
  job *item = arg;
  if (item->gate) {
    pthread_mutex_lock(item->gate);
    pthread_mutex_unlock(item->gate);
  }
  item->worker = pthread_self();
  item->result = item->value * 2;
}

static void done(void *arg, int canceled) {
  job *item = arg;
  item->done = 1;
  item->canceled = canceled;
  item->done_order[(*item->done_count)++] = item->value;
}

/* Runs the loop until `count` callbacks ran, at most two seconds. */
static void run_until(struct event_base *base, int *done_count, int count) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (*done_count < count) {
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    assert_true(now.tv_sec - start.tv_sec < 2);
    struct timespec nap = {0, 1000000};
    nanosleep(&nap, NULL);
  }
}

static void work_runs_off_the_loop_and_comes_back_on_it(void **state) {
  struct event_base *base = event_base_new();
  pn_pool *pool = NULL;
  assert_int_equal(pn_pool_new(base, 2, &pool), 0);
  job jobs[20];
  int order[20], count = 0;
  for (int i = 0; i < 20; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].value = i;
    jobs[i].done_order = order;
    jobs[i].done_count = &count;
    assert_int_equal(pn_pool_submit(pool, work, done, &jobs[i], NULL), 0);
  }
  assert_int_equal(pn_pool_pending(pool), 20);
  assert_int_equal(count, 0); /* nothing comes back inside submit */
  run_until(base, &count, 20);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(jobs[i].result, 2 * i);
    assert_false(jobs[i].canceled);
    assert_false(pthread_equal(jobs[i].worker, pthread_self()));
  }
  assert_int_equal(pn_pool_pending(pool), 0);
  pn_pool_free(pool);
  event_base_free(base);
}

static void a_canceled_task_skips_its_work_but_still_frees(void **state) {
  struct event_base *base = event_base_new();
  pn_pool *pool = NULL;
  assert_int_equal(pn_pool_new(base, 1, &pool), 0);
  pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&gate); /* holds the only thread in the first task */
  job first = {.value = 1, .gate = &gate}, second = {.value = 2};
  int order[2], count = 0;
  first.done_order = second.done_order = order;
  first.done_count = second.done_count = &count;
  pn_pool_task *task = NULL;
  assert_int_equal(pn_pool_submit(pool, work, done, &first, NULL), 0);
  assert_int_equal(pn_pool_submit(pool, work, done, &second, &task), 0);
  pn_pool_cancel(task);
  pthread_mutex_unlock(&gate);
  run_until(base, &count, 2);
  assert_int_equal(first.result, 2);
  assert_false(first.canceled);
  assert_int_equal(second.result, 0); /* its work never ran */
  assert_true(second.canceled);
  assert_int_equal(order[0], 1);
  assert_int_equal(order[1], 2);
  pn_pool_free(pool);
  event_base_free(base);
}

static void freeing_the_pool_hands_back_every_task(void **state) {
  struct event_base *base = event_base_new();
  pn_pool *pool = NULL;
  assert_int_equal(pn_pool_new(base, 1, &pool), 0);
  job jobs[5];
  int order[5], count = 0;
  for (int i = 0; i < 5; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].value = i;
    jobs[i].done_order = order;
    jobs[i].done_count = &count;
    assert_int_equal(pn_pool_submit(pool, work, done, &jobs[i], NULL), 0);
  }
  pn_pool_free(pool); /* without running the loop */
  assert_int_equal(count, 5);
  for (int i = 0; i < 5; i++)
    assert_true(jobs[i].done && jobs[i].canceled);
  event_base_free(base);
}

static void sizes_outside_the_range_are_refused(void **state) {
  struct event_base *base = event_base_new();
  pn_pool *pool = NULL;
  assert_int_equal(pn_pool_new(base, 0, &pool), PN_EINVAL);
  assert_int_equal(pn_pool_new(base, 65, &pool), PN_EINVAL);
  assert_null(pool);
  event_base_free(base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(work_runs_off_the_loop_and_comes_back_on_it),
      cmocka_unit_test(a_canceled_task_skips_its_work_but_still_frees),
      cmocka_unit_test(freeing_the_pool_hands_back_every_task),
      cmocka_unit_test(sizes_outside_the_range_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
