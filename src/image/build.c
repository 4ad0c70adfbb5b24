/* `pinion build`: a model folder to a labelled Cog image. The steps are Cog's: write
 * the Dockerfile (dockerfile.c), have the engine build it with pinion's source as an
 * extra build context, run the built image once to generate its OpenAPI schema and
 * `pip freeze` from the image itself, then add the labels (spec §7.3) and
 * /src/.cog/openapi_schema.json in a small build on top, so labels that change every
 * time (created, revision) never invalidate a cached layer. Weight files go in layers of their own: the ignore
 * file handed to the engine is the project's .dockerignore plus those files. On a base
 * made by `pinion base build`, pinion's runtime compiles in the base's builder image, so
 * that the build needs no network (see docs/internals/image.md). */
#include "image/image.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/version.h"
#include "image/build_trouble.h"
#include "image/dockerfile.h"

#include <fnmatch.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_WEIGHT_FILES 1024
#define SCHEMA_MARKER "--- pinion: pip freeze ---"

typedef struct weight_list {
  char *files[MAX_WEIGHT_FILES];
  char *targets[MAX_WEIGHT_FILES];
  size_t count;
  char *ignore; /* the project's .dockerignore, or NULL */
  const char *root;
  long threshold;
} weight_list;

static weight_list *scanning; /* nftw has no user argument */

/* Whether `path` (relative) is excluded by a .dockerignore pattern (whole-line
 * patterns; a pattern naming a folder means everything in it; "!" lines ignored). */
static int ignored(const char *ignore, const char *path) {
  for (const char *line = ignore; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t length = end ? (size_t)(end - line) : strlen(line);
    char pattern[1024];
    if (length && length < sizeof pattern && line[0] != '#' && line[0] != '!') {
      memcpy(pattern, line, length);
      pattern[length] = '\0';
      while (length && (pattern[length - 1] == '/' || pattern[length - 1] == '\r' ||
                        pattern[length - 1] == ' '))
        pattern[--length] = '\0';
      const char *p = pattern[0] == '/' ? pattern + 1 : pattern;
      size_t p_length = strlen(p);
      if (*p && (fnmatch(p, path, FNM_PATHNAME) == 0 ||
                 (strncmp(path, p, p_length) == 0 && path[p_length] == '/')))
        return 1;
    }
    line = end ? end + 1 : NULL;
  }
  return 0;
}

static void add_weight(weight_list *weights, const char *file, const char *target) {
  for (size_t i = 0; i < weights->count; i++)
    if (strcmp(weights->files[i], file) == 0)
      return;
  if (weights->count == MAX_WEIGHT_FILES)
    return;
  weights->files[weights->count] = pn_strdup(file);
  weights->targets[weights->count] = target ? pn_strdup(target) : NULL;
  if (weights->files[weights->count])
    weights->count++;
}

static int visit(const char *path, const struct stat *info, int type, struct FTW *where) {
  const char *relative = path + strlen(scanning->root);
  while (*relative == '/')
    relative++;
  if (type == FTW_D && strcmp(relative, ".git") == 0)
    return FTW_SKIP_SUBTREE;
  if (type == FTW_F && info->st_size >= scanning->threshold &&
      !(scanning->ignore && ignored(scanning->ignore, relative)))
    add_weight(scanning, relative, NULL);
  return FTW_CONTINUE;
}

/* Declared weights with a local source (file:// or a relative path) and project files
 * over the threshold. */
static void find_weights(const pn_config *config, weight_list *weights) {
  for (size_t w = 0; w < config->weights_count; w++) {
    for (size_t s = 0; s < config->weights[w].source_count; s++) {
      const char *uri = config->weights[w].sources[s].uri;
      if (strncmp(uri, "file://", 7) == 0)
        uri += 7;
      else if (strstr(uri, "://"))
        continue; /* hf:// and https:// weights are mounted at run time (spec §1.5) */
      if (uri[0] == '.' && uri[1] == '/')
        uri += 2;
      if (uri[0] != '/')
        add_weight(weights, uri, config->weights[w].target);
    }
  }
  weights->threshold = (long)pn_env_number("PINION_WEIGHTS_THRESHOLD", "bytes", 1,
                                           1125899906842624.0 /* 1 PiB */,
                                           PN_IMAGE_WEIGHT_THRESHOLD);
  weights->root = config->dir;
  scanning = weights;
  nftw(config->dir, visit, 32, FTW_PHYS | FTW_ACTIONRETVAL);
  scanning = NULL;
}

