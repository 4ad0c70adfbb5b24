/* The runner: the worker's life cycle and the predictions on it. All state lives on
 * the loop's thread. Messages from the worker move predictions along; the worker's
 * output is attributed to setup, to the one prediction running, or to no one; a dead
 * worker fails what was in flight with a diagnosis and is restarted with backoff when
 * the options allow, else the runner goes DEFUNCT.
 *
 * A predictor marked @cog.batch (docs/batching.md) takes its predictions in batches:
 * submitted predictions take a slot and wait in the batch queue (runtime/batch.h),
 * still `starting`, until the next batch is due and the worker can take it; then one
 * `predict_batch` message carries them all and each ends with its own `done`.
 *
 * The worker can take the next batch when no batch runs, or as soon as the running
 * batch's call has returned (its first `done` arrived: the worker sends every result
 * after the call): the next batch is then handed over *ahead*, and the worker starts it
 * the moment it has sent the rest, without waiting for the server to read them. At most
 * one batch is ahead; it becomes the running batch when the last of the one before it
 * ends. */
#include "runtime/runner.h"

#include "runtime/batch.h"
#include "runtime/ipc.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/encoding.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "core/startup_trace.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEATHS_BEFORE_DEFUNCT 3
#define DEATH_WINDOW_NS (60ull * 1000000000ull)

typedef struct health_check {
  long id;
  pn_runner_health_fn done;
  void *arg;
  struct health_check *next;
} health_check;

struct pn_runner {
  struct event_base *base;
  pn_runner_options options;
  char **owned_strings; /* copies behind options.worker */
  size_t owned_count;
  pn_runner_callbacks callbacks;
  void *arg;
  pn_worker *worker;
  enum pn_runner_state state;
  json_t *describe; /* the describe message */
  char *setup_error;
  char *setup_traceback;
  enum pn_setup_status setup_status;
  pn_buf setup_logs;
  uint64_t setup_started_ns, setup_completed_ns;
  int slots;
  pn_prediction **running; /* `slots` entries, NULL when free */
  struct event *setup_timer;
  struct event *cancel_timer;
  struct event *restart_timer;
  pn_buf partial[2]; /* an incomplete UTF-8 character at the end of the last read */
  uint64_t deaths[DEATHS_BEFORE_DEFUNCT];
  int death_count;
  health_check *health_checks;
  long next_health_id;
  char *restart_reason; /* set by pn_runner_restart until the old worker is gone */
  char *crash;          /* how the last worker died, until a new one is READY */
  unsigned long restarts[PN_RESTART_CAUSES];
  int killed_for_cancel; /* the worker was killed for ignoring cancellation */
  int batching;          /* the predictor takes batches (@cog.batch) */
  pn_batch_policy batch;
  pn_batch_queue queue;        /* predictions waiting for a batch, still `starting` */
  pn_batch_entry *batch_taken; /* room for one batch while it is formed */
  struct event *batch_timer;   /* the next batch is due */
  int batch_running;           /* predictions of the running batch still in their slots */
  int batch_returned;          /* its call returned: a `done` of it arrived */
  pn_prediction **ahead;       /* the batch handed over ahead of its turn (borrowed), */
  int ahead_count;             /* in batch order; 0 when none */
};

static void start_worker(pn_runner *runner);
static void plan_batch(pn_runner *runner);
static void interrupt(pn_runner *runner, const char *id);
static void leave_batch(pn_runner *runner, pn_prediction *prediction);
static void send_ahead_if_due(pn_runner *runner);

static void notify_state(pn_runner *runner) {
  if (runner->callbacks.on_state)
    runner->callbacks.on_state(runner, runner->arg);
}

static void set_state(pn_runner *runner, enum pn_runner_state state) {
  runner->state = state;
  notify_state(runner);
}

static int running_count(const pn_runner *runner) {
  int count = 0;
  for (int slot = 0; slot < runner->slots; slot++)
    count += runner->running[slot] != NULL;
  return count;
}

/* Whether `prediction` is in the batch handed over ahead of its turn. */
static int is_ahead(const pn_runner *runner, const pn_prediction *prediction) {
  for (int i = 0; i < runner->ahead_count; i++)
    if (runner->ahead[i] == prediction)
      return 1;
  return 0;
}

/* Whether every prediction of the running batch was asked to cancel: only then is the
 * call interrupted (a cancel of some ends them `canceled` when the batch ends). */
static int batch_all_canceled(const pn_runner *runner) {
  int dispatched = 0;
  for (int slot = 0; slot < runner->slots; slot++) {
    const pn_prediction *prediction = runner->running[slot];
    if (prediction && prediction->status == PN_PREDICTION_PROCESSING &&
        !is_ahead(runner, prediction)) {
      if (!prediction->cancel_requested)
        return 0;
      dispatched++;
    }
  }
  return dispatched > 0;
}

/* Whether the worker can be handed the next batch: none runs, or the running one's call
 * returned and no batch is ahead already. */
static int can_take_batch(const pn_runner *runner) {
  return runner->state == PN_RUNNER_READY && runner->worker && runner->ahead_count == 0 &&
         (runner->batch_running == 0 || runner->batch_returned);
}

static int find_slot(const pn_runner *runner, const char *id) {
  for (int slot = 0; slot < runner->slots; slot++)
    if (runner->running[slot] && strcmp(runner->running[slot]->id, id) == 0)
      return slot;
  return -1;
}

static int signature_flag(const pn_runner *runner, const char *key) {
  const json_t *signature = pn_runner_signature(runner);
  return signature && json_is_true(json_object_get(signature, key));
}

/* Takes a prediction off its slot, sets its terminal state and tells its listener. */
static void complete(pn_runner *runner, int slot, enum pn_prediction_status status,
                     const char *error) {
  pn_prediction *prediction = runner->running[slot];
  runner->running[slot] = NULL;
  if (running_count(runner) == 0)
    event_del(runner->cancel_timer);
  if (runner->batching && prediction->status == PN_PREDICTION_STARTING)
    pn_batch_queue_remove(&runner->queue, prediction);
  else if (runner->batching && prediction->status == PN_PREDICTION_PROCESSING)
    leave_batch(runner, prediction);
  pn_prediction_finish(prediction, status, error);
  pn_prediction_unref(prediction);
  if (runner->batching)
    plan_batch(runner); /* the batch may have ended, or the queue changed */
}

