/* The cog.yaml checker. libyaml's document API turns the text into a tree whose nodes
 * keep their source position, so every problem can name its line and column. This file
 * walks that tree section by section (top level, build, concurrency, environment,
 * weights), copies what is valid into a pn_config, and reports everything else into the
 * diagnostics list in Cog's wording (spec §1.4). It never stops at the first problem, so
 * a user can fix all of them in one go; a config is handed out only when there were no
 * errors. Scalars are kept as their source text, which is why `python_version: 3.10`
 * stays "3.10": libyaml does not convert numbers, and neither do we. */
#include "config/config.h"

#include "config/internal.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fs.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Longest dotted field path we build, such as "weights.12.source.3.include.45". */
#define FIELD_MAX 160
/* User values are quoted in messages; a huge value is cut to keep the line readable. */
#define VALUE_FMT "\"%.200s\""

typedef struct loader {
  yaml_document_t document;
  const char *display_path;
  pn_diag_list *diags;
  pn_config *config;
  size_t errors; /* errors reported so far */
  int nomem;     /* an allocation failed: the load ends with PN_ENOMEM */
} loader;

/* The keys a mapping may hold, in the order the "allowed" hint lists them, and keys
 * Cog accepts that pinion reads past with a warning. */
typedef struct key_set {
  const char *const *names;
  const char *const *ignored;
} key_set;

static void report(loader *l, enum pn_diag_severity severity, const yaml_node_t *node,
                   const char *field, const char *format, va_list args) {
  pn_buf text;
  pn_buf_init(&text, 64 * 1024);
  char *message = pn_buf_vappendf(&text, format, args) == 0 ? pn_buf_take(&text) : NULL;
  pn_buf_free(&text);
  int line = node ? (int)node->start_mark.line + 1 : 0;
  int column = node ? (int)node->start_mark.column + 1 : 0;
  if (!message ||
      pn_diag_add(l->diags, severity, l->display_path, line, column, field, "%s", message) < 0)
    l->nomem = 1;
  pn_free(message);
  if (severity == PN_DIAG_ERROR)
    l->errors++;
}

__attribute__((format(printf, 4, 5))) static void
error_at(loader *l, const yaml_node_t *node, const char *field, const char *format, ...) {
  va_list args;
  va_start(args, format);
  report(l, PN_DIAG_ERROR, node, field, format, args);
  va_end(args);
}

__attribute__((format(printf, 4, 5))) static void
warn_at(loader *l, const yaml_node_t *node, const char *field, const char *format, ...) {
  va_list args;
  va_start(args, format);
  report(l, PN_DIAG_WARNING, node, field, format, args);
  va_end(args);
}

/* Cog's JSON-schema errors name the root "cog.yaml". */
static void schema_error(loader *l, const yaml_node_t *node, const char *field,
                         const char *description) {
  error_at(l, node, field[0] ? field : NULL, "schema error in \"%s\": %s",
           field[0] ? field : "cog.yaml", description);
}

static void deprecated(loader *l, const yaml_node_t *node, const char *field,
                       const char *replacement) {
  warn_at(l, node, field, "deprecated field \"%s\": use \"%s\" instead", field, replacement);
}

/* Keeps a pn_malloc'd copy in *out; an allocation failure marks the whole load. */
static void keep(loader *l, char **out, const char *text) {
  *out = pn_strdup(text);
  if (!*out)
    l->nomem = 1;
}

static void *allocate_array(loader *l, size_t count, size_t size) {
  void *items = pn_calloc(count, size);
  if (!items)
    l->nomem = 1;
  return items;
}

/* Writes parent, separator and tail into a FIELD_MAX buffer. Longer paths are cut:
 * they only label messages. */
static void join_field(char *out, const char *parent, const char *separator, const char *tail) {
  const char *parts[] = {parent, separator, tail};
  size_t used = 0;
  for (size_t i = 0; i < 3; i++)
    for (const char *c = parts[i]; *c && used + 1 < FIELD_MAX; c++)
      out[used++] = *c;
  out[used] = '\0';
}

static void child_field(char *out, const char *parent, const char *key) {
  join_field(out, parent, parent[0] ? "." : "", key);
}

static void item_field(char *out, const char *parent, size_t index) {
  char digits[24];
  snprintf(digits, sizeof digits, "%zu", index);
  join_field(out, parent, ".", digits);
}

static yaml_node_t *node_at(loader *l, int index) {
  return yaml_document_get_node(&l->document, index);
}

static const char *text_of(const yaml_node_t *node) {
  return (const char *)node->data.scalar.value;
}

/* YAML's null: an empty or ~/null plain scalar, or an explicit !!null. */
static int is_null(const yaml_node_t *node) {
  if (node->type != YAML_SCALAR_NODE)
    return 0;
  if (node->tag && strcmp((const char *)node->tag, YAML_NULL_TAG) == 0)
    return 1;
  if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return 0;
  const char *text = text_of(node);
  return !text[0] || !strcmp(text, "~") || !strcmp(text, "null") || !strcmp(text, "Null") ||
         !strcmp(text, "NULL");
}

static size_t sequence_length(const yaml_node_t *node) {
  return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
}

static yaml_node_t *sequence_item(loader *l, const yaml_node_t *node, size_t index) {
  return node_at(l, node->data.sequence.items.start[index]);
}

static int in_list(const char *const *names, const char *name) {
  for (size_t i = 0; names && names[i]; i++)
    if (!strcmp(names[i], name))
      return (int)i;
  return -1;
}

static void append_listing(pn_buf *out, const char *const *names) {
  for (size_t i = 0; names[i]; i++)
    pn_buf_appendf(out, "%s%s", i ? ", " : "", names[i]);
}

/* Reports keys that are not strings, not allowed, or repeated. Only known keys are
 * checked for repeats: unknown ones are errors anyway, and this keeps the check linear
 * in the size of the mapping. */