static void free_weights(weight_list *weights) {
  for (size_t i = 0; i < weights->count; i++) {
    pn_free(weights->files[i]);
    pn_free(weights->targets[i]);
  }
  pn_free(weights->ignore);
}

static char *read_project_file(const pn_config *config, const char *name) {
  char *path = pn_fs_join(config->dir, name);
  char *text = NULL;
  if (path)
    pn_fs_read(path, 16 * 1024 * 1024, &text, NULL);
  pn_free(path);
  return text;
}

/* The plan and the weights of a project; the caller frees both. */
static int plan_project(const pn_config *config, const char *base_image,
                        const char *builder_image, weight_list *weights, pn_image_plan *plan,
                        char **error) {
  memset(weights, 0, sizeof *weights);
  weights->ignore = read_project_file(config, ".dockerignore");
  find_weights(config, weights);
  /* The GPU stack follows the torch/tensorflow pins of either form of requirements. */
  char *requirements = NULL;
  if (config->build.python_requirements) {
    requirements = read_project_file(config, config->build.python_requirements);
  } else if (config->build.python_packages_count) {
    pn_buf packages;
    pn_buf_init(&packages, 1 << 20);
    for (size_t i = 0; i < config->build.python_packages_count; i++)
      pn_buf_appendf(&packages, "%s\n", config->build.python_packages[i]);
    requirements = pn_buf_take(&packages);
  }
  pn_image_dockerfile_options options = {
      .base_image = base_image,
      .builder_image = builder_image,
      .requirements = requirements,
      .weight_files = weights->files,
      .weight_targets = weights->targets,
      .weight_file_count = weights->count,
  };
  int rc = pn_image_dockerfile(config, &options, plan, error);
  pn_free(requirements);
  return rc;
}

int pn_image_project_dockerfile(const pn_config *config, const char *base_image,
                                const char *builder_image, char **dockerfile, char **error) {
  weight_list weights;
  pn_image_plan plan;
  int rc = plan_project(config, base_image, builder_image, &weights, &plan, error);
  free_weights(&weights);
  *dockerfile = rc == 0 ? pn_strdup(plan.dockerfile) : NULL;
  pn_image_plan_free(&plan);
  return rc == 0 && !*dockerfile ? PN_ENOMEM : rc;
}

/* Where pinion's source lies beside the binary: <prefix>/lib/pinion/source. */
static char *source_dir(void) {
  char *dir = pn_strfmt("%s/../lib/pinion/source", pn_fs_self_dir());
  if (dir && pn_fs_is_dir(dir))
    return dir;
  pn_free(dir);
  return NULL;
}

/* The tidy view: step lines from the engine as they come; everything else is kept
 * (the last lines) to show when the build fails. On a terminal a status line under
 * the steps shows the step, the time, the layers done and the engine's latest line,
 * redrawn in place (core/progress.h). */
typedef struct progress {
  int plain;
  int quiet; /* show nothing unless it fails (the label step, --quiet) */
  char *tail[40];
  size_t next;
  pn_progress status;
  char step[48];    /* "step 3/9", from the engine's last step line */
  unsigned layers;  /* steps the engine has finished (committed or cached) */
  uint64_t started; /* monotonic ns */
  pn_image_build_trouble trouble;
} progress;

/* A step finished: podman and buildah print "--> 1a2b3c" after each, docker's plain
 * progress "#7 DONE 1.2s" or "#7 CACHED". */
static int layer_line(const char *line) {
  if (strncmp(line, "--> ", 4) == 0)
    return 1;
  if (line[0] != '#')
    return 0;
  const char *space = strchr(line, ' ');
  return space && (strncmp(space, " DONE", 5) == 0 || strncmp(space, " CACHED", 7) == 0);
}

