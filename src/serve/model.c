/* The model server's core. See model.h. The schema is built the moment the worker
 * describes the predictor, before setup() runs, so /openapi.json and input checks
 * are available early (pinion's choice 14 in the compatibility notes). */
#include "serve/model.h"

#include "core/alloc.h"
#include "core/env.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/gpu.h"
#include "core/log.h"
#include "core/startup_trace.h"
#include "core/version.h"
#include "schema/openapi.h"

#include <stdlib.h>
#include <string.h>

/* Threads decoding data: inputs; each holds a decoded file in memory at a time. */
#define POOL_THREADS 2

struct pn_model {
  pn_model_options options;
  pn_model_callbacks callbacks;
  void *arg;
  pn_config *config;
  pn_runner *runner;
  pn_pool *pool; /* decodes data: inputs off the loop */
  json_t *schema;
  pn_schema_validator *validator;
  json_t *other_document;                 /* the other mode's, when cog.yaml has both */
  pn_schema_validator *other_validator; /* its inputs */
  int training;
  int reserved;
  pn_serve_metrics *metrics; /* what /metrics shows */
  pn_model_waiter *waiters;  /* jobs held while a crashed worker is replaced, oldest first */
  struct event *wake;        /* hands them on, on the loop's next turn */
};

/* cog.yaml's `environment:` is the image's ENV under Cog, so the server's own settings
 * read it too (COG_SETUP_TIMEOUT, COG_MAX_CONCURRENCY, COG_THROTTLE_RESPONSE_INTERVAL,
 * COG_STREAM_HISTORY_CAPACITY, ...). A variable the process already has wins, as an
 * `-e` or `docker run --env` wins over ENV. Done before any of them is read. */
static void apply_environment(const pn_config *config) {
  for (size_t i = 0; i < config->environment_count; i++) {
    const char *pair = config->environment[i];
    const char *equals = strchr(pair, '=');
    if (!equals || equals == pair)
      continue;
    char *name = pn_strndup(pair, (size_t)(equals - pair));
    if (name)
      setenv(name, equals + 1, 0);
    pn_free(name);
  }
}

/* Seconds from the environment; 0 (none) when unset. */
static double env_seconds(const char *name) { return pn_env_number(name, "seconds", 0, 1e9, 0); }

/* Serves the merged document (predict's as the base, as `pinion schema` prints it) and
 * keeps a validator for the other mode's inputs. A failure leaves the handler's own
 * document, with a warning: the server still runs its own mode. */
static void merge_other_mode(pn_model *model) {
  if (!model->other_document || model->other_validator)
    return;
  json_t *merged = NULL;
  char *error = NULL;
  int rc = model->training ? pn_schema_merge(model->other_document, model->schema, &merged)
                           : pn_schema_merge(model->schema, model->other_document, &merged);
  if (rc == 0)
    rc = pn_schema_validator_new(model->other_document, model->training ? "Input" : "TrainingInput",
                                 &model->other_validator, &error);
  if (rc < 0) {
    pn_warn("the %s document could not be merged into the served schema: %s",
            model->training ? "predict" : "train", error ? error : pn_strerror(rc));
    json_decref(merged);
    pn_free(error);
    return;
  }
  json_decref(model->schema);
  model->schema = merged;
}

static void build_schema(pn_model *model) {
  const json_t *signature = pn_runner_signature(model->runner);
  if (!signature || model->schema)
    return;
  char *error = NULL;
  json_t *document = NULL;
  int rc = pn_schema_build(signature, model->training ? PN_SCHEMA_TRAIN : PN_SCHEMA_PREDICT,
                           PN_COG_VERSION, &document, &error);
  if (rc == 0) {
    pn_schema_validator *validator = NULL;
    rc = pn_schema_validator_new(document, model->training ? "TrainingInput" : "Input",
                                 &validator, &error);
    if (rc == 0) {
      model->schema = document;
      model->validator = validator;
      merge_other_mode(model);
      pn_startup_mark("schema_built");
      return;
    }
    json_decref(document);
  }
  pn_runner_fail_setup(model->runner, error ? error : "the model's schema could not be built");
  pn_free(error);
}

