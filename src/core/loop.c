/* The event loop with adaptive polling. See loop.h. */
#include "core/loop.h"

#include "core/clock.h"
#include "core/env.h"

#include <event2/event.h>
#include <sched.h>

struct event_base *pn_loop_new(void) {
  struct event_config *config = event_config_new();
  if (!config)
    return NULL;
  event_config_set_flag(config, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  struct event_base *base = event_base_new_with_config(config);
  event_config_free(config);
  return base;
}

long pn_poll_budget_us(void) {
  return (long)pn_env_number("PINION_POLL_US", "microseconds", 0, PN_POLL_US_MAX,
                             PN_POLL_US_DEFAULT);
}

static int stopped(struct event_base *base) {
  return event_base_got_exit(base) || event_base_got_break(base);
}

/* Passes without sleeping until the budget is spent, polling is no longer wanted or
 * the loop was told to stop. Returns what the last pass returned. */
static int poll_for(struct event_base *base, long poll_us, int (*poll_wanted)(void *), void *arg) {
  uint64_t deadline = pn_clock_monotonic_ns() + (uint64_t)poll_us * 1000;
  for (;;) {
    int status = event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    if (status != 0 || stopped(base) || !poll_wanted(arg) || pn_clock_monotonic_ns() >= deadline)
      return status;
    sched_yield();
  }
}

int pn_loop_run(struct event_base *base, long poll_us, int (*poll_wanted)(void *), void *arg) {
  if (poll_us <= 0 || !poll_wanted) {
    int status = event_base_dispatch(base);
    return status < 0 ? -1 : 0;
  }
  for (;;) {
    int status = poll_wanted(arg) ? poll_for(base, poll_us, poll_wanted, arg) : 0;
    if (status == 0 && !stopped(base))
      status = event_base_loop(base, EVLOOP_ONCE);
    if (status < 0)
      return -1;
    if (status == 1 || stopped(base))
      return 0;
  }
}