/* "step 3/9" from "STEP 3/9: ..." or "[1/2] STEP 3/9: ..." or "#7 [2/5] ...". */
static void note_step(progress *view, const char *line) {
  const char *at = strstr(line, "STEP ");
  unsigned done = 0, total = 0;
  if (at && sscanf(at, "STEP %u/%u", &done, &total) == 2) {
    snprintf(view->step, sizeof view->step, "step %u/%u", done, total);
    return;
  }
  at = strstr(line, "] [");
  if (at && sscanf(at, "] [%u/%u]", &done, &total) == 2)
    snprintf(view->step, sizeof view->step, "step %u/%u", done, total);
}

static void draw_status(progress *view, int force, const char *line) {
  uint64_t seconds = (pn_clock_monotonic_ns() - view->started) / 1000000000ull;
  pn_progress_set(&view->status, force, "  %s%s%llu:%02llu · %u layer%s · %s", view->step,
                  view->step[0] ? " · " : "", (unsigned long long)(seconds / 60),
                  (unsigned long long)(seconds % 60), view->layers, view->layers == 1 ? "" : "s",
                  line);
}

/* podman and buildah print "STEP 3/9: RUN ..." (with "[1/2] " in multi-stage
 * builds); docker's plain progress prints "#7 [2/5] RUN ...". */
static int step_line(const char *line) {
  if (line[0] == '[' && strstr(line, "] STEP "))
    return 1;
  return strncmp(line, "STEP ", 5) == 0 || (line[0] == '#' && strstr(line, "] [")) ||
         strstr(line, "Using cache") != NULL;
}

static void on_build_line(const char *line, void *arg) {
  progress *view = arg;
  pn_image_note_build_line(&view->trouble, line);
  if (view->plain) {
    fprintf(stderr, "%s\n", line);
    return;
  }
  if (layer_line(line))
    view->layers++;
  if (!view->quiet && step_line(line)) {
    /* One short line per step; the full text is in --progress plain. */
    note_step(view, line);
    pn_progress_print(&view->status, "  %.100s%s", line, strlen(line) > 100 ? "..." : "");
    draw_status(view, 1, "");
    return;
  }
  if (!view->quiet)
    draw_status(view, 0, line);
  size_t slot = view->next++ % 40;
  pn_free(view->tail[slot]);
  view->tail[slot] = pn_strdup(line);
}

static void print_tail(progress *view) {
  size_t count = view->next < 40 ? view->next : 40;
  for (size_t i = view->next - count; i < view->next; i++)
    if (view->tail[i % 40])
      fprintf(stderr, "  %s\n", view->tail[i % 40]);
}

static void free_progress(progress *view) {
  for (size_t i = 0; i < 40; i++)
    pn_free(view->tail[i]);
  pn_image_build_trouble_free(&view->trouble);
}

static void add_build_command(const pn_image_engine *engine, pn_image_argv *argv, int plain) {
  if (engine->kind == PN_ENGINE_DOCKER) {
    pn_image_argv_add(argv, "docker");
    pn_image_argv_add(argv, "buildx");
    pn_image_argv_add(argv, "build");
    pn_image_argv_add(argv, "--load");
    pn_image_argv_add(argv, plain ? "--progress=plain" : "--progress=auto");
  } else {
    pn_image_argv_add(argv, engine->name);
    pn_image_argv_add(argv, "build");
    if (engine->host_network)
      pn_image_argv_add(argv, "--network=host");
  }
}

/* Runs a build and reports a failure with the engine's last lines; on a failure,
 * *trouble (when given) says what the lines showed (the caller frees it). */
static int run_build(const pn_image_argv *argv, int plain, int quiet, const char *what,
                     pn_image_build_trouble *trouble) {
  progress view = {.plain = plain, .quiet = quiet, .started = pn_clock_monotonic_ns()};
  pn_progress_init(&view.status, !plain && !quiet && pn_progress_wanted(0));
  int rc = pn_image_run_lines(argv, on_build_line, &view);
  pn_progress_clear(&view.status);
  if (rc != 0) {
    if (!plain)
      print_tail(&view);
    if (rc < 0)
      fprintf(stderr, "error: could not start %s: %s\n", argv->items[0], pn_strerror(rc));
    else
      fprintf(stderr, "error: %s failed (%s exited with %d); run again with --progress plain "
                      "for the whole log\n", what, argv->items[0], rc);
  }
  if (trouble && rc != 0) {
    *trouble = view.trouble;
    memset(&view.trouble, 0, sizeof view.trouble);
  }
  free_progress(&view);
  return rc == 0 ? 0 : PN_ECHILD;
}

