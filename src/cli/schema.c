/* `pinion schema`: print the model's OpenAPI document. The worker imports the
 * predictor and describes it, without running setup(); when cog.yaml has both `run`
 * and `train`, both are described and the documents merged as Cog does. */
#include "cli/cli.h"
#include "cli/options.h"
#include "cli/schema.h"
#include "core/alloc.h"
#include "config/config.h"
#include "core/diag.h"
#include "core/json.h"
#include "schema/openapi.h"
#include "serve/model.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

typedef struct schema_run {
  struct event_base *base;
  int failed;
} schema_run;

static void on_state(pn_model *model, void *arg) {
  schema_run *run = arg;
  enum pn_runner_state state = pn_runner_state(pn_model_runner(model));
  if (state == PN_RUNNER_DESCRIBED || state == PN_RUNNER_SETUP_FAILED) {
    run->failed = state == PN_RUNNER_SETUP_FAILED;
    event_base_loopexit(run->base, NULL);
  }
}

static void on_output(pn_model *model, int stream, const char *bytes, size_t length, void *arg) {
  fwrite(bytes, 1, length, stderr);
}

/* Describes one mode; returns a new reference to its document or NULL after printing
 * why not. `has_train` tells whether cog.yaml has a train entry. */
static json_t *describe(const char *mode, const char *config_name, const char *python,
                        int *has_train) {
  schema_run run = {event_base_new(), 0};
  pn_model_options options = {
      .config_name = config_name, .python = python, .mode = mode, .describe_only = 1};
  static const pn_model_callbacks callbacks = {on_state, on_output, on_output};
  pn_diag_list diags;
  pn_diag_list_init(&diags);
  pn_model *model = NULL;
  char *error = NULL;
  json_t *document = NULL;
  int rc = pn_model_open(run.base, &options, &callbacks, &run, &model, &diags, &error);
  pn_diag_print(&diags, stderr);
  pn_diag_list_free(&diags);
  if (rc < 0) {
    if (error)
      fprintf(stderr, "error: %s\n", error);
  } else {
    event_base_dispatch(run.base);
    pn_runner *runner = pn_model_runner(model);
    if (run.failed) {
      const char *traceback = pn_runner_setup_traceback(runner);
      if (traceback)
        fputs(traceback, stderr);
      fprintf(stderr, "error: %s\n", pn_runner_setup_error(runner));
    } else if (pn_model_schema(model)) {
      document = json_incref((json_t *)pn_model_schema(model));
    }
    *has_train = pn_model_config(model)->train != NULL;
  }
  pn_free(error);
  pn_model_free(model);
  event_base_free(run.base);
  return document;
}

int pn_cli_describe_model(const char *config_name, const char *python, json_t **out) {
  *out = NULL;
  int has_train = 0;
  json_t *document = describe("predict", config_name, python, &has_train);
  if (!document)
    return 1;
  if (has_train) {
    int unused = 0;
    json_t *training = describe("train", config_name, python, &unused);
    json_t *merged = NULL;
    if (!training || pn_schema_merge(document, training, &merged) < 0) {
      json_decref(training);
      json_decref(document);
      return 1;
    }
    json_decref(training);
    json_decref(document);
    document = merged;
  }
  *out = document;
  return 0;
}

json_t *pn_cli_describe_other_mode(const char *mode, const char *config_name, const char *python) {
  char *path = NULL;
  pn_config *config = NULL;
  pn_diag_list diags;
  pn_diag_list_init(&diags);
  int both = pn_config_find(".", config_name ? config_name : "cog.yaml", &path) == 0 &&
             pn_config_load(path, &config, &diags) == 0 && config->run && config->train;
  pn_diag_list_free(&diags); /* the server loads cog.yaml itself and reports its problems */
  pn_config_free(config);
  pn_free(path);
  if (!both)
    return NULL;
  int unused = 0;
  return describe(mode && strcmp(mode, "train") == 0 ? "predict" : "train", config_name, python,
                  &unused);
}

static int run_schema(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *config_name = NULL, *python = NULL;
  const pn_cli_text_flag text_flags[] = {
      {"--file", "-f", &config_name},
      {"--python", NULL, &python},
      {NULL, NULL, NULL},
  };
  int more = pn_cli_next(&args, text_flags);
  if (more > 0)
    return pn_cli_unknown(&args);
  if (more < 0)
    return 2;
  json_t *document = NULL;
  if (pn_cli_describe_model(config_name, python, &document) != 0)
    return 1;
  char *text = pn_json_dump(document, PN_JSON_PRETTY);
  json_decref(document);
  if (!text)
    return 1;
  printf("%s\n", text);
  pn_free(text);
  return 0;
}

const struct pn_cli_command pn_cli_schema_command = {
    "schema", "Print the model's OpenAPI schema",
    "Usage: pinion schema [FLAGS]\n"
    "\n"
    "Prints the OpenAPI document of the model in the current folder (or a parent\n"
    "holding cog.yaml): the same document `pinion serve` answers at /openapi.json and\n"
    "that images carry in their run.cog.openapi_schema label. The predictor is\n"
    "imported but setup() does not run.\n"
    "\n"
    "Flags:\n"
    "  -f, --file NAME     The config file name (default cog.yaml)\n"
    "      --python PATH   The model's Python (default: $PINION_PYTHON, else python3)\n",
    run_schema};
