/* Jobs: a prediction's path through the model server. See job.h.
 *
 * Start is deferred to the next turn of the loop so that callers never see events
 * from inside pn_job_start. Output items are encoded one at a time, in the order the
 * worker produced them; the job completes only when the runner is done and every
 * item is encoded, so the final response never misses an upload. */
#include "serve/job.h"

#include "runtime/ipc.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/fs.h"
#include "runtime/ipc.h"
#include "serve/inputs.h"
#include "serve/outputs.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

struct pn_job {
  int refs;
  pn_model *model;
  pn_http_client *client;
  pn_prediction *prediction;
  char *upload_url;
  int local_files;
  int traceback_in_logs;
  pn_job_event_fn on_event;
  void *arg;
  int reserved;  /* holds a model reservation until the runner takes the prediction */
  int submitted; /* the runner has it */
  int done;
  int cancel_requested;
  int holding;            /* waiting for the worker that replaces a crashed one */
  int held;               /* it did, at least once */
  pn_model_waiter waiter; /* its place in the model's waiters while holding */
  struct event *kick;
  pn_inputs_fetch *fetch;
  json_t *output;  /* encoded: array of items so far, or the final value */
  json_t *pending; /* raw items waiting to be encoded: [{"value", "files", "final"}] */
  pn_outputs_job *encoding;
  int runner_done;
  size_t next_index;
};

static void emit(pn_job *job, enum pn_job_event event, const json_t *detail) {
  if (job->on_event)
    job->on_event(job, event, detail, job->arg);
}

static void release_slot(pn_job *job) {
  if (job->reserved) {
    job->reserved = 0;
    pn_model_release(job->model);
  }
}

static void stop_holding(pn_job *job) {
  if (job->holding) {
    job->holding = 0;
    pn_model_forget_waiter(job->model, &job->waiter);
  }
}

/* The job's one exit: sets the terminal state (unless the runner already did) and
 * sends DONE. */
static void complete(pn_job *job, enum pn_prediction_status status, const char *error) {
  if (job->done)
    return;
  job->done = 1;
  stop_holding(job);
  release_slot(job);
  pn_inputs_cancel(job->fetch);
  job->fetch = NULL;
  if (!pn_prediction_is_terminal(job->prediction)) {
    pn_prediction_finish(job->prediction, status, error);
  } else if (status == PN_PREDICTION_FAILED && error) {
    /* A failure after the runner finished: an output could not be encoded. */
    job->prediction->status = PN_PREDICTION_FAILED;
    pn_free(job->prediction->error);
    job->prediction->error = pn_strdup(error);
  }
  pn_serve_metrics_finished(pn_model_metrics(job->model), job->prediction);
  pn_job_ref(job);
  emit(job, PN_JOB_DONE, NULL);
  pn_job_unref(job);
}

static void emit_output(pn_job *job, json_t *chunk) {
  json_t *detail = json_pack("{s:O, s:I}", "chunk", chunk, "index", (json_int_t)job->next_index++);
  if (detail)
    emit(job, PN_JOB_OUTPUT, detail);
  json_decref(detail);
}

/* An encoded value arrived: an iterator item, or the handler's final value. */
static void take_encoded(pn_job *job, json_t *encoded, int final) {
  if (!final) {
    if (!json_is_array(job->output)) {
      json_decref(job->output);
      job->output = json_array();
    }
    json_array_append(job->output, encoded);
    emit_output(job, encoded);
    return;
  }
  /* Cog sends a returned list element by element, and a single value as one item. */
  json_decref(job->output);
  job->output = json_array();
  if (json_is_array(encoded)) {
    size_t i;
    json_t *item;
    json_array_foreach(encoded, i, item) {
      json_array_append(job->output, item);
      emit_output(job, item);
    }
  } else {
    json_array_append(job->output, encoded);
    emit_output(job, encoded);
  }
  json_decref(job->output);
  job->output = json_incref(encoded);
}

static void encode_pending(pn_job *job);

static void on_encoded(void *arg, json_t *encoded, const char *error) {
  pn_job *job = arg;
  job->encoding = NULL;
  json_t *item = json_array_get(job->pending, 0);
  int final = json_is_true(json_object_get(item, "final"));
  json_array_remove(job->pending, 0);
  if (!encoded) {
    complete(job, PN_PREDICTION_FAILED, error);
    return;
  }
  take_encoded(job, encoded, final);
  encode_pending(job);
}

