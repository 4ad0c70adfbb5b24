/* The Dockerfile generator. An image has two stages:
 *
 *  1. `pinion`: the model's own base image plus a compiler builds pinion (the server
 *     and the worker extension) from the source handed in as the extra build context
 *     "pinion-source", so the binary matches the base's glibc whatever the distro, and
 *     the extension, built for Python's stable ABI, loads in any Python from 3.8.
 *  2. the model: the same base, then what changes least to what changes most —
 *     system packages, Python packages, run steps, pinion's runtime, weights (one
 *     layer per file), and the project's code last, so that editing predict.py
 *     rebuilds and re-pushes one small layer.
 *
 * The text is a pure function of the config and the options, so unit tests compare
 * it with expected files. */
#include "image/dockerfile.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/version.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>

#define DOCKERFILE_LIMIT (4 * 1024 * 1024)

/* Packages the runtime stage needs; they never reach the model's image. */
const char pn_image_runtime_build_packages[] =
    "build-essential pkg-config libevent-dev libjansson-dev libyaml-dev libpcre2-dev "
    "libcurl4-openssl-dev libsqlite3-dev libarchive-dev python3-dev tini";

static const char apt_prefix[] = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                                 "apt-get install -qqy --no-install-recommends";
static const char pip_prefix[] =
    "PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir";

/* Appends `text` as one shell word: as is when it holds only safe characters, else in
 * single quotes. */
static void append_shell_word(pn_buf *out, const char *text) {
  int safe = *text != '\0';
  for (const char *c = text; *c && safe; c++)
    safe = isalnum((unsigned char)*c) || strchr("-_.,:/=+@%", *c);
  if (safe) {
    pn_buf_append_str(out, text);
    return;
  }
  pn_buf_append_str(out, "'");
  for (const char *c = text; *c; c++) {
    if (*c == '\'')
      pn_buf_append_str(out, "'\\''");
    else
      pn_buf_append(out, c, 1);
  }
  pn_buf_append_str(out, "'");
}

/* Appends `text` as a JSON string (for the exec form of COPY, ENTRYPOINT, CMD). */
static void append_json_string(pn_buf *out, const char *text) {
  json_t *string = json_string(text);
  char *dumped = string ? json_dumps(string, JSON_ENCODE_ANY) : NULL;
  pn_buf_append_str(out, dumped ? dumped : "\"\"");
  free(dumped);
  json_decref(string);
}

/* Appends a value for `ENV KEY=VALUE`, double-quoted with \ and " escaped. */
static void append_env(pn_buf *out, const char *key, size_t key_length, const char *value) {
  pn_buf_appendf(out, "ENV %.*s=\"", (int)key_length, key);
  for (const char *c = value; *c; c++) {
    if (*c == '\\' || *c == '"' || *c == '$')
      pn_buf_append_str(out, "\\");
    if (*c == '\n')
      pn_buf_append_str(out, "\\n");
    else
      pn_buf_append(out, c, 1);
  }
  pn_buf_append_str(out, "\"\n");
}

/* A multi-line `run` command: lines ending in a backslash continue; other line breaks
 * separate commands, which must all succeed. */
static void append_command(pn_buf *out, const char *command) {
  int first = 1;
  for (const char *line = command; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t length = end ? (size_t)(end - line) : strlen(line);
    while (length && isspace((unsigned char)line[length - 1]))
      length--;
    while (length && isspace((unsigned char)*line)) {
      line++;
      length--;
    }
    if (length) {
      if (!first)
        pn_buf_append_str(out, out->data[out->length - 1] == '\\' ? "\n    " : " && \\\n    ");
      pn_buf_append(out, line, length);
      first = 0;
    }
    line = end ? end + 1 : NULL;
  }
  pn_buf_append_str(out, "\n");
}

/* A RUN step that installs, with apt-get, those of `packages` (shell words) the image
 * does not have yet, and touches neither apt-get nor the network when it has them
 * all: a base made by `pinion base build` with the packages a build needs builds with
 * no network. A package pinned as apt-get takes it, `NAME=VERSION` (VERSION may hold
 * apt's `*` wildcard), is there when that version is installed; an unpinned one when
 * any is. What it installs it first names in a line starting with `marker`, which
 * build.c reads to say exactly what needs a Debian mirror. */
static void append_install_missing(pn_buf *out, const char *marker, const char *packages) {
  pn_buf_appendf(out,
                 "RUN missing=; for package in %s; do "
                 "name=${package%%%%=*}; version=${package#\"$name\"}; version=${version#=}; "
                 "case \"$(dpkg-query -W -f='${db:Status-Status} ${Version}' \"$name\" "
                 "2>/dev/null)\" in \"installed \"${version:-*}) ;; "
                 "*) missing=\"$missing $package\" ;; esac; done; "
                 "[ -z \"$missing\" ] || { echo \"%s$missing\" && %s $missing && "
                 "rm -rf /var/lib/apt/lists/*; }\n",
                 packages, marker, apt_prefix);
}

