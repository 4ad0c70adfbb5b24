/* A worker process: the model's own Python running pinion_worker, supervised from the
 * server's libevent loop. This module starts it, carries frames to and from it
 * (runtime/ipc.h), hands over what it writes on stdout and stderr, and reports how it
 * ended, with a diagnosis when it died. What the messages mean is the runner's business
 * (runtime/runner.h). */
#ifndef PN_RUNTIME_WORKER_H
#define PN_RUNTIME_WORKER_H

#include "core/buf.h"

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct pn_worker pn_worker;

typedef struct pn_worker_spec {
  const char *python;        /* interpreter: a path, or a name looked up on PATH */
  const char *python_dir;    /* pinion's Python support (holds cog/ and pinion_worker/) */
  const char *project_dir;   /* the model's folder: working directory and import path */
  const char *predictor;     /* reference such as "predict.py:Predictor" */
  const char *mode;          /* "predict" or "train" */
  const char *action;        /* "describe" or "serve" */
  char *const *environment;  /* extra "KEY=VALUE" entries (cog.yaml's environment) */
  size_t environment_count;
  long poll_us;              /* after each reply, how long the worker polls for the next
                                frame before it sleeps (microseconds; core/loop.h) */
} pn_worker_spec;

/* How a worker ended. */
typedef struct pn_worker_exit {
  int exited;        /* exited normally with `code` */
  int code;
  int signal;        /* killed by this signal (0 when exited) */
  long peak_rss_kb;  /* the worker's peak resident memory */
  int killed_by_us;  /* pinion sent the fatal signal (timeout, cancel grace, shutdown) */
  char *protocol_error; /* set when the worker broke the protocol; owned by the worker */
} pn_worker_exit;

typedef struct pn_worker_callbacks {
  /* A message from the worker (borrowed for the call). */
  void (*on_message)(pn_worker *worker, json_t *message, void *arg);
  /* Bytes the worker wrote on stdout (stream 1) or stderr (stream 2). */
  void (*on_output)(pn_worker *worker, int stream, const char *bytes, size_t length, void *arg);
  /* The process is gone and everything it wrote was delivered. Last callback. The
   * callee may free the worker from here. */
  void (*on_exit)(pn_worker *worker, const pn_worker_exit *exit, void *arg);
} pn_worker_callbacks;

/* Starts the worker. On failure *error (pn_malloc'd, caller frees) says why. */
int pn_worker_start(struct event_base *base, const pn_worker_spec *spec,
                    const pn_worker_callbacks *callbacks, void *arg, pn_worker **worker,
                    char **error);
/* Sends a frame. PN_ECLOSED once the worker's channel has closed: the worker is ending
 * (or is killed if it does not, a second after the close) and on_exit follows. */
int pn_worker_send(pn_worker *worker, const json_t *message);
/* The same for frames already encoded (runtime/ipc.h, pn_ipc_send_frames). */
int pn_worker_send_frames(pn_worker *worker, const pn_buf *frames);
/* Sends a signal to the worker process (SIGUSR1 cancels a sync prediction). */
int pn_worker_signal(pn_worker *worker, int signal_number);
/* Kills the worker's whole process group with SIGKILL; on_exit follows. */
void pn_worker_kill(pn_worker *worker);
/* Reads whatever stdout/stderr hold right now and delivers it through on_output. The
 * runner calls this before completing a prediction, since the worker flushes its
 * output before it sends `done`. */
void pn_worker_drain_output(pn_worker *worker);
pid_t pn_worker_pid(const pn_worker *worker);
/* Stops and frees the worker; no callback runs afterwards. NULL is fine. */
void pn_worker_free(pn_worker *worker);

/* A sentence saying how the worker ended and what the likely cause is, e.g.
 * "the worker was killed by signal 9 (SIGKILL) with a peak memory of 1.2 GiB: ...".
 * pn_malloc'd; the caller frees it. */
char *pn_worker_diagnose(const pn_worker_exit *exit);

/* Finds pinion's Python support folder beside the binary (../lib/pinion/python).
 * Returns a pn_malloc'd path, or NULL with *error set. */
char *pn_worker_python_dir(char **error);

#endif