/* Runs the built image once: its schema (pinion schema inside) and pip freeze. */
static int describe_image(const pn_image_engine *engine, const char *tag, json_t **schema,
                          char **freeze) {
  pn_image_argv argv;
  pn_image_argv_init(&argv);
  pn_image_run_prefix(engine, &argv, 0, 0);
  pn_image_argv_add(&argv, "--network=none");
  pn_image_argv_add(&argv, tag);
  pn_image_argv_add(&argv, "sh");
  pn_image_argv_add(&argv, "-c");
  pn_image_argv_add(&argv, "pinion schema && echo '" SCHEMA_MARKER "' && "
                           "(python3 -m pip freeze 2>/dev/null || true)");
  char *output = NULL;
  int rc = pn_image_run(&argv, &output, 0, 0);
  pn_image_argv_free(&argv);
  char *marker = output ? strstr(output, SCHEMA_MARKER) : NULL;
  if (rc != 0 || !marker) {
    fprintf(stderr, "error: the built image could not describe its model (pinion schema "
                    "exited with %d inside it); the messages above say why\n", rc);
    pn_free(output);
    return PN_ECHILD;
  }
  *marker = '\0';
  json_error_t json_error;
  *schema = json_loads(output, 0, &json_error);
  char *rest = marker + strlen(SCHEMA_MARKER);
  while (*rest == '\n')
    rest++;
  *freeze = pn_strdup(rest);
  pn_free(output);
  if (!*schema) {
    fprintf(stderr, "error: the built image printed a schema that is not JSON: %s\n",
            json_error.text);
    return PN_EPARSE;
  }
  return 0;
}

/* The output of a git command in the project, trimmed, or NULL. */
static char *git(const char *dir, const char *a, const char *b, const char *c) {
  pn_image_argv argv;
  pn_image_argv_init(&argv);
  pn_image_argv_add(&argv, "git");
  pn_image_argv_add(&argv, "-C");
  pn_image_argv_add(&argv, dir);
  pn_image_argv_add(&argv, a);
  pn_image_argv_add(&argv, b);
  if (c)
    pn_image_argv_add(&argv, c);
  char *output = NULL;
  int rc = pn_image_run(&argv, &output, PN_RUN_QUIET, 10000);
  pn_image_argv_free(&argv);
  if (rc != 0 || !output || !*output) {
    pn_free(output);
    return NULL;
  }
  output[strcspn(output, "\r\n")] = '\0';
  return output;
}

static void add_label(pn_image_argv *argv, const char *key, const char *value) {
  if (value)
    pn_image_argv_addf(argv, "--label=%s=%s", key, value);
}

/* The config as the run.cog.config label carries it: completed with the resolved
 * CUDA and cuDNN. pn_malloc'd. */
static char *config_label(const pn_config *config, const pn_image_plan *plan) {
  json_t *copy = config->json ? json_deep_copy(config->json) : json_object();
  if (!copy)
    return NULL;
  if (plan->cuda.cuda) {
    json_t *build = json_object_get(copy, "build");
    if (json_is_object(build)) {
      json_object_set_new(build, "cuda", json_string(plan->cuda.cuda));
      json_object_set_new(build, "cudnn", json_string(plan->cuda.cudnn));
    }
  }
  char *text = pn_json_dump(copy, PN_JSON_COMPACT);
  json_decref(copy);
  return text;
}

