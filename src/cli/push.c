/* `pinion push --hub URL OWNER/NAME`: publish the model folder as a new version on a
 * pinion hub. The folder (without .git, __pycache__, .pinion and what .dockerignore
 * excludes) is packed into a deterministic tar together with
 * `.cog/openapi_schema.json`, generated here as `pinion schema` does, and sent to
 * `POST /v1/models/OWNER/NAME/versions` as application/x-tar. The hub answers with the
 * version; its id (the tar's sha256) is printed alone on stdout. */
#include "cli/cli.h"
#include "cli/options.h"
#include "cli/schema.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/fs.h"
#include "core/http_client.h"
#include "core/json.h"
#include "core/tar.h"

#include <event2/event.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ignore_list {
  char **patterns;
  size_t count;
} ignore_list;

static void load_dockerignore(ignore_list *list) {
  char *text = NULL;
  size_t length = 0;
  if (pn_fs_read(".dockerignore", 1 << 20, &text, &length) < 0)
    return;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    size_t size = strlen(line);
    while (size && (line[size - 1] == '\r' || line[size - 1] == ' ' || line[size - 1] == '/'))
      line[--size] = '\0';
    while (line[0] == '/' || (line[0] == '.' && line[1] == '/'))
      line += line[0] == '/' ? 1 : 2;
    if (!*line || line[0] == '#' || line[0] == '!')
      continue; /* exceptions ("!") are not supported: they keep nothing back */
    char **grown = pn_realloc(list->patterns, (list->count + 1) * sizeof *grown);
    if (!grown)
      break;
    list->patterns = grown;
    list->patterns[list->count++] = pn_strdup(line);
  }
  pn_free(text);
}

static int skip(const char *relative, int is_dir, void *arg) {
  const ignore_list *list = arg;
  const char *base = strrchr(relative, '/');
  base = base ? base + 1 : relative;
  if (strcmp(base, ".git") == 0 || strcmp(base, "__pycache__") == 0 ||
      strcmp(relative, ".pinion") == 0 || strcmp(relative, ".cog") == 0)
    return 1;
  for (size_t i = 0; i < list->count; i++)
    if (fnmatch(list->patterns[i], relative, FNM_PATHNAME) == 0)
      return 1;
  return 0;
}

typedef struct upload {
  struct event_base *base;
  long status;
  char *body;
  char *error;
} upload;

static void on_response(const pn_http_response *response, void *arg) {
  upload *state = arg;
  state->status = response->ok ? response->status : 0;
  if (!response->ok)
    state->error = pn_strdup(response->error ? response->error : "the request failed");
  else if (response->body && response->body->data)
    state->body = pn_strdup(response->body->data);
  event_base_loopexit(state->base, NULL);
}

static int send_bundle(const char *hub, const char *model, const char *token, int public,
                       const pn_buf *tar, upload *state) {
  size_t hub_length = strlen(hub);
  while (hub_length && hub[hub_length - 1] == '/')
    hub_length--;
  char *url = pn_strfmt("%.*s/v1/models/%s/versions%s", (int)hub_length, hub, model,
                        public ? "?visibility=public" : "");
  char *authorization = pn_strfmt("Authorization: Bearer %s", token);
  const char *headers[] = {"Content-Type: application/x-tar", authorization, NULL};
  state->base = event_base_new();
  pn_http_client *client = NULL;
  int rc = url && authorization && state->base ? pn_http_client_new(state->base, &client) : -1;
  if (rc == 0) {
    pn_http_request request = {.method = "POST",
                               .url = url,
                               .headers = headers,
                               .body = tar->data,
                               .body_length = tar->length,
                               .timeout_ms = 600000};
    rc = pn_http_client_send(client, &request, on_response, state, NULL);
    if (rc == 0)
      event_base_dispatch(state->base);
  }
  pn_http_client_free(client);
  if (state->base)
    event_base_free(state->base);
  pn_free(url);
  pn_free(authorization);
  return rc;
}

