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

/* Builds the input object: starts from `base` (may be NULL; not modified), then adds
 * each "name=value" of `pairs` read by the type the validator gives that input
 * (repeated names build a list). `@path` on a file input is a local file. Prints an
 * error naming the input and returns NULL on a problem (unknown input, missing file). */
json_t *pn_cli_build_input(const pn_schema_validator *validator, json_t *base, char **pairs,
                           size_t pair_count);

/* Prints Cog's 422 `detail` entries as "invalid input "x": message" lines. */
void pn_cli_print_validation(const json_t *detail);

#endif
