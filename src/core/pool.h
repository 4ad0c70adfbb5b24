/* A small pool of worker threads for work that would hold the event loop longer than
 * about a millisecond (decoding data: URIs into files, hashing, unpacking), as nginx's
 * thread pools and libuv's uv_queue_work: `work` runs on a pool thread, then `done`
 * runs on the loop's thread with the same argument. The loop still owns all state:
 * `work` must touch only what its argument owns.
 *
 * Threads start with the first task, so a process that never submits starts none. */
#ifndef PN_CORE_POOL_H
#define PN_CORE_POOL_H

#include <event2/event.h>
#include <stddef.h>

typedef struct pn_pool pn_pool;
typedef struct pn_pool_task pn_pool_task;

/* Runs on a pool thread. */
typedef void (*pn_pool_work_fn)(void *arg);
/* Runs on the loop after `work` returned, or instead of it when the task was
 * canceled before it started (`canceled` 1 then, and also when it was canceled while
 * running: the caller no longer wants the result, only to free `arg`). */
typedef void (*pn_pool_done_fn)(void *arg, int canceled);

/* A pool of `threads` (1..64) threads whose results are handed back on `base`. */
int pn_pool_new(struct event_base *base, int threads, pn_pool **pool);
/* Queues a task. *task (may be NULL) can cancel it until `done` ran. Returns 0, or
 * PN_ENOMEM / PN_EIO (a thread could not start) without queuing anything. */
int pn_pool_submit(pn_pool *pool, pn_pool_work_fn work, pn_pool_done_fn done, void *arg,
                   pn_pool_task **task);
/* Asks for a task's result no longer: its `done` still runs, with canceled = 1, and
 * its `work` is skipped when it has not started. */
void pn_pool_cancel(pn_pool_task *task);
/* Tasks queued or running. */
size_t pn_pool_pending(const pn_pool *pool);
/* Waits for running work to end, then runs `done` (canceled = 1) for every task not
 * handed back yet, so each argument is freed, and frees the pool. */
void pn_pool_free(pn_pool *pool);

#endif