static void check_keys(loader *l, const yaml_node_t *mapping, const char *path,
                       const key_set *keys) {
  int seen_line[16] = {0}; /* by index in keys->names; no section has more keys */
  char field[FIELD_MAX];
  for (yaml_node_pair_t *pair = mapping->data.mapping.pairs.start;
       pair < mapping->data.mapping.pairs.top; pair++) {
    yaml_node_t *key = node_at(l, pair->key);
    if (key->type != YAML_SCALAR_NODE) {
      schema_error(l, key, path, "a key must be a string");
      continue;
    }
    const char *name = text_of(key);
    child_field(field, path, name);
    int index = in_list(keys->names, name);
    if (index < 0 && in_list(keys->ignored, name) >= 0) {
      warn_at(l, key, field, "field \"%s\" is accepted for compatibility with Cog and ignored",
              field);
      continue;
    }
    if (index < 0) {
      pn_buf listing;
      pn_buf_init(&listing, 4096);
      append_listing(&listing, keys->names);
      error_at(l, key, field,
               "schema error in \"%s\": Additional property %.200s is not allowed; "
               "allowed: %s",
               path[0] ? path : "cog.yaml", name, listing.data ? listing.data : "");
      if (!listing.data)
        l->nomem = 1;
      pn_buf_free(&listing);
      continue;
    }
    if (seen_line[index])
      error_at(l, key, field,
               "failed to parse %s: invalid YAML: mapping key \"%s\" already defined at line %d",
               l->display_path, name, seen_line[index]);
    else
      seen_line[index] = (int)key->start_mark.line + 1;
  }
}

/* The value of the first `name` key of a mapping, or NULL; *key gets its key node. */
static yaml_node_t *lookup(loader *l, const yaml_node_t *mapping, const char *name,
                           yaml_node_t **key) {
  for (yaml_node_pair_t *pair = mapping->data.mapping.pairs.start;
       pair < mapping->data.mapping.pairs.top; pair++) {
    yaml_node_t *candidate = node_at(l, pair->key);
    if (candidate->type == YAML_SCALAR_NODE && !strcmp(text_of(candidate), name)) {
      if (key)
        *key = candidate;
      return node_at(l, pair->value);
    }
  }
  return NULL;
}

/* A mapping's value for `name` unless it is missing or null. */
static yaml_node_t *lookup_set(loader *l, const yaml_node_t *mapping, const char *name,
                               yaml_node_t **key) {
  yaml_node_t *value = lookup(l, mapping, name, key);
  return value && !is_null(value) ? value : NULL;
}

/* A string field. Any scalar counts, as Cog's YAML decoder turns numbers and booleans
 * into their source text; null and "" leave *out NULL, as Cog treats them as unset.
 * Returns the node when a string was kept. */
static const yaml_node_t *take_string(loader *l, const yaml_node_t *node, const char *field,
                                      char **out) {
  if (!node || is_null(node))
    return NULL;
  if (node->type != YAML_SCALAR_NODE) {
    schema_error(l, node, field, "must be a string");
    return NULL;
  }
  if (!text_of(node)[0])
    return NULL;
  keep(l, out, text_of(node));
  return *out ? node : NULL;
}

static void take_string_list(loader *l, const yaml_node_t *node, const char *field, char ***items,
                             size_t *count) {
  if (!node || is_null(node))
    return;
  if (node->type != YAML_SEQUENCE_NODE) {
    schema_error(l, node, field, "must be a list");
    return;
  }
  size_t length = sequence_length(node);
  if (!length || !(*items = allocate_array(l, length, sizeof **items)))
    return;
  *count = length;
  char item_name[FIELD_MAX];
  for (size_t i = 0; i < length; i++) {
    yaml_node_t *item = sequence_item(l, node, i);
    item_field(item_name, field, i);
    if (item->type != YAML_SCALAR_NODE || is_null(item))
      schema_error(l, item, item_name, "must be a string");
    else
      keep(l, &(*items)[i], text_of(item));
  }
}

/* YAML 1.2's spellings, plus the YAML 1.1 ones that Cog's decoder (go-yaml v3) still
 * accepts for a boolean field. */
static int take_bool(loader *l, const yaml_node_t *node, const char *field, int *out) {
  static const char *const truths[] = {"true", "True", "TRUE", "y",  "Y",  "yes",
                                       "Yes",  "YES",  "on",   "On", "ON", NULL};
  static const char *const lies[] = {"false", "False", "FALSE", "n",   "N",   "no",
                                     "No",    "NO",    "off",   "Off", "OFF", NULL};
  if (node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
    if (in_list(truths, text_of(node)) >= 0 || in_list(lies, text_of(node)) >= 0) {
      *out = in_list(truths, text_of(node)) >= 0;
      return 1;
    }
  }
  schema_error(l, node, field, "must be a boolean (true or false)");
  return 0;
}

/* A plain decimal integer that fits an int. */
static int take_int(loader *l, const yaml_node_t *node, const char *field, int *out) {
  if (node->type == YAML_SCALAR_NODE && node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
    const char *text = text_of(node);
    const char *digits = text + (text[0] == '-' || text[0] == '+');
    size_t count = strspn(digits, "0123456789");
    if (count && !digits[count]) {
      long long value = count > 12 ? LLONG_MAX : strtoll(text, NULL, 10);
      if (value >= INT_MIN && value <= INT_MAX) {
        *out = (int)value;
        return 1;
      }
      error_at(l, node, field, "invalid %s " VALUE_FMT ": must be at most %d", field, text,
               INT_MAX);
      return 0;
    }
  }
  schema_error(l, node, field, "must be an integer");
  return 0;
}

/* Parses "N.N" or "N.N.N" (min_parts to 3 parts) into numbers. Returns the number of
 * parts, or 0 when the text has another form. */
static int parse_version(const char *text, int min_parts, long numbers[3]) {
  int parts = 0;
  const char *cursor = text;
  for (;;) {
    size_t digits = strspn(cursor, "0123456789");
    if (!digits || digits > 6 || parts == 3)
      return 0;
    numbers[parts++] = strtol(cursor, NULL, 10);
    cursor += digits;
    if (!*cursor)
      return parts >= min_parts ? parts : 0;
    if (*cursor++ != '.')
      return 0;
  }
}