static void fail_setup(pn_runner *runner, const char *error, const char *traceback) {
  pn_free(runner->setup_error);
  pn_free(runner->setup_traceback);
  runner->setup_error = pn_strdup(error);
  runner->setup_traceback = traceback && *traceback ? pn_strdup(traceback) : NULL;
  runner->setup_status = PN_SETUP_FAILED;
  runner->setup_completed_ns = pn_clock_realtime_ns();
  event_del(runner->setup_timer);
  set_state(runner, PN_RUNNER_SETUP_FAILED);
}

/* Cog's wording for a failure the worker reported (spec §4.5). */
static char *failure_text(const char *kind, const char *error) {
  if (strcmp(kind, "input") == 0)
    return pn_strfmt("Input validation error: %s", error);
  const char *what = "Prediction failed";
  if (strcmp(kind, "iterate") == 0)
    what = "Generator iteration error";
  else if (strcmp(kind, "async") == 0)
    what = "Async prediction failed";
  else if (strcmp(kind, "train") == 0)
    what = "Training failed";
  return pn_strfmt("Prediction failed: %s: %s", what, error);
}

static void refuse_signature(pn_runner *runner, const char *error) {
  fail_setup(runner, error, NULL);
  pn_worker_kill(runner->worker);
}

/* The batch queue and its scratch space for `slots` predictions, when the predictor
 * batches (the slots are all free when a worker describes itself). */
static int prepare_batching(pn_runner *runner, int slots) {
  pn_batch_queue_free(&runner->queue);
  pn_free(runner->batch_taken);
  runner->batch_taken = NULL;
  pn_free(runner->ahead);
  runner->ahead = NULL;
  runner->ahead_count = runner->batch_running = runner->batch_returned = 0;
  if (!runner->batching)
    return 0;
  if (slots < runner->batch.max_size)
    pn_warn("batches hold at most %d predictions (the prediction slots, from concurrency.max "
            "or COG_MAX_CONCURRENCY), not @cog.batch's max_size %d: raise the slots to at "
            "least max_size, or twice it so that the next batch gathers while one runs",
            slots, runner->batch.max_size);
  runner->batch_taken = pn_calloc((size_t)runner->batch.max_size, sizeof *runner->batch_taken);
  runner->ahead = pn_calloc((size_t)runner->batch.max_size, sizeof *runner->ahead);
  if (!runner->batch_taken || !runner->ahead ||
      pn_batch_queue_init(&runner->queue, (size_t)slots) < 0)
    return PN_ENOMEM;
  return 0;
}

static void on_describe(pn_runner *runner, json_t *message) {
  pn_startup_mark("describe_received");
  json_decref(runner->describe);
  runner->describe = json_incref(message);
  if (runner->options.describe_only)
    return; /* the state changes once the worker has exited */
  const json_t *signature = json_object_get(message, "signature");
  char *error = NULL;
  if (pn_batch_policy_read(signature, &runner->batch, &runner->batching, &error) < 0) {
    refuse_signature(runner, error ? error : "the predictor's @cog.batch is not valid");
    pn_free(error);
    return;
  }
  int slots = runner->options.max_concurrency;
  if (slots <= 0) {
    json_t *declared = json_object_get(signature, "concurrency_max");
    if (json_is_integer(declared) && json_integer_value(declared) > 0)
      slots = (int)json_integer_value(declared);
    else /* a batch gathers while the one before runs */
      slots = runner->batching ? 2 * runner->batch.max_size : 1;
  }
  if (slots > 1 && !runner->batching && !json_is_true(json_object_get(signature, "is_async"))) {
    refuse_signature(runner, "COG_MAX_CONCURRENCY > 1 requires an async run() or predict() method");
    return;
  }
  pn_prediction **running = pn_calloc((size_t)slots, sizeof *running);
  if (!running || prepare_batching(runner, slots) < 0) {
    pn_free(running);
    refuse_signature(runner, "out of memory");
    return;
  }
  pn_free(runner->running);
  runner->running = running;
  runner->slots = slots;
  notify_state(runner);
}

static void on_setup_done(pn_runner *runner, json_t *message) {
  /* The worker flushed what setup printed before `setup_done`, but the pipes and the
   * control channel race: take the output now so it lands in the setup logs. */
  if (runner->worker)
    pn_worker_drain_output(runner->worker);
  const char *status = json_string_value(json_object_get(message, "status"));
  if (status && strcmp(status, "succeeded") == 0) {
    runner->setup_status = PN_SETUP_SUCCEEDED;
    runner->setup_completed_ns = pn_clock_realtime_ns();
    event_del(runner->setup_timer);
    pn_free(runner->crash);
    runner->crash = NULL;
    pn_startup_mark("ready");
    set_state(runner, PN_RUNNER_READY);
    return;
  }
  const char *error = json_string_value(json_object_get(message, "error"));
  fail_setup(runner, error ? error : "setup failed",
             json_string_value(json_object_get(message, "traceback")));
}

static void on_output_item(pn_runner *runner, int slot, json_t *message) {
  pn_prediction *prediction = runner->running[slot];
  /* What the handler returned decides, not its annotation: `-> Any` may yield. */
  prediction->is_iterator = 1;
  json_t *value = json_object_get(message, "value");
  if (!prediction->output)
    prediction->output = json_array();
  size_t index = json_array_size(prediction->output);
  json_array_append(prediction->output, value ? value : json_null());
  json_t *files = json_object_get(message, "files");
  size_t i;
  json_t *pointer;
  json_array_foreach(files, i, pointer) {
    const char *text = json_string_value(pointer);
    if (text) {
      char *absolute = pn_strfmt("/%zu%s", index, text);
      if (absolute)
        json_array_append_new(prediction->files, json_string(absolute));
      pn_free(absolute);
    }
  }
  pn_prediction_emit(prediction, PN_PREDICTION_EVENT_OUTPUT, value);
}

