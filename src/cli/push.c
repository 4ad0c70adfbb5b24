/* `pinion push`: publish a model. With --hub (or PINION_HUB), as a new version on a
 * pinion hub: the model folder packed with its OpenAPI schema, then the model's
 * description (--description) and the folder's README.md. Otherwise, as `cog
 * push` does: the model's image to an OCI registry with the engine's own push (and the
 * credentials of its login), built first when run in a model folder. */
#include "cli/cli.h"
#include "cli/image_cli.h"
#include "cli/options.h"
#include "cli/push.h"
#include "cli/schema.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/http_client.h"
#include "core/json.h"
#include "core/progress.h"
#include "core/tar.h"
#include "image/image.h"

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

/* The most of the hub's answer kept: a version document is a few KiB plus its schema.
 * Whatever answers at the hub's URL may be something else, so its answer is untrusted. */
#define REPLY_MAX ((size_t)16 << 20)

typedef struct upload {
  pn_progress *progress; /* bytes sent, on a terminal; or NULL */
  struct event_base *base;
  long status;
  char *body; /* the answer's bytes (NUL-terminated; may hold NULs), pn_malloc'd */
  size_t body_length;
  char *error;
} upload;

static void on_response(const pn_http_response *response, void *arg) {
  upload *state = arg;
  state->status = response->ok ? response->status : 0;
  if (!response->ok) {
    state->error = pn_strdup(response->error ? response->error : "the request failed");
  } else if (response->body && response->body->data) {
    state->body = pn_strndup(response->body->data, response->body->length);
    state->body_length = state->body ? response->body->length : 0;
  }
  event_base_loopexit(state->base, NULL);
}

static void on_upload_progress(const pn_http_progress *progress, void *arg) {
  upload *state = arg;
  char text[128];
  pn_progress_bytes_text(text, sizeof text, "Uploading", progress->up_now, progress->up_total);
  pn_progress_set(state->progress, 0, "%s", text);
}

/* Sends one request to the hub's `path` (under its origin) and waits for the answer
 * in `state` (whose body and error the caller frees); with state->progress, shows the
 * bytes sent. */
static int hub_request(const char *hub, const char *method, const char *path, const char *token,
                       const char *content_type, const pn_buf *body, upload *state) {
  size_t hub_length = strlen(hub);
  while (hub_length && hub[hub_length - 1] == '/')
    hub_length--;
  char *url = pn_strfmt("%.*s%s", (int)hub_length, hub, path);
  char *authorization = pn_strfmt("Authorization: Bearer %s", token);
  char *type_header = pn_strfmt("Content-Type: %s", content_type);
  const char *headers[] = {type_header, authorization, NULL};
  state->base = event_base_new();
  pn_http_client *client = NULL;
  int rc = url && authorization && state->base ? pn_http_client_new(state->base, &client) : -1;
  if (rc == 0 && state->progress && state->progress->shown)
    pn_http_client_on_progress(client, on_upload_progress, state);
  if (rc == 0) {
    pn_http_request request = {.method = method,
                               .url = url,
                               .headers = headers,
                               .body = body->data,
                               .body_length = body->length,
                               .max_response = REPLY_MAX,
                               .timeout_ms = 600000};
    rc = pn_http_client_send(client, &request, on_response, state, NULL);
    if (rc == 0)
      event_base_dispatch(state->base);
  }
  if (state->progress)
    pn_progress_clear(state->progress);
  pn_http_client_free(client);
  if (state->base)
    event_base_free(state->base);
  pn_free(url);
  pn_free(authorization);
  pn_free(type_header);
  return rc;
}

/* POSTs a new version to the hub: a tar bundle (with `gpu`, its cog.yaml's build.gpu, in
 * the query), or JSON describing an image. */
static int send_version(const char *hub, const char *model, const char *token, int public,
                        int gpu, const char *content_type, const pn_buf *body, upload *state) {
  char *path = pn_strfmt("/v1/models/%s/versions?gpu=%s%s", model, gpu ? "true" : "false",
                         public ? "&visibility=public" : "");
  int rc = path ? hub_request(hub, "POST", path, token, content_type, body, state) : PN_ENOMEM;
  pn_free(path);
  return rc;
}

#define README_MAX ((size_t)256 << 10)

/* The model's details after a push: `description` when given, and the folder's
 * README.md when there is one (at most README_MAX bytes), set with PATCH. Returns 0,
 * or 1 after saying on stderr what went wrong. */