static int run_push(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *hub = getenv("PINION_HUB"), *token = getenv("REPLICATE_API_TOKEN");
  const char *model = NULL, *config_name = NULL, *python = NULL, *value = NULL;
  int public = 0;
  while (args.index < argc) {
    int matched;
    if ((matched = pn_cli_flag(&args, "--hub", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      hub = value;
    } else if ((matched = pn_cli_flag(&args, "--token", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      token = value;
    } else if ((matched = pn_cli_flag(&args, "--file", "-f", &value)) != 0) {
      if (matched < 0)
        return 2;
      config_name = value;
    } else if ((matched = pn_cli_flag(&args, "--python", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      python = value;
    } else if (pn_cli_switch(&args, "--public", NULL)) {
      public = 1;
    } else if (argv[args.index][0] != '-' && !model) {
      model = argv[args.index++];
    } else {
      return pn_cli_unknown(&args);
    }
  }
  if (!hub || !model || !strchr(model, '/')) {
    fprintf(stderr, "pinion push: give the hub and the model: pinion push --hub URL "
                    "OWNER/NAME\n");
    return 2;
  }
  if (!token || !*token) {
    fprintf(stderr, "pinion push: no token: pass --token or set REPLICATE_API_TOKEN (create one "
                    "with `pinion hub token create`)\n");
    return 2;
  }
  json_t *schema = NULL;
  if (pn_cli_describe_model(config_name, python, &schema) != 0)
    return 1;
  char *schema_text = pn_json_dump(schema, PN_JSON_PRETTY);
  json_decref(schema);
  ignore_list ignored = {0};
  load_dockerignore(&ignored);
  pn_tar_extra extra = {".cog/openapi_schema.json", schema_text,
                        schema_text ? strlen(schema_text) : 0};
  pn_buf tar;
  pn_buf_init(&tar, (size_t)8 << 30);
  char *error = NULL;
  int rc = schema_text ? pn_tar_pack(".", skip, &ignored, &extra, 1, &tar, &error) : -1;
  for (size_t i = 0; i < ignored.count; i++)
    pn_free(ignored.patterns[i]);
  pn_free(ignored.patterns);
  pn_free(schema_text);
  if (rc < 0) {
    fprintf(stderr, "error: cannot pack the model folder: %s\n", error ? error : "out of memory");
    pn_free(error);
    pn_buf_free(&tar);
    return 1;
  }
  upload state = {0};
  rc = send_bundle(hub, model, token, public, &tar, &state);
  pn_buf_free(&tar);
  json_t *reply = state.body ? json_loads(state.body, 0, NULL) : NULL;
  int exit_code = 0;
  if (rc < 0 || state.error) {
    fprintf(stderr, "error: cannot reach the hub at %s: %s\n", hub,
            state.error ? state.error : "the request could not start");
    exit_code = 1;
  } else if (state.status != 201 && state.status != 200) {
    const char *detail = json_string_value(json_object_get(reply, "detail"));
    fprintf(stderr, "error: the hub refused the push (HTTP %ld): %s\n", state.status,
            detail       ? detail
            : state.body ? state.body
                         : "no detail");
    exit_code = 1;
  } else {
    printf("%s\n", json_string_value(json_object_get(reply, "id")));
  }
  json_decref(reply);
  pn_free(state.body);
  pn_free(state.error);
  return exit_code;
}

const struct pn_cli_command pn_cli_push_command = {
    "push", "Publish the model as a new version on a pinion hub",
    "Usage: pinion push --hub URL OWNER/NAME [FLAGS]\n"
    "\n"
    "Packs the model folder (skipping .git, __pycache__, .pinion and what .dockerignore\n"
    "lists) with its OpenAPI schema and publishes it on the hub as a new version of\n"
    "OWNER/NAME, creating the model when it does not exist (private unless --public).\n"
    "Prints the version id. The same folder always gives the same id.\n"
    "\n"
    "Flags:\n"
    "      --hub URL       The hub (default: $PINION_HUB)\n"
    "      --token TOKEN   An API token of OWNER (default: $REPLICATE_API_TOKEN)\n"
    "      --public        Create the model public\n"
    "  -f, --file NAME     The config file name (default cog.yaml)\n"
    "      --python PATH   The model's Python, to generate its schema\n",
    run_push};
