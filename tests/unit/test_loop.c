/* Unit tests for core/loop: the polling budget and the loop that polls before it sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/loop.h"

#include <event2/event.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void budget_comes_from_the_environment(void **state) {
  unsetenv("PINION_POLL_US");
  assert_int_equal(pn_poll_budget_us(), PN_POLL_US_DEFAULT);
  setenv("PINION_POLL_US", "0", 1);
  assert_int_equal(pn_poll_budget_us(), 0);
  setenv("PINION_POLL_US", "75", 1);
  assert_int_equal(pn_poll_budget_us(), 75);
  setenv("PINION_POLL_US", "fast", 1);
  assert_int_equal(pn_poll_budget_us(), PN_POLL_US_DEFAULT);
  setenv("PINION_POLL_US", "-5", 1);
  assert_int_equal(pn_poll_budget_us(), PN_POLL_US_DEFAULT);
  setenv("PINION_POLL_US", "100001", 1);
  assert_int_equal(pn_poll_budget_us(), PN_POLL_US_DEFAULT);
  unsetenv("PINION_POLL_US");
}

/* A request/reply exchange over a socketpair: a timer "sends a request" by writing to
 * one end, the read callback on the other end "answers" it. */
typedef struct exchange {
  struct event_base *base;
  int fds[2];
  struct event *reader;
  struct event *timer;
  int awaiting; /* a reply is due: the loop should poll */
  int rounds;
  int wanted_calls;
  int always_wanted;
} exchange;

static int wanted(void *arg) {
  exchange *x = arg;
  x->wanted_calls++;
  return x->always_wanted || x->awaiting;
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  exchange *x = arg;
  assert_int_equal(write(x->fds[0], "q", 1), 1);
  x->awaiting = 1;
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
  exchange *x = arg;
  char byte;
  assert_int_equal(read(fd, &byte, 1), 1);
  assert_int_equal(byte, 'q');
  x->awaiting = 0;
  if (++x->rounds == 3) {
    event_base_loopexit(x->base, NULL);
    return;
  }
  struct timeval later = {0, 20000};
  evtimer_add(x->timer, &later);
}

static void exchange_open(exchange *x) {
  *x = (exchange){0};
  x->base = event_base_new();
  assert_non_null(x->base);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, x->fds), 0);
  x->reader = event_new(x->base, x->fds[1], EV_READ | EV_PERSIST, on_readable, x);
  x->timer = evtimer_new(x->base, on_timer, x);
  event_add(x->reader, NULL);
  struct timeval soon = {0, 1000};
  evtimer_add(x->timer, &soon);
}

static void exchange_close(exchange *x) {
  event_free(x->reader);
  event_free(x->timer);
  event_base_free(x->base);
  close(x->fds[0]);
  close(x->fds[1]);
}

static void polling_loop_runs_every_event_and_stops_on_exit(void **state) {
  exchange x;
  exchange_open(&x);
  assert_int_equal(pn_loop_run(x.base, 500, wanted, &x), 0);
  assert_int_equal(x.rounds, 3);
  assert_int_equal(x.awaiting, 0);
  exchange_close(&x);
}

static void polling_never_starves_timers(void **state) {
  /* Polling is always wanted, so the loop spins its whole budget between sleeps; the
   * timers must still fire and loopexit must still end it. */
  exchange x;
  exchange_open(&x);
  x.always_wanted = 1;
  assert_int_equal(pn_loop_run(x.base, 300, wanted, &x), 0);
  assert_int_equal(x.rounds, 3);
  assert_true(x.wanted_calls > 3);
  exchange_close(&x);
}

static void without_a_budget_the_loop_only_sleeps(void **state) {
  exchange x;
  exchange_open(&x);
  assert_int_equal(pn_loop_run(x.base, 0, wanted, &x), 0);
  assert_int_equal(x.rounds, 3);
  assert_int_equal(x.wanted_calls, 0);
  exchange_close(&x);
}

static void polling_stops_when_the_reply_came(void **state) {
  /* A budget of a whole second, but each reply ends the polling: the 20 ms between
   * rounds are slept through, not spun (spinning them would ask thousands of times). */
  exchange x;
  exchange_open(&x);
  assert_int_equal(pn_loop_run(x.base, 1000000, wanted, &x), 0);
  assert_int_equal(x.rounds, 3);
  assert_true(x.wanted_calls < 200);
  exchange_close(&x);
}

static void loop_without_events_returns(void **state) {
  struct event_base *base = event_base_new();
  exchange x = {0};
  assert_int_equal(pn_loop_run(base, 200, wanted, &x), 0);
  event_base_free(base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(budget_comes_from_the_environment),
      cmocka_unit_test(polling_loop_runs_every_event_and_stops_on_exit),
      cmocka_unit_test(polling_never_starves_timers),
      cmocka_unit_test(without_a_budget_the_loop_only_sleeps),
      cmocka_unit_test(polling_stops_when_the_reply_came),
      cmocka_unit_test(loop_without_events_returns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
