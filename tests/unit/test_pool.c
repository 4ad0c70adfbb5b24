/* Unit tests for core/pool: work runs off the loop's thread, every job is handed back
 * exactly once on the loop's thread, the queue has a ceiling, and freeing the pool
 * cancels what never started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/pool.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define JOBS 200

typedef struct sum_job {
  pthread_t loop_thread;
  pthread_t work_thread;
  unsigned input;
  unsigned long result;
  int done_calls;
  int canceled;
  int done_on_loop;
  unsigned sleep_us;
  struct event_base *base;
  int *remaining; /* the loop stops when it reaches 0 */
} sum_job;

static void sum_work(void *arg) {
  sum_job *job = arg;
  job->work_thread = pthread_self();
  if (job->sleep_us)
    usleep(job->sleep_us);
  for (unsigned i = 1; i <= job->input; i++)
    job->result += i;
}

static void sum_done(void *arg, int canceled) {
  sum_job *job = arg;
  job->done_calls++;
  job->canceled = canceled;
  job->done_on_loop = pthread_equal(pthread_self(), job->loop_thread);
  if (job->remaining && --*job->remaining == 0)
    event_base_loopbreak(job->base);
}

static void init_job(sum_job *job, struct event_base *base, unsigned input, int *remaining) {
  memset(job, 0, sizeof *job);
  job->loop_thread = pthread_self();
  job->base = base;
  job->input = input;
  job->remaining = remaining;
}

static void every_job_comes_back_once_on_the_loop(void **state) {
  struct event_base *base = event_base_new();
  pn_pool *pool = NULL;
  assert_int_equal(pn_pool_new(base, 4, 0, &pool), 0);
  static sum_job jobs[JOBS];
  int remaining = JOBS;
  for (unsigned i = 0; i < JOBS; i++) {
    init_job(&jobs[i], base, i, &remaining);
    assert_int_equal(pn_pool_submit(pool, sum_work, sum_done, &jobs[i]), 0);
  }
  assert_int_equal(pn_pool_pending(pool), JOBS);
  struct timeval limit = {10, 0};
  event_base_loopexit(base, &limit);
  event_base_dispatch(base);
  assert_int_equal(remaining, 0);
  assert_int_equal(pn_pool_pending(pool), 0);
  for (unsigned i = 0; i < JOBS; i++) {
    assert_int_equal(jobs[i].done_calls, 1);
    assert_int_equal(jobs[i].canceled, 0);
    assert_true(jobs[i].done_on_loop);
    assert_false(pthread_equal(jobs[i].work_thread, jobs[i].loop_thread));
    assert_int_equal(jobs[i].result, (unsigned long)i * (i + 1) / 2);
  }
  pn_pool_free(pool);
  event_base_free(base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
  uint64_t *fired_ns = arg;
  *fired_ns = pn_clock_monotonic_ns();
}

/* The loop keeps its timers while a job works for 300 ms. */
static void slow_work_leaves_the_loop_free(void **state) {
  struct event_base *base = event_base_new();
  pn_pool *pool = NULL;
  assert_int_equal(pn_pool_new(base, 1, 0, &pool), 0);
  int remaining = 1;
  sum_job job;
  init_job(&job, base, 10, &remaining);
  job.sleep_us = 300000;
  uint64_t start = pn_clock_monotonic_ns(), fired = 0;
  assert_int_equal(pn_pool_submit(pool, sum_work, sum_done, &job), 0);
  struct event *tick = evtimer_new(base, on_tick, &fired);
  struct timeval ten_ms = {0, 10000};
  evtimer_add(tick, &ten_ms);
  struct timeval limit = {10, 0};
  event_base_loopexit(base, &limit);
  event_base_dispatch(base);
  assert_int_equal(job.done_calls, 1);
  assert_int_equal(job.result, 55);
  assert_true(fired > start);
  assert_true(fired - start < 150000000u); /* well before the job's 300 ms */
  event_free(tick);
  pn_pool_free(pool);
  event_base_free(base);
}

static void a_full_queue_refuses(void **state) {
  struct event_base *base = event_base_new();
  pn_pool *pool = NULL;
  assert_int_equal(pn_pool_new(base, 1, 2, &pool), 0);
  sum_job jobs[4];
  for (int i = 0; i < 4; i++) {
    init_job(&jobs[i], base, 1, NULL);
    jobs[i].sleep_us = 100000;
  }
  assert_int_equal(pn_pool_submit(pool, sum_work, sum_done, &jobs[0]), 0);
  usleep(20000); /* the thread takes the first: two may wait */
  assert_int_equal(pn_pool_submit(pool, sum_work, sum_done, &jobs[1]), 0);
  assert_int_equal(pn_pool_submit(pool, sum_work, sum_done, &jobs[2]), 0);
  assert_int_equal(pn_pool_submit(pool, sum_work, sum_done, &jobs[3]), PN_EBUSY);
  assert_int_equal(pn_pool_pending(pool), 3);
  pn_pool_free(pool);
  assert_int_equal(jobs[3].done_calls, 0); /* refused: never handed back */
  event_base_free(base);
}

/* Freeing waits for the running job (handed back as done) and cancels the waiting
 * ones; each comes back once, on the caller's thread. */
static void freeing_cancels_what_never_started(void **state) {
  struct event_base *base = event_base_new();
  pn_pool *pool = NULL;
  assert_int_equal(pn_pool_new(base, 1, 0, &pool), 0);
  sum_job jobs[3];
  for (int i = 0; i < 3; i++) {
    init_job(&jobs[i], base, 3, NULL);
    jobs[i].sleep_us = 100000;
    assert_int_equal(pn_pool_submit(pool, sum_work, sum_done, &jobs[i]), 0);
  }
  usleep(20000);
  pn_pool_free(pool);
  assert_int_equal(jobs[0].done_calls, 1);
  assert_int_equal(jobs[0].canceled, 0);
  assert_int_equal(jobs[0].result, 6);
  for (int i = 1; i < 3; i++) {
    assert_int_equal(jobs[i].done_calls, 1);
    assert_int_equal(jobs[i].canceled, 1);
    assert_int_equal(jobs[i].result, 0);
    assert_true(jobs[i].done_on_loop);
  }
  event_base_free(base);
}

static void bad_thread_counts_are_refused(void **state) {
  struct event_base *base = event_base_new();
  pn_pool *pool = NULL;
  assert_int_equal(pn_pool_new(base, 0, 0, &pool), PN_EINVAL);
  assert_null(pool);
  assert_int_equal(pn_pool_new(base, 65, 0, &pool), PN_EINVAL);
  pn_pool_free(NULL);
  event_base_free(base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_job_comes_back_once_on_the_loop),
      cmocka_unit_test(slow_work_leaves_the_loop_free),
      cmocka_unit_test(a_full_queue_refuses),
      cmocka_unit_test(freeing_cancels_what_never_started),
      cmocka_unit_test(bad_thread_counts_are_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