static void on_done(pn_runner *runner, int slot, json_t *message) {
  pn_prediction *prediction = runner->running[slot];
  /* The worker flushed its output before `done`: take it now so it lands in this
   * prediction's logs. */
  pn_worker_drain_output(runner->worker);
  if (runner->running[slot] != prediction)
    return;
  if (runner->batching && !runner->batch_returned && runner->batch_running > 0 &&
      prediction->status == PN_PREDICTION_PROCESSING && !is_ahead(runner, prediction)) {
    /* The running batch's call returned; what it printed was just taken (the worker
     * flushed it before its first `done`). The next batch goes now, before this
     * batch's replies are written, so that the worker finds it once it has sent the
     * rest of the results. */
    runner->batch_returned = 1;
    send_ahead_if_due(runner);
    if (runner->running[slot] != prediction)
      return;
  }
  json_t *metrics = json_object_get(message, "metrics");
  if (json_is_object(metrics)) {
    json_decref(prediction->metrics);
    prediction->metrics = json_deep_copy(metrics);
  }
  const char *status = json_string_value(json_object_get(message, "status"));
  if (runner->batching && prediction->cancel_requested) {
    /* Canceled while the rest of its batch went on: its result is not wanted. */
    complete(runner, slot, PN_PREDICTION_CANCELED, NULL);
  } else if (status && strcmp(status, "succeeded") == 0) {
    json_t *output = json_object_get(message, "output");
    if (output && !prediction->is_iterator) {
      json_decref(prediction->output);
      prediction->output = json_incref(output);
      json_t *files = json_object_get(message, "files");
      if (json_is_array(files)) {
        json_decref(prediction->files);
        prediction->files = json_deep_copy(files);
      }
    }
    complete(runner, slot, PN_PREDICTION_SUCCEEDED, NULL);
  } else if (status && strcmp(status, "canceled") == 0) {
    complete(runner, slot, PN_PREDICTION_CANCELED, NULL);
  } else {
    const char *kind = json_string_value(json_object_get(message, "kind"));
    const char *error = json_string_value(json_object_get(message, "error"));
    const char *traceback = json_string_value(json_object_get(message, "traceback"));
    if (traceback && *traceback)
      prediction->traceback = pn_strdup(traceback);
    char *text = failure_text(kind ? kind : "run", error ? error : "unknown error");
    complete(runner, slot, PN_PREDICTION_FAILED, text);
    pn_free(text);
  }
}

static void answer_health_checks(pn_runner *runner, long id, int healthy, const char *error) {
  for (health_check **at = &runner->health_checks; *at;) {
    health_check *check = *at;
    if (id >= 0 && check->id != id) {
      at = &check->next;
      continue;
    }
    *at = check->next;
    check->done(check->arg, healthy, error);
    pn_free(check);
  }
}

static void on_worker_message(pn_worker *worker, json_t *message, void *arg) {
  pn_runner *runner = arg;
  const char *type = json_string_value(json_object_get(message, "type"));
  if (strcmp(type, "healthcheck_result") == 0) {
    const char *id = json_string_value(json_object_get(message, "id"));
    answer_health_checks(runner, id ? strtol(id, NULL, 10) : -2,
                         json_is_true(json_object_get(message, "healthy")),
                         json_string_value(json_object_get(message, "error")));
    return;
  }
  if (strcmp(type, "describe") == 0) {
    on_describe(runner, message);
    return;
  }
  if (strcmp(type, "describe_failed") == 0) {
    const char *error = json_string_value(json_object_get(message, "error"));
    fail_setup(runner, error ? error : "the predictor could not be loaded",
               json_string_value(json_object_get(message, "traceback")));
    return;
  }
  if (strcmp(type, "setup_done") == 0) {
    on_setup_done(runner, message);
    return;
  }
  const char *id = json_string_value(json_object_get(message, "id"));
  int slot = id ? find_slot(runner, id) : -1;
  if (slot < 0) {
    pn_debug("worker message \"%s\" for no running prediction", type);
    return;
  }
  if (strcmp(type, "log") == 0) {
    /* An async prediction's own prints, sent as frames because several may run. */
    const char *data = json_string_value(json_object_get(message, "data"));
    if (data) {
      pn_prediction *prediction = runner->running[slot];
      pn_prediction_append_logs(prediction, data, json_string_length(json_object_get(message, "data")));
      json_t *log = json_pack("{s:O?, s:O}", "source", json_object_get(message, "source"), "data",
                              json_object_get(message, "data"));
      if (log)
        pn_prediction_emit(prediction, PN_PREDICTION_EVENT_LOG, log);
      json_decref(log);
    }
  } else if (strcmp(type, "output") == 0) {
    on_output_item(runner, slot, message);
  } else if (strcmp(type, "metric") == 0) {
    pn_prediction_emit(runner->running[slot], PN_PREDICTION_EVENT_METRIC, message);
  } else if (strcmp(type, "done") == 0) {
    on_done(runner, slot, message);
  }
}

static void deliver_to(pn_prediction *prediction, int stream, const char *bytes, size_t length) {
  pn_prediction_append_logs(prediction, bytes, length);
  json_t *log = json_pack("{s:s, s:s%}", "source", stream == 1 ? "stdout" : "stderr", "data",
                          bytes, length);
  if (log)
    pn_prediction_emit(prediction, PN_PREDICTION_EVENT_LOG, log);
  json_decref(log);
}

static void deliver_output(pn_runner *runner, int stream, const char *bytes, size_t length) {
  if (runner->state == PN_RUNNER_STARTING) {
    pn_buf_append(&runner->setup_logs, bytes, length);
    if (runner->callbacks.on_setup_output)
      runner->callbacks.on_setup_output(runner, stream, bytes, length, runner->arg);
    return;
  }
  if (runner->batching && runner->ahead_count > 0) {
    /* The running batch's call returned and its output was taken at its first `done`:
     * what comes now is the next call's. */
    for (int i = 0; i < runner->ahead_count; i++)
      deliver_to(runner->ahead[i], stream, bytes, length);
    return;
  }
  if (runner->batching && runner->batch_running > 0) {
    /* One call computes the whole batch: what it prints belongs to each prediction. */
    for (int slot = 0; slot < runner->slots; slot++)
      if (runner->running[slot] && runner->running[slot]->status == PN_PREDICTION_PROCESSING)
        deliver_to(runner->running[slot], stream, bytes, length);
    return;
  }
  if (runner->batching) { /* those in the queue have not run yet */
    if (runner->callbacks.on_stray_output)
      runner->callbacks.on_stray_output(runner, stream, bytes, length, runner->arg);
    return;
  }
  pn_prediction *only = NULL;
  for (int slot = 0; slot < runner->slots; slot++) {
    if (runner->running[slot]) {
      if (only) {
        only = NULL;
        break;
      }
      only = runner->running[slot];
    }
  }
  if (!only) {
    if (runner->callbacks.on_stray_output)
      runner->callbacks.on_stray_output(runner, stream, bytes, length, runner->arg);
    return;
  }
  deliver_to(only, stream, bytes, length);
}