char *pn_image_source_url(const char *remote) {
  if (!remote)
    return NULL;
  const char *host = NULL, *path = NULL;
  size_t host_length = 0;
  const char *scheme_end = strstr(remote, "://");
  if (scheme_end) {
    size_t scheme_length = (size_t)(scheme_end - remote);
    int web = (scheme_length == 5 && strncasecmp(remote, "https", 5) == 0) ||
              (scheme_length == 4 && strncasecmp(remote, "http", 4) == 0);
    int ssh = (scheme_length == 3 && strncasecmp(remote, "ssh", 3) == 0) ||
              (scheme_length == 7 && strncasecmp(remote, "git+ssh", 7) == 0);
    if (!web && !ssh)
      return NULL;
    host = scheme_end + 3;
    path = strchr(host, '/');
    if (!path)
      return NULL;
    host_length = (size_t)(path - host);
    const char *at = memchr(host, '@', host_length); /* user:token@ never goes in a label */
    if (at) {
      host_length -= (size_t)(at + 1 - host);
      host = at + 1;
    }
    if (ssh) { /* ssh://git@host:22/path: the web has no ssh port */
      const char *colon = memchr(host, ':', host_length);
      if (colon)
        host_length = (size_t)(colon - host);
    }
  } else {
    /* scp-like: [user@]host:path, where a path never starts the string (and "C:/x" is a
     * Windows drive, as git reads it). */
    const char *colon = strchr(remote, ':');
    const char *slash = strchr(remote, '/');
    if (!colon || colon - remote < 2 || (slash && slash < colon))
      return NULL;
    host = remote;
    const char *at = memchr(remote, '@', (size_t)(colon - remote));
    if (at)
      host = at + 1;
    host_length = (size_t)(colon - host);
    path = colon + 1;
  }
  while (*path == '/')
    path++;
  size_t path_length = strlen(path);
  while (path_length && path[path_length - 1] == '/')
    path_length--;
  if (path_length >= 4 && strncmp(path + path_length - 4, ".git", 4) == 0)
    path_length -= 4;
  if (!host_length || !path_length)
    return NULL;
  return pn_strfmt("https://%.*s/%.*s", (int)host_length, host, (int)path_length, path);
}

static int label_image(const pn_image_engine *engine, const pn_image_build_options *options,
                       const pn_image_plan *plan, const char *tmp) {
  json_t *schema = NULL;
  char *freeze = NULL;
  int rc = describe_image(engine, options->tag, &schema, &freeze);
  if (rc < 0)
    return rc;
  char *schema_text = pn_json_dump(schema, PN_JSON_COMPACT);
  char *config_text = config_label(options->config, plan);
  char *revision = git(options->config->dir, "rev-parse", "HEAD", NULL);
  char *remote = git(options->config->dir, "remote", "get-url", "origin");
  char *source = pn_image_source_url(remote);
  pn_free(remote);
  char created[32];
  time_t now = time(NULL);
  strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  char *label_dir = pn_fs_join(tmp, "labels");
  char *label_file = label_dir ? pn_fs_join(label_dir, "Dockerfile") : NULL;
  char *schema_file = label_dir ? pn_fs_join(label_dir, "openapi_schema.json") : NULL;
  /* The schema also goes into the image where Cog keeps it (spec §3.1, §7.3). */
  char *from = pn_strfmt("FROM %s\nCOPY openapi_schema.json /src/.cog/openapi_schema.json\n",
                         options->tag);
  pn_image_argv argv;
  pn_image_argv_init(&argv);
  if (!label_file || !schema_file || !from || !schema_text || mkdir(label_dir, 0700) < 0 ||
      pn_fs_write(label_file, from, strlen(from)) < 0 ||
      pn_fs_write(schema_file, schema_text, strlen(schema_text)) < 0) {
    rc = PN_EIO;
  } else {
    add_build_command(engine, &argv, 1);
    pn_image_argv_add(&argv, "-f");
    pn_image_argv_add(&argv, label_file);
    pn_image_argv_add(&argv, "-t");
    pn_image_argv_add(&argv, options->tag);
    add_label(&argv, "run.cog.version", PN_COG_VERSION);
    add_label(&argv, "run.cog.config", config_text);
    add_label(&argv, "run.cog.openapi_schema", schema_text);
    add_label(&argv, "run.cog.pip_freeze", freeze);
    add_label(&argv, "run.cog.has_init", "true");
    add_label(&argv, "run.pinion.version", PINION_VERSION);
    add_label(&argv, "run.pinion.base_image", plan->base_image);
    add_label(&argv, "org.opencontainers.image.created", created);
    add_label(&argv, "org.opencontainers.image.revision", revision);
    add_label(&argv, "org.opencontainers.image.source", source);
    add_label(&argv, "org.opencontainers.image.title", options->tag);
    pn_image_argv_add(&argv, label_dir);
    rc = run_build(&argv, options->progress_plain, 1, "labelling the image", NULL);
  }
  pn_image_argv_free(&argv);
  json_decref(schema);
  pn_free(freeze);
  pn_free(schema_text);
  pn_free(config_text);
  pn_free(revision);
  pn_free(source);
  pn_free(label_dir);
  pn_free(label_file);
  pn_free(schema_file);
  pn_free(from);
  return rc;
}

