/* The model's OpenAPI document as `pinion schema` prints it, for other commands
 * (`pinion push` puts it in the bundle). */
#ifndef PN_CLI_SCHEMA_H
#define PN_CLI_SCHEMA_H

#include <jansson.h>

/* Describes the model in the current folder (merging predict and train documents as
 * Cog does). 0 and *document (a new reference) on success; 1 after printing why not. */
int pn_cli_describe_model(const char *config_name, const char *python, json_t **document);

#endif