static int send_details(const char *hub, const char *model, const char *token,
                        const char *description, int with_readme) {
  json_t *details = json_object();
  if (description)
    json_object_set_new(details, "description", json_string(description));
  char *readme = NULL;
  size_t readme_length = 0;
  int rc = with_readme ? pn_fs_read("README.md", README_MAX, &readme, &readme_length) : PN_ENOENT;
  if (rc == PN_ETOOBIG) {
    fprintf(stderr, "error: README.md is over %zu KiB; shorten it to publish it with the "
                    "model\n",
            README_MAX >> 10);
    json_decref(details);
    return 1;
  }
  if (rc == 0)
    json_object_set_new(details, "readme", json_stringn(readme, readme_length));
  pn_free(readme);
  if (json_object_size(details) == 0) {
    json_decref(details);
    return 0;
  }
  char *text = json_dumps(details, JSON_COMPACT);
  json_decref(details);
  char *path = pn_strfmt("/v1/models/%s", model);
  pn_buf body;
  pn_buf_init(&body, README_MAX * 7); /* JSON escapes grow text at most sixfold */
  int ready = text && path && pn_buf_append_str(&body, text) == 0;
  free(text);
  upload state = {0};
  rc = ready ? hub_request(hub, "PATCH", path, token, "application/json", &body, &state)
             : PN_ENOMEM;
  pn_free(path);
  pn_buf_free(&body);
  int failed = rc < 0 || state.error || state.status != 200;
  if (failed) {
    json_t *reply = state.body ? json_loads(state.body, 0, NULL) : NULL;
    const char *detail = json_string_value(json_object_get(reply, "detail"));
    fprintf(stderr, "error: the version is published, but the hub refused the model's "
                    "description and README (HTTP %ld): %s\n",
            state.status, detail ? detail : state.error ? state.error : "no detail");
    json_decref(reply);
  }
  pn_free(state.body);
  pn_free(state.error);
  return failed;
}

/* An image version: its reference, its schema label and its image id, as JSON. */
static int image_version_body(const char *image, pn_buf *body) {
  pn_image_engine engine;
  if (pn_cli_engine(NULL, &engine) < 0 || pn_image_ensure(&engine, image) < 0)
    return -1;
  json_t *labels = NULL;
  if (pn_image_labels(&engine, image, &labels) < 0) {
    fprintf(stderr, "error: cannot read the labels of %s\n", image);
    return -1;
  }
  const char *schema_text = json_string_value(json_object_get(labels, "run.cog.openapi_schema"));
  if (!schema_text)
    schema_text = json_string_value(json_object_get(labels, "org.cogmodel.openapi_schema"));
  json_t *schema = schema_text ? json_loads(schema_text, 0, NULL) : NULL;
  if (!schema) {
    fprintf(stderr, "error: %s has no run.cog.openapi_schema label: build it with `pinion build` "
                    "(or `cog build`)\n",
            image);
    json_decref(labels);
    return -1;
  }
  /* Whether the model needs a GPU: Cog's build.gpu, in the run.cog.config label. */
  json_t *config = json_loads(json_string_value(json_object_get(labels, "run.cog.config"))
                                  ? json_string_value(json_object_get(labels, "run.cog.config"))
                                  : "{}",
                              0, NULL);
  int gpu = json_is_true(json_object_get(json_object_get(config, "build"), "gpu"));
  json_decref(config);
  json_t *document = json_pack("{s:s, s:o, s:b}", "image", image, "openapi_schema", schema,
                               "gpu", gpu);
  int rc = document ? pn_json_write(document, PN_JSON_COMPACT, body) : -1;
  json_decref(document);
  json_decref(labels);
  return rc < 0 ? -1 : 0;
}

/* The model folder as a deterministic tar with its schema at .cog/openapi_schema.json;
 * *gpu is its cog.yaml's build.gpu. */
static int pack_folder(const char *config_name, const char *python, pn_buf *tar, int *gpu) {
  pn_config *config = pn_cli_load_config(config_name, 1);
  *gpu = config && config->build.gpu;
  pn_config_free(config);
  json_t *schema = NULL;
  if (pn_cli_describe_model(config_name, python, &schema) != 0)
    return -1;
  char *schema_text = pn_json_dump(schema, PN_JSON_PRETTY);
  json_decref(schema);
  ignore_list ignored = {0};
  load_dockerignore(&ignored);
  pn_tar_extra extra = {".cog/openapi_schema.json", schema_text,
                        schema_text ? strlen(schema_text) : 0};
  char *error = NULL;
  int rc = schema_text ? pn_tar_pack(".", skip, &ignored, &extra, 1, tar, &error) : -1;
  for (size_t i = 0; i < ignored.count; i++)
    pn_free(ignored.patterns[i]);
  pn_free(ignored.patterns);
  pn_free(schema_text);
  if (rc < 0) {
    fprintf(stderr, "error: cannot pack the model folder: %s\n", error ? error : "out of memory");
    pn_free(error);
    return -1;
  }
  return 0;
}

