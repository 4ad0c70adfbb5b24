/* The event loop with adaptive polling.
 *
 * Waking a sleeping process costs far more than the work a fast prediction does: on a
 * VM an idle CPU halts and its wake-up goes through the host. While a reply is due
 * soon (a prediction is in flight) the loop therefore polls without sleeping for a
 * short budget after each event, yielding the CPU to anything else runnable, and only
 * then blocks. The budget bounds the CPU spent: at most `poll_us` per event, and
 * nothing while idle. PINION_POLL_US sets it (0 turns polling off). */
#ifndef PN_CORE_LOOP_H
#define PN_CORE_LOOP_H

struct event_base;

#define PN_POLL_US_DEFAULT 200
#define PN_POLL_US_MAX 100000

/* A new event base for a server: on epoll, changes to an fd's events within one loop
 * pass are applied with one epoll_ctl (evhttp disables and re-enables a connection's
 * reads around every request: two system calls saved per request). NULL on failure. */
struct event_base *pn_loop_new(void);

/* The budget from PINION_POLL_US, or the default; out-of-range or malformed values
 * fall back to the default with a warning. */
long pn_poll_budget_us(void);

/* Runs `base` until event_base_loopexit/loopbreak or until no events remain. While
 * poll_wanted(arg) is true, polls for up to poll_us after each event before sleeping.
 * Returns 0, or -1 when libevent fails. */
int pn_loop_run(struct event_base *base, long poll_us, int (*poll_wanted)(void *arg), void *arg);

#endif
