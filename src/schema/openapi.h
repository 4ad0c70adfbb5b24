/* The model's OpenAPI document, generated from the worker's signature description
 * (docs/internals/worker-protocol.md) the way Cog 0.22's static generator writes it,
 * with pinion's choices of cog-compat.md §10 applied. */
#ifndef PN_SCHEMA_OPENAPI_H
#define PN_SCHEMA_OPENAPI_H

#include <jansson.h>

enum pn_schema_mode { PN_SCHEMA_PREDICT, PN_SCHEMA_TRAIN };

/* Builds the OpenAPI 3.0.2 document for `signature` in `mode`; `cog_version` becomes
 * info.version (pinion passes its Cog compatibility version, "0.22.0"). On success 0
 * and *document, a new reference the caller releases with json_decref. When the
 * signature cannot be described (an unsupported type, `accept` on a non-file input, a
 * default that violates its own schema: `Model schema is invalid: ...`) PN_EINVAL and
 * *error, a pn_malloc'd message the caller frees. PN_ENOMEM (*error NULL) without memory. */
int pn_schema_build(const json_t *signature, enum pn_schema_mode mode, const char *cog_version,
                    json_t **document, char **error);

/* Merges a train document into a predict document as Cog does (cog-compat.md §3.5):
 * the predict document is the base and the train document's paths and components are
 * added where their names are free. *document is a new reference. PN_EINVAL when either
 * is not a document, PN_ENOMEM without memory. */
int pn_schema_merge(const json_t *predict_document, const json_t *train_document,
                    json_t **document);

/* The document as pinion serves it: compact, keys in insertion order (so properties
 * in parameter order), numbers as Go writes them. pn_malloc'd; the caller frees it.
 * NULL without memory. */
char *pn_schema_dump(const json_t *document);

#endif
