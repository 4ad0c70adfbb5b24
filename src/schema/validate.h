/* Validating and completing prediction inputs against a model's OpenAPI document,
 * with the 422 entries Cog C's server answers. */
#ifndef PN_SCHEMA_VALIDATE_H
#define PN_SCHEMA_VALIDATE_H

#include <jansson.h>
#include <stddef.h>

typedef struct pn_schema_validator pn_schema_validator;

/* Compiles the validator for components.schemas.<component> ("Input" or
 * "TrainingInput") of `document`: $refs are inlined and regexes compiled once. The
 * validator keeps its own copy of what it needs; the document may be freed after.
 * On success 0 and *validator, which the caller frees with pn_schema_validator_free.
 * On a document it cannot use, PN_EINVAL and *error, a pn_malloc'd message the caller
 * frees; PN_ENOMEM (with *error NULL) without memory. */
int pn_schema_validator_new(const json_t *document, const char *component,
                            pn_schema_validator **validator, char **error);
void pn_schema_validator_free(pn_schema_validator *validator);

/* Validates `input` (any JSON value; NULL or JSON null means {}). Unknown keys are
 * dropped silently. On success 0 and *coerced, a new object the caller releases with
 * json_decref: the known inputs in x-order (values shared with `input`), schema
 * defaults (copies) for absent ones, and null for absent inputs without a default.
 * On invalid input PN_EINVAL and *detail, a new array of Cog C 422 entries
 * ({"loc":["body","input",NAME],"msg":...,"type":...}): missing fields first in
 * `required` order, then the other errors in x-order. Explicit null is accepted for
 * nullable inputs and for optional inputs without a default; integral floats such as
 * 2.0 count as integers (and are passed on unchanged). PN_ENOMEM without memory. */
int pn_schema_validate(const pn_schema_validator *validator, const json_t *input, json_t **coerced,
                       json_t **detail);

/* Checks one value against the schema of input `name` as pn_schema_validate would.
 * 0 when valid; PN_EINVAL with *message (pn_malloc'd, the first violation, e.g. `0 is
 * less than the minimum of 1`) when not; PN_ENOENT for an unknown name; PN_ENOMEM. */
int pn_schema_check_input(const pn_schema_validator *validator, const char *name,
                          const json_t *value, char **message);

/* Each input's shape, for callers that parse or fetch inputs by type (the CLI reads
 * -i name=value by type; the server downloads file inputs). Strings belong to the
 * validator and live as long as it does. */
typedef struct pn_schema_input {
  const char *name;
  const char *type; /* "string","integer","number","boolean","array","object"; NULL for anyOf */
  const char *item_type; /* for arrays: the items' type, else NULL */
  int is_file;           /* format uri: Path/File, or a list of them */
  int is_secret;
  int required;
  int nullable;
} pn_schema_input;

size_t pn_schema_input_count(const pn_schema_validator *validator);
/* The input at `index` in x-order; NULL past the end. */
const pn_schema_input *pn_schema_input_at(const pn_schema_validator *validator, size_t index);
/* The input called `name`; NULL when there is none. */
const pn_schema_input *pn_schema_input_find(const pn_schema_validator *validator, const char *name);

#endif