/* Stage 1 starts from the base's builder image when it has one (the base plus the
 * build tools, made by `pinion base build`), else from the base itself. */
static void append_runtime_stage(pn_buf *out, const char *from) {
  pn_buf_appendf(out,
                 "# Stage 1: pinion's runtime, compiled on the model's own base image so it\n"
                 "# matches that image's C library; the worker extension uses Python's stable\n"
                 "# ABI and loads in any Python from 3.8.\n"
                 "FROM %s AS pinion\n",
                 from);
  append_install_missing(out, PN_IMAGE_MISSING_TOOLS_MARKER, pn_image_runtime_build_packages);
  pn_buf_append_str(out,
                    "COPY --from=" PN_IMAGE_SOURCE_CONTEXT " . /pinion-source\n"
                    "RUN sh /pinion-source/src/image/runtime-stage.sh /pinion-source /pinion-out\n\n");
}

/* Ubuntu's CUDA images have no Python of the model's version: it comes from the
 * deadsnakes archive into a virtual environment that is first on PATH. */
static void append_gpu_python(pn_buf *out, const char *python) {
  pn_buf_appendf(out,
                 "RUN %s software-properties-common gpg-agent && "
                 "add-apt-repository -y ppa:deadsnakes/ppa && "
                 "apt-get install -qqy --no-install-recommends python%s python%s-venv python%s-dev "
                 "&& rm -rf /var/lib/apt/lists/* && python%s -m venv /opt/python\n"
                 "ENV PATH=/opt/python/bin:$PATH\n",
                 apt_prefix, python, python, python, python);
}

char *pn_image_python_release(const char *version) {
  const char *dot = strchr(version, '.');
  const char *second = dot ? strchr(dot + 1, '.') : NULL;
  return second ? pn_strndup(version, (size_t)(second - version)) : pn_strdup(version);
}

static void append_run_step(pn_buf *out, const pn_config_run_step *step) {
  pn_buf_append_str(out, "RUN ");
  for (size_t m = 0; m < step->mount_count; m++)
    pn_buf_appendf(out, "--mount=type=%s,id=%s,target=%s ", step->mounts[m].type,
                   step->mounts[m].id, step->mounts[m].target);
  append_command(out, step->command);
}

static void append_packages(pn_buf *out, const pn_config *config) {
  if (config->build.system_packages_count) {
    pn_buf words;
    pn_buf_init(&words, DOCKERFILE_LIMIT);
    for (size_t i = 0; i < config->build.system_packages_count; i++) {
      if (i)
        pn_buf_append_str(&words, " ");
      append_shell_word(&words, config->build.system_packages[i]);
    }
    append_install_missing(out, PN_IMAGE_MISSING_PACKAGES_MARKER, words.data ? words.data : "");
    pn_buf_free(&words);
  }
  for (size_t i = 0; i < config->build.pre_install_count; i++) {
    pn_buf_append_str(out, "RUN ");
    append_command(out, config->build.pre_install[i]);
  }
  if (config->build.python_requirements) {
    pn_buf_append_str(out, "COPY [");
    append_json_string(out, config->build.python_requirements);
    pn_buf_appendf(out, ", \"/tmp/requirements.txt\"]\nRUN %s -r /tmp/requirements.txt\n",
                   pip_prefix);
  }
  if (config->build.python_packages_count) {
    pn_buf_appendf(out, "RUN %s", pip_prefix);
    for (size_t i = 0; i < config->build.python_packages_count; i++) {
      pn_buf_append_str(out, " ");
      append_shell_word(out, config->build.python_packages[i]);
    }
    pn_buf_append_str(out, "\n");
  }
  for (size_t i = 0; i < config->build.run_count; i++)
    append_run_step(out, &config->build.run[i]);
}

static void append_environment(pn_buf *out, const pn_config *config, const char *python,
                               const pn_image_cuda *cuda) {
  pn_buf_append_str(out, "ENV PYTHONUNBUFFERED=1\n");
  append_env(out, "R8_COG_VERSION", 14, PN_COG_VERSION);
  append_env(out, "R8_PYTHON_VERSION", 17, python);
  if (cuda->cuda) {
    append_env(out, "R8_CUDA_VERSION", 15, cuda->cuda);
    append_env(out, "R8_CUDNN_VERSION", 16, cuda->cudnn);
  }
  if (config->run)
    append_env(out, "COG_PREDICT_TYPE_STUB", 21, config->run);
  if (config->train)
    append_env(out, "COG_TRAIN_TYPE_STUB", 19, config->train);
  if (config->concurrency_max > 0) {
    char number[16];
    snprintf(number, sizeof number, "%d", config->concurrency_max);
    append_env(out, "COG_MAX_CONCURRENCY", 19, number);
  }
  for (size_t i = 0; i < config->environment_count; i++) {
    const char *item = config->environment[i];
    const char *equals = strchr(item, '=');
    if (equals)
      append_env(out, item, (size_t)(equals - item), equals + 1);
  }
}

