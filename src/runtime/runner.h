/* The runner: one model's worker and the predictions running on it. It owns the
 * state Cog's health check reports (STARTING, READY, BUSY, SETUP_FAILED, DEFUNCT),
 * the setup record, the slots, cancellation and what happens when the worker dies.
 * It knows nothing of HTTP or schemas: the model server (serve/) validates inputs and
 * encodes outputs around it, and `pinion predict` drives the same model server. */
#ifndef PN_RUNTIME_RUNNER_H
#define PN_RUNTIME_RUNNER_H

#include "runtime/prediction.h"
#include "runtime/worker.h"

#include <event2/event.h>
#include <jansson.h>

enum pn_runner_state {
  PN_RUNNER_STARTING,     /* worker importing the predictor or running setup() */
  PN_RUNNER_READY,        /* setup succeeded; BUSY is READY with every slot taken */
  PN_RUNNER_SETUP_FAILED, /* import, describe or setup() failed, or setup timed out */
  PN_RUNNER_DEFUNCT,      /* the worker died and will not be restarted */
  PN_RUNNER_DESCRIBED,    /* describe-only runner: the signature is known, worker gone */
};

enum pn_setup_status { PN_SETUP_STARTING, PN_SETUP_SUCCEEDED, PN_SETUP_FAILED };

/* Why a worker was replaced by a fresh one (counted for metrics). */
enum pn_restart_cause {
  PN_RESTART_CRASH,          /* it exited or crashed on its own while serving */
  PN_RESTART_KILLED,         /* SIGKILL from outside pinion (the out-of-memory killer) */
  PN_RESTART_CANCEL_TIMEOUT, /* pinion killed it: a prediction ignored cancellation */
  PN_RESTART_PROTOCOL_ERROR, /* pinion killed it: it broke the worker protocol */
  PN_RESTART_RELOAD,         /* the model's code changed (pn_runner_restart) */
  PN_RESTART_CAUSES,
};

typedef struct pn_runner pn_runner;

typedef struct pn_runner_options {
  pn_worker_spec worker;  /* strings are copied */
  int describe_only;      /* import and describe, then stop (for `pinion schema`) */
  int max_concurrency;    /* slots; 0 means the predictor's @concurrent value, else 1 */
  double setup_timeout;   /* seconds; 0 means none */
  double cancel_grace;    /* seconds a canceled prediction may take before the worker is
                             restarted; 0 means 5 */
  int restart;            /* restart a dead worker (with backoff), else go DEFUNCT */
} pn_runner_options;

typedef struct pn_runner_callbacks {
  /* The runner's state changed (also called when the describe message arrives, with
   * the state still STARTING). */
  void (*on_state)(pn_runner *runner, void *arg);
  /* Text the worker wrote during import and setup (stream 1 stdout, 2 stderr). */
  void (*on_setup_output)(pn_runner *runner, int stream, const char *bytes, size_t length,
                          void *arg);
  /* Text the worker wrote that belongs to no single prediction. */
  void (*on_stray_output)(pn_runner *runner, int stream, const char *bytes, size_t length,
                          void *arg);
} pn_runner_callbacks;

/* Starts the worker. On failure *error (pn_malloc'd, caller frees) says why. */
int pn_runner_start(struct event_base *base, const pn_runner_options *options,
                    const pn_runner_callbacks *callbacks, void *arg, pn_runner **runner,
                    char **error);
/* Stops the worker and frees the runner; in-flight predictions are failed first. */
void pn_runner_free(pn_runner *runner);

enum pn_runner_state pn_runner_state(const pn_runner *runner);
struct event_base *pn_runner_event_base(const pn_runner *runner);
/* Cog's health-check word: STARTING, READY, BUSY, SETUP_FAILED or DEFUNCT. */
const char *pn_runner_health(const pn_runner *runner);
/* The worker's signature description (docs/internals/worker-protocol.md), or NULL
 * before it arrived. Borrowed. */
const json_t *pn_runner_signature(const pn_runner *runner);
/* The Python version the worker reported, or NULL. */
const char *pn_runner_python_version(const pn_runner *runner);
/* The version of pinion's cog package in the worker, or NULL. */
const char *pn_runner_sdk_version(const pn_runner *runner);
/* Why describe or setup failed (one line, e.g. "ValueError: boom"), and the Python
 * traceback (may be NULL). NULL while nothing failed. */
const char *pn_runner_setup_error(const pn_runner *runner);
const char *pn_runner_setup_traceback(const pn_runner *runner);
enum pn_setup_status pn_runner_setup_status(const pn_runner *runner);
/* While a worker that died serving is being replaced, or after it made the runner
 * DEFUNCT: how it died (pn_worker_diagnose's sentence, borrowed). NULL otherwise. */
const char *pn_runner_crash(const pn_runner *runner);
/* The text printed during setup (borrowed), and the setup timestamps (0 when not yet). */
const char *pn_runner_setup_logs(const pn_runner *runner);
uint64_t pn_runner_setup_started_ns(const pn_runner *runner);
uint64_t pn_runner_setup_completed_ns(const pn_runner *runner);
int pn_runner_slots(const pn_runner *runner);
int pn_runner_in_flight(const pn_runner *runner);
/* How many times a worker was restarted for `cause` since the runner started. */
unsigned long pn_runner_restarts(const pn_runner *runner, enum pn_restart_cause cause);
/* The cause's name in metrics: "crash", "killed", "cancel_timeout", "protocol_error"
 * or "reload". */
const char *pn_restart_cause_name(enum pn_restart_cause cause);
/* The worker process's id, or 0 while there is none. */
pid_t pn_runner_worker_pid(const pn_runner *runner);

/* Hands `prediction` to the worker. The runner takes a reference until the DONE
 * event; events go to on_event(arg). PN_ESTATE when not READY, PN_EBUSY when every
 * slot is taken, PN_EEXISTS when a prediction with that id is in flight. */
int pn_runner_submit(pn_runner *runner, pn_prediction *prediction, pn_prediction_event_fn on_event,
                     void *arg);
/* The in-flight prediction with that id, or NULL. Borrowed. */
pn_prediction *pn_runner_find(const pn_runner *runner, const char *id);
/* The result of the predictor's healthcheck(): `error` is NULL when healthy, else the
 * worker's text (e.g. "healthcheck returned False" or "ValueError: x"). */
typedef void (*pn_runner_health_fn)(void *arg, int healthy, const char *error);
/* Asks the worker to run the predictor's healthcheck(); `done` runs once, with an
 * error when the worker dies first. The caller bounds the wait. Returns an id that
 * pn_runner_forget_healthcheck takes. */
int pn_runner_healthcheck(pn_runner *runner, pn_runner_health_fn done, void *arg, long *id);
/* Drops a pending healthcheck's callback (after the caller gave up waiting). */
void pn_runner_forget_healthcheck(pn_runner *runner, long id);
/* Starts a fresh worker (import, describe and setup again), failing what is in flight
 * with `reason`. For `pinion serve --reload` after the model's code changed. */
void pn_runner_restart(pn_runner *runner, const char *reason);
/* Marks setup as failed for a reason found outside the worker (e.g. its signature
 * cannot be made into a schema) and stops the worker. */
void pn_runner_fail_setup(pn_runner *runner, const char *error);
/* Asks the worker to cancel a prediction. PN_ENOENT when none has that id. */
int pn_runner_cancel(pn_runner *runner, const char *id);

#endif