static void encode_pending(pn_job *job) {
  while (!job->done && !job->encoding && json_array_size(job->pending) > 0) {
    json_t *item = json_array_get(job->pending, 0);
    json_t *value = json_object_get(item, "value");
    json_t *files = json_object_get(item, "files");
    int final = json_is_true(json_object_get(item, "final"));
    json_t *encoded = NULL;
    char *error = NULL;
    int rc = job->local_files ? (encoded = json_deep_copy(value), 1)
                              : pn_outputs_encode(job->client, job->upload_url, value, files,
                                                  on_encoded, job, &job->encoding, &encoded,
                                                  &error);
    if (rc == 0)
      return; /* on_encoded continues */
    json_incref(item);
    json_array_remove(job->pending, 0);
    json_decref(item);
    if (rc < 0) {
      complete(job, PN_PREDICTION_FAILED, error ? error : pn_strerror(rc));
      pn_free(error);
      return;
    }
    take_encoded(job, encoded, final);
    json_decref(encoded);
  }
  if (!job->done && !job->encoding && job->runner_done && json_array_size(job->pending) == 0)
    complete(job, job->prediction->status, NULL);
}

/* The files of one iterator item: the prediction's pointers under "/<index>". */
static json_t *item_files(const pn_prediction *prediction, size_t index) {
  json_t *files = json_array();
  char prefix[32];
  int length = snprintf(prefix, sizeof prefix, "/%zu", index);
  size_t i;
  json_t *pointer;
  json_array_foreach(prediction->files, i, pointer) {
    const char *text = json_string_value(pointer);
    if (text && strncmp(text, prefix, (size_t)length) == 0 &&
        (text[length] == '\0' || text[length] == '/'))
      json_array_append_new(files, json_string(text + length));
  }
  return files;
}

static void queue_item(pn_job *job, const json_t *value, json_t *files, int final) {
  json_t *item = json_pack("{s:O, s:o, s:b}", "value", value ? value : json_null(), "files",
                           files, "final", final);
  json_array_append_new(job->pending, item);
}

static void on_prediction_event(pn_prediction *prediction, enum pn_prediction_event event,
                                const json_t *detail, void *arg) {
  pn_job *job = arg;
  switch (event) {
  case PN_PREDICTION_EVENT_START:
    pn_serve_metrics_started(pn_model_metrics(job->model), prediction);
    emit(job, PN_JOB_START, NULL);
    break;
  case PN_PREDICTION_EVENT_OUTPUT: {
    size_t index = json_array_size(prediction->output) - 1;
    queue_item(job, detail, item_files(prediction, index), 0);
    encode_pending(job);
    break;
  }
  case PN_PREDICTION_EVENT_LOG:
    emit(job, PN_JOB_LOG, detail);
    break;
  case PN_PREDICTION_EVENT_METRIC: {
    json_t *metric = json_pack("{s:O?, s:O?, s:O?}", "name", json_object_get(detail, "name"),
                               "value", json_object_get(detail, "value"), "mode",
                               json_object_get(detail, "mode"));
    if (metric)
      emit(job, PN_JOB_METRIC, metric);
    json_decref(metric);
    break;
  }
  case PN_PREDICTION_EVENT_DONE:
    job->runner_done = 1;
    if (prediction->status == PN_PREDICTION_SUCCEEDED && !prediction->is_iterator &&
        prediction->output)
      queue_item(job, prediction->output, json_deep_copy(prediction->files), 1);
    encode_pending(job);
    break;
  }
}

/* Why a prediction that was never handed to the runner could not be. pn_malloc'd. */
static char *start_error(const pn_job *job, int rc) {
  pn_runner *runner = pn_model_runner(job->model);
  const char *crash = rc == PN_ESTATE ? pn_runner_crash(runner) : NULL;
  if (rc == PN_ETOOBIG)
    return pn_strfmt("input too large (limit %u MiB): the prediction's message to the worker is "
                     "larger than that; pass large data as a file input (a URL or data: URI) "
                     "instead",
                     PN_IPC_FRAME_MAX >> 20);
  if (crash)
    return pn_strfmt("Worker crashed: %s; this prediction was getting its inputs and never "
                     "reached it",
                     crash);
  if (rc == PN_ESTATE && job->held && pn_runner_state(runner) == PN_RUNNER_SETUP_FAILED)
    return pn_strfmt("Worker crashed, and the setup of the worker that replaced it failed: %s; "
                     "this prediction was waiting for that worker and never reached one",
                     pn_runner_setup_error(runner) ? pn_runner_setup_error(runner)
                                                   : "no reason given");
  return pn_strfmt("the prediction could not start: %s", pn_strerror(rc));
}

