/* A small pool of threads for blocking work (unpacking, hashing, disk-heavy copies) that
 * hands each result back to the event loop that owns the state. A job's `work` runs on
 * a pool thread and must touch nothing the loop owns; its `done` runs later on the
 * loop's thread, where it may. Every submitted job gets exactly one `done`. */
#ifndef PN_CORE_POOL_H
#define PN_CORE_POOL_H

#include <event2/event.h>
#include <stddef.h>

typedef struct pn_pool pn_pool;

/* Runs on a pool thread with the job's own argument. */
typedef void (*pn_pool_work_fn)(void *job);
/* Runs on the loop's thread after `work` (canceled 0), or instead of it when the pool
 * is freed before the work started (canceled 1). It owns `job` from then on. */
typedef void (*pn_pool_done_fn)(void *job, int canceled);

/* A pool of `threads` threads (1 to 64) handing results to `base`; at most `max_queued`
 * jobs wait for a thread (0: no limit). *pool is freed with pn_pool_free. */
int pn_pool_new(struct event_base *base, unsigned threads, size_t max_queued, pn_pool **pool);

/* Queues a job. PN_EBUSY when `max_queued` jobs already wait (nothing is queued and
 * `done` will not run: the caller still owns `job`). */
int pn_pool_submit(pn_pool *pool, pn_pool_work_fn work, pn_pool_done_fn done, void *job);

/* Jobs submitted and not yet handed back (waiting, running or finished). */
size_t pn_pool_pending(pn_pool *pool);

/* Waits for running work to finish, then, on the caller's (the loop's) thread, calls
 * `done` of every job not handed back yet: finished ones with canceled 0, ones that
 * never started with canceled 1. Then frees the pool. NULL is a no-op. */
void pn_pool_free(pn_pool *pool);

#endif
