/* CLI input parsing. A value is read as its input's type when it parses as one, and
 * left as text otherwise, so that the validator (not this file) says what is wrong,
 * in the same words the HTTP API uses. */
#include "cli/inputs.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define JSON_INPUT_MAX (64u * 1024u * 1024u)

json_t *pn_cli_read_json_input(const char *argument) {
  json_error_t error;
  json_t *value = NULL;
  const char *source = "--json";
  if (strcmp(argument, "-") == 0 || strcmp(argument, "@-") == 0) {
    source = "standard input";
    value = json_loadf(stdin, 0, &error);
  } else if (argument[0] == '@') {
    source = argument + 1;
    char *text = NULL;
    size_t length = 0;
    int rc = pn_fs_read(argument + 1, JSON_INPUT_MAX, &text, &length);
    if (rc < 0) {
      fprintf(stderr, "error: --json: cannot read \"%s\": %s\n", argument + 1,
              rc == PN_ENOENT ? "no such file" : "unreadable or too large");
      return NULL;
    }
    value = json_loadb(text, length, 0, &error);
    pn_free(text);
  } else {
    value = json_loads(argument, 0, &error);
  }
  if (!value) {
    fprintf(stderr, "error: %s is not valid JSON (line %d, column %d): %s\n", source, error.line,
            error.column, error.text);
    return NULL;
  }
  /* Accept both {"input": {...}} (a request body) and the bare input object. */
  json_t *inner = json_object_get(value, "input");
  if (json_is_object(inner) && json_object_size(value) == 1) {
    json_incref(inner);
    json_decref(value);
    value = inner;
  }
  if (!json_is_object(value)) {
    fprintf(stderr, "error: %s must hold a JSON object of inputs, like {\"name\": \"value\"}\n",
            source);
    json_decref(value);
    return NULL;
  }
  return value;
}

static json_t *read_scalar(const char *type, const char *text) {
  if (!type)
    type = "";
  char *end = NULL;
  if (strcmp(type, "integer") == 0) {
    errno = 0;
    long long number = strtoll(text, &end, 10);
    if (*text && end && *end == '\0' && errno == 0)
      return json_integer(number);
  } else if (strcmp(type, "number") == 0) {
    /* An integral number stays an integer, as Cog's CLI sends it (Go encodes 2.0 as
     * 2): the predictor then gets what an HTTP client sending 2 would give it, and a
     * validation message quotes the number as the user typed it. */
    errno = 0;
    long long whole = strtoll(text, &end, 10);
    if (*text && end && *end == '\0' && errno == 0)
      return json_integer(whole);
    double number = strtod(text, &end);
    if (*text && end && *end == '\0')
      return json_real(number);
  } else if (strcmp(type, "boolean") == 0) {
    if (strcasecmp(text, "true") == 0 || strcmp(text, "1") == 0 || strcasecmp(text, "yes") == 0)
      return json_true();
    if (strcasecmp(text, "false") == 0 || strcmp(text, "0") == 0 || strcasecmp(text, "no") == 0)
      return json_false();
  } else if (strcmp(type, "object") == 0 || strcmp(type, "array") == 0 || !*type) {
    json_t *parsed = json_loads(text, JSON_DECODE_ANY, NULL);
    if (parsed)
      return parsed;
  }
  return json_string(text);
}

void pn_cli_input_files_remove(pn_cli_input_files *files) {
  if (files->dir)
    pn_fs_remove_tree(files->dir);
  pn_free(files->dir);
  files->dir = NULL;
}

/* The file's base name with anything but letters, digits, '.', '-' and '_' made '_'
 * (a leading '.' too, so the copy is never hidden). pn_malloc'd. */
static char *safe_name(const char *path) {
  const char *slash = strrchr(path, '/');
  char *name = pn_strdup(slash ? slash + 1 : path);
  if (!name)
    return NULL;
  for (char *c = name; *c; c++) {
    int safe = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
               *c == '-' || *c == '_' || (*c == '.' && c != name);
    if (!safe)
      *c = '_';
  }
  return name;
}

/* A private copy of the local file `resolved` for the predictor; its pn_malloc'd path. */
static char *private_copy(pn_cli_input_files *files, const char *name, const char *resolved) {
  if (!files->dir && pn_fs_mkdtemp("pinion-inputs", &files->dir) < 0) {
    fprintf(stderr, "error: input \"%s\": cannot create a temporary folder for its copy\n", name);
    return NULL;
  }
  char index[16];
  snprintf(index, sizeof index, "%d", files->count++);
  char *folder = pn_fs_join(files->dir, index);
  char *base = safe_name(resolved);
  char *copy = folder && base ? pn_fs_join(folder, base) : NULL;
  int rc = copy ? (mkdir(folder, 0700) == 0 ? pn_fs_copy(resolved, copy, 0600) : PN_EIO) : PN_ENOMEM;
  pn_free(folder);
  pn_free(base);
  if (rc < 0) {
    fprintf(stderr, "error: input \"%s\": cannot copy \"%s\" for the model: %s\n", name, resolved,
            pn_strerror(rc));
    pn_free(copy);
    return NULL;
  }
  return copy;
}

