/* Writing JSON values as YAML documents, through libyaml's emitter (which does the
 * quoting and escaping): block style, every string double-quoted so that no value is
 * read back as another type ("on", "1.10", "null" stay strings under YAML 1.1 readers
 * such as Kubernetes'), numbers, booleans and null plain, and keys plain only where that
 * reads back the same (else quoted). Used for the manifests of
 * `pinion deploy kubernetes`. */
#ifndef PN_CORE_YAML_WRITE_H
#define PN_CORE_YAML_WRITE_H

#include "core/buf.h"

#include <jansson.h>
#include <stddef.h>

/* Appends each value of `documents` (a JSON array) as one YAML document, separated by
 * `---`. Returns 0, PN_EINVAL (not an array, or a real that is not finite), PN_ENOMEM or
 * PN_ETOOBIG (`out`'s ceiling). Object keys keep their order. */
int pn_yaml_write_documents(const json_t *documents, pn_buf *out);

#endif
