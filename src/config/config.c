/* The cog.yaml module's entry points that touch the file system: finding cog.yaml in a
 * folder or its parents as Cog's CLI does, reading it with a size ceiling, and freeing a
 * loaded config. The checking itself lives in parse.c, the JSON form in json.c. */
#include "config/config.h"

#include "config/internal.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pn_config_absolute_path(const char *path, char **absolute) {
  char *joined;
  *absolute = NULL;
  if (path[0] == '/') {
    joined = pn_strdup(path);
  } else {
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
      return PN_EIO;
    joined = pn_fs_join(cwd, path);
    free(cwd); /* getcwd allocates with malloc, not pn_malloc */
  }
  if (!joined)
    return PN_ENOMEM;
  /* Drop "." components and repeated slashes in place; ".." is kept, since undoing it
   * would be wrong across symbolic links. */
  char *out = joined;
  for (const char *in = joined; *in;) {
    if (in[0] == '/' && (in[1] == '/' || (in[1] == '.' && (in[2] == '/' || !in[2])))) {
      in += in[1] == '/' ? 1 : 2;
      continue;
    }
    *out++ = *in++;
  }
  if (out == joined)
    *out++ = '/';
  else if (out > joined + 1 && out[-1] == '/')
    out--;
  *out = '\0';
  *absolute = joined;
  return 0;
}

char *pn_config_parent_dir(const char *absolute) {
  const char *slash = strrchr(absolute, '/');
  if (!slash || slash == absolute)
    return pn_strdup("/");
  return pn_strndup(absolute, (size_t)(slash - absolute));
}

int pn_config_find(const char *start_dir, const char *file_name, char **path) {
  *path = NULL;
  char *dir = NULL;
  int rc = pn_config_absolute_path(start_dir, &dir);
  if (rc < 0)
    return rc;
  for (int level = 0; level < PN_CONFIG_FIND_LEVELS; level++) {
    char *candidate = pn_fs_join(dir, file_name);
    if (!candidate) {
      pn_free(dir);
      return PN_ENOMEM;
    }
    if (pn_fs_is_file(candidate)) {
      pn_free(dir);
      *path = candidate;
      return 0;
    }
    pn_free(candidate);
    if (!strcmp(dir, "/"))
      break;
    char *parent = pn_config_parent_dir(dir);
    pn_free(dir);
    if (!(dir = parent))
      return PN_ENOMEM;
  }
  pn_free(dir);
  return PN_ENOENT;
}

int pn_config_load(const char *path, pn_config **config, pn_diag_list *diags) {
  *config = NULL;
  char *text = NULL;
  size_t length = 0;
  int rc = pn_fs_read(path, PN_CONFIG_MAX_BYTES, &text, &length);
  if (rc == PN_ETOOBIG)
    return pn_diag_add(diags, PN_DIAG_ERROR, path, 0, 0, NULL,
                       "failed to parse %s: the file is larger than %d bytes", path,
                       PN_CONFIG_MAX_BYTES) < 0
               ? PN_ENOMEM
               : PN_EPARSE;
  if (rc < 0)
    return rc;
  rc = pn_config_parse(text, length, path, config, diags);
  pn_free(text);
  return rc;
}

static void free_strings(char **items, size_t count) {
  for (size_t i = 0; items && i < count; i++)
    pn_free(items[i]);
  pn_free(items);
}

static void free_run_steps(pn_config_run_step *steps, size_t count) {
  for (size_t i = 0; steps && i < count; i++) {
    for (size_t j = 0; steps[i].mounts && j < steps[i].mount_count; j++) {
      pn_free(steps[i].mounts[j].type);
      pn_free(steps[i].mounts[j].id);
      pn_free(steps[i].mounts[j].target);
    }
    pn_free(steps[i].mounts);
    pn_free(steps[i].command);
  }
  pn_free(steps);
}

static void free_weights(pn_config_weight *weights, size_t count) {
  for (size_t i = 0; weights && i < count; i++) {
    for (size_t j = 0; weights[i].sources && j < weights[i].source_count; j++) {
      pn_free(weights[i].sources[j].uri);
      free_strings(weights[i].sources[j].include, weights[i].sources[j].include_count);
      free_strings(weights[i].sources[j].exclude, weights[i].sources[j].exclude_count);
    }
    pn_free(weights[i].sources);
    pn_free(weights[i].name);
    pn_free(weights[i].target);
  }
  pn_free(weights);
}

void pn_config_free(pn_config *config) {
  if (!config)
    return;
  pn_free(config->path);
  pn_free(config->dir);
  pn_free(config->run);
  pn_free(config->train);
  pn_free(config->image);
  pn_free(config->model);
  free_strings(config->environment, config->environment_count);
  pn_free(config->build.python_version);
  pn_free(config->build.python_requirements);
  free_strings(config->build.python_packages, config->build.python_packages_count);
  free_strings(config->build.system_packages, config->build.system_packages_count);
  pn_free(config->build.cuda);
  pn_free(config->build.cudnn);
  pn_free(config->build.sdk_version);
  free_run_steps(config->build.run, config->build.run_count);
  free_strings(config->build.pre_install, config->build.pre_install_count);
  free_weights(config->weights, config->weights_count);
  json_decref(config->json);
  pn_free(config);
}

int pn_config_split_ref(const char *ref, char **file, char **attr) {
  *file = NULL;
  *attr = NULL;
  if (!ref || !ref[0])
    return PN_EINVAL;
  /* Split after ".py" when the reference has that form, so a ':' in a folder name does
   * not cut the path short. */
  const char *separator = strstr(ref, ".py:");
  separator = separator ? separator + 3 : strrchr(ref, ':');
  if (!separator) {
    *file = pn_strdup(ref);
    return *file ? 0 : PN_ENOMEM;
  }
  *file = pn_strndup(ref, (size_t)(separator - ref));
  *attr = pn_strdup(separator + 1);
  if (!*file || !*attr) {
    pn_free(*file);
    pn_free(*attr);
    *file = NULL;
    *attr = NULL;
    return PN_ENOMEM;
  }
  return 0;
}
