/* Turning `-i name=value` and `--json` into a prediction's input object, using the
 * model's schema to read each value as its type, and printing validation errors the
 * way a person wants to read them. */
#ifndef PN_CLI_INPUTS_H
#define PN_CLI_INPUTS_H

#include "schema/validate.h"

#include <jansson.h>
#include <stddef.h>

/* Reads --json's argument: inline JSON, @FILE, or - for stdin. Returns a new object
 * or NULL after printing what was wrong. */
json_t *pn_cli_read_json_input(const char *argument);

/* Where `@path` file inputs are copied for the predictor: a private folder made on
 * first use, one subfolder per file. Zero-initialise; pn_cli_input_files_remove
 * removes the folder and frees the path. */
typedef struct pn_cli_input_files {
  char *dir;
  int count;
} pn_cli_input_files;

void pn_cli_input_files_remove(pn_cli_input_files *files);

/* Builds the input object: starts from `base` (may be NULL; not modified), then adds
 * each "name=value" of `pairs` read by the type the validator gives that input
 * (repeated names build a list). `@path` on a file input is a local file: the
 * predictor gets a private copy in `files` under the file's name made safe (letters,
 * digits, '.', '-' and '_'; the extension kept), never the user's own path, as it
 * would get a downloaded file under Cog. Prints an error naming the input and returns
 * NULL on a problem (unknown input, missing file). */
json_t *pn_cli_build_input(const pn_schema_validator *validator, json_t *base, char **pairs,
                           size_t pair_count, pn_cli_input_files *files);

/* Prints Cog's 422 `detail` entries as "invalid input "x": message" lines. */
void pn_cli_print_validation(const json_t *detail);

#endif