/* `length` bytes of `text` as one printable line of at most PN_CLI_PUSH_SHOWN_MAX
 * bytes, pn_malloc'd. */
static char *shown(const char *text, size_t length) {
  size_t kept = length < PN_CLI_PUSH_SHOWN_MAX ? length : PN_CLI_PUSH_SHOWN_MAX;
  char *line = pn_strndup(text, kept);
  for (size_t i = 0; line && i < kept; i++)
    if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
      line[i] = '?';
  return line;
}

static int is_version_id(const char *id) {
  size_t length = id ? strlen(id) : 0;
  if (length == 0 || length > 256)
    return 0;
  for (size_t i = 0; i < length; i++)
    if (id[i] <= ' ' || id[i] > '~')
      return 0;
  return 1;
}

int pn_cli_push_reply(const char *hub, long status, const char *body, size_t length, char **id,
                      char **problem) {
  *id = NULL;
  *problem = NULL;
  json_error_t error;
  json_t *reply = body && length ? json_loadb(body, length, 0, &error) : NULL;
  const char *found = json_string_value(json_object_get(reply, "id"));
  if (status != 201 && status != 200) {
    json_t *detail = json_object_get(reply, "detail");
    char *text = json_is_string(detail) ? shown(json_string_value(detail), json_string_length(detail))
                 : body && length       ? shown(body, length)
                                        : pn_strdup("no detail");
    *problem = text ? pn_strfmt("the hub at %s refused the push (HTTP %ld): %s", hub, status, text)
                    : NULL;
    pn_free(text);
  } else if (!reply) {
    /* jansson's message quotes the bytes where parsing stopped: shown like the body. */
    char *why = body && length ? shown(error.text, strlen(error.text)) : pn_strdup("an empty body");
    *problem = why ? pn_strfmt("the server at %s answered HTTP %ld but not with JSON (%s); is %s "
                               "a pinion hub? Check --hub or PINION_HUB",
                               hub, status, why, hub)
                   : NULL;
    pn_free(why);
  } else if (!is_version_id(found)) {
    *problem = pn_strfmt("the server at %s answered HTTP %ld without the new version's \"id\" "
                         "(a string of printable characters); is %s a pinion hub? Check --hub "
                         "or PINION_HUB",
                         hub, status, hub);
  } else {
    *id = pn_strdup(found);
  }
  json_decref(reply);
  if (*id)
    return 0;
  return *problem ? PN_EINVAL : PN_ENOMEM;
}

/* Prints the version id the hub answered, or what was wrong with the answer. Returns the
 * exit code. */
static int report_version(const char *hub, const upload *state) {
  char *id = NULL, *problem = NULL;
  int rc = pn_cli_push_reply(hub, state->status, state->body, state->body_length, &id, &problem);
  if (rc == 0)
    printf("%s\n", id);
  else
    fprintf(stderr, "error: %s\n", problem ? problem : pn_strerror(rc));
  pn_free(id);
  pn_free(problem);
  return rc == 0 ? 0 : 1;
}

static int run_push_to_hub(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *hub = getenv("PINION_HUB"), *token = getenv("REPLICATE_API_TOKEN");
  const char *model = NULL, *config_name = NULL, *python = NULL, *image = NULL;
  const char *description = NULL;
  int public = 0, quiet = 0;
  const pn_cli_text_flag text_flags[] = {
      {"--hub", NULL, &hub},
      {"--description", NULL, &description},
      {"--token", NULL, &token},
      {"--file", "-f", &config_name},
      {"--python", NULL, &python},
      {"--image", NULL, &image},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    if (pn_cli_switch(&args, "--public", NULL)) {
      public = 1;
    } else if (pn_cli_switch(&args, "--quiet", "-q")) {
      quiet = 1;
    } else if (argv[args.index][0] != '-' && !model) {
      model = argv[args.index++];
    } else {
      return pn_cli_unknown(&args);
    }
  }
  if (more < 0)
    return 2;
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
  pn_buf body;
  pn_buf_init(&body, (size_t)8 << 30);
  const char *content_type = "application/x-tar";
  int rc, gpu = 0;
  if (image) {
    content_type = "application/json";
    rc = image_version_body(image, &body);
  } else {
    rc = pack_folder(config_name, python, &body, &gpu);
  }
  if (rc < 0) {
    pn_buf_free(&body);
    return 1;
  }
  pn_progress progress;
  pn_progress_init(&progress, pn_progress_wanted(quiet));
  upload state = {.progress = &progress};
  rc = send_version(hub, model, token, public, gpu, content_type, &body, &state);
  pn_buf_free(&body);
  int exit_code = 1;
  if (rc < 0 || state.error)
    fprintf(stderr, "error: cannot reach the hub at %s: %s\n", hub,
            state.error ? state.error : "the request could not start");
  else if ((exit_code = report_version(hub, &state)) == 0)
    exit_code = send_details(hub, model, token, description, !image);
  pn_free(state.body);
  pn_free(state.error);
  return exit_code;
}


