/* The thread pool of pool.h. Threads take jobs from one queue under a mutex; finished
 * jobs go to a second list, and the first one to arrive in an empty list writes a
 * byte to a pipe that the loop watches. The loop drains the pipe before it takes the
 * list, so a byte is never lost behind a job it already took. Only the loop touches
 * `pending`, so pn_pool_pending needs no lock. */
#include "core/pool.h"

#include "core/alloc.h"
#include "core/error.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#define THREADS_MAX 64

typedef struct pool_job {
  pn_pool_work_fn work;
  pn_pool_done_fn done;
  void *job;
  struct pool_job *next;
} pool_job;

typedef struct job_list {
  pool_job *head;
  pool_job **tail;
  size_t count;
} job_list;

struct pn_pool {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  job_list waiting;  /* submitted, not started (under lock) */
  job_list finished; /* worked, not handed back (under lock) */
  int stopping;      /* under lock */
  size_t max_queued;
  size_t pending; /* the loop's count of jobs not handed back */
  unsigned thread_count;
  pthread_t threads[THREADS_MAX];
  int wake_fds[2];
  struct event *wake_event;
};

static void list_init(job_list *list) {
  list->head = NULL;
  list->tail = &list->head;
  list->count = 0;
}

static void list_push(job_list *list, pool_job *item) {
  item->next = NULL;
  *list->tail = item;
  list->tail = &item->next;
  list->count++;
}

static pool_job *list_pop(job_list *list) {
  pool_job *item = list->head;
  if (item) {
    list->head = item->next;
    if (!list->head)
      list->tail = &list->head;
    list->count--;
  }
  return item;
}

/* Takes the whole list, leaving it empty. */
static pool_job *list_take(job_list *list) {
  pool_job *all = list->head;
  list_init(list);
  return all;
}

static void *run_thread(void *arg) {
  pn_pool *pool = arg;
  pthread_mutex_lock(&pool->lock);
  for (;;) {
    while (!pool->stopping && !pool->waiting.head)
      pthread_cond_wait(&pool->wake, &pool->lock);
    if (pool->stopping)
      break;
    pool_job *item = list_pop(&pool->waiting);
    pthread_mutex_unlock(&pool->lock);
    item->work(item->job);
    pthread_mutex_lock(&pool->lock);
    int first = pool->finished.head == NULL;
    list_push(&pool->finished, item);
    if (first) {
      char byte = 1;
      /* A full pipe already holds a wake-up: the loop will take this job with it. */
      ssize_t written = write(pool->wake_fds[1], &byte, 1);
      (void)written;
    }
  }
  pthread_mutex_unlock(&pool->lock);
  return NULL;
}

static void hand_back(pn_pool *pool, pool_job *items, int canceled) {
  while (items) {
    pool_job *next = items->next;
    pool->pending--;
    items->done(items->job, canceled);
    pn_free(items);
    items = next;
  }
}

static void on_wake(evutil_socket_t fd, short what, void *arg) {
  pn_pool *pool = arg;
  char drain[256];
  while (read(fd, drain, sizeof drain) > 0)
    continue;
  pthread_mutex_lock(&pool->lock);
  pool_job *finished = list_take(&pool->finished);
  pthread_mutex_unlock(&pool->lock);
  hand_back(pool, finished, 0);
}

int pn_pool_new(struct event_base *base, unsigned threads, size_t max_queued, pn_pool **out) {
  *out = NULL;
  if (threads < 1 || threads > THREADS_MAX)
    return PN_EINVAL;
  pn_pool *pool = pn_calloc(1, sizeof *pool);
  if (!pool)
    return PN_ENOMEM;
  list_init(&pool->waiting);
  list_init(&pool->finished);
  pool->max_queued = max_queued;
  pool->wake_fds[0] = pool->wake_fds[1] = -1;
  pthread_mutex_init(&pool->lock, NULL);
  pthread_cond_init(&pool->wake, NULL);
  int rc = pipe2(pool->wake_fds, O_NONBLOCK | O_CLOEXEC) == 0 ? 0 : PN_EIO;
  if (rc == 0) {
    pool->wake_event = event_new(base, pool->wake_fds[0], EV_READ | EV_PERSIST, on_wake, pool);
    rc = pool->wake_event && event_add(pool->wake_event, NULL) == 0 ? 0 : PN_ENOMEM;
  }
  for (unsigned i = 0; rc == 0 && i < threads; i++) {
    if (pthread_create(&pool->threads[i], NULL, run_thread, pool) != 0)
      rc = PN_ENOMEM;
    else
      pool->thread_count++;
  }
  if (rc < 0) {
    pn_pool_free(pool);
    return rc;
  }
  *out = pool;
  return 0;
}

int pn_pool_submit(pn_pool *pool, pn_pool_work_fn work, pn_pool_done_fn done, void *job) {
  pool_job *item = pn_calloc(1, sizeof *item);
  if (!item)
    return PN_ENOMEM;
  item->work = work;
  item->done = done;
  item->job = job;
  pthread_mutex_lock(&pool->lock);
  if (pool->max_queued && pool->waiting.count >= pool->max_queued) {
    pthread_mutex_unlock(&pool->lock);
    pn_free(item);
    return PN_EBUSY;
  }
  list_push(&pool->waiting, item);
  pthread_cond_signal(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  pool->pending++;
  return 0;
}

size_t pn_pool_pending(pn_pool *pool) { return pool->pending; }

void pn_pool_free(pn_pool *pool) {
  if (!pool)
    return;
  pthread_mutex_lock(&pool->lock);
  pool->stopping = 1;
  pthread_cond_broadcast(&pool->wake);
  pthread_mutex_unlock(&pool->lock);
  for (unsigned i = 0; i < pool->thread_count; i++)
    pthread_join(pool->threads[i], NULL);
  /* No thread runs now: the lists need no lock. */
  hand_back(pool, list_take(&pool->finished), 0);
  hand_back(pool, list_take(&pool->waiting), 1);
  if (pool->wake_event)
    event_free(pool->wake_event);
  for (int i = 0; i < 2; i++)
    if (pool->wake_fds[i] >= 0)
      close(pool->wake_fds[i]);
  pthread_cond_destroy(&pool->wake);
  pthread_mutex_destroy(&pool->lock);
  pn_free(pool);
}
