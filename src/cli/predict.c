/* `pinion predict` (alias `pinion run`): run one prediction of the model in a folder,
 * as `cog predict` / `cog run` do, on the same model-server core as `pinion serve`.
 * The loop: start the worker, check the inputs as soon as the predictor is
 * described (before setup finishes), then run the prediction as a job once READY —
 * the same path `pinion serve` uses, so URL and data: file inputs, logs and outputs
 * behave the same either way — streaming logs and iterator items, then write the
 * output. Ctrl-C cancels the prediction; a
 * second one quits. */
#include "cli/cli.h"
#include "cli/image_cli.h"
#include "cli/inputs.h"
#include "cli/options.h"
#include "cli/outputs.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "serve/inputs.h"
#include "serve/job.h"
#include "serve/model.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_INPUT_PAIRS 1024

typedef struct predict_run {
  struct event_base *base;
  pn_model *model;
  char **pairs;
  size_t pair_count;
  json_t *json_input;
  json_t *input; /* validated, defaults filled */
  pn_cli_input_files input_files; /* private copies of @path inputs */
  pn_http_client *http;
  pn_job *job;
  pn_cli_output output;
  pn_progress progress; /* input downloads, on a terminal */
  int interrupts;
  int exit_code;
  int finished;
} predict_run;

static void finish(predict_run *run, int exit_code) {
  if (run->finished)
    return;
  run->finished = 1;
  run->exit_code = exit_code;
  event_base_loopexit(run->base, NULL);
}

static void print_traceback(const char *traceback) {
  if (traceback && *traceback)
    fprintf(stderr, "%s%s", traceback, traceback[strlen(traceback) - 1] == '\n' ? "" : "\n");
}

static int is_file_item(const pn_prediction *prediction, size_t index) {
  char pointer[32];
  snprintf(pointer, sizeof pointer, "/%zu", index);
  size_t i;
  json_t *entry;
  json_array_foreach(prediction->files, i, entry) {
    if (strcmp(json_string_value(entry), pointer) == 0)
      return 1;
  }
  return 0;
}

static void on_job_event(pn_job *job, enum pn_job_event event, const json_t *detail, void *arg) {
  predict_run *run = arg;
  pn_prediction *prediction = pn_job_prediction(job);
  pn_progress_clear(&run->progress); /* the downloads are over once the job speaks */
  switch (event) {
  case PN_JOB_LOG:
    fwrite(json_string_value(json_object_get(detail, "data")), 1,
           json_string_length(json_object_get(detail, "data")), stderr);
    break;
  case PN_JOB_OUTPUT:
    /* A handler's returned value is printed whole at the end; items stream. */
    if (prediction->is_iterator) {
      size_t index = (size_t)json_integer_value(json_object_get(detail, "index"));
      pn_cli_output_item(&run->output, json_object_get(detail, "chunk"),
                         is_file_item(prediction, index));
    }
    break;
  case PN_JOB_DONE:
    if (run->output.response) {
      if (prediction->status == PN_PREDICTION_FAILED)
        print_traceback(prediction->traceback);
      finish(run, pn_cli_output_response(&run->output, prediction));
    } else if (prediction->status == PN_PREDICTION_SUCCEEDED) {
      finish(run, pn_cli_output_finish(&run->output, prediction));
    } else if (prediction->status == PN_PREDICTION_CANCELED) {
      fprintf(stderr, "Prediction canceled.\n");
      finish(run, 130);
    } else {
      print_traceback(prediction->traceback);
      fprintf(stderr, "error: %s\n", prediction->error ? prediction->error : "prediction failed");
      /* The runner also logs a worker's death for a server's log; the line above has
       * told the user already, so later log lines would only repeat it. */
      if (pn_log_level() > PN_LOG_DEBUG)
        pn_log_set_level(PN_LOG_QUIET);
      finish(run, 1);
    }
    break;
  default:
    break;
  }
}