static int is_identifier(const char *text) {
  if (!text[0] || (text[0] >= '0' && text[0] <= '9'))
    return 0;
  for (const unsigned char *c = (const unsigned char *)text; *c; c++)
    if (!(*c == '_' || *c >= 0x80 || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
          (*c >= '0' && *c <= '9')))
      return 0;
  return 1;
}

/* Whether the first `length` bytes of a relative path climb above its starting folder. */
static int escapes_root(const char *path, size_t length) {
  long depth = 0;
  size_t start = 0;
  while (start < length) {
    size_t end = start;
    while (end < length && path[end] != '/')
      end++;
    size_t size = end - start;
    if (size == 2 && !strncmp(path + start, "..", 2)) {
      if (--depth < 0)
        return 1;
    } else if (size && !(size == 1 && path[start] == '.')) {
      depth++;
    }
    start = end + 1;
  }
  return 0;
}

/* A predictor or trainer reference: "<file>.py:<Name>" or "<file>.py", relative to the
 * project and inside it. */
static void check_ref(loader *l, const yaml_node_t *node, const char *field, const char *ref,
                      const char *example) {
  const char *separator = strstr(ref, ".py:");
  size_t file_length = separator ? (size_t)(separator - ref) + 3 : strlen(ref);
  int well_formed = file_length > 3 && !strncmp(ref + file_length - 3, ".py", 3);
  if (separator)
    well_formed = well_formed && !strstr(separator + 4, ".py:") && is_identifier(separator + 4);
  if (!well_formed)
    error_at(l, node, field, "invalid %s " VALUE_FMT ": must be in the form '%s.py:%s' or '%s.py'",
             field, ref, field[0] == 't' ? "train" : "predict", example,
             field[0] == 't' ? "train" : "predict");
  else if (ref[0] == '/')
    error_at(l, node, field,
             "invalid %s " VALUE_FMT ": must be a path relative to the project folder", field, ref);
  else if (escapes_root(ref, file_length))
    error_at(l, node, field, "invalid %s " VALUE_FMT ": must not point outside the project folder",
             field, ref);
}

static void check_python_version(loader *l, const yaml_node_t *node) {
  const char *field = "build.python_version";
  if (node->type != YAML_SCALAR_NODE) {
    schema_error(l, node, field, "must be a string or number");
    return;
  }
  const char *version = text_of(node);
  long numbers[3];
  if (!parse_version(version, 2, numbers))
    error_at(l, node, field,
             "invalid %s " VALUE_FMT ": must be major.minor or major.minor.patch (e.g., '3.11')",
             field, version);
  else if (numbers[0] < 3 || (numbers[0] == 3 && numbers[1] < 8))
    error_at(l, node, field, "invalid %s " VALUE_FMT ": minimum supported Python version is 3.8",
             field, version);
  else
    keep(l, &l->config->build.python_version, version);
}

static void check_cuda(loader *l, const yaml_node_t *node) {
  const char *field = "build.cuda";
  if (!take_string(l, node, field, &l->config->build.cuda))
    return;
  long numbers[3];
  const char *cuda = l->config->build.cuda;
  if (!parse_version(cuda, 2, numbers))
    error_at(l, node, field,
             "invalid %s " VALUE_FMT ": must be major.minor or major.minor.patch (e.g., '11.8')",
             field, cuda);
  else if (numbers[0] < 11)
    error_at(l, node, field, "invalid %s " VALUE_FMT ": minimum supported CUDA version is 11",
             field, cuda);
}

/* PEP 440 in the shape Cog's wheels use: a release such as 0.16.0, then an optional
 * pre/post/dev/local suffix. The release must be at least 0.16.0. */