static void on_state(pn_runner *runner, void *arg) {
  pn_model *model = arg;
  build_schema(model);
  if (model->waiters && pn_runner_state(runner) != PN_RUNNER_STARTING)
    event_active(model->wake, EV_TIMEOUT, 0);
  if (model->callbacks.on_state)
    model->callbacks.on_state(model, model->arg);
}

/* One waiter at a time, taken from the live list: a job that a waiter's callback ends
 * has left the list by then (pn_model_forget_waiter), so nothing freed is reached. */
static void on_wake(evutil_socket_t fd, short what, void *arg) {
  pn_model *model = arg;
  while (model->waiters && pn_runner_state(model->runner) != PN_RUNNER_STARTING) {
    pn_model_waiter *waiter = model->waiters;
    model->waiters = waiter->next;
    waiter->next = NULL;
    waiter->ready(waiter->arg);
  }
}

static void on_setup_output(pn_runner *runner, int stream, const char *bytes, size_t length,
                            void *arg) {
  pn_model *model = arg;
  if (model->callbacks.on_setup_output)
    model->callbacks.on_setup_output(model, stream, bytes, length, model->arg);
}

static void on_stray_output(pn_runner *runner, int stream, const char *bytes, size_t length,
                            void *arg) {
  pn_model *model = arg;
  if (model->callbacks.on_stray_output)
    model->callbacks.on_stray_output(model, stream, bytes, length, model->arg);
}

int pn_model_open(struct event_base *base, const pn_model_options *options,
                  const pn_model_callbacks *callbacks, void *arg, pn_model **out,
                  pn_diag_list *diags, char **error) {
  *out = NULL;
  *error = NULL;
  pn_model *model = pn_calloc(1, sizeof *model);
  if (!model)
    return PN_ENOMEM;
  model->options = *options;
  model->other_document = json_incref(options->other_mode_document);
  if (callbacks)
    model->callbacks = *callbacks;
  model->arg = arg;
  model->training = options->mode && strcmp(options->mode, "train") == 0;
  model->wake = event_new(base, -1, 0, on_wake, model);
  if (!model->wake || pn_serve_metrics_new(&model->metrics) < 0) {
    pn_model_free(model);
    return PN_ENOMEM;
  }

  char *config_path = NULL;
  const char *name = options->config_name ? options->config_name : "cog.yaml";
  int rc = pn_config_find(options->start_dir ? options->start_dir : ".", name, &config_path);
  if (rc == PN_ENOENT) {
    *error = strcmp(name, "cog.yaml") == 0
                 ? pn_strdup("No cog.yaml found in parent directories.")
                 : pn_strfmt("No %s found in parent directories.", name);
    pn_model_free(model);
    return rc;
  }
  if (rc == 0)
    rc = pn_config_load(config_path, &model->config, diags);
  pn_free(config_path);
  if (rc < 0) {
    pn_model_free(model);
    return rc;
  }
  apply_environment(model->config);
  const char *predictor = model->training ? model->config->train : model->config->run;
  if (!predictor) {
    *error = model->training
                 ? pn_strfmt("%s has no 'train' entry: add train: \"train.py:train\"",
                             model->config->path)
                 : pn_strfmt("%s has no 'run' (or 'predict') entry: add run: "
                             "\"predict.py:Predictor\"",
                             model->config->path);
    pn_model_free(model);
    return PN_EINVAL;
  }
  if (model->config->build.gpu && pn_gpu_count() == 0)
    pn_warn("%s asks for a GPU (build.gpu: true) but no NVIDIA GPU is visible here; the "
            "model runs on the CPU if it can",
            model->config->path);
  char *python_dir = pn_worker_python_dir(error);
  if (!python_dir) {
    pn_model_free(model);
    return PN_ENOENT;
  }
  const char *python = options->python;
  if (!python || !*python)
    python = getenv("PINION_PYTHON");
  if (!python || !*python)
    python = "python3";

  int concurrency = options->max_concurrency;
  if (concurrency <= 0) {
    concurrency = (int)pn_env_number("COG_MAX_CONCURRENCY", "prediction slots", 0, 1000000, 0);
  }
  if (concurrency <= 0)
    concurrency = model->config->concurrency_max;

  pn_runner_options runner_options = {
      .worker =
          {
              .python = python,
              .python_dir = python_dir,
              .project_dir = model->config->dir,
              .predictor = predictor,
              .mode = model->training ? "train" : "predict",
              .environment = model->config->environment,
              .environment_count = model->config->environment_count,
              .poll_us = options->poll_us,
          },
      .describe_only = options->describe_only,
      .max_concurrency = concurrency,
      .setup_timeout =
          options->setup_timeout > 0 ? options->setup_timeout : env_seconds("COG_SETUP_TIMEOUT"),
      .restart = options->restart,
      /* How long a canceled prediction may run on before its worker is restarted;
       * the runner's default (5 s) when unset. Tests lower it. */
      .cancel_grace = env_seconds("PINION_CANCEL_GRACE"),
  };
  static const pn_runner_callbacks runner_callbacks = {on_state, on_setup_output,
                                                       on_stray_output};
  rc = pn_runner_start(base, &runner_options, &runner_callbacks, model, &model->runner, error);
  pn_free(python_dir);
  if (rc == 0)
    rc = pn_pool_new(base, POOL_THREADS, &model->pool);
  if (rc < 0) {
    pn_model_free(model);
    return rc;
  }
  *out = model;
  return 0;
}