/* Output becomes JSON text (logs, events), so it must be valid UTF-8: a character
 * split across two reads waits for its end, and invalid bytes become U+FFFD. */
static void on_worker_output(pn_worker *worker, int stream, const char *bytes, size_t length,
                             void *arg) {
  pn_runner *runner = arg;
  pn_buf *partial = &runner->partial[stream == 1 ? 0 : 1];
  pn_buf joined, clean;
  pn_buf_init(&joined, PN_PREDICTION_LOGS_MAX);
  pn_buf_init(&clean, PN_PREDICTION_LOGS_MAX * 2);
  if (pn_buf_append(&joined, partial->data ? partial->data : "", partial->length) == 0 &&
      pn_buf_append(&joined, bytes, length) == 0) {
    size_t complete = pn_utf8_complete_length(joined.data, joined.length);
    pn_buf_reset(partial);
    pn_buf_append(partial, joined.data + complete, joined.length - complete);
    if (complete > 0 && pn_utf8_sanitize(joined.data, complete, &clean) == 0)
      deliver_output(runner, stream, clean.data, clean.length);
  }
  pn_buf_free(&joined);
  pn_buf_free(&clean);
}

static int record_death(pn_runner *runner) {
  uint64_t now = pn_clock_monotonic_ns();
  int recent = 0;
  for (int i = 0; i < runner->death_count; i++)
    recent += now - runner->deaths[i] < DEATH_WINDOW_NS;
  if (runner->death_count == DEATHS_BEFORE_DEFUNCT) {
    memmove(runner->deaths, runner->deaths + 1, sizeof runner->deaths[0] * (DEATHS_BEFORE_DEFUNCT - 1));
    runner->death_count--;
  }
  runner->deaths[runner->death_count++] = now;
  return recent + 1;
}

/* Why a worker that died while serving is being replaced. pinion kills a serving
 * worker for two reasons: a prediction that ignored cancellation (the runner's doing),
 * or a broken frame (the worker module's). */
static enum pn_restart_cause restart_cause(const pn_runner *runner, const pn_worker_exit *exit) {
  if (exit->killed_by_us)
    return runner->killed_for_cancel ? PN_RESTART_CANCEL_TIMEOUT : PN_RESTART_PROTOCOL_ERROR;
  return exit->signal == SIGKILL ? PN_RESTART_KILLED : PN_RESTART_CRASH;
}

static void on_worker_exit(pn_worker *worker, const pn_worker_exit *exit, void *arg) {
  pn_runner *runner = arg;
  runner->worker = NULL;
  answer_health_checks(runner, -1, 0, "the worker exited");
  if (runner->state == PN_RUNNER_STARTING && runner->options.describe_only && runner->describe) {
    pn_worker_free(worker);
    set_state(runner, PN_RUNNER_DESCRIBED);
    return;
  }
  if (runner->restart_reason) {
    for (int slot = 0; slot < runner->slots; slot++)
      if (runner->running[slot])
        complete(runner, slot, PN_PREDICTION_FAILED, runner->restart_reason);
    pn_free(runner->restart_reason);
    runner->restart_reason = NULL;
    pn_worker_free(worker);
    json_decref(runner->describe);
    runner->describe = NULL;
    pn_free(runner->setup_error);
    pn_free(runner->setup_traceback);
    runner->setup_error = runner->setup_traceback = NULL;
    runner->restarts[PN_RESTART_RELOAD]++;
    start_worker(runner);
    notify_state(runner);
    return;
  }
  char *diagnosis = pn_worker_diagnose(exit);
  if (runner->state == PN_RUNNER_STARTING) {
    char *error = pn_strfmt("the worker died during setup: %s", diagnosis);
    fail_setup(runner, error ? error : diagnosis, NULL);
    pn_free(error);
  } else if (runner->state == PN_RUNNER_READY) {
    char *error = pn_strfmt("Worker crashed: %s", diagnosis);
    for (int slot = 0; slot < runner->slots; slot++) {
      pn_prediction *prediction = runner->running[slot];
      if (!prediction)
        continue;
      if (prediction->cancel_requested) /* it ended as asked */
        complete(runner, slot, PN_PREDICTION_CANCELED, NULL);
      else
        complete(runner, slot, PN_PREDICTION_FAILED, error ? error : diagnosis);
    }
    pn_free(error);
    int recent = record_death(runner);
    if (exit->killed_by_us || (runner->options.restart && recent < DEATHS_BEFORE_DEFUNCT)) {
      pn_warn("%s; restarting it", diagnosis);
      pn_free(runner->crash);
      runner->crash = pn_strdup(diagnosis);
      runner->restarts[restart_cause(runner, exit)]++;
      runner->state = PN_RUNNER_STARTING;
      runner->setup_status = PN_SETUP_STARTING;
      /* The health check must not show the last setup's end while the next waits. */
      runner->setup_started_ns = pn_clock_realtime_ns();
      runner->setup_completed_ns = 0;
      notify_state(runner);
      double delay = exit->killed_by_us ? 0 : 0.1 * (1 << (recent - 1));
      struct timeval backoff = {(time_t)delay, (suseconds_t)((delay - (time_t)delay) * 1e6)};
      event_add(runner->restart_timer, &backoff);
    } else {
      pn_error("%s", diagnosis);
      pn_free(runner->crash);
      runner->crash = pn_strdup(diagnosis);
      set_state(runner, PN_RUNNER_DEFUNCT);
    }
  }
  pn_free(diagnosis);
  pn_worker_free(worker);
}

static void on_setup_timeout(evutil_socket_t fd, short what, void *arg) {
  pn_runner *runner = arg;
  if (runner->state != PN_RUNNER_STARTING)
    return;
  fail_setup(runner, "worker setup timed out", NULL);
  if (runner->worker)
    pn_worker_kill(runner->worker);
}