static int run_push_to_registry(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *engine_name = NULL, *image = NULL, *base_image = NULL;
  int no_build = 0, plain = 0, quiet = 0;
  const pn_cli_text_flag text_flags[] = {
      {"--engine", NULL, &engine_name},
      {"--base-image", NULL, &base_image},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    if (pn_cli_switch(&args, "--no-build", NULL)) {
      no_build = 1;
    } else if (pn_cli_switch(&args, "--progress=plain", NULL)) {
      plain = 1;
    } else if (pn_cli_switch(&args, "--quiet", "-q")) {
      quiet = 1;
    } else if (argv[args.index][0] != '-' && !image) {
      image = argv[args.index++];
    } else {
      return pn_cli_unknown(&args);
    }
  }
  if (more < 0)
    return 2;
  pn_config *config = no_build && image ? NULL : pn_cli_load_config(NULL, image != NULL);
  if (!image && !config)
    return 1;
  pn_image_engine engine;
  if (pn_cli_engine(engine_name, &engine) < 0) {
    pn_config_free(config);
    return 1;
  }
  char *tag = image ? pn_strdup(image) : pn_cli_image_tag(config);
  int exit_code = tag ? 0 : 1;
  if (exit_code == 0 && config && !no_build)
    exit_code = pn_cli_build_image(&engine, config, tag, base_image, plain);
  if (exit_code == 0)
    exit_code = pn_image_push(&engine, tag, quiet) == 0 ? 0 : 1;
  pn_free(tag);
  pn_config_free(config);
  return exit_code;
}

/* Hub mode when a hub is named, registry mode otherwise: the two never mix. */
static int run_push(int argc, char **argv) {
  const char *hub = getenv("PINION_HUB");
  int to_hub = hub && *hub;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--hub") == 0 || strncmp(argv[i], "--hub=", 6) == 0)
      to_hub = 1;
  return to_hub ? run_push_to_hub(argc, argv) : run_push_to_registry(argc, argv);
}

const struct pn_cli_command pn_cli_push_command = {
    "push", "Publish the model: to a pinion hub, or its image to a registry",
    "Usage: pinion push --hub URL OWNER/NAME [FLAGS]\n"
    "\n"
    "Packs the model folder (skipping .git, __pycache__, .pinion and what .dockerignore\n"
    "lists) with its OpenAPI schema and publishes it on the hub as a new version of\n"
    "OWNER/NAME, creating the model when it does not exist (private unless --public).\n"
    "Prints the version id. The same folder always gives the same id. The folder's\n"
    "README.md (up to 256 KiB) becomes the model's README on the hub.\n"
    "\n"
    "Flags:\n"
    "      --hub URL       The hub (default: $PINION_HUB)\n"
    "      --token TOKEN   An API token of OWNER (default: $REPLICATE_API_TOKEN)\n"
    "      --public        Create the model public\n"
    "  -q, --quiet         Show no upload progress (it shows only on a terminal)\n"
    "      --description TEXT  Set the model's one-line description\n"
    "      --image TAG     Publish this built image (its schema label) instead of the folder\n"
    "  -f, --file NAME     The config file name (default cog.yaml)\n"
    "      --python PATH   The model's Python, to generate its schema\n"
    "\n"
    "Without --hub (and PINION_HUB):\n"
    "\n"
    "       pinion push [IMAGE] [FLAGS]\n"
    "\n"
    "Pushes IMAGE (default: cog.yaml's image) to its registry with the engine's push,\n"
    "using the engine's login (`podman login`, `docker login`). In a model folder the\n"
    "image is built first, as `cog push` does. Registries on this machine (localhost,\n"
    "127.0.0.1) are reached over plain HTTP. On a terminal one line shows the layers\n"
    "pushed so far; otherwise a line per layer.\n"
    "\n"
    "Flags:\n"
    "      --no-build           Push the image as it is\n"
    "  -q, --quiet              Show no progress, only errors and the result\n"
    "      --base-image REF     As for pinion build\n"
    "      --engine NAME        docker, podman or buildah\n",
    run_push};