void pn_model_free(pn_model *model) {
  if (!model)
    return;
  pn_runner_free(model->runner); /* its predictions hand their folders to the pool */
  if (model->wake)
    event_free(model->wake);
  pn_pool_free(model->pool);
  pn_schema_validator_free(model->validator);
  pn_schema_validator_free(model->other_validator);
  json_decref(model->other_document);
  json_decref(model->schema);
  pn_config_free(model->config);
  pn_serve_metrics_free(model->metrics);
  pn_free(model);
}

const pn_config *pn_model_config(const pn_model *model) { return model->config; }
pn_runner *pn_model_runner(const pn_model *model) { return model->runner; }
pn_pool *pn_model_pool(const pn_model *model) { return model->pool; }
const json_t *pn_model_schema(const pn_model *model) { return model->schema; }
const pn_schema_validator *pn_model_validator(const pn_model *model) { return model->validator; }
const pn_schema_validator *pn_model_validator_for(const pn_model *model, int training) {
  if (!training != !model->training && model->other_validator)
    return model->other_validator;
  return model->validator;
}
int pn_model_is_training(const pn_model *model) { return model->training; }
pn_serve_metrics *pn_model_metrics(const pn_model *model) { return model->metrics; }

int pn_model_free_slots(const pn_model *model) {
  return pn_runner_slots(model->runner) - pn_runner_in_flight(model->runner) - model->reserved;
}

int pn_model_reserve(pn_model *model) {
  if (pn_runner_state(model->runner) != PN_RUNNER_READY)
    return PN_ESTATE;
  if (pn_model_free_slots(model) <= 0)
    return PN_EBUSY;
  model->reserved++;
  return 0;
}

void pn_model_release(pn_model *model) {
  if (model->reserved > 0)
    model->reserved--;
}

void pn_model_await_worker(pn_model *model, pn_model_waiter *waiter) {
  pn_model_waiter **at = &model->waiters;
  while (*at)
    at = &(*at)->next;
  waiter->next = NULL;
  *at = waiter;
  if (pn_runner_state(model->runner) != PN_RUNNER_STARTING)
    event_active(model->wake, EV_TIMEOUT, 0);
}

void pn_model_forget_waiter(pn_model *model, pn_model_waiter *waiter) {
  for (pn_model_waiter **at = &model->waiters; *at; at = &(*at)->next) {
    if (*at == waiter) {
      *at = waiter->next;
      waiter->next = NULL;
      return;
    }
  }
}

void pn_model_reload(pn_model *model) {
  pn_schema_validator_free(model->validator);
  model->validator = NULL;
  pn_schema_validator_free(model->other_validator);
  model->other_validator = NULL;
  json_decref(model->schema);
  model->schema = NULL;
  pn_runner_restart(model->runner, "the worker was restarted because the model's code changed");
}