static void check_sdk_version(loader *l, const yaml_node_t *node) {
  const char *field = "build.sdk_version";
  if (!take_string(l, node, field, &l->config->build.sdk_version))
    return;
  const char *version = l->config->build.sdk_version;
  long release[3] = {0, 0, 0};
  const char *cursor = version;
  int parts = 0;
  while (parts < 3 && strspn(cursor, "0123456789")) {
    size_t digits = strspn(cursor, "0123456789");
    release[parts++] = digits > 6 ? 999999 : strtol(cursor, NULL, 10);
    cursor += digits;
    if (*cursor != '.' || !strspn(cursor + 1, "0123456789"))
      break;
    cursor++;
  }
  static const char suffix_chars[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-_";
  if (!parts || cursor[strspn(cursor, suffix_chars)])
    error_at(l, node, field, "invalid %s " VALUE_FMT ": must be a PEP 440 version (e.g., '0.16.0')",
             field, version);
  else if (release[0] == 0 && release[1] < 16)
    error_at(l, node, field, "invalid %s " VALUE_FMT ": minimum supported version is 0.16.0", field,
             version);
}

static void check_requirements(loader *l, const yaml_node_t *node) {
  const char *field = "build.python_requirements";
  if (!take_string(l, node, field, &l->config->build.python_requirements))
    return;
  const char *relative = l->config->build.python_requirements;
  char *full = relative[0] == '/' ? pn_strdup(relative) : pn_fs_join(l->config->dir, relative);
  if (!full) {
    l->nomem = 1;
    return;
  }
  if (!pn_fs_is_file(full))
    error_at(l, node, field,
             "invalid %s " VALUE_FMT ": file does not exist (paths are relative to the folder "
             "of %s)",
             field, relative, l->display_path);
  pn_free(full);
}

static const char *const mount_names[] = {"type", "id", "target", NULL};
static const key_set mount_keys = {mount_names, NULL};
static const char *const step_names[] = {"command", "mounts", NULL};
static const key_set step_keys = {step_names, NULL};

static void check_mount(loader *l, const yaml_node_t *node, const char *path,
                        pn_config_mount *mount) {
  if (node->type != YAML_MAPPING_NODE) {
    schema_error(l, node, path, "must be a mapping");
    return;
  }
  check_keys(l, node, path, &mount_keys);
  char **slots[] = {&mount->type, &mount->id, &mount->target};
  char field[FIELD_MAX];
  for (size_t i = 0; mount_names[i]; i++) {
    child_field(field, path, mount_names[i]);
    yaml_node_t *value = lookup(l, node, mount_names[i], NULL);
    if (!value || is_null(value)) {
      error_at(l, node, path, "schema error in \"%s\": %s is required", path, mount_names[i]);
      continue;
    }
    const yaml_node_t *kept = take_string(l, value, field, slots[i]);
    if (i == 0 && kept && strcmp(mount->type, "secret"))
      schema_error(l, value, field, "must be one of the following: \"secret\"");
  }
}

static void check_run_step(loader *l, const yaml_node_t *node, const char *path,
                           pn_config_run_step *step) {
  if (node->type == YAML_SCALAR_NODE && !is_null(node)) {
    keep(l, &step->command, text_of(node));
    return;
  }
  if (node->type != YAML_MAPPING_NODE) {
    schema_error(l, node, path, "must be a string or mapping");
    return;
  }
  check_keys(l, node, path, &step_keys);
  char field[FIELD_MAX];
  child_field(field, path, "command");
  if (!take_string(l, lookup(l, node, "command", NULL), field, &step->command) &&
      !lookup_set(l, node, "command", NULL))
    schema_error(l, node, path, "command is required");
  yaml_node_t *mounts = lookup_set(l, node, "mounts", NULL);
  if (!mounts)
    return;
  child_field(field, path, "mounts");
  if (mounts->type != YAML_SEQUENCE_NODE) {
    schema_error(l, mounts, field, "must be a list");
    return;
  }
  size_t count = sequence_length(mounts);
  if (!count || !(step->mounts = allocate_array(l, count, sizeof *step->mounts)))
    return;
  step->mount_count = count;
  char item_name[FIELD_MAX];
  for (size_t i = 0; i < count; i++) {
    item_field(item_name, field, i);
    check_mount(l, sequence_item(l, mounts, i), item_name, &step->mounts[i]);
  }
}

static void check_run_steps(loader *l, const yaml_node_t *node) {
  const char *field = "build.run";
  if (!node)
    return;
  if (node->type != YAML_SEQUENCE_NODE) {
    schema_error(l, node, field, "must be a list");
    return;
  }
  size_t count = sequence_length(node);
  pn_config *config = l->config;
  if (!count || !(config->build.run = allocate_array(l, count, sizeof *config->build.run)))
    return;
  config->build.run_count = count;
  char item_name[FIELD_MAX];
  for (size_t i = 0; i < count; i++) {
    item_field(item_name, field, i);
    check_run_step(l, sequence_item(l, node, i), item_name, &config->build.run[i]);
  }
}

static const char *const build_names[] = {"python_version",
                                          "python_requirements",
                                          "python_packages",
                                          "system_packages",
                                          "gpu",
                                          "cuda",
                                          "cudnn",
                                          "run",
                                          "sdk_version",
                                          "pre_install",
                                          NULL};
/* Keys of Cog's schema that change nothing pinion does. */
static const char *const build_ignored[] = {"fast", "python_overrides", NULL};
static const key_set build_keys = {build_names, build_ignored};

static void check_build(loader *l, const yaml_node_t *build_key, const yaml_node_t *node) {
  pn_config *config = l->config;
  if (node->type != YAML_MAPPING_NODE) {
    schema_error(l, node, "build", "must be a mapping");
    return;
  }
  config->build.present = 1;
  check_keys(l, node, "build", &build_keys);
  yaml_node_t *key = NULL;
  yaml_node_t *value = lookup_set(l, node, "python_version", &key);
  if (value)
    check_python_version(l, value);
  else
    error_at(l, build_key, "build.python_version",
             "schema error in \"build\": python_version is required (e.g., python_version: "
             "\"3.11\")");
  value = lookup_set(l, node, "python_packages", &key);
  take_string_list(l, value, "build.python_packages", &config->build.python_packages,
                   &config->build.python_packages_count);
  if (config->build.python_packages_count)
    deprecated(l, key, "build.python_packages", "build.python_requirements");
  yaml_node_t *requirements = lookup_set(l, node, "python_requirements", NULL);
  if (requirements)
    check_requirements(l, requirements);
  if (config->build.python_packages_count && config->build.python_requirements)
    error_at(l, key, "build",
             "invalid build: only one of python_packages or python_requirements can be set, "
             "not both");
  take_string_list(l, lookup(l, node, "system_packages", NULL), "build.system_packages",
                   &config->build.system_packages, &config->build.system_packages_count);
  if ((value = lookup_set(l, node, "gpu", NULL)))
    take_bool(l, value, "build.gpu", &config->build.gpu);
  if ((value = lookup_set(l, node, "cuda", NULL)))
    check_cuda(l, value);
  take_string(l, lookup(l, node, "cudnn", NULL), "build.cudnn", &config->build.cudnn);
  if ((value = lookup_set(l, node, "sdk_version", NULL)))
    check_sdk_version(l, value);
  check_run_steps(l, lookup_set(l, node, "run", NULL));
  value = lookup_set(l, node, "pre_install", &key);
  take_string_list(l, value, "build.pre_install", &config->build.pre_install,
                   &config->build.pre_install_count);
  if (config->build.pre_install_count)
    deprecated(l, key, "build.pre_install", "build.run");
}

typedef struct keyed {
  const char *key;
  size_t index;
} keyed;

static int compare_keyed(const void *a, const void *b) {
  const keyed *left = a, *right = b;
  int order = strcmp(left->key, right->key);
  return order ? order : (left->index > right->index) - (left->index < right->index);
}

/* For each of `count` strings (NULL ones are skipped) sets first[i] to the index of the
 * earliest equal string, or SIZE_MAX when it is the first. Sorting keeps this
 * O(n log n), so a file with a huge list cannot make the check crawl. */
static void find_duplicates(loader *l, char *const *keys, size_t count, size_t *first) {
  keyed *sorted = allocate_array(l, count, sizeof *sorted);
  if (!sorted)
    return;
  size_t used = 0;
  for (size_t i = 0; i < count; i++) {
    first[i] = SIZE_MAX;
    if (keys[i])
      sorted[used++] = (keyed){keys[i], i};
  }
  qsort(sorted, used, sizeof *sorted, compare_keyed);
  for (size_t i = 1; i < used; i++)
    if (!strcmp(sorted[i].key, sorted[i - 1].key))
      first[sorted[i].index] =
          first[sorted[i - 1].index] == SIZE_MAX ? sorted[i - 1].index : first[sorted[i - 1].index];
  pn_free(sorted);
}

/* Names Cog reserves for itself (spec §1.3); a trailing '*' matches any suffix. */
static const char *const environment_deny_list[] = {"PATH",
                                                    "LD_LIBRARY_PATH",
                                                    "PYTHONPATH",
                                                    "VIRTUAL_ENV",
                                                    "PYTHONUNBUFFERED",
                                                    "R8_*",
                                                    "REPLICATE_*",
                                                    "LIBRARY_PATH",
                                                    "CUDA_*",
                                                    "NVIDIA_*",
                                                    "NV_*",
                                                    "PGET_*",
                                                    "HF_ENDPOINT",
                                                    "HF_HUB_ENABLE_HF_TRANSFER",
                                                    "KUBERNETES_*",
                                                    NULL};

static int is_reserved_name(const char *name) {
  for (size_t i = 0; environment_deny_list[i]; i++) {
    const char *pattern = environment_deny_list[i];
    size_t length = strlen(pattern);
    if (pattern[length - 1] == '*' ? !strncmp(name, pattern, length - 1) : !strcmp(name, pattern))
      return 1;
  }
  return 0;
}

/* The length of the KEY in "KEY=VALUE" when KEY matches [A-Za-z_][A-Za-z0-9_]*, else 0. */
static size_t environment_name_length(const char *item) {
  static const char first[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
  static const char rest[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789";
  if (!item[0] || !strchr(first, item[0]))
    return 0;
  size_t length = 1 + strspn(item + 1, rest);
  return item[length] == '=' ? length : 0;
}

static void check_environment(loader *l, const yaml_node_t *node) {
  pn_config *config = l->config;
  take_string_list(l, node, "environment", &config->environment, &config->environment_count);
  size_t count = config->environment_count;
  if (!count)
    return;
  char **names = allocate_array(l, count, sizeof *names);
  size_t *first = allocate_array(l, count, sizeof *first);
  char field[FIELD_MAX];
  for (size_t i = 0; names && first && i < count; i++) {
    const char *item = config->environment[i];
    if (!item)
      continue;
    yaml_node_t *item_node = sequence_item(l, node, i);
    item_field(field, "environment", i);
    size_t length = environment_name_length(item);
    if (!length) {
      error_at(l, item_node, field,
               "invalid environment: environment variable " VALUE_FMT
               " is not in the KEY=VALUE format (KEY is letters, digits and underscores, not "
               "starting with a digit)",
               item);
      continue;
    }
    if (!(names[i] = pn_strndup(item, length))) {
      l->nomem = 1;
      continue;
    }
    if (is_reserved_name(names[i]))
      error_at(l, item_node, field,
               "invalid environment: environment variable \"%s\" is not allowed: reserved for "
               "internal use",
               names[i]);
  }
  if (names && first && !l->nomem) {
    find_duplicates(l, names, count, first);
    for (size_t i = 0; i < count && !l->nomem; i++)
      if (names[i] && first[i] != SIZE_MAX) {
        item_field(field, "environment", i);
        error_at(l, sequence_item(l, node, i), field,
                 "invalid environment: environment variable \"%s\" is already defined (at line "
                 "%d)",
                 names[i], (int)sequence_item(l, node, first[i])->start_mark.line + 1);
      }
  }
  for (size_t i = 0; names && i < count; i++)
    pn_free(names[i]);
  pn_free(names);
  pn_free(first);
}

static const char *const concurrency_names[] = {"max", "default_target", NULL};
static const key_set concurrency_keys = {concurrency_names, NULL};

static void check_concurrency(loader *l, const yaml_node_t *concurrency_key,
                              const yaml_node_t *node) {
  pn_config *config = l->config;
  if (node->type != YAML_MAPPING_NODE) {
    schema_error(l, node, "concurrency", "must be a mapping");
    return;
  }
  check_keys(l, node, "concurrency", &concurrency_keys);
  yaml_node_t *key = NULL;
  yaml_node_t *value = lookup_set(l, node, "max", &key);
  if (!value) {
    error_at(l, concurrency_key, "concurrency.max",
             "schema error in \"concurrency\": max is required (an integer of at least 1)");
  } else if (take_int(l, value, "concurrency.max", &config->concurrency_max)) {
    deprecated(l, key, "concurrency.max", "@cog.concurrent(max=N)");
    if (config->concurrency_max < 1) {
      error_at(l, value, "concurrency.max",
               "invalid concurrency.max " VALUE_FMT ": must be at least 1", text_of(value));
      config->concurrency_max = 0;
    }
  }
  if ((value = lookup_set(l, node, "default_target", NULL)) &&
      take_int(l, value, "concurrency.default_target", &config->concurrency_default_target) &&
      config->concurrency_default_target < 0) {
    error_at(l, value, "concurrency.default_target",
             "invalid concurrency.default_target " VALUE_FMT ": must be at least 0",
             text_of(value));
    config->concurrency_default_target = 0;
  }
}

/* Cog runs concurrent predictions with asyncio features of Python 3.11. */
static void check_concurrency_python(loader *l, const yaml_node_t *node) {
  const char *version = l->config->build.python_version;
  long numbers[3];
  if (l->config->concurrency_max > 1 && version && parse_version(version, 2, numbers) &&
      numbers[0] == 3 && numbers[1] < 11)
    error_at(l, node, "concurrency.max",
             "invalid concurrency.max \"%d\": concurrency requires Python 3.11 or higher",
             l->config->concurrency_max);
}

static int is_weight_name(const char *name) {
  /* ^[a-z0-9]+([._-][a-z0-9]+)*$ */
  int need_alnum = 1;
  for (const char *c = name; *c; c++) {
    int alnum = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9');
    if (alnum)
      need_alnum = 0;
    else if (!need_alnum && strchr("._-", *c))
      need_alnum = 1;
    else
      return 0;
  }
  return !need_alnum;
}

static void check_patterns(loader *l, const yaml_node_t *node, const char *field, char ***patterns,
                           size_t *count) {
  take_string_list(l, node, field, patterns, count);
  char item_name[FIELD_MAX];
  for (size_t i = 0; i < *count; i++) {
    const char *pattern = (*patterns)[i];
    if (!pattern)
      continue;
    item_field(item_name, field, i);
    const yaml_node_t *item = sequence_item(l, node, i);
    if (!pattern[0])
      error_at(l, item, item_name, "invalid %s: a glob pattern must not be empty", item_name);
    else if (pattern[0] == '!')
      error_at(l, item, item_name,
               "invalid %s " VALUE_FMT ": must not start with '!' (list it under exclude instead)",
               item_name, pattern);
    else if (strchr(pattern, '\\'))
      error_at(l, item, item_name, "invalid %s " VALUE_FMT ": must use '/' as the path separator",
               item_name, pattern);
  }
}

static const char *const source_names[] = {"uri", "include", "exclude", NULL};
static const key_set source_keys = {source_names, NULL};

static void check_source(loader *l, const yaml_node_t *node, const char *path,
                         pn_config_weight_source *source) {
  if (node->type != YAML_MAPPING_NODE) {
    schema_error(l, node, path, "must be a mapping with uri, include and exclude");
    return;
  }
  check_keys(l, node, path, &source_keys);
  char field[FIELD_MAX];
  child_field(field, path, "uri");
  const yaml_node_t *uri = take_string(l, lookup(l, node, "uri", NULL), field, &source->uri);
  if (!source->uri && !lookup_set(l, node, "uri", NULL))
    error_at(l, node, field, "schema error in \"%s\": uri is required", path);
  if (uri && strstr(source->uri, "://") && strncmp(source->uri, "hf://", 5) &&
      strncmp(source->uri, "file://", 7) && strncmp(source->uri, "https://", 8))
    error_at(l, uri, field,
             "invalid %s " VALUE_FMT ": must be an hf://, file:// or https:// URI, or a local path",
             field, source->uri);
  child_field(field, path, "include");
  check_patterns(l, lookup_set(l, node, "include", NULL), field, &source->include,
                 &source->include_count);
  child_field(field, path, "exclude");
  check_patterns(l, lookup_set(l, node, "exclude", NULL), field, &source->exclude,
                 &source->exclude_count);
}

static void check_sources(loader *l, const yaml_node_t *entry, const char *path,
                          pn_config_weight *weight) {
  char field[FIELD_MAX];
  child_field(field, path, "source");
  yaml_node_t *node = lookup_set(l, entry, "source", NULL);
  if (!node) {
    error_at(l, entry, field, "schema error in \"%s\": source is required", path);
    return;
  }
  int single = node->type == YAML_MAPPING_NODE;
  if (!single && (node->type != YAML_SEQUENCE_NODE || !sequence_length(node))) {
    schema_error(l, node, field, "must be a mapping or a non-empty list of mappings");
    return;
  }
  size_t count = single ? 1 : sequence_length(node);
  if (!(weight->sources = allocate_array(l, count, sizeof *weight->sources)))
    return;
  weight->source_count = count;
  if (single) {
    check_source(l, node, field, weight->sources);
    return;
  }
  char item_name[FIELD_MAX];
  for (size_t i = 0; i < count; i++) {
    item_field(item_name, field, i);
    check_source(l, sequence_item(l, node, i), item_name, &weight->sources[i]);
  }
}

static const char *const weight_names[] = {"name", "target", "source", NULL};
static const key_set weight_keys = {weight_names, NULL};

static void check_weight(loader *l, const yaml_node_t *node, const char *path,
                         pn_config_weight *weight) {
  if (node->type != YAML_MAPPING_NODE) {
    schema_error(l, node, path, "must be a mapping with name, target and source");
    return;
  }
  check_keys(l, node, path, &weight_keys);
  char field[FIELD_MAX];
  child_field(field, path, "name");
  const yaml_node_t *name = take_string(l, lookup(l, node, "name", NULL), field, &weight->name);
  if (!weight->name && !lookup_set(l, node, "name", NULL))
    error_at(l, node, field, "schema error in \"%s\": name is required", path);
  if (name && !is_weight_name(weight->name))
    error_at(l, name, field,
             "invalid %s " VALUE_FMT ": must match ^[a-z0-9]+([._-][a-z0-9]+)*$ (lowercase "
             "letters and digits, joined by single '.', '_' or '-')",
             field, weight->name);
  child_field(field, path, "target");
  const yaml_node_t *target =
      take_string(l, lookup(l, node, "target", NULL), field, &weight->target);
  if (!weight->target && !lookup_set(l, node, "target", NULL))
    error_at(l, node, field, "schema error in \"%s\": target is required", path);
  if (target && weight->target[0] != '/')
    error_at(l, target, field,
             "invalid %s " VALUE_FMT ": must be an absolute path in the container, such as "
             "'/src/weights'",
             field, weight->target);
  else if (target && !weight->target[strspn(weight->target, "/")])
    error_at(l, target, field, "invalid %s " VALUE_FMT ": must not be the root folder '/'", field,
             weight->target);
  check_sources(l, node, path, weight);
}

/* Orders paths component by component ('/' sorts first), so that every path is followed
 * directly by the paths inside it. */
static int compare_paths(const void *a, const void *b) {
  const unsigned char *left = (const unsigned char *)((const keyed *)a)->key;
  const unsigned char *right = (const unsigned char *)((const keyed *)b)->key;
  while (*left && *left == *right)
    left++, right++;
  int l = *left == '/' ? 1 : *left, r = *right == '/' ? 1 : *right;
  if (l != r)
    return l - r;
  size_t li = ((const keyed *)a)->index, ri = ((const keyed *)b)->index;
  return (li > ri) - (li < ri);
}

static int is_inside(const char *outer, const char *inner) {
  size_t length = strlen(outer);
  return !strncmp(outer, inner, length) && inner[length] == '/';
}

/* Sets inside[i] to the index of a target that contains target i, or SIZE_MAX. Targets
 * are compared without trailing slashes; equal targets are reported as duplicates
 * elsewhere. */
static void find_nested_targets(loader *l, char *const *targets, size_t count, size_t *inside) {
  keyed *sorted = allocate_array(l, count, sizeof *sorted);
  size_t *chain = allocate_array(l, count, sizeof *chain);
  size_t used = 0, depth = 0;
  for (size_t i = 0; sorted && chain && i < count; i++) {
    inside[i] = SIZE_MAX;
    if (targets[i])
      sorted[used++] = (keyed){targets[i], i};
  }
  if (sorted && chain) {
    qsort(sorted, used, sizeof *sorted, compare_paths);
    for (size_t i = 0; i < used; i++) {
      while (depth && !is_inside(sorted[chain[depth - 1]].key, sorted[i].key))
        depth--;
      if (depth)
        inside[sorted[i].index] = sorted[chain[depth - 1]].index;
      chain[depth++] = i;
    }
  }
  pn_free(sorted);
  pn_free(chain);
}

static char *trimmed_target(const char *target) {
  size_t length = strlen(target);
  while (length > 1 && target[length - 1] == '/')
    length--;
  return pn_strndup(target, length);
}

static void check_weight_uniqueness(loader *l, const yaml_node_t *node) {
  pn_config *config = l->config;
  size_t count = config->weights_count;
  char **names = allocate_array(l, count, sizeof *names);
  char **targets = allocate_array(l, count, sizeof *targets);
  size_t *first_name = allocate_array(l, count, sizeof *first_name);
  size_t *first_target = allocate_array(l, count, sizeof *first_target);
  size_t *inside = allocate_array(l, count, sizeof *inside);
  for (size_t i = 0; !l->nomem && i < count; i++) {
    names[i] = config->weights[i].name;
    if (config->weights[i].target && config->weights[i].target[0] == '/' &&
        !(targets[i] = trimmed_target(config->weights[i].target)))
      l->nomem = 1;
  }
  if (!l->nomem)
    find_duplicates(l, names, count, first_name);
  if (!l->nomem)
    find_duplicates(l, targets, count, first_target);
  if (!l->nomem)
    find_nested_targets(l, targets, count, inside);
  char field[FIELD_MAX];
  for (size_t i = 0; !l->nomem && i < count; i++) {
    yaml_node_t *entry = sequence_item(l, node, i);
    if (first_name[i] != SIZE_MAX) {
      snprintf(field, sizeof field, "weights.%zu.name", i);
      error_at(l, lookup(l, entry, "name", NULL), field,
               "invalid %s " VALUE_FMT ": names must be unique; weights.%zu has it too", field,
               names[i], first_name[i]);
    }
    snprintf(field, sizeof field, "weights.%zu.target", i);
    if (first_target[i] != SIZE_MAX)
      error_at(l, lookup(l, entry, "target", NULL), field,
               "invalid %s " VALUE_FMT ": targets must be unique; weights.%zu has it too", field,
               config->weights[i].target, first_target[i]);
    else if (inside[i] != SIZE_MAX)
      error_at(l, lookup(l, entry, "target", NULL), field,
               "invalid %s " VALUE_FMT ": is inside weights.%zu.target " VALUE_FMT
               "; targets must not contain one another",
               field, config->weights[i].target, inside[i], config->weights[inside[i]].target);
  }
  for (size_t i = 0; targets && i < count; i++)
    pn_free(targets[i]);
  pn_free(names);
  pn_free(targets);
  pn_free(first_name);
  pn_free(first_target);
  pn_free(inside);
}

static void check_weights(loader *l, const yaml_node_t *weights_key, const yaml_node_t *node) {
  pn_config *config = l->config;
  if (node->type != YAML_SEQUENCE_NODE) {
    schema_error(l, node, "weights", "must be a list");
    return;
  }
  size_t count = sequence_length(node);
  if (!count || !(config->weights = allocate_array(l, count, sizeof *config->weights)))
    return;
  config->weights_count = count;
  char path[FIELD_MAX];
  for (size_t i = 0; i < count; i++) {
    item_field(path, "weights", i);
    check_weight(l, sequence_item(l, node, i), path, &config->weights[i]);
  }
  check_weight_uniqueness(l, node);
  if (!config->model)
    error_at(l, weights_key, "weights", "invalid weights: weights require the \"model\" field%s",
             config->image ? "; rename \"image\" to \"model\"" : " (e.g., model: r8.im/user/name)");
}

/* A repository such as r8.im/user/name: no tag and no digest. */
static void check_model(loader *l, const yaml_node_t *node) {
  const char *model = l->config->model;
  const char *last_slash = strrchr(model, '/');
  const char *name = last_slash ? last_slash + 1 : model;
  if (strchr(model, '@') || strchr(name, ':'))
    error_at(l, node, "model",
             "invalid model " VALUE_FMT
             ": must be a repository without a tag or digest (e.g., 'r8.im/user/name')",
             model);
}

static const char *const top_names[] = {"build", "run",         "predict",     "train",   "image",
                                        "model", "concurrency", "environment", "weights", NULL};
static const char *const top_ignored[] = {"tests", NULL};
static const key_set top_keys = {top_names, top_ignored};

static void check_refs(loader *l, const yaml_node_t *root) {
  pn_config *config = l->config;
  yaml_node_t *predict_key = NULL;
  const yaml_node_t *run = take_string(l, lookup(l, root, "run", NULL), "run", &config->run);
  char *legacy = NULL;
  const yaml_node_t *predict =
      take_string(l, lookup(l, root, "predict", &predict_key), "predict", &legacy);
  if (predict) {
    deprecated(l, predict_key, "predict", "run");
    check_ref(l, predict, "predict", legacy, "Predictor");
  }
  if (run)
    check_ref(l, run, "run", config->run, "Predictor");
  if (run && predict)
    error_at(l, predict_key, "predict", "only one of run or predict can be set");
  if (!run && predict) {
    config->run = legacy;
    config->run_from_predict = 1;
    legacy = NULL;
  }
  pn_free(legacy);
  const yaml_node_t *train =
      take_string(l, lookup(l, root, "train", NULL), "train", &config->train);
  if (train)
    check_ref(l, train, "train", config->train, "Trainer");
}

static void check_top(loader *l, const yaml_node_t *root) {
  pn_config *config = l->config;
  if (root->type != YAML_MAPPING_NODE) {
    schema_error(l, root, "", "must be a mapping");
    return;
  }
  check_keys(l, root, "", &top_keys);
  check_refs(l, root);
  yaml_node_t *key = NULL;
  take_string(l, lookup(l, root, "image", NULL), "image", &config->image);
  const yaml_node_t *model =
      take_string(l, lookup(l, root, "model", &key), "model", &config->model);
  if (model)
    check_model(l, model);
  if (model && config->image)
    error_at(l, key, "model", "only one of image or model can be set");
  yaml_node_t *value = lookup_set(l, root, "build", &key);
  if (value)
    check_build(l, key, value);
  yaml_node_t *concurrency = lookup_set(l, root, "concurrency", &key);
  if (concurrency) {
    check_concurrency(l, key, concurrency);
    check_concurrency_python(l, lookup(l, concurrency, "max", NULL));
  }
  check_environment(l, lookup_set(l, root, "environment", NULL));
  if ((value = lookup_set(l, root, "weights", &key)))
    check_weights(l, key, value);
}

/* libyaml's message for a syntax error, with its context ("while parsing a block
 * mapping") when it gave one. */
static void report_syntax_error(loader *l, const yaml_parser_t *parser) {
  yaml_node_t where = {.start_mark = parser->problem_mark};
  error_at(l, &where, NULL, "failed to parse %s: invalid YAML: %s%s%s", l->display_path,
           parser->problem ? parser->problem : "unknown error", parser->context ? " " : "",
           parser->context ? parser->context : "");
}

/* libyaml's scanner spends time proportional to the flow nesting depth on every token,
 * so 1 MiB of "[" would keep it busy for many minutes. This first pass over the events
 * stops at MAX_DEPTH levels, far beyond any real cog.yaml, before a tree is built; its
 * lookahead is bounded (libyaml gives up on a simple key after 1024 characters), so it
 * stops early. Syntax errors are left for load_document to report. Returns 1 when the
 * text may be loaded. */
#define MAX_DEPTH 64
static int check_depth(loader *l, const char *text, size_t length) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    l->nomem = 1;
    return 0;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, length);
  int depth = 0, fits = 1;
  yaml_event_t event;
  while (fits && yaml_parser_parse(&parser, &event)) {
    yaml_event_type_t type = event.type;
    if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT)
      depth++;
    else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
      depth--;
    if (depth > MAX_DEPTH) {
      yaml_node_t where = {.start_mark = event.start_mark};
      error_at(l, &where, NULL, "failed to parse %s: invalid YAML: nested deeper than %d levels",
               l->display_path, MAX_DEPTH);
      fits = 0;
    }
    yaml_event_delete(&event);
    if (type == YAML_DOCUMENT_END_EVENT || type == YAML_STREAM_END_EVENT)
      break;
  }
  yaml_parser_delete(&parser);
  return fits;
}