static void submit(pn_job *job);

static void on_worker_back(void *arg) {
  pn_job *job = arg;
  job->holding = 0;
  if (job->cancel_requested)
    complete(job, PN_PREDICTION_CANCELED, NULL);
  else
    submit(job);
}

static void submit(pn_job *job) {
  pn_runner *runner = pn_model_runner(job->model);
  if (pn_runner_state(runner) == PN_RUNNER_STARTING && pn_runner_crash(runner)) {
    /* The worker crashed while this prediction got its inputs. It never reached that
     * worker, so the one replacing it runs it, as it would have had the inputs come a
     * moment later; its reservation keeps its slot meanwhile (docs/batching.md). */
    job->holding = job->held = 1;
    job->waiter = (pn_model_waiter){.ready = on_worker_back, .arg = job};
    pn_model_await_worker(job->model, &job->waiter);
    return;
  }
  release_slot(job);
  int rc = pn_runner_submit(runner, job->prediction, on_prediction_event, job);
  if (rc < 0) {
    char *error = start_error(job, rc);
    complete(job, PN_PREDICTION_FAILED, error ? error : "the prediction could not start");
    pn_free(error);
    return;
  }
  job->submitted = 1;
}

static void on_inputs_ready(void *arg, const char *error) {
  pn_job *job = arg;
  job->fetch = NULL;
  if (error) {
    char *text = pn_strfmt("Input validation error: %s", error);
    complete(job, PN_PREDICTION_FAILED, text ? text : error);
    pn_free(text);
    return;
  }
  if (job->cancel_requested) {
    complete(job, PN_PREDICTION_CANCELED, NULL);
    return;
  }
  submit(job);
}

static int needs_files(const pn_job *job) {
  const pn_schema_validator *validator = pn_model_validator(job->model);
  for (size_t i = 0; i < pn_schema_input_count(validator); i++)
    if (pn_schema_input_at(validator, i)->is_file)
      return 1;
  return 0;
}

static void on_kick(evutil_socket_t fd, short what, void *arg) {
  pn_job *job = arg;
  if (job->cancel_requested) {
    complete(job, PN_PREDICTION_CANCELED, NULL);
    pn_job_unref(job);
    return;
  }
  if (needs_files(job)) {
    char *folder = NULL;
    int rc = pn_fs_mkdtemp("pinion-input", &folder);
    if (rc < 0) {
      complete(job, PN_PREDICTION_FAILED, "Input validation error: no temporary folder");
      pn_job_unref(job);
      return;
    }
    job->prediction->temp_dir = folder;
    job->prediction->pool = pn_model_pool(job->model);
  }
  int rc = 1;
  if (job->prediction->temp_dir) {
    char *error = NULL;
    rc = pn_inputs_prepare(job->client, pn_model_pool(job->model), pn_model_validator(job->model),
                           job->prediction->input, job->prediction->temp_dir, on_inputs_ready,
                           job, &job->fetch, &error);
    if (rc < 0) {
      char *text = pn_strfmt("Input validation error: %s", error ? error : pn_strerror(rc));
      complete(job, PN_PREDICTION_FAILED, text ? text : "Input validation error");
      pn_free(text);
      pn_free(error);
    }
  }
  if (rc == 1)
    submit(job);
  pn_job_unref(job); /* the reference the pending kick held */
}

int pn_job_start(pn_model *model, pn_http_client *client, const char *id, const json_t *input,
                 const json_t *context, const pn_job_options *options, pn_job_event_fn on_event,
                 void *arg, pn_job **out) {
  *out = NULL;
  int rc = pn_model_reserve(model);
  if (rc < 0)
    return rc;
  pn_job *job = pn_calloc(1, sizeof *job);
  if (!job) {
    pn_model_release(model);
    return PN_ENOMEM;
  }
  job->refs = 1;
  job->model = model;
  job->client = client;
  job->reserved = 1;
  job->on_event = on_event;
  job->arg = arg;
  job->local_files = options && options->local_files;
  job->traceback_in_logs = options && options->traceback_in_logs;
  job->upload_url = options && options->upload_url ? pn_strdup(options->upload_url) : NULL;
  job->prediction = pn_prediction_new(id, (json_t *)input, (json_t *)context);
  job->pending = json_array();
  job->kick = event_new(pn_runner_event_base(pn_model_runner(model)), -1, 0, on_kick, job);
  if (!job->prediction || !job->pending || !job->kick ||
      (options && options->upload_url && !job->upload_url)) {
    pn_job_unref(job);
    return PN_ENOMEM;
  }
  pn_job_ref(job); /* held by the pending kick */
  event_active(job->kick, EV_TIMEOUT, 0);
  *out = job;
  return 0;
}