static json_t *read_file_reference(pn_cli_input_files *files, const char *name, const char *text) {
  if (text[0] != '@')
    return json_string(text);
  char resolved[PATH_MAX];
  if (!realpath(text + 1, resolved) || !pn_fs_is_file(resolved)) {
    fprintf(stderr, "error: input \"%s\": file \"%s\" not found\n", name, text + 1);
    return NULL;
  }
  char *copy = private_copy(files, name, resolved);
  json_t *value = copy ? json_string(copy) : NULL;
  pn_free(copy);
  return value;
}

/* --json takes "@path" for a file input as -i does ("@x" is never a URL), including
 * in a list of files. Returns 0, or -1 after printing which file is missing. */
static int resolve_json_file_references(const pn_schema_validator *validator, json_t *input,
                                        pn_cli_input_files *files) {
  const char *key;
  json_t *value;
  json_object_foreach(input, key, value) {
    const pn_schema_input *shape = pn_schema_input_find(validator, key);
    if (!shape || !shape->is_file)
      continue;
    json_t *elements = json_is_array(value) ? value : NULL;
    size_t count = elements ? json_array_size(elements) : 1;
    for (size_t i = 0; i < count; i++) {
      json_t *element = elements ? json_array_get(elements, i) : value;
      const char *text = json_string_value(element);
      if (!text || text[0] != '@')
        continue;
      json_t *resolved = read_file_reference(files, key, text);
      if (!resolved)
        return -1;
      if (elements)
        json_array_set_new(elements, i, resolved);
      else
        json_object_set_new(input, key, resolved);
    }
  }
  return 0;
}

static void print_known_inputs(const pn_schema_validator *validator) {
  size_t count = pn_schema_input_count(validator);
  if (count == 0) {
    fprintf(stderr, "This model takes no inputs.\n");
    return;
  }
  fprintf(stderr, "This model's inputs:");
  for (size_t i = 0; i < count; i++)
    fprintf(stderr, " %s", pn_schema_input_at(validator, i)->name);
  fprintf(stderr, "\n");
}

static void print_unknown_input(const pn_schema_validator *validator, const char *name) {
  fprintf(stderr, "error: unknown input \"%s\"\n", name);
  print_known_inputs(validator);
}

json_t *pn_cli_build_input(const pn_schema_validator *validator, json_t *base, char **pairs,
                           size_t pair_count, pn_cli_input_files *files) {
  /* The HTTP API drops unknown keys silently, but on the command line one is almost
   * always a typo, so --json is held to the same rule as -i (pinion's choice 10). */
  const char *key;
  json_t *unused;
  json_object_foreach(base, key, unused) {
    if (!pn_schema_input_find(validator, key)) {
      print_unknown_input(validator, key);
      return NULL;
    }
  }
  json_t *input = base ? json_deep_copy(base) : json_object();
  if (resolve_json_file_references(validator, input, files) < 0) {
    json_decref(input);
    return NULL;
  }
  for (size_t i = 0; i < pair_count; i++) {
    const char *pair = pairs[i];
    const char *equals = strchr(pair, '=');
    if (!equals || equals == pair) {
      fprintf(stderr, "error: -i takes name=value, got \"%s\"\n", pair);
      json_decref(input);
      return NULL;
    }
    char *name = pn_strndup(pair, (size_t)(equals - pair));
    const char *text = equals + 1;
    const pn_schema_input *shape = pn_schema_input_find(validator, name);
    if (!shape) {
      print_unknown_input(validator, name);
      pn_free(name);
      json_decref(input);
      return NULL;
    }
    int is_list = shape->type && strcmp(shape->type, "array") == 0;
    json_t *value;
    if (shape->is_file)
      value = read_file_reference(files, name, text);
    else if (is_list && text[0] == '[')
      value = read_scalar("array", text);
    else
      value = read_scalar(is_list ? shape->item_type : shape->type, text);
    if (!value) {
      pn_free(name);
      json_decref(input);
      return NULL;
    }
    json_t *existing = json_object_get(input, name);
    if (is_list && !json_is_array(value)) {
      if (!json_is_array(existing)) {
        existing = json_array();
        json_object_set_new(input, name, existing);
      }
      json_array_append_new(existing, value);
    } else {
      json_object_set_new(input, name, value);
    }
    pn_free(name);
  }
  return input;
}

void pn_cli_print_validation(const json_t *detail) {
  size_t i;
  json_t *entry;
  json_array_foreach(detail, i, entry) {
    const json_t *loc = json_object_get(entry, "loc");
    const char *field = json_string_value(json_array_get(loc, 2));
    const char *message = json_string_value(json_object_get(entry, "msg"));
    const char *type = json_string_value(json_object_get(entry, "type"));
    if (type && strcmp(type, "value_error.missing") == 0)
      fprintf(stderr, "error: missing required input \"%s\"\n", field ? field : "?");
    else if (field && strcmp(field, "__root__") == 0)
      fprintf(stderr, "error: invalid input: %s\n", message ? message : "invalid");
    else
      fprintf(stderr, "error: invalid input \"%s\": %s\n", field ? field : "?",
              message ? message : "invalid");
  }
}
