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

static void print_value(FILE *out, const json_t *value) {
  if (json_is_string(value)) {
    fprintf(out, "%s\n", json_string_value(value));
    return;
  }
  char *text = pn_json_dump(value, PN_JSON_PRETTY | PN_JSON_SERDE_NUMBERS);
  if (text)
    fprintf(out, "%s\n", text);
  pn_free(text);
}

void pn_cli_output_item(pn_cli_output *output, const json_t *item, int is_file) {
  if (is_file || output->path)
    return;
  if (output->concatenate && json_is_string(item)) {
    fputs(json_string_value(item), stdout);
  } else {
    print_value(stdout, item);
  }
  fflush(stdout);
  output->printed_items++;
}

static const char *extension_of(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(slash ? slash + 1 : path, '.');
  return dot && dot[1] ? dot : "";
}

/* output.<ext>, output.<i>.<ext>, or the -o path with .<i> before its extension. */
static char *destination(const pn_cli_output *output, const char *source, int index, int several) {
  if (!output->path)
    return several ? pn_strfmt("output.%d%s", index, extension_of(source))
                   : pn_strfmt("output%s", extension_of(source));
  if (!several)
    return pn_strdup(output->path);
  const char *extension = extension_of(output->path);
  size_t stem = strlen(output->path) - strlen(extension);
  return pn_strfmt("%.*s.%d%s", (int)stem, output->path, index, extension);
}

static int copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  if (!in)
    return PN_ENOENT;
  FILE *out = fopen(to, "wb");
  if (!out) {
    fclose(in);
    return PN_EIO;
  }
  char chunk[65536];
  size_t got;
  int rc = 0;
  while ((got = fread(chunk, 1, sizeof chunk, in)) > 0)
    if (fwrite(chunk, 1, got, out) != got)
      rc = PN_EIO;
  if (ferror(in))
    rc = PN_EIO;
  fclose(in);
  if (fclose(out) != 0)
    rc = PN_EIO;
  return rc;
}


int pn_cli_output_finish(pn_cli_output *output, pn_prediction *prediction) {
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
    int rc = target ? copy_file(source, target) : PN_ENOMEM;
    if (rc < 0) {
      fprintf(stderr, "error: could not write output file %s from %s: %s\n",
              target ? target : "?", source, pn_strerror(rc));
      pn_free(target);
      return 1;
    }
    fprintf(stderr, "Written output to: %s\n", target);
    json_string_set(node, target);
    pn_free(target);
    output->files_written++;
  }
  if (prediction->is_iterator) {
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
  int only_files = (file_count == 1 && json_is_string(value)) ||
                   (json_is_array(value) && file_count == json_array_size(value));
  if (only_files)
    return 0;
  if (output->path && file_count == 0) {
    FILE *out = fopen(output->path, "w");
    if (!out) {
      fprintf(stderr, "error: could not write %s\n", output->path);
      return 1;
    }
    print_value(out, value);
    fclose(out);
    fprintf(stderr, "Written output to: %s\n", output->path);
    return 0;
  }
  print_value(stdout, value);
  return 0;
}
