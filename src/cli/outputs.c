/* Terminal output of predictions. See outputs.h. */
#include "cli/outputs.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/json.h"
#include "serve/outputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTPUT_FILE_MAX (16ull * 1024 * 1024 * 1024)

static int compare_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy of `value` with every object's keys sorted, as Go's encoder writes the maps
 * Cog's CLI decodes responses into. A new reference. */
static json_t *sorted_copy(const json_t *value) {
  if (json_is_array(value)) {
    json_t *copy = json_array();
    size_t index;
    const json_t *item;
    json_array_foreach(value, index, item) json_array_append_new(copy, sorted_copy(item));
    return copy;
  }
  if (!json_is_object(value))
    return json_deep_copy(value);
  size_t count = json_object_size(value), n = 0;
  const char **keys = pn_calloc(count ? count : 1, sizeof *keys);
  json_t *copy = json_object();
  if (!keys)
    return copy;
  const char *key;
  const json_t *member;
  json_object_foreach((json_t *)value, key, member) keys[n++] = key;
  qsort(keys, n, sizeof *keys, compare_keys);
  for (size_t i = 0; i < n; i++)
    json_object_set_new(copy, keys[i], sorted_copy(json_object_get(value, keys[i])));
  pn_free(keys);
  return copy;
}

/* Text as it is, anything else as indented JSON; `end` follows it ("\n" on a terminal,
 * "" in a file, whose bytes are the output's, as Cog writes them). */
static void print_value(FILE *out, const json_t *value, const char *end) {
  if (json_is_string(value)) {
    fprintf(out, "%s%s", json_string_value(value), end);
    return;
  }
  json_t *sorted = sorted_copy(value);
  char *text = pn_json_dump(sorted, PN_JSON_PRETTY | PN_JSON_SERDE_NUMBERS);
  json_decref(sorted);
  if (text)
    fprintf(out, "%s%s", text, end);
  pn_free(text);
}

void pn_cli_output_item(pn_cli_output *output, const json_t *item, int is_file) {
  if (is_file || output->path || !output->stream_items || output->response)
    return;
  if (output->concatenate && json_is_string(item)) {
    fputs(json_string_value(item), stdout);
  } else {
    print_value(stdout, item, "\n");
  }
  fflush(stdout);
  output->printed_items++;
}

static const char *extension_of(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(slash ? slash + 1 : path, '.');
  return dot && dot[1] ? dot : "";
}

/* <stem><ext> or <stem>.<i><ext>, where the stem is "output", the -o path less its
 * extension (with --json, whose -o names the response's file), or the -o path itself
 * for a single file. */
static char *destination(const pn_cli_output *output, const char *source, int index, int several) {
  const char *extension = output->path ? extension_of(output->path) : "";
  if (output->path && !several && !output->response)
    return pn_strdup(output->path);
  int stem = output->path ? (int)(strlen(output->path) - strlen(extension)) : 6;
  const char *base = output->path ? output->path : "output";
  if (output->response)
    extension = extension_of(source);
  if (several)
    return pn_strfmt("%.*s.%d%s", stem, base, index, output->path ? extension : extension_of(source));
  return pn_strfmt("%.*s%s", stem, base, output->path ? extension : extension_of(source));
}

/* Copies each local file output to its destination and points the output at it. An
 * iterator that yielded nothing gets the empty array as its output, as Cog shows it. */
static int write_files(pn_cli_output *output, pn_prediction *prediction) {
  if (prediction->is_iterator && !prediction->output)
    prediction->output = json_array();
  json_t *value = prediction->output;
  size_t file_count = json_array_size(prediction->files);
  int several = file_count > 1 || (json_is_array(value) && file_count > 0);
  size_t i;
  json_t *pointer;
  json_array_foreach(prediction->files, i, pointer) {
    json_t *node = pn_json_pointer_get(value, json_string_value(pointer));
    const char *source = json_string_value(node);
    if (!source)
      continue;
    char *target = destination(output, source, (int)i, several);
    int rc = target ? pn_fs_copy(source, target, 0666) : PN_ENOMEM;
    if (rc < 0) {
      fprintf(stderr, "error: could not write output file %s from %s: %s\n",
              target ? target : "?", source, pn_strerror(rc));
      pn_free(target);
      return -1;
    }
    fprintf(stderr, "Written output to: %s\n", target);
    json_string_set(node, target);
    pn_free(target);
    output->files_written++;
  }
  return 0;
}

int pn_cli_output_finish(pn_cli_output *output, pn_prediction *prediction) {
  if (write_files(output, prediction) < 0)
    return 1;
  json_t *value = prediction->output;
  size_t file_count = json_array_size(prediction->files);
  if (prediction->is_iterator && output->stream_items && !output->path) {
    if (output->concatenate && output->printed_items > 0)
      fputc('\n', stdout);
    if (json_array_size(value) == 0 && output->files_written == 0)
      fprintf(stderr, "No output generated\n");
    return 0;
  }
  if (!value || json_is_null(value)) {
    fprintf(stderr, "No output generated\n");
    return 0;
  }
  int only_files = file_count > 0 && ((file_count == 1 && json_is_string(value)) ||
                                     (json_is_array(value) && file_count == json_array_size(value)));
  if (only_files)
    return 0;
  if (output->path && file_count == 0) {
    FILE *out = fopen(output->path, "w");
    if (!out) {
      fprintf(stderr, "error: could not write %s\n", output->path);
      return 1;
    }
    print_value(out, value, "");
    fclose(out);
    fprintf(stderr, "Written output to: %s\n", output->path);
    return 0;
  }
  print_value(stdout, value, "\n");
  return 0;
}

int pn_cli_output_response(pn_cli_output *output, pn_prediction *prediction) {
  int succeeded = prediction->status == PN_PREDICTION_SUCCEEDED;
  if (succeeded && write_files(output, prediction) < 0)
    return 1;
  json_t *metrics = prediction->metrics ? json_deep_copy(prediction->metrics) : json_object();
  json_object_set_new(metrics, "predict_time", json_real(pn_prediction_predict_time(prediction)));
  /* Cog's CLI prints Go's struct in this order, and its maps with sorted keys. */
  json_t *response = json_object();
  json_object_set_new(response, "status",
                      json_string(pn_prediction_status_name(prediction->status)));
  json_object_set_new(response, "output",
                      prediction->output ? sorted_copy(prediction->output) : json_null());
  json_object_set_new(response, "error", json_string(prediction->error ? prediction->error : ""));
  json_object_set_new(response, "logs",
                      json_stringn(prediction->logs.data ? prediction->logs.data : "",
                                   prediction->logs.length));
  json_object_set_new(response, "metrics", sorted_copy(metrics));
  json_decref(metrics);
  char *text = pn_json_dump(response, PN_JSON_PRETTY);
  json_decref(response);
  if (!text) {
    fprintf(stderr, "error: could not encode the response as JSON\n");
    return 1;
  }
  int rc = 0;
  if (output->path) {
    FILE *out = fopen(output->path, "w");
    if (!out || fprintf(out, "%s\n", text) < 0 || fclose(out) != 0) {
      fprintf(stderr, "error: could not write %s\n", output->path);
      rc = 1;
    } else {
      fprintf(stderr, "Written output to: %s\n", output->path);
    }
  } else {
    printf("%s\n", text);
  }
  pn_free(text);
  return rc == 0 && succeeded ? 0 : 1;
}