static void on_cancel_grace(evutil_socket_t fd, short what, void *arg) {
  pn_runner *runner = arg;
  if (runner->batching && (runner->batch_returned || !batch_all_canceled(runner)))
    return; /* the canceled call returned; the batch running now was not canceled whole */
  for (int slot = 0; slot < runner->slots; slot++) {
    if (runner->running[slot] && runner->running[slot]->cancel_requested && runner->worker) {
      pn_warn("prediction %s ignored cancellation; restarting the worker",
              runner->running[slot]->id);
      runner->killed_for_cancel = 1;
      pn_worker_kill(runner->worker);
      return;
    }
  }
}

static void on_restart(evutil_socket_t fd, short what, void *arg) { start_worker(arg); }

/* --- messages that hand predictions to the worker ------------------------------------ */

/* The messages that hand predictions to the worker are written into their frame from
 * the predictions' own parts: a jansson value for them (an object per prediction,
 * built and freed at once) cost ~3k instructions each, 2% of a trivial prediction.
 * The buffer's failure is sticky, so it is checked once, at the end of the frame. */

/* `"id":...,"input":...,"context":...`: a `predict` message's fields, and each item's of
 * a `predict_batch`. */
static void write_prediction_fields(const pn_prediction *prediction, pn_buf *frame) {
  pn_buf_append_str(frame, "\"id\":");
  pn_json_write_string(prediction->id, strlen(prediction->id), frame);
  pn_buf_append_str(frame, ",\"input\":");
  pn_json_write(prediction->input, PN_JSON_SERDE_NUMBERS, frame);
  pn_buf_append_str(frame, ",\"context\":");
  pn_json_write(prediction->context, PN_JSON_SERDE_NUMBERS, frame);
}

/* Ends the frame begun at `start` in `frame` and sends it; frees the frame. */
static int send_frame(pn_runner *runner, pn_buf *frame, size_t start) {
  int rc = pn_ipc_frame_end(frame, start);
  if (rc == 0)
    rc = pn_worker_send_frames(runner->worker, frame);
  pn_buf_free(frame);
  return rc;
}

static int send_predict(pn_runner *runner, const pn_prediction *prediction) {
  pn_buf frame;
  pn_buf_init(&frame, PN_IPC_FRAME_MAX + 4);
  size_t start;
  pn_ipc_frame_begin(&frame, &start);
  pn_buf_append_str(&frame, "{\"type\":\"predict\",");
  write_prediction_fields(prediction, &frame);
  pn_buf_append_str(&frame, "}");
  return send_frame(runner, &frame, start);
}

/* --- batches ----------------------------------------------------------------------- */

/* Sends one `predict_batch` message for the `count` predictions taken from the queue. */
static int send_batch(pn_runner *runner, const pn_batch_entry *taken, size_t count) {
  pn_buf frame;
  pn_buf_init(&frame, PN_IPC_FRAME_MAX + 4);
  size_t start;
  pn_ipc_frame_begin(&frame, &start);
  pn_buf_append_str(&frame, "{\"type\":\"predict_batch\",\"items\":[");
  for (size_t i = 0; i < count && !pn_buf_error(&frame); i++) {
    pn_buf_append_str(&frame, i ? ",{" : "{");
    write_prediction_fields(taken[i].prediction, &frame);
    pn_buf_append_str(&frame, "}");
  }
  pn_buf_append_str(&frame, "]}");
  return send_frame(runner, &frame, start);
}

static void fail_taken(pn_runner *runner, const pn_batch_entry *taken, size_t count, int rc) {
  char *error = rc == PN_ETOOBIG
                    ? pn_strfmt("input too large (limit %u MiB): the prediction's message to the "
                                "worker is larger than that; pass large data as a file input (a "
                                "URL or data: URI) instead",
                                PN_IPC_FRAME_MAX >> 20)
                    : pn_strfmt("the prediction could not start: %s", pn_strerror(rc));
  for (size_t i = 0; i < count; i++) {
    int slot = find_slot(runner, taken[i].prediction->id);
    if (slot >= 0)
      complete(runner, slot, PN_PREDICTION_FAILED, error ? error : "the prediction could not start");
  }
  pn_free(error);
}

/* The batch's message was sent: its predictions are processing from now on. It runs
 * at once when no batch runs, else it is the batch ahead. */
static void start_batch(pn_runner *runner, const pn_batch_entry *taken, size_t count) {
  if (runner->batch_running > 0) {
    for (size_t i = 0; i < count; i++)
      runner->ahead[i] = taken[i].prediction;
    runner->ahead_count = (int)count;
  } else {
    runner->batch_running = (int)count;
    runner->batch_returned = 0;
  }
  uint64_t now = pn_clock_realtime_ns();
  for (size_t i = 0; i < count; i++) {
    pn_prediction *prediction = taken[i].prediction;
    prediction->status = PN_PREDICTION_PROCESSING;
    prediction->started_ns = now;
    prediction->batch_size = (int)count;
    prediction->batch_index = (int)i;
  }
  /* Every one is marked first: a listener of the first may look at the others. */
  for (size_t i = 0; i < count; i++)
    pn_prediction_emit(taken[i].prediction, PN_PREDICTION_EVENT_START, NULL);
}

/* A prediction of the running batch or of the one ahead leaves its slot. When the
 * running batch's last one leaves, the batch ahead becomes the running one; if each of
 * it was canceled meanwhile, its call is interrupted now (the worker may already have
 * dropped them all, then the signal finds nothing running: nothing can have been sent
 * after that batch yet, since its call has not returned as far as the server knows). */
static void leave_batch(pn_runner *runner, pn_prediction *prediction) {
  for (int i = 0; i < runner->ahead_count; i++) {
    if (runner->ahead[i] == prediction) {
      memmove(runner->ahead + i, runner->ahead + i + 1,
              sizeof *runner->ahead * (size_t)(runner->ahead_count - i - 1));
      runner->ahead_count--;
      return;
    }
  }
  if (runner->batch_running == 0 || --runner->batch_running > 0 || runner->ahead_count == 0)
    return;
  runner->batch_running = runner->ahead_count;
  runner->ahead_count = 0;
  runner->batch_returned = 0;
  if (runner->worker && runner->state == PN_RUNNER_READY && batch_all_canceled(runner)) {
    for (int slot = 0; slot < runner->slots; slot++) {
      if (runner->running[slot] && runner->running[slot]->status == PN_PREDICTION_PROCESSING) {
        interrupt(runner, runner->running[slot]->id);
        break;
      }
    }
  }
}