static void check_inputs(predict_run *run) {
  const pn_schema_validator *validator = pn_model_validator(run->model);
  json_t *input = pn_cli_build_input(validator, run->json_input, run->pairs, run->pair_count,
                                     &run->input_files);
  if (!input) {
    finish(run, 1);
    return;
  }
  json_t *coerced = NULL, *detail = NULL;
  int rc = pn_schema_validate(validator, input, &coerced, &detail);
  json_decref(input);
  if (rc < 0) {
    pn_cli_print_validation(detail);
    json_decref(detail);
    finish(run, 1);
    return;
  }
  run->input = coerced;
}

/* "Downloading NAME 1.2 MiB / 4.0 MiB (30%)" for the input file being fetched. */
static void on_download_progress(const pn_http_progress *progress, void *arg) {
  predict_run *run = arg;
  char *name = pn_inputs_file_name(progress->url);
  char label[160], text[256];
  snprintf(label, sizeof label, "Downloading %s", name ? name : "an input");
  pn_free(name);
  pn_progress_bytes_text(text, sizeof text, label, progress->down_now, progress->down_total);
  pn_progress_set(&run->progress, 0, "%s", text);
}

/* Runs the prediction as a job, exactly as `pinion serve` would, except that file
 * outputs stay local files for the terminal to write out. */
static void submit(predict_run *run) {
  const json_t *output =
      json_object_get(pn_runner_signature(pn_model_runner(run->model)), "output");
  run->output.concatenate = json_is_true(json_object_get(output, "concatenate"));
  char id[40];
  snprintf(id, sizeof id, "pred_%llx", (unsigned long long)pn_clock_realtime_ns());
  pn_job_options options = {.local_files = 1};
  int rc = pn_http_client_new(run->base, &run->http);
  if (rc == 0 && run->progress.shown)
    pn_http_client_on_progress(run->http, on_download_progress, run);
  if (rc == 0)
    rc = pn_job_start(run->model, run->http, id, run->input, NULL, &options, on_job_event, run,
                      &run->job);
  if (rc < 0) {
    fprintf(stderr, "error: could not start the prediction: %s\n", pn_strerror(rc));
    finish(run, 1);
  }
}

static void on_state(pn_model *model, void *arg) {
  predict_run *run = arg;
  if (run->finished)
    return;
  pn_runner *runner = pn_model_runner(model);
  enum pn_runner_state state = pn_runner_state(runner);
  if (!run->input && pn_model_validator(model) && state != PN_RUNNER_SETUP_FAILED) {
    check_inputs(run);
    if (run->finished)
      return;
  }
  if (state == PN_RUNNER_READY && !run->job) {
    submit(run);
  } else if (state == PN_RUNNER_SETUP_FAILED) {
    print_traceback(pn_runner_setup_traceback(runner));
    fprintf(stderr, "error: Model setup failed: %s\n", pn_runner_setup_error(runner));
    finish(run, 1);
  } else if (state == PN_RUNNER_DEFUNCT) {
    fprintf(stderr, "error: the model's worker died and cannot run predictions\n");
    finish(run, 1);
  }
}

static void on_output(pn_model *model, int stream, const char *bytes, size_t length, void *arg) {
  predict_run *run = arg;
  /* Setup may still be printing when the run has already ended (an input refused
   * while setup runs, for one); the user's answer is the error line, so it is last. */
  if (run->finished)
    return;
  fwrite(bytes, 1, length, stderr);
}

static void on_interrupt(evutil_socket_t fd, short what, void *arg) {
  predict_run *run = arg;
  if (++run->interrupts == 1 && run->job && !pn_job_is_done(run->job)) {
    fprintf(stderr, "\nCanceling the prediction (press Ctrl-C again to quit at once)...\n");
    pn_job_cancel(run->job);
    return;
  }
  finish(run, 130);
}