pn_job *pn_job_ref(pn_job *job) {
  job->refs++;
  return job;
}

void pn_job_unref(pn_job *job) {
  if (!job || --job->refs > 0)
    return;
  stop_holding(job);
  release_slot(job);
  pn_inputs_cancel(job->fetch);
  pn_outputs_cancel(job->encoding);
  if (job->kick)
    event_free(job->kick);
  if (job->prediction && job->submitted && !pn_prediction_is_terminal(job->prediction))
    job->prediction->on_event = NULL; /* the runner still holds it; stop telling us */
  pn_prediction_unref(job->prediction);
  json_decref(job->output);
  json_decref(job->pending);
  pn_free(job->upload_url);
  pn_free(job);
}

void pn_job_detach(pn_job *job) {
  job->on_event = NULL;
  job->arg = NULL;
}

void pn_job_cancel(pn_job *job) {
  if (job->done || job->cancel_requested)
    return;
  job->cancel_requested = 1;
  if (job->submitted) {
    pn_runner_cancel(pn_model_runner(job->model), job->prediction->id);
  } else if (job->fetch || job->holding) {
    complete(job, PN_PREDICTION_CANCELED, NULL);
  }
  /* Otherwise the pending kick sees the flag. */
}

pn_prediction *pn_job_prediction(const pn_job *job) { return job->prediction; }
const char *pn_job_id(const pn_job *job) { return job->prediction->id; }
int pn_job_is_done(const pn_job *job) { return job->done; }
const json_t *pn_job_output(const pn_job *job) { return job->output; }

static json_t *timestamp(uint64_t ns) {
  if (!ns)
    return json_null();
  char text[40];
  return json_string(pn_clock_format(ns, 1, text, sizeof text));
}

json_t *pn_job_response(const pn_job *job, int with_input) {
  const pn_prediction *prediction = job->prediction;
  json_t *metrics = json_deep_copy(prediction->metrics);
  if (!metrics)
    metrics = json_object();
  if (job->done)
    json_object_set_new(metrics, "predict_time", json_real(pn_prediction_predict_time(prediction)));
  if (prediction->batch_size > 0) /* docs/batching.md */
    json_object_set_new(metrics, "batch_size", json_integer(prediction->batch_size));
  json_t *response = json_object();
  json_object_set_new(response, "completed_at", timestamp(job->done ? prediction->completed_ns : 0));
  json_object_set_new(response, "created_at", timestamp(prediction->created_ns));
  json_object_set_new(response, "error", prediction->status == PN_PREDICTION_FAILED &&
                                                 prediction->error
                                             ? json_string(prediction->error)
                                             : json_null());
  json_object_set_new(response, "id", json_string(prediction->id));
  if (with_input)
    json_object_set(response, "input", prediction->input);
  json_t *logs = json_stringn(prediction->logs.data ? prediction->logs.data : "",
                              prediction->logs.length);
  if (logs && job->done && job->traceback_in_logs && prediction->status == PN_PREDICTION_FAILED &&
      prediction->traceback && *prediction->traceback) {
    const char *text = json_string_value(logs);
    size_t length = json_string_length(logs);
    char *joined = pn_strfmt("%s%s%s", text, length && text[length - 1] != '\n' ? "\n" : "",
                             prediction->traceback);
    if (joined)
      json_string_set(logs, joined);
    pn_free(joined);
  }
  json_object_set_new(response, "logs", logs ? logs : json_string(""));
  json_object_set_new(response, "metrics", metrics);
  json_object_set(response, "output", job->output ? job->output : json_null());
  json_object_set_new(response, "started_at", timestamp(prediction->started_ns));
  const char *status = pn_prediction_status_name(
      job->done ? prediction->status
                : (prediction->status == PN_PREDICTION_STARTING ? PN_PREDICTION_STARTING
                                                                : PN_PREDICTION_PROCESSING));
  json_object_set_new(response, "status", json_string(status));
  return response;
}
