/* The model's OpenAPI document as `pinion schema` prints it, for other commands
 * (`pinion push` puts it in the bundle). */
#ifndef PN_CLI_SCHEMA_H
#define PN_CLI_SCHEMA_H

#include <jansson.h>

/* Describes the model in the current folder (merging predict and train documents as
 * Cog does). 0 and *document (a new reference) on success; 1 after printing why not. */
int pn_cli_describe_model(const char *config_name, const char *python, json_t **document);

/* For `pinion serve` in `mode` ("predict" or "train") of a model whose cog.yaml has both
 * `run` and `train`: the other mode's document (a new reference), so that the server can
 * serve the merged document and check both kinds of request. NULL when cog.yaml has only
 * one of them, or after printing why the other could not be described. */
json_t *pn_cli_describe_other_mode(const char *mode, const char *config_name, const char *python);

#endif