static const char predict_help[] =
    "Usage: pinion predict [FLAGS]\n"
    "\n"
    "Runs one prediction of the model in the current folder (or a parent holding\n"
    "cog.yaml) and prints or writes its output. `pinion run` is the same command.\n"
    "\n"
    "Flags:\n"
    "  -i, --input NAME=VALUE   An input; repeat for more. VALUE is read as the input's\n"
    "                           type; @PATH gives a local file to a file input; repeat a\n"
    "                           list input's name to add elements\n"
    "      --json JSON          All inputs as a JSON object; @FILE reads a file, - or @-\n"
    "                           stdin. Prints Cog's whole response (status, output,\n"
    "                           error, logs, metrics) as JSON; exits 1 unless it succeeded\n"
    "  -o, --output PATH        Where to write the output (default: print it, and write\n"
    "                           files to output.<ext> or output.<n>.<ext>); with --json,\n"
    "                           where to write the response\n"
    "  -e, --env KEY=VALUE      Set an environment variable for the model\n"
    "  -f, --file NAME          The config file name (default cog.yaml)\n"
    "      --python PATH        The model's Python (default: $PINION_PYTHON, else python3)\n"
    "      --setup-timeout SEC  Give up when setup takes longer (default 300, 0 for none)\n"
    "  -q, --quiet         Show no download progress (it shows only on a terminal)\n"
    "      --image IMAGE        Run the prediction in a built image (pinion build) through\n"
    "                           the container engine (--engine docker|podman)\n"
    "\n"
    "Examples:\n"
    "  pinion predict -i prompt=\"a cat\" -i steps=20\n"
    "  pinion predict -i image=@photo.png -o result.png\n"
    "  pinion predict --json '{\"prompt\": \"a cat\"}'\n";

