/* `pinion build`: the model folder to a Cog image through a container engine, or, with
 * --dockerfile, the Dockerfile it would build (as `cog debug` prints). Also the helpers
 * the other image commands share (cli/image_cli.h). */
#include "cli/cli.h"
#include "cli/image_cli.h"
#include "cli/options.h"
#include "core/alloc.h"
#include "core/error.h"
#include "image/dockerfile.h"
#include "image/image.h"

#include <stdio.h>
#include <string.h>

#define MAX_SECRETS 64

pn_config *pn_cli_load_config(const char *file_name, int quiet) {
  const char *name = file_name ? file_name : PN_CONFIG_FILE_NAME;
  char *path = NULL;
  int rc = pn_config_find(".", name, &path);
  if (rc < 0) {
    if (!quiet)
      fprintf(stderr, "error: No %s found in parent directories.\n", name);
    return NULL;
  }
  pn_diag_list diags;
  pn_diag_list_init(&diags);
  pn_config *config = NULL;
  rc = pn_config_load(path, &config, &diags);
  pn_diag_print(&diags, stderr);
  pn_diag_list_free(&diags);
  if (rc < 0 && rc != PN_EPARSE)
    fprintf(stderr, "error: cannot read %s: %s\n", path, pn_strerror(rc));
  pn_free(path);
  return rc == 0 ? config : NULL;
}

int pn_cli_engine(const char *name, pn_image_engine *engine) {
  char *error = NULL;
  if (pn_image_engine_find(name, engine, &error) == 0)
    return 0;
  fprintf(stderr, "error: %s\n", error ? error : "out of memory");
  pn_free(error);
  return -1;
}

char *pn_cli_image_tag(const pn_config *config) {
  if (config->image)
    return pn_strdup(config->image);
  if (config->model)
    return pn_strdup(config->model);
  return pn_image_default_tag(config->dir);
}

int pn_cli_build_image(const pn_image_engine *engine, const pn_config *config, const char *tag,
                       const char *base_image, int plain) {
  pn_image_build_options options = {
      .config = config, .tag = tag, .base_image = base_image, .progress_plain = plain};
  return pn_image_build(engine, &options) == 0 ? 0 : 1;
}

static const char build_help[] =
    "Usage: pinion build [FLAGS]\n"
    "\n"
    "Builds the model in the current folder (or a parent holding cog.yaml) into a Cog\n"
    "image: the prediction server on port 5000, the model's OpenAPI schema and config\n"
    "in its labels. The engine is docker (with buildx) when its daemon answers, else\n"
    "podman, else buildah.\n"
    "\n"
    "Flags:\n"
    "  -t, --tag TAG            Image name (default: cog.yaml's image, else cog-<folder>)\n"
    "      --base-image REF     Build on REF instead of python:X.Y-slim or a CUDA image\n"
    "                           (e.g. a base made by `pinion base build`)\n"
    "      --engine NAME        docker, podman or buildah\n"
    "      --progress MODE      auto (a tidy view) or plain (every line, for logs)\n"
    "  -q, --quiet              Print nothing but errors (progress shows only on a terminal)\n"
    "      --secret id=ID,src=PATH\n"
    "                           A secret for build.run steps that mount it; repeatable\n"
    "      --no-cache           Rebuild every layer\n"
    "      --dockerfile         Print the Dockerfile instead of building\n"
    "  -f, --file NAME          The config file name (default cog.yaml)\n"
    "\n"
    "Examples:\n"
    "  pinion build -t my-model\n"
    "  pinion base build --python 3.11 -t pinion-base:3.11\n"
    "  pinion build --base-image pinion-base:3.11 --engine podman\n";

static int run_build(int argc, char **argv) {
  pn_cli_args args;
  pn_cli_args_init(&args, argc, argv);
  const char *tag = NULL, *base_image = NULL, *engine_name = NULL, *config_name = NULL;
  const char *value = NULL;
  const char *secrets[MAX_SECRETS];
  size_t secret_count = 0;
  int plain = 0, quiet = 0, no_cache = 0, dockerfile_only = 0;
  const pn_cli_text_flag text_flags[] = {
      {"--tag", "-t", &tag},
      {"--base-image", NULL, &base_image},
      {"--engine", NULL, &engine_name},
      {"--file", "-f", &config_name},
      {NULL, NULL, NULL},
  };
  int more;
  while ((more = pn_cli_next(&args, text_flags)) > 0) {
    int matched;
    if ((matched = pn_cli_flag(&args, "--progress", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      if (strcmp(value, "plain") != 0 && strcmp(value, "auto") != 0 &&
          strcmp(value, "tty") != 0) {
        fprintf(stderr, "pinion build: --progress takes auto or plain, got \"%s\"\n", value);
        return 2;
      }
      plain = strcmp(value, "plain") == 0;
    } else if ((matched = pn_cli_flag(&args, "--secret", NULL, &value)) != 0) {
      if (matched < 0)
        return 2;
      if (secret_count == MAX_SECRETS) {
        fprintf(stderr, "pinion build: at most %d secrets\n", MAX_SECRETS);
        return 2;
      }
      secrets[secret_count++] = value;
    } else if (pn_cli_switch(&args, "--quiet", "-q")) {
      quiet = 1;
    } else if (pn_cli_switch(&args, "--no-cache", NULL)) {
      no_cache = 1;
    } else if (pn_cli_switch(&args, "--dockerfile", NULL)) {
      dockerfile_only = 1;
    } else {
      return pn_cli_unknown(&args);
    }
  }
  if (more < 0)
    return 2;
  pn_config *config = pn_cli_load_config(config_name, 0);
  if (!config)
    return 1;
  int exit_code = 1;
  if (dockerfile_only) {
    /* On a base made by `pinion base build`, stage 1 starts from its builder: the
     * Dockerfile printed is the one a build would use when an engine has both. */
    char *dockerfile = NULL, *error = NULL, *builder = NULL;
    pn_image_engine engine;
    char *engine_error = NULL;
    if (base_image && pn_image_engine_find(engine_name, &engine, &engine_error) == 0)
      builder = pn_image_find_builder(&engine, base_image);
    pn_free(engine_error);
    int rc = pn_image_project_dockerfile(config, base_image, builder, &dockerfile, &error);
    pn_free(builder);
    if (rc == 0) {
      fputs(dockerfile, stdout);
      exit_code = 0;
    } else {
      fprintf(stderr, "error: %s\n", error ? error : pn_strerror(rc));
    }
    pn_free(dockerfile);
    pn_free(error);
    pn_config_free(config);
    return exit_code;
  }
  pn_image_engine engine;
  char *default_tag = tag ? NULL : pn_cli_image_tag(config);
  if (pn_cli_engine(engine_name, &engine) == 0) {
    pn_image_build_options options = {
        .config = config,
        .tag = tag ? tag : default_tag,
        .base_image = base_image,
        .progress_plain = plain,
        .quiet = quiet,
        .no_cache = no_cache,
        .secrets = secrets,
        .secret_count = secret_count,
    };
    exit_code = pn_image_build(&engine, &options) == 0 ? 0 : 1;
  }
  pn_free(default_tag);
  pn_config_free(config);
  return exit_code;
}

const struct pn_cli_command pn_cli_build_command = {
    "build", "Build the model into a Cog image", build_help, run_build};