/* Writes the Dockerfile and its ignore file (the project's .dockerignore plus the
 * weight files) into tmp. */
static int write_build_files(const char *tmp, const pn_image_plan *plan,
                             const weight_list *weights, char **dockerfile_path,
                             char **ignore_path) {
  *dockerfile_path = pn_fs_join(tmp, "Dockerfile");
  *ignore_path = pn_fs_join(tmp, "Dockerfile.dockerignore");
  if (!*dockerfile_path || !*ignore_path)
    return PN_ENOMEM;
  pn_buf ignore;
  pn_buf_init(&ignore, 16 * 1024 * 1024);
  if (weights->ignore)
    pn_buf_appendf(&ignore, "%s\n", weights->ignore);
  for (size_t i = 0; i < weights->count; i++)
    pn_buf_appendf(&ignore, "%s\n", weights->files[i]);
  int rc = pn_fs_write(*dockerfile_path, plan->dockerfile, strlen(plan->dockerfile));
  if (rc == 0)
    rc = pn_fs_write(*ignore_path, ignore.data ? ignore.data : "", ignore.length);
  pn_buf_free(&ignore);
  return rc;
}

char *pn_image_find_builder(const pn_image_engine *engine, const char *base) {
  json_t *labels = NULL, *builder_labels = NULL;
  if (pn_image_labels(engine, base, &labels) < 0)
    return NULL; /* not here yet: the engine pulls it, and it has no builder */
  const char *builder = json_string_value(json_object_get(labels, PN_IMAGE_BUILDER_LABEL));
  char *found = NULL;
  if (builder && pn_image_labels(engine, builder, &builder_labels) == 0)
    found = pn_strdup(builder);
  else if (builder)
    fprintf(stderr, "warning: %s names its builder image %s, which %s does not have; pinion's "
                    "build tools are installed with apt-get instead, which needs a Debian "
                    "mirror. `pinion base build` makes the base and its builder again.\n",
            base, builder, engine->name);
  json_decref(builder_labels);
  json_decref(labels);
  return found;
}