/* Reads the first YAML document; a file with no document is an empty config. Returns 1
 * when l->document holds a document to walk and delete. */
static int load_document(loader *l, const char *text, size_t length) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    l->nomem = 1;
    return 0;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, length);
  int loaded = yaml_parser_load(&parser, &l->document);
  if (!loaded) {
    if (parser.error == YAML_MEMORY_ERROR)
      l->nomem = 1;
    else
      report_syntax_error(l, &parser);
  }
  yaml_parser_delete(&parser);
  return loaded;
}

static int new_config(const char *display_path, pn_config **out) {
  pn_config *config = pn_calloc(1, sizeof *config);
  if (!config)
    return PN_ENOMEM;
  int rc = pn_config_absolute_path(display_path, &config->path);
  if (rc == 0 && !(config->dir = pn_config_parent_dir(config->path)))
    rc = PN_ENOMEM;
  if (rc < 0) {
    pn_config_free(config);
    return rc;
  }
  *out = config;
  return 0;
}

int pn_config_parse(const char *text, size_t length, const char *display_path, pn_config **config,
                    pn_diag_list *diags) {
  *config = NULL;
  loader l = {.display_path = display_path, .diags = diags};
  int rc = new_config(display_path, &l.config);
  if (rc < 0)
    return rc;
  if (check_depth(&l, text, length) && load_document(&l, text, length)) {
    yaml_node_t *root = yaml_document_get_root_node(&l.document);
    if (root && !is_null(root))
      check_top(&l, root);
    yaml_document_delete(&l.document);
  }
  if (!l.nomem && !l.errors && pn_config_build_json(l.config) < 0)
    l.nomem = 1;
  if (l.nomem || l.errors) {
    pn_config_free(l.config);
    return l.nomem ? PN_ENOMEM : PN_EPARSE;
  }
  *config = l.config;
  return 0;
}