/* Hands the next batch to the worker: up to max_size of the oldest waiting. A batch
 * whose message is over the frame limit leaves in halves (the rest waits at the front
 * of the queue); one prediction too large for it alone fails. */
static void dispatch_batch(pn_runner *runner) {
  pn_batch_entry *taken = runner->batch_taken;
  size_t count = pn_batch_queue_take(&runner->queue, (size_t)runner->batch.max_size, taken);
  int rc;
  while ((rc = send_batch(runner, taken, count)) == PN_ETOOBIG && count > 1) {
    size_t half = count / 2;
    pn_batch_queue_unshift(&runner->queue, taken + half, count - half);
    count = half;
  }
  if (rc == PN_ECLOSED) {
    /* The worker is ending: its exit fails them all with its diagnosis. */
    pn_batch_queue_unshift(&runner->queue, taken, count);
    return;
  }
  if (rc < 0) {
    fail_taken(runner, taken, count, rc);
    return;
  }
  start_batch(runner, taken, count);
}

/* At the running batch's first `done`: the next batch leaves now if it is due. A failure
 * to send leaves it to the timer, which fails what must fail outside this `done`. */
static void send_ahead_if_due(pn_runner *runner) {
  if (!can_take_batch(runner) ||
      pn_batch_due_in_ns(&runner->queue, &runner->batch, pn_clock_monotonic_ns()) != 0)
    return;
  pn_batch_entry *taken = runner->batch_taken;
  size_t count = pn_batch_queue_take(&runner->queue, (size_t)runner->batch.max_size, taken);
  if (send_batch(runner, taken, count) < 0) {
    pn_batch_queue_unshift(&runner->queue, taken, count);
    return; /* the timer, planned when this `done` completes its prediction, retries */
  }
  start_batch(runner, taken, count);
}

/* Sets the batch timer for the moment the next batch is due, unless a batch runs (its
 * end plans again) or the worker cannot take one. The timer fires on a later turn of
 * the loop even when the batch is due now, so callers never see events from here. */
static void plan_batch(pn_runner *runner) {
  if (!runner->batch_timer || !can_take_batch(runner))
    return;
  int64_t due = pn_batch_due_in_ns(&runner->queue, &runner->batch, pn_clock_monotonic_ns());
  if (due < 0) {
    event_del(runner->batch_timer);
    return;
  }
  struct timeval in = {(time_t)(due / 1000000000), (suseconds_t)(due % 1000000000 / 1000)};
  event_add(runner->batch_timer, &in);
}

static void on_batch_due(evutil_socket_t fd, short what, void *arg) {
  pn_runner *runner = arg;
  if (!can_take_batch(runner))
    return;
  if (pn_batch_due_in_ns(&runner->queue, &runner->batch, pn_clock_monotonic_ns()) == 0)
    dispatch_batch(runner);
  else
    plan_batch(runner);
}

static void start_worker(pn_runner *runner) {
  static const pn_worker_callbacks callbacks = {on_worker_message, on_worker_output,
                                                on_worker_exit};
  pn_worker_spec spec = runner->options.worker;
  spec.action = runner->options.describe_only ? "describe" : "serve";
  runner->state = PN_RUNNER_STARTING;
  runner->setup_status = PN_SETUP_STARTING;
  runner->setup_started_ns = pn_clock_realtime_ns();
  runner->setup_completed_ns = 0;
  runner->killed_for_cancel = 0;
  pn_buf_reset(&runner->setup_logs);
  char *error = NULL;
  int rc = pn_worker_start(runner->base, &spec, &callbacks, runner, &runner->worker, &error);
  if (rc < 0) {
    fail_setup(runner, error ? error : pn_strerror(rc), NULL);
    pn_free(error);
    return;
  }
  if (runner->options.setup_timeout > 0) {
    double seconds = runner->options.setup_timeout;
    struct timeval timeout = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};
    event_add(runner->setup_timer, &timeout);
  }
}

static const char *keep(pn_runner *runner, const char *text) {
  if (!text)
    return NULL;
  char **strings = pn_realloc(runner->owned_strings, (runner->owned_count + 1) * sizeof *strings);
  if (!strings)
    return NULL;
  runner->owned_strings = strings;
  char *copy = pn_strdup(text);
  if (copy)
    strings[runner->owned_count++] = copy;
  return copy;
}

int pn_runner_start(struct event_base *base, const pn_runner_options *options,
                    const pn_runner_callbacks *callbacks, void *arg, pn_runner **out,
                    char **error) {
  *out = NULL;
  *error = NULL;
  pn_runner *runner = pn_calloc(1, sizeof *runner);
  if (!runner)
    return PN_ENOMEM;
  runner->base = base;
  runner->options = *options;
  pn_worker_spec *spec = &runner->options.worker;
  spec->python = keep(runner, options->worker.python);
  spec->python_dir = keep(runner, options->worker.python_dir);
  spec->project_dir = keep(runner, options->worker.project_dir);
  spec->predictor = keep(runner, options->worker.predictor);
  spec->mode = keep(runner, options->worker.mode ? options->worker.mode : "predict");
  char **environment = pn_calloc(options->worker.environment_count + 1, sizeof *environment);
  for (size_t i = 0; environment && i < options->worker.environment_count; i++)
    environment[i] = (char *)keep(runner, options->worker.environment[i]);
  spec->environment = environment;
  if (runner->options.cancel_grace <= 0)
    runner->options.cancel_grace = 5;
  if (callbacks)
    runner->callbacks = *callbacks;
  runner->arg = arg;
  pn_buf_init(&runner->setup_logs, PN_PREDICTION_LOGS_MAX);
  pn_buf_init(&runner->partial[0], 8);
  pn_buf_init(&runner->partial[1], 8);
  runner->slots = 0;
  runner->setup_timer = evtimer_new(base, on_setup_timeout, runner);
  runner->cancel_timer = evtimer_new(base, on_cancel_grace, runner);
  runner->restart_timer = evtimer_new(base, on_restart, runner);
  runner->batch_timer = evtimer_new(base, on_batch_due, runner);
  if (!runner->batch_timer || !environment || !spec->python || !spec->python_dir || !spec->project_dir ||
      !spec->predictor || !spec->mode || !runner->setup_timer || !runner->cancel_timer ||
      !runner->restart_timer) {
    pn_runner_free(runner);
    return PN_ENOMEM;
  }
  /* Set before starting: a worker that fails at once reports through the callbacks,
   * which may ask for the runner. */
  *out = runner;
  start_worker(runner);
  return 0;
}