int pn_image_build(const pn_image_engine *engine, const pn_image_build_options *options) {
  const pn_config *config = options->config;
  uint64_t started = pn_clock_monotonic_ns();
  char *source = source_dir();
  if (!source) {
    fprintf(stderr, "error: pinion's own source is not installed beside the binary (looked "
                    "in %s/../lib/pinion/source); run `make` or `make install` again\n",
            pn_fs_self_dir());
    return PN_ENOENT;
  }
  weight_list weights;
  pn_image_plan plan;
  char *error = NULL, *tmp = NULL, *dockerfile_path = NULL, *ignore_path = NULL;
  char *builder = options->base_image ? pn_image_find_builder(engine, options->base_image) : NULL;
  int rc = plan_project(config, options->base_image, builder, &weights, &plan, &error);
  if (rc < 0) {
    fprintf(stderr, "error: %s\n", error ? error : pn_strerror(rc));
  } else if ((rc = pn_fs_mkdtemp("pinion-build", &tmp)) < 0 ||
             (rc = write_build_files(tmp, &plan, &weights, &dockerfile_path, &ignore_path)) < 0) {
    fprintf(stderr, "error: could not write the Dockerfile: %s\n", pn_strerror(rc));
  } else {
    if (!options->quiet)
      fprintf(stderr, "Building %s from %s with %s (base %s)\n", options->tag, config->dir,
              engine->name, plan.base_image);
    pn_image_argv argv;
    pn_image_argv_init(&argv);
    add_build_command(engine, &argv, options->progress_plain);
    pn_image_argv_add(&argv, "-f");
    pn_image_argv_add(&argv, dockerfile_path);
    if (engine->kind != PN_ENGINE_DOCKER) {
      pn_image_argv_add(&argv, "--ignorefile");
      pn_image_argv_add(&argv, ignore_path);
    }
    pn_image_argv_addf(&argv, "--build-context=" PN_IMAGE_SOURCE_CONTEXT "=%s", source);
    pn_image_argv_add(&argv, "-t");
    pn_image_argv_add(&argv, options->tag);
    for (size_t i = 0; i < options->secret_count; i++)
      pn_image_argv_addf(&argv, "--secret=%s", options->secrets[i]);
    if (options->no_cache)
      pn_image_argv_add(&argv, "--no-cache");
    pn_image_argv_add(&argv, config->dir);
    pn_image_build_trouble trouble = {0};
    rc = run_build(&argv, options->progress_plain, options->quiet, "the image build", &trouble);
    if (rc != 0) {
      /* Debian has no Python 3.12 for `pinion base build`: 3.11 when cog.yaml names none. */
      char *python = pn_image_python_release(
          config->build.python_version ? config->build.python_version : "3.11");
      char *hints = python ? pn_image_build_hints(&trouble, plan.base_image,
                                                  options->base_image != NULL, python)
                           : NULL;
      if (hints)
        fputs(hints, stderr);
      pn_free(hints);
      pn_free(python);
    }
    pn_image_build_trouble_free(&trouble);
    pn_image_argv_free(&argv);
    if (rc == 0) {
      if (!options->quiet)
        fprintf(stderr, "Generating the schema in the image and labelling it\n");
      rc = label_image(engine, options, &plan, tmp);
    }
    if (rc == 0 && !options->quiet)
      fprintf(stderr, "Built %s in %.1fs\n", options->tag,
              (double)(pn_clock_monotonic_ns() - started) / 1e9);
  }
  if (tmp)
    pn_fs_remove_tree(tmp);
  pn_free(tmp);
  pn_free(dockerfile_path);
  pn_free(ignore_path);
  pn_free(error);
  pn_free(source);
  pn_free(builder);
  free_weights(&weights);
  pn_image_plan_free(&plan);
  return rc;
}

int pn_image_build_builder(const pn_image_engine *engine, const char *base,
                           const char *builder) {
  char *tmp = NULL, *dockerfile_path = NULL;
  char *dockerfile = pn_image_builder_dockerfile(base);
  int rc = dockerfile ? pn_fs_mkdtemp("pinion-builder", &tmp) : PN_ENOMEM;
  if (rc == 0)
    rc = (dockerfile_path = pn_fs_join(tmp, "Dockerfile")) ? 0 : PN_ENOMEM;
  if (rc == 0)
    rc = pn_fs_write(dockerfile_path, dockerfile, strlen(dockerfile));
  if (rc < 0) {
    fprintf(stderr, "error: could not write the builder's Dockerfile: %s\n", pn_strerror(rc));
  } else {
    fprintf(stderr, "Making its builder %s (pinion's build tools) with %s\n", builder,
            engine->name);
    pn_image_argv argv;
    pn_image_argv_init(&argv);
    add_build_command(engine, &argv, 0);
    pn_image_argv_add(&argv, "-f");
    pn_image_argv_add(&argv, dockerfile_path);
    pn_image_argv_add(&argv, "-t");
    pn_image_argv_add(&argv, builder);
    pn_image_argv_add(&argv, tmp);
    rc = run_build(&argv, 0, 0, "the builder image build", NULL);
    pn_image_argv_free(&argv);
  }
  if (tmp)
    pn_fs_remove_tree(tmp);
  pn_free(tmp);
  pn_free(dockerfile_path);
  pn_free(dockerfile);
  return rc;
}
