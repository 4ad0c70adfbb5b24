/* Worker threads that hand results back to the loop. See pool.h.
 *
 * One mutex guards the queue of tasks waiting for a thread and the list of tasks whose
 * work ended; a thread that ends a task writes to an eventfd the loop watches, and the
 * loop runs the `done` callbacks in the order the work ended. Threads are started as
 * tasks arrive while none is idle, up to the pool's size. */
#include "core/pool.h"

#include "core/alloc.h"
#include "core/error.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define THREADS_MAX 64

struct pn_pool_task {
  struct pn_pool *pool;
  pn_pool_work_fn work;
  pn_pool_done_fn done;
  void *arg;
  int canceled; /* under the pool's lock */
  struct pn_pool_task *next;
};

struct pn_pool {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pn_pool_task *queued, *queued_tail; /* waiting for a thread */
  pn_pool_task *ended, *ended_tail;   /* work over, `done` not run yet */
  pthread_t threads[THREADS_MAX];
  int size, started, idle, stopping;
  int notify_fd; /* eventfd: a thread ended a task */
  struct event *notify;
  size_t pending; /* submitted, `done` not run yet; loop thread only */
};

static void append(pn_pool_task **head, pn_pool_task **tail, pn_pool_task *task) {
  task->next = NULL;
  if (*tail)
    (*tail)->next = task;
  else
    *head = task;
  *tail = task;
}

static void *run_thread(void *arg) {
  pn_pool *pool = arg;
  pthread_mutex_lock(&pool->lock);
  for (;;) {
    while (!pool->queued && !pool->stopping) {
      pool->idle++;
      pthread_cond_wait(&pool->wake, &pool->lock);
      pool->idle--;
    }
    pn_pool_task *task = pool->queued;
    if (!task)
      break; /* stopping, and nothing left */
    pool->queued = task->next;
    if (!pool->queued)
      pool->queued_tail = NULL;
    int skip = task->canceled;
    pthread_mutex_unlock(&pool->lock);
    if (!skip)
      task->work(task->arg);
    pthread_mutex_lock(&pool->lock);
    append(&pool->ended, &pool->ended_tail, task);
    uint64_t one = 1;
    (void)!write(pool->notify_fd, &one, sizeof one);
  }
  pthread_mutex_unlock(&pool->lock);
  return NULL;
}

/* Takes the ended tasks and runs their `done` callbacks, outside the lock. */
static void hand_back(pn_pool *pool, int all_canceled) {
  pthread_mutex_lock(&pool->lock);
  pn_pool_task *task = pool->ended;
  pool->ended = pool->ended_tail = NULL;
  pthread_mutex_unlock(&pool->lock);
  while (task) {
    pn_pool_task *next = task->next;
    pool->pending--;
    task->done(task->arg, all_canceled || task->canceled);
    pn_free(task);
    task = next;
  }
}

static void on_notify(evutil_socket_t fd, short what, void *arg) {
  pn_pool *pool = arg;
  uint64_t count;
  (void)!read(pool->notify_fd, &count, sizeof count);
  hand_back(pool, 0);
}

int pn_pool_new(struct event_base *base, int threads, pn_pool **out) {
  *out = NULL;
  if (threads < 1 || threads > THREADS_MAX)
    return PN_EINVAL;
  pn_pool *pool = pn_calloc(1, sizeof *pool);
  if (!pool)
    return PN_ENOMEM;
  pool->size = threads;
  pool->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (pool->notify_fd < 0) {
    pn_free(pool);
    return PN_EIO;
  }
  pool->notify = event_new(base, pool->notify_fd, EV_READ | EV_PERSIST, on_notify, pool);
  if (!pool->notify || event_add(pool->notify, NULL) < 0) {
    if (pool->notify)
      event_free(pool->notify);
    close(pool->notify_fd);
    pn_free(pool);
    return PN_ENOMEM;
  }
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->wake, NULL);
  *out = pool;
  return 0;
}

int pn_pool_submit(pn_pool *pool, pn_pool_work_fn work, pn_pool_done_fn done, void *arg,
                   pn_pool_task **out) {
  if (out)
    *out = NULL;
  pn_pool_task *task = pn_calloc(1, sizeof *task);
  if (!task)
    return PN_ENOMEM;
  task->pool = pool;
  task->work = work;
  task->done = done;
  task->arg = arg;
  pthread_mutex_lock(&pool->lock);
  if (pool->idle == 0 && pool->started < pool->size) {
    if (pthread_create(&pool->threads[pool->started], NULL, run_thread, pool) != 0) {
      int none = pool->started == 0;
      pthread_mutex_unlock(&pool->lock);
      if (none) {
        pn_free(task);
        return PN_EIO;
      }
      pthread_mutex_lock(&pool->lock); /* the threads running will take it */
    } else {
      pool->started++;
    }
  }
  append(&pool->queued, &pool->queued_tail, task);
  pthread_cond_signal(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  pool->pending++;
  if (out)
    *out = task;
  return 0;
}

void pn_pool_cancel(pn_pool_task *task) {
  if (!task)
    return;
  pthread_mutex_lock(&task->pool->lock);
  task->canceled = 1;
  pthread_mutex_unlock(&task->pool->lock);
}

size_t pn_pool_pending(const pn_pool *pool) { return pool->pending; }

void pn_pool_free(pn_pool *pool) {
  if (!pool)
    return;
  pthread_mutex_lock(&pool->lock);
  pool->stopping = 1;
  for (pn_pool_task *task = pool->queued; task; task = task->next)
    task->canceled = 1;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  for (int i = 0; i < pool->started; i++)
    pthread_join(pool->threads[i], NULL);
  hand_back(pool, 1);
  event_free(pool->notify);
  close(pool->notify_fd);
  pthread_cond_destroy(&pool->wake);
  pthread_mutex_destroy(&pool->lock);
  pn_free(pool);
}