void pn_runner_free(pn_runner *runner) {
  if (!runner)
    return;
  runner->batch_running = runner->ahead_count = 0; /* nothing runs on from here */
  for (int slot = 0; slot < runner->slots; slot++)
    if (runner->running[slot])
      complete(runner, slot, PN_PREDICTION_FAILED, "the model server is shutting down");
  pn_worker_free(runner->worker);
  while (runner->health_checks) {
    health_check *check = runner->health_checks;
    runner->health_checks = check->next;
    pn_free(check);
  }
  if (runner->setup_timer)
    event_free(runner->setup_timer);
  if (runner->cancel_timer)
    event_free(runner->cancel_timer);
  if (runner->restart_timer)
    event_free(runner->restart_timer);
  if (runner->batch_timer)
    event_free(runner->batch_timer);
  runner->batch_timer = NULL;
  pn_batch_queue_free(&runner->queue);
  pn_free(runner->batch_taken);
  pn_free(runner->ahead);
  json_decref(runner->describe);
  pn_free(runner->setup_error);
  pn_free(runner->setup_traceback);
  pn_free(runner->restart_reason);
  pn_free(runner->crash);
  pn_buf_free(&runner->setup_logs);
  pn_buf_free(&runner->partial[0]);
  pn_buf_free(&runner->partial[1]);
  pn_free(runner->running);
  for (size_t i = 0; i < runner->owned_count; i++)
    pn_free(runner->owned_strings[i]);
  pn_free(runner->owned_strings);
  pn_free((void *)runner->options.worker.environment);
  pn_free(runner);
}

enum pn_runner_state pn_runner_state(const pn_runner *runner) { return runner->state; }
struct event_base *pn_runner_event_base(const pn_runner *runner) { return runner->base; }

const char *pn_runner_health(const pn_runner *runner) {
  switch (runner->state) {
  case PN_RUNNER_STARTING:
    return "STARTING";
  case PN_RUNNER_READY:
    return running_count(runner) == runner->slots ? "BUSY" : "READY";
  case PN_RUNNER_SETUP_FAILED:
    return "SETUP_FAILED";
  case PN_RUNNER_DEFUNCT:
    return "DEFUNCT";
  case PN_RUNNER_DESCRIBED:
    return "UNKNOWN";
  }
  return "UNKNOWN";
}

const json_t *pn_runner_signature(const pn_runner *runner) {
  return runner->describe ? json_object_get(runner->describe, "signature") : NULL;
}

const char *pn_runner_python_version(const pn_runner *runner) {
  return runner->describe ? json_string_value(json_object_get(runner->describe, "python"))
                          : NULL;
}

const char *pn_runner_sdk_version(const pn_runner *runner) {
  return runner->describe ? json_string_value(json_object_get(runner->describe, "sdk")) : NULL;
}

const char *pn_runner_setup_error(const pn_runner *runner) { return runner->setup_error; }
const char *pn_runner_setup_traceback(const pn_runner *runner) { return runner->setup_traceback; }
enum pn_setup_status pn_runner_setup_status(const pn_runner *runner) {
  return runner->setup_status;
}
const char *pn_runner_crash(const pn_runner *runner) {
  return runner->state == PN_RUNNER_STARTING || runner->state == PN_RUNNER_DEFUNCT ? runner->crash
                                                                                   : NULL;
}
const char *pn_runner_setup_logs(const pn_runner *runner) {
  return runner->setup_logs.data ? runner->setup_logs.data : "";
}
uint64_t pn_runner_setup_started_ns(const pn_runner *runner) { return runner->setup_started_ns; }
uint64_t pn_runner_setup_completed_ns(const pn_runner *runner) {
  return runner->setup_completed_ns;
}
int pn_runner_slots(const pn_runner *runner) { return runner->slots; }
int pn_runner_in_flight(const pn_runner *runner) { return running_count(runner); }

unsigned long pn_runner_restarts(const pn_runner *runner, enum pn_restart_cause cause) {
  return cause < PN_RESTART_CAUSES ? runner->restarts[cause] : 0;
}

const char *pn_restart_cause_name(enum pn_restart_cause cause) {
  static const char *names[PN_RESTART_CAUSES] = {"crash", "killed", "cancel_timeout",
                                                 "protocol_error", "reload"};
  return cause < PN_RESTART_CAUSES ? names[cause] : "unknown";
}

pid_t pn_runner_worker_pid(const pn_runner *runner) {
  return runner->worker ? pn_worker_pid(runner->worker) : 0;
}

pn_prediction *pn_runner_find(const pn_runner *runner, const char *id) {
  int slot = find_slot(runner, id);
  return slot < 0 ? NULL : runner->running[slot];
}

/* A batched prediction takes its slot and waits in the queue, still `starting`. */
static int enqueue(pn_runner *runner, int slot, pn_prediction *prediction,
                   pn_prediction_event_fn on_event, void *arg) {
  int rc = pn_batch_queue_push(&runner->queue, prediction, pn_clock_monotonic_ns());
  if (rc < 0)
    return rc;
  prediction->on_event = on_event;
  prediction->arg = arg;
  prediction->is_iterator = 0; /* @cog.batch refuses iterators at load */
  runner->running[slot] = pn_prediction_ref(prediction);
  /* Alone, due now and the worker free (a batch of one at low load): it leaves at once,
   * as a prediction without batching does, and a failure to send is the caller's. */
  if (runner->queue.count == 1 && can_take_batch(runner) &&
      pn_batch_due_in_ns(&runner->queue, &runner->batch, pn_clock_monotonic_ns()) == 0) {
    pn_batch_queue_take(&runner->queue, 1, runner->batch_taken);
    rc = send_batch(runner, runner->batch_taken, 1);
    if (rc == PN_ECLOSED) { /* the worker is ending: it waits for the exit to fail it */
      pn_batch_queue_unshift(&runner->queue, runner->batch_taken, 1);
      return 0;
    }
    if (rc < 0) {
      runner->running[slot] = NULL;
      prediction->on_event = NULL;
      pn_prediction_unref(prediction);
      return rc;
    }
    start_batch(runner, runner->batch_taken, 1);
    return 0;
  }
  plan_batch(runner);
  return 0;
}