int pn_image_dockerfile(const pn_config *config, const pn_image_dockerfile_options *options,
                        pn_image_plan *plan, char **error) {
  memset(plan, 0, sizeof *plan);
  *error = NULL;
  const char *version = config->build.python_version ? config->build.python_version : "3.12";
  char *python = pn_image_python_release(version);
  if (!python)
    return PN_ENOMEM;
  if (config->build.gpu) {
    int rc = pn_image_cuda_resolve(config->build.cuda, config->build.cudnn,
                                   options->requirements, &plan->cuda, error);
    if (rc < 0) {
      pn_free(python);
      return rc;
    }
  }
  if (options->base_image)
    plan->base_image = pn_strdup(options->base_image);
  else if (plan->cuda.base_image)
    plan->base_image = pn_strdup(plan->cuda.base_image);
  else
    plan->base_image = pn_strfmt("python:%s-slim", python);
  pn_buf out;
  pn_buf_init(&out, DOCKERFILE_LIMIT);
  pn_buf_appendf(&out, "# Generated by pinion %s from %s. Build it with `pinion build`.\n\n",
                 PINION_VERSION, PN_CONFIG_FILE_NAME);
  append_runtime_stage(&out, options->builder_image      ? options->builder_image
                            : plan->base_image         ? plan->base_image
                                                       : "");
  pn_buf_appendf(&out, "# Stage 2: the model.\nFROM %s\n", plan->base_image ? plan->base_image : "");
  if (config->build.gpu && !options->base_image)
    append_gpu_python(&out, python);
  append_packages(&out, config);
  pn_buf_append_str(&out, "COPY --from=pinion /pinion-out/ /\n"
                          "RUN python3 -c \"import os, site; d = site.getsitepackages()[0]; "
                          "os.makedirs(d, exist_ok=True); "
                          "open(os.path.join(d, 'pinion.pth'), 'w')"
                          ".write('/usr/local/lib/pinion/python\\n')\"\n");
  append_environment(&out, config, python, &plan->cuda);
  pn_buf_append_str(&out, "WORKDIR /src\nEXPOSE 5000\n"
                          "ENTRYPOINT [\"/sbin/tini\", \"--\"]\n"
                          "CMD [\"python3\", \"-m\", \"cog.server.http\"]\n");
  for (size_t i = 0; i < options->weight_file_count; i++) {
    const char *file = options->weight_files[i];
    pn_buf_append_str(&out, "COPY [");
    append_json_string(&out, file);
    pn_buf_append_str(&out, ", ");
    const char *declared = options->weight_targets ? options->weight_targets[i] : NULL;
    char *target = declared ? pn_strdup(declared) : pn_strfmt("/src/%s", file);
    append_json_string(&out, target ? target : "/src");
    pn_free(target);
    pn_buf_append_str(&out, "]\n");
  }
  pn_buf_append_str(&out, "COPY . /src\n");
  pn_free(python);
  plan->dockerfile = pn_buf_take(&out);
  if (!plan->dockerfile || !plan->base_image) {
    pn_image_plan_free(plan);
    return PN_ENOMEM;
  }
  return 0;
}

char *pn_image_builder_dockerfile(const char *base) {
  pn_buf out;
  pn_buf_init(&out, DOCKERFILE_LIMIT);
  pn_buf_appendf(&out,
                 "# Generated by pinion %s: the builder of %s (pinion base build), where\n"
                 "# `pinion build` compiles pinion's runtime without installing anything.\n"
                 "FROM %s\n",
                 PINION_VERSION, base, base);
  append_install_missing(&out, PN_IMAGE_MISSING_TOOLS_MARKER, pn_image_runtime_build_packages);
  return pn_buf_take(&out);
}

void pn_image_plan_free(pn_image_plan *plan) {
  if (!plan)
    return;
  pn_free(plan->dockerfile);
  pn_free(plan->base_image);
  memset(plan, 0, sizeof *plan);
}

char *pn_image_default_tag(const char *dir) {
  const char *name = strrchr(dir, '/');
  name = name && name[1] ? name + 1 : dir;
  pn_buf tag;
  pn_buf_init(&tag, 64);
  pn_buf_append_str(&tag, "cog-");
  for (const char *c = name; *c && tag.length < 30; c++) {
    char lower = (char)tolower((unsigned char)*c);
    if (lower == ' ')
      lower = '-';
    if (isalnum((unsigned char)lower) || lower == '-')
      pn_buf_append(&tag, &lower, 1);
  }
  return pn_buf_take(&tag);
}

char *pn_image_builder_tag(const char *tag) {
  const char *slash = strrchr(tag, '/');
  const char *colon = strrchr(slash ? slash : tag, ':');
  size_t repository = colon ? (size_t)(colon - tag) : strlen(tag);
  return pn_strfmt("%.*s-builder%s", (int)repository, tag, colon ? colon : "");
}
