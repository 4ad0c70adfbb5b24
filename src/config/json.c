/* The JSON form of a validated config, which the builder stores in the image label
 * run.cog.config (spec §7.3). It is made from the checked fields, not from the YAML tree,
 * so it holds only what pinion understood, in Cog's key names, with python_version and
 * cuda as the strings the user wrote. Keys the user did not set are left out; the builder
 * adds what it resolves (cuda, cudnn) when it completes the config. */
#include "config/internal.h"

#include "core/error.h"

/* Every helper returns 0 or -1; json_object_set_new frees its value on failure, so a
 * failed step leaks nothing and the caller only drops the object it was building. */
static int set(json_t *object, const char *key, json_t *value) {
  return value ? json_object_set_new(object, key, value) : -1;
}

static int set_string(json_t *object, const char *key, const char *text) {
  return text ? set(object, key, json_string(text)) : 0;
}

static json_t *string_array(char *const *items, size_t count) {
  json_t *array = json_array();
  for (size_t i = 0; array && i < count; i++)
    if (json_array_append_new(array, json_string(items[i])) < 0) {
      json_decref(array);
      return NULL;
    }
  return array;
}

static int set_strings(json_t *object, const char *key, char *const *items, size_t count) {
  return count ? set(object, key, string_array(items, count)) : 0;
}

static json_t *run_step(const pn_config_run_step *step) {
  if (!step->mount_count)
    return json_string(step->command);
  json_t *object = json_object();
  json_t *mounts = json_array();
  if (!object || set(object, "mounts", mounts) < 0 ||
      set_string(object, "command", step->command) < 0) {
    json_decref(object);
    return NULL;
  }
  for (size_t i = 0; i < step->mount_count; i++) {
    json_t *mount = json_object();
    if (json_array_append_new(mounts, mount) < 0 ||
        set_string(mount, "type", step->mounts[i].type) < 0 ||
        set_string(mount, "id", step->mounts[i].id) < 0 ||
        set_string(mount, "target", step->mounts[i].target) < 0) {
      json_decref(object);
      return NULL;
    }
  }
  return object;
}

static json_t *build_object(const pn_config *config) {
  json_t *build = json_object();
  json_t *run = config->build.run_count ? json_array() : NULL;
  if (!build || (config->build.run_count && set(build, "run", run) < 0) ||
      set_string(build, "python_version", config->build.python_version) < 0 ||
      set_string(build, "python_requirements", config->build.python_requirements) < 0 ||
      set_strings(build, "python_packages", config->build.python_packages,
                  config->build.python_packages_count) < 0 ||
      set_strings(build, "system_packages", config->build.system_packages,
                  config->build.system_packages_count) < 0 ||
      set(build, "gpu", json_boolean(config->build.gpu)) < 0 ||
      set_string(build, "cuda", config->build.cuda) < 0 ||
      set_string(build, "cudnn", config->build.cudnn) < 0 ||
      set_string(build, "sdk_version", config->build.sdk_version) < 0 ||
      set_strings(build, "pre_install", config->build.pre_install,
                  config->build.pre_install_count) < 0) {
    json_decref(build);
    return NULL;
  }
  for (size_t i = 0; i < config->build.run_count; i++)
    if (json_array_append_new(run, run_step(&config->build.run[i])) < 0) {
      json_decref(build);
      return NULL;
    }
  return build;
}

static json_t *weight_object(const pn_config_weight *weight) {
  json_t *object = json_object();
  json_t *sources = json_array();
  if (!object || set(object, "source", sources) < 0 ||
      set_string(object, "name", weight->name) < 0 ||
      set_string(object, "target", weight->target) < 0) {
    json_decref(object);
    return NULL;
  }
  for (size_t i = 0; i < weight->source_count; i++) {
    const pn_config_weight_source *source = &weight->sources[i];
    json_t *item = json_object();
    if (json_array_append_new(sources, item) < 0 || set_string(item, "uri", source->uri) < 0 ||
        set_strings(item, "include", source->include, source->include_count) < 0 ||
        set_strings(item, "exclude", source->exclude, source->exclude_count) < 0) {
      json_decref(object);
      return NULL;
    }
  }
  return object;
}

static int set_weights(json_t *object, const pn_config *config) {
  if (!config->weights_count)
    return 0;
  json_t *weights = json_array();
  if (set(object, "weights", weights) < 0)
    return -1;
  for (size_t i = 0; i < config->weights_count; i++)
    if (json_array_append_new(weights, weight_object(&config->weights[i])) < 0)
      return -1;
  return 0;
}

static int set_concurrency(json_t *object, const pn_config *config) {
  if (!config->concurrency_max)
    return 0;
  json_t *concurrency = json_object();
  if (set(object, "concurrency", concurrency) < 0 ||
      set(concurrency, "max", json_integer(config->concurrency_max)) < 0)
    return -1;
  return config->concurrency_default_target
             ? set(concurrency, "default_target", json_integer(config->concurrency_default_target))
             : 0;
}

int pn_config_build_json(pn_config *config) {
  json_t *object = json_object();
  if (!object || (config->build.present && set(object, "build", build_object(config)) < 0) ||
      set_string(object, config->run_from_predict ? "predict" : "run", config->run) < 0 ||
      set_string(object, "train", config->train) < 0 ||
      set_string(object, "image", config->image) < 0 ||
      set_string(object, "model", config->model) < 0 || set_concurrency(object, config) < 0 ||
      set_strings(object, "environment", config->environment, config->environment_count) < 0 ||
      set_weights(object, config) < 0) {
    json_decref(object);
    return PN_ENOMEM;
  }
  config->json = object;
  return 0;
}