int pn_runner_submit(pn_runner *runner, pn_prediction *prediction, pn_prediction_event_fn on_event,
                     void *arg) {
  if (runner->state != PN_RUNNER_READY || !runner->worker)
    return PN_ESTATE;
  if (find_slot(runner, prediction->id) >= 0)
    return PN_EEXISTS;
  int slot = 0;
  while (slot < runner->slots && runner->running[slot])
    slot++;
  if (slot == runner->slots)
    return PN_EBUSY;
  if (runner->batching)
    return enqueue(runner, slot, prediction, on_event, arg);
  int rc = send_predict(runner, prediction);
  /* PN_ECLOSED: the worker closed its channel and is ending, so the prediction takes
   * its slot and fails with the rest when the exit is reported, with its diagnosis. */
  if (rc < 0 && rc != PN_ECLOSED)
    return rc;
  prediction->on_event = on_event;
  prediction->arg = arg;
  const json_t *output = json_object_get(pn_runner_signature(runner), "output");
  prediction->is_iterator =
      json_is_string(json_object_get(output, "kind")) &&
      strcmp(json_string_value(json_object_get(output, "kind")), "iterator") == 0;
  runner->running[slot] = pn_prediction_ref(prediction);
  prediction->status = PN_PREDICTION_PROCESSING;
  prediction->started_ns = pn_clock_realtime_ns();
  pn_prediction_emit(prediction, PN_PREDICTION_EVENT_START, NULL);
  return 0;
}

int pn_runner_healthcheck(pn_runner *runner, pn_runner_health_fn done, void *arg, long *id) {
  if (!runner->worker)
    return PN_ESTATE;
  health_check *check = pn_calloc(1, sizeof *check);
  if (!check)
    return PN_ENOMEM;
  check->id = ++runner->next_health_id;
  check->done = done;
  check->arg = arg;
  char text[32];
  snprintf(text, sizeof text, "%ld", check->id);
  json_t *message = json_pack("{s:s, s:s}", "type", "healthcheck", "id", text);
  int rc = message ? pn_worker_send(runner->worker, message) : PN_ENOMEM;
  json_decref(message);
  if (rc < 0) {
    pn_free(check);
    return rc;
  }
  check->next = runner->health_checks;
  runner->health_checks = check;
  *id = check->id;
  return 0;
}

void pn_runner_forget_healthcheck(pn_runner *runner, long id) {
  for (health_check **at = &runner->health_checks; *at; at = &(*at)->next) {
    if ((*at)->id == id) {
      health_check *check = *at;
      *at = check->next;
      pn_free(check);
      return;
    }
  }
}

void pn_runner_restart(pn_runner *runner, const char *reason) {
  if (runner->options.describe_only)
    return;
  pn_free(runner->crash); /* what starts now is a reload, not a crash's replacement */
  runner->crash = NULL;
  if (!runner->worker) {
    event_del(runner->restart_timer);
    json_decref(runner->describe);
    runner->describe = NULL;
    runner->restarts[PN_RESTART_RELOAD]++;
    start_worker(runner);
    notify_state(runner);
    return;
  }
  if (!runner->restart_reason)
    runner->restart_reason = pn_strdup(reason);
  /* No new predictions for the old code: the runner is starting again from now on. */
  runner->state = PN_RUNNER_STARTING;
  notify_state(runner);
  pn_worker_kill(runner->worker);
}

void pn_runner_fail_setup(pn_runner *runner, const char *error) {
  if (runner->state != PN_RUNNER_STARTING && runner->state != PN_RUNNER_READY)
    return;
  fail_setup(runner, error, NULL);
  if (runner->worker)
    pn_worker_kill(runner->worker);
}

/* A prediction of the batch handed over ahead is canceled before its call starts (the
 * worker is still sending the results of the batch before it). It is never signalled:
 * the signal would interrupt that batch. A sync worker reads the `cancel` frame when it
 * takes the batch and leaves the prediction out of the call (it ends `canceled` with its
 * `done`; if the call started first, its output is dropped when its `done` comes). An
 * async worker cancels the batch's task for any of its ids, so it gets the frame only
 * when every prediction of that batch is canceled. */
static void cancel_ahead(pn_runner *runner, pn_prediction *prediction) {
  if (!runner->worker)
    return;
  if (signature_flag(runner, "is_async")) {
    for (int i = 0; i < runner->ahead_count; i++)
      if (!runner->ahead[i]->cancel_requested)
        return;
  }
  json_t *message = json_pack("{s:s, s:s}", "type", "cancel", "id", prediction->id);
  if (message)
    pn_worker_send(runner->worker, message);
  json_decref(message);
}

int pn_runner_cancel(pn_runner *runner, const char *id) {
  int slot = find_slot(runner, id);
  if (slot < 0)
    return PN_ENOENT;
  pn_prediction *prediction = runner->running[slot];
  if (prediction->cancel_requested)
    return 0;
  prediction->cancel_requested = 1;
  if (runner->batching && prediction->status == PN_PREDICTION_STARTING) {
    complete(runner, slot, PN_PREDICTION_CANCELED, NULL); /* it leaves the queue */
    return 0;
  }
  if (runner->batching && is_ahead(runner, prediction)) {
    cancel_ahead(runner, prediction);
    return 0;
  }
  if (runner->batching && (runner->batch_returned || !batch_all_canceled(runner)))
    return 0; /* the others of its batch go on, or its call is over: it ends canceled with them */
  interrupt(runner, id);
  return 0;
}

/* Asks the worker to stop the call that computes prediction `id`. Async handlers read
 * the frame and cancel the task. A sync handler cannot read while it runs, so SIGUSR1
 * interrupts it; the frame still tells a worker that has not started the prediction yet
 * not to start it. Never for a batch whose call returned: the worker may be running the
 * next one, which the signal would interrupt instead. */
static void interrupt(pn_runner *runner, const char *id) {
  json_t *message = json_pack("{s:s, s:s}", "type", "cancel", "id", id);
  if (message && runner->worker)
    pn_worker_send(runner->worker, message);
  json_decref(message);
  if (!signature_flag(runner, "is_async") && runner->worker)
    pn_worker_signal(runner->worker, SIGUSR1);
  double seconds = runner->options.cancel_grace;
  struct timeval grace = {(time_t)seconds, (suseconds_t)((seconds - (time_t)seconds) * 1e6)};
  event_add(runner->cancel_timer, &grace);
}