/* predict and train: the same run, with the model's predictor or its train. */
static int run_model(int argc, char **argv, int training) {
  if (pn_cli_has_image_flag(argc, argv))
    return pn_cli_predict_image(argc, argv);
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  char *pairs[MAX_INPUT_PAIRS];
  size_t pair_count = 0;
  /* Cog's train writes its output to ./weights unless -o says otherwise. */
  const char *json_argument = NULL, *output_path = training ? "weights" : NULL;
  const char *config_name = NULL, *python = NULL;
  const char *value = NULL;
  double setup_timeout = 300;
  int quiet = 0;
  const pn_cli_text_flag text_flags[] = {
      {"--json", NULL, &json_argument},
      {"--output", "-o", &output_path},
      {"--file", "-f", &config_name},
      {"--python", NULL, &python},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    int matched;
    if ((matched = pn_cli_flag(&args, "--input", "-i", &value)) != 0) {
      if (matched < 0)
        return 2;
      if (pair_count == MAX_INPUT_PAIRS) {
        fprintf(stderr, "pinion %s: at most %d inputs\n", argv[0], MAX_INPUT_PAIRS);
        return 2;
      }
      pairs[pair_count++] = (char *)value;
    } else if ((matched = pn_cli_flag(&args, "--env", "-e", &value)) != 0) {
      if (matched < 0)
        return 2;
      const char *equals = strchr(value, '=');
      if (!equals || equals == value) {
        fprintf(stderr, "pinion %s: -e takes KEY=VALUE, got \"%s\"\n", argv[0], value);
        return 2;
      }
      char *key = pn_strndup(value, (size_t)(equals - value));
      setenv(key, equals + 1, 1);
      pn_free(key);
    } else if ((matched = pn_cli_flag(&args, "--setup-timeout", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      char *end = NULL;
      setup_timeout = strtod(value, &end);
      if (!end || *end || setup_timeout < 0) {
        fprintf(stderr, "pinion %s: --setup-timeout takes seconds, got \"%s\"\n", argv[0], value);
        return 2;
      }
    } else if (pn_cli_switch(&args, "--quiet", "-q")) {
      quiet = 1;
    } else {
      return pn_cli_unknown(&args);
    }
  }
  if (more < 0)
    return 2;

  predict_run run = {0};
  pn_progress_init(&run.progress, pn_progress_wanted(quiet));
  run.pairs = pairs;
  run.pair_count = pair_count;
  run.output.path = output_path;
  run.output.response = json_argument != NULL;
  run.output.stream_items = isatty(STDOUT_FILENO);
  if (json_argument && !(run.json_input = pn_cli_read_json_input(json_argument)))
    return 1;
  run.base = event_base_new();
  if (!run.base) {
    fprintf(stderr, "error: could not start the event loop\n");
    return 1;
  }
  pn_model_options options = {
      .config_name = config_name,
      .python = python,
      .setup_timeout = setup_timeout,
      .mode = training ? "train" : "predict",
  };
  static const pn_model_callbacks callbacks = {on_state, on_output, on_output};
  pn_diag_list diags;
  pn_diag_list_init(&diags);
  char *error = NULL;
  struct event *interrupt = evsignal_new(run.base, SIGINT, on_interrupt, &run);
  event_add(interrupt, NULL);
  signal(SIGPIPE, SIG_IGN);
  int rc = pn_model_open(run.base, &options, &callbacks, &run, &run.model, &diags, &error);
  pn_diag_print(&diags, stderr);
  if (rc < 0) {
    if (error)
      fprintf(stderr, "error: %s\n", error);
    pn_free(error);
    pn_diag_list_free(&diags);
    event_free(interrupt);
    event_base_free(run.base);
    json_decref(run.json_input);
    return 1;
  }
  pn_diag_list_free(&diags);
  if (!run.finished)
    event_base_dispatch(run.base);
  if (run.job) {
    pn_job_detach(run.job);
    pn_job_unref(run.job);
  }
  pn_model_free(run.model);
  if (run.http)
    pn_http_client_free(run.http);
  event_free(interrupt);
  event_base_free(run.base);
  json_decref(run.json_input);
  json_decref(run.input);
  pn_cli_input_files_remove(&run.input_files);
  fflush(stdout);
  return run.exit_code;
}

static int run_predict(int argc, char **argv) { return run_model(argc, argv, 0); }

const struct pn_cli_command pn_cli_predict_command = {
    "predict", "Run a prediction of the model in this folder", predict_help, run_predict};

static const char train_help[] =
    "Usage: pinion train [FLAGS]\n"
    "\n"
    "Runs the model's training (cog.yaml's train:) once, as Cog's deprecated `cog train`\n"
    "does, and writes its output to ./weights (or -o PATH). Takes the flags of\n"
    "`pinion predict`; the inputs are the training's (`pinion schema` shows them as\n"
    "TrainingInput). On a hub, create a training through the API instead.\n"
    "\n"
    "Examples:\n"
    "  pinion train -i epochs=3\n"
    "  pinion train --json '{\"epochs\": 3}' -o trained.json\n";

/* Cog hides and deprecates `cog train` but people use it: pinion runs it, and says
 * what Cog says first (the same words, on stderr, before anything can fail). */
static int run_train(int argc, char **argv) {
  fprintf(stderr, "Command \"train\" is deprecated, the train command will be removed in a "
                  "future version of Cog\n");
  return run_model(argc, argv, 1);
}

const struct pn_cli_command pn_cli_train_command = {
    "train", "Run the model's training (Cog's deprecated `cog train`)", train_help, run_train};
/* `pinion run` is `predict` as Cog 0.20+ names it, and `pinion run -- CMD` is Cog
 * 0.9's `cog run CMD`: a command in the model's environment (`pinion exec`). */
static int run_run(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--") == 0)
    return pn_cli_exec_command.run(argc, argv);
  return run_model(argc, argv, 0);
}

const struct pn_cli_command pn_cli_run_command = {
    "run", "Run a prediction (as predict); `run -- CMD` runs a command (as exec)",
    predict_help, run_run};
